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
            // Handlers first: a SIGTERM that arrives while binding must drain, not kill.
            let shutdown = shutdown_signal()?;
            let (listener, metrics) = dsched::server::bind(&args).await?;
            dsched::server::run(args, listener, metrics, shutdown).await
        }
        client => std::process::exit(dsched::cli::run(client).await),
    }
}

/// Registers the SIGTERM and SIGINT handlers now and returns a future that resolves on
/// either. Registering eagerly replaces the default action (exit) at once.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
