//! A randomized differential test of placement on the index: for random fleets and random
//! placements, `Inventory::evaluate(&Plan::compile(p), ..)` must give exactly what the
//! brute-force oracle gives — `Inventory::scan_nodes` filtered by `predicate::should_run`
//! (shouldRun) and by `!should_run && should_continue_running` (keep) — names, pages and
//! counts alike.
//!
//! Four layers:
//!
//! 1. **In process, API-valid shapes** ([`index_agrees_with_the_oracle`]): random fleets
//!    churned between queries (upserts that change labels and taints, deletes, re-adds, so
//!    slots and interned strings are reused), random placements built as domain values, every
//!    answer walked page by page with random limits from random starting points.
//! 2. **In process, any shape** ([`index_agrees_with_the_oracle_on_api_invalid_shapes`]): the
//!    same with requirements the API rejects (`Exists` with values, `NotIn` without values,
//!    bad keys and values, `Gt` with two values, `matchFields` on other keys or operators,
//!    `Lt`/`Gt` tolerations, ...). The domain functions define what such a placement means;
//!    the index must agree with them even there.
//! 3. **Concurrency** ([`answers_stay_exact_while_writers_churn`]): writer threads churn
//!    their own nodes while readers evaluate. Nodes no writer touches must be answered
//!    exactly; every churned node must be answered as the oracle answers one of the versions
//!    it could have had while the query ran (writers log each version with a global clock
//!    tick before applying it, so that set is known exactly).
//! 4. **Over gRPC** ([`evaluate_over_grpc_agrees_with_the_oracle`]): a few hundred API-valid
//!    placements as `pb::PodPlacement` through `Placement.Evaluate` on a real server, against
//!    the oracle computed here from the same nodes (converted with the server's own
//!    `node_from_pb` / `placement_request`).
//!
//! Replaying a failure: every assertion message starts with `seed S`. Run with
//! `DSCHED_PLACEMENT_SEED=S` to replay just that seed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use dsched::domain::placement::{
    FieldRequirement, NODE_NAME_FIELD, NodeAffinity, NodeSelectorTerm, PodPlacement, PreferredTerm,
    Toleration, TolerationOperator,
};
use dsched::domain::predicate::should_run;
use dsched::domain::selector::{Operator, Requirement};
use dsched::domain::validate::FieldPath;
use dsched::domain::{Node, Taint, TaintEffect, Time};
use dsched::grpc::convert::{node_from_pb, node_to_pb};
use dsched::grpc::convert_placement::{placement_request, placement_to_pb};
use dsched::grpc::pb;
use dsched::grpc::pb::placement_client::PlacementClient;
use dsched::index::Inventory;
use dsched::index::plan::{Evaluation, Plan};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use crate::support::{SyncStream, TestServer};

// ---------------------------------------------------------------------------------------
// Vocabulary: small on purpose, so keys, values and taints collide all the time.
// ---------------------------------------------------------------------------------------

/// Node names are `node-0` … `node-47`: the name order (`node-1`, `node-10`, …) differs from
/// the numeric one.
const NODE_NAMES: usize = 48;

const HOSTNAME: &str = "kubernetes.io/hostname";
/// A label whose value is unique per node version.
const SERIAL: &str = "example.com/serial";

/// Shared label keys and their values. `""` is a value like any other; `num` mixes integers
/// (leading zeros, signs, at and past `i64::MAX`) with values that do not parse.
const LABELS: &[(&str, &[&str])] = &[
    ("zone", &["a", "b", "c", ""]),
    (
        "node.kubernetes.io/instance-type",
        &["m5.large", "m5.xlarge", "c5.2xlarge"],
    ),
    ("pool", &["default", "gpu", "spot", ""]),
    ("gpu", &["true", "false", ""]),
    (
        "num",
        &[
            "0",
            "1",
            "2",
            "007",
            "10",
            "42",
            "-3",
            "+5",
            "x1",
            "0x10",
            "1.5",
            "9223372036854775807",
            "9223372036854775808",
            "",
        ],
    ),
];

/// Taint keys: ordinary ones and every key a DaemonSet default toleration names.
const TAINT_KEYS: &[&str] = &[
    "dedicated",
    "gpu",
    "example.com/maintenance",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
];
const TAINT_VALUES: &[&str] = &["", "", "true", "gpu", "infra"];

/// Requirement keys: every label key, keys no node carries, and (any shape only) keys the
/// API rejects.
const SELECTOR_KEYS: &[&str] = &[
    "zone",
    "node.kubernetes.io/instance-type",
    "pool",
    "gpu",
    "num",
    HOSTNAME,
    SERIAL,
    "missing",
    "example.com/absent",
];
const BAD_KEYS: &[&str] = &["bad key", "", "-zone", "a/b/c"];

/// Requirement values: label values, values no node has, and hostnames.
const SELECTOR_VALUES: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "",
    "m5.large",
    "c5.2xlarge",
    "default",
    "gpu",
    "spot",
    "true",
    "false",
    "0",
    "1",
    "007",
    "7",
    "42",
    "x1",
    "0x10",
    "9223372036854775808",
    "node-3",
    "node-17",
    "node-47",
    "node-99",
];
const BAD_VALUES: &[&str] = &["-bad", "a b", "bad-", "-3", "+5"];

/// `Gt`/`Lt` bounds: integers, and values valid at the API that are not integers (such a
/// requirement never matches).
const BOUNDS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "007",
    "9",
    "10",
    "41",
    "42",
    "43",
    "9223372036854775807",
    "x1",
    "1.5",
    "0x10",
    "",
    "9223372036854775808",
];
const BAD_BOUNDS: &[&str] = &["-4", "+5", "-9223372036854775808", "1 2"];

const OPERATORS: [Operator; 6] = [
    Operator::In,
    Operator::NotIn,
    Operator::Exists,
    Operator::DoesNotExist,
    Operator::Gt,
    Operator::Lt,
];

/// Label values the API rejects (a label value must start and end alphanumeric).
fn api_valid_label_value(v: &str) -> bool {
    dsched::domain::validate::is_label_value(v).is_empty()
}

/// Which placements to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shapes {
    /// Only what `placement_request` accepts.
    ApiValid,
    /// Anything the domain types can hold.
    Any,
}

fn node_name(i: usize) -> String {
    format!("node-{i}")
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn pick_str(rng: &mut SmallRng, items: &[&str]) -> String {
    (*pick(rng, items)).to_owned()
}

/// The seeds to run: `DSCHED_PLACEMENT_SEED` alone when set, else `defaults`.
fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("DSCHED_PLACEMENT_SEED") {
        Ok(s) => vec![s.trim().parse().expect("DSCHED_PLACEMENT_SEED is a u64")],
        Err(_) => defaults.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// Random nodes
// ---------------------------------------------------------------------------------------

/// A fresh node. With `valid`, everything passes the API's node validation (the gRPC layer
/// feeds the index through it); otherwise label values the API rejects (`-3`, `+5`) appear
/// too, since `Inventory::upsert_node` takes whatever it is given.
fn random_node(rng: &mut SmallRng, name: &str, valid: bool) -> Node {
    let mut labels = BTreeMap::new();
    for (key, values) in LABELS {
        if rng.random_bool(0.6) {
            labels.insert((*key).to_owned(), random_label_value(rng, values, valid));
        }
    }
    if rng.random_bool(0.9) {
        labels.insert(HOSTNAME.to_owned(), name.to_owned());
    }
    if rng.random_bool(0.5) {
        labels.insert(SERIAL.to_owned(), format!("s{}", rng.random::<u32>()));
    }
    let mut taints = Vec::new();
    for key in TAINT_KEYS {
        for effect in TaintEffect::ALL {
            if rng.random_bool(0.05) {
                taints.push(random_taint(rng, key, effect));
            }
        }
    }
    if rng.random_bool(0.3) {
        taints.reverse();
    }
    Node {
        name: name.to_owned(),
        labels,
        taints,
        unschedulable: rng.random_bool(0.1),
        generation: 0,
        ..Node::default()
    }
}

fn random_label_value(rng: &mut SmallRng, values: &[&str], valid: bool) -> String {
    loop {
        let v = pick_str(rng, values);
        if !valid || api_valid_label_value(&v) {
            return v;
        }
    }
}

fn random_taint(rng: &mut SmallRng, key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_owned(),
        value: pick_str(rng, TAINT_VALUES),
        effect,
        time_added: rng
            .random_bool(0.2)
            .then(|| Time::from_seconds(1_700_000_000 + rng.random_range(0..3))),
    }
}

/// A small edit: a label set, changed or removed, the serial renewed, a taint added or
/// removed or given a new value. Taints stay unique by (key, effect), as validation demands.
fn churn_node(rng: &mut SmallRng, node: &Node, valid: bool) -> Node {
    let mut n = node.clone();
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..7) {
            0 | 1 => {
                let (key, values) = pick(rng, LABELS);
                n.labels
                    .insert((*key).to_owned(), random_label_value(rng, values, valid));
            }
            2 => {
                let (key, _) = pick(rng, LABELS);
                n.labels.remove(*key);
            }
            3 => {
                n.labels
                    .insert(SERIAL.to_owned(), format!("s{}", rng.random::<u32>()));
            }
            4 | 5 => {
                let key = *pick(rng, TAINT_KEYS);
                let effect = *pick(rng, &TaintEffect::ALL);
                match n
                    .taints
                    .iter()
                    .position(|t| t.key == key && t.effect == effect)
                {
                    Some(i) => {
                        n.taints.remove(i);
                    }
                    None => n.taints.push(random_taint(rng, key, effect)),
                }
            }
            _ if !n.taints.is_empty() => {
                let i = rng.random_range(0..n.taints.len());
                n.taints[i].value = pick_str(rng, TAINT_VALUES);
            }
            _ => n.unschedulable = !n.unschedulable,
        }
    }
    n
}

// ---------------------------------------------------------------------------------------
// Random placements
// ---------------------------------------------------------------------------------------

fn random_placement(rng: &mut SmallRng, shapes: Shapes) -> PodPlacement {
    let mut p = PodPlacement::default();
    if rng.random_bool(0.4) {
        for _ in 0..rng.random_range(1..=2) {
            let key = if shapes == Shapes::Any && rng.random_bool(0.1) {
                pick_str(rng, BAD_KEYS)
            } else {
                pick_str(rng, SELECTOR_KEYS)
            };
            p.node_selector.insert(key, random_value(rng, shapes));
        }
    }
    match rng.random_range(0..20) {
        0..=8 => {}
        9 if shapes == Shapes::Any => p.affinity.required = Some(Vec::new()),
        _ => {
            let terms = (0..rng.random_range(1..=3))
                .map(|_| random_term(rng, shapes))
                .collect();
            p.affinity.required = Some(terms);
        }
    }
    if rng.random_bool(0.2) {
        p.affinity.preferred = (0..rng.random_range(1..=2))
            .map(|_| PreferredTerm {
                weight: rng.random_range(1..=100),
                preference: random_term(rng, Shapes::ApiValid),
            })
            .collect();
    }
    if rng.random_bool(0.6) {
        p.tolerations = (0..rng.random_range(1..=3))
            .map(|_| random_toleration(rng, shapes))
            .collect();
    }
    if rng.random_bool(0.07) {
        p.node_name = if rng.random_bool(0.7) {
            node_name(rng.random_range(0..NODE_NAMES))
        } else {
            "node-99".to_owned()
        };
    }
    p.host_network = rng.random_bool(0.3);
    p
}

fn random_value(rng: &mut SmallRng, shapes: Shapes) -> String {
    if shapes == Shapes::Any && rng.random_bool(0.1) {
        pick_str(rng, BAD_VALUES)
    } else {
        pick_str(rng, SELECTOR_VALUES)
    }
}

/// A term: usually a few expressions, sometimes `matchFields`, now and then empty (which
/// matches nothing).
fn random_term(rng: &mut SmallRng, shapes: Shapes) -> NodeSelectorTerm {
    if rng.random_bool(0.08) {
        return NodeSelectorTerm::default();
    }
    let mut term = NodeSelectorTerm {
        match_expressions: (0..rng.random_range(0..=3))
            .map(|_| random_requirement(rng, shapes))
            .collect(),
        match_fields: Vec::new(),
    };
    if term.match_expressions.is_empty() || rng.random_bool(0.2) {
        term.match_fields = (0..rng.random_range(1..=2))
            .map(|_| random_field(rng, shapes))
            .collect();
    }
    term
}

fn random_requirement(rng: &mut SmallRng, shapes: Shapes) -> Requirement {
    let operator = *pick(rng, &OPERATORS);
    let key = if shapes == Shapes::Any && rng.random_bool(0.08) {
        pick_str(rng, BAD_KEYS)
    } else {
        pick_str(rng, SELECTOR_KEYS)
    };
    let mut values: Vec<String> = match operator {
        Operator::In | Operator::NotIn => (0..rng.random_range(1..=3))
            .map(|_| random_value(rng, shapes))
            .collect(),
        Operator::Exists | Operator::DoesNotExist => Vec::new(),
        Operator::Gt | Operator::Lt => {
            if shapes == Shapes::Any && rng.random_bool(0.1) {
                vec![pick_str(rng, BAD_BOUNDS)]
            } else {
                vec![pick_str(rng, BOUNDS)]
            }
        }
    };
    // Value counts the API rejects.
    if shapes == Shapes::Any && rng.random_bool(0.15) {
        match operator {
            Operator::In | Operator::NotIn => values.clear(),
            Operator::Exists | Operator::DoesNotExist => {
                values = (0..rng.random_range(1..=2))
                    .map(|_| pick_str(rng, SELECTOR_VALUES))
                    .collect();
            }
            Operator::Gt | Operator::Lt => {
                if rng.random_bool(0.5) {
                    values.clear();
                } else {
                    values.push(pick_str(rng, BOUNDS));
                }
            }
        }
    }
    // Upstream keeps values sorted and unique; hand-built ones need not be.
    if shapes == Shapes::ApiValid {
        values.sort();
        values.dedup();
    }
    Requirement {
        key,
        operator,
        values,
    }
}

fn random_field(rng: &mut SmallRng, shapes: Shapes) -> FieldRequirement {
    let value = if rng.random_bool(0.8) {
        node_name(rng.random_range(0..NODE_NAMES))
    } else {
        "node-99".to_owned()
    };
    let mut f = FieldRequirement {
        key: NODE_NAME_FIELD.to_owned(),
        operator: pick_str(rng, &["In", "NotIn"]),
        values: vec![value],
    };
    if shapes == Shapes::Any && rng.random_bool(0.3) {
        match rng.random_range(0..5) {
            // Any other key reads as "": `In [""]` matches every node.
            0 => {
                f.key = "metadata.uid".to_owned();
                f.values = vec![pick_str(rng, &["", "node-3"])];
            }
            1 => f.operator = pick_str(rng, &["Exists", "in", "Gt"]),
            2 => f.values.clear(),
            3 => f.values.push(node_name(rng.random_range(0..NODE_NAMES))),
            _ => f.values = vec![String::new()],
        }
    }
    f
}

fn random_toleration(rng: &mut SmallRng, shapes: Shapes) -> Toleration {
    let effect = match rng.random_range(0..4) {
        0 => None,
        i => Some(TaintEffect::ALL[i - 1]),
    };
    let key = if rng.random_bool(0.15) {
        String::new()
    } else if rng.random_bool(0.1) {
        "other".to_owned()
    } else {
        pick_str(rng, TAINT_KEYS)
    };
    let mut operator = if key.is_empty() || rng.random_bool(0.5) {
        TolerationOperator::Exists
    } else {
        TolerationOperator::Equal
    };
    let mut value = match operator {
        TolerationOperator::Equal => pick_str(rng, TAINT_VALUES),
        _ => String::new(),
    };
    let mut toleration_seconds = (effect == Some(TaintEffect::NoExecute) && rng.random_bool(0.4))
        .then(|| *pick(rng, &[0, 300, 3600]));
    if shapes == Shapes::Any && rng.random_bool(0.25) {
        match rng.random_range(0..4) {
            // An empty key with `Equal` matches every key with that value.
            0 => operator = TolerationOperator::Equal,
            // Comparison operators are behind a gate that is off: they never tolerate.
            1 => {
                operator = *pick(rng, &[TolerationOperator::Lt, TolerationOperator::Gt]);
                value = pick_str(rng, &["0", "5", "1700000001"]);
            }
            2 => value = pick_str(rng, TAINT_VALUES),
            _ => toleration_seconds = Some(-1),
        }
    }
    Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    }
}

// ---------------------------------------------------------------------------------------
// The oracle and the comparison
// ---------------------------------------------------------------------------------------

/// A node's place in an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Seen {
    /// In `nodes`: shouldRun.
    Run,
    /// In `keep_nodes`: !shouldRun but shouldContinueRunning.
    Keep,
    /// In neither.
    Out,
}

fn verdict_of(node: &Node, p: &PodPlacement) -> Seen {
    let v = should_run(node, p);
    if v.should_run {
        Seen::Run
    } else if v.should_continue_running {
        Seen::Keep
    } else {
        Seen::Out
    }
}

/// The oracle's answer: `(name, shouldRun)` for every node that is Run or Keep, by name.
type Answer = Vec<(String, bool)>;

/// `scan_nodes` (materialized records, no postings) filtered by `should_run`.
fn oracle(inv: &Inventory, p: &PodPlacement) -> Answer {
    inv.scan_nodes(|n| verdict_of(n, p) != Seen::Out)
        .iter()
        .map(|n| (n.name.clone(), verdict_of(n, p) == Seen::Run))
        .collect()
}

/// The same over plain nodes (the in-test model of what a server holds).
fn oracle_of<'a>(nodes: impl IntoIterator<Item = &'a Node>, p: &PodPlacement) -> Answer {
    let mut out: Answer = nodes
        .into_iter()
        .filter_map(|n| match verdict_of(n, p) {
            Seen::Run => Some((n.name.clone(), true)),
            Seen::Keep => Some((n.name.clone(), false)),
            Seen::Out => None,
        })
        .collect();
    out.sort();
    out
}

fn counts(answer: &Answer) -> (usize, usize) {
    let run = answer.iter().filter(|(_, r)| *r).count();
    (run, answer.len() - run)
}

fn names_of(e: &Evaluation) -> Answer {
    e.names.iter().map(|(n, r)| (n.to_string(), r)).collect()
}

/// A page limit: mostly small (many pages), sometimes exactly the answer's size (the last
/// page is full: no further page may be announced), sometimes large.
fn random_limit(rng: &mut SmallRng, answer_len: usize) -> usize {
    match rng.random_range(0..6) {
        0 => 1,
        1 => answer_len.max(1),
        2 => answer_len + 1,
        3 => 1000,
        _ => rng.random_range(1..=7),
    }
}

/// A starting point: none, a node's name, or a string between or around names.
fn random_after(rng: &mut SmallRng) -> Option<String> {
    match rng.random_range(0..10) {
        0..=4 => None,
        5..=7 => Some(node_name(rng.random_range(0..NODE_NAMES))),
        _ => Some(pick_str(
            rng,
            &["", "node-", "node-1", "node-4", "node-99", "a", "z"],
        )),
    }
}

/// Checks one placement against the oracle: counts with `limit` 0, then every page from a
/// random starting point with random limits.
fn check_placement(inv: &Inventory, rng: &mut SmallRng, ctx: &str, p: &PodPlacement) {
    let want = oracle(inv, p);
    let (want_run, want_keep) = counts(&want);
    let plan = Plan::compile(p);
    let ctx = format!("{ctx}\nplacement: {p:#?}");

    let e = inv.evaluate(&plan, None, 0);
    assert_eq!(
        (e.should_run, e.keep),
        (want_run, want_keep),
        "{ctx}\ncounts (shouldRun, keep) with limit 0; oracle answer: {want:?}"
    );
    assert_eq!(e.total, inv.node_count(), "{ctx}\ntotal");
    assert!(e.names.is_empty(), "{ctx}\nlimit 0 returned names");
    assert_eq!(e.next_after, None, "{ctx}\nlimit 0 announced a page");
    assert_eq!(e.revision, inv.revision(), "{ctx}\nrevision");

    let after = random_after(rng);
    let want_after: Answer = want
        .iter()
        .filter(|(n, _)| after.as_deref().is_none_or(|a| n.as_str() > a))
        .cloned()
        .collect();
    let mut got: Answer = Vec::new();
    let mut cursor = after.clone();
    let mut limits = Vec::new();
    loop {
        let limit = random_limit(rng, want_after.len() - got.len().min(want_after.len()));
        limits.push(limit);
        let page = inv.evaluate(&plan, cursor.as_deref(), limit);
        let pctx = format!("{ctx}\nafter {after:?}, pages of {limits:?}");
        assert_eq!(
            (page.should_run, page.keep, page.total),
            (want_run, want_keep, inv.node_count()),
            "{pctx}\ncounts (shouldRun, keep, total) of a page"
        );
        assert!(page.names.len() <= limit, "{pctx}\npage over its limit");
        let names = names_of(&page);
        got.extend(names.iter().cloned());
        match page.next_after {
            Some(next) => {
                assert_eq!(
                    Some(&next),
                    names.last().map(|(n, _)| n),
                    "{pctx}\nnext_after is not the page's last name"
                );
                assert_eq!(names.len(), limit, "{pctx}\na short page announced more");
                assert!(
                    got.len() < want_after.len(),
                    "{pctx}\nanother page announced after the last one; got {got:?}"
                );
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(
        got, want_after,
        "{ctx}\nnames after {after:?}, pages of {limits:?} (left: index, right: oracle)"
    );
}

// ---------------------------------------------------------------------------------------
// 1 and 2: in process
// ---------------------------------------------------------------------------------------

/// One random fleet churned for `steps` steps, `queries` placements checked after each.
fn run_in_process(seed: u64, shapes: Shapes, steps: usize, queries: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let shards = *pick(&mut rng, &[1, 2, 4, 16]);
    let inv = Inventory::new(shards);
    let valid = shapes == Shapes::ApiValid && rng.random_bool(0.5);
    for i in 0..NODE_NAMES {
        if rng.random_bool(0.85) {
            inv.upsert_node(&random_node(&mut rng, &node_name(i), valid));
        }
    }
    for step in 0..steps {
        for _ in 0..rng.random_range(1..=4) {
            let name = node_name(rng.random_range(0..NODE_NAMES));
            match (inv.get_node(&name), rng.random_range(0..10)) {
                (Some(_), 0..=1) => {
                    inv.delete_node(&name);
                }
                (Some((stored, _)), 2..=7) => {
                    inv.upsert_node(&churn_node(&mut rng, &stored, valid));
                }
                _ => {
                    inv.upsert_node(&random_node(&mut rng, &name, valid));
                }
            }
        }
        for q in 0..queries {
            let p = random_placement(&mut rng, shapes);
            let ctx = format!(
                "seed {seed} ({shapes:?}, {shards} shards) step {step} query {q}, {} nodes",
                inv.node_count()
            );
            check_placement(&inv, &mut rng, &ctx, &p);
        }
    }
}

#[test]
fn index_agrees_with_the_oracle() {
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
        run_in_process(seed, Shapes::ApiValid, 120, 6);
    }
}

#[test]
fn index_agrees_with_the_oracle_on_api_invalid_shapes() {
    for seed in seeds(&[11, 12, 13, 14, 15, 16, 17, 18]) {
        run_in_process(seed, Shapes::Any, 100, 6);
    }
}

/// Named cases for the shapes the API rejects, one row each, so a disagreement names its
/// shape without reading a random placement. Each runs on a fixed 4-node fleet.
#[test]
fn api_invalid_shapes_table() {
    let fleet = [
        ("n-a", &[("zone", "a"), ("num", "7")][..]),
        ("n-b", &[("zone", "b")][..]),
        ("n-c", &[("num", "x1")][..]),
        ("n-d", &[][..]),
    ];
    let inv = Inventory::new(2);
    for (name, labels) in fleet {
        inv.upsert_node(&Node {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Node::default()
        });
    }
    let expr = |key: &str, operator: Operator, values: &[&str]| NodeSelectorTerm {
        match_expressions: vec![Requirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }],
        match_fields: Vec::new(),
    };
    let field = |key: &str, operator: &str, values: &[&str]| NodeSelectorTerm {
        match_expressions: Vec::new(),
        match_fields: vec![FieldRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }],
    };
    let cases: Vec<(&str, NodeSelectorTerm)> = vec![
        (
            "Exists with a value",
            expr("zone", Operator::Exists, &["a"]),
        ),
        (
            "DoesNotExist with a value",
            expr("zone", Operator::DoesNotExist, &["a"]),
        ),
        ("NotIn without values", expr("zone", Operator::NotIn, &[])),
        ("In without values", expr("zone", Operator::In, &[])),
        (
            "NotIn with an invalid value",
            expr("zone", Operator::NotIn, &["-bad"]),
        ),
        (
            "In with a valid and an invalid value",
            expr("zone", Operator::In, &["a", "-bad"]),
        ),
        (
            "DoesNotExist on an invalid key",
            expr("bad key", Operator::DoesNotExist, &[]),
        ),
        (
            "NotIn on an invalid key",
            expr("bad key", Operator::NotIn, &["a"]),
        ),
        ("Gt with two values", expr("num", Operator::Gt, &["1", "2"])),
        ("Gt non-integer", expr("num", Operator::Gt, &["1.5"])),
        ("Lt without values", expr("num", Operator::Lt, &[])),
        ("Lt with a sign", expr("num", Operator::Lt, &["+9"])),
        (
            "matchFields other key In [\"\"]",
            field("metadata.uid", "In", &[""]),
        ),
        (
            "matchFields other key NotIn [x]",
            field("spec.x", "NotIn", &["x"]),
        ),
        (
            "matchFields Exists",
            field(NODE_NAME_FIELD, "Exists", &["n-a"]),
        ),
        (
            "matchFields two values",
            field(NODE_NAME_FIELD, "In", &["n-a", "n-b"]),
        ),
        (
            "matchFields NotIn no value",
            field(NODE_NAME_FIELD, "NotIn", &[]),
        ),
    ];
    let mut failures = Vec::new();
    for (name, term) in cases {
        let p = PodPlacement {
            affinity: NodeAffinity {
                required: Some(vec![term]),
                preferred: Vec::new(),
            },
            ..PodPlacement::default()
        };
        let want = oracle(&inv, &p);
        let got = names_of(&inv.evaluate(&Plan::compile(&p), None, 100));
        if got != want {
            failures.push(format!("{name}: index {got:?}, oracle {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "the index disagrees with the domain functions on {} shape(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `limit` is a page size; `usize::MAX` means "everything", as `list_nodes` takes it.
#[test]
fn evaluate_takes_an_unbounded_limit() {
    let inv = Inventory::new(2);
    for i in 0..5 {
        inv.upsert_node(&Node {
            name: node_name(i),
            ..Node::default()
        });
    }
    let e = inv.evaluate(&Plan::compile(&PodPlacement::default()), None, usize::MAX);
    assert_eq!(e.names.len(), 5);
    assert_eq!(e.next_after, None);
}

// ---------------------------------------------------------------------------------------
// 3: concurrency
// ---------------------------------------------------------------------------------------

/// Every version a churned node has been given, each stamped with the clock tick taken just
/// before it was applied (`None`: deleted). Versions of one name are applied in order by a
/// single writer, one at a time, so at any instant the inventory holds the last logged
/// version or (while it is being applied) the one before.
type History = Vec<(u64, Option<Node>)>;

/// What a node may have been while a query ran that read the clock as `before` and then
/// `after`: the last two versions logged at or before `before` (the newer may not have been
/// applied yet), and every version logged in between.
fn possible_states(history: &History, before: u64, after: u64) -> Vec<Option<&Node>> {
    let upto = history.partition_point(|(tick, _)| *tick <= before);
    let from = upto.saturating_sub(2);
    let mut states: Vec<Option<&Node>> = history[from..]
        .iter()
        .take_while(|(tick, _)| *tick <= after)
        .map(|(_, n)| n.as_ref())
        .collect();
    if upto < 2 {
        // Before its first version the node did not exist.
        states.push(None);
    }
    states
}

/// A placement the readers evaluate, with the oracle's answer over the untouched nodes.
struct Query {
    placement: PodPlacement,
    plan: Plan,
    /// Untouched node → Run or Keep (Out nodes are left out).
    want_stable: BTreeMap<String, Seen>,
}

#[test]
fn answers_stay_exact_while_writers_churn() {
    const WRITERS: usize = 2;
    const READERS: usize = 2;
    const STABLE: usize = 60;
    const CHURNED_PER_WRITER: usize = 20;
    const WRITES: usize = 6_000;
    const PLACEMENTS: usize = 40;
    for seed in seeds(&[21, 22]) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let inv = Arc::new(Inventory::new(4));
        // Stable nodes: loaded once, never touched again.
        let stable: Vec<Node> = (0..STABLE)
            .map(|i| random_node(&mut rng, &format!("stable-{i}"), false))
            .collect();
        inv.upsert_nodes(&stable);
        let placements: Arc<Vec<Query>> = Arc::new(
            (0..PLACEMENTS)
                .map(|_| {
                    let p = random_placement(&mut rng, Shapes::ApiValid);
                    let plan = Plan::compile(&p);
                    let want = stable
                        .iter()
                        .map(|n| (n.name.clone(), verdict_of(n, &p)))
                        .filter(|(_, s)| *s != Seen::Out)
                        .collect();
                    Query {
                        placement: p,
                        plan,
                        want_stable: want,
                    }
                })
                .collect(),
        );
        let churned: Vec<String> = (0..WRITERS)
            .flat_map(|w| (0..CHURNED_PER_WRITER).map(move |i| format!("churn-{w}-{i}")))
            .collect();
        let histories: Arc<BTreeMap<String, Mutex<History>>> = Arc::new(
            churned
                .iter()
                .map(|n| (n.clone(), Mutex::new(History::new())))
                .collect(),
        );
        let clock = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));

        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (inv, histories, clock) = (inv.clone(), histories.clone(), clock.clone());
                thread::spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(seed * 1000 + w as u64);
                    let mine: Vec<String> = (0..CHURNED_PER_WRITER)
                        .map(|i| format!("churn-{w}-{i}"))
                        .collect();
                    let mut current: BTreeMap<String, Node> = BTreeMap::new();
                    let mut written = 0;
                    while written < WRITES {
                        // A batch of distinct names: each logged, then all applied.
                        let mut names: BTreeSet<&String> = BTreeSet::new();
                        for _ in 0..rng.random_range(1..=4) {
                            names.insert(pick(&mut rng, &mine));
                        }
                        let mut upserts = Vec::new();
                        let mut deletes = Vec::new();
                        for name in names {
                            let next = match (current.get(name), rng.random_range(0..10)) {
                                (Some(_), 0..=1) => None,
                                (Some(n), 2..=6) => Some(churn_node(&mut rng, n, false)),
                                _ => Some(random_node(&mut rng, name, false)),
                            };
                            let tick = clock.fetch_add(1, Ordering::SeqCst) + 1;
                            histories[name]
                                .lock()
                                .expect("not poisoned")
                                .push((tick, next.clone()));
                            match next {
                                Some(n) => {
                                    current.insert(name.clone(), n.clone());
                                    upserts.push(n);
                                }
                                None => {
                                    current.remove(name);
                                    deletes.push(name.clone());
                                }
                            }
                            written += 1;
                        }
                        inv.upsert_nodes(&upserts);
                        for name in deletes {
                            inv.delete_node(&name);
                        }
                    }
                })
            })
            .collect();

        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let inv = inv.clone();
                let (placements, histories) = (placements.clone(), histories.clone());
                let (clock, done) = (clock.clone(), done.clone());
                thread::spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(seed * 1000 + 100 + r as u64);
                    let mut revision = 0;
                    let mut rounds = 0u64;
                    while !done.load(Ordering::Acquire) || rounds < 20 {
                        rounds += 1;
                        let i = rng.random_range(0..placements.len());
                        let Query {
                            placement: p,
                            plan,
                            want_stable,
                        } = &placements[i];
                        let ctx = format!("seed {seed} reader {r} round {rounds} placement {i}");
                        if rng.random_bool(0.7) {
                            let before = clock.load(Ordering::SeqCst);
                            let e = inv.evaluate(plan, None, usize::MAX >> 1);
                            let after = clock.load(Ordering::SeqCst);
                            assert!(e.revision >= revision, "{ctx}: revision went back");
                            revision = e.revision;
                            check_one_page(
                                &ctx,
                                &e,
                                p,
                                want_stable,
                                STABLE,
                                &histories,
                                (before, after),
                            );
                        } else {
                            check_pages_under_churn(&ctx, &inv, &mut rng, plan, want_stable);
                        }
                    }
                    rounds
                })
            })
            .collect();

        for w in writers {
            w.join().expect("writer thread");
        }
        done.store(true, Ordering::Release);
        for r in readers {
            let rounds = r.join().expect("reader thread");
            assert!(
                rounds >= 20,
                "seed {seed}: a reader ran only {rounds} rounds"
            );
        }
        // Quiet now: everything exact again.
        for (q, Query { placement: p, .. }) in placements.iter().enumerate() {
            let ctx = format!("seed {seed} after the churn, placement {q}");
            check_placement(&inv, &mut rng, &ctx, p);
        }
    }
}

/// One whole answer read while writers ran: stable nodes exactly, every churned node as one
/// of its possible states, counts consistent with the names (they come from the same
/// per-shard sets).
fn check_one_page(
    ctx: &str,
    e: &Evaluation,
    p: &PodPlacement,
    want_stable: &BTreeMap<String, Seen>,
    stable_nodes: usize,
    histories: &BTreeMap<String, Mutex<History>>,
    (before, after): (u64, u64),
) {
    let names = names_of(e);
    assert!(
        names.windows(2).all(|w| w[0].0 < w[1].0),
        "{ctx}: names not strictly ascending: {names:?}"
    );
    assert_eq!(e.next_after, None, "{ctx}: one page holds everything");
    let (run, keep) = counts(&names);
    assert_eq!(
        (e.should_run, e.keep),
        (run, keep),
        "{ctx}: counts disagree with the names returned"
    );
    let got: BTreeMap<String, Seen> = names
        .into_iter()
        .map(|(n, r)| (n, if r { Seen::Run } else { Seen::Keep }))
        .collect();
    let got_stable: BTreeMap<String, Seen> = got
        .iter()
        .filter(|(n, _)| n.starts_with("stable-"))
        .map(|(n, s)| (n.clone(), *s))
        .collect();
    assert_eq!(
        &got_stable, want_stable,
        "{ctx}: untouched nodes (left: index, right: oracle)\nplacement {p:#?}"
    );
    for (name, history) in histories {
        let history = history.lock().expect("not poisoned");
        let states = possible_states(&history, before, after);
        let seen = got.get(name).copied().unwrap_or(Seen::Out);
        let allowed: Vec<Seen> = states
            .iter()
            .map(|s| s.map_or(Seen::Out, |n| verdict_of(n, p)))
            .collect();
        assert!(
            allowed.contains(&seen),
            "{ctx}: {name} answered {seen:?}, but its versions during the query \
             (ticks {before}..={after}) give {allowed:?}\nversions: {states:#?}\nplacement {p:#?}"
        );
    }
    assert!(
        (stable_nodes..=stable_nodes + histories.len()).contains(&e.total),
        "{ctx}: total {} with {stable_nodes} untouched nodes and {} churned names",
        e.total,
        histories.len()
    );
}

/// Pages walked while writers run: each page strictly after the previous one, and the
/// stable nodes across all pages exactly the oracle's.
fn check_pages_under_churn(
    ctx: &str,
    inv: &Inventory,
    rng: &mut SmallRng,
    plan: &Plan,
    want_stable: &BTreeMap<String, Seen>,
) {
    let mut cursor: Option<String> = None;
    let mut got_stable = BTreeMap::new();
    let mut pages = 0;
    loop {
        let limit = rng.random_range(1..=12);
        let page = inv.evaluate(plan, cursor.as_deref(), limit);
        pages += 1;
        assert!(pages <= 200, "{ctx}: the page walk does not end");
        assert!(page.names.len() <= limit, "{ctx}: page over its limit");
        for (name, run) in page.names.iter() {
            assert!(
                cursor.as_deref().is_none_or(|c| name > c),
                "{ctx}: {name} not after {cursor:?}"
            );
            if name.starts_with("stable-") {
                got_stable.insert(name.to_string(), if run { Seen::Run } else { Seen::Keep });
            }
            cursor = Some(name.to_string());
        }
        if page.next_after.is_none() {
            break;
        }
        assert_eq!(
            page.next_after, cursor,
            "{ctx}: next_after is not the last name"
        );
    }
    assert_eq!(
        &got_stable, want_stable,
        "{ctx}: untouched nodes across pages (left: index, right: oracle)"
    );
}

// ---------------------------------------------------------------------------------------
// 4: over gRPC
// ---------------------------------------------------------------------------------------

/// Walks every page of `Evaluate` for `placement`; returns `(nodes, keep_nodes, counts)`.
async fn evaluate_all(
    client: &mut PlacementClient<Channel>,
    rng: &mut SmallRng,
    ctx: &str,
    placement: &pb::PodPlacement,
) -> (Answer, (usize, usize, usize)) {
    let mut got: Answer = Vec::new();
    let mut token = String::new();
    let mut counts_seen = None;
    let mut pages = 0;
    loop {
        let limit = *pick(rng, &[0u32, 1, 2, 5, 17, 100]);
        let resp = client
            .evaluate(pb::EvaluateRequest {
                target: Some(pb::evaluate_request::Target::Placement(placement.clone())),
                limit,
                page_token: token,
                count_only: false,
            })
            .await
            .unwrap_or_else(|s| panic!("{ctx}: Evaluate failed: {s:?}"))
            .into_inner();
        pages += 1;
        assert!(pages <= 200, "{ctx}: the page walk does not end");
        let c = (
            resp.should_run_count as usize,
            resp.keep_count as usize,
            resp.total_nodes as usize,
        );
        assert!(
            counts_seen.is_none_or(|s| s == c),
            "{ctx}: counts changed between pages"
        );
        counts_seen = Some(c);
        let mut page: Answer = resp
            .nodes
            .into_iter()
            .map(|n| (n, true))
            .chain(resp.keep_nodes.into_iter().map(|n| (n, false)))
            .collect();
        page.sort();
        if limit > 0 {
            assert!(page.len() <= limit as usize, "{ctx}: page over its limit");
        }
        got.extend(page);
        if resp.next_page_token.is_empty() {
            break;
        }
        token = resp.next_page_token;
    }
    (got, counts_seen.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_over_grpc_agrees_with_the_oracle() {
    const PLACEMENTS: usize = 300;
    for seed in seeds(&[31]) {
        let server = TestServer::start_with(&[("shards", "4")]).await;
        let mut inventory = server.inventory().await;
        let mut sync = SyncStream::open(&mut inventory).await;
        let mut client = PlacementClient::new(server.channel().await);
        let mut rng = SmallRng::seed_from_u64(seed);

        // The model: what the server holds, as the server converts it.
        let mut model: BTreeMap<String, Node> = BTreeMap::new();
        let mut batch_id = 0;
        let mut push =
            async |upserts: Vec<Node>, deletes: Vec<String>, model: &mut BTreeMap<String, Node>| {
                batch_id += 1;
                let req = pb::SyncRequest {
                    batch_id,
                    upsert_nodes: upserts.iter().map(|n| node_to_pb(n.clone(), 0)).collect(),
                    delete_nodes: deletes.clone(),
                    ..Default::default()
                };
                let ack = sync.batch(req).await;
                assert!(
                    ack.rejected.is_empty(),
                    "seed {seed}: rejected {:?}",
                    ack.rejected
                );
                for n in upserts {
                    let wire = node_to_pb(n, 0);
                    let domain = node_from_pb(wire, &FieldPath::root("node"))
                        .unwrap_or_else(|e| panic!("seed {seed}: node invalid: {e:?}"));
                    model.insert(domain.name.clone(), domain);
                }
                for d in deletes {
                    model.remove(&d);
                }
            };
        let mut initial = Vec::new();
        for i in 0..NODE_NAMES {
            if rng.random_bool(0.9) {
                initial.push(random_node(&mut rng, &node_name(i), true));
            }
        }
        push(initial, Vec::new(), &mut model).await;

        for q in 0..PLACEMENTS {
            if q % 50 == 49 {
                // Churn between rounds of queries.
                let mut upserts = Vec::new();
                let mut deletes = Vec::new();
                let mut touched = BTreeSet::new();
                for _ in 0..8 {
                    let name = node_name(rng.random_range(0..NODE_NAMES));
                    if !touched.insert(name.clone()) {
                        continue;
                    }
                    match (model.get(&name), rng.random_bool(0.2)) {
                        (Some(_), true) => deletes.push(name),
                        (Some(n), false) => upserts.push(churn_node(&mut rng, n, true)),
                        (None, _) => upserts.push(random_node(&mut rng, &name, true)),
                    }
                }
                push(upserts, deletes, &mut model).await;
            }
            let domain = random_placement(&mut rng, Shapes::ApiValid);
            let wire = placement_to_pb(domain);
            let ctx = format!("seed {seed} query {q}\nplacement {wire:#?}");
            let p = placement_request(wire.clone(), &FieldPath::root("placement")).unwrap_or_else(
                |e| panic!("{ctx}\nthe generator made an API-invalid placement: {e:?}"),
            );
            let want = oracle_of(model.values(), &p);
            let (want_run, want_keep) = counts(&want);
            if rng.random_bool(0.3) {
                let resp = client
                    .evaluate(pb::EvaluateRequest {
                        target: Some(pb::evaluate_request::Target::Placement(wire)),
                        limit: 0,
                        page_token: String::new(),
                        count_only: true,
                    })
                    .await
                    .unwrap_or_else(|s| panic!("{ctx}: Evaluate failed: {s:?}"))
                    .into_inner();
                assert!(
                    resp.nodes.is_empty() && resp.keep_nodes.is_empty(),
                    "{ctx}: count_only returned names"
                );
                assert_eq!(
                    (
                        resp.should_run_count as usize,
                        resp.keep_count as usize,
                        resp.total_nodes as usize
                    ),
                    (want_run, want_keep, model.len()),
                    "{ctx}: counts (shouldRun, keep, total)"
                );
            } else {
                let (got, c) = evaluate_all(&mut client, &mut rng, &ctx, &wire).await;
                assert_eq!(
                    c,
                    (want_run, want_keep, model.len()),
                    "{ctx}: counts (shouldRun, keep, total)"
                );
                assert_eq!(got, want, "{ctx}: names (left: server, right: oracle)");
            }
        }
        sync.close().await;
        server.stop().await.expect("server stops cleanly");
    }
}
