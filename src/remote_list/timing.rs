//! A list's timing in milliseconds, as both machines (the refresh and the login) apply
//! it: callout timeouts and leases, backoff and jitter, and when a time another worker
//! wrote means that the clock went back.

use super::config::{RemoteList, MAX_TIMEOUT_MS};

/// How long a lease outlives the callout timeout: Envoy answers every callout by its
/// timeout, so the margin only covers tick granularity and a VM that died mid-flight.
pub(super) const LEASE_MARGIN_MS: u64 = 5_000;
/// How far ahead of this worker's clock reading another worker's record may be without
/// it meaning the clock went back. Workers run in parallel and a tick reads the clock
/// once for all its lists, so a lease taken by another worker a moment later looks up
/// to that moment longer than `lease_ms`; taking that for a clock jump voided live
/// leases and fetched the list twice. A real jump back stalls for at most this longer.
pub(super) const CLOCK_SKEW_MS: u64 = 5_000;
/// Backoff never waits longer than this, even with a daily refresh: one call an hour is
/// no load, and a list that failed must not wait a day for its next try.
pub(super) const MAX_BACKOFF_MS: u64 = 3_600_000;

impl RemoteList {
    pub(super) fn timeout_ms(&self) -> u64 {
        u64::try_from(self.upstream.timeout.as_millis()).unwrap_or(MAX_TIMEOUT_MS)
    }

    pub(super) fn refresh_ms(&self) -> u64 {
        self.timing.refresh_seconds.saturating_mul(1000)
    }

    pub(super) fn retry_ms(&self) -> u64 {
        self.timing.retry_seconds.saturating_mul(1000)
    }

    /// Long enough for the longer of the two callouts (the list's, the login's).
    pub(super) fn lease_ms(&self) -> u64 {
        let login = self.login.as_ref().map_or(0, |l| u64::try_from(l.timeout.as_millis()).unwrap_or(MAX_TIMEOUT_MS));
        self.timeout_ms().max(login).saturating_add(LEASE_MARGIN_MS)
    }

    /// Failure `failures` (1-based): `retry * 2^(failures-1)`, capped at the refresh
    /// interval and at an hour, minus up to a quarter of itself as jitter so that a
    /// fleet of Envoys that failed together does not retry together.
    pub(super) fn backoff_ms(&self, failures: u32, seed: u64) -> u64 {
        let cap = self.refresh_ms().min(MAX_BACKOFF_MS.max(self.retry_ms()));
        let doubling = 1u64 << failures.saturating_sub(1).min(32);
        let base = self.retry_ms().saturating_mul(doubling).min(cap);
        base - mix(seed ^ u64::from(failures)) % (base / 4 + 1)
    }

    /// The next refresh after a success: `refresh` minus up to a tenth as jitter, so it
    /// always happens before the list is `refresh` old.
    pub(super) fn refresh_delay_ms(&self, seed: u64) -> u64 {
        let refresh = self.refresh_ms();
        refresh - mix(seed ^ 0x5eed) % (refresh / 10 + 1)
    }
}

/// SplitMix64's finaliser: spreads the caller's randomness (and any weak seed) over
/// every bit, for jitter and lease nonces. Not a security boundary.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A time further ahead than `span` could have set it (beyond the skew between workers'
/// clock readings) means the clock went back: it is ignored rather than waited for.
pub(super) fn plausible(until: u64, now_ms: u64, span: u64) -> bool {
    until.saturating_sub(now_ms) <= span.saturating_add(CLOCK_SKEW_MS)
}
