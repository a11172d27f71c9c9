//! The integration test binary: real servers on 127.0.0.1:0, driven over gRPC.

mod k8s_json;
mod support;

mod binary;
mod cli;
mod conformance_placement;
mod conformance_rollout;
mod conformance_validation;
mod daemonsets_api;
mod examples;
mod inventory_model;
mod inventory_nodes;
mod inventory_sync;
mod placement_api;
mod placement_model;
mod reflection;
mod robustness;
mod rollout_api;
mod rollout_sim;

// README examples and the /metrics scrape.
mod metrics;
mod readme;
