//! `dsched.v1.DaemonSets`: the registry with revision history.

use tonic::{Request, Response, Status};

use super::convert::{DEFAULT_NAMESPACE, pod_ref_to_pb};
use super::convert_placement::{daemonset_from_pb, daemonset_to_pb, revision_to_pb};
use super::pb;
use super::pb::daemon_sets_server::DaemonSets as DaemonSetsApi;
use super::state::{State, now};
use crate::domain::validate::{FieldError, FieldErrors, FieldPath};
use crate::error::Error;

pub struct DaemonSetsService {
    state: State,
}

impl DaemonSetsService {
    pub fn new(state: State) -> Self {
        DaemonSetsService { state }
    }
}

/// A validated `(namespace, name)` reference; `""` namespace means `default`.
pub fn daemonset_ref(
    namespace: String,
    name: String,
    path: &FieldPath,
) -> Result<(String, String), Error> {
    let mut errs = FieldErrors::default();
    let namespace = if namespace.is_empty() {
        DEFAULT_NAMESPACE.to_owned()
    } else {
        namespace
    };
    errs.invalid(
        &path.child("namespace"),
        &namespace,
        crate::domain::validate::is_dns1123_label(&namespace),
    );
    super::convert::object_name(&name, &path.child("name"), &mut errs);
    if errs.is_empty() {
        Ok((namespace, name))
    } else {
        Err(Error::Invalid(errs))
    }
}

pub fn not_found(namespace: &str, name: &str) -> Error {
    Error::NotFound {
        kind: "daemonset",
        name: format!("{namespace}/{name}"),
    }
}

#[tonic::async_trait]
impl DaemonSetsApi for DaemonSetsService {
    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let pb::ApplyRequest { daemonset } = request.into_inner();
        let path = FieldPath::root("daemonset");
        let ds = daemonset.ok_or_else(|| Error::from(FieldError::required(&path, "")))?;
        let spec = daemonset_from_pb(ds, &path).map_err(Error::Invalid)?;
        let in_use = self.state.hashes_in_use(&spec.namespace, &spec.name);
        let applied = self.state.registry.apply(spec, now(), &in_use)?;
        Ok(Response::new(daemonset_to_pb(applied)))
    }

    async fn get(
        &self,
        request: Request<pb::DaemonSetRef>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let pb::DaemonSetRef { namespace, name } = request.into_inner();
        let (ns, name) = daemonset_ref(namespace, name, &FieldPath::root(""))?;
        let ds = self
            .state
            .registry
            .get(&ns, &name)
            .ok_or_else(|| not_found(&ns, &name))?;
        Ok(Response::new(daemonset_to_pb(ds)))
    }

    async fn list(
        &self,
        request: Request<pb::ListDaemonSetsRequest>,
    ) -> Result<Response<pb::ListDaemonSetsResponse>, Status> {
        let pb::ListDaemonSetsRequest { namespace } = request.into_inner();
        if !namespace.is_empty() {
            let mut errs = FieldErrors::default();
            errs.invalid(
                &FieldPath::root("namespace"),
                &namespace,
                crate::domain::validate::is_dns1123_label(&namespace),
            );
            if !errs.is_empty() {
                return Err(Error::Invalid(errs).into());
            }
        }
        let daemonsets = self
            .state
            .registry
            .list(&namespace)
            .into_iter()
            .map(daemonset_to_pb)
            .collect();
        Ok(Response::new(pb::ListDaemonSetsResponse { daemonsets }))
    }

    async fn delete(
        &self,
        request: Request<pb::DaemonSetRef>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let pb::DaemonSetRef { namespace, name } = request.into_inner();
        let (ns, name) = daemonset_ref(namespace, name, &FieldPath::root(""))?;
        self.state
            .registry
            .delete(&ns, &name)
            .ok_or_else(|| not_found(&ns, &name))?;
        let pods = self
            .state
            .inventory
            .pods_of(&ns, &name)
            .into_iter()
            .map(|p| pod_ref_to_pb(p.key()))
            .collect();
        Ok(Response::new(pb::DeleteResponse { pods }))
    }

    async fn history(
        &self,
        request: Request<pb::DaemonSetRef>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let pb::DaemonSetRef { namespace, name } = request.into_inner();
        let (ns, name) = daemonset_ref(namespace, name, &FieldPath::root(""))?;
        let ds = self
            .state
            .registry
            .get(&ns, &name)
            .ok_or_else(|| not_found(&ns, &name))?;
        let current = ds.revision;
        let revisions = ds
            .history
            .into_iter()
            .map(|r| revision_to_pb(r, current))
            .collect();
        Ok(Response::new(pb::HistoryResponse { revisions }))
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        let pb::RollbackRequest {
            namespace,
            name,
            to_revision,
        } = request.into_inner();
        let (ns, name) = daemonset_ref(namespace, name, &FieldPath::root(""))?;
        let in_use = self.state.hashes_in_use(&ns, &name);
        let done = self
            .state
            .registry
            .rollback(&ns, &name, to_revision, &in_use)?;
        Ok(Response::new(pb::RollbackResponse {
            daemonset: Some(daemonset_to_pb(done.daemonset)),
            from_revision: done.from_revision,
            restored_revision: done.restored_revision,
            skipped: done.skipped,
        }))
    }
}
