//! What every service handler shares.

use std::collections::HashSet;
use std::sync::Arc;

use crate::index::Inventory;
use crate::registry::Registry;

#[derive(Clone, Debug, Default)]
pub struct State {
    pub inventory: Arc<Inventory>,
    pub registry: Arc<Registry>,
}

impl State {
    /// Revision hashes carried by the reported pods of one DaemonSet: history trimming
    /// never drops these (upstream counts deleted terminal pods too).
    pub fn hashes_in_use(&self, namespace: &str, name: &str) -> HashSet<String> {
        self.inventory
            .pods_of(namespace, name)
            .into_iter()
            .map(|p| p.revision_hash.clone())
            .collect()
    }
}

/// The server clock as a domain time.
pub fn now() -> crate::domain::Time {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::domain::Time {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}
