//! `dsched.v1.Inventory`: the sync stream and node queries.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::pb;
use super::pb::inventory_server::Inventory as InventoryApi;
use super::status::{is_message_too_large, message_too_large};
use crate::domain::selector::Selector;
use crate::domain::validate::{FieldError, FieldErrors, FieldPath};
use crate::error::Error;
use crate::index::Inventory;
use crate::index::sync::{Batch, ResyncMark, SyncError, SyncSession};
use crate::telemetry;

/// Page size of `ListNodes` when the request names none.
pub const DEFAULT_PAGE_SIZE: usize = 500;
/// Largest `ListNodes` page.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// Responses buffered per `Sync` stream before the writer waits for the client to read.
const SYNC_RESPONSE_BUFFER: usize = 16;

pub struct InventoryService {
    inventory: Arc<Inventory>,
    /// Turns true when the server begins shutting down; open `Sync` streams then end.
    shutdown: watch::Receiver<bool>,
}

impl InventoryService {
    pub fn new(inventory: Arc<Inventory>, shutdown: watch::Receiver<bool>) -> Self {
        InventoryService {
            inventory,
            shutdown,
        }
    }
}

/// Splits a request into the valid items and a rejection for each invalid one.
pub fn batch_from_pb(req: pb::SyncRequest) -> (Batch, Vec<pb::Rejection>) {
    let pb::SyncRequest {
        batch_id: _,
        upsert_nodes,
        delete_nodes,
        upsert_pods,
        delete_pods,
        resync,
    } = req;
    let mut batch = Batch {
        resync: match pb::Resync::try_from(resync) {
            Ok(pb::Resync::Begin) => ResyncMark::Begin,
            Ok(pb::Resync::End) => ResyncMark::End,
            Ok(pb::Resync::Unspecified) | Err(_) => ResyncMark::None,
        },
        ..Batch::default()
    };
    let mut rejected = Vec::new();
    let mut reject = |kind: &str, name: &str, index: usize, errs: FieldErrors| {
        let first = errs.iter().next().map(|e| e.field.as_str().to_owned());
        rejected.push(pb::Rejection {
            kind: kind.to_owned(),
            name: name.to_owned(),
            index: u32::try_from(index).unwrap_or(u32::MAX),
            field: first.unwrap_or_default(),
            reason: errs.to_strings().join("; "),
        });
    };
    // Paths and names are built only for a rejected item: a batch is mostly valid nodes.
    for (i, node) in upsert_nodes.into_iter().enumerate() {
        let path = || FieldPath::root("upsertNodes").index(i);
        match convert::node_from_pb_at(node, &path) {
            Ok(node) => batch.upsert_nodes.push(node),
            Err((errs, name)) => reject("Node", &name, i, errs),
        }
    }
    for (i, name) in delete_nodes.into_iter().enumerate() {
        let mut errs = FieldErrors::default();
        crate::domain::validate::node_name(&name, &FieldPath::default(), &mut errs);
        if errs.is_empty() {
            batch.delete_nodes.push(name);
        } else {
            let mut errs = FieldErrors::default();
            let path = FieldPath::root("deleteNodes").index(i);
            crate::domain::validate::node_name(&name, &path, &mut errs);
            reject("Node", &name, i, errs);
        }
    }
    let list = FieldPath::root("upsertPods");
    for (i, pod) in upsert_pods.into_iter().enumerate() {
        let name = pod.name.clone();
        match convert::pod_from_pb(pod, &list.index(i)) {
            Ok(pod) => batch.upsert_pods.push(pod),
            Err(errs) => reject("DaemonPod", &name, i, errs),
        }
    }
    let list = FieldPath::root("deletePods");
    for (i, pod) in delete_pods.into_iter().enumerate() {
        let name = pod.name.clone();
        match convert::pod_ref_from_pb(pod, &list.index(i)) {
            Ok(key) => batch.delete_pods.push(key),
            Err(errs) => reject("DaemonPod", &name, i, errs),
        }
    }
    (batch, rejected)
}

/// How many converted batches may wait for the applier of a stream. The reader converts
/// batch k+1 while batch k is applied; one waiting batch keeps both busy.
const SYNC_PIPELINE_DEPTH: usize = 1;

/// One request of a `Sync` stream on its way from the reader to the applier.
enum Step {
    /// A converted request: its valid items, and a rejection for each invalid one.
    Batch {
        batch_id: u64,
        batch: Batch,
        rejected: Vec<pb::Rejection>,
    },
    /// Ends the stream with this status, after the acknowledgements of earlier batches.
    End(Status),
}

/// Serves one `Sync` stream as a two-stage pipeline, so that one stream can keep two cores
/// busy: this task reads, decodes, validates and converts batch k+1 while
/// [`apply_steps`] applies batch k. Promises, all kept by the applier, which sees every
/// step in stream order:
///
/// - one acknowledgement per batch, in order, sent after the batch is applied, so an
///   acknowledged batch is visible to every query;
/// - a protocol error (`RESYNC_END` without `RESYNC_BEGIN`) ends the stream with nothing
///   of that batch applied, and nothing of any batch read after it;
/// - shutdown, a decoding error or an oversized message ends the stream with its status
///   after the acknowledgements of the batches read before it.
async fn run_sync_stream(
    inventory: Arc<Inventory>,
    mut inbound: Streaming<pb::SyncRequest>,
    out: mpsc::Sender<Result<pb::SyncResponse, Status>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _open = telemetry::OpenStream::open();
    let (steps, queue) = mpsc::channel(SYNC_PIPELINE_DEPTH);
    let applier = tokio::spawn(apply_steps(SyncSession::new(inventory), queue, out));
    loop {
        let step = tokio::select! {
            biased;
            _ = shutdown.wait_for(|down| *down) => {
                Step::End(Error::Unavailable("server is shutting down".into()).into())
            }
            // The applier has stopped (a failed batch, or nobody reads the responses).
            () = steps.closed() => break,
            next = inbound.message() => match next {
                Ok(Some(req)) => {
                    let batch_id = req.batch_id;
                    let (batch, rejected) = batch_from_pb(req);
                    Step::Batch { batch_id, batch, rejected }
                }
                Ok(None) => break,
                Err(status) if is_message_too_large(status.code(), status.message()) => {
                    Step::End(message_too_large(status.message()))
                }
                Err(status) => Step::End(status),
            },
        };
        let end = matches!(step, Step::End(_));
        if steps.send(step).await.is_err() || end {
            break;
        }
    }
    drop(steps);
    // The stream is open until its last acknowledgement is out.
    let _ = applier.await;
}

/// The applier of one `Sync` stream: applies each batch and sends its acknowledgement, in
/// order, until the reader is done or a step ends the stream.
async fn apply_steps(
    mut session: SyncSession,
    mut queue: mpsc::Receiver<Step>,
    out: mpsc::Sender<Result<pb::SyncResponse, Status>>,
) {
    while let Some(step) = queue.recv().await {
        let (batch_id, batch, rejected) = match step {
            Step::Batch {
                batch_id,
                batch,
                rejected,
            } => (batch_id, batch, rejected),
            Step::End(status) => {
                let _ = out.send(Err(status)).await;
                break;
            }
        };
        // Applying and then freeing a batch of a thousand nodes takes milliseconds of CPU:
        // done on a blocking thread, so the async workers keep serving I/O meanwhile.
        // (Freeing it on yet another thread, after the acknowledgement, measured slower.)
        let applied = tokio::task::spawn_blocking(move || {
            let outcome = session.apply(&batch);
            drop(batch);
            (session, outcome)
        })
        .await;
        let Ok((back, outcome)) = applied else {
            let _ = out
                .send(Err(Status::internal("applying a batch failed")))
                .await;
            return;
        };
        session = back;
        let reply = match outcome {
            Ok(outcome) => {
                telemetry::record_sync_batch(&outcome, rejected.len());
                Ok(pb::SyncResponse {
                    batch_id,
                    revision: outcome.revision,
                    applied: outcome.applied,
                    unchanged: outcome.unchanged,
                    stale: outcome.stale,
                    swept: outcome.swept,
                    rejected,
                })
            }
            Err(err @ SyncError::EndWithoutBegin) => Err(Status::from(Error::FailedPrecondition(
                format!("batch {batch_id}: {err}"),
            ))),
        };
        // Freeing the batch's tens of thousands of strings takes as long as applying it,
        // and the acknowledgement need not wait for it: it runs beside the next batch.
        let failed = reply.is_err();
        if out.send(reply).await.is_err() || failed {
            break;
        }
    }
    if session.in_resync() {
        tracing::info!("sync stream ended during a resync; nothing swept");
    }
}

type SyncStream = Pin<Box<dyn Stream<Item = Result<pb::SyncResponse, Status>> + Send>>;

#[tonic::async_trait]
impl InventoryApi for InventoryService {
    type SyncStream = SyncStream;

    async fn sync(
        &self,
        request: Request<Streaming<pb::SyncRequest>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        if *self.shutdown.borrow() {
            return Err(Error::Unavailable("server is shutting down".into()).into());
        }
        let (tx, rx) = mpsc::channel(SYNC_RESPONSE_BUFFER);
        tokio::spawn(run_sync_stream(
            self.inventory.clone(),
            request.into_inner(),
            tx,
            self.shutdown.clone(),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_node(
        &self,
        request: Request<pb::GetNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let pb::GetNodeRequest { name } = request.into_inner();
        let mut errs = FieldErrors::default();
        crate::domain::validate::node_name(&name, &FieldPath::root("name"), &mut errs);
        if !errs.is_empty() {
            return Err(Error::Invalid(errs).into());
        }
        match self.inventory.get_node(&name) {
            Some((node, revision)) => Ok(Response::new(convert::node_to_pb(node, revision))),
            None => Err(Error::NotFound { kind: "node", name }.into()),
        }
    }

    async fn list_nodes(
        &self,
        request: Request<pb::ListNodesRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        let pb::ListNodesRequest {
            label_selector,
            limit,
            page_token,
        } = request.into_inner();
        let selector = Selector::parse(&label_selector).map_err(|e| {
            Error::from(FieldError::invalid(
                &FieldPath::root("labelSelector"),
                &label_selector,
                e.message,
            ))
        })?;
        let after = decode_page_token(&page_token)?;
        let limit = match limit as usize {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let page = self
            .inventory
            .list_nodes(&selector, after.as_deref(), limit);
        Ok(Response::new(pb::ListNodesResponse {
            nodes: page
                .nodes
                .into_iter()
                .map(|(node, rev)| convert::node_to_pb(node, rev))
                .collect(),
            next_page_token: page
                .next_after
                .map(|n| encode_page_token(&n))
                .unwrap_or_default(),
            revision: page.revision,
            total: u32::try_from(page.total).unwrap_or(u32::MAX),
        }))
    }
}

/// Page tokens are opaque to callers: the last name of the previous page, hex-encoded.
pub fn encode_page_token(last: &str) -> String {
    last.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_page_token(token: &str) -> Result<Option<String>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::from(FieldError::invalid(
            &FieldPath::root("pageToken"),
            token,
            "not a page token returned by this server",
        ))
    };
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}
