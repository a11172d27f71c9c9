//! Wiring only: services, reflection, health, tower layers, and graceful drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::ServeArgs;
use crate::grpc::daemonsets::DaemonSetsService;
use crate::grpc::edge::EdgeLayer;
use crate::grpc::inventory::InventoryService;
use crate::grpc::pb;
use crate::grpc::placement::PlacementService;
use crate::grpc::rollout::RolloutService;
use crate::grpc::state::State;
use crate::index::Inventory;
use crate::telemetry;

/// Names of the services whose health is reported, besides the whole server ("").
const SERVICES: &[&str] = &[
    "dsched.v1.Inventory",
    "dsched.v1.DaemonSets",
    "dsched.v1.Placement",
    "dsched.v1.Rollout",
];

/// Runs the server on already-bound listeners until `shutdown` resolves, then drains:
/// health turns NOT_SERVING, open `Sync` streams end, new connections are refused after
/// `shutdown_delay`, and open calls get `drain_deadline` to finish.
///
/// Binding is the caller's job, so tests can listen on port 0 and know the address.
pub async fn run(
    config: ServeArgs,
    listener: TcpListener,
    metrics_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let inventory = Arc::new(Inventory::new(config.shards));
    let state = State {
        inventory: inventory.clone(),
        registry: Default::default(),
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (health, health_service) = tonic_health::server::health_reporter();

    // google.rpc types too, so grpcurl can print the BadRequest details of errors.
    let descriptors = [
        pb::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_types::pb::FILE_DESCRIPTOR_SET,
    ];
    let reflection = || {
        descriptors.iter().fold(
            tonic_reflection::server::Builder::configure(),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let limit = config.max_message_bytes;
    // Every dsched service gets the same limits and compression.
    macro_rules! api {
        ($server:path, $service:expr) => {{
            use $server as Server;
            Server::new($service)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
        }};
    }
    let inventory_api = api!(
        pb::inventory_server::InventoryServer,
        InventoryService::new(inventory.clone(), shutdown_rx.clone())
    );
    let daemonsets_api = api!(
        pb::daemon_sets_server::DaemonSetsServer,
        DaemonSetsService::new(state.clone())
    );
    let placement_api = api!(
        pb::placement_server::PlacementServer,
        PlacementService::new(state.clone())
    );
    let rollout_api = api!(
        pb::rollout_server::RolloutServer,
        RolloutService::new(state.clone())
    );

    let router = Server::builder()
        .max_concurrent_streams(config.max_concurrent_streams)
        .initial_stream_window_size(Some(config.http2_stream_window))
        .initial_connection_window_size(Some(config.http2_connection_window))
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .layer(EdgeLayer::new(config.max_in_flight))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(inventory_api)
        .add_service(daemonsets_api)
        .add_service(placement_api)
        .add_service(rollout_api);

    set_health(&health, ServingStatus::Serving).await;
    let grpc_addr = listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    tracing::info!(%grpc_addr, %metrics_addr, shards = inventory.shard_count(), "dsched serving");

    let metrics_stop = {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    };
    let metrics_task = tokio::spawn(telemetry::serve_metrics(
        metrics_listener,
        inventory.clone(),
        metrics_stop,
    ));

    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let delay = config.shutdown_delay;
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: reporting NOT_SERVING and ending sync streams");
        set_health(&health, ServingStatus::NotServing).await;
        let _ = shutdown_tx.send(true);
        tokio::time::sleep(delay).await;
        tracing::info!("refusing new connections; draining open calls");
        let _ = draining_tx.send(());
    };
    // Nagle's algorithm would hold back the end of each answer for the peer's delayed ACK
    // (~40 ms); the builder's tcp_nodelay does not reach sockets from our own listener.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serve = router.serve_with_incoming_shutdown(incoming, signal);
    let deadline = config.drain_deadline;
    let result = tokio::select! {
        result = serve => result.map_err(anyhow::Error::from),
        _ = async {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(deadline).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(?deadline, "drain deadline passed; closing the remaining connections");
            Ok(())
        }
    };
    metrics_task.abort();
    tracing::info!("dsched stopped");
    result
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in SERVICES {
        health.set_service_status(*service, status).await;
    }
}

/// Binds both listeners of `config`.
pub async fn bind(config: &ServeArgs) -> anyhow::Result<(TcpListener, TcpListener)> {
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for {what} on {addr}: {e}"))
    };
    Ok((
        bind(config.listen, "gRPC").await?,
        bind(config.metrics_listen, "metrics").await?,
    ))
}
