//! The `dsched` binary: parse arguments, start telemetry, bind, run. No logic lives here.

use clap::Parser;
use dsched::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            dsched::telemetry::init_logging(args.log_format, &args.log);
            dsched::telemetry::metrics_handle();
            let (listener, metrics) = dsched::server::bind(&args).await?;
            dsched::server::run(args, listener, metrics, shutdown_signal()).await
        }
        client => std::process::exit(dsched::cli::run(client).await),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
