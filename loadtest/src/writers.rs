//! Writers that churn the inventory over `Inventory.Sync` while queries run, as a fleet of
//! controllers would: each writer owns a share of the nodes and sends batches of changed
//! nodes (label values, requests, taints, cordons, via `dsched::fleet::churn`) with rising
//! generations; an optional resyncer relists the whole inventory — every node as last sent
//! and every seeded pod — as one resync on its own stream.
//!
//! Since every node and pod is relisted, a resync must sweep nothing: a swept item is
//! counted as an error, so the soak run checks the mark-and-sweep under concurrent writers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsched::domain::Node;
use dsched::fleet::{self, Rng};
use dsched::grpc::pb;
use tokio::sync::watch;
use tonic::Code;
use tonic::transport::Channel;

use crate::driver::{Outcome, Sample};
use crate::sync_stream::SyncStream;

/// How the writers behave.
#[derive(Clone, Debug)]
pub struct WriteSpec {
    pub writers: usize,
    /// Node upserts per second over all writers; `None` (or a rate that is not a positive
    /// number) is as fast as acknowledgements come.
    pub rate: Option<f64>,
    /// Nodes per batch.
    pub batch: usize,
    /// Batches in flight per stream.
    pub window: usize,
    /// A full relist this often; `None` is never.
    pub resync_every: Option<Duration>,
    pub seed: u64,
}

/// The inventory as the writers last sent it.
#[derive(Debug)]
pub struct WriterFleet {
    nodes: Vec<Mutex<Node>>,
    pods: Vec<pb::DaemonPod>,
}

impl WriterFleet {
    /// The writers' generations start at the current time in microseconds: the server keeps
    /// the highest generation it has seen for a node (seeding again with generation 0 does
    /// not lower it), so a later run must count on from above an earlier one's.
    pub fn new(nodes: Vec<Node>, pods: Vec<pb::DaemonPod>) -> Self {
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64);
        WriterFleet {
            nodes: nodes
                .into_iter()
                .map(|mut node| {
                    node.generation = base;
                    Mutex::new(node)
                })
                .collect(),
            pods,
        }
    }

    fn snapshot(&self, i: usize) -> pb::Node {
        let node = self.nodes[i].lock().unwrap_or_else(|e| e.into_inner());
        fleet::to_pb(&node)
    }
}

/// What the writers did: one sample per acknowledged batch (its send-to-ack latency), a
/// failed sample per stream error or non-empty sweep, and totals.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub batches: Outcome,
    pub nodes_sent: u64,
    pub applied: u64,
    pub stale: u64,
    pub rejected: u64,
    pub resyncs: u64,
    pub swept: u64,
}

/// Runs the writers on `channel` until `stop` turns true.
pub async fn run(
    channel: Channel,
    fleet: Arc<WriterFleet>,
    spec: WriteSpec,
    stop: watch::Receiver<bool>,
) -> WriteOutcome {
    let start = Instant::now();
    let mut tasks = Vec::new();
    let writers = spec.writers.max(1);
    for w in 0..writers {
        let owned: Arc<[usize]> = (w..fleet.nodes.len()).step_by(writers).collect();
        if owned.is_empty() {
            continue;
        }
        tasks.push(tokio::spawn(churn_writer(
            channel.clone(),
            fleet.clone(),
            owned,
            spec.clone(),
            Rng::for_item(spec.seed, w as u64),
            start,
            stop.clone(),
        )));
    }
    if let Some(every) = spec.resync_every {
        tasks.push(tokio::spawn(resyncer(
            channel.clone(),
            fleet.clone(),
            spec.clone(),
            every,
            start,
            stop.clone(),
        )));
    }
    let mut total = WriteOutcome::default();
    for task in tasks {
        if let Ok(part) = task.await {
            total.batches.samples.extend(part.batches.samples);
            total.nodes_sent += part.nodes_sent;
            total.applied += part.applied;
            total.stale += part.stale;
            total.rejected += part.rejected;
            total.resyncs += part.resyncs;
            total.swept += part.swept;
        }
    }
    total.batches.samples.sort_unstable_by_key(|s| s.at);
    total.batches.elapsed = start.elapsed();
    total
}

/// A stream that failed: one failed sample with the call's status.
fn failure(start: Instant, status: &tonic::Status) -> Sample {
    Sample {
        at: start.elapsed(),
        latency: Duration::ZERO,
        code: status.code(),
        error: Some(Arc::from(status.message())),
    }
}

fn count(out: &mut WriteOutcome, start: Instant, acks: Vec<crate::sync_stream::Ack>) {
    for ack in acks {
        let r = &ack.response;
        out.applied += u64::from(r.applied);
        out.stale += u64::from(r.stale);
        out.rejected += r.rejected.len() as u64;
        out.swept += u64::from(r.swept);
        let (code, error) = if let Some(rej) = r.rejected.first() {
            (
                Code::InvalidArgument,
                Some(Arc::from(format!("rejected {}: {}", rej.field, rej.reason))),
            )
        } else if r.swept > 0 {
            (
                Code::Internal,
                Some(Arc::from(format!(
                    "a resync swept {} items that were listed",
                    r.swept
                ))),
            )
        } else {
            (Code::Ok, None)
        };
        out.batches.samples.push(Sample {
            at: start.elapsed(),
            latency: ack.latency,
            code,
            error,
        });
    }
}

async fn churn_writer(
    channel: Channel,
    fleet: Arc<WriterFleet>,
    owned: Arc<[usize]>,
    spec: WriteSpec,
    mut rng: Rng,
    start: Instant,
    stop: watch::Receiver<bool>,
) -> WriteOutcome {
    let mut out = WriteOutcome::default();
    let batch = spec.batch.max(1).min(owned.len());
    // Seconds between this writer's batches at its share of the rate.
    let pace = spec
        .rate
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .map(|rate| Duration::from_secs_f64(batch as f64 * spec.writers.max(1) as f64 / rate));
    let mut stream = match SyncStream::open(channel, spec.window).await {
        Ok(s) => s,
        Err(status) => {
            out.batches.samples.push(failure(start, &status));
            return out;
        }
    };
    let mut next = Instant::now();
    while !*stop.borrow() {
        if let Some(pace) = pace {
            tokio::time::sleep_until(next.into()).await;
            next += pace;
        }
        // Building a batch is CPU work (churn and conversion of `batch` nodes): it runs on
        // the blocking pool so the query workers of the same process never wait behind it.
        let (upsert_nodes, returned) = {
            let fleet = fleet.clone();
            let owned = owned.clone();
            match tokio::task::spawn_blocking(move || {
                let nodes: Vec<pb::Node> = (0..batch)
                    .map(|_| {
                        let i = owned[rng.below(owned.len() as u64) as usize];
                        let mut node = fleet.nodes[i].lock().unwrap_or_else(|e| e.into_inner());
                        fleet::churn(&mut node, &mut rng);
                        fleet::to_pb(&node)
                    })
                    .collect();
                (nodes, rng)
            })
            .await
            {
                Ok(built) => built,
                Err(_) => return out,
            }
        };
        rng = returned;
        out.nodes_sent += upsert_nodes.len() as u64;
        match stream
            .send(pb::SyncRequest {
                upsert_nodes,
                ..pb::SyncRequest::default()
            })
            .await
        {
            Ok(acks) => count(&mut out, start, acks),
            Err(status) => {
                out.batches.samples.push(failure(start, &status));
                return out;
            }
        }
    }
    match stream.close().await {
        Ok(acks) => count(&mut out, start, acks),
        Err(status) => out.batches.samples.push(failure(start, &status)),
    }
    out
}

async fn resyncer(
    channel: Channel,
    fleet: Arc<WriterFleet>,
    spec: WriteSpec,
    every: Duration,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> WriteOutcome {
    let mut out = WriteOutcome::default();
    let batch = spec.batch.max(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return out,
        }
        if *stop.borrow() {
            return out;
        }
        let result = async {
            let listing = fleet.clone();
            let requests = tokio::task::spawn_blocking(move || {
                let nodes: Vec<usize> = (0..listing.nodes.len()).collect();
                crate::seed::resync_requests(
                    nodes
                        .chunks(batch)
                        .map(|chunk| chunk.iter().map(|&i| listing.snapshot(i)).collect()),
                    &listing.pods,
                    batch,
                )
            })
            .await
            .map_err(|e| tonic::Status::internal(format!("building the listing: {e}")))?;
            let mut stream = SyncStream::open(channel.clone(), spec.window).await?;
            for request in requests {
                let acks = stream.send(request).await?;
                count(&mut out, start, acks);
            }
            let acks = stream.close().await?;
            count(&mut out, start, acks);
            Ok::<(), tonic::Status>(())
        }
        .await;
        out.nodes_sent += fleet.nodes.len() as u64;
        match result {
            Ok(()) => out.resyncs += 1,
            Err(status) => {
                out.batches.samples.push(failure(start, &status));
                return out;
            }
        }
    }
}
