//! The refresh state machine of one list in one worker VM, keyed by callout token, and
//! what the request path sees of the list. Workers coordinate through shared data only.
//! A list with `login` asks [`super::login`] for its token before each fetch.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::callout::FetchRequest;
use super::config::RemoteList;
use super::login::{self, LoginError, Session};
use super::parse::{parse_list, EntryKind, ParseError, MAX_ENTRIES};
use super::record::{DataRecord, Schedule, FORMAT_VERSION};
use super::timing::{mix, plausible, CLOCK_SKEW_MS};
use crate::shared::{SharedStore, CAS_ATTEMPTS};

/// The request path re-reads the shared state at most this often.
const SYNC_INTERVAL_MS: u64 = 1_000;
/// Retry-After is advice to the sender; a sender told to wait hours may give up.
const MAX_RETRY_AFTER_SECONDS: u64 = 600;
const KEY_PREFIX: &str = "webhook_guard:list:";
/// A request may bring the next fetch forward (a token signed by a key the JWKS does not
/// hold yet) at most this often for the whole Envoy, so tokens with made-up key ids
/// cannot turn the filter into a load on the key server.
pub const EARLY_FETCH_INTERVAL_MS: u64 = 60_000;

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
    /// When a request last brought the fetch forward (shared, CAS).
    early_key: String,
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
            early_key: format!("{base}:early"),
            login_key: list.login.as_ref().map(login::record_key).unwrap_or_default(),
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
        if let Some(session) = self.session() {
            session.prepare(store);
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
        if let Some(session) = self.session() {
            let reading = session.read(store, now_ms);
            local.token_expires_ms = reading.expires_ms();
            if reading.wants_login(fetch_due, now_ms) && !self.lease_live(schedule.as_ref(), now_ms) {
                let nonce = self.take_lease(&mut local, store, schedule, cas, now_ms, rand)?;
                if !session.start(store, reading, now_ms) {
                    drop(local);
                    self.release(store, nonce);
                    return None;
                }
                let deadline_ms = now_ms.saturating_add(self.list.lease_ms());
                local.attempt = Some(Attempt { nonce, token: None, deadline_ms, login: true, token_id: 0 });
                return Some(session.request());
            }
            token = Some(reading.token(now_ms)?);
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

    /// The plugin dispatched the request of the last `on_tick`; `token` identifies its answer.
    pub fn on_dispatched(&self, token: u64) {
        if let Some(mut local) = self.local() {
            if let Some(a) = local.attempt.as_mut() {
                if a.token.is_none() {
                    a.token = Some(token);
                }
            }
        }
    }

    /// The plugin could not dispatch the request of the last `on_tick`.
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

    /// The fetch a request may make itself while it waits for the list's first good
    /// answer (see [`crate::fetch`]): the list's own request, without the lease of the
    /// periodic fetch. `None` for a list that logs in first: its token is the refresh's
    /// business, and a request does not log in.
    pub fn request_now(&self) -> Option<FetchRequest<'_>> {
        if self.list.login.is_some() {
            return None;
        }
        Some(self.request())
    }

    /// Take the answer to a fetch a request made (a `2xx`, its body within the size
    /// limit: the caller checked both): read it with the list's parser and publish it
    /// as the periodic fetch would, so every worker and later request use it. The
    /// schedule's lease is left alone (a periodic fetch may be running; whichever
    /// publishes last wins, both with good entries). The number of entries, or why not.
    pub fn publish(&self, store: &dyn SharedStore, body: &[u8], now_ms: u64) -> Result<usize, FetchError> {
        let entries = self.accept(200, body)?;
        let generation = {
            let Some(mut local) = self.local() else { return Err(FetchError::StoreWrite) };
            local.draws = local.draws.wrapping_add(1);
            mix(now_ms.rotate_left(21) ^ mix(local.draws) ^ self.list.source_digest).max(1)
        };
        let record = DataRecord { v: FORMAT_VERSION, generation, fetched_at_ms: now_ms, entries };
        if record.encode().is_none_or(|b| store.set(&self.data_key, &b, None).is_err()) {
            return Err(FetchError::StoreWrite);
        }
        // The data is written before the state announces its generation (as `finish`).
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_state(store);
            let mut s = current.unwrap_or_default();
            s.v = FORMAT_VERSION;
            s.request = self.list.request_digest;
            s.generation = generation;
            s.failures = 0;
            s.last_attempt_ms = s.last_attempt_ms.max(now_ms);
            s.next_ms = now_ms.saturating_add(self.list.refresh_delay_ms(generation));
            if store.set(&self.state_key, &s.encode(), cas).is_ok() {
                break;
            }
        }
        let n = record.entries.len();
        if let Some(mut local) = self.local() {
            local.cache = Some(Arc::new(RemoteEntries { entries: record.entries, fetched_at_ms: now_ms, generation }));
            local.synced_at_ms = Some(now_ms);
        }
        Ok(n)
    }

    /// The list for the request path, read from shared data now whatever the last read
    /// (a JWKS that lacks a token's `kid` may have been refetched by another worker a
    /// moment ago).
    pub fn reread(&self, store: &dyn SharedStore, now_ms: u64) -> ListState {
        if let Some(mut local) = self.local() {
            local.synced_at_ms = None;
        }
        self.current(store, now_ms)
    }

    /// Bring the next fetch forward to now, for a request that needs what the list may
    /// hold once refetched: at most once per [`EARLY_FETCH_INTERVAL_MS`] for the whole
    /// Envoy, never during a backoff after failures, never while a fetch runs. Whether it
    /// did.
    pub fn fetch_early(&self, store: &dyn SharedStore, now_ms: u64) -> bool {
        let (last, cas) = store.get(&self.early_key);
        let last = last.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(u64::from_be_bytes);
        if last.is_some_and(|t| {
            now_ms < t.saturating_add(EARLY_FETCH_INTERVAL_MS) && t <= now_ms.saturating_add(CLOCK_SKEW_MS)
        }) {
            return false;
        }
        // Whoever writes the time first brings the fetch forward; the others see it.
        if store.set(&self.early_key, &now_ms.to_be_bytes(), cas).is_err() {
            return false;
        }
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_state(store);
            let Some(mut s) = current else { return false };
            if s.failures > 0 || s.request != self.list.request_digest || self.lease_live(Some(&s), now_ms) {
                return false;
            }
            if s.next_ms <= now_ms {
                return true;
            }
            s.next_ms = now_ms;
            if store.set(&self.state_key, &s.encode(), cas).is_ok() {
                if let Some(mut local) = self.local() {
                    local.seen = Some(s);
                }
                return true;
            }
        }
        false
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

    /// The login of this list; `None` without `login`.
    pub(super) fn session(&self) -> Option<Session<'_>> {
        Session::new(&self.list, &self.login_key)
    }

    fn on_login_response(&self, store: &dyn SharedStore, nonce: u64, status: u32, body: &[u8], now_ms: u64) -> Outcome {
        let Some(session) = self.session() else {
            return Outcome::Ignored;
        };
        let answer = session.on_answer(store, nonce, status, body, now_ms);
        self.release(store, nonce);
        match answer {
            Ok(expires_ms) => {
                if let Some(mut local) = self.local() {
                    local.token_expires_ms = Some(expires_ms);
                }
                Outcome::LoginOk { expires_in_seconds: (expires_ms - now_ms) / 1000 }
            }
            Err(reason) => Outcome::LoginFailed { reason },
        }
    }

    /// A failed login: back off (shared, so no worker retries sooner) and let the lease go.
    fn login_failed(&self, store: &dyn SharedStore, nonce: u64, now_ms: u64) {
        let Some(session) = self.session() else { return };
        session.back_off(store, nonce, now_ms);
        self.release(store, nonce);
    }

    /// The API refused the token `token_id`: drop it, unless a newer one replaced it.
    fn drop_token(&self, store: &dyn SharedStore, token_id: u64) {
        if let Some(session) = self.session() {
            session.drop_token(store, token_id);
        }
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
        let mut entries: Vec<String> = match self.kind {
            EntryKind::Values { looks_like, canonical } => {
                parse_list(body, &self.list.pointer, &self.list.field, looks_like)
                    .map_err(FetchError::Malformed)?
                    .iter()
                    .map(|e| canonical(e))
                    .collect()
            }
            EntryKind::Document { read } => {
                read(body).map_err(|why| FetchError::Malformed(ParseError::Document(why)))?
            }
        };
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
    pub(super) fn read_state(&self, store: &dyn SharedStore) -> (Option<Schedule>, Option<u32>) {
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
mod tests;
