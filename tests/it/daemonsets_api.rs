//! `dsched.v1.DaemonSets` over real gRPC: the registry (Apply/Get/List/Delete), update
//! strategy defaults and validation, the `rollingUpdateDaemonSet` / `daemonSetSpec`
//! validation cases, revision history (numbering, renumbering, trimming) and rollback
//! without ping-pong, plus the `rollback` / `cleanupHistory` conformance cases.

use std::collections::BTreeSet;

use dsched::grpc::pb;
use serde_json::Value;
use tonic::{Code, Status};

use crate::k8s_json::{self, R};
use crate::placement_api::{Api, check_invalid, names_field, registered};
use crate::support::{k8s_cases, node, pod};

/// `default/{name}`: placement `nodeSelector: {version: <version>}`, template naming it.
fn versioned(name: &str, version: &str) -> pb::DaemonSet {
    pb::DaemonSet {
        name: name.to_owned(),
        placement: Some(selector_placement(version)),
        template: format!(r#"{{"spec":{{"containers":[{{"image":"agent:{version}"}}]}}}}"#),
        change_cause: format!("deploy {version}"),
        ..Default::default()
    }
}

fn selector_placement(version: &str) -> pb::PodPlacement {
    pb::PodPlacement {
        node_selector: [("version".to_owned(), version.to_owned())].into(),
        ..Default::default()
    }
}

fn strategy(kind: &str, rolling: Option<(&str, &str)>) -> Option<pb::UpdateStrategy> {
    Some(pb::UpdateStrategy {
        r#type: kind.to_owned(),
        rolling_update: rolling.map(|(mu, ms)| pb::RollingUpdate {
            max_unavailable: mu.to_owned(),
            max_surge: ms.to_owned(),
            ..Default::default()
        }),
    })
}

fn rolling(ds: &pb::DaemonSet) -> (String, String, String) {
    let s = ds.update_strategy.clone().unwrap_or_default();
    let r = s.rolling_update.unwrap_or_default();
    (s.r#type, r.max_unavailable, r.max_surge)
}

async fn get(api: &mut Api, ns: &str, name: &str) -> Result<pb::DaemonSet, Status> {
    Ok(api
        .daemonsets
        .get(pb::DaemonSetRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        })
        .await?
        .into_inner())
}

async fn history(api: &mut Api, name: &str) -> Vec<pb::Revision> {
    api.daemonsets
        .history(pb::DaemonSetRef {
            namespace: "default".into(),
            name: name.to_owned(),
        })
        .await
        .expect("history")
        .into_inner()
        .revisions
}

fn numbers(h: &[pb::Revision]) -> Vec<i64> {
    h.iter().map(|r| r.revision).collect()
}

async fn rollback(api: &mut Api, name: &str, to: i64) -> Result<pb::RollbackResponse, Status> {
    Ok(api
        .daemonsets
        .rollback(pb::RollbackRequest {
            namespace: "default".into(),
            name: name.to_owned(),
            to_revision: to,
        })
        .await?
        .into_inner())
}

// ---------------------------------------------------------------------------------------
// The registry.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn apply_get_list_delete() {
    let mut api = Api::start().await;
    let mut created = Vec::new();
    for (ns, name) in [
        ("", "agent"),
        ("kube-system", "proxy"),
        ("default", "logger"),
        ("other", "agent"),
    ] {
        let ds = pb::DaemonSet {
            namespace: ns.to_owned(),
            ..versioned(name, "v1")
        };
        let applied = api.apply(ds).await.expect("apply");
        let want_ns = if ns.is_empty() { "default" } else { ns };
        assert_eq!(
            (applied.namespace.as_str(), applied.name.as_str()),
            (want_ns, name)
        );
        assert_eq!(applied.revision, 1, "{applied:?}");
        assert!(
            !applied.revision_hash.is_empty(),
            "a derived hash: {applied:?}"
        );
        assert_eq!(applied.revision_history_limit, Some(10));
        assert_eq!(applied.placement, Some(selector_placement("v1")));
        assert_eq!(
            rolling(&applied),
            ("RollingUpdate".into(), "1".into(), "0".into())
        );
        assert_eq!(applied.change_cause, "deploy v1");
        created.push(applied);
    }
    for want in &created {
        let got = get(&mut api, &want.namespace, &want.name)
            .await
            .expect("get");
        assert_eq!(&got, want, "Get {}/{}", want.namespace, want.name);
        if want.namespace == "default" {
            let got = get(&mut api, "", &want.name).await.expect("get");
            assert_eq!(
                &got, want,
                "Get \"\"/{} reads the default namespace",
                want.name
            );
        }
    }

    let list = |ns: &str| pb::ListDaemonSetsRequest {
        namespace: ns.to_owned(),
    };
    let keys = |r: pb::ListDaemonSetsResponse| -> Vec<String> {
        r.daemonsets
            .into_iter()
            .map(|d| format!("{}/{}", d.namespace, d.name))
            .collect()
    };
    let all = keys(
        api.daemonsets
            .list(list(""))
            .await
            .expect("list")
            .into_inner(),
    );
    assert_eq!(
        all,
        [
            "default/agent",
            "default/logger",
            "kube-system/proxy",
            "other/agent"
        ]
    );
    let default = keys(
        api.daemonsets
            .list(list("default"))
            .await
            .expect("list")
            .into_inner(),
    );
    assert_eq!(default, ["default/agent", "default/logger"]);
    let none = keys(
        api.daemonsets
            .list(list("empty-ns"))
            .await
            .expect("list")
            .into_inner(),
    );
    assert!(none.is_empty(), "{none:?}");
    let bad = api
        .daemonsets
        .list(list("Bad_NS"))
        .await
        .expect_err("invalid namespace");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");

    // Pods known to the inventory: two of default/agent (one on a node that is gone), one
    // of default/logger, one of other/agent.
    let ack = api.upsert(vec![node("n1", &[("version", "v1")])]).await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    let other_agent = pb::DaemonPod {
        namespace: "other".into(),
        ..pod("agent", "agent-x", "n1")
    };
    api.upsert_pods(vec![
        pod("agent", "agent-b", "n1"),
        pod("agent", "agent-a", "gone-node"),
        pod("logger", "logger-a", "n1"),
        other_agent,
    ])
    .await;
    let ref_ = |ns: &str, name: &str| pb::DaemonSetRef {
        namespace: ns.to_owned(),
        name: name.to_owned(),
    };
    let deleted = api
        .daemonsets
        .delete(ref_("", "agent"))
        .await
        .expect("delete")
        .into_inner();
    let got: BTreeSet<(String, String, String)> = deleted
        .pods
        .into_iter()
        .map(|p| (p.namespace, p.daemonset, p.name))
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("default".into(), "agent".into(), "agent-a".into()),
        ("default".into(), "agent".into(), "agent-b".into()),
    ]
    .into();
    assert_eq!(got, want, "Delete lists exactly that DaemonSet's pods");
    assert_eq!(
        get(&mut api, "default", "agent")
            .await
            .expect_err("gone")
            .code(),
        Code::NotFound
    );
    let again = api
        .daemonsets
        .delete(ref_("default", "agent"))
        .await
        .expect_err("twice");
    assert_eq!(again.code(), Code::NotFound);
    let missing = api
        .evaluate(registered("default", "agent"))
        .await
        .expect_err("gone");
    assert_eq!(missing.code(), Code::NotFound);
    let rest = keys(
        api.daemonsets
            .list(list(""))
            .await
            .expect("list")
            .into_inner(),
    );
    assert_eq!(rest, ["default/logger", "kube-system/proxy", "other/agent"]);
    // other/agent is untouched.
    assert!(get(&mut api, "other", "agent").await.is_ok());
    let no_pods = api
        .daemonsets
        .delete(ref_("kube-system", "proxy"))
        .await
        .expect("delete");
    assert!(no_pods.into_inner().pods.is_empty());

    assert_eq!(
        get(&mut api, "default", "never")
            .await
            .expect_err("unknown")
            .code(),
        Code::NotFound
    );
    let bad = get(&mut api, "default", "Bad_Name")
        .await
        .expect_err("invalid name");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let bad = api
        .apply(versioned("Bad_Name", "v1"))
        .await
        .expect_err("invalid name");
    check_invalid(&bad, "daemonset.name").expect("name path");
    let bad = api
        .daemonsets
        .apply(pb::ApplyRequest { daemonset: None })
        .await
        .expect_err("no daemonset");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
}

// ---------------------------------------------------------------------------------------
// Update strategy, minReadySeconds, revisionHistoryLimit.
// ---------------------------------------------------------------------------------------

/// What an Apply must answer: the defaulted `(type, maxUnavailable, maxSurge)` (a `None`
/// part is not checked), or `INVALID_ARGUMENT` at a path under `daemonset.`.
enum Want {
    Defaults(&'static str, Option<&'static str>, Option<&'static str>),
    Invalid(&'static str),
}

#[tokio::test]
async fn update_strategy_defaults_and_validation() {
    use Want::{Defaults as Is, Invalid};
    let mut api = Api::start().await;
    let partition = |p: &str| {
        Some(pb::UpdateStrategy {
            r#type: "RollingUpdate".into(),
            rolling_update: Some(pb::RollingUpdate {
                partition: p.into(),
                ..Default::default()
            }),
        })
    };
    let rows: Vec<(&str, Option<pb::UpdateStrategy>, Want)> = vec![
        (
            "no strategy: RollingUpdate 1/0",
            None,
            Is("RollingUpdate", Some("1"), Some("0")),
        ),
        (
            "type only",
            strategy("RollingUpdate", None),
            Is("RollingUpdate", Some("1"), Some("0")),
        ),
        (
            "empty rollingUpdate",
            strategy("", Some(("", ""))),
            Is("RollingUpdate", Some("1"), Some("0")),
        ),
        (
            "only maxSurge: maxUnavailable 0 (decision 4)",
            strategy("RollingUpdate", Some(("", "1"))),
            Is("RollingUpdate", Some("0"), Some("1")),
        ),
        (
            "only maxSurge percent",
            strategy("", Some(("", "10%"))),
            Is("RollingUpdate", Some("0"), Some("10%")),
        ),
        (
            "only maxUnavailable",
            strategy("RollingUpdate", Some(("2", ""))),
            Is("RollingUpdate", Some("2"), Some("0")),
        ),
        (
            "maxUnavailable 100%",
            strategy("RollingUpdate", Some(("100%", "0"))),
            Is("RollingUpdate", Some("100%"), Some("0")),
        ),
        (
            "surge 0/20%",
            strategy("RollingUpdate", Some(("0", "20%"))),
            Is("RollingUpdate", Some("0"), Some("20%")),
        ),
        (
            "a big int",
            strategy("RollingUpdate", Some(("100", ""))),
            Is("RollingUpdate", Some("100"), Some("0")),
        ),
        (
            "OnDelete",
            strategy("OnDelete", None),
            Is("OnDelete", None, None),
        ),
        (
            "OnDelete ignores rollingUpdate",
            strategy("OnDelete", Some(("1", "1"))),
            Is("OnDelete", None, None),
        ),
        (
            "both non-zero",
            strategy("RollingUpdate", Some(("1", "1"))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxSurge"),
        ),
        (
            "both zero",
            strategy("RollingUpdate", Some(("0", "0"))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "both zero percent",
            strategy("RollingUpdate", Some(("0%", "0%"))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "maxUnavailable over 100%",
            strategy("RollingUpdate", Some(("101%", ""))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "maxSurge over 100%",
            strategy("RollingUpdate", Some(("0", "150%"))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxSurge"),
        ),
        (
            "not a number",
            strategy("RollingUpdate", Some(("abc", ""))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "negative",
            strategy("RollingUpdate", Some(("-1", ""))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "fractional percent",
            strategy("RollingUpdate", Some(("1.5%", ""))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "leading space",
            strategy("RollingUpdate", Some((" 1%", ""))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxUnavailable"),
        ),
        (
            "signed",
            strategy("RollingUpdate", Some(("", "+1"))),
            Invalid("daemonset.updateStrategy.rollingUpdate.maxSurge"),
        ),
        (
            "unknown type",
            strategy("Recreate", None),
            Invalid("daemonset.updateStrategy.type"),
        ),
        (
            "type in the wrong case",
            strategy("rollingUpdate", None),
            Invalid("daemonset.updateStrategy.type"),
        ),
        (
            "partition",
            partition("2"),
            Is("RollingUpdate", Some("1"), Some("0")),
        ),
        (
            "partition over 100%",
            partition("101%"),
            Invalid("daemonset.updateStrategy.rollingUpdate.partition"),
        ),
        (
            "partition not a number",
            partition("two"),
            Invalid("daemonset.updateStrategy.rollingUpdate.partition"),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, s, want)) in rows.into_iter().enumerate() {
        let ds = pb::DaemonSet {
            update_strategy: s,
            ..versioned(&format!("strategy-{i}"), "v1")
        };
        match (api.apply(ds).await, want) {
            (Ok(got), Is(kind, mu, ms)) => {
                let (k, m, s) = rolling(&got);
                if k != kind || mu.is_some_and(|mu| mu != m) || ms.is_some_and(|ms| ms != s) {
                    failures.push(format!(
                        "{name}: want ({kind}, {mu:?}, {ms:?}), got ({k}, {m}, {s})"
                    ));
                }
                let stored = get(&mut api, "default", &format!("strategy-{i}")).await;
                if stored.as_ref().ok() != Some(&got) {
                    failures.push(format!("{name}: Get {stored:?} differs from Apply {got:?}"));
                }
            }
            (Err(s), Invalid(path)) => {
                if let Err(e) = check_invalid(&s, path) {
                    failures.push(format!("{name}: {e}"));
                }
            }
            (Ok(got), Invalid(path)) => failures.push(format!(
                "{name}: want INVALID_ARGUMENT at {path}, got {:?}",
                rolling(&got)
            )),
            (Err(s), Is(..)) => failures.push(format!(
                "{name}: want OK, got {:?}: {}",
                s.code(),
                s.message()
            )),
        }
    }
    // The partition is kept.
    let p = api
        .apply(pb::DaemonSet {
            update_strategy: partition("30%"),
            ..versioned("with-partition", "v1")
        })
        .await;
    let p = p.expect("partition");
    assert_eq!(
        p.update_strategy
            .and_then(|s| s.rolling_update)
            .map(|r| r.partition),
        Some("30%".into())
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `(name, minReadySeconds, revisionHistoryLimit, want (both as stored) or an error path)`.
type CounterRow = (
    &'static str,
    i32,
    Option<i32>,
    Result<(i32, i32), &'static str>,
);

#[tokio::test]
async fn min_ready_seconds_and_history_limit() {
    let mut api = Api::start().await;
    let rows: Vec<CounterRow> = vec![
        ("defaults", 0, None, Ok((0, 10))),
        ("set", 30, Some(3), Ok((30, 3))),
        ("history limit 0 is allowed", 0, Some(0), Ok((0, 0))),
        (
            "negative minReadySeconds",
            -1,
            None,
            Err("daemonset.minReadySeconds"),
        ),
        (
            "negative revisionHistoryLimit",
            0,
            Some(-1),
            Err("daemonset.revisionHistoryLimit"),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, mrs, rhl, want)) in rows.into_iter().enumerate() {
        let ds = pb::DaemonSet {
            min_ready_seconds: mrs,
            revision_history_limit: rhl,
            ..versioned(&format!("counters-{i}"), "v1")
        };
        match (api.apply(ds).await, want) {
            (Ok(got), Ok((m, h))) => {
                let got = (got.min_ready_seconds, got.revision_history_limit);
                if got != (m, Some(h)) {
                    failures.push(format!("{name}: want ({m}, {h}), got {got:?}"));
                }
            }
            (Err(s), Err(path)) => {
                if let Err(e) = check_invalid(&s, path) {
                    failures.push(format!("{name}: {e}"));
                }
            }
            (got, want) => failures.push(format!("{name}: want {want:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A rejected Apply changes nothing: not the placement, not the strategy, not the history.
#[tokio::test]
async fn invalid_apply_is_not_half_applied() {
    let mut api = Api::start().await;
    let v1 = api.apply(versioned("agent", "v1")).await.expect("v1");
    let attempts = [
        (
            "new placement, invalid strategy",
            pb::DaemonSet {
                update_strategy: strategy("RollingUpdate", Some(("1", "1"))),
                ..versioned("agent", "v2")
            },
            "daemonset.updateStrategy.rollingUpdate.maxSurge",
        ),
        (
            "valid strategy change, invalid placement",
            pb::DaemonSet {
                update_strategy: strategy("RollingUpdate", Some(("3", ""))),
                placement: Some(pb::PodPlacement {
                    node_selector: [("bad key!".to_owned(), "v".to_owned())].into(),
                    ..Default::default()
                }),
                ..versioned("agent", "v2")
            },
            "daemonset.placement.nodeSelector",
        ),
        (
            "new template, negative history limit",
            pb::DaemonSet {
                revision_history_limit: Some(-5),
                min_ready_seconds: 99,
                ..versioned("agent", "v3")
            },
            "daemonset.revisionHistoryLimit",
        ),
    ];
    for (name, ds, path) in attempts {
        let status = api.apply(ds).await.expect_err(name);
        check_invalid(&status, path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let now = get(&mut api, "default", "agent").await.expect("get");
        assert_eq!(
            now, v1,
            "{name}: Get after a rejected Apply shows the old state"
        );
        let h = history(&mut api, "agent").await;
        assert_eq!(numbers(&h), [1], "{name}: history untouched");
    }
    // Several bad fields at once: each one is reported.
    let status = api
        .apply(pb::DaemonSet {
            update_strategy: strategy("Sometimes", None),
            min_ready_seconds: -1,
            placement: Some(pb::PodPlacement {
                tolerations: vec![pb::Toleration {
                    key: String::new(),
                    operator: "Equal".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..versioned("agent", "v4")
        })
        .await
        .expect_err("invalid");
    let fields = check_invalid(&status, "daemonset.").expect("paths");
    for want in [
        "daemonset.updateStrategy.type",
        "daemonset.minReadySeconds",
        "daemonset.placement.tolerations[0]",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(want)),
            "want {want} in {fields:?}"
        );
    }
    assert_eq!(get(&mut api, "default", "agent").await.expect("get"), v1);
}

// ---------------------------------------------------------------------------------------
// Conformance: rollingUpdateDaemonSet and daemonSetSpec validation cases through Apply.
// ---------------------------------------------------------------------------------------

/// An int-or-percent as the fixture writes it, read the way the API reads its string:
/// `Some(text)` to send, `None` for absent/null. A JSON string without `%` ("50") is
/// invalid upstream but is an integer in our API, so such a value cannot be expressed.
fn int_or_percent(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::String(s)) if s.ends_with('%') => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "a string int-or-percent without % ({other}) reads as an integer in our API"
        )),
    }
}

/// Upstream's rule (semantics §5.2) on explicit values: each a non-negative int or a
/// percent ≤ 100%, exactly one non-zero.
fn strategy_rule(mu: &str, ms: &str) -> bool {
    let parse = |s: &str| -> Option<u64> {
        match s.strip_suffix('%') {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u64>().ok().filter(|p| *p <= 100)
            }
            Some(_) => None,
            None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            None => None,
        }
    };
    match (parse(mu), parse(ms)) {
        (Some(a), Some(b)) => (a == 0) != (b == 0),
        _ => false,
    }
}

/// dsched's defaulting (§5.1 with decision 4): both unset → 1/0; only maxSurge → 0 for
/// maxUnavailable; only maxUnavailable → 0 for maxSurge.
fn dsched_defaults(mu: Option<String>, ms: Option<String>) -> (String, String) {
    match (mu, ms) {
        (None, None) => ("1".into(), "0".into()),
        (None, Some(ms)) => ("0".into(), ms),
        (Some(mu), None) => (mu, "0".into()),
        (Some(mu), Some(ms)) => (mu, ms),
    }
}

enum Drive {
    /// Apply this DaemonSet; it must be valid or invalid (errorField when given).
    Apply(Box<pb::DaemonSet>, bool),
    /// The shape has no expression in our API.
    Unexpressible(String),
}

/// The DaemonSets a `rollingUpdateDaemonSet` case drives. `{maxUnavailable, maxSurge}`:
/// explicit values, judged by the fixture. `{userSpecified, afterDefaulting}`: the
/// defaulted values sent explicitly are judged by the fixture; the user's values are
/// sent as given and judged by dsched's defaulting (decision 4: only `maxSurge` set means
/// `maxUnavailable: 0`, so the upstream trap does not apply).
fn rolling_update_drives(n: usize, value: &Value, want_valid: bool) -> R<Vec<(String, Drive)>> {
    let ds = |suffix: &str, mu: &str, ms: &str| pb::DaemonSet {
        update_strategy: strategy("RollingUpdate", Some((mu, ms))),
        ..versioned(&format!("ru-{n}-{suffix}"), "v1")
    };
    let explicit = |v: &Value, judged_by_fixture: bool| -> R<Drive> {
        let (mu, ms) = match (
            int_or_percent(v.get("maxUnavailable")),
            int_or_percent(v.get("maxSurge")),
        ) {
            (Ok(mu), Ok(ms)) => (mu, ms),
            (Err(e), _) | (_, Err(e)) => return Ok(Drive::Unexpressible(e)),
        };
        let both_given = mu.is_some() && ms.is_some();
        let (mu, ms) = dsched_defaults(mu, ms);
        let valid = strategy_rule(&mu, &ms);
        if judged_by_fixture && both_given && valid != want_valid {
            return Err(format!(
                "test oracle disagrees with the fixture on {v}: oracle valid={valid}"
            ));
        }
        let want = if judged_by_fixture && both_given {
            want_valid
        } else {
            valid
        };
        Ok(Drive::Apply(
            Box::new(ds(
                if judged_by_fixture { "fixture" } else { "user" },
                &mu,
                &ms,
            )),
            want,
        ))
    };
    Ok(
        match (value.get("userSpecified"), value.get("afterDefaulting")) {
            (Some(user), Some(after)) => vec![
                ("afterDefaulting, explicit".into(), explicit(after, true)?),
                (
                    "userSpecified, dsched defaults".into(),
                    explicit(user, false)?,
                ),
            ],
            _ => vec![("explicit".into(), explicit(value, true)?)],
        },
    )
}

/// The DaemonSet a `daemonSetSpec` case drives. Not expressible: `selector` (our API has
/// no selector: pods are addressed by DaemonSet), `template` / `templateGeneration` (the
/// template is opaque text), and `updateStrategy.rollingUpdate: null` with type
/// RollingUpdate (our API defaults an absent rollingUpdate, so upstream's "required"
/// error has no counterpart; dsched's answer, the defaults, is checked instead).
fn spec_drive(n: usize, value: &Value, want_valid: bool) -> R<Drive> {
    let obj = value.as_object().ok_or("value is not an object")?;
    let mut ds = versioned(&format!("spec-{n}"), "v1");
    for (key, v) in obj {
        match key.as_str() {
            "revisionHistoryLimit" => {
                ds.revision_history_limit = Some(
                    v.as_i64()
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or("revisionHistoryLimit")?,
                )
            }
            "minReadySeconds" => {
                ds.min_ready_seconds = v
                    .as_i64()
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or("minReadySeconds")?
            }
            "name" => ds.name = k8s_json::text(v)?,
            "updateStrategy" => {
                let kind = k8s_json::str_field(v, "type")?;
                if matches!(kind.as_str(), "RollingUpdate" | "")
                    && v.get("rollingUpdate").is_some_and(Value::is_null)
                    && !want_valid
                {
                    return Ok(Drive::Unexpressible(
                        "rollingUpdate: null is defaulted by our API, not rejected".into(),
                    ));
                }
                ds.update_strategy = Some(k8s_json::update_strategy(v)?);
            }
            other => return Ok(Drive::Unexpressible(format!("our API has no {other:?}"))),
        }
    }
    Ok(Drive::Apply(Box::new(ds), want_valid))
}

#[tokio::test]
async fn conformance_daemonset_validation() {
    let mut api = Api::start().await;
    let mut failures = Vec::new();
    let mut unexpressible = Vec::new();
    let mut ran = 0;
    for (n, case) in k8s_cases().iter().enumerate() {
        let check = case["input"]["check"].as_str().unwrap_or_default();
        let id = case["id"].as_str().unwrap_or("?");
        let value = &case["input"]["value"];
        let Some(want_valid) = case["expect"]["valid"].as_bool() else {
            continue;
        };
        let drives = match check {
            "rollingUpdateDaemonSet" => rolling_update_drives(n, value, want_valid),
            "daemonSetSpec" => spec_drive(n, value, want_valid).map(|d| vec![(String::new(), d)]),
            _ => continue,
        };
        let drives = match drives {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        for (how, drive) in drives {
            let (ds, want) = match drive {
                Drive::Apply(ds, want) => (*ds, want),
                Drive::Unexpressible(why) => {
                    unexpressible.push(format!("{id}: {why}"));
                    continue;
                }
            };
            ran += 1;
            let name = ds.name.clone();
            match (api.apply(ds).await, want) {
                (Ok(_), true) => {}
                (Ok(got), false) => failures.push(format!(
                    "{id} {how}: want INVALID_ARGUMENT, got OK {:?}",
                    rolling(&got)
                )),
                (Err(s), true) => failures.push(format!(
                    "{id} {how}: want OK, got {:?}: {}",
                    s.code(),
                    s.message()
                )),
                (Err(s), false) => match check_invalid(&s, "daemonset.") {
                    Err(e) => failures.push(format!("{id} {how}: {e}")),
                    Ok(fields) => {
                        if let Some(want) = case["expect"].get("errorField").and_then(Value::as_str)
                            && !fields.iter().any(|f| names_field(f, want))
                        {
                            failures.push(format!(
                                "{id} {how}: want a violation at {want:?}, got {fields:?}"
                            ));
                        }
                        let under_strategy = check == "rollingUpdateDaemonSet";
                        if under_strategy
                            && !fields
                                .iter()
                                .any(|f| f.starts_with("daemonset.updateStrategy."))
                        {
                            failures.push(format!(
                                "{id} {how}: want a daemonset.updateStrategy path, got {fields:?}"
                            ));
                        }
                        if get(&mut api, "default", &name).await.is_ok() {
                            failures
                                .push(format!("{id} {how}: a rejected Apply registered {name}"));
                        }
                    }
                },
            }
        }
    }
    // dsched's reading of a RollingUpdate strategy without rollingUpdate: the defaults.
    let defaulted = api
        .apply(pb::DaemonSet {
            update_strategy: strategy("RollingUpdate", None),
            ..versioned("spec-nil-rolling-update", "v1")
        })
        .await
        .expect("defaulted");
    assert_eq!(
        rolling(&defaulted),
        ("RollingUpdate".into(), "1".into(), "0".into())
    );

    println!(
        "daemonset validation cases: {ran} driven, {} not expressible: {unexpressible:#?}",
        unexpressible.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran >= 8, "only {ran} driven");
    assert!(
        unexpressible.len() <= 3,
        "too many cases not expressible: {unexpressible:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// History.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn history_numbers_renumbers_and_fields() {
    let mut api = Api::start().await;
    let mut applied = Vec::new();
    for v in ["v1", "v2", "v3"] {
        applied.push(api.apply(versioned("agent", v)).await.expect("apply"));
    }
    assert_eq!(
        applied.iter().map(|d| d.revision).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let h = history(&mut api, "agent").await;
    assert_eq!(numbers(&h), [1, 2, 3]);
    let hashes: BTreeSet<&str> = h.iter().map(|r| r.hash.as_str()).collect();
    assert_eq!(hashes.len(), 3, "distinct hashes: {h:?}");
    for (r, v) in h.iter().zip(["v1", "v2", "v3"]) {
        let want = versioned("agent", v);
        assert!(!r.hash.is_empty(), "{r:?}");
        assert_eq!(r.change_cause, format!("deploy {v}"));
        assert!(
            r.created
                .as_ref()
                .is_some_and(|t| t.seconds > 1_600_000_000),
            "{r:?}"
        );
        assert!(!r.rolled_back_from, "{r:?}");
        assert_eq!(r.current, v == "v3", "{r:?}");
        assert_eq!(r.placement, want.placement, "revision {}", r.revision);
        assert_eq!(r.template, want.template, "revision {}", r.revision);
    }
    let current = get(&mut api, "default", "agent").await.expect("get");
    assert_eq!(
        current.revision_hash, h[2].hash,
        "the DaemonSet names its current revision"
    );

    // Same content again (even with another strategy): no new revision.
    let same = api
        .apply(pb::DaemonSet {
            update_strategy: strategy("RollingUpdate", Some(("3", ""))),
            ..versioned("agent", "v3")
        })
        .await
        .expect("same content");
    assert_eq!(same.revision, 3);
    assert_eq!(rolling(&same).1, "3", "the strategy itself is updated");
    assert_eq!(numbers(&history(&mut api, "agent").await), [1, 2, 3]);

    // §7's example: 1,2,3 + apply of revision 2's content → 1,3,4 (same hash).
    let again = api.apply(versioned("agent", "v2")).await.expect("v2 again");
    assert_eq!(again.revision, 4);
    let h2 = history(&mut api, "agent").await;
    assert_eq!(numbers(&h2), [1, 3, 4]);
    assert_eq!(h2[2].hash, h[1].hash, "renumbered, not recreated");
    assert_eq!(h2[2].template, h[1].template);
    assert_eq!(again.revision_hash, h[1].hash);
    assert_eq!(
        h2.iter()
            .filter(|r| r.current)
            .map(|r| r.revision)
            .collect::<Vec<_>>(),
        [4]
    );

    // A placement-only change is a new revision; so is a template-only change.
    let placement_only = api
        .apply(pb::DaemonSet {
            placement: Some(selector_placement("other")),
            ..versioned("agent", "v2")
        })
        .await
        .expect("placement change");
    assert_eq!(placement_only.revision, 5);
    let template_only = api
        .apply(pb::DaemonSet {
            template: "another template".into(),
            ..versioned("agent", "v2")
        })
        .await
        .expect("template change");
    assert_eq!(template_only.revision, 6);

    // A caller's hash names the revision.
    let named = api
        .apply(pb::DaemonSet {
            revision_hash: "caller-hash-7".into(),
            ..versioned("agent", "v7")
        })
        .await
        .expect("named");
    assert_eq!(
        (named.revision, named.revision_hash.as_str()),
        (7, "caller-hash-7")
    );
    let h = history(&mut api, "agent").await;
    assert_eq!(h.last().map(|r| r.hash.as_str()), Some("caller-hash-7"));
    let unknown = api
        .daemonsets
        .history(pb::DaemonSetRef {
            namespace: "default".into(),
            name: "nope".into(),
        })
        .await;
    assert_eq!(unknown.expect_err("unknown").code(), Code::NotFound);
}

/// Upstream `cleanupHistory`: old revisions beyond the limit go, lowest first, except one
/// whose hash a synced pod carries.
#[tokio::test]
async fn history_trimmed_but_keeps_revisions_in_use() {
    let mut api = Api::start().await;
    api.upsert(vec![node("n1", &[])]).await;
    let limited = |v: &str, limit: i32| pb::DaemonSet {
        revision_history_limit: Some(limit),
        ..versioned("agent", v)
    };
    let first = api.apply(limited("a", 2)).await.expect("a");
    api.upsert_pods(vec![pb::DaemonPod {
        revision_hash: first.revision_hash.clone(),
        ..pod("agent", "agent-old", "n1")
    }])
    .await;
    for v in ["b", "c", "d", "e"] {
        api.apply(limited(v, 2)).await.expect("apply");
    }
    let h = history(&mut api, "agent").await;
    assert_eq!(numbers(&h), [1, 4, 5], "{h:?}");
    assert_eq!(h[0].hash, first.revision_hash);

    // Limit 0: every old revision no pod uses goes.
    let zero = api.apply(limited("f", 0)).await.expect("f");
    assert_eq!(zero.revision, 6);
    assert_eq!(numbers(&history(&mut api, "agent").await), [1, 6]);
    // Once no pod carries it, it goes too.
    api.send(pb::SyncRequest {
        delete_pods: vec![pb::PodRef {
            namespace: "default".into(),
            daemonset: "agent".into(),
            name: "agent-old".into(),
        }],
        ..Default::default()
    })
    .await;
    api.apply(limited("g", 0)).await.expect("g");
    assert_eq!(numbers(&history(&mut api, "agent").await), [7]);
}

/// The fixture's `cleanupHistory` cases: old revisions 1..k and current k+1 built by
/// applying k+1 contents (with room in the limit), pods carrying the hashes of the
/// revisions in use, then the last apply with the case's limit.
#[tokio::test]
async fn conformance_cleanup_history() {
    let mut api = Api::start().await;
    api.upsert(vec![node("n1", &[])]).await;
    let mut failures = Vec::new();
    let mut ran = 0;
    for (n, case) in k8s_cases().iter().enumerate() {
        let input = &case["input"];
        if input["check"] != "cleanupHistory" {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        let ints = |v: &Value| -> Vec<i64> {
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default()
        };
        let old = ints(&input["oldRevisions"]);
        let current = input["currentRevision"].as_i64().unwrap_or_default();
        let used = ints(&input["revisionsUsedByLivePods"]);
        let limit = input["revisionHistoryLimit"].as_i64().map(|l| l as i32);
        let k = old.len() as i64;
        if old != (1..=k).collect::<Vec<_>>() || current != k + 1 {
            failures.push(format!(
                "{id}: history shape {old:?} + {current} not built by this driver"
            ));
            continue;
        }
        ran += 1;
        let name = format!("cleanup-{n}");
        let mut hashes = Vec::new();
        for r in 1..=k {
            let ds = pb::DaemonSet {
                revision_history_limit: Some(1000),
                ..versioned(&name, &format!("r{r}"))
            };
            hashes.push(api.apply(ds).await.expect("apply").revision_hash);
        }
        let pods = used
            .iter()
            .map(|r| pb::DaemonPod {
                revision_hash: hashes[(*r - 1) as usize].clone(),
                ..pod(&name, &format!("pod-{r}"), "n1")
            })
            .collect();
        api.upsert_pods(pods).await;
        let last = pb::DaemonSet {
            revision_history_limit: limit,
            ..versioned(&name, &format!("r{current}"))
        };
        api.apply(last).await.expect("last apply");
        let got = numbers(&history(&mut api, &name).await);
        let want: Vec<i64> = ints(&case["expect"]["remaining"]);
        let deleted: Vec<i64> = ints(&case["expect"]["deleted"]);
        let got_deleted: Vec<i64> = (1..=k).filter(|r| !got.contains(r)).collect();
        if got != want || got_deleted != deleted {
            failures.push(format!("{id}: want remaining {want:?} deleted {deleted:?}, got {got:?} deleted {got_deleted:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 2, "only {ran} cleanupHistory cases ran");
}

// ---------------------------------------------------------------------------------------
// Rollback.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn rollback_walks_back_without_ping_pong() {
    let mut api = Api::start().await;
    let ack = api
        .upsert(vec![
            node("on-v1", &[("version", "v1")]),
            node("on-v2", &[("version", "v2")]),
            node("on-v3", &[("version", "v3")]),
        ])
        .await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    for v in ["v1", "v2", "v3"] {
        api.apply(pb::DaemonSet {
            update_strategy: strategy("RollingUpdate", Some(("0", "1"))),
            ..versioned("agent", v)
        })
        .await
        .expect("apply");
    }
    let on = |e: crate::placement_api::Eval| e.nodes;

    // undo: v3 → v2 (revision 2 renumbered 4; 3 marked).
    let first = rollback(&mut api, "agent", 0).await.expect("undo");
    let ds = first.daemonset.clone().expect("daemonset");
    assert_eq!(
        (
            first.from_revision,
            first.restored_revision,
            ds.revision,
            first.skipped
        ),
        (3, 2, 4, false)
    );
    assert_eq!(
        (ds.template.clone(), ds.placement.clone()),
        (
            versioned("agent", "v2").template,
            Some(selector_placement("v2"))
        )
    );
    assert_eq!(
        rolling(&ds),
        ("RollingUpdate".into(), "0".into(), "1".into()),
        "the strategy stays"
    );
    let h = history(&mut api, "agent").await;
    let marks: Vec<(i64, bool, bool)> = h
        .iter()
        .map(|r| (r.revision, r.rolled_back_from, r.current))
        .collect();
    assert_eq!(
        marks,
        [(1, false, false), (3, true, false), (4, false, true)]
    );
    assert_eq!(
        on(api
            .evaluate(registered("default", "agent"))
            .await
            .expect("eval")),
        ["on-v2"]
    );

    // undo again: lands on v1, not back on v3.
    let second = rollback(&mut api, "agent", 0).await.expect("undo again");
    let ds = second.daemonset.clone().expect("daemonset");
    assert_eq!(
        (second.from_revision, second.restored_revision, ds.revision),
        (4, 1, 5)
    );
    let got = get(&mut api, "default", "agent").await.expect("get");
    assert_eq!(got.template, versioned("agent", "v1").template);
    assert_eq!(got.placement, Some(selector_placement("v1")));
    assert_eq!(got.change_cause, "deploy v1");
    let h = history(&mut api, "agent").await;
    let marks: Vec<(i64, bool, bool)> = h
        .iter()
        .map(|r| (r.revision, r.rolled_back_from, r.current))
        .collect();
    assert_eq!(
        marks,
        [(3, true, false), (4, true, false), (5, false, true)]
    );
    assert_eq!(got.revision_hash, h[2].hash);
    assert_eq!(
        on(api
            .evaluate(registered("default", "agent"))
            .await
            .expect("eval")),
        ["on-v1"]
    );

    // Nothing earlier that was not rolled back from.
    let none = rollback(&mut api, "agent", 0)
        .await
        .expect_err("nothing earlier");
    assert_eq!(none.code(), Code::FailedPrecondition, "{none:?}");

    // An explicit revision may pick one rolled back from.
    let explicit = rollback(&mut api, "agent", 3).await.expect("to 3");
    let ds = explicit.daemonset.clone().expect("daemonset");
    assert_eq!(
        (
            explicit.from_revision,
            explicit.restored_revision,
            ds.revision,
            explicit.skipped
        ),
        (5, 3, 6, false)
    );
    assert_eq!(ds.template, versioned("agent", "v3").template);
    assert_eq!(numbers(&history(&mut api, "agent").await), [4, 5, 6]);

    // Already current: skipped, nothing changes.
    let before = history(&mut api, "agent").await;
    let same = rollback(&mut api, "agent", 6).await.expect("current");
    assert!(same.skipped, "{same:?}");
    assert_eq!(same.daemonset.map(|d| d.revision), Some(6));
    assert_eq!(history(&mut api, "agent").await, before);

    assert_eq!(
        rollback(&mut api, "agent", 99)
            .await
            .expect_err("unknown")
            .code(),
        Code::NotFound
    );
    assert_eq!(
        rollback(&mut api, "agent", -1)
            .await
            .expect_err("negative")
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        rollback(&mut api, "nope", 0)
            .await
            .expect_err("unknown ds")
            .code(),
        Code::NotFound
    );

    api.apply(versioned("single", "v1")).await.expect("single");
    let only = rollback(&mut api, "single", 0)
        .await
        .expect_err("one revision");
    assert_eq!(only.code(), Code::FailedPrecondition, "{only:?}");
}

/// A revision that a rollback left, then deployed again by an Apply, is the current
/// revision: it is no longer "rolled back from", so a later undo comes back to it (decision
/// 7's mark is for the revision a rollback leaves, and a rollback to a revision clears it).
#[tokio::test]
async fn redeploying_a_rolled_back_revision_clears_its_mark() {
    let mut api = Api::start().await;
    for v in ["v1", "v2", "v3"] {
        api.apply(versioned("agent", v)).await.expect("apply");
    }
    rollback(&mut api, "agent", 0).await.expect("undo to v2");
    // The user deploys v3 again, then v4.
    let again = api.apply(versioned("agent", "v3")).await.expect("v3 again");
    assert_eq!(again.revision, 5);
    let h = history(&mut api, "agent").await;
    let marks: Vec<(i64, bool, bool)> = h
        .iter()
        .map(|r| (r.revision, r.rolled_back_from, r.current))
        .collect();
    assert_eq!(
        marks,
        [(1, false, false), (4, false, false), (5, false, true)],
        "the redeployed revision is current and not marked"
    );
    api.apply(versioned("agent", "v4")).await.expect("v4");
    let undo = rollback(&mut api, "agent", 0).await.expect("undo v4");
    let ds = undo.daemonset.expect("daemonset");
    assert_eq!(
        (undo.from_revision, undo.restored_revision, ds.template),
        (6, 5, versioned("agent", "v3").template),
        "undo after v4 goes back to the v3 that was deployed before it"
    );
}

#[tokio::test]
async fn revision_hashes_and_identity() {
    let mut api = Api::start().await;
    let named = |v: &str, hash: &str| pb::DaemonSet {
        revision_hash: hash.to_owned(),
        ..versioned("agent", v)
    };
    api.apply(named("v1", "h1")).await.expect("v1");
    let clash = api
        .apply(named("v2", "h1"))
        .await
        .expect_err("a hash names one content");
    check_invalid(&clash, "daemonset.revisionHash").expect("revisionHash path");
    assert_eq!(numbers(&history(&mut api, "agent").await), [1]);
    let bad = api
        .apply(named("v2", "not a label value!"))
        .await
        .expect_err("invalid hash");
    check_invalid(&bad, "daemonset.revisionHash").expect("revisionHash path");

    // Derived hashes name content: two DaemonSets with the same content, the same hash;
    // different content, different hashes.
    let a = api.apply(versioned("one", "x")).await.expect("one");
    let b = api.apply(versioned("two", "x")).await.expect("two");
    let c = api.apply(versioned("three", "y")).await.expect("three");
    assert_eq!(a.revision_hash, b.revision_hash);
    assert_ne!(a.revision_hash, c.revision_hash);

    // Deleted and created again: a new history.
    let del = api
        .daemonsets
        .delete(pb::DaemonSetRef {
            namespace: "default".into(),
            name: "agent".into(),
        })
        .await;
    del.expect("delete");
    let fresh = api.apply(versioned("agent", "v9")).await.expect("again");
    assert_eq!(fresh.revision, 1);
    assert_eq!(numbers(&history(&mut api, "agent").await), [1]);

    let bad_ns = api
        .apply(pb::DaemonSet {
            namespace: "Bad_NS".into(),
            ..versioned("agent", "v1")
        })
        .await
        .expect_err("invalid namespace");
    check_invalid(&bad_ns, "daemonset.namespace").expect("namespace path");
}

/// The fixture's `rollback` cases: history `revisions` (1..n, current n) built by applies,
/// then `Rollback(toRevision)`; errors map to the API's codes (negative → INVALID_ARGUMENT,
/// no such revision → NOT_FOUND, nothing earlier → FAILED_PRECONDITION).
#[tokio::test]
async fn conformance_rollback() {
    let mut api = Api::start().await;
    let mut failures = Vec::new();
    let mut ran = 0;
    for (n, case) in k8s_cases().iter().enumerate() {
        let input = &case["input"];
        if input["check"] != "rollback" {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        let revisions: Vec<i64> = input["revisions"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let current = input["currentRevision"].as_i64().unwrap_or_default();
        let to = input["toRevision"].as_i64().unwrap_or_default();
        let k = revisions.len() as i64;
        if revisions != (1..=k).collect::<Vec<_>>() || current != k {
            failures.push(format!(
                "{id}: history shape {revisions:?} current {current} not built by this driver"
            ));
            continue;
        }
        ran += 1;
        let name = format!("rollback-{n}");
        for r in 1..=k {
            api.apply(versioned(&name, &format!("r{r}")))
                .await
                .expect("apply");
        }
        // What the API must answer, from the data.
        let want_code = if to < 0 {
            Some(Code::InvalidArgument)
        } else if to > 0 && !revisions.contains(&to) {
            Some(Code::NotFound)
        } else if to == 0 && k < 2 {
            Some(Code::FailedPrecondition)
        } else {
            None
        };
        let fixture_error = case["expect"].get("error").and_then(Value::as_str);
        if want_code.is_some() != fixture_error.is_some() {
            failures.push(format!(
                "{id}: driver expects {want_code:?}, fixture {:?}",
                case["expect"]
            ));
            continue;
        }
        match (rollback(&mut api, &name, to).await, want_code) {
            (Err(s), Some(code)) if s.code() == code => {}
            (Ok(r), None) => {
                let got = numbers(&history(&mut api, &name).await);
                let want: Vec<i64> = case["expect"]["historyAfter"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                let want_skipped = case["expect"]["skipped"].as_bool().unwrap_or(false);
                if got != want || r.skipped != want_skipped {
                    failures.push(format!("{id}: want history {want:?} skipped {want_skipped}, got {got:?} skipped {}", r.skipped));
                }
            }
            (got, want) => failures.push(format!("{id}: want {want:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 3, "only {ran} rollback cases ran");
}

#[test]
fn strategy_rule_reads_semantics() {
    for (mu, ms, want) in [
        ("1", "0", true),
        ("0", "1", true),
        ("1", "1", false),
        ("0", "0", false),
        ("0%", "0%", false),
        ("101%", "0", false),
        ("0", "100%", true),
        ("x", "0", false),
    ] {
        assert_eq!(strategy_rule(mu, ms), want, "{mu}/{ms}");
    }
}
