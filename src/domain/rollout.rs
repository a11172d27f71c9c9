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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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

/// A node as the planner reads it: [`RolloutNode`], or a borrowed [`NodeView`].
pub trait PlannerNode {
    fn name(&self) -> &str;
    fn verdict(&self) -> Verdict;
    /// The node's value of the strategy's `topology_key`; `""` without the label.
    fn domain(&self) -> &str;
}

impl PlannerNode for RolloutNode {
    fn name(&self) -> &str {
        &self.name
    }
    fn verdict(&self) -> Verdict {
        self.verdict
    }
    fn domain(&self) -> &str {
        &self.domain
    }
}

/// A [`RolloutNode`] that borrows its strings, so a caller need not allocate per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeView<'a> {
    pub name: &'a str,
    pub verdict: Verdict,
    pub domain: &'a str,
}

impl PlannerNode for NodeView<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn verdict(&self) -> Verdict {
        self.verdict
    }
    fn domain(&self) -> &str {
        self.domain
    }
}

/// [`RolloutInput`] over borrowed nodes: [`plan_view`] answers exactly as [`plan`] does for
/// the same nodes as [`RolloutNode`]s. Nodes sorted by name are cheapest (any order works).
#[derive(Clone, Copy, Debug)]
pub struct RolloutViewInput<'a> {
    pub nodes: &'a [NodeView<'a>],
    /// Shared with the inventory, which hands out its pods without copying them.
    pub pods: &'a [Arc<DaemonPod>],
    /// Where the caller already knows it: for each pod, the index in `nodes` of the node it
    /// is on ([`NO_NODE`] when that node is not in `nodes`). Given this, `nodes` must have
    /// distinct names, and the planner matches pods to nodes without hashing names.
    pub pod_nodes: Option<&'a [u32]>,
    pub hash: &'a str,
    pub strategy: &'a UpdateStrategy,
    pub min_ready_seconds: i32,
    pub now: Time,
}

/// In [`RolloutViewInput::pod_nodes`]: the pod's node is not among the input nodes.
pub const NO_NODE: u32 = u32::MAX;

/// What one sync reads, generic over the node type.
struct Ctx<'a, N> {
    nodes: &'a [N],
    pods: Vec<&'a DaemonPod>,
    /// See [`RolloutViewInput::pod_nodes`].
    pod_nodes: Option<&'a [u32]>,
    hash: &'a str,
    strategy: &'a UpdateStrategy,
    min_ready_seconds: i32,
    now: Time,
}

impl<'a> From<&RolloutInput<'a>> for Ctx<'a, RolloutNode> {
    fn from(i: &RolloutInput<'a>) -> Self {
        Ctx {
            nodes: i.nodes,
            pods: i.pods.iter().collect(),
            pod_nodes: None,
            hash: i.hash,
            strategy: i.strategy,
            min_ready_seconds: i.min_ready_seconds,
            now: i.now,
        }
    }
}

impl<'a> From<&RolloutViewInput<'a>> for Ctx<'a, NodeView<'a>> {
    fn from(i: &RolloutViewInput<'a>) -> Self {
        Ctx {
            nodes: i.nodes,
            pods: i.pods.iter().map(|p| &**p).collect(),
            pod_nodes: i.pod_nodes,
            hash: i.hash,
            strategy: i.strategy,
            min_ready_seconds: i.min_ready_seconds,
            now: i.now,
        }
    }
}

impl<N> Ctx<'_, N> {
    fn available(&self, pod: &DaemonPod) -> bool {
        is_available(pod, self.min_ready_seconds, self.now)
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// `getNodesToDaemonPods` over one snapshot: pods on nodes that exist, minus those both
/// terminal and deleting, grouped by node name, each group in pod order. Nodes sharing a
/// name share a group.
struct Groups<'a> {
    /// Per input node: its group's range in `pods`.
    ranges: Vec<(u32, u32)>,
    pods: Vec<Held<'a>>,
    /// `getUnscheduledPodsWithoutNode`: unscheduled, not deleting pods pinned to a node
    /// that is not listed, in input order.
    orphans: Vec<&'a DaemonPod>,
    /// Some grouped pod, not deleting, runs another revision.
    outdated: bool,
}

/// A grouped pod with what every step of a sync asks of it, read once: the steps walk these
/// compact entries again and again, and never go back to the pod (whose revision hash is
/// one more heap string to fetch per pod) except to name it in an action.
#[derive(Clone, Copy)]
struct Held<'a> {
    pod: &'a DaemonPod,
    /// Runs the target revision.
    new: bool,
    ready: bool,
    available: bool,
    deleting: bool,
    /// `Failed` or `Succeeded`.
    failed: bool,
}

impl<'a, N> Ctx<'a, N> {
    fn held(&self, pod: &'a DaemonPod) -> Held<'a> {
        Held {
            pod,
            new: pod.revision_hash == self.hash,
            ready: is_ready(pod),
            available: self.available(pod),
            deleting: pod.deleting,
            failed: is_failed(pod),
        }
    }
}

impl<'a> Groups<'a> {
    fn of(&self, node: usize) -> &[Held<'a>] {
        let (start, end) = self.ranges[node];
        &self.pods[start as usize..end as usize]
    }
}

fn group_pods<'a, N: PlannerNode>(cx: &Ctx<'a, N>) -> Groups<'a> {
    let n = cx.nodes.len();
    // Each pod's group: the first input index carrying its node's name. With `pod_nodes` the
    // caller has matched them already (and the names are distinct: a node is its own group).
    let (group, pod_node): (Vec<u32>, Vec<Option<u32>>) = match cx.pod_nodes {
        Some(given) => (
            (0..n as u32).collect(),
            given
                .iter()
                .map(|&i| (i != NO_NODE && (i as usize) < n).then_some(i))
                .collect(),
        ),
        None => {
            let mut first: FastMap<&str, u32> =
                FastMap::with_capacity_and_hasher(n, Default::default());
            let group = cx
                .nodes
                .iter()
                .enumerate()
                .map(|(i, node)| *first.entry(node.name()).or_insert(i as u32))
                .collect();
            let pod_node = cx
                .pods
                .iter()
                .map(|pod| first.get(pod.node.as_str()).copied())
                .collect();
            (group, pod_node)
        }
    };
    // Counting sort of the pods by group, stable in input order.
    let mut start = vec![0u32; n + 1];
    let (mut orphans, mut outdated) = (Vec::new(), false);
    // The grouped pods, read once, each with its group, in input order.
    let mut held: Vec<(Held<'a>, u32)> = Vec::with_capacity(cx.pods.len());
    for (&pod, &g) in cx.pods.iter().zip(&pod_node) {
        if g.is_none() && pod.unscheduled && !pod.deleting {
            orphans.push(pod);
        }
        match g {
            Some(g) if !(pod.deleting && pod.phase.is_terminal()) => {
                let h = cx.held(pod);
                outdated |= !h.deleting && !h.new;
                start[g as usize + 1] += 1;
                held.push((h, g));
            }
            _ => {}
        }
    }
    drop(pod_node);
    for g in 0..n {
        start[g + 1] += start[g];
    }
    // Sized by the pods it receives; every place is written below.
    let mut pods: Vec<Held<'a>> = held.iter().map(|&(h, _)| h).collect();
    let mut next = start.clone();
    for (h, g) in held {
        let at = &mut next[g as usize];
        pods[*at as usize] = h;
        *at += 1;
    }
    for g in 0..n {
        let (s, e) = (start[g] as usize, start[g + 1] as usize);
        if e - s > 1 {
            pods[s..e].sort_by(|a, b| pod_order(a.pod, b.pod));
        }
    }
    let ranges = group
        .iter()
        .map(|&g| (start[g as usize], start[g as usize + 1]))
        .collect();
    Groups {
        ranges,
        pods,
        orphans,
        outdated,
    }
}

/// Input node indices in name order (stable); the identity when already sorted.
struct Order {
    /// `None` when the nodes arrive sorted by name.
    order: Option<Vec<u32>>,
    len: usize,
}

impl Order {
    fn of<N: PlannerNode>(nodes: &[N]) -> Order {
        let sorted = nodes.windows(2).all(|w| w[0].name() <= w[1].name());
        let order = (!sorted).then(|| {
            let mut order: Vec<u32> = (0..nodes.len() as u32).collect();
            order.sort_by(|&a, &b| nodes[a as usize].name().cmp(nodes[b as usize].name()));
            order
        });
        Order {
            order,
            len: nodes.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).map(move |p| match &self.order {
            None => p,
            Some(o) => o[p] as usize,
        })
    }

    /// Position of each input index in name order.
    fn ranks(&self) -> Option<Vec<u32>> {
        self.order.as_ref().map(|o| {
            let mut rank = vec![0u32; o.len()];
            for (p, &i) in o.iter().enumerate() {
                rank[i as usize] = p as u32;
            }
            rank
        })
    }
}

/// A delete before it is materialized.
type Delete<'a> = (&'a DaemonPod, DeleteReason);

/// Plans the deletion of `pod` for `reason`.
fn action(pod: &DaemonPod, reason: DeleteReason) -> PodAction {
    PodAction {
        node: pod.node.clone(),
        pod: pod.name.clone(),
        revision_hash: pod.revision_hash.clone(),
        reason,
    }
}

fn is_failed(pod: &DaemonPod) -> bool {
    matches!(pod.phase, PodPhase::Failed | PodPhase::Succeeded)
}

/// `manage` / `podsShouldBeOnNode` for every node: creates (input indices) for desired
/// nodes without a pod; deletes of failed, succeeded and excess pods, and of every pod on a
/// node that may not keep it.
fn manage<'a, N: PlannerNode>(
    cx: &Ctx<'a, N>,
    groups: &Groups<'a>,
    order: &Order,
    creates: &mut Vec<u32>,
    deletes: &mut Vec<Delete<'a>>,
) {
    let surge = allows_surge(cx.strategy);
    // `getUnscheduledPodsWithoutNode`: a pod pinned to a node that no longer exists never
    // schedules; a bound pod there is left to pod garbage collection.
    deletes.extend(
        groups
            .orphans
            .iter()
            .map(|&p| (p, DeleteReason::Misscheduled)),
    );
    for i in order.iter() {
        let node = &cx.nodes[i];
        let pods = groups.of(i);
        let Verdict {
            should_run,
            should_continue_running,
        } = node.verdict();
        if pods.is_empty() {
            if should_run {
                creates.push(i as u32);
            }
            continue;
        }
        let live = pods.iter().copied().filter(|p| !p.deleting);
        if !should_continue_running {
            deletes.extend(live.map(|p| (p.pod, DeleteReason::Misscheduled)));
            continue;
        }
        let mut running_count = 0usize;
        for h in live.clone() {
            if h.failed {
                deletes.push((h.pod, DeleteReason::Failed));
            } else {
                running_count += 1;
            }
        }
        // `running` keeps the pod order of its group.
        let running = live.filter(|p| !p.failed);
        if !surge {
            deletes.extend(running.skip(1).map(|p| (p.pod, DeleteReason::Duplicate)));
            continue;
        }
        if running_count <= 1 {
            if running_count == 0 && should_run {
                creates.push(i as u32);
            }
            continue;
        }
        let (mut oldest_new, mut oldest_old) = (None, None);
        for h in running {
            let slot = if h.new {
                &mut oldest_new
            } else {
                &mut oldest_old
            };
            if slot.is_none() {
                *slot = Some(h);
            } else {
                deletes.push((h.pod, DeleteReason::Duplicate));
            }
        }
        if let (Some(new), Some(old)) = (oldest_new, oldest_old)
            && (!old.ready || new.available)
        {
            deletes.push((old.pod, DeleteReason::Outdated));
        }
    }
}

/// `findUpdatedPodsOnNode`: the live new and old pod of a node, or `None` when it has more
/// than one of either (excess pods, which `manage` prunes).
fn updated_pods<'a>(pods: &[Held<'a>]) -> Option<(Option<Held<'a>>, Option<Held<'a>>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().copied().filter(|p| !p.deleting) {
        let slot = if pod.new { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
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
struct Rolling<'a> {
    /// Input node indices.
    creates: Vec<u32>,
    deletes: Vec<Delete<'a>>,
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
fn current_wave<N: PlannerNode>(
    cx: &Ctx<'_, N>,
    groups: &Groups<'_>,
    entries: &[u32],
    updatable: Option<&[bool]>,
    domains: &Domains<'_>,
) -> Option<u32> {
    // Per domain id: (in progress, complete), once a desired node of it is seen.
    let mut state: Vec<Option<(bool, bool)>> = vec![None; domains.names.len()];
    for (k, &i) in entries.iter().enumerate() {
        let node = &cx.nodes[i as usize];
        if !node.verdict().should_run || updatable.is_some_and(|u| !u[k]) {
            continue;
        }
        let live = updated_pods(groups.of(i as usize));
        let done = matches!(live, Some((Some(new), None)) if new.available);
        let has_new = matches!(live, Some((Some(_), _)) | None);
        let s = state[domains.ids[i as usize] as usize].get_or_insert((false, true));
        s.0 |= has_new && !done;
        s.1 &= done;
    }
    let mut order: Vec<(&str, u32, bool, bool)> = state
        .iter()
        .enumerate()
        .filter_map(|(id, s)| {
            s.map(|(in_progress, complete)| (domains.names[id], id as u32, in_progress, complete))
        })
        .collect();
    order.sort_by_key(|&(name, _, in_progress, _)| (!in_progress, name.is_empty(), name));
    order
        .into_iter()
        .find(|&(_, _, _, complete)| !complete)
        .map(|(_, id, _, _)| id)
}

/// The nodes' topology domains numbered: equal domains, equal ids.
struct Domains<'a> {
    /// Per input node.
    ids: Vec<u32>,
    /// Per id, the domain.
    names: Vec<&'a str>,
}

impl<'a> Domains<'a> {
    /// Numbers domains by where their text is first, then by the text of each new place:
    /// callers that hand every node of a domain the same string (the service does) cost
    /// one pointer hash per node and no string hashing.
    fn of<N: PlannerNode>(nodes: &'a [N]) -> Domains<'a> {
        let mut by_place: FastMap<(usize, usize), u32> = FastMap::default();
        let mut by_text: FastMap<&str, u32> = FastMap::default();
        let mut names = Vec::new();
        let ids = nodes
            .iter()
            .map(|node| {
                let d = node.domain();
                *by_place
                    .entry((d.as_ptr() as usize, d.len()))
                    .or_insert_with(|| {
                        *by_text.entry(d).or_insert_with(|| {
                            names.push(d);
                            (names.len() - 1) as u32
                        })
                    })
            })
            .collect();
        Domains { ids, names }
    }
}

/// `rollingUpdate`: replaces old pods within `maxUnavailable` (no surge) or `maxSurge`.
fn rolling_update<'a, N: PlannerNode>(
    cx: &Ctx<'a, N>,
    groups: &Groups<'a>,
    order: &Order,
    desired: u64,
    max_surge: u64,
    max_unavailable: u64,
) -> Rolling<'a> {
    // `nodeToDaemonPods`: desired nodes, and nodes with pods, by name.
    let entries: Vec<u32> = order
        .iter()
        .filter(|&i| cx.nodes[i].verdict().should_run || !groups.of(i).is_empty())
        .map(|i| i as u32)
        .collect();
    let name = |i: u32| cx.nodes[i as usize].name();

    let partition = cx
        .strategy
        .partition
        .map_or(0, |p| p.scaled(desired, false));
    // Per entry: whether the rolling step may touch it; `None` = all.
    let updatable: Option<Vec<bool>> = (partition > 0).then(|| {
        let kept: FastSet<&str> = updatable_nodes(
            entries.iter().map(|&i| {
                let pods = groups.of(i as usize);
                let live =
                    updated_pods(pods).map(|(new, old)| (new.map(|h| h.pod), old.map(|h| h.pod)));
                let old_deleting = pods.iter().any(|p| p.deleting && !p.new);
                (name(i), live, old_deleting)
            }),
            partition,
            None,
        )
        .into_iter()
        .collect();
        entries.iter().map(|&i| kept.contains(name(i))).collect()
    });
    let updatable = updatable.as_deref();
    let may_touch = |k: usize| updatable.is_none_or(|u| u[k]);
    let domains = (!cx.strategy.topology_key.is_empty()).then(|| Domains::of(cx.nodes));
    let wave = domains
        .as_ref()
        .and_then(|d| current_wave(cx, groups, &entries, updatable, d).map(|w| (d, w)));
    let in_wave = |i: u32| wave.is_none_or(|(d, w)| d.ids[i as usize] == w);

    let mut out = Rolling::default();
    if max_surge == 0 {
        let mut unavailable = 0u64;
        let mut candidates = Vec::new();
        for (k, &i) in entries.iter().enumerate() {
            let Some(live) = updated_pods(groups.of(i as usize)) else {
                unavailable += 1;
                continue;
            };
            match live {
                (None, None) => unavailable += 1,
                (Some(_), Some(_)) => {
                    unavailable += 1;
                    if may_touch(k) {
                        out.outdated_updatable += 1;
                    }
                }
                (Some(new), None) => unavailable += u64::from(!new.available),
                (None, Some(old)) => {
                    if !may_touch(k) {
                        out.held_by_partition += 1;
                        unavailable += u64::from(!old.available);
                        continue;
                    }
                    out.outdated_updatable += 1;
                    if !old.available {
                        // Allowed replacement: outside the budget, whatever the wave.
                        out.deletes.push((old.pod, DeleteReason::Outdated));
                        unavailable += 1;
                    } else if !in_wave(i) {
                        out.held_by_wave += 1;
                    } else {
                        candidates.push(old.pod);
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
                .map(|pod| (pod, DeleteReason::Outdated)),
        );
        return out;
    }

    let (mut surging, mut available) = (0u64, 0u64);
    let (mut allowed_new, mut candidates, mut should_not_run) =
        (Vec::new(), Vec::new(), Vec::new());
    for (k, &i) in entries.iter().enumerate() {
        let Some((new, old)) = updated_pods(groups.of(i as usize)) else {
            surging += 1;
            continue;
        };
        let counted = old.or(new);
        available += u64::from(counted.is_some_and(|p| p.available));
        let Some(old) = old else { continue };
        if !may_touch(k) {
            out.held_by_partition += 1;
            continue;
        }
        out.outdated_updatable += 1;
        let should_run = cx.nodes[i as usize].verdict().should_run;
        match new {
            None if !old.available => {
                if should_run {
                    allowed_new.push(i);
                } else {
                    out.deletes.push((old.pod, DeleteReason::Misscheduled));
                }
            }
            None if !should_run => should_not_run.push(old.pod),
            None if !in_wave(i) => out.held_by_wave += 1,
            None => candidates.push(i),
            Some(new) if !new.available => surging += 1,
            Some(_) => out.deletes.push((old.pod, DeleteReason::Outdated)),
        }
    }
    let remaining = usize::try_from(max_surge.saturating_sub(surging)).unwrap_or(usize::MAX);
    let excess = usize::try_from(available.saturating_sub(desired)).unwrap_or(usize::MAX);
    out.deletes.extend(
        should_not_run
            .into_iter()
            .take(excess)
            .map(|pod| (pod, DeleteReason::Misscheduled)),
    );
    out.creates.extend(allowed_new);
    out.creates.extend(candidates.into_iter().take(remaining));
    out
}

/// `updateDaemonSetStatus` over the snapshot (semantics §6): the first pod in pod order
/// decides ready, available and updated.
pub fn status(input: &RolloutInput<'_>) -> Status {
    let cx = Ctx::from(input);
    status_of(&cx, &group_pods(&cx))
}

fn status_of<N: PlannerNode>(cx: &Ctx<'_, N>, groups: &Groups<'_>) -> Status {
    let mut s = Status::default();
    for (i, node) in cx.nodes.iter().enumerate() {
        let pods = groups.of(i);
        if !node.verdict().should_run {
            s.number_misscheduled += u32::from(!pods.is_empty());
            continue;
        }
        s.desired_number_scheduled += 1;
        let Some(first) = pods.first() else {
            continue;
        };
        s.current_number_scheduled += 1;
        s.number_ready += u32::from(first.ready);
        s.number_available += u32::from(first.available);
        s.updated_number_scheduled += u32::from(first.new);
    }
    s.number_unavailable = s.desired_number_scheduled - s.number_available;
    s
}

fn names<N: PlannerNode>(nodes: &[N], creates: &[u32]) -> Vec<String> {
    creates
        .iter()
        .map(|&i| nodes[i as usize].name().to_owned())
        .collect()
}

fn actions(deletes: &[Delete<'_>]) -> Vec<PodAction> {
    deletes.iter().map(|&(p, r)| action(p, r)).collect()
}

/// Only `manage` (upstream's step in isolation): `(creates, deletes)`.
pub fn plan_manage(input: &RolloutInput<'_>) -> (Vec<String>, Vec<PodAction>) {
    let cx = Ctx::from(input);
    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    let order = Order::of(cx.nodes);
    manage(&cx, &group_pods(&cx), &order, &mut creates, &mut deletes);
    (names(cx.nodes, &creates), actions(&deletes))
}

/// Only the rolling step (upstream's `rollingUpdate` in isolation): `(creates, deletes)`.
pub fn plan_rolling(input: &RolloutInput<'_>) -> (Vec<String>, Vec<PodAction>) {
    let cx = Ctx::from(input);
    let groups = group_pods(&cx);
    let desired = u64::from(status_of(&cx, &groups).desired_number_scheduled);
    let (surge, unavailable) = budgets(cx.strategy, desired);
    let order = Order::of(cx.nodes);
    let r = rolling_update(&cx, &groups, &order, desired, surge, unavailable);
    (names(cx.nodes, &r.creates), actions(&r.deletes))
}

/// One sync: `manage`, then (RollingUpdate, not paused) the rolling step, over one
/// snapshot.
pub fn plan(input: &RolloutInput<'_>) -> RolloutPlan {
    plan_of(&Ctx::from(input))
}

/// [`plan`] over borrowed nodes.
pub fn plan_view(input: &RolloutViewInput<'_>) -> RolloutPlan {
    plan_of(&Ctx::from(input))
}

fn plan_of<N: PlannerNode>(cx: &Ctx<'_, N>) -> RolloutPlan {
    let groups = group_pods(cx);
    let status = status_of(cx, &groups);
    let desired = u64::from(status.desired_number_scheduled);
    let (max_surge, max_unavailable) = budgets(cx.strategy, desired);
    let order = Order::of(cx.nodes);

    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    manage(cx, &groups, &order, &mut creates, &mut deletes);
    let rolling_allowed = cx.strategy.kind == StrategyType::RollingUpdate && !cx.strategy.paused;
    let rolling = if rolling_allowed {
        rolling_update(cx, &groups, &order, desired, max_surge, max_unavailable)
    } else {
        Rolling::default()
    };
    creates.extend_from_slice(&rolling.creates);
    deletes.extend_from_slice(&rolling.deletes);

    // Creates: unique names, ascending, at most a burst. Name order is `order`'s.
    match order.ranks() {
        None => creates.sort_unstable(),
        Some(rank) => creates.sort_unstable_by_key(|&i| rank[i as usize]),
    }
    let name = |i: u32| cx.nodes[i as usize].name();
    creates.dedup_by(|a, b| name(*a) == name(*b));
    creates.truncate(BURST_REPLICAS);
    let create_on = names(cx.nodes, &creates);
    // Deletes: the first of each (node, pod), at most a burst.
    let mut seen: FastSet<(&str, &str)> = FastSet::default();
    let mut delete = Vec::new();
    for &(pod, reason) in &deletes {
        if delete.len() == BURST_REPLICAS {
            break;
        }
        if seen.insert((pod.node.as_str(), pod.name.as_str())) {
            delete.push(action(pod, reason));
        }
    }

    let outdated = groups.outdated;
    let idle = create_on.is_empty() && delete.is_empty();
    let complete = idle
        && status.updated_number_scheduled == status.desired_number_scheduled
        && status.number_available == status.desired_number_scheduled
        && status.number_misscheduled == 0
        && !outdated;
    let waiting = (idle && !complete).then(|| {
        if cx.strategy.kind == StrategyType::OnDelete && outdated {
            WaitingReason::OnDelete
        } else if cx.strategy.paused && outdated {
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
        create_on,
        delete,
        status,
        complete,
        waiting,
        max_surge,
        max_unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validate::IntOrPercent;
    use crate::fleet::Rng;

    /// `plan_view` with the caller's pod → node matching answers exactly as `plan` does,
    /// on random inputs: excluded and keep nodes, pods on unknown nodes, unscheduled pods,
    /// duplicates, deleting and terminal pods, old and new revisions, waves.
    #[test]
    fn given_pod_nodes_plan_as_matching_by_name() {
        let verdicts = [Verdict::RUN, Verdict::RUN, Verdict::KEEP, Verdict::EXCLUDE];
        let phases = [PodPhase::Running, PodPhase::Pending, PodPhase::Failed];
        let (mut with_creates, mut with_deletes) = (0, 0);
        for seed in 0..300u64 {
            let mut rng = Rng::new(seed);
            let n = 1 + rng.below(30) as usize;
            let nodes: Vec<RolloutNode> = (0..n)
                .map(|i| RolloutNode {
                    name: format!("node-{i:03}"),
                    verdict: *rng.pick(&verdicts),
                    domain: format!("zone-{}", rng.below(3)),
                })
                .collect();
            let pods: Vec<DaemonPod> = (0..rng.below(45))
                .map(|i| {
                    let on = rng.below(n as u64 + 4) as usize;
                    DaemonPod {
                        namespace: "ns".into(),
                        daemonset: "ds".into(),
                        name: format!("pod-{i}"),
                        node: format!("node-{on:03}"),
                        revision_hash: if rng.percent(50.0) { "new" } else { "old" }.into(),
                        ready: rng.percent(80.0),
                        ready_since: Some(Time::from_seconds(rng.below(100) as i64)),
                        created: Some(Time::from_seconds(rng.below(100) as i64)),
                        deleting: rng.percent(10.0),
                        phase: *rng.pick(&phases),
                        generation: 1,
                        unscheduled: rng.percent(10.0),
                    }
                })
                .collect();
            let strategy = UpdateStrategy {
                max_unavailable: IntOrPercent::Int(1 + rng.below(3)),
                topology_key: if rng.percent(50.0) {
                    "zone".into()
                } else {
                    String::new()
                },
                ..UpdateStrategy::default()
            };
            let min_ready_seconds = rng.below(20) as i32;
            let want = plan(&RolloutInput {
                nodes: &nodes,
                pods: &pods,
                hash: "new",
                strategy: &strategy,
                min_ready_seconds,
                now: Time::from_seconds(60),
            });
            let views: Vec<NodeView<'_>> = nodes
                .iter()
                .map(|node| NodeView {
                    name: &node.name,
                    verdict: node.verdict,
                    domain: &node.domain,
                })
                .collect();
            let shared: Vec<Arc<DaemonPod>> = pods.iter().cloned().map(Arc::new).collect();
            let pod_nodes: Vec<u32> = pods
                .iter()
                .map(|p| {
                    nodes
                        .iter()
                        .position(|node| node.name == p.node)
                        .map_or(NO_NODE, |i| i as u32)
                })
                .collect();
            let got = plan_view(&RolloutViewInput {
                nodes: &views,
                pods: &shared,
                pod_nodes: Some(&pod_nodes),
                hash: "new",
                strategy: &strategy,
                min_ready_seconds,
                now: Time::from_seconds(60),
            });
            assert_eq!(got, want, "seed {seed}");
            with_creates += usize::from(!want.create_on.is_empty());
            with_deletes += usize::from(!want.delete.is_empty());
        }
        // The inputs exercise both halves of a sync.
        assert!(
            with_creates > 50 && with_deletes > 50,
            "{with_creates} {with_deletes}"
        );
    }
}
