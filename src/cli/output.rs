//! Printing: kubectl-style tables, and `-o json|yaml` as the messages' proto3 JSON (the
//! shape grpcurl prints, with zero values included so scripts always find a field).

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

use super::{CliError, CliResult, Output};
use crate::grpc::pb;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set decodes")
    })
}

/// A generated message as proto3 JSON (lowerCamelCase names, defaults emitted); `name` is
/// its short name in `dsched.v1` (`"Node"`).
pub fn to_json<M: Message>(msg: &M, name: &str) -> Value {
    let Some(desc) = pool().get_message_by_name(&format!("dsched.v1.{name}")) else {
        return Value::Null;
    };
    let Ok(dynamic) = DynamicMessage::decode(desc, msg.encode_to_vec().as_slice()) else {
        return Value::Null;
    };
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(Value::Null)
}

/// Prints `value` as JSON or YAML.
pub fn print_value(value: &Value, format: Output) -> CliResult {
    let text = match format {
        Output::Json => {
            serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(e.to_string()))? + "\n"
        }
        Output::Yaml => {
            serde_yaml_ng::to_string(value).map_err(|e| CliError::Failed(e.to_string()))?
        }
    };
    print!("{text}");
    Ok(())
}

/// A table with kubectl's layout: upper-case headers, columns padded to three spaces apart.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    let pad = widths[c] - cell.chars().count() + 3;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// `<none>` for an empty cell, as kubectl prints it.
pub fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["a-long-name".into(), "Ready".into()]);
        assert_eq!(t.render(), "NAME          STATUS\na-long-name   Ready\n");
    }

    #[test]
    fn messages_render_as_proto3_json() {
        let node = pb::Node {
            name: "n".into(),
            generation: 5,
            ..Default::default()
        };
        let v = to_json(&node, "Node");
        assert_eq!(v["name"], "n");
        assert_eq!(v["generation"], 5);
        assert_eq!(v["unschedulable"], false);
    }
}
