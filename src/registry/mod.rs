//! The DaemonSet registry: each DaemonSet's spec and its revision history.
//!
//! A revision *is* its placement + template; its hash only names it. Applying new content
//! creates revision `max + 1`; applying an earlier revision's content renumbers that
//! revision to `max + 1`, as the controller's `constructHistory` does (semantics §7).
//! History is trimmed to `revision_history_limit` after every change, never dropping a
//! revision whose hash a live pod still carries (`cleanupHistory`).

use std::collections::HashSet;

use dashmap::DashMap;

use crate::domain::Time;
use crate::domain::daemonset::{DaemonSetSpec, content_hash};
use crate::domain::placement::PodPlacement;
use crate::domain::validate::{FieldError, FieldPath};
use crate::error::Error;

/// One entry of a DaemonSet's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub number: i64,
    pub hash: String,
    pub change_cause: String,
    pub created: Time,
    /// A rollback left this revision; `to_revision = 0` skips it (decision 7).
    pub rolled_back_from: bool,
    pub placement: PodPlacement,
    pub template: String,
}

/// A registered DaemonSet: its spec (placement and template are the current revision's)
/// and its history, ascending by number, the current revision included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSet {
    pub spec: DaemonSetSpec,
    /// The current revision's number.
    pub revision: i64,
    pub history: Vec<Revision>,
}

impl DaemonSet {
    pub fn current(&self) -> Option<&Revision> {
        self.history.iter().find(|r| r.number == self.revision)
    }

    pub fn current_hash(&self) -> &str {
        self.current().map_or("", |r| r.hash.as_str())
    }

    fn max_revision(&self) -> i64 {
        self.history.iter().map(|r| r.number).max().unwrap_or(0)
    }
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    pub daemonset: DaemonSet,
    pub from_revision: i64,
    /// The restored revision's number before renumbering.
    pub restored_revision: i64,
    /// The DaemonSet already had that content.
    pub skipped: bool,
}

/// `(namespace, name)`.
pub type Key = (String, String);

#[derive(Debug, Default)]
pub struct Registry {
    sets: DashMap<Key, DaemonSet>,
}

impl Registry {
    /// Creates or updates a DaemonSet. `hashes_in_use` are the revision hashes of its live
    /// pods, which history trimming keeps.
    pub fn apply(
        &self,
        spec: DaemonSetSpec,
        now: Time,
        hashes_in_use: &HashSet<String>,
    ) -> Result<DaemonSet, Error> {
        let key = (spec.namespace.clone(), spec.name.clone());
        let mut entry = self.sets.entry(key).or_insert_with(|| DaemonSet {
            spec: spec.clone(),
            revision: 0,
            history: Vec::new(),
        });
        let ds = entry.value_mut();
        let same_content =
            |r: &Revision| r.placement == spec.placement && r.template == spec.template;
        let hash = if spec.revision_hash.is_empty() {
            content_hash(&spec.placement, &spec.template)
        } else {
            spec.revision_hash.clone()
        };
        if let Some(clash) = ds
            .history
            .iter()
            .find(|r| r.hash == hash && !same_content(r))
        {
            return Err(FieldError::invalid(
                &FieldPath::root("daemonset").child("revisionHash"),
                &hash,
                format!("already names revision {} with other content", clash.number),
            )
            .into());
        }
        let next = ds.max_revision() + 1;
        match ds.history.iter_mut().find(|r| same_content(r)) {
            Some(existing) => {
                if existing.number != ds.revision {
                    existing.number = next;
                    // Current again: a later undo may come back here.
                    existing.rolled_back_from = false;
                }
                if !spec.change_cause.is_empty() {
                    existing.change_cause = spec.change_cause.clone();
                }
                ds.revision = existing.number;
            }
            None => {
                ds.history.push(Revision {
                    number: next,
                    hash,
                    change_cause: spec.change_cause.clone(),
                    created: now,
                    rolled_back_from: false,
                    placement: spec.placement.clone(),
                    template: spec.template.clone(),
                });
                ds.revision = next;
            }
        }
        ds.history.sort_by_key(|r| r.number);
        ds.spec = spec;
        ds.spec.revision_hash = ds.current_hash().to_owned();
        trim_history(ds, hashes_in_use);
        Ok(ds.clone())
    }

    /// Rolls back to `to_revision`, or with 0 to the newest earlier revision not itself
    /// rolled back from (decision 7: repeated undo walks back instead of flipping between
    /// the last two). The revision left is marked "rolled back from"; the target is
    /// renumbered `max + 1` as upstream renumbers it. Already at that content: `skipped`.
    pub fn rollback(
        &self,
        namespace: &str,
        name: &str,
        to_revision: i64,
        hashes_in_use: &HashSet<String>,
    ) -> Result<Rollback, Error> {
        if to_revision < 0 {
            return Err(FieldError::invalid(
                &FieldPath::root("toRevision"),
                &to_revision.to_string(),
                "must be greater than or equal to 0",
            )
            .into());
        }
        let key = (namespace.to_owned(), name.to_owned());
        let Some(mut entry) = self.sets.get_mut(&key) else {
            return Err(Error::NotFound {
                kind: "daemonset",
                name: format!("{namespace}/{name}"),
            });
        };
        let ds = entry.value_mut();
        let from = ds.revision;
        let target = if to_revision == 0 {
            ds.history
                .iter()
                .filter(|r| r.number < from && !r.rolled_back_from)
                .max_by_key(|r| r.number)
                .ok_or_else(|| {
                    Error::FailedPrecondition(format!(
                        "no earlier revision to roll back to: revision {from} is the oldest not rolled back from"
                    ))
                })?
        } else {
            ds.history
                .iter()
                .find(|r| r.number == to_revision)
                .ok_or_else(|| Error::NotFound {
                    kind: "revision",
                    name: format!("{namespace}/{name} revision {to_revision}"),
                })?
        };
        let restored = target.number;
        if restored == from {
            return Ok(Rollback {
                daemonset: ds.clone(),
                from_revision: from,
                restored_revision: restored,
                skipped: true,
            });
        }
        let next = ds.max_revision() + 1;
        for r in &mut ds.history {
            if r.number == from {
                r.rolled_back_from = true;
            } else if r.number == restored {
                r.number = next;
                r.rolled_back_from = false;
            }
        }
        ds.history.sort_by_key(|r| r.number);
        ds.revision = next;
        if let Some(current) = ds.current().cloned() {
            ds.spec.placement = current.placement;
            ds.spec.template = current.template;
            ds.spec.revision_hash = current.hash;
            ds.spec.change_cause = current.change_cause;
        }
        trim_history(ds, hashes_in_use);
        Ok(Rollback {
            daemonset: ds.clone(),
            from_revision: from,
            restored_revision: restored,
            skipped: false,
        })
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<DaemonSet> {
        self.sets
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|e| e.value().clone())
    }

    /// `f` of one DaemonSet, read in place under its entry's lock: for hot paths that need
    /// a part of it (a placement) without copying its whole history.
    pub fn with<R>(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&DaemonSet) -> R,
    ) -> Option<R> {
        self.sets
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|e| f(e.value()))
    }

    /// Every DaemonSet (of one namespace, or all when `namespace` is empty), by key.
    pub fn list(&self, namespace: &str) -> Vec<DaemonSet> {
        let mut out: Vec<DaemonSet> = self
            .sets
            .iter()
            .filter(|e| namespace.is_empty() || e.key().0 == namespace)
            .map(|e| e.value().clone())
            .collect();
        out.sort_by(|a, b| {
            (&a.spec.namespace, &a.spec.name).cmp(&(&b.spec.namespace, &b.spec.name))
        });
        out
    }

    /// The current placement of every DaemonSet, by key (for per-node questions).
    pub fn placements(&self) -> Vec<(Key, PodPlacement)> {
        let mut out: Vec<(Key, PodPlacement)> = self
            .sets
            .iter()
            .map(|e| (e.key().clone(), e.value().spec.placement.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn delete(&self, namespace: &str, name: &str) -> Option<DaemonSet> {
        self.sets
            .remove(&(namespace.to_owned(), name.to_owned()))
            .map(|(_, ds)| ds)
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// `cleanupHistory`: keep at most `revision_history_limit` old revisions, deleting from the
/// lowest number up, but never one whose hash a live pod carries; the current revision is
/// never counted.
fn trim_history(ds: &mut DaemonSet, hashes_in_use: &HashSet<String>) {
    let limit = usize::try_from(ds.spec.revision_history_limit).unwrap_or(0);
    let old = ds.history.len().saturating_sub(1);
    let mut to_kill = old.saturating_sub(limit);
    if to_kill == 0 {
        return;
    }
    let current = ds.revision;
    ds.history.retain(|r| {
        if to_kill == 0 || r.number == current || hashes_in_use.contains(&r.hash) {
            return true;
        }
        to_kill -= 1;
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(template: &str) -> DaemonSetSpec {
        DaemonSetSpec {
            namespace: "default".into(),
            name: "agent".into(),
            placement: PodPlacement::default(),
            strategy: Default::default(),
            min_ready_seconds: 0,
            revision_history_limit: 10,
            template: template.into(),
            revision_hash: String::new(),
            change_cause: String::new(),
        }
    }

    fn numbers(ds: &DaemonSet) -> Vec<(i64, &str)> {
        ds.history
            .iter()
            .map(|r| (r.number, r.template.as_str()))
            .collect()
    }

    #[test]
    fn new_content_makes_a_revision_and_old_content_renumbers() {
        let r = Registry::default();
        let none = HashSet::new();
        for t in ["v1", "v2", "v3"] {
            r.apply(spec(t), Time::default(), &none).expect("apply");
        }
        let ds = r
            .apply(spec("v3"), Time::default(), &none)
            .expect("same content");
        assert_eq!(
            ds.revision, 3,
            "re-applying the current content changes nothing"
        );
        let ds = r
            .apply(spec("v2"), Time::default(), &none)
            .expect("old content");
        assert_eq!(numbers(&ds), [(1, "v1"), (3, "v3"), (4, "v2")]);
        assert_eq!(ds.revision, 4);
    }

    #[test]
    fn history_is_trimmed_but_keeps_revisions_in_use() {
        let r = Registry::default();
        let mut used = HashSet::new();
        let mut first_hash = String::new();
        for (i, t) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let s = DaemonSetSpec {
                revision_history_limit: 1,
                ..spec(t)
            };
            let ds = r.apply(s, Time::default(), &used).expect("apply");
            if i == 0 {
                first_hash = ds.current_hash().to_owned();
                used.insert(first_hash.clone());
            }
        }
        let ds = r.get("default", "agent").expect("registered");
        // Old revisions a, b, c: one may stay, plus "a" whose hash a live pod runs.
        assert_eq!(numbers(&ds), [(1, "a"), (4, "d")]);
        assert_eq!(ds.history[0].hash, first_hash);
    }

    /// Upstream's ping-pong complaint: v1, v2, v3; undo; undo lands on v1, not back on v3.
    #[test]
    fn repeated_undo_walks_back_through_history() {
        let r = Registry::default();
        let none = HashSet::new();
        for t in ["v1", "v2", "v3"] {
            r.apply(spec(t), Time::default(), &none).expect("apply");
        }
        let first = r.rollback("default", "agent", 0, &none).expect("undo");
        assert_eq!((first.from_revision, first.restored_revision), (3, 2));
        assert_eq!(first.daemonset.spec.template, "v2");
        let second = r
            .rollback("default", "agent", 0, &none)
            .expect("undo again");
        assert_eq!((second.from_revision, second.restored_revision), (4, 1));
        assert_eq!(second.daemonset.spec.template, "v1");
        assert_eq!(
            numbers(&second.daemonset),
            [(3, "v3"), (4, "v2"), (5, "v1")]
        );
        let err = r
            .rollback("default", "agent", 0, &none)
            .expect_err("nothing earlier");
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        // An explicit revision may pick anything, even one rolled back from.
        let explicit = r.rollback("default", "agent", 3, &none).expect("to v3");
        assert_eq!(explicit.daemonset.spec.template, "v3");
        let same = r.rollback("default", "agent", 6, &none).expect("current");
        assert!(same.skipped);
        assert!(matches!(
            r.rollback("default", "agent", 99, &none),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            r.rollback("default", "agent", -1, &none),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn a_caller_hash_may_not_name_other_content() {
        let r = Registry::default();
        let none = HashSet::new();
        let named = |t: &str| DaemonSetSpec {
            revision_hash: "h1".into(),
            ..spec(t)
        };
        r.apply(named("a"), Time::default(), &none).expect("first");
        let err = r
            .apply(named("b"), Time::default(), &none)
            .expect_err("clash");
        assert!(err.to_string().contains("revisionHash"), "{err}");
    }
}
