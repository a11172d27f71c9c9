//! The load generator against a real server on 127.0.0.1:0: seeding through the public API
//! gives the state the scenarios and ghz configs expect, every scenario runs without a
//! non-OK status, writers with resyncs churn the inventory without losing anything, and the
//! report reads back in ghz's shape.

use std::sync::Arc;
use std::time::Duration;

use dsched::domain::placement::PodPlacement;
use dsched::domain::predicate::should_run;
use dsched::grpc::pb;
use dsched::grpc::pb::placement_client::PlacementClient;
use dsched::grpc::pb::rollout_client::RolloutClient;
use dsched::local_server::LocalServer;
use dsched_loadtest::driver::{self, LoadSpec};
use dsched_loadtest::report::GhzReport;
use dsched_loadtest::scenario::Scenario;
use dsched_loadtest::seed::{self, SeedSpec};
use dsched_loadtest::writers::{self, WriteSpec, WriterFleet};
use tokio::sync::watch;
use tonic::Code;
use tonic::transport::Channel;

/// A local server and one channel to it.
async fn start() -> (LocalServer, Channel) {
    let server = LocalServer::start_default().await.expect("server");
    let channel = dsched_loadtest::connect(&server.url(), 1)
        .await
        .expect("connect")
        .remove(0);
    (server, channel)
}

fn selective_count(nodes: &[dsched::domain::Node]) -> usize {
    let (key, value) = seed::SELECTIVE_LABEL;
    let placement = PodPlacement {
        node_selector: [(key.to_owned(), value.to_owned())].into(),
        ..PodPlacement::default()
    };
    nodes
        .iter()
        .filter(|n| should_run(n, &placement).should_run)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_then_every_scenario_then_writers_with_resyncs() {
    let (server, channel) = start().await;
    let spec = SeedSpec::nodes(1_500);
    let seeded = seed::seed(channel.clone(), &spec).await.expect("seed");
    assert_eq!(seeded.nodes.len(), 1_500);
    assert!(seeded.pods.len() > 1_300, "{} pods", seeded.pods.len());

    // The seeded state is what the scenarios and the ghz configs rely on.
    let mut placement = PlacementClient::new(channel.clone());
    let evaluated = count_only(&mut placement, seed::SELECTIVE).await;
    let want = selective_count(&seeded.nodes);
    assert!(want > 0, "the selective label exists in the fleet");
    assert_eq!(evaluated.should_run_count as usize, want);
    assert_eq!(evaluated.total_nodes, 1_500);
    let batch = RolloutClient::new(channel.clone())
        .next_batch(pb::NextBatchRequest {
            namespace: seed::NAMESPACE.to_owned(),
            name: seed::ROLLOUT.to_owned(),
            now: None,
        })
        .await
        .expect("next batch")
        .into_inner();
    assert!(!batch.complete, "the rollout is under way");
    assert_eq!(batch.target_revision_hash, seed::NEW_HASH);
    assert!(!batch.delete.is_empty(), "old pods are replaced");
    assert!(
        batch
            .delete
            .iter()
            .all(|d| d.revision_hash == seed::OLD_HASH)
    );

    // Seeding again with a smaller fleet leaves exactly that fleet (the listing is a resync).
    let smaller = seed::seed(channel.clone(), &SeedSpec::nodes(1_000))
        .await
        .expect("reseed");
    let evaluated = count_only(&mut placement, seed::BROAD).await;
    assert_eq!(evaluated.total_nodes, 1_000);

    // Every scenario, closed loop, with writers churning and resyncing underneath.
    let names: Arc<[String]> = smaller.names().into();
    let fleet = Arc::new(WriterFleet::new(
        smaller.nodes.clone(),
        smaller.pods.clone(),
    ));
    let (stop, stop_rx) = watch::channel(false);
    let writer_task = tokio::spawn(writers::run(
        channel.clone(),
        fleet,
        WriteSpec {
            writers: 3,
            rate: Some(3_000.0),
            batch: 100,
            window: 2,
            resync_every: Some(Duration::from_millis(300)),
            seed: 7,
        },
        stop_rx,
    ));
    let channels = dsched_loadtest::connect(&server.url(), 2)
        .await
        .expect("connect");
    for scenario in Scenario::ALL {
        let outcome =
            driver::run(&channels, scenario, names.clone(), &LoadSpec::closed(4, 40)).await;
        assert_eq!(outcome.count(), 40, "{scenario:?}");
        let failed: Vec<_> = outcome
            .samples
            .iter()
            .filter(|s| s.code != Code::Ok)
            .map(|s| (s.code, s.error.clone()))
            .collect();
        assert!(failed.is_empty(), "{scenario:?}: {failed:?}");
        let report = GhzReport::new(
            &scenario.name(),
            String::new(),
            serde_json::json!({}),
            &outcome,
            "normal",
        );
        assert_eq!(report.status_code_distribution.get("OK"), Some(&40));
        assert!(report.fastest <= report.average && report.average <= report.slowest);
    }
    // Let at least one resync finish under the writers before stopping.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = stop.send(true);
    let written = writer_task.await.expect("writers");
    assert!(written.resyncs >= 1, "{written:?}");
    assert_eq!(written.rejected, 0);
    assert_eq!(written.swept, 0, "a full relist sweeps nothing");
    assert!(written.applied > 0);
    assert_eq!(
        written.batches.errors(),
        0,
        "{:?}",
        written.batches.samples.iter().find(|s| s.code != Code::Ok)
    );

    // The open loop keeps to its schedule: 200 requests at 1,000/s take about 0.2 s.
    let open = LoadSpec {
        rps: Some(1_000.0),
        ..LoadSpec::closed(8, 200)
    };
    let outcome = driver::run(&channels, Scenario::Health, names.clone(), &open).await;
    assert_eq!((outcome.count(), outcome.errors()), (200, 0));
    assert!(
        outcome.elapsed >= Duration::from_millis(199),
        "started on schedule, not all at once: {:?}",
        outcome.elapsed
    );

    // The server's own figures come from its /metrics.
    let sample = dsched_loadtest::server_stats::scrape(
        &reqwest::Client::new(),
        &server.metrics_url(),
        std::time::Instant::now(),
    )
    .await
    .expect("scrape");
    let (rss, cpu, nodes) = (sample.resident_bytes, sample.cpu_seconds, sample.nodes);
    assert!(rss > 0.0 && cpu > 0.0);
    assert_eq!(nodes, 1_000.0);
    server
        .stop(std::time::Duration::from_secs(30))
        .await
        .expect("clean shutdown");
}

#[tokio::test]
async fn a_failing_call_is_counted_not_hidden() {
    let (server, _) = start().await;
    let channels = dsched_loadtest::connect(&server.url(), 1)
        .await
        .expect("connect");
    // Nothing is seeded: the DaemonSet is unknown, so every call is NOT_FOUND.
    let outcome = driver::run(
        &channels,
        Scenario::NextBatch,
        Arc::from(Vec::new()),
        &LoadSpec::closed(2, 10),
    )
    .await;
    assert_eq!((outcome.count(), outcome.errors()), (10, 10));
    let report = GhzReport::new(
        "x",
        String::new(),
        serde_json::json!({}),
        &outcome,
        "normal",
    );
    assert_eq!(report.status_code_distribution.get("NotFound"), Some(&10));
    assert_eq!(report.errors(), 10);
    server
        .stop(std::time::Duration::from_secs(30))
        .await
        .expect("clean shutdown");
}

/// `Evaluate` of a seeded DaemonSet, counts only.
async fn count_only(
    placement: &mut PlacementClient<tonic::transport::Channel>,
    name: &str,
) -> pb::EvaluateResponse {
    placement
        .evaluate(pb::EvaluateRequest {
            target: Some(pb::evaluate_request::Target::Daemonset(pb::DaemonSetRef {
                namespace: seed::NAMESPACE.to_owned(),
                name: name.to_owned(),
            })),
            count_only: true,
            ..pb::EvaluateRequest::default()
        })
        .await
        .expect("evaluate")
        .into_inner()
}
