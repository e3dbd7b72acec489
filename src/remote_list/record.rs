//! The two shared records of a list: the state (lease, schedule, published generation),
//! small and written with CAS, and the data (the entries), written once per fetch.

use super::parse::MAX_ENTRIES;
use crate::shared::record::{Reader, Writer};

/// Shared records and the source digest carry it: a plugin upgrade that changes the
/// encoding starts from nothing instead of misreading the old records. 2: the records
/// are binary (1 was JSON).
pub(super) const FORMAT_VERSION: u32 = 2;

/// The shared state record of a list: its fields in order, fixed width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Schedule {
    pub v: u32,
    /// Request digest of the configuration that wrote last.
    pub request: u64,
    /// Nonce of the worker holding the lease; 0: free.
    pub lease: u64,
    pub lease_until_ms: u64,
    pub failures: u32,
    /// No fetch before this (refresh or backoff), unless the configuration changed.
    pub next_ms: u64,
    pub last_attempt_ms: u64,
    /// Generation of the published list; 0: none.
    pub generation: u64,
}

/// The shared data record of a list: `v`, `generation`, `fetched_at_ms`, the entry
/// count (u32), then each entry as its length (u16) and its bytes.
pub(super) struct DataRecord {
    pub v: u32,
    pub generation: u64,
    pub fetched_at_ms: u64,
    pub entries: Vec<String>,
}

/// The shared login record of a login endpoint: the token and its expiry, the login
/// backoff, and when the recent logins started (the rate window). Written with CAS.
/// `Debug` never prints the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct LoginRecord {
    pub v: u32,
    /// Digest of the login request (credentials included) that wrote last: a token or a
    /// backoff of other credentials is not this configuration's.
    pub credentials: u64,
    /// Nonce of the login that obtained the token; 0: no token.
    pub token_id: u64,
    pub expires_ms: u64,
    /// Log in again from this time on, before the expiry.
    pub renew_ms: u64,
    pub failures: u32,
    /// No login before this (backoff after a failed login).
    pub next_ms: u64,
    /// Start times of the logins inside the rate window, oldest first.
    pub logins: Vec<u64>,
    pub token: Vec<u8>,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("token_id", &self.token_id)
            .field("expires_ms", &self.expires_ms)
            .field("failures", &self.failures)
            .field("next_ms", &self.next_ms)
            .field("logins", &self.logins)
            .finish_non_exhaustive()
    }
}

impl LoginRecord {
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut w = Writer::with_capacity(64 + 8 * self.logins.len() + self.token.len());
        w.u32(self.v).u64(self.credentials).u64(self.token_id).u64(self.expires_ms).u64(self.renew_ms);
        w.u32(self.failures).u64(self.next_ms).u8(u8::try_from(self.logins.len()).ok()?);
        for t in &self.logins {
            w.u64(*t);
        }
        w.u16(u16::try_from(self.token.len()).ok()?).bytes(&self.token);
        Some(w.finish())
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let mut l = LoginRecord {
            v: r.u32()?,
            credentials: r.u64()?,
            token_id: r.u64()?,
            expires_ms: r.u64()?,
            renew_ms: r.u64()?,
            failures: r.u32()?,
            next_ms: r.u64()?,
            ..LoginRecord::default()
        };
        for _ in 0..r.u8()? {
            l.logins.push(r.u64()?);
        }
        let len = usize::from(r.u16()?);
        l.token = r.take(len)?.to_vec();
        r.end(l)
    }
}

impl Schedule {
    pub const LEN: usize = 4 + 3 * 8 + 4 + 3 * 8;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u32(self.v).u64(self.request).u64(self.lease).u64(self.lease_until_ms);
        w.u32(self.failures).u64(self.next_ms).u64(self.last_attempt_ms).u64(self.generation);
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let s = Schedule {
            v: r.u32()?,
            request: r.u64()?,
            lease: r.u64()?,
            lease_until_ms: r.u64()?,
            failures: r.u32()?,
            next_ms: r.u64()?,
            last_attempt_ms: r.u64()?,
            generation: r.u64()?,
        };
        r.end(s)
    }
}

impl DataRecord {
    /// `None` when an entry is too long to encode (entries are at most `MAX_ENTRY_LEN`).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let size = self.entries.iter().map(|e| 2 + e.len()).sum::<usize>();
        let mut w = Writer::with_capacity(24 + size);
        w.u32(self.v).u64(self.generation).u64(self.fetched_at_ms);
        w.u32(u32::try_from(self.entries.len()).ok()?);
        for e in &self.entries {
            w.u16(u16::try_from(e.len()).ok()?).bytes(e.as_bytes());
        }
        Some(w.finish())
    }

    /// Anything but a whole record of this format is `None`, before any large allocation.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let (v, generation, fetched_at_ms) = (r.u32()?, r.u64()?, r.u64()?);
        let count = usize::try_from(r.u32()?).ok().filter(|&n| v == FORMAT_VERSION && n <= MAX_ENTRIES)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(r.u16()?);
            entries.push(std::str::from_utf8(r.take(len)?).ok()?.to_string());
        }
        r.end(DataRecord { v, generation, fetched_at_ms, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_records_round_trip_and_refuse_anything_else() {
        let s = Schedule {
            v: FORMAT_VERSION,
            request: 1,
            lease: u64::MAX,
            lease_until_ms: 3,
            failures: 4,
            next_ms: 5,
            last_attempt_ms: 6,
            generation: 7,
        };
        let bytes = s.encode();
        assert_eq!(bytes.len(), Schedule::LEN);
        assert_eq!(Schedule::decode(&bytes), Some(s));
        assert_eq!(Schedule::decode(&bytes[1..]), None);
        assert_eq!(Schedule::decode(&[bytes.as_slice(), b"x"].concat()), None);

        let r =
            DataRecord { v: FORMAT_VERSION, generation: 9, fetched_at_ms: 10, entries: vec!["a".into(), "".into()] };
        let bytes = r.encode().unwrap();
        let back = DataRecord::decode(&bytes).unwrap();
        assert_eq!((back.v, back.generation, back.fetched_at_ms, back.entries), (r.v, 9, 10, r.entries.clone()));
        for cut in 0..bytes.len() {
            assert!(DataRecord::decode(&bytes[..cut]).is_none(), "{cut}");
        }
        assert!(DataRecord::decode(&[bytes.as_slice(), b"x"].concat()).is_none());
        // A count beyond MAX_ENTRIES is refused before anything is allocated for it.
        let mut huge = bytes.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(DataRecord::decode(&huge).is_none());
        let mut not_utf8 = bytes;
        not_utf8[26] = 0xff;
        assert!(DataRecord::decode(&not_utf8).is_none());
        let long = DataRecord { entries: vec!["x".repeat(70_000)], ..r };
        assert!(long.encode().is_none());

        let l = LoginRecord {
            v: FORMAT_VERSION,
            credentials: 1,
            token_id: 2,
            expires_ms: 3,
            renew_ms: 4,
            failures: 5,
            next_ms: 6,
            logins: vec![7, 8],
            token: b"t0ken-s3cret".to_vec(),
        };
        let bytes = l.encode().unwrap();
        assert_eq!(LoginRecord::decode(&bytes), Some(l.clone()));
        for cut in 0..bytes.len() {
            assert!(LoginRecord::decode(&bytes[..cut]).is_none(), "{cut}");
        }
        assert!(LoginRecord::decode(&[bytes.as_slice(), b"x"].concat()).is_none());
        assert!(!format!("{l:?}").contains("s3cret"));
    }
}
