//! Resource fit as advice (decision 9): a DaemonSet pod's requests against what a node has
//! free (`allocatable - requested`). Placement never depends on it (semantics §1.1); it
//! predicts a Pending pod.
//!
//! Quantities are the texts the inventory validated (`quantity::Quantity`). Anything that
//! does not parse is handled conservatively and never panics: an unparseable request is
//! skipped, an unparseable allocatable counts as absent (nothing free), an unparseable
//! requested amount counts as zero.

use std::collections::BTreeMap;
use std::fmt;

use super::quantity::Quantity;

/// A resource whose request exceeds what is free.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Insufficient {
    pub resource: String,
    pub requested: Quantity,
    /// `allocatable - requested`, at least 0; 0 when the node lacks the resource.
    pub free: Quantity,
}

/// `memory: requests 64Mi, free 20Mi`.
impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: requests {}, free {}",
            self.resource, self.requested, self.free
        )
    }
}

fn parse(text: &str) -> Option<Quantity> {
    text.parse::<Quantity>().ok()
}

/// What is free of `resource`: `allocatable - requested`, clamped at 0. `None` when the
/// node has no (parseable) allocatable entry for it.
pub fn free(
    resource: &str,
    allocatable: &BTreeMap<String, String>,
    requested: &BTreeMap<String, String>,
) -> Option<Quantity> {
    let alloc = allocatable.get(resource).and_then(|q| parse(q))?;
    let used = requested
        .get(resource)
        .and_then(|q| parse(q))
        .unwrap_or_default();
    let free = alloc.saturating_sub(used);
    Some(if free.is_negative() {
        Quantity::zero()
    } else {
        free
    })
}

/// Every resource of `requests` that does not fit in `allocatable - requested`, by resource
/// name. A zero (or negative) request always fits; a resource missing from `allocatable`
/// has nothing free, so any positive request of it does not fit. Empty = fits.
pub fn fit(
    requests: &BTreeMap<String, String>,
    allocatable: &BTreeMap<String, String>,
    requested: &BTreeMap<String, String>,
) -> Vec<Insufficient> {
    let mut out = Vec::new();
    for (resource, text) in requests {
        let Some(want) = parse(text) else {
            continue;
        };
        if want <= Quantity::zero() {
            continue;
        }
        let available = free(resource, allocatable, requested).unwrap_or_default();
        if want > available {
            out.push(Insufficient {
                resource: resource.clone(),
                requested: want,
                free: available,
            });
        }
    }
    out
}

/// The sum of request maps, per resource, in canonical quantity form (`250m + 750m` is `1`).
/// Unparseable entries are skipped; sums saturate.
pub fn sum_requests<'a>(
    maps: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut sums: BTreeMap<&str, Quantity> = BTreeMap::new();
    for map in maps {
        for (resource, text) in map {
            if let Some(q) = parse(text) {
                let sum = sums.entry(resource.as_str()).or_default();
                *sum = sum.saturating_add(q);
            }
        }
    }
    sums.into_iter()
        .map(|(k, q)| (k.to_string(), q.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lines(v: &[Insufficient]) -> Vec<String> {
        v.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn fits_and_messages() {
        let alloc = map(&[("cpu", "2"), ("memory", "1Gi"), ("pods", "110")]);
        let used = map(&[("cpu", "1500m"), ("memory", "1004Mi")]);
        // (name, requests, want lines)
        let rows: Vec<(&str, BTreeMap<String, String>, Vec<&str>)> = vec![
            ("empty", map(&[]), vec![]),
            ("fits", map(&[("cpu", "500m"), ("memory", "20Mi")]), vec![]),
            (
                "memory short",
                map(&[("cpu", "100m"), ("memory", "64Mi")]),
                vec!["memory: requests 64Mi, free 20Mi"],
            ),
            (
                "both short",
                map(&[("cpu", "501m"), ("memory", "21Mi")]),
                vec![
                    "cpu: requests 501m, free 500m",
                    "memory: requests 21Mi, free 20Mi",
                ],
            ),
            (
                "missing from allocatable",
                map(&[("nvidia.com/gpu", "1")]),
                vec!["nvidia.com/gpu: requests 1, free 0"],
            ),
            (
                "zero request always fits",
                map(&[("nvidia.com/gpu", "0")]),
                vec![],
            ),
            (
                "unparseable request skipped",
                map(&[("cpu", "lots")]),
                vec![],
            ),
        ];
        for (name, requests, want) in rows {
            assert_eq!(lines(&fit(&requests, &alloc, &used)), want, "{name}");
        }
    }

    #[test]
    fn over_committed_node_has_nothing_free() {
        let alloc = map(&[("cpu", "1")]);
        let used = map(&[("cpu", "3")]);
        assert_eq!(free("cpu", &alloc, &used), Some(Quantity::zero()));
        assert_eq!(
            lines(&fit(&map(&[("cpu", "1m")]), &alloc, &used)),
            ["cpu: requests 1m, free 0"]
        );
        assert_eq!(free("memory", &alloc, &used), None);
        // Unparseable requested counts as zero; unparseable allocatable as absent.
        assert_eq!(
            free("cpu", &alloc, &map(&[("cpu", "?")])),
            Some(Quantity::from_units(1))
        );
        assert_eq!(free("cpu", &map(&[("cpu", "?")]), &used), None);
    }

    #[test]
    fn sums() {
        let a = map(&[("cpu", "250m"), ("memory", "64Mi")]);
        let b = map(&[("cpu", "750m"), ("ephemeral-storage", "1G"), ("bad", "x")]);
        let c = map(&[("memory", "64Mi")]);
        assert_eq!(
            sum_requests([&a, &b, &c]),
            map(&[
                ("cpu", "1"),
                ("ephemeral-storage", "1G"),
                ("memory", "128Mi")
            ])
        );
        assert!(sum_requests(std::iter::empty()).is_empty());
    }
}
