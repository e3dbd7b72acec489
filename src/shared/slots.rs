//! The salted slot table: a fixed set of shared-data keys (`<prefix><owner>:<slot>`) that a
//! check spreads its records over (rate-limit buckets by client, replay-cache entries by
//! message id). Shared data has no delete and no expiry, so a fixed number of keys whose
//! values are overwritten is what bounds the memory.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

#[derive(Debug)]
pub struct SlotTable {
    /// `<prefix><owner>`; slot keys append `:<slot>`.
    key: String,
    /// Seeds the hash with the owner (a route), so owners spread the same items
    /// differently and the same item under two owners is two items. Not a secret: the
    /// owner's name is in the configuration.
    salt: Hash,
    slots: usize,
}

impl SlotTable {
    /// `slots` keys for `owner` under `prefix` (e.g. `webhook_guard:rl:` and a route name).
    pub fn new(prefix: &str, owner: &str, slots: usize) -> Self {
        let mut h = Sha256::new();
        h.update(prefix.as_bytes());
        h.update((owner.len() as u64).to_le_bytes());
        h.update(owner.as_bytes());
        SlotTable { key: format!("{prefix}{owner}"), salt: h.finalize().into(), slots: slots.max(1) }
    }

    /// `<prefix><owner>`, the stem of every slot key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// SHA-256 of the salt and `item`: the item's identity inside its slot, and its slot.
    pub fn hash(&self, item: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(item);
        h.finalize().into()
    }

    /// The slot of an item, from its hash.
    pub fn slot_of(&self, hash: &Hash) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        // The remainder is below `slots`, a usize: the cast back is lossless.
        (u64::from_le_bytes(first) % self.slots as u64) as usize
    }

    pub fn slot_key(&self, slot: usize) -> String {
        format!("{}:{slot}", self.key)
    }

    /// Every slot key, in slot order.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.slots).map(|s| self.slot_key(s))
    }

    /// The bytes of every slot key together (for the stated shared-memory bound).
    pub fn key_bytes(&self) -> usize {
        (0..self.slots).map(|s| self.key.len() + 1 + decimal_len(s)).sum()
    }
}

fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_spread_over_every_slot_and_owners_spread_them_differently() {
        let (a, b) = (SlotTable::new("p:", "github", 16), SlotTable::new("p:", "stripe", 16));
        assert_eq!(a.key(), "p:github");
        assert_eq!(a.slot_key(3), "p:github:3");
        let slots_a: Vec<usize> = (0..400u32).map(|i| a.slot_of(&a.hash(&i.to_be_bytes()))).collect();
        let slots_b: Vec<usize> = (0..400u32).map(|i| b.slot_of(&b.hash(&i.to_be_bytes()))).collect();
        assert!((0..16).all(|s| slots_a.contains(&s)));
        assert_ne!(slots_a, slots_b);
        assert_ne!(a.hash(b"x"), b.hash(b"x"));
        // The owner's length is part of the salt: "ab" + "c" is not "a" + "bc".
        assert_ne!(SlotTable::new("ab", "c", 4).hash(b"x"), SlotTable::new("a", "bc", 4).hash(b"x"));
    }

    #[test]
    fn key_bytes_count_every_key() {
        let t = SlotTable::new("p:", "r", 12);
        assert_eq!(t.key_bytes(), t.keys().map(|k| k.len()).sum::<usize>());
        assert_eq!(t.keys().count(), 12);
        assert_eq!(SlotTable::new("p:", "r", 0).slots(), 1);
        assert_eq!([0, 9, 10, 65_535].map(decimal_len), [1, 1, 2, 5]);
    }
}
