//! State shared by every worker VM of one Envoy (rate-limit buckets, the replay cache,
//! remote lists): an abstraction over proxy-wasm shared data, so the logic that uses it
//! stays pure and testable. Values are bytes; writes use compare-and-swap.

/// The CAS token did not match: another worker wrote the key since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

pub trait SharedStore {
    /// The value and its CAS token (`None` when the key was never written).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Write `value` if the key's CAS token is still `cas` (`None`: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict>;
}

/// An in-memory store with the same CAS semantics as Envoy's shared data, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryStore {
    map: std::cell::RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>>,
    next_cas: std::cell::Cell<u32>,
}

#[cfg(test)]
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

#[cfg(test)]
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
