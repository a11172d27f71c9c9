//! The server's own CPU and resident memory, read from the `process_*` series of its
//! Prometheus endpoint, so a report can say what the load cost the server without access to
//! its host.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// One scrape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerSample {
    /// Since the sampler started.
    pub at: Duration,
    pub resident_bytes: f64,
    pub cpu_seconds: f64,
    pub nodes: f64,
}

/// The value of the first sample of `series` (no labels) in Prometheus text.
pub fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Scrapes `url` once; the sample's `at` is measured from `since`.
pub async fn scrape(
    client: &reqwest::Client,
    url: &str,
    since: Instant,
) -> anyhow::Result<ServerSample> {
    let at = since.elapsed();
    let text = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let get =
        |s: &str| series_value(&text, s).ok_or_else(|| anyhow::anyhow!("{url} has no {s} series"));
    Ok(ServerSample {
        at,
        resident_bytes: get("process_resident_memory_bytes")?,
        cpu_seconds: get("process_cpu_seconds_total")?,
        nodes: get("dsched_inventory_nodes").unwrap_or(0.0),
    })
}

/// Scrapes `url` every `every` until `stop` turns true, printing a line per scrape to
/// stderr; returns the samples.
pub async fn sample(
    url: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<ServerSample>> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        let sample = scrape(&client, &url, start).await?;
        if let Some(previous) = samples.last() {
            eprintln!(
                "  {:>6.0} s  server: {:.1} MiB resident, {:.2} cores, {} nodes",
                sample.at.as_secs_f64(),
                sample.resident_bytes / f64::from(1 << 20),
                cpu_cores(previous, &sample),
                sample.nodes
            );
        }
        samples.push(sample);
        if *stop.borrow() {
            return Ok(samples);
        }
    }
}

/// CPU use between two samples, in cores (1.0 = one core busy).
pub fn cpu_cores(from: &ServerSample, to: &ServerSample) -> f64 {
    let dt = (to.at - from.at).as_secs_f64();
    if dt > 0.0 {
        (to.cpu_seconds - from.cpu_seconds) / dt
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unlabelled_series_only() {
        let text = "# TYPE process_resident_memory_bytes gauge\n\
                    process_resident_memory_bytes_other 1\n\
                    process_resident_memory_bytes 123456\n\
                    dsched_grpc_requests_total{method=\"x\"} 3\n";
        assert_eq!(
            series_value(text, "process_resident_memory_bytes"),
            Some(123456.0)
        );
        assert_eq!(series_value(text, "dsched_grpc_requests_total"), None);
        assert_eq!(series_value(text, "absent"), None);
    }

    #[test]
    fn cpu_is_seconds_per_second() {
        let a = ServerSample {
            at: Duration::from_secs(1),
            resident_bytes: 0.0,
            cpu_seconds: 10.0,
            nodes: 0.0,
        };
        let b = ServerSample {
            at: Duration::from_secs(3),
            cpu_seconds: 13.0,
            ..a
        };
        assert_eq!(cpu_cores(&a, &b), 1.5);
    }
}
