//! Task, worker and label names, numbered densely: all of them in one string (a million
//! names are a million allocations otherwise), and an interner that numbers each distinct
//! name on first sight.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Names by index, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    joined: String,
    /// Where each name starts and ends in `joined`.
    spans: Vec<(usize, usize)>,
}

impl Names {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let &(start, end) = self.spans.get(i)?;
        Some(&self.joined[start..end])
    }

    /// Whether name `i` is `name`, comparing bytes (no char-boundary checks: this is the
    /// interner's inner loop).
    fn is(&self, i: usize, name: &str) -> bool {
        let (start, end) = self.spans[i];
        &self.joined.as_bytes()[start..end] == name.as_bytes()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| &self[i])
    }

    /// The index of `name`, by linear search (for the few labels; tasks and workers are
    /// looked up through an index built once).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.iter().position(|n| n == name)
    }

    fn push(&mut self, name: &str) {
        let start = self.joined.len();
        self.joined.push_str(name);
        self.spans.push((start, self.joined.len()));
    }
}

impl std::ops::Index<usize> for Names {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        let (start, end) = self.spans[i];
        &self.joined[start..end]
    }
}

impl<S: AsRef<str>> FromIterator<S> for Names {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut names = Self::default();
        iter.into_iter().for_each(|n| names.push(n.as_ref()));
        names
    }
}

/// Numbers distinct names in order of first sight. Rows usually come grouped by task, so
/// the name seen last is checked before the hash table. The table keeps each name's hash
/// beside its number: growing it, and most mismatches, then never touch the names' bytes.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    names: Names,
    /// (name number, the name's 32-bit hash)
    index: HashTable<(u32, u32)>,
    last: Option<u32>,
}

/// The table's 64-bit hash from a name's 32-bit one, spread over every bit (the table takes
/// its bucket from the low bits and its tag from the top ones).
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Interner {
    /// Room for `names` names (of a few bytes each) without reallocating.
    pub(crate) fn with_capacity(names: usize) -> Self {
        Self {
            names: Names {
                joined: String::with_capacity(names * 4),
                spans: Vec::with_capacity(names),
            },
            ..Self::default()
        }
    }

    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(last) = self.last
            && self.names.is(last as usize, name)
        {
            return last;
        }
        let h = FxBuildHasher.hash_one(name) as u32;
        let names = &mut self.names;
        let i = match self
            .index
            .find(spread(h), |&(i, hi)| hi == h && names.is(i as usize, name))
        {
            Some(&(i, _)) => i,
            None => {
                let i = names.len() as u32;
                names.push(name);
                self.index
                    .insert_unique(spread(h), (i, h), |&(_, hj)| spread(hj));
                i
            }
        };
        self.last = Some(i);
        i
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn into_names(self) -> Names {
        self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_numbered_on_first_sight() {
        let mut interner = Interner::default();
        let ids: Vec<u32> = ["b", "a", "b", "", "a", "ab"]
            .iter()
            .map(|n| interner.intern(n))
            .collect();
        assert_eq!(ids, [0, 1, 0, 2, 1, 3]);
        let names = interner.into_names();
        assert_eq!(names.iter().collect::<Vec<_>>(), ["b", "a", "", "ab"]);
        assert_eq!((names.get(3), names.get(4)), (Some("ab"), None));
        assert_eq!(names.position(""), Some(2));
    }
}
