//! One lock shard: a slice of the fleet's node records and the posting bitmaps over them.
//!
//! Invariant: every posting bitmap of a shard describes exactly the records of that shard.
//! Records and postings change together under the shard's write lock, so a reader holding
//! the read lock sees a self-consistent shard and never a torn node.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::symbols::{Sym, Symbols};
use crate::domain::selector::{Operator, Requirement, parse_go_int64};
use crate::domain::{Condition, Node, Taint, TaintEffect, Time};

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

/// A node as stored: strings interned, lists boxed to their exact length.
struct Record {
    name: Arc<str>,
    /// Sorted by key text (the order of `Node::labels`).
    labels: Box<[(Sym, Sym)]>,
    taints: Box<[StoredTaint]>,
    unschedulable: bool,
    allocatable: Box<[(Sym, Sym)]>,
    requested: Box<[(Sym, Sym)]>,
    conditions: Box<[(Sym, Sym)]>,
    generation: u64,
    /// Inventory revision that last changed this record.
    revision: u64,
    /// Seen-clock stamp of the last upsert (applied, unchanged or stale), for resync sweeps.
    seen: u64,
}

#[derive(Default)]
struct KeyPostings {
    /// Nodes that carry the key, whatever the value.
    all: RoaringBitmap,
    values: HashMap<Sym, RoaringBitmap>,
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
    /// Name → slot, in name order (pages walk it).
    by_name: BTreeMap<Arc<str>, u32>,
    all: RoaringBitmap,
    by_key: HashMap<Sym, KeyPostings>,
    by_taint: HashMap<TaintId, RoaringBitmap>,
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
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
        if let Some(&slot) = self.by_name.get(node.name.as_str()) {
            let same = self.same_content(slot, node);
            let Some(record) = self.slots[slot as usize].as_mut() else {
                unreachable!("by_name points at an empty slot");
            };
            record.seen = record.seen.max(seen);
            if node.generation != 0 && node.generation < record.generation {
                return UpsertOutcome::Stale;
            }
            record.generation = record.generation.max(node.generation);
            if same {
                return UpsertOutcome::Unchanged;
            }
            let name = record.name.clone();
            let generation = record.generation;
            let seen = record.seen;
            self.remove_slot(slot);
            let revision = next_revision();
            let record = self.build_record(name, node, generation, revision, seen);
            self.fill_slot(slot, record);
        } else {
            let name: Arc<str> = Arc::from(node.name.as_str());
            let revision = next_revision();
            let record = self.build_record(name.clone(), node, node.generation, revision, seen);
            let slot = self.free_slots.pop().unwrap_or_else(|| {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            });
            self.by_name.insert(name, slot);
            self.fill_slot(slot, record);
        }
        UpsertOutcome::Applied
    }

    /// Deletes the node; false when it was not there.
    pub(crate) fn delete(&mut self, name: &str, next_revision: impl FnOnce() -> u64) -> bool {
        let Some(slot) = self.by_name.remove(name) else {
            return false;
        };
        self.remove_slot(slot);
        self.free_slots.push(slot);
        next_revision();
        true
    }

    /// Deletes every node whose last upsert is older than `mark`; returns how many.
    pub(crate) fn sweep(&mut self, mark: u64, mut next_revision: impl FnMut() -> u64) -> usize {
        let doomed: Vec<Arc<str>> = self
            .slots
            .iter()
            .flatten()
            .filter(|r| r.seen < mark)
            .map(|r| r.name.clone())
            .collect();
        for name in &doomed {
            self.delete(name, &mut next_revision);
        }
        doomed.len()
    }

    pub(crate) fn get(&self, name: &str) -> Option<(Node, u64)> {
        let slot = *self.by_name.get(name)?;
        Some(self.materialize(slot))
    }

    /// The node in `slot` and the revision that last changed it.
    pub(crate) fn materialize(&self, slot: u32) -> (Node, u64) {
        let Some(r) = self.slots.get(slot as usize).and_then(Option::as_ref) else {
            unreachable!("materialize of an empty slot");
        };
        let s = |sym: Sym| self.syms.resolve(sym).to_owned();
        let map = |pairs: &[(Sym, Sym)]| pairs.iter().map(|&(k, v)| (s(k), s(v))).collect();
        let node = Node {
            name: r.name.to_string(),
            labels: map(&r.labels),
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
            allocatable: map(&r.allocatable),
            requested: map(&r.requested),
            conditions: r
                .conditions
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
        self.by_name.get(name).copied()
    }

    /// The name of the node in `slot`.
    pub(crate) fn name_of(&self, slot: u32) -> Option<&Arc<str>> {
        Some(&self.slots.get(slot as usize)?.as_ref()?.name)
    }

    /// Every distinct taint of this shard with the nodes that carry it. Placement decides
    /// toleration once per distinct taint, then subtracts these sets.
    pub(crate) fn taints(&self) -> impl Iterator<Item = (Taint, &RoaringBitmap)> + '_ {
        self.by_taint.iter().map(|(id, bits)| {
            let taint = Taint {
                key: self.syms.resolve(id.key).to_owned(),
                value: self.syms.resolve(id.value).to_owned(),
                effect: id.effect,
                time_added: None,
            };
            (taint, bits)
        })
    }

    /// Slots of `set` in ascending name order, after `after`, at most `limit`.
    ///
    /// A small set is sorted directly; a large one is found by walking the name order, which
    /// avoids sorting most of the shard.
    pub(crate) fn names_in_order(
        &self,
        set: &RoaringBitmap,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(Arc<str>, u32)> {
        if limit == 0 || set.is_empty() {
            return Vec::new();
        }
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        if (set.len() as usize).saturating_mul(8) < self.by_name.len() {
            let mut found: Vec<(Arc<str>, u32)> = set
                .iter()
                .filter_map(|slot| {
                    let r = self.slots.get(slot as usize)?.as_ref()?;
                    after
                        .is_none_or(|a| &*r.name > a)
                        .then(|| (r.name.clone(), slot))
                })
                .collect();
            found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            found.truncate(limit);
            found
        } else {
            self.by_name
                .range::<str, _>((lower, Bound::Unbounded))
                .filter(|(_, slot)| set.contains(**slot))
                .take(limit)
                .map(|(name, &slot)| (name.clone(), slot))
                .collect()
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
                if let Some(bits) = self.syms.lookup(v).and_then(|v| key.values.get(&v)) {
                    set |= bits;
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
                for (&value, bits) in &key.values {
                    let Some(n) = parse_go_int64(self.syms.resolve(value)) else {
                        continue;
                    };
                    let hit = if req.operator == Operator::Gt {
                        n > bound
                    } else {
                        n < bound
                    };
                    if hit {
                        set |= bits;
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

    fn same_content(&self, slot: u32, node: &Node) -> bool {
        let Some(r) = self.slots[slot as usize].as_ref() else {
            return false;
        };
        let sym_is = |sym: Sym, s: &str| self.syms.lookup(s) == Some(sym);
        let pairs_are = |pairs: &[(Sym, Sym)], map: &BTreeMap<String, String>| {
            pairs.len() == map.len()
                && pairs
                    .iter()
                    .zip(map)
                    .all(|(&(k, v), (mk, mv))| sym_is(k, mk) && sym_is(v, mv))
        };
        r.unschedulable == node.unschedulable
            && pairs_are(&r.labels, &node.labels)
            && pairs_are(&r.allocatable, &node.allocatable)
            && pairs_are(&r.requested, &node.requested)
            && r.taints.len() == node.taints.len()
            && r.taints.iter().zip(&node.taints).all(|(a, b)| {
                sym_is(a.id.key, &b.key)
                    && sym_is(a.id.value, &b.value)
                    && a.id.effect == b.effect
                    && a.time_added == b.time_added
            })
            && r.conditions.len() == node.conditions.len()
            && r.conditions
                .iter()
                .zip(&node.conditions)
                .all(|(&(k, v), c)| sym_is(k, &c.kind) && sym_is(v, &c.status))
    }

    fn build_record(
        &mut self,
        name: Arc<str>,
        node: &Node,
        generation: u64,
        revision: u64,
        seen: u64,
    ) -> Record {
        let syms = &mut self.syms;
        let mut pairs = |map: &BTreeMap<String, String>| -> Box<[(Sym, Sym)]> {
            map.iter()
                .map(|(k, v)| (syms.intern(k), syms.intern(v)))
                .collect()
        };
        let labels = pairs(&node.labels);
        let allocatable = pairs(&node.allocatable);
        let requested = pairs(&node.requested);
        let taints = node
            .taints
            .iter()
            .map(|t| StoredTaint {
                id: TaintId {
                    key: syms.intern(&t.key),
                    value: syms.intern(&t.value),
                    effect: t.effect,
                },
                time_added: t.time_added,
            })
            .collect();
        let conditions = node
            .conditions
            .iter()
            .map(|c| (syms.intern(&c.kind), syms.intern(&c.status)))
            .collect();
        Record {
            name,
            labels,
            taints,
            unschedulable: node.unschedulable,
            allocatable,
            requested,
            conditions,
            generation,
            revision,
            seen,
        }
    }

    /// Puts `record` in `slot` and adds it to every posting.
    fn fill_slot(&mut self, slot: u32, record: Record) {
        self.all.insert(slot);
        for &(k, v) in record.labels.iter() {
            let key = self.by_key.entry(k).or_default();
            key.all.insert(slot);
            key.values.entry(v).or_default().insert(slot);
        }
        for t in record.taints.iter() {
            self.by_taint.entry(t.id).or_default().insert(slot);
        }
        self.slots[slot as usize] = Some(record);
    }

    /// Takes the record out of `slot` (leaving `by_name` alone), removes it from every
    /// posting, drops empty postings and releases its strings.
    fn remove_slot(&mut self, slot: u32) {
        let Some(record) = self.slots[slot as usize].take() else {
            return;
        };
        self.all.remove(slot);
        for &(k, v) in record.labels.iter() {
            if let Some(key) = self.by_key.get_mut(&k) {
                key.all.remove(slot);
                if let Some(bits) = key.values.get_mut(&v) {
                    bits.remove(slot);
                    if bits.is_empty() {
                        key.values.remove(&v);
                    }
                }
                if key.all.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
        for t in record.taints.iter() {
            if let Some(bits) = self.by_taint.get_mut(&t.id) {
                bits.remove(slot);
                if bits.is_empty() {
                    self.by_taint.remove(&t.id);
                }
            }
        }
        let pairs = record
            .labels
            .iter()
            .chain(record.allocatable.iter())
            .chain(record.requested.iter())
            .chain(record.conditions.iter());
        for &(k, v) in pairs {
            self.syms.release(k);
            self.syms.release(v);
        }
        for t in record.taints.iter() {
            self.syms.release(t.id.key);
            self.syms.release(t.id.value);
        }
    }
}
