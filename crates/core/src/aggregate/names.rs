//! Task, worker and label names, numbered densely: all of them in one string (a million
//! names are a million allocations otherwise), and an interner that numbers each distinct
//! name on first sight.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::DatasetError;

/// Names by index, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    joined: String,
    /// Where each name ends in `joined` (it starts where the one before it ends).
    ends: Vec<usize>,
}

impl Names {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = span(&self.ends, i)?;
        Some(&self.joined[start..end])
    }

    /// Name `i` as bytes (without the char-boundary checks of slicing text).
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        let (start, end) = span(&self.ends, i)?;
        self.joined.as_bytes().get(start..end)
    }

    /// All names, one after the other with nothing between them.
    pub fn joined(&self) -> &str {
        &self.joined
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| &self[i])
    }

    /// The index of `name`, by linear search (for the few labels; tasks and workers are
    /// looked up through an index built once).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.iter().position(|n| n == name)
    }
}

/// Where name `i` starts and ends in the joined names, from where each ends.
fn span(ends: &[usize], i: usize) -> Option<(usize, usize)> {
    let end = *ends.get(i)?;
    let start = i.checked_sub(1).map_or(0, |before| ends[before]);
    Some((start, end))
}

/// Names as bytes, while a file is read: its fields are cut from the text as bytes
/// (cutting `str`s checks both ends of every field for a char boundary, a tenth of
/// reading a row), and the names become [`Names`], checked as UTF-8 once and all
/// together, when reading is done.
#[derive(Debug, Default)]
pub(crate) struct RawNames {
    joined: Vec<u8>,
    /// Where each name ends in `joined` (it starts where the one before it ends).
    ends: Vec<usize>,
}

impl RawNames {
    /// No names, with room for `names` of them taking `bytes` in all.
    fn with_capacity(names: usize, bytes: usize) -> Self {
        Self {
            joined: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(names),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let (start, end) = span(&self.ends, i)?;
        self.joined.get(start..end)
    }

    /// Whether name `i` is `name`.
    fn is(&self, i: usize, name: &[u8]) -> bool {
        self.get(i) == Some(name)
    }

    fn last(&self) -> Option<&[u8]> {
        self.get(self.len().checked_sub(1)?)
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    fn push(&mut self, name: &[u8]) {
        self.joined.extend_from_slice(name);
        self.ends.push(self.joined.len());
    }

    /// Adds names `range` of `other`, in one copy.
    fn extend_from(&mut self, other: &RawNames, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        let start = range.start.checked_sub(1).map_or(0, |i| other.ends[i]);
        let end = other.ends[range.end - 1];
        let base = self.joined.len();
        self.joined.extend_from_slice(&other.joined[start..end]);
        self.ends
            .extend(other.ends[range].iter().map(|&e| e - start + base));
    }

    /// The names as text. Names cut from text at ASCII separators are text; anything else
    /// is an error, not a name changed.
    fn into_names(self) -> Result<Names, DatasetError> {
        let joined = String::from_utf8(self.joined).map_err(|_| DatasetError::NotText)?;
        Ok(Names {
            joined,
            ends: self.ends,
        })
    }
}

impl std::ops::Index<usize> for Names {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(name) => name,
            None => panic!("name {i} of {}", self.len()),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Names {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut names = Self::default();
        for name in iter {
            names.joined.push_str(name.as_ref());
            names.ends.push(names.joined.len());
        }
        names
    }
}

/// Numbers distinct names in order of first sight.
///
/// Each name gets a 128-bit key: a name of up to 15 bytes is packed into it with its length,
/// so equal keys are equal names and no lookup touches the names' bytes; a longer name's
/// key is its hash, marked as such, and a key match is confirmed against the bytes. Rows
/// usually come grouped by task, so the key seen last is checked before the hash table; a
/// handful of names (labels) are compared in turn, without hashing.
///
/// Rows often come sorted by task as well: exports ordered by task id (Tessera's own, and
/// many public datasets), numeric ids in numeric order or any ids in byte order. While each
/// new name sorts after the one before it, in either order, it cannot have been seen
/// before: it is added without a key or a table, and looked up later by binary search. The
/// first name out of order builds the keys and the table, and they are kept from then on.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    names: RawNames,
    /// Each name's key, by name number; empty while the names are [`Sorted`].
    keys: Vec<u128>,
    /// (name number, the key's 32-bit hash); empty while the names are [`Sorted`].
    index: HashTable<(u32, u32)>,
    /// (key, name number) of the name interned last.
    last: Option<(u128, u32)>,
    /// Which orders every name so far has come in, each after the one before it.
    sorted: Sorted,
}

/// Orders names may come in, each name after the one added before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sorted {
    /// Shorter names first, names of one length in byte order: numeric ids in numeric
    /// order (`t9` before `t10`).
    by_length: bool,
    /// Byte order (`t10` before `t9`), as `sort` and text columns order them.
    by_bytes: bool,
}

impl Default for Sorted {
    /// No names are in every order.
    fn default() -> Self {
        Self {
            by_length: true,
            by_bytes: true,
        }
    }
}

impl Sorted {
    const NEITHER: Self = Self {
        by_length: false,
        by_bytes: false,
    };
    const BY_LENGTH: Self = Self {
        by_length: true,
        by_bytes: false,
    };
    const BY_BYTES: Self = Self {
        by_length: false,
        by_bytes: true,
    };

    /// Whether every order of `order` holds here.
    fn holds(self, order: Self) -> bool {
        (self.by_length || !order.by_length) && (self.by_bytes || !order.by_bytes)
    }

    /// Which of these orders still hold once `name` comes after `before`.
    fn then(self, before: &[u8], name: &[u8]) -> Self {
        Self {
            by_length: self.by_length && (before.len(), before) < (name.len(), name),
            by_bytes: self.by_bytes && before < name,
        }
    }

    /// [`Sorted::then`] from the keys of two short names (up to 15 bytes, not [`LONG`]):
    /// with no call to compare bytes, once per new name. Zero bytes past a name's end sort
    /// first, and of two names equal but for them the shorter one is first, as in bytes.
    fn then_keys(self, before: u128, name: u128) -> Self {
        const BYTES: u128 = (1 << 120) - 1;
        // The name's bytes with its first the most significant, and its length.
        let order = |key: u128| ((key & BYTES).swap_bytes() >> 8, (key >> 120) as u8);
        let ((before, before_len), (name, name_len)) = (order(before), order(name));
        Self {
            by_length: self.by_length && (before_len, before) < (name_len, name),
            by_bytes: self.by_bytes && (before, before_len) < (name, name_len),
        }
    }

    /// `a`'s place against `b` in one order that holds (by length when both do).
    fn compare(self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        if self.by_length {
            (a.len(), a).cmp(&(b.len(), b))
        } else {
            a.cmp(b)
        }
    }
}

/// Up to this many names (labels, usually) are found by comparing every key.
const FEW: usize = 8;

/// The top byte of a long name's key; a short name's top byte is its length (0–15).
const LONG: u8 = 0xFF;

/// The first `N` bytes of `bytes` (which has at least `N`), to read as one word.
fn word<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut w = [0; N];
    w.copy_from_slice(&bytes[..N]);
    w
}

/// `name`'s key: a short name's bytes in the low 15 bytes and its length in the top one,
/// or a long name's hash marked [`LONG`]. Names of 4 to 15 bytes are read as two
/// overlapping words, the second shifted past the overlap, rather than byte by byte.
#[inline(always)]
fn key(name: &[u8]) -> u128 {
    let n = name.len();
    let packed = match n {
        0..=3 => name.iter().rev().fold(0, |k, &b| (k << 8) | u128::from(b)),
        4..=7 => {
            let first = u32::from_le_bytes(word(name));
            let rest = u32::from_le_bytes(word(&name[n - 4..])).checked_shr(8 * (8 - n) as u32);
            u128::from(first) | u128::from(rest.unwrap_or(0)) << 32
        }
        8..=15 => {
            let first = u64::from_le_bytes(word(name));
            let rest = u64::from_le_bytes(word(&name[n - 8..])).checked_shr(8 * (16 - n) as u32);
            u128::from(first) | u128::from(rest.unwrap_or(0)) << 64
        }
        _ => return u128::from(LONG) << 120 | u128::from(FxBuildHasher.hash_one(name)),
    };
    packed | (n as u128) << 120
}

fn is_long(key: u128) -> bool {
    (key >> 120) as u8 == LONG
}

/// A key's 32-bit hash: every bit of the key moves the high half of a multiply.
fn hash(key: u128) -> u32 {
    let (lo, hi) = (key as u64, (key >> 64) as u64);
    let mixed = (lo ^ hi.rotate_left(31).wrapping_mul(0xA076_1D64_78BD_642F))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

/// The table's 64-bit hash from a key's 32-bit one, spread over every bit (the table takes
/// its bucket from the low bits and its tag from the top ones).
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Whether name `i` of `names`, whose key is `stored`, is `name`, whose key is `key`: equal
/// keys are equal names, unless they are a long name's hash.
fn same_name(stored: u128, names: &RawNames, i: u32, key: u128, name: &[u8]) -> bool {
    stored == key && (!is_long(key) || names.is(i as usize, name))
}

/// Whether a table entry (name number, its key's hash) is `name`, whose key is `key` and
/// hash `h`.
fn entry_is<'a>(
    keys: &'a [u128],
    names: &'a RawNames,
    key: u128,
    h: u32,
    name: &'a [u8],
) -> impl Fn(&(u32, u32)) -> bool + 'a {
    move |&(i, hi)| hi == h && same_name(keys[i as usize], names, i, key, name)
}

/// How many tasks to set aside room for, for `rows` rows: one per two rows, so the
/// address space set aside is about the text's size (a row per task would be several
/// times it); more tasks than that grow the room as usual.
pub(crate) fn tasks_room(rows: usize) -> usize {
    rows / 2
}

impl Interner {
    /// No names yet, with room for `names` of them taking `bytes` in all: room set aside
    /// up front (only address space until it is written) saves growing the names, which
    /// copies them and writes fresh memory, costly on a VM, twice over.
    pub(crate) fn with_room(names: usize, bytes: usize) -> Self {
        Self {
            names: RawNames::with_capacity(names, bytes),
            ..Self::default()
        }
    }

    /// [`Interner::with_room`] for the tasks of `rows` rows of a `bytes`-long text: room
    /// for [`tasks_room`] of them, taking half the text.
    pub(crate) fn for_rows(rows: usize, bytes: usize) -> Self {
        Self::with_room(tasks_room(rows), bytes / 2)
    }

    /// `name`'s number, given on first sight. The name seen last, and a handful of names
    /// (labels), are found here, inlined into the caller's loop; the table, out of line.
    #[inline(always)]
    pub(crate) fn intern(&mut self, name: &[u8]) -> u32 {
        let key = key(name);
        if let Some((last_key, i)) = self.last
            && same_name(last_key, &self.names, i, key, name)
        {
            return i;
        }
        let i = match self.among_few(key, name) {
            Some(found) => found,
            None => self.add_or_look_up(key, name),
        };
        self.last = Some((key, i));
        i
    }

    /// The number of a name that is neither the last nor among a few: a new one added
    /// while the names are sorted, else one from the table.
    #[inline(never)]
    fn add_or_look_up(&mut self, key: u128, name: &[u8]) -> u32 {
        match self.append_sorted(key, name) {
            Some(added) => added,
            None => self.look_up_or_add(key, name),
        }
    }

    /// While the names are sorted: adds `name`, which is not the last one, when it sorts
    /// after it (so after every name) and returns its number; otherwise builds the keys
    /// and the table, for good, and returns `None`.
    #[inline]
    fn append_sorted(&mut self, key: u128, name: &[u8]) -> Option<u32> {
        if self.sorted == Sorted::NEITHER {
            return None;
        }
        let n = self.names.len();
        if let Some(before) = self.names.last() {
            self.sorted = match self.last {
                // The name interned last is the one added last while the names are sorted.
                Some((last, i)) if i as usize + 1 == n && !is_long(last) && !is_long(key) => {
                    self.sorted.then_keys(last, key)
                }
                _ => self.sorted.then(before, name),
            };
            if self.sorted == Sorted::NEITHER {
                self.index_all();
                return None;
            }
        }
        self.names.push(name);
        Some(n as u32)
    }

    /// The keys and the table for the names added while they were sorted.
    #[cold]
    fn index_all(&mut self) {
        self.keys = self.names.iter().map(key).collect();
        self.index.reserve(self.keys.len(), |&(_, h)| spread(h));
        for (i, &k) in self.keys.iter().enumerate() {
            let h = hash(k);
            self.index
                .insert_unique(spread(h), (i as u32, h), |&(_, hj)| spread(hj));
        }
    }

    /// While there are at most [`FEW`] names: the number of the one with key `key`, or
    /// `None` when there is none (or when there are more names than that, or the names are
    /// sorted: no keys are kept then).
    #[inline(always)]
    fn among_few(&self, key: u128, name: &[u8]) -> Option<u32> {
        if self.keys.len() > FEW {
            return None;
        }
        // Every key compared, without branching on which one matches: labels come in
        // no order a branch predictor could learn.
        let mut found = None;
        for (i, &k) in self.keys.iter().enumerate() {
            if k == key {
                found = Some(i as u32);
            }
        }
        found.filter(|&i| same_name(key, &self.names, i, key, name))
    }

    /// The number of the name with key `key` from the table, or the next free one for a
    /// name not seen before.
    #[inline]
    fn look_up_or_add(&mut self, key: u128, name: &[u8]) -> u32 {
        let h = hash(key);
        let same = entry_is(&self.keys, &self.names, key, h, name);
        match self.index.entry(spread(h), same, |&(_, hj)| spread(hj)) {
            hashbrown::hash_table::Entry::Occupied(found) => found.get().0,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let i = self.names.len() as u32;
                slot.insert((i, h));
                self.names.push(name);
                self.keys.push(key);
                i
            }
        }
    }

    /// The number of `name`, if it has one: found by binary search while the names are
    /// sorted (a name past the last is no search at all), else by its key and the key's
    /// hash, which `keyed` gives.
    fn find(&self, name: &[u8], keyed: impl FnOnce() -> (u128, u32)) -> Option<u32> {
        if self.sorted != Sorted::NEITHER {
            let order = self.sorted;
            let at = |i: usize| order.compare(self.names.get(i).unwrap_or_default(), name);
            let (mut low, mut high) = (0, self.names.len());
            if high > 0 && at(high - 1).is_lt() {
                return None;
            }
            while low < high {
                let mid = low + (high - low) / 2;
                match at(mid) {
                    std::cmp::Ordering::Less => low = mid + 1,
                    std::cmp::Ordering::Greater => high = mid,
                    std::cmp::Ordering::Equal => return Some(mid as u32),
                }
            }
            return None;
        }
        let (key, h) = keyed();
        if self.keys.len() <= FEW {
            return self.among_few(key, name);
        }
        self.index
            .find(spread(h), entry_is(&self.keys, &self.names, key, h, name))
            .map(|&(i, _)| i)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn into_names(self) -> Result<Names, DatasetError> {
        self.names.into_names()
    }
}

/// One numbering for the names that pieces of a file numbered each on their own, the
/// pieces in file order: what one interner reading the whole file would have given. A
/// piece's name keeps the number of the earliest piece that has it; names no earlier piece
/// has take the next free numbers, in their order. Each later piece's names are looked up
/// in the earlier pieces' tables, which are only read: no table is grown or rehashed, and
/// the lookups run on all cores. Returns the names and, for each piece after the first,
/// the number of each of its names (the first piece's numbers are unchanged).
pub(crate) fn number_together(
    pieces: Vec<Interner>,
) -> Result<(Names, Vec<Vec<u32>>), DatasetError> {
    /// Names looked up per unit of parallel work.
    const BATCH: usize = 16_384;
    // (piece, its names' range): where each of those names was first seen, as (earlier
    // piece, number there).
    // Names known to be new to the earlier pieces need no lookups.
    let first_new: Vec<usize> = (0..pieces.len())
        .map(|p| first_new(&pieces[..p], &pieces[p]))
        .collect();
    let batches: Vec<(usize, std::ops::Range<usize>)> = (1..pieces.len())
        .flat_map(|p| {
            let n = first_new[p];
            (0..n)
                .step_by(BATCH)
                .map(move |s| (p, s..(s + BATCH).min(n)))
        })
        .collect();
    let found = super::par_map(batches, |(p, range)| {
        let piece = &pieces[p];
        range
            .map(|i| {
                let name = piece.names.get(i).unwrap_or_default();
                // Worked out for the first earlier piece that needs it, kept for the rest.
                let mut keyed = None;
                let mut keyed = || {
                    *keyed.get_or_insert_with(|| {
                        let key = piece.keys.get(i).copied().unwrap_or_else(|| key(name));
                        (key, hash(key))
                    })
                };
                pieces[..p]
                    .iter()
                    .enumerate()
                    .find_map(|(q, earlier)| earlier.find(name, &mut keyed).map(|j| (q, j)))
            })
            .collect::<Vec<_>>()
    });
    let mut pieces = pieces.into_iter();
    let Some(first) = pieces.next() else {
        return Ok((Names::default(), Vec::new()));
    };
    let mut names = first.names;
    let mut numbers: Vec<Vec<u32>> = Vec::new();
    let mut found = found.into_iter().flatten();
    for (piece, &first_new) in pieces.zip(&first_new[1..]) {
        let mut mine = Vec::with_capacity(piece.len());
        // Runs of names no earlier piece has are copied over whole, when the run ends.
        let mut run = None;
        let looked_up = found.by_ref().take(first_new);
        let earliest = looked_up.chain(std::iter::repeat(None)).take(piece.len());
        for (i, earlier) in earliest.enumerate() {
            let number = match earlier {
                Some((q, j)) => {
                    if let Some(start) = run.take() {
                        names.extend_from(&piece.names, start..i);
                    }
                    match q.checked_sub(1) {
                        None => j,
                        Some(q) => numbers[q][j as usize],
                    }
                }
                None => (names.len() + i - *run.get_or_insert(i)) as u32,
            };
            mine.push(number);
        }
        if let Some(start) = run {
            names.extend_from(&piece.names, start..piece.len());
        }
        numbers.push(mine);
    }
    Ok((names.into_names()?, numbers))
}

/// Where the names of `piece` that no `earlier` piece can have start: when all of them are
/// sorted in one order, every name of `piece` past the greatest of theirs is new to them.
/// Pieces cut from rows sorted by task share a task at most, the one their cut falls in.
/// `piece.len()` (everything to look up) when there is no such order.
fn first_new(earlier: &[Interner], piece: &Interner) -> usize {
    [Sorted::BY_LENGTH, Sorted::BY_BYTES]
        .into_iter()
        .filter(|&order| {
            [piece]
                .into_iter()
                .chain(earlier)
                .all(|q| q.sorted.holds(order))
        })
        .map(|order| {
            let greatest = earlier
                .iter()
                .filter_map(|q| q.names.last())
                .max_by(|a, b| order.compare(a, b));
            greatest.map_or(0, |greatest| {
                piece
                    .names
                    .iter()
                    .position(|name| order.compare(name, greatest).is_gt())
                    .unwrap_or(piece.len())
            })
        })
        .min()
        .unwrap_or(piece.len())
}

#[cfg(test)]
mod tests;
