//! `dsched.v1.Placement`: which nodes should run a DaemonSet, and why not.

use std::collections::{BTreeMap, HashMap};

use tonic::{Request, Response, Status};

use super::convert::node_from_pb;
use super::convert_placement::placement_request;
use super::daemonsets::{daemonset_ref, not_found};
use super::inventory::{decode_page_token, encode_page_token};
use super::pb;
use super::pb::placement_server::Placement as PlacementApi;
use super::state::State;
use crate::domain::Node;
use crate::domain::affinity::{normalize_scores, preferred_score};
use crate::domain::placement::PodPlacement;
use crate::domain::predicate::{self, Reason};
use crate::domain::resources::{fit, sum_requests};
use crate::domain::toleration::{daemon_tolerations, prefer_no_schedule_count};
use crate::domain::validate::{FieldError, FieldPath};
use crate::error::Error;
use crate::index::plan::Plan;
use crate::telemetry;

/// Names per `Evaluate` page when the request names none.
pub const DEFAULT_EVALUATE_PAGE: usize = 1_000;
/// Largest `Evaluate` page: a whole 100,000-node fleet in one answer.
pub const MAX_EVALUATE_PAGE: usize = 100_000;
/// Most nodes one `Explain` may name.
pub const MAX_EXPLAIN_NODES: usize = 1_000;
/// Scheduler's `MaxNodeScore`.
const MAX_NODE_SCORE: i64 = 100;

pub struct PlacementService {
    state: State,
}

impl PlacementService {
    pub fn new(state: State) -> Self {
        PlacementService { state }
    }

    /// The placement a request targets: a registered DaemonSet's, or an inline one.
    fn target(
        &self,
        daemonset: Option<pb::DaemonSetRef>,
        placement: Option<pb::PodPlacement>,
    ) -> Result<PodPlacement, Error> {
        match (daemonset, placement) {
            (Some(r), None) => {
                let (ns, name) = daemonset_ref(r.namespace, r.name, &FieldPath::root("daemonset"))?;
                self.state
                    .registry
                    .with(&ns, &name, |ds| ds.spec.placement.clone())
                    .ok_or_else(|| not_found(&ns, &name))
            }
            (None, Some(p)) => {
                placement_request(p, &FieldPath::root("placement")).map_err(Error::Invalid)
            }
            _ => Err(FieldError::required(
                &FieldPath::root("target"),
                "one of daemonset or placement",
            )
            .into()),
        }
    }
}

fn split_evaluate(
    t: Option<pb::evaluate_request::Target>,
) -> (Option<pb::DaemonSetRef>, Option<pb::PodPlacement>) {
    match t {
        Some(pb::evaluate_request::Target::Daemonset(r)) => (Some(r), None),
        Some(pb::evaluate_request::Target::Placement(p)) => (None, Some(p)),
        None => (None, None),
    }
}

fn split_explain(
    t: Option<pb::explain_request::Target>,
) -> (Option<pb::DaemonSetRef>, Option<pb::PodPlacement>) {
    match t {
        Some(pb::explain_request::Target::Daemonset(r)) => (Some(r), None),
        Some(pb::explain_request::Target::Placement(p)) => (None, Some(p)),
        None => (None, None),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn score_to_i32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The API's code for a named node the inventory does not have.
const NODE_NOT_FOUND: &str = "NodeNotFound";

/// A reason as the summary counts it: code and message without node-specific detail.
fn summary_key(r: &Reason) -> (&'static str, String) {
    (r.code.as_str(), r.summary().to_owned())
}

fn reason_to_pb(r: Reason) -> pb::Reason {
    pb::Reason {
        code: r.code.as_str().to_owned(),
        message: r.message,
    }
}

/// Counts reasons by (code, summary message), most frequent first.
fn summarize(reasons: impl IntoIterator<Item = (&'static str, String)>) -> Vec<pb::ReasonCount> {
    let mut counts: HashMap<(&'static str, String), u32> = HashMap::new();
    for key in reasons {
        *counts.entry(key).or_default() += 1;
    }
    let mut out: Vec<pb::ReasonCount> = counts
        .into_iter()
        .map(|((code, message), count)| pb::ReasonCount {
            code: code.to_owned(),
            message,
            count,
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.code, &a.message).cmp(&(&b.code, &b.message)))
    });
    out
}

/// Resources that do not fit, as messages.
fn insufficient(placement: &PodPlacement, node: &Node) -> Vec<String> {
    fit(&placement.requests, &node.allocatable, &node.requested)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[tonic::async_trait]
impl PlacementApi for PlacementService {
    async fn evaluate(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> Result<Response<pb::EvaluateResponse>, Status> {
        let pb::EvaluateRequest {
            target,
            limit,
            page_token,
            count_only,
        } = request.into_inner();
        let (ds, inline) = split_evaluate(target);
        let placement = self.target(ds, inline)?;
        let after = decode_page_token(&page_token)?;
        let limit = match (count_only, limit as usize) {
            (true, _) => 0,
            (false, 0) => DEFAULT_EVALUATE_PAGE,
            (false, n) => n.min(MAX_EVALUATE_PAGE),
        };
        let answer =
            self.state
                .inventory
                .evaluate(&Plan::compile(&placement), after.as_deref(), limit);
        telemetry::record_evaluation(answer.names.len(), answer.should_run, answer.keep);
        let mut nodes = Vec::with_capacity(answer.names.len());
        let mut keep_nodes = Vec::new();
        for (name, run) in answer.names.iter() {
            if run {
                nodes.push(name.to_owned());
            } else {
                keep_nodes.push(name.to_owned());
            }
        }
        Ok(Response::new(pb::EvaluateResponse {
            revision: answer.revision,
            nodes,
            keep_nodes,
            should_run_count: to_u32(answer.should_run),
            keep_count: to_u32(answer.keep),
            total_nodes: to_u32(answer.total),
            next_page_token: answer
                .next_after
                .map(|n| encode_page_token(&n))
                .unwrap_or_default(),
        }))
    }

    async fn explain(
        &self,
        request: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        let pb::ExplainRequest { target, nodes } = request.into_inner();
        let (ds, inline) = split_explain(target);
        let placement = self.target(ds, inline)?;
        if nodes.len() > MAX_EXPLAIN_NODES {
            return Err(Error::LimitExceeded {
                what: format!("nodes: {} named", nodes.len()),
                limit: MAX_EXPLAIN_NODES as u64,
            }
            .into());
        }
        let inventory = &self.state.inventory;
        let revision = inventory.revision();
        if nodes.is_empty() {
            // Summary only, over every node.
            let mut reasons = Vec::new();
            inventory.scan_nodes(|node| {
                reasons.extend(
                    predicate::explain(node, &placement)
                        .1
                        .iter()
                        .map(summary_key),
                );
                false
            });
            return Ok(Response::new(pb::ExplainResponse {
                revision,
                verdicts: Vec::new(),
                summary: summarize(reasons),
            }));
        }
        let found: Vec<(String, Option<Node>)> = nodes
            .into_iter()
            .map(|name| {
                let node = inventory.get_node(&name).map(|(n, _)| n);
                (name, node)
            })
            .collect();
        // Scores are normalized over the named nodes that exist, as the scheduler
        // normalizes over the feasible ones.
        let tolerations = daemon_tolerations(&placement.tolerations, placement.host_network);
        let existing: Vec<&Node> = found.iter().filter_map(|(_, n)| n.as_ref()).collect();
        let affinity = normalize_scores(
            &existing
                .iter()
                .map(|n| preferred_score(&placement.affinity.preferred, n))
                .collect::<Vec<_>>(),
            MAX_NODE_SCORE,
            false,
        );
        let taint = normalize_scores(
            &existing
                .iter()
                .map(|n| prefer_no_schedule_count(&n.taints, &tolerations))
                .collect::<Vec<_>>(),
            MAX_NODE_SCORE,
            true,
        );
        let mut scores = affinity.into_iter().zip(taint);
        let mut all_reasons = Vec::new();
        let verdicts = found
            .into_iter()
            .map(|(name, node)| match node {
                None => {
                    let message = format!("node {name} is not in the inventory");
                    all_reasons.push((NODE_NOT_FOUND, message.clone()));
                    pb::NodeVerdict {
                        node: name,
                        found: false,
                        reasons: vec![pb::Reason {
                            code: NODE_NOT_FOUND.to_owned(),
                            message,
                        }],
                        ..Default::default()
                    }
                }
                Some(node) => {
                    let (verdict, reasons) = predicate::explain(&node, &placement);
                    let (affinity_score, taint_score) = scores.next().unwrap_or_default();
                    let insufficient = insufficient(&placement, &node);
                    all_reasons.extend(reasons.iter().map(summary_key));
                    pb::NodeVerdict {
                        node: name,
                        found: true,
                        should_run: verdict.should_run,
                        should_continue_running: verdict.should_continue_running,
                        reasons: reasons.into_iter().map(reason_to_pb).collect(),
                        affinity_score: score_to_i32(affinity_score),
                        taint_score: score_to_i32(taint_score),
                        fits: insufficient.is_empty(),
                        insufficient,
                    }
                }
            })
            .collect();
        Ok(Response::new(pb::ExplainResponse {
            revision,
            verdicts,
            summary: summarize(all_reasons),
        }))
    }

    async fn daemon_sets_for_node(
        &self,
        request: Request<pb::DaemonSetsForNodeRequest>,
    ) -> Result<Response<pb::DaemonSetsForNodeResponse>, Status> {
        let pb::DaemonSetsForNodeRequest { node } = request.into_inner();
        let inventory = &self.state.inventory;
        let revision = inventory.revision();
        let node = match node {
            Some(pb::daemon_sets_for_node_request::Node::Name(name)) => inventory
                .get_node(&name)
                .map(|(n, _)| n)
                .ok_or(Error::NotFound { kind: "node", name })?,
            Some(pb::daemon_sets_for_node_request::Node::Hypothetical(n)) => {
                node_from_pb(n, &FieldPath::root("hypothetical")).map_err(Error::Invalid)?
            }
            None => {
                return Err(Error::from(FieldError::required(
                    &FieldPath::root("node"),
                    "one of name or hypothetical",
                ))
                .into());
            }
        };
        let mut daemonsets = Vec::new();
        let mut running = Vec::new();
        for ((namespace, name), placement) in self.state.registry.placements() {
            let verdict = predicate::should_run(&node, &placement);
            if !verdict.should_run && !verdict.should_continue_running {
                continue;
            }
            if verdict.should_run {
                running.push(placement.requests.clone());
            }
            daemonsets.push(pb::DaemonSetFit {
                daemonset: Some(pb::DaemonSetRef { namespace, name }),
                should_run: verdict.should_run,
                should_continue_running: verdict.should_continue_running,
                fits: fit(&placement.requests, &node.allocatable, &node.requested).is_empty(),
                requests: placement.requests,
                priority: placement.priority,
            });
        }
        let total_requests: BTreeMap<String, String> = sum_requests(running.iter());
        Ok(Response::new(pb::DaemonSetsForNodeResponse {
            revision,
            daemonsets,
            total_requests,
        }))
    }
}
