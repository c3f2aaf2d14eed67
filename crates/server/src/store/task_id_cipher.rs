//! The task ids people see: a keyed permutation of the ids the database keeps.
//!
//! The database numbers tasks in upload order, which keeps uploads, the queue and exports
//! fast (SQLite stores a table in id order) — but an id that tells upload order tells an
//! annotator which tasks came in a batch of their own, as gold often does. So every id that
//! leaves the server is enciphered with a secret key kept in the database, and every id that
//! comes in is deciphered: public ids are spread over 1..2^53 (exact as JavaScript numbers)
//! with no order an annotator could read.
//!
//! The permutation is a six-round Feistel network over 54 bits, its round function SipHash-1-3
//! under the 128-bit key (a pseudorandom function: four rounds already make a strong
//! pseudorandom permutation, Luby–Rackoff), walked along its cycle until the value falls back
//! in the domain (Black–Rogaway cycle walking), which keeps it a bijection on the domain.
//!
//! Ids up to `plain_up_to` — the tasks a database held when it was upgraded to enciphered ids
//! — stay as they were, so devices that hold those tasks, or answers to them, still sync; the
//! enciphered domain is everything above them.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The largest public task id: 2^53 − 1, the last integer a JavaScript number holds exactly
/// (the desktop app's UI reads ids as numbers).
pub const MAX_TASK_ID: i64 = (1 << 53) - 1;

const HALF_BITS: u32 = 27;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
const ROUNDS: u8 = 6;

#[derive(Clone)]
pub struct TaskIdCipher {
    keys: (u64, u64),
    /// Ids up to this one are their own public ids.
    plain_up_to: i64,
}

impl TaskIdCipher {
    pub fn new(key: [u8; 16], plain_up_to: i64) -> Self {
        let (k0, k1) = key.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        Self {
            keys: (word(k0), word(k1)),
            plain_up_to: plain_up_to.clamp(0, MAX_TASK_ID),
        }
    }

    /// The public id of the task the database numbers `id` (1 and up).
    pub fn public(&self, id: i64) -> i64 {
        if id <= self.plain_up_to || !self.in_domain(id as u64) {
            return id;
        }
        let mut x = id as u64;
        loop {
            x = self.forward(x);
            if self.in_domain(x) {
                return x as i64;
            }
        }
    }

    /// The database's id for public id `public`, or `None` for a number no task can have.
    pub fn stored(&self, public: i64) -> Option<i64> {
        if !(1..=MAX_TASK_ID).contains(&public) {
            return None;
        }
        if public <= self.plain_up_to {
            return Some(public);
        }
        let mut x = public as u64;
        loop {
            x = self.backward(x);
            if self.in_domain(x) {
                return Some(x as i64);
            }
        }
    }

    fn in_domain(&self, x: u64) -> bool {
        x > self.plain_up_to as u64 && x <= MAX_TASK_ID as u64
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        h.write_u64(half | (u64::from(round) << 56));
        h.finish() & HALF_MASK
    }

    fn forward(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> HALF_BITS, x & HALF_MASK);
        for r in 0..ROUNDS {
            (left, right) = (right, left ^ self.round(r, right));
        }
        (left << HALF_BITS) | right
    }

    fn backward(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> HALF_BITS, x & HALF_MASK);
        for r in (0..ROUNDS).rev() {
            (left, right) = (right ^ self.round(r, left), left);
        }
        (left << HALF_BITS) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(plain_up_to: i64) -> TaskIdCipher {
        TaskIdCipher::new(*b"sixteen byte key", plain_up_to)
    }

    #[test]
    fn every_id_comes_back_and_no_two_share_a_public_id() {
        let c = cipher(0);
        let mut seen = std::collections::HashSet::new();
        for id in (1..=20_000).chain(MAX_TASK_ID - 100..=MAX_TASK_ID) {
            let p = c.public(id);
            assert!((1..=MAX_TASK_ID).contains(&p), "{id} -> {p}");
            assert_eq!(c.stored(p), Some(id));
            assert!(seen.insert(p), "{p} twice");
        }
    }

    #[test]
    fn public_ids_keep_no_order_and_depend_on_the_key() {
        let c = cipher(0);
        let ids: Vec<i64> = (1..=10_000).map(|id| c.public(id)).collect();
        // Consecutive ids: as often up as down (5,000 ± 250 at 5σ), spread over the range
        // (half above its middle, the same bound).
        let ups = ids.windows(2).filter(|w| w[1] > w[0]).count();
        assert!((4_750..=5_250).contains(&ups), "{ups} of 9999 steps go up");
        let high = ids.iter().filter(|&&p| p > MAX_TASK_ID / 2).count();
        assert!((4_750..=5_250).contains(&high), "{high} of 10000 high");
        let other = TaskIdCipher::new(*b"another key, too", 0);
        assert!((1..=100).all(|id| other.public(id) != c.public(id)));
    }

    #[test]
    fn ids_from_before_the_upgrade_stay_and_new_ones_avoid_them() {
        let c = cipher(500);
        for id in 1..=500 {
            assert_eq!(c.public(id), id);
            assert_eq!(c.stored(id), Some(id));
        }
        for id in 501..=5_000 {
            let p = c.public(id);
            assert!(p > 500, "{id} -> {p} takes an old task's id");
            assert_eq!(c.stored(p), Some(id));
        }
    }

    #[test]
    fn numbers_no_task_can_have_decipher_to_nothing() {
        let c = cipher(0);
        for p in [0, -1, i64::MIN, MAX_TASK_ID + 1, i64::MAX] {
            assert_eq!(c.stored(p), None, "{p}");
        }
    }
}
