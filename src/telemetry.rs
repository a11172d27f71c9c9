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
/// The standard process metrics of Prometheus' client libraries, so dashboards and load tests
/// read the server's memory and CPU from the same scrape as everything else.
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_THREADS: &str = "process_threads";

/// Result-size buckets (nodes): 0 to 100,000.
const SIZE_BUCKETS: &[f64] = &[
    0.0, 1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0, 100_000.0,
];

/// Latency buckets in seconds: 50 µs to 10 s.
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
    /// The three histograms, looked up once: a lookup by name hashes the key and searches
    /// the registry, which on the hottest query cost more than the recording.
    struct Sizes {
        names: metrics::Histogram,
        should_run: metrics::Histogram,
        keep: metrics::Histogram,
    }
    static SIZES: OnceLock<Sizes> = OnceLock::new();
    let sizes = SIZES.get_or_init(|| {
        // The recorder must be in place before handles are taken from it.
        metrics_handle();
        Sizes {
            names: metrics::histogram!(PLACEMENT_NAMES),
            should_run: metrics::histogram!(PLACEMENT_SHOULD_RUN),
            keep: metrics::histogram!(PLACEMENT_KEEP),
        }
    });
    sizes.names.record(names as f64);
    sizes.should_run.record(should_run as f64);
    sizes.keep.record(keep as f64);
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

/// Sets the process gauges from `/proc/self` (Linux); elsewhere they are simply absent.
fn observe_process() {
    if let Some(stats) = ProcessStats::read() {
        metrics::gauge!(PROCESS_RESIDENT_MEMORY).set(stats.resident_bytes as f64);
        metrics::gauge!(PROCESS_CPU_SECONDS).set(stats.cpu_seconds);
        metrics::gauge!(PROCESS_THREADS).set(stats.threads as f64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!(PROCESS_OPEN_FDS).set(fds.count() as f64);
    }
}

/// What `/proc/self/stat` says about this process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    /// User + system CPU time.
    pub cpu_seconds: f64,
    pub threads: u64,
}

impl ProcessStats {
    /// Reads `/proc/self/stat`; `None` where there is no procfs.
    pub fn read() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// Parses a `/proc/<pid>/stat` line (proc(5)). Fields are counted after the command
    /// name's closing parenthesis, since the name itself may contain spaces. Clock ticks and
    /// pages are the Linux defaults (100 Hz, 4 KiB) on every platform Rust targets with
    /// procfs; reading them properly would need libc.
    pub fn parse(stat: &str) -> Option<Self> {
        const TICKS_PER_SECOND: f64 = 100.0;
        const PAGE_BYTES: u64 = 4096;
        let rest = &stat[stat.rfind(')')? + 1..];
        // `rest` starts at field 3 (state); utime is field 14, stime 15, num_threads 20,
        // rss 24 (in pages).
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(ProcessStats {
            cpu_seconds: (field(14)? + field(15)?) as f64 / TICKS_PER_SECOND,
            threads: field(20)?,
            resident_bytes: field(24)? * PAGE_BYTES,
        })
    }
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
                observe_process();
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

#[cfg(test)]
mod tests {
    use super::ProcessStats;

    #[test]
    fn parses_proc_stat_even_with_spaces_and_parens_in_the_name() {
        // A real line (kernel 6.x) with the command name altered to contain ") (".
        let line = "4242 (tokio ) (rt) S 1 4242 4242 0 -1 4194560 2563 0 0 0 150 25 0 0 20 0 \
                    7 0 1234567 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 \
                    17 1 0 0 0 0 0";
        let stats = ProcessStats::parse(line).expect("parses");
        assert_eq!(stats.cpu_seconds, 1.75);
        assert_eq!(stats.threads, 7);
        assert_eq!(stats.resident_bytes, 2048 * 4096);
    }

    #[test]
    fn rejects_truncated_lines() {
        assert_eq!(ProcessStats::parse("1 (x) S 1 2 3"), None);
        assert_eq!(ProcessStats::parse(""), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read().expect("procfs");
        assert!(stats.resident_bytes > 0 && stats.threads >= 1);
    }
}
