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

use super::Inventory;
use super::shard::Shard;
use crate::domain::affinity::term_parse_error;
use crate::domain::placement::{
    FieldRequirement, NODE_NAME_FIELD, NodeSelectorTerm, PodPlacement, Toleration,
};
use crate::domain::selector::{Operator, Requirement};
use crate::domain::toleration::daemon_tolerations;
use crate::domain::{Taint, TaintEffect};

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

    fn tolerated(&self, taint: &Taint) -> bool {
        self.tolerations.iter().any(|t| t.tolerates(taint, false))
    }

    /// `(shouldRun, keep)` sets of one shard.
    fn run_shard(&self, shard: &Shard) -> (RoaringBitmap, RoaringBitmap) {
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
        let mut base = base.unwrap_or_else(|| shard.all().clone());
        let (mut no_schedule, mut no_execute) = (RoaringBitmap::new(), RoaringBitmap::new());
        if !base.is_empty() {
            for (key, value, effect, nodes) in shard.taint_sets() {
                if !effect.affects_placement() || base.is_disjoint(nodes) {
                    continue;
                }
                let taint = Taint {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    effect,
                    time_added: None,
                };
                if self.tolerated(&taint) {
                    continue;
                }
                match effect {
                    TaintEffect::NoSchedule => no_schedule |= nodes,
                    _ => no_execute |= nodes,
                }
            }
        }
        if !no_execute.is_empty() {
            base -= &no_execute;
        }
        if no_schedule.is_empty() {
            return (base, RoaringBitmap::new());
        }
        let keep = &base & &no_schedule;
        base -= &no_schedule;
        (base, keep)
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
}

impl Inventory {
    /// Runs `plan` over every shard: counts always; names (shouldRun and keep together, in
    /// name order after `after`, at most `limit`) unless `limit` is 0.
    pub fn evaluate(&self, plan: &Plan, after: Option<&str>, limit: usize) -> Evaluation {
        let mut out = Evaluation {
            revision: self.revision(),
            ..Evaluation::default()
        };
        // Each shard answers its names in order; a k-way merge keeps the order without
        // comparing every name with every other (the heap holds one name per shard).
        let mut runs: Vec<std::vec::IntoIter<(u128, Arc<str>, bool)>> = Vec::new();
        // The first 16 bytes, big-endian: orders like the name itself, ties broken by it.
        let prefix = |name: &str| {
            let mut b = [0u8; 16];
            let n = name.len().min(16);
            b[..n].copy_from_slice(&name.as_bytes()[..n]);
            u128::from_be_bytes(b)
        };
        for shard in self.shards.iter() {
            let shard = shard.read();
            let (run, keep) = plan.run_shard(&shard);
            out.should_run += run.len() as usize;
            out.keep += keep.len() as usize;
            out.total += shard.len();
            if limit > 0 {
                let either = &run | &keep;
                // One more than a page tells whether another page follows.
                let names: Vec<(u128, Arc<str>, bool)> = shard
                    .names_in_order(&either, after, limit.saturating_add(1))
                    .into_iter()
                    .map(|(name, slot)| (prefix(&name), name, run.contains(slot)))
                    .collect();
                if !names.is_empty() {
                    runs.push(names.into_iter());
                }
            }
        }
        let mut found: Vec<(Arc<str>, bool)> = Vec::new();
        let mut heap = std::collections::BinaryHeap::new();
        for (i, r) in runs.iter_mut().enumerate() {
            if let Some((p, name, run)) = r.next() {
                heap.push(std::cmp::Reverse((p, name, i, run)));
            }
        }
        while let Some(std::cmp::Reverse((_, name, i, run))) = heap.pop() {
            found.push((name, run));
            if found.len() > limit {
                break;
            }
            if let Some((p, name, run)) = runs[i].next() {
                heap.push(std::cmp::Reverse((p, name, i, run)));
            }
        }
        if found.len() > limit {
            found.truncate(limit);
            out.next_after = found.last().map(|(name, _)| name.to_string());
        }
        out.names = found;
        out
    }
}
