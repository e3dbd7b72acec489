//! `checks.signature.dedupe`: replay protection by message id (SPEC 2.4).
//!
//! A message delivered upstream with a 2xx is recorded; the same id seen again inside the
//! window is answered 200 locally and not forwarded. Providers retry on timeouts and
//! errors, so the application must not see a message twice.
//!
//! Shared data has no delete and no expiry, so the memory is bounded by construction: a
//! route owns `slots` keys (`capacity / ENTRIES_PER_SLOT`, fixed at configuration) whose
//! values are overwritten, each holding at most `ENTRIES_PER_SLOT` entries of a 16-byte
//! digest of the id and the time it was recorded. Expired entries are dropped on the next
//! write to their slot; a full slot evicts its oldest entry. The consequence: an id is
//! remembered for the whole window unless `ENTRIES_PER_SLOT` younger ids land in its slot
//! within that window, so under a flood of distinct ids an old id can be forgotten early
//! and a late retry of it delivered again. Only ids of messages that passed the signature
//! check and were accepted upstream are recorded, so only the sender itself can cause
//! that flood, not an anonymous client. `capacity` lets an operator size it.

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::ConfigError;
use crate::shared::record::{Reader, Writer};
use crate::shared::slots::SlotTable;
use crate::shared::{SharedStore, CAS_ATTEMPTS};

pub const DEFAULT_WINDOW_SECONDS: u64 = 600;
/// A week: long enough for the longest common retry schedules (Stripe retries for three
/// days, Standard Webhooks senders for about a day and a half).
pub const MAX_WINDOW_SECONDS: u64 = 604_800;
/// Ids remembered per route by default: 65536, in 4096 slots of 16. At uniform hashing a
/// slot overflows early (forgets an id before the window ends) with probability under 1%
/// while the route records up to about 32k ids per window, e.g. 50 messages a second for
/// the default 600 s. About 1.7 MB of shared data (see [`Dedupe::max_shared_bytes`]).
pub const DEFAULT_CAPACITY: u64 = 65_536;
pub const MIN_CAPACITY: u64 = ENTRIES_PER_SLOT as u64;
/// About 31 MB: far above what a webhook route needs, low enough that a typo cannot eat
/// Envoy's memory.
pub const MAX_CAPACITY: u64 = 1_048_576;
/// Entries per slot: enough that uniform hashing fills slots evenly, few enough that a
/// lookup copies one small value (386 bytes) out of shared data.
pub const ENTRIES_PER_SLOT: usize = 16;

const KEY_PREFIX: &str = "webhook_guard:dd:";
/// Bumped when the encoding changes: a value in another format reads as empty.
/// 2: the shared record codec (big-endian; 1 was little-endian).
const FORMAT: u8 = 2;
/// format (1), entry count (1).
const HEADER_LEN: usize = 2;
const DIGEST_LEN: usize = 16;
/// digest (16), recorded at in unix seconds (u64).
const ENTRY_LEN: usize = DIGEST_LEN + 8;
/// The largest value a slot key ever holds.
pub const MAX_VALUE_BYTES: usize = HEADER_LEN + ENTRIES_PER_SLOT * ENTRY_LEN;

/// Wire form of `checks.signature.dedupe`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// How long a delivered id is remembered; default 600.
    pub window_seconds: Option<u64>,
    /// How many ids the route can remember at once; default 65536, rounded up to a
    /// multiple of 16. Memory is about 30 bytes per id.
    pub capacity: Option<u64>,
}

/// A compiled `dedupe`.
#[derive(Debug)]
pub struct Dedupe {
    window_seconds: u64,
    /// `webhook_guard:dd:<route>:<slot>`. Its salt makes the same id on two routes two
    /// entries.
    table: SlotTable,
}

type IdDigest = [u8; DIGEST_LEN];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    digest: IdDigest,
    recorded_at: u64,
}

impl Dedupe {
    pub fn compile(c: &DedupeConfig, path: &str, route_name: &str) -> Result<Self, ConfigError> {
        let window_seconds = c.window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS);
        if window_seconds == 0 {
            return Err(ConfigError::new(format!("{path}.window_seconds"), "must be at least 1"));
        }
        if window_seconds > MAX_WINDOW_SECONDS {
            return Err(ConfigError::new(
                format!("{path}.window_seconds"),
                format!("must be at most {MAX_WINDOW_SECONDS} (one week)"),
            ));
        }
        let capacity = c.capacity.unwrap_or(DEFAULT_CAPACITY);
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(ConfigError::new(
                format!("{path}.capacity"),
                format!("must be between {MIN_CAPACITY} and {MAX_CAPACITY}"),
            ));
        }
        // At most MAX_CAPACITY / 16 = 65536 slots: fits usize on every target.
        let slots = usize::try_from(capacity.div_ceil(ENTRIES_PER_SLOT as u64))
            .map_err(|_| ConfigError::new(format!("{path}.capacity"), "too large for this platform"))?;
        Ok(Dedupe { window_seconds, table: SlotTable::new(KEY_PREFIX, route_name, slots) })
    }

    pub fn window_seconds(&self) -> u64 {
        self.window_seconds
    }

    /// How many ids the route can hold at once (`capacity` rounded up to a multiple of 16).
    pub fn capacity(&self) -> usize {
        self.table.slots() * ENTRIES_PER_SLOT
    }

    /// Whether `message_id` was recorded within the window before `now` (unix seconds).
    /// Ask only after the signature verified: otherwise anyone replaying a message id
    /// would get a 200 without proving anything. An empty id is not an id: never seen.
    pub fn seen(&self, store: &dyn SharedStore, message_id: &[u8], now: u64) -> bool {
        if message_id.is_empty() {
            return false;
        }
        let (digest, key) = self.place(message_id);
        let (value, _) = store.get(&key);
        decode(value.as_deref()).iter().any(|e| self.live(e, now) && bool::from(e.digest[..].ct_eq(&digest[..])))
    }

    /// Remember that `message_id` was delivered upstream with a 2xx at `now`. Call it
    /// only then: a message whose delivery failed must get through when it is retried.
    ///
    /// If every attempt loses to another worker, the id is not recorded: a later retry of
    /// that message would be delivered again, which is what happens without dedupe; the
    /// other choice, refusing it, would lose a message.
    pub fn record(&self, store: &dyn SharedStore, message_id: &[u8], now: u64) {
        if message_id.is_empty() {
            return;
        }
        let (digest, key) = self.place(message_id);
        for _ in 0..CAS_ATTEMPTS {
            let (value, cas) = store.get(&key);
            let mut entries = decode(value.as_deref());
            entries.retain(|e| self.live(e, now));
            match entries.iter_mut().find(|e| e.digest == digest) {
                // Delivered again (two deliveries raced past `seen`): the window runs from
                // the latest delivery.
                Some(e) if e.recorded_at >= now => return,
                Some(e) => e.recorded_at = now,
                None => {
                    // Oldest first; on equal times the earliest recorded, which comes first.
                    while entries.len() >= ENTRIES_PER_SLOT {
                        let oldest = entries.iter().enumerate().min_by_key(|(_, e)| e.recorded_at).map(|(i, _)| i);
                        match oldest {
                            Some(i) => {
                                entries.remove(i);
                            }
                            None => break,
                        }
                    }
                    entries.push(Entry { digest, recorded_at: now });
                }
            }
            if store.set(&key, &encode(&entries), cas).is_err() {
                continue;
            }
            // Without a CAS token (the key did not exist) the write was unconditional:
            // Envoy has no create-if-absent, so a worker creating the same key at the same
            // instant may have overwritten ours. Check, and merge again if it did. (The
            // reverse, ours overwriting theirs, is theirs to notice the same way.)
            if cas.is_some() || self.holds(store, &key, &digest) {
                return;
            }
        }
    }

    /// The most bytes (keys plus values) this check can ever hold in shared data for its
    /// route: the number of keys is fixed and each value has a maximal size. Envoy adds
    /// its own per-key bookkeeping on top.
    pub fn max_shared_bytes(&self) -> usize {
        self.table.key_bytes() + self.table.slots() * MAX_VALUE_BYTES
    }

    fn holds(&self, store: &dyn SharedStore, key: &str, digest: &IdDigest) -> bool {
        decode(store.get(key).0.as_deref()).iter().any(|e| e.digest == *digest)
    }

    /// Inside the window: recorded at most `window_seconds - 1` seconds ago. An entry from
    /// a clock ahead of ours is live.
    fn live(&self, e: &Entry, now: u64) -> bool {
        match now.checked_sub(e.recorded_at) {
            Some(age) => age < self.window_seconds,
            None => true,
        }
    }

    /// The id's digest and its slot key. Only this digest is stored, never the id
    /// itself (which may be the signature).
    fn place(&self, message_id: &[u8]) -> (IdDigest, String) {
        let hash = self.table.hash(message_id);
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(&hash[..DIGEST_LEN]);
        (d, self.table.slot_key(self.table.slot_of(&hash)))
    }
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut w = Writer::with_capacity(HEADER_LEN + entries.len() * ENTRY_LEN);
    w.u8(FORMAT).u8(u8::try_from(entries.len()).unwrap_or(u8::MAX));
    for e in entries {
        w.bytes(&e.digest).u64(e.recorded_at);
    }
    w.finish()
}

/// The entries of a slot value. Anything malformed reads as an empty slot: forgetting
/// ids can at worst deliver a retry twice, while reading garbage as ids could drop a
/// message. The value is ours, so this only happens across an upgrade of the format.
fn decode(value: Option<&[u8]>) -> Vec<Entry> {
    try_decode(value.unwrap_or_default()).unwrap_or_default()
}

fn try_decode(value: &[u8]) -> Option<Vec<Entry>> {
    let mut r = Reader::new(value);
    let (format, count) = (r.u8()?, usize::from(r.u8()?));
    if format != FORMAT || count > ENTRIES_PER_SLOT || r.remaining() != count * ENTRY_LEN {
        return None;
    }
    let entries: Option<Vec<Entry>> =
        (0..count).map(|_| Some(Entry { digest: r.array()?, recorded_at: r.u64()? })).collect();
    r.end(entries?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{ContendedStore, MemoryStore};

    fn dd(json: &str) -> Dedupe {
        dd_on(json, "github")
    }

    fn dd_on(json: &str, route: &str) -> Dedupe {
        let c: DedupeConfig = crate::wire::read_str(json).unwrap();
        Dedupe::compile(&c, "dd", route).unwrap()
    }

    const T0: u64 = 1_700_000_000;

    fn id(i: u64) -> Vec<u8> {
        format!("msg_{i}").into_bytes()
    }

    #[test]
    fn seen_only_after_record_and_inside_the_window() {
        let d = dd("{}");
        assert_eq!(d.window_seconds(), 600);
        let s = MemoryStore::default();
        assert!(!d.seen(&s, b"msg_1", T0));
        // Not recorded (the upstream answered 5xx): the retry is not a duplicate.
        assert!(!d.seen(&s, b"msg_1", T0 + 30));
        d.record(&s, b"msg_1", T0 + 30);
        assert!(d.seen(&s, b"msg_1", T0 + 30));
        assert!(d.seen(&s, b"msg_1", T0 + 30 + 599));
        assert!(!d.seen(&s, b"msg_1", T0 + 30 + 600));
        assert!(!d.seen(&s, b"msg_2", T0 + 30));
        assert!(!d.seen(&s, b"msg_", T0 + 30));
        assert!(!d.seen(&s, b"msg_1 ", T0 + 30));
        // A worker whose clock is behind still sees it.
        assert!(d.seen(&s, b"msg_1", T0));
        let short = dd(r#"{"window_seconds":1}"#);
        short.record(&s, b"x", T0);
        assert!(short.seen(&s, b"x", T0));
        assert!(!short.seen(&s, b"x", T0 + 1));
    }

    #[test]
    fn recording_again_restarts_the_window_and_does_not_duplicate() {
        let d = dd(r#"{"window_seconds":100}"#);
        let s = MemoryStore::default();
        d.record(&s, b"m", T0);
        d.record(&s, b"m", T0 + 50);
        d.record(&s, b"m", T0 + 10);
        assert!(d.seen(&s, b"m", T0 + 149));
        assert!(!d.seen(&s, b"m", T0 + 150));
        assert_eq!(s.bytes(), d.place(b"m").1.len() + HEADER_LEN + ENTRY_LEN);
    }

    #[test]
    fn routes_are_independent() {
        let a = dd_on("{}", "a");
        let b = dd_on("{}", "b");
        let s = MemoryStore::default();
        a.record(&s, b"evt_1", T0);
        assert!(a.seen(&s, b"evt_1", T0));
        assert!(!b.seen(&s, b"evt_1", T0));
        assert_ne!(a.place(b"evt_1").0, b.place(b"evt_1").0);
    }

    #[test]
    fn workers_share_what_they_record() {
        let (w1, w2) = (dd("{}"), dd("{}"));
        let s = MemoryStore::default();
        w1.record(&s, b"evt_1", T0);
        assert!(w2.seen(&s, b"evt_1", T0 + 1));
    }

    #[test]
    fn the_raw_id_is_never_stored() {
        let d = dd("{}");
        let s = MemoryStore::default();
        let signature = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        d.record(&s, signature, T0);
        let key = d.place(signature).1;
        let value = s.get(&key).0.unwrap();
        assert_eq!(value.len(), HEADER_LEN + ENTRY_LEN);
        assert!(!value.windows(8).any(|w| signature.windows(8).any(|x| x == w)));
        assert!(!key.as_bytes().windows(8).any(|w| signature.windows(8).any(|x| x == w)));
    }

    #[test]
    fn an_empty_id_is_never_recorded_or_seen() {
        let d = dd("{}");
        let s = MemoryStore::default();
        d.record(&s, b"", T0);
        assert_eq!(s.len(), 0);
        assert!(!d.seen(&s, b"", T0));
    }

    /// `n` distinct ids that fall into one slot.
    fn ids_in_one_slot(d: &Dedupe, n: usize) -> Vec<Vec<u8>> {
        let key = d.place(&id(0)).1;
        (0..).map(id).filter(|i| d.place(i).1 == key).take(n).collect()
    }

    #[test]
    fn a_full_slot_forgets_its_oldest_entry() {
        // capacity 16: a single slot, so every id shares it.
        let d = dd(r#"{"capacity":16}"#);
        assert_eq!(d.capacity(), 16);
        let s = MemoryStore::default();
        for i in 0..16 {
            d.record(&s, &id(i), T0 + 16 - i);
        }
        // id(15) is the oldest (T0 + 1), though the last recorded.
        d.record(&s, &id(16), T0 + 20);
        assert!(!d.seen(&s, &id(15), T0 + 20));
        for i in (0..15).chain(16..17) {
            assert!(d.seen(&s, &id(i), T0 + 20), "{i}");
        }
        // On equal times, the first recorded goes first.
        let s = MemoryStore::default();
        for i in 0..18 {
            d.record(&s, &id(i), T0);
        }
        assert!(!d.seen(&s, &id(0), T0));
        assert!(!d.seen(&s, &id(1), T0));
        assert!((2..18).all(|i| d.seen(&s, &id(i), T0)));
        // Refreshing an id makes it young again.
        d.record(&s, &id(2), T0 + 1);
        d.record(&s, &id(100), T0 + 1);
        assert!(d.seen(&s, &id(2), T0 + 1));
        assert!(!d.seen(&s, &id(3), T0 + 1));
    }

    #[test]
    fn expired_entries_make_room_before_live_ones_are_evicted() {
        let d = dd(r#"{"window_seconds":100,"capacity":16}"#);
        let s = MemoryStore::default();
        for i in 0..8 {
            d.record(&s, &id(i), T0);
        }
        for i in 8..16 {
            d.record(&s, &id(i), T0 + 50);
        }
        // At T0 + 100 the first eight have expired: the next eight evict none of the rest.
        for i in 16..24 {
            d.record(&s, &id(i), T0 + 100);
        }
        assert!((8..24).all(|i| d.seen(&s, &id(i), T0 + 100)));
        assert_eq!(decode(s.get(&d.place(&id(0)).1).0.as_deref()).len(), 16);
        // Expired entries are gone from the value after the next write, not only unseen.
        d.record(&s, &id(99), T0 + 200);
        assert_eq!(decode(s.get(&d.place(&id(0)).1).0.as_deref()).len(), 1);
    }

    #[test]
    fn ids_are_spread_over_slots() {
        let d = dd("{}");
        let in_one = ids_in_one_slot(&d, ENTRIES_PER_SLOT + 1);
        let s = MemoryStore::default();
        for (t, i) in in_one.iter().enumerate() {
            d.record(&s, i, T0 + t as u64);
        }
        assert!(!d.seen(&s, &in_one[0], T0 + 100));
        assert!(in_one[1..].iter().all(|i| d.seen(&s, i, T0 + 100)));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn memory_is_bounded_with_1m_distinct_ids() {
        let d = dd("{}");
        let s = MemoryStore::default();
        for i in 0..1_000_000u64 {
            d.record(&s, &i.to_le_bytes(), T0 + i / 1000);
        }
        assert!(s.len() <= 4096);
        // Every slot is full: the bound is reached exactly, never passed.
        assert_eq!(s.bytes(), d.max_shared_bytes());
        // The most recent ids are all remembered.
        let recent = (999_000..1_000_000u64).filter(|i| d.seen(&s, &i.to_le_bytes(), T0 + 1000)).count();
        assert_eq!(recent, 1000);
    }

    #[test]
    fn the_stated_bounds() {
        assert_eq!(MAX_VALUE_BYTES, 386);
        let d = dd("{}");
        assert_eq!(d.capacity(), 65_536);
        // 4096 keys "webhook_guard:dd:github:<0..4095>" of at most 386 bytes each.
        assert_eq!(d.max_shared_bytes(), 1_694_634);
        let long = "a".repeat(64);
        assert_eq!(dd_on("{}", &long).max_shared_bytes(), 1_932_202);
        assert_eq!(dd_on(r#"{"capacity":1048576}"#, &long).max_shared_bytes(), 30_987_418);
        assert_eq!(dd(r#"{"capacity":100}"#).capacity(), 112);
    }

    #[test]
    fn conflicts_are_retried_and_merge_the_other_write() {
        let d = dd(r#"{"capacity":16}"#);
        let s = ContendedStore::new(Vec::new(), false);
        d.record(&s.inner, b"first", T0);
        for other in ["other_1", "other_2", "other_3"] {
            s.before_set
                .borrow_mut()
                .push(Box::new(move |m: &MemoryStore| dd(r#"{"capacity":16}"#).record(m, other.as_bytes(), T0)));
        }
        d.record(&s, b"mine", T0);
        assert_eq!(s.sets.get(), 4);
        for i in ["first", "other_1", "other_2", "other_3", "mine"] {
            assert!(d.seen(&s, i.as_bytes(), T0), "{i}");
        }

        // Every attempt conflicts: nothing recorded, nothing broken.
        let s = ContendedStore::new(Vec::new(), true);
        d.record(&s, b"mine", T0);
        assert_eq!(s.sets.get(), CAS_ATTEMPTS);
        assert!(!d.seen(&s, b"mine", T0));
    }

    #[test]
    fn a_lost_creation_race_is_noticed_and_merged() {
        let d = dd(r#"{"capacity":16}"#);
        // Another worker read "absent" before our write and creates the key right after it.
        let theirs = {
            let m = MemoryStore::default();
            d.record(&m, b"theirs", T0);
            m.get(&d.place(b"theirs").1).0.unwrap()
        };
        let s = ContendedStore::new(Vec::new(), false);
        let key = d.place(b"mine").1;
        s.after_set.borrow_mut().push(Box::new(move |m: &MemoryStore| m.set(&key, &theirs, None).unwrap()));
        d.record(&s, b"mine", T0);
        assert_eq!(s.sets.get(), 2);
        assert!(d.seen(&s, b"mine", T0));
        assert!(d.seen(&s, b"theirs", T0));
    }

    #[test]
    fn hostile_or_foreign_values_read_as_empty_and_never_panic() {
        let d = dd(r#"{"capacity":16}"#);
        let key = d.place(b"m").1;
        let good = {
            let m = MemoryStore::default();
            d.record(&m, b"m", T0);
            m.get(&key).0.unwrap()
        };
        assert!(d.seen(
            &{
                let m = MemoryStore::default();
                m.set(&key, &good, None).unwrap();
                m
            },
            b"m",
            T0
        ));
        let mut values = vec![vec![], vec![FORMAT], vec![2, 1], vec![FORMAT, 17], vec![0xff; 1000]];
        for cut in 0..good.len() {
            values.push(good[..cut].to_vec());
        }
        values.push([&good[..], &[0u8][..]].concat());
        let mut other_format = good.clone();
        other_format[0] = FORMAT + 1;
        values.push(other_format);
        for v in values {
            let s = MemoryStore::default();
            s.set(&key, &v, None).unwrap();
            assert!(!d.seen(&s, b"m", T0), "{v:?}");
            d.record(&s, b"m", T0);
            assert!(d.seen(&s, b"m", T0), "{v:?}");
        }
        // A far-future entry, as a stepped clock would write: live, and evicted last.
        let s = MemoryStore::default();
        d.record(&s, b"m", u64::MAX);
        assert!(d.seen(&s, b"m", T0));
        assert!(d.seen(&s, b"m", u64::MAX));
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (r#"{"window_seconds":0}"#, "dd.window_seconds: must be at least 1"),
            (r#"{"window_seconds":604801}"#, "dd.window_seconds: must be at most 604800 (one week)"),
            (r#"{"capacity":15}"#, "dd.capacity: must be between 16 and 1048576"),
            (r#"{"capacity":1048577}"#, "dd.capacity: must be between 16 and 1048576"),
        ];
        for (json, want) in table {
            let c: DedupeConfig = crate::wire::read_str(json).unwrap();
            let got = Dedupe::compile(&c, "dd", "github").unwrap_err().to_string();
            assert_eq!(got, want, "{json}");
        }
        for json in [r#"{"window":600}"#, r#"{"window_seconds":-1}"#, r#"{"capacity":"big"}"#] {
            assert!(crate::wire::read_str::<DedupeConfig>(json).is_err(), "{json}");
        }
        // The bounds themselves are accepted.
        for json in [r#"{"window_seconds":1,"capacity":16}"#, r#"{"window_seconds":604800,"capacity":1048576}"#] {
            let d = dd(json);
            let s = MemoryStore::default();
            d.record(&s, b"m", u64::MAX);
            assert!(d.seen(&s, b"m", u64::MAX));
        }
    }
}
