//! The scheduling-relevant part of a DaemonSet's pod template, validated and typed.
//!
//! Types only live here; the rules over them are in `toleration` (taints and
//! tolerations), `affinity` (nodeSelector, node affinity, scores) and `predicate`
//! (`NodeShouldRunDaemonPod` and its explanation).

use std::collections::BTreeMap;

use super::selector::Requirement;
use super::validate::TaintEffect;

/// `metadata.name`, the only node field a `matchFields` requirement may name.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// A `matchFields` requirement. The API only admits key `metadata.name` with `In`/`NotIn`
/// and exactly one value; the type can hold anything so that upstream's lenient matching
/// of other shapes (semantics §3.4) can be expressed and tested.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    pub key: String,
    /// The operator as written (`In`, `NotIn`, or anything else, which never parses).
    pub operator: String,
    pub values: Vec<String>,
}

/// One `nodeSelectorTerms` entry: every expression and field requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<Requirement>,
    pub match_fields: Vec<FieldRequirement>,
}

impl NodeSelectorTerm {
    /// A term with no requirements, which upstream drops: it matches nothing.
    pub fn is_empty(&self) -> bool {
        self.match_expressions.is_empty() && self.match_fields.is_empty()
    }
}

/// A `preferredDuringSchedulingIgnoredDuringExecution` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreferredTerm {
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

/// Node affinity: the required terms (ORed; `None` = no requirement) and the preferred ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeAffinity {
    pub required: Option<Vec<NodeSelectorTerm>>,
    pub preferred: Vec<PreferredTerm>,
}

/// A toleration's operator. `Lt`/`Gt` are alpha upstream (behind a feature gate): the
/// domain can evaluate them, the API rejects them (decision 11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TolerationOperator {
    /// `""` or `"Equal"`.
    #[default]
    Equal,
    Exists,
    Lt,
    Gt,
}

impl TolerationOperator {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "Equal" => TolerationOperator::Equal,
            "Exists" => TolerationOperator::Exists,
            "Lt" => TolerationOperator::Lt,
            "Gt" => TolerationOperator::Gt,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TolerationOperator::Equal => "Equal",
            TolerationOperator::Exists => "Exists",
            TolerationOperator::Lt => "Lt",
            TolerationOperator::Gt => "Gt",
        }
    }
}

/// A pod toleration (core/v1 `Toleration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Empty matches every key (only valid with `Exists`).
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// `None` matches every effect.
    pub effect: Option<TaintEffect>,
    /// Only meaningful for `NoExecute`; plays no part in matching.
    pub toleration_seconds: Option<i64>,
}

/// The placement part of a DaemonSet's pod template spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodPlacement {
    /// `spec.nodeSelector`: each key must exist on the node with exactly that value.
    pub node_selector: BTreeMap<String, String>,
    pub affinity: NodeAffinity,
    /// The user's tolerations, as written; the DaemonSet defaults are added when placing.
    pub tolerations: Vec<Toleration>,
    /// Template `spec.nodeName`; empty = unset.
    pub node_name: String,
    /// Adds the `network-unavailable` default toleration.
    pub host_network: bool,
    /// Summed container requests (resource name → quantity text), for fit answers.
    pub requests: BTreeMap<String, String>,
    pub priority_class_name: String,
    pub priority: i32,
}
