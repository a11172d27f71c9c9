//! The built `dsched` binary as an operator meets it: validated flags and environment
//! variables, `--help`, JSON logs, and a graceful exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dsched() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsched"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One row: name, arguments, environment, a phrase the error must contain.
type UsageCase<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn invalid_flags_and_env_vars_are_refused_before_binding() {
    let cases: &[UsageCase<'_>] = &[
        (
            "shards not a power of two",
            &["serve", "--shards", "12"],
            &[],
            "power of two",
        ),
        (
            "shards from env",
            &["serve"],
            &[("DSCHED_SHARDS", "3")],
            "power of two",
        ),
        (
            "bad duration",
            &["serve", "--drain-deadline", "soon"],
            &[],
            "not a duration",
        ),
        (
            "tiny message limit",
            &["serve", "--max-message-bytes", "10"],
            &[],
            "outside",
        ),
        (
            "bad listen address",
            &["serve", "--listen", "nowhere"],
            &[],
            "invalid",
        ),
        (
            "bad log filter",
            &["serve", "--log", "dsched=loud"],
            &[],
            "invalid log filter",
        ),
        (
            "unknown flag",
            &["serve", "--turbo"],
            &[],
            "unexpected argument",
        ),
    ];
    for (name, args, env, want) in cases {
        let out = dsched()
            .args(*args)
            .envs(env.iter().copied())
            .output()
            .expect("run dsched");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: usage errors exit 2; stderr: {stderr}"
        );
        assert!(stderr.contains(want), "{name}: want {want:?} in {stderr}");
    }
}

#[test]
fn help_lists_every_flag_with_its_env_var() {
    let out = dsched()
        .args(["serve", "--help"])
        .output()
        .expect("run dsched");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--listen", "DSCHED_LISTEN"),
        ("--metrics-listen", "DSCHED_METRICS_LISTEN"),
        ("--shards", "DSCHED_SHARDS"),
        ("--log-format", "DSCHED_LOG_FORMAT"),
        ("--max-message-bytes", "DSCHED_MAX_MESSAGE_BYTES"),
        ("--max-concurrent-streams", "DSCHED_MAX_CONCURRENT_STREAMS"),
        ("--http2-stream-window", "DSCHED_HTTP2_STREAM_WINDOW"),
        (
            "--http2-connection-window",
            "DSCHED_HTTP2_CONNECTION_WINDOW",
        ),
        ("--max-in-flight", "DSCHED_MAX_IN_FLIGHT"),
        ("--keepalive-interval", "DSCHED_KEEPALIVE_INTERVAL"),
        ("--drain-deadline", "DSCHED_DRAIN_DEADLINE"),
        ("--shutdown-delay", "DSCHED_SHUTDOWN_DELAY"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} missing from:\n{help}"
        );
    }
}

/// Starts the server with JSON logs from the environment, reads its structured log, then
/// sends SIGTERM: it drains and exits 0 well within its drain deadline.
#[test]
fn json_logs_and_a_graceful_exit_on_sigterm() {
    let (grpc, metrics) = (free_port(), free_port());
    let mut child = dsched()
        .args(["serve", "--drain-deadline", "2s"])
        .env("DSCHED_LISTEN", format!("127.0.0.1:{grpc}"))
        .env("DSCHED_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("DSCHED_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn dsched");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a log line").expect("utf-8 log");
    let event: serde_json::Value = match serde_json::from_str(&first) {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            panic!("log line is not JSON ({e}): {first}");
        }
    };
    assert_eq!(event["message"], "dsched serving", "{event}");
    assert_eq!(event["grpc_addr"], format!("127.0.0.1:{grpc}"), "{event}");
    assert_eq!(event["level"], "INFO", "{event}");

    let started = Instant::now();
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("no exit within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("dsched stopped")),
        "the shutdown is logged: {rest:?}"
    );
}
