//! Placement on the index: a `PodPlacement` compiled once into a plan, then run per shard as
//! bitmap algebra under the shard's read lock.
//!
//! Per shard: `base` = nodeSelector sets ∧ (OR over required terms of (AND of expression
//! sets ∧ field sets)); then the untolerated `NoSchedule` and `NoExecute` taint sets, each
//! distinct taint decided once against the tolerations (user's plus the DaemonSet
//! defaults). `shouldRun = base − NoSchedule − NoExecute` and
//! `keep = (base ∧ NoSchedule) − NoExecute` (semantics §1.1 steps 3–5). `PreferNoSchedule`
//! never excludes; cordon, conditions and resources are not consulted. When a shard has only
//! a few candidates, each is decided from its own record's taints instead (the same rule;
//! walking every distinct taint of the shard would cost more). The brute-force oracle is
//! `domain::predicate::should_run` over `Inventory::scan_nodes`.

use std::sync::Arc;

use roaring::RoaringBitmap;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use super::Inventory;
pub use super::names::Names;
use super::names::{MergedOrder, NameOrder, Span, few_next_to, prefix};
use super::shard::Shard;
use crate::domain::TaintEffect;
use crate::domain::affinity::term_parse_error;
use crate::domain::placement::{
    FieldRequirement, NODE_NAME_FIELD, NodeSelectorTerm, PodPlacement, Toleration,
};
use crate::domain::selector::{Operator, Requirement};
use crate::domain::toleration::daemon_tolerations;

/// A placement compiled for the index.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Template `spec.nodeName`: only that node can run the pod.
    node_name: Option<String>,
    /// `spec.nodeSelector` as `key In [value]` requirements.
    selector: Vec<Requirement>,
    /// Required node affinity terms (empty ones dropped: they match nothing); `None` when
    /// there is no required affinity.
    terms: Option<Vec<NodeSelectorTerm>>,
    /// The user's tolerations merged with the DaemonSet defaults.
    tolerations: Vec<Toleration>,
}

impl Plan {
    pub fn compile(placement: &PodPlacement) -> Plan {
        Plan {
            node_name: (!placement.node_name.is_empty()).then(|| placement.node_name.clone()),
            selector: placement
                .node_selector
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::In,
                    values: vec![v.clone()],
                })
                .collect(),
            terms: placement.affinity.required.as_ref().map(|terms| {
                terms
                    .iter()
                    .filter(|t| !t.is_empty() && term_parse_error(t).is_none())
                    .cloned()
                    .collect()
            }),
            tolerations: daemon_tolerations(&placement.tolerations, placement.host_network),
        }
    }

    /// `(shouldRun, keep)` of one candidate from its own taints: what the taint sets
    /// decide, read from the record, for a candidate list too short to be worth walking
    /// every distinct taint of the shard.
    fn slot_verdict(&self, shard: &Shard, slot: u32) -> (bool, bool) {
        let (mut no_schedule, mut no_execute) = (false, false);
        for (key, value, effect) in shard.taints_of(slot) {
            if self.excludes(key, value, effect) {
                match effect {
                    TaintEffect::NoSchedule => no_schedule = true,
                    _ => no_execute = true,
                }
            }
        }
        (!no_schedule && !no_execute, no_schedule && !no_execute)
    }

    /// Whether a taint keeps the pod off (`NoSchedule`) or off and evicted (`NoExecute`):
    /// it affects placement and no toleration tolerates it.
    fn excludes(&self, key: &str, value: &str, effect: TaintEffect) -> bool {
        effect.affects_placement()
            && !self
                .tolerations
                .iter()
                .any(|t| t.tolerates_parts(key, value, effect, false))
    }

    /// The candidates of one shard (nodeName, nodeSelector and required affinity), before
    /// taints; `None` stands for every node of the shard, so it is never cloned for nothing.
    fn base(&self, shard: &Shard) -> Option<RoaringBitmap> {
        let mut base: Option<RoaringBitmap> = self
            .node_name
            .as_ref()
            .map(|name| shard.slot_of(name).into_iter().collect());
        for req in &self.selector {
            if base.as_ref().is_some_and(RoaringBitmap::is_empty) {
                break;
            }
            let set = shard.eval_requirement(req);
            base = Some(match base {
                None => set,
                Some(mut b) => {
                    b &= set;
                    b
                }
            });
        }
        if let Some(terms) = &self.terms
            && !base.as_ref().is_some_and(RoaringBitmap::is_empty)
        {
            let mut any = RoaringBitmap::new();
            for term in terms {
                any |= term_set(shard, term);
            }
            base = Some(match base {
                None => any,
                Some(mut b) => {
                    b &= any;
                    b
                }
            });
        }
        base
    }

    /// The candidates of one shard and its untolerated taint sets.
    fn shard_sets(&self, shard: &Shard, base: Option<RoaringBitmap>) -> ShardSets {
        let mut sets = ShardSets {
            base,
            no_schedule: RoaringBitmap::new(),
            no_execute: RoaringBitmap::new(),
        };
        if sets.base.as_ref().is_some_and(RoaringBitmap::is_empty) {
            return sets;
        }
        // Deciding a taint costs a few string comparisons; asking whether any candidate
        // carries it costs a walk over the candidates, which pays off only when they are few.
        let few = sets
            .base
            .as_ref()
            .is_some_and(|b| b.len() <= FEW_CANDIDATES);
        for (key, value, effect, nodes) in shard.taint_sets() {
            if (few && sets.base.as_ref().is_some_and(|b| b.is_disjoint(nodes)))
                || !self.excludes(key, value, effect)
            {
                continue;
            }
            match effect {
                TaintEffect::NoSchedule => sets.no_schedule |= nodes,
                _ => sets.no_execute |= nodes,
            }
        }
        sets
    }
}

/// Up to this many candidates in a shard, a count reads each candidate's own taints instead
/// of the shard's taint sets.
const DIRECT_COUNT: u64 = 32;

/// Up to this many candidates in a shard, taints none of them carry are skipped before
/// their tolerations are checked.
const FEW_CANDIDATES: u64 = 256;

/// One shard's answer in terms of small sets: the candidates (`None` = every node) and the
/// nodes with an untolerated `NoSchedule` / `NoExecute` taint. Taint sets are small next to a
/// shard, so counting never copies or walks the full node set.
struct ShardSets {
    base: Option<RoaringBitmap>,
    no_schedule: RoaringBitmap,
    no_execute: RoaringBitmap,
}

impl ShardSets {
    /// `(excluded, keep_if_candidate)`: nodes that may not run the pod (`NoSchedule` ∪
    /// `NoExecute`), and those that may keep it (`NoSchedule` − `NoExecute`).
    fn exclusions(&self) -> (RoaringBitmap, RoaringBitmap) {
        (
            &self.no_schedule | &self.no_execute,
            &self.no_schedule - &self.no_execute,
        )
    }

    /// `(shouldRun, keep)` counts.
    fn counts(&self, shard: &Shard) -> (u64, u64) {
        let (excluded, keep) = self.exclusions();
        match &self.base {
            None => (shard.len() as u64 - excluded.len(), keep.len()),
            Some(base) => (
                base.len() - base.intersection_len(&excluded),
                base.intersection_len(&keep),
            ),
        }
    }

    /// `(shouldRun, keep)` sets: `base − excluded` and `base ∧ keep`.
    fn into_sets(self, shard: &Shard) -> (RoaringBitmap, RoaringBitmap) {
        let (excluded, keep) = self.exclusions();
        match self.base {
            None => (shard.all() - &excluded, keep),
            Some(mut base) => {
                let keep = &base & &keep;
                if !excluded.is_empty() {
                    base -= &excluded;
                }
                (base, keep)
            }
        }
    }
}

/// Nodes of `shard` matching one (non-empty) term.
fn term_set(shard: &Shard, term: &NodeSelectorTerm) -> RoaringBitmap {
    let mut set = match term.match_expressions.split_first() {
        None => shard.all().clone(),
        Some((first, rest)) => {
            let mut set = shard.eval_requirement(first);
            for req in rest {
                if set.is_empty() {
                    break;
                }
                set &= shard.eval_requirement(req);
            }
            set
        }
    };
    for field in &term.match_fields {
        if set.is_empty() {
            break;
        }
        set &= field_set(shard, field);
    }
    set
}

/// Nodes matching one `matchFields` requirement (semantics §3.4): `metadata.name` against
/// the node's name; any other key reads as an empty string; a requirement that does not
/// parse (operator other than In/NotIn, not exactly one value) matches nothing.
fn field_set(shard: &Shard, field: &FieldRequirement) -> RoaringBitmap {
    let [value] = field.values.as_slice() else {
        return RoaringBitmap::new();
    };
    let named: RoaringBitmap = if field.key == NODE_NAME_FIELD {
        shard.slot_of(value).into_iter().collect()
    } else if value.is_empty() {
        shard.all().clone()
    } else {
        RoaringBitmap::new()
    };
    match field.operator.as_str() {
        "In" => named,
        "NotIn" => shard.all() - &named,
        _ => RoaringBitmap::new(),
    }
}

/// One placement answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Inventory revision read before any shard.
    pub revision: u64,
    pub should_run: usize,
    pub keep: usize,
    pub total: usize,
    /// This page's names ascending, each with `true` for shouldRun, `false` for keep.
    pub names: Names,
    /// The last name of this page when more follow.
    pub next_after: Option<String>,
    /// With [`Inventory::evaluate_labeled`]: per name of `names`, its value of the label,
    /// as an index into `label_values` (index 0 is `""`: no such label).
    pub labels: Vec<u32>,
    pub label_values: Vec<String>,
}

/// One gathered name's sort key: its first 16 bytes as two big-endian halves (ordered like
/// the name; the text decides only ties), and where it was gathered.
#[derive(Clone, Copy)]
struct Key {
    hi: u64,
    lo: u64,
    at: u32,
}

impl Key {
    fn new(name: &str, at: usize) -> Key {
        let p = prefix(name);
        Key {
            hi: (p >> 64) as u64,
            lo: p as u64,
            at: at as u32,
        }
    }
}

/// Up to this many gathered names, the merge simply sorts them (names are distinct, so an
/// unstable sort is exact).
const SMALL_MERGE: usize = 64;

/// Where a gathered name's text is before the merge: in `Gathered::own`.
const OWN: u32 = u32::MAX;

/// One shard's part of an answer, kept after its lock is released: its shouldRun and
/// answered (shouldRun ∪ keep) slots, their label numbers by slot, and the shard's name
/// order when it has one. The order and the sets were read under the same lock, so the
/// order's slots are the sets' slots.
struct Part {
    order: Option<Arc<NameOrder>>,
    run: RoaringBitmap,
    either: RoaringBitmap,
    labels: Option<Vec<u32>>,
}

impl Part {
    fn label(&self, slot: u32) -> u32 {
        self.labels
            .as_ref()
            .and_then(|l| l.get(slot as usize).copied())
            .unwrap_or(0)
    }
}

/// Up to this many names gathered from the shards, a merge of the shards' runs beats a
/// walk of the inventory's merged name order.
const MERGE_AT_MOST: usize = 4096;

/// The names of every shard, each shard's in name order, before the merge. Names come from
/// a shard's [`NameOrder`] snapshot when it has one (then only the snapshot's `Arc` is
/// kept), or are copied into `own`.
#[derive(Default)]
struct Gathered {
    texts: Vec<Arc<str>>,
    own: String,
    /// In gathering order: each name's span, and (when `labeled`) its label value's number.
    spans: Vec<Span>,
    labeled: bool,
    labels: Vec<u32>,
    keys: Vec<Key>,
    /// Where each shard's run of `keys` ends.
    run_ends: Vec<usize>,
}

impl Gathered {
    /// Makes room for `n` more names.
    fn reserve(&mut self, n: usize) {
        self.spans.reserve(n);
        if self.labeled {
            self.labels.reserve(n);
        }
        self.keys.reserve(n);
    }

    /// Adds a name held in `texts[text]`.
    fn push_shared(&mut self, text: u32, (start, end): (u32, u32), run: bool, label: u32) {
        let name = &self.texts[text as usize][start as usize..end as usize];
        self.keys.push(Key::new(name, self.spans.len()));
        self.spans.push(Span {
            text,
            start,
            end,
            run,
        });
        if self.labeled {
            self.labels.push(label);
        }
    }

    /// Adds a name by copying it.
    fn push_owned(&mut self, name: &str, run: bool, label: u32) {
        if self.own.capacity() == 0 {
            // Room for a typical page of small answers at once, instead of growing by steps.
            self.own.reserve(64 * 32);
        }
        let start = self.own.len() as u32;
        self.own.push_str(name);
        self.keys.push(Key::new(name, self.spans.len()));
        self.spans.push(Span {
            text: OWN,
            start,
            end: self.own.len() as u32,
            run,
        });
        if self.labeled {
            self.labels.push(label);
        }
    }

    /// Gathers the first `want` names of `part` after `after` from its name order.
    fn take_from(&mut self, part: &Part, order: &NameOrder, after: Option<&str>, want: usize) {
        let text = self.texts.len() as u32;
        self.texts.push(order.text().clone());
        let from = order.first_after(after);
        let take = |i: usize| {
            let (start, end, slot) = order.entry(i);
            self.push_shared(
                text,
                (start, end),
                part.run.contains(slot),
                part.label(slot),
            );
        };
        if few_next_to(part.either.len(), order.len()) {
            let mut ranks: Vec<usize> = part.either.iter().filter_map(|s| order.rank(s)).collect();
            ranks.sort_unstable();
            ranks
                .into_iter()
                .filter(|&i| i >= from)
                .take(want)
                .for_each(take);
        } else {
            (from..order.len())
                .filter(|&i| part.either.contains(order.entry(i).2))
                .take(want)
                .for_each(take);
        }
        self.run_ends.push(self.keys.len());
    }

    /// Ends the run of names pushed since `start`, in any order: sorts it and keeps its
    /// first `want`.
    fn end_run(&mut self, start: usize, want: usize) {
        let mut keys = std::mem::take(&mut self.keys);
        keys[start..].sort_unstable_by(|a, b| self.order(a, b));
        keys.truncate(start.saturating_add(want));
        self.keys = keys;
        self.run_ends.push(self.keys.len());
    }

    fn name(&self, k: &Key) -> &str {
        let s = self.spans[k.at as usize];
        let text = match s.text {
            OWN => &*self.own,
            t => &*self.texts[t as usize],
        };
        &text[s.start as usize..s.end as usize]
    }

    fn order(&self, a: &Key, b: &Key) -> std::cmp::Ordering {
        (a.hi, a.lo)
            .cmp(&(b.hi, b.lo))
            .then_with(|| self.name(a).cmp(self.name(b)))
    }

    /// The first `want` names over all runs, in order, with their label numbers.
    ///
    /// When most of the gathered names are wanted, the keys are sorted as they are: the
    /// stable sort finds the shards' sorted runs and merges them, moving 24-byte keys,
    /// never names. When a page is a small part of them, a heap holding one key per shard
    /// stops after `want`.
    fn merge(mut self, want: usize) -> (Names, Vec<u32>) {
        let mut keys = std::mem::take(&mut self.keys);
        if keys.len() <= SMALL_MERGE {
            keys.sort_unstable_by(|a, b| self.order(a, b));
            keys.truncate(want);
        } else if keys.len() <= want.saturating_mul(2) {
            keys.sort_by(|a, b| self.order(a, b));
            keys.truncate(want);
        } else {
            keys = self.heap_merge(&keys, want);
        }
        let own = self.texts.len() as u32;
        let spans = keys
            .iter()
            .map(|k| {
                let mut span = self.spans[k.at as usize];
                if span.text == OWN {
                    span.text = own;
                }
                span
            })
            .collect();
        let labels = if self.labeled {
            keys.iter().map(|k| self.labels[k.at as usize]).collect()
        } else {
            Vec::new()
        };
        let mut texts = self.texts;
        if !self.own.is_empty() {
            texts.push(Arc::from(self.own));
        }
        (Names::new(texts, spans), labels)
    }

    fn heap_merge(&self, keys: &[Key], want: usize) -> Vec<Key> {
        /// A run's next key, ordered so the `BinaryHeap` (a max-heap) pops the least name.
        struct Head<'a> {
            key: Key,
            run: usize,
            from: &'a Gathered,
        }
        impl PartialEq for Head<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other).is_eq()
            }
        }
        impl Eq for Head<'_> {}
        impl PartialOrd for Head<'_> {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Head<'_> {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.from.order(&other.key, &self.key)
            }
        }
        let mut next: Vec<usize> = Vec::with_capacity(self.run_ends.len());
        let mut heap = std::collections::BinaryHeap::new();
        let mut start = 0;
        for (run, &end) in self.run_ends.iter().enumerate() {
            next.push(start + 1);
            if start < end {
                heap.push(Head {
                    key: keys[start],
                    run,
                    from: self,
                });
            }
            start = end;
        }
        let mut found = Vec::with_capacity(want.min(keys.len()));
        while found.len() < want
            && let Some(Head { key, run, .. }) = heap.pop()
        {
            found.push(key);
            let i = next[run];
            if i < self.run_ends[run] {
                next[run] = i + 1;
                heap.push(Head {
                    key: keys[i],
                    run,
                    from: self,
                });
            }
        }
        found
    }
}

/// The first `want` names of `parts` after `after`, in one pass over the inventory's merged
/// name order, with their label numbers when `labeled`.
fn walk_merged(
    merged: &MergedOrder,
    parts: &[Part],
    after: Option<&str>,
    want: usize,
    labeled: bool,
) -> (Names, Vec<u32>) {
    let orders: Vec<&NameOrder> = parts.iter().filter_map(|p| p.order.as_deref()).collect();
    let texts = orders.iter().map(|o| o.text().clone()).collect();
    let (mut spans, mut labels) = (Vec::new(), Vec::new());
    for i in merged.first_after(after)..merged.len() {
        if spans.len() == want {
            break;
        }
        let (shard, at) = merged.get(i);
        let (part, (start, end, slot)) = (&parts[shard], orders[shard].entry(at));
        if part.either.contains(slot) {
            spans.push(Span {
                text: shard as u32,
                start,
                end,
                run: part.run.contains(slot),
            });
            if labeled {
                labels.push(part.label(slot));
            }
        }
    }
    (Names::new(texts, spans), labels)
}

impl Inventory {
    /// Runs `plan` over every shard: counts always; names (shouldRun and keep together, in
    /// name order after `after`, at most `limit`) unless `limit` is 0.
    pub fn evaluate(&self, plan: &Plan, after: Option<&str>, limit: usize) -> Evaluation {
        self.evaluate_labeled(plan, after, limit, None)
    }

    /// [`Inventory::evaluate`], and with `label` each answered node's value of that label
    /// (`labels` and `label_values`), read from the records while their shard is locked
    /// anyway: a rollout's topology domains without a lookup per name.
    ///
    /// Names: a shard with few candidates names them from their records (copied); a larger
    /// part is taken under its lock with the shard's name order (sorted if a node joined
    /// since it was last needed; a part small next to its shard uses the order only if it
    /// is there, else its names are copied). A large answer is then one walk over the
    /// inventory's merged order (merged again only after a node joined); a small one merges
    /// the shards' runs.
    pub fn evaluate_labeled(
        &self,
        plan: &Plan,
        after: Option<&str>,
        limit: usize,
        label: Option<&str>,
    ) -> Evaluation {
        let mut out = Evaluation {
            revision: self.revision(),
            label_values: label.map(|_| vec![String::new()]).unwrap_or_default(),
            ..Evaluation::default()
        };
        // Label value → its number; `""` is 0. Allocated only when a label is asked for.
        let mut value_index: FastMap<String, u32> = FastMap::default();
        if label.is_some() {
            value_index.insert(String::new(), 0);
        }
        // One more than a page tells whether another page follows.
        let want = limit.saturating_add(1);
        let mut parts: Vec<Part> = Vec::with_capacity(self.shards.len());
        // Names of parts without an order, copied while their shard is locked.
        let mut copied = Gathered {
            labeled: label.is_some(),
            ..Gathered::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.read();
            out.total += shard.len();
            let base = plan.base(&shard);
            if limit == 0 {
                // Counts: a few candidates are decided by their own taints, more by the
                // shard's taint sets.
                match base.as_ref().filter(|b| b.len() <= DIRECT_COUNT) {
                    Some(few) => {
                        for slot in few {
                            let (run, keep) = plan.slot_verdict(&shard, slot);
                            out.should_run += usize::from(run);
                            out.keep += usize::from(keep);
                        }
                    }
                    None => {
                        let (run, keep) = plan.shard_sets(&shard, base).counts(&shard);
                        out.should_run += run as usize;
                        out.keep += keep as usize;
                    }
                }
                continue;
            }
            // Each slot's label value, numbered among all values of the answer.
            let mut labels = || {
                label.map(|key| {
                    shard.label_by_slot(key, |value| {
                        *value_index.entry(value.to_owned()).or_insert_with(|| {
                            out.label_values.push(value.to_owned());
                            (out.label_values.len() - 1) as u32
                        })
                    })
                })
            };
            if let Some(base) = base.as_ref().filter(|b| shard.is_small(b)) {
                // A few candidates (a selective query): each is decided by its own taints and
                // named from its record, which both are read anyway; no set is built. The
                // part has no order, so the answer is merged from the shards' runs.
                let part = Part {
                    order: None,
                    run: RoaringBitmap::new(),
                    either: RoaringBitmap::new(),
                    labels: labels(),
                };
                let start = copied.keys.len();
                for slot in base {
                    let (run, keep) = plan.slot_verdict(&shard, slot);
                    out.should_run += usize::from(run);
                    out.keep += usize::from(keep);
                    if let Some(name) = shard.name_of(slot).filter(|_| run || keep)
                        && after.is_none_or(|a| &**name > a)
                    {
                        copied.push_owned(name, run, part.label(slot));
                    }
                }
                copied.end_run(start, want);
                parts.push(part);
                continue;
            }
            let labels = labels();
            let sets = plan.shard_sets(&shard, base);
            let (run, keep) = sets.into_sets(&shard);
            out.should_run += run.len() as usize;
            out.keep += keep.len() as usize;
            let either = &run | &keep;
            let order = if shard.is_small(&either) {
                shard.cached_name_order()
            } else {
                Some(shard.name_order())
            };
            let part = Part {
                order,
                run,
                either,
                labels,
            };
            if part.order.is_none() {
                copied.reserve((part.either.len() as usize).min(want));
                shard.names_in_order(&part.either, after, want, |name, slot| {
                    copied.push_owned(name, part.run.contains(slot), part.label(slot));
                    true
                });
                copied.run_ends.push(copied.keys.len());
            }
            parts.push(part);
        }
        if limit == 0 {
            return out;
        }
        let gathering: usize = parts
            .iter()
            .map(|p| (p.either.len() as usize).min(want))
            .sum();
        let merged = (gathering > MERGE_AT_MOST)
            .then(|| self.merged_order(&parts))
            .flatten();
        let (mut names, labels) = match merged {
            Some(merged) => walk_merged(&merged, &parts, after, want, label.is_some()),
            None => {
                let mut gathered = copied;
                for part in &parts {
                    if let Some(order) = &part.order {
                        gathered.reserve((part.either.len() as usize).min(want));
                        gathered.take_from(part, order, after, want);
                    }
                }
                gathered.merge(want)
            }
        };
        if names.len() > limit {
            names.truncate(limit);
            out.next_after = names.last().map(|(name, _)| name.to_owned());
        }
        if label.is_some() {
            out.labels = labels;
            out.labels.truncate(names.len());
        }
        out.names = names;
        out
    }

    /// The merged name order of `parts`' shard orders: the cached one if it was built from
    /// exactly these, else built now. `None` when some shard has no order.
    fn merged_order(&self, parts: &[Part]) -> Option<Arc<MergedOrder>> {
        let orders: Vec<&Arc<NameOrder>> = parts
            .iter()
            .map(|p| p.order.as_ref())
            .collect::<Option<_>>()?;
        let mut cached = self.merged_names.lock();
        if let Some(m) = cached.as_ref().filter(|m| m.matches(&orders)) {
            return Some(m.clone());
        }
        let merged = Arc::new(MergedOrder::build(orders.into_iter().cloned().collect()));
        *cached = Some(merged.clone());
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Node;
    use crate::domain::placement::TolerationOperator;
    use crate::domain::predicate::should_run;
    use crate::fleet::{self, FleetSpec, Mutation, Rng};

    /// `(name, shouldRun)` of every Run or Keep node, by name, from the records.
    fn oracle(inv: &Inventory, p: &PodPlacement) -> Vec<(String, bool)> {
        inv.scan_nodes(|_| true)
            .into_iter()
            .filter_map(|n| {
                let v = should_run(&n, p);
                (v.should_run || v.should_continue_running).then_some((n.name, v.should_run))
            })
            .collect()
    }

    /// Every page of `plan` at `limit`, concatenated, checking counts on each.
    fn paged(inv: &Inventory, plan: &Plan, limit: usize) -> Vec<(String, bool)> {
        let (mut out, mut after) = (Vec::new(), None::<String>);
        loop {
            let page = inv.evaluate(plan, after.as_deref(), limit);
            assert!(page.names.len() <= limit);
            assert!(page.names.len() + out.len() <= page.should_run + page.keep);
            out.extend(page.names.iter().map(|(n, r)| (n.to_owned(), r)));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return out,
            }
        }
    }

    /// Large answers walk the merged name order, pages start inside it, small parts use
    /// cached shard orders, and every one of them follows nodes joining, leaving and
    /// changing labels: each answer equals the oracle after every round of churn.
    #[test]
    fn name_orders_follow_membership_churn() {
        let pool: Vec<Node> = fleet::generate(&FleetSpec::nodes(7_000));
        let inv = Inventory::new(4);
        inv.upsert_nodes(&pool[..6_000]);
        let itype = "node.kubernetes.io/instance-type";
        let everywhere = PodPlacement {
            tolerations: vec![Toleration {
                key: String::new(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: None,
                toleration_seconds: None,
            }],
            ..PodPlacement::default()
        };
        let selective = PodPlacement {
            node_selector: [(itype.to_owned(), pool[0].labels[itype].clone())].into(),
            ..PodPlacement::default()
        };
        let one = PodPlacement {
            node_name: pool[17].name.clone(),
            ..PodPlacement::default()
        };
        let placements = [PodPlacement::default(), everywhere, selective, one];
        let mut rng = Rng::new(7);
        let mut next_new = 6_000;
        for round in 0..6 {
            for p in &placements {
                let plan = Plan::compile(p);
                let want = oracle(&inv, p);
                for limit in [usize::MAX, 2_500, 100, 7] {
                    assert_eq!(
                        paged(&inv, &plan, limit),
                        want,
                        "round {round} limit {limit}"
                    );
                }
            }
            // Rounds alternate joins and departures, so each kind of change alone must
            // drop the orders; label and taint changes come with both.
            for _ in 0..40 {
                if round % 2 == 0 {
                    inv.upsert_node(&pool[next_new]);
                    next_new += 1;
                } else {
                    inv.delete_node(&pool[rng.below(next_new as u64) as usize].name);
                }
                let mut changed = pool[rng.below(next_new as u64) as usize].clone();
                if inv.get_node(&changed.name).is_some() {
                    fleet::mutate(&mut changed, Mutation::LabelValue, &mut rng);
                    fleet::mutate(&mut changed, Mutation::TaintAdd, &mut rng);
                    inv.upsert_node(&changed);
                }
            }
        }
    }
}
