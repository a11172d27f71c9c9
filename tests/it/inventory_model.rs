//! A randomized model test of the inventory: thousands of random batches (node and pod
//! upserts and deletes, label and taint churn, stale generations, resyncs spanning batches,
//! sessions dropped mid-resync, interleaved sessions) run against the index and against a
//! plain model written from `api.md` alone. After every batch every observable answer of the
//! index must equal the model's, and every selector answer of `ListNodes` must equal the
//! brute-force one.
//!
//! Three layers, each checking the index against something simpler:
//!
//! 1. **In process** ([`model_in_process`]): batches go straight into
//!    [`SyncSession::apply`], so thousands of them run in a few seconds. `list_nodes`
//!    (walked page by page) is compared with `scan_nodes` (the index's own brute-force
//!    oracle) *and* with [`Model`] filtered by `Requirement::matches`.
//! 2. **Over gRPC** ([`model_over_grpc`]): the same churn through real `Sync` streams, with
//!    invalid items mixed in, checked through acks, `GetNode` and `ListNodes` with kubectl
//!    selector strings.
//! 3. **Concurrency** ([`concurrent_writers_never_show_a_torn_node`]): writers churn nodes
//!    whose every label and taint carries one version string while readers list and get them.
//!
//! Replaying a failure: every assertion message starts with `seed S step N`. Run with
//! `DSCHED_MODEL_SEED=S` to replay just that seed (the step count stays the same).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use dsched::domain::selector::{Operator, Requirement, Selector};
use dsched::domain::{Condition, DaemonPod, Node, PodKey, PodPhase, Taint, TaintEffect, Time};
use dsched::grpc::pb;
use dsched::grpc::pb::inventory_client::InventoryClient;
use dsched::index::Inventory;
use dsched::index::sync::{Batch, BatchOutcome, ResyncMark, SyncError, SyncSession};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{SyncStream, TestServer, list_names};

// ---------------------------------------------------------------------------------------
// Vocabulary: small on purpose, so names, keys and values collide all the time.
// ---------------------------------------------------------------------------------------

/// Node names are `node-0` … `node-39`: the name order (`node-1`, `node-10`, …) differs from
/// the numeric one, which catches a page walk that sorts by anything but the name.
const NODE_NAMES: usize = 40;

/// Label keys and the values they take. `""` is a value like any other; `num` mixes numbers
/// (with leading zeros, at and past `i64::MAX`) with non-numbers so `Gt`/`Lt` must parse
/// exactly like `Requirement::matches` does. `gpu` is both a key here and a value of `pool`
/// and of a taint, so an interned string is shared between roles.
const LABELS: &[(&str, &[&str])] = &[
    ("zone", &["a", "b", "c", ""]),
    (
        "node.kubernetes.io/instance-type",
        &["m5.large", "m5.xlarge", "c5.2xlarge"],
    ),
    ("pool", &["default", "gpu", "spot", ""]),
    ("gpu", &["true", "false", ""]),
    (
        "num",
        &[
            "0",
            "1",
            "2",
            "007",
            "10",
            "42",
            "x1",
            "0x10",
            "9223372036854775807",
            "9223372036854775808",
            "",
        ],
    ),
];

/// Unique per node (its own name), like on a real cluster.
const HOSTNAME: &str = "kubernetes.io/hostname";

const TAINT_KEYS: &[&str] = &["dedicated", "node.kubernetes.io/unreachable", "gpu"];
const TAINT_VALUES: &[&str] = &["", "true", "gpu"];

/// (namespace, DaemonSet) pairs that pods belong to.
const DAEMONSETS: &[(&str, &str)] = &[
    ("default", "ds-a"),
    ("default", "ds-b"),
    ("kube-system", "ds-c"),
];
const PODS_PER_DAEMONSET: usize = 8;

/// Selector keys: every label key plus keys no node carries.
const SELECTOR_KEYS: &[&str] = &[
    "zone",
    "node.kubernetes.io/instance-type",
    "pool",
    "gpu",
    "num",
    HOSTNAME,
    "missing",
    "example.com/absent",
];

/// Selector values: label values (some of them numeric), hostnames, and values no node has.
const SELECTOR_VALUES: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "m5.large",
    "c5.2xlarge",
    "default",
    "gpu",
    "spot",
    "true",
    "false",
    "0",
    "1",
    "007",
    "7",
    "42",
    "x1",
    "0x10",
    "9223372036854775808",
    "node-3",
    "node-17",
    "node-39",
];

/// `Gt`/`Lt` bounds; `007` parses as 7, and no label value exceeds `i64::MAX`.
const BOUNDS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "007",
    "9",
    "10",
    "41",
    "42",
    "43",
    "9223372036854775807",
];

const OPERATORS: [Operator; 6] = [
    Operator::In,
    Operator::NotIn,
    Operator::Exists,
    Operator::DoesNotExist,
    Operator::Gt,
    Operator::Lt,
];

fn node_name(i: usize) -> String {
    format!("node-{i}")
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The seeds to run: `DSCHED_MODEL_SEED` alone when set, else `defaults`.
fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("DSCHED_MODEL_SEED") {
        Ok(s) => vec![s.trim().parse().expect("DSCHED_MODEL_SEED is a u64")],
        Err(_) => defaults.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// Random content
// ---------------------------------------------------------------------------------------

/// A fresh node: each label key present with probability 0.6, taints from a small set with
/// all three effects (unique by key and effect, as validation demands), and now and then
/// the fields the index stores but never indexes.
fn random_node(rng: &mut SmallRng, name: &str) -> Node {
    let mut labels = BTreeMap::new();
    for (key, values) in LABELS {
        if rng.random_bool(0.6) {
            labels.insert((*key).to_owned(), (*pick(rng, values)).to_owned());
        }
    }
    if rng.random_bool(0.9) {
        labels.insert(HOSTNAME.to_owned(), name.to_owned());
    }
    let mut taints = Vec::new();
    for key in TAINT_KEYS {
        for effect in TaintEffect::ALL {
            if rng.random_bool(0.15) {
                taints.push(random_taint(rng, key, effect));
            }
        }
    }
    if rng.random_bool(0.3) {
        taints.reverse();
    }
    let mut allocatable = BTreeMap::new();
    let mut requested = BTreeMap::new();
    let mut conditions = Vec::new();
    if rng.random_bool(0.3) {
        allocatable = owned(&[("cpu", *pick(rng, &["4", "8"])), ("memory", "16Gi")]);
        requested = owned(&[("cpu", *pick(rng, &["500m", "1"]))]);
        conditions.push(Condition {
            kind: "Ready".to_owned(),
            status: (*pick(rng, &["True", "False"])).to_owned(),
        });
    }
    Node {
        name: name.to_owned(),
        labels,
        taints,
        unschedulable: rng.random_bool(0.2),
        allocatable,
        requested,
        conditions,
        generation: 0,
    }
}

fn random_taint(rng: &mut SmallRng, key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_owned(),
        value: (*pick(rng, TAINT_VALUES)).to_owned(),
        effect,
        time_added: rng
            .random_bool(0.2)
            .then(|| Time::from_seconds(1_700_000_000 + rng.random_range(0..3))),
    }
}

/// A small edit of a stored node: a label set, changed or removed, a taint added, removed or
/// given a new value, or a cordon flip. It may well come out identical (then it is
/// "unchanged").
fn churn(rng: &mut SmallRng, node: &Node) -> Node {
    let mut n = node.clone();
    for _ in 0..rng.random_range(1..=2) {
        match rng.random_range(0..6) {
            0 | 1 => {
                let (key, values) = pick(rng, LABELS);
                n.labels
                    .insert((*key).to_owned(), (*pick(rng, values)).to_owned());
            }
            2 => {
                let (key, _) = pick(rng, LABELS);
                n.labels.remove(*key);
            }
            3 => {
                let key = *pick(rng, TAINT_KEYS);
                let effect = *pick(rng, &TaintEffect::ALL);
                match n
                    .taints
                    .iter()
                    .position(|t| t.key == key && t.effect == effect)
                {
                    Some(i) => {
                        n.taints.remove(i);
                    }
                    None => n.taints.push(random_taint(rng, key, effect)),
                }
            }
            4 if !n.taints.is_empty() => {
                let i = rng.random_range(0..n.taints.len());
                n.taints[i].value = (*pick(rng, TAINT_VALUES)).to_owned();
            }
            _ => n.unschedulable = !n.unschedulable,
        }
    }
    n
}

/// A writer's ordering token: 0 (always applies), one below the stored one (stale unless
/// that is 0), equal, above, or anything (often stale once generations have grown).
fn random_generation(rng: &mut SmallRng, stored: Option<u64>) -> u64 {
    match rng.random_range(0..7) {
        0 => 0,
        1 => stored.map_or(1, |g| g.saturating_sub(1)),
        2 => stored.unwrap_or(1),
        3..=5 => stored.unwrap_or(0) + rng.random_range(1..3),
        _ => rng.random_range(1..40),
    }
}

/// An upsert of `name`: a resend of what is stored (unchanged or stale), a churned copy of
/// it, or brand-new content, with a random generation.
fn node_upsert(rng: &mut SmallRng, name: &str, stored: Option<&Node>) -> Node {
    let mut node = match (stored, rng.random_range(0..10)) {
        (Some(s), 0..=2) => s.clone(),
        (Some(s), 3..=6) => churn(rng, s),
        _ => random_node(rng, name),
    };
    node.generation = random_generation(rng, stored.map(|s| s.generation));
    node
}

fn random_pod_key(rng: &mut SmallRng) -> PodKey {
    let (namespace, daemonset) = *pick(rng, DAEMONSETS);
    PodKey {
        namespace: namespace.to_owned(),
        daemonset: daemonset.to_owned(),
        name: format!("{daemonset}-{}", rng.random_range(0..PODS_PER_DAEMONSET)),
    }
}

/// An upsert of the pod `key`: a resend, a small state change, or a fresh state.
fn pod_upsert(rng: &mut SmallRng, key: &PodKey, stored: Option<&DaemonPod>) -> DaemonPod {
    let mut pod = match (stored, rng.random_range(0..10)) {
        (Some(s), 0..=3) => s.clone(),
        (Some(s), 4..=6) => {
            let mut p = s.clone();
            p.ready = !p.ready;
            p.ready_since = p.ready.then_some(Time::from_seconds(1_700_000_100));
            p
        }
        _ => {
            let ready = rng.random_bool(0.6);
            DaemonPod {
                namespace: key.namespace.clone(),
                daemonset: key.daemonset.clone(),
                name: key.name.clone(),
                node: node_name(rng.random_range(0..NODE_NAMES)),
                revision_hash: (*pick(rng, &["v1", "v2"])).to_owned(),
                ready,
                ready_since: ready.then_some(Time::from_seconds(1_700_000_000)),
                created: rng
                    .random_bool(0.5)
                    .then_some(Time::from_seconds(1_600_000_000)),
                deleting: rng.random_bool(0.1),
                unscheduled: rng.random_bool(0.1),
                phase: *pick(
                    rng,
                    &[
                        PodPhase::Pending,
                        PodPhase::Running,
                        PodPhase::Running,
                        PodPhase::Succeeded,
                        PodPhase::Failed,
                        PodPhase::Unknown,
                    ],
                ),
                generation: 0,
            }
        }
    };
    pod.generation = random_generation(rng, stored.map(|s| s.generation));
    pod
}

/// The resync marker of a session's next batch: sessions in a resync mostly keep listing and
/// sometimes end or restart it; the others sometimes begin one, and rarely misuse the
/// protocol with an `End` that has no `Begin`.
fn random_mark(rng: &mut SmallRng, in_resync: bool) -> ResyncMark {
    let r: f64 = rng.random();
    match in_resync {
        true if r < 0.2 => ResyncMark::End,
        true if r < 0.23 => ResyncMark::Begin,
        false if r < 0.07 => ResyncMark::Begin,
        false if r < 0.08 => ResyncMark::End,
        _ => ResyncMark::None,
    }
}

/// A random batch. A batch of a listing (a session in a resync) upserts a random half of
/// what the model holds, so the rest is what `RESYNC_END` must sweep; other batches churn
/// random names. Deletes hit present and absent items alike.
fn random_batch(rng: &mut SmallRng, model: &Model, mark: ResyncMark, listing: bool) -> Batch {
    let mut batch = Batch {
        resync: mark,
        ..Batch::default()
    };
    if listing {
        for (name, stored) in &model.nodes {
            if rng.random_bool(0.55) {
                batch
                    .upsert_nodes
                    .push(node_upsert(rng, name, Some(&stored.node)));
            }
        }
        for (key, stored) in &model.pods {
            if rng.random_bool(0.55) {
                batch.upsert_pods.push(pod_upsert(rng, key, Some(stored)));
            }
        }
    }
    let extra_nodes = if listing { 0..=2 } else { 0..=8 };
    for _ in 0..rng.random_range(extra_nodes) {
        let name = node_name(rng.random_range(0..NODE_NAMES));
        let stored = model.nodes.get(&name).map(|s| &s.node);
        batch.upsert_nodes.push(node_upsert(rng, &name, stored));
    }
    for _ in 0..rng.random_range(0..=2) {
        if rng.random_bool(0.6) {
            batch
                .delete_nodes
                .push(node_name(rng.random_range(0..NODE_NAMES)));
        }
    }
    for _ in 0..rng.random_range(0..=4) {
        let key = random_pod_key(rng);
        let stored = model.pods.get(&key);
        batch.upsert_pods.push(pod_upsert(rng, &key, stored));
    }
    for _ in 0..rng.random_range(0..=2) {
        if rng.random_bool(0.6) {
            batch.delete_pods.push(random_pod_key(rng));
        }
    }
    batch
}

/// A selector built from random requirements with every operator (via `Requirement::new`,
/// so it is one the parser could produce); one in ten is empty.
fn random_selector(rng: &mut SmallRng) -> Selector {
    if rng.random_bool(0.1) {
        return Selector::default();
    }
    let reqs = (0..rng.random_range(1..=3))
        .map(|_| {
            let key = *pick(rng, SELECTOR_KEYS);
            let operator = *pick(rng, &OPERATORS);
            let values: Vec<String> = match operator {
                Operator::In | Operator::NotIn => {
                    let mut values: Vec<String> = (0..rng.random_range(1..=3))
                        .map(|_| (*pick(rng, SELECTOR_VALUES)).to_owned())
                        .collect();
                    if rng.random_bool(0.1) {
                        values.push(String::new());
                    }
                    values
                }
                Operator::Exists | Operator::DoesNotExist => Vec::new(),
                Operator::Gt | Operator::Lt => vec![(*pick(rng, BOUNDS)).to_owned()],
            };
            Requirement::new(key, operator, values.clone()).unwrap_or_else(|e| {
                panic!("generator built an invalid requirement {key} {operator} {values:?}: {e}")
            })
        })
        .collect();
    Selector(reqs)
}

/// A random kubectl selector string: every spelling (`k`, `!k`, `k=v`, `k==v`, `k!=v`,
/// `k in (…)`, `k notin (…)`, `k>n`, `k<n`), the empty value (`k=`, `k in ()`), optional
/// spaces after commas, and the empty string (which selects everything).
fn random_kubectl(rng: &mut SmallRng) -> String {
    let parts: Vec<String> = (0..rng.random_range(0..=3))
        .map(|_| {
            let key = *pick(rng, SELECTOR_KEYS);
            let value = if rng.random_bool(0.1) {
                ""
            } else {
                *pick(rng, SELECTOR_VALUES)
            };
            match rng.random_range(0..9) {
                0 => key.to_owned(),
                1 => format!("!{key}"),
                2 => format!("{key}={value}"),
                3 => format!("{key}=={value}"),
                4 => format!("{key}!={value}"),
                op @ (5 | 6) => {
                    let values: Vec<&str> = (0..rng.random_range(0..=3))
                        .map(|_| *pick(rng, SELECTOR_VALUES))
                        .collect();
                    let op = if op == 5 { "in" } else { "notin" };
                    format!("{key} {op} ({})", values.join(", "))
                }
                7 => format!("{key}>{}", pick(rng, BOUNDS)),
                _ => format!("{key}<{}", pick(rng, BOUNDS)),
            }
        })
        .collect();
    parts.join(if rng.random_bool(0.5) { "," } else { ", " })
}

/// Where a page walk starts: usually at the beginning, sometimes after a present name, an
/// absent one that sorts between names, or the empty string.
fn random_start(rng: &mut SmallRng) -> Option<String> {
    match rng.random_range(0..10) {
        0 => Some(node_name(rng.random_range(0..NODE_NAMES))),
        1 => Some(format!("node-{}x", rng.random_range(0..NODE_NAMES))),
        2 => Some(String::new()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// An item a resync can sweep.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Node(String),
    Pod(PodKey),
}

/// What `api.md` says one upsert does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Applied,
    Unchanged,
    Stale,
}

/// Something stored with a writer's generation.
trait Versioned: Clone + PartialEq {
    fn generation(&self) -> u64;
    fn set_generation(&mut self, generation: u64);
}

impl Versioned for Node {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

impl Versioned for DaemonPod {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

/// The upsert rule, for nodes and pods alike: a generation lower than the stored one (and
/// not 0) is stale and ignored; otherwise identical content (generation aside) is
/// unchanged, anything else applied. The stored generation never goes backwards, so a
/// resend with generation 0 or a newer token over identical content keeps the larger one.
fn upsert_rule<T: Versioned>(stored: Option<&T>, new: &T) -> (Outcome, T) {
    let Some(stored) = stored else {
        return (Outcome::Applied, new.clone());
    };
    if new.generation() != 0 && new.generation() < stored.generation() {
        return (Outcome::Stale, stored.clone());
    }
    let mut next = new.clone();
    next.set_generation(stored.generation().max(new.generation()));
    let mut a = stored.clone();
    a.set_generation(0);
    let mut b = new.clone();
    b.set_generation(0);
    let outcome = if a == b {
        Outcome::Unchanged
    } else {
        Outcome::Applied
    };
    (outcome, next)
}

struct StoredNode {
    node: Node,
    /// The index must report the revision of the node's last change within `(lo, hi]`: the
    /// revisions before and after the batch that changed it (the order of items inside a
    /// batch is the index's business: it applies them shard by shard).
    changed: (u64, u64),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    applied: u32,
    unchanged: u32,
    stale: u32,
    swept: u32,
}

impl Counts {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Applied => self.applied += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Stale => self.stale += 1,
        }
    }

    fn of(out: &BatchOutcome) -> Self {
        Counts {
            applied: out.applied,
            unchanged: out.unchanged,
            stale: out.stale,
            swept: out.swept,
        }
    }

    fn of_ack(ack: &pb::SyncResponse) -> Self {
        Counts {
            applied: ack.applied,
            unchanged: ack.unchanged,
            stale: ack.stale,
            swept: ack.swept,
        }
    }

    /// Changes that must each move the revision.
    fn changes(&self) -> u64 {
        u64::from(self.applied + self.swept)
    }
}

/// `RESYNC_END` without an open `RESYNC_BEGIN` on the session.
#[derive(Debug)]
struct ProtocolMisuse;

/// The inventory as `api.md` documents it, written without looking at the index: plain maps,
/// no postings, no shards. Resync is modelled as *sets*: each session with an open resync
/// collects every item any stream upserts (applied, unchanged or stale), and `RESYNC_END`
/// deletes what is not in its set. The index does the same with a clock and marks, so the
/// two formulations check each other.
#[derive(Default)]
struct Model {
    nodes: BTreeMap<String, StoredNode>,
    pods: BTreeMap<PodKey, DaemonPod>,
    /// Per session: the items upserted since its `RESYNC_BEGIN`, while one is open.
    resyncs: Vec<Option<BTreeSet<Item>>>,
}

impl Model {
    fn with_sessions(n: usize) -> Self {
        Model {
            resyncs: vec![None; n],
            ..Model::default()
        }
    }

    /// Counts as "seen" by every open resync.
    fn saw(&mut self, item: Item) {
        for seen in self.resyncs.iter_mut().flatten() {
            seen.insert(item.clone());
        }
    }

    /// Applies one batch of `session`: node upserts, node deletes, pod upserts, pod deletes,
    /// then the sweep of `RESYNC_END`. Returns the counts and the names of the nodes it
    /// changed (their revision ranges are the caller's to fill in).
    fn apply(
        &mut self,
        session: usize,
        batch: &Batch,
    ) -> Result<(Counts, BTreeSet<String>), ProtocolMisuse> {
        if batch.resync == ResyncMark::End && self.resyncs[session].is_none() {
            return Err(ProtocolMisuse);
        }
        if batch.resync == ResyncMark::Begin {
            self.resyncs[session] = Some(BTreeSet::new());
        }
        let mut counts = Counts::default();
        let mut changed = BTreeSet::new();
        for node in &batch.upsert_nodes {
            self.saw(Item::Node(node.name.clone()));
            let stored = self.nodes.get(&node.name).map(|s| &s.node);
            let (outcome, next) = upsert_rule(stored, node);
            counts.count(outcome);
            if outcome == Outcome::Applied {
                changed.insert(node.name.clone());
            }
            let changed_at = self.nodes.get(&node.name).map_or((0, 0), |s| s.changed);
            self.nodes.insert(
                node.name.clone(),
                StoredNode {
                    node: next,
                    changed: changed_at,
                },
            );
        }
        for name in &batch.delete_nodes {
            let existed = self.nodes.remove(name).is_some();
            // A delete that finds nothing changes nothing: the index counts it unchanged.
            counts.count(if existed {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            });
        }
        for pod in &batch.upsert_pods {
            let key = pod.key();
            self.saw(Item::Pod(key.clone()));
            let (outcome, next) = upsert_rule(self.pods.get(&key), pod);
            counts.count(outcome);
            self.pods.insert(key, next);
        }
        for key in &batch.delete_pods {
            let existed = self.pods.remove(key).is_some();
            counts.count(if existed {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            });
        }
        if batch.resync == ResyncMark::End {
            let seen = self.resyncs[session].take().unwrap_or_default();
            let before = self.nodes.len() + self.pods.len();
            self.nodes
                .retain(|name, _| seen.contains(&Item::Node(name.clone())));
            self.pods
                .retain(|key, _| seen.contains(&Item::Pod(key.clone())));
            counts.swept =
                u32::try_from(before - self.nodes.len() - self.pods.len()).expect("a small sweep");
        }
        changed.retain(|name| self.nodes.contains_key(name));
        Ok((counts, changed))
    }

    /// Marks `changed` as changed by the batch that moved the revision from `lo` to `hi`.
    fn stamp(&mut self, changed: &BTreeSet<String>, lo: u64, hi: u64) {
        for name in changed {
            if let Some(stored) = self.nodes.get_mut(name) {
                stored.changed = (lo, hi);
            }
        }
    }

    /// Names of the nodes that `selector` matches, in name order, by `Requirement::matches`.
    fn select(&self, selector: &Selector) -> Vec<String> {
        self.nodes
            .values()
            .filter(|s| selector.0.iter().all(|r| r.matches(&s.node.labels)))
            .map(|s| s.node.name.clone())
            .collect()
    }

    fn pods_of(&self, namespace: &str, daemonset: &str) -> Vec<DaemonPod> {
        self.pods
            .iter()
            .filter(|(k, _)| k.namespace == namespace && k.daemonset == daemonset)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// The revision must grow by at least one per change and stay put when nothing changed.
fn check_revision_step(ctx: &str, before: u64, after: u64, counts: &Counts) {
    assert!(
        after >= before + counts.changes(),
        "{ctx}: revision went {before} -> {after} over {counts:?}"
    );
    if counts.changes() == 0 {
        assert_eq!(after, before, "{ctx}: revision moved without a change");
    }
}

fn check_node_revision(ctx: &str, name: &str, revision: u64, (lo, hi): (u64, u64)) {
    assert!(
        lo < revision && revision <= hi,
        "{ctx}: node {name} reports last change at revision {revision}, want in ({lo}, {hi}]"
    );
}

// ---------------------------------------------------------------------------------------
// 1. In process
// ---------------------------------------------------------------------------------------

/// Two sessions share the inventory, so resyncs interleave with the other's writes.
const SESSIONS: usize = 2;

struct InProcess {
    seed: u64,
    inv: Arc<Inventory>,
    sessions: Vec<SyncSession>,
    model: Model,
    revision: u64,
    tally: Tally,
}

/// What a run exercised: a generator that stopped producing some outcome would make the
/// model test prove less than it seems, so runs assert on this.
#[derive(Debug, Default)]
struct Tally {
    counts: Counts,
    begins: u32,
    ends: u32,
    misuses: u32,
    drops: u32,
}

impl Tally {
    fn assert_covers_everything(&self, ctx: &str) {
        let c = &self.counts;
        assert!(
            c.applied > 100
                && c.unchanged > 50
                && c.stale > 50
                && c.swept > 10
                && self.begins > 5
                && self.ends > 5
                && self.misuses > 0
                && self.drops > 0,
            "{ctx}: the run did not exercise every outcome: {self:?}"
        );
    }
}

impl InProcess {
    fn new(seed: u64, shards: usize) -> Self {
        let inv = Arc::new(Inventory::new(shards));
        InProcess {
            seed,
            sessions: (0..SESSIONS)
                .map(|_| SyncSession::new(inv.clone()))
                .collect(),
            inv,
            model: Model::with_sessions(SESSIONS),
            revision: 0,
            tally: Tally::default(),
        }
    }

    fn step(&mut self, rng: &mut SmallRng, step: usize) {
        let ctx = format!("seed {} step {step}", self.seed);
        let s = usize::from(rng.random_bool(0.3));
        let in_resync = self.model.resyncs[s].is_some();
        assert_eq!(
            self.sessions[s].in_resync(),
            in_resync,
            "{ctx}: session {s} in_resync"
        );
        if in_resync && rng.random_bool(0.04) {
            // A stream that fails mid-resync: its session goes away, nothing is swept.
            self.sessions[s] = SyncSession::new(self.inv.clone());
            self.model.resyncs[s] = None;
            self.tally.drops += 1;
            assert_eq!(
                self.inv.revision(),
                self.revision,
                "{ctx}: dropping session {s} mid-resync changed something"
            );
            self.check_state(&ctx);
            return;
        }
        let mark = random_mark(rng, in_resync);
        let listing = in_resync || mark == ResyncMark::Begin;
        let batch = random_batch(rng, &self.model, mark, listing);
        let ctx = format!("{ctx} (session {s}, {mark:?}, {} items)", batch.len());
        let want = self.model.apply(s, &batch);
        let got = self.sessions[s].apply(&batch);
        match (want, got) {
            (Err(ProtocolMisuse), Err(SyncError::EndWithoutBegin)) => {
                self.tally.misuses += 1;
                assert_eq!(
                    self.inv.revision(),
                    self.revision,
                    "{ctx}: a refused batch applied something"
                );
            }
            (Ok((counts, changed)), Ok(out)) => {
                assert_eq!(Counts::of(&out), counts, "{ctx}: batch counts");
                assert_eq!(out.revision, self.inv.revision(), "{ctx}: outcome revision");
                check_revision_step(&ctx, self.revision, out.revision, &counts);
                self.model.stamp(&changed, self.revision, out.revision);
                self.revision = out.revision;
                let t = &mut self.tally;
                t.counts.applied += counts.applied;
                t.counts.unchanged += counts.unchanged;
                t.counts.stale += counts.stale;
                t.counts.swept += counts.swept;
                t.begins += u32::from(mark == ResyncMark::Begin);
                t.ends += u32::from(mark == ResyncMark::End);
            }
            (want, got) => panic!("{ctx}: model says {want:?}, index says {got:?}"),
        }
        self.check_state(&ctx);
        let selector = random_selector(rng);
        self.check_selector(rng, &ctx, &selector);
        let text = random_kubectl(rng);
        let parsed = Selector::parse(&text)
            .unwrap_or_else(|e| panic!("{ctx}: generated selector {text:?} does not parse: {e:?}"));
        self.check_selector(rng, &ctx, &parsed);
    }

    /// Every node by `get_node`, the counts, and every DaemonSet's pods equal the model's.
    fn check_state(&self, ctx: &str) {
        assert_eq!(
            self.inv.node_count(),
            self.model.nodes.len(),
            "{ctx}: node_count"
        );
        assert_eq!(
            self.inv.pod_count(),
            self.model.pods.len(),
            "{ctx}: pod_count"
        );
        for i in 0..NODE_NAMES {
            let name = node_name(i);
            match (self.inv.get_node(&name), self.model.nodes.get(&name)) {
                (None, None) => {}
                (Some((node, revision)), Some(want)) => {
                    assert_eq!(node, want.node, "{ctx}: get_node({name})");
                    check_node_revision(ctx, &name, revision, want.changed);
                }
                (got, want) => panic!(
                    "{ctx}: get_node({name}) = {got:?}, model has {:?}",
                    want.map(|s| &s.node)
                ),
            }
        }
        for (namespace, daemonset) in DAEMONSETS {
            assert_eq!(
                self.inv
                    .pods_of(namespace, daemonset)
                    .iter()
                    .map(|p| (**p).clone())
                    .collect::<Vec<_>>(),
                self.model.pods_of(namespace, daemonset),
                "{ctx}: pods_of({namespace}, {daemonset})"
            );
        }
    }

    /// `list_nodes`, walked page by page from a random start with a random small limit,
    /// equals `scan_nodes` and the model; each page keeps the paging promises.
    fn check_selector(&self, rng: &mut SmallRng, ctx: &str, selector: &Selector) {
        let ctx = format!("{ctx}, selector {:?}", selector.to_string());
        let want = self.model.select(selector);
        let scanned: Vec<String> = self
            .inv
            .scan_nodes(|n| selector.matches(&n.labels))
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(scanned, want, "{ctx}: scan_nodes vs model");
        let start = random_start(rng);
        let limit = rng.random_range(1..=7);
        let ctx = format!("{ctx}, after {start:?}, limit {limit}");
        let listed = walk_pages(&self.inv, &ctx, selector, start.clone(), limit, want.len());
        let want_from_start: Vec<String> = want
            .into_iter()
            .filter(|n| start.as_deref().is_none_or(|s| n.as_str() > s))
            .collect();
        assert_eq!(listed, want_from_start, "{ctx}: list_nodes vs brute force");
    }
}

/// Walks every page of `list_nodes` from `start` and returns the names. Checks, per page:
/// `total` counts every match (not just those after the cursor), at most `limit` nodes,
/// names ascend strictly past the cursor, each node equals `get_node`'s answer,
/// `next_after` is the last name exactly when the page is full and more follow (so a page
/// after a cursor is never empty), and the revision is the inventory's.
fn walk_pages(
    inv: &Inventory,
    ctx: &str,
    selector: &Selector,
    start: Option<String>,
    limit: usize,
    total: usize,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut after = start;
    for page_no in 0.. {
        assert!(page_no <= NODE_NAMES, "{ctx}: more pages than nodes");
        let page = inv.list_nodes(selector, after.as_deref(), limit);
        let ctx = format!("{ctx}, page {page_no} after {after:?}");
        assert_eq!(page.total, total, "{ctx}: total");
        assert_eq!(page.revision, inv.revision(), "{ctx}: revision");
        assert!(page.nodes.len() <= limit, "{ctx}: page over the limit");
        if page_no > 0 {
            assert!(!page.nodes.is_empty(), "{ctx}: next_after promised more");
        }
        let mut last = after.clone();
        for (node, revision) in &page.nodes {
            assert!(
                last.as_deref().is_none_or(|l| node.name.as_str() > l),
                "{ctx}: {} comes after {last:?}",
                node.name
            );
            assert!(
                selector.matches(&node.labels),
                "{ctx}: {node:?} does not match"
            );
            assert_eq!(
                inv.get_node(&node.name),
                Some((node.clone(), *revision)),
                "{ctx}: list and get disagree"
            );
            last = Some(node.name.clone());
            names.push(node.name.clone());
        }
        match page.next_after {
            Some(next) => {
                assert_eq!(page.nodes.len(), limit, "{ctx}: a short page with a cursor");
                assert_eq!(Some(&next), last.as_ref(), "{ctx}: next_after");
                after = Some(next);
            }
            None => break,
        }
    }
    names
}

/// The model test: thousands of random batches against the index and the model.
/// Shard counts vary per seed so both paths of the page walk (small sets sorted, large sets
/// walked in name order) and single-shard corner cases are hit.
#[test]
fn model_in_process() {
    const STEPS: usize = 1000;
    for seed in seeds(&[1, 2, 3, 4, 5]) {
        let shards = [1, 2, 4, 16][(seed % 4) as usize];
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut run = InProcess::new(seed, shards);
        for step in 0..STEPS {
            run.step(&mut rng, step);
        }
        run.tally.assert_covers_everything(&format!("seed {seed}"));
    }
}

/// A requirement built by hand (its fields are public) need not have the shape
/// `Requirement::new` enforces; the index must still answer exactly what its own oracle
/// (`Requirement::matches`, via `scan_nodes`) answers.
#[test]
fn hand_built_requirements_agree_with_the_oracle() {
    let inv = Inventory::new(1);
    for (i, num) in ["1", "5", "007", "42", "x"].into_iter().enumerate() {
        inv.upsert_node(&Node {
            name: format!("n{i}"),
            labels: owned(&[("num", num)]),
            ..Node::default()
        });
    }
    let raw = |operator, values: &[&str]| Requirement {
        key: "num".to_owned(),
        operator,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    };
    let cases = [
        raw(Operator::In, &[]),
        raw(Operator::NotIn, &[]),
        raw(Operator::Exists, &["5"]),
        raw(Operator::DoesNotExist, &["5"]),
        raw(Operator::Gt, &[]),
        raw(Operator::Gt, &["x"]),
        raw(Operator::Gt, &["2", "100"]),
        raw(Operator::Lt, &["10", "0"]),
        raw(Operator::In, &["5", "5"]),
    ];
    for req in cases {
        let selector = Selector(vec![req.clone()]);
        let want: Vec<String> = inv
            .scan_nodes(|n| selector.matches(&n.labels))
            .into_iter()
            .map(|n| n.name)
            .collect();
        let got: Vec<String> = inv
            .list_nodes(&selector, None, 100)
            .nodes
            .into_iter()
            .map(|(n, _)| n.name)
            .collect();
        assert_eq!(got, want, "requirement {req:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 2. Over gRPC
// ---------------------------------------------------------------------------------------

fn time_to_pb(t: Time) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

fn time_from_pb(t: prost_types::Timestamp) -> Time {
    Time {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

fn node_to_pb(n: &Node) -> pb::Node {
    pb::Node {
        name: n.name.clone(),
        labels: n.labels.clone(),
        taints: n
            .taints
            .iter()
            .map(|t| pb::Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect.as_str().to_owned(),
                time_added: t.time_added.map(time_to_pb),
            })
            .collect(),
        unschedulable: n.unschedulable,
        allocatable: n.allocatable.clone(),
        requested: n.requested.clone(),
        conditions: n
            .conditions
            .iter()
            .map(|c| pb::NodeCondition {
                r#type: c.kind.clone(),
                status: c.status.clone(),
            })
            .collect(),
        generation: n.generation,
        revision: 0,
    }
}

/// The node a server answered, and the revision it reports for the node.
fn node_from_pb(n: pb::Node) -> (Node, u64) {
    let node = Node {
        name: n.name,
        labels: n.labels,
        taints: n
            .taints
            .into_iter()
            .map(|t| Taint {
                effect: TaintEffect::parse(&t.effect)
                    .unwrap_or_else(|| panic!("server answered taint effect {:?}", t.effect)),
                key: t.key,
                value: t.value,
                time_added: t.time_added.map(time_from_pb),
            })
            .collect(),
        unschedulable: n.unschedulable,
        allocatable: n.allocatable,
        requested: n.requested,
        conditions: n
            .conditions
            .into_iter()
            .map(|c| Condition {
                kind: c.r#type,
                status: c.status,
            })
            .collect(),
        generation: n.generation,
    };
    (node, n.revision)
}

fn pod_to_pb(p: &DaemonPod) -> pb::DaemonPod {
    pb::DaemonPod {
        namespace: p.namespace.clone(),
        daemonset: p.daemonset.clone(),
        name: p.name.clone(),
        node: p.node.clone(),
        revision_hash: p.revision_hash.clone(),
        ready: p.ready,
        ready_since: p.ready_since.map(time_to_pb),
        created: p.created.map(time_to_pb),
        deleting: p.deleting,
        phase: p.phase.as_str().to_owned(),
        generation: p.generation,
        unscheduled: p.unscheduled,
    }
}

fn mark_to_pb(mark: ResyncMark) -> i32 {
    match mark {
        ResyncMark::None => pb::Resync::Unspecified as i32,
        ResyncMark::Begin => pb::Resync::Begin as i32,
        ResyncMark::End => pb::Resync::End as i32,
    }
}

/// The request for `batch`, with an invalid node and an invalid pod slipped in now and then
/// (the model never sees them). Returns the request and the `(kind, name, index)` of the
/// rejections the server must report.
fn request_for(
    rng: &mut SmallRng,
    batch_id: u64,
    batch: &Batch,
) -> (pb::SyncRequest, Vec<(String, String, u32)>) {
    let mut req = pb::SyncRequest {
        batch_id,
        upsert_nodes: batch.upsert_nodes.iter().map(node_to_pb).collect(),
        delete_nodes: batch.delete_nodes.clone(),
        upsert_pods: batch.upsert_pods.iter().map(pod_to_pb).collect(),
        delete_pods: batch
            .delete_pods
            .iter()
            .map(|k| pb::PodRef {
                namespace: k.namespace.clone(),
                daemonset: k.daemonset.clone(),
                name: k.name.clone(),
            })
            .collect(),
        resync: mark_to_pb(batch.resync),
    };
    let mut rejected = Vec::new();
    if rng.random_bool(0.15) {
        // A known name with an unsupported effect: rejected, so it must not count as seen.
        let name = node_name(rng.random_range(0..NODE_NAMES));
        let mut bad = node_to_pb(&random_node(rng, &name));
        bad.taints.push(pb::Taint {
            key: "bad".to_owned(),
            value: String::new(),
            effect: "Sometimes".to_owned(),
            time_added: None,
        });
        let at = rng.random_range(0..=req.upsert_nodes.len());
        req.upsert_nodes.insert(at, bad);
        rejected.push(("Node".to_owned(), name, at as u32));
    }
    if rng.random_bool(0.1) {
        let key = random_pod_key(rng);
        let mut bad = pod_to_pb(&pod_upsert(rng, &key, None));
        bad.phase = "Bogus".to_owned();
        let at = rng.random_range(0..=req.upsert_pods.len());
        req.upsert_pods.insert(at, bad);
        rejected.push(("DaemonPod".to_owned(), key.name, at as u32));
    }
    (req, rejected)
}

struct OverGrpc {
    seed: u64,
    client: InventoryClient<Channel>,
    streams: Vec<Option<SyncStream>>,
    model: Model,
    revision: u64,
}

impl OverGrpc {
    async fn stream(&mut self, s: usize) -> &mut SyncStream {
        if self.streams[s].is_none() {
            self.streams[s] = Some(SyncStream::open(&mut self.client).await);
        }
        self.streams[s].as_mut().expect("opened above")
    }

    async fn step(&mut self, rng: &mut SmallRng, step: usize) {
        let ctx = format!("seed {} step {step}", self.seed);
        let s = usize::from(rng.random_bool(0.3));
        let in_resync = self.model.resyncs[s].is_some();
        // Walks with small page limits cost a round trip per page: every few steps only.
        let thorough = step.is_multiple_of(4);
        if in_resync && rng.random_bool(0.05) {
            // The stream ends mid-resync, cleanly or by cancellation: nothing is swept.
            let stream = self.streams[s]
                .take()
                .expect("a stream in a resync is open");
            if rng.random_bool(0.5) {
                stream.close().await;
            } else {
                drop(stream);
            }
            self.model.resyncs[s] = None;
            self.check_state(rng, &ctx, true).await;
            return;
        }
        let mark = random_mark(rng, in_resync);
        let listing = in_resync || mark == ResyncMark::Begin;
        let batch = random_batch(rng, &self.model, mark, listing);
        let batch_id = ((step as u64) << 8) | rng.random_range(0..256);
        let (req, rejected) = request_for(rng, batch_id, &batch);
        let ctx = format!("{ctx} (stream {s}, {mark:?}, {} items)", batch.len());
        match self.model.apply(s, &batch) {
            Err(ProtocolMisuse) => {
                let status = self.stream(s).await.batch_err(req).await;
                assert_eq!(status.code(), Code::FailedPrecondition, "{ctx}: {status:?}");
                // The stream is over; the next batch of this session opens a new one.
                self.streams[s] = None;
            }
            Ok((counts, changed)) => {
                let ack = self.stream(s).await.batch(req).await;
                assert_eq!(ack.batch_id, batch_id, "{ctx}: batch_id echoed");
                assert_eq!(Counts::of_ack(&ack), counts, "{ctx}: ack counts");
                let got: Vec<(String, String, u32)> = ack
                    .rejected
                    .iter()
                    .map(|r| (r.kind.clone(), r.name.clone(), r.index))
                    .collect();
                assert_eq!(got, rejected, "{ctx}: rejections {:?}", ack.rejected);
                check_revision_step(&ctx, self.revision, ack.revision, &counts);
                self.model.stamp(&changed, self.revision, ack.revision);
                self.revision = ack.revision;
            }
        }
        self.check_state(rng, &ctx, thorough).await;
        let text = random_kubectl(rng);
        self.check_selector(rng, &ctx, &text, thorough).await;
    }

    /// All nodes through `ListNodes` (one default-size page, or small pages when
    /// `thorough`), and two through `GetNode` (present or absent), equal the model's.
    async fn check_state(&mut self, rng: &mut SmallRng, ctx: &str, thorough: bool) {
        let limit = if thorough {
            rng.random_range(1..=15)
        } else {
            0
        };
        let nodes = self.pages(ctx, "", limit, self.model.nodes.len()).await;
        let want: Vec<&String> = self.model.nodes.keys().collect();
        let got: Vec<&String> = nodes.iter().map(|(n, _)| &n.name).collect();
        assert_eq!(got, want, "{ctx}: ListNodes names");
        for (node, revision) in &nodes {
            let stored = &self.model.nodes[&node.name];
            assert_eq!(node, &stored.node, "{ctx}: ListNodes node {}", node.name);
            check_node_revision(ctx, &node.name, *revision, stored.changed);
        }
        for _ in 0..2 {
            let name = node_name(rng.random_range(0..NODE_NAMES));
            let got = self
                .client
                .get_node(pb::GetNodeRequest { name: name.clone() })
                .await;
            match (got, self.model.nodes.get(&name)) {
                (Ok(got), Some(want)) => {
                    let (node, revision) = node_from_pb(got.into_inner());
                    assert_eq!(node, want.node, "{ctx}: GetNode {name}");
                    check_node_revision(ctx, &name, revision, want.changed);
                }
                (Err(status), None) => {
                    assert_eq!(status.code(), Code::NotFound, "{ctx}: GetNode {name}");
                }
                (got, want) => panic!(
                    "{ctx}: GetNode {name} = {got:?}, model has {:?}",
                    want.map(|s| &s.node)
                ),
            }
        }
    }

    /// A kubectl selector: `list_names` (default page size) and, when `thorough`, a walk with
    /// a random small limit both equal the model filtered by the parsed requirements.
    async fn check_selector(&mut self, rng: &mut SmallRng, ctx: &str, text: &str, thorough: bool) {
        let ctx = format!("{ctx}, selector {text:?}");
        let selector = Selector::parse(text)
            .unwrap_or_else(|e| panic!("{ctx}: generated selector does not parse: {e:?}"));
        let want = self.model.select(&selector);
        assert_eq!(
            list_names(&mut self.client, text).await,
            want,
            "{ctx}: list_names"
        );
        if !thorough {
            return;
        }
        let limit = rng.random_range(1..=6);
        let got: Vec<String> = self
            .pages(&ctx, text, limit, want.len())
            .await
            .into_iter()
            .map(|(n, _)| n.name)
            .collect();
        assert_eq!(got, want, "{ctx}: pages of {limit}");
    }

    /// Every page of `ListNodes`: `total` on each, the revision of the last ack, at most
    /// `limit` (0 = the server's default) nodes per page, ascending, and a page token only
    /// on a full page.
    async fn pages(
        &mut self,
        ctx: &str,
        selector: &str,
        limit: u32,
        total: usize,
    ) -> Vec<(Node, u64)> {
        let mut out: Vec<(Node, u64)> = Vec::new();
        let mut token = String::new();
        for page_no in 0.. {
            assert!(page_no <= NODE_NAMES, "{ctx}: more pages than nodes");
            let ctx = format!("{ctx}, limit {limit} page {page_no}");
            let page = self
                .client
                .list_nodes(pb::ListNodesRequest {
                    label_selector: selector.to_owned(),
                    limit,
                    page_token: token,
                })
                .await
                .unwrap_or_else(|s| panic!("{ctx}: ListNodes: {s:?}"))
                .into_inner();
            assert_eq!(page.total as usize, total, "{ctx}: total");
            assert_eq!(page.revision, self.revision, "{ctx}: revision");
            if limit > 0 {
                assert!(page.nodes.len() <= limit as usize, "{ctx}: over the limit");
                if !page.next_page_token.is_empty() {
                    assert_eq!(page.nodes.len(), limit as usize, "{ctx}: short page, token");
                }
            }
            if page_no > 0 {
                assert!(!page.nodes.is_empty(), "{ctx}: a token promised more");
            }
            for n in page.nodes {
                let (node, revision) = node_from_pb(n);
                if let Some((last, _)) = out.last() {
                    assert!(
                        last.name < node.name,
                        "{ctx}: {} after {}",
                        node.name,
                        last.name
                    );
                }
                out.push((node, revision));
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        out
    }
}

/// The model test over real gRPC: fewer batches (each costs round trips) through two
/// interleaved `Sync` streams on a 4-shard server, with invalid items, streams ended
/// mid-resync and protocol misuse. Each seed gets its own server; the seeds run at once
/// since their time goes to round trips, not CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_over_grpc() {
    let runs: Vec<_> = seeds(&[11, 12, 13, 14])
        .into_iter()
        .map(|seed| tokio::spawn(grpc_run(seed, 80)))
        .collect();
    for run in runs {
        run.await.expect("a gRPC model run");
    }
}

async fn grpc_run(seed: u64, steps: usize) {
    let server = TestServer::start_with(&[("shards", "4")]).await;
    let client = server.inventory().await;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut run = OverGrpc {
        seed,
        client,
        streams: (0..SESSIONS).map(|_| None).collect(),
        model: Model::with_sessions(SESSIONS),
        revision: 0,
    };
    for step in 0..steps {
        run.step(&mut rng, step).await;
    }
    for stream in run.streams.into_iter().flatten() {
        stream.close().await;
    }
    server.stop().await.expect("server stops cleanly");
}

// ---------------------------------------------------------------------------------------
// 3. Concurrency
// ---------------------------------------------------------------------------------------

/// A node whose every label (but the hostname) and every taint carries `version`; `width`
/// varies how many, so each rewrite adds and drops postings, not just values.
fn versioned_node(name: &str, version: &str, width: usize, generation: u64) -> Node {
    let mut labels: BTreeMap<String, String> = (0..width)
        .map(|i| (format!("k{i}"), version.to_owned()))
        .collect();
    labels.insert("v".to_owned(), version.to_owned());
    labels.insert(HOSTNAME.to_owned(), name.to_owned());
    let mut taints = vec![Taint {
        key: "v".to_owned(),
        value: version.to_owned(),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    }];
    taints.extend((0..width).map(|i| Taint {
        key: format!("t{i}"),
        value: version.to_owned(),
        effect: TaintEffect::ALL[i % 3],
        time_added: None,
    }));
    Node {
        name: name.to_owned(),
        labels,
        taints,
        generation,
        ..Node::default()
    }
}

/// A torn node would mix the labels of one version with the taints of another.
fn assert_whole(ctx: &str, node: &Node) {
    let version = node
        .labels
        .get("v")
        .unwrap_or_else(|| panic!("{ctx}: {} has no v label: {node:?}", node.name));
    let width = node.labels.len() - 2;
    let labels_agree = node
        .labels
        .iter()
        .all(|(k, v)| k == HOSTNAME || v == version);
    let taints_agree =
        node.taints.len() == width + 1 && node.taints.iter().all(|t| &t.value == version);
    assert!(
        labels_agree && taints_agree && node.labels.get(HOSTNAME) == Some(&node.name),
        "{ctx}: torn node {node:?}"
    );
}

/// Writers churn nodes of their own and nodes they all share while readers list and get;
/// no reader may see a torn node, an unsorted or duplicated answer, a node that does not
/// match the selector it was listed for, or the revision going backwards. Afterwards each
/// node holds its last write (own nodes) or its highest-generation write (shared nodes,
/// where every older write that lost the race must have been stale).
#[test]
fn concurrent_writers_never_show_a_torn_node() {
    const SEED: u64 = 99;
    const WRITERS: usize = 3;
    const READERS: usize = 2;
    const BATCHES: usize = 3000;
    const NAMES: usize = 6;
    let inv = Arc::new(Inventory::new(4));
    let done = Arc::new(AtomicBool::new(false));
    let generation = Arc::new(AtomicU64::new(1));
    // Shared name → (generation, node) of its highest-generation write.
    let shared_best: Arc<Mutex<BTreeMap<String, (u64, Node)>>> = Arc::default();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let inv = inv.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(SEED * 100 + r as u64);
                let selectors = ["", "v", "k1", "!k3", "k0,k2", "t0"]
                    .map(|s| Selector::parse(s).expect("fixed selector parses"));
                let mut revision = 0;
                let mut rounds = 0u64;
                while !done.load(Ordering::Acquire) || rounds < 10 {
                    rounds += 1;
                    let ctx = format!("seed {SEED} reader {r} round {rounds}");
                    let selector = pick(&mut rng, &selectors);
                    let limit = rng.random_range(1..=10);
                    let mut after: Option<String> = None;
                    loop {
                        let page = inv.list_nodes(selector, after.as_deref(), limit);
                        assert!(page.revision >= revision, "{ctx}: revision went back");
                        revision = page.revision;
                        for (node, _) in &page.nodes {
                            assert!(
                                after.as_deref().is_none_or(|a| node.name.as_str() > a),
                                "{ctx}: {} after {after:?}",
                                node.name
                            );
                            assert!(
                                selector.matches(&node.labels),
                                "{ctx}: {node:?} listed for {selector}"
                            );
                            assert_whole(&ctx, node);
                            after = Some(node.name.clone());
                        }
                        if page.next_after.is_none() {
                            break;
                        }
                    }
                    let name = if rng.random_bool(0.5) {
                        format!("shared-{}", rng.random_range(0..NAMES))
                    } else {
                        format!(
                            "own-{}-{}",
                            rng.random_range(0..WRITERS),
                            rng.random_range(0..NAMES)
                        )
                    };
                    if let Some((node, changed)) = inv.get_node(&name) {
                        assert_whole(&ctx, &node);
                        assert!(
                            changed <= inv.revision(),
                            "{ctx}: {name} changed in the future"
                        );
                    }
                }
                rounds
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let inv = inv.clone();
            let generation = generation.clone();
            let shared_best = shared_best.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(SEED + w as u64);
                let mut session = SyncSession::new(inv);
                // Own name → its last write (None once deleted).
                let mut own: BTreeMap<String, Option<Node>> = BTreeMap::new();
                for b in 0..BATCHES {
                    let mut batch = Batch::default();
                    for i in 0..rng.random_range(1..=4) {
                        let version = format!("w{w}-b{b}-{i}");
                        let width = rng.random_range(0..5);
                        if rng.random_bool(0.5) {
                            let name = format!("shared-{}", rng.random_range(0..NAMES));
                            let g = generation.fetch_add(1, Ordering::AcqRel);
                            let node = versioned_node(&name, &version, width, g);
                            let mut best = shared_best.lock().expect("not poisoned");
                            if best.get(&name).is_none_or(|(bg, _)| *bg < g) {
                                best.insert(name, (g, node.clone()));
                            }
                            drop(best);
                            batch.upsert_nodes.push(node);
                        } else {
                            let name = format!("own-{w}-{}", rng.random_range(0..NAMES));
                            let node = versioned_node(&name, &version, width, 0);
                            own.insert(name, Some(node.clone()));
                            batch.upsert_nodes.push(node);
                        }
                    }
                    if rng.random_bool(0.15) {
                        let name = format!("own-{w}-{}", rng.random_range(0..NAMES));
                        own.insert(name.clone(), None);
                        batch.delete_nodes.push(name);
                    }
                    session
                        .apply(&batch)
                        .unwrap_or_else(|e| panic!("seed {SEED} writer {w} batch {b}: {e}"));
                }
                own
            })
        })
        .collect();

    let mut want: BTreeMap<String, Option<Node>> = BTreeMap::new();
    for w in writers {
        want.extend(w.join().expect("writer thread"));
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let rounds = r.join().expect("reader thread");
        assert!(
            rounds >= 10,
            "seed {SEED}: a reader ran only {rounds} rounds"
        );
    }
    let best = shared_best.lock().expect("not poisoned");
    want.extend(
        best.iter()
            .map(|(name, (_, node))| (name.clone(), Some(node.clone()))),
    );
    for (name, node) in &want {
        let got = inv.get_node(name).map(|(n, _)| n);
        assert_eq!(&got, node, "seed {SEED}: final state of {name}");
    }
    let present = want.values().flatten().count();
    assert_eq!(inv.node_count(), present, "seed {SEED}: node_count");
    let all = inv.list_nodes(&Selector::default(), None, 1000);
    assert_eq!(all.total, present, "seed {SEED}: list total");
}

/// `api.md`: at `RESYNC_END`, every node that *no stream has upserted since this stream's
/// `RESYNC_BEGIN`* is deleted. Here stream B begins a resync and upserts `target`; a big
/// batch of stream A, which started before B's `RESYNC_BEGIN`, then rewrites `target` with
/// new content. `target` was upserted after B's `RESYNC_BEGIN` (twice), so B's `RESYNC_END`
/// must keep it.
///
/// The race is arranged, not hoped for: with 2 shards A applies one shard's items before the
/// other's, so B's upsert lands between them whenever `target` sits in the later shard; the
/// final content (A's) proves A's write came after B's. Target names are tried until one
/// shows the interleaving.
#[test]
fn resync_keeps_a_node_rewritten_by_a_batch_that_began_before_it() {
    for attempt in 0..40 {
        let target = format!("target-{attempt}");
        let inv = Arc::new(Inventory::new(2));
        let mut big: Vec<Node> = (0..20_000)
            .map(|i| Node {
                name: format!("filler-{i:05}"),
                ..Node::default()
            })
            .collect();
        big.push(Node {
            name: target.clone(),
            labels: owned(&[("writer", "a")]),
            ..Node::default()
        });
        let a = thread::spawn({
            let inv = inv.clone();
            move || {
                SyncSession::new(inv)
                    .apply(&Batch {
                        upsert_nodes: big,
                        ..Batch::default()
                    })
                    .expect("a plain batch")
            }
        });
        // A has read its stamps and holds the first shard's lock once the revision moves.
        while inv.revision() == 0 {
            thread::yield_now();
        }
        let mut b = SyncSession::new(inv.clone());
        b.apply(&Batch {
            resync: ResyncMark::Begin,
            upsert_nodes: vec![Node {
                name: target.clone(),
                labels: owned(&[("writer", "b")]),
                ..Node::default()
            }],
            ..Batch::default()
        })
        .expect("begin");
        a.join().expect("writer A");
        let (stored, _) = inv.get_node(&target).expect("target exists");
        if stored.labels.get("writer").map(String::as_str) != Some("a") {
            continue; // A wrote target before B did: no interleaving; try another name.
        }
        let out = b
            .apply(&Batch {
                resync: ResyncMark::End,
                ..Batch::default()
            })
            .expect("end");
        assert!(
            inv.get_node(&target).is_some(),
            "attempt {attempt}: RESYNC_END swept {target}, which stream B upserted after its \
             RESYNC_BEGIN (and stream A rewrote after that); outcome {out:?}"
        );
        return;
    }
    panic!("the interleaving never happened in 40 attempts");
}

/// Found by [`model_over_grpc`] idling most of its time: unary answers of a few KiB took
/// 44 ms each on loopback. That is Nagle's algorithm on the server's accepted sockets
/// holding back the tail of an answer until the client's delayed ACK (40 ms on Linux).
/// `server.rs` asks for `tcp_nodelay(true)`, but tonic ignores that setting under
/// `serve_with_incoming*` (its documentation says so), and the `TcpListenerStream` passed
/// there yields sockets with Nagle on. With TCP_NODELAY the same calls take about 1 ms, so
/// the bound here (20 ms for the median) is far from both.
#[tokio::test]
async fn unary_answers_are_not_held_back_by_nagle() {
    use std::time::{Duration, Instant};
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let nodes = (0..30)
        .map(|i| crate::support::node(&format!("node-{i}"), &[("zone", "a"), ("pool", "default")]))
        .collect();
    stream.batch(crate::support::upsert(1, nodes)).await;
    let mut took = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        client
            .list_nodes(pb::ListNodesRequest::default())
            .await
            .expect("list");
        took.push(start.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    assert!(
        median < Duration::from_millis(20),
        "median ListNodes latency {median:?} on loopback: {took:?}"
    );
    stream.close().await;
}
