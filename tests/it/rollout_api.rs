//! `dsched.v1.Rollout` over real gRPC: the API-visible rollout conformance cases (`sync`
//! through `NextBatch`, `status` through `Status`), then `NOT_FOUND`, determinism, every
//! `waiting_reason`, `complete`, rollback targets, every delete reason and the 250-per-call
//! caps.

use std::collections::{BTreeMap, BTreeSet};

use dsched::grpc::pb;
use dsched::grpc::pb::daemon_sets_client::DaemonSetsClient;
use dsched::grpc::pb::rollout_client::RolloutClient;
use prost_types::Timestamp;
use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::support::{SyncStream, TestServer, k8s_cases};

pub const NS: &str = "default";

// ---------------------------------------------------------------------------------------
// A server with its clients and one open Sync stream (shared with `rollout_sim`).
// ---------------------------------------------------------------------------------------

pub struct Api {
    pub daemonsets: DaemonSetsClient<Channel>,
    pub rollout: RolloutClient<Channel>,
    sync: SyncStream,
    batch: u64,
    // Last: dropping the server aborts it.
    _server: TestServer,
}

pub fn ts(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// A strategy as the API spells it: `("RollingUpdate", maxUnavailable, maxSurge)`.
pub fn strategy(kind: &str, max_unavailable: &str, max_surge: &str) -> pb::UpdateStrategy {
    pb::UpdateStrategy {
        r#type: kind.to_owned(),
        rolling_update: Some(pb::RollingUpdate {
            max_unavailable: max_unavailable.to_owned(),
            max_surge: max_surge.to_owned(),
            ..Default::default()
        }),
    }
}

/// A DaemonSet selecting the nodes labelled `run=yes`, with `template` as its content.
pub fn daemonset(name: &str, template: &str, strategy: pb::UpdateStrategy) -> pb::DaemonSet {
    pb::DaemonSet {
        namespace: NS.to_owned(),
        name: name.to_owned(),
        placement: Some(pb::PodPlacement {
            node_selector: [("run".to_owned(), "yes".to_owned())].into(),
            ..Default::default()
        }),
        update_strategy: Some(strategy),
        template: template.to_owned(),
        ..Default::default()
    }
}

/// A node the DaemonSet of [`daemonset`] selects.
pub fn run_node(name: &str) -> pb::Node {
    crate::support::node(name, &[("run", "yes")])
}

/// A pod of `ds` on `node` with `hash`, ready since `ready_since` (or not ready).
pub fn pod(
    ds: &str,
    name: &str,
    node: &str,
    hash: &str,
    ready_since: Option<i64>,
) -> pb::DaemonPod {
    pb::DaemonPod {
        namespace: NS.to_owned(),
        daemonset: ds.to_owned(),
        name: name.to_owned(),
        node: node.to_owned(),
        revision_hash: hash.to_owned(),
        ready: ready_since.is_some(),
        ready_since: ready_since.map(ts),
        created: Some(ts(0)),
        phase: "Running".to_owned(),
        ..Default::default()
    }
}

impl Api {
    pub async fn start() -> Self {
        let server = TestServer::start().await;
        let channel = server.channel().await;
        let mut inventory = server.inventory().await;
        let sync = SyncStream::open(&mut inventory).await;
        Api {
            daemonsets: DaemonSetsClient::new(channel.clone()),
            rollout: RolloutClient::new(channel)
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20),
            sync,
            batch: 0,
            _server: server,
        }
    }

    /// Sends one batch; every item must be accepted.
    pub async fn send(&mut self, mut req: pb::SyncRequest) -> pb::SyncResponse {
        self.batch += 1;
        req.batch_id = self.batch;
        let ack = self.sync.batch(req).await;
        assert!(ack.rejected.is_empty(), "rejected: {:?}", ack.rejected);
        ack
    }

    pub async fn upsert(&mut self, nodes: Vec<pb::Node>, pods: Vec<pb::DaemonPod>) {
        self.send(pb::SyncRequest {
            upsert_nodes: nodes,
            upsert_pods: pods,
            ..Default::default()
        })
        .await;
    }

    pub async fn apply(&mut self, ds: pb::DaemonSet) -> Result<pb::DaemonSet, Status> {
        self.daemonsets
            .apply(pb::ApplyRequest {
                daemonset: Some(ds),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn rollback(&mut self, name: &str, to: i64) -> pb::RollbackResponse {
        self.daemonsets
            .rollback(pb::RollbackRequest {
                namespace: NS.to_owned(),
                name: name.to_owned(),
                to_revision: to,
            })
            .await
            .expect("rollback")
            .into_inner()
    }

    pub async fn try_next(
        &mut self,
        name: &str,
        now: i64,
    ) -> Result<pb::NextBatchResponse, Status> {
        self.rollout
            .next_batch(pb::NextBatchRequest {
                namespace: NS.to_owned(),
                name: name.to_owned(),
                now: Some(ts(now)),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn next(&mut self, name: &str, now: i64) -> pb::NextBatchResponse {
        self.try_next(name, now).await.expect("NextBatch")
    }

    pub async fn status(&mut self, name: &str, now: i64) -> Result<pb::RolloutStatus, Status> {
        self.rollout
            .status(pb::StatusRequest {
                namespace: NS.to_owned(),
                name: name.to_owned(),
                now: Some(ts(now)),
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

// ---------------------------------------------------------------------------------------
// The conformance cases.
// ---------------------------------------------------------------------------------------

/// A case's int-or-percent as the API spells it; `null` or absent → `""` (unset).
fn int_or_percent(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn case_strategy(input: &Value) -> Option<pb::UpdateStrategy> {
    let s = input.get("strategy")?;
    let kind = s["type"].as_str().unwrap_or("RollingUpdate");
    Some(strategy(
        kind,
        &int_or_percent(&s["maxUnavailable"]),
        &int_or_percent(&s["maxSurge"]),
    ))
}

/// The case's nodes: shouldRun → `run=yes`; shouldContinueRunning only → `run=yes` plus an
/// untolerated NoSchedule taint; neither → no label.
fn case_nodes(input: &Value) -> Vec<pb::Node> {
    input["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let name = n["name"].as_str().unwrap_or_default();
            let run = n["shouldRun"].as_bool().unwrap_or(false);
            let keep = n["shouldContinueRunning"].as_bool().unwrap_or(run);
            let mut node = if run || keep {
                run_node(name)
            } else {
                crate::support::node(name, &[])
            };
            if keep && !run {
                node.taints
                    .push(crate::support::taint("dsched.test/keep", "x", "NoSchedule"));
            }
            node
        })
        .collect()
}

/// The case's own pods (released pods are skipped), `"new"` carrying `hash`.
fn case_pods(input: &Value, hash: &str) -> Vec<pb::DaemonPod> {
    input["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["selectorMatch"].as_bool() != Some(false))
        .map(|p| {
            let revision = p["revision"].as_str().unwrap_or("old");
            let revision_hash = if revision == "new" {
                hash.to_owned()
            } else {
                format!("old-{revision}")
            };
            pb::DaemonPod {
                namespace: NS.to_owned(),
                daemonset: "ds".to_owned(),
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                node: p["node"].as_str().unwrap_or_default().to_owned(),
                revision_hash,
                ready: p["ready"].as_bool().unwrap_or(false),
                ready_since: p["readySince"].as_i64().map(ts),
                created: p["created"].as_i64().map(ts),
                deleting: p["deleting"].as_bool().unwrap_or(false),
                phase: p["phase"].as_str().unwrap_or("Running").to_owned(),
                unscheduled: p["scheduled"].as_bool() == Some(false),
                ..Default::default()
            }
        })
        .collect()
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// Checks a chosen set against `{count, mustInclude, candidates}` (conformance README).
fn check_choice(what: &str, got: &BTreeSet<String>, expect: &Value) -> Result<(), String> {
    let count = expect[format!("{what}Count")].as_u64().unwrap_or(0) as usize;
    let must = names(&expect[format!("{what}MustInclude")]);
    let candidates = names(&expect[format!("{what}Candidates")]);
    if got.len() != count {
        return Err(format!("{what}: want {count}, got {} {got:?}", got.len()));
    }
    if let Some(missing) = must.difference(got).next() {
        return Err(format!("{what}: {missing} must be included, got {got:?}"));
    }
    let allowed: BTreeSet<&String> = must.iter().chain(&candidates).collect();
    if let Some(extra) = got.iter().find(|g| !allowed.contains(g)) {
        return Err(format!(
            "{what}: {extra} is neither required nor a candidate ({got:?})"
        ));
    }
    Ok(())
}

fn status_json(s: &pb::RolloutStatus) -> Value {
    serde_json::json!({
        "desiredNumberScheduled": s.desired_number_scheduled,
        "currentNumberScheduled": s.current_number_scheduled,
        "numberMisscheduled": s.number_misscheduled,
        "numberReady": s.number_ready,
        "updatedNumberScheduled": s.updated_number_scheduled,
        "numberAvailable": s.number_available,
        "numberUnavailable": s.number_unavailable,
    })
}

/// Why the API cannot express a case, if it cannot.
fn inexpressible(input: &Value) -> Option<&'static str> {
    if input["selector"] == serde_json::json!({}) {
        return Some("empty DaemonSet selector: dsched has no selector field (SelectingAll no-op)");
    }
    if input["deleting"] == true {
        return Some("DaemonSet being deleted: a deleted DaemonSet is NOT_FOUND in dsched");
    }
    None
}

/// Runs one case on a fresh server; `Ok(Some(why))` when the API cannot express it.
async fn run_case(case: &Value) -> Result<Option<String>, String> {
    let input = &case["input"];
    let expect = &case["expect"];
    if let Some(why) = inexpressible(input) {
        return Ok(Some(why.to_owned()));
    }
    let mut api = Api::start().await;
    let mut ds = daemonset(
        "ds",
        "case-template",
        case_strategy(input).unwrap_or_default(),
    );
    if input.get("strategy").is_none() {
        ds.update_strategy = None;
    }
    ds.min_ready_seconds = input["minReadySeconds"].as_i64().unwrap_or(0) as i32;
    let applied = match api.apply(ds).await {
        Ok(d) => d,
        Err(e) if e.code() == Code::InvalidArgument => {
            return Ok(Some(format!(
                "strategy rejected by validation: {}",
                e.message()
            )));
        }
        Err(e) => return Err(format!("apply: {e:?}")),
    };
    let hash = applied.revision_hash.clone();
    assert!(!hash.is_empty(), "Apply answers the current hash");
    api.upsert(case_nodes(input), case_pods(input, &hash)).await;
    let now = input["now"].as_i64().unwrap_or(0);
    let batch = api.next("ds", now).await;
    let status = api.status("ds", now).await.map_err(|e| format!("{e:?}"))?;
    if batch.status.as_ref() != Some(&status) {
        return Err(format!(
            "NextBatch.status {:?} != Status {status:?}",
            batch.status
        ));
    }
    if batch.target_revision_hash != hash || batch.target_revision != applied.revision {
        return Err(format!(
            "target {} {}",
            batch.target_revision, batch.target_revision_hash
        ));
    }
    match input["check"].as_str().unwrap_or_default() {
        "sync" => {
            let creates: BTreeSet<String> = batch.create_on.iter().cloned().collect();
            let deletes: BTreeSet<String> = batch.delete.iter().map(|a| a.pod.clone()).collect();
            check_choice("create", &creates, expect)?;
            check_choice("delete", &deletes, expect)?;
        }
        "status" => {
            let got = status_json(&status);
            for (key, want) in expect.as_object().into_iter().flatten() {
                if got[key] != *want {
                    return Err(format!("{key}: want {want}, got {}", got[key]));
                }
            }
        }
        other => return Err(format!("unhandled check {other}")),
    }
    Ok(None)
}

#[tokio::test]
async fn k8s_conformance_rollout_over_grpc() {
    let (mut failures, mut skipped, mut ran) = (Vec::new(), Vec::new(), 0);
    for case in k8s_cases() {
        let check = case["input"]["check"].as_str().unwrap_or_default();
        if !matches!(check, "sync" | "status") {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        match run_case(case).await {
            Ok(None) => ran += 1,
            Ok(Some(why)) => skipped.push(format!("{id}: {why}")),
            Err(e) => failures.push(format!("{id} ({check}): {e}")),
        }
    }
    for s in &skipped {
        println!("not expressible over the API: {s}");
    }
    assert!(ran >= 10, "only {ran} cases ran");
    assert!(
        skipped.len() <= 2,
        "too many inexpressible cases: {skipped:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        ran + failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Small scenarios.
// ---------------------------------------------------------------------------------------

/// `n` selected nodes `n00`, `n01`, … each with one ready pod of `hash`.
async fn fleet(api: &mut Api, ds: &str, n: usize, hash: &str) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("n{i:02}")).collect();
    let nodes = names.iter().map(|n| run_node(n)).collect();
    let pods = names
        .iter()
        .map(|n| pod(ds, &format!("{ds}-{n}"), n, hash, Some(0)))
        .collect();
    api.upsert(nodes, pods).await;
    names
}

fn reasons(b: &pb::NextBatchResponse) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &b.delete {
        out.entry(a.reason.clone()).or_default().push(a.pod.clone());
    }
    out
}

#[tokio::test]
async fn unknown_daemonset_is_not_found() {
    let mut api = Api::start().await;
    let err = api.try_next("nope", 0).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = api.status("nope", 0).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

#[tokio::test]
async fn same_request_same_answer_and_complete_when_done() {
    let mut api = Api::start().await;
    let v1 = api
        .apply(daemonset("ds", "v1", strategy("", "3", "")))
        .await
        .expect("v1");
    let names = fleet(&mut api, "ds", 10, &v1.revision_hash).await;
    let done = api.next("ds", 100).await;
    assert!(done.complete, "{done:?}");
    assert_eq!(done.waiting_reason, "");
    assert!(done.create_on.is_empty() && done.delete.is_empty());

    let v2 = api
        .apply(daemonset("ds", "v2", strategy("", "3", "")))
        .await
        .expect("v2");
    assert_eq!(v2.revision, 2);
    let a = api.next("ds", 100).await;
    let b = api.next("ds", 100).await;
    assert_eq!(a, b, "same inventory, same request → same answer");
    assert!(!a.complete);
    assert_eq!(a.target_revision, 2);
    assert_eq!(a.target_revision_hash, v2.revision_hash);
    // Deterministic order: node name ascending (decision 1).
    let pods: Vec<&str> = a.delete.iter().map(|d| d.pod.as_str()).collect();
    assert_eq!(pods, ["ds-n00", "ds-n01", "ds-n02"]);
    assert!(
        a.delete
            .iter()
            .all(|d| d.reason == "Outdated" && d.revision_hash == v1.revision_hash)
    );
    assert_eq!(names.len(), 10);
}

#[tokio::test]
async fn waiting_reasons() {
    let mut api = Api::start().await;
    // Paused.
    let mut paused = strategy("", "1", "");
    if let Some(r) = paused.rolling_update.as_mut() {
        r.paused = true;
    }
    let v1 = api
        .apply(daemonset("p", "v1", paused.clone()))
        .await
        .expect("v1");
    fleet(&mut api, "p", 3, &v1.revision_hash).await;
    api.apply(daemonset("p", "v2", paused)).await.expect("v2");
    let b = api.next("p", 10).await;
    assert_eq!(
        (b.waiting_reason.as_str(), b.complete),
        ("Paused", false),
        "{b:?}"
    );
    assert!(b.delete.is_empty() && b.create_on.is_empty());

    // OnDelete.
    let mut api = Api::start().await;
    let v1 = api
        .apply(daemonset("o", "v1", strategy("OnDelete", "", "")))
        .await
        .expect("v1");
    fleet(&mut api, "o", 3, &v1.revision_hash).await;
    api.apply(daemonset("o", "v2", strategy("OnDelete", "", "")))
        .await
        .expect("v2");
    let b = api.next("o", 10).await;
    assert_eq!(b.waiting_reason, "OnDelete", "{b:?}");
    assert!(b.delete.is_empty() && b.create_on.is_empty());

    // Partition: 2 of 4 stay; the two highest names are already updated.
    let mut api = Api::start().await;
    let mut part = strategy("", "1", "");
    if let Some(r) = part.rolling_update.as_mut() {
        r.partition = "2".into();
    }
    let v1 = api
        .apply(daemonset("k", "v1", part.clone()))
        .await
        .expect("v1");
    let names = fleet(&mut api, "k", 4, &v1.revision_hash).await;
    let v2 = api.apply(daemonset("k", "v2", part)).await.expect("v2");
    let b = api.next("k", 10).await;
    assert_eq!(b.delete.len(), 1, "{b:?}");
    assert!(
        names[2..].contains(&b.delete[0].node),
        "only the highest names may update: {b:?}"
    );
    let updated = names[2..]
        .iter()
        .map(|n| pod("k", &format!("k-{n}"), n, &v2.revision_hash, Some(0)))
        .collect();
    api.upsert(vec![], updated).await;
    let b = api.next("k", 10).await;
    assert_eq!(b.waiting_reason, "Partition", "{b:?}");
    assert!(!b.complete && b.delete.is_empty() && b.create_on.is_empty());

    // WaitingForAvailability: the new pod is ready but minReadySeconds has not passed.
    let mut api = Api::start().await;
    let mut ds = daemonset("w", "v1", strategy("", "1", ""));
    ds.min_ready_seconds = 30;
    let v1 = api.apply(ds.clone()).await.expect("v1");
    fleet(&mut api, "w", 2, &v1.revision_hash).await;
    ds.template = "v2".into();
    let v2 = api.apply(ds).await.expect("v2");
    api.upsert(
        vec![],
        vec![pod("w", "w-n00", "n00", &v2.revision_hash, Some(100))],
    )
    .await;
    let b = api.next("w", 110).await;
    assert_eq!(b.waiting_reason, "WaitingForAvailability", "{b:?}");
    assert!(b.delete.is_empty() && b.create_on.is_empty());
    let b = api.next("w", 130).await;
    assert_eq!(
        b.delete.len(),
        1,
        "available at readySince + minReadySeconds: {b:?}"
    );

    // TopologyWave: zone a done but its new pod not available; zone b must wait.
    let mut api = Api::start().await;
    let mut wave = strategy("", "2", "");
    if let Some(r) = wave.rolling_update.as_mut() {
        r.topology_key = "zone".into();
    }
    let v1 = api
        .apply(daemonset("t", "v1", wave.clone()))
        .await
        .expect("v1");
    let nodes = ["a1", "b1", "b2"]
        .iter()
        .map(|n| crate::support::node(n, &[("run", "yes"), ("zone", &n[..1])]))
        .collect();
    let v2 = api.apply(daemonset("t", "v2", wave)).await.expect("v2");
    let pods = vec![
        pod("t", "t-a1", "a1", &v2.revision_hash, None),
        pod("t", "t-b1", "b1", &v1.revision_hash, Some(0)),
        pod("t", "t-b2", "b2", &v1.revision_hash, Some(0)),
    ];
    api.upsert(nodes, pods).await;
    let b = api.next("t", 10).await;
    assert_eq!(b.waiting_reason, "TopologyWave", "{b:?}");
    assert!(b.delete.is_empty() && b.create_on.is_empty());
    // Once a1's pod is available, zone b rolls (2 at once).
    api.upsert(
        vec![],
        vec![pod("t", "t-a1", "a1", &v2.revision_hash, Some(5))],
    )
    .await;
    let b = api.next("t", 10).await;
    let got: BTreeSet<&str> = b.delete.iter().map(|d| d.node.as_str()).collect();
    assert_eq!(got, BTreeSet::from(["b1", "b2"]), "{b:?}");
}

#[tokio::test]
async fn rollback_retargets_and_replaces_the_rolled_back_from_pods() {
    let mut api = Api::start().await;
    let s = || strategy("", "1", "");
    let v1 = api.apply(daemonset("r", "v1", s())).await.expect("v1");
    let v2 = api.apply(daemonset("r", "v2", s())).await.expect("v2");
    assert_ne!(v1.revision_hash, v2.revision_hash);
    fleet(&mut api, "r", 3, &v2.revision_hash).await;
    assert!(api.next("r", 10).await.complete);
    let rb = api.rollback("r", 0).await;
    assert_eq!(
        (rb.from_revision, rb.restored_revision, rb.skipped),
        (2, 1, false)
    );
    let b = api.next("r", 10).await;
    assert_eq!(
        b.target_revision, 3,
        "the restored revision is renumbered max + 1"
    );
    assert_eq!(b.target_revision_hash, v1.revision_hash);
    assert_eq!(b.delete.len(), 1, "{b:?}");
    assert_eq!(b.delete[0].reason, "Outdated");
    assert_eq!(b.delete[0].revision_hash, v2.revision_hash);
    assert_eq!(b.status.expect("status").updated_number_scheduled, 0);
}

#[tokio::test]
async fn every_delete_reason() {
    let mut api = Api::start().await;
    let v1 = api
        .apply(daemonset("d", "v1", strategy("", "1", "")))
        .await
        .expect("v1");
    let h1 = v1.revision_hash.clone();
    let v2 = api
        .apply(daemonset("d", "v2", strategy("", "1", "")))
        .await
        .expect("v2");
    let h2 = v2.revision_hash.clone();
    let mut failed = pod("d", "failed", "n2", &h2, None);
    failed.phase = "Failed".into();
    let mut dup_young = pod("d", "dup-young", "n3", &h2, Some(0));
    dup_young.created = Some(ts(50));
    let nodes = vec![
        run_node("n0"),
        run_node("n1"),
        run_node("n2"),
        run_node("n3"),
        crate::support::node("off", &[]),
    ];
    let pods = vec![
        pod("d", "new", "n0", &h2, Some(0)),
        pod("d", "old", "n1", &h1, Some(0)),
        failed,
        pod("d", "dup-old", "n3", &h2, Some(0)),
        dup_young,
        pod("d", "stray", "off", &h2, Some(0)),
    ];
    api.upsert(nodes, pods).await;
    let b = api.next("d", 10).await;
    let want: BTreeMap<String, Vec<String>> = [
        ("Duplicate", vec!["dup-young"]),
        ("Failed", vec!["failed"]),
        ("Misscheduled", vec!["stray"]),
    ]
    .into_iter()
    .map(|(r, p)| (r.to_owned(), p.into_iter().map(str::to_owned).collect()))
    .collect();
    // n2 (failed) and n3 (excess) count as unavailable: maxUnavailable 1 holds "old" back.
    assert_eq!(reasons(&b), want, "{b:?}");
    // With the failed pod gone and the duplicate removed, the old one goes as Outdated.
    api.send(pb::SyncRequest {
        delete_pods: ["failed", "dup-young", "stray"]
            .iter()
            .map(|p| pb::PodRef {
                namespace: NS.into(),
                daemonset: "d".into(),
                name: (*p).into(),
            })
            .collect(),
        upsert_pods: vec![pod("d", "again", "n2", &h2, Some(0))],
        ..Default::default()
    })
    .await;
    let b = api.next("d", 10).await;
    let want: BTreeMap<String, Vec<String>> =
        [("Outdated".to_owned(), vec!["old".to_owned()])].into();
    assert_eq!(reasons(&b), want, "{b:?}");
}

#[tokio::test]
async fn creates_and_deletes_are_capped_at_250_per_call() {
    let mut api = Api::start().await;
    api.apply(daemonset("c", "v1", strategy("", "100%", "")))
        .await
        .expect("v1");
    let nodes: Vec<pb::Node> = (0..600).map(|i| run_node(&format!("n{i:03}"))).collect();
    api.upsert(nodes, vec![]).await;
    let b = api.next("c", 0).await;
    assert_eq!(b.create_on.len(), 250, "BurstReplicas caps creates");
    assert_eq!(b.status.expect("status").desired_number_scheduled, 600);
    let mut sorted = b.create_on.clone();
    sorted.sort();
    assert_eq!(sorted, b.create_on, "ascending");
    assert_eq!(b.create_on[0], "n000");

    // 600 pods on nodes that no longer select it: 250 Misscheduled deletes.
    let nodes: Vec<pb::Node> = (0..600)
        .map(|i| crate::support::node(&format!("n{i:03}"), &[]))
        .collect();
    let pods = (0..600)
        .map(|i| pod("c", &format!("p{i:03}"), &format!("n{i:03}"), "x", Some(0)))
        .collect();
    api.upsert(nodes, pods).await;
    let b = api.next("c", 0).await;
    assert_eq!(b.delete.len(), 250, "BurstReplicas caps deletes");
    assert!(b.delete.iter().all(|d| d.reason == "Misscheduled"));

    // 600 outdated available pods with maxUnavailable 100%: 250 Outdated deletes.
    let nodes: Vec<pb::Node> = (0..600).map(|i| run_node(&format!("n{i:03}"))).collect();
    api.upsert(nodes, vec![]).await;
    let b = api.next("c", 0).await;
    assert_eq!(b.delete.len(), 250);
    assert!(b.delete.iter().all(|d| d.reason == "Outdated"));
}

/// `waiting_reason` "Partition" means the partition holds the rollout; while updatable nodes
/// still run outdated pods and only the budget holds them back, the reason is
/// WaitingForAvailability.
#[tokio::test]
async fn partition_reason_only_when_the_partition_holds() {
    let mut api = Api::start().await;
    let mut part = strategy("", "1", "");
    if let Some(r) = part.rolling_update.as_mut() {
        r.partition = "1".into();
    }
    let v1 = api
        .apply(daemonset("k", "v1", part.clone()))
        .await
        .expect("v1");
    let names = fleet(&mut api, "k", 4, &v1.revision_hash).await;
    let v2 = api.apply(daemonset("k", "v2", part)).await.expect("v2");
    // n03 runs a new pod, not yet ready: the budget (1) is used up; n01 and n02 still wait.
    api.upsert(
        vec![],
        vec![pod("k", "k-n03", &names[3], &v2.revision_hash, None)],
    )
    .await;
    let b = api.next("k", 10).await;
    assert!(b.delete.is_empty() && b.create_on.is_empty(), "{b:?}");
    assert_eq!(b.waiting_reason, "WaitingForAvailability", "{b:?}");
}
