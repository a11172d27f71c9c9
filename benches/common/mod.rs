//! What the table benchmarks share: the goal table they print, timing and statistics
//! helpers, number formats, and an in-process server on 127.0.0.1:0. Each benchmark
//! includes this module (`mod common;`) and uses its own subset.

#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use dsched::config::ServeArgs;
use dsched::local_server::LocalServer;
use tonic::transport::Channel;

/// The closing table: one row per figure, with its goal and whether it is met.
#[derive(Default)]
pub struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    /// `met`: `Some` for a judged goal; `None` for a diagnostic (a goal in parentheses) or a
    /// goal not judged at this size.
    pub fn row(&mut self, figure: &str, value: String, goal: &str, met: Option<bool>) {
        let met = match (met, goal.starts_with('(')) {
            (Some(true), _) => "met",
            (Some(false), _) => "NOT MET",
            (None, true) => "",
            (None, false) => "(not judged at this size)",
        };
        self.rows
            .push([figure.to_owned(), value, goal.to_owned(), met.to_owned()]);
    }

    /// Prints the rows as a Markdown table, values right-aligned.
    pub fn print(&self) {
        let head = ["figure", "value", "goal", ""];
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        };
        let w = [width(0), width(1), width(2), width(3)];
        let line = |r: &[&str; 4]| {
            println!(
                "| {:<a$} | {:>b$} | {:<c$} | {:<d$} |",
                r[0],
                r[1],
                r[2],
                r[3],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3]
            );
        };
        println!();
        line(&head);
        println!(
            "|{}|{}:|{}|{}|",
            "-".repeat(w[0] + 2),
            "-".repeat(w[1] + 1),
            "-".repeat(w[2] + 2),
            "-".repeat(w[3] + 2)
        );
        for r in &self.rows {
            line(&[&r[0], &r[1], &r[2], &r[3]]);
        }
    }
}

/// The value of `flag` as a positive whole number (`_` separators allowed); exits with
/// `usage` otherwise.
pub fn positive(flag: &str, value: Option<String>, usage: &str) -> usize {
    match value
        .as_deref()
        .map(|v| v.replace('_', "").parse::<usize>())
    {
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("{flag} needs a positive whole number\n{usage}");
            std::process::exit(2);
        }
    }
}

/// `12×`, `1.2×`, `0.74×`: enough digits to tell a loss from a tie.
pub fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 1.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// Seconds `f` took, and its result (kept from being optimized away).
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let started = Instant::now();
    let out = black_box(f());
    (started.elapsed().as_secs_f64(), out)
}

/// The `q` quantile (nearest rank) of `xs`; NaN when empty.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub fn median(xs: &[f64]) -> f64 {
    quantile(xs, 0.5)
}

pub fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(0.0, f64::max)
}

/// `1.23 s` or `456 ms`.
pub fn secs(t: f64) -> String {
    if t >= 1.0 {
        format!("{t:.2} s")
    } else {
        format!("{:.0} ms", t * 1e3)
    }
}

/// `12.3 ms`, or `3.421 ms` below 10 ms.
pub fn ms(t: f64) -> String {
    if t >= 0.01 {
        format!("{:.1} ms", t * 1e3)
    } else {
        format!("{:.3} ms", t * 1e3)
    }
}

/// `1.23 ms` from a millisecond up, else `45.6 µs`.
pub fn us(t: f64) -> String {
    if t >= 1e-3 {
        format!("{:.2} ms", t * 1e3)
    } else {
        format!("{:.1} µs", t * 1e6)
    }
}

/// A dsched server in this process on 127.0.0.1 (`dsched::local_server`).
pub struct Server(LocalServer);

impl Server {
    /// The default configuration with `shards` lock shards.
    pub async fn start(shards: usize) -> Server {
        let config = ServeArgs::parse_from_env([("shards".to_owned(), shards.to_string())]);
        Server(LocalServer::start(config).await.expect("server starts"))
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.0.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn stop(self) {
        let _ = self.0.stop(Duration::from_secs(30)).await;
    }
}
