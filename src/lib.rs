//! dsched: DaemonSet scheduling decisions as a gRPC service.
//!
//! # Layout
//!
//! - [`domain`]: Kubernetes' rules as pure functions over plain data (validation, label
//!   selectors, quantities, nodes and pods). No transport, locks or metrics.
//! - [`index`]: the inventory — nodes in lock-sharded records with posting bitmaps per label
//!   key, key=value and taint; daemon pods; `Sync` sessions with resync mark-and-sweep.
//! - [`grpc`]: the only code that names tonic/prost types: conversions with validation, the
//!   service handlers, the edge layer (metrics, shedding), and the one error → status map.
//! - [`rollout_sync`]: one rollout sync of a registered DaemonSet — its listed nodes from
//!   the index, its pods matched to them, then the planner.
//! - [`server`]: wiring of services, reflection, health and graceful drain;
//!   [`local_server`] runs it in-process on 127.0.0.1 for tests and benchmarks.
//! - [`cli`]: the client subcommands (`apply`, `nodes sync`, `get`, `eval`, `explain`,
//!   `rollout`, `delete`): Kubernetes YAML/JSON in, kubectl-style answers out.
//! - [`config`], [`telemetry`]: flags and env vars; logs and metrics.
//!
//! Dependency direction: `main → server → grpc → rollout_sync → index → domain`, with
//! `registry` beside `index`.

pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod fleet;
pub mod grpc;
pub mod index;
pub mod local_server;
pub mod registry;
pub mod rollout_sync;
pub mod server;
pub mod telemetry;

pub use error::Error;

/// The global allocator (feature `mimalloc`, on by default): per-thread heaps, where
/// glibc's malloc made the server's worker threads wait on its arena locks under load
/// (see `loadtest/README.md`, "Third pass").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
