//! One lock shard: a slice of the fleet's node records and the posting bitmaps over them.
//!
//! Invariant: every posting of a shard describes exactly the records of that shard.
//! Records and postings change together under the shard's write lock, so a reader holding
//! the read lock sees a self-consistent shard and never a torn node.
//!
//! An update of a known node touches only what changed: the incoming node is compared
//! with the stored record string by string (no hashing), pairs that are equal keep their
//! symbols and postings untouched, and only the changed ones are interned, moved between
//! postings and released — new strings interned before old ones are released, so a string
//! that stays is never freed and created again.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use foldhash::fast::RandomState;
use roaring::RoaringBitmap;

use parking_lot::Mutex;

use super::names::{NameOrder, few_next_to, prefix};
use super::symbols::{Sym, Symbols};
use crate::domain::selector::{Operator, Requirement, parse_go_int64};
use crate::domain::{Condition, Node, Taint, TaintEffect, Time};

/// Hash maps keyed by symbols; seeded, since what the symbols stand for comes from clients.
type Map<K, V> = HashMap<K, V, RandomState>;

/// A taint as the index keys it: every distinct (key, value, effect) gets one bitmap, so a
/// query decides toleration once per distinct taint instead of once per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaintId {
    pub key: Sym,
    pub value: Sym,
    pub effect: TaintEffect,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct StoredTaint {
    id: TaintId,
    time_added: Option<Time>,
}

/// A node as stored: strings interned, every (key, value) list in one exact-length slice.
struct Record {
    /// Interned; its symbol also maps the name back to this slot.
    name: Sym,
    /// Labels (sorted by key text, the order of `Node::labels`), then allocatable, requested
    /// and conditions, each in `Node`'s order: one allocation instead of four.
    pairs: Box<[(Sym, Sym)]>,
    /// Where allocatable, requested and conditions start in `pairs`.
    starts: [u32; 3],
    taints: Box<[StoredTaint]>,
    unschedulable: bool,
    generation: u64,
    /// Inventory revision that last changed this record.
    revision: u64,
    /// Seen-clock stamp of the last upsert (applied, unchanged or stale), for resync sweeps.
    seen: u64,
}

/// The four (key, value) sections of a record, in `Record::pairs` order.
const LABELS: usize = 0;
const ALLOCATABLE: usize = 1;
const REQUESTED: usize = 2;
const CONDITIONS: usize = 3;

impl Record {
    fn section(&self, i: usize) -> &[(Sym, Sym)] {
        let start = if i == 0 {
            0
        } else {
            self.starts[i - 1] as usize
        };
        let end = self.starts.get(i).map_or(self.pairs.len(), |&e| e as usize);
        &self.pairs[start..end]
    }

    fn labels(&self) -> &[(Sym, Sym)] {
        self.section(LABELS)
    }
}

fn text_pairs(map: &BTreeMap<String, String>) -> impl ExactSizeIterator<Item = (&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn condition_pairs(node: &Node) -> impl ExactSizeIterator<Item = (&str, &str)> {
    node.conditions
        .iter()
        .map(|c| (c.kind.as_str(), c.status.as_str()))
}

/// `Record::starts` for `node`.
fn starts_of(node: &Node) -> [u32; 3] {
    let labels = node.labels.len();
    let allocatable = labels + node.allocatable.len();
    let requested = allocatable + node.requested.len();
    [labels, allocatable, requested].map(|n| n as u32)
}

fn pair_count(node: &Node) -> usize {
    node.labels.len() + node.allocatable.len() + node.requested.len() + node.conditions.len()
}

/// The nodes that carry one label key=value. A unique label (`kubernetes.io/hostname`) has
/// one node per value: storing that node's slot instead of a one-element bitmap saves about
/// 100 B per node. A set that grows past one node becomes a bitmap, and goes back to a slot
/// when it shrinks to one.
enum Posting {
    One(u32),
    Many(RoaringBitmap),
}

impl Posting {
    fn insert(&mut self, slot: u32) {
        match self {
            Posting::One(one) if *one == slot => {}
            Posting::One(one) => {
                let mut bits = RoaringBitmap::new();
                bits.insert(*one);
                bits.insert(slot);
                *self = Posting::Many(bits);
            }
            Posting::Many(bits) => add(bits, slot),
        }
    }

    /// Removes `slot`; true when the posting is left empty (the caller drops it).
    fn remove(&mut self, slot: u32) -> bool {
        match self {
            Posting::One(one) => *one == slot,
            Posting::Many(bits) => {
                bits.remove(slot);
                if bits.len() <= 1 {
                    match bits.min() {
                        Some(one) => *self = Posting::One(one),
                        None => return true,
                    }
                }
                false
            }
        }
    }

    /// `set |= self`.
    fn add_to(&self, set: &mut RoaringBitmap) {
        match self {
            Posting::One(one) => {
                set.insert(*one);
            }
            Posting::Many(bits) => *set |= bits,
        }
    }
}

#[derive(Default)]
struct KeyPostings {
    /// Nodes that carry the key, whatever the value.
    all: RoaringBitmap,
    values: Map<Sym, Posting>,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsertOutcome {
    Applied,
    Unchanged,
    Stale,
}

#[derive(Default)]
pub(crate) struct Shard {
    syms: Symbols,
    slots: Vec<Option<Record>>,
    free_slots: Vec<u32>,
    /// Live nodes. Lookups by name go through the symbol table (one hash probe); name order
    /// is `name_order`'s, sorted when an answer first needs it, so an insert keeps no
    /// ordered map up to date.
    nodes: usize,
    all: RoaringBitmap,
    by_key: Map<Sym, KeyPostings>,
    /// Nodes per distinct `NoSchedule` / `NoExecute` taint. `PreferNoSchedule` taints are
    /// not indexed: placement never reads them (only Explain's score does, from the record),
    /// and clusters carry many distinct ones (the autoscaler's
    /// `DeletionCandidateOfClusterAutoscaler=<timestamp>`), which every evaluation would
    /// otherwise walk past.
    by_taint: Map<TaintId, RoaringBitmap>,
    /// The names in order as one snapshot, sorted by the first large answer after a node
    /// joined (readers build it under the read lock, hence the mutex: a leaf lock, held
    /// only to take or store the `Arc`). Departed nodes may linger in it, unanswerable: their
    /// slots are in no set, and a slot is reused only by an insert, which drops the order.
    name_order: Mutex<Option<Arc<NameOrder>>>,
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.nodes
    }

    pub(crate) fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Inserts or replaces `node`. `next_revision` is called only when something changes,
    /// inside this shard's write lock, so a reader that observes the new revision and then
    /// locks this shard sees the change. `seen` must be read from the seen clock while this
    /// shard's lock is held, so an upsert applied after a `RESYNC_BEGIN` carries its mark;
    /// a record's stamp never moves back.
    pub(crate) fn upsert(
        &mut self,
        node: &Node,
        seen: u64,
        next_revision: impl FnOnce() -> u64,
    ) -> UpsertOutcome {
        let Some(slot) = self.slot_of(&node.name) else {
            self.insert_new(node, seen, next_revision());
            return UpsertOutcome::Applied;
        };
        let Some(record) = self.slots[slot as usize].as_mut() else {
            unreachable!("a name points at an empty slot");
        };
        record.seen = record.seen.max(seen);
        if node.generation != 0 && node.generation < record.generation {
            return UpsertOutcome::Stale;
        }
        record.generation = record.generation.max(node.generation);
        if self.same_content(slot, node) {
            return UpsertOutcome::Unchanged;
        }
        let revision = next_revision();
        self.replace(slot, node, revision);
        UpsertOutcome::Applied
    }

    /// Deletes the node; false when it was not there.
    pub(crate) fn delete(&mut self, name: &str, next_revision: impl FnOnce() -> u64) -> bool {
        let Some(slot) = self.slot_of(name) else {
            return false;
        };
        self.remove_slot(slot);
        next_revision();
        true
    }

    /// Deletes every node whose last upsert is older than `mark`; returns how many.
    pub(crate) fn sweep(&mut self, mark: u64, mut next_revision: impl FnMut() -> u64) -> usize {
        let doomed: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.seen < mark))
            .map(|(slot, _)| slot as u32)
            .collect();
        for &slot in &doomed {
            self.remove_slot(slot);
            next_revision();
        }
        doomed.len()
    }

    pub(crate) fn get(&self, name: &str) -> Option<(Node, u64)> {
        Some(self.materialize(self.slot_of(name)?))
    }

    /// The node in `slot` and the revision that last changed it.
    pub(crate) fn materialize(&self, slot: u32) -> (Node, u64) {
        let Some(r) = self.slots.get(slot as usize).and_then(Option::as_ref) else {
            unreachable!("materialize of an empty slot");
        };
        let s = |sym: Sym| self.syms.resolve(sym).to_owned();
        let map = |i: usize| r.section(i).iter().map(|&(k, v)| (s(k), s(v))).collect();
        let node = Node {
            name: s(r.name),
            labels: map(LABELS),
            taints: r
                .taints
                .iter()
                .map(|t| Taint {
                    key: s(t.id.key),
                    value: s(t.id.value),
                    effect: t.id.effect,
                    time_added: t.time_added,
                })
                .collect(),
            unschedulable: r.unschedulable,
            allocatable: map(ALLOCATABLE),
            requested: map(REQUESTED),
            conditions: r
                .section(CONDITIONS)
                .iter()
                .map(|&(k, v)| Condition {
                    kind: s(k),
                    status: s(v),
                })
                .collect(),
            generation: r.generation,
        };
        (node, r.revision)
    }

    /// The slot of the node called `name`.
    pub(crate) fn slot_of(&self, name: &str) -> Option<u32> {
        self.syms.node_named(name)
    }

    /// Each slot's value of label `key`, numbered by `number` (0 for a slot without the
    /// label), indexed by slot. Read from the key's postings — one pass over the nodes that
    /// carry the key, calling `number` once per distinct value — so no record is read and no
    /// string is hashed per node.
    pub(crate) fn label_by_slot(&self, key: &str, mut number: impl FnMut(&str) -> u32) -> Vec<u32> {
        let mut out = vec![0u32; self.slots.len()];
        let Some(postings) = self.syms.lookup(key).and_then(|k| self.by_key.get(&k)) else {
            return out;
        };
        for (&value, posting) in &postings.values {
            let n = number(self.syms.resolve(value));
            match posting {
                Posting::One(slot) => out[*slot as usize] = n,
                Posting::Many(bits) => {
                    for slot in bits {
                        out[slot as usize] = n;
                    }
                }
            }
        }
        out
    }

    /// The name of the node in `slot`.
    pub(crate) fn name_of(&self, slot: u32) -> Option<&Arc<str>> {
        let record = self.slots.get(slot as usize)?.as_ref()?;
        self.syms.shared(record.name)
    }

    /// Every distinct `NoSchedule` / `NoExecute` taint of the shard as borrowed parts with its
    /// nodes: evaluation checks tolerations against these without allocating a `Taint` for taints it can skip.
    pub(crate) fn taint_sets(
        &self,
    ) -> impl Iterator<Item = (&str, &str, TaintEffect, &RoaringBitmap)> + '_ {
        self.by_taint.iter().map(|(id, bits)| {
            (
                self.syms.resolve(id.key),
                self.syms.resolve(id.value),
                id.effect,
                bits,
            )
        })
    }

    /// The taints of the node in `slot` as borrowed parts (none for an empty slot).
    pub(crate) fn taints_of(&self, slot: u32) -> impl Iterator<Item = (&str, &str, TaintEffect)> {
        let record = self.slots.get(slot as usize).and_then(Option::as_ref);
        record.into_iter().flat_map(|r| {
            r.taints.iter().map(|t| {
                (
                    self.syms.resolve(t.id.key),
                    self.syms.resolve(t.id.value),
                    t.id.effect,
                )
            })
        })
    }

    /// The names in order, built now if a node joined since the last build.
    pub(crate) fn name_order(&self) -> Arc<NameOrder> {
        let mut cached = self.name_order.lock();
        cached
            .get_or_insert_with(|| {
                let names = self.slots.iter().enumerate().filter_map(|(slot, r)| {
                    let r = r.as_ref()?;
                    Some((self.syms.resolve(r.name), slot as u32))
                });
                Arc::new(NameOrder::build(names, self.slots.len()))
            })
            .clone()
    }

    /// The names in order if they are built and current; never builds them.
    pub(crate) fn cached_name_order(&self) -> Option<Arc<NameOrder>> {
        self.name_order.lock().clone()
    }

    /// Whether `set` is small enough that sorting it beats walking the shard's name order.
    pub(crate) fn is_small(&self, set: &RoaringBitmap) -> bool {
        few_next_to(set.len(), self.nodes)
    }

    /// Visits the slots of `set` in ascending name order, after `after`, at most `limit`,
    /// until `visit` returns false. Names are lent, not cloned: the caller copies what it
    /// keeps while the shard is locked.
    ///
    /// A small set is sorted directly (by each name's first 16 bytes, then the rest); a
    /// large one is found by walking the name order (sorted now if a node joined since it
    /// was last needed).
    pub(crate) fn names_in_order(
        &self,
        set: &RoaringBitmap,
        after: Option<&str>,
        limit: usize,
        mut visit: impl FnMut(&str, u32) -> bool,
    ) {
        if limit == 0 || set.is_empty() {
            return;
        }
        if self.is_small(set) {
            let mut found: Vec<(u128, &str, u32)> = set
                .iter()
                .filter_map(|slot| {
                    let name: &str = self.name_of(slot)?;
                    after
                        .is_none_or(|a| name > a)
                        .then(|| (prefix(name), name, slot))
                })
                .collect();
            found.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            for &(_, name, slot) in found.iter().take(limit) {
                if !visit(name, slot) {
                    return;
                }
            }
        } else {
            let order = self.name_order();
            let walk = (order.first_after(after)..order.len()).map(|i| order.entry(i));
            let text = order.text();
            for (start, end, slot) in walk.filter(|&(_, _, slot)| set.contains(slot)).take(limit) {
                if !visit(&text[start as usize..end as usize], slot) {
                    return;
                }
            }
        }
    }

    /// The nodes that satisfy one label requirement (`labels.Requirement.Matches`), from the
    /// postings: `NotIn` and `DoesNotExist` are complements, `Gt`/`Lt` scan the key's distinct
    /// values, never the nodes.
    pub(crate) fn eval_requirement(&self, req: &Requirement) -> RoaringBitmap {
        let key = self.syms.lookup(&req.key).and_then(|k| self.by_key.get(&k));
        let union_of_values = |key: &KeyPostings| {
            let mut set = RoaringBitmap::new();
            for v in &req.values {
                if let Some(posting) = self.syms.lookup(v).and_then(|v| key.values.get(&v)) {
                    posting.add_to(&mut set);
                }
            }
            set
        };
        match (req.operator, key) {
            (Operator::In, Some(key)) => union_of_values(key),
            (Operator::NotIn, Some(key)) => &self.all - union_of_values(key),
            (Operator::Exists, Some(key)) => key.all.clone(),
            (Operator::DoesNotExist, Some(key)) => &self.all - &key.all,
            (Operator::Gt | Operator::Lt, Some(key)) => {
                // Exactly one integer value, or the requirement matches nothing.
                let [bound] = req.values.as_slice() else {
                    return RoaringBitmap::new();
                };
                let Some(bound) = parse_go_int64(bound) else {
                    return RoaringBitmap::new();
                };
                let mut set = RoaringBitmap::new();
                for (&value, posting) in &key.values {
                    let Some(n) = parse_go_int64(self.syms.resolve(value)) else {
                        continue;
                    };
                    let hit = if req.operator == Operator::Gt {
                        n > bound
                    } else {
                        n < bound
                    };
                    if hit {
                        posting.add_to(&mut set);
                    }
                }
                set
            }
            (Operator::NotIn | Operator::DoesNotExist, None) => self.all.clone(),
            (Operator::In | Operator::Exists | Operator::Gt | Operator::Lt, None) => {
                RoaringBitmap::new()
            }
        }
    }

    /// The nodes matching every requirement (an empty list matches all).
    pub(crate) fn eval_requirements(&self, reqs: &[Requirement]) -> RoaringBitmap {
        let mut set = self.all.clone();
        for req in reqs {
            if set.is_empty() {
                break;
            }
            set &= self.eval_requirement(req);
        }
        set
    }

    /// Whether the record in `slot` already says what `node` says (generation aside).
    /// Compares the stored strings with the incoming ones: no hashing, no lookups.
    fn same_content(&self, slot: u32, node: &Node) -> bool {
        let Some(r) = self.slots[slot as usize].as_ref() else {
            return false;
        };
        let is = |sym: Sym, s: &str| self.syms.resolve(sym) == s;
        let map_is = |pairs: &[(Sym, Sym)], map: &BTreeMap<String, String>| {
            pairs.len() == map.len()
                && pairs
                    .iter()
                    .zip(map)
                    .all(|(&(k, v), (mk, mv))| is(k, mk) && is(v, mv))
        };
        let conditions = r.section(CONDITIONS);
        r.unschedulable == node.unschedulable
            && map_is(r.labels(), &node.labels)
            && map_is(r.section(ALLOCATABLE), &node.allocatable)
            && map_is(r.section(REQUESTED), &node.requested)
            && conditions.len() == node.conditions.len()
            && conditions
                .iter()
                .zip(&node.conditions)
                .all(|(&(k, v), c)| is(k, &c.kind) && is(v, &c.status))
            && r.taints.len() == node.taints.len()
            && r.taints.iter().zip(&node.taints).all(|(a, b)| {
                is(a.id.key, &b.key)
                    && is(a.id.value, &b.value)
                    && a.id.effect == b.effect
                    && a.time_added == b.time_added
            })
    }

    /// Stores a node whose name is new to this shard.
    fn insert_new(&mut self, node: &Node, seen: u64, revision: u64) {
        let name = self.syms.intern(&node.name);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots.push(None);
            (self.slots.len() - 1) as u32
        });
        self.syms.set_node(name, Some(slot));
        self.nodes += 1;
        *self.name_order.get_mut() = None;
        add(&mut self.all, slot);
        let Shard {
            syms,
            slots,
            by_key,
            ..
        } = self;
        // Nodes of a fleet share most of their strings, so another record of the shard
        // finds most symbols by comparing strings that are already in cache, without
        // hashing and probing the symbol table. The record in the slot below is usually the
        // one stored just before (slots are handed out in ascending order).
        let like = slot
            .checked_sub(1)
            .and_then(|s| slots.get(s as usize)?.as_ref());
        let mut pairs = Vec::with_capacity(pair_count(node));
        let like_labels = like.map_or(&[][..], Record::labels);
        let mut t = 0;
        for (k, v) in text_pairs(&node.labels) {
            // Both label lists are sorted by key text: walk the neighbour's up to `k`.
            let mut same_key = None;
            while let Some(&(lk, lv)) = like_labels.get(t) {
                match syms.resolve(lk).cmp(k) {
                    Ordering::Less => t += 1,
                    Ordering::Equal => {
                        same_key = Some((lk, lv));
                        t += 1;
                        break;
                    }
                    Ordering::Greater => break,
                }
            }
            let pair = match same_key {
                Some((lk, lv)) => (syms.retain(lk), syms.intern_like(Some(lv), v)),
                None => (syms.intern(k), syms.intern(v)),
            };
            add_label(by_key, slot, pair);
            pairs.push(pair);
        }
        for i in [ALLOCATABLE, REQUESTED, CONDITIONS] {
            let like_section = like.map_or(&[][..], |r| r.section(i));
            let section: &mut dyn Iterator<Item = (&str, &str)> = match i {
                ALLOCATABLE => &mut text_pairs(&node.allocatable),
                REQUESTED => &mut text_pairs(&node.requested),
                _ => &mut condition_pairs(node),
            };
            for (j, (k, v)) in section.enumerate() {
                let (lk, lv) = like_section.get(j).copied().unzip();
                pairs.push((syms.intern_like(lk, k), syms.intern_like(lv, v)));
            }
        }
        let taints = node
            .taints
            .iter()
            .map(|t| {
                let id = TaintId {
                    key: self.syms.intern(&t.key),
                    value: self.syms.intern(&t.value),
                    effect: t.effect,
                };
                if id.effect.affects_placement() {
                    add(self.by_taint.entry(id).or_default(), slot);
                }
                StoredTaint {
                    id,
                    time_added: t.time_added,
                }
            })
            .collect();
        self.slots[slot as usize] = Some(Record {
            name,
            pairs: pairs.into_boxed_slice(),
            starts: starts_of(node),
            taints,
            unschedulable: node.unschedulable,
            generation: node.generation,
            revision,
            seen,
        });
    }

    /// Replaces the record in `slot` with `node`'s content, touching only what differs.
    fn replace(&mut self, slot: u32, node: &Node, revision: u64) {
        let Some(old) = self.slots[slot as usize].take() else {
            unreachable!("replace of an empty slot");
        };
        // Symbols the old record held and the new one does not; released at the end.
        let mut release: Vec<Sym> = Vec::new();
        let mut pairs = Vec::with_capacity(pair_count(node));
        self.merge_labels(slot, old.labels(), &node.labels, &mut pairs, &mut release);
        self.merge_pairs(
            old.section(ALLOCATABLE),
            text_pairs(&node.allocatable),
            &mut pairs,
            &mut release,
        );
        self.merge_pairs(
            old.section(REQUESTED),
            text_pairs(&node.requested),
            &mut pairs,
            &mut release,
        );
        let conditions = condition_pairs(node);
        self.merge_pairs(
            old.section(CONDITIONS),
            conditions,
            &mut pairs,
            &mut release,
        );
        let taints: Box<[StoredTaint]> = node
            .taints
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let old_id = old.taints.get(j).map(|o| o.id);
                StoredTaint {
                    id: TaintId {
                        key: self.reuse_or_intern(old_id.map(|o| o.key), &t.key, &mut release),
                        value: self.reuse_or_intern(
                            old_id.map(|o| o.value),
                            &t.value,
                            &mut release,
                        ),
                        effect: t.effect,
                    },
                    time_added: t.time_added,
                }
            })
            .collect();
        for t in old.taints.get(taints.len()..).unwrap_or_default() {
            release.extend([t.id.key, t.id.value]);
        }
        for t in old.taints.iter() {
            if !taints.iter().any(|n| n.id == t.id) {
                self.remove_taint(slot, t.id);
            }
        }
        for t in taints.iter() {
            if !old.taints.iter().any(|o| o.id == t.id) && t.id.effect.affects_placement() {
                add(self.by_taint.entry(t.id).or_default(), slot);
            }
        }
        self.slots[slot as usize] = Some(Record {
            name: old.name,
            pairs: pairs.into_boxed_slice(),
            starts: starts_of(node),
            taints,
            unschedulable: node.unschedulable,
            generation: old.generation,
            revision,
            seen: old.seen,
        });
        for sym in release {
            self.syms.release(sym);
        }
    }

    /// Merges the old labels with the new, both sorted by key text, into `pairs`, moving the
    /// slot between postings only for keys added, removed or given another value.
    fn merge_labels(
        &mut self,
        slot: u32,
        old: &[(Sym, Sym)],
        new: &BTreeMap<String, String>,
        pairs: &mut Vec<(Sym, Sym)>,
        release: &mut Vec<Sym>,
    ) {
        let mut old = old.iter().copied().peekable();
        let mut new = text_pairs(new).peekable();
        loop {
            let order = match (old.peek(), new.peek()) {
                (Some(&(ok, _)), Some(&(nk, _))) => self.syms.resolve(ok).cmp(nk),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => break,
            };
            match order {
                Ordering::Equal => {
                    let (Some((k, ov)), Some((_, nv))) = (old.next(), new.next()) else {
                        break;
                    };
                    if self.syms.resolve(ov) == nv {
                        pairs.push((k, ov));
                        continue;
                    }
                    let v = self.syms.intern(nv);
                    if let Some(key) = self.by_key.get_mut(&k) {
                        remove_value(key, ov, slot);
                        key.values
                            .entry(v)
                            .or_insert(Posting::One(slot))
                            .insert(slot);
                    }
                    release.push(ov);
                    pairs.push((k, v));
                }
                Ordering::Less => {
                    let Some((k, v)) = old.next() else { break };
                    self.remove_label(slot, (k, v));
                    release.extend([k, v]);
                }
                Ordering::Greater => {
                    let Some((nk, nv)) = new.next() else { break };
                    let pair = (self.syms.intern(nk), self.syms.intern(nv));
                    self.add_label(slot, pair);
                    pairs.push(pair);
                }
            }
        }
    }

    /// Appends `new` to `pairs`, keeping the symbols of `old` (the same section of the old
    /// record) wherever they match position by position.
    fn merge_pairs<'a>(
        &mut self,
        old: &[(Sym, Sym)],
        new: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        pairs: &mut Vec<(Sym, Sym)>,
        release: &mut Vec<Sym>,
    ) {
        let len = new.len();
        for (j, (k, v)) in new.enumerate() {
            let (ok, ov) = old.get(j).copied().unzip();
            pairs.push((
                self.reuse_or_intern(ok, k, release),
                self.reuse_or_intern(ov, v, release),
            ));
        }
        for &(ok, ov) in old.get(len..).unwrap_or_default() {
            release.extend([ok, ov]);
        }
    }

    /// `old` when it already stands for `text`, else a new reference to `text` (and `old`,
    /// if any, goes to `release`).
    fn reuse_or_intern(&mut self, old: Option<Sym>, text: &str, release: &mut Vec<Sym>) -> Sym {
        match old {
            Some(old) if self.syms.resolve(old) == text => old,
            _ => {
                release.extend(old);
                self.syms.intern(text)
            }
        }
    }

    fn add_label(&mut self, slot: u32, pair: (Sym, Sym)) {
        add_label(&mut self.by_key, slot, pair);
    }

    fn remove_label(&mut self, slot: u32, (k, v): (Sym, Sym)) {
        if let Some(key) = self.by_key.get_mut(&k) {
            key.all.remove(slot);
            remove_value(key, v, slot);
            if key.all.is_empty() {
                self.by_key.remove(&k);
            }
        }
    }

    fn remove_taint(&mut self, slot: u32, id: TaintId) {
        if let Some(bits) = self.by_taint.get_mut(&id) {
            bits.remove(slot);
            if bits.is_empty() {
                self.by_taint.remove(&id);
            }
        }
    }

    /// Deletes the record in `slot`: its name, every posting, its strings.
    fn remove_slot(&mut self, slot: u32) {
        let Some(record) = self.slots[slot as usize].take() else {
            return;
        };
        self.nodes -= 1;
        // The name order stays valid: this slot is now in no set, so walks of the order skip
        // it, and only an insert reuses a slot, which drops the order.
        self.syms.set_node(record.name, None);
        self.all.remove(slot);
        for &pair in record.labels() {
            self.remove_label(slot, pair);
        }
        for t in record.taints.iter() {
            self.remove_taint(slot, t.id);
        }
        self.syms.release(record.name);
        for &(k, v) in record.pairs.iter() {
            self.syms.release(k);
            self.syms.release(v);
        }
        for t in record.taints.iter() {
            self.syms.release(t.id.key);
            self.syms.release(t.id.value);
        }
        self.free_slots.push(slot);
    }
}

/// `bits.insert(slot)`, faster for the common case of a slot above every other: a shard
/// hands out slots in ascending order, so a first load appends to every posting. Below
/// 4,096 members a roaring bitmap of one shard is a sorted array, where an append skips a
/// binary search over cold memory; above, it is a plain bitmap, where `insert` sets one bit
/// (and an append would first scan for the maximum).
fn add(bits: &mut RoaringBitmap, slot: u32) {
    const ARRAY_LIMIT: u64 = 4096;
    if bits.len() >= ARRAY_LIMIT || bits.try_push(slot).is_err() {
        bits.insert(slot);
    }
}

/// Adds `slot` to the postings of label `k`=`v`.
fn add_label(by_key: &mut Map<Sym, KeyPostings>, slot: u32, (k, v): (Sym, Sym)) {
    let key = by_key.entry(k).or_default();
    add(&mut key.all, slot);
    key.values
        .entry(v)
        .or_insert(Posting::One(slot))
        .insert(slot);
}

/// Takes `slot` out of the posting of value `v` under `key`, dropping the posting if empty.
fn remove_value(key: &mut KeyPostings, v: Sym, slot: u32) {
    if let Some(posting) = key.values.get_mut(&v)
        && posting.remove(slot)
    {
        key.values.remove(&v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Node::default()
        }
    }

    fn matching(shard: &Shard, key: &str, operator: Operator, values: &[&str]) -> Vec<String> {
        let req = Requirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let mut names: Vec<String> = shard
            .eval_requirement(&req)
            .iter()
            .filter_map(|slot| shard.name_of(slot).map(|n| n.to_string()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_update_moves_only_changed_postings_and_frees_replaced_strings() {
        let mut shard = Shard::default();
        let mut revision = 0;
        let mut next = || {
            revision += 1;
            revision
        };
        let a = node("a", &[("build", "v0"), ("host", "a"), ("zone", "z1")]);
        let b = node("b", &[("host", "b"), ("zone", "z1")]);
        assert_eq!(shard.upsert(&a, 1, &mut next), UpsertOutcome::Applied);
        assert_eq!(shard.upsert(&b, 1, &mut next), UpsertOutcome::Applied);
        assert_eq!(shard.upsert(&a, 1, &mut next), UpsertOutcome::Unchanged);
        assert_eq!(matching(&shard, "zone", Operator::In, &["z1"]), ["a", "b"]);
        let strings = shard.syms.len();

        // A value changes, a key goes away, another comes.
        let a2 = node("a", &[("build", "v1"), ("rack", "r1"), ("zone", "z2")]);
        assert_eq!(shard.upsert(&a2, 1, &mut next), UpsertOutcome::Applied);
        assert_eq!(matching(&shard, "zone", Operator::In, &["z1"]), ["b"]);
        assert_eq!(matching(&shard, "zone", Operator::In, &["z2"]), ["a"]);
        assert_eq!(matching(&shard, "zone", Operator::Exists, &[]), ["a", "b"]);
        assert_eq!(matching(&shard, "host", Operator::Exists, &[]), ["b"]);
        assert_eq!(matching(&shard, "host", Operator::DoesNotExist, &[]), ["a"]);
        assert_eq!(matching(&shard, "rack", Operator::In, &["r1"]), ["a"]);
        assert_eq!(shard.get("a").map(|(n, _)| n), Some(a2.clone()));

        // Replacing a unique value again and again neither leaks nor grows the strings.
        for i in 2..50 {
            let v = format!("v{i}");
            let a3 = node("a", &[("build", &v), ("rack", "r1"), ("zone", "z2")]);
            assert_eq!(shard.upsert(&a3, 1, &mut next), UpsertOutcome::Applied);
            assert_eq!(matching(&shard, "build", Operator::In, &[&v]), ["a"]);
        }
        // In: rack, r1, z2; v0 gave way to the current build; "a" stays (the name).
        assert_eq!(shard.syms.len(), strings + 3);
        assert!(shard.delete("a", &mut next));
        assert!(shard.delete("b", &mut next));
        assert_eq!(shard.syms.len(), 0, "every string released");
        assert!(shard.by_key.is_empty() && shard.nodes == 0);
    }

    #[test]
    fn a_shared_value_is_a_slot_then_a_bitmap_then_a_slot_again() {
        let mut shard = Shard::default();
        let next = || 1;
        shard.upsert(&node("a", &[("pool", "p")]), 1, next);
        let posting = |shard: &Shard| {
            let (k, v) = (shard.syms.lookup("pool")?, shard.syms.lookup("p")?);
            match shard.by_key.get(&k)?.values.get(&v)? {
                Posting::One(_) => Some("one"),
                Posting::Many(_) => Some("many"),
            }
        };
        assert_eq!(posting(&shard), Some("one"));
        shard.upsert(&node("b", &[("pool", "p")]), 1, next);
        assert_eq!(posting(&shard), Some("many"));
        assert_eq!(matching(&shard, "pool", Operator::In, &["p"]), ["a", "b"]);
        shard.delete("a", next);
        assert_eq!(posting(&shard), Some("one"));
        assert_eq!(
            matching(&shard, "pool", Operator::NotIn, &["p"]),
            Vec::<String>::new()
        );
        shard.delete("b", next);
        assert_eq!(posting(&shard), None);
    }
}
