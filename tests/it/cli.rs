//! The `dsched` client subcommands, run as a user runs them: the built binary against an
//! in-process server, checking stdout, stderr and exit codes. Expected answers come from the
//! tables in `examples/README.md` and `tests/fixtures/real/README.md`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::TestServer;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A file under `tests/fixtures/`, or under the project's `examples/` for `examples/…`.
fn path(rel: &str) -> String {
    project_file(rel).display().to_string()
}

fn project_file(rel: &str) -> PathBuf {
    if rel.starts_with("examples/") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
    } else {
        fixtures().join(rel)
    }
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Runs `dsched ARGS` (with `--server` unless `server` is None), feeding `stdin`.
async fn run_with(server: Option<&str>, args: &[&str], stdin: Option<String>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsched"));
    cmd.args(args).env_remove("DSCHED_SERVER");
    if let Some(s) = server {
        cmd.arg("--server").arg(s);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawn dsched");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("dsched runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

async fn run(server: &TestServer, args: &[&str]) -> Out {
    run_with(Some(&server.url()), args, None).await
}

fn names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a name").to_owned())
        .collect();
    out.sort();
    out
}

fn split_names(cell: &str) -> Vec<String> {
    let mut out: Vec<String> = cell
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// The rows of the first markdown table whose header's first cell is `first`.
fn table(readme: &str, first: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut lines = readme.lines().map(str::trim);
    let header = lines
        .by_ref()
        .find(|l| l.starts_with('|') && cells(l)[0] == first)
        .map(cells)
        .unwrap_or_else(|| panic!("a table starting with | {first} |"));
    let sep = lines.next().expect("separator");
    assert!(sep.starts_with("|---") || sep.starts_with("| ---"), "{sep}");
    let rows = lines
        .take_while(|l| l.starts_with('|'))
        .map(cells)
        .collect();
    (header, rows)
}

/// A scratch file under the target directory.
fn scratch(name: &str, text: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&p, text).expect("write scratch file");
    p.display().to_string()
}

// ---------------------------------------------------------------------------------------
// The README walkthrough on examples/.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_matches_the_examples_table() {
    let server = TestServer::start().await;
    let readme = std::fs::read_to_string(project_file("examples/README.md")).expect("README");
    let (header, rows) = table(&readme, "manifest");
    assert_eq!(header, ["manifest", "nodes", "keep"]);
    assert_eq!(rows.len(), 5);

    let out = run(
        &server,
        &["nodes", "sync", "-f", &path("examples/nodes.json")],
    )
    .await
    .ok();
    assert!(
        out.stdout.contains("synced 8 nodes") && out.stdout.contains("8 applied"),
        "{out:#?}"
    );

    let out = run(&server, &["get", "nodes"]).await.ok();
    assert!(out.stdout.starts_with("NAME "), "{out:#?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("worker-b1") && l.contains("Ready,SchedulingDisabled")),
        "{}",
        out.stdout
    );
    let out = run(
        &server,
        &[
            "get",
            "nodes",
            "-l",
            "kubernetes.io/arch=arm64",
            "-o",
            "json",
        ],
    )
    .await
    .ok();
    let json = out.json();
    let arm: Vec<&str> = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    assert_eq!(arm, ["edge-1"]);

    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let manifest = path(&format!("examples/{}", row[0]));
        let out = run(&server, &["apply", "-f", &manifest]).await.ok();
        let verb = if i == 0 { "created" } else { "configured" };
        assert_eq!(
            out.stdout.trim(),
            format!("daemonset.apps/nginx-daemonset {verb} (revision {})", i + 1),
            "{out:#?}"
        );
        for target in [
            vec!["eval", "nginx-daemonset", "-o", "json"],
            vec!["eval", "-f", &manifest, "-o", "json"],
        ] {
            let got = run(&server, &target).await.ok().json();
            let (nodes, keep) = (names(&got["nodes"]), names(&got["keepNodes"]));
            if nodes != split_names(&row[1]) || keep != split_names(&row[2]) {
                failures.push(format!(
                    "{} ({target:?}): want {} / {}, got {nodes:?} / {keep:?}",
                    row[0], row[1], row[2]
                ));
            }
            assert_eq!(got["totalNodes"], 8);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Re-applying the same manifest changes nothing.
    let last = path(&format!("examples/{}", rows[4][0]));
    let out = run(&server, &["apply", "-f", &last]).await.ok();
    assert_eq!(
        out.stdout.trim(),
        "daemonset.apps/nginx-daemonset unchanged (revision 5)"
    );

    // The table form of eval, and counts.
    let out = run(&server, &["eval", "nginx-daemonset"]).await.ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["gpu-c1", "Keep"])),
        "{}",
        out.stdout
    );
    let out = run(&server, &["eval", "nginx-daemonset", "--count"])
        .await
        .ok();
    assert_eq!(
        out.stdout
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["4", "3", "8"]),
        "{}",
        out.stdout
    );

    // Why gpu-c1 gets no new pod: its dedicated=gpu:NoSchedule taint.
    let out = run(&server, &["explain", "nginx-daemonset", "--node", "gpu-c1"])
        .await
        .ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("gpu-c1"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        line.contains("TaintNotTolerated") && line.contains("dedicated=gpu:NoSchedule"),
        "{line}"
    );
    let json = run(
        &server,
        &[
            "explain",
            "nginx-daemonset",
            "--node",
            "gpu-c1",
            "-o",
            "json",
        ],
    )
    .await
    .ok()
    .json();
    let verdict = &json["verdicts"][0];
    assert_eq!(
        (&verdict["shouldRun"], &verdict["shouldContinueRunning"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
    let summary = run(&server, &["explain", "nginx-daemonset"]).await.ok();
    assert!(
        summary.stdout.contains("edge=true:NoExecute"),
        "{summary:#?}"
    );

    // The rollout: nothing runs yet, so the next batch creates on every shouldRun node.
    let next = run(
        &server,
        &["rollout", "next", "nginx-daemonset", "-o", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(names(&next["createOn"]), split_names(&rows[4][1]));
    assert_eq!(next["targetRevision"], 5);
    let out = run(&server, &["rollout", "next", "nginx-daemonset"])
        .await
        .ok();
    assert!(out.stdout.contains("create   cp-1"), "{}", out.stdout);
    let out = run(&server, &["rollout", "status", "nginx-daemonset"])
        .await
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "Waiting for daemon set \"nginx-daemonset\" rollout to finish: 0 out of 4 new pods have been updated..."
    );
    let history = run(
        &server,
        &["rollout", "history", "nginx-daemonset", "-o", "json"],
    )
    .await
    .ok()
    .json();
    let revs: Vec<i64> = history["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .map(|r| r["revision"].as_i64().expect("number"))
        .collect();
    assert_eq!(revs, [1, 2, 3, 4, 5]);

    // Undo twice walks back: 4 becomes 6, then 3 becomes 7 (not back to 5).
    let out = run(&server, &["rollout", "undo", "nginx-daemonset"])
        .await
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "daemonset.apps/nginx-daemonset rolled back: revision 4 restored as revision 6"
    );
    let out = run(&server, &["rollout", "undo", "nginx-daemonset"])
        .await
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "daemonset.apps/nginx-daemonset rolled back: revision 3 restored as revision 7"
    );
    let got = run(&server, &["eval", "nginx-daemonset", "-o", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (names(&got["nodes"]), names(&got["keepNodes"])),
        (split_names(&rows[2][1]), split_names(&rows[2][2])),
        "after two undos the affinity revision is current"
    );
    let out = run(&server, &["rollout", "history", "nginx-daemonset"])
        .await
        .ok();
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(listed, ["1", "2", "5", "6", "7"], "{}", out.stdout);

    let out = run(&server, &["get", "daemonsets"]).await.ok();
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("nginx-daemonset")),
        "{}",
        out.stdout
    );
    let out = run(&server, &["delete", "daemonset", "nginx-daemonset"])
        .await
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "daemonset.apps \"nginx-daemonset\" deleted"
    );
    let out = run(&server, &["eval", "nginx-daemonset"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("NotFound"), "{out:#?}");
}

// ---------------------------------------------------------------------------------------
// Real manifests and node dumps.
// ---------------------------------------------------------------------------------------

fn real_manifests() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(fixtures().join("real"))
        .expect("real fixtures")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

/// The manifest file a short name in the README's table stands for: every word's letters
/// appear in the file name; the shortest such name wins (`nvidia-device-plugin` is the
/// device plugin, not the GPU feature discovery file of the same repository).
fn manifest_for(short: &str, files: &[String]) -> String {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase()
    };
    let words: Vec<String> = short.split_whitespace().map(squash).collect();
    files
        .iter()
        .filter(|f| words.iter().all(|w| squash(f).contains(w.as_str())))
        .min_by_key(|f| f.len())
        .unwrap_or_else(|| panic!("no manifest for {short:?}"))
        .clone()
}

/// A cell of the real README's table: `all 7`, `both`, `none (…)` or `` `a` only ``.
fn expected_nodes(cell: &str, all: &[String]) -> Vec<String> {
    let cell = cell.trim();
    if cell.starts_with("all") || cell.starts_with("both") {
        return all.to_vec();
    }
    if cell.starts_with("none") {
        return Vec::new();
    }
    let mut out: Vec<String> = cell
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    out.sort();
    assert!(!out.is_empty(), "cannot read cell {cell:?}");
    out
}

fn dump_names(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("real").join(file)).expect("dump");
    let v: Value = serde_json::from_str(&text).expect("dump parses");
    let mut out: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().expect("name").to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dumps_sync_and_real_manifests_place_as_the_table_says() {
    let readme = std::fs::read_to_string(fixtures().join("real/README.md")).expect("README");
    let (header, rows) = table(&readme, "manifest");
    let files = real_manifests();
    assert_eq!(files.len(), 13, "{files:?}");
    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    let server = TestServer::start().await;

    for (col, dump_header) in header.iter().enumerate().skip(1) {
        let dump = dump_header
            .split_whitespace()
            .next()
            .expect("a file name")
            .to_owned();
        let all = dump_names(&dump);
        // One dump over stdin, the other as a file.
        let out = if col == 1 {
            let text = std::fs::read_to_string(fixtures().join("real").join(&dump)).expect("dump");
            run_with(
                Some(&server.url()),
                &["nodes", "sync", "-f", "-", "-o", "json"],
                Some(text),
            )
            .await
        } else {
            run(
                &server,
                &[
                    "nodes",
                    "sync",
                    "-f",
                    &path(&format!("real/{dump}")),
                    "-o",
                    "json",
                ],
            )
            .await
        }
        .ok();
        let summary = out.json();
        assert_eq!(summary["nodes"], all.len(), "{dump}: {out:#?}");
        assert_eq!(
            summary["rejected"].as_array().map(Vec::len),
            Some(0),
            "{dump}: {out:#?}"
        );
        let listed = run(&server, &["get", "nodes", "-o", "json"])
            .await
            .ok()
            .json();
        let mut got: Vec<String> = listed["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["name"].as_str().expect("name").to_owned())
            .collect();
        got.sort();
        assert_eq!(got, all, "{dump}: the resync leaves exactly its nodes");

        for row in &rows {
            let want = expected_nodes(&row[col], &all);
            for short in row[0].split(',') {
                let file = manifest_for(short.trim(), &files);
                covered.insert(file.clone());
                let manifest = path(&format!("real/{file}"));
                let out = run(&server, &["eval", "-f", &manifest, "-o", "json"]).await;
                if out.code != 0 {
                    failures.push(format!("{file} on {dump}: {out:#?}"));
                    continue;
                }
                let got = names(&out.json()["nodes"]);
                if got != want {
                    failures.push(format!("{file} on {dump}: want {want:?}, got {got:?}"));
                }
                // Registered (where it can be): the same answer.
                let applied = run(&server, &["apply", "-f", &manifest, "-o", "json"]).await;
                if file.starts_with("gpu-operator") {
                    continue;
                }
                if applied.code != 0 {
                    failures.push(format!("apply {file}: {applied:#?}"));
                    continue;
                }
                let ds = applied.json();
                let (ns, name) = (
                    ds["namespace"].as_str().expect("namespace"),
                    ds["name"].as_str().expect("name"),
                );
                let out = run(&server, &["eval", name, "-n", ns, "-o", "json"]).await;
                let got = names(&out.json()["nodes"]);
                if got != want {
                    failures.push(format!(
                        "{file} registered on {dump}: want {want:?}, got {got:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        covered.len(),
        files.len(),
        "every manifest is in the table: {covered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_manifests_apply_as_a_user_expects() {
    let server = TestServer::start().await;
    for file in real_manifests() {
        let manifest = path(&format!("real/{file}"));
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        let docs = text.matches("\nkind:").count() + usize::from(text.starts_with("kind:"));
        let out = run(&server, &["apply", "-f", &manifest]).await;
        let skipped = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("skipped "))
            .count();
        if file.starts_with("gpu-operator") {
            // The operator's placeholder namespace: a clear error naming the field.
            assert_eq!(out.code, 1, "{out:#?}");
            assert!(
                out.stderr.contains("daemonset.namespace")
                    && out.stderr.contains("\"FILLED BY THE OPERATOR\"")
                    && out.stderr.contains("metadata.namespace")
                    && out.stderr.contains(&file),
                "{out:#?}"
            );
            assert!(out.stdout.is_empty(), "{out:#?}");
            continue;
        }
        assert_eq!(out.code, 0, "{file}: {out:#?}");
        assert!(
            out.stdout.trim().starts_with("daemonset.apps/") && out.stdout.contains("created"),
            "{file}: {out:#?}"
        );
        assert_eq!(
            skipped,
            docs - 1,
            "{file}: one notice per other document: {out:#?}"
        );
        if [
            "aws-ebs",
            "nvidia-device-plugin-gpu",
            "node-feature",
            "datadog",
        ]
        .iter()
        .any(|p| file.starts_with(p))
        {
            let name = out.stdout.trim().trim_start_matches("daemonset.apps/");
            let name = name.split_whitespace().next().expect("name");
            run(&server, &["eval", name, "-n", "default", "--count"])
                .await
                .ok();
        }
    }
    let out = run(&server, &["get", "daemonsets", "-A"]).await.ok();
    assert_eq!(
        out.stdout.lines().count(),
        13,
        "12 DaemonSets and a header: {out:#?}"
    );
    // calico: priority from system-node-critical is not in the file, int maxUnavailable.
    let ds = run(
        &server,
        &["get", "daemonsets", "-n", "kube-system", "-o", "json"],
    )
    .await
    .ok()
    .json();
    let calico = ds["daemonsets"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["name"] == "calico-node")
        .expect("calico-node");
    assert_eq!(
        calico["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        "1"
    );
    assert_eq!(calico["placement"]["hostNetwork"], true);
    assert_eq!(
        calico["placement"]["priorityClassName"],
        "system-node-critical"
    );
}

// ---------------------------------------------------------------------------------------
// Bad inputs.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_yaml_names_file_and_line_and_exits_2() {
    let server = TestServer::start().await;
    let file = scratch(
        "broken.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\n  labels: {a: [b\nspec: {}\n",
    );
    let out = run(&server, &["apply", "-f", &file]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains(&format!("{file}:6:")), "{out:#?}");
    assert!(out.stderr.contains("invalid YAML"), "{out:#?}");
    let json = scratch(
        "broken.json",
        "{\n  \"kind\": \"List\",\n  \"items\": [,]\n}\n",
    );
    let out = run(&server, &["nodes", "sync", "-f", &json]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains(&format!("{json}:3:")), "{out:#?}");
}

const DAEMONSET: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent:1}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kinds_are_skipped_with_a_notice() {
    let server = TestServer::start().await;
    let file = scratch(
        "mixed.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\n---\n{DAEMONSET}"),
    );
    let out = run(&server, &["apply", "-f", &file]).await.ok();
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("skipped"))
            .count(),
        1,
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains(&format!("skipped ConfigMap cfg ({file}:1)")),
        "{out:#?}"
    );
    assert_eq!(
        out.stdout.trim(),
        "daemonset.apps/agent created (revision 1)"
    );
    // A directory: its .yaml/.yml/.json files in name order (others ignored).
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("a.yaml"), DAEMONSET).expect("write");
    std::fs::write(
        dir.join("b.yml"),
        DAEMONSET.replace("name: agent", "name: other"),
    )
    .expect("write");
    std::fs::write(dir.join("notes.txt"), "not a manifest").expect("write");
    let out = run(&server, &["apply", "-f", &dir.display().to_string()])
        .await
        .ok();
    assert_eq!(
        out.stdout,
        "daemonset.apps/agent unchanged (revision 1)\ndaemonset.apps/other created (revision 1)\n"
    );
    let only = scratch(
        "only-cm.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let out = run(&server, &["apply", "-f", &only]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("no DaemonSet in"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_toleration_names_the_field() {
    let server = TestServer::start().await;
    let bad = DAEMONSET.replace(
        "      containers:",
        "      tolerations: [{key: a, operator: Equals, value: b}]\n      containers:",
    );
    let file = scratch("bad-toleration.yaml", &bad);
    let out = run(&server, &["apply", "-f", &file]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .contains("daemonset.placement.tolerations[0].operator: unsupported value \"Equals\""),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .contains("spec.template.spec.tolerations[0].operator"),
        "{out:#?}"
    );
    // eval -f sends the placement inline: the server names the field there too.
    let out = run(&server, &["eval", "-f", &file]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("tolerations[0].operator"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_named() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let out = run_with(Some(&addr), &["get", "nodes"], None).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .contains(&format!("cannot reach the dsched server at {addr}")),
        "{out:#?}"
    );
    // The same address from the environment.
    let out = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsched"));
        cmd.args(["get", "daemonsets"])
            .env("DSCHED_SERVER", format!("127.0.0.1:{port}"));
        tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
            .await
            .expect("join")
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let server = TestServer::start().await;
    for args in [
        vec!["eval"],
        vec!["apply"],
        vec!["rollout", "undo"],
        vec!["get", "pods"],
        vec!["apply", "-f", "/nonexistent/file.yaml"],
    ] {
        let out = run(&server, &args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_nodes_are_reported_with_reasons() {
    let server = TestServer::start().await;
    let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
      {"metadata": {"name": "good"}},
      {"kind": "Node", "metadata": {"name": "bad"},
       "spec": {"taints": [{"key": "k", "effect": "NoScheduled"}]}}]}"#;
    let out = run_with(
        Some(&server.url()),
        &["nodes", "sync", "-f", "-", "--batch-size", "1"],
        Some(list.to_owned()),
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("rejected node bad") && out.stderr.contains("NoScheduled"),
        "{out:#?}"
    );
    assert!(
        out.stdout.contains("1 applied") && out.stdout.contains("1 rejected"),
        "{out:#?}"
    );
    // An empty input would delete every node: refused.
    let out = run_with(
        Some(&server.url()),
        &["nodes", "sync", "-f", "-"],
        Some(r#"{"kind": "List", "items": []}"#.to_owned()),
    )
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
}
