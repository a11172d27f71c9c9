//! `dsched.v1.Rollout`: the next rolling-update batch and the status of a DaemonSet.

use std::collections::HashMap;

use tonic::{Request, Response, Status};

use super::daemonsets::{daemonset_ref, not_found};
use super::pb;
use super::pb::rollout_server::Rollout as RolloutApi;
use super::state::{State, now};
use crate::domain::Time;
use crate::domain::predicate::Verdict;
use crate::domain::rollout::{self, NodeView, RolloutPlan, RolloutViewInput};
use crate::domain::validate::{FieldError, FieldPath};
use crate::error::Error;
use crate::index::plan::Plan;
use crate::telemetry;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A pod whose node is not in `answer.names`.
const NOT_LISTED: u32 = u32::MAX;

pub struct RolloutService {
    state: State,
}

impl RolloutService {
    pub fn new(state: State) -> Self {
        RolloutService { state }
    }

    /// Runs one sync for the DaemonSet: placement on the index, its pods, the planner.
    fn sync(
        &self,
        namespace: String,
        name: String,
        at: Option<prost_types::Timestamp>,
    ) -> Result<(u64, crate::registry::DaemonSet, RolloutPlan), Error> {
        let (ns, name) = daemonset_ref(namespace, name, &FieldPath::root(""))?;
        let now = match at {
            None => now(),
            Some(t) if (0..1_000_000_000).contains(&t.nanos) => Time {
                seconds: t.seconds,
                nanos: t.nanos,
            },
            Some(t) => {
                return Err(FieldError::invalid(
                    &FieldPath::root("now").child("nanos"),
                    &t.nanos.to_string(),
                    "must be between 0 and 999999999",
                )
                .into());
            }
        };
        let ds = self
            .state
            .registry
            .get(&ns, &name)
            .ok_or_else(|| not_found(&ns, &name))?;
        let inventory = &self.state.inventory;
        let key = &ds.spec.strategy.topology_key;
        // Every listed node, with its topology domain when the rollout goes by waves.
        let mut answer = inventory.evaluate_labeled(
            &Plan::compile(&ds.spec.placement),
            None,
            usize::MAX,
            (!key.is_empty()).then_some(key.as_str()),
        );
        let pods = inventory.pods_of(&ns, &name);
        // Listed name → its index in `answer.names`, borrowed: nothing allocated per node.
        let mut listed: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(answer.names.len(), Default::default());
        for (i, (node, _)) in answer.names.iter().enumerate() {
            listed.insert(node, i as u32);
        }
        // Each pod's listed node (its index in `answer.names`), looked up once here and
        // handed to the planner below, so the planner hashes no names itself.
        let pod_listed: Vec<u32> = pods
            .iter()
            .map(|p| listed.get(p.node.as_str()).copied().unwrap_or(NOT_LISTED))
            .collect();
        drop(listed);
        // Nodes that host a pod but may not keep it: their pods are misscheduled. Each with
        // its domain.
        let mut hosting: Vec<&str> = pods
            .iter()
            .zip(&pod_listed)
            .filter(|&(_, &i)| i == NOT_LISTED)
            .map(|(p, _)| p.node.as_str())
            .collect();
        hosting.sort_unstable();
        hosting.dedup();
        let excluded: Vec<(&str, String)> = hosting
            .into_iter()
            .filter_map(|node| {
                let (n, _) = inventory.get_node(node)?;
                let domain = if key.is_empty() {
                    String::new()
                } else {
                    n.labels.get(key).cloned().unwrap_or_default()
                };
                Some((node, domain))
            })
            .collect();
        // Per listed node, its domain's index into `values` (both empty without waves).
        let (values, domain_of) = (
            std::mem::take(&mut answer.label_values),
            std::mem::take(&mut answer.labels),
        );
        // Listed and excluded nodes merged by name, so the planner need not sort them; where
        // each listed and each excluded node lands in that list.
        let mut nodes: Vec<NodeView<'_>> = Vec::with_capacity(answer.names.len() + excluded.len());
        let mut position_of_listed: Vec<u32> = Vec::with_capacity(answer.names.len());
        let mut position_of_excluded: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(excluded.len(), Default::default());
        let mut rest = excluded.iter().peekable();
        for (i, (node, run)) in answer.names.iter().enumerate() {
            while let Some((name, domain)) = rest.next_if(|(name, _)| *name < node) {
                position_of_excluded.insert(name, nodes.len() as u32);
                nodes.push(NodeView {
                    name,
                    verdict: Verdict::EXCLUDE,
                    domain,
                });
            }
            position_of_listed.push(nodes.len() as u32);
            nodes.push(NodeView {
                name: node,
                verdict: if run { Verdict::RUN } else { Verdict::KEEP },
                domain: domain_of
                    .get(i)
                    .map_or("", |&d| values[d as usize].as_str()),
            });
        }
        for (name, domain) in rest {
            position_of_excluded.insert(name, nodes.len() as u32);
            nodes.push(NodeView {
                name,
                verdict: Verdict::EXCLUDE,
                domain,
            });
        }
        let pod_nodes: Vec<u32> = pods
            .iter()
            .zip(&pod_listed)
            .map(|(p, &i)| match i {
                NOT_LISTED => position_of_excluded
                    .get(p.node.as_str())
                    .copied()
                    .unwrap_or(rollout::NO_NODE),
                i => position_of_listed[i as usize],
            })
            .collect();
        let plan = rollout::plan_view(&RolloutViewInput {
            nodes: &nodes,
            pods: &pods,
            pod_nodes: Some(&pod_nodes),
            hash: ds.current_hash(),
            strategy: &ds.spec.strategy,
            min_ready_seconds: ds.spec.min_ready_seconds,
            now,
        });
        Ok((answer.revision, ds, plan))
    }
}

fn status_to_pb(s: rollout::Status) -> pb::RolloutStatus {
    pb::RolloutStatus {
        desired_number_scheduled: s.desired_number_scheduled,
        current_number_scheduled: s.current_number_scheduled,
        number_misscheduled: s.number_misscheduled,
        number_ready: s.number_ready,
        updated_number_scheduled: s.updated_number_scheduled,
        number_available: s.number_available,
        number_unavailable: s.number_unavailable,
    }
}

#[tonic::async_trait]
impl RolloutApi for RolloutService {
    async fn next_batch(
        &self,
        request: Request<pb::NextBatchRequest>,
    ) -> Result<Response<pb::NextBatchResponse>, Status> {
        let pb::NextBatchRequest {
            namespace,
            name,
            now,
        } = request.into_inner();
        let (revision, ds, plan) = self.sync(namespace, name, now)?;
        telemetry::record_batch(plan.create_on.len(), plan.delete.len(), plan.complete);
        Ok(Response::new(pb::NextBatchResponse {
            revision,
            target_revision: ds.revision,
            target_revision_hash: ds.current_hash().to_owned(),
            create_on: plan.create_on,
            delete: plan
                .delete
                .into_iter()
                .map(|a| pb::PodAction {
                    node: a.node,
                    pod: a.pod,
                    revision_hash: a.revision_hash,
                    reason: a.reason.as_str().to_owned(),
                })
                .collect(),
            status: Some(status_to_pb(plan.status)),
            complete: plan.complete,
            waiting_reason: plan
                .waiting
                .map(|w| w.as_str().to_owned())
                .unwrap_or_default(),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::RolloutStatus>, Status> {
        let pb::StatusRequest {
            namespace,
            name,
            now,
        } = request.into_inner();
        let (_, _, plan) = self.sync(namespace, name, now)?;
        Ok(Response::new(status_to_pb(plan.status)))
    }
}
