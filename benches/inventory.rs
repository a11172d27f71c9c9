//! The inventory benchmark: how fast dsched takes in a fleet, how long a full resync takes,
//! what a node costs in memory, and how selector queries compare with the brute-force scan.
//!
//! ```text
//! cargo bench --bench inventory -- --nodes 100000     # the published figures
//! cargo bench --bench inventory -- --quick            # 10,000 nodes, one repetition
//! ```
//!
//! It is a program that prints a table, not a test: nothing here fails on a slow figure.
//! Absolute numbers depend on the machine; ratios within one run (index vs scan, client
//! encoding vs server work) are what carry across machines. Results are recorded in
//! `loadtest/README.md`.
//!
//! Phases, in order (each figure is the median of `--reps` runs on a fresh inventory):
//!
//! 1. **Memory** in a child process (this binary re-run with `--memory-child`), so that no
//!    earlier phase's freed-but-retained heap is counted: it records RSS with an empty
//!    inventory and a warmed allocator, loads the fleet generated in chunks of one batch
//!    (each chunk dropped after it is applied, so the generator's output never piles up),
//!    and reports `(RSS loaded − RSS empty) / nodes`.
//! 2. **Cost breakdown** of one node on the `Sync` path, in CPU time, step after step on one
//!    thread (apply may use more, see 3): client protobuf encoding, server decoding,
//!    validation + conversion (`batch_from_pb`), apply, and freeing the applied batch.
//! 3. **In-process apply**: `SyncSession::apply` in batches into a fresh `Inventory` — a first
//!    load (all new), an update pass (same names, a changed label), and a full resync
//!    (`RESYNC_BEGIN`, every node unchanged except ~1 % left out, `RESYNC_END` sweeps them).
//!    A batch this large is applied on up to one thread per core (`Inventory::upsert_nodes`);
//!    the process CPU time of each pass is printed beside its wall time.
//! 4. **Selectors**: `Inventory::list_nodes` (count only, first page, every match) for a
//!    selective (~1 %) and a broad selector, against `Inventory::scan_nodes`.
//! 5. **gRPC**: one `Sync` stream against an in-process server on 127.0.0.1:0, several
//!    batches in flight; once with a normal tonic client (it encodes as it sends, in this
//!    process, on the same cores as the server) and once with batches encoded beforehand
//!    (the server's share of the work alone). A third, diagnostic run serves the same
//!    `Inventory` service alone with 16 MiB HTTP/2 windows per stream and per connection
//!    (the server's defaults: 8 and 16 MiB), to show what flow control still costs.
//!
//! Diagnostics: `--only PHASE,…` runs some phases (e.g. under `perf record`);
//! `--without-label KEY` strips a label before the memory phase, to show what it costs.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsched::domain::Node;
use dsched::domain::selector::Selector;
use dsched::fleet::{self, FleetSpec, Mutation, Rng};
use dsched::grpc::inventory::batch_from_pb;
use dsched::grpc::pb;
use dsched::index::Inventory;
use dsched::index::sync::{Batch, BatchOutcome, ResyncMark, SyncSession};
use prost::Message;
use prost::bytes::{BufMut, Bytes};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use tonic::transport::Channel;

use common::{Server, Table, median, ms, positive, ratio, secs, timed};

const GOAL_APPLY_PER_S: f64 = 500_000.0;
const GOAL_RESYNC_S_PER_100K: f64 = 1.0;
const GOAL_BYTES_PER_NODE: f64 = 1024.0;
const GOAL_GRPC_PER_S: f64 = 200_000.0;
/// Every node whose index is this modulo 100 is left out of the resync listing (1 %).
const RESYNC_MISSING_MOD: usize = 100;
/// HTTP/2 receive windows of the flow-control experiment (the server's defaults are
/// `config::DEFAULT_HTTP2_STREAM_WINDOW` and `DEFAULT_HTTP2_CONNECTION_WINDOW`).
const WIDE_WINDOW: u32 = 16 << 20;

#[derive(Clone, Debug)]
struct Args {
    nodes: usize,
    batch: usize,
    shards: usize,
    reps: usize,
    in_flight: usize,
    quick: bool,
    skip_grpc: bool,
    /// Run only these phases (`--only apply,select`), e.g. under a profiler.
    only: Vec<String>,
    /// Diagnostic: the memory phase strips this label from every node first, to show what
    /// one label costs (e.g. the unique `kubernetes.io/hostname`).
    without_label: Option<String>,
    memory_child: bool,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| p == phase))
            && !(phase == "grpc" && self.skip_grpc)
    }
}

const PHASES: [&str; 5] = ["memory", "breakdown", "apply", "select", "grpc"];

const USAGE: &str = "usage: inventory [--nodes N] [--batch N] [--shards N] [--reps N] \
                     [--in-flight N] [--quick] [--skip-grpc] \
                     [--only memory,breakdown,apply,select,grpc] [--without-label KEY]";

fn parse_args() -> Args {
    let mut args = Args {
        nodes: 0,
        batch: 1_000,
        shards: dsched::index::DEFAULT_SHARDS,
        reps: 3,
        in_flight: 8,
        quick: false,
        skip_grpc: false,
        only: Vec::new(),
        without_label: None,
        memory_child: false,
    };
    let mut nodes = None;
    let mut reps = None;
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| positive(flag, v, USAGE);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        match flag.as_str() {
            "--nodes" => nodes = Some(number("--nodes", value())),
            "--batch" => args.batch = number("--batch", value()),
            "--shards" => args.shards = number("--shards", value()),
            "--reps" => reps = Some(number("--reps", value())),
            "--in-flight" => args.in_flight = number("--in-flight", value()),
            "--quick" => args.quick = true,
            "--skip-grpc" => args.skip_grpc = true,
            "--only" => {
                for phase in value().unwrap_or_default().split(',') {
                    if !PHASES.contains(&phase) {
                        eprintln!("unknown phase {phase:?}\n{USAGE}");
                        std::process::exit(2);
                    }
                    args.only.push(phase.to_owned());
                }
            }
            "--memory-child" => args.memory_child = true,
            "--without-label" => args.without_label = value(),
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
    args.nodes = nodes.unwrap_or(if args.quick { 10_000 } else { 100_000 });
    args.reps = reps.unwrap_or(if args.quick { 1 } else { 3 });
    args
}

fn main() {
    let args = parse_args();
    if args.memory_child {
        memory_child(&args);
        return;
    }
    let spec = FleetSpec::nodes(args.nodes);
    println!(
        "dsched inventory benchmark: {} nodes, batches of {}, {} shards, {} repetition(s), \
         {} batches in flight over gRPC",
        args.nodes, args.batch, args.shards, args.reps, args.in_flight
    );
    let mut table = Table::default();
    if args.runs("memory") {
        memory_phase(&args, &mut table);
    }
    if ["breakdown", "apply", "select"]
        .iter()
        .any(|p| args.runs(p))
    {
        let data = Data::new(&spec, &args);
        if args.runs("breakdown") {
            breakdown(&data.load, args.reps).print();
        }
        // Selectors run on the inventory the apply phase leaves.
        let inventory = apply_phase(&args, &data, &mut table);
        if args.runs("select") {
            let selectors = selectors(&data.load);
            drop(data);
            select_phase(&args, &inventory, selectors, &mut table);
        }
    }
    if args.runs("grpc") {
        grpc_phase(&spec, &args, &mut table);
    }
    table.print();
}

fn memory_phase(args: &Args, table: &mut Table) {
    match memory_in_child(args) {
        Some(m) => {
            println!(
                "\n[memory] RSS empty {} KiB, loaded {} KiB, after dropping the inventory {} KiB \
                 (child process, generated in chunks of {}){}",
                m.empty_kib,
                m.loaded_kib,
                m.dropped_kib,
                args.batch,
                args.without_label
                    .as_ref()
                    .map(|k| format!(", every node WITHOUT label {k}"))
                    .unwrap_or_default()
            );
            table.row(
                "resident memory per node",
                format!("{:.0} B", m.bytes_per_node()),
                "≤ 1024 B",
                Some(m.bytes_per_node() <= GOAL_BYTES_PER_NODE),
            );
        }
        None => table.row("resident memory per node", "n/a".into(), "≤ 1024 B", None),
    }
}

/// The fleet as `Sync` batches: the first load, the update pass (a label changed on every
/// node), and the resync listing of the updated nodes with ~1 % left out.
struct Data {
    load: Vec<Batch>,
    update: Vec<Batch>,
    resync: Vec<Batch>,
    missing: usize,
}

impl Data {
    fn new(spec: &FleetSpec, args: &Args) -> Data {
        let started = Instant::now();
        let nodes = fleet::generate(spec);
        describe_fleet(&nodes, started.elapsed());
        let load = batches(nodes.clone(), args.batch);
        let mut updated = nodes;
        let mut rng = Rng::new(42);
        for node in &mut updated {
            fleet::mutate(node, Mutation::LabelValue, &mut rng);
        }
        let listing: Vec<Node> = updated
            .iter()
            .enumerate()
            .filter(|(i, _)| i % RESYNC_MISSING_MOD != RESYNC_MISSING_MOD / 3)
            .map(|(_, n)| n.clone())
            .collect();
        let missing = updated.len() - listing.len();
        let mut resync = batches(listing, args.batch);
        if let Some(first) = resync.first_mut() {
            first.resync = ResyncMark::Begin;
        }
        // The last listing batch carries RESYNC_END, unless it is also the first.
        if resync.len() > 1 {
            if let Some(last) = resync.last_mut() {
                last.resync = ResyncMark::End;
            }
        } else {
            resync.push(Batch {
                resync: ResyncMark::End,
                ..Batch::default()
            });
        }
        Data {
            load,
            update: batches(updated, args.batch),
            resync,
            missing,
        }
    }
}

/// Load, update and resync on a fresh inventory per repetition (one repetition, and no
/// table rows, when only the selectors need an inventory). Returns the last inventory.
fn apply_phase(args: &Args, data: &Data, table: &mut Table) -> Arc<Inventory> {
    let reps = if args.runs("apply") { args.reps } else { 1 };
    let mut load_s = Vec::new();
    let mut update_s = Vec::new();
    let mut resync_s = Vec::new();
    // CPU seconds of this process in the same passes: above the wall time when a batch is
    // applied on several threads; well below it on a machine another process is using.
    let mut cpu_s = [vec![], vec![], vec![]];
    let mut inventory = None;
    for rep in 0..reps {
        drop(inventory.take());
        let inv = Arc::new(Inventory::new(args.shards));
        let mut session = SyncSession::new(inv.clone());
        let mut pass = |i: usize, batches: &[Batch]| {
            let cpu = cpu_seconds();
            let (t, out) = timed(|| apply_all(&mut session, batches));
            cpu_s[i].push(cpu_seconds() - cpu);
            (t, out)
        };
        let (t, out) = pass(0, &data.load);
        check(rep, "load", out.applied as usize, args.nodes, "applied");
        load_s.push(t);
        let (t, out) = pass(1, &data.update);
        check(rep, "update", out.applied as usize, args.nodes, "applied");
        update_s.push(t);
        let (t, out) = pass(2, &data.resync);
        check(rep, "resync", out.swept as usize, data.missing, "swept");
        let listed = args.nodes - data.missing;
        check(rep, "resync", out.unchanged as usize, listed, "unchanged");
        resync_s.push(t);
        inventory = Some(inv);
    }
    let inventory = inventory.expect("at least one repetition");
    if !args.runs("apply") {
        return inventory;
    }
    let n = args.nodes as f64;
    let (load_t, update_t, resync_t) = (median(&load_s), median(&update_s), median(&resync_s));
    println!(
        "\n[apply] load {} ({}), update {} ({}), resync of {} with {} swept {} — runs: {}",
        secs(load_t),
        rate(n / load_t),
        secs(update_t),
        rate(n / update_t),
        args.nodes - data.missing,
        data.missing,
        secs(resync_t),
        list(&[&load_s, &update_s, &resync_s])
    );
    println!(
        "[apply] CPU time of the process (every applying thread) — runs: {}",
        list(&[&cpu_s[0], &cpu_s[1], &cpu_s[2]])
    );
    table.row(
        "apply: first load (in-process)",
        rate(n / load_t),
        "≥ 500,000 nodes/s",
        Some(n / load_t >= GOAL_APPLY_PER_S),
    );
    table.row(
        "apply: update pass, label changed",
        rate(n / update_t),
        "≥ 500,000 nodes/s",
        Some(n / update_t >= GOAL_APPLY_PER_S),
    );
    let resync_goal = GOAL_RESYNC_S_PER_100K * n / 100_000.0;
    table.row(
        &format!("full resync, {} nodes, ~1 % swept", args.nodes),
        secs(resync_t),
        &if args.nodes == 100_000 {
            format!("≤ {}", secs(resync_goal))
        } else {
            format!("≤ {} (1 s per 100,000)", secs(resync_goal))
        },
        Some(resync_t <= resync_goal),
    );
    inventory
}

fn select_phase(
    args: &Args,
    inventory: &Inventory,
    (selective, broad): (Selector, Selector),
    table: &mut Table,
) {
    for (what, selector) in [("selective", &selective), ("broad", &broad)] {
        let q = query(inventory, selector, if args.quick { 3 } else { 7 });
        q.print(what, selector);
        table.row(
            &format!("{what} selector, first page of 500: scan / index"),
            format!(
                "{} ({} vs {})",
                ratio(q.scan / q.page),
                ms(q.page),
                ms(q.scan)
            ),
            "(no goal)",
            None,
        );
        table.row(
            &format!("{what} selector, every match: scan / index"),
            format!(
                "{} ({} vs {})",
                ratio(q.scan / q.all),
                ms(q.all),
                ms(q.scan)
            ),
            "(no goal)",
            None,
        );
    }
}

fn grpc_phase(spec: &FleetSpec, args: &Args, table: &mut Table) {
    let n = args.nodes as f64;
    let grpc = grpc(spec, args);
    println!(
        "\n[grpc] one Sync stream, {} in flight: tonic client {} (runs {}, {:.2} cores busy), \
         pre-encoded {} (runs {}, {:.2} cores busy)",
        args.in_flight,
        rate(n / median(&grpc.encoding)),
        list(&[&grpc.encoding]),
        median(&grpc.encoding_cores),
        rate(n / median(&grpc.pre_encoded)),
        list(&[&grpc.pre_encoded]),
        median(&grpc.pre_encoded_cores),
    );
    let r = n / median(&grpc.encoding);
    table.row(
        "gRPC Sync upserts, one stream",
        rate(r),
        "≥ 200,000 nodes/s",
        Some(r >= GOAL_GRPC_PER_S),
    );
    let r = n / median(&grpc.pre_encoded);
    table.row(
        "  same, client encoding done beforehand",
        rate(r),
        "(server share)",
        None,
    );
    println!(
        "[grpc] experiment, pre-encoded against the Inventory service with {} MiB HTTP/2 \
         windows: {} (runs {}, {:.2} cores busy)",
        WIDE_WINDOW >> 20,
        rate(n / median(&grpc.wide)),
        list(&[&grpc.wide]),
        median(&grpc.wide_cores),
    );
    table.row(
        "  same, experiment: 16 MiB HTTP/2 windows",
        rate(n / median(&grpc.wide)),
        "(diagnostic)",
        None,
    );
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

struct Memory {
    nodes: usize,
    empty_kib: u64,
    loaded_kib: u64,
    dropped_kib: u64,
}

impl Memory {
    fn bytes_per_node(&self) -> f64 {
        (self.loaded_kib.saturating_sub(self.empty_kib) * 1024) as f64 / self.nodes as f64
    }
}

/// `VmRSS` of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs in the child: loads the fleet chunk by chunk and prints `key=value` lines.
fn memory_child(args: &Args) {
    let spec = FleetSpec::nodes(args.nodes);
    let inv = Arc::new(Inventory::new(args.shards));
    let mut session = SyncSession::new(inv.clone());
    // Warm the allocator with one chunk's worth of generation (nodes outside the fleet,
    // never applied), so the empty figure includes the arenas a chunk needs.
    drop(black_box(fleet::generate_range(
        &spec,
        args.nodes..args.nodes + args.batch,
    )));
    let empty = rss_kib();
    let mut start = 0;
    while start < args.nodes {
        let end = (start + args.batch).min(args.nodes);
        let mut upsert_nodes = fleet::generate_range(&spec, start..end);
        if let Some(key) = &args.without_label {
            for node in &mut upsert_nodes {
                node.labels.remove(key);
            }
        }
        let batch = Batch {
            upsert_nodes,
            ..Batch::default()
        };
        session.apply(&batch).expect("no resync in this batch");
        start = end;
    }
    let loaded = rss_kib();
    assert_eq!(inv.node_count(), args.nodes);
    drop(session);
    drop(inv);
    let dropped = rss_kib();
    println!("empty_kib={empty}\nloaded_kib={loaded}\ndropped_kib={dropped}");
}

fn memory_in_child(args: &Args) -> Option<Memory> {
    let exe = std::env::current_exe().ok()?;
    let mut command = std::process::Command::new(exe);
    if let Some(key) = &args.without_label {
        command.args(["--without-label", key]);
    }
    let out = command
        .args([
            "--memory-child",
            "--nodes",
            &args.nodes.to_string(),
            "--batch",
            &args.batch.to_string(),
            "--shards",
            &args.shards.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "memory child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let values: HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect();
    Some(Memory {
        nodes: args.nodes,
        empty_kib: *values.get("empty_kib")?,
        loaded_kib: *values.get("loaded_kib")?,
        dropped_kib: *values.get("dropped_kib")?,
    })
}

// ---------------------------------------------------------------------------
// The fleet
// ---------------------------------------------------------------------------

fn describe_fleet(nodes: &[Node], took: Duration) {
    let n = nodes.len().max(1) as f64;
    let labels = nodes.iter().map(|n| n.labels.len()).sum::<usize>() as f64 / n;
    let tainted = nodes.iter().filter(|n| !n.taints.is_empty()).count() as f64 * 100.0 / n;
    let wire = nodes
        .iter()
        .take(1_000)
        .map(|n| fleet::to_pb(n).encoded_len())
        .sum::<usize>() as f64
        / nodes.len().clamp(1, 1_000) as f64;
    println!(
        "[fleet] generated in {}: {labels:.1} labels/node, {tainted:.1} % tainted, \
         {wire:.0} B/node on the wire",
        secs(took.as_secs_f64())
    );
}

fn batches(nodes: Vec<Node>, size: usize) -> Vec<Batch> {
    let mut out = Vec::with_capacity(nodes.len().div_ceil(size));
    let mut it = nodes.into_iter().peekable();
    while it.peek().is_some() {
        out.push(Batch {
            upsert_nodes: it.by_ref().take(size).collect(),
            ..Batch::default()
        });
    }
    out
}

fn apply_all(session: &mut SyncSession, batches: &[Batch]) -> BatchOutcome {
    let mut total = BatchOutcome::default();
    for b in batches {
        let out = session.apply(b).expect("valid resync markers");
        total.applied += out.applied;
        total.unchanged += out.unchanged;
        total.stale += out.stale;
        total.swept += out.swept;
        total.revision = out.revision;
    }
    total
}

fn check(rep: usize, phase: &str, got: usize, want: usize, what: &str) {
    if got != want {
        eprintln!("WARNING: run {rep}, {phase}: {got} {what}, expected {want}");
    }
}

// ---------------------------------------------------------------------------
// Cost breakdown
// ---------------------------------------------------------------------------

struct Breakdown {
    nodes: usize,
    encode: f64,
    decode: f64,
    validate: f64,
    apply: f64,
    /// Dropping the converted batches: the server frees every batch it applies.
    free: f64,
}

impl Breakdown {
    fn print(&self) {
        let us = |t: f64| t / self.nodes as f64 * 1e6;
        let server = self.decode + self.validate + self.apply + self.free;
        println!(
            "\n[breakdown] per node, CPU time (apply: of all its threads): client encode {:.2} µs \
             | server: \
             decode {:.2} µs + validate/convert {:.2} µs + apply {:.2} µs + free {:.2} µs \
             = {:.2} µs of CPU → at most {} per core",
            us(self.encode),
            us(self.decode),
            us(self.validate),
            us(self.apply),
            us(self.free),
            us(server),
            rate(self.nodes as f64 / server),
        );
    }
}

/// Times each step of the `Sync` path on a single thread: encode (client), decode, validate
/// and convert, apply, free (server). Medians over `reps`, in CPU time.
fn breakdown(load: &[Batch], reps: usize) -> Breakdown {
    let requests: Vec<pb::SyncRequest> = load
        .iter()
        .enumerate()
        .map(|(i, b)| sync_request(i as u64, &b.upsert_nodes))
        .collect();
    let nodes: usize = load.iter().map(|b| b.upsert_nodes.len()).sum();
    let mut steps: [Vec<f64>; 5] = Default::default();
    for _ in 0..reps {
        let (t, encoded) = cpu_timed(|| {
            requests
                .iter()
                .map(|r| Bytes::from(r.encode_to_vec()))
                .collect::<Vec<_>>()
        });
        steps[0].push(t);
        let (t, decoded) = cpu_timed(|| {
            encoded
                .iter()
                .map(|b| pb::SyncRequest::decode(b.clone()).expect("decodes"))
                .collect::<Vec<_>>()
        });
        steps[1].push(t);
        drop(encoded);
        let (t, converted) = cpu_timed(|| {
            decoded
                .into_iter()
                .map(|r| {
                    let (batch, rejected) = batch_from_pb(r);
                    assert!(
                        rejected.is_empty(),
                        "generated nodes are valid: {rejected:?}"
                    );
                    batch
                })
                .collect::<Vec<_>>()
        });
        steps[2].push(t);
        let mut session = SyncSession::new(Arc::new(Inventory::default()));
        let (t, _) = cpu_timed(|| apply_all(&mut session, &converted));
        steps[3].push(t);
        let (t, ()) = cpu_timed(|| drop(converted));
        steps[4].push(t);
    }
    let [encode, decode, validate, apply, free] = steps.map(|s| median(&s));
    Breakdown {
        nodes,
        encode,
        decode,
        validate,
        apply,
        free,
    }
}

/// Like [`timed`], but CPU seconds of this process (of every thread, as `apply` may use
/// several): a figure that holds up on a machine shared with other work.
fn cpu_timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let started = cpu_seconds();
    let out = black_box(f());
    (cpu_seconds() - started, out)
}

fn sync_request(batch_id: u64, nodes: &[Node]) -> pb::SyncRequest {
    pb::SyncRequest {
        batch_id,
        upsert_nodes: nodes.iter().map(fleet::to_pb).collect(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------

/// A selective selector — the (instance type, zone) pair whose share of the fleet is closest
/// to 1 % — and a broad one (~60 %: on-demand amd64 nodes without GPUs).
fn selectors(load: &[Batch]) -> (Selector, Selector) {
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    let mut total = 0;
    for n in load.iter().flat_map(|b| &b.upsert_nodes) {
        let it = n.labels["node.kubernetes.io/instance-type"].as_str();
        let zone = n.labels["topology.kubernetes.io/zone"].as_str();
        *pairs.entry((it, zone)).or_default() += 1;
        total += 1;
    }
    let target = total / 100;
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort();
    let ((it, zone), _) = pairs
        .into_iter()
        .min_by_key(|&(_, count)| count.abs_diff(target))
        .expect("a non-empty fleet");
    let selective =
        format!("node.kubernetes.io/instance-type={it},topology.kubernetes.io/zone={zone}");
    let broad = "kubernetes.io/arch=amd64,node.kubernetes.io/lifecycle notin (spot),\
                 !example.com/gpu-count";
    (
        Selector::parse(&selective).expect("valid selector"),
        Selector::parse(broad).expect("valid selector"),
    )
}

struct Query {
    matches: usize,
    nodes: usize,
    count: f64,
    page: f64,
    all: f64,
    scan: f64,
}

impl Query {
    fn print(&self, what: &str, selector: &Selector) {
        println!(
            "\n[select] {what} `{selector}`: {} of {} nodes ({:.1} %)\n  \
             index: count only {}, first page of 500 {}, every match {} | scan oracle {} \
             | scan / every-match {}, scan / page {}",
            self.matches,
            self.nodes,
            self.matches as f64 * 100.0 / self.nodes.max(1) as f64,
            ms(self.count),
            ms(self.page),
            ms(self.all),
            ms(self.scan),
            ratio(self.scan / self.all),
            ratio(self.scan / self.page),
        );
    }
}

fn query(inv: &Inventory, selector: &Selector, reps: usize) -> Query {
    let (mut count, mut page, mut all, mut scan) = (vec![], vec![], vec![], vec![]);
    let mut matches = 0;
    for _ in 0..reps {
        let (t, p) = timed(|| inv.list_nodes(selector, None, 0));
        count.push(t);
        matches = p.total;
        let (t, p) = timed(|| inv.list_nodes(selector, None, 500));
        page.push(t);
        black_box(p);
        let (t, indexed) = timed(|| inv.list_nodes(selector, None, usize::MAX));
        all.push(t);
        let (t, scanned) = timed(|| inv.scan_nodes(|n| selector.matches(&n.labels)));
        scan.push(t);
        let a: Vec<&str> = indexed.nodes.iter().map(|(n, _)| n.name.as_str()).collect();
        let b: Vec<&str> = scanned.iter().map(|n| n.name.as_str()).collect();
        if a != b {
            eprintln!(
                "WARNING: index and scan disagree on `{selector}`: {} vs {} nodes",
                a.len(),
                b.len()
            );
        }
    }
    Query {
        matches,
        nodes: inv.node_count(),
        count: median(&count),
        page: median(&page),
        all: median(&all),
        scan: median(&scan),
    }
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

struct Grpc {
    encoding: Vec<f64>,
    pre_encoded: Vec<f64>,
    /// Pre-encoded requests against [`start_wide_windows`].
    wide: Vec<f64>,
    wide_cores: Vec<f64>,
    /// Process CPU seconds per wall second while streaming (2.0 = both cores busy).
    encoding_cores: Vec<f64>,
    pre_encoded_cores: Vec<f64>,
}

fn grpc(spec: &FleetSpec, args: &Args) -> Grpc {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let requests: Vec<pb::SyncRequest> = fleet::generate(spec)
        .chunks(args.batch)
        .enumerate()
        .map(|(i, chunk)| sync_request(i as u64, chunk))
        .collect();
    let encoded: Vec<Bytes> = requests
        .iter()
        .map(|r| Bytes::from(r.encode_to_vec()))
        .collect();
    let mut result = Grpc {
        encoding: vec![],
        pre_encoded: vec![],
        encoding_cores: vec![],
        pre_encoded_cores: vec![],
        wide: vec![],
        wide_cores: vec![],
    };
    runtime.block_on(async {
        dsched::telemetry::metrics_handle();
        for _ in 0..args.reps {
            let server = Server::start(args.shards).await;
            let (t, cpu) = stream_encoding(server.channel().await, requests.clone(), args).await;
            result.encoding.push(t);
            result.encoding_cores.push(cpu / t);
            server.stop().await;
            let server = Server::start(args.shards).await;
            let (t, cpu) = stream_pre_encoded(server.channel().await, encoded.clone(), args).await;
            result.pre_encoded.push(t);
            result.pre_encoded_cores.push(cpu / t);
            server.stop().await;
            let server = start_wide_windows(args.shards, WIDE_WINDOW).await;
            let (t, cpu) = stream_pre_encoded(server.channel().await, encoded.clone(), args).await;
            result.wide.push(t);
            result.wide_cores.push(cpu / t);
            server.stop().await;
        }
    });
    result
}

/// The wide-window experiment's server.
struct WideServer {
    addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl WideServer {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// An experiment, not the shipped wiring: the same `Inventory` service alone on a tonic
/// server whose HTTP/2 receive windows are both `window` bytes, without the edge layer,
/// reflection and health, to show how much of the stream's rate flow control still costs.
async fn start_wide_windows(shards: usize, window: u32) -> WideServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let addr = listener.local_addr().expect("address");
    let inventory = Arc::new(Inventory::new(shards));
    let (_down_tx, down_rx) = tokio::sync::watch::channel(false);
    let service = pb::inventory_server::InventoryServer::new(
        dsched::grpc::inventory::InventoryService::new(inventory, down_rx),
    )
    .max_decoding_message_size(256 << 20)
    .max_encoding_message_size(256 << 20);
    let (stop, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _keep_open = _down_tx;
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .initial_stream_window_size(Some(window))
            .initial_connection_window_size(Some(window))
            .add_service(service)
            .serve_with_incoming_shutdown(
                // As `server::run` does: the builder's `tcp_nodelay` does not reach
                // sockets accepted from a listener of ours.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = rx.await;
                },
            )
            .await
            .map_err(anyhow::Error::from)
    });
    WideServer { addr, stop, task }
}

/// Sends every request on one stream with at most `in_flight` unacknowledged, as a
/// controller pipelines its listing; returns the seconds from the first send to the last
/// acknowledgement, and the process CPU seconds spent meanwhile. Items are checked, times
/// are not.
async fn pipeline<M: Send + 'static>(
    messages: Vec<M>,
    in_flight: usize,
    open: impl AsyncFnOnce(ReceiverStream<M>) -> tonic::Streaming<pb::SyncResponse>,
) -> (f64, f64) {
    let count = messages.len();
    let (tx, rx) = mpsc::channel(in_flight);
    let window = Arc::new(Semaphore::new(in_flight));
    let mut responses = open(ReceiverStream::new(rx)).await;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let sender = {
        let window = window.clone();
        tokio::spawn(async move {
            for m in messages {
                window.acquire().await.expect("open").forget();
                if tx.send(m).await.is_err() {
                    break;
                }
            }
            // Keep the stream open until every acknowledgement is in.
            tx
        })
    };
    let mut applied = 0u64;
    for _ in 0..count {
        match responses.message().await {
            Ok(Some(ack)) => {
                applied += u64::from(ack.applied);
                if !ack.rejected.is_empty() {
                    eprintln!("WARNING: batch {} had rejections", ack.batch_id);
                }
                window.add_permits(1);
            }
            other => panic!("want an acknowledgement, got {other:?}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    drop(sender.await);
    black_box(applied);
    (elapsed, cpu)
}

/// User + system CPU time of this process (`/proc/self/stat`, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

async fn stream_encoding(
    channel: Channel,
    requests: Vec<pb::SyncRequest>,
    args: &Args,
) -> (f64, f64) {
    let mut client = pb::inventory_client::InventoryClient::new(channel)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    pipeline(requests, args.in_flight, async |stream| {
        client.sync(stream).await.expect("open sync").into_inner()
    })
    .await
}

async fn stream_pre_encoded(channel: Channel, encoded: Vec<Bytes>, args: &Args) -> (f64, f64) {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    pipeline(encoded, args.in_flight, async |stream| {
        grpc.ready().await.expect("ready");
        grpc.streaming(
            tonic::Request::new(stream),
            http::uri::PathAndQuery::from_static("/dsched.v1.Inventory/Sync"),
            PreEncoded,
        )
        .await
        .expect("open sync")
        .into_inner()
    })
    .await
}

/// A codec whose requests are protobuf bytes encoded beforehand: the client only copies
/// them into frames, so the stream's rate is the server's.
#[derive(Clone, Copy, Debug)]
struct PreEncoded;

#[derive(Clone, Copy, Debug)]
struct CopyEncoder;

impl tonic::codec::Encoder for CopyEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = pb::SyncResponse;
    type Encoder = CopyEncoder;
    type Decoder = tonic_prost::ProstDecoder<pb::SyncResponse>;

    fn encoder(&mut self) -> CopyEncoder {
        CopyEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

fn rate(per_s: f64) -> String {
    let n = per_s.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} nodes/s")
}

fn list(runs: &[&Vec<f64>]) -> String {
    runs.iter()
        .map(|r| {
            r.iter()
                .map(|&t| format!("{:.3}", t))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect::<Vec<_>>()
        .join(", ")
        + " s"
}
