//! `dsched.v1.Placement` over real gRPC: the API-visible conformance cases
//! (`daemonSetNodes`, `daemonSetPredicate`, the selector/toleration/label validation cases),
//! every operator and toleration rule as a named table row, pagination, `Explain` and
//! `DaemonSetsForNode`. Every table collects its failures and reports each row by name with
//! want vs got.

use std::collections::{BTreeMap, BTreeSet};

use dsched::grpc::pb;
use dsched::grpc::pb::daemon_sets_client::DaemonSetsClient;
use dsched::grpc::pb::evaluate_request::Target;
use dsched::grpc::pb::placement_client::PlacementClient;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::k8s_json::{self, R};
use crate::support::{SyncStream, TestServer, k8s_cases};

// ---------------------------------------------------------------------------------------
// A server with its clients and one open Sync stream.
// ---------------------------------------------------------------------------------------

pub struct Api {
    pub placement: PlacementClient<Channel>,
    pub daemonsets: DaemonSetsClient<Channel>,
    sync: SyncStream,
    batch: u64,
    // Last: dropping the server aborts it.
    _server: TestServer,
}

/// One `Evaluate` answer with every page followed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Eval {
    pub nodes: Vec<String>,
    pub keep: Vec<String>,
    pub should_run_count: u32,
    pub keep_count: u32,
    pub total_nodes: u32,
    pub revision: u64,
}

impl Api {
    pub async fn start() -> Self {
        let server = TestServer::start().await;
        let channel = server.channel().await;
        let mut inventory = server.inventory().await;
        let sync = SyncStream::open(&mut inventory).await;
        Api {
            placement: PlacementClient::new(channel.clone()),
            daemonsets: DaemonSetsClient::new(channel),
            sync,
            batch: 0,
            _server: server,
        }
    }

    pub async fn send(&mut self, mut req: pb::SyncRequest) -> pb::SyncResponse {
        self.batch += 1;
        req.batch_id = self.batch;
        self.sync.batch(req).await
    }

    /// Upserts nodes; the ack tells which were rejected.
    pub async fn upsert(&mut self, nodes: Vec<pb::Node>) -> pb::SyncResponse {
        self.send(pb::SyncRequest {
            upsert_nodes: nodes,
            ..Default::default()
        })
        .await
    }

    pub async fn upsert_pods(&mut self, pods: Vec<pb::DaemonPod>) -> pb::SyncResponse {
        let ack = self
            .send(pb::SyncRequest {
                upsert_pods: pods,
                ..Default::default()
            })
            .await;
        assert!(ack.rejected.is_empty(), "pods rejected: {:?}", ack.rejected);
        ack
    }

    /// Replaces the whole inventory with `nodes` in one resync; returns the ack of the batch
    /// that carried them (its `rejected` lists the nodes that were not stored).
    pub async fn resync(&mut self, nodes: Vec<pb::Node>) -> pb::SyncResponse {
        let ack = self
            .send(pb::SyncRequest {
                upsert_nodes: nodes,
                resync: pb::Resync::Begin as i32,
                ..Default::default()
            })
            .await;
        let end = self
            .send(pb::SyncRequest {
                resync: pb::Resync::End as i32,
                ..Default::default()
            })
            .await;
        assert!(end.rejected.is_empty(), "{end:?}");
        ack
    }

    /// `Evaluate`, following every page.
    pub async fn evaluate(&mut self, target: Target) -> Result<Eval, Status> {
        let mut out = Eval::default();
        let mut token = String::new();
        loop {
            let page = self
                .placement
                .evaluate(pb::EvaluateRequest {
                    target: Some(target.clone()),
                    limit: 0,
                    page_token: token,
                    count_only: false,
                })
                .await?
                .into_inner();
            out.nodes.extend(page.nodes);
            out.keep.extend(page.keep_nodes);
            out.should_run_count = page.should_run_count;
            out.keep_count = page.keep_count;
            out.total_nodes = page.total_nodes;
            out.revision = page.revision;
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    pub async fn explain(
        &mut self,
        target: Target,
        nodes: &[&str],
    ) -> Result<pb::ExplainResponse, Status> {
        let target = match target {
            Target::Daemonset(r) => pb::explain_request::Target::Daemonset(r),
            Target::Placement(p) => pb::explain_request::Target::Placement(p),
        };
        Ok(self
            .placement
            .explain(pb::ExplainRequest {
                target: Some(target),
                nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
            })
            .await?
            .into_inner())
    }

    pub async fn apply(&mut self, ds: pb::DaemonSet) -> Result<pb::DaemonSet, Status> {
        Ok(self
            .daemonsets
            .apply(pb::ApplyRequest {
                daemonset: Some(ds),
            })
            .await?
            .into_inner())
    }
}

pub fn inline(p: pb::PodPlacement) -> Target {
    Target::Placement(p)
}

pub fn registered(namespace: &str, name: &str) -> Target {
    Target::Daemonset(pb::DaemonSetRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// A DaemonSet `default/{name}` with this placement and a template derived from it.
pub fn daemonset(name: &str, placement: pb::PodPlacement) -> pb::DaemonSet {
    pb::DaemonSet {
        name: name.to_owned(),
        template: format!("{placement:?}"),
        placement: Some(placement),
        ..Default::default()
    }
}

/// Asserts an `INVALID_ARGUMENT` whose message names a field under `prefix` and whose
/// `google.rpc.BadRequest` detail has a violation there; returns the violations' fields.
pub fn check_invalid(status: &Status, prefix: &str) -> R<Vec<String>> {
    if status.code() != Code::InvalidArgument {
        return Err(format!(
            "want INVALID_ARGUMENT naming {prefix}, got {:?}: {}",
            status.code(),
            status.message()
        ));
    }
    if !status.message().contains(prefix) {
        return Err(format!(
            "message {:?} does not name a field under {prefix:?}",
            status.message()
        ));
    }
    let fields: Vec<String> = status
        .get_details_bad_request()
        .ok_or_else(|| format!("no BadRequest detail on {:?}", status.message()))?
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    if !fields.iter().any(|f| f.starts_with(prefix)) {
        return Err(format!(
            "no BadRequest violation under {prefix:?}: {fields:?}"
        ));
    }
    Ok(fields)
}

/// Whether a reported field path names `want` (a Kubernetes path, perhaps relative or
/// with a `spec.` prefix where ours has the request field's).
pub fn names_field(got: &str, want: &str) -> bool {
    let want = want
        .trim_start_matches("spec.template.spec.")
        .trim_start_matches("spec.");
    got == want
        || got.ends_with(&format!(".{want}"))
        || got.contains(&format!(".{want}."))
        || got.contains(&format!(".{want}["))
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str, &str)]) -> pb::Node {
    pb::Node {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        taints: taints
            .iter()
            .map(|(k, v, e)| crate::support::taint(k, v, e))
            .collect(),
        ..Default::default()
    }
}

fn spec(v: Value) -> pb::PodPlacement {
    k8s_json::pod_placement(&v).expect("placement JSON converts")
}

/// A pod spec whose required node affinity has these terms.
fn required(terms: Value) -> Value {
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
}

/// A pod spec whose required node affinity is one term of these match expressions.
fn exprs(list: Value) -> Value {
    required(json!([{ "matchExpressions": list }]))
}

fn verdict_of(eval: &Eval, name: &str) -> (bool, bool) {
    if eval.nodes.iter().any(|n| n == name) {
        (true, true)
    } else if eval.keep.iter().any(|n| n == name) {
        (false, true)
    } else {
        (false, false)
    }
}

// ---------------------------------------------------------------------------------------
// Conformance: daemonSetNodes and daemonSetPredicate over gRPC.
// ---------------------------------------------------------------------------------------

/// How one conformance case ended.
enum Ran {
    /// Compared answers (inline and registered).
    Compared,
    /// The template is invalid at the API: both Evaluate and Apply answered INVALID_ARGUMENT.
    Rejected,
    /// A node could not be synced (its name is not a DNS subdomain).
    Skipped(String),
}

/// The template of a conformance case as a placement; `resources` (a flat map recorded for
/// fidelity) becomes the requests.
fn case_placement(template: &Value) -> R<pb::PodPlacement> {
    let mut p = k8s_json::pod_placement(template)?;
    if let Some(res) = template.get("resources") {
        p.requests = k8s_json::string_map(Some(res))?;
    }
    Ok(p)
}

fn case_nodes(check: &str, input: &Value) -> R<Vec<pb::Node>> {
    if check == "daemonSetPredicate" {
        let mut n = k8s_json::node_from_case(input.get("node").unwrap_or(&Value::Null))?;
        n.allocatable = k8s_json::string_map(input.get("nodeAllocatable"))?;
        Ok(vec![n])
    } else {
        k8s_json::array(input, "nodes")?
            .iter()
            .map(k8s_json::node_from_case)
            .collect()
    }
}

/// Compares an Explain answer for every node of `eval`'s inventory with `eval`.
fn explain_agrees(eval: &Eval, explained: &pb::ExplainResponse) -> R<()> {
    for v in &explained.verdicts {
        let want = verdict_of(eval, &v.node);
        let got = (v.should_run, v.should_continue_running);
        if !v.found || want != got || v.reasons.is_empty() != v.should_run {
            return Err(format!(
                "Explain {}: found={} verdict {got:?} with {:?}, but Evaluate says {want:?}",
                v.node, v.found, v.reasons
            ));
        }
    }
    Ok(())
}

async fn run_placement_case(api: &mut Api, case: &Value, n: usize) -> R<Ran> {
    let input = &case["input"];
    let expect = &case["expect"];
    let check = input["check"].as_str().unwrap_or_default();
    let template = input.get("template").cloned().unwrap_or(Value::Null);
    let placement = case_placement(&template)?;
    let nodes = case_nodes(check, input)?;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();

    let ack = api.resync(nodes).await;
    if !ack.rejected.is_empty() {
        // Only an unsyncable node name may skip a case.
        for r in &ack.rejected {
            let name = names.get(r.index as usize).cloned().unwrap_or_default();
            if !r.field.ends_with(".name") || k8s_json::is_dns1123_subdomain(&name) {
                return Err(format!("node {name:?} rejected: {r:?}"));
            }
        }
        let which: Vec<&str> = ack.rejected.iter().map(|r| r.name.as_str()).collect();
        return Ok(Ran::Skipped(format!("invalid node names {which:?}")));
    }

    let ds_name = format!("conformance-{n}");
    let problems = k8s_json::placement_problems(&template)?;
    let got_inline = api.evaluate(inline(placement.clone())).await;
    let applied = api.apply(daemonset(&ds_name, placement.clone())).await;
    if let Some(problem) = problems.first() {
        // The API rejects the template: no answer to compare, both paths refuse it.
        let under = problem
            .rsplit_once('.')
            .map_or(problem.as_str(), |(h, _)| h);
        let status = got_inline
            .err()
            .ok_or_else(|| format!("Evaluate accepted a template with invalid {problems:?}"))?;
        check_invalid(&status, &format!("placement.{under}"))
            .map_err(|e| format!("Evaluate: {e}"))?;
        let status = applied
            .err()
            .ok_or_else(|| format!("Apply accepted a template with invalid {problems:?}"))?;
        check_invalid(&status, &format!("daemonset.placement.{under}"))
            .map_err(|e| format!("Apply: {e}"))?;
        return Ok(Ran::Rejected);
    }
    let got = got_inline.map_err(|s| format!("Evaluate: {s:?}"))?;
    applied.map_err(|s| format!("Apply: {s:?}"))?;
    let got_ds = api
        .evaluate(registered("default", &ds_name))
        .await
        .map_err(|s| format!("Evaluate registered: {s:?}"))?;
    if (&got_ds.nodes, &got_ds.keep) != (&got.nodes, &got.keep) {
        return Err(format!(
            "registered DaemonSet {:?}/{:?} differs from inline {:?}/{:?}",
            got_ds.nodes, got_ds.keep, got.nodes, got.keep
        ));
    }
    let counts = (got.should_run_count, got.keep_count, got.total_nodes);
    let want_counts = (
        got.nodes.len() as u32,
        got.keep.len() as u32,
        names.len() as u32,
    );
    if counts != want_counts {
        return Err(format!("counts: want {want_counts:?}, got {counts:?}"));
    }
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    if !all.is_empty() {
        let explained = api
            .explain(inline(placement.clone()), &all)
            .await
            .map_err(|s| format!("Explain: {s:?}"))?;
        explain_agrees(&got, &explained)?;
    }

    if check == "daemonSetPredicate" {
        let name = &names[0];
        let want = (
            expect["shouldRun"].as_bool().ok_or("expect.shouldRun")?,
            expect["shouldContinueRunning"]
                .as_bool()
                .ok_or("expect.shouldContinueRunning")?,
        );
        let by_membership = verdict_of(&got, name);
        if by_membership != want {
            return Err(format!(
                "Evaluate membership: want (shouldRun, shouldContinueRunning) {want:?}, got {by_membership:?}"
            ));
        }
        for (how, target) in [
            ("inline", inline(placement.clone())),
            ("registered", registered("default", &ds_name)),
        ] {
            let e = api
                .explain(target, &[name])
                .await
                .map_err(|s| format!("Explain {how}: {s:?}"))?;
            let v = e.verdicts.first().ok_or("Explain: no verdict")?;
            let got = (v.should_run, v.should_continue_running);
            if !v.found || got != want {
                return Err(format!(
                    "Explain {how} verdict: want {want:?}, got {got:?} (found={}, reasons {:?})",
                    v.found, v.reasons
                ));
            }
        }
    } else {
        let want_run: Vec<String> = {
            let mut v = k8s_json::strings(expect, "shouldRunNodes")?;
            v.sort();
            v
        };
        if got.nodes != want_run {
            return Err(format!(
                "shouldRunNodes: want {want_run:?}, got nodes {:?}",
                got.nodes
            ));
        }
        if !k8s_json::is_absent(expect.get("shouldContinueRunningNodes")) {
            let want: BTreeSet<String> = k8s_json::strings(expect, "shouldContinueRunningNodes")?
                .into_iter()
                .collect();
            let got_keep: BTreeSet<String> = got.nodes.iter().chain(&got.keep).cloned().collect();
            if got_keep != want {
                return Err(format!(
                    "shouldContinueRunningNodes: want {want:?}, got nodes+keep_nodes {got_keep:?}"
                ));
            }
        }
    }
    Ok(Ran::Compared)
}

#[tokio::test]
async fn conformance_placement_over_grpc() {
    let mut api = Api::start().await;
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let (mut compared, mut rejected) = (0, 0);
    for (n, case) in k8s_cases().iter().enumerate() {
        let check = case["input"]["check"].as_str().unwrap_or_default();
        if !matches!(check, "daemonSetNodes" | "daemonSetPredicate") {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        match run_placement_case(&mut api, case, n).await {
            Ok(Ran::Compared) => compared += 1,
            Ok(Ran::Rejected) => rejected += 1,
            Ok(Ran::Skipped(why)) => skipped.push(format!("{id}: {why}")),
            Err(e) => failures.push(format!("{id} ({check}): {e}")),
        }
    }
    println!(
        "daemonSetNodes/daemonSetPredicate over gRPC: {compared} compared, {rejected} rejected as invalid, {} skipped",
        skipped.len()
    );
    if !skipped.is_empty() {
        println!("skipped (unsyncable node names): {skipped:#?}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        compared + rejected + skipped.len() + failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 20, "only {compared} cases compared");
    assert!(
        skipped.len() <= 3,
        "too many cases skipped for unsyncable node names: {skipped:#?}"
    );
}

/// The harness itself: a case whose template the API must reject, a case whose node cannot
/// be synced, and a case with a wrong expectation each end the way they should.
#[tokio::test]
async fn conformance_harness_rejects_skips_and_fails() {
    let mut api = Api::start().await;
    let nodes = json!([{"name": "node-0", "labels": {"a": "b"}}]);
    let bad_term = json!({"check": "daemonSetNodes", "nodes": nodes, "template": required(json!([
        {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["invalid value: ___@#$%^"]}]},
    ]))});
    let case =
        json!({"id": "synthetic-bad-term", "input": bad_term, "expect": {"shouldRunNodes": []}});
    assert!(matches!(
        run_placement_case(&mut api, &case, 9001).await,
        Ok(Ran::Rejected)
    ));

    let bad_name =
        json!({"check": "daemonSetPredicate", "node": {"name": "node_1"}, "template": {}});
    let case = json!({"id": "synthetic-bad-name", "input": bad_name,
        "expect": {"shouldRun": true, "shouldContinueRunning": true}});
    assert!(matches!(
        run_placement_case(&mut api, &case, 9002).await,
        Ok(Ran::Skipped(_))
    ));

    let wrong = json!({"check": "daemonSetNodes", "nodes": nodes, "template": {}});
    let case = json!({"id": "synthetic-wrong", "input": wrong, "expect": {"shouldRunNodes": []}});
    let err = run_placement_case(&mut api, &case, 9003)
        .await
        .err()
        .expect("a mismatch");
    assert!(err.contains("want [] ") || err.contains("want []"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Conformance: validation cases through Evaluate with an inline placement.
// ---------------------------------------------------------------------------------------

/// The pod spec that carries a validation case's value, and the path under `placement.`
/// where an error must be reported.
fn validation_spec(check: &str, value: &Value) -> Option<(Value, &'static str)> {
    const TERM: &str = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";
    Some(match check {
        "nodeSelectorRequirement" => (
            exprs(json!([value])),
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]",
        ),
        "nodeFieldSelectorRequirement" => (
            required(json!([{ "matchFields": [value] }])),
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0]",
        ),
        "nodeSelector" => (
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": value}}}),
            TERM,
        ),
        "preferredSchedulingTerm" => (
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [value]}}}),
            "affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]",
        ),
        "toleration" => (json!({ "tolerations": [value] }), "tolerations[0]"),
        "labelKey" => {
            let mut selector = serde_json::Map::new();
            selector.insert(value.as_str()?.to_owned(), json!("v"));
            (json!({ "nodeSelector": selector }), "nodeSelector")
        }
        "labelValue" => (json!({ "nodeSelector": { "k": value } }), "nodeSelector"),
        _ => return None,
    })
}

async fn run_validation_case(api: &mut Api, case: &Value) -> R<Option<()>> {
    let check = case["input"]["check"].as_str().unwrap_or_default();
    let Some((template, path)) = validation_spec(check, &case["input"]["value"]) else {
        return Ok(None);
    };
    let want_valid = case["expect"]["valid"].as_bool().ok_or("expect.valid")?;
    let placement = k8s_json::pod_placement(&template)?;
    let got = api.evaluate(inline(placement)).await;
    match (want_valid, got) {
        (true, Ok(_)) => {}
        (true, Err(s)) => return Err(format!("want OK, got {:?}: {}", s.code(), s.message())),
        (false, Ok(e)) => return Err(format!("want INVALID_ARGUMENT, got OK {e:?}")),
        (false, Err(s)) => {
            let fields = check_invalid(&s, &format!("placement.{path}"))?;
            if let Some(want) = case["expect"].get("errorField").and_then(Value::as_str)
                && !fields.iter().any(|f| names_field(f, want))
            {
                return Err(format!("want a violation at {want:?}, got {fields:?}"));
            }
        }
    }
    // The independent reading of §8 must agree with the fixture too, or the tests that rely
    // on it to decide rejections would be wrong.
    let problems = k8s_json::placement_problems(&template)?;
    if problems.is_empty() != want_valid {
        return Err(format!(
            "server agrees with the fixture, but the test oracle does not: valid={want_valid}, oracle found {problems:?}"
        ));
    }
    Ok(Some(()))
}

#[tokio::test]
async fn conformance_validation_over_evaluate() {
    let mut api = Api::start().await;
    let mut failures = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for case in k8s_cases() {
        let check = case["input"]["check"].as_str().unwrap_or_default();
        let id = case["id"].as_str().unwrap_or("?");
        match run_validation_case(&mut api, case).await {
            Ok(None) => {}
            Ok(Some(())) => *counts.entry(check).or_default() += 1,
            Err(e) => {
                *counts.entry(check).or_default() += 1;
                failures.push(format!("{id} ({check}): {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        counts.values().sum::<usize>(),
        failures.join("\n")
    );
    println!("validation cases over Evaluate: {counts:?}");
    for check in [
        "nodeSelectorRequirement",
        "nodeFieldSelectorRequirement",
        "nodeSelector",
        "preferredSchedulingTerm",
        "toleration",
        "labelKey",
        "labelValue",
    ] {
        assert!(
            counts.get(check).copied().unwrap_or(0) > 0,
            "no {check} case ran"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Every rule as a named row.
// ---------------------------------------------------------------------------------------

struct Row {
    name: &'static str,
    spec: Value,
    run: &'static [&'static str],
    keep: &'static [&'static str],
}

fn row(name: &'static str, spec: Value, run: &'static [&'static str]) -> Row {
    Row {
        name,
        spec,
        run,
        keep: &[],
    }
}

/// Each row through `Evaluate` (inline) and, per node, `Explain`: both must give the row's
/// shouldRun and keep sets.
async fn run_rows(api: &mut Api, all: &[&str], rows: Vec<Row>) {
    let mut failures = Vec::new();
    for r in rows {
        let placement = match k8s_json::pod_placement(&r.spec) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: {e}", r.name));
                continue;
            }
        };
        let want = (sorted(r.run), sorted(r.keep));
        match api.evaluate(inline(placement.clone())).await {
            Err(s) => failures.push(format!("{}: Evaluate: {s:?}", r.name)),
            Ok(got) => {
                if (&got.nodes, &got.keep) != (&want.0, &want.1) {
                    failures.push(format!(
                        "{}: want nodes {:?} keep {:?}, got nodes {:?} keep {:?}",
                        r.name, want.0, want.1, got.nodes, got.keep
                    ));
                } else if (got.should_run_count, got.keep_count, got.total_nodes)
                    != (want.0.len() as u32, want.1.len() as u32, all.len() as u32)
                {
                    failures.push(format!("{}: counts {got:?}", r.name));
                }
                match api.explain(inline(placement), all).await {
                    Err(s) => failures.push(format!("{}: Explain: {s:?}", r.name)),
                    Ok(e) => {
                        let eval = Eval {
                            nodes: want.0.clone(),
                            keep: want.1.clone(),
                            ..Eval::default()
                        };
                        if let Err(e) = explain_agrees(&eval, &e) {
                            failures.push(format!("{}: {e}", r.name));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn operators_and_node_selector() {
    let mut api = Api::start().await;
    let ack = api
        .resync(vec![
            node("a", &[("zone", "a"), ("cores", "8"), ("ssd", "")], &[]),
            node("b", &[("zone", "b"), ("cores", "16")], &[]),
            node("c", &[("zone", "c"), ("cores", "0206")], &[]),
            node("d", &[("zone", "a"), ("cores", "abc")], &[]),
            node("e", &[], &[]),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let all = ["a", "b", "c", "d", "e"];
    let e = |k: &str, op: &str, v: &[&str]| json!({"key": k, "operator": op, "values": v});
    let f = |op: &str, v: &str| json!({"key": "metadata.name", "operator": op, "values": [v]});
    let rows = vec![
        row(
            "no placement: every node",
            json!({}),
            &["a", "b", "c", "d", "e"],
        ),
        row(
            "In one value",
            exprs(json!([e("zone", "In", &["a"])])),
            &["a", "d"],
        ),
        row(
            "In two values",
            exprs(json!([e("zone", "In", &["a", "b"])])),
            &["a", "b", "d"],
        ),
        row(
            "NotIn matches a missing key",
            exprs(json!([e("zone", "NotIn", &["a"])])),
            &["b", "c", "e"],
        ),
        row(
            "Exists",
            exprs(json!([e("cores", "Exists", &[])])),
            &["a", "b", "c", "d"],
        ),
        row(
            "Exists on an empty value",
            exprs(json!([e("ssd", "Exists", &[])])),
            &["a"],
        ),
        row(
            "DoesNotExist",
            exprs(json!([e("zone", "DoesNotExist", &[])])),
            &["e"],
        ),
        row(
            "Gt: integers only, leading zeros read",
            exprs(json!([e("cores", "Gt", &["10"])])),
            &["b", "c"],
        ),
        row(
            "Gt is strict",
            exprs(json!([e("cores", "Gt", &["8"])])),
            &["b", "c"],
        ),
        row(
            "Gt with a leading-zero value",
            exprs(json!([e("cores", "Gt", &["0204"])])),
            &["c"],
        ),
        row(
            "Lt is strict",
            exprs(json!([e("cores", "Lt", &["16"])])),
            &["a"],
        ),
        row(
            "Gt with a non-integer value never matches",
            exprs(json!([e("cores", "Gt", &["abc"])])),
            &[],
        ),
        row(
            "matchFields metadata.name In",
            required(json!([{ "matchFields": [f("In", "b")] }])),
            &["b"],
        ),
        row(
            "matchFields metadata.name NotIn",
            required(json!([{ "matchFields": [f("NotIn", "b")] }])),
            &["a", "c", "d", "e"],
        ),
        row(
            "matchExpressions on metadata.name reads a label",
            exprs(json!([e("metadata.name", "In", &["a"])])),
            &[],
        ),
        row(
            "terms are ORed",
            required(json!([
                { "matchExpressions": [e("zone", "In", &["b"])] },
                { "matchExpressions": [e("cores", "Lt", &["10"])] },
            ])),
            &["a", "b"],
        ),
        row(
            "requirements in a term are ANDed",
            exprs(json!([e("zone", "In", &["a"]), e("cores", "Gt", &["0"])])),
            &["a"],
        ),
        row(
            "expressions and fields in one term",
            required(json!([
                { "matchExpressions": [e("zone", "In", &["a"])], "matchFields": [f("NotIn", "a")] },
            ])),
            &["d"],
        ),
        row("an empty term matches nothing", required(json!([{}])), &[]),
        row(
            "an empty term beside a matching one",
            required(json!([{}, { "matchExpressions": [e("zone", "In", &["b"])] }])),
            &["b"],
        ),
        row(
            "nodeSelector",
            json!({"nodeSelector": {"zone": "a"}}),
            &["a", "d"],
        ),
        row(
            "nodeSelector pairs are ANDed",
            json!({"nodeSelector": {"zone": "a", "cores": "8"}}),
            &["a"],
        ),
        row(
            "nodeSelector empty value needs the key",
            json!({"nodeSelector": {"ssd": ""}}),
            &["a"],
        ),
        row(
            "nodeSelector AND required affinity",
            json!({
                "nodeSelector": {"zone": "a"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{ "matchExpressions": [e("cores", "Lt", &["10"])] }]}}},
            }),
            &["a"],
        ),
        row(
            "preferred terms never restrict",
            json!({"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": { "matchExpressions": [e("zone", "In", &["z"])] }}]}}}),
            &["a", "b", "c", "d", "e"],
        ),
        row(
            "pod (anti-)affinity is accepted and ignored",
            json!({"affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]},
            "podAffinity": {}}}),
            &["a", "b", "c", "d", "e"],
        ),
        row("template nodeName", json!({"nodeName": "c"}), &["c"]),
        row(
            "template nodeName and a selector it fails",
            json!({"nodeName": "b", "nodeSelector": {"zone": "a"}}),
            &[],
        ),
        row(
            "template nodeName of an unknown node",
            json!({"nodeName": "zz"}),
            &[],
        ),
    ];
    run_rows(&mut api, &all, rows).await;
}

/// `Gt`/`Lt` compare label values as base-10 int64: leading zeros read, values that do
/// not parse (exponents, out of range) never match, on either side.
#[tokio::test]
async fn numeric_operator_edges() {
    let mut api = Api::start().await;
    let ack = api
        .resync(vec![
            node("n-zero", &[("cores", "0")], &[]),
            node("n-007", &[("cores", "007")], &[]),
            node("n-8", &[("cores", "8")], &[]),
            node("n-exp", &[("cores", "1e3")], &[]),
            node("n-huge", &[("cores", "99999999999999999999")], &[]),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    const ALL: [&str; 5] = ["n-zero", "n-007", "n-8", "n-exp", "n-huge"];
    let all = ALL;
    let e = |op: &str, v: &str| exprs(json!([{"key": "cores", "operator": op, "values": [v]}]));
    let rows = vec![
        row(
            "Exists sees every value",
            exprs(json!([{"key": "cores", "operator": "Exists"}])),
            &ALL,
        ),
        row("Gt 5", e("Gt", "5"), &["n-007", "n-8"]),
        row("Gt 0", e("Gt", "0"), &["n-007", "n-8"]),
        row("Lt 8", e("Lt", "8"), &["n-zero", "n-007"]),
        row("Lt 1", e("Lt", "1"), &["n-zero"]),
        row(
            "Gt an out-of-range value never matches",
            e("Gt", "99999999999999999998"),
            &[],
        ),
        row(
            "Lt an out-of-range value never matches",
            e("Lt", "99999999999999999999"),
            &[],
        ),
        row(
            "Lt the int64 maximum",
            e("Lt", "9223372036854775807"),
            &["n-zero", "n-007", "n-8"],
        ),
        row(
            "Gt near the int64 maximum",
            e("Gt", "9223372036854775806"),
            &[],
        ),
        row("Gt a value with leading zeros", e("Gt", "0007"), &["n-8"]),
    ];
    run_rows(&mut api, &all, rows).await;
}

/// Placement validation beyond the fixture, each row judged by the test's own reading of §8
/// (and by a stated expectation where that reading has no rule: requests, priority class).
#[tokio::test]
async fn placement_validation_rows() {
    let mut api = Api::start().await;
    const REQ: &str = "placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
    const PREF: &str =
        "placement.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]";
    let pref = |weight: i64, expr: Value| {
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": weight, "preference": {"matchExpressions": [expr]}}]}}})
    };
    let field = |op: &str, values: Value| {
        required(
            json!([{"matchFields": [{"key": "metadata.name", "operator": op, "values": values}]}]),
        )
    };
    let tol = |t: Value| json!({ "tolerations": [t] });
    let rows: Vec<(&str, Value, Option<String>)> = vec![
        (
            "Gt with a non-integer value is valid (decision 2)",
            exprs(json!([{"key": "k", "operator": "Gt", "values": ["abc"]}])),
            None,
        ),
        (
            "Gt with a negative value is not a label value",
            exprs(json!([{"key": "k", "operator": "Gt", "values": ["-1"]}])),
            Some(format!("{REQ}[0].matchExpressions[0]")),
        ),
        (
            "Lt without a value",
            exprs(json!([{"key": "k", "operator": "Lt"}])),
            Some(format!("{REQ}[0].matchExpressions[0]")),
        ),
        (
            "DoesNotExist with a value",
            exprs(json!([{"key": "k", "operator": "DoesNotExist", "values": ["v"]}])),
            Some(format!("{REQ}[0].matchExpressions[0]")),
        ),
        (
            "NotIn with an invalid label value",
            exprs(json!([{"key": "k", "operator": "NotIn", "values": ["a b"]}])),
            Some(format!("{REQ}[0].matchExpressions[0]")),
        ),
        (
            "an uppercase prefix in a key",
            exprs(json!([{"key": "Example.com/k", "operator": "Exists"}])),
            Some(format!("{REQ}[0].matchExpressions[0]")),
        ),
        (
            "a prefixed key",
            exprs(json!([{"key": "example.com/k", "operator": "Exists"}])),
            None,
        ),
        (
            "an empty term list",
            required(json!([])),
            Some(REQ.to_owned()),
        ),
        (
            "an empty term is valid",
            required(json!([{"matchExpressions": []}])),
            None,
        ),
        (
            "matchFields with two values",
            field("In", json!(["a", "b"])),
            Some(format!("{REQ}[0].matchFields[0]")),
        ),
        (
            "matchFields Exists",
            field("Exists", json!([])),
            Some(format!("{REQ}[0].matchFields[0]")),
        ),
        (
            "matchFields with an invalid node name",
            field("NotIn", json!(["Node_1"])),
            Some(format!("{REQ}[0].matchFields[0]")),
        ),
        (
            "matchFields on another field",
            required(
                json!([{"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]}]),
            ),
            Some(format!("{REQ}[0].matchFields[0]")),
        ),
        (
            "preferred label values: unchecked upstream, unparseable for the scheduler (decision 2)",
            pref(
                10,
                json!({"key": "k", "operator": "In", "values": ["___@#$%^"]}),
            ),
            Some(format!("{PREF}.preference")),
        ),
        (
            "preferred weight 0",
            pref(0, json!({"key": "k", "operator": "Exists"})),
            Some(format!("{PREF}.weight")),
        ),
        (
            "preferred weight 101",
            pref(101, json!({"key": "k", "operator": "Exists"})),
            Some(format!("{PREF}.weight")),
        ),
        (
            "preferred unknown operator",
            pref(1, json!({"key": "k", "operator": "Near", "values": ["v"]})),
            Some(format!("{PREF}.preference")),
        ),
        (
            "preferred Gt with two values",
            pref(
                1,
                json!({"key": "k", "operator": "Gt", "values": ["1", "2"]}),
            ),
            Some(format!("{PREF}.preference")),
        ),
        (
            "preferred invalid key",
            pref(1, json!({"key": "a/b/c", "operator": "Exists"})),
            Some(format!("{PREF}.preference")),
        ),
        (
            "toleration Lt (alpha upstream, decision 11)",
            tol(json!({"key": "k", "operator": "Lt", "value": "5"})),
            Some("placement.tolerations[0].operator".into()),
        ),
        (
            "toleration Gt",
            tol(json!({"key": "k", "operator": "Gt", "value": "5"})),
            Some("placement.tolerations[0].operator".into()),
        ),
        (
            "toleration Exists with a value",
            tol(json!({"key": "k", "operator": "Exists", "value": "v"})),
            Some("placement.tolerations[0]".into()),
        ),
        (
            "toleration unknown effect",
            tol(json!({"key": "k", "operator": "Exists", "effect": "Sometimes"})),
            Some("placement.tolerations[0].effect".into()),
        ),
        (
            "toleration invalid value",
            tol(json!({"key": "k", "value": "a b"})),
            Some("placement.tolerations[0]".into()),
        ),
        (
            "toleration seconds with NoExecute",
            tol(
                json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}),
            ),
            None,
        ),
        (
            "toleration negative seconds",
            tol(
                json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -5}),
            ),
            None,
        ),
        (
            "toleration seconds without an effect",
            tol(json!({"key": "k", "operator": "Exists", "tolerationSeconds": 60})),
            Some("placement.tolerations[0]".into()),
        ),
        (
            "toleration empty key with Equal",
            tol(json!({"operator": "Equal", "value": "v"})),
            Some("placement.tolerations[0]".into()),
        ),
        (
            "nodeSelector value of 64 characters",
            json!({"nodeSelector": {"k": "v".repeat(64)}}),
            Some("placement.nodeSelector".into()),
        ),
        (
            "nodeSelector key name of 63 characters",
            json!({"nodeSelector": {"k".repeat(63): "v"}}),
            None,
        ),
        (
            "nodeSelector empty value",
            json!({"nodeSelector": {"k": ""}}),
            None,
        ),
        (
            "nodeName not a DNS subdomain",
            json!({"nodeName": "Node_1"}),
            Some("placement.nodeName".into()),
        ),
        (
            "container requests",
            json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}),
            None,
        ),
        (
            "priorityClassName not a DNS subdomain",
            json!({"priorityClassName": "High_Priority"}),
            Some("placement.priorityClassName".into()),
        ),
    ];
    let mut failures = Vec::new();
    for (name, template, want) in rows {
        let oracle = k8s_json::placement_problems(&template).expect("oracle");
        let oracle_covers = template.get("priorityClassName").is_none();
        if oracle_covers && oracle.is_empty() != want.is_none() {
            failures.push(format!(
                "{name}: row and oracle disagree: want {want:?}, oracle {oracle:?}"
            ));
            continue;
        }
        let placement = spec(template);
        match (api.evaluate(inline(placement)).await, want) {
            (Ok(_), None) => {}
            (Err(s), Some(path)) => {
                if let Err(e) = check_invalid(&s, &path) {
                    failures.push(format!("{name}: {e}"));
                }
            }
            (Ok(_), Some(path)) => {
                failures.push(format!("{name}: want INVALID_ARGUMENT at {path}, got OK"))
            }
            (Err(s), None) => failures.push(format!(
                "{name}: want OK, got {:?}: {}",
                s.code(),
                s.message()
            )),
        }
    }
    // Requests are quantities.
    let bad = pb::PodPlacement {
        requests: [("cpu".to_owned(), "lots".to_owned())].into(),
        ..Default::default()
    };
    match api.evaluate(inline(bad)).await {
        Err(s) => {
            if let Err(e) = check_invalid(&s, "placement.requests") {
                failures.push(format!("requests not a quantity: {e}"));
            }
        }
        Ok(_) => failures.push("requests not a quantity: want INVALID_ARGUMENT, got OK".into()),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn tolerations_and_default_tolerations() {
    let mut api = Api::start().await;
    let mut cordoned = node(
        "cordoned",
        &[],
        &[("node.kubernetes.io/unschedulable", "", "NoSchedule")],
    );
    cordoned.unschedulable = true;
    let mut cordoned_bare = node("cordoned-bare", &[], &[]);
    cordoned_bare.unschedulable = true;
    let nodes = vec![
        node("plain", &[], &[]),
        node("ns-gpu", &[], &[("dedicated", "gpu", "NoSchedule")]),
        node("ne-gpu", &[], &[("dedicated", "gpu", "NoExecute")]),
        node(
            "both-gpu",
            &[],
            &[
                ("dedicated", "gpu", "NoSchedule"),
                ("dedicated", "gpu", "NoExecute"),
            ],
        ),
        node("ns-novalue", &[], &[("dedicated", "", "NoSchedule")]),
        node("pns", &[], &[("dedicated", "gpu", "PreferNoSchedule")]),
        cordoned,
        cordoned_bare,
        node(
            "not-ready",
            &[],
            &[
                ("node.kubernetes.io/not-ready", "", "NoSchedule"),
                ("node.kubernetes.io/not-ready", "", "NoExecute"),
            ],
        ),
        node(
            "unreachable",
            &[],
            &[("node.kubernetes.io/unreachable", "", "NoExecute")],
        ),
        node(
            "pressure",
            &[],
            &[
                ("node.kubernetes.io/disk-pressure", "", "NoSchedule"),
                ("node.kubernetes.io/memory-pressure", "", "NoSchedule"),
                ("node.kubernetes.io/pid-pressure", "", "NoSchedule"),
            ],
        ),
        node(
            "net",
            &[],
            &[("node.kubernetes.io/network-unavailable", "", "NoSchedule")],
        ),
        node(
            "oos",
            &[],
            &[(
                "node.kubernetes.io/out-of-service",
                "nodeshutdown",
                "NoExecute",
            )],
        ),
        node(
            "cp",
            &[],
            &[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
        ),
    ];
    let all: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let ack = api.resync(nodes).await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let tol = |t: Value| json!({ "tolerations": [t] });
    // Always run with the defaults: no taint, PreferNoSchedule, cordon (with or without its
    // taint), unreachable/not-ready NoExecute, the pressure taints.
    let rows = vec![
        Row {
            name: "defaults only: NoSchedule keeps, NoExecute evicts",
            spec: json!({}),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "hostNetwork adds the network-unavailable toleration",
            spec: json!({ "hostNetwork": true }),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "net",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "cp"],
        },
        Row {
            name: "Equal key=value:NoSchedule",
            spec: tol(
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ns-gpu",
            ],
            keep: &["ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "empty operator means Equal",
            spec: tol(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ns-gpu",
            ],
            keep: &["ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "Equal with an empty value matches an empty taint value",
            spec: tol(
                json!({"key": "dedicated", "operator": "Equal", "value": "", "effect": "NoSchedule"}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ns-novalue",
            ],
            keep: &["ns-gpu", "not-ready", "net", "cp"],
        },
        Row {
            name: "Equal with another value does not tolerate",
            spec: tol(
                json!({"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "Equal with an empty effect tolerates both effects",
            spec: tol(json!({"key": "dedicated", "operator": "Equal", "value": "gpu"})),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ns-gpu",
                "ne-gpu",
                "both-gpu",
            ],
            keep: &["ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "Exists on a key tolerates any value",
            spec: tol(json!({"key": "dedicated", "operator": "Exists"})),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ns-gpu",
                "ne-gpu",
                "both-gpu",
                "ns-novalue",
            ],
            keep: &["not-ready", "net", "cp"],
        },
        Row {
            name: "NoExecute tolerated, NoSchedule not: keep only",
            spec: tol(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "ne-gpu",
            ],
            keep: &["ns-gpu", "both-gpu", "ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "empty key with Exists tolerates everything",
            spec: tol(json!({"operator": "Exists"})),
            run: &[
                "plain",
                "ns-gpu",
                "ne-gpu",
                "both-gpu",
                "ns-novalue",
                "pns",
                "cordoned",
                "cordoned-bare",
                "not-ready",
                "unreachable",
                "pressure",
                "net",
                "oos",
                "cp",
            ],
            keep: &[],
        },
        Row {
            name: "empty key with Exists:NoSchedule tolerates every NoSchedule taint",
            spec: tol(json!({"operator": "Exists", "effect": "NoSchedule"})),
            run: &[
                "plain",
                "ns-gpu",
                "ns-novalue",
                "pns",
                "cordoned",
                "cordoned-bare",
                "not-ready",
                "unreachable",
                "pressure",
                "net",
                "cp",
            ],
            keep: &[],
        },
        Row {
            name: "not-ready:NoSchedule tolerated by the user",
            spec: tol(
                json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "not-ready",
            ],
            keep: &["ns-gpu", "ns-novalue", "net", "cp"],
        },
        Row {
            name: "control-plane toleration",
            spec: tol(
                json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "cp",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "net"],
        },
        Row {
            name: "out-of-service is not a default; tolerated explicitly",
            spec: tol(json!({"key": "node.kubernetes.io/out-of-service", "operator": "Exists"})),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
                "oos",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "net", "cp"],
        },
        Row {
            name: "a user not-ready:NoExecute toleration with seconds stays infinite",
            spec: tol(
                json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            ),
            run: &[
                "plain",
                "pns",
                "cordoned",
                "cordoned-bare",
                "unreachable",
                "pressure",
            ],
            keep: &["ns-gpu", "ns-novalue", "not-ready", "net", "cp"],
        },
    ];
    run_rows(&mut api, &all, rows).await;
}

// ---------------------------------------------------------------------------------------
// Evaluate: pagination, count_only, targets and errors.
// ---------------------------------------------------------------------------------------

/// The taint the paging fleet gives `p-NN`.
fn taint_of(name: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    let i: u32 = name.trim_start_matches("p-").parse().unwrap_or(1);
    if i.is_multiple_of(5) {
        vec![("evict", "", "NoExecute")]
    } else if i.is_multiple_of(3) {
        vec![("hold", "", "NoSchedule")]
    } else {
        vec![]
    }
}

#[tokio::test]
async fn evaluate_pages_in_name_order() {
    let mut api = Api::start().await;
    // 25 nodes: every 3rd has an untolerated NoSchedule taint (keep), every 5th a NoExecute
    // one (neither), so pages interleave nodes and keep_nodes.
    let mut nodes = Vec::new();
    let (mut want_run, mut want_keep) = (Vec::new(), Vec::new());
    for i in (0..25).rev() {
        let name = format!("p-{i:02}");
        let mut taints = Vec::new();
        if i % 5 == 0 {
            taints.push(("evict", "", "NoExecute"));
        } else if i % 3 == 0 {
            taints.push(("hold", "", "NoSchedule"));
            want_keep.push(name.clone());
        } else {
            want_run.push(name.clone());
        }
        nodes.push(node(&name, &[], &taints));
    }
    want_run.sort();
    want_keep.sort();
    let ack = api.resync(nodes).await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let mut want_all: Vec<String> = want_run.iter().chain(&want_keep).cloned().collect();
    want_all.sort();

    for limit in [1u32, 4, 7, 17, 100] {
        let (mut nodes, mut keep, mut walked) = (Vec::new(), Vec::new(), Vec::new());
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = api
                .placement
                .evaluate(pb::EvaluateRequest {
                    target: Some(inline(pb::PodPlacement::default())),
                    limit,
                    page_token: token,
                    count_only: false,
                })
                .await
                .expect("page")
                .into_inner();
            pages += 1;
            assert!(page.revision > 0, "limit {limit}: revision missing");
            assert_eq!(
                (page.should_run_count, page.keep_count, page.total_nodes),
                (want_run.len() as u32, want_keep.len() as u32, 25),
                "limit {limit} page {pages}: counts are whole-inventory totals"
            );
            let mut names: Vec<String> =
                page.nodes.iter().chain(&page.keep_nodes).cloned().collect();
            assert!(
                names.len() <= limit as usize,
                "limit {limit}: page of {}",
                names.len()
            );
            names.sort();
            walked.extend(names);
            nodes.extend(page.nodes);
            keep.extend(page.keep_nodes);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
            assert!(pages < 100, "limit {limit}: pages never end");
        }
        assert_eq!(
            walked, want_all,
            "limit {limit}: pages walk names ascending, nodes and keep together"
        );
        assert_eq!(
            (&nodes, &keep),
            (&want_run, &want_keep),
            "limit {limit}: nodes / keep_nodes"
        );
        let want_pages = want_all.len().div_ceil(limit as usize).max(1);
        assert!(
            pages == want_pages || pages == want_pages + 1,
            "limit {limit}: {pages} pages, want {want_pages}"
        );
    }

    // count_only: counts, no names, no token.
    let counted = api
        .placement
        .evaluate(pb::EvaluateRequest {
            target: Some(inline(pb::PodPlacement::default())),
            limit: 3,
            page_token: String::new(),
            count_only: true,
        })
        .await
        .expect("count only")
        .into_inner();
    assert!(
        counted.nodes.is_empty() && counted.keep_nodes.is_empty(),
        "{counted:?}"
    );
    assert!(counted.next_page_token.is_empty(), "{counted:?}");
    assert_eq!(
        (
            counted.should_run_count,
            counted.keep_count,
            counted.total_nodes
        ),
        (want_run.len() as u32, want_keep.len() as u32, 25)
    );
    assert!(counted.revision > 0);

    // A page token resumes after its name even when that node is gone meanwhile, and a
    // node added before it is not revisited.
    let first = api
        .placement
        .evaluate(pb::EvaluateRequest {
            target: Some(inline(pb::PodPlacement::default())),
            limit: 3,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let mut seen: Vec<String> = first
        .nodes
        .iter()
        .chain(&first.keep_nodes)
        .cloned()
        .collect();
    seen.sort();
    assert_eq!(seen, want_all[..3]);
    let ack = api
        .send(pb::SyncRequest {
            delete_nodes: vec![seen[2].clone()],
            upsert_nodes: vec![node("p-00a", &[], &[])],
            ..Default::default()
        })
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let second = api
        .placement
        .evaluate(pb::EvaluateRequest {
            target: Some(inline(pb::PodPlacement::default())),
            limit: 3,
            page_token: first.next_page_token.clone(),
            count_only: false,
        })
        .await
        .expect("next page")
        .into_inner();
    let mut next: Vec<String> = second
        .nodes
        .iter()
        .chain(&second.keep_nodes)
        .cloned()
        .collect();
    next.sort();
    assert_eq!(next, want_all[3..6], "resumes after {}", seen[2]);
    // Restore the fleet for what follows.
    api.send(pb::SyncRequest {
        delete_nodes: vec!["p-00a".into()],
        upsert_nodes: vec![node(&seen[2], &[], &taint_of(&seen[2]))],
        ..Default::default()
    })
    .await;

    // The revision moves with the inventory.
    let before = api
        .evaluate(inline(pb::PodPlacement::default()))
        .await
        .expect("eval");
    let ack = api.upsert(vec![node("p-99", &[], &[])]).await;
    let after = api
        .evaluate(inline(pb::PodPlacement::default()))
        .await
        .expect("eval");
    assert!(
        after.revision >= ack.revision && after.revision > before.revision,
        "{before:?} {after:?} {ack:?}"
    );
    assert_eq!(after.total_nodes, 26);
}

#[tokio::test]
async fn evaluate_targets_and_errors() {
    let mut api = Api::start().await;
    api.upsert(vec![node("n1", &[("role", "web")], &[])]).await;

    let missing = api
        .evaluate(registered("default", "nope"))
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let missing = api
        .evaluate(registered("other", "nope"))
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");

    let none = api
        .placement
        .evaluate(pb::EvaluateRequest::default())
        .await
        .expect_err("no target");
    assert_eq!(none.code(), Code::InvalidArgument, "{none:?}");

    let bad_token = api
        .placement
        .evaluate(pb::EvaluateRequest {
            target: Some(inline(pb::PodPlacement::default())),
            page_token: "not a token".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(bad_token.code(), Code::InvalidArgument, "{bad_token:?}");

    // A registered DaemonSet, addressed with the default namespace spelled or not.
    let ds = daemonset("web", spec(json!({"nodeSelector": {"role": "web"}})));
    api.apply(ds).await.expect("apply");
    for ns in ["", "default"] {
        let got = api
            .evaluate(registered(ns, "web"))
            .await
            .expect("registered");
        assert_eq!(got.nodes, ["n1"], "namespace {ns:?}");
    }

    // api.md's example error, reproduced exactly.
    let p = spec(exprs(json!([
        {"key": "zone", "operator": "In", "values": ["a"]},
        {"key": "zone", "operator": "Equals", "values": ["a"]},
    ])));
    let status = api.evaluate(inline(p)).await.expect_err("Equals");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator: \
         unsupported value \"Equals\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\""
    );
    let fields = check_invalid(&status, "placement.").expect("BadRequest");
    assert_eq!(
        fields,
        [
            "placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator"
        ]
    );

    // Every bad field is reported, each with its path.
    let p = spec(json!({
        "nodeSelector": {"bad key!": "v"},
        "tolerations": [{"key": "k", "operator": "Lt", "value": "3"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
    }));
    let status = api.evaluate(inline(p)).await.expect_err("invalid");
    let fields = check_invalid(&status, "placement.").expect("BadRequest");
    for want in [
        "placement.nodeSelector",
        "placement.tolerations[0].operator",
        "placement.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(want)),
            "want {want} in {fields:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Explain.
// ---------------------------------------------------------------------------------------

fn reasons(v: &pb::NodeVerdict) -> Vec<(String, String)> {
    v.reasons
        .iter()
        .map(|r| (r.code.clone(), r.message.clone()))
        .collect()
}

#[tokio::test]
async fn explain_named_nodes_and_summary() {
    let mut api = Api::start().await;
    let ack = api
        .resync(vec![
            node("x-ok", &[("node-type", "worker"), ("zone", "a")], &[]),
            node("x-gpu", &[("node-type", "gpu"), ("zone", "a")], &[]),
            node("x-bare", &[], &[]),
            node("x-bare-2", &[("zone", "b")], &[]),
            node(
                "x-tainted",
                &[("node-type", "worker"), ("zone", "a")],
                &[("dedicated", "gpu", "NoSchedule")],
            ),
            node(
                "x-evicting",
                &[("node-type", "worker"), ("zone", "a")],
                &[
                    ("edge", "true", "NoExecute"),
                    ("dedicated", "gpu", "NoSchedule"),
                ],
            ),
            node(
                "x-other-zone",
                &[("node-type", "worker"), ("zone", "b")],
                &[],
            ),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let placement = spec(json!({
        "nodeSelector": {"node-type": "worker"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
    }));
    let e = api
        .explain(
            inline(placement.clone()),
            &[
                "x-ok",
                "x-gpu",
                "x-bare",
                "x-tainted",
                "x-evicting",
                "x-other-zone",
                "x-ghost",
            ],
        )
        .await
        .expect("explain");
    assert!(e.revision > 0);
    let by: BTreeMap<&str, &pb::NodeVerdict> =
        e.verdicts.iter().map(|v| (v.node.as_str(), v)).collect();
    assert_eq!(e.verdicts.len(), 7, "one verdict per named node: {e:?}");

    let ok = by["x-ok"];
    assert!(
        ok.found && ok.should_run && ok.should_continue_running && ok.reasons.is_empty(),
        "{ok:?}"
    );

    let gpu = by["x-gpu"];
    assert!(
        gpu.found && !gpu.should_run && !gpu.should_continue_running,
        "{gpu:?}"
    );
    let r = reasons(gpu);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, "NodeSelectorMismatch");
    assert!(
        r[0].1.contains("node-type=worker"),
        "reason names the pair: {r:?}"
    );

    let bare = by["x-bare"];
    let codes: Vec<&str> = bare.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(
        codes,
        ["NodeSelectorMismatch", "NodeAffinityMismatch"],
        "{bare:?}"
    );
    let affinity = &bare.reasons[1].message;
    assert!(
        affinity.contains("term 0") && affinity.contains("zone"),
        "names the failed term: {affinity}"
    );

    let other = by["x-other-zone"];
    let r = reasons(other);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, "NodeAffinityMismatch");
    assert!(r[0].1.contains("zone"), "{r:?}");

    let tainted = by["x-tainted"];
    assert!(
        !tainted.should_run && tainted.should_continue_running,
        "{tainted:?}"
    );
    assert_eq!(
        reasons(tainted),
        [(
            "TaintNotTolerated".to_owned(),
            "taint dedicated=gpu:NoSchedule not tolerated".to_owned()
        )]
    );

    let evicting = by["x-evicting"];
    assert!(
        !evicting.should_run && !evicting.should_continue_running,
        "{evicting:?}"
    );
    let msgs: Vec<String> = evicting.reasons.iter().map(|r| r.message.clone()).collect();
    assert!(
        evicting
            .reasons
            .iter()
            .all(|r| r.code == "TaintNotTolerated"),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("edge=true:NoExecute")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("dedicated=gpu:NoSchedule")),
        "{msgs:?}"
    );

    let ghost = by["x-ghost"];
    assert!(
        !ghost.found && !ghost.should_run && !ghost.should_continue_running,
        "{ghost:?}"
    );
    assert_eq!(
        ghost.reasons.first().map(|r| r.code.as_str()),
        Some("NodeNotFound"),
        "{ghost:?}"
    );

    // Summary over every node, no node named: counts per reason.
    let s = api
        .explain(inline(placement.clone()), &[])
        .await
        .expect("summary");
    assert!(s.verdicts.is_empty(), "{s:?}");
    let count = |code: &str, needle: &str| -> u32 {
        s.summary
            .iter()
            .filter(|r| r.code == code && r.message.contains(needle))
            .map(|r| r.count)
            .sum()
    };
    // gpu, bare, bare-2 lack node-type=worker; bare, bare-2, other-zone fail the term.
    assert_eq!(
        count("NodeSelectorMismatch", "node-type=worker"),
        3,
        "{:#?}",
        s.summary
    );
    assert_eq!(count("NodeAffinityMismatch", ""), 3, "{:#?}", s.summary);
    assert_eq!(
        count("TaintNotTolerated", "dedicated=gpu:NoSchedule"),
        2,
        "{:#?}",
        s.summary
    );
    assert_eq!(
        count("TaintNotTolerated", "edge=true:NoExecute"),
        1,
        "{:#?}",
        s.summary
    );
    let selector = s
        .summary
        .iter()
        .find(|r| r.code == "NodeSelectorMismatch")
        .expect("selector reason");
    assert!(
        selector
            .message
            .contains("nodeSelector node-type=worker not matched"),
        "{selector:?}"
    );
    for r in &s.summary {
        for name in [
            "x-ok",
            "x-gpu",
            "x-bare",
            "x-bare-2",
            "x-tainted",
            "x-evicting",
            "x-other-zone",
        ] {
            let named = r
                .message
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|w| w == name);
            assert!(!named, "summary names node {name}: {r:?}");
        }
    }
    assert!(
        s.summary.windows(2).all(|w| w[0].count >= w[1].count),
        "most frequent first: {:#?}",
        s.summary
    );

    // A registered DaemonSet explains the same; an unknown one is NOT_FOUND.
    api.apply(daemonset("agent", placement))
        .await
        .expect("apply");
    let reg = api
        .explain(registered("default", "agent"), &["x-tainted"])
        .await
        .expect("explain");
    assert_eq!(reg.verdicts[0].reasons, tainted.reasons);
    let missing = api
        .explain(registered("default", "nope"), &[])
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    let invalid = api
        .explain(inline(spec(json!({"nodeSelector": {"k": "-bad-"}}))), &[])
        .await
        .expect_err("invalid");
    check_invalid(&invalid, "placement.nodeSelector").expect("invalid placement");

    // A template nodeName names the node it wants.
    let pinned = spec(json!({"nodeName": "x-ok"}));
    let e = api
        .explain(inline(pinned), &["x-gpu", "x-ok"])
        .await
        .expect("explain");
    let codes: Vec<&str> = e.verdicts[0]
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["NodeNameMismatch"], "{e:?}");
    assert!(e.verdicts[0].reasons[0].message.contains("x-ok"), "{e:?}");
    assert!(
        e.verdicts[1].should_run && e.verdicts[1].reasons.is_empty(),
        "{e:?}"
    );

    // Too many named nodes: RESOURCE_EXHAUSTED naming the limit.
    let many: Vec<String> = (0..1001).map(|i| format!("n-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let status = api
        .explain(inline(pb::PodPlacement::default()), &many)
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("1000"),
        "names the limit: {status:?}"
    );
}

#[tokio::test]
async fn explain_scores() {
    let mut api = Api::start().await;
    let ack = api
        .resync(vec![
            node("s1", &[("zone", "a"), ("disk", "ssd")], &[]),
            node("s2", &[("zone", "a")], &[]),
            node("s3", &[("disk", "hdd")], &[]),
            node("s4", &[], &[]),
            node("p0", &[], &[]),
            node("p1", &[], &[("a", "1", "PreferNoSchedule")]),
            node(
                "p2",
                &[],
                &[
                    ("a", "1", "PreferNoSchedule"),
                    ("b", "", "PreferNoSchedule"),
                ],
            ),
            node("p3", &[], &[("tol", "x", "PreferNoSchedule")]),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let preferred = spec(
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 30, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
        ]}}}),
    );
    let scores = |e: &pb::ExplainResponse| -> Vec<(String, i32, i32)> {
        e.verdicts
            .iter()
            .map(|v| (v.node.clone(), v.affinity_score, v.taint_score))
            .collect()
    };
    let s = |n: &str, a: i32, t: i32| (n.to_owned(), a, t);

    struct ScoreRow {
        name: &'static str,
        placement: pb::PodPlacement,
        nodes: &'static [&'static str],
        want: Vec<(String, i32, i32)>,
    }
    let tolerate_tol = spec(
        json!({"tolerations": [{"key": "tol", "operator": "Exists", "effect": "PreferNoSchedule"}]}),
    );
    let tolerate_a_noschedule =
        spec(json!({"tolerations": [{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]}));
    let by_name = spec(
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "preference": {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["s2"]}]}},
        ]}}}),
    );
    let empty_preference = spec(
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {}},
        ]}}}),
    );
    let tolerate_b_any = spec(json!({"tolerations": [{"key": "b", "operator": "Exists"}]}));
    let rows = vec![
        ScoreRow {
            name: "weights summed (40, 10, 30, 0), normalized to the best named node",
            placement: preferred.clone(),
            nodes: &["s1", "s2", "s3", "s4"],
            want: vec![
                s("s1", 100, 100),
                s("s2", 25, 100),
                s("s3", 75, 100),
                s("s4", 0, 100),
            ],
        },
        ScoreRow {
            name: "normalized over the named nodes only",
            placement: preferred.clone(),
            nodes: &["s2", "s4"],
            want: vec![s("s2", 100, 100), s("s4", 0, 100)],
        },
        ScoreRow {
            name: "no preferred terms: 0",
            placement: pb::PodPlacement::default(),
            nodes: &["s1", "s2"],
            want: vec![s("s1", 0, 100), s("s2", 0, 100)],
        },
        ScoreRow {
            name: "PreferNoSchedule taints: 100 - 100*raw/max",
            placement: pb::PodPlacement::default(),
            nodes: &["p0", "p1", "p2", "p3"],
            want: vec![
                s("p0", 0, 100),
                s("p1", 0, 50),
                s("p2", 0, 0),
                s("p3", 0, 50),
            ],
        },
        ScoreRow {
            name: "a tolerated PreferNoSchedule taint does not count",
            placement: tolerate_tol,
            nodes: &["p0", "p1", "p2", "p3"],
            want: vec![
                s("p0", 0, 100),
                s("p1", 0, 50),
                s("p2", 0, 0),
                s("p3", 0, 100),
            ],
        },
        ScoreRow {
            name: "a NoSchedule-only toleration does not tolerate PreferNoSchedule",
            placement: tolerate_a_noschedule,
            nodes: &["p0", "p1", "p2"],
            want: vec![s("p0", 0, 100), s("p1", 0, 50), s("p2", 0, 0)],
        },
        ScoreRow {
            name: "an empty-effect toleration counts",
            placement: tolerate_b_any,
            nodes: &["p0", "p1", "p2"],
            want: vec![s("p0", 0, 100), s("p1", 0, 0), s("p2", 0, 0)],
        },
        ScoreRow {
            name: "no untolerated PreferNoSchedule taint on any named node: all 100",
            placement: pb::PodPlacement::default(),
            nodes: &["p0", "s1"],
            want: vec![s("p0", 0, 100), s("s1", 0, 100)],
        },
        ScoreRow {
            name: "an unknown node is not scored and does not shift the others",
            placement: preferred,
            nodes: &["s2", "ghost", "s3"],
            want: vec![s("s2", 33, 100), s("ghost", 0, 0), s("s3", 100, 100)],
        },
        ScoreRow {
            name: "a preferred matchFields term scores the named node",
            placement: by_name,
            nodes: &["s1", "s2"],
            want: vec![s("s1", 0, 100), s("s2", 100, 100)],
        },
        ScoreRow {
            name: "an empty preference scores 0",
            placement: empty_preference,
            nodes: &["s1", "s2"],
            want: vec![s("s1", 0, 100), s("s2", 0, 100)],
        },
    ];
    let mut failures = Vec::new();
    for r in rows {
        match api.explain(inline(r.placement), r.nodes).await {
            Err(e) => failures.push(format!("{}: {e:?}", r.name)),
            Ok(e) => {
                let got = scores(&e);
                if got != r.want {
                    failures.push(format!("{}: want {:?}, got {got:?}", r.name, r.want));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn explain_resource_fit() {
    let mut api = Api::start().await;
    let with = |name: &str, alloc: &[(&str, &str)], requested: &[(&str, &str)]| pb::Node {
        allocatable: alloc
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        requested: requested
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..node(name, &[], &[])
    };
    let ack = api
        .resync(vec![
            with(
                "tight",
                &[("cpu", "2"), ("memory", "1Gi")],
                &[("memory", "1004Mi"), ("cpu", "500m")],
            ),
            with("no-memory", &[("cpu", "4")], &[]),
            with(
                "roomy",
                &[("cpu", "4"), ("memory", "16Gi")],
                &[("cpu", "3750m")],
            ),
            with(
                "cpu-short",
                &[("cpu", "1"), ("memory", "16Gi")],
                &[("cpu", "900m")],
            ),
            with("nothing", &[], &[]),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let placement = pb::PodPlacement {
        requests: [("memory", "64Mi"), ("cpu", "250m")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    let e = api
        .explain(
            inline(placement.clone()),
            &["tight", "no-memory", "roomy", "cpu-short", "nothing"],
        )
        .await
        .expect("explain");
    let got: Vec<(String, bool, Vec<String>)> = e
        .verdicts
        .iter()
        .map(|v| (v.node.clone(), v.fits, v.insufficient.clone()))
        .collect();
    let want: Vec<(String, bool, Vec<String>)> = vec![
        (
            "tight".into(),
            false,
            vec!["memory: requests 64Mi, free 20Mi".into()],
        ),
        (
            "no-memory".into(),
            false,
            vec!["memory: requests 64Mi, free 0".into()],
        ),
        ("roomy".into(), true, vec![]),
        (
            "cpu-short".into(),
            false,
            vec!["cpu: requests 250m, free 100m".into()],
        ),
        (
            "nothing".into(),
            false,
            vec![
                "cpu: requests 250m, free 0".into(),
                "memory: requests 64Mi, free 0".into(),
            ],
        ),
    ];
    assert_eq!(got, want);
    // Resources are advice: every node should run it.
    assert!(e.verdicts.iter().all(|v| v.should_run), "{e:?}");
    let eval = api.evaluate(inline(placement)).await.expect("evaluate");
    assert_eq!(eval.nodes.len(), 5, "{eval:?}");
}

// ---------------------------------------------------------------------------------------
// DaemonSetsForNode.
// ---------------------------------------------------------------------------------------

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn daemonsets_for_node() {
    let mut api = Api::start().await;
    let mut w1 = node("w1", &[("node-type", "worker")], &[]);
    w1.allocatable = map(&[("cpu", "1"), ("memory", "100Mi")]);
    let mut g1 = node(
        "g1",
        &[("node-type", "gpu")],
        &[("dedicated", "gpu", "NoSchedule")],
    );
    g1.allocatable = map(&[("cpu", "150m"), ("memory", "1Gi")]);
    let e1 = node(
        "e1",
        &[("node-type", "worker")],
        &[("edge", "true", "NoExecute")],
    );
    let ack = api.resync(vec![w1, g1, e1]).await;
    assert!(ack.rejected.is_empty(), "{ack:?}");

    let with = |ns: &str, name: &str, p: Value, requests: &[(&str, &str)], priority: i32| {
        let mut placement = spec(p);
        placement.requests = map(requests);
        placement.priority = priority;
        pb::DaemonSet {
            namespace: ns.to_owned(),
            ..daemonset(name, placement)
        }
    };
    for ds in [
        with(
            "kube-system",
            "agent",
            json!({}),
            &[("cpu", "100m"), ("memory", "50Mi")],
            2000,
        ),
        with(
            "default",
            "gpu-plugin",
            json!({
                "nodeSelector": {"node-type": "gpu"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
            }),
            &[("cpu", "200m")],
            0,
        ),
        with(
            "default",
            "worker-only",
            json!({"nodeSelector": {"node-type": "worker"}}),
            &[("memory", "64Mi"), ("cpu", "950m")],
            10,
        ),
        with(
            "default",
            "edge-only",
            json!({
                "nodeSelector": {"node-type": "worker"},
                "tolerations": [{"key": "edge", "operator": "Exists", "effect": "NoExecute"}],
            }),
            &[],
            0,
        ),
    ] {
        api.apply(ds).await.expect("apply");
    }

    type Fit = (String, bool, bool, bool, i32);
    let fits = |r: &pb::DaemonSetsForNodeResponse| -> Vec<Fit> {
        r.daemonsets
            .iter()
            .map(|f| {
                let d = f.daemonset.clone().unwrap_or_default();
                (
                    format!("{}/{}", d.namespace, d.name),
                    f.should_run,
                    f.should_continue_running,
                    f.fits,
                    f.priority,
                )
            })
            .collect()
    };
    let fit = |n: &str, run: bool, keep: bool, fits: bool, prio: i32| -> Fit {
        (n.to_owned(), run, keep, fits, prio)
    };
    struct ForNode {
        name: &'static str,
        node: pb::daemon_sets_for_node_request::Node,
        want: Vec<Fit>,
        total: BTreeMap<String, String>,
    }
    use pb::daemon_sets_for_node_request::Node as Which;
    let mut hypothetical = node(
        "new-node",
        &[("node-type", "worker")],
        &[("edge", "true", "NoExecute")],
    );
    hypothetical.allocatable = map(&[("cpu", "2"), ("memory", "4Gi")]);
    // 1 CPU and 1Gi allocatable, 950m and 1000Mi already requested: 50m and 24Mi free.
    let mut busy = node("busy-template", &[("node-type", "worker")], &[]);
    busy.allocatable = map(&[("cpu", "1"), ("memory", "1Gi")]);
    busy.requested = map(&[("cpu", "950m"), ("memory", "1000Mi")]);
    let rows = vec![
        ForNode {
            name: "worker: fits each alone, totals summed (100m + 950m)",
            node: Which::Name("w1".into()),
            want: vec![
                fit("default/edge-only", true, true, true, 0),
                fit("default/worker-only", true, true, true, 10),
                fit("kube-system/agent", true, true, true, 2000),
            ],
            total: map(&[("cpu", "1050m"), ("memory", "114Mi")]),
        },
        ForNode {
            name: "gpu node: the agent may only keep a pod, and is not in the total",
            node: Which::Name("g1".into()),
            want: vec![
                fit("default/gpu-plugin", true, true, false, 0),
                fit("kube-system/agent", false, true, true, 2000),
            ],
            total: map(&[("cpu", "200m")]),
        },
        ForNode {
            name: "NoExecute: only the DaemonSet that tolerates it",
            node: Which::Name("e1".into()),
            want: vec![fit("default/edge-only", true, true, true, 0)],
            total: BTreeMap::new(),
        },
        ForNode {
            name: "a hypothetical node that is not in the inventory",
            node: Which::Hypothetical(hypothetical),
            want: vec![fit("default/edge-only", true, true, true, 0)],
            total: BTreeMap::new(),
        },
        ForNode {
            name: "a hypothetical node without allocatable: nothing fits",
            node: Which::Hypothetical(node("bare-template", &[("node-type", "worker")], &[])),
            want: vec![
                fit("default/edge-only", true, true, true, 0),
                fit("default/worker-only", true, true, false, 10),
                fit("kube-system/agent", true, true, false, 2000),
            ],
            total: map(&[("cpu", "1050m"), ("memory", "114Mi")]),
        },
        ForNode {
            name: "requests of other pods leave less free",
            node: Which::Hypothetical(busy),
            want: vec![
                fit("default/edge-only", true, true, true, 0),
                fit("default/worker-only", true, true, false, 10),
                fit("kube-system/agent", true, true, false, 2000),
            ],
            total: map(&[("cpu", "1050m"), ("memory", "114Mi")]),
        },
    ];
    let mut failures = Vec::new();
    for r in rows {
        let got = api
            .placement
            .daemon_sets_for_node(pb::DaemonSetsForNodeRequest { node: Some(r.node) })
            .await;
        match got {
            Err(s) => failures.push(format!("{}: {s:?}", r.name)),
            Ok(resp) => {
                let resp = resp.into_inner();
                let got = fits(&resp);
                if got != r.want || resp.total_requests != r.total || resp.revision == 0 {
                    failures.push(format!(
                        "{}: want {:?} total {:?}, got {got:?} total {:?} (revision {})",
                        r.name, r.want, r.total, resp.total_requests, resp.revision
                    ));
                }
                for f in &resp.daemonsets {
                    let name = f
                        .daemonset
                        .as_ref()
                        .map(|d| d.name.as_str())
                        .unwrap_or_default();
                    let want = match name {
                        "agent" => map(&[("cpu", "100m"), ("memory", "50Mi")]),
                        "gpu-plugin" => map(&[("cpu", "200m")]),
                        "worker-only" => map(&[("memory", "64Mi"), ("cpu", "950m")]),
                        _ => BTreeMap::new(),
                    };
                    if f.requests != want {
                        failures.push(format!(
                            "{}: {name} requests {:?}, want {want:?}",
                            r.name, f.requests
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The hypothetical node was not stored.
    let eval = api
        .evaluate(inline(pb::PodPlacement::default()))
        .await
        .expect("evaluate");
    assert_eq!(eval.total_nodes, 3);

    let missing = api
        .placement
        .daemon_sets_for_node(pb::DaemonSetsForNodeRequest {
            node: Some(Which::Name("ghost".into())),
        })
        .await
        .expect_err("unknown node");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");

    let mut bad = node("Bad_Name", &[], &[("k", "v", "Sometimes")]);
    bad.allocatable = map(&[("cpu", "lots")]);
    let invalid = api
        .placement
        .daemon_sets_for_node(pb::DaemonSetsForNodeRequest {
            node: Some(Which::Hypothetical(bad)),
        })
        .await
        .expect_err("invalid hypothetical node");
    let fields = check_invalid(&invalid, "hypothetical.").expect("field paths");
    for want in [
        "hypothetical.name",
        "hypothetical.taints[0].effect",
        "hypothetical.allocatable",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(want)),
            "want {want} in {fields:?}"
        );
    }
    let none = api
        .placement
        .daemon_sets_for_node(pb::DaemonSetsForNodeRequest { node: None })
        .await
        .expect_err("no node");
    assert_eq!(none.code(), Code::InvalidArgument, "{none:?}");
}
