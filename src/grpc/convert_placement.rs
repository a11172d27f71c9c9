//! `PodPlacement` and `DaemonSet` from the wire: validated as the API server would
//! (semantics §8.5, §8.7, §5.2) with Kubernetes field paths relative to the request.

use super::convert::{namespace, object_name};
use super::pb;
use crate::domain::affinity::{
    validate_node_selector_term_raw, validate_node_selector_terms, validate_preferred_weight,
};
use crate::domain::daemonset::{self, DaemonSetSpec, RawStrategy};
use crate::domain::placement::{
    FieldRequirement, NodeAffinity, NodeSelectorTerm, PodPlacement, PreferredTerm, Toleration,
    TolerationOperator,
};
use crate::domain::quantity::Quantity;
use crate::domain::selector::{Operator, Requirement};
use crate::domain::validate::{self, FieldErrors, FieldPath, TaintEffect};

/// A term, once its raw form validated. `values` are sorted and deduplicated as
/// `labels.NewRequirement` keeps them; `Gt`/`Lt` values are kept even when they are not
/// integers (valid at the API, they just never match: decision 2).
fn term_from_pb(
    term: pb::NodeSelectorTerm,
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> NodeSelectorTerm {
    let pb::NodeSelectorTerm {
        match_expressions,
        match_fields,
    } = term;
    let before = errs.len();
    validate_node_selector_term_raw(
        match_expressions
            .iter()
            .map(|r| (r.key.as_str(), r.operator.as_str(), r.values.as_slice())),
        match_fields
            .iter()
            .map(|r| (r.key.as_str(), r.operator.as_str(), r.values.as_slice())),
        path,
        errs,
    );
    if errs.len() > before {
        return NodeSelectorTerm::default();
    }
    NodeSelectorTerm {
        match_expressions: match_expressions
            .into_iter()
            .filter_map(|r| {
                let operator = Operator::parse_node_selector(&r.operator)?;
                let mut values = r.values;
                values.sort();
                values.dedup();
                Some(Requirement {
                    key: r.key,
                    operator,
                    values,
                })
            })
            .collect(),
        match_fields: match_fields
            .into_iter()
            .map(|r| FieldRequirement {
                key: r.key,
                operator: r.operator,
                values: r.values,
            })
            .collect(),
    }
}

fn affinity_from_pb(a: pb::NodeAffinity, path: &FieldPath, errs: &mut FieldErrors) -> NodeAffinity {
    let pb::NodeAffinity {
        required_during_scheduling_ignored_during_execution: required,
        preferred_during_scheduling_ignored_during_execution: preferred,
    } = a;
    let required = required.map(|sel| {
        let path = path.child("requiredDuringSchedulingIgnoredDuringExecution");
        validate_node_selector_terms(sel.node_selector_terms.len(), &path, errs);
        let terms = path.child("nodeSelectorTerms");
        sel.node_selector_terms
            .into_iter()
            .enumerate()
            .map(|(i, t)| term_from_pb(t, &terms.index(i), errs))
            .collect()
    });
    let list = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    let preferred = preferred
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let path = list.index(i);
            validate_preferred_weight(p.weight, &path, errs);
            PreferredTerm {
                weight: p.weight,
                preference: term_from_pb(
                    p.preference.unwrap_or_default(),
                    &path.child("preference"),
                    errs,
                ),
            }
        })
        .collect();
    NodeAffinity {
        required,
        preferred,
    }
}

fn toleration_from_pb(t: pb::Toleration, path: &FieldPath, errs: &mut FieldErrors) -> Toleration {
    let pb::Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    } = t;
    validate::toleration(
        &key,
        &operator,
        &value,
        &effect,
        toleration_seconds,
        path,
        errs,
    );
    Toleration {
        key,
        operator: TolerationOperator::parse(&operator).unwrap_or_default(),
        value,
        effect: TaintEffect::parse(&effect),
        toleration_seconds,
    }
}

/// A placement at `path` (e.g. `placement` or `daemonset.placement`).
pub fn placement_from_pb(
    p: pb::PodPlacement,
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> PodPlacement {
    let pb::PodPlacement {
        node_selector,
        affinity,
        tolerations,
        node_name,
        host_network,
        requests,
        priority_class_name,
        priority,
    } = p;
    validate::labels(
        node_selector.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &path.child("nodeSelector"),
        errs,
    );
    // Pod (anti-)affinity is accepted and ignored: DaemonSet placement never reads it.
    let affinity = affinity
        .and_then(|a| a.node_affinity)
        .map(|a| affinity_from_pb(a, &path.child("affinity").child("nodeAffinity"), errs))
        .unwrap_or_default();
    let list = path.child("tolerations");
    let tolerations = tolerations
        .into_iter()
        .enumerate()
        .map(|(i, t)| toleration_from_pb(t, &list.index(i), errs))
        .collect();
    if !node_name.is_empty() {
        validate::node_name(&node_name, &path.child("nodeName"), errs);
    }
    validate::resource_quantity_map::<Quantity>(
        requests.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &path.child("requests"),
        errs,
    );
    if !priority_class_name.is_empty() {
        errs.invalid(
            &path.child("priorityClassName"),
            &priority_class_name,
            validate::is_dns1123_subdomain(&priority_class_name),
        );
    }
    PodPlacement {
        node_selector,
        affinity,
        tolerations,
        node_name,
        host_network,
        requests,
        priority_class_name,
        priority,
    }
}

/// A whole placement request field, or every error in it.
pub fn placement_request(
    p: pb::PodPlacement,
    path: &FieldPath,
) -> Result<PodPlacement, FieldErrors> {
    let mut errs = FieldErrors::default();
    let placement = placement_from_pb(p, path, &mut errs);
    done(placement, errs)
}

/// A DaemonSet to apply, at `path` (`daemonset`): validated and defaulted.
pub fn daemonset_from_pb(
    ds: pb::DaemonSet,
    path: &FieldPath,
) -> Result<DaemonSetSpec, FieldErrors> {
    let pb::DaemonSet {
        namespace: ns,
        name,
        placement,
        update_strategy,
        min_ready_seconds,
        revision_history_limit,
        template,
        revision_hash,
        change_cause,
        revision: _, // output only
    } = ds;
    let mut errs = FieldErrors::default();
    let namespace = namespace(ns, &path.child("namespace"), &mut errs);
    object_name(&name, &path.child("name"), &mut errs);
    let placement = placement_from_pb(
        placement.unwrap_or_default(),
        &path.child("placement"),
        &mut errs,
    );
    let strategy = update_strategy.unwrap_or_default();
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    let strategy = daemonset::strategy(
        &RawStrategy {
            kind: &strategy.r#type,
            rolling_update: strategy.rolling_update.is_some(),
            max_unavailable: &rolling.max_unavailable,
            max_surge: &rolling.max_surge,
            partition: &rolling.partition,
            paused: rolling.paused,
            topology_key: &rolling.topology_key,
        },
        &path.child("updateStrategy"),
        &mut errs,
    );
    let revision_history_limit =
        daemonset::spec_counters(min_ready_seconds, revision_history_limit, path, &mut errs);
    if !revision_hash.is_empty() {
        errs.invalid(
            &path.child("revisionHash"),
            &revision_hash,
            validate::is_label_value(&revision_hash),
        );
    }
    done(
        DaemonSetSpec {
            namespace,
            name,
            placement,
            strategy,
            min_ready_seconds,
            revision_history_limit,
            template,
            revision_hash,
            change_cause,
        },
        errs,
    )
}

fn done<T>(value: T, errs: FieldErrors) -> Result<T, FieldErrors> {
    if errs.is_empty() {
        Ok(value)
    } else {
        Err(errs)
    }
}

fn term_to_pb(t: NodeSelectorTerm) -> pb::NodeSelectorTerm {
    pb::NodeSelectorTerm {
        match_expressions: t
            .match_expressions
            .into_iter()
            .map(|r| pb::NodeSelectorRequirement {
                key: r.key,
                operator: r.operator.as_str().to_owned(),
                values: r.values,
            })
            .collect(),
        match_fields: t
            .match_fields
            .into_iter()
            .map(|f| pb::NodeSelectorRequirement {
                key: f.key,
                operator: f.operator,
                values: f.values,
            })
            .collect(),
    }
}

pub fn placement_to_pb(p: PodPlacement) -> pb::PodPlacement {
    let PodPlacement {
        node_selector,
        affinity,
        tolerations,
        node_name,
        host_network,
        requests,
        priority_class_name,
        priority,
    } = p;
    let has_affinity = affinity.required.is_some() || !affinity.preferred.is_empty();
    pb::PodPlacement {
        node_selector,
        affinity: has_affinity.then(|| pb::Affinity {
            node_affinity: Some(pb::NodeAffinity {
                required_during_scheduling_ignored_during_execution: affinity.required.map(
                    |terms| pb::NodeSelector {
                        node_selector_terms: terms.into_iter().map(term_to_pb).collect(),
                    },
                ),
                preferred_during_scheduling_ignored_during_execution: affinity
                    .preferred
                    .into_iter()
                    .map(|p| pb::PreferredSchedulingTerm {
                        weight: p.weight,
                        preference: Some(term_to_pb(p.preference)),
                    })
                    .collect(),
            }),
            pod_affinity: None,
            pod_anti_affinity: None,
        }),
        tolerations: tolerations
            .into_iter()
            .map(|t| pb::Toleration {
                key: t.key,
                operator: t.operator.as_str().to_owned(),
                value: t.value,
                effect: t.effect.map(|e| e.as_str().to_owned()).unwrap_or_default(),
                toleration_seconds: t.toleration_seconds,
            })
            .collect(),
        node_name,
        host_network,
        requests,
        priority_class_name,
        priority,
    }
}

fn int_or_percent_to_pb(v: Option<crate::domain::validate::IntOrPercent>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub fn daemonset_to_pb(ds: crate::registry::DaemonSet) -> pb::DaemonSet {
    let DaemonSetSpec {
        namespace,
        name,
        placement,
        strategy,
        min_ready_seconds,
        revision_history_limit,
        template,
        revision_hash,
        change_cause,
    } = ds.spec;
    pb::DaemonSet {
        namespace,
        name,
        placement: Some(placement_to_pb(placement)),
        update_strategy: Some(pb::UpdateStrategy {
            r#type: strategy.kind.as_str().to_owned(),
            rolling_update: Some(pb::RollingUpdate {
                max_unavailable: strategy.max_unavailable.to_string(),
                max_surge: strategy.max_surge.to_string(),
                partition: int_or_percent_to_pb(strategy.partition),
                paused: strategy.paused,
                topology_key: strategy.topology_key,
            }),
        }),
        min_ready_seconds,
        revision_history_limit: Some(revision_history_limit),
        template,
        revision_hash,
        change_cause,
        revision: ds.revision,
    }
}

pub fn revision_to_pb(r: crate::registry::Revision, current: i64) -> pb::Revision {
    pb::Revision {
        revision: r.number,
        hash: r.hash,
        change_cause: r.change_cause,
        created: Some(super::convert::time_to_pb(r.created)),
        rolled_back_from: r.rolled_back_from,
        current: r.number == current,
        placement: Some(placement_to_pb(r.placement)),
        template: r.template,
    }
}
