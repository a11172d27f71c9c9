//! Applying `Sync` batches: the synchronous writer behind the stream.
//!
//! The gRPC handler is a thin adapter: it converts and validates each request, then hands
//! the valid items to [`SyncSession::apply`], which runs to completion before the batch is
//! acknowledged. Resync is mark-and-sweep: `RESYNC_BEGIN` takes a mark from the inventory's
//! seen clock; every upsert (applied, unchanged or stale) stamps its item with the clock;
//! `RESYNC_END` deletes what carries a stamp older than the mark. A session dropped before
//! `RESYNC_END` simply forgets its mark, so a stream that fails mid-resync deletes nothing.

use std::sync::Arc;

use super::Inventory;
use super::shard::UpsertOutcome;
use crate::domain::{DaemonPod, Node, PodKey};

/// The resync marker a batch carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResyncMark {
    #[default]
    None,
    Begin,
    End,
}

/// The valid items of one batch, in the order they are applied: node upserts, node
/// deletes, pod upserts, pod deletes.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub upsert_nodes: Vec<Node>,
    pub delete_nodes: Vec<String>,
    pub upsert_pods: Vec<DaemonPod>,
    pub delete_pods: Vec<PodKey>,
    pub resync: ResyncMark,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.upsert_nodes.len()
            + self.delete_nodes.len()
            + self.upsert_pods.len()
            + self.delete_pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a batch did; `revision` is the inventory revision after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub revision: u64,
    pub applied: u32,
    pub unchanged: u32,
    pub stale: u32,
    pub swept: u32,
}

impl BatchOutcome {
    fn count(&mut self, outcome: UpsertOutcome) {
        match outcome {
            UpsertOutcome::Applied => self.applied += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
            UpsertOutcome::Stale => self.stale += 1,
        }
    }

    fn count_delete(&mut self, existed: bool) {
        if existed {
            self.applied += 1;
        } else {
            self.unchanged += 1;
        }
    }
}

/// A protocol misuse within a stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("RESYNC_END without an open RESYNC_BEGIN on this stream")]
    EndWithoutBegin,
}

/// One writer stream's state.
pub struct SyncSession {
    inventory: Arc<Inventory>,
    /// The seen-clock mark of this stream's open resync.
    resync_mark: Option<u64>,
}

impl SyncSession {
    pub fn new(inventory: Arc<Inventory>) -> Self {
        SyncSession {
            inventory,
            resync_mark: None,
        }
    }

    pub fn in_resync(&self) -> bool {
        self.resync_mark.is_some()
    }

    /// Applies one batch. A protocol error is detected before anything is applied.
    pub fn apply(&mut self, batch: &Batch) -> Result<BatchOutcome, SyncError> {
        if batch.resync == ResyncMark::End && self.resync_mark.is_none() {
            return Err(SyncError::EndWithoutBegin);
        }
        let inv = &self.inventory;
        if batch.resync == ResyncMark::Begin {
            self.resync_mark = Some(inv.begin_resync());
        }
        let mut out = BatchOutcome::default();
        for outcome in inv.upsert_nodes(&batch.upsert_nodes) {
            out.count(outcome);
        }
        for name in &batch.delete_nodes {
            out.count_delete(inv.delete_node(name));
        }
        for pod in &batch.upsert_pods {
            out.count(inv.upsert_pod(pod));
        }
        for key in &batch.delete_pods {
            out.count_delete(inv.delete_pod(key));
        }
        if batch.resync == ResyncMark::End
            && let Some(mark) = self.resync_mark.take()
        {
            out.swept = u32::try_from(inv.sweep(mark)).unwrap_or(u32::MAX);
        }
        out.revision = inv.revision();
        Ok(out)
    }
}
