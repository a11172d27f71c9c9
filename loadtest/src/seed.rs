//! Seeding a server through its public API: a synthetic fleet over `Inventory.Sync`, three
//! DaemonSets over `DaemonSets.Apply`, and the pods of a rollout caught half-way.
//!
//! What gets seeded is a pure function of [`SeedSpec`]: the fleet comes from
//! `dsched::fleet` with the spec's seed, and the pods from [`rollout_pods`], so the ghz
//! configs in `loadtest/ghz/` can name nodes and DaemonSets that exist, and a writer can
//! re-send exactly what was seeded. The node listing runs as one resync, so seeding again
//! (with another size) leaves exactly the new fleet and its pods.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use dsched::domain::Node;
use dsched::domain::placement::PodPlacement;
use dsched::domain::predicate::should_run;
use dsched::fleet::{self, FleetSpec};
use dsched::grpc::pb;
use dsched::grpc::pb::daemon_sets_client::DaemonSetsClient;
use tonic::transport::Channel;

use crate::sync_stream::{Ack, SyncStream};

/// The namespace of every seeded DaemonSet.
pub const NAMESPACE: &str = "loadtest";
/// A DaemonSet on about 1 % of the fleet (one instance type).
pub const SELECTIVE: &str = "selective";
/// A DaemonSet with no selector: every node without an untolerated taint (about 96 %).
pub const BROAD: &str = "broad";
/// A broad DaemonSet whose rollout from `agent-v1` to `agent-v2` is under way.
pub const ROLLOUT: &str = "rollout";
/// The nodeSelector of [`SELECTIVE`].
pub const SELECTIVE_LABEL: (&str, &str) = ("node.kubernetes.io/instance-type", "im4gn.xlarge");
pub const OLD_HASH: &str = "agent-v1";
pub const NEW_HASH: &str = "agent-v2";

/// What to seed.
#[derive(Clone, Debug)]
pub struct SeedSpec {
    pub nodes: usize,
    pub seed: u64,
    /// Nodes per `Sync` batch.
    pub batch: usize,
    /// Percent of the rollout's pods already on `agent-v2`.
    pub updated_percent: u64,
}

impl SeedSpec {
    pub fn nodes(nodes: usize) -> Self {
        SeedSpec {
            nodes,
            seed: fleet::DEFAULT_SEED,
            batch: 1_000,
            updated_percent: 10,
        }
    }

    pub fn fleet(&self) -> FleetSpec {
        FleetSpec::nodes(self.nodes).with_seed(self.seed)
    }
}

/// The seeded state, as the load generator needs it afterwards.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// The fleet as sent (generation 0).
    pub nodes: Vec<Node>,
    pub pods: Vec<pb::DaemonPod>,
    /// The inventory revision of the last acknowledgement.
    pub revision: u64,
    pub elapsed: Duration,
}

impl Seeded {
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// The fleet of `spec` with generation 0 ("always apply"), so seeding again resets nodes a
/// writer has changed since.
pub fn fleet_nodes(spec: &SeedSpec) -> Vec<Node> {
    let mut nodes = fleet::generate(&spec.fleet());
    for node in &mut nodes {
        node.generation = 0;
    }
    nodes
}

/// The three DaemonSets; `rollout` at `agent-v1` or `agent-v2`.
pub fn daemonsets(rollout_updated: bool) -> Vec<pb::DaemonSet> {
    let requests: BTreeMap<String, String> = [("cpu", "100m"), ("memory", "128Mi")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let placement = |selector: Option<(&str, &str)>| pb::PodPlacement {
        node_selector: selector
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into_iter()
            .collect(),
        requests: requests.clone().into_iter().collect(),
        ..pb::PodPlacement::default()
    };
    let daemonset =
        |name: &str, selector, template: &str, hash: &str, max_unavailable: &str| pb::DaemonSet {
            namespace: NAMESPACE.to_owned(),
            name: name.to_owned(),
            placement: Some(placement(selector)),
            update_strategy: Some(pb::UpdateStrategy {
                r#type: "RollingUpdate".to_owned(),
                rolling_update: Some(pb::RollingUpdate {
                    max_unavailable: max_unavailable.to_owned(),
                    ..pb::RollingUpdate::default()
                }),
            }),
            template: template.to_owned(),
            revision_hash: hash.to_owned(),
            change_cause: "seeded by dsched-loadtest".to_owned(),
            ..pb::DaemonSet::default()
        };
    let (image, hash) = if rollout_updated {
        ("example.com/agent:v2", NEW_HASH)
    } else {
        ("example.com/agent:v1", OLD_HASH)
    };
    vec![
        daemonset(
            SELECTIVE,
            Some(SELECTIVE_LABEL),
            "containers:\n- name: probe\n  image: example.com/probe:v1\n",
            "",
            "",
        ),
        daemonset(
            BROAD,
            None,
            "containers:\n- name: logs\n  image: example.com/logs:v1\n",
            "",
            "",
        ),
        daemonset(
            ROLLOUT,
            None,
            &format!("containers:\n- name: agent\n  image: {image}\n"),
            hash,
            "10%",
        ),
    ]
}

/// The pods of [`ROLLOUT`]: one ready pod on every node that should run it, created two
/// hours before `now`; `updated_percent` of them (every node whose index modulo 100 is
/// below it) already on `agent-v2`.
pub fn rollout_pods(nodes: &[Node], updated_percent: u64, now: SystemTime) -> Vec<pb::DaemonPod> {
    let placement = PodPlacement::default();
    let created = timestamp(now - Duration::from_secs(2 * 3600));
    let ready_since = timestamp(now - Duration::from_secs(3600));
    nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| should_run(node, &placement).should_run)
        .map(|(i, node)| pb::DaemonPod {
            namespace: NAMESPACE.to_owned(),
            daemonset: ROLLOUT.to_owned(),
            name: format!("agent-{i}"),
            node: node.name.clone(),
            revision_hash: if (i as u64 % 100) < updated_percent {
                NEW_HASH
            } else {
                OLD_HASH
            }
            .to_owned(),
            ready: true,
            ready_since: Some(ready_since),
            created: Some(created),
            phase: "Running".to_owned(),
            ..pb::DaemonPod::default()
        })
        .collect()
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

/// Seeds `spec` into the server behind `channel`; fails on any rejected item.
pub async fn seed(channel: Channel, spec: &SeedSpec) -> anyhow::Result<Seeded> {
    let start = Instant::now();
    let mut client = DaemonSetsClient::new(channel.clone());
    for ds in daemonsets(false) {
        client
            .apply(pb::ApplyRequest {
                daemonset: Some(ds),
            })
            .await
            .context("DaemonSets.Apply")?;
    }
    let nodes = fleet_nodes(spec);
    let pods = rollout_pods(&nodes, spec.updated_percent, SystemTime::now());
    let revision = relist(channel.clone(), &nodes, &pods, spec.batch).await?;
    // The new revision last, so the rollout is under way.
    client
        .apply(pb::ApplyRequest {
            daemonset: daemonsets(true).pop(),
        })
        .await
        .context("DaemonSets.Apply")?;
    Ok(Seeded {
        nodes,
        pods,
        revision,
        elapsed: start.elapsed(),
    })
}

/// Lists `nodes` and `pods` as one resync on a new stream (`RESYNC_BEGIN` on the first
/// batch, `RESYNC_END` on the last), so anything else is swept; returns the last revision.
pub async fn relist(
    channel: Channel,
    nodes: &[Node],
    pods: &[pb::DaemonPod],
    batch: usize,
) -> anyhow::Result<u64> {
    let requests = resync_requests(
        nodes
            .chunks(batch.max(1))
            .map(|chunk| chunk.iter().map(fleet::to_pb).collect()),
        pods,
        batch,
    );
    let mut stream = SyncStream::open(channel, 8)
        .await
        .context("Inventory.Sync")?;
    let mut acks: Vec<Ack> = Vec::new();
    for request in requests {
        acks.extend(stream.send(request).await.context("Inventory.Sync")?);
    }
    acks.extend(stream.close().await.context("Inventory.Sync")?);
    let mut revision = 0;
    for ack in &acks {
        if let Some(r) = ack.response.rejected.first() {
            bail!(
                "the server rejected {} {:?}: {}: {}",
                r.kind,
                r.name,
                r.field,
                r.reason
            );
        }
        revision = revision.max(ack.response.revision);
    }
    Ok(revision)
}

/// The batches of one full listing: an empty `RESYNC_BEGIN` batch, the node batches, the
/// pods in batches of `4 × batch` (a pod is a quarter of a node's size on the wire), and an
/// empty `RESYNC_END` batch.
pub fn resync_requests(
    node_batches: impl Iterator<Item = Vec<pb::Node>>,
    pods: &[pb::DaemonPod],
    batch: usize,
) -> Vec<pb::SyncRequest> {
    let mark = |resync: pb::Resync| pb::SyncRequest {
        resync: resync as i32,
        ..pb::SyncRequest::default()
    };
    std::iter::once(mark(pb::Resync::Begin))
        .chain(node_batches.map(|upsert_nodes| pb::SyncRequest {
            upsert_nodes,
            ..pb::SyncRequest::default()
        }))
        .chain(pods.chunks(batch.max(1) * 4).map(|chunk| pb::SyncRequest {
            upsert_pods: chunk.to_vec(),
            ..pb::SyncRequest::default()
        }))
        .chain(std::iter::once(mark(pb::Resync::End)))
        .collect()
}
