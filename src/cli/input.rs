//! Reading Kubernetes objects: multi-document YAML and JSON files, directories (their
//! `.yaml`, `.yml` and `.json` files, sorted by name) and `-` for stdin. `List` and `*List`
//! objects are flattened into their items; an item without `kind` takes it from its list
//! (`NodeList` items are `Node`s). A syntax error names the file, line and column.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{CliError, CliResult};

/// One Kubernetes object read from the input.
#[derive(Clone, Debug)]
pub struct Document {
    /// File name as given (`<stdin>` for `-`).
    pub source: String,
    /// 1-based line where the document (or its list) starts, when known.
    pub line: Option<usize>,
    /// `kind`, possibly inherited from a `*List`.
    pub kind: String,
    pub value: Value,
}

impl Document {
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }

    /// `file:line` for messages.
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.source),
            None => self.source.clone(),
        }
    }

    /// `Kind namespace/name` (or `Kind name`) for messages.
    pub fn describe(&self) -> String {
        let kind = if self.kind.is_empty() {
            "object without kind"
        } else {
            &self.kind
        };
        match (self.namespace(), self.name()) {
            (Some(ns), name) => format!("{kind} {ns}/{name}"),
            (None, "") => kind.to_owned(),
            (None, name) => format!("{kind} {name}"),
        }
    }

    /// The one-line notice for a document a command does not use.
    pub fn skip_notice(&self, wants: &str) {
        eprintln!("skipped {} ({}): {wants}", self.describe(), self.location());
    }
}

/// Every document of every input, in order.
pub fn read_all(inputs: &[String]) -> CliResult<Vec<Document>> {
    let mut docs = Vec::new();
    for input in inputs {
        if input == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("<stdin>: {e}")))?;
            docs.extend(parse_text("<stdin>", &text)?);
            continue;
        }
        let path = Path::new(input);
        let meta = std::fs::metadata(path).map_err(|e| CliError::Usage(format!("{input}: {e}")))?;
        if meta.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| CliError::Usage(format!("{input}: {e}")))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            files.sort();
            for file in files {
                docs.extend(read_file(&file.display().to_string())?);
            }
        } else {
            docs.extend(read_file(input)?);
        }
    }
    Ok(docs)
}

fn read_file(name: &str) -> CliResult<Vec<Document>> {
    let text =
        std::fs::read_to_string(name).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
    parse_text(name, &text)
}

/// The documents of one file's text: JSON when it starts with `{` or `[`, else YAML (one or
/// more documents separated by `---`).
pub fn parse_text(source: &str, text: &str) -> CliResult<Vec<Document>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let mut out = Vec::new();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(trimmed).map_err(|e| {
            let skipped = text.len() - trimmed.len();
            let offset = text[..skipped].matches('\n').count();
            CliError::Usage(format!(
                "{source}:{}:{}: invalid JSON: {e}",
                e.line() + offset,
                e.column()
            ))
        })?;
        match value {
            Value::Array(items) => {
                for item in items {
                    flatten(source, Some(1), item, "", &mut out);
                }
            }
            value => flatten(source, Some(1), value, "", &mut out),
        }
        return Ok(out);
    }
    let starts = document_lines(text);
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| match e.location() {
            Some(loc) => CliError::Usage(format!(
                "{source}:{}:{}: invalid YAML: {e}",
                loc.line(),
                loc.column()
            )),
            None => CliError::Usage(format!("{source}: invalid YAML: {e}")),
        })?;
        if value.is_null() {
            continue;
        }
        flatten(source, starts.get(i).copied(), value, "", &mut out);
    }
    Ok(out)
}

/// The 1-based first line of each YAML document, from the `---` separators.
fn document_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_before = false;
    let mut separators = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            separators.push(i + 1);
        } else if separators.is_empty() {
            let t = line.trim();
            if !t.is_empty() && !t.starts_with('#') && !t.starts_with('%') {
                content_before = true;
            }
        }
    }
    if content_before || separators.is_empty() {
        starts.push(1);
    }
    for s in separators {
        starts.push(s + 1);
    }
    starts
}

/// Adds `value` to `out`, flattening `List`s; `default_kind` is a list item's implied kind.
fn flatten(
    source: &str,
    line: Option<usize>,
    value: Value,
    default_kind: &str,
    out: &mut Vec<Document>,
) {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(default_kind)
        .to_owned();
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
        let item_kind = kind.strip_suffix("List").unwrap_or("").to_owned();
        if let Value::Object(mut map) = value
            && let Some(Value::Array(items)) = map.remove("items")
        {
            for item in items {
                flatten(source, line, item, &item_kind, out);
            }
        }
        return;
    }
    out.push(Document {
        source: source.to_owned(),
        line,
        kind,
        value,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_and_lines() {
        let text = "# c\n---\nkind: A\n---\nkind: B\nmetadata: {name: b}\n";
        let docs = parse_text("f.yaml", text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].kind.as_str(), docs[0].line), ("A", Some(3)));
        assert_eq!((docs[1].kind.as_str(), docs[1].line), ("B", Some(5)));
        assert_eq!(docs[1].describe(), "B b");
    }

    #[test]
    fn lists_flatten_with_implied_kinds() {
        let text = r#"{"kind": "NodeList", "items": [{"metadata": {"name": "a"}}]}"#;
        let docs = parse_text("n.json", text).expect("parses");
        assert_eq!(docs[0].kind, "Node");
        assert_eq!(docs[0].name(), "a");
    }

    #[test]
    fn yaml_errors_name_file_and_line() {
        let Err(CliError::Usage(msg)) = parse_text("bad.yaml", "kind: A\n---\na: [1\nb: 2\n")
        else {
            panic!("want an error")
        };
        assert!(msg.starts_with("bad.yaml:"), "{msg}");
        assert!(msg.contains("invalid YAML"), "{msg}");
    }
}
