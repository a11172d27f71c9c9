//! `Inventory.Sync` over real gRPC: every promise of the API contract.

use std::time::Duration;

use dsched::grpc::pb;
use tonic::Code;

use crate::support::*;

fn resync(batch_id: u64, mark: pb::Resync, nodes: Vec<pb::Node>) -> pb::SyncRequest {
    pb::SyncRequest {
        resync: mark as i32,
        ..upsert(batch_id, nodes)
    }
}

#[tokio::test]
async fn acks_come_one_per_batch_in_order_with_counts() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    // Pipelined: all five batches are in flight before the first ack is read.
    for id in 1..=5u64 {
        let nodes = (0..id).map(|i| node(&format!("n{id}-{i}"), &[])).collect();
        stream.send(upsert(100 + id, nodes)).await;
    }
    let mut last_revision = 0;
    for id in 1..=5u64 {
        let ack = stream.recv().await.expect("ack").expect("not closed");
        assert_eq!(ack.batch_id, 100 + id, "acks in request order");
        assert_eq!(ack.applied, id as u32, "batch {id} applies {id} nodes");
        assert!(
            ack.revision >= last_revision + id,
            "revision grows per change"
        );
        last_revision = ack.revision;
    }
    stream.close().await;
}

#[tokio::test]
async fn an_acked_batch_is_visible_to_queries_on_another_connection() {
    let server = TestServer::start().await;
    let mut writer = server.inventory().await;
    let mut reader = server.inventory().await;
    let mut stream = SyncStream::open(&mut writer).await;
    for i in 0..50 {
        let name = format!("node-{i:03}");
        let ack = stream
            .batch(upsert(i, vec![node(&name, &[("round", &i.to_string())])]))
            .await;
        let got = reader
            .get_node(pb::GetNodeRequest { name: name.clone() })
            .await
            .expect("an acked node is visible at once")
            .into_inner();
        assert_eq!(got.labels["round"], i.to_string());
        assert!(got.revision <= ack.revision);
        let page = reader
            .list_nodes(pb::ListNodesRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert!(
            page.revision >= ack.revision,
            "answers carry a revision >= the ack"
        );
        assert_eq!(page.total, i as u32 + 1);
    }
    stream.close().await;
}

#[tokio::test]
async fn invalid_items_are_rejected_with_field_paths_and_the_rest_applies() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let mut nodes: Vec<pb::Node> = (0..7)
        .map(|i| node(&format!("ok-{i}"), &[("zone", "a")]))
        .collect();
    // Three invalid nodes at positions 1, 4 and 8.
    nodes.insert(1, node("Bad_Name", &[]));
    let mut bad_taint = node("bad-taint", &[]);
    bad_taint.taints = vec![
        taint("dedicated", "gpu", "NoSchedule"),
        taint("x", "", "Sometimes"),
    ];
    nodes.insert(4, bad_taint);
    nodes.insert(8, node("bad-label", &[("zone", "-a-")]));
    let ack = stream.batch(upsert(1, nodes)).await;
    assert_eq!(ack.applied, 7);
    let got: Vec<(u32, &str, &str, &str)> = ack
        .rejected
        .iter()
        .map(|r| (r.index, r.kind.as_str(), r.name.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "Node", "Bad_Name", "upsertNodes[1].name"),
            (4, "Node", "bad-taint", "upsertNodes[4].taints[1].effect"),
            (8, "Node", "bad-label", "upsertNodes[8].labels"),
        ]
    );
    assert!(
        ack.rejected[1].reason.contains(
            r#"unsupported value "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#
        ),
        "reason: {}",
        ack.rejected[1].reason
    );
    assert_eq!(
        list_names(&mut client, "").await.len(),
        7,
        "only valid nodes stored"
    );
    // The stream stays open after rejections.
    let ack = stream.batch(upsert(2, vec![node("ok-7", &[])])).await;
    assert_eq!(ack.applied, 1);
    stream.close().await;
}

#[tokio::test]
async fn every_node_and_pod_field_is_validated() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let with = |f: &dyn Fn(&mut pb::Node)| {
        let mut n = node("n", &[]);
        f(&mut n);
        n
    };
    let cases: Vec<(&str, pb::Node, &str)> = vec![
        (
            "empty name",
            with(&|n| n.name.clear()),
            "upsertNodes[0].name",
        ),
        (
            "label key",
            with(&|n| {
                n.labels.insert("a/b/c".into(), "x".into());
            }),
            "upsertNodes[0].labels",
        ),
        (
            "taint key",
            with(&|n| n.taints = vec![taint("", "v", "NoSchedule")]),
            "upsertNodes[0].taints[0].key",
        ),
        (
            "taint value",
            with(&|n| n.taints = vec![taint("k", "a b", "NoSchedule")]),
            "upsertNodes[0].taints[0].value",
        ),
        (
            "taint effect",
            with(&|n| n.taints = vec![taint("k", "v", "")]),
            "upsertNodes[0].taints[0].effect",
        ),
        (
            "duplicate taint",
            with(&|n| {
                n.taints = vec![taint("k", "a", "NoSchedule"), taint("k", "b", "NoSchedule")]
            }),
            "upsertNodes[0].taints[1]",
        ),
        (
            "quantity",
            with(&|n| {
                n.allocatable.insert("memory".into(), "1KB".into());
            }),
            "upsertNodes[0].allocatable[memory]",
        ),
        (
            "negative quantity",
            with(&|n| {
                n.requested.insert("cpu".into(), "-1".into());
            }),
            "upsertNodes[0].requested[cpu]",
        ),
    ];
    for (i, (what, node, field)) in cases.into_iter().enumerate() {
        let ack = stream.batch(upsert(i as u64, vec![node])).await;
        assert_eq!(ack.rejected.len(), 1, "{what}: {ack:?}");
        assert_eq!(ack.rejected[0].field, field, "{what}");
        assert_eq!(ack.applied, 0, "{what}");
    }
    // Same key with two effects is fine.
    let ok =
        with(&|n| n.taints = vec![taint("k", "a", "NoSchedule"), taint("k", "a", "NoExecute")]);
    assert_eq!(stream.batch(upsert(90, vec![ok])).await.applied, 1);

    let bad_pods: Vec<(pb::DaemonPod, &str)> = vec![
        (
            pb::DaemonPod {
                name: String::new(),
                ..pod("ds", "x", "n")
            },
            "upsertPods[0].name",
        ),
        (
            pb::DaemonPod {
                daemonset: "DS".into(),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].daemonset",
        ),
        (
            pb::DaemonPod {
                namespace: "Kube_System".into(),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].namespace",
        ),
        (
            pb::DaemonPod {
                node: String::new(),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].node",
        ),
        (
            pb::DaemonPod {
                phase: "Exploded".into(),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].phase",
        ),
        (
            pb::DaemonPod {
                revision_hash: "no spaces".into(),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].revisionHash",
        ),
        (
            pb::DaemonPod {
                created: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: -5,
                }),
                ..pod("ds", "p", "n")
            },
            "upsertPods[0].created.nanos",
        ),
    ];
    for (i, (p, field)) in bad_pods.into_iter().enumerate() {
        let req = pb::SyncRequest {
            batch_id: 100 + i as u64,
            upsert_pods: vec![p],
            ..Default::default()
        };
        let ack = stream.batch(req).await;
        assert_eq!(ack.rejected.len(), 1, "{field}: {ack:?}");
        assert_eq!(ack.rejected[0].field, field);
        assert_eq!(ack.rejected[0].kind, "DaemonPod");
    }
    let req = pb::SyncRequest {
        batch_id: 200,
        delete_nodes: vec!["ok".into(), "NOT OK".into()],
        delete_pods: vec![pb::PodRef {
            namespace: String::new(),
            daemonset: "ds".into(),
            name: "Bad Name".into(),
        }],
        ..Default::default()
    };
    let ack = stream.batch(req).await;
    let fields: Vec<&str> = ack.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(fields, ["deleteNodes[1]", "deletePods[0].name"]);
    assert_eq!(ack.unchanged, 1, "deleting an absent node changes nothing");
    stream.close().await;
}

#[tokio::test]
async fn resync_sweeps_nodes_and_pods_not_listed() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let nodes = (0..6).map(|i| node(&format!("n{i}"), &[])).collect();
    stream.batch(upsert(1, nodes)).await;
    let pods = pb::SyncRequest {
        batch_id: 2,
        upsert_pods: vec![pod("agent", "agent-0", "n0"), pod("agent", "agent-1", "n1")],
        ..Default::default()
    };
    assert_eq!(stream.batch(pods).await.applied, 2);

    // The listing spans three batches; n4, n5 and agent-1 are not in it.
    let begin = stream
        .batch(resync(
            3,
            pb::Resync::Begin,
            vec![node("n0", &[]), node("n1", &[])],
        ))
        .await;
    assert_eq!((begin.unchanged, begin.swept), (2, 0));
    let mid = pb::SyncRequest {
        upsert_pods: vec![pod("agent", "agent-0", "n0")],
        ..upsert(4, vec![node("n2", &[])])
    };
    stream.batch(mid).await;
    let end = stream
        .batch(resync(
            5,
            pb::Resync::End,
            vec![node("n3", &[]), node("n9", &[])],
        ))
        .await;
    assert_eq!(
        end.applied, 1,
        "the END batch applies its own items first (n9)"
    );
    assert_eq!(end.swept, 3, "n4, n5 and agent-1 swept");
    assert_eq!(
        list_names(&mut client, "").await,
        ["n0", "n1", "n2", "n3", "n9"]
    );

    // Pods are visible through DaemonSets.Delete later; here: the inventory count.
    // A second resync on the same stream works again.
    stream.batch(resync(6, pb::Resync::Begin, vec![])).await;
    let end = stream
        .batch(resync(7, pb::Resync::End, vec![node("n0", &[])]))
        .await;
    assert_eq!(end.swept, 5, "n1, n2, n3, n9 and agent-0");
    assert_eq!(list_names(&mut client, "").await, ["n0"]);
    stream.close().await;
}

#[tokio::test]
async fn a_second_begin_restarts_the_resync() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    stream
        .batch(upsert(1, vec![node("a", &[]), node("b", &[])]))
        .await;
    stream
        .batch(resync(2, pb::Resync::Begin, vec![node("a", &[])]))
        .await;
    // Restart: "a" was seen before the restart, so now it is swept unless sent again.
    stream
        .batch(resync(3, pb::Resync::Begin, vec![node("b", &[])]))
        .await;
    let end = stream.batch(resync(4, pb::Resync::End, vec![])).await;
    assert_eq!(end.swept, 1);
    assert_eq!(list_names(&mut client, "").await, ["b"]);
    stream.close().await;
}

#[tokio::test]
async fn upserts_from_other_streams_during_a_resync_are_kept() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut a = SyncStream::open(&mut client).await;
    let mut b = SyncStream::open(&mut client).await;
    a.batch(upsert(1, vec![node("old", &[]), node("shared", &[])]))
        .await;
    a.batch(resync(2, pb::Resync::Begin, vec![])).await;
    b.batch(upsert(
        1,
        vec![node("from-b", &[]), node("shared", &[("v", "2")])],
    ))
    .await;
    let end = a.batch(resync(3, pb::Resync::End, vec![])).await;
    assert_eq!(
        end.swept, 1,
        "only 'old' was upserted by no stream since BEGIN"
    );
    assert_eq!(list_names(&mut client, "").await, ["from-b", "shared"]);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_stream_dropped_mid_resync_sweeps_nothing() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut setup = SyncStream::open(&mut client).await;
    let nodes = (0..5).map(|i| node(&format!("n{i}"), &[])).collect();
    setup.batch(upsert(1, nodes)).await;
    setup.close().await;

    let mut stream = SyncStream::open(&mut client).await;
    stream
        .batch(resync(1, pb::Resync::Begin, vec![node("n0", &[])]))
        .await;
    drop(stream); // cancelled: no RESYNC_END
    // Another stream can still end its own resync without touching the dropped one's.
    let mut other = SyncStream::open(&mut client).await;
    let status = other.batch_err(resync(2, pb::Resync::End, vec![])).await;
    assert_code(
        &status,
        Code::FailedPrecondition,
        "RESYNC_END without an open RESYNC_BEGIN",
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(list_names(&mut client, "").await.len(), 5, "nothing swept");
}

#[tokio::test]
async fn resync_end_without_begin_fails_and_applies_nothing() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let status = stream
        .batch_err(resync(7, pb::Resync::End, vec![node("a", &[])]))
        .await;
    assert_code(&status, Code::FailedPrecondition, "batch 7");
    assert!(
        list_names(&mut client, "").await.is_empty(),
        "the batch's items are not applied"
    );
}

#[tokio::test]
async fn stale_generations_are_ignored() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let versioned = |generation: u64, zone: &str| pb::Node {
        generation,
        ..node("n", &[("zone", zone)])
    };
    assert_eq!(
        stream
            .batch(upsert(1, vec![versioned(5, "a")]))
            .await
            .applied,
        1
    );
    let ack = stream.batch(upsert(2, vec![versioned(4, "b")])).await;
    assert_eq!((ack.applied, ack.stale), (0, 1));
    let ack = stream.batch(upsert(3, vec![versioned(5, "a")])).await;
    assert_eq!(ack.unchanged, 1, "same generation, same content");
    let ack = stream.batch(upsert(4, vec![versioned(0, "c")])).await;
    assert_eq!(ack.applied, 1, "generation 0 always applies");
    let ack = stream.batch(upsert(5, vec![versioned(3, "d")])).await;
    assert_eq!(
        ack.stale, 1,
        "generation 0 did not move the stored generation back"
    );
    let got = client
        .get_node(pb::GetNodeRequest { name: "n".into() })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((got.labels["zone"].as_str(), got.generation), ("c", 5));

    // Pods follow the same rule.
    let gen_pod = |generation: u64, ready: bool| pb::SyncRequest {
        batch_id: 9,
        upsert_pods: vec![pb::DaemonPod {
            generation,
            ready,
            ..pod("ds", "p", "n")
        }],
        ..Default::default()
    };
    assert_eq!(stream.batch(gen_pod(3, true)).await.applied, 1);
    assert_eq!(stream.batch(gen_pod(2, false)).await.stale, 1);
    assert_eq!(stream.batch(gen_pod(3, true)).await.unchanged, 1);
    stream.close().await;
}

#[tokio::test]
async fn two_writer_streams_at_once() {
    let server = TestServer::start().await;
    let mut handles = Vec::new();
    for writer in 0..2 {
        let mut client = server.inventory().await;
        handles.push(tokio::spawn(async move {
            let mut stream = SyncStream::open(&mut client).await;
            for batch in 0..50u64 {
                let nodes = (0..20)
                    .map(|i| {
                        node(
                            &format!("w{writer}-{batch}-{i}"),
                            &[("writer", &writer.to_string())],
                        )
                    })
                    .collect();
                let ack = stream.batch(upsert(batch, nodes)).await;
                assert_eq!((ack.batch_id, ack.applied), (batch, 20));
            }
            stream.close().await;
        }));
    }
    for h in handles {
        h.await.expect("writer");
    }
    let mut client = server.inventory().await;
    assert_eq!(list_names(&mut client, "writer=0").await.len(), 1000);
    assert_eq!(list_names(&mut client, "writer=1").await.len(), 1000);
    assert_eq!(list_names(&mut client, "").await.len(), 2000);
}

#[tokio::test]
async fn an_oversized_message_is_resource_exhausted() {
    let server = TestServer::start_with(&[("max-message-bytes", "4096")]).await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let labels: Vec<(String, String)> = (0..200)
        .map(|i| (format!("key-{i}"), format!("value-{i}")))
        .collect();
    let big = pb::Node {
        labels: labels.into_iter().collect(),
        ..node("big", &[])
    };
    let status = stream.batch_err(upsert(1, vec![big])).await;
    assert_code(&status, Code::ResourceExhausted, "max message size");
    assert!(
        status.message().contains("4096"),
        "names the limit: {}",
        status.message()
    );
    // The server is still fine for everyone else.
    let mut stream = SyncStream::open(&mut client).await;
    assert_eq!(
        stream
            .batch(upsert(2, vec![node("small", &[])]))
            .await
            .applied,
        1
    );
    // A unary call over the limit gets the same code.
    let status = client
        .list_nodes(pb::ListNodesRequest {
            label_selector: "x in (".to_owned() + &"v,".repeat(3000) + "v)",
            ..Default::default()
        })
        .await
        .expect_err("too large");
    assert_code(&status, Code::ResourceExhausted, "4096");
}

#[tokio::test]
async fn gzip_requests_are_accepted() {
    let server = TestServer::start().await;
    let mut client = server
        .inventory()
        .await
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut stream = SyncStream::open(&mut client).await;
    let nodes = (0..100)
        .map(|i| node(&format!("n{i}"), &[("zone", "us-east-1a")]))
        .collect();
    assert_eq!(stream.batch(upsert(1, nodes)).await.applied, 100);
    assert_eq!(list_names(&mut client, "zone=us-east-1a").await.len(), 100);
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_reports_not_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

    let mut server =
        TestServer::start_with(&[("shutdown-delay", "1s"), ("drain-deadline", "5s")]).await;
    let channel = server.channel().await;
    let mut health = HealthClient::new(channel.clone());
    let check = |mut h: HealthClient<tonic::transport::Channel>| async move {
        h.check(HealthCheckRequest {
            service: "dsched.v1.Inventory".into(),
        })
        .await
        .map(|r| r.into_inner().status)
    };
    assert_eq!(
        check(health.clone()).await.expect("check"),
        ServingStatus::Serving as i32
    );
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("watch").expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    stream
        .batch(resync(1, pb::Resync::Begin, vec![node("a", &[])]))
        .await;

    server.begin_shutdown();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a health update")
        .expect("watch")
        .expect("status");
    assert_eq!(
        next.status,
        ServingStatus::NotServing as i32,
        "NOT_SERVING as soon as shutdown begins"
    );
    let status = stream.recv().await.expect_err("the stream ends");
    assert_code(&status, Code::Unavailable, "shutting down");
    drop(watch);
    drop(channel);
    server.stop().await.expect("clean exit");
}

#[tokio::test]
async fn the_drain_deadline_bounds_shutdown() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let server = TestServer::start_with(&[("drain-deadline", "300ms")]).await;
    // A health watch never ends on its own: only the deadline can close it.
    let mut health = HealthClient::new(server.channel().await);
    let _watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch");
    let started = std::time::Instant::now();
    server.stop().await.expect("exit after the deadline");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "exited at the drain deadline"
    );
}

/// With one HTTP/2 stream allowed per connection, an open `Sync` stream holds the
/// connection's only slot: a second call on it waits (it is not refused) until the stream
/// ends, then completes.
#[tokio::test]
async fn the_per_connection_stream_limit_queues_calls() {
    let server = TestServer::start_with(&[("max-concurrent-streams", "1")]).await;
    let channel = server.channel().await;
    let mut client = dsched::grpc::pb::inventory_client::InventoryClient::new(channel.clone());
    let mut stream = SyncStream::open(&mut client).await;
    stream.batch(upsert(1, vec![node("a", &[])])).await;

    let mut other = dsched::grpc::pb::inventory_client::InventoryClient::new(channel);
    let waiting = tokio::spawn(async move {
        other
            .get_node(pb::GetNodeRequest { name: "a".into() })
            .await
            .map(|r| r.into_inner().name)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second stream waits for the first"
    );
    stream.close().await;
    let name = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("completes once the slot is free")
        .expect("join")
        .expect("get node");
    assert_eq!(name, "a");
}
