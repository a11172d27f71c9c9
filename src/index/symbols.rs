//! Per-shard string interning with reference counts.
//!
//! A 100,000-node fleet repeats the same label keys, values, resource names and quantities
//! on thousands of nodes; storing each once and referring to it by a `u32` keeps a node's
//! record small (the memory goal is 1 KiB per node). Counting references lets churn of unique
//! strings (hostnames of nodes that come and go) give their memory back.

use std::collections::HashMap;
use std::sync::Arc;

/// An interned string, valid within the shard that produced it.
pub(crate) type Sym = u32;

#[derive(Default)]
pub(crate) struct Symbols {
    ids: HashMap<Arc<str>, Sym>,
    entries: Vec<Entry>,
    free: Vec<Sym>,
}

struct Entry {
    text: Option<Arc<str>>,
    refs: u32,
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
            self.free.push(sym);
        }
    }

    pub(crate) fn resolve(&self, sym: Sym) -> &str {
        self.entries[sym as usize]
            .text
            .as_deref()
            .unwrap_or_default()
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
}
