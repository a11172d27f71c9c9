//! A dsched server in this process, on 127.0.0.1 ports the OS picks: what the integration
//! tests, the benchmarks and the load generator's tests run against, without a child
//! process. It is the real server (`server::run`) with the given configuration; only the
//! listen addresses are replaced.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ServeArgs;

/// A running server. Dropping it aborts the server task; [`LocalServer::stop`] drains it.
#[derive(Debug)]
pub struct LocalServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl LocalServer {
    /// Starts `config` with both listeners on 127.0.0.1:0.
    pub async fn start(mut config: ServeArgs) -> anyhow::Result<LocalServer> {
        config.listen = ([127, 0, 0, 1], 0).into();
        config.metrics_listen = ([127, 0, 0, 1], 0).into();
        let listener = TcpListener::bind(config.listen).await?;
        let metrics = TcpListener::bind(config.metrics_listen).await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics.local_addr()?;
        crate::telemetry::metrics_handle();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(crate::server::run(config, listener, metrics, async {
            let _ = rx.await;
        }));
        Ok(LocalServer {
            addr,
            metrics_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The default configuration (flags and `DSCHED_*` variables are not read).
    pub async fn start_default() -> anyhow::Result<LocalServer> {
        Self::start(ServeArgs::parse_from_env(Vec::<(String, String)>::new())).await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
    }

    /// Begins shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits (at most `deadline`) for the server to finish draining.
    pub async fn stop(mut self, deadline: Duration) -> anyhow::Result<()> {
        self.begin_shutdown();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(deadline, task).await {
            Ok(joined) => joined?,
            Err(_) => anyhow::bail!("the server did not stop within {deadline:?}"),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
