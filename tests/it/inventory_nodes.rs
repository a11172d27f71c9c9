//! `Inventory.GetNode` and `Inventory.ListNodes` over real gRPC.

use dsched::grpc::pb;
use tonic::Code;

use crate::support::*;

async fn seeded() -> (
    TestServer,
    dsched::grpc::pb::inventory_client::InventoryClient<tonic::transport::Channel>,
) {
    let server = TestServer::start_with(&[("shards", "4")]).await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let nodes = vec![
        node(
            "cp-1",
            &[("node-role.kubernetes.io/control-plane", ""), ("zone", "a")],
        ),
        node(
            "worker-a1",
            &[("node-type", "worker"), ("zone", "a"), ("cpus", "8")],
        ),
        node(
            "worker-a2",
            &[
                ("node-type", "worker"),
                ("zone", "a"),
                ("cpus", "16"),
                ("tier", "db"),
            ],
        ),
        node(
            "worker-b1",
            &[("node-type", "worker"), ("zone", "b"), ("cpus", "032")],
        ),
        node(
            "gpu-c1",
            &[("node-type", "gpu"), ("zone", "c"), ("gpu", "true")],
        ),
        node("edge-1", &[("zone", "edge")]),
    ];
    stream.batch(upsert(1, nodes)).await;
    stream.close().await;
    (server, client)
}

#[tokio::test]
async fn get_node_round_trips_every_field() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    let sent = pb::Node {
        taints: vec![pb::Taint {
            time_added: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            ..taint("node.kubernetes.io/not-ready", "", "NoExecute")
        }],
        unschedulable: true,
        allocatable: [("cpu", "3920m"), ("memory", "15Gi"), ("pods", "110")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        requested: [("cpu".to_owned(), "250m".to_owned())]
            .into_iter()
            .collect(),
        conditions: vec![pb::NodeCondition {
            r#type: "Ready".into(),
            status: "False".into(),
        }],
        generation: 42,
        ..node("worker-1", &[("zone", "a"), ("empty", "")])
    };
    let ack = stream.batch(upsert(1, vec![sent.clone()])).await;
    let got = client
        .get_node(pb::GetNodeRequest {
            name: "worker-1".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        got,
        pb::Node {
            revision: ack.revision,
            ..sent
        }
    );
}

#[tokio::test]
async fn get_node_errors() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let status = client
        .get_node(pb::GetNodeRequest {
            name: "nope".into(),
        })
        .await
        .expect_err("absent");
    assert_code(&status, Code::NotFound, "nope");
    let status = client
        .get_node(pb::GetNodeRequest {
            name: "Not A Name".into(),
        })
        .await
        .expect_err("invalid");
    assert_code(&status, Code::InvalidArgument, "name: invalid value");
}

#[tokio::test]
async fn list_nodes_takes_kubectl_selectors() {
    let (_server, mut client) = seeded().await;
    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "cp-1",
                "edge-1",
                "gpu-c1",
                "worker-a1",
                "worker-a2",
                "worker-b1",
            ],
        ),
        ("node-type=worker", &["worker-a1", "worker-a2", "worker-b1"]),
        (
            "node-type==worker",
            &["worker-a1", "worker-a2", "worker-b1"],
        ),
        ("node-type!=worker", &["cp-1", "edge-1", "gpu-c1"]),
        (
            "zone in (a,b)",
            &["cp-1", "worker-a1", "worker-a2", "worker-b1"],
        ),
        ("zone notin (a, b)", &["edge-1", "gpu-c1"]),
        ("gpu", &["gpu-c1"]),
        (
            "!gpu",
            &["cp-1", "edge-1", "worker-a1", "worker-a2", "worker-b1"],
        ),
        ("node-role.kubernetes.io/control-plane", &["cp-1"]),
        (
            "node-type=worker,zone in (a,b),!gpu,tier!=db",
            &["worker-a1", "worker-b1"],
        ),
        ("cpus>10", &["worker-a2", "worker-b1"]),
        ("cpus<10", &["worker-a1"]),
        ("zone=nowhere", &[]),
    ];
    for (selector, want) in cases {
        let got = list_names(&mut client, selector).await;
        assert_eq!(&got, want, "selector {selector:?}");
    }
}

#[tokio::test]
async fn a_bad_selector_is_invalid_argument() {
    let (_server, mut client) = seeded().await;
    for bad in ["zone in (a", "a=b=c", "-x=y", "x in ()y", "a=!"] {
        let status = client
            .list_nodes(pb::ListNodesRequest {
                label_selector: bad.to_string(),
                ..Default::default()
            })
            .await
            .expect_err("invalid selector");
        assert_code(&status, Code::InvalidArgument, "labelSelector");
    }
}

#[tokio::test]
async fn pages_walk_names_in_order() {
    let (_server, mut client) = seeded().await;
    let mut token = String::new();
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_nodes(pb::ListNodesRequest {
                label_selector: String::new(),
                limit: 4,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total, 6, "total counts every match, not the page");
        pages.push(
            page.nodes
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>(),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        pages,
        vec![
            vec!["cp-1", "edge-1", "gpu-c1", "worker-a1"],
            vec!["worker-a2", "worker-b1"]
        ]
    );
    let status = client
        .list_nodes(pb::ListNodesRequest {
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_code(&status, Code::InvalidArgument, "pageToken");
}
