//! Test support: a real dsched server on 127.0.0.1:0 and small builders for requests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use dsched::config::ServeArgs;
use dsched::grpc::pb;
use dsched::grpc::pb::inventory_client::InventoryClient;
use dsched::local_server::LocalServer;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

/// A running server (`dsched::local_server`); stopped (and awaited) by
/// [`TestServer::stop`], aborted on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    server: LocalServer,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with `flags` (`("shards", "4")` → `--shards=4`) over the defaults.
    pub async fn start_with(flags: &[(&str, &str)]) -> Self {
        let config = ServeArgs::parse_from_env(
            flags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let server = LocalServer::start(config).await.expect("server starts");
        TestServer {
            addr: server.addr,
            metrics_addr: server.metrics_addr,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn inventory(&self) -> InventoryClient<Channel> {
        InventoryClient::new(self.channel().await)
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// Begins shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        self.server.begin_shutdown();
    }

    /// Shuts down and waits for `run` to return (at most 30 s).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop(Duration::from_secs(30)).await
    }
}

pub fn node(name: &str, labels: &[(&str, &str)]) -> pb::Node {
    pb::Node {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

pub fn taint(key: &str, value: &str, effect: &str) -> pb::Taint {
    pb::Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
        time_added: None,
    }
}

pub fn pod(ds: &str, name: &str, node: &str) -> pb::DaemonPod {
    pb::DaemonPod {
        namespace: "default".to_owned(),
        daemonset: ds.to_owned(),
        name: name.to_owned(),
        node: node.to_owned(),
        revision_hash: "v1".to_owned(),
        phase: "Running".to_owned(),
        ..Default::default()
    }
}

pub fn upsert(batch_id: u64, nodes: Vec<pb::Node>) -> pb::SyncRequest {
    pb::SyncRequest {
        batch_id,
        upsert_nodes: nodes,
        ..Default::default()
    }
}

/// One open `Sync` stream, driven request by request.
pub struct SyncStream {
    tx: Option<mpsc::Sender<pb::SyncRequest>>,
    rx: Streaming<pb::SyncResponse>,
}

impl SyncStream {
    pub async fn open(client: &mut InventoryClient<Channel>) -> Self {
        let (tx, rx) = mpsc::channel(64);
        let rx = client
            .sync(ReceiverStream::new(rx))
            .await
            .expect("open sync stream")
            .into_inner();
        SyncStream { tx: Some(tx), rx }
    }

    pub async fn send(&mut self, req: pb::SyncRequest) {
        self.tx
            .as_ref()
            .expect("stream open")
            .send(req)
            .await
            .expect("send");
    }

    pub async fn recv(&mut self) -> Result<Option<pb::SyncResponse>, Status> {
        tokio::time::timeout(Duration::from_secs(30), self.rx.message())
            .await
            .expect("a response within 30 s")
    }

    /// Sends one request and returns its acknowledgement.
    pub async fn batch(&mut self, req: pb::SyncRequest) -> pb::SyncResponse {
        self.send(req).await;
        self.recv()
            .await
            .expect("ack, not an error")
            .expect("ack, not end of stream")
    }

    /// Sends one request and returns the status that ends the stream.
    pub async fn batch_err(&mut self, req: pb::SyncRequest) -> Status {
        self.send(req).await;
        match self.recv().await {
            Err(status) => status,
            Ok(other) => panic!("want an error status, got {other:?}"),
        }
    }

    /// Closes the sending side (a clean end of stream) and waits for the server's end.
    pub async fn close(mut self) {
        self.tx.take();
        while let Ok(Some(_)) = self.recv().await {}
    }
}

/// Names of every node matching `selector`, following all pages.
pub async fn list_names(client: &mut InventoryClient<Channel>, selector: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_nodes(pb::ListNodesRequest {
                label_selector: selector.to_owned(),
                limit: 0,
                page_token: token,
            })
            .await
            .expect("list nodes")
            .into_inner();
        names.extend(page.nodes.into_iter().map(|n| n.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        token = page.next_page_token;
    }
}

pub fn assert_code(status: &Status, code: Code, contains: &str) {
    assert_eq!(status.code(), code, "status: {status:?}");
    assert!(
        status.message().contains(contains),
        "message {:?} should contain {contains:?}",
        status.message()
    );
}

/// The Kubernetes conformance cases (a copy of `shared/conformance/k8s-cases.json`).
pub fn k8s_cases() -> &'static [serde_json::Value] {
    static CASES: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/k8s-cases.json")).expect("fixture parses")
    })
}
