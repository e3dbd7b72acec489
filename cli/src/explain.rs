//! `webhook-guard explain`: a captured request through a route's checks, the way the
//! plugin runs them, each with pass or the precise reason the client is never told.
//!
//! The checks and the verdict are the plugin's own (`Policy::route`, `Route::check_head`
//! and `check_body`, then `verdict::Case` stage by stage, as the filter drives it); the
//! checks run once more in monitor mode so that every check has something to say, even
//! after the one that refused the request.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use std::sync::Arc;

use webhook_guard::denial::Denial;
use webhook_guard::policy::{Findings, Lookups, Mode, Policy, Route, Routing, Unmatched};
use webhook_guard::remote_list::ListState;
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::shared::{MemoryStore, SharedStore};
use webhook_guard::verdict::{Case, Decision, HeaderEdit, Judge, Outcome as VerdictOutcome, Verdict};
use webhook_guard::verify::cert::{pem_to_der, PeerCertForm};
use webhook_guard::verify::x509::{read_pem, SigningCert};

use crate::capture::Captured;
use crate::plugin;

/// What Envoy would know about the request besides its headers.
struct Offline {
    /// A just-started Envoy's shared data: rate limits start full.
    store: MemoryStore,
    /// PEM of the certificate the client presented on the connection (`--client-cert`).
    cert_pem: Option<Vec<u8>>,
    /// The SNS or PayPal signing certificate (`--signing-cert`), as Envoy would have fetched it.
    signing_cert: Option<Arc<SigningCert>>,
}

impl Lookups for Offline {
    fn store(&self) -> &dyn SharedStore {
        &self.store
    }

    fn list(&self, _name: &str) -> ListState {
        // The list is what Envoy fetched: not known here.
        ListState::Unavailable { retry_after_seconds: 60 }
    }

    // Nothing is fetched here.
    fn fetch_early(&self, _name: &str) {}

    fn signing_cert(&self, _url: &str) -> Option<Arc<SigningCert>> {
        // The check accepted the URL before asking; the certificate is the one given.
        self.signing_cert.clone()
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        // What a current Envoy gives: the certificate itself.
        match form {
            PeerCertForm::Pem => self.cert_pem.clone(),
            PeerCertForm::Sha256Digest => None,
        }
    }
}

pub struct Request {
    pub captured: Captured,
    pub client: Option<IpAddr>,
    pub cert_pem: Option<Vec<u8>>,
    /// The certificate an SNS message's SigningCertURL names (PEM), as Envoy would fetch it.
    pub signing_cert: Option<Vec<u8>>,
    pub now: u64,
}

/// What the client is never told: the plugin's own sentence for the reason, with how to
/// give `explain` what only Envoy knows.
fn why(d: Denial) -> String {
    let hint = match d {
        // Offline a remote list is never there: Envoy fetches it.
        Denial::ListUnavailable => {
            return "the check needs its remote list, JWKS, signing certificate or sender's key, which Envoy fetches: \
                    not known here (for sns and paypal, pass --signing-cert PEM)"
                .into()
        }
        Denial::ClientAddressUnknown => "pass --client ADDR",
        Denial::TimestampOutOfTolerance => "a captured request is old: try --now",
        Denial::CertMissing => "pass --client-cert PEM, or send x-forwarded-client-cert",
        Denial::SnsCertExpired => "a captured message may name a certificate since replaced: try --now",
        _ => return d.explanation().into(),
    };
    format!("{} ({hint})", d.explanation())
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
fn steps(
    route: &Route,
    head: &RequestHead,
    body_bytes: &[u8],
    findings: &Findings,
    body_findings: Option<&Findings>,
) -> Vec<Step> {
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
            // A fetched JWKS is a remote list: offline it is never there.
            None => denial_of(findings, &mut i, |r| r.starts_with("token_") || list(r))
                .map_or(Outcome::Pass(None), Outcome::Fail),
        };
        push("jwt", outcome);
    }
    let Some(body) = body_findings else { return out };
    let mut j = 0;
    if let Some(eg) = &c.event_grid {
        // It runs first on the body: its refusal is the first body denial.
        let outcome = match eg.handshake(head, body_bytes) {
            Some(Err(d)) => {
                j += 1;
                Outcome::Fail(d)
            }
            _ => Outcome::Pass(None),
        };
        push("event_grid", outcome);
    }
    if c.sns.is_some() {
        // After event_grid: a denial of its family next in the list is its own.
        let d = denial_of(body, &mut j, |r| r.starts_with("sns_") || r == "signature_mismatch" || list(r));
        push("sns", d.map_or(Outcome::Pass(None), Outcome::Fail));
    }
    let body_checks = [
        ("signature", c.signature.is_some()),
        ("paypal", c.paypal.is_some()),
        ("plaid", c.plaid.is_some()),
        ("developer_payload", c.payload.is_some()),
    ];
    for (check, present) in body_checks {
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

pub fn run(policy: Policy, want_route: Option<&str>, req: Request, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    if req.cert_pem.as_deref().is_some_and(|pem| pem_to_der(pem).is_none()) {
        writeln!(out, "--client-cert: no certificate in the file")?;
        return Ok(ExitCode::from(1));
    }
    let cert = req.cert_pem.clone();
    let signing_cert = match req.signing_cert.as_deref().map(read_pem).transpose() {
        Ok(c) => c.map(Arc::new),
        Err(why) => {
            writeln!(out, "--signing-cert: {why}")?;
            return Ok(ExitCode::from(1));
        }
    };
    let headers = Headers::new(req.captured.headers.clone());
    let client = req.client.map(|ip| SocketAddr::new(ip, 50_000));
    let head = RequestHead::from_headers(headers.clone(), client, req.now);
    let body = &req.captured.body;
    let host = String::from_utf8_lossy(req.captured.header(":authority").unwrap_or_default()).into_owned();
    let plural = if body.len() == 1 { "" } else { "s" };
    let shown_host = if host.is_empty() { "-" } else { &host };
    writeln!(
        out,
        "request  {} {} (host {shown_host}), {} byte{plural} of body",
        head.method(),
        head.raw_path(),
        body.len()
    )?;
    let names: Vec<&str> =
        req.captured.headers.iter().map(|(n, _)| n.as_str()).filter(|n| !n.starts_with(':')).collect();
    let names = if names.is_empty() { "-".to_string() } else { names.join(", ") };
    writeln!(out, "headers  {names}  (values not shown)")?;
    if let Some(ip) = req.client {
        writeln!(out, "client   {ip}")?;
    }
    writeln!(out, "now      {}", req.now)?;

    let judge = Judge::new(Arc::new(policy));
    let policy = judge.policy();
    let routing = policy.route(&head);
    let routed = match &routing {
        Routing::Route(i) => Some(*i),
        _ => None,
    };
    let wanted = match want_route {
        Some(name) => match policy.routes.iter().position(|r| r.name == name) {
            Some(i) => Some(i),
            None => {
                let all: Vec<&str> = policy.routes.iter().map(|r| r.name.as_str()).collect();
                writeln!(out, "--route {name}: no such route (routes: {})", all.join(", "))?;
                return Ok(ExitCode::from(1));
            }
        },
        None => None,
    };
    let name = |i: usize| policy.routes.get(i).map_or("", |r| r.name.as_str());
    let routing_line = match &routing {
        Routing::Route(i) => format!("route {}", name(*i)),
        Routing::MethodNotAllowed { allow } => {
            format!("fail: method_not_allowed: {} (allowed: {allow})", why(Denial::MethodNotAllowed))
        }
        Routing::Ambiguous => format!("fail: ambiguous_path: {}", why(Denial::AmbiguousPath)),
        Routing::NotFound if policy.unmatched == Unmatched::Allow => {
            "no route matches: forwarded unchecked (unmatched: allow)".into()
        }
        Routing::NotFound => format!("fail: route_not_found: {}", why(Denial::RouteNotFound)),
    };
    writeln!(out, "routing  {routing_line}")?;
    // With --route, that route's checks run as if the request had reached it.
    let routing = match (wanted, routed) {
        (Some(w), Some(r)) if w != r => {
            writeln!(
                out,
                "         (the request reaches route {}, not {}: the checks of {} follow)",
                name(r),
                name(w),
                name(w)
            )?;
            Routing::Route(w)
        }
        (Some(w), None) => {
            writeln!(out, "         (the checks of route {} follow, as if the request had reached it)", name(w))?;
            Routing::Route(w)
        }
        _ => routing,
    };
    let mut case = Case::default();
    let store = MemoryStore::default();
    let index = match case.on_routing(&judge, routing, &head) {
        Ok(i) => i,
        Err(verdict) => return finish(out, &verdict),
    };
    let Some(route) = policy.routes.get(index) else { return Ok(ExitCode::from(1)) };
    let offline =
        || Offline { store: MemoryStore::default(), cert_pem: cert.clone(), signing_cert: signing_cert.clone() };

    // Every check in monitor mode, for the explanation.
    let all_head = route.check_head(&head, Mode::Monitor, &offline());
    let too_large = route.needs_body() && body.len() as u64 > policy.max_body_bytes;
    let all_body = (route.needs_body() && !too_large)
        .then(|| route.check_body_with(&head, body, Mode::Monitor, Some(&offline() as &dyn Lookups)));
    let explained = steps(route, &head, body, &all_head, all_body.as_ref());

    // The verdict, stage by stage as the filter reaches it.
    let lookups = Offline { store, cert_pem: cert.clone(), signing_cert: signing_cert.clone() };
    let findings = route.check_head(&head, policy.mode, &lookups);
    let mut verdict = case.on_head(&judge, &head, findings, &lookups.store);
    if verdict.decision == Decision::KeepBuffering {
        verdict = match case.on_body_data(&judge, &head, body.len()) {
            Some(v) => v,
            None => case.on_body_with(&judge, &head, body, &lookups),
        };
    }

    let mode =
        if policy.mode == Mode::Monitor { "monitor mode" } else { "in order, the first failure ends the request" };
    writeln!(out, "checks   ({}: {mode})", route.name)?;
    let mut failed = false;
    for s in explained {
        let outcome =
            if failed && policy.mode == Mode::Enforce { Outcome::NotReached(Box::new(s.outcome)) } else { s.outcome };
        if matches!(outcome, Outcome::Fail(_)) {
            failed = true;
        }
        writeln!(out, "  {:<22} {}", s.check, outcome_text(&outcome))?;
    }
    if verdict.outcome.reason() == Some("payload_too_large") {
        writeln!(out, "  {:<22} fail: payload_too_large: {}", "body", why(Denial::PayloadTooLarge))?;
    }
    if route.checks.dedupe.is_some() {
        writeln!(out, "  {:<22} not known here: whether Envoy already delivered this message", "dedupe")?;
    }
    finish(out, &verdict)
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Pass(Some(id)) => format!("pass (secret \"{id}\")"),
        Outcome::Pass(None) => "pass".into(),
        Outcome::Fail(d) => format!("fail: {}: {}", d.reason(), why(*d)),
        Outcome::NotReached(inner) => format!("not reached (would be: {})", outcome_text(inner)),
    }
}

/// The plugin's decision, as the client and the upstream would see it.
fn finish(out: &mut dyn Write, verdict: &Verdict) -> std::io::Result<ExitCode> {
    let reason = verdict.outcome.reason().map(|r| format!("  (reason {r})")).unwrap_or_default();
    match &verdict.decision {
        Decision::Forward(edits) => {
            let mut set = Vec::new();
            let mut removed = Vec::new();
            for e in edits {
                match e {
                    HeaderEdit::Set(n, v) => set.push(format!(" with {n}: {v}")),
                    HeaderEdit::Remove(n) => removed.push(*n),
                }
            }
            let monitor =
                if matches!(verdict.outcome, VerdictOutcome::WouldDeny(_) | VerdictOutcome::WouldDenyDuplicate) {
                    " (monitor mode)"
                } else if verdict.outcome == VerdictOutcome::Unchecked {
                    " unchecked"
                } else {
                    ""
                };
            let stripped = if removed.is_empty() { String::new() } else { format!(", without {}", removed.join(", ")) };
            writeln!(out, "verdict  forwarded{monitor}{}{stripped}", set.concat())?;
            Ok(ExitCode::SUCCESS)
        }
        Decision::Reply { status, body, headers } => {
            let extra: Vec<String> = headers
                .iter()
                .filter(|(n, _)| *n != "content-type")
                .map(|(n, v)| format!(" {}: {v}", capitalised(n)))
                .collect();
            writeln!(out, "verdict  {status} {body}{}{reason}", extra.concat())?;
            Ok(ExitCode::from(if (200..300).contains(status) { 0 } else { 1 }))
        }
        Decision::KeepBuffering => {
            writeln!(out, "verdict  still waiting for the body")?;
            Ok(ExitCode::from(1))
        }
        Decision::Handshake(reply) => {
            let extra: Vec<String> = reply.headers.iter().map(|(n, v)| format!(" {}: {v}", capitalised(n))).collect();
            let body = if reply.body.is_empty() { "(no body)" } else { reply.body.as_str() };
            writeln!(out, "verdict  200 {body}{} (a provider handshake, answered by the filter)", extra.concat())?;
            Ok(ExitCode::SUCCESS)
        }
        // Offline lookups never let a check wait for a fetch; should one, say so.
        Decision::Fetch(need) => {
            writeln!(out, "verdict  would wait for a fetch of {}", need.key())?;
            Ok(ExitCode::from(1))
        }
    }
}

fn capitalised(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Load the one configuration `--config` holds, with the environment its VM would have.
pub fn load(config: &std::path::Path, opts: &crate::check::Options) -> Result<Policy, String> {
    let (bytes, env) = crate::check::only_configuration(config, opts)?;
    plugin::parse(&bytes, env).map_err(|e| format!("{}: the plugin refuses this configuration: {e}", config.display()))
}
