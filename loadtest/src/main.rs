//! `dsched-loadtest`: seeds a dsched server with a synthetic fleet and load-tests it.
//!
//! ```text
//! dsched-loadtest seed --nodes 5000
//! dsched-loadtest run --scenario health,evaluate-selective --duration 10s --concurrency 64
//! dsched-loadtest run --scenario evaluate-selective --rps 500 --duration 10m \
//!     --writers 4 --write-rate 2000 --resync-every 2m --interval 30s --nodes 65000
//! ```
//!
//! Exit status: 0 when every request ended `OK`, 1 when some did not (unless
//! `--allow-errors`), 2 for a usage error or a failed setup.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use dsched_loadtest::driver::{self, LoadSpec, Outcome};
use dsched_loadtest::report::{GhzReport, fmt_duration};
use dsched_loadtest::scenario::Scenario;
use dsched_loadtest::seed::{self, SeedSpec, Seeded};
use dsched_loadtest::server_stats::{self, ServerSample, cpu_cores};
use dsched_loadtest::writers::{self, WriteOutcome, WriteSpec, WriterFleet};
use serde_json::json;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "dsched-loadtest",
    version,
    about = "Seeds and load-tests a dsched server."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seeds the fleet, the `loadtest/*` DaemonSets and a rollout under way (idempotent:
    /// the listing is a resync, so seeding again leaves exactly the new fleet).
    Seed(SeedArgs),
    /// Runs scenarios one after the other and reports each (ghz's JSON shape with -o).
    Run(Box<RunArgs>),
}

#[derive(Debug, Args)]
struct Target {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "DSCHED_LOADTEST_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
}

#[derive(Debug, Args)]
struct FleetArgs {
    /// Nodes in the synthetic fleet (5,000 / 65,000 / 100,000 are the reported sizes).
    #[arg(long, default_value_t = 5_000)]
    nodes: usize,
    /// The fleet's seed (the default is the one every published figure uses).
    #[arg(long, default_value_t = dsched::fleet::DEFAULT_SEED)]
    seed: u64,
    /// Nodes per `Sync` batch while seeding.
    #[arg(long, default_value_t = 1_000)]
    seed_batch: usize,
}

impl FleetArgs {
    fn spec(&self) -> SeedSpec {
        SeedSpec {
            seed: self.seed,
            batch: self.seed_batch,
            ..SeedSpec::nodes(self.nodes)
        }
    }
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    fleet: FleetArgs,
}

/// A scenario on the command line: a unary one, `sync` (writers only), or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Unary(Scenario),
    Sync,
}

/// The `--scenario` list.
#[derive(Clone, Debug, Default)]
struct Jobs(Vec<Job>);

fn parse_jobs(s: &str) -> Result<Jobs, String> {
    let mut jobs = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "all" => jobs.extend(Scenario::ALL.map(Job::Unary)),
            "sync" => jobs.push(Job::Sync),
            _ => jobs.push(Job::Unary(
                <Scenario as clap::ValueEnum>::from_str(part, false).map_err(|_| {
                    let names: Vec<String> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "unknown scenario {part:?}: expected all, sync or one of {}",
                        names.join(", ")
                    )
                })?,
            )),
        }
    }
    if jobs.is_empty() {
        return Err("no scenario given".to_owned());
    }
    Ok(Jobs(jobs))
}

fn duration(s: &str) -> Result<Duration, String> {
    dsched::config::parse_duration(s)
}

/// A rate: a finite number above zero.
fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate: a number above 0 (per second)"
        )),
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Scenarios, comma-separated, run one after the other: `all`, `sync`, or any of health,
    /// evaluate-selective, evaluate-broad, evaluate-count, evaluate-inline, explain,
    /// daemonsets-for-node, daemonsets-for-hypothetical, next-batch, get-node, list-nodes.
    #[arg(long, value_parser = parse_jobs, default_value = "health")]
    scenario: Jobs,
    /// Use the server as it is (already seeded with the same --nodes and --seed).
    #[arg(long)]
    skip_seed: bool,
    /// Requests per scenario (closed loop default: 10,000 when no --duration is given).
    #[arg(short = 'n', long)]
    total: Option<u64>,
    /// How long each scenario runs, e.g. 10s or 10m.
    #[arg(short = 'z', long, value_parser = duration)]
    duration: Option<Duration>,
    /// Open loop: start requests at this rate instead of as fast as answers come.
    #[arg(long, value_parser = rate)]
    rps: Option<f64>,
    /// Workers (closed loop) or the bound on requests in flight (open loop).
    #[arg(short = 'c', long, default_value_t = 50)]
    concurrency: usize,
    /// HTTP/2 connections the workers share.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Per-request timeout.
    #[arg(short = 't', long, value_parser = duration, default_value = "20s")]
    timeout: Duration,
    /// Sync writer streams churning the inventory while the query scenarios run (and the
    /// streams of the `sync` scenario).
    #[arg(long, default_value_t = 0)]
    writers: usize,
    /// Node upserts per second over all writers (default: as fast as acknowledged).
    #[arg(long, value_parser = rate)]
    write_rate: Option<f64>,
    /// Nodes per writer batch.
    #[arg(long, default_value_t = 500)]
    write_batch: usize,
    /// A full relist (resync of every node and pod) this often while writers run.
    #[arg(long, value_parser = duration)]
    resync_every: Option<Duration>,
    /// The server's Prometheus endpoint, for its CPU and resident memory.
    #[arg(long, env = "DSCHED_LOADTEST_METRICS")]
    metrics_url: Option<String>,
    /// Report per interval: a progress line while a scenario runs, and per-window
    /// throughput, p50/p99 and errors, and the server's memory and CPU, in the report.
    #[arg(long, value_parser = duration)]
    interval: Option<Duration>,
    /// Write ghz's JSON report here; with several scenarios the path must contain
    /// `{scenario}`.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Exit 0 even if some requests failed.
    #[arg(long)]
    allow_errors: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(args) => seed_command(args).await,
        Command::Run(args) => run_command(*args).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("dsched-loadtest: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn seed_command(args: SeedArgs) -> anyhow::Result<bool> {
    let channel = dsched_loadtest::connect(&args.target.server, 1)
        .await?
        .remove(0);
    let seeded = seed::seed(channel, &args.fleet.spec()).await?;
    print_seeded(&seeded);
    Ok(true)
}

fn print_seeded(seeded: &Seeded) {
    eprintln!(
        "seeded {} nodes, {} pods and 3 DaemonSets in namespace {:?} in {} (revision {})",
        seeded.nodes.len(),
        seeded.pods.len(),
        seed::NAMESPACE,
        fmt_duration(seeded.elapsed),
        seeded.revision
    );
}

/// One finished scenario, for the closing table.
struct Row {
    name: String,
    method: String,
    report: GhzReport,
    server: Option<(ServerSample, ServerSample)>,
}

async fn run_command(mut args: RunArgs) -> anyhow::Result<bool> {
    let jobs: Vec<Job> = std::mem::take(&mut args.scenario).0;
    if jobs.len() > 1
        && let Some(path) = &args.output
        && !path.to_string_lossy().contains("{scenario}")
    {
        bail!("with several scenarios, --output must contain {{scenario}}");
    }
    if jobs.contains(&Job::Sync) && args.duration.is_none() {
        bail!("the sync scenario needs --duration");
    }
    if args.total.is_none() && args.duration.is_none() {
        args.total = Some(10_000);
    }
    let channels = dsched_loadtest::connect(&args.target.server, args.connections).await?;
    let spec = args.fleet.spec();
    let seeded = if args.skip_seed {
        let nodes = seed::fleet_nodes(&spec);
        let pods = seed::rollout_pods(&nodes, spec.updated_percent, SystemTime::now());
        Seeded {
            nodes,
            pods,
            revision: 0,
            elapsed: Duration::ZERO,
        }
    } else {
        let seeded = seed::seed(channels[0].clone(), &spec).await?;
        print_seeded(&seeded);
        seeded
    };
    let names: Arc<[String]> = seeded.names().into();

    // Writers run in the background for the whole run, or as the `sync` scenario.
    let (stop_writers, stop_rx) = watch::channel(false);
    let write_spec = WriteSpec {
        writers: args.writers.max(1),
        rate: args.write_rate,
        batch: args.write_batch,
        window: 4,
        resync_every: args.resync_every,
        seed: spec.seed,
    };
    let writer_fleet = Arc::new(WriterFleet::new(seeded.nodes.clone(), seeded.pods.clone()));
    let has_queries = jobs.iter().any(|j| matches!(j, Job::Unary(_)));
    let background = (args.writers > 0 && has_queries).then(|| {
        tokio::spawn(writers::run(
            channels[0].clone(),
            writer_fleet.clone(),
            write_spec.clone(),
            stop_rx.clone(),
        ))
    });

    // The server's CPU and memory over the whole run, if its metrics are reachable.
    let (stop_sampler, sampler_rx) = watch::channel(false);
    let sampler = match (&args.metrics_url, args.interval) {
        (Some(url), Some(every)) => Some(tokio::spawn(server_stats::sample(
            url.clone(),
            every,
            sampler_rx,
        ))),
        _ => None,
    };
    let http = reqwest::Client::new();
    let run_start = std::time::Instant::now();
    let scrape = |http: reqwest::Client, url: Option<String>| async move {
        server_stats::scrape(&http, &url?, run_start).await.ok()
    };

    let load = LoadSpec {
        concurrency: args.concurrency,
        total: args.total,
        duration: args.duration,
        rps: args.rps,
        timeout: args.timeout,
        progress: args.interval,
    };
    let mut rows = Vec::new();
    let mut all_ok = true;
    for job in &jobs {
        let before = scrape(http.clone(), args.metrics_url.clone()).await;
        let date = rfc3339(SystemTime::now());
        let (name, method, outcome, writes) = match *job {
            Job::Unary(scenario) => {
                eprintln!("running {} ({})", scenario.name(), scenario.method());
                let outcome = driver::run(&channels, scenario, names.clone(), &load).await;
                (scenario.name(), scenario.method().to_owned(), outcome, None)
            }
            Job::Sync => {
                eprintln!("running sync ({} writers)", write_spec.writers);
                let (stop, rx) = watch::channel(false);
                let task = tokio::spawn(writers::run(
                    channels[0].clone(),
                    writer_fleet.clone(),
                    write_spec.clone(),
                    rx,
                ));
                tokio::time::sleep(args.duration.unwrap_or_default()).await;
                let _ = stop.send(true);
                let w = task.await.context("sync writers")?;
                (
                    "sync".to_owned(),
                    "dsched.v1.Inventory.Sync".to_owned(),
                    w.batches.clone(),
                    Some(w),
                )
            }
        };
        let after = scrape(http.clone(), args.metrics_url.clone()).await;
        let options = json!({
            "call": method,
            "host": args.target.server,
            "total": args.total,
            "concurrency": args.concurrency,
            "connections": args.connections,
            "rps": args.rps,
            "duration": args.duration.map(|d| d.as_nanos() as u64),
            "timeout": args.timeout.as_nanos() as u64,
            "nodes": args.fleet.nodes,
            "writers": args.writers,
            "writeRate": args.write_rate,
        });
        let end_reason = if args.duration.is_some() {
            "timeout"
        } else {
            "normal"
        };
        let mut report = GhzReport::new(&name, date, options, &outcome, end_reason);
        if let Some(w) = &writes {
            tag_writes(&mut report, w);
            eprintln!("{}", describe_writes(w));
        }
        print!("{}", report.summary());
        if let Some(every) = args.interval {
            print_windows(&outcome, every);
        }
        if let Some(path) = &args.output {
            let path = PathBuf::from(path.to_string_lossy().replace("{scenario}", &name));
            std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        all_ok &= report.errors() == 0;
        let server = before.zip(after);
        rows.push(Row {
            name,
            method,
            report,
            server,
        });
    }

    let _ = stop_writers.send(true);
    if let Some(task) = background {
        let w = task.await.context("writers")?;
        let mut report = GhzReport::new(
            "writers",
            rfc3339(SystemTime::now()),
            json!({"call": "dsched.v1.Inventory.Sync"}),
            &w.batches,
            "normal",
        );
        tag_writes(&mut report, &w);
        eprintln!("\nbackground {}", describe_writes(&w));
        print!("{}", report.summary());
        all_ok &= report.errors() == 0;
    }
    let _ = stop_sampler.send(true);
    if let Some(task) = sampler {
        let samples = task.await.context("sampler")??;
        print_server_samples(&samples, args.fleet.nodes);
    }
    print_table(&rows);
    if !all_ok {
        eprintln!("some requests did not end OK");
    }
    Ok(all_ok || args.allow_errors)
}

fn tag_writes(report: &mut GhzReport, w: &WriteOutcome) {
    let secs = w.batches.elapsed.as_secs_f64().max(1e-9);
    for (k, v) in [
        ("nodesSent", w.nodes_sent.to_string()),
        (
            "nodesPerSecond",
            format!("{:.0}", w.nodes_sent as f64 / secs),
        ),
        ("applied", w.applied.to_string()),
        ("stale", w.stale.to_string()),
        ("rejected", w.rejected.to_string()),
        ("resyncs", w.resyncs.to_string()),
        ("swept", w.swept.to_string()),
    ] {
        report.tags.insert(k.to_owned(), v);
    }
}

fn describe_writes(w: &WriteOutcome) -> String {
    let secs = w.batches.elapsed.as_secs_f64().max(1e-9);
    format!(
        "writers: {} nodes sent in {} batches ({:.0} nodes/s), {} applied, {} stale, {} rejected, {} resyncs, {} swept",
        w.nodes_sent,
        w.batches.count(),
        w.nodes_sent as f64 / secs,
        w.applied,
        w.stale,
        w.rejected,
        w.resyncs,
        w.swept
    )
}

fn print_windows(outcome: &Outcome, every: Duration) {
    println!("\n  from      rps        p50        p99   errors");
    for w in outcome.windows(every) {
        println!(
            "  {:>4.0} s  {:>7.0}  {:>9}  {:>9}  {:>7}",
            w.start.as_secs_f64(),
            w.rps(),
            fmt_duration(w.p50),
            fmt_duration(w.p99),
            w.errors
        );
    }
}

fn print_server_samples(samples: &[ServerSample], nodes: usize) {
    if samples.len() < 2 {
        return;
    }
    println!("\nServer (from its /metrics):\n      at   resident   per node   CPU cores");
    for pair in samples.windows(2) {
        let s = &pair[1];
        println!(
            "  {:>6}  {:>7.1} MiB  {:>7.0} B  {:>6.2}",
            fmt_duration(s.at),
            s.resident_bytes / (1 << 20) as f64,
            s.resident_bytes / nodes.max(1) as f64,
            cpu_cores(&pair[0], s)
        );
    }
    // Flatness after warm-up: the first fifth of the run is warm-up.
    let warm: Vec<f64> = samples
        .iter()
        .skip(samples.len() / 5)
        .map(|s| s.resident_bytes)
        .collect();
    let (min, max) = warm
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if min > 0.0 {
        println!(
            "  resident memory after warm-up: {:.1}–{:.1} MiB, spread {:.1} %",
            min / (1 << 20) as f64,
            max / (1 << 20) as f64,
            (max - min) / min * 100.0
        );
    }
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let health = rows
        .iter()
        .find(|r| r.name == "health")
        .map(|r| r.report.rps);
    println!(
        "\n| scenario | method | count | rps | vs health | p50 | p99 | errors | server CPU | server RSS |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let ratio = match health {
            Some(h) if h > 0.0 => format!("{:.0} %", r.report.rps / h * 100.0),
            _ => "–".to_owned(),
        };
        let (cpu, rss) = match r.server {
            Some((b, a)) => (
                format!("{:.2} cores", cpu_cores(&b, &a)),
                format!("{:.0} MiB", a.resident_bytes / (1 << 20) as f64),
            ),
            None => ("–".to_owned(), "–".to_owned()),
        };
        println!(
            "| {} | `{}` | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.method,
            r.report.count,
            r.report.rps,
            ratio,
            fmt_duration(r.report.percentile(50)),
            fmt_duration(r.report.percentile(99)),
            r.report.errors(),
            cpu,
            rss
        );
    }
}

/// RFC 3339 in UTC, as ghz writes `date`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_numbers() {
        assert_eq!(rate("250"), Ok(250.0));
        assert_eq!(rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "nan", "inf", "", "fast", "1e10"] {
            assert!(rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scenario_lists() {
        let jobs = parse_jobs("health, next-batch,sync").expect("parses").0;
        assert_eq!(
            jobs,
            vec![
                Job::Unary(Scenario::Health),
                Job::Unary(Scenario::NextBatch),
                Job::Sync
            ]
        );
        assert_eq!(
            parse_jobs("all").expect("parses").0.len(),
            Scenario::ALL.len()
        );
        let err = parse_jobs("health,evaluate").expect_err("unknown");
        assert!(
            err.contains("unknown scenario \"evaluate\"") && err.contains("evaluate-selective")
        );
        assert!(parse_jobs(" , ").is_err());
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_824_000 + 3_723);
        assert_eq!(rfc3339(t), "2026-11-28T01:02:03Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
