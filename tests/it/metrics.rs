//! `GET /metrics`: the Prometheus text a scrape returns after real calls.
//!
//! The `metrics` recorder is process-global, shared by every test server in this binary, and
//! tests run in parallel. So counters are checked by how much they grew across this test's
//! own calls (at least what it did), and histograms and gauges by presence. The inventory
//! gauges are the exception: they are set from the scraped server's own inventory at scrape
//! time, so they are checked exactly (retrying a few scrapes in case another test's scrape
//! overwrites them in between).

use std::collections::BTreeMap;
use std::time::Duration;

use dsched::grpc::pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::*;

/// A parsed scrape: each sample's series (name and labels) and its value.
#[derive(Debug)]
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().ok()?,
                };
                Some((series.to_owned(), value))
            })
            .collect();
        Scrape { text, samples }
    }

    /// The sample's value; 0 when absent (a counter not yet incremented).
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.samples.contains_key(series)
    }

    fn has_type(&self, name: &str, kind: &str) -> bool {
        let line = format!("# TYPE {name} {kind}");
        self.text.lines().any(|l| l == line)
    }
}

/// `GET http://{addr}{path}` → (status, content-type, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::get(format!("http://{addr}{path}")),
    )
    .await
    .expect("metrics answer within 10 s")
    .expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    (status, content_type, body)
}

async fn scrape(server: &TestServer) -> Scrape {
    let (status, content_type, body) = get(server.metrics_addr, "/metrics").await;
    assert_eq!(status, 200, "GET /metrics: {body}");
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text format, got content-type {content_type:?}"
    );
    Scrape::parse(body)
}

fn requests(method: &str, code: &str) -> String {
    format!(
        "dsched_grpc_requests_total{{method=\"/dsched.v1.Inventory/{method}\",code=\"{code}\"}}"
    )
}

fn items(outcome: &str) -> String {
    format!("dsched_sync_items_total{{outcome=\"{outcome}\"}}")
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_describe_the_inventory() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let before = scrape(&server).await;

    // A Sync with a rejection, a stale upsert, pods and a resync that sweeps one node.
    let mut stream = SyncStream::open(&mut client).await;
    let mut bad = node("bad-node", &[]);
    bad.taints = vec![taint("dedicated", "db", "NoScheduled")];
    let mut first = upsert(
        1,
        vec![
            pb::Node {
                generation: 10,
                ..node("worker-a", &[("topology.kubernetes.io/zone", "us-east-1a")])
            },
            bad,
            node("worker-b", &[("topology.kubernetes.io/zone", "us-east-1b")]),
            node("worker-c", &[("topology.kubernetes.io/zone", "us-east-1b")]),
        ],
    );
    first.upsert_pods = vec![pod("node-exporter", "node-exporter-a", "worker-a")];
    let ack = stream.batch(first).await;
    assert_eq!((ack.applied, ack.rejected.len()), (4, 1), "{ack:?}");

    let during = scrape(&server).await;
    assert!(
        during.value("dsched_sync_open_streams") >= 1.0,
        "an open Sync stream is counted:\n{}",
        during.text
    );

    let mut stale = upsert(
        2,
        vec![
            pb::Node {
                generation: 9,
                ..node("worker-a", &[])
            },
            node("worker-b", &[("topology.kubernetes.io/zone", "us-east-1b")]),
        ],
    );
    stale.resync = pb::Resync::Begin as i32;
    stale.upsert_pods = vec![pod("node-exporter", "node-exporter-a", "worker-a")];
    let ack = stream.batch(stale).await;
    assert_eq!((ack.stale, ack.unchanged), (1, 2), "{ack:?}");
    let end = pb::SyncRequest {
        batch_id: 3,
        resync: pb::Resync::End as i32,
        ..Default::default()
    };
    let ack = stream.batch(end).await;
    assert_eq!(ack.swept, 1, "worker-c was not relisted: {ack:?}");
    let revision = ack.revision;
    stream.close().await;

    // Queries: a ListNodes, a GetNode of an unknown node, a health check.
    let page = client
        .list_nodes(pb::ListNodesRequest {
            label_selector: "topology.kubernetes.io/zone".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.nodes.len(), 2);
    let status = client
        .get_node(pb::GetNodeRequest {
            name: "no-such-node".into(),
        })
        .await
        .expect_err("unknown node");
    assert_eq!(status.code(), Code::NotFound);
    let health = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let after = scrape(&server).await;
    let grew = |series: &str, by: f64| {
        let (was, is) = (before.value(series), after.value(series));
        assert!(
            is - was >= by,
            "{series} should grow by at least {by}: {was} → {is}\n{}",
            after.text
        );
    };

    // Per-method request counts by status code.
    grew(&requests("Sync", "Ok"), 1.0);
    grew(&requests("ListNodes", "Ok"), 1.0);
    grew(&requests("GetNode", "NotFound"), 1.0);
    grew(
        "dsched_grpc_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"Ok\"}",
        1.0,
    );
    assert!(after.has_type("dsched_grpc_requests_total", "counter"));

    // Latency histograms per method, with the configured buckets.
    assert!(after.has_type("dsched_grpc_request_duration_seconds", "histogram"));
    for method in ["GetNode", "ListNodes", "Sync"] {
        let labels = format!("method=\"/dsched.v1.Inventory/{method}\"");
        for le in ["0.00005", "0.001", "0.1", "1", "10", "+Inf"] {
            let bucket =
                format!("dsched_grpc_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}");
            assert!(after.has(&bucket), "missing {bucket}\n{}", after.text);
        }
        grew(
            &format!("dsched_grpc_request_duration_seconds_count{{{labels}}}"),
            1.0,
        );
        assert!(after.has(&format!(
            "dsched_grpc_request_duration_seconds_sum{{{labels}}}"
        )));
        let inf = format!("dsched_grpc_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}");
        assert_eq!(
            after.value(&inf),
            after.value(&format!(
                "dsched_grpc_request_duration_seconds_count{{{labels}}}"
            )),
            "the +Inf bucket counts every call"
        );
    }

    // Sync batches, items by outcome, rejections, stale upserts, sweeps, open streams.
    grew("dsched_sync_batches_total", 3.0);
    grew(&items("applied"), 4.0);
    grew(&items("unchanged"), 2.0);
    grew(&items("stale"), 1.0);
    grew(&items("rejected"), 1.0);
    grew("dsched_sync_rejections_total", 1.0);
    grew("dsched_sync_stale_total", 1.0);
    grew("dsched_sync_swept_total", 1.0);
    for (name, kind) in [
        ("dsched_sync_batches_total", "counter"),
        ("dsched_sync_items_total", "counter"),
        ("dsched_sync_rejections_total", "counter"),
        ("dsched_sync_stale_total", "counter"),
        ("dsched_sync_swept_total", "counter"),
        ("dsched_sync_open_streams", "gauge"),
        ("dsched_inventory_nodes", "gauge"),
        ("dsched_inventory_pods", "gauge"),
        ("dsched_inventory_revision", "gauge"),
    ] {
        assert!(
            after.has_type(name, kind),
            "missing # TYPE {name} {kind}\n{}",
            after.text
        );
    }
    assert!(after.has("dsched_sync_open_streams"));
    // The process metrics operators and load tests read memory and CPU from.
    if cfg!(target_os = "linux") {
        assert!(after.value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(after.value("process_cpu_seconds_total") > 0.0);
        assert!(after.value("process_threads") >= 1.0);
        assert!(after.value("process_open_fds") >= 3.0);
    }

    // The inventory gauges describe the scraped server: worker-a and worker-b, one pod, and
    // the revision of the last ack.
    let want = [
        ("dsched_inventory_nodes", 2.0),
        ("dsched_inventory_pods", 1.0),
        ("dsched_inventory_revision", revision as f64),
    ];
    let mut last = after;
    for attempt in 0..5 {
        if want.iter().all(|(series, v)| last.value(series) == *v) {
            break;
        }
        assert!(
            attempt < 4,
            "inventory gauges should be {want:?}, got {:?}",
            want.map(|(series, _)| (series, last.value(series)))
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = scrape(&server).await;
    }
}

#[tokio::test]
async fn only_metrics_is_served() {
    let server = TestServer::start().await;
    for path in ["/other", "/", "/metrics/extra"] {
        let (status, _, body) = get(server.metrics_addr, path).await;
        assert_eq!(status, 404, "GET {path}: {body}");
    }
    let (status, _, _) = get(server.metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
}
