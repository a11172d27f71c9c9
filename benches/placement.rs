//! The placement benchmark: how fast `Inventory::evaluate` answers "which nodes should run
//! this DaemonSet" on the synthetic fleet, against the brute-force oracle in the same run,
//! and what `Placement.Evaluate` sustains over gRPC compared with the cheapest RPC there is.
//!
//! ```text
//! cargo bench --bench placement                       # the published figures (100,000 nodes)
//! cargo bench --bench placement -- --quick            # 10,000 nodes, short gRPC runs
//! cargo bench --bench placement -- --only index       # in-process phase only (e.g. under perf)
//! cargo bench --bench placement -- --only index --query selective --calls 100000 --scans 1
//! cargo bench --bench placement -- --only grpc --methods evaluate   # one method under load
//! ```
//!
//! It is a program that prints a table, not a test: nothing here fails on a slow figure.
//! Absolute numbers depend on the machine; the ratios within one run (index vs oracle scan,
//! `Evaluate` vs `Health/Check`) are what carry across machines. Results are recorded in
//! `loadtest/README.md` ("Placement").
//!
//! Phases:
//!
//! 1. **index** (`--nodes`, default 100,000): the fleet from `dsched::fleet` loaded into an
//!    `Inventory`, then
//!    - a *selective* query: a `nodeSelector` on the node pool or instance type whose share of
//!      the fleet is closest to 1 % (the share is printed), count only; and, as a diagnostic,
//!      the same with its names (limit 1,000, as `Evaluate` pages by default);
//!    - a *broad* query: no selector, the DaemonSet default tolerations (~97 % of the nodes),
//!      count only;
//!    - *all names*: a placement that tolerates every taint, `limit` = the fleet size, so
//!      every node's name comes back.
//!
//!    Each query is timed one call at a time, `Plan::compile` included (a request compiles
//!    its plan); the figure is the median call. The oracle is `scan_nodes` filtered by
//!    `predicate::should_run`, timed the same way (fewer repetitions: it is slow). Every
//!    index answer is checked against the oracle once.
//! 2. **grpc** (`--grpc-nodes`, default 5,000): an in-process server started as
//!    `tests/it/support.rs` starts one (`dsched::server::run` on 127.0.0.1:0), the fleet
//!    synced over one `Sync` stream, then a closed-loop load driver: `--concurrency` tasks
//!    (default 64) spread over `--connections` HTTP/2 connections (default 4), each sending
//!    its next request as soon as the previous answer is in, for `--seconds` per run.
//!    `grpc.health.v1.Health/Check`, `Placement.Evaluate` (the selective placement, names
//!    returned) and, as a diagnostic, the same `Evaluate` with `count_only` take turns,
//!    `--rounds` times each (the order rotates every round); the figure is the median
//!    per-round ratio of their throughputs, and the median per-round p50/p99 latency of
//!    `Evaluate`. Client and server share the machine's cores, for every method alike.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dsched::domain::Node;
use dsched::domain::placement::{PodPlacement, Toleration};
use dsched::domain::predicate::should_run;
use dsched::fleet::{self, FleetSpec};
use dsched::grpc::pb;
use dsched::index::Inventory;
use dsched::index::plan::Plan;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use common::{Server, Table, median, ms, positive, quantile, ratio, secs, timed, us};

const GOAL_SELECTIVE_S: f64 = 20e-6;
const GOAL_SELECTIVE_RATIO: f64 = 100.0;
const GOAL_BROAD_S: f64 = 100e-6;
const GOAL_BROAD_RATIO: f64 = 20.0;
const GOAL_ALL_NAMES_S: f64 = 5e-3;
const GOAL_GRPC_RATIO: f64 = 0.75;
const GOAL_P99_S: f64 = 5e-3;
const GOAL_NODES: usize = 100_000;
const GOAL_GRPC_NODES: usize = 5_000;
const GOAL_CONCURRENCY: usize = 64;

/// Label keys the selective query may select on, with a value whose share is closest to 1 %.
const SELECTIVE_KEYS: [&str; 2] = ["example.com/node-pool", "node.kubernetes.io/instance-type"];

#[derive(Clone, Debug)]
struct Args {
    nodes: usize,
    grpc_nodes: usize,
    shards: usize,
    /// Timed calls per index query (all-names and the oracle take fewer).
    calls: usize,
    /// Oracle scans per query.
    scans: usize,
    concurrency: usize,
    connections: usize,
    seconds: f64,
    rounds: usize,
    only: Vec<String>,
    /// Run only these index queries (`--query selective,broad,all`), e.g. under a profiler.
    queries: Vec<String>,
    /// Load only these methods (`--methods health,evaluate,count`), e.g. under a profiler;
    /// the goal rows need both `health` and `evaluate`.
    methods: Vec<Method>,
}

const PHASES: [&str; 2] = ["index", "grpc"];
const QUERIES: [&str; 3] = ["selective", "broad", "all"];

const USAGE: &str = "usage: placement [--nodes N] [--grpc-nodes N] [--shards N] [--calls N] \
                     [--scans N] [--concurrency N] [--connections N] [--seconds S] \
                     [--rounds N] [--quick] [--only index,grpc] \
                     [--query selective,broad,all] [--methods health,evaluate,count]";

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }

    fn queries(&self, query: &str) -> bool {
        self.queries.is_empty() || self.queries.iter().any(|q| q == query)
    }
}

fn parse_args() -> Args {
    let mut quick = false;
    let mut nodes = None;
    let mut calls = None;
    let mut scans = None;
    let mut seconds = None;
    let mut rounds = None;
    let mut args = Args {
        nodes: 0,
        grpc_nodes: 5_000,
        shards: dsched::index::DEFAULT_SHARDS,
        calls: 0,
        scans: 0,
        concurrency: 64,
        connections: 4,
        seconds: 0.0,
        rounds: 0,
        only: Vec::new(),
        queries: Vec::new(),
        methods: Method::ALL.to_vec(),
    };
    let number = |flag: &str, v: Option<String>| positive(flag, v, USAGE);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        match flag.as_str() {
            "--nodes" => nodes = Some(number("--nodes", value())),
            "--grpc-nodes" => args.grpc_nodes = number("--grpc-nodes", value()),
            "--shards" => args.shards = number("--shards", value()),
            "--calls" => calls = Some(number("--calls", value())),
            "--scans" => scans = Some(number("--scans", value())),
            "--concurrency" => args.concurrency = number("--concurrency", value()),
            "--connections" => args.connections = number("--connections", value()),
            "--rounds" => rounds = Some(number("--rounds", value())),
            "--seconds" => match value().and_then(|v| v.parse::<f64>().ok()) {
                Some(s) if s > 0.0 => seconds = Some(s),
                _ => {
                    eprintln!("--seconds needs a positive number\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "--quick" => quick = true,
            "--only" => {
                for phase in value().unwrap_or_default().split(',') {
                    if !PHASES.contains(&phase) {
                        eprintln!("unknown phase {phase:?}\n{USAGE}");
                        std::process::exit(2);
                    }
                    args.only.push(phase.to_owned());
                }
            }
            "--methods" => {
                args.methods.clear();
                for m in value().unwrap_or_default().split(',') {
                    let Some(method) = Method::ALL.into_iter().find(|x| x.flag() == m) else {
                        eprintln!("unknown method {m:?}\n{USAGE}");
                        std::process::exit(2);
                    };
                    args.methods.push(method);
                }
            }
            "--query" => {
                for query in value().unwrap_or_default().split(',') {
                    if !QUERIES.contains(&query) {
                        eprintln!("unknown query {query:?}\n{USAGE}");
                        std::process::exit(2);
                    }
                    args.queries.push(query.to_owned());
                }
            }
            // `cargo bench` passes `--bench`; a filter argument means nothing here.
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other if !other.starts_with('-') => {}
            other => {
                eprintln!("unknown flag {other}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    args.nodes = nodes.unwrap_or(if quick { 10_000 } else { 100_000 });
    args.calls = calls.unwrap_or(if quick { 300 } else { 3_000 });
    args.scans = scans.unwrap_or(if quick { 3 } else { 7 });
    args.seconds = seconds.unwrap_or(if quick { 0.5 } else { 2.0 });
    args.rounds = rounds.unwrap_or(if quick { 2 } else { 5 });
    args
}

fn main() {
    let args = parse_args();
    println!(
        "dsched placement benchmark: {} nodes in process, {} shards; gRPC at {} nodes, \
         {} concurrent requests over {} connections, {} rounds of {} s per method",
        args.nodes,
        args.shards,
        args.grpc_nodes,
        args.concurrency,
        args.connections,
        args.rounds,
        args.seconds
    );
    let mut table = Table::default();
    if args.runs("index") {
        index_phase(&args, &mut table);
    }
    if args.runs("grpc") {
        grpc_phase(&args, &mut table);
    }
    table.print();
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// The `(key, value)` among [`SELECTIVE_KEYS`] whose share of `nodes` is closest to 1 %, and
/// how many nodes carry it.
fn selective_pair(nodes: &[Node]) -> (String, String, usize) {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for n in nodes {
        for key in SELECTIVE_KEYS {
            if let Some(v) = n.labels.get(key) {
                *counts.entry((key, v.as_str())).or_default() += 1;
            }
        }
    }
    let target = nodes.len() / 100;
    let ((key, value), count) = counts
        .into_iter()
        .min_by_key(|&(_, count)| count.abs_diff(target))
        .expect("a non-empty fleet");
    (key.to_owned(), value.to_owned(), count)
}

fn selective_placement(key: &str, value: &str) -> PodPlacement {
    PodPlacement {
        node_selector: [(key.to_owned(), value.to_owned())].into(),
        ..PodPlacement::default()
    }
}

/// Tolerates every taint (`operator: Exists` with no key): every node should run it.
fn everywhere() -> PodPlacement {
    PodPlacement {
        tolerations: vec![Toleration::exists("", None)],
        ..PodPlacement::default()
    }
}

// ---------------------------------------------------------------------------
// Phase 1: the index in process
// ---------------------------------------------------------------------------

fn index_phase(args: &Args, table: &mut Table) {
    // The goals are stated for the 100,000-node fleet; other sizes print figures only.
    let judged = args.nodes == GOAL_NODES;
    let spec = FleetSpec::nodes(args.nodes);
    let (t, nodes) = timed(|| fleet::generate(&spec));
    println!("\n[index] generated {} nodes in {}", nodes.len(), secs(t));
    let inventory = Inventory::new(args.shards);
    let (t, ()) = timed(|| {
        for chunk in nodes.chunks(1_000) {
            inventory.upsert_nodes(chunk);
        }
    });
    println!(
        "[index] loaded them in {} ({} shards)",
        secs(t),
        inventory.shard_count()
    );
    let (key, value, count) = selective_pair(&nodes);
    drop(nodes);
    let share = count as f64 * 100.0 / args.nodes as f64;
    let selective = selective_placement(&key, &value);
    let broad = PodPlacement::default();

    if args.queries("selective") {
        let sel = measure(&inventory, &selective, 0, args.calls, args.scans);
        sel.print(&format!(
            "selective `{key}={value}` ({share:.2} % carry it)"
        ));
        let ratio_sel = sel.scan / sel.call;
        table.row(
            &format!(
                "selective query ({:.2} % of nodes), count only",
                sel.run as f64 * 100.0 / args.nodes as f64
            ),
            us(sel.call),
            "≤ 20 µs",
            judged.then_some(sel.call <= GOAL_SELECTIVE_S),
        );
        table.row(
            "  oracle scan / index, same query",
            format!("{} ({})", ratio(ratio_sel), ms(sel.scan)),
            "≥ 100×",
            judged.then_some(ratio_sel >= GOAL_SELECTIVE_RATIO),
        );
    }
    if args.queries("selective") {
        // What `Placement.Evaluate` does for this placement: the names too (one default
        // page of 1,000).
        let named = measure(&inventory, &selective, 1_000, args.calls, 1);
        named.print(&format!("selective `{key}={value}`, names (limit 1,000)"));
        table.row(
            &format!("  same, {} names returned (limit 1,000)", named.names),
            us(named.call),
            "(diagnostic)",
            None,
        );
    }
    if args.queries("broad") {
        let brd = measure(&inventory, &broad, 0, args.calls, args.scans);
        brd.print("broad (no selector, default tolerations)");
        let ratio_brd = brd.scan / brd.call;
        table.row(
            &format!(
                "broad query ({:.1} % of nodes), count only",
                brd.run as f64 * 100.0 / args.nodes as f64
            ),
            us(brd.call),
            "≤ 100 µs",
            judged.then_some(brd.call <= GOAL_BROAD_S),
        );
        table.row(
            "  oracle scan / index, same query",
            format!("{} ({})", ratio(ratio_brd), ms(brd.scan)),
            "≥ 20×",
            judged.then_some(ratio_brd >= GOAL_BROAD_RATIO),
        );
    }
    if args.queries("all") {
        let all = measure(
            &inventory,
            &everywhere(),
            args.nodes,
            (args.calls / 100).max(5),
            1,
        );
        all.print(&format!(
            "all names (tolerates every taint, limit {})",
            args.nodes
        ));
        table.row(
            &format!("all {} names (limit {})", all.names, args.nodes),
            ms(all.call),
            "≤ 5 ms",
            judged.then_some(all.call <= GOAL_ALL_NAMES_S),
        );
    }
}

struct Measured {
    /// Median call, `Plan::compile` + `evaluate`.
    call: f64,
    p90: f64,
    /// Median `Plan::compile` alone.
    compile: f64,
    /// Median oracle scan.
    scan: f64,
    run: usize,
    keep: usize,
    names: usize,
}

impl Measured {
    fn print(&self, what: &str) {
        println!(
            "[index] {what}: shouldRun {} keep {} names {} | index call median {} (p90 {}; \
             compile alone {}) | oracle scan {} | scan / index {}",
            self.run,
            self.keep,
            self.names,
            us(self.call),
            us(self.p90),
            us(self.compile),
            ms(self.scan),
            ratio(self.scan / self.call),
        );
    }
}

/// Times `calls` evaluations of `placement` (compile included) one at a time and `scans`
/// oracle scans; checks the index answer against the oracle's.
fn measure(
    inv: &Inventory,
    placement: &PodPlacement,
    limit: usize,
    calls: usize,
    scans: usize,
) -> Measured {
    // Warm up, and check the answer once.
    let plan = Plan::compile(placement);
    let answer = inv.evaluate(&plan, None, limit);
    let mut scan_times = Vec::with_capacity(scans);
    let mut oracle = Vec::new();
    for _ in 0..scans {
        let (t, run) = timed(|| inv.scan_nodes(|n| should_run(n, placement).should_run));
        scan_times.push(t);
        oracle = run;
    }
    let keep = inv.scan_nodes(|n| {
        let v = should_run(n, placement);
        !v.should_run && v.should_continue_running
    });
    if (answer.should_run, answer.keep) != (oracle.len(), keep.len()) {
        eprintln!(
            "WARNING: index and oracle disagree: index ({}, {}), oracle ({}, {})",
            answer.should_run,
            answer.keep,
            oracle.len(),
            keep.len()
        );
    }
    if limit > 0 {
        let want: Vec<&str> = oracle.iter().map(|n| n.name.as_str()).collect();
        let got: Vec<&str> = answer
            .names
            .iter()
            .filter(|(_, run)| *run)
            .map(|(n, _)| n)
            .take(want.len())
            .collect();
        if answer.names.len() == limit.min(answer.should_run + answer.keep) && got != want {
            eprintln!("WARNING: index and oracle disagree on names");
        }
    }
    let mut call_times = Vec::with_capacity(calls);
    let mut compile_times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let plan = Plan::compile(black_box(placement));
        let compiled = started.elapsed();
        let e = inv.evaluate(&plan, None, limit);
        let t = started.elapsed();
        black_box(e);
        call_times.push(t.as_secs_f64());
        compile_times.push(compiled.as_secs_f64());
    }
    Measured {
        call: median(&call_times),
        p90: quantile(&call_times, 0.9),
        compile: median(&compile_times),
        scan: median(&scan_times),
        run: answer.should_run,
        keep: answer.keep,
        names: answer.names.len(),
    }
}

// ---------------------------------------------------------------------------
// Phase 2: gRPC
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Health,
    Evaluate,
    /// Diagnostic: the same `Evaluate` with `count_only`, to show what the names cost.
    EvaluateCount,
}

impl Method {
    const ALL: [Method; 3] = [Method::Health, Method::Evaluate, Method::EvaluateCount];

    fn name(self) -> &'static str {
        match self {
            Method::Health => "Health/Check",
            Method::Evaluate => "Placement.Evaluate",
            Method::EvaluateCount => "Evaluate count_only",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The `--methods` spelling.
    fn flag(self) -> &'static str {
        match self {
            Method::Health => "health",
            Method::Evaluate => "evaluate",
            Method::EvaluateCount => "count",
        }
    }
}

/// One closed-loop run of one method.
struct Run {
    per_s: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

fn grpc_phase(args: &Args, table: &mut Table) {
    // The goals are stated at 5,000 nodes and 64 concurrent requests.
    let judged = args.grpc_nodes == GOAL_GRPC_NODES && args.concurrency == GOAL_CONCURRENCY;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let nodes = fleet::generate(&FleetSpec::nodes(args.grpc_nodes));
    let (key, value, count) = selective_pair(&nodes);
    let placement = selective_placement(&key, &value);
    let want: Vec<String> = nodes
        .iter()
        .filter(|n| should_run(n, &placement).should_run)
        .map(|n| n.name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "\n[grpc] {} nodes; selective placement `{key}={value}`: {count} nodes carry it, \
         {} should run",
        nodes.len(),
        want.len()
    );
    let runs = runtime.block_on(async {
        dsched::telemetry::metrics_handle();
        let server = Server::start(args.shards).await;
        sync_fleet(&server, &nodes).await;
        let mut channels = Vec::new();
        for _ in 0..args.connections {
            channels.push(server.channel().await);
        }
        let request = pb::EvaluateRequest {
            target: Some(pb::evaluate_request::Target::Placement(
                dsched::grpc::convert_placement::placement_to_pb(placement),
            )),
            limit: 0,
            page_token: String::new(),
            count_only: false,
        };
        // The answer, checked once against the oracle computed here.
        let answer = pb::placement_client::PlacementClient::new(channels[0].clone())
            .evaluate(request.clone())
            .await
            .expect("Evaluate")
            .into_inner();
        if answer.nodes != want {
            eprintln!(
                "WARNING: Evaluate answered {} names, the oracle {}",
                answer.nodes.len(),
                want.len()
            );
        }
        let request = Arc::new(request);
        let expected = want.len();
        // Warm-up: connections, allocator, caches.
        let warm = args.seconds.min(0.5);
        for &method in &args.methods {
            load(
                method,
                &channels,
                &request,
                expected,
                args.concurrency,
                warm,
            )
            .await;
        }
        let mut runs: [Vec<Run>; 3] = Default::default();
        for round in 0..args.rounds {
            // Rotate which goes first, so none always runs on a warmer machine.
            let mut order = Method::ALL;
            order.rotate_left(round % Method::ALL.len());
            for method in order {
                if !args.methods.contains(&method) {
                    continue;
                }
                let run = load(
                    method,
                    &channels,
                    &request,
                    expected,
                    args.concurrency,
                    args.seconds,
                )
                .await;
                println!(
                    "[grpc] round {round} {:<18} {:>9.0} req/s  p50 {}  p99 {}{}",
                    method.name(),
                    run.per_s,
                    us(run.p50),
                    us(run.p99),
                    if run.errors > 0 {
                        format!("  ({} ERRORS)", run.errors)
                    } else {
                        String::new()
                    }
                );
                runs[method.index()].push(run);
            }
        }
        server.stop().await;
        runs
    });
    let [health, evaluate, counting] = runs;
    if health.is_empty() || evaluate.is_empty() || counting.is_empty() {
        println!("[grpc] --methods left out a method: no goal rows");
        return;
    }
    let ratios: Vec<f64> = health
        .iter()
        .zip(&evaluate)
        .map(|(h, e)| e.per_s / h.per_s)
        .collect();
    let r = median(&ratios);
    let pick = |runs: &[Run], f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let (h_rate, e_rate) = (pick(&health, |r| r.per_s), pick(&evaluate, |r| r.per_s));
    let (e_p50, e_p99) = (pick(&evaluate, |r| r.p50), pick(&evaluate, |r| r.p99));
    let (h_p50, h_p99) = (pick(&health, |r| r.p50), pick(&health, |r| r.p99));
    let count_ratios: Vec<f64> = health
        .iter()
        .zip(&counting)
        .map(|(h, c)| c.per_s / h.per_s)
        .collect();
    let c_rate = pick(&counting, |r| r.per_s);
    println!(
        "[grpc] per-round Evaluate / Health ratios {}; medians: Health {h_rate:.0} req/s \
         (p50 {}, p99 {}), Evaluate {e_rate:.0} req/s (p50 {}, p99 {})",
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        us(h_p50),
        us(h_p99),
        us(e_p50),
        us(e_p99),
    );
    table.row(
        &format!(
            "gRPC Evaluate ({} names) / Health/Check throughput, {} nodes",
            want.len(),
            args.grpc_nodes
        ),
        format!("{:.0} % ({e_rate:.0} vs {h_rate:.0} req/s)", r * 100.0),
        "≥ 75 %",
        judged.then_some(r >= GOAL_GRPC_RATIO),
    );
    table.row(
        &format!(
            "gRPC Evaluate latency at {} concurrent, p50 / p99",
            args.concurrency
        ),
        format!("{} / {}", ms(e_p50), ms(e_p99)),
        "p99 ≤ 5 ms",
        judged.then_some(e_p99 <= GOAL_P99_S),
    );
    table.row(
        "  Health/Check latency, same load, p50 / p99",
        format!("{} / {}", ms(h_p50), ms(h_p99)),
        "(reference)",
        None,
    );
    table.row(
        "  Evaluate count_only / Health/Check throughput",
        format!("{:.0} % ({c_rate:.0} req/s)", median(&count_ratios) * 100.0),
        "(diagnostic)",
        None,
    );
}

/// `concurrency` tasks over `channels`, each sending `method` back to back for `seconds`.
async fn load(
    method: Method,
    channels: &[Channel],
    request: &Arc<pb::EvaluateRequest>,
    expected: usize,
    concurrency: usize,
    seconds: f64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let channel = channels[i % channels.len()].clone();
            let (stop, errors, start) = (stop.clone(), errors.clone(), start.clone());
            let request = request.clone();
            tokio::spawn(async move {
                let mut health = HealthClient::new(channel.clone());
                let mut placement = pb::placement_client::PlacementClient::new(channel);
                let counting = pb::EvaluateRequest {
                    limit: 0,
                    count_only: true,
                    ..(*request).clone()
                };
                let mut latencies: Vec<f64> = Vec::with_capacity(4096);
                start.wait().await;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let ok = match method {
                        Method::Health => health
                            .check(HealthCheckRequest {
                                service: String::new(),
                            })
                            .await
                            .is_ok(),
                        Method::Evaluate => placement
                            .evaluate((*request).clone())
                            .await
                            .is_ok_and(|r| r.get_ref().nodes.len() == expected),
                        Method::EvaluateCount => placement
                            .evaluate(counting.clone())
                            .await
                            .is_ok_and(|r| r.get_ref().should_run_count as usize == expected),
                    };
                    latencies.push(started.elapsed().as_secs_f64());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    start.wait().await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("load task"));
    }
    // Requests still in flight at the stop finish after it; count the whole time.
    let elapsed = started.elapsed().as_secs_f64();
    Run {
        per_s: latencies.len() as f64 / elapsed,
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Loads the fleet over one `Sync` stream, one batch of 1,000 at a time.
async fn sync_fleet(server: &Server, nodes: &[Node]) {
    let mut client = pb::inventory_client::InventoryClient::new(server.channel().await)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut acks = client
        .sync(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("open sync")
        .into_inner();
    let mut applied = 0;
    for (i, chunk) in nodes.chunks(1_000).enumerate() {
        let req = pb::SyncRequest {
            batch_id: i as u64 + 1,
            upsert_nodes: chunk.iter().map(fleet::to_pb).collect(),
            ..Default::default()
        };
        tx.send(req).await.expect("send batch");
        let ack = acks
            .message()
            .await
            .expect("ack")
            .expect("ack, not end of stream");
        if !ack.rejected.is_empty() {
            eprintln!("WARNING: batch {} had rejections", ack.batch_id);
        }
        applied += ack.applied as usize;
    }
    drop(tx);
    if applied != nodes.len() {
        eprintln!("WARNING: {applied} of {} nodes applied", nodes.len());
    }
}
