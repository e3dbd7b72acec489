//! The verdict of a request, handed to Envoy for its access log.
//!
//! Each value is Wasm filter state: `set_property(["webhook_guard.route"], ..)` becomes
//! the filter state object `wasm.webhook_guard.route`, which an access log reads with
//! `%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%`. Only names go there (route, outcome,
//! reasons, secret ids), never a secret, a signature or a token.

use proxy_wasm::hostcalls;

/// What the filter did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed; forwarded.
    Allowed,
    /// Refused and answered locally.
    Denied,
    /// Monitor mode: a check failed (or the message was a duplicate), forwarded anyway.
    WouldDeny,
    /// A replayed message already delivered, answered locally (`dedupe`).
    Duplicate,
    /// No route matched and `unmatched: allow` forwarded it without checks.
    Unchecked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::WouldDeny => "would_deny",
            Outcome::Duplicate => "duplicate",
            Outcome::Unchecked => "unchecked",
        }
    }
}

const ROUTE: &str = "webhook_guard.route";
const OUTCOME: &str = "webhook_guard.outcome";
const REASON: &str = "webhook_guard.reason";
const SECRET: &str = "webhook_guard.secret";

/// Publish the verdict. `reasons` and `secrets` are written only when there are any
/// (several are joined with `,`), so an access log shows them as absent otherwise.
pub fn publish<'a>(
    route: &str,
    outcome: Outcome,
    reasons: impl IntoIterator<Item = &'a str>,
    secrets: impl IntoIterator<Item = &'a str>,
) {
    // A failure here (no stream, e.g.) only costs the access log its fields; the
    // request itself was already decided.
    let _ = hostcalls::set_property(vec![ROUTE], Some(route.as_bytes()));
    let _ = hostcalls::set_property(vec![OUTCOME], Some(outcome.as_str().as_bytes()));
    for (key, values) in [(REASON, joined(reasons)), (SECRET, joined(secrets))] {
        if !values.is_empty() {
            let _ = hostcalls::set_property(vec![key], Some(values.as_bytes()));
        }
    }
}

fn joined<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for item in items {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}
