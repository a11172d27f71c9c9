//! A dsched server in this process on 127.0.0.1:0 (gRPC and metrics), with the default
//! configuration: what the tests of this crate load-test against.

use dsched::config::ServeArgs;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; [`LocalServer::stop`] drains it and returns its result.
#[derive(Debug)]
pub struct LocalServer {
    /// `http://127.0.0.1:PORT`, for [`crate::connect`].
    pub url: String,
    /// `http://127.0.0.1:PORT/metrics`.
    pub metrics_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl LocalServer {
    pub async fn start() -> anyhow::Result<Self> {
        let mut config = ServeArgs::parse_from_env(Vec::<(String, String)>::new());
        config.listen = ([127, 0, 0, 1], 0).into();
        config.metrics_listen = ([127, 0, 0, 1], 0).into();
        let listener = TcpListener::bind(config.listen).await?;
        let metrics = TcpListener::bind(config.metrics_listen).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let metrics_url = format!("http://{}/metrics", metrics.local_addr()?);
        dsched::telemetry::metrics_handle();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(dsched::server::run(config, listener, metrics, async {
            let _ = stopped.await;
        }));
        Ok(LocalServer {
            url,
            metrics_url,
            stop: Some(stop),
            task,
        })
    }

    /// Begins shutdown and waits for the server to finish draining.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await?
    }
}
