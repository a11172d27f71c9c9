//! Kubernetes objects (`k8s-openapi` types) into `dsched.v1` messages. Values pass through
//! as written (an unknown operator stays a string): the server validates and names the field.

use std::collections::BTreeMap;
use std::str::FromStr;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::input::Document;
use crate::domain::quantity::Quantity;
use crate::grpc::pb;

/// The annotation `kubectl rollout history` shows as CHANGE-CAUSE.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// `doc` as the Kubernetes type `T`; an error names the field path that does not fit.
pub fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// `v` with only `keys` (absent keys stay absent); anything but an object is kept as is,
/// so a wrong type is still reported at its path.
fn pick(v: Option<&Value>, keys: &[&str]) -> Option<Value> {
    match v? {
        Value::Object(m) => Some(Value::Object(
            keys.iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

fn insert(obj: &mut Value, key: &str, v: Option<Value>) {
    if let (Value::Object(m), Some(v)) = (obj, v) {
        m.insert(key.to_owned(), v);
    }
}

/// The parts of a pod spec that placement reads. Only these are parsed, so a field placement
/// never reads (a volume's `defaultMode` written as a string) cannot fail a manifest.
fn placement_spec(spec: Option<&Value>) -> Option<Value> {
    let mut out = pick(
        spec,
        &[
            "nodeSelector",
            "affinity",
            "tolerations",
            "nodeName",
            "hostNetwork",
            "priorityClassName",
            "priority",
            "overhead",
        ],
    )?;
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return Some(out);
    };
    let resources = |c: &Value| pick(c.get("resources"), &["requests"]);
    let containers = |key: &str, fields: &[&str]| -> Option<Value> {
        match spec.get(key)? {
            Value::Array(list) => Some(Value::Array(
                list.iter()
                    .map(|c| {
                        let mut p = pick(Some(c), fields).unwrap_or(Value::Null);
                        insert(&mut p, "resources", resources(c));
                        p
                    })
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    };
    insert(
        &mut out,
        "resources",
        pick(spec.get("resources"), &["requests"]),
    );
    insert(
        &mut out,
        "containers",
        Some(containers("containers", &["name"]).unwrap_or(Value::Array(Vec::new()))),
    );
    insert(
        &mut out,
        "initContainers",
        containers("initContainers", &["name", "restartPolicy"]),
    );
    Some(out)
}

/// The parts of a DaemonSet manifest dsched reads (see [`placement_spec`]).
fn daemonset_value(v: &Value) -> Value {
    let mut out = pick(Some(v), &["apiVersion", "kind"]).unwrap_or(Value::Null);
    insert(
        &mut out,
        "metadata",
        pick(v.get("metadata"), &["name", "namespace", "annotations"]),
    );
    let spec = v.get("spec");
    let mut new_spec = pick(
        spec,
        &["updateStrategy", "minReadySeconds", "revisionHistoryLimit"],
    )
    .unwrap_or_else(|| json!({}));
    insert(&mut new_spec, "selector", Some(json!({})));
    let template = spec.and_then(|s| s.get("template"));
    let mut new_template = pick(template, &[]).unwrap_or_else(|| json!({}));
    insert(
        &mut new_template,
        "spec",
        placement_spec(template.and_then(|t| t.get("spec"))),
    );
    insert(&mut new_spec, "template", Some(new_template));
    insert(&mut out, "spec", Some(new_spec));
    out
}

/// The parts of a Node dsched reads.
fn node_value(v: &Value) -> Value {
    let mut out = pick(Some(v), &["apiVersion", "kind"]).unwrap_or(Value::Null);
    insert(
        &mut out,
        "metadata",
        pick(v.get("metadata"), &["name", "labels", "resourceVersion"]),
    );
    insert(
        &mut out,
        "spec",
        pick(v.get("spec"), &["taints", "unschedulable"]),
    );
    let status = v.get("status");
    if let Some(mut new_status) = pick(status, &["allocatable"]) {
        if let Some(Value::Array(conds)) = status.and_then(|s| s.get("conditions")) {
            let conds = conds
                .iter()
                .map(|c| pick(Some(c), &["type", "status"]).unwrap_or(Value::Null))
                .collect();
            insert(&mut new_status, "conditions", Some(Value::Array(conds)));
        }
        insert(&mut out, "status", Some(new_status));
    }
    out
}

/// Checks a document's `apiVersion` against `want` (absent is accepted: `NodeList` items).
pub fn check_api_version(doc: &Document, want: &str) -> Result<(), String> {
    match doc.value.get("apiVersion").and_then(Value::as_str) {
        None => Ok(()),
        Some(v) if v == want => Ok(()),
        Some(v) => Err(format!(
            "apiVersion: {v:?} is not supported for {}: use {want:?}",
            doc.kind
        )),
    }
}

/// `PriorityClass` documents: name → value.
pub fn priority_classes(docs: &[Document]) -> Result<BTreeMap<String, i32>, String> {
    let mut out = BTreeMap::new();
    for doc in docs.iter().filter(|d| d.kind == "PriorityClass") {
        let pc: PriorityClass = typed(&doc.value)
            .map_err(|e| format!("{} ({}): {e}", doc.describe(), doc.location()))?;
        out.insert(
            pc.metadata.name.unwrap_or_default(),
            pc.value.unwrap_or_default(),
        );
    }
    Ok(out)
}

fn time(t: &Time) -> Option<prost_types::Timestamp> {
    prost_types::Timestamp::from_str(&t.0.to_string()).ok()
}

pub fn taint(t: &core::Taint) -> pb::Taint {
    pb::Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: t.effect.clone(),
        time_added: t.time_added.as_ref().and_then(time),
    }
}

pub fn toleration(t: &core::Toleration) -> pb::Toleration {
    pb::Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator: t.operator.clone().unwrap_or_default(),
        value: t.value.clone().unwrap_or_default(),
        effect: t.effect.clone().unwrap_or_default(),
        toleration_seconds: t.toleration_seconds,
    }
}

fn requirement(r: &core::NodeSelectorRequirement) -> pb::NodeSelectorRequirement {
    pb::NodeSelectorRequirement {
        key: r.key.clone(),
        operator: r.operator.clone(),
        values: r.values.clone().unwrap_or_default(),
    }
}

fn term(t: &core::NodeSelectorTerm) -> pb::NodeSelectorTerm {
    pb::NodeSelectorTerm {
        match_expressions: t
            .match_expressions
            .iter()
            .flatten()
            .map(requirement)
            .collect(),
        match_fields: t.match_fields.iter().flatten().map(requirement).collect(),
    }
}

/// A JSON object as a `google.protobuf.Struct` (pod (anti-)affinity, kept opaque).
fn proto_struct<T: serde::Serialize>(v: &T) -> Option<prost_types::Struct> {
    fn value(v: &Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match v {
            Value::Null => Kind::NullValue(0),
            Value::Bool(b) => Kind::BoolValue(*b),
            Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            Value::String(s) => Kind::StringValue(s.clone()),
            Value::Array(a) => Kind::ListValue(prost_types::ListValue {
                values: a.iter().map(value).collect(),
            }),
            Value::Object(m) => Kind::StructValue(prost_types::Struct {
                fields: m.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
            }),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match serde_json::to_value(v).ok()? {
        Value::Object(m) => Some(prost_types::Struct {
            fields: m.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
        }),
        _ => None,
    }
}

pub fn affinity(a: &core::Affinity) -> pb::Affinity {
    pb::Affinity {
        node_affinity: a.node_affinity.as_ref().map(|na| pb::NodeAffinity {
            required_during_scheduling_ignored_during_execution: na
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .map(|sel| pb::NodeSelector {
                    node_selector_terms: sel.node_selector_terms.iter().map(term).collect(),
                }),
            preferred_during_scheduling_ignored_during_execution: na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .map(|p| pb::PreferredSchedulingTerm {
                    weight: p.weight,
                    preference: Some(term(&p.preference)),
                })
                .collect(),
        }),
        pod_affinity: a.pod_affinity.as_ref().and_then(proto_struct),
        pod_anti_affinity: a.pod_anti_affinity.as_ref().and_then(proto_struct),
    }
}

fn add_requests(
    sums: &mut BTreeMap<String, Quantity>,
    requests: Option<&BTreeMap<String, K8sQuantity>>,
) -> Result<(), String> {
    for (k, v) in requests.into_iter().flatten() {
        let q: Quantity =
            v.0.parse()
                .map_err(|e| format!("resources.requests.{k}: {:?}: {e}", v.0))?;
        let sum = sums.entry(k.clone()).or_default();
        *sum = sum.saturating_add(q);
    }
    Ok(())
}

/// The pod's effective requests as the scheduler computes them: pod-level `resources` when
/// set; else per resource the larger of the app containers' sum (plus restartable init
/// containers, i.e. sidecars) and the largest one-shot init container; plus `overhead`.
pub fn pod_requests(spec: &core::PodSpec) -> Result<BTreeMap<String, String>, String> {
    let mut out: BTreeMap<String, Quantity> = BTreeMap::new();
    if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        add_requests(&mut out, Some(pod_level))?;
    } else {
        for c in &spec.containers {
            add_requests(
                &mut out,
                c.resources.as_ref().and_then(|r| r.requests.as_ref()),
            )?;
        }
        let mut sidecars: BTreeMap<String, Quantity> = BTreeMap::new();
        for init in spec.init_containers.iter().flatten() {
            let requests = init.resources.as_ref().and_then(|r| r.requests.as_ref());
            if init.restart_policy.as_deref() == Some("Always") {
                add_requests(&mut sidecars, requests)?;
                add_requests(&mut out, requests)?;
                continue;
            }
            let mut one = sidecars.clone();
            add_requests(&mut one, requests)?;
            for (k, q) in one {
                let entry = out.entry(k).or_default();
                if q > *entry {
                    *entry = q;
                }
            }
        }
    }
    add_requests(&mut out, spec.overhead.as_ref())?;
    Ok(out.into_iter().map(|(k, q)| (k, q.to_string())).collect())
}

/// The placement part of a pod spec. `priorityClassName` is resolved through `classes`
/// unless the spec sets `priority` itself.
pub fn pod_placement(
    spec: &core::PodSpec,
    classes: &BTreeMap<String, i32>,
) -> Result<pb::PodPlacement, String> {
    let class = spec.priority_class_name.clone().unwrap_or_default();
    let priority = spec
        .priority
        .or_else(|| classes.get(&class).copied())
        .unwrap_or(0);
    Ok(pb::PodPlacement {
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        affinity: spec.affinity.as_ref().map(affinity),
        tolerations: spec.tolerations.iter().flatten().map(toleration).collect(),
        node_name: spec.node_name.clone().unwrap_or_default(),
        host_network: spec.host_network.unwrap_or(false),
        requests: pod_requests(spec).map_err(|e| format!("spec.template.spec.{e}"))?,
        priority_class_name: class,
        priority,
    })
}

fn int_or_string(v: &Option<IntOrString>) -> String {
    match v {
        None => String::new(),
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
    }
}

/// A `DaemonSet` document as the API's `DaemonSet`. `namespace` is used when the manifest
/// names none.
pub fn daemonset(
    doc: &Document,
    namespace: &str,
    classes: &BTreeMap<String, i32>,
) -> Result<pb::DaemonSet, String> {
    check_api_version(doc, "apps/v1")?;
    let ds: apps::DaemonSet = typed(&daemonset_value(&doc.value))?;
    let spec = ds.spec;
    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    let placement = pod_placement(&pod_spec, classes)?;
    let template = doc
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let meta = ds.metadata;
    Ok(pb::DaemonSet {
        namespace: meta.namespace.unwrap_or_else(|| namespace.to_owned()),
        name: meta.name.unwrap_or_default(),
        placement: Some(placement),
        update_strategy: spec.update_strategy.map(|s| pb::UpdateStrategy {
            r#type: s.type_.unwrap_or_default(),
            rolling_update: s.rolling_update.map(|r| pb::RollingUpdate {
                max_unavailable: int_or_string(&r.max_unavailable),
                max_surge: int_or_string(&r.max_surge),
                ..Default::default()
            }),
        }),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        revision_history_limit: spec.revision_history_limit,
        template: serde_json::to_string(&template).map_err(|e| e.to_string())?,
        revision_hash: String::new(),
        change_cause: meta
            .annotations
            .and_then(|a| a.get(CHANGE_CAUSE).cloned())
            .unwrap_or_default(),
        revision: 0,
    })
}

/// A `Node` (a `kubectl get nodes` item): name, labels, taints, unschedulable,
/// allocatable, conditions; a numeric `resourceVersion` is the writer's `generation`.
pub fn node(doc: &Document) -> Result<pb::Node, String> {
    check_api_version(doc, "v1")?;
    let n: core::Node = typed(&node_value(&doc.value))?;
    let spec = n.spec.unwrap_or_default();
    let status = n.status.unwrap_or_default();
    Ok(pb::Node {
        name: n.metadata.name.unwrap_or_default(),
        labels: n.metadata.labels.unwrap_or_default(),
        taints: spec.taints.iter().flatten().map(taint).collect(),
        unschedulable: spec.unschedulable.unwrap_or(false),
        allocatable: status
            .allocatable
            .unwrap_or_default()
            .into_iter()
            .map(|(k, q)| (k, q.0))
            .collect(),
        requested: BTreeMap::new(),
        conditions: status
            .conditions
            .iter()
            .flatten()
            .map(|c| pb::NodeCondition {
                r#type: c.type_.clone(),
                status: c.status.clone(),
            })
            .collect(),
        generation: n
            .metadata
            .resource_version
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        revision: 0,
    })
}

/// Maps a field path the server returned for an `Apply` (`daemonset.placement.…`) to the
/// manifest's own path (`spec.template.spec.…`), when there is one.
pub fn manifest_path(field: &str) -> Option<String> {
    let rest = field.strip_prefix("daemonset.")?;
    let mapped = if let Some(p) = rest.strip_prefix("placement.") {
        format!("spec.template.spec.{p}")
    } else if rest == "namespace" || rest == "name" {
        format!("metadata.{rest}")
    } else if rest.starts_with("updateStrategy")
        || rest.starts_with("minReadySeconds")
        || rest.starts_with("revisionHistoryLimit")
    {
        format!("spec.{rest}")
    } else {
        return None;
    };
    Some(mapped)
}
