//! The compiled policy: routes, matching, and the evaluation of a route's checks.

use std::sync::{Arc, Mutex, PoisonError};

use crate::dedupe::Dedupe;
use crate::denial::Denial;
use crate::fetch::Need;
use crate::path::Hit;
use crate::rate_limit::RateLimit;
use crate::remote_list::{EntryKind, ListState, RemoteList};
use crate::request::RequestHead;
use crate::shared::SharedStore;
use crate::verify::cert::{
    normalize_thumbprint, read_presented, CertOrigin, ClientCertCheck, PeerCertForm, ThumbprintSet,
};
use crate::verify::directory::Judged;
use crate::verify::event_grid::EventGrid;
use crate::verify::headers::SecretHeader;
use crate::verify::ip::CidrSet;
use crate::verify::ip::IpAllowlist;
use crate::verify::jwk::KeySet;
use crate::verify::jwt::plaid::PlaidCheck;
use crate::verify::jwt::JwtCheck;
use crate::verify::payload::PayloadCheck;
use crate::verify::paypal::PaypalCheck;
use crate::verify::signature::handshake::Reply;
use crate::verify::signature::SignatureCheck;
use crate::verify::sns::{SnsCheck, Unverified};
use crate::verify::x509::SigningCert;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse requests that fail a check.
    Enforce,
    /// Run every check, log and count what would be refused, forward everything.
    Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    Allow,
    Deny,
}

#[derive(Debug)]
pub struct Policy {
    pub mode: Mode,
    pub max_body_bytes: u64,
    pub unmatched: Unmatched,
    pub routes: Vec<Route>,
    /// Every remote list of every route, with how its entries are read.
    pub remote_lists: Vec<(RemoteList, EntryKind)>,
}

pub use crate::path::Matcher;

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub matcher: Matcher,
    /// `match.host`: the authority the route answers for, lower-case, without port or
    /// trailing dot; `None` matches any.
    pub authority: Option<String>,
    /// Upper-case methods.
    pub methods: Vec<String>,
    pub checks: Checks,
}

#[derive(Debug, Default)]
pub struct Checks {
    pub ip_allowlist: Option<IpAllowlist>,
    pub rate_limit: Option<RateLimit>,
    pub client_cert: Option<ClientCertCheck>,
    pub headers: Vec<SecretHeader>,
    pub jwt: Option<JwtCheck>,
    pub signature: Option<SignatureCheck>,
    pub dedupe: Option<Dedupe>,
    pub payload: Option<PayloadCheck>,
    pub paypal: Option<PaypalCheck>,
    pub plaid: Option<PlaidCheck>,
    /// Event Grid's endpoint validation, answered behind the route's authentication.
    pub event_grid: Option<EventGrid>,
    pub sns: Option<SnsCheck>,
    /// Caches of the remote lists decoded for matching, keyed by generation: per worker
    /// VM (Wasm), or one for every worker thread (native), hence the lock.
    pub ip_cache: Mutex<Option<(u64, Arc<CidrSet>)>>,
    pub cert_cache: Mutex<Option<(u64, Arc<ThumbprintSet>)>>,
    pub jwks_cache: Mutex<Option<(u64, Arc<KeySet>)>>,
}

impl Checks {
    pub fn is_empty(&self) -> bool {
        self.ip_allowlist.is_none()
            && self.rate_limit.is_none()
            && self.client_cert.is_none()
            && self.headers.is_empty()
            && self.jwt.is_none()
            && self.signature.is_none()
            && self.payload.is_none()
            && self.paypal.is_none()
            && self.plaid.is_none()
            && self.sns.is_none()
    }
}

/// What the header checks look up besides the request head: shared data, remote lists,
/// the client certificate. The filter reads them from Envoy; tests use plain data.
pub trait Lookups {
    fn store(&self) -> &dyn SharedStore;
    /// The state of a remote list, by name.
    fn list(&self, name: &str) -> ListState;
    /// A request needs what the list may hold once fetched again (a JWKS without the
    /// token's key): bring its next fetch forward, as the list allows.
    fn fetch_early(&self, _name: &str) {}
    /// The list read again from shared data now, whatever the last read (a JWKS that
    /// lacks the token's `kid` may have been refetched by another worker a moment ago).
    fn reread(&self, name: &str) -> ListState {
        self.list(name)
    }
    /// Whether the request can wait for a document a check lacks ([`crate::fetch`]):
    /// then the check answers `Findings::need` instead of refusing. Only the filter's
    /// request path can; offline callers (the CLI, tests of the checks) cannot.
    fn may_fetch(&self) -> bool {
        false
    }
    /// A signing certificate fetched by URL, if one is at hand ([`crate::fetch::certs`]).
    fn signing_cert(&self, _url: &str) -> Option<Arc<SigningCert>> {
        None
    }
    /// The connection's client certificate in `form`, as the host gives it (the bytes of
    /// the attribute), or `None` when the host has no such attribute or no certificate
    /// was presented. Asked for in `PeerCertForm`'s order, each only when needed.
    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>>;
}

/// Which route a request belongs to.
#[derive(Debug, PartialEq, Eq)]
pub enum Routing {
    Route(usize),
    /// Some route has this path, none allows this method: `Allow` lists the methods.
    MethodNotAllowed {
        allow: String,
    },
    NotFound,
    /// The path cannot be read, or its readings reach different routes (SPEC 2.2a).
    Ambiguous,
}

/// A secret that verified a request: counted as `secret.<id>.matched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    pub check: &'static str,
    pub secret_id: String,
}

/// What a stage of checks found. In enforce mode evaluation stops at the first denial;
/// in monitor mode every check runs and every denial is listed.
#[derive(Debug, Default)]
pub struct Findings {
    pub denials: Vec<Denial>,
    pub secrets: Vec<SecretUse>,
    /// For 429 and 503: when to try again.
    pub retry_after: Option<u64>,
    /// A provider handshake, verified: answered locally, never forwarded.
    pub handshake: Option<Reply>,
    /// The message id for replay protection when the signature carries it in the body
    /// (set only once the signature verified, on routes with `dedupe`).
    pub body_message_id: Option<Vec<u8>>,
    /// Where the client certificate was read, when one was (for the host's notice).
    pub cert_origin: Option<CertOrigin>,
    /// A document a check needs and lacks, when the request can wait for it
    /// ([`Lookups::may_fetch`]): the check stopped there, without a denial of its own,
    /// and the stage runs again once the document is fetched ([`crate::fetch`]).
    pub need: Option<Need>,
}

impl Findings {
    fn record(&mut self, check: &'static str, result: Result<&str, Denial>) {
        match result {
            Ok(id) => self.secrets.push(SecretUse { check, secret_id: id.to_string() }),
            Err(d) => self.denials.push(d),
        }
    }
}

impl Policy {
    /// The route of a request under every reading of its path and host (SPEC 2.2a): a
    /// route any reading reaches checks it; readings reaching different routes, or a path
    /// that cannot be read, are `Ambiguous`.
    pub fn route(&self, head: &RequestHead) -> Routing {
        // `:path` before the query; bytes that were not UTF-8 are U+FFFD here, which
        // reading refuses.
        let raw = head.path().as_bytes();
        // Empty (no allocation) when no route names an authority.
        let authorities =
            if self.routes.iter().any(|r| r.authority.is_some()) { request_authorities(head) } else { Vec::new() };
        let mut found: Option<usize> = None;
        let mut allow: Vec<&str> = Vec::new();
        // A reading that reaches routes only with other methods.
        let mut wrong_method = false;
        // Whether the last reading looked at reached no route.
        let mut last_nothing = false;
        let mut one = |reading: &[u8], ascii: bool| -> Result<(), ()> {
            last_nothing = true;
            for k in 0..authorities.len().max(1) {
                let authority = authorities.get(k).map(String::as_str);
                let reached = self.route_one(reading, ascii, authority, head.method(), &mut allow)?;
                last_nothing &= matches!(reached, Reached::Nothing);
                match reached {
                    Reached::Route(i) if found.is_some_and(|f| f != i) => return Err(()),
                    Reached::Route(i) => found = Some(i),
                    Reached::OtherMethods => wrong_method = true,
                    Reached::Nothing => {}
                }
            }
            Ok(())
        };
        let outcome = if crate::path::is_plain(raw) {
            // Plain paths are ASCII.
            one(raw, true)
        } else {
            match crate::path::readings(raw) {
                Ok(readings) => readings.iter().try_for_each(|r| one(r, r.is_ascii())),
                Err(_) => Err(()),
            }
        };
        // With `unmatched: deny` only routes' paths may reach the application: a request
        // that some reading puts on a route must be on it in its normal form too (the last
        // reading), or `/hooks/github%2F..%2F..%2Fadmin` would bring a replayed webhook
        // to `/admin` of an application that decodes.
        if self.unmatched == Unmatched::Deny && found.is_some() && last_nothing {
            return Routing::Ambiguous;
        }
        if outcome.is_err() {
            return Routing::Ambiguous;
        }
        match found {
            // Another reading is the path of a different route (with another method).
            Some(_) if wrong_method => Routing::Ambiguous,
            Some(i) => Routing::Route(i),
            None if allow.is_empty() => Routing::NotFound,
            None => Routing::MethodNotAllowed { allow: allow.join(", ") },
        }
    }

    /// The first route one reading reaches with this method; routes it reaches with
    /// another method add theirs to `allow`. `Err`: a route is reached only by reading a
    /// non-ASCII character as ASCII.
    fn route_one<'a>(
        &'a self,
        reading: &[u8],
        ascii: bool,
        authority: Option<&str>,
        method: &str,
        allow: &mut Vec<&'a str>,
    ) -> Result<Reached, ()> {
        let mut reached = Reached::Nothing;
        for (i, r) in self.routes.iter().enumerate() {
            let authority_ok = match (&r.authority, authority) {
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if !authority_ok {
                continue;
            }
            match r.matcher.test(reading, ascii) {
                Hit::No => continue,
                Hit::Maybe => return Err(()),
                Hit::Yes => {}
            }
            if r.methods.iter().any(|m| m == method) {
                return Ok(Reached::Route(i));
            }
            reached = Reached::OtherMethods;
            for m in &r.methods {
                if !allow.contains(&m.as_str()) {
                    allow.push(m);
                }
            }
        }
        Ok(reached)
    }
}

/// What one reading of a request reaches.
enum Reached {
    Route(usize),
    /// Only routes that allow other methods.
    OtherMethods,
    Nothing,
}

/// The authorities a request names, as routes compare them: `:authority`, a `host`
/// header that says something else (an HTTP/2 client may send both), each name of a list
/// (Envoy joins repeated `Host` headers with `,`), and what follows a `user@`. An upstream
/// may read any of them.
fn request_authorities(head: &RequestHead) -> Vec<String> {
    let mut found: Vec<String> = Vec::with_capacity(1);
    for v in head.headers.get_all(":authority").chain(head.headers.get_all("host")) {
        for part in v.split(|&b| b == b',') {
            let part = part.trim_ascii();
            let after_user = part.iter().rposition(|&b| b == b'@').and_then(|at| part.get(at + 1..));
            for name in std::iter::once(part).chain(after_user) {
                let a = crate::path::host_key(name);
                if !found.contains(&a) {
                    found.push(a);
                }
            }
        }
    }
    found
}

impl Route {
    /// Whether any check of this route needs the client address (read from the host
    /// only then, or for a denial's log line).
    pub fn needs_client(&self) -> bool {
        self.checks.ip_allowlist.is_some()
            || self.checks.rate_limit.as_ref().is_some_and(|rl| rl.by() == crate::rate_limit::By::ClientIp)
    }

    /// Whether any check of this route reads the body (so it must be buffered).
    pub fn needs_body(&self) -> bool {
        let c = &self.checks;
        c.signature.is_some()
            || c.payload.is_some()
            || c.event_grid.is_some()
            || c.sns.is_some()
            || c.paypal.is_some()
            || c.plaid.is_some()
    }

    /// Ids of every secret of this route's checks (for metrics declared up front).
    pub fn secret_ids(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        for h in &self.checks.headers {
            ids.extend(h.secret_ids());
        }
        if let Some(j) = &self.checks.jwt {
            ids.extend(j.secret_ids());
        }
        if let Some(s) = &self.checks.signature {
            ids.extend(s.secret_ids());
        }
        if let Some(p) = &self.checks.payload {
            ids.extend(p.secret_ids());
        }
        ids
    }

    /// `(id, not_after)` of every secret of this route's checks that has a `not_after`
    /// (published as a gauge, so an alert can see a secret in use close to its end).
    pub fn secret_expiries(&self) -> Vec<(&str, u64)> {
        let c = &self.checks;
        let mut out: Vec<(&str, u64)> = c.headers.iter().flat_map(|h| h.secret_expiries()).collect();
        out.extend(c.jwt.iter().flat_map(|j| j.secret_expiries()));
        out.extend(c.signature.iter().flat_map(|s| s.secret_expiries()));
        out.extend(c.payload.iter().flat_map(|p| p.secret_expiries()));
        out
    }

    /// The checks that need only the headers, cheapest first (SPEC 2.2). In enforce
    /// mode the first denial ends the evaluation.
    pub fn check_head(&self, head: &RequestHead, mode: Mode, lookups: &dyn Lookups) -> Findings {
        let mut f = Findings::default();
        let go_on = |f: &Findings| mode == Mode::Monitor || f.denials.is_empty();
        let c = &self.checks;
        if let Some(ip) = &c.ip_allowlist {
            let remote = match ip.remote_list() {
                Some(name) => {
                    Some(self.remote_set(lookups.list(name), &c.ip_cache, |e| Arc::new(CidrSet::from_entries(e))))
                }
                None => None,
            };
            let result = match remote {
                None => ip.verify(head.client.map(|a| a.ip()), None),
                Some(Ok(set)) => ip.verify(head.client.map(|a| a.ip()), Some(&set)),
                Some(Err(state)) => ip
                    .verify(head.client.map(|a| a.ip()), None)
                    .map_err(|d| list_denial(d, ip.is_remote_only(), &state, &mut f)),
            };
            if let Err(d) = result {
                f.denials.push(d);
            }
        }
        if let Some(rl) = &c.rate_limit {
            if !go_on(&f) {
                return f;
            }
            if let Err(limited) = rl.check(lookups.store(), head.client.map(|a| a.ip()), head.now_ms) {
                f.denials.push(Denial::RateLimited);
                f.retry_after = Some(limited.retry_after_seconds);
            }
        }
        if let Some(cc) = &c.client_cert {
            if !go_on(&f) {
                return f;
            }
            let presented = read_presented(cc.source, &|form| lookups.peer_certificate(form), &head.headers);
            let result = presented.and_then(|found| {
                f.cert_origin = found.as_ref().map(|(_, origin)| *origin);
                let presented = found.as_ref().map(|(p, _)| p);
                let remote = match cc.remote_list() {
                    Some(name) => Some(self.remote_set(lookups.list(name), &c.cert_cache, |e| {
                        Arc::new(e.filter_map(normalize_thumbprint).collect())
                    })),
                    None => None,
                };
                match remote {
                    None => cc.verify(presented, None),
                    Some(Ok(set)) => cc.verify(presented, Some(&set)),
                    Some(Err(state)) => cc.verify(presented, None).map_err(|d| {
                        if d == Denial::CertNotPinned {
                            list_denial(d, cc.pinned().is_empty(), &state, &mut f)
                        } else {
                            d
                        }
                    }),
                }
            });
            if let Err(d) = result {
                f.denials.push(d);
            }
        }
        for h in &c.headers {
            if !go_on(&f) {
                return f;
            }
            f.record("header", h.verify(&head.headers, head.now));
        }
        if c.jwt.is_some() {
            if !go_on(&f) {
                return f;
            }
            self.check_jwt(head, lookups, &mut f);
        }
        f
    }

    /// The header stage again after the document it needed was fetched: `found` is what
    /// it found before (the `jwt` check, the last of the stage, is the one that asks).
    pub fn resume_head(&self, head: &RequestHead, lookups: &dyn Lookups, mut found: Findings) -> Findings {
        found.need = None;
        if self.checks.jwt.is_some() {
            self.check_jwt(head, lookups, &mut found);
        }
        found
    }

    /// The `jwt` check, the last of the header stage.
    fn check_jwt(&self, head: &RequestHead, lookups: &dyn Lookups, f: &mut Findings) {
        let c = &self.checks;
        let Some(jwt) = &c.jwt else { return };
        let result = match jwt.remote_list() {
            None => jwt.verify(&head.headers, head.now, None),
            Some(name) => {
                let build = |e: &mut dyn Iterator<Item = &str>| Arc::new(KeySet::from_entries(e));
                match self.remote_set(lookups.list(name), &c.jwks_cache, build) {
                    Ok(keys) => {
                        let mut result = jwt.verify(&head.headers, head.now, Some(&keys));
                        if result == Err(Denial::TokenKeyUnknown) {
                            // Another worker may have refetched the keys a moment ago: read
                            // the shared copy before refusing.
                            if let Ok(again) = self.remote_set(lookups.reread(name), &c.jwks_cache, build) {
                                if !Arc::ptr_eq(&again, &keys) {
                                    result = jwt.verify(&head.headers, head.now, Some(&again));
                                }
                            }
                        }
                        if result == Err(Denial::TokenKeyUnknown) {
                            lookups.fetch_early(name);
                        }
                        result
                    }
                    // Before the first good fetch the request waits for one, when it can.
                    Err(ListState::Unavailable { retry_after_seconds }) if lookups.may_fetch() => {
                        f.need = Some(Need::list(name, retry_after_seconds));
                        return;
                    }
                    // Without its keys the check cannot run: 503 before the first
                    // good fetch, 403 once they are stale.
                    Err(state) => Err(list_denial(Denial::ListUnavailable, true, &state, f)),
                }
            }
        };
        match result {
            Ok(Some(id)) => f.record("jwt", Ok(id)),
            Ok(None) => {}
            Err(d) => f.denials.push(d),
        }
    }

    /// The decoded set of a fresh remote list (cached per generation), or the state that
    /// keeps it from being used.
    fn remote_set<T>(
        &self,
        state: ListState,
        cache: &Mutex<Option<(u64, Arc<T>)>>,
        build: impl FnOnce(&mut dyn Iterator<Item = &str>) -> Arc<T>,
    ) -> Result<Arc<T>, ListState> {
        let entries = match state {
            ListState::Fresh(entries) => entries,
            other => return Err(other),
        };
        // A cache entry is written whole, so one left by a panicking thread is valid.
        let mut cached = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((generation, set)) = cached.as_ref() {
            if *generation == entries.generation() {
                return Ok(set.clone());
            }
        }
        // Built under the lock: another thread wanting the same generation waits for
        // this one instead of decoding it too.
        let set = build(&mut entries.iter());
        *cached = Some((entries.generation(), set.clone()));
        Ok(set)
    }

    /// Secret headers that must not reach the upstream.
    pub fn headers_to_strip(&self) -> impl Iterator<Item = &str> {
        self.checks.headers.iter().filter(|h| h.strip).map(|h| h.name.as_str())
    }

    /// The checks that need the exact body bytes, where nothing can be fetched (a check
    /// that lacks a document refuses as it would without waiting).
    pub fn check_body(&self, head: &RequestHead, body: &[u8], mode: Mode) -> Findings {
        self.check_body_with(head, body, mode, None)
    }

    /// The checks that need the exact body bytes. With `lookups`, a check that lacks a
    /// document may say so in `Findings::need` (when [`Lookups::may_fetch`]).
    pub fn check_body_with(
        &self,
        head: &RequestHead,
        body: &[u8],
        mode: Mode,
        lookups: Option<&dyn Lookups>,
    ) -> Findings {
        let mut f = Findings::default();
        // The header checks authenticated the sender: its handshake is answered here.
        if let Some(eg) = &self.checks.event_grid {
            match eg.handshake(head, body) {
                Some(Ok(reply)) => {
                    f.handshake = Some(reply);
                    return f;
                }
                Some(Err(d)) => {
                    f.denials.push(d);
                    if mode == Mode::Enforce {
                        return f;
                    }
                }
                None => {}
            }
        }
        if let Some(sns) = &self.checks.sns {
            let cert = |url: &str| lookups.and_then(|l| l.signing_cert(url));
            match sns.verify(&head.headers, body, head.now, &cert) {
                Ok(()) => {}
                Err(Unverified::Denied(d)) => f.denials.push(d),
                // The certificate is not here yet: wait for it when the request can.
                Err(Unverified::Need(need)) if lookups.is_some_and(|l| l.may_fetch()) => {
                    f.need = Some(need);
                    return f;
                }
                Err(Unverified::Need(need)) => {
                    f.retry_after = Some(need.retry_after_seconds);
                    f.denials.push(Denial::ListUnavailable);
                }
            }
            if mode == Mode::Enforce && !f.denials.is_empty() {
                return f;
            }
        }
        if let Some(sig) = &self.checks.signature {
            match sig.handshake(head, body) {
                Some(Ok((reply, key))) => {
                    if let Some(id) = key {
                        f.secrets.push(SecretUse { check: "signature", secret_id: id.to_string() });
                    }
                    // The handshake is answered here; nothing else runs on it.
                    f.handshake = Some(reply);
                    return f;
                }
                Some(Err(d)) => f.denials.push(d),
                None => match sig.verify_message(head, body) {
                    Ok((key, body_id)) => {
                        if self.checks.dedupe.is_some() {
                            f.body_message_id = body_id;
                        }
                        f.record("signature", Ok(key));
                    }
                    Err(d) => f.denials.push(d),
                },
            }
        }
        self.check_senders(head, body, mode, lookups, &mut f);
        if f.need.is_some() {
            return f;
        }
        if let Some(payload) = &self.checks.payload {
            if mode == Mode::Monitor || f.denials.is_empty() {
                f.record("developer_payload", payload.verify(body, head.now));
            }
        }
        f
    }

    /// PayPal and Plaid, with the key they name from shared data. A key not fetched yet
    /// is waited for when the request can wait (`Findings::need`), else refuses the
    /// request with 503 (`list_unavailable`).
    fn check_senders(
        &self,
        head: &RequestHead,
        body: &[u8],
        mode: Mode,
        lookups: Option<&dyn Lookups>,
        f: &mut Findings,
    ) {
        let c = &self.checks;
        if c.paypal.is_none() && c.plaid.is_none() {
            return;
        }
        let empty = crate::shared::MemoryStore::default();
        let store = lookups.map_or(&empty as &dyn SharedStore, |l| l.store());
        let may_fetch = lookups.is_some_and(|l| l.may_fetch());
        let cert = |url: &str| lookups.and_then(|l| l.signing_cert(url));
        let judged = [
            c.paypal.as_ref().map(|p| p.judge(head, body, &cert)),
            c.plaid.as_ref().map(|p| p.judge(head, body, store)),
        ];
        for j in judged.into_iter().flatten() {
            if mode == Mode::Enforce && !f.denials.is_empty() {
                return;
            }
            match j {
                Judged::Verdict(Ok(())) => {}
                Judged::Verdict(Err(d)) => f.denials.push(d),
                Judged::Lacks(need) if may_fetch => {
                    f.need = Some(need);
                    return;
                }
                Judged::Lacks(_) => {
                    f.denials.push(Denial::ListUnavailable);
                    f.retry_after = Some(f.retry_after.unwrap_or(RETRY_AFTER_SECONDS));
                }
            }
        }
    }

    /// The message id that replay protection keys on, when the route has `dedupe`: the
    /// one the body stage read from a verified body, else the one in the headers.
    pub fn dedupe_id<'a>(&'a self, head: &'a RequestHead, body_id: Option<&'a [u8]>) -> Option<(&'a Dedupe, &'a [u8])> {
        let dedupe = self.checks.dedupe.as_ref()?;
        let id = match body_id {
            Some(id) => id,
            None => self.checks.signature.as_ref()?.message_id(head)?,
        };
        Some((dedupe, id))
    }
}

/// `Retry-After` of a request refused for a key not fetched yet.
const RETRY_AFTER_SECONDS: u64 = 10;

/// A static set missed while the remote list cannot be used. A check that has only the
/// remote list cannot run: 503 before the first good fetch, 403 once the list is stale
/// (fail closed). A check with static entries keeps its own verdict.
fn list_denial(d: Denial, remote_only: bool, state: &ListState, f: &mut Findings) -> Denial {
    if !remote_only {
        return d;
    }
    match state {
        ListState::Unavailable { retry_after_seconds } => {
            f.retry_after = Some(*retry_after_seconds);
            Denial::ListUnavailable
        }
        ListState::Stale { .. } => Denial::ListStale,
        ListState::Fresh(_) => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_list::ListState;
    use crate::request::Headers;
    use crate::shared::MemoryStore;
    use crate::verify::cert::Thumbprint;
    use sha1::Sha1;
    use sha2::{Digest, Sha256};

    // The smallest DER the check accepts as a certificate's outer shape; the pin is
    // over its bytes either way.
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMwAQA=\n-----END CERTIFICATE-----\n";
    const DER: [u8; 5] = [0x30, 0x03, 0x30, 0x01, 0x00];

    fn hex_encode(bytes: &[u8]) -> String {
        match bytes.len() {
            20 => Thumbprint::Sha1(bytes.try_into().unwrap()).to_string(),
            _ => Thumbprint::Sha256(bytes.try_into().unwrap()).to_string(),
        }
    }

    /// A host that gives the certificate in some forms only (which Envoy releases do).
    struct Host {
        store: MemoryStore,
        pem: bool,
        digest: bool,
    }

    impl Lookups for Host {
        fn store(&self) -> &dyn SharedStore {
            &self.store
        }
        fn list(&self, _name: &str) -> ListState {
            ListState::Unavailable { retry_after_seconds: 9 }
        }
        fn fetch_early(&self, _name: &str) {}
        fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
            match form {
                PeerCertForm::Pem => self.pem.then(|| PEM.as_bytes().to_vec()),
                PeerCertForm::Sha256Digest => self.digest.then(|| hex_encode(&Sha256::digest(DER)).into_bytes()),
            }
        }
    }

    fn policy(pins: &str) -> Policy {
        let json = format!(
            r#"{{"api":"v1","routes":[{{"name":"cl","match":{{"path_prefix":"/cl"}},"checks":{{"client_cert":{pins}}}}}]}}"#
        );
        crate::config::parse(json.as_bytes(), &|_| None).unwrap()
    }

    fn head(xfcc: Option<String>) -> RequestHead {
        let mut pairs = vec![(":method".to_string(), b"POST".to_vec()), (":path".to_string(), b"/cl".to_vec())];
        pairs.extend(xfcc.map(|v| ("x-forwarded-client-cert".to_string(), v.into_bytes())));
        RequestHead::from_headers(Headers::new(pairs), None, 1_700_000_000)
    }

    /// The header Envoy writes with SANITIZE_SET and `cert: true`.
    fn xfcc() -> String {
        let cert = PEM.replace('\n', "%0A").replace(' ', "%20").replace('=', "%3D");
        format!("Hash={};Cert=\"{cert}\"", hex_encode(&Sha256::digest(DER)))
    }

    fn run(pins: &str, pem: bool, digest: bool, xfcc_header: Option<String>) -> (Vec<Denial>, Option<CertOrigin>) {
        let p = policy(pins);
        let host = Host { store: MemoryStore::default(), pem, digest };
        let f = p.routes[0].check_head(&head(xfcc_header), Mode::Enforce, &host);
        (f.denials, f.cert_origin)
    }

    #[test]
    fn sha1_pins_by_what_each_envoy_gives() {
        let sha1 = format!(r#"{{"thumbprints":["{}"]}}"#, hex_encode(&Sha1::digest(DER)));
        // Envoy 1.38+: the certificate itself.
        assert_eq!(run(&sha1, true, true, None), (vec![], Some(CertOrigin::ConnectionPem)));
        // Envoy 1.36/1.37 with SANITIZE_SET and cert: true.
        assert_eq!(run(&sha1, false, true, Some(xfcc())), (vec![], Some(CertOrigin::XfccMatchingConnection)));
        // ... without: refused by name, not as a missing certificate.
        assert_eq!(
            run(&sha1, false, true, None),
            (vec![Denial::CertPinUnverifiable], Some(CertOrigin::ConnectionDigest))
        );
        // No certificate at all.
        assert_eq!(run(&sha1, false, false, Some(xfcc())), (vec![Denial::CertMissing], None));
    }

    #[test]
    fn sha256_pins_from_the_digest_alone() {
        let sha256 = format!(r#"{{"thumbprints":["{}"]}}"#, hex_encode(&Sha256::digest(DER)));
        assert_eq!(run(&sha256, false, true, None), (vec![], Some(CertOrigin::ConnectionDigest)));
        let other = format!(r#"{{"thumbprints":["{}"]}}"#, "ab".repeat(32));
        assert_eq!(run(&other, false, true, None), (vec![Denial::CertNotPinned], Some(CertOrigin::ConnectionDigest)));
    }

    #[test]
    fn a_remote_list_not_loaded_yet_is_still_unavailable_with_only_the_digest() {
        let remote = r#"{"remote_list":{"cluster":"c","authority":"a","path":"/l"}}"#;
        assert_eq!(run(remote, false, true, None), (vec![Denial::ListUnavailable], Some(CertOrigin::ConnectionDigest)));
    }
}
