//! The client subcommands of the `dsched` binary: read Kubernetes objects (YAML or JSON, as
//! `kubectl` reads and prints them), talk to a running server, print kubectl-style answers.
//!
//! - [`input`]: files, directories and `-` (stdin) into documents, kinds sorted out.
//! - [`convert`]: `k8s-openapi` objects into `dsched.v1` messages.
//! - [`output`]: tables, and `-o json|yaml` (the messages' proto3 JSON).
//! - [`commands`]: one function per subcommand.
//!
//! Exit codes: [`EXIT_OK`] (0), [`EXIT_FAILED`] (1: the server is unreachable or refused a
//! request, or some documents or nodes were rejected), [`EXIT_USAGE`] (2: bad flags or
//! arguments, or an input that cannot be read or parsed; nothing was sent).
//!
//! This is a transport-facing layer: it names tonic and prost types, never domain internals
//! beyond quantity arithmetic.

pub mod commands;
pub mod convert;
pub mod input;
pub mod output;

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use tonic::transport::{Channel, Endpoint};

use crate::config::Command;

/// Success.
pub const EXIT_OK: i32 = 0;
/// The server is unreachable or refused a request, or part of the input was rejected.
pub const EXIT_FAILED: i32 = 1;
/// Bad flags or arguments, or unreadable input: nothing was sent.
pub const EXIT_USAGE: i32 = 2;

/// The default server: the address `dsched serve` listens on by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// Nodes per `Sync` batch in `dsched nodes sync`.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Options every client subcommand takes.
#[derive(Clone, Debug, Args)]
pub struct ClientOpts {
    /// The dsched server's gRPC address.
    #[arg(long, global = true, env = "DSCHED_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Namespace of the DaemonSet (and of manifests that name none).
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    /// Output format: a table (default), json or yaml.
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<Output>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files, directories (their .yaml, .yml and .json files) or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(subcommand)]
    pub command: NodesCommand,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Replace the inventory's nodes with those of `kubectl get nodes -o json|yaml` (one
    /// resync: nodes and daemon pods not in the input are deleted).
    Sync {
        /// Files, directories or `-` for stdin.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
        /// Nodes per Sync batch.
        #[arg(long, default_value_t = DEFAULT_BATCH_SIZE,
              value_parser = parse_batch_size)]
        batch_size: usize,
    },
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(subcommand)]
    pub resource: GetResource,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum GetResource {
    /// Nodes of the inventory, by name.
    #[command(visible_aliases = ["node", "no"])]
    Nodes {
        /// Label selector, kubectl syntax: `zone=a,tier in (web,db),!gpu`.
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// Registered DaemonSets with their rollout counts.
    #[command(visible_aliases = ["daemonset", "ds"])]
    Daemonsets {
        /// Every namespace, not just `-n`.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A registered DaemonSet.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub name: Option<String>,
    /// A manifest with one DaemonSet, evaluated without registering it.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<String>,
    /// Print only the counts.
    #[arg(long)]
    pub count: bool,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A registered DaemonSet.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub name: Option<String>,
    /// A manifest with one DaemonSet, explained without registering it.
    #[arg(short = 'f', long = "filename")]
    pub file: Option<String>,
    /// Nodes to explain one by one (repeat, or comma-separate); none: a summary of reasons.
    #[arg(long = "node", value_delimiter = ',')]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// The next rolling-update batch: pods to create and delete now.
    Next { name: String },
    /// Rollout counts, and whether the rollout is complete.
    Status { name: String },
    /// Revision history.
    History { name: String },
    /// Roll back to the previous revision, or to `--to-revision`.
    Undo {
        name: String,
        /// The revision to go back to; 0 = the previous one.
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(subcommand)]
    pub resource: DeleteResource,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum DeleteResource {
    /// Unregister a DaemonSet; lists the pods left to clean up.
    #[command(visible_aliases = ["daemonsets", "ds"])]
    Daemonset { name: String },
}

fn parse_batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 1 to 100000")),
    }
}

/// A failed command: what to print, and how to exit.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments or input; exit 2.
    Usage(String),
    /// The server is unreachable or refused; exit 1.
    Failed(String),
    /// Already reported line by line (partial failure); exit 1.
    Reported,
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Failed(_) | CliError::Reported => EXIT_FAILED,
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Runs a client subcommand; returns the process exit code.
pub async fn run(command: Command) -> i32 {
    let result = match command {
        Command::Serve(_) => Err(CliError::Usage("serve is not a client command".into())),
        Command::Apply(args) => commands::apply(args).await,
        Command::Nodes(args) => commands::nodes(args).await,
        Command::Get(args) => commands::get(args).await,
        Command::Eval(args) => commands::eval(args).await,
        Command::Explain(args) => commands::explain(args).await,
        Command::Rollout(args) => commands::rollout(args).await,
        Command::Delete(args) => commands::delete(args).await,
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(err) => {
            match &err {
                CliError::Usage(m) | CliError::Failed(m) => eprintln!("error: {m}"),
                CliError::Reported => {}
            }
            err.exit_code()
        }
    }
}

/// A connected channel to `server`, or an error naming the address tried.
pub async fn connect(server: &str) -> CliResult<Channel> {
    let url = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| CliError::Usage(format!("--server {server:?} is not a valid address: {e}")))?
        .connect_timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|e| {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        CliError::Failed(format!(
            "cannot reach the dsched server at {url}: {cause} (set --server or DSCHED_SERVER)"
        ))
    })
}
