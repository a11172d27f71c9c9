//! Reports in ghz's JSON shape, so dashboards and scripts built for ghz read ours too, and
//! the text summary ghz prints.
//!
//! The shape is ghz's `runner.Report`: durations are Go `time.Duration`s, that is integer
//! nanoseconds; status codes are spelled as Go's `codes.Code.String()` spells them (`OK`,
//! `Unavailable`, …); `latencyDistribution` has ghz's percentages (10 … 99) and `histogram`
//! ten buckets between the fastest and the slowest request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::driver::{Outcome, quantile};

/// ghz's percentages in `latencyDistribution`.
pub const PERCENTAGES: [u32; 7] = [10, 25, 50, 75, 90, 95, 99];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyDistribution {
    pub percentage: u32,
    /// Nanoseconds.
    pub latency: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound of the bucket in seconds.
    pub mark: f64,
    pub count: u64,
    /// Fraction of all requests, 0 to 1.
    pub frequency: f64,
}

/// ghz's report. Fields beyond ghz's (none are required by it) go in `tags`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GhzReport {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub name: String,
    #[serde(rename = "endReason")]
    pub end_reason: String,
    /// RFC 3339.
    pub date: String,
    pub options: serde_json::Value,
    pub count: u64,
    /// Nanoseconds, the whole run.
    pub total: u64,
    pub average: u64,
    pub fastest: u64,
    pub slowest: u64,
    pub rps: f64,
    #[serde(rename = "errorDistribution")]
    pub error_distribution: BTreeMap<String, u64>,
    #[serde(rename = "statusCodeDistribution")]
    pub status_code_distribution: BTreeMap<String, u64>,
    #[serde(rename = "latencyDistribution")]
    pub latency_distribution: Vec<LatencyDistribution>,
    pub histogram: Vec<Bucket>,
    /// Per-request details are not kept (ghz fills them only on request either).
    pub details: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
}

/// Go's spelling of a status code (`codes.Code.String()`).
pub fn go_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl GhzReport {
    /// The report of `outcome`; `end_reason` as ghz spells it (`normal`, `timeout`, …).
    pub fn new(
        name: &str,
        date: String,
        options: serde_json::Value,
        outcome: &Outcome,
        end_reason: &str,
    ) -> Self {
        let latencies = outcome.sorted_latencies();
        let count = latencies.len() as u64;
        let fastest = latencies.first().copied().unwrap_or_default();
        let slowest = latencies.last().copied().unwrap_or_default();
        let sum: u128 = latencies.iter().map(Duration::as_nanos).sum();
        let average = if count > 0 {
            (sum / u128::from(count)) as u64
        } else {
            0
        };
        let mut error_distribution = BTreeMap::new();
        let mut status_code_distribution = BTreeMap::new();
        for s in &outcome.samples {
            *status_code_distribution
                .entry(go_code_name(s.code).to_owned())
                .or_insert(0) += 1;
            if let Some(e) = &s.error {
                // ghz keys errors by the error's text: "rpc error: code = … desc = …".
                let key = format!("rpc error: code = {} desc = {e}", go_code_name(s.code));
                *error_distribution.entry(key).or_insert(0) += 1;
            }
        }
        GhzReport {
            name: name.to_owned(),
            end_reason: end_reason.to_owned(),
            date,
            options,
            count,
            total: nanos(outcome.elapsed),
            average,
            fastest: nanos(fastest),
            slowest: nanos(slowest),
            rps: outcome.rps(),
            error_distribution,
            status_code_distribution,
            latency_distribution: PERCENTAGES
                .iter()
                .map(|&p| LatencyDistribution {
                    percentage: p,
                    latency: nanos(quantile(&latencies, f64::from(p) / 100.0)),
                })
                .collect(),
            histogram: histogram(&latencies),
            details: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// The latency at `percentage` (one of [`PERCENTAGES`]).
    pub fn percentile(&self, percentage: u32) -> Duration {
        self.latency_distribution
            .iter()
            .find(|l| l.percentage == percentage)
            .map_or(Duration::ZERO, |l| Duration::from_nanos(l.latency))
    }

    /// Requests that did not end `OK`.
    pub fn errors(&self) -> u64 {
        self.status_code_distribution
            .iter()
            .filter(|(code, _)| *code != "OK")
            .map(|(_, n)| n)
            .sum()
    }

    /// The text summary, laid out as ghz lays out its own.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let d = |n: u64| fmt_duration(Duration::from_nanos(n));
        let _ = writeln!(out, "\nSummary:");
        if !self.name.is_empty() {
            let _ = writeln!(out, "  Name:\t{}", self.name);
        }
        let _ = writeln!(out, "  Count:\t{}", self.count);
        let _ = writeln!(out, "  Total:\t{}", d(self.total));
        let _ = writeln!(out, "  Slowest:\t{}", d(self.slowest));
        let _ = writeln!(out, "  Fastest:\t{}", d(self.fastest));
        let _ = writeln!(out, "  Average:\t{}", d(self.average));
        let _ = writeln!(out, "  Requests/sec:\t{:.2}", self.rps);
        let _ = writeln!(out, "\nLatency distribution:");
        for l in &self.latency_distribution {
            let _ = writeln!(out, "  {} % in {} ", l.percentage, d(l.latency));
        }
        let _ = writeln!(out, "\nStatus code distribution:");
        for (code, n) in &self.status_code_distribution {
            let _ = writeln!(out, "  [{code}]\t{n} responses");
        }
        if !self.error_distribution.is_empty() {
            let _ = writeln!(out, "\nError distribution:");
            for (error, n) in &self.error_distribution {
                let _ = writeln!(out, "  [{n}]\t{error}");
            }
        }
        out
    }
}

/// Ten buckets from the fastest to the slowest latency; each counts the latencies above the
/// previous mark up to its own.
fn histogram(sorted: &[Duration]) -> Vec<Bucket> {
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let (fastest, slowest) = (first.as_secs_f64(), last.as_secs_f64());
    let step = (slowest - fastest) / 10.0;
    let marks: Vec<f64> = (0..=10).map(|i| fastest + step * f64::from(i)).collect();
    let mut counts = vec![0u64; marks.len()];
    let mut bucket = 0;
    for l in sorted {
        let l = l.as_secs_f64();
        while bucket + 1 < marks.len() && l > marks[bucket] {
            bucket += 1;
        }
        counts[bucket] += 1;
    }
    let total = sorted.len() as f64;
    marks
        .into_iter()
        .zip(counts)
        .map(|(mark, count)| Bucket {
            mark,
            count,
            frequency: count as f64 / total,
        })
        .collect()
}

/// `1.23 ms`, `45.60 µs`, `2.01 s`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Sample;
    use std::sync::Arc;

    fn outcome() -> Outcome {
        let mut samples: Vec<Sample> = (1..=99)
            .map(|ms| Sample {
                at: Duration::from_millis(10 * ms),
                latency: Duration::from_millis(ms),
                code: Code::Ok,
                error: None,
            })
            .collect();
        samples.push(Sample {
            at: Duration::from_millis(1_000),
            latency: Duration::from_millis(100),
            code: Code::Unavailable,
            error: Some(Arc::from("overloaded")),
        });
        Outcome {
            samples,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_report_has_ghz_fields_and_units() {
        let report = GhzReport::new(
            "t",
            "2026-11-27T00:00:00Z".into(),
            serde_json::json!({}),
            &outcome(),
            "normal",
        );
        let json = serde_json::to_value(&report).expect("serializes");
        for key in [
            "date",
            "endReason",
            "options",
            "count",
            "total",
            "average",
            "fastest",
            "slowest",
            "rps",
            "errorDistribution",
            "statusCodeDistribution",
            "latencyDistribution",
            "histogram",
            "details",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["count"], 100);
        assert_eq!(json["total"], 1_000_000_000u64);
        assert_eq!(json["fastest"], 1_000_000u64);
        assert_eq!(json["slowest"], 100_000_000u64);
        assert_eq!(json["average"], 50_500_000u64);
        assert_eq!(json["rps"], 100.0);
        assert_eq!(json["statusCodeDistribution"]["OK"], 99);
        assert_eq!(json["statusCodeDistribution"]["Unavailable"], 1);
        assert_eq!(
            json["errorDistribution"]["rpc error: code = Unavailable desc = overloaded"],
            1
        );
        assert_eq!(report.percentile(50), Duration::from_millis(50));
        assert_eq!(report.percentile(99), Duration::from_millis(99));
        assert_eq!(report.errors(), 1);
        let buckets: u64 = report.histogram.iter().map(|b| b.count).sum();
        assert_eq!(buckets, 100);
        assert_eq!(report.histogram.len(), 11);
        let back: GhzReport = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, report);
        assert!(report.summary().contains("[Unavailable]\t1 responses"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let report = GhzReport::new(
            "",
            String::new(),
            serde_json::Value::Null,
            &Outcome::default(),
            "normal",
        );
        assert_eq!((report.count, report.average, report.rps), (0, 0, 0.0));
        assert!(report.histogram.is_empty());
    }
}
