//! Whether a node should run a DaemonSet's pod: `NodeShouldRunDaemonPod` and `predicates`
//! (controller `pkg/controller/daemon/daemon_controller.go`, semantics §1.1), and the
//! explanation of a verdict.
//!
//! [`should_run`] is the brute-force oracle other code (the index) is tested against: it is
//! a direct transcription of the upstream function, kept obviously correct rather than fast.
//! [`explain`] derives its verdict from the reasons it finds, independently, and a test
//! checks the two always agree.

use std::fmt;

use super::affinity::{explain_required_terms, required_node_affinity_matches};
use super::node::Node;
use super::placement::PodPlacement;
use super::toleration::{
    COMPARISON_OPERATORS_ENABLED, daemon_tolerations, find_untolerated_with, is_no_execute,
    is_no_schedule_or_no_execute, taint_to_string, tolerations_tolerate_with,
};
use super::validate::TaintEffect;

/// `(shouldRun, shouldContinueRunning)` of `NodeShouldRunDaemonPod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Verdict {
    /// The node is desired: a daemon pod should be created there.
    pub should_run: bool,
    /// An existing daemon pod may stay (false means it is deleted).
    pub should_continue_running: bool,
}

impl Verdict {
    /// `(true, true)`.
    pub const RUN: Verdict = Verdict {
        should_run: true,
        should_continue_running: true,
    };
    /// `(false, true)`: an untolerated `NoSchedule` taint only.
    pub const KEEP: Verdict = Verdict {
        should_run: false,
        should_continue_running: true,
    };
    /// `(false, false)`.
    pub const EXCLUDE: Verdict = Verdict {
        should_run: false,
        should_continue_running: false,
    };
}

/// `NodeShouldRunDaemonPod(node, ds)` (semantics §1.1):
/// 1. a template `nodeName` other than the node's name: `(false, false)`;
/// 2. the virtual pod gets the DaemonSet default tolerations merged into the user's
///    (`network-unavailable` only with `hostNetwork`);
/// 3. `spec.nodeSelector` AND the required node affinity must match (parse errors count as
///    no match), else `(false, false)`;
/// 4. an untolerated `NoSchedule`/`NoExecute` taint: `(false, false)` if some untolerated
///    taint is `NoExecute`, else `(false, true)`;
/// 5. otherwise `(true, true)`.
///
/// Not consulted: cordon (`unschedulable`), conditions, resources, preferred terms,
/// `PreferNoSchedule` taints.
pub fn should_run(node: &Node, placement: &PodPlacement) -> Verdict {
    // The template's nodeName must be empty or this node.
    if !(placement.node_name.is_empty() || placement.node_name == node.name) {
        return Verdict::EXCLUDE;
    }
    // NewPod: the virtual pod's nodeName is node.Name, so fitsNodeName always holds.
    let tolerations = daemon_tolerations(&placement.tolerations, placement.host_network);
    let fits_node_affinity =
        required_node_affinity_matches(&placement.node_selector, &placement.affinity, node);
    let fits_taints = find_untolerated_with(
        &node.taints,
        &tolerations,
        is_no_schedule_or_no_execute,
        COMPARISON_OPERATORS_ENABLED,
    )
    .is_none();
    if !fits_node_affinity {
        return Verdict::EXCLUDE;
    }
    if !fits_taints {
        let untolerated_no_execute = find_untolerated_with(
            &node.taints,
            &tolerations,
            is_no_execute,
            COMPARISON_OPERATORS_ENABLED,
        )
        .is_some();
        return Verdict {
            should_run: false,
            should_continue_running: !untolerated_no_execute,
        };
    }
    Verdict::RUN
}

/// Why a node does not run a DaemonSet's pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    /// The template's `spec.nodeName` names another node.
    NodeNameMismatch,
    /// A `spec.nodeSelector` pair is not on the node.
    NodeSelectorMismatch,
    /// No required node-affinity term matches.
    NodeAffinityMismatch,
    /// A `NoSchedule`/`NoExecute` taint no toleration (defaults included) tolerates.
    TaintNotTolerated,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 4] = [
        ReasonCode::NodeNameMismatch,
        ReasonCode::NodeSelectorMismatch,
        ReasonCode::NodeAffinityMismatch,
        ReasonCode::TaintNotTolerated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NodeNameMismatch => "NodeNameMismatch",
            ReasonCode::NodeSelectorMismatch => "NodeSelectorMismatch",
            ReasonCode::NodeAffinityMismatch => "NodeAffinityMismatch",
            ReasonCode::TaintNotTolerated => "TaintNotTolerated",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason, e.g. `TaintNotTolerated`: `taint dedicated=gpu:NoSchedule not tolerated`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    /// The message without the node-specific detail, for counting reasons over many nodes
    /// ("300 nodes: nodeSelector node-type=worker not matched").
    pub fn summary(&self) -> &str {
        match self.code {
            ReasonCode::NodeSelectorMismatch => self
                .message
                .split_once(" (")
                .map_or(self.message.as_str(), |(head, _)| head),
            _ => &self.message,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The verdict of [`should_run`] and every reason the node is excluded, in this order:
/// the template nodeName, each unmatched nodeSelector pair (by key), the required node
/// affinity (one reason naming why each term failed), each untolerated `NoSchedule` /
/// `NoExecute` taint (node order). Reasons are empty exactly when `should_run` is true.
///
/// The verdict is derived from the reasons (not by calling [`should_run`]): excluded when
/// there is any reason; the existing pod may stay when the only reasons are untolerated
/// `NoSchedule` taints.
pub fn explain(node: &Node, placement: &PodPlacement) -> (Verdict, Vec<Reason>) {
    let mut reasons = Vec::new();
    if !placement.node_name.is_empty() && placement.node_name != node.name {
        reasons.push(Reason {
            code: ReasonCode::NodeNameMismatch,
            message: format!(
                "template nodeName {} does not match node {}",
                placement.node_name, node.name
            ),
        });
    }
    for (key, want) in &placement.node_selector {
        let state = match node.labels.get(key) {
            Some(v) if v == want => continue,
            Some(v) => format!("node has {key}={v}"),
            None => "label absent".to_string(),
        };
        reasons.push(Reason {
            code: ReasonCode::NodeSelectorMismatch,
            message: format!("nodeSelector {key}={want} not matched ({state})"),
        });
    }
    if let Some(terms) = placement.affinity.required.as_deref()
        && let Some(why) = explain_required_terms(terms, node)
    {
        reasons.push(Reason {
            code: ReasonCode::NodeAffinityMismatch,
            message: format!("nodeAffinity {why}"),
        });
    }
    let tolerations = daemon_tolerations(&placement.tolerations, placement.host_network);
    let mut evicting = false;
    for taint in node
        .taints
        .iter()
        .filter(|t| is_no_schedule_or_no_execute(t))
    {
        if tolerations_tolerate_with(&tolerations, taint, COMPARISON_OPERATORS_ENABLED) {
            continue;
        }
        evicting |= taint.effect == TaintEffect::NoExecute;
        reasons.push(Reason {
            code: ReasonCode::TaintNotTolerated,
            message: format!("taint {} not tolerated", taint_to_string(taint)),
        });
    }
    let only_taints = reasons
        .iter()
        .all(|r| r.code == ReasonCode::TaintNotTolerated);
    let verdict = Verdict {
        should_run: reasons.is_empty(),
        should_continue_running: only_taints && !evicting,
    };
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::node::Taint;
    use crate::domain::placement::{
        FieldRequirement, NODE_NAME_FIELD, NodeAffinity, NodeSelectorTerm, PreferredTerm,
        Toleration, TolerationOperator,
    };
    use crate::domain::selector::{Operator, Requirement};
    use crate::domain::toleration::{
        TAINT_NODE_NETWORK_UNAVAILABLE, TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE,
        TAINT_NODE_UNSCHEDULABLE,
    };
    use rand::rngs::SmallRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
            time_added: None,
        }
    }

    fn node(name: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        Node {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints,
            ..Node::default()
        }
    }

    fn selector(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn required(terms: Vec<NodeSelectorTerm>) -> NodeAffinity {
        NodeAffinity {
            required: Some(terms),
            preferred: Vec::new(),
        }
    }

    fn exprs(reqs: Vec<Requirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: reqs,
            match_fields: Vec::new(),
        }
    }

    fn check(n: &Node, p: &PodPlacement, want: Verdict, name: &str) {
        assert_eq!(should_run(n, p), want, "{name}: should_run");
        let (v, reasons) = explain(n, p);
        assert_eq!(v, want, "{name}: explain verdict, reasons {reasons:?}");
        assert_eq!(reasons.is_empty(), want.should_run, "{name}: {reasons:?}");
    }

    #[test]
    fn rules() {
        let plain = PodPlacement::default();
        check(&node("n", &[], vec![]), &plain, Verdict::RUN, "plain");
        let mut cordoned = node("n", &[], vec![]);
        cordoned.unschedulable = true;
        check(&cordoned, &plain, Verdict::RUN, "cordon ignored");
        check(
            &node(
                "n",
                &[],
                vec![taint(TAINT_NODE_UNSCHEDULABLE, "", NoSchedule)],
            ),
            &plain,
            Verdict::RUN,
            "unschedulable taint tolerated by default",
        );
        check(
            &node("n", &[], vec![taint(TAINT_NODE_NOT_READY, "", NoExecute)]),
            &plain,
            Verdict::RUN,
            "not-ready tolerated",
        );
        check(
            &node("n", &[], vec![taint(TAINT_NODE_UNREACHABLE, "", NoExecute)]),
            &plain,
            Verdict::RUN,
            "unreachable tolerated",
        );
        let net = node(
            "n",
            &[],
            vec![taint(TAINT_NODE_NETWORK_UNAVAILABLE, "", NoSchedule)],
        );
        check(
            &net,
            &plain,
            Verdict::KEEP,
            "network-unavailable without hostNetwork",
        );
        let host = PodPlacement {
            host_network: true,
            ..PodPlacement::default()
        };
        check(
            &net,
            &host,
            Verdict::RUN,
            "network-unavailable with hostNetwork",
        );
        check(
            &node("n", &[], vec![taint("x", "", PreferNoSchedule)]),
            &plain,
            Verdict::RUN,
            "PreferNoSchedule ignored",
        );
        check(
            &node(
                "n",
                &[],
                vec![taint("x", "", NoSchedule), taint("y", "", NoExecute)],
            ),
            &plain,
            Verdict::EXCLUDE,
            "NoExecute evicts",
        );
        let by_name = PodPlacement {
            node_name: "other".to_string(),
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![]),
            &by_name,
            Verdict::EXCLUDE,
            "nodeName",
        );
        check(
            &node("other", &[], vec![]),
            &by_name,
            Verdict::RUN,
            "nodeName equal",
        );
        let sel = PodPlacement {
            node_selector: selector(&[("x", "")]),
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![]),
            &sel,
            Verdict::EXCLUDE,
            "empty selector value, absent",
        );
        check(
            &node("n", &[("x", "")], vec![]),
            &sel,
            Verdict::RUN,
            "empty selector value",
        );
        let notin = PodPlacement {
            affinity: required(vec![exprs(vec![req("zone", Operator::NotIn, &["a"])])]),
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![]),
            &notin,
            Verdict::RUN,
            "NotIn missing label",
        );
        let gt = PodPlacement {
            affinity: required(vec![exprs(vec![req("v", Operator::Gt, &["0204"])])]),
            ..PodPlacement::default()
        };
        check(
            &node("n", &[("v", "0206")], vec![]),
            &gt,
            Verdict::RUN,
            "Gt leading zeros",
        );
        let preferred_only = PodPlacement {
            affinity: NodeAffinity {
                required: None,
                preferred: vec![PreferredTerm {
                    weight: 100,
                    preference: exprs(vec![req("zone", Operator::In, &["z1"])]),
                }],
            },
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![]),
            &preferred_only,
            Verdict::RUN,
            "preferred ignored",
        );
        let empty_terms = PodPlacement {
            affinity: required(vec![]),
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![]),
            &empty_terms,
            Verdict::EXCLUDE,
            "empty terms",
        );
        let mut resources = PodPlacement::default();
        resources.requests.insert("memory".into(), "1Ei".into());
        let mut small = node("n", &[], vec![]);
        small.allocatable.insert("memory".into(), "1Mi".into());
        check(&small, &resources, Verdict::RUN, "resources ignored");
        // A user toleration for not-ready with tolerationSeconds is overwritten: still RUN.
        let seconds = PodPlacement {
            tolerations: vec![Toleration {
                key: TAINT_NODE_NOT_READY.to_string(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: Some(NoExecute),
                toleration_seconds: Some(0),
            }],
            ..PodPlacement::default()
        };
        check(
            &node("n", &[], vec![taint(TAINT_NODE_NOT_READY, "", NoExecute)]),
            &seconds,
            Verdict::RUN,
            "tolerationSeconds dropped",
        );
    }

    #[test]
    fn every_reason_listed() {
        let p = PodPlacement {
            node_name: "other".to_string(),
            node_selector: selector(&[("node-type", "worker"), ("tier", "web"), ("zone", "a")]),
            affinity: required(vec![
                exprs(vec![req("zone", Operator::In, &["a", "b"])]),
                NodeSelectorTerm {
                    match_expressions: Vec::new(),
                    match_fields: vec![FieldRequirement {
                        key: NODE_NAME_FIELD.to_string(),
                        operator: "In".to_string(),
                        values: vec!["x".to_string()],
                    }],
                },
            ]),
            ..PodPlacement::default()
        };
        let n = node(
            "n1",
            &[("tier", "db"), ("zone", "c")],
            vec![
                taint("dedicated", "gpu", NoSchedule),
                taint("soft", "", PreferNoSchedule),
                taint("evict", "", NoExecute),
            ],
        );
        let (v, reasons) = explain(&n, &p);
        assert_eq!(v, Verdict::EXCLUDE);
        assert_eq!(v, should_run(&n, &p));
        let got: Vec<(&str, &str)> = reasons
            .iter()
            .map(|r| (r.code.as_str(), r.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "NodeNameMismatch",
                    "template nodeName other does not match node n1"
                ),
                (
                    "NodeSelectorMismatch",
                    "nodeSelector node-type=worker not matched (label absent)"
                ),
                (
                    "NodeSelectorMismatch",
                    "nodeSelector tier=web not matched (node has tier=db)"
                ),
                (
                    "NodeSelectorMismatch",
                    "nodeSelector zone=a not matched (node has zone=c)"
                ),
                (
                    "NodeAffinityMismatch",
                    "nodeAffinity term 0: zone In [a b] not matched (node has zone=c); term 1: metadata.name In [x] not matched (node name is n1)"
                ),
                (
                    "TaintNotTolerated",
                    "taint dedicated=gpu:NoSchedule not tolerated"
                ),
                ("TaintNotTolerated", "taint evict:NoExecute not tolerated"),
            ]
        );
        // Only NoSchedule taints left: the pod may stay.
        let keep = node("n", &[], vec![taint("dedicated", "gpu", NoSchedule)]);
        let (v, reasons) = explain(&keep, &PodPlacement::default());
        assert_eq!(v, Verdict::KEEP, "{reasons:?}");
        assert_eq!(reasons.len(), 1);
    }

    #[test]
    fn reason_codes() {
        let names: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "NodeNameMismatch",
                "NodeSelectorMismatch",
                "NodeAffinityMismatch",
                "TaintNotTolerated"
            ]
        );
        let r = Reason {
            code: ReasonCode::TaintNotTolerated,
            message: "taint k:NoSchedule not tolerated".to_string(),
        };
        assert_eq!(
            r.to_string(),
            "TaintNotTolerated: taint k:NoSchedule not tolerated"
        );
    }

    // ---- randomized: explain's verdict equals should_run's --------------------------------

    const KEYS: &[&str] = &[
        "zone",
        "tier",
        "cores",
        "bad key",
        TAINT_NODE_NOT_READY,
        TAINT_NODE_NETWORK_UNAVAILABLE,
        TAINT_NODE_UNSCHEDULABLE,
    ];
    const VALUES: &[&str] = &["", "a", "b", "7", "007", "x y"];

    fn pick<'a>(rng: &mut SmallRng, from: &[&'a str]) -> &'a str {
        from.choose(rng).copied().unwrap_or("")
    }

    fn random_values(rng: &mut SmallRng) -> Vec<String> {
        (0..rng.random_range(0..3))
            .map(|_| pick(rng, VALUES).to_string())
            .collect()
    }

    fn random_term(rng: &mut SmallRng) -> NodeSelectorTerm {
        let ops = [
            Operator::In,
            Operator::NotIn,
            Operator::Exists,
            Operator::DoesNotExist,
            Operator::Gt,
            Operator::Lt,
        ];
        NodeSelectorTerm {
            match_expressions: (0..rng.random_range(0..3))
                .map(|_| Requirement {
                    key: pick(rng, KEYS).to_string(),
                    operator: ops.choose(rng).copied().unwrap_or(Operator::In),
                    values: random_values(rng),
                })
                .collect(),
            match_fields: (0..rng.random_range(0..2))
                .map(|_| FieldRequirement {
                    key: NODE_NAME_FIELD.to_string(),
                    operator: pick(rng, &["In", "NotIn", "Gt"]).to_string(),
                    values: (0..rng.random_range(0..3))
                        .map(|_| pick(rng, &["n0", "n1", "n2"]).to_string())
                        .collect(),
                })
                .collect(),
        }
    }

    fn random_effect(rng: &mut SmallRng) -> TaintEffect {
        TaintEffect::ALL.choose(rng).copied().unwrap_or(NoSchedule)
    }

    fn random_node(rng: &mut SmallRng) -> Node {
        let mut n = node(pick(rng, &["", "n0", "n1", "n2"]), &[], Vec::new());
        for k in KEYS.iter().take(3) {
            if rng.random_bool(0.6) {
                n.labels
                    .insert(k.to_string(), pick(rng, VALUES).to_string());
            }
        }
        n.taints = (0..rng.random_range(0..4))
            .map(|_| {
                let effect = random_effect(rng);
                taint(pick(rng, KEYS), pick(rng, &["", "a", "7"]), effect)
            })
            .collect();
        n.unschedulable = rng.random_bool(0.2);
        n
    }

    fn random_placement(rng: &mut SmallRng) -> PodPlacement {
        let mut p = PodPlacement::default();
        if rng.random_bool(0.2) {
            p.node_name = pick(rng, &["n0", "n1"]).to_string();
        }
        for _ in 0..rng.random_range(0..3) {
            p.node_selector.insert(
                pick(rng, &KEYS[..3]).to_string(),
                pick(rng, VALUES).to_string(),
            );
        }
        if rng.random_bool(0.6) {
            p.affinity.required = Some(
                (0..rng.random_range(0..3))
                    .map(|_| random_term(rng))
                    .collect(),
            );
        }
        let ops = [
            TolerationOperator::Equal,
            TolerationOperator::Exists,
            TolerationOperator::Lt,
            TolerationOperator::Gt,
        ];
        p.tolerations = (0..rng.random_range(0..3))
            .map(|_| Toleration {
                key: pick(rng, &["", KEYS[0], KEYS[4], KEYS[5]]).to_string(),
                operator: ops.choose(rng).copied().unwrap_or_default(),
                value: pick(rng, &["", "a", "7"]).to_string(),
                effect: if rng.random_bool(0.3) {
                    None
                } else {
                    Some(random_effect(rng))
                },
                toleration_seconds: rng.random_bool(0.2).then_some(60),
            })
            .collect();
        p.host_network = rng.random_bool(0.3);
        p
    }

    #[test]
    fn random_explain_agrees_with_should_run() {
        let mut rng = SmallRng::seed_from_u64(0xd5);
        let mut seen = BTreeMap::new();
        for case in 0..30_000 {
            let n = random_node(&mut rng);
            let p = random_placement(&mut rng);
            let want = should_run(&n, &p);
            let (got, reasons) = explain(&n, &p);
            assert_eq!(got, want, "case {case}: {n:?} {p:?} reasons {reasons:?}");
            assert_eq!(
                reasons.is_empty(),
                want.should_run,
                "case {case}: {reasons:?}"
            );
            *seen
                .entry((want.should_run, want.should_continue_running))
                .or_insert(0) += 1;
        }
        // Every verdict shape is exercised.
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.values().all(|&c| c > 500), "{seen:?}");
    }
}
