//! The load driver: closed loop (a fixed number of workers, each sending its next request as
//! soon as the last one answered) or open loop (requests start on a fixed schedule).
//!
//! In the open loop a request that starts late because every worker was busy has its latency
//! measured from the moment the schedule said it should start, not from when a free worker
//! got to it: if the server falls behind, the queueing shows in the percentiles instead of
//! silently lowering the rate (the "coordinated omission" of closed-loop tools).
//! `concurrency` then bounds the requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::Channel;

use crate::scenario::{Caller, Scenario};

/// How much load, and how it is shaped.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Workers (closed loop) or the bound on requests in flight (open loop).
    pub concurrency: usize,
    /// Stop after this many requests…
    pub total: Option<u64>,
    /// …or after this long, whichever comes first (at least one must be set).
    pub duration: Option<Duration>,
    /// Open loop at this many requests per second; `None` (or a rate that is not a positive
    /// number) is closed loop.
    pub rps: Option<f64>,
    /// Per-request deadline; a request that exceeds it counts as `DeadlineExceeded`.
    pub timeout: Duration,
    /// Print a progress line (requests and errors in the last interval) this often while
    /// the run lasts; the full per-window figures come with the report.
    pub progress: Option<Duration>,
}

impl LoadSpec {
    pub fn closed(concurrency: usize, total: u64) -> Self {
        LoadSpec {
            concurrency,
            total: Some(total),
            duration: None,
            rps: None,
            timeout: Duration::from_secs(20),
            progress: None,
        }
    }
}

/// One finished request.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it finished, from the start of the run.
    pub at: Duration,
    pub latency: Duration,
    pub code: Code,
    /// The status message of a failed request.
    pub error: Option<Arc<str>>,
}

/// Everything a run observed.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Ordered by completion.
    pub samples: Vec<Sample>,
    /// From the first request's start to the last one's end.
    pub elapsed: Duration,
}

impl Outcome {
    pub fn count(&self) -> usize {
        self.samples.len()
    }

    pub fn errors(&self) -> usize {
        self.samples.iter().filter(|s| s.code != Code::Ok).count()
    }

    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.count() as f64 / secs
        } else {
            0.0
        }
    }

    /// Latencies in ascending order.
    pub fn sorted_latencies(&self) -> Vec<Duration> {
        let mut l: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        l.sort_unstable();
        l
    }

    /// The run cut into consecutive windows of `width` (by completion time).
    pub fn windows(&self, width: Duration) -> Vec<Window> {
        let width = width.max(Duration::from_millis(1));
        let mut windows: Vec<Window> = Vec::new();
        let mut latencies: Vec<Duration> = Vec::new();
        let mut errors = 0;
        let mut index = 0u32;
        let mut flush = |index: u32, latencies: &mut Vec<Duration>, errors: &mut usize| {
            latencies.sort_unstable();
            windows.push(Window {
                start: width * index,
                width,
                count: latencies.len(),
                errors: *errors,
                p50: quantile(latencies, 0.50),
                p99: quantile(latencies, 0.99),
            });
            latencies.clear();
            *errors = 0;
        };
        for s in &self.samples {
            let w = (s.at.as_nanos() / width.as_nanos()) as u32;
            while w > index {
                flush(index, &mut latencies, &mut errors);
                index += 1;
            }
            latencies.push(s.latency);
            if s.code != Code::Ok {
                errors += 1;
            }
        }
        if !latencies.is_empty() {
            flush(index, &mut latencies, &mut errors);
        }
        windows
    }
}

/// A slice of a run.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: Duration,
    pub width: Duration,
    pub count: usize,
    pub errors: usize,
    pub p50: Duration,
    pub p99: Duration,
}

impl Window {
    pub fn rps(&self) -> f64 {
        self.count as f64 / self.width.as_secs_f64()
    }
}

/// The `q` quantile of ascending `sorted` (nearest rank); zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `scenario` against `channels` (workers are spread over them round-robin).
pub async fn run(
    channels: &[Channel],
    scenario: Scenario,
    names: Arc<[String]>,
    load: &LoadSpec,
) -> Outcome {
    assert!(!channels.is_empty(), "at least one channel");
    assert!(
        load.total.is_some() || load.duration.is_some(),
        "a total or a duration"
    );
    let load = &LoadSpec {
        rps: load.rps.filter(|r| r.is_finite() && *r > 0.0),
        ..load.clone()
    };
    let next = Arc::new(AtomicU64::new(0));
    // Finished and failed requests so far, for the progress lines.
    let finished = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let start = Instant::now();
    let reporter = load.progress.map(|every| {
        let finished = finished.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((start + every).into(), every);
            let (mut done_before, mut failed_before) = (0, 0);
            loop {
                tick.tick().await;
                let (done, failed) = (
                    finished.0.load(Ordering::Relaxed),
                    finished.1.load(Ordering::Relaxed),
                );
                eprintln!(
                    "  {:>6.0} s  {:>8.0} req/s  {} errors",
                    start.elapsed().as_secs_f64(),
                    (done - done_before) as f64 / every.as_secs_f64(),
                    failed - failed_before
                );
                (done_before, failed_before) = (done, failed);
            }
        })
    });
    let deadline = load.duration.map(|d| start + d);
    let mut workers = Vec::with_capacity(load.concurrency.max(1));
    for w in 0..load.concurrency.max(1) {
        let mut caller = Caller::new(
            scenario,
            channels[w % channels.len()].clone(),
            names.clone(),
        );
        let next = next.clone();
        let finished = finished.clone();
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if load.total.is_some_and(|t| i >= t) {
                    break;
                }
                let planned = match load.rps {
                    Some(rps) => start + Duration::from_secs_f64(i as f64 / rps),
                    None => Instant::now(),
                };
                if deadline.is_some_and(|d| planned >= d) {
                    break;
                }
                // A worker that is early sleeps, and its request starts when it wakes (the
                // timer's millisecond granularity is the generator's, not the server's). A
                // worker that is late — every worker was busy — counts from the planned
                // start, so queueing behind a slow server shows in the latency.
                let planned = if Instant::now() < planned {
                    tokio::time::sleep_until(planned.into()).await;
                    Instant::now()
                } else {
                    planned
                };
                let result = tokio::time::timeout(load.timeout, caller.call(i)).await;
                let done = Instant::now();
                let (code, error) = match result {
                    Ok(Ok(())) => (Code::Ok, None),
                    Ok(Err(status)) => (status.code(), Some(Arc::from(status.message()))),
                    Err(_) => (
                        Code::DeadlineExceeded,
                        Some(Arc::from("the load generator's timeout elapsed")),
                    ),
                };
                finished.0.fetch_add(1, Ordering::Relaxed);
                if code != Code::Ok {
                    finished.1.fetch_add(1, Ordering::Relaxed);
                }
                samples.push(Sample {
                    at: done - start,
                    latency: done - planned,
                    code,
                    error,
                });
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        if let Ok(mut s) = worker.await {
            samples.append(&mut s);
        }
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    samples.sort_unstable_by_key(|s| s.at);
    let elapsed = samples.last().map_or(Duration::ZERO, |s| s.at);
    Outcome { samples, elapsed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_ms: u64, code: Code) -> Sample {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            code,
            error: None,
        }
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let l: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&l, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&l, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&l, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&l[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn windows_split_by_completion_time_and_keep_empty_ones() {
        let outcome = Outcome {
            samples: vec![
                sample(100, 1, Code::Ok),
                sample(900, 3, Code::Unavailable),
                sample(2_500, 2, Code::Ok),
            ],
            elapsed: Duration::from_millis(2_500),
        };
        let w = outcome.windows(Duration::from_secs(1));
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].count, w[0].errors), (2, 1));
        assert_eq!(w[0].p99, Duration::from_millis(3));
        assert_eq!((w[1].count, w[1].errors), (0, 0));
        assert_eq!((w[2].count, w[2].p50), (1, Duration::from_millis(2)));
        assert_eq!(outcome.errors(), 1);
        assert!((outcome.rps() - 1.2).abs() < 1e-9);
    }
}
