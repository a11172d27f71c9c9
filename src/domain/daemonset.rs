//! A DaemonSet as dsched keeps it: placement, update strategy with Kubernetes' defaults
//! (semantics §5.1) and validation (§5.2), plus dsched's partition, pause and topology
//! waves (decisions 4–6).

use super::placement::PodPlacement;
use super::validate::{self, FieldError, FieldErrors, FieldPath, IntOrPercent};

/// `revisionHistoryLimit` when unset.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StrategyType {
    #[default]
    RollingUpdate,
    OnDelete,
}

impl StrategyType {
    pub const NAMES: [&'static str; 2] = ["RollingUpdate", "OnDelete"];

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyType::RollingUpdate => "RollingUpdate",
            StrategyType::OnDelete => "OnDelete",
        }
    }
}

/// A defaulted, validated update strategy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UpdateStrategy {
    pub kind: StrategyType,
    pub max_unavailable: IntOrPercent,
    pub max_surge: IntOrPercent,
    /// Pods that stay on the old revision (OpenKruise); `None` = 0.
    pub partition: Option<IntOrPercent>,
    /// No rolling step while true; new nodes still get the current revision.
    pub paused: bool,
    /// Roll one topology domain at a time; empty = off.
    pub topology_key: String,
}

impl Default for UpdateStrategy {
    fn default() -> Self {
        UpdateStrategy {
            kind: StrategyType::RollingUpdate,
            max_unavailable: IntOrPercent::Int(1),
            max_surge: IntOrPercent::Int(0),
            partition: None,
            paused: false,
            topology_key: String::new(),
        }
    }
}

/// The strategy as a request carries it: strings, `""` for unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawStrategy<'a> {
    pub kind: &'a str,
    /// Whether `rollingUpdate` was given at all.
    pub rolling_update: bool,
    pub max_unavailable: &'a str,
    pub max_surge: &'a str,
    pub partition: &'a str,
    pub paused: bool,
    pub topology_key: &'a str,
}

/// Defaults and validates a strategy at `path` (e.g. `daemonset.updateStrategy`).
///
/// Defaults: type `RollingUpdate`; `maxUnavailable = 1, maxSurge = 0` when both are unset;
/// when only `maxSurge` is set, `maxUnavailable = 0` (decision 4: OpenKruise's rule, instead
/// of upstream's default-then-reject trap); when only `maxUnavailable` is set, `maxSurge = 0`.
/// Then Kubernetes' `ValidateRollingUpdateDaemonSet`: ≤ 100 %, exactly one non-zero.
pub fn strategy(raw: &RawStrategy<'_>, path: &FieldPath, errs: &mut FieldErrors) -> UpdateStrategy {
    let kind = match raw.kind {
        "" | "RollingUpdate" => StrategyType::RollingUpdate,
        "OnDelete" => StrategyType::OnDelete,
        other => {
            errs.not_supported(&path.child("type"), other, &StrategyType::NAMES);
            StrategyType::RollingUpdate
        }
    };
    let ru = path.child("rollingUpdate");
    let mut parse = |s: &str, field: &str| validate::int_or_percent(s, &ru.child(field), errs);
    let unavailable = parse(raw.max_unavailable, "maxUnavailable");
    let surge = parse(raw.max_surge, "maxSurge");
    let partition = parse(raw.partition, "partition");
    let (max_unavailable, max_surge) = match (unavailable, surge) {
        (None, None) => (IntOrPercent::Int(1), IntOrPercent::Int(0)),
        (None, Some(s)) => (IntOrPercent::Int(0), s),
        (Some(u), None) => (u, IntOrPercent::Int(0)),
        (Some(u), Some(s)) => (u, s),
    };
    // OnDelete ignores rollingUpdate, as upstream.
    if kind == StrategyType::RollingUpdate && errs.is_empty() {
        validate::rolling_update(
            &max_unavailable.to_string(),
            &max_surge.to_string(),
            &ru,
            errs,
        );
        if let Some(IntOrPercent::Percent(p)) = partition
            && p > 100
        {
            errs.push(FieldError::invalid(
                &ru.child("partition"),
                raw.partition,
                "must not be greater than 100%",
            ));
        }
        if !raw.topology_key.is_empty() {
            errs.invalid(
                &ru.child("topologyKey"),
                raw.topology_key,
                validate::is_qualified_name(raw.topology_key),
            );
        }
    }
    UpdateStrategy {
        kind,
        max_unavailable,
        max_surge,
        partition,
        paused: raw.paused,
        topology_key: raw.topology_key.to_owned(),
    }
}

/// A DaemonSet as applied: validated and defaulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSetSpec {
    pub namespace: String,
    pub name: String,
    pub placement: PodPlacement,
    pub strategy: UpdateStrategy,
    pub min_ready_seconds: i32,
    pub revision_history_limit: i32,
    /// The opaque pod template text, kept so rollback can return it.
    pub template: String,
    /// The caller's hash for this content; empty = derive one.
    pub revision_hash: String,
    pub change_cause: String,
}

/// Validates the counters of a DaemonSet spec (`ValidateDaemonSetSpec`).
pub fn spec_counters(
    min_ready_seconds: i32,
    revision_history_limit: Option<i32>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> i32 {
    if min_ready_seconds < 0 {
        errs.push(FieldError::invalid(
            &path.child("minReadySeconds"),
            &min_ready_seconds.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let limit = revision_history_limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    if limit < 0 {
        errs.push(FieldError::invalid(
            &path.child("revisionHistoryLimit"),
            &limit.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    limit
}

/// The revision hash derived from content: FNV-1a (64-bit) over a canonical rendering of
/// placement and template, written in Kubernetes' "safe" alphabet (no vowels, no
/// look-alike digits) like `ComputeHash`. Same content, same hash, within one build.
pub fn content_hash(placement: &PodPlacement, template: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{placement:?}\u{0}{template}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(10);
    for _ in 0..10 {
        out.push(char::from(
            ALPHABET[(hash % ALPHABET.len() as u64) as usize],
        ));
        hash /= ALPHABET.len() as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: RawStrategy<'_>) -> (UpdateStrategy, Vec<String>) {
        let mut errs = FieldErrors::default();
        let s = strategy(&raw, &FieldPath::root("updateStrategy"), &mut errs);
        (s, errs.to_strings())
    }

    #[test]
    fn defaults() {
        let rows: &[(&str, &str, &str, IntOrPercent, IntOrPercent)] = &[
            (
                "nothing set",
                "",
                "",
                IntOrPercent::Int(1),
                IntOrPercent::Int(0),
            ),
            (
                "only surge (decision 4)",
                "",
                "1",
                IntOrPercent::Int(0),
                IntOrPercent::Int(1),
            ),
            (
                "only unavailable",
                "25%",
                "",
                IntOrPercent::Percent(25),
                IntOrPercent::Int(0),
            ),
        ];
        for (name, u, s, want_u, want_s) in rows {
            let (got, errs) = run(RawStrategy {
                max_unavailable: u,
                max_surge: s,
                ..Default::default()
            });
            assert!(errs.is_empty(), "{name}: {errs:?}");
            assert_eq!(
                (got.max_unavailable, got.max_surge),
                (*want_u, *want_s),
                "{name}"
            );
        }
    }

    #[test]
    fn validation() {
        let rows: &[(&str, RawStrategy<'_>, Option<&str>)] = &[
            (
                "both non-zero",
                RawStrategy {
                    max_unavailable: "1",
                    max_surge: "1",
                    ..Default::default()
                },
                Some(
                    "updateStrategy.rollingUpdate.maxSurge: invalid value \"1\": may not be set when maxUnavailable is non-zero",
                ),
            ),
            (
                "both zero",
                RawStrategy {
                    max_unavailable: "0",
                    max_surge: "0%",
                    ..Default::default()
                },
                Some(
                    "updateStrategy.rollingUpdate.maxUnavailable: required value: cannot be 0 when maxSurge is 0",
                ),
            ),
            (
                "over 100%",
                RawStrategy {
                    max_unavailable: "101%",
                    ..Default::default()
                },
                Some("maxUnavailable: invalid value \"101%\": must not be greater than 100%"),
            ),
            (
                "not a number",
                RawStrategy {
                    max_surge: "1.5",
                    ..Default::default()
                },
                Some("updateStrategy.rollingUpdate.maxSurge: invalid value \"1.5\""),
            ),
            (
                "unknown type",
                RawStrategy {
                    kind: "Recreate",
                    ..Default::default()
                },
                Some(
                    "updateStrategy.type: unsupported value \"Recreate\": supported values: \"RollingUpdate\", \"OnDelete\"",
                ),
            ),
            (
                "OnDelete ignores rollingUpdate",
                RawStrategy {
                    kind: "OnDelete",
                    max_unavailable: "0",
                    max_surge: "0",
                    ..Default::default()
                },
                None,
            ),
            (
                "partition over 100%",
                RawStrategy {
                    partition: "150%",
                    ..Default::default()
                },
                Some("partition: invalid value \"150%\""),
            ),
            (
                "bad topology key",
                RawStrategy {
                    topology_key: "a/b/c",
                    ..Default::default()
                },
                Some("rollingUpdate.topologyKey: invalid value"),
            ),
            (
                "surge alone is fine",
                RawStrategy {
                    max_surge: "20%",
                    ..Default::default()
                },
                None,
            ),
        ];
        for (name, raw, want) in rows {
            let (_, errs) = run(raw.clone());
            match want {
                None => assert!(errs.is_empty(), "{name}: {errs:?}"),
                Some(w) => assert!(
                    errs.iter().any(|e| e.contains(w)),
                    "{name}: want {w:?}, got {errs:?}"
                ),
            }
        }
    }

    #[test]
    fn hashes_follow_content() {
        let p = PodPlacement::default();
        let mut q = PodPlacement::default();
        q.node_selector.insert("a".into(), "b".into());
        assert_eq!(content_hash(&p, "t"), content_hash(&p, "t"));
        assert_ne!(content_hash(&p, "t"), content_hash(&q, "t"));
        assert_ne!(content_hash(&p, "t"), content_hash(&p, "u"));
        assert_eq!(content_hash(&p, "t").len(), 10);
    }
}
