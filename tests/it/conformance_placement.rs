//! Kubernetes' placement cases of `tests/fixtures/k8s-cases.json` (every `kind: "placement"`
//! check) and the node-selector validation cases, through the domain functions: one table,
//! one failure line per case id with want vs got.
//!
//! How dsched reads them (conformance README, semantics decision 2): where upstream's selector
//! has a parse error — a `parseError` case, or a lazy-mode case whose bad term upstream just
//! skips — dsched rejects the selector, except for `Gt`/`Lt` values that are not integers
//! (valid at the API, they never match). Each selector case is checked twice: the upstream
//! answer (lazy or strict evaluation) against `expect`, and dsched's answer (match, score or
//! rejection) against `expect` read that way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use dsched::domain::placement::{
    FieldRequirement, NodeAffinity, NodeSelectorTerm, PodPlacement, PreferredTerm, Toleration,
    TolerationOperator,
};
use dsched::domain::predicate::{self, Verdict};
use dsched::domain::selector::{Operator, Requirement};
use dsched::domain::validate::{FieldErrors, FieldPath};
use dsched::domain::{Condition, Node, Taint, TaintEffect, affinity, toleration};
use serde_json::Value;

use crate::support::k8s_cases;

/// The checks this file covers; each must have at least one case.
const CHECKS: [&str; 18] = [
    "daemonPodTolerations",
    "daemonSetNodes",
    "daemonSetPredicate",
    "labelRequirement",
    "nodeNameAffinityMutation",
    "nodeSelectorTerms",
    "normalizeScore",
    "preferredScore",
    "requiredNodeAffinity",
    "taintTolerationFilter",
    "taintTolerationScore",
    "targetNodeName",
    "toleratesTaint",
    "untoleratedTaint",
    "nodeSelectorRequirement",
    "nodeFieldSelectorRequirement",
    "nodeSelector",
    "preferredSchedulingTerm",
];

type R<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------
// JSON → domain.
// ---------------------------------------------------------------------------------------

fn is_absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn str_field(obj: &Value, name: &str) -> R<String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{name} is not a string: {other}")),
    }
}

fn bool_field(obj: &Value, name: &str) -> R<bool> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{name} is not a bool: {other}")),
    }
}

fn i64_field(obj: &Value, name: &str) -> R<i64> {
    obj.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{name} is not an integer"))
}

fn array<'a>(obj: &'a Value, name: &str) -> R<&'a [Value]> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("{name} is not an array: {other}")),
    }
}

fn strings(obj: &Value, name: &str) -> R<Vec<String>> {
    array(obj, name)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{name}: {v} is not a string"))
        })
        .collect()
}

/// A `{k: v}` object (the whole value, not a field); null is empty. Non-string values are
/// rendered as JSON text (quantities may be numbers).
fn string_map(v: Option<&Value>) -> R<BTreeMap<String, String>> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), s)
            })
            .collect()),
        Some(other) => Err(format!("not an object: {other}")),
    }
}

fn effect(s: &str) -> R<TaintEffect> {
    TaintEffect::parse(s).ok_or_else(|| format!("unknown taint effect {s:?}"))
}

fn taint(v: &Value) -> R<Taint> {
    Ok(Taint {
        key: str_field(v, "key")?,
        value: str_field(v, "value")?,
        effect: effect(&str_field(v, "effect")?)?,
        time_added: None,
    })
}

fn taints(v: &Value, name: &str) -> R<Vec<Taint>> {
    array(v, name)?.iter().map(taint).collect()
}

fn toleration(v: &Value) -> R<Toleration> {
    let op = str_field(v, "operator")?;
    let eff = str_field(v, "effect")?;
    Ok(Toleration {
        key: str_field(v, "key")?,
        operator: TolerationOperator::parse(&op)
            .ok_or_else(|| format!("unknown toleration operator {op:?}"))?,
        value: str_field(v, "value")?,
        effect: if eff.is_empty() {
            None
        } else {
            Some(effect(&eff)?)
        },
        toleration_seconds: v.get("tolerationSeconds").and_then(Value::as_i64),
    })
}

fn tolerations(v: &Value, name: &str) -> R<Vec<Toleration>> {
    array(v, name)?.iter().map(toleration).collect()
}

/// A Node; `conditions` and `allocatable` are carried along (they must not matter).
fn node(v: &Value) -> R<Node> {
    let conditions = string_map(v.get("conditions"))?
        .into_iter()
        .map(|(kind, status)| Condition { kind, status })
        .collect();
    Ok(Node {
        name: str_field(v, "name")?,
        labels: string_map(v.get("labels"))?,
        taints: taints(v, "taints")?,
        unschedulable: bool_field(v, "unschedulable")?,
        conditions,
        ..Node::default()
    })
}

fn requirement(v: &Value) -> R<Requirement> {
    let op = str_field(v, "operator")?;
    Ok(Requirement {
        key: str_field(v, "key")?,
        // The domain has no value for an unknown operator: upstream fails to parse it.
        operator: Operator::parse_node_selector(&op)
            .ok_or_else(|| format!("unsupported operator {op:?}"))?,
        values: strings(v, "values")?,
    })
}

fn field_requirement(v: &Value) -> R<FieldRequirement> {
    Ok(FieldRequirement {
        key: str_field(v, "key")?,
        operator: str_field(v, "operator")?,
        values: strings(v, "values")?,
    })
}

/// A term; `Err` when a requirement has an operator the domain cannot hold (a parse error).
fn term(v: &Value) -> R<NodeSelectorTerm> {
    Ok(NodeSelectorTerm {
        match_expressions: array(v, "matchExpressions")?
            .iter()
            .map(requirement)
            .collect::<R<_>>()?,
        match_fields: array(v, "matchFields")?
            .iter()
            .map(field_requirement)
            .collect::<R<_>>()?,
    })
}

/// The terms of a `NodeSelector` object, each converted on its own.
fn selector_terms(selector: &Value) -> R<Vec<R<NodeSelectorTerm>>> {
    Ok(array(selector, "nodeSelectorTerms")?
        .iter()
        .map(term)
        .collect())
}

fn preferred_terms(list: &[Value]) -> Vec<(i64, R<NodeSelectorTerm>)> {
    list.iter()
        .map(|t| {
            let weight = t.get("weight").and_then(Value::as_i64).unwrap_or(0);
            let pref = t.get("preference").cloned().unwrap_or(Value::Null);
            (weight, term(&pref))
        })
        .collect()
}

/// An `Affinity` object to the domain's `NodeAffinity`; `Err` when a term does not convert.
fn node_affinity(affinity: Option<&Value>) -> R<NodeAffinity> {
    let Some(na) = affinity.and_then(|a| a.get("nodeAffinity")) else {
        return Ok(NodeAffinity::default());
    };
    if na.is_null() {
        return Ok(NodeAffinity::default());
    }
    let required_value = na.get("requiredDuringSchedulingIgnoredDuringExecution");
    let required = if is_absent(required_value) {
        None
    } else {
        let sel = required_value.cloned().unwrap_or(Value::Null);
        Some(selector_terms(&sel)?.into_iter().collect::<R<Vec<_>>>()?)
    };
    let preferred = preferred_terms(array(
        na,
        "preferredDuringSchedulingIgnoredDuringExecution",
    )?)
    .into_iter()
    .map(|(w, t)| {
        Ok(PreferredTerm {
            weight: i32::try_from(w).map_err(|e| e.to_string())?,
            preference: t?,
        })
    })
    .collect::<R<_>>()?;
    Ok(NodeAffinity {
        required,
        preferred,
    })
}

/// A pod template spec (placement part); `resources` become the requests.
fn placement(t: &Value) -> R<PodPlacement> {
    Ok(PodPlacement {
        node_selector: string_map(t.get("nodeSelector"))?,
        affinity: node_affinity(t.get("affinity"))?,
        tolerations: tolerations(t, "tolerations")?,
        node_name: str_field(t, "nodeName")?,
        host_network: bool_field(t, "hostNetwork")?,
        requests: string_map(t.get("resources"))?,
        ..PodPlacement::default()
    })
}

// ---------------------------------------------------------------------------------------
// Selector outcomes: upstream's answer and dsched's.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Match(bool),
    Score(i64),
    /// Upstream: a parse error; dsched: the request is rejected.
    Rejected,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Match(m) => write!(f, "match={m}"),
            Outcome::Score(s) => write!(f, "score={s}"),
            Outcome::Rejected => f.write_str("rejected"),
        }
    }
}

/// Upstream's parse error for a converted term (a conversion failure is one).
fn upstream_parse_error(t: &R<NodeSelectorTerm>) -> bool {
    match t {
        Err(_) => true,
        Ok(t) => affinity::term_parse_error(t).is_some(),
    }
}

/// dsched's rejection of a converted term (`affinity::term_rejection`).
fn dsched_rejects(t: &R<NodeSelectorTerm>) -> bool {
    match t {
        Err(_) => true,
        Ok(t) => affinity::term_rejection(t).is_some(),
    }
}

/// Decision 2 read independently of `term_rejection`: the term has an upstream parse error
/// that remains once every `Gt`/`Lt` value is replaced by an integer (values that are not
/// valid label values are kept, they stay errors).
fn decision2_rejects(t: &R<NodeSelectorTerm>) -> bool {
    let Ok(t) = t else {
        return true;
    };
    let mut patched = t.clone();
    for r in &mut patched.match_expressions {
        if matches!(r.operator, Operator::Gt | Operator::Lt) {
            for v in &mut r.values {
                let label_value_ok = dsched::domain::validate::is_label_value(v).is_empty();
                if label_value_ok {
                    *v = "1".to_string();
                }
            }
        }
    }
    affinity::term_parse_error(&patched).is_some()
}

/// Lazy evaluation (`LazyErrorNodeSelector`): terms that do not convert never match.
fn lazy_match(terms: &[R<NodeSelectorTerm>], node: &Node) -> bool {
    terms
        .iter()
        .any(|t| t.as_ref().is_ok_and(|t| affinity::term_matches(t, node)))
}

/// Compares the upstream and dsched outcomes of a selector case with `expect`.
fn judge(expect: &Value, upstream: Outcome, dsched: Outcome, dsched_should_reject: bool) -> R<()> {
    let want_upstream = if expect.get("parseError").and_then(Value::as_bool) == Some(true) {
        Outcome::Rejected
    } else if let Some(m) = expect.get("match").and_then(Value::as_bool) {
        Outcome::Match(m)
    } else if let Some(s) = expect.get("score").and_then(Value::as_i64) {
        Outcome::Score(s)
    } else {
        return Err(format!("unreadable expect {expect}"));
    };
    let want_dsched = if dsched_should_reject {
        Outcome::Rejected
    } else {
        want_upstream.clone()
    };
    if upstream != want_upstream || dsched != want_dsched {
        return Err(format!(
            "want upstream {want_upstream} / dsched {want_dsched}, got upstream {upstream} / dsched {dsched}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------

fn want_bool(expect: &Value, name: &str) -> R<bool> {
    expect
        .get(name)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("expect.{name} is not a bool"))
}

fn compare<T: PartialEq + fmt::Debug>(want: T, got: T) -> R<()> {
    if want == got {
        Ok(())
    } else {
        Err(format!("want {want:?}, got {got:?}"))
    }
}

/// `explain` must agree with `should_run`, and list reasons exactly when excluded.
fn explain_agrees(n: &Node, p: &PodPlacement) -> R<Verdict> {
    let verdict = predicate::should_run(n, p);
    let (explained, reasons) = predicate::explain(n, p);
    if explained != verdict || reasons.is_empty() != verdict.should_run {
        return Err(format!(
            "node {}: should_run {verdict:?} but explain {explained:?} with {reasons:?}",
            n.name
        ));
    }
    Ok(verdict)
}

fn check_predicate(input: &Value, expect: &Value) -> R<()> {
    let template = input.get("template").cloned().unwrap_or(Value::Null);
    let p = placement(&template)?;
    let mut n = node(input.get("node").unwrap_or(&Value::Null))?;
    n.allocatable = string_map(input.get("nodeAllocatable"))?;
    let want = Verdict {
        should_run: want_bool(expect, "shouldRun")?,
        should_continue_running: want_bool(expect, "shouldContinueRunning")?,
    };
    let got = explain_agrees(&n, &p)?;
    compare(want, got)?;
    // The recorded-for-fidelity extras must not change the answer.
    let bare_placement = PodPlacement {
        requests: BTreeMap::new(),
        ..p
    };
    let bare_node = Node {
        allocatable: BTreeMap::new(),
        conditions: Vec::new(),
        ..n
    };
    compare(want, predicate::should_run(&bare_node, &bare_placement))
        .map_err(|e| format!("without extras: {e}"))
}

fn check_nodes(input: &Value, expect: &Value) -> R<()> {
    let template = input.get("template").cloned().unwrap_or(Value::Null);
    let p = placement(&template)?;
    let nodes: Vec<Node> = array(input, "nodes")?.iter().map(node).collect::<R<_>>()?;
    let mut run = BTreeSet::new();
    let mut keep = BTreeSet::new();
    for n in &nodes {
        let v = explain_agrees(n, &p)?;
        if v.should_run {
            run.insert(n.name.clone());
        }
        if v.should_continue_running {
            keep.insert(n.name.clone());
        }
    }
    let want_run: BTreeSet<String> = strings(expect, "shouldRunNodes")?.into_iter().collect();
    compare(want_run, run).map_err(|e| format!("shouldRunNodes: {e}"))?;
    if !is_absent(expect.get("shouldContinueRunningNodes")) {
        let want_keep: BTreeSet<String> = strings(expect, "shouldContinueRunningNodes")?
            .into_iter()
            .collect();
        compare(want_keep, keep).map_err(|e| format!("shouldContinueRunningNodes: {e}"))?;
    }
    Ok(())
}

fn check_label_requirement(input: &Value, expect: &Value) -> R<()> {
    let labels = string_map(input.get("labels"))?;
    let mut parsed = Vec::new();
    let mut valid = true;
    for r in array(input, "requirements")? {
        let op = str_field(r, "operator")?;
        let built = Operator::parse_node_selector(&op).ok_or_else(|| format!("operator {op:?}"));
        match built
            .and_then(|op| Requirement::new(&str_field(r, "key")?, op, strings(r, "values")?))
        {
            Ok(req) => parsed.push(req),
            Err(_) => valid = false,
        }
    }
    compare(want_bool(expect, "valid")?, valid).map_err(|e| format!("valid: {e}"))?;
    if valid && let Some(want) = expect.get("match").and_then(Value::as_bool) {
        let got = parsed.iter().all(|r| r.matches(&labels));
        compare(want, got).map_err(|e| format!("match: {e}"))?;
    }
    Ok(())
}

fn check_required_affinity(input: &Value, expect: &Value) -> R<()> {
    let n = node(input.get("node").unwrap_or(&Value::Null))?;
    let node_selector = string_map(input.get("nodeSelector"))?;
    let required = input
        .get("affinity")
        .and_then(|a| a.get("nodeAffinity"))
        .and_then(|na| na.get("requiredDuringSchedulingIgnoredDuringExecution"))
        .filter(|v| !v.is_null());
    let terms = match required {
        Some(sel) => Some(selector_terms(sel)?),
        None => None,
    };
    let terms_slice = terms.as_deref().unwrap_or(&[]);
    // Upstream: GetRequiredNodeAffinity(pod).Match(node), parse errors ignored.
    let selector_ok = affinity::node_selector_matches(&node_selector, &n.labels);
    let upstream = Outcome::Match(selector_ok && (terms.is_none() || lazy_match(terms_slice, &n)));
    // dsched: bad terms reject the request; otherwise the domain function decides.
    let dsched = if terms_slice.iter().any(dsched_rejects) {
        Outcome::Rejected
    } else {
        let na = NodeAffinity {
            required: terms
                .as_ref()
                .map(|ts| ts.iter().filter_map(|t| t.clone().ok()).collect()),
            preferred: Vec::new(),
        };
        Outcome::Match(affinity::required_node_affinity_matches(
            &node_selector,
            &na,
            &n,
        ))
    };
    judge(
        expect,
        upstream,
        dsched,
        terms_slice.iter().any(decision2_rejects),
    )
}

fn check_selector_terms(input: &Value, expect: &Value) -> R<()> {
    let n = match input.get("node") {
        None | Some(Value::Null) => None,
        Some(v) => Some(node(v)?),
    };
    let terms = match input.get("nodeSelector") {
        None | Some(Value::Null) => Vec::new(),
        Some(sel) => selector_terms(sel)?,
    };
    let strict = match str_field(input, "mode")?.as_str() {
        "strict" => true,
        "lazy" | "" => false,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let matched = n.as_ref().is_some_and(|n| lazy_match(&terms, n));
    let upstream = if strict && terms.iter().any(upstream_parse_error) {
        Outcome::Rejected
    } else {
        Outcome::Match(matched)
    };
    let dsched = if terms.iter().any(dsched_rejects) {
        Outcome::Rejected
    } else {
        let ok: Vec<NodeSelectorTerm> = terms.iter().filter_map(|t| t.clone().ok()).collect();
        Outcome::Match(
            n.as_ref()
                .is_some_and(|n| affinity::required_terms_match(&ok, n)),
        )
    };
    judge(
        expect,
        upstream,
        dsched,
        terms.iter().any(decision2_rejects),
    )
}

fn check_preferred_score(input: &Value, expect: &Value) -> R<()> {
    let n = node(input.get("node").unwrap_or(&Value::Null))?;
    let terms = preferred_terms(array(input, "terms")?);
    // NewPreferredSchedulingTerms parses only non-zero weights with a non-empty preference.
    let parsed: Vec<&(i64, R<NodeSelectorTerm>)> = terms
        .iter()
        .filter(|(w, t)| *w != 0 && t.as_ref().map_or(true, |t| !t.is_empty()))
        .collect();
    let upstream = if parsed.iter().any(|(_, t)| upstream_parse_error(t)) {
        Outcome::Rejected
    } else {
        let mut score = 0;
        for (w, t) in &parsed {
            if t.as_ref().is_ok_and(|t| affinity::term_matches(t, &n)) {
                score += w;
            }
        }
        Outcome::Score(score)
    };
    let dsched = if parsed.iter().any(|(_, t)| dsched_rejects(t)) {
        Outcome::Rejected
    } else {
        let domain: Vec<PreferredTerm> = terms
            .iter()
            .filter_map(|(w, t)| {
                Some(PreferredTerm {
                    weight: i32::try_from(*w).ok()?,
                    preference: t.clone().ok()?,
                })
            })
            .collect();
        Outcome::Score(affinity::preferred_score(&domain, &n))
    };
    let should_reject = parsed.iter().any(|(_, t)| decision2_rejects(t));
    judge(expect, upstream, dsched, should_reject)
}

fn check_normalize(input: &Value, expect: &Value) -> R<()> {
    let scores: Vec<i64> = array(input, "scores")?
        .iter()
        .map(|v| v.as_i64().ok_or_else(|| format!("score {v}")))
        .collect::<R<_>>()?;
    let want: Vec<i64> = array(expect, "scores")?
        .iter()
        .map(|v| v.as_i64().ok_or_else(|| format!("score {v}")))
        .collect::<R<_>>()?;
    let got = affinity::normalize_scores(
        &scores,
        i64_field(input, "maxPriority")?,
        bool_field(input, "reverse")?,
    );
    compare(want, got)
}

fn check_taint_score(input: &Value, expect: &Value) -> R<()> {
    let tols = tolerations(input, "tolerations")?;
    let nodes: Vec<Node> = array(input, "nodes")?.iter().map(node).collect::<R<_>>()?;
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| toleration::prefer_no_schedule_count(&n.taints, &tols))
        .collect();
    let normalized = affinity::normalize_scores(&raw, 100, true);
    let got: BTreeMap<String, i64> = nodes
        .iter()
        .map(|n| n.name.clone())
        .zip(normalized)
        .collect();
    let want: BTreeMap<String, i64> = expect
        .get("scores")
        .and_then(Value::as_object)
        .ok_or("expect.scores is not an object")?
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_i64().ok_or_else(|| format!("score {v}"))?)))
        .collect::<R<_>>()?;
    compare(want, got)
}

fn check_taint_filter(input: &Value, expect: &Value) -> R<()> {
    let tols = tolerations(input, "tolerations")?;
    let n = node(input.get("node").unwrap_or(&Value::Null))?;
    compare(
        want_bool(expect, "fits")?,
        toleration::taint_toleration_fits(&n.taints, &tols),
    )
}

fn check_tolerates(input: &Value, expect: &Value) -> R<()> {
    let t = toleration(input.get("toleration").unwrap_or(&Value::Null))?;
    let tt = taint(input.get("taint").unwrap_or(&Value::Null))?;
    let gate = bool_field(input, "enableComparisonOperators")?;
    compare(want_bool(expect, "tolerated")?, t.tolerates(&tt, gate))
}

fn check_untolerated(input: &Value, expect: &Value) -> R<()> {
    let tols = tolerations(input, "tolerations")?;
    let ts = taints(input, "taints")?;
    let gate = bool_field(input, "enableComparisonOperators")?;
    let filter: fn(&Taint) -> bool = match str_field(input, "filter")?.as_str() {
        // "all" is upstream's nil filter: every taint is considered.
        "all" | "" => |_| true,
        "none" => |_| false,
        "NoExecute" => toleration::is_no_execute,
        "NoScheduleOrNoExecute" => toleration::is_no_schedule_or_no_execute,
        other => return Err(format!("unknown filter {other:?}")),
    };
    let got = toleration::find_untolerated_with(&ts, &tols, filter, gate);
    compare(want_bool(expect, "untolerated")?, got.is_some())?;
    // The first one in node order.
    if let Some(t) = got {
        let first = ts
            .iter()
            .find(|t| filter(t) && !tols.iter().any(|x| x.tolerates(t, gate)));
        compare(first, Some(t))?;
    }
    Ok(())
}

fn check_daemon_tolerations(input: &Value, expect: &Value) -> R<()> {
    let template = input.get("template").cloned().unwrap_or(Value::Null);
    let user = tolerations(&template, "tolerations")?;
    let got = toleration::daemon_tolerations(&user, bool_field(&template, "hostNetwork")?);
    compare(tolerations(expect, "tolerations")?, got)
}

fn check_pin(input: &Value, expect: &Value) -> R<()> {
    let affinity_in = node_affinity(input.get("affinity"))?;
    let got = affinity::pin_to_node(&affinity_in, &str_field(input, "nodeName")?);
    compare(node_affinity(expect.get("affinity"))?, got)
}

fn check_target(input: &Value, expect: &Value) -> R<()> {
    let spec = input.get("podSpec").cloned().unwrap_or(Value::Null);
    let got = affinity::target_node_name(
        &str_field(&spec, "nodeName")?,
        &node_affinity(spec.get("affinity"))?,
    );
    if expect.get("error").and_then(Value::as_bool) == Some(true) {
        return match got {
            Err(_) => Ok(()),
            Ok(name) => Err(format!("want an error, got {name:?}")),
        };
    }
    compare(Ok(str_field(expect, "nodeName")?), got)
}

/// `(key, operator, values)` of a requirement object.
fn raw_requirement(v: &Value) -> R<(String, String, Vec<String>)> {
    Ok((
        str_field(v, "key")?,
        str_field(v, "operator")?,
        strings(v, "values")?,
    ))
}

type RawTerm = (
    Vec<(String, String, Vec<String>)>,
    Vec<(String, String, Vec<String>)>,
);

fn raw_term(v: &Value) -> R<RawTerm> {
    Ok((
        array(v, "matchExpressions")?
            .iter()
            .map(raw_requirement)
            .collect::<R<_>>()?,
        array(v, "matchFields")?
            .iter()
            .map(raw_requirement)
            .collect::<R<_>>()?,
    ))
}

fn view(list: &[(String, String, Vec<String>)]) -> Vec<affinity::RawRequirement<'_>> {
    list.iter()
        .map(|(k, o, v)| (k.as_str(), o.as_str(), v.as_slice()))
        .collect()
}

fn validate_raw_term(t: &RawTerm, path: &FieldPath, errs: &mut FieldErrors) {
    affinity::validate_node_selector_term_raw(view(&t.0), view(&t.1), path, errs);
}

/// The validation checks, through the raw-string validators the transport calls.
fn check_validation(check: &str, input: &Value, expect: &Value) -> R<()> {
    let value = input.get("value").cloned().unwrap_or(Value::Null);
    let mut errs = FieldErrors::new();
    match check {
        "nodeSelectorRequirement" => {
            let (k, o, v) = raw_requirement(&value)?;
            let path = FieldPath::root("matchExpressions").index(0);
            affinity::validate_node_selector_requirement(&k, &o, &v, &path, &mut errs);
        }
        "nodeFieldSelectorRequirement" => {
            let (k, o, v) = raw_requirement(&value)?;
            let path = FieldPath::root("matchFields").index(0);
            affinity::validate_node_field_selector_requirement(&k, &o, &v, &path, &mut errs);
        }
        "nodeSelector" => {
            let path = FieldPath::root("requiredDuringSchedulingIgnoredDuringExecution");
            let terms = array(&value, "nodeSelectorTerms")?;
            if affinity::validate_node_selector_terms(terms.len(), &path, &mut errs) {
                let terms_path = path.child("nodeSelectorTerms");
                for (i, t) in terms.iter().enumerate() {
                    validate_raw_term(&raw_term(t)?, &terms_path.index(i), &mut errs);
                }
            }
        }
        "preferredSchedulingTerm" => {
            let path = FieldPath::root("preferredDuringSchedulingIgnoredDuringExecution").index(0);
            let weight = i32::try_from(i64_field(&value, "weight")?).map_err(|e| e.to_string())?;
            affinity::validate_preferred_weight(weight, &path, &mut errs);
            let pref = value.get("preference").cloned().unwrap_or(Value::Null);
            validate_raw_term(&raw_term(&pref)?, &path.child("preference"), &mut errs);
        }
        other => return Err(format!("unhandled validation check {other:?}")),
    }
    let got = errs.to_strings();
    compare(want_bool(expect, "valid")?, errs.is_empty())
        .map_err(|e| format!("valid: {e}; errors {got:?}"))?;
    if let Some(field) = expect.get("errorField").and_then(Value::as_str)
        && !errs.iter().any(|e| e.field.as_str() == field)
    {
        return Err(format!("want an error at {field:?}, got {got:?}"));
    }
    Ok(())
}

fn check_case(check: &str, case: &Value) -> R<()> {
    let input = case.get("input").ok_or("case has no input")?;
    let expect = case.get("expect").ok_or("case has no expect")?;
    match check {
        "daemonSetPredicate" => check_predicate(input, expect),
        "daemonSetNodes" => check_nodes(input, expect),
        "labelRequirement" => check_label_requirement(input, expect),
        "requiredNodeAffinity" => check_required_affinity(input, expect),
        "nodeSelectorTerms" => check_selector_terms(input, expect),
        "preferredScore" => check_preferred_score(input, expect),
        "normalizeScore" => check_normalize(input, expect),
        "taintTolerationScore" => check_taint_score(input, expect),
        "taintTolerationFilter" => check_taint_filter(input, expect),
        "toleratesTaint" => check_tolerates(input, expect),
        "untoleratedTaint" => check_untolerated(input, expect),
        "daemonPodTolerations" => check_daemon_tolerations(input, expect),
        "nodeNameAffinityMutation" => check_pin(input, expect),
        "targetNodeName" => check_target(input, expect),
        other => check_validation(other, input, expect),
    }
}

#[test]
fn k8s_conformance_placement() {
    let mut counts: BTreeMap<&str, usize> = CHECKS.iter().map(|c| (*c, 0)).collect();
    let mut failures = Vec::new();
    for case in k8s_cases() {
        let check = case
            .get("input")
            .and_then(|i| i.get("check"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = case.get("kind").and_then(Value::as_str).unwrap_or("");
        let id = case.get("id").and_then(Value::as_str).unwrap_or("?");
        let Some(count) = counts.get_mut(check) else {
            if kind == "placement" {
                failures.push(format!("{id}: unhandled placement check {check:?}"));
            }
            continue;
        };
        *count += 1;
        if let Err(e) = check_case(check, case) {
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
