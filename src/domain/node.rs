//! Nodes and daemon pods as the inventory stores them: validated, typed, transport-free.

use std::collections::BTreeMap;

use super::validate::TaintEffect;

/// A point in time: seconds and nanoseconds since the Unix epoch (a protobuf `Timestamp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    pub seconds: i64,
    pub nanos: i32,
}

impl Time {
    pub const fn from_seconds(seconds: i64) -> Self {
        Time { seconds, nanos: 0 }
    }
}

/// A node taint (core/v1 `Taint`). Two taints are the same taint when key and effect match
/// (`MatchTaint`); value and `time_added` are payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
    pub time_added: Option<Time>,
}

/// A node condition such as `Ready=True`. Informational only: placement never reads
/// conditions, the node lifecycle controller turns them into taints.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Condition {
    pub kind: String,
    pub status: String,
}

/// A node of the inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordon). DaemonSet placement ignores it (semantics §1.1).
    pub unschedulable: bool,
    /// Resource name → quantity text, validated as a Kubernetes quantity.
    pub allocatable: BTreeMap<String, String>,
    /// Requests of the non-daemon pods already on the node.
    pub requested: BTreeMap<String, String>,
    pub conditions: Vec<Condition>,
    /// The writer's ordering token; 0 always applies.
    pub generation: u64,
}

/// `status.phase` of a pod. An empty phase reads as `Pending`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub const SUPPORTED: [&'static str; 5] =
        ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            "Unknown" => PodPhase::Unknown,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }

    /// Succeeded and Failed pods never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// Identifies a daemon pod: namespace, DaemonSet name, pod name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    pub namespace: String,
    pub daemonset: String,
    pub name: String,
}

/// A pod of a registered DaemonSet, as the calling controller reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonPod {
    pub namespace: String,
    pub daemonset: String,
    pub name: String,
    /// The node the pod is bound or pinned to.
    pub node: String,
    pub revision_hash: String,
    pub ready: bool,
    /// The Ready condition's `lastTransitionTime`.
    pub ready_since: Option<Time>,
    pub created: Option<Time>,
    pub deleting: bool,
    pub phase: PodPhase,
    pub generation: u64,
    /// Not yet bound: pinned to `node` by affinity only (`spec.nodeName` empty).
    pub unscheduled: bool,
}

impl DaemonPod {
    pub fn key(&self) -> PodKey {
        PodKey {
            namespace: self.namespace.clone(),
            daemonset: self.daemonset.clone(),
            name: self.name.clone(),
        }
    }

    /// The same pod state, ignoring the writer's ordering token.
    pub fn same_state(&self, other: &DaemonPod) -> bool {
        DaemonPod {
            generation: 0,
            ..self.clone()
        } == DaemonPod {
            generation: 0,
            ..other.clone()
        }
    }
}

impl Node {
    /// The same node content, ignoring the writer's ordering token.
    pub fn same_content(&self, other: &Node) -> bool {
        self.name == other.name
            && self.labels == other.labels
            && self.taints == other.taints
            && self.unschedulable == other.unschedulable
            && self.allocatable == other.allocatable
            && self.requested == other.requested
            && self.conditions == other.conditions
    }
}
