//! One `Inventory.Sync` stream with a window of unacknowledged batches.
//!
//! The server acknowledges batches in order, so the oldest batch in flight is always the one
//! the next response answers; keeping a few batches in flight hides the round trip the way a
//! real controller's writer would.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dsched::grpc::pb;
use dsched::grpc::pb::inventory_client::InventoryClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

use crate::MAX_MESSAGE_BYTES;

/// An acknowledgement and how long its batch took from send to ack.
#[derive(Clone, Debug)]
pub struct Ack {
    pub response: pb::SyncResponse,
    pub latency: Duration,
}

/// A `Sync` stream; dropping it closes the stream (which, mid-resync, sweeps nothing).
///
/// A reader task takes each acknowledgement off the wire as it arrives and stamps it, so a
/// batch's latency is its real send-to-ack time even while the writer is pacing itself and
/// not yet asking for acknowledgements.
pub struct SyncStream {
    tx: Option<mpsc::Sender<pb::SyncRequest>>,
    acks: mpsc::UnboundedReceiver<Result<(pb::SyncResponse, Instant), Status>>,
    in_flight: VecDeque<(u64, Instant)>,
    next_id: u64,
    window: usize,
}

impl std::fmt::Debug for SyncStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncStream")
            .field("in_flight", &self.in_flight.len())
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl SyncStream {
    /// Opens a stream with at most `window` (at least 1) unacknowledged batches.
    pub async fn open(channel: Channel, window: usize) -> Result<Self, Status> {
        let mut client = InventoryClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let window = window.max(1);
        let (tx, rx) = mpsc::channel(window);
        let responses = client.sync(ReceiverStream::new(rx)).await?.into_inner();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        tokio::spawn(read_acks(responses, ack_tx));
        Ok(SyncStream {
            tx: Some(tx),
            acks,
            in_flight: VecDeque::new(),
            next_id: 1,
            window,
        })
    }

    /// Sends `request` (its `batch_id` is assigned here). When the window is full, first
    /// waits for the oldest acknowledgement; returns the acknowledgements received so far.
    pub async fn send(&mut self, mut request: pb::SyncRequest) -> Result<Vec<Ack>, Status> {
        let mut acks = self.ready()?;
        while self.in_flight.len() >= self.window {
            acks.push(self.recv().await?);
        }
        request.batch_id = self.next_id;
        self.next_id += 1;
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Status::failed_precondition("the stream was closed"))?;
        self.in_flight.push_back((request.batch_id, Instant::now()));
        if tx.send(request).await.is_err() {
            // The request stream is gone: the server ended the call; its status says why.
            return Err(self
                .recv()
                .await
                .err()
                .unwrap_or_else(|| Status::unavailable("the server closed the Sync stream")));
        }
        Ok(acks)
    }

    /// Waits for every batch in flight.
    pub async fn flush(&mut self) -> Result<Vec<Ack>, Status> {
        let mut acks = Vec::new();
        while !self.in_flight.is_empty() {
            acks.push(self.recv().await?);
        }
        Ok(acks)
    }

    /// Ends the request stream and waits for the server to finish the call cleanly.
    pub async fn close(mut self) -> Result<Vec<Ack>, Status> {
        let acks = self.flush().await?;
        self.tx = None;
        // The reader ends when the response stream does; an error after the last ack is the
        // call's status.
        if let Some(next) = self.acks.recv().await {
            let (response, _) = next?;
            return Err(Status::internal(format!(
                "an acknowledgement for no batch ({})",
                response.batch_id
            )));
        }
        Ok(acks)
    }

    /// The acknowledgements that have already arrived, without waiting.
    fn ready(&mut self) -> Result<Vec<Ack>, Status> {
        let mut acks = Vec::new();
        while !self.in_flight.is_empty() {
            match self.acks.try_recv() {
                Ok(next) => acks.push(self.match_ack(next)?),
                Err(_) => break,
            }
        }
        Ok(acks)
    }

    async fn recv(&mut self) -> Result<Ack, Status> {
        let next = self
            .acks
            .recv()
            .await
            .ok_or_else(|| Status::unavailable("the server ended the Sync stream"))?;
        self.match_ack(next)
    }

    fn match_ack(
        &mut self,
        next: Result<(pb::SyncResponse, Instant), Status>,
    ) -> Result<Ack, Status> {
        let (response, arrived) = next?;
        let (id, sent) = self
            .in_flight
            .pop_front()
            .ok_or_else(|| Status::internal("an acknowledgement for no batch"))?;
        if response.batch_id != id {
            return Err(Status::internal(format!(
                "acknowledgement out of order: expected batch {id}, got {}",
                response.batch_id
            )));
        }
        Ok(Ack {
            response,
            latency: arrived.saturating_duration_since(sent),
        })
    }
}

/// Forwards each acknowledgement with its arrival time, then the call's error if any.
async fn read_acks(
    mut responses: Streaming<pb::SyncResponse>,
    acks: mpsc::UnboundedSender<Result<(pb::SyncResponse, Instant), Status>>,
) {
    loop {
        let next = match responses.message().await {
            Ok(Some(response)) => Ok((response, Instant::now())),
            Ok(None) => return,
            Err(status) => Err(status),
        };
        let failed = next.is_err();
        if acks.send(next).is_err() || failed {
            return;
        }
    }
}
