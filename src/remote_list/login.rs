//! The login of a list whose API takes a token rather than a fixed header (Copyleaks):
//! the token in shared data, when to renew it, the backoff after a failed login, and the
//! rate window every worker of this Envoy counts against.
//!
//! The refresh ([`super::refresh`]) drives it and holds the lease: before a fetch it
//! reads the login record ([`Session::read`]); when the [`Reading`] wants a login and the
//! lease is free, it takes the lease, counts the login in the window
//! ([`Session::start`]) and dispatches [`Session::request`]; the answer goes to
//! [`Session::on_answer`], a failure to [`Session::back_off`], a 401 from the list API to
//! [`Session::drop_token`]. The refresh lets the lease go after each.

use std::fmt;

use super::callout::FetchRequest;
use super::config::{Login, RemoteList};
use super::record::{LoginRecord, FORMAT_VERSION};
use super::timing::{plausible, CLOCK_SKEW_MS, MAX_BACKOFF_MS};
use crate::json::{self, Json, Number};
use crate::shared::{SharedStore, CAS_ATTEMPTS};

/// Copyleaks allows 12 logins per 15 minutes; every worker of this Envoy counts against
/// one window, kept in the shared login record.
pub const LOGIN_WINDOW_MS: u64 = 900_000;
pub const LOGINS_PER_WINDOW: usize = 12;
/// A token is renewed when a quarter of its lifetime is left, at most this early.
const MAX_RENEW_MARGIN_MS: u64 = 3_600_000;
/// A token longer than this is no token a header should carry.
const MAX_TOKEN_LEN: usize = 8_192;

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

/// The shared-data key of a login endpoint's record: the endpoint, not the credentials,
/// so that every list logging in there shares one token and one rate window.
pub(super) fn record_key(login: &Login) -> String {
    format!("webhook_guard:login:{:016x}", login.target_digest)
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

/// The shared login record as one tick read it, with what it means for this list.
pub(super) struct Reading {
    record: Option<LoginRecord>,
    cas: Option<u32>,
    credentials: u64,
    /// Past the backoff of these credentials, and room in the rate window.
    may_start: bool,
}

impl Reading {
    /// The record's token, when these credentials obtained it (it may have expired).
    fn ours(&self) -> Option<&LoginRecord> {
        self.record.as_ref().filter(|r| r.token_id != 0 && r.credentials == self.credentials)
    }

    /// When this list's token expires (gauge); `None` without one.
    pub fn expires_ms(&self) -> Option<u64> {
        self.ours().map(|r| r.expires_ms)
    }

    /// Whether to log in now, the lease permitting: the token is missing or past its
    /// renewal time, a fetch is due or there is a token to renew, and the backoff and
    /// the rate window allow a login.
    pub fn wants_login(&self, fetch_due: bool, now_ms: u64) -> bool {
        let ours = self.ours();
        let renew = ours.is_none_or(|r| now_ms >= r.renew_ms);
        renew && (fetch_due || ours.is_some()) && self.may_start
    }

    /// The token a fetch may send now (it has not expired): its id and its value.
    pub fn token(&self, now_ms: u64) -> Option<(u64, Vec<u8>)> {
        self.ours().filter(|r| now_ms < r.expires_ms).map(|r| (r.token_id, r.token.clone()))
    }
}

/// The login of one list: its `login` block and the shared record of its endpoint.
pub(super) struct Session<'a> {
    list: &'a RemoteList,
    login: &'a Login,
    /// [`record_key`] of the login.
    key: &'a str,
}

impl<'a> Session<'a> {
    /// `None` for a list without `login`.
    pub fn new(list: &'a RemoteList, key: &'a str) -> Option<Self> {
        Some(Session { list, login: list.login.as_ref()?, key })
    }

    /// Create the shared login record, where absent, when the configuration loads.
    pub fn prepare(&self, store: &dyn SharedStore) {
        let initial = LoginRecord { v: FORMAT_VERSION, ..LoginRecord::default() };
        if let Some(bytes) = initial.encode() {
            store.create_if_absent(self.key, &bytes);
        }
    }

    pub fn read(&self, store: &dyn SharedStore, now_ms: u64) -> Reading {
        let (record, cas) = self.read_record(store);
        let may_start = login_allowed(record.as_ref(), self.login, now_ms);
        Reading { record, cas, credentials: self.login.credentials_digest, may_start }
    }

    /// Count a login that starts now in the rate window, written with CAS against
    /// `reading`: the window counts a login when it starts, so no two workers can both
    /// take its last slot. `false`: another worker wrote first, no login.
    pub fn start(&self, store: &dyn SharedStore, reading: Reading, now_ms: u64) -> bool {
        let mut next = reading.record.unwrap_or_default();
        next.v = FORMAT_VERSION;
        next.logins.retain(|&t| in_window(t, now_ms));
        next.logins.push(now_ms);
        next.encode().is_some_and(|b| store.set(self.key, &b, reading.cas).is_ok())
    }

    pub fn request(&self) -> FetchRequest<'a> {
        let login = self.login;
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

    /// The answer to the login started with lease `nonce`: the token goes to shared
    /// data; `Ok` holds its expiry (unix ms). A refused or unreadable answer backs off.
    pub fn on_answer(
        &self,
        store: &dyn SharedStore,
        nonce: u64,
        status: u32,
        body: &[u8],
        now_ms: u64,
    ) -> Result<u64, LoginError> {
        let (token, expires_ms) = match read_login_answer(status, body, now_ms) {
            Ok(answer) => answer,
            Err(reason) => {
                self.back_off(store, nonce, now_ms);
                return Err(reason);
            }
        };
        let renew_ms = expires_ms - ((expires_ms - now_ms) / 4).min(MAX_RENEW_MARGIN_MS);
        let written = self.update(store, &|r| {
            r.credentials = self.login.credentials_digest;
            r.token_id = nonce;
            r.token = token.clone();
            r.expires_ms = expires_ms;
            r.renew_ms = renew_ms;
            r.failures = 0;
            r.next_ms = 0;
            true
        });
        if !written {
            return Err(LoginError::StoreWrite);
        }
        Ok(expires_ms)
    }

    /// A failed login: back off, in shared data so that no worker retries sooner.
    pub fn back_off(&self, store: &dyn SharedStore, nonce: u64, now_ms: u64) {
        self.update(store, &|r| {
            if r.credentials != self.login.credentials_digest {
                // Another configuration's token and failures are not ours.
                *r = LoginRecord { v: FORMAT_VERSION, logins: std::mem::take(&mut r.logins), ..LoginRecord::default() };
                r.credentials = self.login.credentials_digest;
            }
            r.failures = r.failures.saturating_add(1);
            r.next_ms = now_ms.saturating_add(self.list.backoff_ms(r.failures, nonce));
            true
        });
    }

    /// The API refused the token `token_id`: drop it, unless a newer one replaced it.
    pub fn drop_token(&self, store: &dyn SharedStore, token_id: u64) {
        self.update(store, &|r| {
            if r.token_id != token_id || token_id == 0 {
                return false;
            }
            r.token_id = 0;
            r.token.clear();
            r.expires_ms = 0;
            r.renew_ms = 0;
            true
        });
    }

    fn read_record(&self, store: &dyn SharedStore) -> (Option<LoginRecord>, Option<u32>) {
        let (bytes, cas) = store.get(self.key);
        let record = bytes.and_then(|b| LoginRecord::decode(&b)).filter(|r| r.v == FORMAT_VERSION);
        (record, cas)
    }

    /// Change the shared login record with CAS; `false` if it could not be written.
    fn update(&self, store: &dyn SharedStore, change: &dyn Fn(&mut LoginRecord) -> bool) -> bool {
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_record(store);
            let mut r = current.unwrap_or_default();
            r.v = FORMAT_VERSION;
            if !change(&mut r) {
                return true;
            }
            if r.encode().is_some_and(|b| store.set(self.key, &b, cas).is_ok()) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
