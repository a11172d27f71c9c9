//! The rollout benchmark: how long one `NextBatch` takes on a large fleet mid-rollout, and
//! what share of it the planner has against gathering its input from the index.
//!
//! ```text
//! cargo bench --bench rollout                          # 10,000 and 100,000 nodes
//! cargo bench --bench rollout -- --nodes 10000         # one size
//! cargo bench --bench rollout -- --quick               # 10,000 nodes, fewer repetitions
//! cargo bench --bench rollout -- --nodes 100000 --only inproc --variant wave   # for perf
//! ```
//!
//! It is a program that prints a table, not a test: nothing here fails on a slow figure.
//! Goals (issue 4): `NextBatch` on 10,000 nodes mid-rollout ≤ 2 ms, on 100,000 ≤ 30 ms.
//!
//! Setup per fleet size: `dsched::fleet` nodes (default seed); three DaemonSets applied at
//! revision `rev-1` then `rev-2` (different templates), placement = the DaemonSet default
//! tolerations only (so tainted nodes are `keep` or excluded), `minReadySeconds` 10:
//!
//! - `no-surge`: `maxUnavailable: 10%`;
//! - `surge`: `maxSurge: 10%`, `maxUnavailable: 0`;
//! - `wave`: `maxUnavailable: 10%`, `topologyKey: topology.kubernetes.io/zone`.
//!
//! Pods, one per node the placement lists (run or keep), nodes ordered by (zone, name): the
//! first 40 % run `rev-2` and are available; the next 3 % run a `rev-2` pod not yet ready
//! (surge: next to the still available old pod); no-surge/wave: the next 1 % have their old
//! pod terminating (`deleting`); the rest run `rev-1`, available.
//!
//! Figures, each the median of `--reps` calls at a fixed `now`:
//!
//! 1. **in-process service**: `RolloutService::next_batch` called through the generated trait
//!    on the service object, as the server's handler runs it, without transport.
//! 2. **over gRPC**: a tonic client against `dsched::server::run` on 127.0.0.1:0, loaded with
//!    the same fleet, pods and DaemonSets through `Sync` and `Apply`.
//! 3. **breakdown**: the same sync in its two halves, on the service's own code
//!    (`dsched::rollout_sync`): `SyncInput::gather` (placement evaluation with every name
//!    and domain, the DaemonSet's pods, each pod matched to its node) and `SyncInput::plan`
//!    (the node list merged by name and `domain::rollout::plan_view`).

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use dsched::domain::validate::FieldPath;
use dsched::domain::{Node, Time};
use dsched::fleet::{self, FleetSpec};
use dsched::grpc::convert::pod_from_pb;
use dsched::grpc::daemonsets::DaemonSetsService;
use dsched::grpc::pb;
use dsched::grpc::pb::daemon_sets_client::DaemonSetsClient;
use dsched::grpc::pb::daemon_sets_server::DaemonSets as _;
use dsched::grpc::pb::inventory_client::InventoryClient;
use dsched::grpc::pb::rollout_client::RolloutClient;
use dsched::grpc::pb::rollout_server::Rollout as _;
use dsched::grpc::rollout::RolloutService;
use dsched::grpc::state::State;
use dsched::index::plan::{Names, Plan};
use dsched::rollout_sync::SyncInput;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::transport::Channel;

use common::{Server, Table, max, median, min, ms};

const NAMESPACE: &str = "kube-system";
const ZONE_KEY: &str = "topology.kubernetes.io/zone";
/// The fixed `now` of every call (2027-01-15), so the answer is the same on every run.
const NOW: i64 = 1_800_000_000;
const MIN_READY_SECONDS: i32 = 10;
const NEW_PERCENT: f64 = 40.0;
const NOT_READY_PERCENT: f64 = 3.0;
const DELETING_PERCENT: f64 = 1.0;
const SYNC_BATCH: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    NoSurge,
    Surge,
    Wave,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::NoSurge, Variant::Surge, Variant::Wave];

    fn name(self) -> &'static str {
        match self {
            Variant::NoSurge => "no-surge",
            Variant::Surge => "surge",
            Variant::Wave => "wave",
        }
    }

    fn daemonset(self) -> String {
        format!("node-agent-{}", self.name())
    }

    fn rolling(self) -> pb::RollingUpdate {
        match self {
            Variant::NoSurge => pb::RollingUpdate {
                max_unavailable: "10%".into(),
                ..Default::default()
            },
            Variant::Surge => pb::RollingUpdate {
                max_unavailable: "0".into(),
                max_surge: "10%".into(),
                ..Default::default()
            },
            Variant::Wave => pb::RollingUpdate {
                max_unavailable: "10%".into(),
                topology_key: ZONE_KEY.into(),
                ..Default::default()
            },
        }
    }

    /// `Apply` of revision `rev` (1 or 2).
    fn apply(self, rev: u32) -> pb::ApplyRequest {
        pb::ApplyRequest {
            daemonset: Some(pb::DaemonSet {
                namespace: NAMESPACE.into(),
                name: self.daemonset(),
                placement: Some(pb::PodPlacement::default()),
                update_strategy: Some(pb::UpdateStrategy {
                    r#type: "RollingUpdate".into(),
                    rolling_update: Some(self.rolling()),
                }),
                min_ready_seconds: MIN_READY_SECONDS,
                revision_history_limit: None,
                template: format!(r#"{{"containers":[{{"image":"node-agent:{rev}.0"}}]}}"#),
                revision_hash: format!("rev-{rev}"),
                change_cause: format!("image {rev}.0"),
                revision: 0,
            }),
        }
    }

    fn request(self) -> pb::NextBatchRequest {
        pb::NextBatchRequest {
            namespace: NAMESPACE.into(),
            name: self.daemonset(),
            now: Some(prost_types::Timestamp {
                seconds: NOW,
                nanos: 0,
            }),
        }
    }
}

#[derive(Clone, Debug)]
struct Args {
    sizes: Vec<usize>,
    reps: Option<usize>,
    variants: Vec<Variant>,
    /// `inproc`, `grpc`, `breakdown`; empty = all.
    only: Vec<String>,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }

    fn reps(&self, nodes: usize) -> usize {
        self.reps.unwrap_or(if nodes >= 50_000 { 11 } else { 31 })
    }
}

const USAGE: &str = "usage: rollout [--nodes N[,N…]] [--reps N] [--quick] \
                     [--variant no-surge,surge,wave] [--only inproc,grpc,breakdown]";

fn parse_args() -> Args {
    let mut args = Args {
        sizes: vec![10_000, 100_000],
        reps: None,
        variants: Variant::ALL.to_vec(),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    let fail = |msg: String| -> ! {
        eprintln!("{msg}\n{USAGE}");
        std::process::exit(2);
    };
    let number = |s: &str| -> usize {
        match s.replace('_', "").parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => fail(format!("{s:?} is not a positive whole number")),
        }
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next()).unwrap_or_default();
        match flag.as_str() {
            "--nodes" => args.sizes = value().split(',').map(number).collect(),
            "--reps" => args.reps = Some(number(&value())),
            "--quick" => {
                args.sizes = vec![10_000];
                args.reps = Some(5);
            }
            "--variant" => {
                args.variants = value()
                    .split(',')
                    .map(|v| {
                        Variant::ALL
                            .into_iter()
                            .find(|x| x.name() == v)
                            .unwrap_or_else(|| fail(format!("unknown variant {v:?}")))
                    })
                    .collect();
            }
            "--only" => {
                for p in value().split(',') {
                    if !["inproc", "grpc", "breakdown"].contains(&p) {
                        fail(format!("unknown phase {p:?}"));
                    }
                    args.only.push(p.to_owned());
                }
            }
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other if !other.starts_with('-') => {}
            other => fail(format!("unknown flag {other}")),
        }
    }
    args
}

fn goal_ms(nodes: usize) -> Option<f64> {
    match nodes {
        10_000 => Some(2.0),
        100_000 => Some(30.0),
        _ => None,
    }
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // As the server process does: metrics are recorded by the handler.
    dsched::telemetry::metrics_handle();
    println!(
        "dsched rollout benchmark: sizes {:?}, variants {:?}, now = {NOW}",
        args.sizes,
        args.variants.iter().map(|v| v.name()).collect::<Vec<_>>()
    );
    let mut table = Table::default();
    for &n in &args.sizes {
        runtime.block_on(size(&args, n, &mut table));
    }
    table.print();
}

/// One fleet size: every phase, every variant.
async fn size(args: &Args, n: usize, table: &mut Table) {
    let reps = args.reps(n);
    let started = Instant::now();
    let nodes = fleet::generate(&FleetSpec::nodes(n));
    let zone: HashMap<&str, &str> = nodes
        .iter()
        .map(|node| {
            let z = node.labels.get(ZONE_KEY).map_or("", String::as_str);
            (node.name.as_str(), z)
        })
        .collect();

    // The in-process service's state.
    let state = State::default();
    state.inventory.upsert_nodes(&nodes);
    let daemonsets = DaemonSetsService::new(state.clone());
    let service = RolloutService::new(state.clone());
    let mut pods_of: Vec<(Variant, Vec<pb::DaemonPod>)> = Vec::new();
    for &v in &args.variants {
        for rev in [1, 2] {
            daemonsets
                .apply(Request::new(v.apply(rev)))
                .await
                .expect("apply");
        }
        let ds = state
            .registry
            .get(NAMESPACE, &v.daemonset())
            .expect("registered");
        let listed = state
            .inventory
            .evaluate(&Plan::compile(&ds.spec.placement), None, usize::MAX);
        let pods = mid_rollout_pods(v, &listed.names, &zone);
        for p in &pods {
            let pod = pod_from_pb(p.clone(), &FieldPath::root("pod")).expect("valid pod");
            state.inventory.upsert_pod(&pod);
        }
        println!(
            "\n[{n} nodes] {}: {} nodes listed ({} shouldRun, {} keep), {} pods reported",
            v.name(),
            listed.names.len(),
            listed.should_run,
            listed.keep,
            pods.len()
        );
        pods_of.push((v, pods));
    }
    println!(
        "[{n} nodes] fleet generated and loaded in-process in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let goal = goal_ms(n);
    let goal_text = goal.map_or("(no goal)".to_owned(), |g| format!("≤ {g} ms"));
    let mut inproc: HashMap<&'static str, f64> = HashMap::new();

    if args.runs("inproc") {
        for &v in &args.variants {
            let mut times = Vec::new();
            let mut answer = None;
            // One warm-up call, then the timed ones.
            for i in 0..=reps {
                let req = Request::new(v.request());
                let t = Instant::now();
                let r = service.next_batch(req).await.expect("next batch");
                let dt = t.elapsed().as_secs_f64();
                if i > 0 {
                    times.push(dt);
                }
                answer = Some(r.into_inner());
            }
            let a = answer.expect("an answer");
            let m = median(&times);
            inproc.insert(v.name(), m);
            println!(
                "[{n} nodes] {} in-process NextBatch: median {} (min {}, max {}) over {} — \
                 {} creates, {} deletes, waiting {:?}, complete {}",
                v.name(),
                ms(m),
                ms(min(&times)),
                ms(max(&times)),
                times.len(),
                a.create_on.len(),
                a.delete.len(),
                a.waiting_reason,
                a.complete,
            );
            table.row(
                &format!("{n} nodes, {}: NextBatch in-process", v.name()),
                ms(m),
                &goal_text,
                goal.map(|g| m * 1e3 <= g),
            );
        }
    }

    if args.runs("breakdown") {
        for &v in &args.variants {
            let b = breakdown(&state, v, reps);
            b.print(n, v);
            let total = b.gather + b.plan;
            let share = |x: f64| format!("{} ({:.0} %)", ms(x), 100.0 * x / total);
            table.row(
                &format!("  {n}, {}: gather (index, pods, matching)", v.name()),
                share(b.gather),
                "(share of gather + plan)",
                None,
            );
            table.row(
                &format!("  {n}, {}: plan (node list, planner)", v.name()),
                share(b.plan),
                "(share of gather + plan)",
                None,
            );
        }
    }
    drop(daemonsets);
    drop(service);
    drop(state);

    if args.runs("grpc") {
        let server = Server::start(dsched::config::DEFAULT_SHARDS).await;
        let channel = server.channel().await;
        let t = Instant::now();
        load_over_grpc(&channel, &nodes, &pods_of).await;
        let mut ds_client = DaemonSetsClient::new(channel.clone());
        for &v in &args.variants {
            for rev in [1, 2] {
                ds_client
                    .apply(v.apply(rev))
                    .await
                    .expect("apply over gRPC");
            }
        }
        println!(
            "\n[{n} nodes] server loaded over gRPC (Sync + Apply) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let mut client = RolloutClient::new(channel.clone()).max_decoding_message_size(256 << 20);
        for &v in &args.variants {
            let mut times = Vec::new();
            let mut answer = None;
            for i in 0..=reps {
                let t = Instant::now();
                let r = client.next_batch(v.request()).await.expect("next batch");
                let dt = t.elapsed().as_secs_f64();
                if i > 0 {
                    times.push(dt);
                }
                answer = Some(r.into_inner());
            }
            let a = answer.expect("an answer");
            let m = median(&times);
            println!(
                "[{n} nodes] {} over gRPC NextBatch: median {} (min {}, max {}) over {} — \
                 {} creates, {} deletes, waiting {:?}",
                v.name(),
                ms(m),
                ms(min(&times)),
                ms(max(&times)),
                times.len(),
                a.create_on.len(),
                a.delete.len(),
                a.waiting_reason,
            );
            let vs = inproc
                .get(v.name())
                .map(|t| format!(" ({:.2}× in-process)", m / t))
                .unwrap_or_default();
            table.row(
                &format!("{n} nodes, {}: NextBatch over gRPC", v.name()),
                format!("{}{vs}", ms(m)),
                &goal_text,
                goal.map(|g| m * 1e3 <= g),
            );
        }
        drop(client);
        drop(ds_client);
        drop(channel);
        server.stop().await;
    }
}

/// The pods of one DaemonSet mid-rollout over the listed nodes, as the module doc describes.
fn mid_rollout_pods(v: Variant, listed: &Names, zone: &HashMap<&str, &str>) -> Vec<pb::DaemonPod> {
    let mut order: Vec<(&str, &str)> = listed
        .iter()
        .map(|(name, _)| (zone.get(name).copied().unwrap_or(""), name))
        .collect();
    order.sort_unstable();
    let total = order.len() as f64;
    let new_end = (total * NEW_PERCENT / 100.0) as usize;
    let not_ready_end = new_end + (total * NOT_READY_PERCENT / 100.0) as usize;
    let deleting_end = not_ready_end + (total * DELETING_PERCENT / 100.0) as usize;
    let ts = |s: i64| prost_types::Timestamp {
        seconds: s,
        nanos: 0,
    };
    let ds = v.daemonset();
    let pod = |i: usize, suffix: &str, node: &str, rev: u32| pb::DaemonPod {
        namespace: NAMESPACE.into(),
        daemonset: ds.clone(),
        name: format!("{ds}-{i:06}{suffix}"),
        node: node.to_owned(),
        revision_hash: format!("rev-{rev}"),
        phase: "Running".into(),
        ready: true,
        created: Some(ts(NOW - if rev == 1 { 86_400 } else { 1_800 })),
        ready_since: Some(ts(NOW - if rev == 1 { 86_000 } else { 1_700 })),
        ..Default::default()
    };
    let mut pods = Vec::with_capacity(order.len() + order.len() / 20);
    for (i, &(_, node)) in order.iter().enumerate() {
        if i < new_end {
            pods.push(pod(i, "", node, 2));
        } else if i < not_ready_end {
            let mut new = pod(i, "n", node, 2);
            new.ready = false;
            new.ready_since = None;
            new.created = Some(ts(NOW - 5));
            new.phase = if i % 2 == 0 { "Pending" } else { "Running" }.into();
            if v == Variant::Surge {
                pods.push(pod(i, "", node, 1));
            }
            pods.push(new);
        } else if i < deleting_end && v != Variant::Surge {
            let mut old = pod(i, "", node, 1);
            old.deleting = true;
            pods.push(old);
        } else {
            pods.push(pod(i, "", node, 1));
        }
    }
    pods
}

// ---------------------------------------------------------------------------
// Breakdown
// ---------------------------------------------------------------------------

/// Medians of the two halves of a sync, and the size of its input.
struct Breakdown {
    registry_get: f64,
    gather: f64,
    plan: f64,
    drop: f64,
    nodes: usize,
    pods: usize,
}

impl Breakdown {
    fn print(&self, n: usize, v: Variant) {
        println!(
            "[{n} nodes] {} sync breakdown (medians, {} nodes, {} pods): registry.get {} | \
             SyncInput::gather {} | SyncInput::plan {} | drop {}",
            v.name(),
            self.nodes,
            self.pods,
            ms(self.registry_get),
            ms(self.gather),
            ms(self.plan),
            ms(self.drop),
        );
    }
}

/// `RolloutService::sync`'s steps, each timed: the registry lookup, then the service's own
/// `SyncInput::gather` and `SyncInput::plan`, then dropping what they made.
fn breakdown(state: &State, v: Variant, reps: usize) -> Breakdown {
    let mut steps: Vec<[f64; 4]> = Vec::new();
    let (mut nodes, mut pods) = (0, 0);
    let name = v.daemonset();
    let now = Time {
        seconds: NOW,
        nanos: 0,
    };
    for i in 0..=reps {
        let mut s = [0.0; 4];
        let mut t = Instant::now();
        let mut lap = |slot: usize, s: &mut [f64; 4]| {
            s[slot] = t.elapsed().as_secs_f64();
            t = Instant::now();
        };
        let ds = state.registry.get(NAMESPACE, &name).expect("registered");
        lap(0, &mut s);
        let input = SyncInput::gather(&state.inventory, &ds);
        lap(1, &mut s);
        let plan = input.plan(&ds, now);
        lap(2, &mut s);
        assert!(
            !plan.create_on.is_empty() || !plan.delete.is_empty() || plan.waiting.is_some(),
            "{}: the scenario should be mid-rollout",
            v.name()
        );
        (nodes, pods) = (input.nodes(), input.pods());
        drop(black_box((input, plan, ds)));
        lap(3, &mut s);
        if i > 0 {
            steps.push(s);
        }
    }
    let col = |k: usize| median(&steps.iter().map(|s| s[k]).collect::<Vec<_>>());
    Breakdown {
        registry_get: col(0),
        gather: col(1),
        plan: col(2),
        drop: col(3),
        nodes,
        pods,
    }
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

/// Nodes, then every DaemonSet's pods, through one `Sync` stream, one batch at a time.
async fn load_over_grpc(channel: &Channel, nodes: &[Node], pods: &[(Variant, Vec<pb::DaemonPod>)]) {
    let mut client = InventoryClient::new(channel.clone())
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let mut requests: Vec<pb::SyncRequest> = nodes
        .chunks(SYNC_BATCH)
        .map(|c| pb::SyncRequest {
            upsert_nodes: c.iter().map(fleet::to_pb).collect(),
            ..Default::default()
        })
        .collect();
    for (_, p) in pods {
        requests.extend(p.chunks(SYNC_BATCH).map(|c| pb::SyncRequest {
            upsert_pods: c.to_vec(),
            ..Default::default()
        }));
    }
    let (tx, rx) = mpsc::channel(4);
    let mut responses = client
        .sync(ReceiverStream::new(rx))
        .await
        .expect("open Sync")
        .into_inner();
    for (i, mut r) in requests.into_iter().enumerate() {
        r.batch_id = i as u64;
        tx.send(r).await.expect("send");
        let ack = responses
            .message()
            .await
            .expect("ack")
            .expect("an acknowledgement");
        assert!(ack.rejected.is_empty(), "batch {i} had rejections");
    }
    drop(tx);
}
