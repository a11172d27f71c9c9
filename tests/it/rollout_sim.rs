//! A rollout simulation over gRPC: a driver carries out every `NextBatch` answer (creates
//! pods of the target hash, marks deleted pods `deleting` and removes them a step later),
//! reports the new pod states through `Inventory.Sync` (new pods become ready after a delay,
//! some fail, a node joins and one leaves mid-rollout) and advances a simulated clock passed
//! as `NextBatchRequest.now`. At every step it checks the budgets, waves and partition, and
//! that the rollout completes within a bounded number of steps.

use std::collections::{BTreeMap, BTreeSet};

use dsched::grpc::pb;

use crate::rollout_api::{Api, NS, daemonset, pod, strategy, ts};

/// Seconds per step.
const DT: i64 = 10;
/// Steps from creation until a new pod is ready.
const READY_DELAY: i64 = 2;

#[derive(Clone, Debug)]
struct Scenario {
    name: &'static str,
    nodes: usize,
    /// Zones assigned round-robin to the first `nodes - unlabeled` nodes; empty = no label.
    zones: &'static [&'static str],
    unlabeled: usize,
    max_unavailable: &'static str,
    max_surge: &'static str,
    partition: &'static str,
    topology: bool,
    /// Paused until this step (then unpaused through `Apply`); 0 = never paused.
    paused_until: u32,
    min_ready: i32,
    join_leave: bool,
    max_steps: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "",
            nodes: 0,
            zones: &[],
            unlabeled: 0,
            max_unavailable: "",
            max_surge: "",
            partition: "",
            topology: false,
            paused_until: 0,
            min_ready: 0,
            join_leave: false,
            max_steps: 400,
        }
    }
}

#[derive(Clone, Debug)]
struct SimPod {
    node: String,
    hash: String,
    created: i64,
    ready_since: Option<i64>,
    /// When it turns ready (or Failed, with `fails`).
    ready_at: i64,
    fails: bool,
    failed: bool,
    deleting_since: Option<u32>,
}

impl SimPod {
    fn live(&self) -> bool {
        self.deleting_since.is_none()
    }
    fn available(&self, min_ready: i64, now: i64) -> bool {
        !self.failed && self.ready_since.is_some_and(|s| s + min_ready <= now)
    }
}

/// Int-or-percent scaled against `total` (`up`: ceil, else floor); `""` → 0.
fn scaled(v: &str, total: u64, up: bool) -> u64 {
    match v.strip_suffix('%') {
        Some(p) => {
            let p: u64 = p.parse().expect("percent");
            if up {
                (p * total).div_ceil(100)
            } else {
                p * total / 100
            }
        }
        None if v.is_empty() => 0,
        None => v.parse().expect("int"),
    }
}

struct Sim {
    api: Api,
    sc: Scenario,
    /// node → zone label ("" = none).
    nodes: BTreeMap<String, String>,
    pods: BTreeMap<String, SimPod>,
    /// Nodes present at the start: the rolling step's nodes (joiners are `manage`'s).
    initial: BTreeSet<String>,
    dirty: BTreeSet<String>,
    removed: Vec<String>,
    new_nodes: Vec<pb::Node>,
    gone_nodes: Vec<String>,
    old_hash: String,
    hash: String,
    t: i64,
    step: u32,
    seq: u64,
    failures: usize,
    /// Domains in the order their rolling started.
    wave_order: Vec<String>,
}

fn sim_node(name: &str, zone: &str) -> pb::Node {
    let mut labels = vec![("run", "yes")];
    if !zone.is_empty() {
        labels.push(("zone", zone));
    }
    crate::support::node(name, &labels)
}

impl Sim {
    fn ds(&self, template: &str, paused: bool) -> pb::DaemonSet {
        let mut s = strategy("RollingUpdate", self.sc.max_unavailable, self.sc.max_surge);
        if let Some(ru) = s.rolling_update.as_mut() {
            ru.partition = self.sc.partition.to_owned();
            ru.paused = paused;
            if self.sc.topology {
                ru.topology_key = "zone".into();
            }
        }
        let mut ds = daemonset("sim", template, s);
        ds.min_ready_seconds = self.sc.min_ready;
        ds
    }

    async fn start(sc: Scenario) -> Sim {
        let mut api = Api::start().await;
        let labelled = sc.nodes - sc.unlabeled;
        let nodes: BTreeMap<String, String> = (0..sc.nodes)
            .map(|i| {
                let zone = if i < labelled && !sc.zones.is_empty() {
                    sc.zones[i % sc.zones.len()].to_owned()
                } else {
                    String::new()
                };
                (format!("node-{i:04}"), zone)
            })
            .collect();
        let mut sim = Sim {
            api: Api::start().await,
            sc,
            initial: nodes.keys().cloned().collect(),
            nodes,
            pods: BTreeMap::new(),
            dirty: BTreeSet::new(),
            removed: Vec::new(),
            new_nodes: Vec::new(),
            gone_nodes: Vec::new(),
            old_hash: String::new(),
            hash: String::new(),
            t: 1000,
            step: 0,
            seq: 0,
            failures: 0,
            wave_order: Vec::new(),
        };
        std::mem::swap(&mut sim.api, &mut api);
        drop(api);
        let v1 = sim.api.apply(sim.ds("v1", false)).await.expect("apply v1");
        sim.old_hash = v1.revision_hash.clone();
        let nodes: Vec<pb::Node> = sim.nodes.iter().map(|(n, z)| sim_node(n, z)).collect();
        let pods: Vec<pb::DaemonPod> = sim
            .nodes
            .keys()
            .map(|n| pod("sim", &format!("{n}-v1"), n, &v1.revision_hash, Some(0)))
            .collect();
        for p in &pods {
            sim.pods.insert(
                p.name.clone(),
                SimPod {
                    node: p.node.clone(),
                    hash: p.revision_hash.clone(),
                    created: 0,
                    ready_since: Some(0),
                    ready_at: 0,
                    fails: false,
                    failed: false,
                    deleting_since: None,
                },
            );
        }
        sim.api.upsert(nodes, pods).await;
        let done = sim.api.next("sim", sim.t).await;
        assert!(done.complete, "{}: v1 in place: {done:?}", sim.sc.name);
        let paused = sim.sc.paused_until > 0;
        let v2 = sim.api.apply(sim.ds("v2", paused)).await.expect("apply v2");
        assert_ne!(v2.revision_hash, sim.old_hash);
        sim.hash = v2.revision_hash;
        sim
    }

    fn min_ready(&self) -> i64 {
        i64::from(self.sc.min_ready)
    }

    /// Pods turn ready or fail; pods deleted a step ago disappear; mid-rollout events.
    fn advance(&mut self) {
        let (t, step) = (self.t, self.step);
        let mut gone = Vec::new();
        for (name, p) in &mut self.pods {
            if p.deleting_since.is_some_and(|s| s < step) {
                gone.push(name.clone());
            } else if p.live() && p.ready_since.is_none() && !p.failed && p.ready_at <= t {
                if p.fails {
                    p.failed = true;
                } else {
                    p.ready_since = Some(t);
                }
                self.dirty.insert(name.clone());
            }
        }
        for name in gone {
            self.pods.remove(&name);
            self.dirty.remove(&name);
            self.removed.push(name);
        }
        if self.sc.join_leave && step == 5 {
            let zone = self.sc.zones.first().copied().unwrap_or("");
            self.nodes.insert("node-9999-joined".into(), zone.into());
            self.new_nodes.push(sim_node("node-9999-joined", zone));
        }
        if self.sc.join_leave && step == 7 {
            // A node leaves; its pod records stay (ignored, as upstream leaves them to GC).
            let leaving = self.nodes.keys().nth(self.nodes.len() / 2).cloned();
            let leaving = leaving.expect("a node");
            self.nodes.remove(&leaving);
            self.gone_nodes.push(leaving);
        }
    }

    fn pb_pod(&self, name: &str, p: &SimPod) -> pb::DaemonPod {
        let mut out = pod("sim", name, &p.node, &p.hash, p.ready_since);
        out.created = Some(ts(p.created));
        out.deleting = p.deleting_since.is_some();
        if p.failed {
            out.phase = "Failed".into();
        }
        out
    }

    async fn report(&mut self) {
        let upsert_pods = self
            .dirty
            .iter()
            .map(|n| self.pb_pod(n, &self.pods[n]))
            .collect();
        let delete_pods = self
            .removed
            .drain(..)
            .map(|name| pb::PodRef {
                namespace: NS.into(),
                daemonset: "sim".into(),
                name,
            })
            .collect();
        self.dirty.clear();
        self.api
            .send(pb::SyncRequest {
                upsert_nodes: std::mem::take(&mut self.new_nodes),
                delete_nodes: std::mem::take(&mut self.gone_nodes),
                upsert_pods,
                delete_pods,
                ..Default::default()
            })
            .await;
    }

    /// Live pods per present node.
    fn by_node(&self) -> BTreeMap<&str, Vec<(&str, &SimPod)>> {
        let mut out: BTreeMap<&str, Vec<(&str, &SimPod)>> = self
            .nodes
            .keys()
            .map(|n| (n.as_str(), Vec::new()))
            .collect();
        for (name, p) in &self.pods {
            if p.live()
                && let Some(v) = out.get_mut(p.node.as_str())
            {
                v.push((name.as_str(), p));
            }
        }
        out
    }

    /// The invariants of one answer against the state it was computed from.
    fn check(&mut self, b: &pb::NextBatchResponse, paused: bool) {
        let name = self.sc.name;
        let (t, min_ready) = (self.t, self.min_ready());
        let ctx = format!("{name} step {}", self.step);
        let status = b.status.expect("status");
        let desired = self.nodes.len() as u64;
        assert_eq!(u64::from(status.desired_number_scheduled), desired, "{ctx}");
        assert_eq!(b.target_revision_hash, self.hash, "{ctx}");
        let max_surge = scaled(self.sc.max_surge, desired, true);
        let mut max_unavailable = scaled(self.sc.max_unavailable, desired, true);
        if self.sc.max_unavailable.is_empty() && self.sc.max_surge.is_empty() {
            max_unavailable = 1;
        }
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        let deleted: BTreeSet<&str> = b.delete.iter().map(|a| a.pod.as_str()).collect();
        let created: BTreeSet<&str> = b.create_on.iter().map(String::as_str).collect();
        for a in &b.delete {
            assert!(self.pods.contains_key(&a.pod), "{ctx}: unknown pod {a:?}");
        }
        let by_node = self.by_node();
        let (mut unavailable_before, mut newly_unavailable, mut extras) = (0u64, 0u64, 0u64);
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut in_progress: BTreeSet<String> = BTreeSet::new();
        let mut started: BTreeSet<String> = BTreeSet::new();
        let mut old_only: BTreeSet<String> = BTreeSet::new();
        let k = scaled(self.sc.partition, desired, false) as usize;
        let protected: BTreeSet<&str> = self.nodes.keys().take(k).map(String::as_str).collect();
        for (node, pods) in &by_node {
            let zone = self.nodes[*node].clone();
            let before = pods.iter().any(|(_, p)| p.available(min_ready, t));
            let after_pods: Vec<&(&str, &SimPod)> =
                pods.iter().filter(|(n, _)| !deleted.contains(n)).collect();
            let after = after_pods.iter().any(|(_, p)| p.available(min_ready, t));
            unavailable_before += u64::from(!before);
            newly_unavailable += u64::from(before && !after);
            let live_after = after_pods.len() + usize::from(created.contains(node));
            extras += live_after.saturating_sub(1) as u64;
            if created.contains(node) && !pods.is_empty() {
                assert!(
                    max_surge > 0 || pods.iter().all(|(n, _)| deleted.contains(n)),
                    "{ctx}: no-surge create on {node} beside a live pod"
                );
            }
            // The rolling step on this node: an available old pod replaced.
            let old_available = pods
                .iter()
                .find(|(_, p)| p.hash != self.hash && p.available(min_ready, t));
            if let Some((pod_name, _)) = old_available {
                let replaced =
                    deleted.contains(pod_name) || (created.contains(node) && max_surge > 0);
                if replaced {
                    touched.insert(zone.clone());
                    assert!(!paused, "{ctx}: rolling step on {node} while paused");
                    assert!(
                        !protected.contains(node),
                        "{ctx}: partition-protected {node} touched"
                    );
                }
            }
            if self.initial.contains(*node) {
                let has_new = pods.iter().any(|(_, p)| p.hash == self.hash);
                let new_pending = pods
                    .iter()
                    .any(|(_, p)| p.hash == self.hash && !p.available(min_ready, t));
                if new_pending {
                    in_progress.insert(zone.clone());
                }
                if has_new {
                    started.insert(zone.clone());
                } else {
                    old_only.insert(zone.clone());
                }
            }
        }
        assert!(
            newly_unavailable <= max_unavailable.saturating_sub(unavailable_before),
            "{ctx}: {newly_unavailable} made unavailable with {unavailable_before} already \
             unavailable and maxUnavailable {max_unavailable}"
        );
        assert!(
            extras <= max_surge,
            "{ctx}: {extras} extra pods, maxSurge {max_surge}"
        );
        if self.sc.topology {
            assert!(
                touched.len() <= 1,
                "{ctx}: two domains at once: {touched:?}"
            );
            if let Some(d) = touched.iter().next() {
                for e in started.intersection(&old_only).chain(&in_progress) {
                    assert_eq!(e, d, "{ctx}: {d} rolls while {e} is still in progress");
                }
                if !self.wave_order.contains(d) {
                    self.wave_order.push(d.clone());
                }
            }
        }
    }

    /// Carries out the answer.
    fn carry_out(&mut self, b: &pb::NextBatchResponse) {
        for a in &b.delete {
            let p = self.pods.get_mut(&a.pod).expect("known pod");
            assert_eq!(p.node, a.node);
            p.deleting_since = Some(self.step);
            self.dirty.insert(a.pod.clone());
        }
        for node in &b.create_on {
            self.seq += 1;
            let fails = self.seq % 17 == 3;
            self.failures += usize::from(fails);
            let name = format!("{node}-n{}", self.seq);
            self.pods.insert(
                name.clone(),
                SimPod {
                    node: node.clone(),
                    hash: b.target_revision_hash.clone(),
                    created: self.t,
                    ready_since: None,
                    ready_at: self.t + READY_DELAY * DT,
                    fails,
                    failed: false,
                    deleting_since: None,
                },
            );
            self.dirty.insert(name);
        }
    }

    /// Runs to completion (or to the partition); returns the last answer.
    async fn run(&mut self) -> pb::NextBatchResponse {
        loop {
            self.advance();
            let paused = self.step < self.sc.paused_until;
            if self.sc.paused_until > 0 && self.step == self.sc.paused_until {
                let ds = self.ds("v2", false);
                let v = self.api.apply(ds).await.expect("unpause");
                assert_eq!(
                    v.revision_hash, self.hash,
                    "a strategy change is no new revision"
                );
            }
            self.report().await;
            let b = self.api.next("sim", self.t).await;
            let again = self.api.next("sim", self.t).await;
            assert_eq!(b, again, "{}: same request, same answer", self.sc.name);
            self.check(&b, paused);
            if paused && b.create_on.is_empty() && b.delete.is_empty() {
                assert_eq!(b.waiting_reason, "Paused", "{}", self.sc.name);
            }
            let idle = b.create_on.is_empty() && b.delete.is_empty();
            // The partition stops the rollout once only the protected nodes run old pods.
            // (src reports "Partition" earlier too, while the budget is what holds the
            // rollout: see `rollout_api::partition_reason_only_when_the_partition_holds`.)
            let old_left = self
                .pods
                .values()
                .filter(|p| p.live() && p.hash != self.hash && self.nodes.contains_key(&p.node))
                .count();
            let k = scaled(self.sc.partition, self.nodes.len() as u64, false) as usize;
            if b.complete
                || (!self.sc.partition.is_empty()
                    && idle
                    && b.waiting_reason == "Partition"
                    && old_left == k
                    && b.status
                        .is_some_and(|s| s.number_available == s.desired_number_scheduled))
            {
                return b;
            }
            self.carry_out(&b);
            self.t += DT;
            self.step += 1;
            assert!(
                self.step < self.sc.max_steps,
                "{}: not complete after {} steps: {:?}",
                self.sc.name,
                self.step,
                b.status
            );
        }
    }

    /// Every present node runs exactly one live pod; the nodes on the old revision.
    fn final_state(&self) -> BTreeSet<String> {
        let mut old = BTreeSet::new();
        for (node, pods) in self.by_node() {
            assert_eq!(pods.len(), 1, "{}: {node} has {pods:?}", self.sc.name);
            let p = pods[0].1;
            assert!(
                p.available(self.min_ready(), self.t),
                "{}: {node}",
                self.sc.name
            );
            if p.hash != self.hash {
                old.insert(node.to_owned());
            }
        }
        old
    }
}

async fn run(sc: Scenario) -> Sim {
    let started = std::time::Instant::now();
    let mut sim = Sim::start(sc).await;
    let last = sim.run().await;
    println!(
        "{}: {} steps, {} failed pods, {:?}",
        sim.sc.name,
        sim.step,
        sim.failures,
        started.elapsed()
    );
    if sim.sc.partition.is_empty() {
        assert!(last.complete && last.waiting_reason.is_empty(), "{last:?}");
        assert!(
            sim.final_state().is_empty(),
            "{}: old pods left",
            sim.sc.name
        );
    }
    if sim.step > 20 {
        assert!(
            sim.failures > 0,
            "{}: some pods should have failed",
            sim.sc.name
        );
    }
    sim
}

#[tokio::test]
async fn no_surge_max_unavailable_1() {
    run(Scenario {
        name: "no-surge 1",
        nodes: 30,
        max_unavailable: "1",
        join_leave: true,
        max_steps: 300,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn no_surge_10_percent_on_1000_nodes() {
    run(Scenario {
        name: "no-surge 10%",
        nodes: 1000,
        max_unavailable: "10%",
        min_ready: 15,
        join_leave: true,
        max_steps: 150,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn surge_5_percent_on_1000_nodes() {
    run(Scenario {
        name: "surge 5%",
        nodes: 1000,
        max_surge: "5%",
        join_leave: true,
        max_steps: 150,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn percent_budgets_round_up() {
    // 25% of 97 is 24.25: 25 at once; surge 3% of 97 is 2.91: 3 at once.
    let mut sim = Sim::start(Scenario {
        name: "percent 25%",
        nodes: 97,
        max_unavailable: "25%",
        min_ready: 5,
        max_steps: 100,
        ..Default::default()
    })
    .await;
    let b = sim.api.next("sim", sim.t).await;
    assert_eq!(b.delete.len(), 25, "ceil(25% of 97)");
    sim.run().await;
    assert!(sim.final_state().is_empty());
    let mut sim = Sim::start(Scenario {
        name: "percent surge 3%",
        nodes: 97,
        max_surge: "3%",
        min_ready: 5,
        max_steps: 200,
        ..Default::default()
    })
    .await;
    let b = sim.api.next("sim", sim.t).await;
    assert_eq!(b.create_on.len(), 3, "ceil(3% of 97)");
    sim.run().await;
    assert!(sim.final_state().is_empty());
}

#[tokio::test]
async fn partition_keeps_the_lowest_names() {
    let sim = run(Scenario {
        name: "partition 10%",
        nodes: 200,
        max_unavailable: "20%",
        partition: "10%",
        max_steps: 100,
        ..Default::default()
    })
    .await;
    let old = sim.final_state();
    let want: BTreeSet<String> = sim.nodes.keys().take(20).cloned().collect();
    assert_eq!(old, want, "floor(10% of 200) = 20 lowest names stay old");
}

#[tokio::test]
async fn pause_then_unpause() {
    run(Scenario {
        name: "pause",
        nodes: 100,
        max_unavailable: "10",
        paused_until: 10,
        join_leave: true,
        max_steps: 100,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn topology_waves() {
    let sim = run(Scenario {
        name: "waves",
        nodes: 240,
        zones: &["zone-c", "zone-a", "zone-b", "zone-d"],
        unlabeled: 20,
        max_unavailable: "15",
        topology: true,
        join_leave: true,
        min_ready: 10,
        max_steps: 200,
        ..Default::default()
    })
    .await;
    assert_eq!(sim.wave_order, ["zone-a", "zone-b", "zone-c", "zone-d", ""]);
    let sim = run(Scenario {
        name: "waves surge",
        nodes: 120,
        zones: &["east", "west", "north"],
        unlabeled: 10,
        max_surge: "10%",
        topology: true,
        max_steps: 200,
        ..Default::default()
    })
    .await;
    assert_eq!(sim.wave_order, ["east", "north", "west", ""]);
}
