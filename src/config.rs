//! Command-line flags and environment variables, validated into a typed configuration
//! before anything binds. Every default is a named constant.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_SHARDS: usize = crate::index::DEFAULT_SHARDS;
/// Large enough for a 5,000-node `Sync` batch of richly labelled nodes (~2 KiB each).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 1024;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;
/// HTTP/2 receive window per stream: several 1,000-node `Sync` batches (about 1.1 MB each)
/// in flight without waiting for window updates (hyper's default is 1 MiB; one stream
/// measured 10 % more nodes/s with this, `loadtest/README.md`).
pub const DEFAULT_HTTP2_STREAM_WINDOW: u32 = 8 << 20;
/// HTTP/2 receive window per connection: at most this much unread data per connection.
pub const DEFAULT_HTTP2_CONNECTION_WINDOW: u32 = 16 << 20;
pub const DEFAULT_KEEPALIVE_INTERVAL: &str = "30s";
pub const DEFAULT_KEEPALIVE_TIMEOUT: &str = "10s";
pub const DEFAULT_SHUTDOWN_DELAY: &str = "0s";
pub const DEFAULT_DRAIN_DEADLINE: &str = "10s";

#[derive(Debug, Parser)]
#[command(
    name = "dsched",
    version,
    about = "DaemonSet scheduling decisions as a gRPC service",
    long_about = "dsched keeps a node inventory synced by controllers and answers which nodes \
                  should run a DaemonSet and what the next rolling-update batch is."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Register DaemonSets from manifests (apps/v1 DaemonSet; PriorityClass resolves priority).
    Apply(crate::cli::ApplyArgs),
    /// Node inventory: `nodes sync -f` takes what `kubectl get nodes -o json|yaml` prints.
    Nodes(crate::cli::NodesArgs),
    /// List nodes or DaemonSets.
    Get(crate::cli::GetArgs),
    /// Which nodes should run a DaemonSet (registered, or `-f` a manifest).
    Eval(crate::cli::EvalArgs),
    /// Why a DaemonSet does or does not run on nodes.
    Explain(crate::cli::ExplainArgs),
    /// Rolling updates: next batch, status, history, undo.
    Rollout(crate::cli::RolloutArgs),
    /// Unregister a DaemonSet.
    Delete(crate::cli::DeleteArgs),
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// gRPC listen address.
    #[arg(long, env = "DSCHED_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Prometheus metrics listen address (serves GET /metrics).
    #[arg(long, env = "DSCHED_METRICS_LISTEN", default_value = DEFAULT_METRICS_LISTEN)]
    pub metrics_listen: SocketAddr,
    /// Number of index lock shards: a power of two from 1 to 1024.
    #[arg(long, env = "DSCHED_SHARDS", default_value_t = DEFAULT_SHARDS, value_parser = parse_shards)]
    pub shards: usize,
    /// Log format.
    #[arg(long, env = "DSCHED_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `dsched=debug,info`.
    #[arg(long, env = "DSCHED_LOG", default_value = "info", value_parser = parse_log_filter)]
    pub log: String,
    /// Largest accepted or sent message in bytes (4 KiB to 1 GiB).
    #[arg(long, env = "DSCHED_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = parse_message_bytes)]
    pub max_message_bytes: usize,
    /// HTTP/2 concurrent streams allowed per connection.
    #[arg(long, env = "DSCHED_MAX_CONCURRENT_STREAMS", default_value_t = DEFAULT_MAX_CONCURRENT_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// HTTP/2 receive window per stream, in bytes (64 KiB to 1 GiB).
    #[arg(long, env = "DSCHED_HTTP2_STREAM_WINDOW", default_value_t = DEFAULT_HTTP2_STREAM_WINDOW,
          value_parser = parse_window)]
    pub http2_stream_window: u32,
    /// HTTP/2 receive window per connection, in bytes (64 KiB to 1 GiB): the most unread
    /// data a connection may hold.
    #[arg(long, env = "DSCHED_HTTP2_CONNECTION_WINDOW",
          default_value_t = DEFAULT_HTTP2_CONNECTION_WINDOW, value_parser = parse_window)]
    pub http2_connection_window: u32,
    /// Calls in progress across all connections before new ones are shed with UNAVAILABLE.
    #[arg(long, env = "DSCHED_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT,
          value_parser = parse_positive)]
    pub max_in_flight: usize,
    /// HTTP/2 keepalive ping interval, e.g. `30s`.
    #[arg(long, env = "DSCHED_KEEPALIVE_INTERVAL", default_value = DEFAULT_KEEPALIVE_INTERVAL,
          value_parser = parse_duration)]
    pub keepalive_interval: Duration,
    /// How long to wait for a keepalive ping's answer before closing the connection.
    #[arg(long, env = "DSCHED_KEEPALIVE_TIMEOUT", default_value = DEFAULT_KEEPALIVE_TIMEOUT,
          value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// On SIGTERM/SIGINT, how long to report NOT_SERVING before refusing new connections,
    /// so load balancers and probes notice first.
    #[arg(long, env = "DSCHED_SHUTDOWN_DELAY", default_value = DEFAULT_SHUTDOWN_DELAY,
          value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// How long open calls may take to finish once shutdown begins; then the process exits.
    #[arg(long, env = "DSCHED_DRAIN_DEADLINE", default_value = DEFAULT_DRAIN_DEADLINE,
          value_parser = parse_duration)]
    pub drain_deadline: Duration,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs::parse_from_env(std::iter::empty::<(String, String)>())
    }
}

impl ServeArgs {
    /// The defaults with `vars` applied as if they were the environment; used by tests.
    pub fn parse_from_env(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut args = vec!["dsched".to_owned(), "serve".to_owned()];
        for (flag, value) in vars {
            args.push(format!("--{flag}={value}"));
        }
        match Cli::try_parse_from(args) {
            Ok(Cli {
                command: Command::Serve(args),
            }) => args,
            Ok(other) => panic!("not serve: {other:?}"),
            Err(err) => panic!("invalid test configuration: {err}"),
        }
    }
}

fn parse_shards(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if !(1..=1024).contains(&n) || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two from 1 to 1024"));
    }
    Ok(n)
}

fn parse_message_bytes(s: &str) -> Result<usize, String> {
    parse_bytes_in(s, 4096..=1 << 30)
}

fn parse_window(s: &str) -> Result<u32, String> {
    parse_bytes_in(s, 65_536..=1 << 30)
}

/// A whole number of bytes within `range`.
fn parse_bytes_in<T>(s: &str, range: std::ops::RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let n: T = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of bytes"))?;
    if !range.contains(&n) {
        return Err(format!(
            "{n} is outside {}..={}",
            range.start(),
            range.end()
        ));
    }
    Ok(n)
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a positive whole number")),
    }
}

fn parse_log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("invalid log filter {s:?}: {e}"))
}

/// A duration such as `250ms`, `10s`, `2m` or `1h`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 250ms, 10s, 2m or 1h");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (input, want) in [
            ("250ms", Some(Duration::from_millis(250))),
            ("10s", Some(Duration::from_secs(10))),
            ("10", Some(Duration::from_secs(10))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h", Some(Duration::from_secs(3600))),
            ("", None),
            ("s", None),
            ("-1s", None),
            ("1.5s", None),
            ("10d", None),
            ("99999999999999999999h", None),
        ] {
            assert_eq!(parse_duration(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn shards_must_be_a_power_of_two() {
        assert_eq!(parse_shards("16"), Ok(16));
        assert!(parse_shards("12").is_err());
        assert!(parse_shards("0").is_err());
        assert!(parse_shards("2048").is_err());
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(parse_window("65536"), Ok(65_536));
        assert_eq!(parse_window("8388608"), Ok(8 << 20));
        assert!(parse_window("65535").is_err());
        assert!(parse_window("1073741825").is_err());
        assert!(parse_window("-1").is_err());
        assert!(parse_window("8MiB").is_err());
        let args = ServeArgs::default();
        assert_eq!(args.http2_stream_window, DEFAULT_HTTP2_STREAM_WINDOW);
        assert_eq!(
            args.http2_connection_window,
            DEFAULT_HTTP2_CONNECTION_WINDOW
        );
    }

    #[test]
    fn flags_and_env_parse() {
        let args = ServeArgs::parse_from_env([("shards".to_owned(), "4".to_owned())]);
        assert_eq!(args.shards, 4);
        assert_eq!(args.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert!(
            Cli::try_parse_from(["dsched", "serve", "--max-message-bytes", "10"]).is_err(),
            "a too-small message limit is refused"
        );
    }
}
