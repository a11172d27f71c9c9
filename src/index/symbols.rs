//! Per-shard string interning with reference counts.
//!
//! A 100,000-node fleet repeats the same label keys, values, resource names and quantities
//! on thousands of nodes; storing each once and referring to it by a `u32` keeps a node's
//! record small (the memory goal is 1 KiB per node). Counting references lets churn of unique
//! strings (hostnames of nodes that come and go) give their memory back.
//!
//! Node names are interned too, so a name and the `kubernetes.io/hostname` label that
//! usually repeats it share one string, and the symbol remembers the slot of the node it
//! names: finding a node by name is one hash probe.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

/// An interned string, valid within the shard that produced it.
pub(crate) type Sym = u32;

/// `Entry::node` of a string that names no node.
const NO_NODE: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Symbols {
    /// Text → symbol. Hashed with a per-table random seed: the strings come from clients.
    ids: HashMap<Arc<str>, Sym, RandomState>,
    entries: Vec<Entry>,
    free: Vec<Sym>,
}

struct Entry {
    /// `None` once the last reference is released (the symbol is then on the free list).
    text: Option<Arc<str>>,
    refs: u32,
    /// The slot of the node this string names, or `NO_NODE`. Costs nothing: it fills the
    /// padding after `refs`.
    node: u32,
}

impl Symbols {
    /// Returns the symbol for `s`, creating it if needed, and takes one reference.
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.ids.get(s) {
            self.entries[sym as usize].refs += 1;
            return sym;
        }
        let text: Arc<str> = Arc::from(s);
        let entry = Entry {
            text: Some(text.clone()),
            refs: 1,
            node: NO_NODE,
        };
        let sym = match self.free.pop() {
            Some(sym) => {
                self.entries[sym as usize] = entry;
                sym
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as Sym
            }
        };
        self.ids.insert(text, sym);
        sym
    }

    /// [`Symbols::intern`], trying `like` first: a symbol that probably stands for `s` (the
    /// same field of a similar record), found by one comparison instead of a hash probe.
    pub(crate) fn intern_like(&mut self, like: Option<Sym>, s: &str) -> Sym {
        match like {
            Some(sym) if self.resolve(sym) == s => self.retain(sym),
            _ => self.intern(s),
        }
    }

    /// Takes one more reference to a live symbol; returns it.
    pub(crate) fn retain(&mut self, sym: Sym) -> Sym {
        self.entries[sym as usize].refs += 1;
        sym
    }

    /// The symbol of `s` if any record uses it; never creates one.
    pub(crate) fn lookup(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }

    /// Drops one reference; the string is freed with its last one.
    pub(crate) fn release(&mut self, sym: Sym) {
        let entry = &mut self.entries[sym as usize];
        entry.refs -= 1;
        if entry.refs == 0 {
            if let Some(text) = entry.text.take() {
                self.ids.remove(&text);
            }
            entry.node = NO_NODE;
            self.free.push(sym);
        }
    }

    pub(crate) fn resolve(&self, sym: Sym) -> &str {
        self.entries[sym as usize]
            .text
            .as_deref()
            .unwrap_or_default()
    }

    /// The shared text of a live symbol (node names hand it out without copying).
    pub(crate) fn shared(&self, sym: Sym) -> Option<&Arc<str>> {
        self.entries.get(sym as usize)?.text.as_ref()
    }

    /// The slot of the node named `s`.
    pub(crate) fn node_named(&self, s: &str) -> Option<u32> {
        let node = self.entries[self.lookup(s)? as usize].node;
        (node != NO_NODE).then_some(node)
    }

    /// Records that `sym` names the node in `slot` (`None`: no node any more). The caller
    /// holds a reference to `sym` for as long as the node exists.
    pub(crate) fn set_node(&mut self, sym: Sym, slot: Option<u32>) {
        self.entries[sym as usize].node = slot.unwrap_or(NO_NODE);
    }

    /// Distinct strings currently held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_release_frees_and_reuses_the_slot() {
        let mut s = Symbols::default();
        let a = s.intern("zone-a");
        assert_eq!(s.intern("zone-a"), a);
        s.release(a);
        assert_eq!(s.lookup("zone-a"), Some(a), "one reference is left");
        s.release(a);
        assert_eq!(s.lookup("zone-a"), None);
        assert_eq!(s.len(), 0);
        let b = s.intern("zone-b");
        assert_eq!(b, a, "a freed symbol is reused");
        assert_eq!(s.resolve(b), "zone-b");
    }

    #[test]
    fn a_name_finds_its_node_until_released() {
        let mut s = Symbols::default();
        let n = s.intern("node-1");
        assert_eq!(s.node_named("node-1"), None);
        s.set_node(n, Some(7));
        assert_eq!(s.node_named("node-1"), Some(7));
        assert_eq!(s.intern("node-1"), n, "a label value repeating the name");
        s.release(n);
        assert_eq!(
            s.node_named("node-1"),
            Some(7),
            "the label's release keeps it"
        );
        s.set_node(n, None);
        s.release(n);
        let m = s.intern("node-1");
        assert_eq!(s.node_named("node-1"), None, "a new symbol names no node");
        assert_eq!(s.shared(m).map(|a| &**a), Some("node-1"));
    }
}
