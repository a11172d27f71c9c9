//! Taints and tolerations (semantics §2.1, §4).
//!
//! * [`Toleration::tolerates`] is `Toleration.ToleratesTaint` (k8s.io/api `core/v1/toleration.go`),
//!   including the alpha `Lt`/`Gt` operators behind the `TaintTolerationComparisonOperators` gate.
//! * [`find_untolerated`] / [`tolerations_tolerate`] are `FindMatchingUntoleratedTaint` /
//!   `TolerationsTolerateTaint` (component-helpers `scheduling/corev1/helpers.go`).
//! * [`daemon_tolerations`] is `AddOrUpdateDaemonPodTolerations` (controller
//!   `daemon/util/daemonset_util.go`) merged with `AddOrUpdateTolerationInPodSpec`.
//! * [`prefer_no_schedule_count`] and [`taint_toleration_fits`] are the scheduler's
//!   TaintToleration Score and Filter (`pkg/scheduler/framework/plugins/tainttoleration`).
//!
//! Everything here is total: no input makes it panic.

use super::node::Taint;
use super::placement::{Toleration, TolerationOperator};
use super::selector::parse_go_int64;
use super::validate::TaintEffect;

/// The default of the alpha `TaintTolerationComparisonOperators` feature gate (off). The
/// DaemonSet predicate and the scheduler helpers without a gate argument use it; dsched's API
/// rejects `Lt`/`Gt` tolerations anyway (decision 11), so it only matters for domain values
/// built by hand.
pub const COMPARISON_OPERATORS_ENABLED: bool = false;

/// `node.kubernetes.io/not-ready`.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/disk-pressure`.
pub const TAINT_NODE_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/memory-pressure`.
pub const TAINT_NODE_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/pid-pressure`.
pub const TAINT_NODE_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/unschedulable`.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `node.kubernetes.io/network-unavailable`.
pub const TAINT_NODE_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The DaemonSet default tolerations, in the order `AddOrUpdateDaemonPodTolerations` adds
/// them; the last one only when `host_network` (semantics §2.1).
const DEFAULTS: [(&str, TaintEffect); 7] = [
    (TAINT_NODE_NOT_READY, TaintEffect::NoExecute),
    (TAINT_NODE_UNREACHABLE, TaintEffect::NoExecute),
    (TAINT_NODE_DISK_PRESSURE, TaintEffect::NoSchedule),
    (TAINT_NODE_MEMORY_PRESSURE, TaintEffect::NoSchedule),
    (TAINT_NODE_PID_PRESSURE, TaintEffect::NoSchedule),
    (TAINT_NODE_UNSCHEDULABLE, TaintEffect::NoSchedule),
    (TAINT_NODE_NETWORK_UNAVAILABLE, TaintEffect::NoSchedule),
];

impl Toleration {
    /// An infinite `key:Exists:effect` toleration (no value, no `tolerationSeconds`).
    pub fn exists(key: &str, effect: Option<TaintEffect>) -> Self {
        Toleration {
            key: key.to_string(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect,
            toleration_seconds: None,
        }
    }

    /// `Toleration.ToleratesTaint` (semantics §4.1), checked in upstream order:
    /// 1. a set effect must equal the taint's (an unset effect matches every effect);
    /// 2. a non-empty key must equal the taint's (an empty key matches every key);
    /// 3. `Equal`: values equal; `Exists`: always; `Lt`/`Gt`: only when
    ///    `enable_comparison_operators`, both values canonical decimal integers that fit an
    ///    `i64`, and taint value `>` (Gt) / `<` (Lt) toleration value, strictly.
    ///
    /// `toleration_seconds` plays no part.
    pub fn tolerates(&self, taint: &Taint, enable_comparison_operators: bool) -> bool {
        self.tolerates_parts(
            &taint.key,
            &taint.value,
            taint.effect,
            enable_comparison_operators,
        )
    }

    /// [`Toleration::tolerates`] on a taint given by its parts, for callers that hold the
    /// strings elsewhere (the index keeps them interned) and need not build a `Taint`.
    pub fn tolerates_parts(
        &self,
        key: &str,
        value: &str,
        effect: TaintEffect,
        enable_comparison_operators: bool,
    ) -> bool {
        if self.effect.is_some_and(|e| e != effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != key {
            return false;
        }
        match self.operator {
            TolerationOperator::Equal => self.value == value,
            TolerationOperator::Exists => true,
            TolerationOperator::Lt | TolerationOperator::Gt => {
                if !enable_comparison_operators {
                    return false;
                }
                let (Some(toleration), Some(taint)) =
                    (parse_canonical_int(&self.value), parse_canonical_int(value))
                else {
                    return false;
                };
                if self.operator == TolerationOperator::Gt {
                    taint > toleration
                } else {
                    taint < toleration
                }
            }
        }
    }

    /// `Toleration.MatchToleration`: the same toleration for de-duplication when key,
    /// operator, value and effect are all equal (`tolerationSeconds` is not compared).
    ///
    /// Upstream compares the operator strings, so `""` and `"Equal"` differ there; the domain
    /// type folds both into [`TolerationOperator::Equal`]. The DaemonSet defaults all use
    /// `Exists`, so the merge of [`daemon_tolerations`] is unaffected.
    pub fn same_toleration(&self, other: &Toleration) -> bool {
        self.key == other.key
            && self.operator == other.operator
            && self.value == other.value
            && self.effect == other.effect
    }
}

/// `content.IsDecimalInteger` followed by `strconv.ParseInt(v, 10, 64)`: `"0"`, or an
/// optional `-` then a digit 1-9 then digits; no `+`, no leading zeros, no `-0`; must fit
/// an `i64`.
pub fn parse_canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let bytes = digits.as_bytes();
    let first = *bytes.first()?;
    if first == b'0' {
        // "0" alone is canonical; "-0", "00", "01" are not.
        return (s == "0").then_some(0);
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_go_int64(s)
}

/// `TolerationsTolerateTaint` with the default gate ([`COMPARISON_OPERATORS_ENABLED`]):
/// true when any toleration tolerates the taint.
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations_tolerate_with(tolerations, taint, COMPARISON_OPERATORS_ENABLED)
}

/// [`tolerations_tolerate`] with an explicit comparison-operator gate.
pub fn tolerations_tolerate_with(
    tolerations: &[Toleration],
    taint: &Taint,
    enable_comparison_operators: bool,
) -> bool {
    tolerations
        .iter()
        .any(|t| t.tolerates(taint, enable_comparison_operators))
}

/// `FindMatchingUntoleratedTaint` with the default gate: among the taints `filter` keeps,
/// the first one in node order that no toleration tolerates (semantics §4.2).
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    find_untolerated_with(taints, tolerations, filter, COMPARISON_OPERATORS_ENABLED)
}

/// [`find_untolerated`] with an explicit comparison-operator gate.
pub fn find_untolerated_with<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
    enable_comparison_operators: bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|taint| !tolerations_tolerate_with(tolerations, taint, enable_comparison_operators))
}

/// The filter the DaemonSet controller and the scheduler's Filter use: `NoSchedule` or
/// `NoExecute` (`DoNotScheduleTaintsFilterFunc`).
pub fn is_no_schedule_or_no_execute(taint: &Taint) -> bool {
    matches!(
        taint.effect,
        TaintEffect::NoSchedule | TaintEffect::NoExecute
    )
}

/// The filter for `shouldContinueRunning`: `NoExecute` only.
pub fn is_no_execute(taint: &Taint) -> bool {
    taint.effect == TaintEffect::NoExecute
}

/// The DaemonSet default tolerations (semantics §2.1), in order; `network-unavailable`
/// only with `host_network`. None has `tolerationSeconds`.
pub fn default_daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let n = if host_network {
        DEFAULTS.len()
    } else {
        DEFAULTS.len() - 1
    };
    DEFAULTS
        .iter()
        .take(n)
        .map(|(key, effect)| Toleration::exists(key, Some(*effect)))
        .collect()
}

/// `AddOrUpdateTolerationInPodSpec`: every toleration equal to `toleration` on key,
/// operator, value and effect is replaced in place by it (so its `tolerationSeconds` is
/// dropped); when none is, it is appended.
pub fn add_or_update_toleration(tolerations: &mut Vec<Toleration>, toleration: &Toleration) {
    let mut updated = false;
    for t in tolerations.iter_mut() {
        if toleration.same_toleration(t) {
            *t = toleration.clone();
            updated = true;
        }
    }
    if !updated {
        tolerations.push(toleration.clone());
    }
}

/// The tolerations of a DaemonSet's pods: the user's, with each default of
/// [`default_daemon_tolerations`] merged in order by [`add_or_update_toleration`].
pub fn daemon_tolerations(user: &[Toleration], host_network: bool) -> Vec<Toleration> {
    let mut out = user.to_vec();
    for default in default_daemon_tolerations(host_network) {
        add_or_update_toleration(&mut out, &default);
    }
    out
}

/// The scheduler TaintToleration raw score (`countIntolerableTaintsPreferNoSchedule`): the
/// number of `PreferNoSchedule` taints tolerated by none of the tolerations whose effect is
/// unset or `PreferNoSchedule`. Lower is better; normalize with
/// `affinity::normalize_scores(.., 100, true)`.
pub fn prefer_no_schedule_count(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    let prefer: Vec<Toleration> = tolerations
        .iter()
        .filter(|t| t.effect.is_none_or(|e| e == TaintEffect::PreferNoSchedule))
        .cloned()
        .collect();
    let count = taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| !tolerations_tolerate(&prefer, t))
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The scheduler TaintToleration Filter: every `NoSchedule`/`NoExecute` taint is tolerated.
/// `PreferNoSchedule` taints never block.
pub fn taint_toleration_fits(taints: &[Taint], tolerations: &[Toleration]) -> bool {
    find_untolerated(taints, tolerations, is_no_schedule_or_no_execute).is_none()
}

/// `Taint.ToString`: `key=value:Effect`, or `key:Effect` when the value is empty.
pub fn taint_to_string(taint: &Taint) -> String {
    if taint.value.is_empty() {
        format!("{}:{}", taint.key, taint.effect)
    } else {
        format!("{}={}:{}", taint.key, taint.value, taint.effect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
    use TolerationOperator::{Equal, Exists, Gt, Lt};

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
            time_added: None,
        }
    }

    fn tol(
        key: &str,
        operator: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.to_string(),
            operator,
            value: value.to_string(),
            effect,
            toleration_seconds: None,
        }
    }

    #[test]
    fn tolerates_rules() {
        // (name, toleration, taint, gate, want)
        let rows: Vec<(&str, Toleration, Taint, bool, bool)> = vec![
            (
                "equal same",
                tol("k", Equal, "v", Some(NoSchedule)),
                taint("k", "v", NoSchedule),
                false,
                true,
            ),
            (
                "equal other value",
                tol("k", Equal, "v", Some(NoSchedule)),
                taint("k", "w", NoSchedule),
                false,
                false,
            ),
            (
                "equal empty values",
                tol("k", Equal, "", Some(NoSchedule)),
                taint("k", "", NoSchedule),
                false,
                true,
            ),
            (
                "empty effect matches every effect",
                tol("k", Exists, "", None),
                taint("k", "v", NoExecute),
                false,
                true,
            ),
            (
                "effect differs",
                tol("k", Exists, "", Some(NoSchedule)),
                taint("k", "v", PreferNoSchedule),
                false,
                false,
            ),
            (
                "key differs",
                tol("k", Exists, "", None),
                taint("j", "", NoSchedule),
                false,
                false,
            ),
            (
                "empty key exists matches all",
                tol("", Exists, "", None),
                taint("anything", "x", NoExecute),
                false,
                true,
            ),
            (
                "empty key with Equal matches any key with the same value",
                tol("", Equal, "x", None),
                taint("anything", "x", NoSchedule),
                false,
                true,
            ),
            (
                "exists ignores value",
                tol("k", Exists, "ignored", None),
                taint("k", "v", NoSchedule),
                false,
                true,
            ),
            (
                "gt gate off",
                tol("k", Gt, "1", None),
                taint("k", "5", NoSchedule),
                false,
                false,
            ),
            (
                "gt",
                tol("k", Gt, "1", None),
                taint("k", "5", NoSchedule),
                true,
                true,
            ),
            (
                "gt equal is strict",
                tol("k", Gt, "5", None),
                taint("k", "5", NoSchedule),
                true,
                false,
            ),
            (
                "lt",
                tol("k", Lt, "10", None),
                taint("k", "-3", NoSchedule),
                true,
                true,
            ),
            (
                "lt leading zero taint",
                tol("k", Lt, "10", None),
                taint("k", "05", NoSchedule),
                true,
                false,
            ),
            (
                "gt plus sign",
                tol("k", Gt, "+1", None),
                taint("k", "5", NoSchedule),
                true,
                false,
            ),
            (
                "gt negative zero",
                tol("k", Gt, "-1", None),
                taint("k", "-0", NoSchedule),
                true,
                false,
            ),
            (
                "gt zero",
                tol("k", Gt, "-1", None),
                taint("k", "0", NoSchedule),
                true,
                true,
            ),
            (
                "gt beyond i64",
                tol("k", Lt, "9223372036854775808", None),
                taint("k", "1", NoSchedule),
                true,
                false,
            ),
            (
                "gt i64 min",
                tol("k", Gt, "-9223372036854775808", None),
                taint("k", "9223372036854775807", NoSchedule),
                true,
                true,
            ),
        ];
        for (name, t, tt, gate, want) in rows {
            let got = t.tolerates(&tt, gate);
            assert_eq!(got, want, "{name}: {t:?} vs {tt:?} gate={gate}");
        }
    }

    #[test]
    fn toleration_seconds_do_not_matter() {
        let mut t = tol("k", Exists, "", Some(NoExecute));
        for s in [None, Some(-5), Some(0), Some(300)] {
            t.toleration_seconds = s;
            assert!(t.tolerates(&taint("k", "", NoExecute), false), "{s:?}");
        }
    }

    #[test]
    fn canonical_ints() {
        let rows: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            ("-7", Some(-7)),
            ("100", Some(100)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("12345678901234567890", None),
            ("", None),
            ("-", None),
            ("-0", None),
            ("00", None),
            ("0100", None),
            ("-01", None),
            ("+1", None),
            ("1.5", None),
            (" 1", None),
            ("1e3", None),
            ("١", None),
        ];
        for (s, want) in rows {
            assert_eq!(parse_canonical_int(s), *want, "{s:?}");
        }
    }

    #[test]
    fn find_untolerated_first_in_node_order() {
        let taints = vec![
            taint("a", "", PreferNoSchedule),
            taint("b", "", NoSchedule),
            taint("c", "", NoExecute),
        ];
        let none: Vec<Toleration> = vec![];
        let got = find_untolerated(&taints, &none, |_| true).map(|t| t.key.as_str());
        assert_eq!(got, Some("a"));
        let got =
            find_untolerated(&taints, &none, is_no_schedule_or_no_execute).map(|t| t.key.as_str());
        assert_eq!(got, Some("b"));
        let got = find_untolerated(&taints, &none, is_no_execute).map(|t| t.key.as_str());
        assert_eq!(got, Some("c"));
        let b = vec![tol("b", Exists, "", None)];
        let got =
            find_untolerated(&taints, &b, is_no_schedule_or_no_execute).map(|t| t.key.as_str());
        assert_eq!(got, Some("c"));
        assert_eq!(find_untolerated(&taints, &none, |_| false), None);
        assert_eq!(find_untolerated(&[], &none, |_| true), None);
        let all = vec![tol("", Exists, "", None)];
        assert_eq!(find_untolerated(&taints, &all, |_| true), None);
    }

    #[test]
    fn defaults_in_order() {
        let d = default_daemon_tolerations(false);
        let keys: Vec<&str> = d.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                TAINT_NODE_NOT_READY,
                TAINT_NODE_UNREACHABLE,
                TAINT_NODE_DISK_PRESSURE,
                TAINT_NODE_MEMORY_PRESSURE,
                TAINT_NODE_PID_PRESSURE,
                TAINT_NODE_UNSCHEDULABLE,
            ]
        );
        assert!(
            d.iter().all(|t| t.operator == Exists
                && t.value.is_empty()
                && t.toleration_seconds.is_none())
        );
        let with_host = daemon_tolerations(&[], true);
        assert_eq!(with_host.len(), 7);
        assert_eq!(
            with_host.last().map(|t| (t.key.as_str(), t.effect)),
            Some((TAINT_NODE_NETWORK_UNAVAILABLE, Some(NoSchedule)))
        );
    }

    #[test]
    fn network_unavailable_only_with_host_network() {
        let node_taints = vec![taint(TAINT_NODE_NETWORK_UNAVAILABLE, "", NoSchedule)];
        let without = daemon_tolerations(&[], false);
        let with = daemon_tolerations(&[], true);
        assert!(find_untolerated(&node_taints, &without, |_| true).is_some());
        assert!(find_untolerated(&node_taints, &with, |_| true).is_none());
    }

    #[test]
    fn merge_replaces_in_place_and_appends() {
        let mut seconds = tol(TAINT_NODE_NOT_READY, Exists, "", Some(NoExecute));
        seconds.toleration_seconds = Some(300);
        let user = vec![
            tol("dedicated", Equal, "gpu", Some(NoSchedule)),
            seconds.clone(),
            // Differs in operator: kept, and the default is still added.
            tol(TAINT_NODE_UNREACHABLE, Equal, "", Some(NoExecute)),
            // Differs in effect.
            tol(TAINT_NODE_DISK_PRESSURE, Exists, "", None),
            // A duplicate of a default: every copy is replaced.
            seconds,
        ];
        let got = daemon_tolerations(&user, false);
        let want = vec![
            tol("dedicated", Equal, "gpu", Some(NoSchedule)),
            tol(TAINT_NODE_NOT_READY, Exists, "", Some(NoExecute)),
            tol(TAINT_NODE_UNREACHABLE, Equal, "", Some(NoExecute)),
            tol(TAINT_NODE_DISK_PRESSURE, Exists, "", None),
            tol(TAINT_NODE_NOT_READY, Exists, "", Some(NoExecute)),
            tol(TAINT_NODE_UNREACHABLE, Exists, "", Some(NoExecute)),
            tol(TAINT_NODE_DISK_PRESSURE, Exists, "", Some(NoSchedule)),
            tol(TAINT_NODE_MEMORY_PRESSURE, Exists, "", Some(NoSchedule)),
            tol(TAINT_NODE_PID_PRESSURE, Exists, "", Some(NoSchedule)),
            tol(TAINT_NODE_UNSCHEDULABLE, Exists, "", Some(NoSchedule)),
        ];
        assert_eq!(got, want);
        // Idempotent: merging the result again changes nothing.
        assert_eq!(daemon_tolerations(&got, false), got);
    }

    #[test]
    fn out_of_service_and_control_plane_not_tolerated_by_default() {
        let d = daemon_tolerations(&[], true);
        for t in [
            taint(
                "node.kubernetes.io/out-of-service",
                "nodeshutdown",
                NoExecute,
            ),
            taint("node-role.kubernetes.io/control-plane", "", NoSchedule),
        ] {
            assert!(!tolerations_tolerate(&d, &t), "{t:?}");
        }
        for t in [
            taint(TAINT_NODE_NOT_READY, "", NoExecute),
            taint(TAINT_NODE_UNREACHABLE, "", NoExecute),
            taint(TAINT_NODE_UNSCHEDULABLE, "", NoSchedule),
        ] {
            assert!(tolerations_tolerate(&d, &t), "{t:?}");
        }
        // The pressure defaults are NoSchedule only.
        assert!(!tolerations_tolerate(
            &d,
            &taint(TAINT_NODE_DISK_PRESSURE, "", NoExecute)
        ));
    }

    #[test]
    fn scoring_and_filter() {
        let taints = vec![
            taint("a", "1", PreferNoSchedule),
            taint("b", "", PreferNoSchedule),
            taint("c", "", NoSchedule),
        ];
        assert_eq!(prefer_no_schedule_count(&taints, &[]), 2);
        // A NoSchedule-only toleration does not count for scoring.
        let ns = vec![tol("a", Exists, "", Some(NoSchedule))];
        assert_eq!(prefer_no_schedule_count(&taints, &ns), 2);
        // Empty effect does.
        let any = vec![tol("a", Exists, "", None)];
        assert_eq!(prefer_no_schedule_count(&taints, &any), 1);
        let pref = vec![tol("", Exists, "", Some(PreferNoSchedule))];
        assert_eq!(prefer_no_schedule_count(&taints, &pref), 0);
        assert!(!taint_toleration_fits(&taints, &pref));
        assert!(taint_toleration_fits(
            &taints,
            &[tol("c", Exists, "", None)]
        ));
        assert!(taint_toleration_fits(&taints[..2], &[]));
    }

    #[test]
    fn taint_strings() {
        assert_eq!(
            taint_to_string(&taint("dedicated", "gpu", NoSchedule)),
            "dedicated=gpu:NoSchedule"
        );
        assert_eq!(taint_to_string(&taint("k", "", NoExecute)), "k:NoExecute");
    }

    /// `find_untolerated` against a plain reading of §4.2 on random inputs.
    #[test]
    fn random_find_untolerated() {
        let mut rng = SmallRng::seed_from_u64(0x7a1);
        let keys = ["", "a", "b"];
        let values = ["", "1", "5", "x", "05"];
        let effects = [
            None,
            Some(NoSchedule),
            Some(PreferNoSchedule),
            Some(NoExecute),
        ];
        let ops = [Equal, Exists, Lt, Gt];
        for _ in 0..5000 {
            let taints: Vec<Taint> = (0..rng.random_range(0..4))
                .map(|_| {
                    taint(
                        keys[1..].choose(&mut rng).copied().unwrap_or("a"),
                        values.choose(&mut rng).copied().unwrap_or(""),
                        TaintEffect::ALL
                            .choose(&mut rng)
                            .copied()
                            .unwrap_or(NoSchedule),
                    )
                })
                .collect();
            let tols: Vec<Toleration> = (0..rng.random_range(0..3))
                .map(|_| {
                    tol(
                        keys.choose(&mut rng).copied().unwrap_or(""),
                        ops.choose(&mut rng).copied().unwrap_or(Exists),
                        values.choose(&mut rng).copied().unwrap_or(""),
                        effects.choose(&mut rng).copied().unwrap_or(None),
                    )
                })
                .collect();
            let gate = rng.random_bool(0.5);
            let mut want = None;
            for t in &taints {
                if t.effect == PreferNoSchedule {
                    continue;
                }
                if !tols.iter().any(|x| x.tolerates(t, gate)) {
                    want = Some(t);
                    break;
                }
            }
            let got = find_untolerated_with(&taints, &tols, is_no_schedule_or_no_execute, gate);
            assert_eq!(got, want, "{taints:?} {tols:?}");
        }
    }
}
