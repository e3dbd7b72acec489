//! `checks.rate_limit`: a token bucket per client address (or one per route), shared by
//! every worker VM of one Envoy through shared data.
//!
//! Shared data has no delete and no expiry, so the memory is bounded by construction: a
//! route owns a fixed set of keys (`SLOTS` slots for `by: client_ip`, one key for
//! `by: route`) whose values are overwritten, each value holding at most
//! `ENTRIES_PER_SLOT` buckets. See [`RateLimit::max_shared_bytes`].
//!
//! Time is in milliseconds and tokens are integers in a unit chosen so that refill is
//! exact: one token is `per_seconds * 1000` units and a bucket gains `requests` units per
//! millisecond. No rounding drifts, whatever the rate.

use std::cmp::Reverse;
use std::net::IpAddr;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::shared::record::{Reader, Writer};
use crate::shared::slots::SlotTable;
use crate::shared::SharedStore;

pub const MAX_REQUESTS: u64 = 1_000_000;
/// One day: "N per day" is the longest period webhook senders are usually held to.
pub const MAX_PER_SECONDS: u64 = 86_400;

/// Slots per route for `by: client_ip`. With `ENTRIES_PER_SLOT` = 8 this tracks 8192
/// clients per route; webhook senders are a handful of provider ranges, so slots overflow
/// only under a crowd of distinct clients (at 1024 active clients, a slot holds more
/// than 8 with probability ~1e-6).
pub const SLOTS: usize = 1024;
pub const ENTRIES_PER_SLOT: usize = 8;
/// How far ahead of this worker's clock a bucket's last refill may be and still be taken
/// as the other worker's clock reading a moment later (see [`RateLimit::refilled`]).
const MAX_CLOCK_SKEW_MILLIS: u64 = 1000;

const KEY_PREFIX: &str = "webhook_guard:rl:";
/// Bumped when the encoding changes: a value in another format reads as empty.
/// 2: the shared record codec (big-endian; 1 was little-endian).
const FORMAT: u8 = 2;
/// format (1), requests (u32), per_seconds (u32), entry count (1).
const HEADER_LEN: usize = 10;
/// client (9), tokens (u64), last refill in unix milliseconds (u64).
const ENTRY_LEN: usize = CLIENT_LEN + 16;
const CLIENT_LEN: usize = 9;
#[cfg(test)]
/// The largest value a slot key ever holds.
pub const MAX_VALUE_BYTES: usize = HEADER_LEN + ENTRIES_PER_SLOT * ENTRY_LEN;

/// Wire form of `checks.rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests: u64,
    pub per_seconds: u64,
    /// `client_ip` (default) or `route`.
    pub by: Option<String>,
}

/// What a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// One bucket per client: per IPv4 address, per IPv6 /64.
    ClientIp,
    /// One bucket for the whole route, shared by every client.
    Route,
}

/// The request is over the limit: answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until the bucket holds a token again (at least 1).
    pub retry_after_seconds: u64,
}

/// A compiled `checks.rate_limit`.
#[derive(Debug)]
pub struct RateLimit {
    by: By,
    requests: u64,
    per_seconds: u64,
    /// `webhook_guard:rl:<route>`: its stem is the `by: route` key, its slots hold the
    /// `by: client_ip` buckets; see [`RateLimit::slot`] for what the salt does and does
    /// not buy.
    table: SlotTable,
}

/// The identity of a bucket inside a slot: a tag (4, 6, or 0 for the route and the
/// unknown-address buckets) and up to 8 address bytes.
type ClientId = [u8; CLIENT_LEN];

const NO_CLIENT: ClientId = [0; CLIENT_LEN];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    client: ClientId,
    /// In units of `1 / (per_seconds * 1000)` token.
    tokens: u64,
    last_millis: u64,
}

impl RateLimit {
    pub fn compile(c: &RateLimitConfig, path: &str, route_name: &str) -> Result<Self, ConfigError> {
        let bounded = |value: u64, field: &str, max: u64, what: &str| {
            if value == 0 {
                Err(ConfigError::new(format!("{path}.{field}"), "must be at least 1"))
            } else if value > max {
                Err(ConfigError::new(format!("{path}.{field}"), format!("must be at most {max}{what}")))
            } else {
                Ok(value)
            }
        };
        let requests = bounded(c.requests, "requests", MAX_REQUESTS, "")?;
        let per_seconds = bounded(c.per_seconds, "per_seconds", MAX_PER_SECONDS, " (one day)")?;
        let by = match c.by.as_deref() {
            None | Some("client_ip") => By::ClientIp,
            Some("route") => By::Route,
            Some(other) => {
                return Err(ConfigError::new(
                    format!("{path}.by"),
                    format!("\"{other}\" is not one of client_ip, route"),
                ))
            }
        };
        Ok(RateLimit { by, requests, per_seconds, table: SlotTable::new(KEY_PREFIX, route_name, SLOTS) })
    }

    pub fn by(&self) -> By {
        self.by
    }

    /// Take one token from the request's bucket, or say how long to wait.
    ///
    /// `client` is the downstream address; with `by: client_ip` and no address (a Unix
    /// socket listener, a host that reports none) every such request shares one
    /// "unknown" bucket: the limit still holds for them together, rather than not at
    /// all. `now_millis` is unix milliseconds.
    pub fn check(&self, store: &dyn SharedStore, client: Option<IpAddr>, now_millis: u64) -> Result<(), Limited> {
        let (key, client) = self.bucket(client);
        let mut refused = None;
        // Without a CAS token (the key was never written) a write is unconditional:
        // Envoy has no create-if-absent. Two workers creating the same key in the same
        // instant can lose one token's worth of accounting, once per key per Envoy.
        let taken = store.update(&key, &mut |value| {
            let mut entries = self.decode(value);
            // A refusal changes nothing worth writing (refill is computed from the stored
            // state), so a flood of refused requests only reads the key.
            match self.take(&mut entries, client, now_millis) {
                Ok(()) => Some(self.encode(&entries)),
                Err(limited) => {
                    refused = Some(limited);
                    None
                }
            }
        });
        match (refused, taken) {
            (Some(limited), _) => Err(limited),
            (None, Ok(())) => Ok(()),
            // Every attempt lost to another worker: the key is that hot. Fail closed, as
            // the rest of the filter does: under that much contention for one bucket,
            // limiting is the likely right answer anyway, and a limiter that opens when
            // hammered would give an attacker a way through.
            (None, Err(_)) => Err(Limited { retry_after_seconds: 1 }),
        }
    }

    #[cfg(test)]
    /// The most bytes (keys plus values) this check can ever hold in shared data, for
    /// its route and mode: the number of keys is fixed and each value has a maximal size.
    /// Envoy adds its own per-key bookkeeping on top.
    pub fn max_shared_bytes(&self) -> usize {
        let single = HEADER_LEN + ENTRY_LEN;
        match self.by {
            By::Route => self.table.key().len() + single,
            By::ClientIp => self.table.key_bytes() + SLOTS * MAX_VALUE_BYTES + self.unknown_key().len() + single,
        }
    }

    /// The key and the bucket identity a request draws from.
    /// Create every key this limiter writes, where absent, holding empty buckets. Called
    /// once when the configuration loads: Envoy's shared data has no create-if-absent,
    /// so the first write of a key cannot be a compare-and-swap, and a worker that read
    /// "no key" could erase the tokens other workers took in between. With the keys in
    /// place before traffic, every write on the request path is a CAS.
    pub fn prepare(&self, store: &dyn SharedStore) {
        let keys: Vec<String> = match self.by {
            By::Route => vec![self.table.key().to_string()],
            By::ClientIp => self.table.keys().chain([self.unknown_key()]).collect(),
        };
        let empty = self.encode(&[]);
        for key in keys {
            store.create_if_absent(&key, &empty);
        }
    }

    fn bucket(&self, client: Option<IpAddr>) -> (String, ClientId) {
        match (self.by, client) {
            (By::Route, _) => (self.table.key().to_string(), NO_CLIENT),
            (By::ClientIp, None) => (self.unknown_key(), NO_CLIENT),
            (By::ClientIp, Some(ip)) => {
                let id = client_id(ip);
                (self.table.slot_key(self.slot(&id)), id)
            }
        }
    }

    fn unknown_key(&self) -> String {
        format!("{}:unknown", self.table.key())
    }

    /// Which slot a client falls in. The hash is seeded by the route name, so routes
    /// spread their clients differently. The seed is not a secret (route names are in
    /// the configuration), so someone who knows it can pick addresses that share a
    /// slot. What that buys them is bounded by the eviction rule: an evicted client
    /// comes back with a full bucket, so crowding a slot can only ever reset buckets,
    /// never make another client wait. It can let an attacker holding more than
    /// `ENTRIES_PER_SLOT` addresses in one slot escape its own per-client limit, which an
    /// attacker holding `SLOTS * ENTRIES_PER_SLOT` addresses could do anyway: a per-client
    /// limit is about fairness between honest senders; `by: route` caps the total.
    fn slot(&self, client: &ClientId) -> usize {
        self.table.slot_of(&self.table.hash(client))
    }

    /// One token, in bucket units.
    fn token_units(&self) -> u64 {
        self.per_seconds.saturating_mul(1000)
    }

    fn capacity_units(&self) -> u64 {
        self.requests.saturating_mul(self.token_units())
    }

    /// A bucket's tokens brought up to date: the tokens and the instant they hold at.
    /// A bucket slightly ahead of this clock was written by a worker that read the clock
    /// a moment later: nothing refills and the bucket keeps its instant, so no time is
    /// counted twice. A bucket far ahead means the clock was stepped back; its instant
    /// cannot be trusted, and keeping it would lock the client out until the clock catches
    /// up, so it reads as a full bucket, like an evicted one.
    fn refilled(&self, e: &Entry, now_millis: u64) -> (u64, u64) {
        if e.last_millis.saturating_sub(now_millis) > MAX_CLOCK_SKEW_MILLIS {
            return (self.capacity_units(), now_millis);
        }
        let at = now_millis.max(e.last_millis);
        let gained = (at - e.last_millis).saturating_mul(self.requests);
        (e.tokens.saturating_add(gained).min(self.capacity_units()), at)
    }

    fn take(&self, entries: &mut Vec<Entry>, client: ClientId, now_millis: u64) -> Result<(), Limited> {
        let cap = self.capacity_units();
        let unit = self.token_units();
        let mine = entries.iter().position(|e| e.client == client).map(|i| entries.swap_remove(i));
        let (tokens, at) = match mine {
            Some(e) => self.refilled(&e, now_millis),
            None => (cap, now_millis),
        };
        if tokens < unit {
            let wait_ms = at.saturating_sub(now_millis).saturating_add((unit - tokens).div_ceil(self.requests));
            return Err(Limited { retry_after_seconds: wait_ms.div_ceil(1000).max(1) });
        }
        // A full bucket says nothing an absent one does not (a newcomer starts full), so
        // full buckets are dropped: values stay small and eviction is rarely needed.
        entries.retain(|e| self.refilled(e, now_millis).0 < cap);
        // The slot is full of clients that all spent tokens recently. Evict the one whose
        // bucket is fullest (ties: least recently used): it will come back with a full
        // bucket, and this choice gives away the fewest tokens. Resetting rather than
        // handing the evicted debt to the newcomer means that crowding a slot can never
        // make another client wait (see `slot`): evictions happen only when more than
        // ENTRIES_PER_SLOT clients of one slot are active at once, and then err towards
        // letting a request through rather than refusing an honest sender.
        while entries.len() >= ENTRIES_PER_SLOT {
            let fullest = entries
                .iter()
                .enumerate()
                .max_by_key(|(_, e)| (self.refilled(e, now_millis).0, Reverse(e.last_millis)))
                .map(|(i, _)| i);
            match fullest {
                Some(i) => {
                    entries.swap_remove(i);
                }
                None => break,
            }
        }
        entries.push(Entry { client, tokens: tokens - unit, last_millis: at });
        Ok(())
    }

    fn encode(&self, entries: &[Entry]) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_LEN + entries.len() * ENTRY_LEN);
        // Both are at most MAX_REQUESTS / MAX_PER_SECONDS, far below u32::MAX.
        w.u8(FORMAT)
            .u32(u32::try_from(self.requests).unwrap_or(u32::MAX))
            .u32(u32::try_from(self.per_seconds).unwrap_or(u32::MAX))
            .u8(u8::try_from(entries.len()).unwrap_or(u8::MAX));
        for e in entries {
            w.bytes(&e.client).u64(e.tokens).u64(e.last_millis);
        }
        w.finish()
    }

    /// The buckets in a slot value. Anything malformed reads as an empty slot (full
    /// buckets): the value is ours, so this only happens across an upgrade of the format.
    /// A value written under other limits (the configuration was reloaded, or another
    /// listener names a route the same) keeps each bucket's fullness in proportion, so a
    /// client that had drained its bucket stays drained when the limit changes.
    fn decode(&self, value: Option<&[u8]>) -> Vec<Entry> {
        self.try_decode(value.unwrap_or_default()).unwrap_or_default()
    }

    fn try_decode(&self, value: &[u8]) -> Option<Vec<Entry>> {
        let mut r = Reader::new(value);
        let (format, requests, per_seconds) = (r.u8()?, r.u32()?, r.u32()?);
        let count = usize::from(r.u8()?);
        if format != FORMAT || count > ENTRIES_PER_SLOT || r.remaining() != count * ENTRY_LEN {
            return None;
        }
        let stored_cap = u128::from(requests) * u128::from(per_seconds) * 1000;
        if stored_cap == 0 {
            return None;
        }
        let cap = self.capacity_units();
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let (client, tokens, last_millis) = (r.array()?, r.u64()?, r.u64()?);
            let tokens = if stored_cap == u128::from(cap) {
                tokens.min(cap)
            } else {
                let scaled = u128::from(tokens).min(stored_cap) * u128::from(cap) / stored_cap;
                u64::try_from(scaled).unwrap_or(cap)
            };
            entries.push(Entry { client, tokens, last_millis });
        }
        r.end(entries)
    }
}

/// A client's bucket identity. IPv4 clients are keyed by address. IPv6 clients are keyed
/// by their /64: that is what one site or host is usually given, and keying by the full
/// address would let a single host rotate through 2^64 addresses, each with a fresh
/// bucket. IPv4-mapped IPv6 addresses (dual-stack listeners) count as the IPv4 client.
fn client_id(ip: IpAddr) -> ClientId {
    let mut id = NO_CLIENT;
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            id[0] = 4;
            id[1..5].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            id[0] = 6;
            id[1..9].copy_from_slice(&v6.octets()[..8]);
        }
    }
    id
}

#[cfg(test)]
mod tests;
