//! A synthetic, reproducible node fleet for benchmarks and load generation.
//!
//! Measurements of the index only mean something on data shaped like a real cluster: the
//! cost of a node is dominated by how many labels it carries and how many *distinct* strings
//! the fleet has (the index interns strings per shard and keeps one bitmap per label
//! key=value and per distinct taint). So the generator copies what EKS / Karpenter nodes look
//! like: ~20 labels from a small vocabulary (hostname, os/arch and their `beta.` duplicates,
//! region/zone, ~30 instance types, ~50 node pools, capacity type, team, a numeric label),
//! a few percent tainted nodes (GPU, dedicated infra, cordoned, not-ready, autoscaler
//! `PreferNoSchedule`), and allocatable/requested quantities spelled as the kubelet spells
//! them (`7910m`, `15173952Ki`, `110`, ephemeral storage in bytes).
//!
//! Everything is derived from a seed with a small in-crate SplitMix64 ([`Rng`]), so a run is
//! reproducible without an RNG dependency, and node `i` depends only on `(seed, i)`: callers
//! may generate a fleet in chunks ([`generate_range`]) and get exactly the nodes
//! [`generate`] would, which lets a memory benchmark load 100,000 nodes without holding the
//! generator's whole output at once.
//!
//! ```
//! use dsched::fleet::{self, FleetSpec};
//! let nodes = fleet::generate(&FleetSpec::nodes(100));
//! assert_eq!(nodes.len(), 100);
//! assert_eq!(nodes, fleet::generate(&FleetSpec::nodes(100)), "same seed, same fleet");
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use crate::domain::{Condition, Node, Taint, TaintEffect, Time};
use crate::grpc::{convert, pb};

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush, and any seed —
/// including 0 — gives a good stream. Not for cryptography; only to make fleets reproducible
/// without pulling an RNG crate into the library.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent stream for item `index` of the run seeded by `seed`: node `i`'s stream
    /// does not depend on how many values nodes `0..i` drew.
    pub fn for_item(seed: u64, index: u64) -> Self {
        let mut mixer = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for the small `n`
    /// used here). `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `percent / 100`.
    pub fn percent(&mut self, percent: f64) -> bool {
        self.unit() * 100.0 < percent
    }

    /// A uniformly chosen element; `items` must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index chosen with probability proportional to `weights[i]`.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len().saturating_sub(1)
    }
}

// ---------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------

/// The default seed: any fixed value; changing it changes every published figure's input.
pub const DEFAULT_SEED: u64 = 0x05EE_D0F0_F1EE_7001;

/// What fleet to generate. Percentages are of all nodes, `0.0..=100.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSpec {
    pub nodes: usize,
    pub seed: u64,
    /// Nodes with at least one taint. GPU nodes are always tainted and count towards it.
    pub tainted_percent: f64,
    /// Nodes of GPU instance types (p3, g4dn, g5), tainted `nvidia.com/gpu=present:NoSchedule`.
    /// Capped at `tainted_percent`.
    pub gpu_percent: f64,
    /// Non-GPU nodes of arm64 (Graviton) instance types.
    pub arm64_percent: f64,
    /// Spot capacity (`node.kubernetes.io/lifecycle=spot`, `capacityType` SPOT/spot).
    pub spot_percent: f64,
    /// Nodes whose `Ready` condition is `False`, regardless of taints (the lifecycle
    /// controller has not tainted them yet). Not-ready *tainted* nodes come on top, from
    /// `tainted_percent`.
    pub not_ready_untainted_percent: f64,
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec::nodes(100_000)
    }
}

impl FleetSpec {
    /// `n` nodes with the defaults: 4 % tainted (2 % GPU), 15 % arm64, 30 % spot.
    pub fn nodes(n: usize) -> Self {
        FleetSpec {
            nodes: n,
            seed: DEFAULT_SEED,
            tainted_percent: 4.0,
            gpu_percent: 2.0,
            arm64_percent: 15.0,
            spot_percent: 30.0,
            not_ready_untainted_percent: 0.2,
        }
    }

    pub fn with_seed(self, seed: u64) -> Self {
        FleetSpec { seed, ..self }
    }

    pub fn with_tainted_percent(self, tainted_percent: f64) -> Self {
        FleetSpec {
            tainted_percent,
            ..self
        }
    }

    /// Node `index` of this fleet (`index` may exceed `nodes`: names stay unique up to
    /// 2^24 × 246 nodes).
    pub fn node(&self, index: usize) -> Node {
        generate_node(self, index)
    }
}

/// The whole fleet, nodes `0..spec.nodes`.
pub fn generate(spec: &FleetSpec) -> Vec<Node> {
    generate_range(spec, 0..spec.nodes)
}

/// Nodes `range` of the fleet: the same nodes [`generate`] returns at those positions.
pub fn generate_range(spec: &FleetSpec, range: Range<usize>) -> Vec<Node> {
    range.map(|i| generate_node(spec, i)).collect()
}

/// The wire form, for `Sync` requests (revision 0: it is output only).
pub fn to_pb(node: &Node) -> pb::Node {
    convert::node_to_pb(node.clone(), 0)
}

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

/// (region, zones, weight, DNS suffix of private hostnames).
const REGIONS: &[(&str, [&str; 3], u32, &str)] = &[
    (
        "us-east-1",
        ["us-east-1a", "us-east-1b", "us-east-1c"],
        50,
        "ec2.internal",
    ),
    (
        "us-west-2",
        ["us-west-2a", "us-west-2b", "us-west-2c"],
        30,
        "us-west-2.compute.internal",
    ),
    (
        "eu-west-1",
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        20,
        "eu-west-1.compute.internal",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    General,
    Compute,
    Memory,
    Storage,
    Burst,
    Gpu,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

struct InstanceType {
    name: &'static str,
    family: Family,
    arch: Arch,
    vcpus: u32,
    mem_gib: u32,
    gpus: u32,
    /// The VPC CNI's max pods (ENIs × (IPs per ENI − 1) + 2), or 110 with prefix delegation.
    max_pods: u32,
}

const fn it(
    name: &'static str,
    family: Family,
    arch: Arch,
    vcpus: u32,
    mem_gib: u32,
    gpus: u32,
    max_pods: u32,
) -> InstanceType {
    InstanceType {
        name,
        family,
        arch,
        vcpus,
        mem_gib,
        gpus,
        max_pods,
    }
}

use Arch::{Amd64, Arm64};
use Family::{Burst, Compute, General, Gpu, Memory, Storage};

/// ~30 EC2 instance types with their real shapes.
const INSTANCE_TYPES: &[InstanceType] = &[
    it("m5.large", General, Amd64, 2, 8, 0, 29),
    it("m5.xlarge", General, Amd64, 4, 16, 0, 58),
    it("m5.2xlarge", General, Amd64, 8, 32, 0, 58),
    it("m5.4xlarge", General, Amd64, 16, 64, 0, 234),
    it("m5.8xlarge", General, Amd64, 32, 128, 0, 234),
    it("m6i.xlarge", General, Amd64, 4, 16, 0, 58),
    it("m6i.2xlarge", General, Amd64, 8, 32, 0, 58),
    it("m6i.4xlarge", General, Amd64, 16, 64, 0, 234),
    it("c5.2xlarge", Compute, Amd64, 8, 16, 0, 58),
    it("c5.4xlarge", Compute, Amd64, 16, 32, 0, 234),
    it("c6i.2xlarge", Compute, Amd64, 8, 16, 0, 58),
    it("c6i.4xlarge", Compute, Amd64, 16, 32, 0, 234),
    it("c6i.8xlarge", Compute, Amd64, 32, 64, 0, 234),
    it("r5.2xlarge", Memory, Amd64, 8, 64, 0, 58),
    it("r5.4xlarge", Memory, Amd64, 16, 128, 0, 234),
    it("r6i.2xlarge", Memory, Amd64, 8, 64, 0, 58),
    it("r6i.4xlarge", Memory, Amd64, 16, 128, 0, 234),
    it("i3.2xlarge", Storage, Amd64, 8, 61, 0, 58),
    it("i3en.3xlarge", Storage, Amd64, 12, 96, 0, 58),
    it("t3.large", Burst, Amd64, 2, 8, 0, 35),
    it("t3.xlarge", Burst, Amd64, 4, 16, 0, 58),
    it("p3.2xlarge", Gpu, Amd64, 8, 61, 1, 58),
    it("p3.8xlarge", Gpu, Amd64, 32, 244, 4, 234),
    it("g4dn.xlarge", Gpu, Amd64, 4, 16, 1, 29),
    it("g4dn.12xlarge", Gpu, Amd64, 48, 192, 4, 234),
    it("g5.xlarge", Gpu, Amd64, 4, 16, 1, 58),
    it("g5.12xlarge", Gpu, Amd64, 48, 192, 4, 737),
    it("m6g.xlarge", General, Arm64, 4, 16, 0, 58),
    it("m6g.2xlarge", General, Arm64, 8, 32, 0, 58),
    it("m7g.2xlarge", General, Arm64, 8, 32, 0, 58),
    it("c6g.4xlarge", Compute, Arm64, 16, 32, 0, 234),
    it("c7g.4xlarge", Compute, Arm64, 16, 32, 0, 234),
    it("r6g.2xlarge", Memory, Arm64, 8, 64, 0, 58),
    it("im4gn.xlarge", Storage, Arm64, 4, 16, 0, 58),
    it("t4g.xlarge", Burst, Arm64, 4, 16, 0, 58),
];

const TEAMS: &[&str] = &[
    "payments",
    "search",
    "checkout",
    "identity",
    "data",
    "ml",
    "platform",
    "observability",
    "ads",
    "mobile-api",
    "growth",
    "security",
];

const ENVIRONMENTS: &[&str] = &["prod", "prod", "prod", "staging", "dev"];

/// Node pools cycle through these purposes; the purpose picks the instance family.
const PURPOSES: &[(&str, Family)] = &[
    ("general", General),
    ("compute", Compute),
    ("general", General),
    ("memory", Memory),
    ("batch", Compute),
    ("general", General),
    ("storage", Storage),
    ("ci", Burst),
    ("ingress", Compute),
    ("gpu", Gpu),
];

/// Number of node pools: a large platform has dozens (managed node groups and Karpenter
/// node pools side by side).
const POOLS: usize = 50;

/// Every third pool is a Karpenter node pool; the rest are EKS managed node groups. The two
/// label sets differ, as in a cluster migrating between them.
fn pool_is_karpenter(pool: usize) -> bool {
    pool % 3 == 2
}

fn pool_family(pool: usize) -> Family {
    PURPOSES[pool % PURPOSES.len()].1
}

fn pool_name(pool: usize) -> String {
    let (purpose, _) = PURPOSES[pool % PURPOSES.len()];
    let team = TEAMS[pool % TEAMS.len()];
    format!("{team}-{purpose}-{}", pool / PURPOSES.len() + 1)
}

/// Pool sizes follow a rough Zipf law: a few big general pools, a long tail of small ones.
fn pool_weight(pool: usize) -> u32 {
    (1000 / (pool as u32 + 2)).max(5)
}

/// AMI ids a fleet runs at once (a rollout in progress leaves several).
const AMIS: &[&str] = &[
    "ami-0a1b2c3d4e5f60718",
    "ami-0b2c3d4e5f6071829",
    "ami-0c3d4e5f607182930",
];

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

/// Kubelet and system reservations as EKS computes them for CPU: 6 % of the first core,
/// 1 % of the second, 0.5 % of the next two, 0.25 % of the rest (8 vCPUs → `7910m`).
fn allocatable_millicpu(vcpus: u32) -> u32 {
    let mut reserved = 60.0;
    if vcpus > 1 {
        reserved += 10.0;
    }
    reserved += f64::from(vcpus.saturating_sub(2).min(2)) * 5.0;
    reserved += f64::from(vcpus.saturating_sub(4)) * 2.5;
    vcpus * 1000 - reserved as u32
}

/// Allocatable memory in KiB: capacity (a little under the nominal GiB) minus the EKS
/// kube-reserved (255 MiB + 11 MiB per pod) and the 100 MiB eviction threshold. `variant`
/// models kernel/AMI differences, which move capacity by a few MiB.
fn allocatable_memory_kib(t: &InstanceType, variant: u64) -> u64 {
    let nominal = u64::from(t.mem_gib) * 1024 * 1024;
    let capacity = nominal - nominal / 30 - variant * 2048;
    let reserved = (255 + 11 * u64::from(t.max_pods) + 100) * 1024;
    capacity - reserved
}

fn generate_node(spec: &FleetSpec, index: usize) -> Node {
    let mut rng = Rng::for_item(spec.seed, index as u64);

    // Placement: region and zone, then whether this is a GPU node.
    let region = rng.weighted(&REGIONS.iter().map(|r| r.2).collect::<Vec<_>>());
    let (region_name, zones, _, dns_suffix) = REGIONS[region];
    let zone = *rng.pick(&zones);

    let gpu_percent = spec.gpu_percent.min(spec.tainted_percent).max(0.0);
    let gpu = rng.percent(gpu_percent);
    let pool = {
        let candidates: Vec<usize> = (0..POOLS)
            .filter(|&p| (pool_family(p) == Gpu) == gpu)
            .collect();
        let weights: Vec<u32> = candidates.iter().map(|&p| pool_weight(p)).collect();
        candidates[rng.weighted(&weights)]
    };
    let family = pool_family(pool);
    let arch = if !gpu && rng.percent(spec.arm64_percent) {
        Arm64
    } else {
        Amd64
    };
    let types: Vec<&InstanceType> = INSTANCE_TYPES
        .iter()
        .filter(|t| t.family == family && t.arch == arch)
        .collect();
    let itype = *rng.pick(&types);
    let spot = !gpu && rng.percent(spec.spot_percent);

    let name = hostname(index, dns_suffix);
    let pool_label = pool_name(pool);
    let team = TEAMS[pool % TEAMS.len()];
    let env = ENVIRONMENTS[pool % ENVIRONMENTS.len()];

    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut label = |k: &str, v: &str| {
        labels.insert(k.to_owned(), v.to_owned());
    };
    label("kubernetes.io/hostname", &name);
    label("kubernetes.io/os", "linux");
    label("kubernetes.io/arch", arch.as_str());
    label("beta.kubernetes.io/os", "linux");
    label("beta.kubernetes.io/arch", arch.as_str());
    label("beta.kubernetes.io/instance-type", itype.name);
    label("node.kubernetes.io/instance-type", itype.name);
    label("topology.kubernetes.io/region", region_name);
    label("topology.kubernetes.io/zone", zone);
    label("topology.ebs.csi.aws.com/zone", zone);
    label("node-role.kubernetes.io/worker", "");
    label(
        "node.kubernetes.io/lifecycle",
        if spot { "spot" } else { "on-demand" },
    );
    label("example.com/node-pool", &pool_label);
    label("example.com/team", team);
    label("example.com/environment", env);
    label("example.com/cpu-count", &itype.vcpus.to_string());
    label(
        "example.com/maintenance-wave",
        &format!("wave-{}", rng.below(8)),
    );
    if pool_is_karpenter(pool) {
        label("karpenter.sh/nodepool", &pool_label);
        label(
            "karpenter.sh/capacity-type",
            if spot { "spot" } else { "on-demand" },
        );
        label(
            "karpenter.k8s.aws/instance-family",
            itype.name.split('.').next().unwrap_or(itype.name),
        );
        label("karpenter.sh/initialized", "true");
    } else {
        label("eks.amazonaws.com/nodegroup", &pool_label);
        label(
            "eks.amazonaws.com/capacityType",
            if spot { "SPOT" } else { "ON_DEMAND" },
        );
        label("eks.amazonaws.com/nodegroup-image", AMIS[pool % AMIS.len()]);
    }
    if itype.gpus > 0 {
        label("example.com/gpu-count", &itype.gpus.to_string());
        label("nvidia.com/gpu.present", "true");
    }

    // Taints. GPU nodes are always tainted; other nodes get a taint with the probability that
    // brings the fleet's tainted share to `tainted_percent`.
    let mut taints = Vec::new();
    let mut unschedulable = false;
    let mut ready = !rng.percent(spec.not_ready_untainted_percent);
    if gpu {
        taints.push(taint("nvidia.com/gpu", "present", TaintEffect::NoSchedule));
    } else {
        let rest = (spec.tainted_percent - gpu_percent).max(0.0);
        let share = if gpu_percent >= 100.0 {
            0.0
        } else {
            rest / (100.0 - gpu_percent) * 100.0
        };
        if rng.percent(share) {
            match rng.weighted(&[35, 20, 15, 20, 10]) {
                0 => taints.push(taint("dedicated", "infra", TaintEffect::NoSchedule)),
                1 => {
                    unschedulable = true;
                    taints.push(taint(
                        "node.kubernetes.io/unschedulable",
                        "",
                        TaintEffect::NoSchedule,
                    ));
                }
                2 => {
                    ready = false;
                    taints.push(taint(
                        "node.kubernetes.io/not-ready",
                        "",
                        TaintEffect::NoSchedule,
                    ));
                    taints.push(Taint {
                        time_added: Some(Time::from_seconds(
                            1_717_000_000 + rng.below(86_400) as i64,
                        )),
                        ..taint("node.kubernetes.io/not-ready", "", TaintEffect::NoExecute)
                    });
                }
                3 => taints.push(taint(
                    "DeletionCandidateOfClusterAutoscaler",
                    &(1_717_000_000 + rng.below(3_600)).to_string(),
                    TaintEffect::PreferNoSchedule,
                )),
                _ => taints.push(taint(
                    "example.com/spot-interruption",
                    "imminent",
                    TaintEffect::PreferNoSchedule,
                )),
            }
        }
    }

    // Resources as the kubelet reports them.
    let variant = rng.below(3);
    let cpu_m = allocatable_millicpu(itype.vcpus);
    let mem_kib = allocatable_memory_kib(itype, variant);
    let disk_gib = [50u64, 100, 200][pool % 3];
    let mut allocatable = BTreeMap::new();
    allocatable.insert("cpu".to_owned(), format!("{cpu_m}m"));
    // A minority of nodes are registered by tooling that writes round binary units.
    let memory = if pool % 7 == 6 {
        format!("{}Gi", mem_kib / (1024 * 1024))
    } else {
        format!("{mem_kib}Ki")
    };
    allocatable.insert("memory".to_owned(), memory);
    allocatable.insert("pods".to_owned(), itype.max_pods.to_string());
    // Bytes: capacity × 0.9 minus the 10 % eviction reserve, minus filesystem overhead.
    allocatable.insert(
        "ephemeral-storage".to_owned(),
        (disk_gib * (1 << 30) * 89 / 100 - variant * 4096).to_string(),
    );
    allocatable.insert("hugepages-1Gi".to_owned(), "0".to_owned());
    allocatable.insert("hugepages-2Mi".to_owned(), "0".to_owned());
    if itype.gpus > 0 {
        allocatable.insert("nvidia.com/gpu".to_owned(), itype.gpus.to_string());
    }
    let requested = requested_for(&mut rng, cpu_m, mem_kib, itype.max_pods);

    let conditions = [
        ("MemoryPressure", "False"),
        ("DiskPressure", "False"),
        ("PIDPressure", "False"),
        ("Ready", if ready { "True" } else { "False" }),
    ]
    .into_iter()
    .map(|(kind, status)| Condition {
        kind: kind.to_owned(),
        status: status.to_owned(),
    })
    .collect();

    Node {
        name,
        labels,
        taints,
        unschedulable,
        allocatable,
        requested,
        conditions,
        generation: 1,
    }
}

/// Requests of the pods already on a node: pod requests are round numbers (multiples of
/// 50m CPU and 64Mi memory), so their sums repeat across nodes as they do in a real fleet.
fn requested_for(
    rng: &mut Rng,
    cpu_m: u32,
    mem_kib: u64,
    max_pods: u32,
) -> BTreeMap<String, String> {
    let load = 0.2 + 0.6 * rng.unit();
    let cpu = ((f64::from(cpu_m) * load) as u64 / 50) * 50;
    let mem_mib = ((mem_kib as f64 / 1024.0 * load) as u64 / 64) * 64;
    let pods = 3 + rng.below(u64::from(max_pods.min(40)));
    let mut requested = BTreeMap::new();
    requested.insert("cpu".to_owned(), format!("{cpu}m"));
    requested.insert("memory".to_owned(), format!("{mem_mib}Mi"));
    requested.insert("pods".to_owned(), pods.to_string());
    requested
}

fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect,
        time_added: None,
    }
}

/// A unique EC2-style private DNS name, `ip-10-12-34-56.ec2.internal`. The 24 host bits are
/// `index` through a bijection (multiplication by an odd constant mod 2^24), so names are
/// unique yet scattered like real addresses instead of counting up; nodes past 2^24 move to
/// the next first octet.
fn hostname(index: usize, dns_suffix: &str) -> String {
    let low = (index as u64) & 0xFF_FFFF;
    let high = (index as u64) >> 24;
    let host = (low.wrapping_mul(0x9E_3779) + 0x12_3456) & 0xFF_FFFF;
    format!(
        "ip-{}-{}-{}-{}.{dns_suffix}",
        10 + high,
        host >> 16,
        (host >> 8) & 0xFF,
        host & 0xFF
    )
}

// ---------------------------------------------------------------------------
// Churn
// ---------------------------------------------------------------------------

/// One kind of change a live cluster makes to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// A mutable label changes value (`example.com/maintenance-wave`), as when an operator
    /// moves nodes between maintenance waves.
    LabelValue,
    /// Pods were scheduled or finished: `requested` changes. The most frequent node update.
    Requested,
    /// A taint is added: autoscaler `PreferNoSchedule`, or not-ready (with `Ready=False`).
    TaintAdd,
    /// The last taint is removed (a no-op on an untainted node, apart from the generation).
    TaintRemove,
    /// `kubectl cordon` / `uncordon`: `unschedulable` and its taint flip together.
    Cordon,
}

impl Mutation {
    pub const ALL: [Mutation; 5] = [
        Mutation::LabelValue,
        Mutation::Requested,
        Mutation::TaintAdd,
        Mutation::TaintRemove,
        Mutation::Cordon,
    ];
}

/// Applies `mutation` to `node` and bumps its generation, so the inventory applies the new
/// version even with generations in use. The result still passes validation.
pub fn mutate(node: &mut Node, mutation: Mutation, rng: &mut Rng) {
    node.generation += 1;
    match mutation {
        Mutation::LabelValue => {
            let key = "example.com/maintenance-wave";
            let current = node.labels.get(key).cloned().unwrap_or_default();
            let mut next = current.clone();
            while next == current {
                next = format!("wave-{}", rng.below(8));
            }
            node.labels.insert(key.to_owned(), next);
        }
        Mutation::Requested => {
            let cpu_m = node
                .allocatable
                .get("cpu")
                .and_then(|c| c.strip_suffix('m'))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1000);
            let mem_kib = node
                .allocatable
                .get("memory")
                .and_then(|m| parse_binary_kib(m))
                .unwrap_or(1 << 20);
            node.requested = requested_for(rng, cpu_m, mem_kib, 40);
        }
        Mutation::TaintAdd => {
            let candidates = [
                (
                    "DeletionCandidateOfClusterAutoscaler",
                    TaintEffect::PreferNoSchedule,
                ),
                ("node.kubernetes.io/not-ready", TaintEffect::NoExecute),
                (
                    "example.com/spot-interruption",
                    TaintEffect::PreferNoSchedule,
                ),
            ];
            let (key, effect) = *rng.pick(&candidates);
            if node
                .taints
                .iter()
                .any(|t| t.key == key && t.effect == effect)
            {
                return;
            }
            let value = match key {
                "DeletionCandidateOfClusterAutoscaler" => {
                    (1_717_000_000 + rng.below(3_600)).to_string()
                }
                "example.com/spot-interruption" => "imminent".to_owned(),
                _ => String::new(),
            };
            let time_added = (effect == TaintEffect::NoExecute)
                .then(|| Time::from_seconds(1_717_000_000 + rng.below(86_400) as i64));
            if key == "node.kubernetes.io/not-ready" {
                for c in &mut node.conditions {
                    if c.kind == "Ready" {
                        c.status = "False".to_owned();
                    }
                }
            }
            node.taints.push(Taint {
                key: key.to_owned(),
                value,
                effect,
                time_added,
            });
        }
        Mutation::TaintRemove => {
            if let Some(t) = node.taints.pop()
                && t.key == "node.kubernetes.io/unschedulable"
            {
                node.unschedulable = false;
            }
        }
        Mutation::Cordon => {
            let key = "node.kubernetes.io/unschedulable";
            if node.unschedulable {
                node.unschedulable = false;
                node.taints.retain(|t| t.key != key);
            } else {
                node.unschedulable = true;
                if !node.taints.iter().any(|t| t.key == key) {
                    node.taints.push(taint(key, "", TaintEffect::NoSchedule));
                }
            }
        }
    }
}

/// A random [`Mutation`] with a live cluster's mix: mostly `requested` updates, then label
/// changes, taints and cordons. Returns what it did.
pub fn churn(node: &mut Node, rng: &mut Rng) -> Mutation {
    let mutation = Mutation::ALL[rng.weighted(&[20, 60, 8, 7, 5])];
    mutate(node, mutation, rng);
    mutation
}

/// `15173952Ki` / `31Gi` → KiB; other spellings → `None`.
fn parse_binary_kib(s: &str) -> Option<u64> {
    if let Some(n) = s.strip_suffix("Ki") {
        n.parse().ok()
    } else if let Some(n) = s.strip_suffix("Mi") {
        n.parse::<u64>().ok().map(|n| n * 1024)
    } else if let Some(n) = s.strip_suffix("Gi") {
        n.parse::<u64>().ok().map(|n| n * 1024 * 1024)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::domain::validate::FieldPath;

    fn validates(node: &Node) -> Result<(), String> {
        convert::node_from_pb(to_pb(node), &FieldPath::root("n"))
            .map(|_| ())
            .map_err(|errs| format!("{}: {}", node.name, errs.to_strings().join("; ")))
    }

    #[test]
    fn same_seed_same_fleet_other_seed_other_fleet() {
        let spec = FleetSpec::nodes(500);
        assert_eq!(generate(&spec), generate(&spec));
        assert_ne!(generate(&spec), generate(&spec.clone().with_seed(7)));
    }

    #[test]
    fn chunks_equal_the_whole() {
        let spec = FleetSpec::nodes(300);
        let mut chunked = generate_range(&spec, 0..100);
        chunked.extend(generate_range(&spec, 100..300));
        assert_eq!(chunked, generate(&spec));
    }

    #[test]
    fn every_node_passes_server_validation() {
        for node in generate(&FleetSpec::nodes(5_000)) {
            if let Err(e) = validates(&node) {
                panic!("invalid generated node: {e}");
            }
        }
    }

    #[test]
    fn names_are_unique_dns_subdomains() {
        let nodes = generate(&FleetSpec::nodes(20_000));
        let names: HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), nodes.len());
        let first = &nodes[0].name;
        assert!(
            first.starts_with("ip-10-") && first.ends_with(".internal"),
            "got {first}"
        );
        assert_eq!(
            nodes[0].labels.get("kubernetes.io/hostname"),
            Some(&nodes[0].name)
        );
    }

    #[test]
    fn about_twenty_labels_per_node() {
        let nodes = generate(&FleetSpec::nodes(10_000));
        let mean = nodes.iter().map(|n| n.labels.len()).sum::<usize>() as f64 / nodes.len() as f64;
        assert!(
            (18.0..=23.0).contains(&mean),
            "mean labels per node: {mean}"
        );
        let keys: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.labels.keys().map(String::as_str))
            .collect();
        for key in [
            "kubernetes.io/hostname",
            "kubernetes.io/arch",
            "topology.kubernetes.io/zone",
            "node.kubernetes.io/instance-type",
            "karpenter.sh/nodepool",
            "eks.amazonaws.com/capacityType",
            "example.com/gpu-count",
        ] {
            assert!(keys.contains(key), "no node has {key}");
        }
        let types: HashSet<&str> = nodes
            .iter()
            .map(|n| n.labels["node.kubernetes.io/instance-type"].as_str())
            .collect();
        assert!(types.len() >= 25, "instance types used: {}", types.len());
        let pools: HashSet<&str> = nodes
            .iter()
            .map(|n| n.labels["example.com/node-pool"].as_str())
            .collect();
        assert_eq!(pools.len(), POOLS);
    }

    #[test]
    fn tainted_share_follows_the_spec() {
        for percent in [0.0, 4.0, 10.0] {
            let spec = FleetSpec::nodes(20_000).with_tainted_percent(percent);
            let nodes = generate(&spec);
            let tainted = nodes.iter().filter(|n| !n.taints.is_empty()).count();
            let share = tainted as f64 * 100.0 / nodes.len() as f64;
            assert!(
                (share - percent).abs() < 0.6,
                "want ~{percent} % tainted, got {share:.2} %"
            );
        }
    }

    #[test]
    fn gpu_nodes_are_tainted_and_arm_is_a_minority() {
        let nodes = generate(&FleetSpec::nodes(10_000));
        let mut arm = 0;
        for n in &nodes {
            if n.labels.contains_key("example.com/gpu-count") {
                assert!(
                    n.taints.iter().any(|t| t.key == "nvidia.com/gpu"),
                    "{} is a GPU node without the GPU taint",
                    n.name
                );
                assert!(n.allocatable.contains_key("nvidia.com/gpu"));
            }
            if n.labels["kubernetes.io/arch"] == "arm64" {
                arm += 1;
            }
        }
        assert!((500..3_000).contains(&arm), "arm64 nodes: {arm}");
    }

    #[test]
    fn kubelet_quantities() {
        assert_eq!(allocatable_millicpu(8), 7910);
        assert_eq!(allocatable_millicpu(2), 1930);
        assert_eq!(hostname(0, "ec2.internal"), "ip-10-18-52-86.ec2.internal");
    }

    #[test]
    fn mutations_keep_nodes_valid_and_change_them() {
        let mut rng = Rng::new(1);
        for mut node in generate(&FleetSpec::nodes(400)) {
            for mutation in Mutation::ALL {
                let before = node.clone();
                mutate(&mut node, mutation, &mut rng);
                assert_eq!(node.generation, before.generation + 1);
                if let Err(e) = validates(&node) {
                    panic!("{mutation:?} made an invalid node: {e}");
                }
                if mutation == Mutation::LabelValue || mutation == Mutation::Cordon {
                    assert!(!node.same_content(&before), "{mutation:?} changed nothing");
                }
            }
            churn(&mut node, &mut rng);
            if let Err(e) = validates(&node) {
                panic!("churn made an invalid node: {e}");
            }
        }
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut rng = Rng::new(0);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[rng.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "bucket count {c}");
        }
    }
}
