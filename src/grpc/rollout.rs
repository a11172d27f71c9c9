//! `dsched.v1.Rollout`: the next rolling-update batch and the status of a DaemonSet.

use tonic::{Request, Response, Status};

use super::daemonsets::{daemonset_ref, not_found};
use super::pb;
use super::pb::rollout_server::Rollout as RolloutApi;
use super::state::{State, now};
use crate::domain::Time;
use crate::domain::rollout::{self, RolloutPlan};
use crate::domain::validate::{FieldError, FieldPath};
use crate::error::Error;
use crate::rollout_sync::SyncInput;
use crate::telemetry;

pub struct RolloutService {
    state: State,
}

impl RolloutService {
    pub fn new(state: State) -> Self {
        RolloutService { state }
    }

    /// Runs one sync for the DaemonSet (see `rollout_sync`).
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
        let input = SyncInput::gather(&self.state.inventory, &ds);
        let plan = input.plan(&ds, now);
        Ok((input.revision, ds, plan))
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
