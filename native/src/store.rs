//! The state every worker thread shares (rate-limit buckets, the replay cache, remote
//! lists, the login token): one map in process memory, behind one lock, with the same
//! compare-and-swap semantics as the Wasm edition's Envoy shared data, so the core's
//! checks run on it unchanged. A CAS conflict happens only when two threads write the
//! same key between a read and a write, which the checks retry.

use std::collections::HashMap;
use std::sync::Mutex;

use webhook_guard::shared::{Conflict, SharedStore};

#[derive(Default)]
pub struct ProcessStore {
    map: Mutex<Entries>,
}

/// Key -> (value, CAS token), and the last token given. Tokens start at 1 and grow with
/// every write.
type Entries = (HashMap<String, (Vec<u8>, u32)>, u32);

impl SharedStore for ProcessStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        // A poisoned lock means a thread panicked while holding it: the map itself is
        // still consistent (every write is one insert), so it is used as is.
        let guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match guard.0.get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (map, next) = &mut *guard;
        if let (Some(want), Some((_, have))) = (cas, map.get(key)) {
            if want != *have {
                return Err(Conflict);
            }
        }
        *next = next.wrapping_add(1).max(1);
        map.insert(key.to_string(), (value.to_vec(), *next));
        Ok(())
    }

    fn create_if_absent(&self, key: &str, value: &[u8]) {
        // Atomic here, unlike Envoy's shared data: one lock for the test and the write.
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (map, next) = &mut *guard;
        if !map.contains_key(key) {
            *next = next.wrapping_add(1).max(1);
            map.insert(key.to_string(), (value.to_vec(), *next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_refuses_a_stale_token() {
        let store = ProcessStore::default();
        assert_eq!(store.get("k"), (None, None));
        store.set("k", b"1", None).unwrap();
        let (value, cas) = store.get("k");
        assert_eq!(value.as_deref(), Some(&b"1"[..]));
        store.set("k", b"2", cas).unwrap();
        assert_eq!(store.set("k", b"3", cas), Err(Conflict));
        assert_eq!(store.get("k").0.as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn create_if_absent_keeps_an_existing_value() {
        let store = ProcessStore::default();
        store.create_if_absent("k", b"first");
        store.create_if_absent("k", b"second");
        assert_eq!(store.get("k").0.as_deref(), Some(&b"first"[..]));
    }

    #[test]
    fn threads_counting_with_cas_lose_no_increment() {
        let store = std::sync::Arc::new(ProcessStore::default());
        store.set("n", &0u64.to_le_bytes(), None).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        loop {
                            let (value, cas) = store.get("n");
                            let n = u64::from_le_bytes(value.unwrap().try_into().unwrap());
                            if store.set("n", &(n + 1).to_le_bytes(), cas).is_ok() {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = u64::from_le_bytes(store.get("n").0.unwrap().try_into().unwrap());
        assert_eq!(n, 4000);
    }
}
