//! Kubernetes' validation cases of `tests/fixtures/k8s-cases.json`, through the domain
//! validators and — for those an inventory write can reach — over gRPC as `Sync` rejections.

use std::collections::BTreeMap;

use dsched::domain::validate as v;
use dsched::grpc::pb;
use serde_json::Value;

use crate::support::*;

/// The checks this file covers; each must have at least one case.
const CHECKS: [&str; 9] = [
    "labelKey",
    "labelValue",
    "dns1123Subdomain",
    "dns1123Label",
    "percent",
    "nodeName",
    "taints",
    "toleration",
    "scaledIntOrPercent",
];

fn str_field<'a>(obj: &'a Value, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("field {name:?} is not a string: {other}")),
    }
}

/// Runs a validation check, returning the errors it reported.
fn run_validation(check: &str, value: &Value) -> Result<v::FieldErrors, String> {
    let mut errs = v::FieldErrors::default();
    let as_str = || {
        value
            .as_str()
            .ok_or_else(|| format!("input.value is not a string: {value}"))
    };
    let simple = |msgs: Vec<String>, path: &str, s: &str, errs: &mut v::FieldErrors| {
        errs.invalid(&v::FieldPath::root(path), s, msgs);
    };
    match check {
        "labelKey" => {
            let s = as_str()?;
            simple(v::is_qualified_name(s), "key", s, &mut errs);
        }
        "labelValue" => {
            let s = as_str()?;
            simple(v::is_label_value(s), "value", s, &mut errs);
        }
        "dns1123Subdomain" => {
            let s = as_str()?;
            simple(v::is_dns1123_subdomain(s), "name", s, &mut errs);
        }
        "dns1123Label" => {
            let s = as_str()?;
            simple(v::is_dns1123_label(s), "name", s, &mut errs);
        }
        "percent" => {
            let s = as_str()?;
            if !v::is_valid_percent(s) {
                errs.push(v::FieldError::invalid(
                    &v::FieldPath::root("percent"),
                    s,
                    "not a percentage",
                ));
            }
        }
        "nodeName" => v::node_name(as_str()?, &v::FieldPath::root("nodeName"), &mut errs),
        "taints" => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("input.value is not an array: {value}"))?;
            let mut triples = Vec::with_capacity(items.len());
            for item in items {
                triples.push((
                    str_field(item, "key")?,
                    str_field(item, "value")?,
                    str_field(item, "effect")?,
                ));
            }
            v::taints(&triples, &v::FieldPath::root("taints"), &mut errs);
        }
        "toleration" => {
            let seconds = match value.get("tolerationSeconds") {
                None | Some(Value::Null) => None,
                Some(n) => Some(
                    n.as_i64()
                        .ok_or_else(|| format!("tolerationSeconds is not an integer: {n}"))?,
                ),
            };
            v::toleration(
                str_field(value, "key")?,
                str_field(value, "operator")?,
                str_field(value, "value")?,
                str_field(value, "effect")?,
                seconds,
                &v::FieldPath::root("tolerations").index(0),
                &mut errs,
            );
        }
        other => return Err(format!("unhandled check {other:?}")),
    }
    Ok(errs)
}

/// `GetScaledValueFromIntOrPercent`: a JSON number is an int, a string is
/// parsed, null (or an empty string) is an error.
fn run_scaled(input: &Value) -> Result<u64, String> {
    let total = input
        .get("total")
        .and_then(Value::as_u64)
        .ok_or_else(|| "input.total is not a non-negative integer".to_string())?;
    let round_up = input
        .get("roundUp")
        .and_then(Value::as_bool)
        .ok_or_else(|| "input.roundUp is not a bool".to_string())?;
    let parsed = match input.get("value") {
        Some(Value::Number(n)) => n
            .as_u64()
            .map(v::IntOrPercent::Int)
            .ok_or_else(|| format!("negative or fractional int {n}"))?,
        Some(Value::String(s)) => {
            v::IntOrPercent::parse(s)?.ok_or_else(|| "nil int-or-percent".to_string())?
        }
        _ => return Err("nil int-or-percent".to_string()),
    };
    Ok(parsed.scaled(total, round_up))
}

/// Checks one case; `Err` describes a mismatch.
fn check_case(case: &Value) -> Result<(), String> {
    let input = case.get("input").ok_or("case has no input")?;
    let check = input
        .get("check")
        .and_then(Value::as_str)
        .ok_or("case has no input.check")?;
    let expect = case.get("expect").ok_or("case has no expect")?;
    if check == "scaledIntOrPercent" {
        let got = run_scaled(input);
        let want_error = expect
            .get("error")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        return match (
            &got,
            want_error,
            expect.get("value").and_then(Value::as_u64),
        ) {
            (Err(_), true, _) => Ok(()),
            (Ok(g), false, Some(w)) if *g == w => Ok(()),
            _ => Err(format!("want {expect}, got {got:?}")),
        };
    }
    let value = input.get("value").unwrap_or(&Value::Null);
    let errs = run_validation(check, value)?;
    let got: Vec<String> = errs.to_strings();
    if let Some(want_valid) = expect.get("valid").and_then(Value::as_bool)
        && errs.is_empty() != want_valid
    {
        return Err(format!("want valid={want_valid}, got errors {got:?}"));
    }
    if let Some(field) = expect.get("errorField").and_then(Value::as_str)
        && !errs.iter().any(|e| e.field.as_str() == field)
    {
        return Err(format!("want an error at {field:?}, got {got:?}"));
    }
    Ok(())
}

#[test]
fn k8s_conformance_validate() {
    let mut counts: BTreeMap<&str, usize> = CHECKS.iter().map(|c| (*c, 0)).collect();
    let mut failures = Vec::new();
    for case in k8s_cases() {
        let check = case
            .get("input")
            .and_then(|i| i.get("check"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(count) = counts.get_mut(check) else {
            continue;
        };
        *count += 1;
        let id = case.get("id").and_then(Value::as_str).unwrap_or("?");
        if let Err(e) = check_case(case) {
            failures.push(format!("{id} ({check}): {e}"));
        }
    }
    let empty: Vec<&&str> = counts
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(c, _)| c)
        .collect();
    assert!(empty.is_empty(), "checks with no fixture cases: {empty:?}");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        counts.values().sum::<usize>(),
        failures.join("\n")
    );
}

/// The node an inventory write would carry for a validation case, if a node can carry it.
fn node_for_case(check: &str, value: &Value) -> Option<pb::Node> {
    let s = value.as_str().unwrap_or_default();
    Some(match check {
        "labelKey" => node("n", &[(s, "v")]),
        "labelValue" => node("n", &[("k", s)]),
        "nodeName" | "dns1123Subdomain" => node(s, &[]),
        "taints" => pb::Node {
            taints: value
                .as_array()?
                .iter()
                .map(|t| {
                    let f = |name: &str| str_field(t, name).unwrap_or_default();
                    taint(f("key"), f("value"), f("effect"))
                })
                .collect(),
            ..node("n", &[])
        },
        _ => return None,
    })
}

/// Every case a node can carry, sent in one `Sync` batch: invalid ones come back as
/// rejections of exactly that item, valid ones apply.
#[tokio::test]
async fn k8s_conformance_validate_over_sync() {
    let mut sent = Vec::new();
    for case in k8s_cases() {
        let input = &case["input"];
        let check = input["check"].as_str().unwrap_or_default();
        if let Some(node) = node_for_case(check, &input["value"]) {
            let id = case["id"].as_str().unwrap_or("?").to_owned();
            let valid = case["expect"]["valid"].as_bool().expect("valid");
            sent.push((id, valid, node));
        }
    }
    assert!(sent.len() > 40, "most validation cases reach the inventory");
    let server = TestServer::start().await;
    let mut client = server.inventory().await;
    let mut stream = SyncStream::open(&mut client).await;
    // One batch per case: node names repeat across cases.
    for (i, (id, valid, node)) in sent.into_iter().enumerate() {
        let ack = stream.batch(upsert(i as u64, vec![node])).await;
        assert_eq!(ack.rejected.is_empty(), valid, "{id}: {ack:?}");
        if !valid {
            assert!(
                ack.rejected[0].field.starts_with("upsertNodes[0]."),
                "{id}: field path {:?}",
                ack.rejected[0].field
            );
        }
    }
    stream.close().await;
}
