//! The inventory: nodes in lock-sharded, bitmap-indexed records, plus daemon pods.
//!
//! # Design
//!
//! Nodes are spread over N shards (a power of two) by a seeded hash of their name. Each
//! shard owns its nodes' records *and* the postings over them (per label key, per key=value,
//! per distinct taint) behind one `RwLock`, so a shard is always self-consistent. Within a
//! shard a node has a dense `u32` slot; sets of nodes are roaring bitmaps of slots, except
//! that a key=value carried by one node (a hostname) stores just that slot.
//!
//! Strings are interned per shard with reference counts; a node's name is one of them, and
//! its symbol leads to the node's slot. An update compares the incoming node with the stored
//! record and touches only the postings and strings that changed. A large batch is applied
//! by several threads, each taking one shard at a time (see [`Inventory::upsert_nodes`]).
//!
//! # Invariants
//!
//! - **One lock at a time.** No code path holds two shard locks, or a shard lock and a pod
//!   lock, at once; so there is no lock order to get wrong (threads applying one batch
//!   together each follow this too). No guard lives across `.await` (this module is
//!   synchronous).
//! - **Atomic items.** A node upsert replaces the record and its postings under the shard's
//!   write lock: a reader never sees labels of one version with taints of another.
//! - **Revision.** Every change takes `revision + 1` *inside* the critical section that makes
//!   it. A query reads the revision *before* reading any shard, so every change at or below
//!   the revision it reports is visible to it (it may also see later ones).
//! - **Consistency across shards** is per item, not per batch: a query that runs while a
//!   batch is being applied may see some of its items and not others. The batch's
//!   acknowledgement is sent after it is fully applied.
//! - Readers clone what they return; nothing borrowed escapes a guard.

mod names;
pub mod plan;
mod pods;
mod shard;
mod symbols;
pub mod sync;

use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use shard::Shard;
pub use shard::UpsertOutcome;

use crate::domain::selector::Selector;
use crate::domain::{DaemonPod, Node, PodKey};

/// Default number of lock shards.
pub const DEFAULT_SHARDS: usize = 16;

/// Nodes per extra thread before [`Inventory::upsert_nodes`] applies a batch on several:
/// a thread costs tens of microseconds to start, a node a few.
const PARALLEL_MIN_NODES: usize = 256;

/// Cores this process may use, asked once.
fn parallelism() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One page of nodes in name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePage {
    /// Each node with the revision that last changed it.
    pub nodes: Vec<(Node, u64)>,
    /// Matching nodes over the whole inventory.
    pub total: usize,
    /// The last name of this page when more follow.
    pub next_after: Option<String>,
    pub revision: u64,
}

pub struct Inventory {
    shards: Box<[RwLock<Shard>]>,
    /// Picks a name's shard. Seeded once per inventory, so a name's shard never changes
    /// while clients cannot aim many names at one shard.
    shard_hasher: foldhash::fast::RandomState,
    revision: AtomicU64,
    /// Stamps upserts for resync mark-and-sweep; grows at every `RESYNC_BEGIN`.
    seen_clock: AtomicU64,
    pods: pods::PodStore,
    /// Every shard's names in one order, for large answers (see `plan`): rebuilt by the
    /// first large answer after a node joined some shard. A leaf lock, held only
    /// to take or store the `Arc`.
    merged_names: parking_lot::Mutex<Option<Arc<names::MergedOrder>>>,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("shards", &self.shards.len())
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new(DEFAULT_SHARDS)
    }
}

impl Inventory {
    /// An empty inventory with `shards` lock shards (rounded up to a power of two).
    pub fn new(shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        Inventory {
            shards: (0..n).map(|_| RwLock::new(Shard::default())).collect(),
            shard_hasher: foldhash::fast::RandomState::default(),
            revision: AtomicU64::new(0),
            seen_clock: AtomicU64::new(0),
            pods: pods::PodStore::default(),
            merged_names: parking_lot::Mutex::default(),
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The revision of the last applied change.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    fn next_revision(&self) -> u64 {
        self.revision.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn shard_of(&self, name: &str) -> usize {
        let hash = self.shard_hasher.hash_one(name);
        (hash as usize) & (self.shards.len() - 1)
    }

    pub fn node_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Opens a resync: returns the mark that upserts from now on meet or exceed.
    pub(crate) fn begin_resync(&self) -> u64 {
        self.seen_clock.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn seen_stamp(&self) -> u64 {
        self.seen_clock.load(Ordering::Acquire)
    }

    pub fn upsert_node(&self, node: &Node) -> UpsertOutcome {
        let mut shard = self.shards[self.shard_of(&node.name)].write();
        shard.upsert(node, self.seen_stamp(), || self.next_revision())
    }

    /// Upserts many nodes, taking each touched shard's write lock once; outcomes are in
    /// input order. Items of the same name land in the same shard in input order.
    ///
    /// A large batch is applied by up to one thread per core, each taking one shard group
    /// at a time: shards share nothing, so this scales with cores, and each thread still
    /// holds one lock at a time.
    pub fn upsert_nodes(&self, nodes: &[Node]) -> Vec<UpsertOutcome> {
        let threads = parallelism().min(nodes.len() / PARALLEL_MIN_NODES);
        self.upsert_nodes_on(nodes, threads)
    }

    /// [`Inventory::upsert_nodes`] on at most `threads` threads.
    fn upsert_nodes_on(&self, nodes: &[Node], threads: usize) -> Vec<UpsertOutcome> {
        let mut by_shard: Vec<(usize, usize)> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (self.shard_of(&n.name), i))
            .collect();
        by_shard.sort_by_key(|&(shard, i)| (shard, i));
        let groups: Vec<&[(usize, usize)]> = by_shard.chunk_by(|a, b| a.0 == b.0).collect();
        let mut out = vec![UpsertOutcome::Unchanged; nodes.len()];
        let apply_group = |group: &[(usize, usize)], out: &mut dyn FnMut(usize, UpsertOutcome)| {
            let mut shard = self.shards[group[0].0].write();
            // Read under the lock: see `Shard::upsert`.
            let seen = self.seen_stamp();
            for &(_, i) in group {
                out(i, shard.upsert(&nodes[i], seen, || self.next_revision()));
            }
        };
        let threads = threads.min(groups.len());
        if threads < 2 {
            for group in &groups {
                apply_group(group, &mut |i, outcome| out[i] = outcome);
            }
            return out;
        }
        // Each shard always goes to the same thread role (shard index modulo `threads`), so
        // one shard's records and strings come from one thread's allocations, batch after
        // batch (this measured a few percent faster than handing groups out on demand).
        // Names are hashed to shards, so the roles get even shares anyway.
        let work = |role: usize, out: &mut dyn FnMut(usize, UpsertOutcome)| {
            for group in groups.iter().filter(|g| g[0].0 % threads == role) {
                apply_group(group, out);
            }
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads)
                .map(|role| {
                    scope.spawn(move || {
                        let mut done = Vec::new();
                        work(role, &mut |i, outcome| done.push((i, outcome)));
                        done
                    })
                })
                .collect();
            work(0, &mut |i, outcome| out[i] = outcome);
            for helper in helpers {
                // A panic in a helper is re-raised here, as it would be without helpers.
                let done = helper
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                for (i, outcome) in done {
                    out[i] = outcome;
                }
            }
        });
        out
    }

    /// Deletes a node (its pods' records stay); false when absent.
    pub fn delete_node(&self, name: &str) -> bool {
        self.shards[self.shard_of(name)]
            .write()
            .delete(name, || self.next_revision())
    }

    pub fn upsert_pod(&self, pod: &DaemonPod) -> UpsertOutcome {
        self.pods
            .upsert(pod, || self.seen_stamp(), || self.next_revision())
    }

    pub fn delete_pod(&self, key: &PodKey) -> bool {
        self.pods.delete(key, || self.next_revision())
    }

    /// Deletes every node and pod not upserted since `mark`; returns how many.
    pub(crate) fn sweep(&self, mark: u64) -> usize {
        let nodes: usize = self
            .shards
            .iter()
            .map(|s| s.write().sweep(mark, || self.next_revision()))
            .sum();
        nodes + self.pods.sweep(mark, || self.next_revision())
    }

    /// The node and the revision that last changed it.
    pub fn get_node(&self, name: &str) -> Option<(Node, u64)> {
        self.shards[self.shard_of(name)].read().get(name)
    }

    /// The pods reported for one DaemonSet, by name (shared with the inventory: a later
    /// upsert replaces the inventory's copy and leaves these as they were).
    pub fn pods_of(&self, namespace: &str, daemonset: &str) -> Vec<Arc<DaemonPod>> {
        self.pods.of_daemonset(namespace, daemonset)
    }

    /// Nodes matching `selector`, ascending by name after `after`, at most `limit`; the
    /// selector is evaluated on the posting bitmaps, never by scanning records.
    pub fn list_nodes(&self, selector: &Selector, after: Option<&str>, limit: usize) -> NodePage {
        let revision = self.revision();
        let mut total = 0;
        // One more than a page tells whether another page follows.
        let keep = limit.saturating_add(1);
        // The smallest `keep` names seen so far, greatest on top, with where their nodes
        // wait in `found`. Each shard's candidates come in name order, so a shard stops at
        // the first name that could not make the page, and only nodes that could are
        // materialized (under their shard's lock); a node pushed out of the page is freed.
        let mut best: BinaryHeap<(Arc<str>, usize)> = BinaryHeap::new();
        let mut found: Vec<Option<(Node, u64)>> = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            let set = shard.eval_requirements(&selector.0);
            total += set.len() as usize;
            shard.names_in_order(&set, after, keep, |name, slot| {
                if best.len() >= keep && best.peek().is_some_and(|(top, _)| &**top < name) {
                    return false;
                }
                best.push((Arc::from(name), found.len()));
                found.push(Some(shard.materialize(slot)));
                if best.len() > keep
                    && let Some((_, out)) = best.pop()
                {
                    found[out] = None;
                }
                true
            });
        }
        // Ascending by name (names are unique, so the indexes never decide).
        let mut page = best.into_sorted_vec();
        let more = page.len() > limit;
        page.truncate(limit);
        NodePage {
            next_after: more
                .then(|| page.last().map(|(name, _)| name.to_string()))
                .flatten(),
            nodes: page
                .into_iter()
                .filter_map(|(_, i)| found.get_mut(i)?.take())
                .collect(),
            total,
            revision,
        }
    }

    /// The test oracle: every node for which `keep` holds, in name order, found by
    /// materializing and checking each record (no postings involved).
    pub fn scan_nodes(&self, mut keep: impl FnMut(&Node) -> bool) -> Vec<Node> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for slot in shard.all().iter() {
                let (node, _) = shard.materialize(slot);
                if keep(&node) {
                    out.push(node);
                }
            }
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{self, FleetSpec, Mutation, Rng};

    /// The threaded apply gives the same outcomes, revisions and content as one thread.
    #[test]
    fn a_batch_on_several_threads_is_the_batch_on_one() {
        let mut nodes = fleet::generate(&FleetSpec::nodes(600));
        // Repeats of a name in one batch apply in input order.
        let repeats: Vec<Node> = nodes[..50]
            .iter()
            .cloned()
            .map(|mut n| {
                fleet::mutate(&mut n, Mutation::LabelValue, &mut Rng::new(1));
                n
            })
            .collect();
        nodes.extend(repeats);
        let (one, many) = (Inventory::new(8), Inventory::new(8));
        for threads in [1, 3] {
            let inv = if threads == 1 { &one } else { &many };
            let outcomes = inv.upsert_nodes_on(&nodes, threads);
            assert!(outcomes.iter().all(|o| *o == UpsertOutcome::Applied));
            let again = inv.upsert_nodes_on(&nodes[550..], threads);
            assert!(again.iter().all(|o| *o == UpsertOutcome::Unchanged));
        }
        assert_eq!(one.revision(), many.revision());
        assert_eq!(one.node_count(), 600);
        assert_eq!(one.scan_nodes(|_| true), many.scan_nodes(|_| true));
    }

    /// `evaluate_labeled` gives each answered name the value `get_node` shows, on every page,
    /// and the same names and counts as `evaluate`.
    #[test]
    fn labeled_evaluation_reads_each_answered_nodes_label() {
        use crate::domain::placement::PodPlacement;
        use crate::index::plan::Plan;
        let inv = Inventory::new(4);
        inv.upsert_nodes(&fleet::generate(&FleetSpec::nodes(700)));
        let plan = Plan::compile(&PodPlacement::default());
        let key = "topology.kubernetes.io/zone";
        for limit in [usize::MAX, 50] {
            let (mut after, mut pages) = (None::<String>, 0);
            loop {
                let plain = inv.evaluate(&plan, after.as_deref(), limit);
                let labeled = inv.evaluate_labeled(&plan, after.as_deref(), limit, Some(key));
                assert_eq!(plain.names, labeled.names);
                assert_eq!(
                    (plain.should_run, plain.keep),
                    (labeled.should_run, labeled.keep)
                );
                assert_eq!(labeled.labels.len(), labeled.names.len());
                assert_eq!(labeled.label_values[0], "");
                for ((name, _), &l) in labeled.names.iter().zip(&labeled.labels) {
                    let (node, _) = inv.get_node(name).expect("listed");
                    let want = node.labels.get(key).cloned().unwrap_or_default();
                    assert_eq!(labeled.label_values[l as usize], want, "{name}");
                }
                assert!(plain.labels.is_empty() && plain.label_values.is_empty());
                pages += 1;
                match labeled.next_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert!(pages >= if limit == 50 { 10 } else { 1 });
        }
    }
}
