//! Placement on the index: a `PodPlacement` compiled once into a plan, then run per shard as
//! bitmap algebra under the shard's read lock.
//!
//! Per shard: `base` = nodeSelector sets ∧ (OR over required terms of (AND of expression
//! sets ∧ field sets)); then the untolerated `NoSchedule` and `NoExecute` taint sets, each
//! distinct taint decided once against the tolerations (user's plus the DaemonSet
//! defaults). `shouldRun = base − NoSchedule − NoExecute` and
//! `keep = (base ∧ NoSchedule) − NoExecute` (semantics §1.1 steps 3–5). `PreferNoSchedule`
//! never excludes; cordon, conditions and resources are not consulted. The brute-force
//! oracle is `domain::predicate::should_run` over `Inventory::scan_nodes`.

use std::sync::Arc;

use roaring::RoaringBitmap;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use super::Inventory;
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

    fn tolerated(&self, key: &str, value: &str, effect: TaintEffect) -> bool {
        self.tolerations
            .iter()
            .any(|t| t.tolerates_parts(key, value, effect, false))
    }

    /// The candidates of one shard and its untolerated taint sets.
    fn shard_sets(&self, shard: &Shard) -> ShardSets {
        // `None` stands for every node of the shard, so it is never cloned for nothing.
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
            if !effect.affects_placement()
                || (few && sets.base.as_ref().is_some_and(|b| b.is_disjoint(nodes)))
                || self.tolerated(key, value, effect)
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
    pub names: Vec<(Arc<str>, bool)>,
    /// The last name of this page when more follow.
    pub next_after: Option<String>,
    /// With [`Inventory::evaluate_labeled`]: per name of `names`, its value of the label,
    /// as an index into `label_values` (index 0 is `""`: no such label).
    pub labels: Vec<u32>,
    pub label_values: Vec<String>,
}

/// One answered name before the merge: its first 16 bytes (big-endian, so it orders like the
/// name), the name, whether it is shouldRun, and its label value's index.
type Entry = (u128, Arc<str>, bool, u32);

impl Inventory {
    /// Runs `plan` over every shard: counts always; names (shouldRun and keep together, in
    /// name order after `after`, at most `limit`) unless `limit` is 0.
    pub fn evaluate(&self, plan: &Plan, after: Option<&str>, limit: usize) -> Evaluation {
        self.evaluate_labeled(plan, after, limit, None)
    }

    /// [`Inventory::evaluate`], and with `label` each answered node's value of that label
    /// (`labels` and `label_values`), read from the records while their shard is locked
    /// anyway: a rollout's topology domains without a lookup per name.
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
        let mut runs: Vec<Vec<Entry>> = Vec::new();
        let prefix = |name: &str| {
            let mut b = [0u8; 16];
            let n = name.len().min(16);
            b[..n].copy_from_slice(&name.as_bytes()[..n]);
            u128::from_be_bytes(b)
        };
        for shard in self.shards.iter() {
            let shard = shard.read();
            let sets = plan.shard_sets(&shard);
            out.total += shard.len();
            if limit == 0 {
                let (run, keep) = sets.counts(&shard);
                out.should_run += run as usize;
                out.keep += keep as usize;
                continue;
            }
            let (run, keep) = sets.into_sets(&shard);
            out.should_run += run.len() as usize;
            out.keep += keep.len() as usize;
            let either = &run | &keep;
            // Each slot's label value, numbered among all values of the answer.
            let by_slot = label.map(|key| {
                shard.label_by_slot(key, |value| {
                    *value_index.entry(value.to_owned()).or_insert_with(|| {
                        out.label_values.push(value.to_owned());
                        (out.label_values.len() - 1) as u32
                    })
                })
            });
            let label_of = |slot: u32| -> u32 {
                by_slot
                    .as_ref()
                    .and_then(|b| b.get(slot as usize).copied())
                    .unwrap_or(0)
            };
            // One more than a page tells whether another page follows.
            let names: Vec<Entry> = shard
                .names_in_order(&either, after, limit.saturating_add(1))
                .into_iter()
                .map(|(name, slot)| (prefix(&name), name, run.contains(slot), label_of(slot)))
                .collect();
            if !names.is_empty() {
                runs.push(names);
            }
        }
        let mut found = merge_runs(runs, limit.saturating_add(1));
        if found.len() > limit {
            found.truncate(limit);
            out.next_after = found.last().map(|(name, _, _)| name.to_string());
        }
        if label.is_some() {
            out.labels = found.iter().map(|&(_, _, l)| l).collect();
        }
        out.names = found
            .into_iter()
            .map(|(name, run, _)| (name, run))
            .collect();
        out
    }
}

/// The first `want` names of the shards' sorted `runs`, in order, each with its shouldRun
/// flag. Each entry's `u128` is its name's first 16 bytes, big-endian, so most comparisons
/// never touch the strings.
///
/// When most of the candidates are wanted (a page as large as the answer), the runs are
/// concatenated and stably sorted: the sort finds the sorted runs and merges them with one
/// comparison per element and level. When a page is a small part of them, a heap holding one
/// name per shard stops after `want` names.
fn merge_runs(mut runs: Vec<Vec<Entry>>, want: usize) -> Vec<(Arc<str>, bool, u32)> {
    let candidates: usize = runs.iter().map(Vec::len).sum();
    let order = |a: &Entry, b: &Entry| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1));
    if candidates <= want.saturating_mul(2) {
        let mut all: Vec<Entry> = Vec::with_capacity(candidates);
        for run in runs {
            all.extend(run);
        }
        all.sort_by(order);
        all.truncate(want);
        return all
            .into_iter()
            .map(|(_, name, run, label)| (name, run, label))
            .collect();
    }
    let mut found = Vec::with_capacity(want.min(candidates));
    let mut iters: Vec<_> = runs.drain(..).map(Vec::into_iter).collect();
    let mut heap = std::collections::BinaryHeap::new();
    for (i, r) in iters.iter_mut().enumerate() {
        if let Some((p, name, run, label)) = r.next() {
            heap.push(std::cmp::Reverse((p, name, i, run, label)));
        }
    }
    while let Some(std::cmp::Reverse((_, name, i, run, label))) = heap.pop() {
        found.push((name, run, label));
        if found.len() >= want {
            break;
        }
        if let Some((p, name, run, label)) = iters[i].next() {
            heap.push(std::cmp::Reverse((p, name, i, run, label)));
        }
    }
    found
}
