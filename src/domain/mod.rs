//! Kubernetes' rules as pure functions and plain data.
//!
//! Nothing here knows about gRPC, protobuf, locks, async or metrics: the index, the registry
//! and the transport adapt to these types, never the other way round. Each module cites the
//! upstream code its rules come from (see `semantics.md`).

pub mod affinity;
pub mod daemonset;
pub mod node;
pub mod placement;
pub mod predicate;
pub mod quantity;
pub mod resources;
pub mod rollout;
pub mod selector;
pub mod toleration;
pub mod validate;

pub use node::{Condition, DaemonPod, Node, PodKey, PodPhase, Taint, Time};
pub use validate::TaintEffect;
