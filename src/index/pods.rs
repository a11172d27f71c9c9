//! The daemon pods reported by controllers, grouped by DaemonSet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::shard::UpsertOutcome;
use crate::domain::{DaemonPod, PodKey};

/// (namespace, DaemonSet name).
pub(crate) type DaemonSetKey = (String, String);

struct PodRecord {
    /// Shared: readers get the pod without copying its strings.
    pod: Arc<DaemonPod>,
    /// Seen-clock stamp of the last upsert, for resync sweeps.
    seen: u64,
}

/// Pods per DaemonSet. Each DaemonSet's pods sit behind one dashmap entry, so every pod
/// change is atomic and a reader of one DaemonSet's pods sees one consistent set.
#[derive(Default)]
pub(crate) struct PodStore {
    by_ds: DashMap<DaemonSetKey, BTreeMap<String, PodRecord>>,
    count: AtomicUsize,
}

impl PodStore {
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// `seen` reads the seen clock; it is called with the DaemonSet's entry locked, so an
    /// upsert applied after a `RESYNC_BEGIN` carries its mark.
    pub(crate) fn upsert(
        &self,
        pod: &DaemonPod,
        seen: impl FnOnce() -> u64,
        next_revision: impl FnOnce() -> u64,
    ) -> UpsertOutcome {
        let mut pods = self
            .by_ds
            .entry((pod.namespace.clone(), pod.daemonset.clone()))
            .or_default();
        let seen = seen();
        match pods.get_mut(&pod.name) {
            Some(rec) => {
                rec.seen = rec.seen.max(seen);
                if pod.generation != 0 && pod.generation < rec.pod.generation {
                    return UpsertOutcome::Stale;
                }
                let generation = rec.pod.generation.max(pod.generation);
                if rec.pod.same_state(pod) {
                    if rec.pod.generation != generation {
                        Arc::make_mut(&mut rec.pod).generation = generation;
                    }
                    return UpsertOutcome::Unchanged;
                }
                rec.pod = Arc::new(DaemonPod {
                    generation,
                    ..pod.clone()
                });
            }
            None => {
                pods.insert(
                    pod.name.clone(),
                    PodRecord {
                        pod: Arc::new(pod.clone()),
                        seen,
                    },
                );
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        next_revision();
        UpsertOutcome::Applied
    }

    /// Deletes the pod; false when it was not there.
    pub(crate) fn delete(&self, key: &PodKey, next_revision: impl FnOnce() -> u64) -> bool {
        let ds = (key.namespace.clone(), key.daemonset.clone());
        let Some(mut pods) = self.by_ds.get_mut(&ds) else {
            return false;
        };
        if pods.remove(&key.name).is_none() {
            return false;
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        next_revision();
        let now_empty = pods.is_empty();
        drop(pods);
        if now_empty {
            self.by_ds.remove_if(&ds, |_, pods| pods.is_empty());
        }
        true
    }

    /// Every pod of one DaemonSet, by name.
    pub(crate) fn of_daemonset(&self, namespace: &str, name: &str) -> Vec<Arc<DaemonPod>> {
        self.by_ds
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|pods| pods.values().map(|r| r.pod.clone()).collect())
            .unwrap_or_default()
    }

    /// Deletes every pod whose last upsert is older than `mark`; returns how many.
    pub(crate) fn sweep(&self, mark: u64, mut next_revision: impl FnMut() -> u64) -> usize {
        let mut swept = 0;
        self.by_ds.retain(|_, pods| {
            let before = pods.len();
            pods.retain(|_, r| r.seen >= mark);
            for _ in pods.len()..before {
                next_revision();
            }
            swept += before - pods.len();
            !pods.is_empty()
        });
        self.count.fetch_sub(swept, Ordering::Relaxed);
        swept
    }
}
