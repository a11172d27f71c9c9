//! Micro-benchmarks (divan) of the index and the rollout planner on the shared synthetic
//! fleet (`dsched::fleet`, default seed — the same nodes the table benchmarks and the load
//! generator use).
//!
//! ```text
//! cargo bench --bench micro                      # every benchmark, 10,000 and 100,000 nodes
//! cargo bench --bench micro -- evaluate          # a subset, by name
//! ```
//!
//! The table benchmarks (`benches/{inventory,placement,rollout}.rs`) judge the issues'
//! goals and print ratios; these give divan's statistics (fastest, median, mean, slowest)
//! per operation, for comparing one change against another.

use std::hint::black_box;
use std::sync::{Arc, LazyLock};

use divan::Bencher;
use dsched::domain::daemonset::UpdateStrategy;
use dsched::domain::placement::{PodPlacement, Toleration};
use dsched::domain::predicate::should_run;
use dsched::domain::rollout::{self, RolloutInput, RolloutNode};
use dsched::domain::validate::IntOrPercent;
use dsched::domain::{DaemonPod, Node, PodPhase, Time};
use dsched::fleet::{self, FleetSpec};
use dsched::index::Inventory;
use dsched::index::plan::Plan;

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [10_000, 100_000];
const SHARDS: usize = 16;

/// Loaded inventories by fleet size.
type Loaded = std::sync::Mutex<Vec<(usize, Arc<Inventory>)>>;

/// One loaded inventory per fleet size, built on first use.
fn inventory(nodes: usize) -> Arc<Inventory> {
    static CACHE: LazyLock<Loaded> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, inv)) = cache.iter().find(|(n, _)| *n == nodes) {
        return inv.clone();
    }
    let inv = Arc::new(Inventory::new(SHARDS));
    for start in (0..nodes).step_by(1_000) {
        inv.upsert_nodes(&fleet::generate_range(
            &FleetSpec::nodes(nodes),
            start..(start + 1_000).min(nodes),
        ));
    }
    cache.push((nodes, inv.clone()));
    inv
}

/// About 1 % of the fleet: the instance type the load generator's `selective` DaemonSet uses.
fn selective() -> PodPlacement {
    PodPlacement {
        node_selector: [(
            "node.kubernetes.io/instance-type".to_owned(),
            "im4gn.xlarge".to_owned(),
        )]
        .into(),
        ..PodPlacement::default()
    }
}

mod index {
    use super::*;

    /// First load of 1,000 new nodes into an empty inventory.
    #[divan::bench]
    fn apply_1000_new_nodes(bencher: Bencher) {
        let nodes = fleet::generate(&FleetSpec::nodes(1_000));
        bencher
            .with_inputs(|| (Inventory::new(SHARDS), nodes.clone()))
            .bench_local_values(|(inv, nodes)| {
                inv.upsert_nodes(&nodes);
                inv
            });
    }

    /// Selective placement, counts only.
    #[divan::bench(args = SIZES)]
    fn evaluate_selective_count(bencher: Bencher, nodes: usize) {
        let inv = inventory(nodes);
        let placement = selective();
        bencher.bench(|| inv.evaluate(&Plan::compile(black_box(&placement)), None, 0));
    }

    /// No selector (about 96 % of nodes), counts only.
    #[divan::bench(args = SIZES)]
    fn evaluate_broad_count(bencher: Bencher, nodes: usize) {
        let inv = inventory(nodes);
        let placement = PodPlacement::default();
        bencher.bench(|| inv.evaluate(&Plan::compile(black_box(&placement)), None, 0));
    }

    /// Every node's name (the placement tolerates every taint).
    #[divan::bench(args = SIZES, sample_count = 20)]
    fn evaluate_all_names(bencher: Bencher, nodes: usize) {
        let inv = inventory(nodes);
        let placement = PodPlacement {
            tolerations: vec![Toleration::exists("", None)],
            ..PodPlacement::default()
        };
        bencher.bench(|| inv.evaluate(&Plan::compile(black_box(&placement)), None, nodes));
    }

    /// The brute-force oracle the index is tested against, on the selective placement.
    #[divan::bench(args = SIZES, sample_count = 10)]
    fn oracle_scan_selective(bencher: Bencher, nodes: usize) {
        let inv = inventory(nodes);
        let placement = selective();
        bencher.bench(|| {
            inv.scan_nodes(|n| should_run(n, &placement).should_run)
                .len()
        });
    }
}

mod planner {
    use super::*;

    /// Planner input mid-rollout: every node runs a pod; the first 40 % are on the new
    /// revision, 3 % of the rest are not ready yet, the others are old and available.
    struct MidRollout {
        nodes: Vec<RolloutNode>,
        pods: Vec<DaemonPod>,
        strategy: UpdateStrategy,
    }

    fn mid_rollout(n: usize, topology_key: &str) -> MidRollout {
        let fleet: Vec<Node> = fleet::generate(&FleetSpec::nodes(n));
        let placement = PodPlacement::default();
        let mut nodes: Vec<RolloutNode> = fleet
            .iter()
            .map(|node| RolloutNode {
                name: node.name.clone(),
                verdict: should_run(node, &placement),
                domain: node.labels.get(topology_key).cloned().unwrap_or_default(),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let old = Time::from_seconds(1_000);
        let pods = nodes
            .iter()
            .filter(|node| node.verdict.should_continue_running)
            .enumerate()
            .map(|(i, node)| {
                let updated = i * 100 < n * 40;
                let ready = !(i * 100 >= n * 40 && i * 100 < n * 43);
                DaemonPod {
                    namespace: "default".to_owned(),
                    daemonset: "agent".to_owned(),
                    name: format!("agent-{i}"),
                    node: node.name.clone(),
                    revision_hash: if updated || !ready { "rev-2" } else { "rev-1" }.to_owned(),
                    ready,
                    ready_since: ready.then_some(old),
                    created: Some(old),
                    deleting: false,
                    phase: PodPhase::Running,
                    generation: 1,
                    unscheduled: false,
                }
            })
            .collect();
        let strategy = UpdateStrategy {
            max_unavailable: IntOrPercent::Percent(10),
            topology_key: topology_key.to_owned(),
            ..UpdateStrategy::default()
        };
        MidRollout {
            nodes,
            pods,
            strategy,
        }
    }

    fn bench_plan(bencher: Bencher, n: usize, topology_key: &str) {
        let input = mid_rollout(n, topology_key);
        bencher.bench(|| {
            rollout::plan(&RolloutInput {
                nodes: &input.nodes,
                pods: &input.pods,
                hash: "rev-2",
                strategy: &input.strategy,
                min_ready_seconds: 10,
                now: Time::from_seconds(100_000),
            })
        });
    }

    /// `domain::rollout::plan`, no-surge `maxUnavailable: 10%`.
    #[divan::bench(args = SIZES, sample_count = 20)]
    fn plan_no_surge(bencher: Bencher, nodes: usize) {
        bench_plan(bencher, nodes, "");
    }

    /// The same with zone waves.
    #[divan::bench(args = SIZES, sample_count = 20)]
    fn plan_zone_waves(bencher: Bencher, nodes: usize) {
        bench_plan(bencher, nodes, "topology.kubernetes.io/zone");
    }
}
