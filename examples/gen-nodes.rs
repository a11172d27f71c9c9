//! Writes a synthetic fleet as `kubectl get nodes -o json` prints it (`kind: List`), for
//! load tests of `dsched nodes sync`: `cargo run --release --example gen-nodes -- 100000`.

use std::io::{BufWriter, Write};

use dsched::fleet::{FleetSpec, generate};
use serde_json::{Value, json};

fn item(node: &dsched::domain::Node) -> Value {
    let taints: Vec<Value> = node
        .taints
        .iter()
        .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect.as_str()}))
        .collect();
    let conditions: Vec<Value> = node
        .conditions
        .iter()
        .map(|c| json!({"type": c.kind, "status": c.status}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": node.labels},
        "spec": {"taints": taints, "unschedulable": node.unschedulable},
        "status": {"allocatable": node.allocatable, "capacity": node.allocatable, "conditions": conditions},
    })
}

fn main() -> std::io::Result<()> {
    let nodes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let fleet = generate(&FleetSpec::nodes(nodes));
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": fleet.iter().map(item).collect::<Vec<_>>(),
        "metadata": {"resourceVersion": ""},
    });
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &list)?;
    out.write_all(b"\n")
}
