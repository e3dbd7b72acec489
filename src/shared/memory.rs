//! An in-memory store with the CAS semantics of Envoy's shared data: the native
//! edition's store, shared by every worker thread, and what tests, the `explain` command
//! and the fuzz targets run the checks on; and, for tests, a store under contention from
//! other workers.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Change, Conflict, SharedStore};

/// An in-memory store with the same CAS semantics as Envoy's shared data. Empty, it is
/// what a just-started Envoy holds: rate limits start full, no replay is remembered.
///
/// One lock guards every key and the CAS counter, so a write conflicts only when another
/// thread wrote the key since it was read: never spuriously (Envoy's shared data has the
/// same guarantee). Rate limits and dedupe are then exact across threads.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    map: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl Keys {
    /// Write `value` under a new CAS token (never 0, the token of no value).
    fn write(&mut self, key: &str, value: &[u8]) {
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.map.insert(key.to_string(), (value.to_vec(), self.next_cas));
    }
}

impl MemoryStore {
    /// A thread that panicked while holding the lock left the map whole (every write is
    /// one `insert`), so the lock is taken over rather than refused.
    fn keys(&self) -> MutexGuard<'_, Keys> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of keys held: lets tests assert that memory stays bounded.
    pub fn len(&self) -> usize {
        self.keys().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys().map.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.keys().map.iter().map(|(k, (v, _))| k.len() + v.len()).sum()
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.keys().map.get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        let mut keys = self.keys();
        if let (Some(want), Some((_, have))) = (cas, keys.map.get(key)) {
            if want != *have {
                return Err(Conflict);
            }
        }
        keys.write(key, value);
        Ok(())
    }

    /// The whole read-compute-write under the one lock: never a conflict.
    fn update(&self, key: &str, change: &mut Change<'_>) -> Result<(), Conflict> {
        let mut keys = self.keys();
        if let Some(next) = change(keys.map.get(key).map(|(v, _)| v.as_slice())) {
            keys.write(key, &next);
        }
        Ok(())
    }

    /// Under the one lock: of two threads creating the same key, exactly one does.
    fn create_if_absent(&self, key: &str, value: &[u8]) {
        let mut keys = self.keys();
        if !keys.map.contains_key(key) {
            keys.write(key, value);
        }
    }
}

/// What another worker does to the store in between two steps of a test.
#[cfg(test)]
pub type OtherWorker = Box<dyn Fn(&MemoryStore)>;

/// A MemoryStore under contention, for tests: runs what another worker does just
/// before (or after) the next `set`s, so a CAS conflict is a real one; or refuses every
/// write.
#[cfg(test)]
pub struct ContendedStore {
    pub inner: MemoryStore,
    pub before_set: std::cell::RefCell<Vec<OtherWorker>>,
    pub after_set: std::cell::RefCell<Vec<OtherWorker>>,
    pub always_conflict: bool,
    pub sets: std::cell::Cell<usize>,
}

#[cfg(test)]
impl ContendedStore {
    pub fn new(before_set: Vec<OtherWorker>, always_conflict: bool) -> Self {
        ContendedStore {
            inner: MemoryStore::default(),
            before_set: std::cell::RefCell::new(before_set),
            after_set: std::cell::RefCell::new(Vec::new()),
            always_conflict,
            sets: std::cell::Cell::new(0),
        }
    }
}

#[cfg(test)]
impl SharedStore for ContendedStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        self.sets.set(self.sets.get() + 1);
        if self.always_conflict {
            return Err(Conflict);
        }
        let before = self.before_set.borrow_mut().pop();
        if let Some(other) = before {
            other(&self.inner);
        }
        let result = self.inner.set(key, value, cas);
        let after = self.after_set.borrow_mut().pop();
        if let Some(other) = after {
            other(&self.inner);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_conflicts_only_when_the_key_changed_since_it_was_read() {
        let store = MemoryStore::default();
        assert_eq!(store.get("k"), (None, None));
        store.set("k", b"a", None).unwrap();
        let (value, cas) = store.get("k");
        assert_eq!(value.as_deref(), Some(&b"a"[..]));
        store.set("other", b"x", None).unwrap();
        store.set("k", b"b", cas).unwrap();
        assert_eq!(store.set("k", b"c", cas), Err(Conflict), "a stale token");
        store.create_if_absent("k", b"d");
        assert_eq!(store.get("k").0.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn updates_from_many_threads_are_exact() {
        let store = MemoryStore::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let mut add_one = |v: Option<&[u8]>| {
                            let n = v.map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()));
                            Some((n + 1).to_le_bytes().to_vec())
                        };
                        store.update("n", &mut add_one).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.get("n").0, Some(4000u32.to_le_bytes().to_vec()));
    }
}
