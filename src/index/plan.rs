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
    /// Required node affinity terms (empty and unparsable ones dropped: they match
    /// nothing); `None` when there is no required affinity.
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
            // A term that would not parse upstream never matches (the lazy selector skips
            // it); the API rejects such terms, but the index agrees with the domain anyway.
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
        let mut base = match &self.node_name {
            Some(name) => shard.slot_of(name).into_iter().collect(),
            None => shard.all().clone(),
        };
        if !base.is_empty() && !self.selector.is_empty() {
            base &= shard.eval_requirements(&self.selector);
        }
        if let Some(terms) = &self.terms
            && !base.is_empty()
        {
            let mut any = RoaringBitmap::new();
            for term in terms {
                any |= term_set(shard, term);
            }
            base &= any;
        }
        let (mut no_schedule, mut no_execute) = (RoaringBitmap::new(), RoaringBitmap::new());
        if !base.is_empty() {
            for (taint, nodes) in shard.taints() {
                match taint.effect {
                    TaintEffect::PreferNoSchedule => {}
                    _ if self.tolerated(&taint) => {}
                    TaintEffect::NoSchedule => no_schedule |= nodes,
                    TaintEffect::NoExecute => no_execute |= nodes,
                }
            }
        }
        let run = &(&base - &no_schedule) - &no_execute;
        let keep = &(&base & &no_schedule) - &no_execute;
        (run, keep)
    }
}

/// Nodes of `shard` matching one (non-empty) term.
fn term_set(shard: &Shard, term: &NodeSelectorTerm) -> RoaringBitmap {
    let mut set = shard.eval_requirements(&term.match_expressions);
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
        let mut found: Vec<(Arc<str>, bool)> = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            let (run, keep) = plan.run_shard(&shard);
            out.should_run += run.len() as usize;
            out.keep += keep.len() as usize;
            out.total += shard.len();
            if limit > 0 {
                let either = &run | &keep;
                // One more than a page tells whether another page follows.
                for (name, slot) in shard.names_in_order(&either, after, limit.saturating_add(1)) {
                    found.push((name, run.contains(slot)));
                }
            }
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if found.len() > limit {
            found.truncate(limit);
            out.next_after = found.last().map(|(name, _)| name.to_string());
        }
        out.names = found;
        out
    }
}
