//! Logs and metrics: the tracing subscriber, the Prometheus recorder, every metric name, and
//! the small HTTP server that exposes `/metrics`.
//!
//! Domain and index code never record metrics; the edges (gRPC layers and handlers) call the
//! `record_*` functions here with the outcomes they got back.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::index::Inventory;
use crate::index::sync::BatchOutcome;

pub const GRPC_REQUESTS: &str = "dsched_grpc_requests_total";
pub const GRPC_DURATION: &str = "dsched_grpc_request_duration_seconds";
pub const GRPC_SHED: &str = "dsched_grpc_shed_total";
pub const NODES: &str = "dsched_inventory_nodes";
pub const PODS: &str = "dsched_inventory_pods";
pub const REVISION: &str = "dsched_inventory_revision";
pub const SYNC_BATCHES: &str = "dsched_sync_batches_total";
pub const SYNC_ITEMS: &str = "dsched_sync_items_total";
pub const SYNC_REJECTIONS: &str = "dsched_sync_rejections_total";
pub const SYNC_STALE: &str = "dsched_sync_stale_total";
pub const SYNC_SWEPT: &str = "dsched_sync_swept_total";
pub const SYNC_OPEN_STREAMS: &str = "dsched_sync_open_streams";
pub const ROLLOUT_BATCHES: &str = "dsched_rollout_batches_total";
pub const ROLLOUT_CREATES: &str = "dsched_rollout_creates_total";
pub const ROLLOUT_DELETES: &str = "dsched_rollout_deletes_total";
pub const ROLLOUT_COMPLETE: &str = "dsched_rollout_complete_total";
pub const PLACEMENT_NAMES: &str = "dsched_placement_result_names";
pub const PLACEMENT_SHOULD_RUN: &str = "dsched_placement_should_run_nodes";
pub const PLACEMENT_KEEP: &str = "dsched_placement_keep_nodes";

/// Latency buckets in seconds: 50 µs to 10 s.
/// Result-size buckets (nodes): 0 to 100,000.
const SIZE_BUCKETS: &[f64] = &[
    0.0, 1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0, 100_000.0,
];

const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber; later calls do nothing.
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus recorder. The `metrics` facade has one global recorder, so
/// several servers in one process (the integration tests) share it.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Prefix("dsched_placement_".into()), SIZE_BUCKETS)
            })
            .expect("bucket lists are non-empty constants");
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (an embedding program's): keep a private one so
            // /metrics still renders, even though the facade writes elsewhere.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Records one finished RPC.
pub fn record_rpc(method: &str, code: tonic::Code, elapsed: Duration) {
    let code = format!("{code:?}");
    metrics::counter!(GRPC_REQUESTS, "method" => method.to_owned(), "code" => code).increment(1);
    metrics::histogram!(GRPC_DURATION, "method" => method.to_owned()).record(elapsed.as_secs_f64());
}

pub fn record_shed(method: &str) {
    metrics::counter!(GRPC_SHED, "method" => method.to_owned()).increment(1);
}

/// Records one applied `Sync` batch and its invalid items.
pub fn record_sync_batch(outcome: &BatchOutcome, rejected: usize) {
    metrics::counter!(SYNC_BATCHES).increment(1);
    for (label, n) in [
        ("applied", outcome.applied),
        ("unchanged", outcome.unchanged),
        ("stale", outcome.stale),
    ] {
        metrics::counter!(SYNC_ITEMS, "outcome" => label).increment(u64::from(n));
    }
    metrics::counter!(SYNC_ITEMS, "outcome" => "rejected").increment(rejected as u64);
    metrics::counter!(SYNC_REJECTIONS).increment(rejected as u64);
    metrics::counter!(SYNC_STALE).increment(u64::from(outcome.stale));
    metrics::counter!(SYNC_SWEPT).increment(u64::from(outcome.swept));
}

/// Records the size of one placement answer: names returned on the page, and the
/// shouldRun and keep counts over the whole inventory. (Query counts and latency per
/// method come from the edge layer.)
pub fn record_evaluation(names: usize, should_run: usize, keep: usize) {
    metrics::histogram!(PLACEMENT_NAMES).record(names as f64);
    metrics::histogram!(PLACEMENT_SHOULD_RUN).record(should_run as f64);
    metrics::histogram!(PLACEMENT_KEEP).record(keep as f64);
}

/// Records one computed `NextBatch`: creates and deletes decided, and whether the rollout
/// was complete.
pub fn record_batch(creates: usize, deletes: usize, complete: bool) {
    metrics::counter!(ROLLOUT_BATCHES).increment(1);
    metrics::counter!(ROLLOUT_CREATES).increment(creates as u64);
    metrics::counter!(ROLLOUT_DELETES).increment(deletes as u64);
    if complete {
        metrics::counter!(ROLLOUT_COMPLETE).increment(1);
    }
}

/// Counts an open `Sync` stream until dropped.
#[derive(Debug)]
pub struct OpenStream(());

impl OpenStream {
    pub fn open() -> Self {
        metrics::gauge!(SYNC_OPEN_STREAMS).increment(1.0);
        OpenStream(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(SYNC_OPEN_STREAMS).decrement(1.0);
    }
}

/// Sets the inventory gauges; called at scrape time so they are never stale.
fn observe_inventory(inventory: &Inventory) {
    metrics::gauge!(NODES).set(inventory.node_count() as f64);
    metrics::gauge!(PODS).set(inventory.pod_count() as f64);
    metrics::gauge!(REVISION).set(inventory.revision() as f64);
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    inventory: std::sync::Arc<Inventory>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Response, StatusCode, service::service_fn};

    let handle = metrics_handle();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "metrics listener accept failed");
                    continue;
                }
            },
        };
        let inventory = inventory.clone();
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let response = if req.uri().path() == "/metrics" {
                observe_inventory(&inventory);
                Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(Full::new(Bytes::from(handle.render())))
            } else {
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Full::new(Bytes::from_static(b"not found: try /metrics\n")))
            };
            std::future::ready(response)
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%err, "metrics connection ended with an error");
            }
        });
    }
    upkeep.abort();
}
