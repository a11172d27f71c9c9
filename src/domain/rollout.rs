//! One controller sync as a value: what to create and delete now, and the status.
//!
//! Upstream: `daemon_controller.go` (`manage`, `podsShouldBeOnNode`, `syncNodes`,
//! `updateDaemonSetStatus`), `update.go` (`rollingUpdate`, `updatedDesiredNodeCounts`,
//! `findUpdatedPodsOnNode`), `util/daemonset_util.go`, OpenKruise's
//! `filterDaemonPodsNodeToUpdate` (semantics §1.2–§1.3, §5–§6, §9).
//!
//! # Assumptions
//! - The caller passes every node that matters — at least every node where the DaemonSet
//!   should run or may keep running, and every node that hosts one of its pods — with its
//!   verdict. A pod whose node is not passed does not exist for this sync (upstream leaves
//!   such pods to pod garbage collection).
//! - Every reported pod is bound to its node; there are no released (selector-mismatched)
//!   pods: the caller reports only the DaemonSet's own pods.
//! - Expectations are the caller's: it carries out a plan and reports the new pod states
//!   before asking again (decision 3). The slow-start ramp and failed-pod backoff are the
//!   caller's too.
//!
//! # Invariants
//! - `manage` and the rolling step both read the same snapshot; the plan is their union,
//!   each node created on and each pod deleted at most once, capped at
//!   [`BURST_REPLICAS`] creates and deletes.
//! - Where upstream picks in Go map order, candidates are ordered (decision 1):
//!   topology domain (the wave being rolled first, then domains by name, `""` last), then
//!   node name. Unavailable old pods are replaced outside the budget, so their order does
//!   not matter. Same input, same plan.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::daemonset::{StrategyType, UpdateStrategy};
use super::node::{DaemonPod, PodPhase, Time};
use super::predicate::Verdict;

/// Upstream's `BurstReplicas`: creates and deletes per sync, each.
pub const BURST_REPLICAS: usize = 250;

/// A node as one rollout sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutNode {
    pub name: String,
    pub verdict: Verdict,
    /// The node's value of the strategy's `topology_key`; `""` without the label.
    pub domain: String,
}

/// Why a pod is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeleteReason {
    /// An old revision replaced by the rolling update.
    Outdated,
    /// On a node that may not keep it.
    Misscheduled,
    /// Phase Failed or Succeeded.
    Failed,
    /// An excess pod on a node.
    Duplicate,
}

impl DeleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Outdated => "Outdated",
            DeleteReason::Misscheduled => "Misscheduled",
            DeleteReason::Failed => "Failed",
            DeleteReason::Duplicate => "Duplicate",
        }
    }
}

/// A pod to delete now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAction {
    pub node: String,
    pub pod: String,
    pub revision_hash: String,
    pub reason: DeleteReason,
}

/// Why a sync that is not complete has nothing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitingReason {
    Paused,
    OnDelete,
    Partition,
    WaitingForAvailability,
    TopologyWave,
}

impl WaitingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingReason::Paused => "Paused",
            WaitingReason::OnDelete => "OnDelete",
            WaitingReason::Partition => "Partition",
            WaitingReason::WaitingForAvailability => "WaitingForAvailability",
            WaitingReason::TopologyWave => "TopologyWave",
        }
    }
}

/// The DaemonSet status fields (semantics §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub desired_number_scheduled: u32,
    pub current_number_scheduled: u32,
    pub number_misscheduled: u32,
    pub number_ready: u32,
    pub updated_number_scheduled: u32,
    pub number_available: u32,
    pub number_unavailable: u32,
}

/// Everything one sync reads.
#[derive(Clone, Copy, Debug)]
pub struct RolloutInput<'a> {
    pub nodes: &'a [RolloutNode],
    pub pods: &'a [DaemonPod],
    /// The current revision's hash: pods carrying it are "new".
    pub hash: &'a str,
    pub strategy: &'a UpdateStrategy,
    pub min_ready_seconds: i32,
    pub now: Time,
}

/// What to do now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutPlan {
    /// Nodes that get a pod of the current revision, ascending.
    pub create_on: Vec<String>,
    pub delete: Vec<PodAction>,
    pub status: Status,
    /// Every desired node runs an available current pod, nothing is misscheduled, and
    /// there is nothing to do.
    pub complete: bool,
    /// Set when the plan is empty but the rollout is not complete.
    pub waiting: Option<WaitingReason>,
    /// The budgets this sync used, scaled from the strategy against the desired count.
    pub max_surge: u64,
    pub max_unavailable: u64,
}

/// `IsPodReady`: the Ready condition is True.
pub fn is_ready(pod: &DaemonPod) -> bool {
    pod.ready
}

/// `IsPodAvailable`: ready, and ready for at least `min_ready_seconds` at `now`
/// (inclusive: `readySince + minReadySeconds <= now`, decision 10). A ready pod without a
/// ready time is available only when `min_ready_seconds` is 0.
pub fn is_available(pod: &DaemonPod, min_ready_seconds: i32, now: Time) -> bool {
    if !pod.ready {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    pod.ready_since.is_some_and(|since| {
        let ready_at = Time {
            seconds: since.seconds.saturating_add(i64::from(min_ready_seconds)),
            nanos: since.nanos,
        };
        ready_at <= now
    })
}

/// `podByCreationTimestampAndPhase`: bound pods first, then older, then by name. A pod
/// without a creation time counts as created at 0.
pub fn pod_order(a: &DaemonPod, b: &DaemonPod) -> Ordering {
    let created = |p: &DaemonPod| p.created.unwrap_or_default();
    a.unscheduled
        .cmp(&b.unscheduled)
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| a.name.cmp(&b.name))
}

/// `updatedDesiredNodeCounts`: `(maxSurge, maxUnavailable)` scaled against `desired`,
/// rounding up; both zero with nodes desired means `maxUnavailable = 1` (semantics §5.4).
pub fn budgets(strategy: &UpdateStrategy, desired: u64) -> (u64, u64) {
    let rolling = strategy.kind == StrategyType::RollingUpdate;
    let surge = if rolling {
        strategy.max_surge.scaled(desired, true)
    } else {
        0
    };
    let mut unavailable = if rolling {
        strategy.max_unavailable.scaled(desired, true)
    } else {
        0
    };
    if desired > 0 && surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `AllowsSurge`: a non-zero `maxSurge` against one node.
pub fn allows_surge(strategy: &UpdateStrategy) -> bool {
    strategy.kind == StrategyType::RollingUpdate && strategy.max_surge.scaled(1, true) > 0
}

/// The pods of one node, oldest first.
type NodePods<'a> = Vec<&'a DaemonPod>;

/// Node name → its pods.
type Groups<'a> = HashMap<&'a str, NodePods<'a>>;

/// `getNodesToDaemonPods`: pods on nodes that exist, minus those both terminal and
/// deleting, grouped by node, each group in pod order.
fn group_pods<'a>(input: &RolloutInput<'a>) -> Groups<'a> {
    let known: HashSet<&str> = input.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut groups: Groups<'a> = HashMap::new();
    for pod in input.pods {
        if pod.deleting && pod.phase.is_terminal() {
            continue;
        }
        if let Some(&node) = known.get(pod.node.as_str()) {
            groups.entry(node).or_default().push(pod);
        }
    }
    for pods in groups.values_mut() {
        pods.sort_by(|a, b| pod_order(a, b));
    }
    groups
}

/// Plans the deletion of `pod` for `reason`.
fn action(pod: &DaemonPod, reason: DeleteReason) -> PodAction {
    PodAction {
        node: pod.node.clone(),
        pod: pod.name.clone(),
        revision_hash: pod.revision_hash.clone(),
        reason,
    }
}

/// `manage` / `podsShouldBeOnNode` for every node: creates for desired nodes without a
/// pod; deletes of failed, succeeded and excess pods, and of every pod on a node that may
/// not keep it.
fn manage(
    input: &RolloutInput<'_>,
    groups: &Groups<'_>,
    creates: &mut Vec<String>,
    deletes: &mut Vec<PodAction>,
) {
    let surge = allows_surge(input.strategy);
    // `getUnscheduledPodsWithoutNode`: a pod pinned to a node that no longer exists never
    // schedules; a bound pod there is left to pod garbage collection.
    let known: HashSet<&str> = input.nodes.iter().map(|n| n.name.as_str()).collect();
    for pod in input.pods {
        if pod.unscheduled && !pod.deleting && !known.contains(pod.node.as_str()) {
            deletes.push(action(pod, DeleteReason::Misscheduled));
        }
    }
    let mut nodes: Vec<&RolloutNode> = input.nodes.iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    for node in nodes {
        let pods = groups.get(node.name.as_str());
        let Verdict {
            should_run,
            should_continue_running,
        } = node.verdict;
        if should_run && pods.is_none() {
            creates.push(node.name.clone());
            continue;
        }
        let Some(pods) = pods else { continue };
        if !should_continue_running {
            for pod in pods.iter().filter(|p| !p.deleting) {
                deletes.push(action(pod, DeleteReason::Misscheduled));
            }
            continue;
        }
        let mut running: Vec<&DaemonPod> = Vec::new();
        for pod in pods.iter().filter(|p| !p.deleting) {
            match pod.phase {
                PodPhase::Failed | PodPhase::Succeeded => {
                    deletes.push(action(pod, DeleteReason::Failed));
                }
                _ => running.push(pod),
            }
        }
        // `running` keeps the pod order of its group.
        if !surge {
            for pod in running.iter().skip(1) {
                deletes.push(action(pod, DeleteReason::Duplicate));
            }
            continue;
        }
        if running.len() <= 1 {
            if running.is_empty() && should_run {
                creates.push(node.name.clone());
            }
            continue;
        }
        let (mut oldest_new, mut oldest_old) = (None, None);
        for pod in running {
            let slot = if pod.revision_hash == input.hash {
                &mut oldest_new
            } else {
                &mut oldest_old
            };
            if slot.is_none() {
                *slot = Some(pod);
            } else {
                deletes.push(action(pod, DeleteReason::Duplicate));
            }
        }
        if let (Some(new), Some(old)) = (oldest_new, oldest_old)
            && (!is_ready(old) || is_available(new, input.min_ready_seconds, input.now))
        {
            deletes.push(action(old, DeleteReason::Outdated));
        }
    }
}

/// `findUpdatedPodsOnNode`: the live new and old pod of a node, or `None` when it has more
/// than one of either (excess pods, which `manage` prunes).
fn updated_pods<'a>(
    pods: &[&'a DaemonPod],
    hash: &str,
) -> Option<(Option<&'a DaemonPod>, Option<&'a DaemonPod>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().copied().filter(|p| !p.deleting) {
        let slot = if pod.revision_hash == hash {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

/// One entry of the rolling step: a node of `nodeToDaemonPods` (desired nodes included,
/// with no pods when they have none).
struct Entry<'a> {
    node: &'a RolloutNode,
    pods: NodePods<'a>,
}

/// OpenKruise `filterDaemonPodsNodeToUpdate` with partition: walk nodes by name
/// descending, rank updated nodes, then updating ones, then the rest (with a
/// `rollingUpdate.selector`, only the selected rest); keep the first `len - partition`.
/// Returns the names the rolling step may touch.
pub fn updatable_nodes<'a>(
    entries: impl IntoIterator<
        Item = (
            &'a str,
            Option<(Option<&'a DaemonPod>, Option<&'a DaemonPod>)>,
            bool,
        ),
    >,
    partition: u64,
    selected: Option<&dyn Fn(&str) -> bool>,
) -> Vec<&'a str> {
    // (name, state of its pods: None = excess, whether its old pod is deleting)
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by(|a, b| b.0.cmp(a.0));
    // Kruise truncates to the count of all nodes, not of the filtered list.
    let total = entries.len();
    let (mut updated, mut updating, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for (name, pods, old_deleting) in entries {
        match pods {
            None | Some((Some(_), _)) => updated.push(name),
            Some((None, None)) => updating.push(name),
            Some((None, Some(_))) if old_deleting => updating.push(name),
            Some((None, Some(_))) if selected.is_none_or(|s| s(name)) => rest.push(name),
            Some((None, Some(_))) => {}
        }
    }
    let keep = total.saturating_sub(usize::try_from(partition).unwrap_or(usize::MAX));
    updated
        .into_iter()
        .chain(updating)
        .chain(rest)
        .take(keep)
        .collect()
}

/// The rolling step's answer.
#[derive(Default)]
struct Rolling {
    creates: Vec<String>,
    deletes: Vec<PodAction>,
    /// Available outdated nodes the wave kept back.
    held_by_wave: usize,
    /// Outdated nodes the partition protects.
    held_by_partition: usize,
    /// Nodes the rolling step may touch that still run an old pod: while there are any, the
    /// rollout is waiting on its budget, not on the partition.
    outdated_updatable: usize,
}

/// Orders domains for the wave: a domain already in progress first, then the others by
/// name, nodes without the label (`""`) last. Returns the domain being rolled: the first
/// whose desired nodes do not all run an available current pod.
///
/// Nodes the partition protects are left out: they never move, so they must not hold a
/// wave open.
fn current_wave(
    entries: &[Entry<'_>],
    updatable: &BTreeSet<&str>,
    input: &RolloutInput<'_>,
) -> Option<String> {
    // domain → (in progress, complete)
    let mut domains: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    let desired = entries
        .iter()
        .filter(|e| e.node.verdict.should_run && updatable.contains(e.node.name.as_str()));
    for e in desired {
        let state = domains
            .entry(e.node.domain.as_str())
            .or_insert((false, true));
        let live = updated_pods(&e.pods, input.hash);
        let done = matches!(live, Some((Some(new), None)) if is_available(new, input.min_ready_seconds, input.now));
        let has_new = matches!(live, Some((Some(_), _)) | None);
        state.0 |= has_new && !done;
        state.1 &= done;
    }
    let mut order: Vec<(&str, bool, bool)> = domains
        .into_iter()
        .map(|(name, (in_progress, complete))| (name, in_progress, complete))
        .collect();
    order.sort_by_key(|&(name, in_progress, _)| (!in_progress, name.is_empty(), name));
    order
        .into_iter()
        .find(|&(_, _, complete)| !complete)
        .map(|(name, _, _)| name.to_owned())
}

/// `rollingUpdate`: replaces old pods within `maxUnavailable` (no surge) or `maxSurge`.
fn rolling_update(
    input: &RolloutInput<'_>,
    groups: &Groups<'_>,
    desired: u64,
    max_surge: u64,
    max_unavailable: u64,
) -> Rolling {
    let (hash, min_ready, now) = (input.hash, input.min_ready_seconds, input.now);
    let mut entries: Vec<Entry<'_>> = input
        .nodes
        .iter()
        .filter_map(|node| {
            let pods = groups.get(node.name.as_str()).cloned();
            (node.verdict.should_run || pods.is_some()).then(|| Entry {
                node,
                pods: pods.unwrap_or_default(),
            })
        })
        .collect();
    entries.sort_by(|a, b| a.node.name.cmp(&b.node.name));

    let partition = input
        .strategy
        .partition
        .map_or(0, |p| p.scaled(desired, false));
    let updatable: BTreeSet<&str> = if partition > 0 {
        updatable_nodes(
            entries.iter().map(|e| {
                let live = updated_pods(&e.pods, hash);
                let old_deleting = e.pods.iter().any(|p| p.deleting && p.revision_hash != hash);
                (e.node.name.as_str(), live, old_deleting)
            }),
            partition,
            None,
        )
        .into_iter()
        .collect()
    } else {
        entries.iter().map(|e| e.node.name.as_str()).collect()
    };
    let wave = if input.strategy.topology_key.is_empty() {
        None
    } else {
        current_wave(&entries, &updatable, input)
    };
    let in_wave = |node: &RolloutNode| wave.as_deref().is_none_or(|w| node.domain == w);

    let mut out = Rolling::default();
    if max_surge == 0 {
        let mut unavailable = 0u64;
        let mut candidates = Vec::new();
        for e in &entries {
            let Some(live) = updated_pods(&e.pods, hash) else {
                unavailable += 1;
                continue;
            };
            match live {
                (None, None) => unavailable += 1,
                (Some(_), Some(_)) => {
                    unavailable += 1;
                    if updatable.contains(e.node.name.as_str()) {
                        out.outdated_updatable += 1;
                    }
                }
                (Some(new), None) => unavailable += u64::from(!is_available(new, min_ready, now)),
                (None, Some(old)) => {
                    let name = e.node.name.as_str();
                    if updatable.contains(name) {
                        out.outdated_updatable += 1;
                    }
                    if !updatable.contains(name) {
                        out.held_by_partition += 1;
                        unavailable += u64::from(!is_available(old, min_ready, now));
                    } else if !is_available(old, min_ready, now) {
                        // Allowed replacement: outside the budget, whatever the wave.
                        out.deletes.push(action(old, DeleteReason::Outdated));
                        unavailable += 1;
                    } else if !in_wave(e.node) {
                        out.held_by_wave += 1;
                    } else {
                        candidates.push(old);
                    }
                }
            }
        }
        let remaining = max_unavailable.saturating_sub(unavailable);
        let remaining = usize::try_from(remaining).unwrap_or(usize::MAX);
        out.deletes.extend(
            candidates
                .into_iter()
                .take(remaining)
                .map(|pod| action(pod, DeleteReason::Outdated)),
        );
        return out;
    }

    let (mut surging, mut available) = (0u64, 0u64);
    let (mut allowed_new, mut candidates, mut should_not_run) =
        (Vec::new(), Vec::new(), Vec::new());
    for e in &entries {
        let Some((new, old)) = updated_pods(&e.pods, hash) else {
            surging += 1;
            continue;
        };
        let counted = old.or(new);
        available += u64::from(counted.is_some_and(|p| is_available(p, min_ready, now)));
        let Some(old) = old else { continue };
        let name = e.node.name.as_str();
        if !updatable.contains(name) {
            out.held_by_partition += 1;
            continue;
        }
        out.outdated_updatable += 1;
        match new {
            None if !is_available(old, min_ready, now) => {
                if e.node.verdict.should_run {
                    allowed_new.push(name.to_owned());
                } else {
                    out.deletes.push(action(old, DeleteReason::Misscheduled));
                }
            }
            None if !e.node.verdict.should_run => should_not_run.push(old),
            None if !in_wave(e.node) => out.held_by_wave += 1,
            None => candidates.push(name.to_owned()),
            Some(new) if !is_available(new, min_ready, now) => surging += 1,
            Some(_) => out.deletes.push(action(old, DeleteReason::Outdated)),
        }
    }
    let remaining = usize::try_from(max_surge.saturating_sub(surging)).unwrap_or(usize::MAX);
    let excess = usize::try_from(available.saturating_sub(desired)).unwrap_or(usize::MAX);
    out.deletes.extend(
        should_not_run
            .into_iter()
            .take(excess)
            .map(|pod| action(pod, DeleteReason::Misscheduled)),
    );
    out.creates.extend(allowed_new);
    out.creates.extend(candidates.into_iter().take(remaining));
    out
}

/// `updateDaemonSetStatus` over the snapshot (semantics §6): the first pod in pod order
/// decides ready, available and updated.
pub fn status(input: &RolloutInput<'_>) -> Status {
    status_of(input, &group_pods(input))
}

fn status_of(input: &RolloutInput<'_>, groups: &Groups<'_>) -> Status {
    let mut s = Status::default();
    for node in input.nodes {
        let pods = groups.get(node.name.as_str()).filter(|p| !p.is_empty());
        if !node.verdict.should_run {
            s.number_misscheduled += u32::from(pods.is_some());
            continue;
        }
        s.desired_number_scheduled += 1;
        let Some(first) = pods.and_then(|p| p.first()) else {
            continue;
        };
        s.current_number_scheduled += 1;
        s.number_ready += u32::from(is_ready(first));
        s.number_available += u32::from(is_available(first, input.min_ready_seconds, input.now));
        s.updated_number_scheduled += u32::from(first.revision_hash == input.hash);
    }
    s.number_unavailable = s.desired_number_scheduled - s.number_available;
    s
}

/// Only `manage` (upstream's step in isolation): `(creates, deletes)`.
pub fn plan_manage(input: &RolloutInput<'_>) -> (Vec<String>, Vec<PodAction>) {
    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    manage(input, &group_pods(input), &mut creates, &mut deletes);
    (creates, deletes)
}

/// Only the rolling step (upstream's `rollingUpdate` in isolation): `(creates, deletes)`.
pub fn plan_rolling(input: &RolloutInput<'_>) -> (Vec<String>, Vec<PodAction>) {
    let groups = group_pods(input);
    let desired = u64::from(status_of(input, &groups).desired_number_scheduled);
    let (surge, unavailable) = budgets(input.strategy, desired);
    let r = rolling_update(input, &groups, desired, surge, unavailable);
    (r.creates, r.deletes)
}

/// One sync: `manage`, then (RollingUpdate, not paused) the rolling step, over one
/// snapshot.
pub fn plan(input: &RolloutInput<'_>) -> RolloutPlan {
    let groups = group_pods(input);
    let status = status_of(input, &groups);
    let desired = u64::from(status.desired_number_scheduled);
    let (max_surge, max_unavailable) = budgets(input.strategy, desired);

    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    manage(input, &groups, &mut creates, &mut deletes);
    let rolling_allowed =
        input.strategy.kind == StrategyType::RollingUpdate && !input.strategy.paused;
    let rolling = if rolling_allowed {
        rolling_update(input, &groups, desired, max_surge, max_unavailable)
    } else {
        Rolling::default()
    };
    creates.extend(rolling.creates);
    deletes.extend(rolling.deletes);

    let mut seen_nodes = BTreeSet::new();
    creates.retain(|n| seen_nodes.insert(n.clone()));
    creates.sort();
    creates.truncate(BURST_REPLICAS);
    let mut seen_pods = BTreeSet::new();
    deletes.retain(|a| seen_pods.insert((a.node.clone(), a.pod.clone())));
    deletes.truncate(BURST_REPLICAS);

    let outdated = groups
        .values()
        .flat_map(|pods| pods.iter())
        .any(|p| !p.deleting && p.revision_hash != input.hash);
    let idle = creates.is_empty() && deletes.is_empty();
    let complete = idle
        && status.updated_number_scheduled == status.desired_number_scheduled
        && status.number_available == status.desired_number_scheduled
        && status.number_misscheduled == 0
        && !outdated;
    let waiting = (idle && !complete).then(|| {
        if input.strategy.kind == StrategyType::OnDelete && outdated {
            WaitingReason::OnDelete
        } else if input.strategy.paused && outdated {
            WaitingReason::Paused
        } else if rolling.held_by_wave > 0 {
            WaitingReason::TopologyWave
        } else if rolling.held_by_partition > 0 && rolling.outdated_updatable == 0 {
            WaitingReason::Partition
        } else {
            WaitingReason::WaitingForAvailability
        }
    });
    RolloutPlan {
        create_on: creates,
        delete: deletes,
        status,
        complete,
        waiting,
        max_surge,
        max_unavailable,
    }
}
