//! The table of `examples/README.md`,
//! reproduced end to end: `nodes.json` (`kubectl get nodes -o json`) synced in one resync,
//! each `nginx-*.yaml` manifest's DaemonSet applied (its PriorityClass document giving the
//! priority), and `Evaluate` compared with the table's `nodes` and `keep` columns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dsched::grpc::pb;
use serde_json::Value;

use crate::k8s_json;
use crate::placement_api::{Api, inline, registered};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One row of the README's table.
#[derive(Debug)]
struct Expected {
    manifest: String,
    nodes: Vec<String>,
    keep: Vec<String>,
}

fn names(cell: &str) -> Vec<String> {
    let mut out: Vec<String> = cell
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// The markdown table whose header is `| manifest | nodes | keep |`.
fn expected_table(readme: &str) -> Vec<Expected> {
    let mut lines = readme.lines().map(str::trim);
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    lines
        .by_ref()
        .find(|l| l.starts_with('|') && cells(l) == ["manifest", "nodes", "keep"])
        .expect("the README has a | manifest | nodes | keep | table");
    let separator = lines.next().expect("a separator row");
    assert!(
        separator.starts_with("|---") || separator.starts_with("| ---"),
        "{separator}"
    );
    lines
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 3, "row {l:?}");
            Expected {
                manifest: c[0].clone(),
                nodes: names(&c[1]),
                keep: names(&c[2]),
            }
        })
        .collect()
}

/// Every node of `nodes.json`, converted.
fn nodes() -> Vec<pb::Node> {
    let list: Value = serde_json::from_str(&read("nodes.json")).expect("nodes.json parses");
    assert_eq!(list["kind"], "List");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| k8s_json::node_from_kubectl(item).expect("node converts"))
        .collect()
}

/// The DaemonSet of a manifest file (other documents, such as a PriorityClass, only lend
/// their values).
fn manifest_daemonset(name: &str) -> pb::DaemonSet {
    let docs = k8s_json::yaml_documents(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let classes = k8s_json::priority_classes(&docs).expect("priority classes");
    let mut daemonsets: Vec<pb::DaemonSet> = docs
        .iter()
        .filter(|d| d["kind"] == "DaemonSet")
        .map(|d| k8s_json::daemonset_from_manifest(d, &classes).expect("DaemonSet converts"))
        .collect();
    assert_eq!(daemonsets.len(), 1, "{name}: one DaemonSet");
    daemonsets.remove(0)
}

#[test]
fn nodes_json_converts_every_field() {
    let nodes = nodes();
    assert_eq!(nodes.len(), 8);
    let by: BTreeMap<&str, &pb::Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let b1 = by["worker-b1"];
    assert!(b1.unschedulable);
    assert_eq!(b1.taints[0].key, "node.kubernetes.io/unschedulable");
    assert!(b1.taints[0].time_added.is_some(), "timeAdded parsed");
    assert_eq!(b1.labels["topology.kubernetes.io/zone"], "eu-west-1b");
    let b2 = by["worker-b2"];
    assert_eq!(b2.taints.len(), 2);
    assert!(
        b2.conditions
            .iter()
            .any(|c| c.r#type == "Ready" && c.status == "False"),
        "{b2:?}"
    );
    assert_eq!(by["gpu-c1"].allocatable["nvidia.com/gpu"], "8");
    assert_eq!(by["edge-1"].allocatable["cpu"], "500m");
    assert_eq!(
        by["cp-1"].labels["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert!(by["worker-a1"].taints.is_empty());
}

#[test]
fn manifests_convert() {
    let priority = manifest_daemonset("nginx-priority.yaml");
    let p = priority.placement.clone().expect("placement");
    assert_eq!(
        (p.priority_class_name.as_str(), p.priority),
        ("high-priority", 1_000_000)
    );
    assert_eq!(p.requests["memory"], "64Mi");
    assert_eq!(p.requests["cpu"], "250m");
    let rolling = manifest_daemonset("nginx-rolling-update.yaml");
    let s = rolling.update_strategy.clone().expect("strategy");
    let r = s.rolling_update.expect("rollingUpdate");
    assert_eq!(
        (
            s.r#type.as_str(),
            r.max_unavailable.as_str(),
            r.max_surge.as_str()
        ),
        ("RollingUpdate", "0", "10%")
    );
    assert_eq!(
        (rolling.min_ready_seconds, rolling.revision_history_limit),
        (10, Some(10))
    );
    assert_eq!(rolling.namespace, "default");
    let template: Value = serde_json::from_str(&rolling.template).expect("template is JSON");
    assert_eq!(
        template["spec"]["containers"][0]["image"], "nginx:1.27",
        "the pod template is kept"
    );
}

#[tokio::test]
async fn readme_table_end_to_end() {
    let table = expected_table(&read("README.md"));
    assert_eq!(table.len(), 5, "{table:#?}");
    let mut api = Api::start().await;
    let nodes = nodes();
    let count = nodes.len();
    let ack = api.resync(nodes).await;
    assert!(ack.rejected.is_empty(), "{ack:?}");
    assert_eq!(ack.applied as usize, count, "{ack:?}");

    let mut failures = Vec::new();
    let mut revisions = Vec::new();
    for row in &table {
        let ds = manifest_daemonset(&row.manifest);
        let placement = ds.placement.clone().expect("placement");
        let applied = match api.apply(ds).await {
            Ok(a) => a,
            Err(s) => {
                failures.push(format!("{}: Apply: {s:?}", row.manifest));
                continue;
            }
        };
        revisions.push(applied.revision);
        for (how, target) in [
            ("registered", registered(&applied.namespace, &applied.name)),
            ("inline", inline(placement)),
        ] {
            match api.evaluate(target).await {
                Err(s) => failures.push(format!("{} ({how}): Evaluate: {s:?}", row.manifest)),
                Ok(got) => {
                    if got.nodes != row.nodes || got.keep != row.keep {
                        failures.push(format!(
                            "{} ({how}): want nodes {:?} keep {:?}, got nodes {:?} keep {:?}",
                            row.manifest, row.nodes, row.keep, got.nodes, got.keep
                        ));
                    }
                    if got.total_nodes as usize != count {
                        failures.push(format!("{}: total {}", row.manifest, got.total_nodes));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The five manifests are five revisions of default/nginx-daemonset.
    assert_eq!(revisions, [1, 2, 3, 4, 5]);
    let history = api
        .daemonsets
        .history(pb::DaemonSetRef {
            namespace: "default".into(),
            name: "nginx-daemonset".into(),
        })
        .await
        .expect("history")
        .into_inner()
        .revisions;
    let numbers: Vec<i64> = history.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let last = manifest_daemonset(&table[4].manifest);
    assert_eq!(history[4].template, last.template);
    assert!(history[4].current);
}
