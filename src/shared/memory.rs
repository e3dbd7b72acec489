//! Envoy's shared data in memory, with the same CAS semantics: what tests, the
//! `explain` command and the fuzz targets run the checks on; and, for tests, a store
//! under contention from other workers.

use super::{Conflict, SharedStore};

/// An in-memory store with the same CAS semantics as Envoy's shared data. Empty, it is
/// what a just-started Envoy holds: rate limits start full, no replay is remembered.
#[derive(Default)]
pub struct MemoryStore {
    map: std::cell::RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>>,
    next_cas: std::cell::Cell<u32>,
}

impl MemoryStore {
    /// Number of keys held: lets tests assert that memory stays bounded.
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.map.borrow().iter().map(|(k, (v, _))| k.len() + v.len()).sum()
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.map.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        let mut map = self.map.borrow_mut();
        if let (Some(want), Some((_, have))) = (cas, map.get(key)) {
            if want != *have {
                return Err(Conflict);
            }
        }
        let next = self.next_cas.get().wrapping_add(1).max(1);
        self.next_cas.set(next);
        map.insert(key.to_string(), (value.to_vec(), next));
        Ok(())
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
