//! `spec.nodeSelector` and node affinity (semantics §2.2, §2.3, §3, §8.5).
//!
//! * Matching: component-helpers `scheduling/corev1/nodeaffinity/nodeaffinity.go`
//!   (`GetRequiredNodeAffinity`, `LazyErrorNodeSelector`, `nodeSelectorTerm.match`,
//!   `NewPreferredSchedulingTerms`) over apimachinery `labels.Requirement`
//!   ([`Requirement::matches`]).
//! * Parse errors: [`term_parse_error`] says what upstream's parse of a term rejects;
//!   [`term_rejection`] is dsched's decision 2 (reject what the lazy selector would skip,
//!   except `Gt`/`Lt` values that are not integers: valid at the API, they never match).
//! * Scores: `PreferredSchedulingTerms.Score` and the scheduler's `DefaultNormalizeScore`.
//! * Pod mutation: `ReplaceDaemonSetPodNodeNameNodeAffinity`, `GetTargetNodeName`
//!   (controller `daemon/util/daemonset_util.go`).
//! * API validation: `ValidateNodeSelectorRequirement`, `ValidateNodeFieldSelectorRequirement`,
//!   `ValidateNodeSelector`, `ValidateNodeSelectorTerm`, `ValidatePreferredSchedulingTerms`
//!   (`pkg/apis/core/validation/validation.go`), on raw strings so the transport can call
//!   them while walking protobuf.
//!
//! Everything here is total: no input makes it panic.

use std::collections::BTreeMap;

use super::node::Node;
use super::placement::{
    FieldRequirement, NODE_NAME_FIELD, NodeAffinity, NodeSelectorTerm, PreferredTerm,
};
use super::selector::{LabelSource, Operator, Requirement, parse_go_int64};
use super::validate::{
    FieldError, FieldErrors, FieldPath, is_dns1123_subdomain, is_label_value, is_qualified_name,
};

/// The `NodeSelectorOperator` values, in Kubernetes' order (for `NotSupported`).
pub const NODE_SELECTOR_OPERATORS: [&str; 6] =
    ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];
/// The operators a `matchFields` requirement accepts.
pub const NODE_FIELD_SELECTOR_OPERATORS: [&str; 2] = ["In", "NotIn"];

// ---------------------------------------------------------------------------------------
// Parsing (what upstream's `NewRequirement` / field-selector conversion would reject).
// ---------------------------------------------------------------------------------------

/// Whether `labels.NewRequirement` accepts the expression. With `allow_non_integer`, a
/// `Gt`/`Lt` value that is a valid label value but not an `i64` is accepted (decision 2).
fn expression_parses(r: &Requirement, allow_non_integer: bool) -> bool {
    if !is_qualified_name(&r.key).is_empty() {
        return false;
    }
    let count_ok = match r.operator {
        Operator::In | Operator::NotIn => !r.values.is_empty(),
        Operator::Exists | Operator::DoesNotExist => r.values.is_empty(),
        Operator::Gt | Operator::Lt => r.values.len() == 1,
    };
    if !count_ok || r.values.iter().any(|v| !is_label_value(v).is_empty()) {
        return false;
    }
    let integer_required = matches!(r.operator, Operator::Gt | Operator::Lt) && !allow_non_integer;
    !(integer_required && r.values.iter().any(|v| parse_go_int64(v).is_none()))
}

/// Whether `nodeSelectorRequirementsAsFieldSelector` accepts the requirement: `In`/`NotIn`
/// with exactly one value (any key).
fn field_parses(f: &FieldRequirement) -> bool {
    matches!(f.operator.as_str(), "In" | "NotIn") && f.values.len() == 1
}

/// True when upstream parses every requirement of the term.
fn term_parses(term: &NodeSelectorTerm) -> bool {
    term.match_expressions
        .iter()
        .all(|r| expression_parses(r, false))
        && term.match_fields.iter().all(field_parses)
}

/// Go's `%v` of a `[]string`: `[a b]`.
fn go_list(values: &[String]) -> String {
    format!("[{}]", values.join(" "))
}

/// Why upstream's parse of a term fails (`newNodeSelectorTerm` collecting the errors of
/// `labels.NewRequirement` and of the field-selector conversion), or `None` when it parses.
/// Upstream's lazy selector skips such a term (it never matches); its strict
/// `NewNodeSelector` and `NewPreferredSchedulingTerms` reject the whole selector.
///
/// This includes `Gt`/`Lt` values that are not integers; see [`term_rejection`] for what
/// dsched rejects.
pub fn term_parse_error(term: &NodeSelectorTerm) -> Option<String> {
    let mut errs = Vec::new();
    for (j, r) in term.match_expressions.iter().enumerate() {
        if expression_parses(r, false) {
            continue;
        }
        let msg = match Requirement::new(&r.key, r.operator, r.values.clone()) {
            Err(e) => e,
            // Unreachable: both checks implement `NewRequirement`. Kept total anyway.
            Ok(_) => "invalid requirement".to_string(),
        };
        errs.push(format!("matchExpressions[{j}]: {msg}"));
    }
    for (j, f) in term.match_fields.iter().enumerate() {
        let path = FieldPath::root("matchFields").index(j);
        match f.operator.as_str() {
            "In" | "NotIn" => {
                if f.values.len() != 1 {
                    let e = FieldError::invalid(
                        &path.child("values"),
                        &go_list(&f.values),
                        "must have one element",
                    );
                    errs.push(e.to_string());
                }
            }
            other => {
                let e = FieldError::not_supported(
                    &path.child("operator"),
                    other,
                    &NODE_FIELD_SELECTOR_OPERATORS,
                );
                errs.push(e.to_string());
            }
        }
    }
    (!errs.is_empty()).then(|| errs.join("; "))
}

/// Decision 2: why dsched rejects a term, or `None`. A term is rejected exactly when
/// upstream's parse fails ([`term_parse_error`]) for any reason other than a `Gt`/`Lt`
/// value that is a valid label value but not an integer: such a term is valid at the API and
/// simply never matches.
///
/// The API validators ([`validate_node_selector_term`] and friends) are stricter still
/// (`matchFields` key must be `metadata.name` with a valid node name); requests are checked
/// with those.
pub fn term_rejection(term: &NodeSelectorTerm) -> Option<String> {
    let lenient = term
        .match_expressions
        .iter()
        .all(|r| expression_parses(r, true))
        && term.match_fields.iter().all(field_parses);
    if lenient {
        return None;
    }
    term_parse_error(term).or_else(|| Some("invalid node selector term".to_string()))
}

// ---------------------------------------------------------------------------------------
// Matching.
// ---------------------------------------------------------------------------------------

/// The value of a node field: `metadata.name` is the node's name, any other key reads as
/// the empty string (`fields.Set.Get`).
fn node_field<'a>(key: &str, node: &'a Node) -> &'a str {
    if key == NODE_NAME_FIELD {
        node.name.as_str()
    } else {
        ""
    }
}

/// A parsed `matchFields` requirement against the node: `In [v]` is `field == v`,
/// `NotIn [v]` is `field != v`.
fn field_matches(f: &FieldRequirement, node: &Node) -> bool {
    let [value] = f.values.as_slice() else {
        return false;
    };
    let actual = node_field(&f.key, node);
    match f.operator.as_str() {
        "In" => actual == value,
        "NotIn" => actual != value,
        _ => false,
    }
}

/// `nodeSelectorTerm.match` as the lazy selector runs it: an empty term or a term that does
/// not parse never matches; otherwise every matchExpression must match the node's labels
/// and, when the node has a name, every matchField its fields (a node with an empty name has
/// no fields, so the field part is skipped).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.is_empty() || !term_parses(term) {
        return false;
    }
    if !term
        .match_expressions
        .iter()
        .all(|r| r.matches(&node.labels))
    {
        return false;
    }
    node.name.is_empty() || term.match_fields.iter().all(|f| field_matches(f, node))
}

/// `LazyErrorNodeSelector.Match`: terms are ORed; an empty list (or only empty terms)
/// matches nothing.
pub fn required_terms_match(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|t| term_matches(t, node))
}

/// `labels.SelectorFromSet(spec.nodeSelector).Matches`: every key present on the node with
/// exactly that value (`""` needs the key with an empty value). The empty map matches all.
pub fn node_selector_matches(sel: &BTreeMap<String, String>, labels: &impl LabelSource) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v.as_str()))
}

/// `GetRequiredNodeAffinity(pod).Match(node)` (semantics §3.1): the nodeSelector AND the
/// required terms; `required: None` imposes nothing. Parse errors count as no match.
pub fn required_node_affinity_matches(
    node_selector: &BTreeMap<String, String>,
    affinity: &NodeAffinity,
    node: &Node,
) -> bool {
    node_selector_matches(node_selector, &node.labels)
        && affinity
            .required
            .as_deref()
            .is_none_or(|terms| required_terms_match(terms, node))
}

// ---------------------------------------------------------------------------------------
// Explanations (why a term does not match).
// ---------------------------------------------------------------------------------------

/// `key Op [values]`, e.g. `zone In [a b]`, `gpu Exists`.
pub fn describe_requirement(r: &Requirement) -> String {
    match r.operator {
        Operator::Exists | Operator::DoesNotExist if r.values.is_empty() => {
            format!("{} {}", r.key, r.operator)
        }
        _ => format!("{} {} {}", r.key, r.operator, go_list(&r.values)),
    }
}

/// `key Op [values]` for a `matchFields` requirement.
pub fn describe_field_requirement(f: &FieldRequirement) -> String {
    format!("{} {} {}", f.key, f.operator, go_list(&f.values))
}

fn label_state(key: &str, labels: &BTreeMap<String, String>) -> String {
    match labels.get(key) {
        None => "label absent".to_string(),
        Some(v) => format!("node has {key}={v}"),
    }
}

/// Why one expression fails on `labels`, or `None` when it holds.
fn expression_failure(r: &Requirement, labels: &BTreeMap<String, String>) -> Option<String> {
    let what = describe_requirement(r);
    if !expression_parses(r, true) {
        let why = match Requirement::new(&r.key, r.operator, r.values.clone()) {
            Err(e) => e,
            Ok(_) => "invalid requirement".to_string(),
        };
        return Some(format!("{what} is invalid: {why}"));
    }
    if !expression_parses(r, false) {
        return Some(format!("{what} never matches: the value is not an integer"));
    }
    if r.matches(labels) {
        return None;
    }
    let state = match (r.operator, labels.get(&r.key)) {
        (Operator::Gt | Operator::Lt, Some(v)) if parse_go_int64(v).is_none() => {
            format!("node has {}={v}, not an integer", r.key)
        }
        _ => label_state(&r.key, labels),
    };
    Some(format!("{what} not matched ({state})"))
}

/// Why one `matchFields` requirement fails on the node, or `None` when it holds.
fn field_failure(f: &FieldRequirement, node: &Node) -> Option<String> {
    let what = describe_field_requirement(f);
    if !field_parses(f) {
        return Some(format!(
            "{what} is invalid: needs operator In or NotIn with exactly one value"
        ));
    }
    if field_matches(f, node) {
        return None;
    }
    let state = if f.key == NODE_NAME_FIELD {
        format!("node name is {}", node.name)
    } else {
        format!("node has no field {}", f.key)
    };
    Some(format!("{what} not matched ({state})"))
}

/// Every reason a term fails on the node, in term order; empty exactly when
/// [`term_matches`] is true.
pub fn term_failures(term: &NodeSelectorTerm, node: &Node) -> Vec<String> {
    if term.is_empty() {
        return vec!["empty term matches nothing".to_string()];
    }
    let mut out: Vec<String> = term
        .match_expressions
        .iter()
        .filter_map(|r| expression_failure(r, &node.labels))
        .collect();
    for f in &term.match_fields {
        // A node without a name has no fields: only parse errors count then.
        if node.name.is_empty() {
            if !field_parses(f) {
                out.extend(field_failure(f, node));
            }
        } else {
            out.extend(field_failure(f, node));
        }
    }
    out
}

/// Why the required terms do not match the node: `term 0: zone In [a b] not matched
/// (label absent); term 1: ...`, or `None` when some term matches.
pub fn explain_required_terms(terms: &[NodeSelectorTerm], node: &Node) -> Option<String> {
    if terms.is_empty() {
        return Some("no nodeSelectorTerms: nothing matches".to_string());
    }
    let mut parts = Vec::with_capacity(terms.len());
    for (i, term) in terms.iter().enumerate() {
        let failures = term_failures(term, node);
        if failures.is_empty() {
            return None;
        }
        parts.push(format!("term {i}: {}", failures.join(", ")));
    }
    Some(parts.join("; "))
}

// ---------------------------------------------------------------------------------------
// Preferred terms and scores (semantics §3.6).
// ---------------------------------------------------------------------------------------

/// `PreferredSchedulingTerms.Score`: the sum of the weights of the matching terms. Terms with
/// weight 0 or an empty preference are skipped (so an empty preference scores 0). A term
/// that does not parse is scored as never matching here; upstream fails the whole call, see
/// [`preferred_terms_parse_error`].
pub fn preferred_score(terms: &[PreferredTerm], node: &Node) -> i64 {
    terms
        .iter()
        .filter(|t| t.weight != 0 && !t.preference.is_empty())
        .filter(|t| term_matches(&t.preference, node))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// `NewPreferredSchedulingTerms`' error: the first parse error among the terms it parses
/// (non-zero weight, non-empty preference), prefixed with the term index.
pub fn preferred_terms_parse_error(terms: &[PreferredTerm]) -> Option<String> {
    terms
        .iter()
        .enumerate()
        .filter(|(_, t)| t.weight != 0 && !t.preference.is_empty())
        .find_map(|(i, t)| {
            term_parse_error(&t.preference).map(|e| format!("[{i}].preference: {e}"))
        })
}

/// `DefaultNormalizeScore(maxPriority, reverse, scores)`: with `max` the highest score (at
/// least 0), all-zero scores stay 0 (or become `max_priority` when `reverse`); otherwise each
/// score becomes `max_priority * score / max` (integer division), then `max_priority - that`
/// when `reverse`. Overflow saturates.
pub fn normalize_scores(scores: &[i64], max_priority: i64, reverse: bool) -> Vec<i64> {
    let max = scores.iter().copied().fold(0i64, i64::max);
    if max == 0 {
        return if reverse {
            vec![max_priority; scores.len()]
        } else {
            scores.to_vec()
        };
    }
    let clamp =
        |v: i128| -> i64 { i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }) };
    scores
        .iter()
        .map(|&s| {
            let scaled = i128::from(max_priority) * i128::from(s) / i128::from(max);
            if reverse {
                clamp(i128::from(max_priority) - scaled)
            } else {
                clamp(scaled)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// DaemonSet pod mutation (semantics §2.2, §2.3).
// ---------------------------------------------------------------------------------------

/// The single term `matchFields: metadata.name In [node_name]`.
pub fn node_name_term(node_name: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Vec::new(),
        match_fields: vec![FieldRequirement {
            key: NODE_NAME_FIELD.to_string(),
            operator: "In".to_string(),
            values: vec![node_name.to_string()],
        }],
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required terms become exactly one term
/// `metadata.name In [node_name]` (whatever they were, including none); preferred terms are
/// kept.
pub fn pin_to_node(affinity: &NodeAffinity, node_name: &str) -> NodeAffinity {
    NodeAffinity {
        required: Some(vec![node_name_term(node_name)]),
        preferred: affinity.preferred.clone(),
    }
}

/// `GetTargetNodeName`: the pod's `spec.nodeName` when set; otherwise the single value of the
/// first `matchFields` requirement `metadata.name In` in the required terms. More or fewer
/// than one value there, no required affinity, no terms, or no such requirement: an error.
pub fn target_node_name(node_name: &str, affinity: &NodeAffinity) -> Result<String, String> {
    if !node_name.is_empty() {
        return Ok(node_name.to_string());
    }
    let Some(terms) = affinity.required.as_deref() else {
        return Err(
            "no spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                .to_string(),
        );
    };
    if terms.is_empty() {
        return Err(
            "no nodeSelectorTerms in requiredDuringSchedulingIgnoredDuringExecution".to_string(),
        );
    }
    for f in terms.iter().flat_map(|t| t.match_fields.iter()) {
        if f.key == NODE_NAME_FIELD && f.operator == "In" {
            return match f.values.as_slice() {
                [value] => Ok(value.clone()),
                _ => Err(format!(
                    "the matchFields value of '{NODE_NAME_FIELD}' is not unique"
                )),
            };
        }
    }
    Err("no node name found".to_string())
}

// ---------------------------------------------------------------------------------------
// API validation (semantics §8.5), on raw strings.
// ---------------------------------------------------------------------------------------

/// `ValidateNodeSelectorRequirement` for one `matchExpressions` entry at `path` (e.g.
/// `...nodeSelectorTerms[0].matchExpressions[1]`). Value counts per operator, an unsupported
/// operator (NotSupported), the key as a qualified name, and every value as a label value.
/// The label values are always checked: upstream skips that for preferred terms, dsched
/// does not (decision 2). `Gt`/`Lt` values are not checked to be integers.
pub fn validate_node_selector_requirement<S: AsRef<str>>(
    key: &str,
    operator: &str,
    values: &[S],
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let values_path = path.child("values");
    match operator {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.required(
                    &values_path,
                    "must be specified when `operator` is 'In' or 'NotIn'",
                );
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.forbidden(
                    &values_path,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                );
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.required(
                    &values_path,
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                );
            }
        }
        other => errs.not_supported(&path.child("operator"), other, &NODE_SELECTOR_OPERATORS),
    }
    let key_path = path.child("key");
    for msg in is_qualified_name(key) {
        errs.push(FieldError::invalid(&key_path, key, msg));
    }
    for (i, v) in values.iter().enumerate() {
        let v = v.as_ref();
        for msg in is_label_value(v) {
            errs.push(FieldError::invalid(&values_path.index(i), v, msg));
        }
    }
}

/// `ValidateNodeFieldSelectorRequirement` for one `matchFields` entry at `path`: operator
/// `In`/`NotIn` with exactly one value, key `metadata.name`, each value a valid node name.
pub fn validate_node_field_selector_requirement<S: AsRef<str>>(
    key: &str,
    operator: &str,
    values: &[S],
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let values_path = path.child("values");
    match operator {
        "In" | "NotIn" => {
            if values.len() != 1 {
                errs.required(
                    &values_path,
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                );
            }
        }
        other => errs.not_supported(
            &path.child("operator"),
            other,
            &NODE_FIELD_SELECTOR_OPERATORS,
        ),
    }
    if key != NODE_NAME_FIELD {
        errs.push(FieldError::invalid(
            &path.child("key"),
            key,
            "not a valid field selector key",
        ));
    } else {
        for (i, v) in values.iter().enumerate() {
            let v = v.as_ref();
            for msg in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(&values_path.index(i), v, msg));
            }
        }
    }
}

/// One requirement as raw strings: `(key, operator, values)`.
pub type RawRequirement<'a> = (&'a str, &'a str, &'a [String]);

/// `ValidateNodeSelectorTerm` over raw requirements, at `path` (the term, e.g.
/// `...nodeSelectorTerms[0]` or `...preferredDuringSchedulingIgnoredDuringExecution[0].preference`).
/// A term with no requirements is valid (it matches nothing).
pub fn validate_node_selector_term_raw<'a>(
    match_expressions: impl IntoIterator<Item = RawRequirement<'a>>,
    match_fields: impl IntoIterator<Item = RawRequirement<'a>>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let exprs = path.child("matchExpressions");
    for (j, (key, op, values)) in match_expressions.into_iter().enumerate() {
        validate_node_selector_requirement(key, op, values, &exprs.index(j), errs);
    }
    let fields = path.child("matchFields");
    for (j, (key, op, values)) in match_fields.into_iter().enumerate() {
        validate_node_field_selector_requirement(key, op, values, &fields.index(j), errs);
    }
}

/// `ValidateNodeSelectorTerm` for a domain term.
pub fn validate_node_selector_term(
    term: &NodeSelectorTerm,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    validate_node_selector_term_raw(
        term.match_expressions
            .iter()
            .map(|r| (r.key.as_str(), r.operator.as_str(), r.values.as_slice())),
        term.match_fields
            .iter()
            .map(|f| (f.key.as_str(), f.operator.as_str(), f.values.as_slice())),
        path,
        errs,
    );
}

/// The first half of `ValidateNodeSelector` at `path` (the `NodeSelector`, e.g.
/// `...requiredDuringSchedulingIgnoredDuringExecution`): at least one term, else
/// `nodeSelectorTerms: required value: must have at least one node selector term`.
/// Returns whether the count is fine; the caller then validates each term at
/// `path.nodeSelectorTerms[i]`.
pub fn validate_node_selector_terms(
    terms_len: usize,
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> bool {
    if terms_len == 0 {
        errs.required(
            &path.child("nodeSelectorTerms"),
            "must have at least one node selector term",
        );
        return false;
    }
    true
}

/// `ValidateNodeSelector` for domain terms at `path` (the `NodeSelector`).
pub fn validate_node_selector(
    terms: &[NodeSelectorTerm],
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    if !validate_node_selector_terms(terms.len(), path, errs) {
        return;
    }
    let terms_path = path.child("nodeSelectorTerms");
    for (i, term) in terms.iter().enumerate() {
        validate_node_selector_term(term, &terms_path.index(i), errs);
    }
}

/// The weight check of `ValidatePreferredSchedulingTerms`, for the preferred term at `path`
/// (e.g. `...preferredDuringSchedulingIgnoredDuringExecution[0]`): the error is at
/// `path.weight`, `invalid value "0": must be in the range 1-100`.
pub fn validate_preferred_weight(weight: i32, path: &FieldPath, errs: &mut FieldErrors) {
    if !(1..=100).contains(&weight) {
        errs.push(FieldError::invalid(
            &path.child("weight"),
            &weight.to_string(),
            "must be in the range 1-100",
        ));
    }
}

/// `ValidatePreferredSchedulingTerms` for one domain term at `path`: the weight and the
/// preference (label values checked strictly, decision 2).
pub fn validate_preferred_term(term: &PreferredTerm, path: &FieldPath, errs: &mut FieldErrors) {
    validate_preferred_weight(term.weight, path, errs);
    validate_node_selector_term(&term.preference, &path.child("preference"), errs);
}

/// `validateNodeAffinity` for a domain value at `path` (e.g. `spec.affinity.nodeAffinity`).
pub fn validate_node_affinity(affinity: &NodeAffinity, path: &FieldPath, errs: &mut FieldErrors) {
    if let Some(terms) = &affinity.required {
        validate_node_selector(
            terms,
            &path.child("requiredDuringSchedulingIgnoredDuringExecution"),
            errs,
        );
    }
    let preferred = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (i, t) in affinity.preferred.iter().enumerate() {
        validate_preferred_term(t, &preferred.index(i), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    use Operator::{DoesNotExist, Exists, Gt, In, Lt, NotIn};

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn field(key: &str, operator: &str, values: &[&str]) -> FieldRequirement {
        FieldRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn term(exprs: Vec<Requirement>, fields: Vec<FieldRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: exprs,
            match_fields: fields,
        }
    }

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Node::default()
        }
    }

    fn one(expr: Requirement) -> Vec<NodeSelectorTerm> {
        vec![term(vec![expr], vec![])]
    }

    #[test]
    fn surprising_matches() {
        let n = node("n1", &[("cores", "0206"), ("gpu", ""), ("zone", "a")]);
        // (name, terms, want)
        let rows: Vec<(&str, Vec<NodeSelectorTerm>, bool)> = vec![
            (
                "NotIn matches a missing label",
                one(req("pool", NotIn, &["x"])),
                true,
            ),
            (
                "DoesNotExist on a missing label",
                one(req("pool", DoesNotExist, &[])),
                true,
            ),
            (
                "Exists with empty value",
                one(req("gpu", Exists, &[])),
                true,
            ),
            (
                "DoesNotExist with empty value",
                one(req("gpu", DoesNotExist, &[])),
                false,
            ),
            ("Gt leading zeros", one(req("cores", Gt, &["0204"])), true),
            ("Gt equal", one(req("cores", Gt, &["206"])), false),
            ("Lt", one(req("cores", Lt, &["300"])), true),
            ("Gt missing label", one(req("mem", Gt, &["1"])), false),
            (
                "Gt non-integer value",
                one(req("cores", Gt, &["abc"])),
                false,
            ),
            ("Gt non-integer label", one(req("zone", Gt, &["1"])), false),
            (
                "NotIn with an invalid value never matches",
                one(req("zone", NotIn, &["bad value!"])),
                false,
            ),
            (
                "In with two values",
                one(req("zone", In, &["b", "a"])),
                true,
            ),
            ("empty term", vec![term(vec![], vec![])], false),
            ("no terms", vec![], false),
            (
                "empty term ORed with a match",
                vec![
                    term(vec![], vec![]),
                    term(vec![req("zone", In, &["a"])], vec![]),
                ],
                true,
            ),
            (
                "invalid key term skipped, other matches",
                vec![
                    term(vec![req("bad key", In, &["a"])], vec![]),
                    term(vec![req("zone", In, &["a"])], vec![]),
                ],
                true,
            ),
            (
                "matchExpressions never read fields",
                one(req("metadata.name", In, &["n1"])),
                false,
            ),
            (
                "matchFields name",
                vec![term(vec![], vec![field(NODE_NAME_FIELD, "In", &["n1"])])],
                true,
            ),
            (
                "matchFields NotIn",
                vec![term(vec![], vec![field(NODE_NAME_FIELD, "NotIn", &["n1"])])],
                false,
            ),
            (
                "matchFields unknown key reads empty: In fails",
                vec![term(vec![], vec![field("metadata.uid", "In", &["x"])])],
                false,
            ),
            (
                "matchFields unknown key reads empty: NotIn matches",
                vec![term(vec![], vec![field("metadata.uid", "NotIn", &["x"])])],
                true,
            ),
            (
                "matchFields two values never parse",
                vec![term(
                    vec![],
                    vec![field(NODE_NAME_FIELD, "In", &["n1", "n2"])],
                )],
                false,
            ),
            (
                "matchFields Exists never parses",
                vec![term(vec![], vec![field(NODE_NAME_FIELD, "Exists", &[])])],
                false,
            ),
            (
                "labels AND fields",
                vec![term(
                    vec![req("zone", In, &["a"])],
                    vec![field(NODE_NAME_FIELD, "In", &["n2"])],
                )],
                false,
            ),
        ];
        for (name, terms, want) in rows {
            assert_eq!(required_terms_match(&terms, &n), want, "{name}");
            let explained = explain_required_terms(&terms, &n);
            assert_eq!(explained.is_none(), want, "{name}: explain {explained:?}");
        }
    }

    #[test]
    fn nameless_node_skips_fields() {
        let n = node("", &[("zone", "a")]);
        let t = vec![term(vec![], vec![field(NODE_NAME_FIELD, "In", &["x"])])];
        assert!(required_terms_match(&t, &n));
        // But a field requirement that does not parse still fails the term.
        let bad = vec![term(vec![], vec![field(NODE_NAME_FIELD, "In", &[])])];
        assert!(!required_terms_match(&bad, &n));
        assert!(explain_required_terms(&bad, &n).is_some());
    }

    #[test]
    fn node_selector_empty_value_and_superset() {
        let sel: BTreeMap<String, String> = [("x".to_string(), String::new())].into();
        assert!(!node_selector_matches(&sel, &node("n", &[]).labels));
        assert!(node_selector_matches(
            &sel,
            &node("n", &[("x", ""), ("y", "z")]).labels
        ));
        assert!(!node_selector_matches(
            &sel,
            &node("n", &[("x", "v")]).labels
        ));
        assert!(node_selector_matches(
            &BTreeMap::new(),
            &node("n", &[]).labels
        ));
    }

    #[test]
    fn required_affinity_ands_selector_and_terms() {
        let n = node("n1", &[("foo", "bar")]);
        let sel: BTreeMap<String, String> = [("foo".to_string(), "bar".to_string())].into();
        let none = NodeAffinity::default();
        assert!(required_node_affinity_matches(&sel, &none, &n));
        let empty = NodeAffinity {
            required: Some(vec![]),
            ..NodeAffinity::default()
        };
        assert!(!required_node_affinity_matches(
            &BTreeMap::new(),
            &empty,
            &n
        ));
        let miss = NodeAffinity {
            required: Some(one(req("foo", In, &["baz"]))),
            ..NodeAffinity::default()
        };
        assert!(!required_node_affinity_matches(&sel, &miss, &n));
        let other: BTreeMap<String, String> = [("foo".to_string(), "x".to_string())].into();
        let hit = NodeAffinity {
            required: Some(one(req("foo", Exists, &[]))),
            ..NodeAffinity::default()
        };
        assert!(!required_node_affinity_matches(&other, &hit, &n));
        assert!(required_node_affinity_matches(&sel, &hit, &n));
    }

    #[test]
    fn parse_errors_and_rejections() {
        // (name, term, upstream parse error?, dsched rejects?)
        let rows: Vec<(&str, NodeSelectorTerm, bool, bool)> = vec![
            (
                "valid",
                term(vec![req("a", In, &["b"])], vec![]),
                false,
                false,
            ),
            ("empty term", term(vec![], vec![]), false, false),
            (
                "bad key",
                term(vec![req("bad key", In, &["b"])], vec![]),
                true,
                true,
            ),
            (
                "In no values",
                term(vec![req("a", In, &[])], vec![]),
                true,
                true,
            ),
            (
                "Exists with values",
                term(vec![req("a", Exists, &["x"])], vec![]),
                true,
                true,
            ),
            (
                "Gt two values",
                term(vec![req("a", Gt, &["1", "2"])], vec![]),
                true,
                true,
            ),
            (
                "Gt not integer",
                term(vec![req("a", Gt, &["abc"])], vec![]),
                true,
                false,
            ),
            (
                "Gt negative (bad label value)",
                term(vec![req("a", Gt, &["-1"])], vec![]),
                true,
                true,
            ),
            (
                "Gt leading zeros",
                term(vec![req("a", Lt, &["007"])], vec![]),
                false,
                false,
            ),
            (
                "bad label value",
                term(vec![req("a", NotIn, &["x y"])], vec![]),
                true,
                true,
            ),
            (
                "field two values",
                term(vec![], vec![field(NODE_NAME_FIELD, "In", &["a", "b"])]),
                true,
                true,
            ),
            (
                "field operator",
                term(vec![], vec![field(NODE_NAME_FIELD, "Exists", &[])]),
                true,
                true,
            ),
            (
                "field other key parses",
                term(vec![], vec![field("metadata.uid", "In", &["x"])]),
                false,
                false,
            ),
        ];
        for (name, t, parse_err, reject) in rows {
            let pe = term_parse_error(&t);
            assert_eq!(pe.is_some(), parse_err, "{name}: {pe:?}");
            let rj = term_rejection(&t);
            assert_eq!(rj.is_some(), reject, "{name}: {rj:?}");
        }
        let msg = term_parse_error(&term(
            vec![req("a", In, &[])],
            vec![field(NODE_NAME_FIELD, "Exists", &[])],
        ))
        .unwrap_or_default();
        assert!(msg.starts_with("matchExpressions[0]: "), "{msg}");
        assert!(
            msg.contains(
                "matchFields[0].operator: unsupported value \"Exists\": supported values: \"In\", \"NotIn\""
            ),
            "{msg}"
        );
    }

    #[test]
    fn preferred_scores() {
        let n = node("host_1", &[("label_1", "label_1_val")]);
        let pt = |weight: i32, t: NodeSelectorTerm| PreferredTerm {
            weight,
            preference: t,
        };
        let terms = vec![
            pt(
                5,
                term(vec![], vec![field(NODE_NAME_FIELD, "In", &["host_1"])]),
            ),
            pt(7, term(vec![req("unknown", In, &["x"])], vec![])),
            pt(11, term(vec![req("label_1", In, &["label_1_val"])], vec![])),
            pt(0, term(vec![req("label_1", Exists, &[])], vec![])),
            pt(13, term(vec![], vec![])),
            pt(-2, term(vec![req("label_1", Exists, &[])], vec![])),
        ];
        assert_eq!(preferred_score(&terms, &n), 14);
        assert_eq!(preferred_terms_parse_error(&terms), None);
        let bad = vec![
            pt(0, term(vec![req("bad key", In, &["x"])], vec![])),
            pt(1, term(vec![req("a", In, &[])], vec![])),
        ];
        let e = preferred_terms_parse_error(&bad).unwrap_or_default();
        assert!(e.starts_with("[1].preference: matchExpressions[0]"), "{e}");
    }

    #[test]
    fn normalize() {
        let rows: Vec<(Vec<i64>, bool, Vec<i64>)> = vec![
            (vec![1, 2, 3, 4], false, vec![25, 50, 75, 100]),
            (vec![0, 1, 1, 1], true, vec![100, 0, 0, 0]),
            (vec![0, 0, 0], false, vec![0, 0, 0]),
            (vec![0, 0, 0], true, vec![100, 100, 100]),
            (vec![0, 1, 2], true, vec![100, 50, 0]),
            (vec![3, 1], false, vec![100, 33]),
            (vec![], false, vec![]),
            (vec![-5, 0], false, vec![-5, 0]),
            (vec![-5, 5], false, vec![-100, 100]),
            (vec![i64::MIN, i64::MAX], false, vec![-100, 100]),
            (vec![i64::MIN, 1], false, vec![i64::MIN, 100]),
        ];
        for (scores, reverse, want) in rows {
            assert_eq!(
                normalize_scores(&scores, 100, reverse),
                want,
                "{scores:?} reverse={reverse}"
            );
        }
    }

    #[test]
    fn pin_and_target() {
        let preferred = vec![PreferredTerm {
            weight: 3,
            preference: term(vec![req("a", In, &["b"])], vec![]),
        }];
        let a = NodeAffinity {
            required: Some(vec![
                term(vec![req("hostname", In, &["h1"])], vec![]),
                term(vec![], vec![field(NODE_NAME_FIELD, "NotIn", &["h2"])]),
            ]),
            preferred: preferred.clone(),
        };
        let pinned = pin_to_node(&a, "h1");
        assert_eq!(pinned.required, Some(vec![node_name_term("h1")]));
        assert_eq!(pinned.preferred, preferred);
        assert_eq!(
            pin_to_node(&NodeAffinity::default(), "x").required,
            Some(vec![node_name_term("x")])
        );
        assert_eq!(target_node_name("", &pinned), Ok("h1".to_string()));
        assert_eq!(target_node_name("spec", &pinned), Ok("spec".to_string()));
        assert!(target_node_name("", &NodeAffinity::default()).is_err());
        let empty = NodeAffinity {
            required: Some(vec![]),
            ..NodeAffinity::default()
        };
        assert!(target_node_name("", &empty).is_err());
        // NotIn and other keys are skipped; the first In on metadata.name wins.
        let later = NodeAffinity {
            required: Some(vec![
                term(vec![], vec![field(NODE_NAME_FIELD, "NotIn", &["a"])]),
                term(vec![], vec![field("metadata.uid", "In", &["b"])]),
                term(vec![], vec![field(NODE_NAME_FIELD, "In", &["c"])]),
                term(vec![], vec![field(NODE_NAME_FIELD, "In", &["d"])]),
            ]),
            ..NodeAffinity::default()
        };
        assert_eq!(target_node_name("", &later), Ok("c".to_string()));
        for values in [&[][..], &["a", "b"][..]] {
            let bad = NodeAffinity {
                required: Some(vec![term(
                    vec![],
                    vec![field(NODE_NAME_FIELD, "In", values)],
                )]),
                ..NodeAffinity::default()
            };
            assert!(target_node_name("", &bad).is_err(), "{values:?}");
        }
    }

    fn strings(errs: &FieldErrors) -> Vec<String> {
        errs.to_strings()
    }

    #[test]
    fn validation_messages() {
        let p = FieldPath::root("r");
        let check = |key: &str, op: &str, values: &[&str], want: &[&str]| {
            let mut errs = FieldErrors::new();
            validate_node_selector_requirement(key, op, values, &p, &mut errs);
            assert_eq!(strings(&errs), want, "{key} {op} {values:?}");
        };
        check("zone", "In", &["a"], &[]);
        check("cores", "Gt", &["abc"], &[]);
        check(
            "zone",
            "In",
            &[],
            &["r.values: required value: must be specified when `operator` is 'In' or 'NotIn'"],
        );
        check(
            "zone",
            "Exists",
            &["a"],
            &[
                "r.values: forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ],
        );
        check(
            "cores",
            "Lt",
            &["1", "2"],
            &[
                "r.values: required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
            ],
        );
        check(
            "zone",
            "Equals",
            &["a"],
            &[
                "r.operator: unsupported value \"Equals\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\"",
            ],
        );
        let mut errs = FieldErrors::new();
        validate_node_selector_requirement("cores", "Lt", &["-1"], &p, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs.iter().next().map(|e| e.field.as_str()),
            Some("r.values[0]")
        );
        let mut errs = FieldErrors::new();
        validate_node_selector_requirement("invalid key", "In", &["a"], &p, &mut errs);
        assert_eq!(errs.iter().next().map(|e| e.field.as_str()), Some("r.key"));

        let fcheck = |key: &str, op: &str, values: &[&str], want: &[&str]| {
            let mut errs = FieldErrors::new();
            validate_node_field_selector_requirement(key, op, values, &p, &mut errs);
            assert_eq!(strings(&errs), want, "{key} {op} {values:?}");
        };
        fcheck(NODE_NAME_FIELD, "In", &["node-1"], &[]);
        fcheck(NODE_NAME_FIELD, "NotIn", &["node-1"], &[]);
        fcheck(
            "metadata.uid",
            "In",
            &["x"],
            &["r.key: invalid value \"metadata.uid\": not a valid field selector key"],
        );
        fcheck(
            NODE_NAME_FIELD,
            "In",
            &["a", "b"],
            &[
                "r.values: required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            ],
        );
        fcheck(
            NODE_NAME_FIELD,
            "Exists",
            &["a"],
            &["r.operator: unsupported value \"Exists\": supported values: \"In\", \"NotIn\""],
        );
        let mut errs = FieldErrors::new();
        validate_node_field_selector_requirement(NODE_NAME_FIELD, "In", &["node_1"], &p, &mut errs);
        assert_eq!(
            errs.iter().next().map(|e| e.field.as_str()),
            Some("r.values[0]")
        );

        let mut errs = FieldErrors::new();
        let req_path = FieldPath::root("spec.affinity.nodeAffinity")
            .child("requiredDuringSchedulingIgnoredDuringExecution");
        validate_node_selector(&[], &req_path, &mut errs);
        assert_eq!(
            strings(&errs),
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: required value: must have at least one node selector term"
            ]
        );
        let mut errs = FieldErrors::new();
        validate_node_selector(&[term(vec![], vec![])], &req_path, &mut errs);
        assert!(errs.is_empty(), "{:?}", strings(&errs));

        for (w, ok) in [
            (0, false),
            (1, true),
            (100, true),
            (101, false),
            (-1, false),
        ] {
            let mut errs = FieldErrors::new();
            validate_preferred_weight(w, &FieldPath::root("p").index(0), &mut errs);
            assert_eq!(errs.is_empty(), ok, "{w}");
            if !ok {
                assert_eq!(
                    strings(&errs),
                    [format!(
                        "p[0].weight: invalid value \"{w}\": must be in the range 1-100"
                    )]
                );
            }
        }

        // Preferred terms: label values are validated strictly (decision 2).
        let mut errs = FieldErrors::new();
        let a = NodeAffinity {
            required: None,
            preferred: vec![PreferredTerm {
                weight: 10,
                preference: term(vec![req("zone", In, &["bad value"])], vec![]),
            }],
        };
        validate_node_affinity(&a, &FieldPath::root("na"), &mut errs);
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            [
                "na.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values[0]"
            ]
        );
    }

    #[test]
    fn explain_messages() {
        let n = node("n2", &[("zone", "c"), ("cores", "x")]);
        let terms = vec![
            term(vec![req("zone", In, &["a", "b"])], vec![]),
            term(
                vec![req("tier", Exists, &[]), req("cores", Gt, &["4"])],
                vec![field(NODE_NAME_FIELD, "In", &["n1"])],
            ),
            term(vec![], vec![]),
        ];
        assert_eq!(
            explain_required_terms(&terms, &n).unwrap_or_default(),
            "term 0: zone In [a b] not matched (node has zone=c); \
             term 1: tier Exists not matched (label absent), cores Gt [4] not matched (node has cores=x, not an integer), metadata.name In [n1] not matched (node name is n2); \
             term 2: empty term matches nothing"
        );
        assert_eq!(
            explain_required_terms(&[], &n).unwrap_or_default(),
            "no nodeSelectorTerms: nothing matches"
        );
    }

    /// `term_matches` and `term_failures` agree, and `term_matches` equals an independent
    /// reading of §3.2 on random terms.
    #[test]
    fn random_terms_agree() {
        let mut rng = SmallRng::seed_from_u64(0xaff);
        let keys = ["a", "b", "bad key", "metadata.name"];
        let values = ["", "1", "5", "x", "007", "-1", "bad value", "n1"];
        let ops = [In, NotIn, Exists, DoesNotExist, Gt, Lt];
        let fops = ["In", "NotIn", "Exists"];
        let names = ["", "n1", "n2"];
        for _ in 0..20_000 {
            let rand_values = |rng: &mut SmallRng| -> Vec<String> {
                (0..rng.random_range(0..3))
                    .map(|_| values.choose(rng).copied().unwrap_or("").to_string())
                    .collect()
            };
            let exprs: Vec<Requirement> = (0..rng.random_range(0..3))
                .map(|_| Requirement {
                    key: keys.choose(&mut rng).copied().unwrap_or("a").to_string(),
                    operator: ops.choose(&mut rng).copied().unwrap_or(In),
                    values: rand_values(&mut rng),
                })
                .collect();
            let fields: Vec<FieldRequirement> = (0..rng.random_range(0..2))
                .map(|_| FieldRequirement {
                    key: if rng.random_bool(0.8) {
                        NODE_NAME_FIELD.to_string()
                    } else {
                        "metadata.uid".to_string()
                    },
                    operator: fops.choose(&mut rng).copied().unwrap_or("In").to_string(),
                    values: rand_values(&mut rng),
                })
                .collect();
            let t = term(exprs, fields);
            let mut n = node(names.choose(&mut rng).copied().unwrap_or(""), &[]);
            for k in ["a", "b"] {
                if rng.random_bool(0.6) {
                    n.labels.insert(
                        k.to_string(),
                        values[..5]
                            .choose(&mut rng)
                            .copied()
                            .unwrap_or("")
                            .to_string(),
                    );
                }
            }
            // Independent reading: a term parses when NewRequirement accepts every
            // expression and every field is In/NotIn with one value.
            let parses = t
                .match_expressions
                .iter()
                .all(|r| Requirement::new(&r.key, r.operator, r.values.clone()).is_ok())
                && t.match_fields
                    .iter()
                    .all(|f| (f.operator == "In" || f.operator == "NotIn") && f.values.len() == 1);
            assert_eq!(term_parse_error(&t).is_none(), parses, "{t:?}");
            let want = !t.is_empty()
                && parses
                && t.match_expressions.iter().all(|r| r.matches(&n.labels))
                && (n.name.is_empty()
                    || t.match_fields.iter().all(|f| {
                        let actual = if f.key == NODE_NAME_FIELD {
                            n.name.as_str()
                        } else {
                            ""
                        };
                        let v = f.values.first().map(String::as_str).unwrap_or("");
                        if f.operator == "In" {
                            actual == v
                        } else {
                            actual != v
                        }
                    }));
            assert_eq!(term_matches(&t, &n), want, "{t:?} on {n:?}");
            assert_eq!(term_failures(&t, &n).is_empty(), want, "{t:?} on {n:?}");
            // Rejection implies a parse error.
            if term_rejection(&t).is_some() {
                assert!(!parses, "{t:?}");
            }
        }
    }
}
