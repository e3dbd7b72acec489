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

/// The CAS token did not match: another worker wrote the key since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

pub trait SharedStore {
    /// The value and its CAS token (`None` when the key was never written).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Write `value` if the key's CAS token is still `cas` (`None`: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict>;

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
