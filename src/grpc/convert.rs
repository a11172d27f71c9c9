//! Wire types to domain types and back. Every conversion from the wire destructures the
//! message exhaustively (a new proto field fails to compile here until it is handled) and
//! validates as Kubernetes' API server would, collecting every error with its field path.

use std::collections::BTreeMap;

use super::pb;
use crate::domain::quantity::Quantity;
use crate::domain::validate::{self, FieldError, FieldErrors, FieldPath, TaintEffect};
use crate::domain::{Condition, DaemonPod, Node, PodKey, PodPhase, Taint, Time};

/// The namespace of a DaemonSet or pod that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `path` is built only if there is an error to report.
fn time_from_pb(
    t: prost_types::Timestamp,
    path: impl FnOnce() -> FieldPath,
    errs: &mut FieldErrors,
) -> Time {
    if !(0..1_000_000_000).contains(&t.nanos) {
        errs.push(FieldError::invalid(
            &path().child("nanos"),
            &t.nanos.to_string(),
            "must be between 0 and 999999999",
        ));
    }
    Time {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

/// Runs `validate` at the path `path` builds, building it only when there is an error to
/// report. A synced node is checked at a dozen paths, and formatting each one costs more
/// than the check itself; validators are pure, so a first run at an empty path (which
/// allocates nothing) tells whether a second run at the real path is needed.
fn check_at(
    errs: &mut FieldErrors,
    path: impl FnOnce() -> FieldPath,
    validate: impl Fn(&FieldPath, &mut FieldErrors),
) {
    let mut found = FieldErrors::default();
    validate(&FieldPath::default(), &mut found);
    if !found.is_empty() {
        validate(&path(), errs);
    }
}

pub fn time_to_pb(t: Time) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

/// A namespace: `""` means `default`, otherwise a DNS-1123 label.
pub fn namespace(ns: String, path: &FieldPath, errs: &mut FieldErrors) -> String {
    if ns.is_empty() {
        return DEFAULT_NAMESPACE.to_owned();
    }
    errs.invalid(path, &ns, validate::is_dns1123_label(&ns));
    ns
}

/// A required object name that must be a DNS-1123 subdomain.
pub fn object_name(name: &str, path: &FieldPath, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.required(path, "");
    } else {
        errs.invalid(path, name, validate::is_dns1123_subdomain(name));
    }
}

fn done<T>(value: T, errs: FieldErrors) -> Result<T, FieldErrors> {
    if errs.is_empty() {
        Ok(value)
    } else {
        Err(errs)
    }
}

pub fn node_from_pb(n: pb::Node, path: &FieldPath) -> Result<Node, FieldErrors> {
    node_from_pb_at(n, &|| path.clone()).map_err(|(errs, _name)| errs)
}

/// [`node_from_pb`] with the node's path built only if it has errors (a `Sync` batch
/// converts thousands of valid nodes); a rejected node's name comes back with its errors.
pub fn node_from_pb_at(
    n: pb::Node,
    path: &dyn Fn() -> FieldPath,
) -> Result<Node, (FieldErrors, String)> {
    let pb::Node {
        name,
        labels,
        taints,
        unschedulable,
        allocatable,
        requested,
        conditions,
        generation,
        revision: _, // output only
    } = n;
    let mut errs = FieldErrors::default();
    check_at(
        &mut errs,
        || path().child("name"),
        |p, e| validate::node_name(&name, p, e),
    );
    check_at(
        &mut errs,
        || path().child("labels"),
        |p, e| validate::labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())), p, e),
    );
    let raw: Vec<(&str, &str, &str)> = taints
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str(), t.effect.as_str()))
        .collect();
    check_at(
        &mut errs,
        || path().child("taints"),
        |p, e| validate::taints(&raw, p, e),
    );
    for (field, map) in [("allocatable", &allocatable), ("requested", &requested)] {
        check_at(
            &mut errs,
            || path().child(field),
            |p, e| {
                validate::resource_quantity_map::<Quantity>(
                    map.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    p,
                    e,
                )
            },
        );
    }
    for (i, c) in conditions.iter().enumerate() {
        if c.r#type.is_empty() {
            errs.required(&path().child("conditions").index(i).child("type"), "");
        }
    }
    drop(raw);
    let taints = taints
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let pb::Taint {
                key,
                value,
                effect,
                time_added,
            } = t;
            Taint {
                key,
                value,
                // Already validated above; the fallback is never stored.
                effect: TaintEffect::parse(&effect).unwrap_or(TaintEffect::NoSchedule),
                time_added: time_added.map(|t| {
                    time_from_pb(
                        t,
                        || path().child("taints").index(i).child("timeAdded"),
                        &mut errs,
                    )
                }),
            }
        })
        .collect();
    if !errs.is_empty() {
        return Err((errs, name));
    }
    // The wire maps are already sorted maps (build.rs asks prost for `BTreeMap`s): moved,
    // not rebuilt.
    Ok(Node {
        name,
        labels,
        taints,
        unschedulable,
        allocatable,
        requested,
        conditions: conditions
            .into_iter()
            .map(|c| Condition {
                kind: c.r#type,
                status: c.status,
            })
            .collect(),
        generation,
    })
}

pub fn node_to_pb(node: Node, revision: u64) -> pb::Node {
    let Node {
        name,
        labels,
        taints,
        unschedulable,
        allocatable,
        requested,
        conditions,
        generation,
    } = node;
    pb::Node {
        name,
        labels,
        taints: taints
            .into_iter()
            .map(|t| pb::Taint {
                key: t.key,
                value: t.value,
                effect: t.effect.as_str().to_owned(),
                time_added: t.time_added.map(time_to_pb),
            })
            .collect(),
        unschedulable,
        allocatable,
        requested,
        conditions: conditions
            .into_iter()
            .map(|c| pb::NodeCondition {
                r#type: c.kind,
                status: c.status,
            })
            .collect(),
        generation,
        revision,
    }
}

pub fn pod_from_pb(p: pb::DaemonPod, path: &FieldPath) -> Result<DaemonPod, FieldErrors> {
    let pb::DaemonPod {
        namespace,
        daemonset,
        name,
        node,
        revision_hash,
        ready,
        ready_since,
        created,
        deleting,
        phase,
        generation,
        unscheduled,
    } = p;
    let mut errs = FieldErrors::default();
    let namespace = self::namespace(namespace, &path.child("namespace"), &mut errs);
    object_name(&daemonset, &path.child("daemonset"), &mut errs);
    object_name(&name, &path.child("name"), &mut errs);
    validate::node_name(&node, &path.child("node"), &mut errs);
    errs.invalid(
        &path.child("revisionHash"),
        &revision_hash,
        validate::is_label_value(&revision_hash),
    );
    let parsed_phase = PodPhase::parse(&phase);
    if parsed_phase.is_none() {
        errs.not_supported(&path.child("phase"), &phase, &PodPhase::SUPPORTED);
    }
    let ready_since = ready_since.map(|t| time_from_pb(t, || path.child("readySince"), &mut errs));
    let created = created.map(|t| time_from_pb(t, || path.child("created"), &mut errs));
    let pod = DaemonPod {
        namespace,
        daemonset,
        name,
        node,
        revision_hash,
        ready,
        ready_since,
        created,
        deleting,
        phase: parsed_phase.unwrap_or_default(),
        generation,
        unscheduled,
    };
    done(pod, errs)
}

pub fn pod_ref_from_pb(r: pb::PodRef, path: &FieldPath) -> Result<PodKey, FieldErrors> {
    let pb::PodRef {
        namespace,
        daemonset,
        name,
    } = r;
    let mut errs = FieldErrors::default();
    let namespace = self::namespace(namespace, &path.child("namespace"), &mut errs);
    object_name(&daemonset, &path.child("daemonset"), &mut errs);
    object_name(&name, &path.child("name"), &mut errs);
    done(
        PodKey {
            namespace,
            daemonset,
            name,
        },
        errs,
    )
}

pub fn pod_ref_to_pb(key: PodKey) -> pb::PodRef {
    pb::PodRef {
        namespace: key.namespace,
        daemonset: key.daemonset,
        name: key.name,
    }
}

/// Sorted maps for domain code from prost's maps.
pub fn sorted<K: Ord, V>(map: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    map.into_iter().collect()
}
