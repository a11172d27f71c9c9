//! The dsched load generator as a library: seeding a server through the public API
//! ([`seed`]), the unary scenarios ([`scenario`]), the closed- and open-loop driver
//! ([`driver`]), `Sync` writers that churn the inventory while queries run ([`writers`]),
//! the server's own CPU and memory read from its `/metrics` ([`server_stats`]), and reports in
//! ghz's JSON shape ([`report`]). The binary (`src/main.rs`) is a thin command line over
//! these; the tests drive them directly.

pub mod driver;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod server_stats;
pub mod sync_stream;
pub mod writers;

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Messages up to this size both ways: a 5,000-node `Sync` batch is about 6 MiB.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// `connections` separate HTTP/2 connections to `server` (each `Endpoint::connect` dials its
/// own TCP connection), so load spreads over several connections as ghz's `--connections`
/// does.
pub async fn connect(server: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(server.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let mut channels = Vec::with_capacity(connections.max(1));
    for _ in 0..connections.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!("connecting to {server}: {e}"))?,
        );
    }
    Ok(channels)
}
