//! `webhook-guard explain`: a captured request through a route's checks, the way the
//! plugin runs them, each with pass or the precise reason the client is never told.
//!
//! The checks are the plugin's own (`Policy::route`, `Route::check_head`, `check_body`):
//! once in the configuration's mode for the verdict, once in monitor mode so that every
//! check has something to say, even after the one that refused the request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use webhook_guard::denial::{Denial, Reply};
use webhook_guard::policy::{Findings, Host, Mode, Policy, Route, Routing, Unmatched};
use webhook_guard::remote_list::ListState;
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::shared::{Conflict, SharedStore};
use webhook_guard::verify::cert::{pem_to_der, xfcc_cert, CertSource};

use crate::capture::Captured;
use crate::plugin;

/// A fresh shared-data store, as a just-started Envoy has: rate limits start full.
#[derive(Default)]
struct Store {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
}

impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.map.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        let mut map = self.map.borrow_mut();
        let next = match (cas, map.get(key)) {
            (Some(want), Some((_, have))) if want != *have => return Err(Conflict),
            (_, Some((_, have))) => have.wrapping_add(1).max(1),
            (_, None) => 1,
        };
        map.insert(key.to_string(), (value.to_vec(), next));
        Ok(())
    }
}

/// What Envoy would know about the request besides its headers.
struct Offline {
    store: Store,
    /// DER of the certificate the client presented on the connection (`--client-cert`).
    cert: Option<Vec<u8>>,
    headers: Headers,
}

impl Host for Offline {
    fn store(&self) -> &dyn SharedStore {
        &self.store
    }

    fn list(&self, _name: &str) -> ListState {
        // The list is what Envoy fetched: not known here.
        ListState::Unavailable { retry_after_seconds: 60 }
    }

    fn client_cert(&self, source: CertSource) -> Result<Option<Vec<u8>>, Denial> {
        match source {
            CertSource::Connection => Ok(self.cert.clone()),
            CertSource::Xfcc => match self.headers.get_one("x-forwarded-client-cert") {
                Err(_) => Err(Denial::CertMalformed),
                Ok(None) => Ok(None),
                Ok(Some(v)) => xfcc_cert(v),
            },
        }
    }
}

pub struct Request {
    pub captured: Captured,
    pub client: Option<IpAddr>,
    pub cert_pem: Option<Vec<u8>>,
    pub now: u64,
}

/// What the client is never told: a sentence per reason.
fn describe(reason: &str) -> &'static str {
    match reason {
        "route_not_found" => "no route matches this path (and unmatched is deny)",
        "method_not_allowed" => "a route has this path, but not this method",
        "ambiguous_path" => "the path cannot be read one way, or its readings lead to different routes",
        "payload_too_large" => "the body is larger than max_body_bytes",
        "signature_missing" => "the signature header (or signature) is missing",
        "signature_repeated" => "a header the signature check reads is sent more than once",
        "signature_malformed" => "the signature is not in the scheme's format (prefix, encoding or length)",
        "signature_mismatch" => {
            "no configured secret gives the signature sent: wrong or expired secret, or the body, timestamp or \
             id differ from what was signed"
        }
        "timestamp_missing" => "the scheme's timestamp is missing",
        "timestamp_malformed" => "the timestamp is not a number of the scheme's format",
        "timestamp_out_of_tolerance" => {
            "the timestamp is further from now than tolerance_seconds (a captured request is old: try --now)"
        }
        "message_id_missing" => "the scheme's message id is missing",
        "header_missing" => "the secret header is missing",
        "header_repeated" => "the secret header is sent more than once",
        "header_mismatch" => "the secret header's value is none of the configured secrets",
        "token_missing" => "no bearer token",
        "token_repeated" => "the token header is sent more than once",
        "token_malformed" => "the token is not a well-formed JWT",
        "token_algorithm_not_allowed" => "the token's alg is not in algorithms",
        "token_signature_mismatch" => "no configured secret gives the token's signature",
        "token_expired" => "exp is past (beyond leeway_seconds)",
        "token_exp_missing" => "the token has no exp and require_exp is true",
        "token_not_yet_valid" => "nbf or iat is in the future (beyond leeway_seconds)",
        "token_too_old" => "iat is older than max_age_seconds",
        "token_iat_missing" => "max_age_seconds needs iat, and the token has none",
        "token_issuer_mismatch" => "iss is not the configured issuer",
        "token_audience_mismatch" => "aud holds none of the configured audiences",
        "client_address_unknown" => "the client address is not known (pass --client ADDR)",
        "ip_not_allowed" => "the client address is in no allowed CIDR",
        "rate_limited" => "the rate limit is spent",
        "payload_not_json" => "the body is not the JSON the check reads",
        "payload_duplicate_key" => "a member on the way to the value is written twice",
        "payload_missing" => "the body has no value at the pointer",
        "payload_mismatch" => "the value at the pointer matches no configured secret",
        "cert_missing" => "no client certificate (pass --client-cert PEM, or send x-forwarded-client-cert)",
        "cert_malformed" => "the client certificate cannot be read",
        "cert_not_pinned" => "the client certificate's SHA-1 and SHA-256 are not pinned",
        "list_unavailable" => "the check needs its remote list, which Envoy fetches: not known here",
        "list_stale" => "the remote list is older than max_stale_seconds",
        _ => "",
    }
}

/// One line of the explanation.
struct Step {
    check: String,
    outcome: Outcome,
}

enum Outcome {
    Pass(Option<String>),
    Fail(Denial),
    /// In enforce mode the plugin stops at the first failure; this one was not run. What
    /// it would have said, had it run, follows.
    NotReached(Box<Outcome>),
}

fn denial_of(f: &Findings, i: &mut usize, family: impl Fn(&str) -> bool) -> Option<Denial> {
    let d = *f.denials.get(*i)?;
    if family(d.reason()) {
        *i += 1;
        Some(d)
    } else {
        None
    }
}

fn secret_of(f: &Findings, check: &str, nth: usize) -> Option<String> {
    f.secrets.iter().filter(|s| s.check == check).nth(nth).map(|s| s.secret_id.clone())
}

/// Every check of the route in the plugin's order, from findings made in monitor mode
/// (every check ran, each recorded a denial or, for checks with secrets, the secret that
/// matched, in order).
fn steps(route: &Route, head: &RequestHead, findings: &Findings, body_findings: Option<&Findings>) -> Vec<Step> {
    let c = &route.checks;
    let mut out = Vec::new();
    let mut i = 0;
    let mut push = |check: &str, outcome: Outcome| out.push(Step { check: check.to_string(), outcome });
    let list = |r: &str| r == "list_unavailable" || r == "list_stale";
    if c.ip_allowlist.is_some() {
        let d = denial_of(findings, &mut i, |r| r == "client_address_unknown" || r == "ip_not_allowed" || list(r));
        push("ip_allowlist", d.map_or(Outcome::Pass(None), Outcome::Fail));
    }
    if c.rate_limit.is_some() {
        let d = denial_of(findings, &mut i, |r| r == "rate_limited");
        push("rate_limit", d.map_or(Outcome::Pass(None), Outcome::Fail));
    }
    if c.client_cert.is_some() {
        let d = denial_of(findings, &mut i, |r| r.starts_with("cert_") || list(r));
        push("client_cert", d.map_or(Outcome::Pass(None), Outcome::Fail));
    }
    for h in &c.headers {
        // The plugin's own verifier, header by header: a route may list several.
        let outcome = match h.verify(&head.headers, head.now) {
            Ok(id) => Outcome::Pass(Some(id.to_string())),
            Err(d) => Outcome::Fail(d),
        };
        let _ = denial_of(findings, &mut i, |r| r.starts_with("header_"));
        push(&format!("headers {}", h.name), outcome);
    }
    if c.jwt.is_some() {
        let outcome = match secret_of(findings, "jwt", 0) {
            Some(id) => Outcome::Pass(Some(id)),
            None => denial_of(findings, &mut i, |r| r.starts_with("token_")).map_or(Outcome::Pass(None), Outcome::Fail),
        };
        push("jwt", outcome);
    }
    let Some(body) = body_findings else { return out };
    let mut j = 0;
    for (check, present) in [("signature", c.signature.is_some()), ("developer_payload", c.payload.is_some())] {
        if !present {
            continue;
        }
        let outcome = match secret_of(body, check, 0) {
            Some(id) => Outcome::Pass(Some(id)),
            None => match body.denials.get(j) {
                Some(d) => {
                    j += 1;
                    Outcome::Fail(*d)
                }
                None => Outcome::Pass(None),
            },
        };
        push(check, outcome);
    }
    out
}

/// What the client gets, decided as the filter decides.
enum Verdict {
    Forward { route: Option<String>, would_deny: Option<Denial> },
    Reply { reply: Reply, denial: Denial, allow: Option<String> },
}

fn reply(d: Denial) -> Verdict {
    Verdict::Reply { reply: d.status(), denial: d, allow: None }
}

pub fn run(policy: &Policy, want_route: Option<&str>, req: Request, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let cert = match &req.cert_pem {
        Some(pem) => match pem_to_der(pem) {
            Some(der) => Some(der),
            None => {
                writeln!(out, "--client-cert: no certificate in the file")?;
                return Ok(ExitCode::from(1));
            }
        },
        None => None,
    };
    let headers = Headers::new(req.captured.headers.clone());
    let client = req.client.map(|ip| SocketAddr::new(ip, 50_000));
    let head = RequestHead::from_headers(headers.clone(), client, req.now);
    let body = &req.captured.body;
    let host = String::from_utf8_lossy(req.captured.header(":authority").unwrap_or_default()).into_owned();
    writeln!(
        out,
        "request  {} {} (host {}), {} byte{} of body",
        head.method,
        head.raw_path,
        if host.is_empty() { "-" } else { &host },
        body.len(),
        if body.len() == 1 { "" } else { "s" }
    )?;
    let names: Vec<&str> =
        req.captured.headers.iter().map(|(n, _)| n.as_str()).filter(|n| !n.starts_with(':')).collect();
    writeln!(out, "headers  {}  (values not shown)", if names.is_empty() { "-".into() } else { names.join(", ") })?;
    if let Some(ip) = req.client {
        writeln!(out, "client   {ip}")?;
    }
    writeln!(out, "now      {}", req.now)?;

    let routing = policy.route(&head);
    let routed = match &routing {
        Routing::Route(i) => policy.routes.get(*i),
        _ => None,
    };
    let route = match want_route {
        Some(name) => match policy.routes.iter().find(|r| r.name == name) {
            Some(r) => Some(r),
            None => {
                let all: Vec<&str> = policy.routes.iter().map(|r| r.name.as_str()).collect();
                writeln!(out, "--route {name}: no such route (routes: {})", all.join(", "))?;
                return Ok(ExitCode::from(1));
            }
        },
        None => routed,
    };
    let routing_line = match (&routing, routed) {
        (Routing::Route(_), Some(r)) => format!("route {}", r.name),
        (Routing::MethodNotAllowed { allow }, _) => {
            format!("fail: method_not_allowed: {} (allowed: {allow})", describe("method_not_allowed"))
        }
        (Routing::Ambiguous, _) => format!("fail: ambiguous_path: {}", describe("ambiguous_path")),
        _ if policy.unmatched == Unmatched::Allow => "no route matches: forwarded unchecked (unmatched: allow)".into(),
        _ => format!("fail: route_not_found: {}", describe("route_not_found")),
    };
    writeln!(out, "routing  {routing_line}")?;
    let verdict_routing = match &routing {
        Routing::Route(_) => None,
        Routing::MethodNotAllowed { allow } => Some(Verdict::Reply {
            reply: Denial::MethodNotAllowed.status(),
            denial: Denial::MethodNotAllowed,
            allow: Some(allow.clone()),
        }),
        Routing::Ambiguous => Some(reply(Denial::AmbiguousPath)),
        Routing::NotFound if policy.unmatched == Unmatched::Allow => {
            Some(Verdict::Forward { route: None, would_deny: None })
        }
        Routing::NotFound => Some(reply(Denial::RouteNotFound)),
    };
    if let (Some(r), Some(want)) = (routed, route) {
        if r.name != want.name {
            writeln!(
                out,
                "         (the request reaches route {}, not {}: the checks of {} follow)",
                r.name, want.name, want.name
            )?;
        }
    } else if let (None, Some(want)) = (routed, route) {
        writeln!(out, "         (the checks of route {} follow, as if the request had reached it)", want.name)?;
    }
    let Some(route) = route else {
        return finish(out, policy, verdict_routing.unwrap_or_else(|| reply(Denial::RouteNotFound)));
    };

    let offline =
        |cert: &Option<Vec<u8>>| Offline { store: Store::default(), cert: cert.clone(), headers: headers.clone() };
    // Every check, for the explanation.
    let all_head = route.check_head(&head, Mode::Monitor, &offline(&cert));
    let too_large = route.needs_body() && body.len() as u64 > policy.max_body_bytes;
    let all_body = (route.needs_body() && !too_large).then(|| route.check_body(&head, body, Mode::Monitor));
    let explained = steps(route, &head, &all_head, all_body.as_ref());

    // The verdict, as the plugin reaches it.
    let head_findings = route.check_head(&head, policy.mode, &offline(&cert));
    let mut first = head_findings.denials.first().copied();
    if first.is_none() || policy.mode == Mode::Monitor {
        if too_large {
            first = first.or(Some(Denial::PayloadTooLarge));
        } else if route.needs_body() {
            let body_findings = route.check_body(&head, body, policy.mode);
            first = first.or(body_findings.denials.first().copied());
        }
    }
    // Steps after the first failure did not run in enforce mode.
    let mut failed = false;
    writeln!(
        out,
        "checks   ({}: {})",
        route.name,
        if policy.mode == Mode::Monitor { "monitor mode" } else { "in order, the first failure ends the request" }
    )?;
    for s in explained {
        let outcome =
            if failed && policy.mode == Mode::Enforce { Outcome::NotReached(Box::new(s.outcome)) } else { s.outcome };
        if matches!(outcome, Outcome::Fail(_)) {
            failed = true;
        }
        writeln!(out, "  {:<22} {}", s.check, outcome_text(&outcome))?;
    }
    if too_large {
        writeln!(out, "  {:<22} fail: payload_too_large: {}", "body", describe("payload_too_large"))?;
    }
    if route.checks.dedupe.is_some() {
        writeln!(out, "  {:<22} not known here: whether Envoy already delivered this message", "dedupe")?;
    }
    let verdict = match (verdict_routing, first, policy.mode) {
        (Some(v), _, _) if want_route.is_none() => v,
        (_, Some(d), Mode::Enforce) => reply(d),
        (_, d, _) => Verdict::Forward { route: Some(route.name.clone()), would_deny: d },
    };
    finish(out, policy, verdict)
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Pass(Some(id)) => format!("pass (secret \"{id}\")"),
        Outcome::Pass(None) => "pass".into(),
        Outcome::Fail(d) => match describe(d.reason()) {
            "" => format!("fail: {}", d.reason()),
            why => format!("fail: {}: {why}", d.reason()),
        },
        Outcome::NotReached(inner) => format!("not reached (would be: {})", outcome_text(inner)),
    }
}

fn finish(out: &mut dyn Write, _policy: &Policy, verdict: Verdict) -> std::io::Result<ExitCode> {
    match verdict {
        Verdict::Forward { route, would_deny } => {
            let header = route.map(|r| format!(" with x-webhook-guard: route={r}")).unwrap_or_default();
            match would_deny {
                Some(d) => writeln!(out, "verdict  forwarded (monitor mode){header}; would_deny={}", d.reason())?,
                None => writeln!(out, "verdict  forwarded{header}")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Reply { reply, denial, allow } => {
            let allow = allow.map(|a| format!(" Allow: {a}")).unwrap_or_default();
            writeln!(out, "verdict  {} {}{allow}  (reason {})", reply.status, reply.body, denial.reason())?;
            Ok(ExitCode::from(1))
        }
    }
}

/// Load the one configuration `--config` holds, with the environment its VM would have.
pub fn load(config: &std::path::Path, opts: &crate::check::Options) -> Result<Policy, String> {
    let (bytes, env) = crate::check::only_configuration(config, opts)?;
    plugin::parse(&bytes, env).map_err(|e| format!("{}: the plugin refuses this configuration: {e}", config.display()))
}
