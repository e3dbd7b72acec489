//! The refresh state machine of one list in one worker VM, keyed by callout token, and
//! what the request path sees of the list. Workers coordinate through shared data only.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::config::{Login, RemoteList, MAX_TIMEOUT_MS};
use super::parse::{parse_list, EntryKind, ParseError, MAX_ENTRIES};
use super::record::{DataRecord, LoginRecord, Schedule, FORMAT_VERSION};
use crate::json::{self, Json, Number};
use crate::shared::{SharedStore, CAS_ATTEMPTS};

/// How long a lease outlives the callout timeout: Envoy answers every callout by its
/// timeout, so the margin only covers tick granularity and a VM that died mid-flight.
const LEASE_MARGIN_MS: u64 = 5_000;
/// How far ahead of this worker's clock reading another worker's record may be without
/// it meaning the clock went back. Workers run in parallel and a tick reads the clock
/// once for all its lists, so a lease taken by another worker a moment later looks up
/// to that moment longer than `lease_ms`; taking that for a clock jump voided live
/// leases and fetched the list twice. A real jump back stalls for at most this longer.
const CLOCK_SKEW_MS: u64 = 5_000;
/// The request path re-reads the shared state at most this often.
const SYNC_INTERVAL_MS: u64 = 1_000;
/// Backoff never waits longer than this, even with a daily refresh: one call an hour is
/// no load, and a list that failed must not wait a day for its next try.
const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Retry-After is advice to the sender; a sender told to wait hours may give up.
const MAX_RETRY_AFTER_SECONDS: u64 = 600;
const KEY_PREFIX: &str = "webhook_guard:list:";
/// Copyleaks allows 12 logins per 15 minutes; every worker of this Envoy counts against
/// one window, kept in the shared login record.
pub const LOGIN_WINDOW_MS: u64 = 900_000;
pub const LOGINS_PER_WINDOW: usize = 12;
/// A token is renewed when a quarter of its lifetime is left, at most this early.
const MAX_RENEW_MARGIN_MS: u64 = 3_600_000;
/// A token longer than this is no token a header should carry.
const MAX_TOKEN_LEN: usize = 8_192;

impl RemoteList {
    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.upstream.timeout.as_millis()).unwrap_or(MAX_TIMEOUT_MS)
    }

    fn refresh_ms(&self) -> u64 {
        self.timing.refresh_seconds.saturating_mul(1000)
    }

    fn retry_ms(&self) -> u64 {
        self.timing.retry_seconds.saturating_mul(1000)
    }

    /// Long enough for the longer of the two callouts (the list's, the login's).
    fn lease_ms(&self) -> u64 {
        let login = self.login.as_ref().map_or(0, |l| u64::try_from(l.timeout.as_millis()).unwrap_or(MAX_TIMEOUT_MS));
        self.timeout_ms().max(login).saturating_add(LEASE_MARGIN_MS)
    }

    /// Failure `failures` (1-based): `retry * 2^(failures-1)`, capped at the refresh
    /// interval and at an hour, minus up to a quarter of itself as jitter so that a
    /// fleet of Envoys that failed together does not retry together.
    fn backoff_ms(&self, failures: u32, seed: u64) -> u64 {
        let cap = self.refresh_ms().min(MAX_BACKOFF_MS.max(self.retry_ms()));
        let doubling = 1u64 << failures.saturating_sub(1).min(32);
        let base = self.retry_ms().saturating_mul(doubling).min(cap);
        base - mix(seed ^ u64::from(failures)) % (base / 4 + 1)
    }

    /// The next refresh after a success: `refresh` minus up to a tenth as jitter, so it
    /// always happens before the list is `refresh` old.
    fn refresh_delay_ms(&self, seed: u64) -> u64 {
        let refresh = self.refresh_ms();
        refresh - mix(seed ^ 0x5eed) % (refresh / 10 + 1)
    }
}

/// SplitMix64's finaliser: spreads the caller's randomness (and any weak seed) over
/// every bit, for jitter and lease nonces. Not a security boundary.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A time further ahead than `span` could have set it (beyond the skew between workers'
/// clock readings) means the clock went back: it is ignored rather than waited for.
fn plausible(until: u64, now_ms: u64, span: u64) -> bool {
    until.saturating_sub(now_ms) <= span.saturating_add(CLOCK_SKEW_MS)
}

fn in_window(t: u64, now_ms: u64) -> bool {
    t.saturating_add(LOGIN_WINDOW_MS) > now_ms && t <= now_ms.saturating_add(CLOCK_SKEW_MS)
}

/// Whether a login may start now: past the backoff of these credentials, and fewer than
/// [`LOGINS_PER_WINDOW`] logins started in the last [`LOGIN_WINDOW_MS`].
fn login_allowed(record: Option<&LoginRecord>, login: &Login, now_ms: u64) -> bool {
    let Some(r) = record else { return true };
    let backing_off =
        r.credentials == login.credentials_digest && now_ms < r.next_ms && plausible(r.next_ms, now_ms, MAX_BACKOFF_MS);
    !backing_off && r.logins.iter().filter(|&&t| in_window(t, now_ms)).count() < LOGINS_PER_WINDOW
}

/// The token and its expiry (unix ms) from a login answer: `access_token`, and
/// `.expires` (RFC 3339, Copyleaks) or `expires_in` (seconds).
fn read_login_answer(status: u32, body: &[u8], now_ms: u64) -> Result<(Vec<u8>, u64), LoginError> {
    if status == 0 {
        return Err(LoginError::NoResponse);
    }
    if !(200..300).contains(&status) {
        return Err(LoginError::HttpStatus(status));
    }
    let doc = json::parse(body).ok().filter(|d| !d.has_repeated_member());
    let Some(Json::Object(members)) = doc else {
        return Err(LoginError::Malformed("not one JSON object"));
    };
    let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let token = match member("access_token") {
        Some(Json::String(t)) if !t.is_empty() => t.as_bytes(),
        _ => return Err(LoginError::Malformed("no access_token")),
    };
    // Sent as a header value: visible ASCII only, so it cannot split the header.
    if token.len() > MAX_TOKEN_LEN || !token.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(LoginError::Malformed("access_token is not a usable header value"));
    }
    let expires_ms = match (member(".expires"), member("expires_in")) {
        (Some(Json::String(t)), _) => crate::time::parse_rfc3339(t)
            .map(|s| s.saturating_mul(1000))
            .ok_or(LoginError::Malformed(".expires is not an RFC 3339 time"))?,
        (None, Some(Json::Number(Number::U64(n)))) => now_ms.saturating_add(n.saturating_mul(1000)),
        _ => return Err(LoginError::Malformed("no .expires or expires_in")),
    };
    if expires_ms <= now_ms {
        return Err(LoginError::Malformed("the token's expiry is in the past"));
    }
    Ok((token.to_vec(), expires_ms))
}

/// A list as loaded: canonical entries, sorted and without duplicates.
pub struct RemoteEntries {
    entries: Vec<String>,
    fetched_at_ms: u64,
    generation: u64,
}

impl RemoteEntries {
    /// `value` in canonical form.
    #[cfg(test)]
    pub fn contains(&self, value: &str) -> bool {
        self.entries.binary_search_by(|e| e.as_str().cmp(value)).is_ok()
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Changes with every successful fetch: a check that derives something costly from
    /// the entries (parsed CIDRs) can cache it by generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for RemoteEntries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteEntries")
            .field("len", &self.entries.len())
            .field("fetched_at_ms", &self.fetched_at_ms)
            .field("generation", &self.generation)
            .finish()
    }
}

/// The list as the request path sees it.
#[derive(Debug, Clone)]
pub enum ListState {
    /// Never loaded: a check that depends only on this list answers 503 + Retry-After.
    Unavailable { retry_after_seconds: u64 },
    /// Loaded and at most `max_stale_seconds` old (a refresh may be overdue).
    Fresh(Arc<RemoteEntries>),
    /// Loaded, but older than `max_stale_seconds`: the check fails closed.
    Stale { age_seconds: u64 },
}

/// A callout to dispatch: a list fetch, or a login. `Debug` names the headers but never
/// prints their values, the token or the body.
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    /// `:method`, `:path`, `:authority`, `accept` (unless configured), then the configured headers.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `Bearer <token>` from the login, sent as `authorization`.
    pub authorization: Option<String>,
    /// The login's JSON body (credentials).
    pub body: Option<&'a [u8]>,
    pub timeout: Duration,
}

impl FetchRequest<'_> {
    /// Every header to send, the authorization included.
    pub fn all_headers(&self) -> Vec<(&str, &str)> {
        let mut all = self.headers.clone();
        if let Some(a) = &self.authorization {
            all.push(("authorization", a));
        }
        all
    }
}

impl fmt::Debug for FetchRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.all_headers().iter().map(|(n, _)| *n).collect();
        f.debug_struct("FetchRequest")
            .field("cluster", &self.cluster)
            .field("headers", &names)
            .field("body_bytes", &self.body.map(<[u8]>::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a fetch failed. The last good list stays in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host refused the callout (unknown cluster, for instance).
    DispatchFailed,
    /// No `:status`: the callout timed out or the connection failed.
    NoResponse,
    HttpStatus(u32),
    /// 401 to a token the login obtained: it is dropped, and the next attempt logs in.
    TokenRefused,
    /// 403 to a token the login obtained: the account it belongs to may not read the list.
    TokenForbidden,
    Malformed(ParseError),
    /// The list could not be written to shared data.
    StoreWrite,
}

/// Why a login failed. Never holds the answer's body or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    DispatchFailed,
    NoResponse,
    HttpStatus(u32),
    /// What is wrong with the answer (a missing member, an expiry in the past).
    Malformed(&'static str),
    StoreWrite,
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::DispatchFailed => f.write_str("could not dispatch the callout (is the login cluster defined?)"),
            LoginError::NoResponse => f.write_str("no response (timeout or connection failure)"),
            LoginError::HttpStatus(s @ (400 | 401 | 403)) => {
                write!(f, "HTTP {s}: the login endpoint refused the credentials (check remote_list.login.body)")
            }
            LoginError::HttpStatus(429) => {
                f.write_str("HTTP 429: the login endpoint is rate limiting (Copyleaks allows 12 logins per 15 minutes)")
            }
            LoginError::HttpStatus(s) => write!(f, "HTTP {s}"),
            LoginError::Malformed(why) => write!(f, "malformed answer: {why}"),
            LoginError::StoreWrite => f.write_str("could not write the token to shared data"),
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::DispatchFailed => f.write_str("could not dispatch the callout (is the cluster defined?)"),
            FetchError::NoResponse => f.write_str("no response (timeout or connection failure)"),
            FetchError::HttpStatus(s @ (401 | 403)) => {
                write!(f, "HTTP {s}: the API refused the credentials (check remote_list.headers)")
            }
            FetchError::HttpStatus(s) => write!(f, "HTTP {s}"),
            FetchError::TokenRefused => {
                f.write_str("HTTP 401: the API refused the access token; it is dropped and the next attempt logs in")
            }
            FetchError::TokenForbidden => f.write_str(
                "HTTP 403: the API refused the logged-in account (check that the account of remote_list.login may read this list)",
            ),
            FetchError::Malformed(e) => write!(f, "malformed answer: {e}"),
            FetchError::StoreWrite => f.write_str("could not write the list to shared data"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published; `entries` is the number of distinct canonical entries.
    Ok {
        entries: usize,
    },
    Failed {
        reason: FetchError,
    },
    /// Logged in: a token valid for this long is in shared data.
    LoginOk {
        expires_in_seconds: u64,
    },
    LoginFailed {
        reason: LoginError,
    },
    /// Not this refresher's callout (or a late one): nothing changed.
    Ignored,
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    nonce: u64,
    token: Option<u64>,
    /// Past this, the host will not answer any more (it answers by the timeout).
    deadline_ms: u64,
    login: bool,
    /// The token a fetch sent (its login's nonce), so a 401 drops that one only.
    token_id: u64,
}

#[derive(Debug, Default)]
struct Local {
    attempt: Option<Attempt>,
    cache: Option<Arc<RemoteEntries>>,
    /// The shared state as last read, for Retry-After.
    seen: Option<Schedule>,
    synced_at_ms: Option<u64>,
    draws: u64,
    /// The token's expiry as last read (gauge).
    token_expires_ms: Option<u64>,
}

/// The refresh state machine of one list in one worker VM. Workers coordinate through
/// the shared store only; see the module documentation for the protocol.
#[derive(Debug)]
pub struct Refresher {
    list: RemoteList,
    kind: EntryKind,
    state_key: String,
    data_key: String,
    /// Shared by every list that logs in at the same endpoint.
    login_key: String,
    local: Mutex<Local>,
}

impl Refresher {
    pub fn new(list: RemoteList, kind: EntryKind) -> Self {
        let base = format!("{KEY_PREFIX}{}:{:016x}", list.name, list.source_digest);
        Refresher {
            state_key: format!("{base}:state"),
            data_key: format!("{base}:data"),
            login_key: list
                .login
                .as_ref()
                .map(|l| format!("webhook_guard:login:{:016x}", l.target_digest))
                .unwrap_or_default(),
            list,
            kind,
            local: Mutex::new(Local::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.list.name
    }

    pub fn list(&self) -> &RemoteList {
        &self.list
    }

    /// Entries loaded in this worker (gauge).
    pub fn entries(&self) -> usize {
        self.local().and_then(|l| l.cache.as_ref().map(|c| c.len())).unwrap_or(0)
    }

    /// Age of the list loaded in this worker (gauge); `None` before the first load.
    pub fn age_seconds(&self, now_ms: u64) -> Option<u64> {
        let fetched = self.local()?.cache.as_ref()?.fetched_at_ms;
        Some(now_ms.saturating_sub(fetched) / 1000)
    }

    /// Seconds the token is still valid (gauge): 0 without one; `None` without `login`.
    pub fn token_remaining_seconds(&self, now_ms: u64) -> Option<u64> {
        self.list.login.as_ref()?;
        let expires = self.local()?.token_expires_ms.unwrap_or(0);
        Some(expires.saturating_sub(now_ms) / 1000)
    }

    /// Create the shared state record, where absent, when the configuration loads.
    /// Envoy's shared data has no create-if-absent, so the first lease of a new record
    /// could not be a compare-and-swap, and two VMs ticking together could both fetch.
    /// With the record in place before the first tick, taking the lease is always a CAS.
    pub fn prepare(&self, store: &dyn SharedStore) {
        let initial = Schedule { v: FORMAT_VERSION, request: self.list.request_digest, ..Schedule::default() };
        // A failure leaves the record absent: the first tick then creates it as before.
        store.create_if_absent(&self.state_key, &initial.encode());
        if self.list.login.is_some() {
            let initial = LoginRecord { v: FORMAT_VERSION, ..LoginRecord::default() };
            if let Some(bytes) = initial.encode() {
                store.create_if_absent(&self.login_key, &bytes);
            }
        }
    }

    /// Whether this worker should fetch (or log in) now; if so it holds the lease and
    /// must dispatch the request. `rand` is any random number (lease nonce and jitter).
    ///
    /// With `login`: a fetch needs a token in shared data that has not expired. A token
    /// past its renewal time (or none, when a fetch is due) means logging in first,
    /// when the login backoff and the rate window allow it; until then a fetch still
    /// uses a token that has not expired.
    pub fn on_tick(&self, store: &dyn SharedStore, now_ms: u64, rand: u64) -> Option<FetchRequest<'_>> {
        let mut local = self.local()?;
        let (schedule, cas) = self.read_state(store);
        self.sync(&mut local, store, schedule, now_ms);
        if let Some(a) = local.attempt {
            if now_ms < a.deadline_ms && a.deadline_ms - now_ms <= self.list.lease_ms() {
                return None;
            }
            // The host never answered (a lost callback, or the clock jumped): count a
            // failure so that backoff applies, and let the lease go.
            local.attempt = None;
            drop(local);
            if a.login {
                self.login_failed(store, a.nonce, now_ms);
            } else {
                self.finish(store, a.nonce, now_ms, None, false);
            }
            return None;
        }
        let fetch_due = self.due(schedule.as_ref(), now_ms);
        let mut token = None;
        if let Some(login) = &self.list.login {
            let (record, login_cas) = self.read_login(store);
            let ours = record.as_ref().filter(|r| r.token_id != 0 && r.credentials == login.credentials_digest);
            local.token_expires_ms = ours.map(|r| r.expires_ms);
            let renew = ours.is_none_or(|r| now_ms >= r.renew_ms);
            if renew
                && (fetch_due || ours.is_some())
                && !self.lease_live(schedule.as_ref(), now_ms)
                && login_allowed(record.as_ref(), login, now_ms)
            {
                let nonce = self.take_lease(&mut local, store, schedule, cas, now_ms, rand)?;
                // The rate window counts a login when it starts, so no two workers can
                // both take its last slot.
                let mut next = record.unwrap_or_default();
                next.v = FORMAT_VERSION;
                next.logins.retain(|&t| in_window(t, now_ms));
                next.logins.push(now_ms);
                let reserved = next.encode().is_some_and(|b| store.set(&self.login_key, &b, login_cas).is_ok());
                if !reserved {
                    drop(local);
                    self.release(store, nonce);
                    return None;
                }
                let deadline_ms = now_ms.saturating_add(self.list.lease_ms());
                local.attempt = Some(Attempt { nonce, token: None, deadline_ms, login: true, token_id: 0 });
                return Some(self.login_request(login));
            }
            token = Some(ours.filter(|r| now_ms < r.expires_ms).map(|r| (r.token_id, r.token.clone()))?);
        }
        if !fetch_due {
            return None;
        }
        let nonce = self.take_lease(&mut local, store, schedule, cas, now_ms, rand)?;
        let deadline_ms = now_ms.saturating_add(self.list.lease_ms());
        let token_id = token.as_ref().map_or(0, |t| t.0);
        local.attempt = Some(Attempt { nonce, token: None, deadline_ms, login: false, token_id });
        let mut req = self.request();
        // The token was checked to be visible ASCII when it was read.
        req.authorization = token.and_then(|(_, t)| Some(format!("Bearer {}", std::str::from_utf8(&t).ok()?)));
        Some(req)
    }

    /// Take the lease in the shared state (CAS against `cas`); the nonce on success.
    fn take_lease(
        &self,
        local: &mut Local,
        store: &dyn SharedStore,
        schedule: Option<Schedule>,
        cas: Option<u32>,
        now_ms: u64,
        rand: u64,
    ) -> Option<u64> {
        local.draws = local.draws.wrapping_add(1);
        let nonce = mix(rand ^ now_ms.rotate_left(32) ^ mix(local.draws)).max(1);
        let until = now_ms.saturating_add(self.list.lease_ms());
        let mut next = schedule.unwrap_or_default();
        if next.request != self.list.request_digest {
            // Another configuration's failures say nothing about this one's credentials.
            next.failures = 0;
        }
        next.v = FORMAT_VERSION;
        next.request = self.list.request_digest;
        next.lease = nonce;
        next.lease_until_ms = until;
        next.last_attempt_ms = now_ms;
        store.set(&self.state_key, &next.encode(), cas).ok()?;
        if cas.is_none() {
            // Creating a key is not protected by CAS: another worker may have created it
            // at the same moment. Go on only if the record holds our lease. (Both may
            // still go on in a narrow interleaving: a harmless double fetch, once.)
            if self.read_state(store).0.map(|s| s.lease) != Some(nonce) {
                return None;
            }
        }
        local.seen = Some(next);
        Some(nonce)
    }

    /// The glue dispatched the request of the last `on_tick`; `token` identifies its answer.
    pub fn on_dispatched(&self, token: u64) {
        if let Some(mut local) = self.local() {
            if let Some(a) = local.attempt.as_mut() {
                if a.token.is_none() {
                    a.token = Some(token);
                }
            }
        }
    }

    /// The glue could not dispatch the request of the last `on_tick`.
    pub fn on_dispatch_failed(&self, store: &dyn SharedStore, now_ms: u64) -> Outcome {
        let Some(a) = self.local().and_then(|mut l| l.attempt.take()) else {
            return Outcome::Ignored;
        };
        if a.login {
            self.login_failed(store, a.nonce, now_ms);
            return Outcome::LoginFailed { reason: LoginError::DispatchFailed };
        }
        self.finish(store, a.nonce, now_ms, None, false);
        Outcome::Failed { reason: FetchError::DispatchFailed }
    }

    /// The answer to a callout. `status` 0: no response (timeout, reset).
    pub fn on_response(&self, store: &dyn SharedStore, token: u64, status: u32, body: &[u8], now_ms: u64) -> Outcome {
        let attempt = {
            let Some(mut local) = self.local() else {
                return Outcome::Ignored;
            };
            match local.attempt {
                Some(a) if a.token == Some(token) => {
                    local.attempt = None;
                    a
                }
                _ => return Outcome::Ignored,
            }
        };
        if attempt.login {
            return self.on_login_response(store, attempt.nonce, status, body, now_ms);
        }
        if status == 401 && self.list.login.is_some() {
            self.drop_token(store, attempt.token_id);
            // Log in once more at once; a second refusal backs off like any failure.
            self.finish(store, attempt.nonce, now_ms, None, true);
            return Outcome::Failed { reason: FetchError::TokenRefused };
        }
        let entries = match self.accept(status, body) {
            Ok(entries) => entries,
            Err(reason) => {
                let reason = match reason {
                    FetchError::HttpStatus(403) if self.list.login.is_some() => FetchError::TokenForbidden,
                    other => other,
                };
                self.finish(store, attempt.nonce, now_ms, None, false);
                return Outcome::Failed { reason };
            }
        };
        let record = DataRecord { v: FORMAT_VERSION, generation: attempt.nonce, fetched_at_ms: now_ms, entries };
        let written = record.encode().is_some_and(|b| store.set(&self.data_key, &b, None).is_ok());
        if !written {
            self.finish(store, attempt.nonce, now_ms, None, false);
            return Outcome::Failed { reason: FetchError::StoreWrite };
        }
        // The data is written before the state announces its generation, so a worker
        // that sees the new generation finds the new data.
        self.finish(store, attempt.nonce, now_ms, Some(attempt.nonce), false);
        let n = record.entries.len();
        if let Some(mut local) = self.local() {
            local.cache = Some(Arc::new(RemoteEntries {
                entries: record.entries,
                fetched_at_ms: now_ms,
                generation: attempt.nonce,
            }));
        }
        Outcome::Ok { entries: n }
    }

    /// The list for the request path. Reads shared data at most once a second (the
    /// small state record; the list itself only when its generation changed).
    pub fn current(&self, store: &dyn SharedStore, now_ms: u64) -> ListState {
        let Some(mut local) = self.local() else {
            return ListState::Unavailable { retry_after_seconds: 1 };
        };
        // Until this worker has a usable list, look at every request: a good fetch (often
        // made by another VM) must be used at once, not up to a second later. That holds
        // for a list gone stale too: another worker may have refreshed it a moment ago
        // (with max_stale_seconds equal to refresh_seconds, just before it went stale).
        let due = local.cache.as_ref().is_none_or(|c| self.is_stale(c, now_ms))
            || match local.synced_at_ms {
                None => true,
                Some(t) => now_ms >= t.saturating_add(SYNC_INTERVAL_MS) || now_ms < t,
            };
        if due {
            let (schedule, _) = self.read_state(store);
            self.sync(&mut local, store, schedule, now_ms);
        }
        match &local.cache {
            Some(c) if self.is_stale(c, now_ms) => {
                ListState::Stale { age_seconds: now_ms.saturating_sub(c.fetched_at_ms) / 1000 }
            }
            Some(c) => ListState::Fresh(Arc::clone(c)),
            None => ListState::Unavailable { retry_after_seconds: self.retry_after(local.seen.as_ref(), now_ms) },
        }
    }

    fn is_stale(&self, entries: &RemoteEntries, now_ms: u64) -> bool {
        now_ms.saturating_sub(entries.fetched_at_ms) > self.list.timing.max_stale_seconds.saturating_mul(1000)
    }

    /// This worker's part of the state. The native edition shares one refresher among
    /// every worker thread, so it is locked; the lock is held for the steps of one call
    /// only, never across a call that takes it again. A panic while it was held leaves
    /// a state that is merely stale (every step writes whole fields), so it is taken
    /// over rather than refused.
    fn local(&self) -> Option<MutexGuard<'_, Local>> {
        Some(self.local.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn request(&self) -> FetchRequest<'_> {
        let up = &self.list.upstream;
        let mut headers: Vec<(&str, &str)> =
            vec![(":method", "GET"), (":path", &up.path), (":authority", &up.authority)];
        if !up.headers.iter().any(|(n, _)| n == "accept") {
            headers.push(("accept", "application/json"));
        }
        // Values were checked to be UTF-8 at compile time.
        headers
            .extend(up.headers.iter().filter_map(|(n, v)| Some((n.as_str(), std::str::from_utf8(v.expose()).ok()?))));
        FetchRequest { cluster: &up.cluster, headers, authorization: None, body: None, timeout: up.timeout }
    }

    fn login_request<'a>(&self, login: &'a Login) -> FetchRequest<'a> {
        let headers = vec![
            (":method", "POST"),
            (":path", login.path.as_str()),
            (":authority", login.authority.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        FetchRequest {
            cluster: &login.cluster,
            headers,
            authorization: None,
            body: Some(login.body.expose()),
            timeout: login.timeout,
        }
    }

    fn read_login(&self, store: &dyn SharedStore) -> (Option<LoginRecord>, Option<u32>) {
        let (bytes, cas) = store.get(&self.login_key);
        let record = bytes.and_then(|b| LoginRecord::decode(&b)).filter(|r| r.v == FORMAT_VERSION);
        (record, cas)
    }

    /// Change the shared login record with CAS; `false` if it could not be written.
    fn update_login(&self, store: &dyn SharedStore, change: &dyn Fn(&mut LoginRecord) -> bool) -> bool {
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_login(store);
            let mut r = current.unwrap_or_default();
            r.v = FORMAT_VERSION;
            if !change(&mut r) {
                return true;
            }
            if r.encode().is_some_and(|b| store.set(&self.login_key, &b, cas).is_ok()) {
                return true;
            }
        }
        false
    }

    fn on_login_response(&self, store: &dyn SharedStore, nonce: u64, status: u32, body: &[u8], now_ms: u64) -> Outcome {
        let Some(login) = &self.list.login else {
            return Outcome::Ignored;
        };
        let (token, expires_ms) = match read_login_answer(status, body, now_ms) {
            Ok(answer) => answer,
            Err(reason) => {
                self.login_failed(store, nonce, now_ms);
                return Outcome::LoginFailed { reason };
            }
        };
        let renew_ms = expires_ms - ((expires_ms - now_ms) / 4).min(MAX_RENEW_MARGIN_MS);
        let written = self.update_login(store, &|r| {
            r.credentials = login.credentials_digest;
            r.token_id = nonce;
            r.token = token.clone();
            r.expires_ms = expires_ms;
            r.renew_ms = renew_ms;
            r.failures = 0;
            r.next_ms = 0;
            true
        });
        self.release(store, nonce);
        if !written {
            return Outcome::LoginFailed { reason: LoginError::StoreWrite };
        }
        if let Some(mut local) = self.local() {
            local.token_expires_ms = Some(expires_ms);
        }
        Outcome::LoginOk { expires_in_seconds: (expires_ms - now_ms) / 1000 }
    }

    /// A failed login: back off (shared, so no worker retries sooner) and let the lease go.
    fn login_failed(&self, store: &dyn SharedStore, nonce: u64, now_ms: u64) {
        let Some(login) = &self.list.login else { return };
        self.update_login(store, &|r| {
            if r.credentials != login.credentials_digest {
                // Another configuration's token and failures are not ours.
                *r = LoginRecord { v: FORMAT_VERSION, logins: std::mem::take(&mut r.logins), ..LoginRecord::default() };
                r.credentials = login.credentials_digest;
            }
            r.failures = r.failures.saturating_add(1);
            r.next_ms = now_ms.saturating_add(self.list.backoff_ms(r.failures, nonce));
            true
        });
        self.release(store, nonce);
    }

    /// The API refused the token `token_id`: drop it, unless a newer one replaced it.
    fn drop_token(&self, store: &dyn SharedStore, token_id: u64) {
        self.update_login(store, &|r| {
            if r.token_id != token_id || token_id == 0 {
                return false;
            }
            r.token_id = 0;
            r.token.clear();
            r.expires_ms = 0;
            r.renew_ms = 0;
            true
        });
        if let Some(mut local) = self.local() {
            local.token_expires_ms = None;
        }
    }

    /// Let the lease go without recording an outcome (a login's end).
    fn release(&self, store: &dyn SharedStore, nonce: u64) {
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_state(store);
            let Some(mut s) = current.filter(|s| s.lease == nonce) else { return };
            s.lease = 0;
            s.lease_until_ms = 0;
            if store.set(&self.state_key, &s.encode(), cas).is_ok() {
                if let Some(mut local) = self.local() {
                    local.seen = Some(s);
                }
                return;
            }
        }
    }

    fn accept(&self, status: u32, body: &[u8]) -> Result<Vec<String>, FetchError> {
        if status == 0 {
            return Err(FetchError::NoResponse);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::HttpStatus(status));
        }
        let raw = parse_list(body, &self.list.pointer, &self.list.field, self.kind.looks_like)
            .map_err(FetchError::Malformed)?;
        let mut entries: Vec<String> = raw.iter().map(|e| (self.kind.canonical)(e)).collect();
        crate::sort::sort(&mut entries);
        entries.dedup();
        Ok(entries)
    }

    fn due(&self, s: Option<&Schedule>, now_ms: u64) -> bool {
        let Some(s) = s else {
            return true;
        };
        if self.lease_live(Some(s), now_ms) {
            return false;
        }
        if s.request != self.list.request_digest {
            // Another configuration of this source wrote last (changed credentials, or a
            // VM still draining): fetch without waiting out its schedule, but at most once
            // per retry interval, so two live configurations cannot alternate at tick rate.
            return now_ms >= s.last_attempt_ms.saturating_add(self.list.retry_ms())
                || now_ms.saturating_add(CLOCK_SKEW_MS) < s.last_attempt_ms;
        }
        now_ms >= s.next_ms || !plausible(s.next_ms, now_ms, self.list.refresh_ms())
    }

    fn lease_live(&self, s: Option<&Schedule>, now_ms: u64) -> bool {
        s.is_some_and(|s| {
            s.lease != 0 && now_ms < s.lease_until_ms && plausible(s.lease_until_ms, now_ms, self.list.lease_ms())
        })
    }

    /// Record the end of an attempt in the shared state: `generation` on success.
    /// `retry_once`: a failure that is retried at once when it is the first in a row.
    fn finish(&self, store: &dyn SharedStore, nonce: u64, now_ms: u64, generation: Option<u64>, retry_once: bool) {
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_state(store);
            let mut s = current.unwrap_or_default();
            let same_config = s.request == self.list.request_digest;
            if s.lease == nonce {
                s.lease = 0;
                s.lease_until_ms = 0;
            }
            // A foreign live lease (ours expired and another worker took over) stays.
            s.v = FORMAT_VERSION;
            s.request = self.list.request_digest;
            s.last_attempt_ms = s.last_attempt_ms.max(now_ms);
            match generation {
                Some(g) => {
                    s.failures = 0;
                    s.generation = g;
                    s.next_ms = now_ms.saturating_add(self.list.refresh_delay_ms(nonce));
                }
                None => {
                    s.failures = if same_config { s.failures.saturating_add(1) } else { 1 };
                    s.next_ms = if retry_once && s.failures == 1 {
                        now_ms
                    } else {
                        now_ms.saturating_add(self.list.backoff_ms(s.failures, nonce))
                    };
                }
            }
            if store.set(&self.state_key, &s.encode(), cas).is_ok() {
                if let Some(mut local) = self.local() {
                    local.seen = Some(s);
                }
                return;
            }
        }
    }

    /// The state record and its CAS token. An unreadable record (another format) counts
    /// as absent, but its token is kept so that the next write still uses CAS.
    fn read_state(&self, store: &dyn SharedStore) -> (Option<Schedule>, Option<u32>) {
        let (bytes, cas) = store.get(&self.state_key);
        let schedule = bytes.and_then(|b| Schedule::decode(&b)).filter(|s| s.v == FORMAT_VERSION);
        (schedule, cas)
    }

    /// Bring this worker's copy up to date with the shared state just read.
    fn sync(&self, local: &mut Local, store: &dyn SharedStore, schedule: Option<Schedule>, now_ms: u64) {
        local.synced_at_ms = Some(now_ms);
        local.seen = schedule;
        let have = local.cache.as_ref().map(|c| c.generation);
        match schedule.map(|s| s.generation) {
            Some(g) if have == Some(g) => return,
            // Nothing published yet: no need to look at the data key.
            Some(0) if have.is_none() => return,
            _ => {}
        }
        let (bytes, _) = store.get(&self.data_key);
        let record = bytes
            .and_then(|b| DataRecord::decode(&b))
            .filter(|r| r.v == FORMAT_VERSION && r.generation != 0 && r.entries.len() <= MAX_ENTRIES);
        // An unreadable record keeps what this worker has: never drop a good list.
        if let Some(r) = record {
            if Some(r.generation) != have {
                local.cache = Some(Arc::new(RemoteEntries {
                    entries: r.entries,
                    fetched_at_ms: r.fetched_at_ms,
                    generation: r.generation,
                }));
            }
        }
    }

    /// Seconds until a list may be there: the running fetch's lease, or the next
    /// attempt plus its timeout, clamped to 1..=600.
    fn retry_after(&self, seen: Option<&Schedule>, now_ms: u64) -> u64 {
        let timeout = self.list.timeout_ms();
        // A fetch that can start now does so on the next tick, about a second away.
        let soon = timeout.saturating_add(1000);
        let wait_ms = match seen {
            Some(s) if s.lease != 0 && s.lease_until_ms > now_ms => s.lease_until_ms - now_ms,
            Some(s) => {
                let next = if s.request == self.list.request_digest {
                    s.next_ms
                } else {
                    s.last_attempt_ms.saturating_add(self.list.retry_ms())
                };
                if next > now_ms {
                    (next - now_ms).saturating_add(timeout)
                } else {
                    soon
                }
            }
            None => soon,
        };
        wait_ms.div_ceil(1000).clamp(1, MAX_RETRY_AFTER_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_list::config::DEFAULT_TIMEOUT_MS;
    use crate::remote_list::parse::MAX_BODY_BYTES;
    use crate::remote_list::testing::*;
    use crate::shared::{Conflict, MemoryStore};

    fn worker(extra: &str) -> Refresher {
        Refresher::new(list(extra), THUMBPRINTS)
    }

    const T0: u64 = 1_700_000_000_000;
    const LEASE: u64 = DEFAULT_TIMEOUT_MS + LEASE_MARGIN_MS;
    const DAY_MS: u64 = 86_400_000;

    fn body() -> Vec<u8> {
        format!(r#"["{SHA1}","{SHA256}"]"#).into_bytes()
    }

    /// Tick, dispatch with `token`, answer with `status`/`body`.
    fn fetch(w: &Refresher, store: &MemoryStore, now: u64, token: u32, status: u32, body: &[u8]) -> Outcome {
        assert!(w.on_tick(store, now, u64::from(token)).is_some(), "expected a fetch at {now}");
        w.on_dispatched(token.into());
        w.on_response(store, token.into(), status, body, now + 100)
    }

    fn fresh(state: ListState) -> Arc<RemoteEntries> {
        match state {
            ListState::Fresh(e) => e,
            other => panic!("expected Fresh, got {other:?}"),
        }
    }

    fn schedule(w: &Refresher, store: &MemoryStore) -> Schedule {
        w.read_state(store).0.unwrap()
    }

    #[test]
    fn prepared_record_makes_the_first_lease_single_flight() {
        let (a, b) = (worker(""), worker(""));
        // Without the record, both VMs see no key at their first tick and both write it;
        // with it, the second VM's lease write fails its CAS.
        let store = crate::shared::ContendedStore::new(Vec::new(), false);
        a.prepare(&store.inner);
        b.prepare(&store.inner);
        let before = schedule(&a, &store.inner);
        assert_eq!(before.generation, 0);
        // Both read the record; then both try to take the lease.
        let (_, cas_b) = b.read_state(&store.inner);
        assert!(a.on_tick(&store.inner, T0, 1).is_some());
        assert!(cas_b.is_some());
        assert!(b.on_tick(&store.inner, T0, 2).is_none(), "the lease is held: no second fetch");
        // Preparing again (a config reload) keeps what is there.
        a.prepare(&store.inner);
        assert_eq!(schedule(&a, &store.inner).lease, schedule(&b, &store.inner).lease);
    }

    #[test]
    fn a_worker_without_a_list_sees_the_first_good_fetch_at_once() {
        let store = MemoryStore::default();
        let (fetcher, other) = (worker(""), worker(""));
        // The other worker asks first: nothing yet.
        assert!(matches!(other.current(&store, T0), ListState::Unavailable { .. }));
        assert_eq!(fetch(&fetcher, &store, T0 + 10, 7, 200, &body()), Outcome::Ok { entries: 2 });
        // 200 ms later, well inside the once-a-second re-read of a worker that has a list.
        assert_eq!(fresh(other.current(&store, T0 + 200)).len(), 2);
    }

    #[test]
    fn fetch_request_carries_headers_and_debug_hides_their_values() {
        let w = worker(
            r#""headers":{"Authorization":{"env":"COPYLEAKS_TOKEN"},"x-client":{"value":"wg"}},"timeout_ms":2500"#,
        );
        let store = MemoryStore::default();
        let req = w.on_tick(&store, T0, 1).unwrap();
        assert_eq!(req.cluster, "copyleaks_api");
        assert_eq!(req.timeout, Duration::from_millis(2500));
        assert_eq!(
            req.headers,
            vec![
                (":method", "GET"),
                (":path", "/v2/security/client-certificates"),
                (":authority", "api.copyleaks.com"),
                ("accept", "application/json"),
                ("authorization", "Bearer t0p-s3cret"),
                ("x-client", "wg"),
            ]
        );
        let printed = format!("{req:?} {:?}", w.list);
        assert!(!printed.contains("t0p-s3cret") && !printed.contains("\"wg\""), "{printed}");
        assert!(printed.contains("authorization"), "{printed}");
        // A configured accept header replaces the default one.
        let w = worker(r#""headers":{"accept":{"value":"text/plain"}}"#);
        let req = w.on_tick(&MemoryStore::default(), T0, 1).unwrap();
        assert_eq!(req.headers.iter().filter(|(n, _)| *n == "accept").count(), 1);
        assert!(req.headers.contains(&("accept", "text/plain")));
    }

    #[test]
    fn shared_keys_depend_on_name_and_source_not_on_credentials() {
        let a = worker("");
        assert!(a.state_key.starts_with("webhook_guard:list:r.client_cert:"), "{}", a.state_key);
        assert!(a.state_key.ends_with(":state") && a.data_key.ends_with(":data"));
        let same = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
        assert_eq!(a.data_key, same.data_key);
        assert_ne!(a.list.request_digest, same.list.request_digest);
        let moved = worker(r#""pointer":"/certificates""#);
        assert_ne!(a.data_key, moved.data_key);
    }

    #[test]
    fn first_tick_fetches_and_success_is_shared_with_other_workers() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(matches!(b.current(&store, T0), ListState::Unavailable { .. }));
        let req = a.on_tick(&store, T0, 7).unwrap();
        assert_eq!(req.cluster, "copyleaks_api");
        a.on_dispatched(42);
        let outcome = a.on_response(&store, 42, 200, &body(), T0 + 300);
        assert_eq!(outcome, Outcome::Ok { entries: 2 });
        let mine = fresh(a.current(&store, T0 + 300));
        assert!(mine.contains(SHA1_CANON));
        assert!(mine.contains(SHA256));
        assert!(!mine.contains(SHA1), "entries are canonical");
        assert_eq!(a.entries(), 2);
        assert_eq!(a.age_seconds(T0 + 2_300), Some(2));
        // b has no list yet, so it looks again at once (not a second later).
        let theirs = fresh(b.current(&store, T0 + 500));
        assert_eq!(theirs.iter().collect::<Vec<_>>(), vec![SHA1_CANON, SHA256]);
        assert_eq!(theirs.generation(), mine.generation());
        assert_eq!(theirs.fetched_at_ms, T0 + 300);
        assert_eq!(b.entries(), 2);
        // Later reads reuse the decoded list (same allocation) until the generation changes.
        let again = fresh(b.current(&store, T0 + 5_000));
        assert!(Arc::ptr_eq(&theirs, &again));
        // Nobody fetches again before the refresh.
        assert!(a.on_tick(&store, T0 + 1_000, 1).is_none());
        assert!(b.on_tick(&store, T0 + 1_000, 2).is_none());
    }

    #[test]
    fn a_held_lease_keeps_other_workers_and_the_holder_from_fetching() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        for t in [T0, T0 + 1_000, T0 + LEASE - 1] {
            assert!(b.on_tick(&store, t, 2).is_none(), "{t}");
            assert!(a.on_tick(&store, t, 3).is_none(), "{t}");
        }
        let s = schedule(&a, &store);
        assert_ne!(s.lease, 0);
        assert_eq!(s.lease_until_ms, T0 + LEASE);
    }

    #[test]
    fn a_worker_whose_clock_reading_is_a_little_older_still_sees_the_lease() {
        // A tick reads the clock once for all its lists, and workers run in parallel: by
        // the time this worker reads a list's record, another may have taken the lease
        // with a later reading. That lease (and the schedule after its fetch) looks
        // longer than this configuration could set, but it is not the clock going back.
        for skew in [1, 45, 1_000, CLOCK_SKEW_MS] {
            let store = MemoryStore::default();
            let (a, b) = (worker(""), worker(""));
            assert!(a.on_tick(&store, T0 + skew, 1).is_some());
            a.on_dispatched(1);
            assert!(b.on_tick(&store, T0, 2).is_none(), "a live lease, {skew} ms ahead");
            assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + skew), Outcome::Ok { entries: 2 });
            // Whatever the jitter, the next refresh is not due for this worker either.
            let mut s = schedule(&a, &store);
            s.next_ms = T0 + skew + DAY_MS;
            store.set(&a.state_key, &s.encode(), None).unwrap();
            assert!(b.on_tick(&store, T0, 3).is_none(), "a schedule {skew} ms past a day");
        }
    }

    #[test]
    fn an_expired_lease_lets_another_worker_take_over() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // a's VM died mid-flight: it never answers, never ticks again.
        assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
        b.on_dispatched(9);
        assert_eq!(b.on_response(&store, 9, 200, &body(), T0 + LEASE + 50), Outcome::Ok { entries: 2 });
        assert_eq!(fresh(a.current(&store, T0 + LEASE + 100)).len(), 2);
    }

    #[test]
    fn a_lost_callback_counts_as_a_failure_and_releases_the_lease() {
        let store = MemoryStore::default();
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // Past the deadline, the holder gives up: no fetch on that tick, a failure recorded.
        assert!(a.on_tick(&store, T0 + LEASE, 2).is_none());
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        assert!(s.next_ms >= T0 + LEASE + 45_000 && s.next_ms <= T0 + LEASE + 60_000, "{}", s.next_ms - T0);
        // The late answer, if it ever comes, changes nothing.
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + LEASE + 1), Outcome::Ignored);
        assert!(matches!(a.current(&store, T0 + LEASE + 2_000), ListState::Unavailable { .. }));
    }

    #[test]
    fn failures_keep_the_last_good_list() {
        let store = MemoryStore::default();
        let (a, b) = (worker(r#""refresh_seconds":60"#), worker(r#""refresh_seconds":60"#));
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let good = fresh(b.current(&store, T0 + 1_000));
        let answers: Vec<(u32, Vec<u8>, FetchError)> = vec![
            (500, b"oops".to_vec(), FetchError::HttpStatus(500)),
            (401, br#"{"error":"unauthorized"}"#.to_vec(), FetchError::HttpStatus(401)),
            (0, Vec::new(), FetchError::NoResponse),
            (200, b"<html>maintenance</html>".to_vec(), FetchError::Malformed(ParseError::NotJson)),
            (200, b"[]".to_vec(), FetchError::Malformed(ParseError::Empty)),
            (200, br#"{"certificates":[]}"#.to_vec(), FetchError::Malformed(ParseError::Empty)),
            (
                200,
                format!(r#"["{SHA1}","zz"]"#).into_bytes(),
                FetchError::Malformed(ParseError::InvalidEntry { index: 1 }),
            ),
            (204, Vec::new(), FetchError::Malformed(ParseError::NotJson)),
            (302, Vec::new(), FetchError::HttpStatus(302)),
        ];
        let mut now = schedule(&a, &store).next_ms;
        for (i, (status, answer, want)) in answers.into_iter().enumerate() {
            let token = 100 + i as u32;
            let outcome = fetch(&a, &store, now, token, status, &answer);
            assert_eq!(outcome, Outcome::Failed { reason: want }, "{status}");
            let still = fresh(b.current(&store, now + 2_000));
            assert!(Arc::ptr_eq(&still, &good), "{status}: the list is the one fetched first");
            assert!(fresh(a.current(&store, now + 2_000)).contains(SHA1_CANON));
            now = schedule(&a, &store).next_ms;
        }
        // A worker that starts later still finds the last good list.
        assert_eq!(fresh(worker(r#""refresh_seconds":60"#).current(&store, now)).generation(), good.generation());
    }

    #[test]
    fn failure_reasons_are_metric_safe_and_401_points_at_the_credentials() {
        assert!(FetchError::HttpStatus(401).to_string().contains("remote_list.headers"));
        assert!(FetchError::HttpStatus(403).to_string().contains("credentials"));
        assert_eq!(FetchError::HttpStatus(503).to_string(), "HTTP 503");
        for e in [
            FetchError::DispatchFailed,
            FetchError::NoResponse,
            FetchError::HttpStatus(500),
            FetchError::Malformed(ParseError::NotJson),
            FetchError::StoreWrite,
        ] {
            assert!(!e.to_string().is_empty(), "{e:?}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let l = list("");
        for seed in 0..2_000u64 {
            let seed = mix(seed);
            let d1 = l.backoff_ms(1, seed);
            assert!((45_000..=60_000).contains(&d1), "{d1}");
            let d2 = l.backoff_ms(2, seed);
            assert!((90_000..=120_000).contains(&d2), "{d2}");
            let d5 = l.backoff_ms(5, seed);
            assert!((720_000..=960_000).contains(&d5), "{d5}");
            // 60 s * 2^6 = 64 min: capped at an hour even with a daily refresh.
            for n in [7, 20, 33, 1_000, u32::MAX] {
                let d = l.backoff_ms(n, seed);
                assert!((2_700_000..=3_600_000).contains(&d), "{n}: {d}");
            }
            let r = l.refresh_delay_ms(seed);
            assert!((DAY_MS * 9 / 10..=DAY_MS).contains(&r), "{r}");
        }
        // Capped at the refresh interval when that is shorter than an hour.
        let short = list(r#""refresh_seconds":300,"retry_seconds":60"#);
        assert!((225_000..=300_000).contains(&short.backoff_ms(10, 3)));
        // Jitter actually varies.
        let spread: std::collections::HashSet<u64> = (0..50).map(|s| l.backoff_ms(1, mix(s))).collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn backoff_holds_across_workers_and_grows_with_each_failure() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert_eq!(fetch(&a, &store, T0, 1, 503, b""), Outcome::Failed { reason: FetchError::HttpStatus(503) });
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        let wait1 = s.next_ms - (T0 + 100);
        assert!((45_000..=60_000).contains(&wait1), "{wait1}");
        // Neither worker retries before the backoff is over.
        assert!(b.on_tick(&store, s.next_ms - 1, 2).is_none());
        assert!(a.on_tick(&store, s.next_ms - 1, 3).is_none());
        // Then one of them does, and a second failure doubles the wait.
        let t1 = s.next_ms;
        assert_eq!(fetch(&b, &store, t1, 4, 0, b""), Outcome::Failed { reason: FetchError::NoResponse });
        let s2 = schedule(&b, &store);
        assert_eq!(s2.failures, 2);
        let wait2 = s2.next_ms - (t1 + 100);
        assert!((90_000..=120_000).contains(&wait2), "{wait2}");
        // A success resets the count.
        assert_eq!(fetch(&a, &store, s2.next_ms, 5, 200, &body()), Outcome::Ok { entries: 2 });
        assert_eq!(schedule(&a, &store).failures, 0);
    }

    #[test]
    fn refresh_happens_after_refresh_seconds_with_jitter() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let fetched = T0 + 100;
        assert!(b.on_tick(&store, fetched + DAY_MS * 9 / 10 - 1, 2).is_none());
        let next = schedule(&a, &store).next_ms;
        assert!((fetched + DAY_MS * 9 / 10..=fetched + DAY_MS).contains(&next));
        // Whichever worker ticks first after that refreshes; the new list replaces the old.
        let newer = format!(r#"{{"certificates":[{{"thumbprint":"{SHA256}"}}]}}"#);
        assert_eq!(fetch(&b, &store, fetched + DAY_MS, 2, 200, newer.as_bytes()), Outcome::Ok { entries: 1 });
        let seen = fresh(a.current(&store, fetched + DAY_MS + 1_000));
        assert_eq!(seen.iter().collect::<Vec<_>>(), vec![SHA256]);
        assert!(!seen.contains(SHA1_CANON), "a thumbprint removed upstream is no longer trusted");
    }

    #[test]
    fn a_list_older_than_max_stale_fails_closed() {
        let store = MemoryStore::default();
        let a = worker(r#""refresh_seconds":60,"max_stale_seconds":120"#);
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let fetched = T0 + 100;
        assert!(matches!(a.current(&store, fetched + 120_000), ListState::Fresh(_)));
        match a.current(&store, fetched + 120_001) {
            ListState::Stale { age_seconds } => assert_eq!(age_seconds, 120),
            other => panic!("{other:?}"),
        }
        // A good fetch makes it usable again.
        assert_eq!(fetch(&a, &store, fetched + 130_000, 2, 200, &body()), Outcome::Ok { entries: 2 });
        assert!(matches!(a.current(&store, fetched + 130_200), ListState::Fresh(_)));
    }

    #[test]
    fn a_worker_looks_for_a_refresh_before_calling_its_copy_stale() {
        // max_stale_seconds equal to refresh_seconds: the refresh lands just before the
        // list would go stale, and another worker read shared data less than a second ago.
        let store = MemoryStore::default();
        let extra = r#""refresh_seconds":10,"max_stale_seconds":10"#;
        let (a, b) = (worker(extra), worker(extra));
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let first = fresh(b.current(&store, T0 + 9_500)).generation();
        a.on_tick(&store, T0 + 9_800, 2).expect("the refresh is due");
        a.on_dispatched(2);
        assert_eq!(a.on_response(&store, 2, 200, &body(), T0 + 9_900), Outcome::Ok { entries: 2 });
        // 10.15 s after the first fetch, 0.65 s after b's last read: b's copy is stale, the
        // shared list is not.
        let now = fresh(b.current(&store, T0 + 10_150));
        assert_ne!(now.generation(), first);
        assert_eq!(now.fetched_at_ms, T0 + 9_900);
    }

    #[test]
    fn unavailable_before_the_first_success_with_a_sensible_retry_after() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        let retry = |w: &Refresher, now| match w.current(&store, now) {
            ListState::Unavailable { retry_after_seconds } => retry_after_seconds,
            other => panic!("{other:?}"),
        };
        // Nothing started yet: a fetch starts within a tick and takes at most the timeout.
        assert_eq!(retry(&b, T0), 6);
        // In flight: until the lease ends.
        assert!(a.on_tick(&store, T0 + 1_000, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(retry(&b, T0 + 2_000), 9);
        // Failed: until the retry, plus the timeout.
        assert!(matches!(a.on_response(&store, 1, 500, b"", T0 + 2_000), Outcome::Failed { .. }));
        let next = schedule(&a, &store).next_ms;
        let want = (next - (T0 + 3_000) + DEFAULT_TIMEOUT_MS).div_ceil(1000);
        assert_eq!(retry(&b, T0 + 3_000), want);
        assert!((50..=65).contains(&want), "{want}");
        // Capped: a sender is never told to go away for hours.
        let long = worker(r#""retry_seconds":3600"#);
        let s2 = MemoryStore::default();
        assert_eq!(fetch(&long, &s2, T0, 3, 500, b""), Outcome::Failed { reason: FetchError::HttpStatus(500) });
        match long.current(&s2, T0 + 2_000) {
            ListState::Unavailable { retry_after_seconds } => assert_eq!(retry_after_seconds, MAX_RETRY_AFTER_SECONDS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_to_unknown_tokens_are_ignored() {
        let store = MemoryStore::default();
        let a = worker("");
        // Nothing in flight at all.
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
        assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Ignored);
        assert!(a.on_tick(&store, T0, 1).is_some());
        // Dispatched but not yet told the token: no answer can be ours.
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
        a.on_dispatched(5);
        a.on_dispatched(6); // a second token does not replace the first
        assert_eq!(a.on_response(&store, 6, 200, &body(), T0 + 1), Outcome::Ignored);
        assert_eq!(a.on_response(&store, 4, 500, b"", T0 + 1), Outcome::Ignored);
        assert!(matches!(a.current(&store, T0 + 1), ListState::Unavailable { .. }));
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0 + 2), Outcome::Ok { entries: 2 });
        // Answered once: a duplicate delivery is ignored.
        assert_eq!(a.on_response(&store, 5, 500, b"", T0 + 3), Outcome::Ignored);
        assert_eq!(schedule(&a, &store).failures, 0);
    }

    #[test]
    fn an_undispatchable_callout_backs_off_like_any_failure() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Failed { reason: FetchError::DispatchFailed });
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        assert!(b.on_tick(&store, T0 + 1_000, 2).is_none(), "the lease is released but the backoff holds");
        assert!(b.on_tick(&store, s.next_ms, 3).is_some());
    }

    #[test]
    fn changed_credentials_are_tried_without_waiting_out_the_old_backoff() {
        let store = MemoryStore::default();
        let old = worker(r#""headers":{"authorization":{"env":"OTHER_TOKEN"}}"#);
        let mut now = T0;
        for token in 1..=8 {
            let outcome = fetch(&old, &store, now, token, 401, b"");
            assert_eq!(outcome, Outcome::Failed { reason: FetchError::HttpStatus(401) });
            now = schedule(&old, &store).next_ms;
        }
        let s = schedule(&old, &store);
        assert!(s.next_ms - s.last_attempt_ms > 1_800_000, "deep in backoff");
        // The operator fixes the token: the new configuration retries after retry_seconds.
        let fixed = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
        assert_eq!(fixed.data_key, old.data_key);
        assert!(fixed.on_tick(&store, s.last_attempt_ms + 59_999, 1).is_none());
        assert!(fixed.on_tick(&store, s.last_attempt_ms + 60_000, 2).is_some());
        fixed.on_dispatched(2);
        assert_eq!(fixed.on_response(&store, 2, 200, &body(), s.last_attempt_ms + 60_100), Outcome::Ok { entries: 2 });
        // The old configuration (a VM still draining) may fetch again, but not at tick rate.
        let after = schedule(&fixed, &store);
        assert!(old.on_tick(&store, after.last_attempt_ms + 1_000, 3).is_none());
    }

    #[test]
    fn a_different_source_does_not_see_the_old_sources_list() {
        let store = MemoryStore::default();
        let a = worker("");
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let moved = worker(r#""pointer":"/certificates""#);
        assert!(matches!(moved.current(&store, T0 + 1_000), ListState::Unavailable { .. }));
        assert!(moved.on_tick(&store, T0 + 1_000, 2).is_some(), "its own schedule: fetch at once");
    }

    #[test]
    fn the_clock_going_back_does_not_stall_refreshes() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // The wall clock jumps back an hour: the lease now looks an hour long.
        let back = T0 - 3_600_000;
        assert!(b.on_tick(&store, back, 2).is_some(), "a lease further ahead than possible is void");
        // The same for the holder's own attempt and for a far-future schedule.
        assert!(a.on_tick(&store, back, 3).is_none());
        assert!(a.local().unwrap().attempt.is_none());
        b.on_dispatched(2);
        assert_eq!(b.on_response(&store, 2, 200, &body(), back + 100), Outcome::Ok { entries: 2 });
        let c = worker("");
        assert!(c.on_tick(&store, back - 2 * DAY_MS, 4).is_some());
    }

    #[test]
    fn creating_the_state_key_is_checked_after_the_write() {
        // Another worker creates the key between this worker's read and its write
        // (creation is not protected by CAS), and its write lands last.
        struct Racing {
            inner: MemoryStore,
            raced: std::cell::Cell<bool>,
        }
        impl SharedStore for Racing {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.inner.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                self.inner.set(key, value, cas)?;
                if !self.raced.replace(true) {
                    let other =
                        Schedule { v: FORMAT_VERSION, lease: 99, lease_until_ms: T0 + LEASE, ..Default::default() };
                    self.inner.set(key, &other.encode(), None)?;
                }
                Ok(())
            }
        }
        let store = Racing { inner: MemoryStore::default(), raced: std::cell::Cell::new(false) };
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_none());
        assert!(a.local().unwrap().attempt.is_none());
        // Once the key exists, acquisition is a plain CAS.
        let b = worker("");
        assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
    }

    #[test]
    fn a_cas_conflict_means_another_worker_won() {
        struct Conflicting(MemoryStore);
        impl SharedStore for Conflicting {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                if cas.is_some() {
                    return Err(Conflict);
                }
                self.0.set(key, value, cas)
            }
        }
        let store = Conflicting(MemoryStore::default());
        let a = worker("");
        store.0.set(&a.state_key, &Schedule { v: FORMAT_VERSION, ..Default::default() }.encode(), None).unwrap();
        assert!(a.on_tick(&store, T0, 1).is_none());
    }

    #[test]
    fn unreadable_shared_records_are_survived() {
        let store = MemoryStore::default();
        let a = worker("");
        store.set(&a.state_key, b"\xff garbage", None).unwrap();
        let truncated = DataRecord { v: FORMAT_VERSION, generation: 5, fetched_at_ms: 0, entries: vec!["x".into()] };
        let truncated = truncated.encode().unwrap();
        store.set(&a.data_key, &truncated[..truncated.len() - 1], None).unwrap();
        assert!(matches!(a.current(&store, T0), ListState::Unavailable { .. }));
        // The unreadable state is replaced, with CAS.
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 10), Outcome::Ok { entries: 2 });
        // A good list is not dropped when the data record turns unreadable.
        let b = worker("");
        assert_eq!(fresh(b.current(&store, T0 + 20)).len(), 2);
        store.set(&a.data_key, b"not json", None).unwrap();
        let mut s = schedule(&a, &store);
        s.generation = 12345;
        store.set(&a.state_key, &s.encode(), None).unwrap();
        assert_eq!(fresh(b.current(&store, T0 + 2_000)).len(), 2);
        // A record from another format version is ignored.
        let other = DataRecord { v: FORMAT_VERSION + 1, generation: 7, fetched_at_ms: 0, entries: vec!["x".into()] };
        store.set(&a.data_key, &other.encode().unwrap(), None).unwrap();
        let c = worker("");
        assert!(matches!(c.current(&store, T0 + 3_000), ListState::Unavailable { .. }));
    }

    #[test]
    fn a_store_that_refuses_the_list_is_a_failure() {
        struct Full(MemoryStore);
        impl SharedStore for Full {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                if key.ends_with(":data") {
                    return Err(Conflict);
                }
                self.0.set(key, value, cas)
            }
        }
        let store = Full(MemoryStore::default());
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 1), Outcome::Failed { reason: FetchError::StoreWrite });
        assert_eq!(a.entries(), 0);
        assert_eq!(a.read_state(&store).0.unwrap().failures, 1);
    }

    #[test]
    fn duplicates_collapse_and_shared_data_stays_bounded() {
        let store = MemoryStore::default();
        let a = worker("");
        let lower = SHA1_CANON.to_string();
        let doc = format!(r#"["{SHA1}","{lower}","{}"]"#, lower.to_ascii_uppercase());
        assert_eq!(fetch(&a, &store, T0, 1, 200, doc.as_bytes()), Outcome::Ok { entries: 1 });
        // The largest list there can be: MAX_ENTRIES SHA-256 thumbprints with colons.
        let big: Vec<String> = (0..MAX_ENTRIES)
            .map(|i| {
                let hex = format!("{:016x}{:048x}", mix(i as u64), i);
                hex.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":")
            })
            .collect();
        let doc = format!("[\"{}\"]", big.join("\",\"")).into_bytes();
        assert!(doc.len() <= MAX_BODY_BYTES, "{}", doc.len());
        let w = worker(r#""refresh_seconds":10"#);
        let s2 = MemoryStore::default();
        assert_eq!(fetch(&w, &s2, T0, 1, 200, &doc), Outcome::Ok { entries: MAX_ENTRIES });
        assert_eq!(s2.len(), 2, "one state and one data key per list");
        assert!(s2.bytes() < 720 * 1024, "{}", s2.bytes());
    }

    // ---- login ---------------------------------------------------------------------

    const HOUR_MS: u64 = 3_600_000;

    fn login_worker(extra: &str) -> Refresher {
        let all = if extra.is_empty() { LOGIN.to_string() } else { format!("{LOGIN},{extra}") };
        Refresher::new(list(&all), THUMBPRINTS)
    }

    fn answer(token: &str, expires_in_seconds: u64) -> Vec<u8> {
        format!(r#"{{"access_token":"{token}","expires_in":{expires_in_seconds}}}"#).into_bytes()
    }

    fn authorization(req: &FetchRequest<'_>) -> Option<String> {
        req.all_headers().iter().find(|(n, _)| *n == "authorization").map(|(_, v)| v.to_string())
    }

    fn is_login(req: &FetchRequest<'_>) -> bool {
        req.cluster == "copyleaks_id"
    }

    /// Tick; expect a login; answer it with `status`/`body` 100 ms later.
    fn login(w: &Refresher, store: &MemoryStore, now: u64, token: u32, status: u32, body: &[u8]) -> Outcome {
        let req = w.on_tick(store, now, u64::from(token)).unwrap_or_else(|| panic!("expected a login at {now}"));
        assert!(is_login(&req), "{req:?}");
        w.on_dispatched(token.into());
        w.on_response(store, token.into(), status, body, now + 100)
    }

    fn login_record(w: &Refresher, store: &MemoryStore) -> LoginRecord {
        w.read_login(store).0.unwrap()
    }

    #[test]
    fn without_a_token_the_filter_logs_in_first_then_fetches_with_it() {
        let store = MemoryStore::default();
        let (a, b) = (login_worker(""), login_worker(""));
        a.prepare(&store);
        b.prepare(&store);
        assert_eq!(a.token_remaining_seconds(T0), Some(0));
        assert_eq!(worker("").token_remaining_seconds(T0), None, "no gauge without login");
        let req = a.on_tick(&store, T0, 1).expect("a login");
        assert_eq!(req.cluster, "copyleaks_id");
        assert_eq!(
            req.all_headers(),
            vec![
                (":method", "POST"),
                (":path", "/v3/account/login/api"),
                (":authority", "id.copyleaks.com"),
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ]
        );
        assert_eq!(req.body, Some(&br#"{"email":"ops@example.com","key":"7e1d0c52-k3y-s3cret"}"#[..]));
        let printed = format!("{req:?} {a:?}");
        assert!(!printed.contains("s3cret") && !printed.contains("ops@example.com"), "{printed}");
        // One worker logs in at a time: the other neither logs in nor fetches meanwhile.
        assert!(b.on_tick(&store, T0 + 50, 2).is_none());
        a.on_dispatched(1);
        let copyleaks = br#"{"access_token":"ACLNSK-t0ken-1","issued":"x",".issued":"2023-11-14T22:13:20Z",".expires":"2023-11-17T00:13:20.2431255+02:00"}"#;
        assert_eq!(
            a.on_response(&store, 1, 200, copyleaks, T0 + 100),
            Outcome::LoginOk { expires_in_seconds: 172_799 }
        );
        assert_eq!(a.token_remaining_seconds(T0 + 100), Some(172_799));
        // The fetch that was due goes out with the token (the filter ticks at once).
        let req = a.on_tick(&store, T0 + 100, 3).expect("the fetch");
        assert_eq!(req.cluster, "copyleaks_api");
        assert_eq!(authorization(&req).as_deref(), Some("Bearer ACLNSK-t0ken-1"));
        assert!(!format!("{req:?}").contains("t0ken"), "{req:?}");
        assert!(b.on_tick(&store, T0 + 150, 4).is_none(), "the fetch holds the lease");
        a.on_dispatched(3);
        assert_eq!(a.on_response(&store, 3, 200, &body(), T0 + 200), Outcome::Ok { entries: 2 });
        assert_eq!(fresh(b.current(&store, T0 + 300)).len(), 2);
        assert_eq!(login_record(&a, &store).logins, vec![T0]);
    }

    #[test]
    fn a_fresh_token_is_used_by_every_worker_without_logging_in() {
        let store = MemoryStore::default();
        let (a, b) = (login_worker(""), login_worker(""));
        assert_eq!(
            login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)),
            Outcome::LoginOk { expires_in_seconds: 172_800 }
        );
        assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
        // A day later the other worker refreshes with the same token: no login.
        let next = schedule(&a, &store).next_ms;
        let req = b.on_tick(&store, next, 3).expect("the refresh");
        assert!(!is_login(&req));
        assert_eq!(authorization(&req).as_deref(), Some("Bearer t0ken-1"));
        assert_eq!(b.token_remaining_seconds(next), Some((T0 + 100 + 48 * HOUR_MS - next) / 1000));
        b.on_dispatched(3);
        assert_eq!(b.on_response(&store, 3, 200, &body(), next + 100), Outcome::Ok { entries: 2 });
        assert_eq!(login_record(&a, &store).logins.len(), 1);
        // Nothing more to do until the next refresh or the token's renewal.
        assert!(a.on_tick(&store, next + 1_000, 4).is_none());
    }

    #[test]
    fn a_token_near_its_expiry_is_renewed_before_it_expires() {
        let store = MemoryStore::default();
        let a = login_worker(r#""refresh_seconds":604800"#);
        assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
        assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
        let logged_in = T0 + 100;
        let expires = logged_in + 48 * HOUR_MS;
        // Renewal starts an hour (at most a quarter of the lifetime) before the expiry,
        // even though no fetch is due for days.
        assert_eq!(login_record(&a, &store).renew_ms, expires - HOUR_MS);
        assert!(a.on_tick(&store, expires - HOUR_MS - 1, 3).is_none());
        assert!(matches!(
            login(&a, &store, expires - HOUR_MS, 4, 200, &answer("t0ken-2", 48 * 3600)),
            Outcome::LoginOk { .. }
        ));
        assert!(a.on_tick(&store, expires - HOUR_MS + 200, 5).is_none(), "no fetch is due");
        let r = login_record(&a, &store);
        assert_eq!(r.token, b"t0ken-2");
        assert_eq!(r.expires_ms, expires - HOUR_MS + 100 + 48 * HOUR_MS);
        // A short-lived token is renewed with a quarter of its life left.
        let s2 = MemoryStore::default();
        let short = login_worker(r#""refresh_seconds":10"#);
        assert!(matches!(
            login(&short, &s2, T0, 1, 200, &answer("t", 20)),
            Outcome::LoginOk { expires_in_seconds: 20 }
        ));
        assert_eq!(login_record(&short, &s2).renew_ms, T0 + 100 + 15_000);
        // While a renewal cannot happen (backoff), a token that has not expired is still used.
        let mut r = login_record(&short, &s2);
        r.failures = 3;
        r.next_ms = T0 + 60_000;
        r.credentials = short.list.login.as_ref().unwrap().credentials_digest;
        s2.set(&short.login_key, &r.encode().unwrap(), None).unwrap();
        let req = short.on_tick(&s2, T0 + 16_000, 2).expect("a fetch with the old token");
        assert_eq!(authorization(&req).as_deref(), Some("Bearer t"));
    }

    #[test]
    fn a_403_to_a_logged_in_token_names_the_account_and_keeps_the_token() {
        let store = MemoryStore::default();
        let a = login_worker(r#""refresh_seconds":60"#);
        assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
        assert_eq!(fetch(&a, &store, T0 + 100, 2, 403, b""), Outcome::Failed { reason: FetchError::TokenForbidden });
        let why = FetchError::TokenForbidden.to_string();
        assert!(why.starts_with("HTTP 403") && why.contains("remote_list.login"), "{why}");
        assert!(!why.contains("remote_list.headers"));
        // Not a revoked token: it is kept, and the fetch backs off like any failure.
        assert_eq!(login_record(&a, &store).token, b"t0ken-1");
        assert_eq!(schedule(&a, &store).failures, 1);
    }

    #[test]
    fn a_401_drops_the_token_logs_in_once_more_then_backs_off() {
        let store = MemoryStore::default();
        let (a, b) = (login_worker(r#""refresh_seconds":60"#), login_worker(r#""refresh_seconds":60"#));
        assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
        assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
        let good = fresh(b.current(&store, T0 + 1_000));
        // The API revokes the token long before its expiry.
        let t1 = schedule(&a, &store).next_ms;
        assert_eq!(fetch(&b, &store, t1, 3, 401, b""), Outcome::Failed { reason: FetchError::TokenRefused });
        assert!(FetchError::TokenRefused.to_string().starts_with("HTTP 401"));
        assert_eq!(login_record(&a, &store).token_id, 0, "the token is dropped");
        assert_eq!(b.token_remaining_seconds(t1 + 100), Some(0));
        // Logged in again at once, then fetched with the new token.
        assert!(matches!(login(&a, &store, t1 + 100, 4, 200, &answer("t0ken-2", 48 * 3600)), Outcome::LoginOk { .. }));
        let req = a.on_tick(&store, t1 + 200, 5).expect("the fetch again");
        assert_eq!(authorization(&req).as_deref(), Some("Bearer t0ken-2"));
        a.on_dispatched(5);
        // Refused again: now it backs off like any failure, and the list is kept.
        assert_eq!(a.on_response(&store, 5, 401, b"", t1 + 300), Outcome::Failed { reason: FetchError::TokenRefused });
        let s = schedule(&a, &store);
        assert_eq!(s.failures, 2);
        // retry_seconds doubled, capped at refresh_seconds (60 s), minus jitter.
        assert!(s.next_ms >= t1 + 300 + 45_000, "{}", s.next_ms - t1);
        for t in [t1 + 1_000, s.next_ms - 1] {
            assert!(a.on_tick(&store, t, 6).is_none(), "no login storm at {t}");
            assert!(b.on_tick(&store, t, 7).is_none());
        }
        assert!(Arc::ptr_eq(&fresh(b.current(&store, t1 + 2_000)), &good));
        // After the backoff: log in, then fetch.
        assert!(matches!(login(&b, &store, s.next_ms, 8, 200, &answer("t0ken-3", 48 * 3600)), Outcome::LoginOk { .. }));
        assert_eq!(fetch(&b, &store, s.next_ms + 100, 9, 200, &body()), Outcome::Ok { entries: 2 });
        assert_eq!(login_record(&a, &store).logins.len(), 3);
    }

    #[test]
    fn a_401_to_an_old_token_does_not_drop_a_newer_one() {
        let store = MemoryStore::default();
        let (a, b) = (login_worker(""), login_worker(""));
        assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
        let old = login_record(&a, &store).token_id;
        let mut r = login_record(&a, &store);
        r.token_id = old + 1;
        r.token = b"t0ken-2".to_vec();
        store.set(&a.login_key, &r.encode().unwrap(), None).unwrap();
        b.drop_token(&store, old);
        assert_eq!(login_record(&a, &store).token, b"t0ken-2");
    }

    #[test]
    fn failed_logins_are_reported_without_the_answer_and_back_off() {
        let store = MemoryStore::default();
        let a = login_worker("");
        let cases: Vec<(u32, Vec<u8>, LoginError)> = vec![
            (401, br#"{"error":"s3cret-echo"}"#.to_vec(), LoginError::HttpStatus(401)),
            (429, Vec::new(), LoginError::HttpStatus(429)),
            (503, Vec::new(), LoginError::HttpStatus(503)),
            (0, Vec::new(), LoginError::NoResponse),
            (200, b"<html>s3cret</html>".to_vec(), LoginError::Malformed("not one JSON object")),
            (200, br#"{"expires_in":3600}"#.to_vec(), LoginError::Malformed("no access_token")),
            (200, br#"{"access_token":"","expires_in":3600}"#.to_vec(), LoginError::Malformed("no access_token")),
            (
                200,
                br#"{"access_token":"a b","expires_in":3600}"#.to_vec(),
                LoginError::Malformed("access_token is not a usable header value"),
            ),
            (
                200,
                br#"{"access_token":"t","access_token":"u","expires_in":3600}"#.to_vec(),
                LoginError::Malformed("not one JSON object"),
            ),
            (200, br#"{"access_token":"t"}"#.to_vec(), LoginError::Malformed("no .expires or expires_in")),
            (
                200,
                br#"{"access_token":"t",".expires":"soon"}"#.to_vec(),
                LoginError::Malformed(".expires is not an RFC 3339 time"),
            ),
            (
                200,
                br#"{"access_token":"t",".expires":"2020-01-01T00:00:00Z"}"#.to_vec(),
                LoginError::Malformed("the token's expiry is in the past"),
            ),
            (
                200,
                br#"{"access_token":"t","expires_in":0}"#.to_vec(),
                LoginError::Malformed("the token's expiry is in the past"),
            ),
        ];
        let mut now = T0;
        for (i, (status, answer, want)) in cases.into_iter().enumerate() {
            let outcome = login(&a, &store, now, 10 + i as u32, status, &answer);
            assert_eq!(outcome, Outcome::LoginFailed { reason: want.clone() }, "{status}");
            let text = want.to_string();
            assert!(!text.contains("s3cret") && !text.contains("t0ken"), "{text}");
            let r = login_record(&a, &store);
            assert_eq!((r.token_id, r.failures), (0, i as u32 + 1));
            assert_eq!(schedule(&a, &store).lease, 0, "the lease is released");
            assert!(a.on_tick(&store, now + 200, 99).is_none(), "backing off");
            // Jump past both the backoff and the rate window: the next case logs in.
            now = r.next_ms.max(now + LOGIN_WINDOW_MS);
        }
        assert!(LoginError::HttpStatus(401).to_string().contains("remote_list.login.body"));
        assert!(LoginError::HttpStatus(429).to_string().contains("12 logins per 15 minutes"));
        // Nothing was ever fetched.
        assert!(matches!(a.current(&store, now), ListState::Unavailable { .. }));
        // A login that could not be dispatched counts as a failure too.
        let req = a.on_tick(&store, now, 1).unwrap();
        assert!(is_login(&req));
        assert_eq!(a.on_dispatch_failed(&store, now), Outcome::LoginFailed { reason: LoginError::DispatchFailed });
        // A login that is never answered too.
        let failures = login_record(&a, &store).failures;
        let now = login_record(&a, &store).next_ms.max(now + LOGIN_WINDOW_MS);
        assert!(a.on_tick(&store, now, 2).is_some());
        a.on_dispatched(2);
        assert!(a.on_tick(&store, now + LEASE, 3).is_none());
        assert_eq!(login_record(&a, &store).failures, failures + 1);
    }

    #[test]
    fn failing_logins_never_exceed_the_rate_window_whatever_the_worker_count() {
        // Four workers tick every second for three hours; every login is refused. The
        // backoff starts at retry_seconds (1 s) and is capped by refresh_seconds (10 s),
        // so the shared rate window is what holds logins to 12 per 15 minutes.
        for (status, body) in [(401, &b""[..]), (200, &b"{}"[..])] {
            let store = MemoryStore::default();
            let extra = r#""refresh_seconds":10,"retry_seconds":1,"timeout_ms":500"#;
            let workers: Vec<Refresher> = (0..4).map(|_| login_worker(extra)).collect();
            for w in &workers {
                w.prepare(&store);
            }
            let mut logins: Vec<u64> = Vec::new();
            let mut token = 0u32;
            let end = T0 + 3 * HOUR_MS;
            let mut now = T0;
            while now < end {
                for (i, w) in workers.iter().enumerate() {
                    let t = now + i as u64 * 7;
                    if let Some(req) = w.on_tick(&store, t, u64::from(token) ^ (i as u64) << 40) {
                        assert!(is_login(&req), "the list is never fetched without a token");
                        token += 1;
                        w.on_dispatched(token.into());
                        logins.push(t);
                        let outcome = w.on_response(&store, token.into(), status, body, t + 50);
                        assert!(matches!(outcome, Outcome::LoginFailed { .. }), "{outcome:?}");
                    }
                }
                now += 1_000;
            }
            for (i, &start) in logins.iter().enumerate() {
                let inside = logins[i..].iter().take_while(|&&t| t < start + LOGIN_WINDOW_MS).count();
                assert!(inside <= LOGINS_PER_WINDOW, "{inside} logins in 15 minutes from {}", start - T0);
            }
            // The window is used (12 per 15 minutes, 144 in three hours), not starved.
            assert!((130..=144).contains(&logins.len()), "{}", logins.len());
            // The first logins back off with growing gaps (1 s, 2 s, 4 s, 8 s, then the cap).
            let gaps: Vec<u64> = logins.windows(2).take(4).map(|w| w[1] - w[0]).collect();
            assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
            assert!(gaps[0] >= 1_000, "{gaps:?}");
        }
    }

    #[test]
    fn the_rate_window_counts_successful_logins_too() {
        // Tokens that live 10 s are renewed every 7.5 s or so; after 12 logins in 15
        // minutes the next waits for the window, and fetches use the token while it lasts.
        let store = MemoryStore::default();
        let a = login_worker(r#""refresh_seconds":10,"retry_seconds":1"#);
        let mut logins = Vec::new();
        let mut now = T0;
        let mut token = 0;
        while now < T0 + LOGIN_WINDOW_MS {
            if let Some(req) = a.on_tick(&store, now, now) {
                token += 1;
                a.on_dispatched(token);
                if is_login(&req) {
                    logins.push(now);
                    a.on_response(&store, token, 200, &answer("t", 10), now + 50);
                } else {
                    a.on_response(&store, token, 200, &body(), now + 50);
                }
            }
            now += 1_000;
        }
        assert_eq!(logins.len(), LOGINS_PER_WINDOW, "{logins:?}");
    }

    #[test]
    fn other_credentials_do_not_use_the_token_or_wait_out_the_backoff() {
        let store = MemoryStore::default();
        let old = login_worker("");
        assert!(matches!(login(&old, &store, T0, 1, 200, &answer("t0ken-old", 48 * 3600)), Outcome::LoginOk { .. }));
        let fixed = Refresher::new(list(&LOGIN.replace("COPYLEAKS_API_KEY", "OTHER_KEY")), THUMBPRINTS);
        assert_eq!(fixed.login_key, old.login_key, "one login record per endpoint");
        // Another configuration of the list wrote last: it may try once per retry_seconds.
        assert!(fixed.on_tick(&store, T0 + 59_000, 2).is_none());
        let t = T0 + 60_000;
        let req = fixed.on_tick(&store, t, 2).expect("its own login, not the old token");
        assert!(is_login(&req));
        fixed.on_dispatched(2);
        assert_eq!(
            fixed.on_response(&store, 2, 401, b"", t + 100),
            Outcome::LoginFailed { reason: LoginError::HttpStatus(401) }
        );
        // Its failure is its own: the old token is gone, and the old configuration logs
        // in again without waiting out the other one's login backoff.
        let r = login_record(&old, &store);
        assert_eq!((r.token_id, r.failures), (0, 1));
        assert!(old.on_tick(&store, t + 60_000, 3).is_some_and(|r| is_login(&r)));
    }
}
