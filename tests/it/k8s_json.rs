//! Kubernetes JSON (and YAML, read as JSON) to `dsched.v1` messages: a pod spec's placement
//! part (`nodeSelector`, `affinity`, `tolerations`, `nodeName`, `hostNetwork`, container
//! requests, priority), a `kubectl get nodes -o json` item, the conformance fixture's node
//! shape, and a DaemonSet manifest. Values pass through as the user wrote them (an unknown
//! operator stays a string): the server, not these helpers, validates.
//!
//! Also an independent reading of the API-server validation rules (semantics §8) for a pod
//! spec's placement, [`placement_problems`], so tests can decide from the data whether the
//! API must reject a template, without asking the code under test.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::str::FromStr;

use dsched::domain::quantity::Quantity;
use dsched::grpc::pb;
use serde::Deserialize;
use serde_json::Value;

pub type R<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------
// Scalars and small shapes.
// ---------------------------------------------------------------------------------------

pub fn is_absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// A scalar as Kubernetes text: strings as they are, numbers and booleans as written
/// (YAML `maxUnavailable: 0` or `gpu-count: 8`), null as `""`.
pub fn text(v: &Value) -> R<String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("not a scalar: {other}")),
    }
}

/// Field `name` of `obj` as text; absent or null is `""`.
pub fn str_field(obj: &Value, name: &str) -> R<String> {
    match obj.get(name) {
        None => Ok(String::new()),
        Some(v) => text(v).map_err(|e| format!("{name}: {e}")),
    }
}

pub fn bool_field(obj: &Value, name: &str) -> R<bool> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{name} is not a bool: {other}")),
    }
}

pub fn array<'a>(obj: &'a Value, name: &str) -> R<&'a [Value]> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("{name} is not an array: {other}")),
    }
}

pub fn strings(obj: &Value, name: &str) -> R<Vec<String>> {
    array(obj, name)?.iter().map(text).collect()
}

/// A `{k: v}` object as a string map (non-string scalars as their text); null is empty.
pub fn string_map(v: Option<&Value>) -> R<BTreeMap<String, String>> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), text(v).map_err(|e| format!("{k}: {e}"))?)))
            .collect(),
        Some(other) => Err(format!("not an object: {other}")),
    }
}

fn timestamp(v: Option<&Value>) -> R<Option<prost_types::Timestamp>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => prost_types::Timestamp::from_str(s)
            .map(Some)
            .map_err(|e| format!("time {s:?}: {e}")),
        Some(other) => Err(format!("time is not a string: {other}")),
    }
}

// ---------------------------------------------------------------------------------------
// Pod spec → PodPlacement.
// ---------------------------------------------------------------------------------------

pub fn taint(v: &Value) -> R<pb::Taint> {
    Ok(pb::Taint {
        key: str_field(v, "key")?,
        value: str_field(v, "value")?,
        effect: str_field(v, "effect")?,
        time_added: timestamp(v.get("timeAdded"))?,
    })
}

pub fn toleration(v: &Value) -> R<pb::Toleration> {
    let seconds = match v.get("tolerationSeconds") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_i64()
                .ok_or_else(|| format!("tolerationSeconds is not an integer: {n}"))?,
        ),
    };
    Ok(pb::Toleration {
        key: str_field(v, "key")?,
        operator: str_field(v, "operator")?,
        value: str_field(v, "value")?,
        effect: str_field(v, "effect")?,
        toleration_seconds: seconds,
    })
}

pub fn requirement(v: &Value) -> R<pb::NodeSelectorRequirement> {
    Ok(pb::NodeSelectorRequirement {
        key: str_field(v, "key")?,
        operator: str_field(v, "operator")?,
        values: strings(v, "values")?,
    })
}

pub fn term(v: &Value) -> R<pb::NodeSelectorTerm> {
    Ok(pb::NodeSelectorTerm {
        match_expressions: array(v, "matchExpressions")?
            .iter()
            .map(requirement)
            .collect::<R<_>>()?,
        match_fields: array(v, "matchFields")?
            .iter()
            .map(requirement)
            .collect::<R<_>>()?,
    })
}

pub fn node_selector(v: &Value) -> R<pb::NodeSelector> {
    Ok(pb::NodeSelector {
        node_selector_terms: array(v, "nodeSelectorTerms")?
            .iter()
            .map(term)
            .collect::<R<_>>()?,
    })
}

pub fn preferred_term(v: &Value) -> R<pb::PreferredSchedulingTerm> {
    let weight = match v.get("weight") {
        None | Some(Value::Null) => 0,
        Some(w) => w
            .as_i64()
            .and_then(|w| i32::try_from(w).ok())
            .ok_or_else(|| format!("weight is not an int32: {w}"))?,
    };
    Ok(pb::PreferredSchedulingTerm {
        weight,
        preference: match v.get("preference") {
            None | Some(Value::Null) => None,
            Some(p) => Some(term(p)?),
        },
    })
}

/// JSON to `google.protobuf.Value`, for the pod (anti-)affinity blocks kept as `Struct`.
fn proto_value(v: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(proto_value).collect(),
        }),
        Value::Object(_) => Kind::StructValue(proto_struct(v).unwrap_or_default()),
    };
    prost_types::Value { kind: Some(kind) }
}

fn proto_struct(v: &Value) -> Option<prost_types::Struct> {
    let m = v.as_object()?;
    Some(prost_types::Struct {
        fields: m.iter().map(|(k, v)| (k.clone(), proto_value(v))).collect(),
    })
}

pub fn affinity(v: &Value) -> R<pb::Affinity> {
    let node_affinity = match v.get("nodeAffinity") {
        None | Some(Value::Null) => None,
        Some(na) => Some(pb::NodeAffinity {
            required_during_scheduling_ignored_during_execution: match na
                .get("requiredDuringSchedulingIgnoredDuringExecution")
            {
                None | Some(Value::Null) => None,
                Some(sel) => Some(node_selector(sel)?),
            },
            preferred_during_scheduling_ignored_during_execution: array(
                na,
                "preferredDuringSchedulingIgnoredDuringExecution",
            )?
            .iter()
            .map(preferred_term)
            .collect::<R<_>>()?,
        }),
    };
    Ok(pb::Affinity {
        node_affinity,
        pod_affinity: v.get("podAffinity").and_then(proto_struct),
        pod_anti_affinity: v.get("podAntiAffinity").and_then(proto_struct),
    })
}

/// Sums request maps per resource with Kubernetes quantities (`250m + 750m` = `1`).
fn sum_quantities<'a>(
    maps: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> R<Vec<(String, Quantity)>> {
    let mut sums: BTreeMap<String, Quantity> = BTreeMap::new();
    for map in maps {
        for (k, v) in map {
            let q: Quantity = v.parse().map_err(|e| format!("quantity {k}={v:?}: {e}"))?;
            let sum = sums.entry(k.clone()).or_default();
            *sum = sum.saturating_add(q);
        }
    }
    Ok(sums.into_iter().collect())
}

/// The pod's effective requests, as the scheduler computes them: per resource, the larger of
/// the containers' sum and the largest init container's request.
pub fn pod_requests(spec: &Value) -> R<BTreeMap<String, String>> {
    let requests = |list: &[Value]| -> R<Vec<BTreeMap<String, String>>> {
        list.iter()
            .map(|c| string_map(c.get("resources").and_then(|r| r.get("requests"))))
            .collect()
    };
    let containers = requests(array(spec, "containers")?)?;
    let mut out: BTreeMap<String, Quantity> = sum_quantities(&containers)?.into_iter().collect();
    for init in requests(array(spec, "initContainers")?)? {
        for (k, q) in sum_quantities([&init])? {
            let entry = out.entry(k).or_default();
            if q > *entry {
                *entry = q;
            }
        }
    }
    Ok(out.into_iter().map(|(k, q)| (k, q.to_string())).collect())
}

/// The placement part of a pod spec (`spec.template.spec`, or a conformance template).
/// `priorityClassName` is carried; `priority` is the spec's own when it has one (see
/// [`daemonset_from_manifest`] for the PriorityClass lookup).
pub fn pod_placement(spec: &Value) -> R<pb::PodPlacement> {
    let priority = match spec.get("priority") {
        None | Some(Value::Null) => 0,
        Some(p) => p
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| format!("priority is not an int32: {p}"))?,
    };
    Ok(pb::PodPlacement {
        node_selector: string_map(spec.get("nodeSelector"))?,
        affinity: match spec.get("affinity") {
            None | Some(Value::Null) => None,
            Some(a) => Some(affinity(a)?),
        },
        tolerations: array(spec, "tolerations")?
            .iter()
            .map(toleration)
            .collect::<R<_>>()?,
        node_name: str_field(spec, "nodeName")?,
        host_network: bool_field(spec, "hostNetwork")?,
        requests: pod_requests(spec)?,
        priority_class_name: str_field(spec, "priorityClassName")?,
        priority,
    })
}

// ---------------------------------------------------------------------------------------
// Nodes.
// ---------------------------------------------------------------------------------------

/// Conditions as kubectl prints them (`[{type, status, ...}]`) or as the conformance
/// fixture records them (`{type: status}`).
fn conditions(v: Option<&Value>) -> R<Vec<pb::NodeCondition>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| {
                Ok(pb::NodeCondition {
                    r#type: str_field(c, "type")?,
                    status: str_field(c, "status")?,
                })
            })
            .collect(),
        Some(map @ Value::Object(_)) => {
            let mut out: Vec<pb::NodeCondition> = string_map(Some(map))?
                .into_iter()
                .map(|(r#type, status)| pb::NodeCondition { r#type, status })
                .collect();
            out.sort_by(|a, b| a.r#type.cmp(&b.r#type));
            Ok(out)
        }
        Some(other) => Err(format!("conditions: {other}")),
    }
}

/// One item of `kubectl get nodes -o json`: name, labels, `spec.taints`,
/// `spec.unschedulable`, `status.allocatable`, `status.conditions`; a numeric
/// `resourceVersion` becomes the writer's `generation`.
pub fn node_from_kubectl(item: &Value) -> R<pb::Node> {
    let meta = item.get("metadata").unwrap_or(&Value::Null);
    let spec = item.get("spec").unwrap_or(&Value::Null);
    let status = item.get("status").unwrap_or(&Value::Null);
    Ok(pb::Node {
        name: str_field(meta, "name")?,
        labels: string_map(meta.get("labels"))?,
        taints: array(spec, "taints")?.iter().map(taint).collect::<R<_>>()?,
        unschedulable: bool_field(spec, "unschedulable")?,
        allocatable: string_map(status.get("allocatable"))?,
        requested: BTreeMap::new(),
        conditions: conditions(status.get("conditions"))?,
        generation: str_field(meta, "resourceVersion")?.parse().unwrap_or(0),
        revision: 0,
    })
}

/// The conformance fixture's node: `{name, labels, taints, unschedulable, conditions?}`.
pub fn node_from_case(v: &Value) -> R<pb::Node> {
    Ok(pb::Node {
        name: str_field(v, "name")?,
        labels: string_map(v.get("labels"))?,
        taints: array(v, "taints")?.iter().map(taint).collect::<R<_>>()?,
        unschedulable: bool_field(v, "unschedulable")?,
        conditions: conditions(v.get("conditions"))?,
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------
// Manifests.
// ---------------------------------------------------------------------------------------

/// Every document of a (multi-document) YAML text, as JSON.
pub fn yaml_documents(text: &str) -> R<Vec<Value>> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).map_err(|e| e.to_string()))
        .filter(|d| !matches!(d, Ok(Value::Null)))
        .collect()
}

/// `spec.updateStrategy` as the API's message (ints become their text).
pub fn update_strategy(v: &Value) -> R<pb::UpdateStrategy> {
    Ok(pb::UpdateStrategy {
        r#type: str_field(v, "type")?,
        rolling_update: match v.get("rollingUpdate") {
            None | Some(Value::Null) => None,
            Some(ru) => Some(pb::RollingUpdate {
                max_unavailable: str_field(ru, "maxUnavailable")?,
                max_surge: str_field(ru, "maxSurge")?,
                partition: str_field(ru, "partition")?,
                paused: bool_field(ru, "paused")?,
                topology_key: str_field(ru, "topologyKey")?,
            }),
        },
    })
}

fn opt_i32(v: Option<&Value>, name: &str) -> R<Option<i32>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{name} is not an int32: {n}")),
    }
}

/// A `kind: DaemonSet` manifest as the API's `DaemonSet`: placement from
/// `spec.template.spec`, `template` = the pod template as JSON text, the update strategy,
/// `minReadySeconds`, `revisionHistoryLimit`, and the change cause annotation. A
/// `priorityClassName` found in `priority_classes` (name → value) sets the priority.
pub fn daemonset_from_manifest(
    doc: &Value,
    priority_classes: &BTreeMap<String, i32>,
) -> R<pb::DaemonSet> {
    let meta = doc.get("metadata").unwrap_or(&Value::Null);
    let spec = doc.get("spec").unwrap_or(&Value::Null);
    let template = spec.get("template").unwrap_or(&Value::Null);
    let pod_spec = template.get("spec").unwrap_or(&Value::Null);
    let mut placement = pod_placement(pod_spec)?;
    if placement.priority == 0
        && let Some(value) = priority_classes.get(&placement.priority_class_name)
    {
        placement.priority = *value;
    }
    Ok(pb::DaemonSet {
        namespace: str_field(meta, "namespace")?,
        name: str_field(meta, "name")?,
        placement: Some(placement),
        update_strategy: match spec.get("updateStrategy") {
            None | Some(Value::Null) => None,
            Some(s) => Some(update_strategy(s)?),
        },
        min_ready_seconds: opt_i32(spec.get("minReadySeconds"), "minReadySeconds")?.unwrap_or(0),
        revision_history_limit: opt_i32(spec.get("revisionHistoryLimit"), "revisionHistoryLimit")?,
        template: serde_json::to_string(template).map_err(|e| e.to_string())?,
        revision_hash: String::new(),
        change_cause: meta
            .get("annotations")
            .and_then(|a| a.get("kubernetes.io/change-cause"))
            .map(text)
            .transpose()?
            .unwrap_or_default(),
        revision: 0,
    })
}

/// `PriorityClass` documents: name → value.
pub fn priority_classes(docs: &[Value]) -> R<BTreeMap<String, i32>> {
    docs.iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("PriorityClass"))
        .map(|d| {
            let name = str_field(d.get("metadata").unwrap_or(&Value::Null), "name")?;
            let value = opt_i32(d.get("value"), "value")?.unwrap_or(0);
            Ok((name, value))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// API-server validation of a pod spec's placement, read independently (semantics §8).
// ---------------------------------------------------------------------------------------

fn dns_label_chars(l: &str) -> bool {
    let b = l.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| edge(c) || c == b'-')
}

/// §8.3 `IsDNS1123Subdomain` (also a node name, §8.4).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label_chars)
}

/// The name part of a qualified name, and a non-empty label value (§8.1, §8.2).
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// §8.1 `IsQualifiedName` / `IsLabelKey`.
pub fn is_qualified_name(s: &str) -> bool {
    match s.split('/').collect::<Vec<_>>().as_slice() {
        [name] => is_name_part(name),
        [prefix, name] => !prefix.is_empty() && is_dns1123_subdomain(prefix) && is_name_part(name),
        _ => false,
    }
}

/// §8.2 `IsLabelValue`.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_name_part(s)
}

const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// §8.5 `ValidateNodeSelectorRequirement`; label values checked when `values_checked`.
fn requirement_problems(
    r: &Value,
    path: &str,
    values_checked: bool,
    out: &mut Vec<String>,
) -> R<()> {
    let key = str_field(r, "key")?;
    let op = str_field(r, "operator")?;
    let values = strings(r, "values")?;
    if !is_qualified_name(&key) {
        out.push(format!("{path}.key"));
    }
    let count_ok = match op.as_str() {
        "In" | "NotIn" => !values.is_empty(),
        "Exists" | "DoesNotExist" => values.is_empty(),
        "Gt" | "Lt" => values.len() == 1,
        _ => {
            out.push(format!("{path}.operator"));
            true
        }
    };
    if !count_ok {
        out.push(format!("{path}.values"));
    }
    if values_checked {
        for (i, v) in values.iter().enumerate() {
            if !is_label_value(v) {
                out.push(format!("{path}.values[{i}]"));
            }
        }
    }
    Ok(())
}

/// §8.5 `ValidateNodeFieldSelectorRequirement`.
fn field_problems(r: &Value, path: &str, out: &mut Vec<String>) -> R<()> {
    if str_field(r, "key")? != "metadata.name" {
        out.push(format!("{path}.key"));
    }
    if !matches!(str_field(r, "operator")?.as_str(), "In" | "NotIn") {
        out.push(format!("{path}.operator"));
    }
    match strings(r, "values")?.as_slice() {
        [v] if !is_dns1123_subdomain(v) => out.push(format!("{path}.values[0]")),
        [_] => {}
        _ => out.push(format!("{path}.values")),
    }
    Ok(())
}

fn term_problems(t: &Value, path: &str, values_checked: bool, out: &mut Vec<String>) -> R<()> {
    for (i, r) in array(t, "matchExpressions")?.iter().enumerate() {
        requirement_problems(
            r,
            &format!("{path}.matchExpressions[{i}]"),
            values_checked,
            out,
        )?;
    }
    for (i, r) in array(t, "matchFields")?.iter().enumerate() {
        field_problems(r, &format!("{path}.matchFields[{i}]"), out)?;
    }
    Ok(())
}

/// §8.7 `ValidateTolerations`, with dsched's rejection of the alpha `Lt`/`Gt` operators.
fn toleration_problems(t: &Value, path: &str, out: &mut Vec<String>) -> R<()> {
    let key = str_field(t, "key")?;
    let op = str_field(t, "operator")?;
    let value = str_field(t, "value")?;
    let effect = str_field(t, "effect")?;
    if !key.is_empty() && !is_qualified_name(&key) {
        out.push(format!("{path}.key"));
    }
    if key.is_empty() && op != "Exists" {
        out.push(format!("{path}.operator"));
    }
    if !is_absent(t.get("tolerationSeconds")) && effect != "NoExecute" {
        out.push(format!("{path}.effect"));
    }
    match op.as_str() {
        "" | "Equal" => {
            if !is_label_value(&value) {
                out.push(format!("{path}.value"));
            }
        }
        "Exists" => {
            if !value.is_empty() {
                out.push(format!("{path}.value"));
            }
        }
        _ => out.push(format!("{path}.operator")),
    }
    if !effect.is_empty() && !EFFECTS.contains(&effect.as_str()) {
        out.push(format!("{path}.effect"));
    }
    Ok(())
}

/// The field paths (relative to the pod spec) the API server would reject in a pod spec's
/// placement: nodeSelector labels, nodeName, required and preferred node affinity,
/// tolerations. Empty = valid. Written from semantics §8, not from the server's code.
pub fn placement_problems(spec: &Value) -> R<Vec<String>> {
    let mut out = Vec::new();
    for (k, v) in string_map(spec.get("nodeSelector"))? {
        if !is_qualified_name(&k) || !is_label_value(&v) {
            out.push("nodeSelector".to_owned());
        }
    }
    let node_name = str_field(spec, "nodeName")?;
    if !node_name.is_empty() && !is_dns1123_subdomain(&node_name) {
        out.push("nodeName".to_owned());
    }
    let na = spec
        .get("affinity")
        .and_then(|a| a.get("nodeAffinity"))
        .unwrap_or(&Value::Null);
    let base = "affinity.nodeAffinity";
    if let Some(sel) = na
        .get("requiredDuringSchedulingIgnoredDuringExecution")
        .filter(|v| !v.is_null())
    {
        let path =
            format!("{base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
        let terms = array(sel, "nodeSelectorTerms")?;
        if terms.is_empty() {
            out.push(path.clone());
        }
        for (i, t) in terms.iter().enumerate() {
            term_problems(t, &format!("{path}[{i}]"), true, &mut out)?;
        }
    }
    for (i, p) in array(na, "preferredDuringSchedulingIgnoredDuringExecution")?
        .iter()
        .enumerate()
    {
        let path = format!("{base}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
        let weight = p.get("weight").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=100).contains(&weight) {
            out.push(format!("{path}.weight"));
        }
        let pref = p.get("preference").unwrap_or(&Value::Null);
        // Upstream's API server does not check the label values of preferred terms, but the
        // scheduler cannot parse such a term (its scoring fails, §3.6): dsched rejects it like
        // a required one (decision 2).
        term_problems(pref, &format!("{path}.preference"), true, &mut out)?;
    }
    for (i, t) in array(spec, "tolerations")?.iter().enumerate() {
        toleration_problems(t, &format!("tolerations[{i}]"), &mut out)?;
    }
    Ok(out)
}
