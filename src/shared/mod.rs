//! State shared by every worker VM of one Envoy (rate-limit buckets, the replay cache,
//! remote lists): an abstraction over proxy-wasm shared data, so the logic that uses it
//! stays pure and testable. Values are bytes; writes use compare-and-swap.
//!
//! - [`SharedStore`]: the store (Envoy's shared data in the filter; [`MemoryStore`] in
//!   tests, the `explain` command and the fuzz targets);
//! - [`slots::SlotTable`]: a fixed, salted set of keys a check spreads its records over;
//! - [`record`]: the one binary codec every record is written in.

pub mod record;
pub mod slots;

mod memory;
pub use memory::MemoryStore;
#[cfg(test)]
pub use memory::{ContendedStore, OtherWorker};

/// Read-compute-write rounds before giving up on a contended key. Conflicts come only
/// from other workers writing the same key at the same moment.
pub const CAS_ATTEMPTS: usize = 8;

/// How an [`SharedStore::update`] changes a key: from the value read (`None`: never
/// written) to the value to write (`None`: leave it as it is).
pub type Change<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

/// The CAS token did not match: another worker wrote the key since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

pub trait SharedStore {
    /// The value and its CAS token (`None` when the key was never written).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Write `value` if the key's CAS token is still `cas` (`None`: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict>;

    /// Read `key`, let `change` compute its next value from the one read (`None`: leave
    /// it as it is), and write that, with no other write to `key` in between.
    /// `Err(Conflict)` when every attempt lost to another worker, nothing written.
    ///
    /// By default a compare-and-swap loop of at most [`CAS_ATTEMPTS`] rounds, so
    /// `change` may run more than once and must only compute. A store that can hold the
    /// key for the whole step does so instead ([`MemoryStore`]: under its lock), and the
    /// update never fails: exact however many threads share the key.
    fn update(&self, key: &str, change: &mut Change<'_>) -> Result<(), Conflict> {
        for _ in 0..CAS_ATTEMPTS {
            let (value, cas) = self.get(key);
            let Some(next) = change(value.as_deref()) else { return Ok(()) };
            if self.set(key, &next, cas).is_ok() {
                return Ok(());
            }
        }
        Err(Conflict)
    }

    /// Create `key` holding `value` unless it exists. Called when the configuration
    /// loads: Envoy's shared data has no create-if-absent, so the first write of a key
    /// cannot be a compare-and-swap; with the key in place before traffic, every later
    /// write is one. A failure leaves the key absent (its first write is then
    /// unconditional, as without this).
    fn create_if_absent(&self, key: &str, value: &[u8]) {
        if self.get(key).0.is_none() {
            let _ = self.set(key, value, None);
        }
    }
}
