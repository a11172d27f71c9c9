//! No input can panic the server: random, hostile and undecodable requests to every RPC,
//! after which the server must still answer correctly.

use bytes::{Buf, BufMut};
use dsched::grpc::pb;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::support::*;

/// Strings that have broken parsers before: empty, huge, non-ASCII, control bytes,
/// separators, numbers at their limits.
const NASTY: &[&str] = &[
    "",
    " ",
    "a",
    "-",
    ".",
    "/",
    "a/b/c",
    "🦀",
    "ключ",
    "\0",
    "\u{202e}x",
    "%",
    "%%",
    "1e999",
    "9223372036854775808",
    "-9223372036854775809",
    "(",
    ")",
    "in",
    "!",
    "!=",
    "==",
    ",,",
    "a=b",
    "x in (",
    "Gi",
    "1Ei",
    "99999999999999999999999999999E",
    "-0",
    "00",
    "NoSchedule",
];

fn nasty(rng: &mut SmallRng) -> String {
    match rng.random_range(0..10) {
        0 => "x".repeat(rng.random_range(0..100_000)),
        1 => (0..rng.random_range(0..40))
            .map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('?'))
            .collect(),
        _ => NASTY[rng.random_range(0..NASTY.len())].to_owned(),
    }
}

fn nasty_map(rng: &mut SmallRng) -> std::collections::BTreeMap<String, String> {
    (0..rng.random_range(0..4))
        .map(|_| (nasty(rng), nasty(rng)))
        .collect()
}

fn nasty_time(rng: &mut SmallRng) -> Option<prost_types::Timestamp> {
    rng.random_bool(0.5).then(|| prost_types::Timestamp {
        seconds: [i64::MIN, -1, 0, i64::MAX][rng.random_range(0..4)],
        nanos: [i32::MIN, -1, 0, 999_999_999, 1_000_000_000, i32::MAX][rng.random_range(0..6)],
    })
}

fn nasty_node(rng: &mut SmallRng) -> pb::Node {
    pb::Node {
        name: nasty(rng),
        labels: nasty_map(rng),
        taints: (0..rng.random_range(0..3))
            .map(|_| pb::Taint {
                key: nasty(rng),
                value: nasty(rng),
                effect: nasty(rng),
                time_added: nasty_time(rng),
            })
            .collect(),
        unschedulable: rng.random(),
        allocatable: nasty_map(rng),
        requested: nasty_map(rng),
        conditions: vec![pb::NodeCondition {
            r#type: nasty(rng),
            status: nasty(rng),
        }],
        generation: rng.random(),
        revision: rng.random(),
    }
}

fn nasty_pod(rng: &mut SmallRng) -> pb::DaemonPod {
    pb::DaemonPod {
        namespace: nasty(rng),
        daemonset: nasty(rng),
        name: nasty(rng),
        node: nasty(rng),
        revision_hash: nasty(rng),
        ready: rng.random(),
        ready_since: nasty_time(rng),
        created: nasty_time(rng),
        deleting: rng.random(),
        phase: nasty(rng),
        generation: rng.random(),
        unscheduled: rng.random(),
    }
}

#[tokio::test]
async fn random_and_hostile_requests_never_break_the_server() {
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut rng = SmallRng::seed_from_u64(0xD5C4ED);
    let mut stream = SyncStream::open(&mut client).await;
    for batch_id in 0..300u64 {
        let req = pb::SyncRequest {
            batch_id,
            upsert_nodes: (0..rng.random_range(0..4))
                .map(|_| nasty_node(&mut rng))
                .collect(),
            delete_nodes: (0..rng.random_range(0..2))
                .map(|_| nasty(&mut rng))
                .collect(),
            upsert_pods: (0..rng.random_range(0..3))
                .map(|_| nasty_pod(&mut rng))
                .collect(),
            delete_pods: vec![pb::PodRef {
                namespace: nasty(&mut rng),
                daemonset: nasty(&mut rng),
                name: nasty(&mut rng),
            }],
            // Never RESYNC_END here: that ends the stream by design.
            resync: [0, 1, 3, -7][rng.random_range(0..4)],
        };
        let ack = stream.batch(req).await;
        assert_eq!(ack.batch_id, batch_id);
        let selector = nasty(&mut rng);
        let answer = client
            .list_nodes(pb::ListNodesRequest {
                label_selector: selector.clone(),
                limit: rng.random(),
                page_token: nasty(&mut rng),
            })
            .await;
        if let Err(status) = answer {
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "selector {selector:?}: {status:?}"
            );
        }
        if let Err(status) = client
            .get_node(pb::GetNodeRequest {
                name: nasty(&mut rng),
            })
            .await
        {
            assert!(
                matches!(status.code(), Code::InvalidArgument | Code::NotFound),
                "{status:?}"
            );
        }
    }
    stream.close().await;
    // Still healthy and correct afterwards.
    let mut stream = SyncStream::open(&mut client).await;
    assert_eq!(
        stream
            .batch(upsert(1, vec![node("after", &[("ok", "yes")])]))
            .await
            .applied,
        1
    );
    assert_eq!(list_names(&mut client, "ok=yes").await, ["after"]);
}

/// Sends raw bytes as a message, whatever the method expects.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

#[tokio::test]
async fn undecodable_bytes_get_an_error_not_a_crash() {
    let server = TestServer::start().await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    let mut rng = SmallRng::seed_from_u64(7);
    for method in [
        "/dsched.v1.Inventory/GetNode",
        "/dsched.v1.Inventory/ListNodes",
    ] {
        for _ in 0..50 {
            let garbage: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
            grpc.ready().await.expect("ready");
            let path = http::uri::PathAndQuery::from_static(method);
            let result = grpc
                .unary::<Vec<u8>, Vec<u8>, _>(tonic::Request::new(garbage.clone()), path, RawCodec)
                .await;
            if let Err(status) = result {
                assert!(
                    matches!(
                        status.code(),
                        Code::Internal | Code::InvalidArgument | Code::NotFound
                    ),
                    "{method} {garbage:?}: {status:?}"
                );
            }
        }
    }
    let mut client = server.inventory().await;
    assert!(
        list_names(&mut client, "").await.is_empty(),
        "still answering"
    );
}
