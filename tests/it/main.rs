//! The integration test binary: real servers on 127.0.0.1:0, driven over gRPC.

mod support;

mod conformance_placement;
mod conformance_rollout;
mod conformance_validation;
mod inventory_model;
mod inventory_nodes;
mod inventory_sync;
mod placement_model;
mod robustness;

// README examples and the /metrics scrape.
mod metrics;
mod readme;
