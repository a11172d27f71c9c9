//! Node names in order: each shard's sorted name list, kept as one immutable snapshot, and
//! the [`Names`] of an answer, which point into such snapshots instead of copying names.
//!
//! An answer with most of the fleet (a rollout reads every listed node; `Evaluate` pages
//! of up to 100,000) is dominated by touching names: the records and their strings are
//! spread over the heap, so each name read is a cache miss, and copying or reference
//! counting each one costs an allocation or an atomic write on top. A shard's
//! [`NameOrder`] lays its names out contiguously in name order once; until a node joins
//! the shard (departures, label and taint churn leave it valid), every large answer walks
//! that buffer sequentially and keeps `Arc`s of it, one per shard. The shards' orders
//! merged once more ([`MergedOrder`]) make a large answer one pass, with no merge.

use std::sync::Arc;

/// One shard's names ascending, their text in one buffer, with each name's slot and each
/// slot's position. Sorted from the shard's records under its read lock; dropped when a node
/// joins the shard.
#[derive(Debug)]
pub(crate) struct NameOrder {
    text: Arc<str>,
    /// Per name in order: `(start, end)` in `text` and its slot.
    entries: Vec<(u32, u32, u32)>,
    /// Per slot, its position in `entries` (`u32::MAX` for a free slot).
    rank: Vec<u32>,
}

impl NameOrder {
    /// The shard's names (any order), each with its slot; `slots` is the shard's slot
    /// count. Sorts them by each name's first 16 bytes, then the rest.
    pub(crate) fn build<'a>(
        names: impl Iterator<Item = (&'a str, u32)>,
        slots: usize,
    ) -> NameOrder {
        let mut keyed: Vec<(u128, &str, u32)> =
            names.map(|(n, slot)| (prefix(n), n, slot)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut text = String::with_capacity(keyed.iter().map(|k| k.1.len()).sum());
        let mut entries = Vec::with_capacity(keyed.len());
        let mut rank = vec![u32::MAX; slots];
        for (i, (_, name, slot)) in keyed.into_iter().enumerate() {
            let start = text.len() as u32;
            text.push_str(name);
            entries.push((start, text.len() as u32, slot));
            if let Some(r) = rank.get_mut(slot as usize) {
                *r = i as u32;
            }
        }
        NameOrder {
            text: Arc::from(text),
            entries,
            rank,
        }
    }

    pub(crate) fn text(&self) -> &Arc<str> {
        &self.text
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Name `i` in order: its `(start, end)` in [`NameOrder::text`] and its slot.
    pub(crate) fn entry(&self, i: usize) -> (u32, u32, u32) {
        self.entries[i]
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        let (start, end, _) = self.entries[i];
        &self.text[start as usize..end as usize]
    }

    /// The position of the first name after `after` (0 without one).
    pub(crate) fn first_after(&self, after: Option<&str>) -> usize {
        after.map_or(0, |a| {
            self.entries
                .partition_point(|&(s, e, _)| &self.text[s as usize..e as usize] <= a)
        })
    }

    /// The position of the node in `slot`.
    pub(crate) fn rank(&self, slot: u32) -> Option<usize> {
        match self.rank.get(slot as usize) {
            Some(&r) if r != u32::MAX => Some(r as usize),
            _ => None,
        }
    }
}

/// Every shard's names merged into one order: the inventory's names ascending, each as
/// (shard, position in that shard's [`NameOrder`]). Valid while every shard still has the
/// `NameOrder` it was built from (checked by pointer), so a large answer is one pass over
/// it instead of a merge of the shards' runs.
#[derive(Debug)]
pub(crate) struct MergedOrder {
    parts: Vec<Arc<NameOrder>>,
    seq: Vec<(u32, u32)>,
}

impl MergedOrder {
    /// Merges the shards' orders: the concatenated runs are stably sorted by each name's
    /// first 16 bytes (the text decides ties), which finds the runs and merges them.
    pub(crate) fn build(parts: Vec<Arc<NameOrder>>) -> MergedOrder {
        let total = parts.iter().map(|p| p.len()).sum();
        let mut keyed: Vec<(u128, u32, u32)> = Vec::with_capacity(total);
        for (shard, part) in parts.iter().enumerate() {
            for i in 0..part.len() {
                keyed.push((prefix(part.name(i)), shard as u32, i as u32));
            }
        }
        let name = |&(_, shard, i): &(u128, u32, u32)| parts[shard as usize].name(i as usize);
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| name(a).cmp(name(b))));
        let seq = keyed.into_iter().map(|(_, shard, i)| (shard, i)).collect();
        MergedOrder { parts, seq }
    }

    /// Whether this order was built from exactly these shard orders.
    pub(crate) fn matches(&self, parts: &[&Arc<NameOrder>]) -> bool {
        self.parts.len() == parts.len()
            && self.parts.iter().zip(parts).all(|(a, b)| Arc::ptr_eq(a, b))
    }

    pub(crate) fn len(&self) -> usize {
        self.seq.len()
    }

    /// Name `i` in order: its shard and its position in that shard's order.
    pub(crate) fn get(&self, i: usize) -> (usize, usize) {
        let (shard, at) = self.seq[i];
        (shard as usize, at as usize)
    }

    /// The position of the first name after `after` (0 without one).
    pub(crate) fn first_after(&self, after: Option<&str>) -> usize {
        after.map_or(0, |a| {
            self.seq
                .partition_point(|&(shard, i)| self.parts[shard as usize].name(i as usize) <= a)
        })
    }
}

/// Whether `n` nodes are few next to `of`: few enough that sorting them (or naming them one
/// by one) beats walking a name order of `of` names.
pub(crate) fn few_next_to(n: u64, of: usize) -> bool {
    (n as usize).saturating_mul(8) < of
}

/// A name's first 16 bytes as a big-endian number (zero-padded), so numbers order like the
/// names they start and most comparisons of two names never touch the strings.
pub(crate) fn prefix(name: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = name.len().min(16);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// An answer's names in order, each with `true` for shouldRun. The text lives in shared
/// buffers — shards' [`NameOrder`] snapshots, or one buffer of names copied for this answer
/// — so a name costs 16 bytes here, and dropping the answer frees a few buffers, not one
/// string per node.
#[derive(Clone, Debug, Default)]
pub struct Names {
    texts: Vec<Arc<str>>,
    spans: Vec<Span>,
}

/// Where one name is: which of `Names::texts`, and its bytes there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub text: u32,
    pub start: u32,
    pub end: u32,
    pub run: bool,
}

impl Names {
    pub(crate) fn new(texts: Vec<Arc<str>>, spans: Vec<Span>) -> Names {
        Names { texts, spans }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn last(&self) -> Option<(&str, bool)> {
        self.spans.last().map(|s| self.entry(*s))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, bool)> + '_ {
        self.spans.iter().map(|s| self.entry(*s))
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.spans.truncate(len);
    }

    fn entry(&self, s: Span) -> (&str, bool) {
        (
            &self.texts[s.text as usize][s.start as usize..s.end as usize],
            s.run,
        )
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Names {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_finds_positions_by_name_and_by_slot() {
        let names = vec![("d", 2), ("a", 4), ("b", 0)];
        let order = NameOrder::build(names.into_iter(), 6);
        assert_eq!(order.len(), 3);
        assert_eq!(order.name(2), "d");
        assert_eq!(order.entry(1).2, 0);
        assert_eq!(order.first_after(None), 0);
        assert_eq!(order.first_after(Some("b")), 2);
        assert_eq!(order.first_after(Some("c")), 2);
        assert_eq!(order.first_after(Some("z")), 3);
        assert_eq!(order.rank(4), Some(0));
        assert_eq!(order.rank(2), Some(2));
        assert_eq!(order.rank(1), None, "a free slot");
        assert_eq!(order.rank(99), None);
    }

    #[test]
    fn names_compare_by_content_not_by_layout() {
        let one = Names::new(
            vec![Arc::from("xaby")],
            vec![
                Span {
                    text: 0,
                    start: 1,
                    end: 2,
                    run: true,
                },
                Span {
                    text: 0,
                    start: 2,
                    end: 3,
                    run: false,
                },
            ],
        );
        let two = Names::new(
            vec![Arc::from("b"), Arc::from("a")],
            vec![
                Span {
                    text: 1,
                    start: 0,
                    end: 1,
                    run: true,
                },
                Span {
                    text: 0,
                    start: 0,
                    end: 1,
                    run: false,
                },
            ],
        );
        assert_eq!(one, two);
        assert_eq!(two.iter().collect::<Vec<_>>(), [("a", true), ("b", false)]);
        assert_eq!(two.last(), Some(("b", false)));
    }
}
