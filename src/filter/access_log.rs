//! The verdict of a request, handed to Envoy for its access log.
//!
//! Each value is Wasm filter state: `set_property(["webhook_guard.route"], ..)` becomes
//! the filter state object `wasm.webhook_guard.route`, which an access log reads with
//! `%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%`. Only names go there (route, outcome,
//! reasons, secret ids), never a secret, a signature or a token.

use proxy_wasm::hostcalls;

use crate::verdict::{Outcome, Verdict};

const ROUTE: &str = "webhook_guard.route";
const OUTCOME: &str = "webhook_guard.outcome";
const REASON: &str = "webhook_guard.reason";
const SECRET: &str = "webhook_guard.secret";

/// The outcome as the access log names it; `None` while the verdict is pending.
fn outcome_name(outcome: Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Allowed => "allowed",
        Outcome::Denied(_) => "denied",
        Outcome::WouldDeny(_) | Outcome::WouldDenyDuplicate => "would_deny",
        Outcome::Duplicate => "duplicate",
        Outcome::Unchecked => "unchecked",
        Outcome::Handshake => "handshake",
        Outcome::Pending => return None,
    })
}

/// Publish a final verdict: the route, the outcome, the reasons of every denial (in
/// monitor mode all that failed; `duplicate` for a replay monitor mode forwarded) and
/// the ids of the secrets that matched. Reasons and secrets are written only when there
/// are any (several joined with `,`), so an access log shows them as absent otherwise.
pub fn publish(route: &str, verdict: &Verdict<'_>) {
    let Some(outcome) = outcome_name(verdict.outcome) else { return };
    let mut reasons: Vec<&str> = verdict.denials.iter().map(|d| d.reason()).collect();
    if verdict.outcome == Outcome::WouldDenyDuplicate {
        reasons.push("duplicate");
    }
    let secrets: Vec<&str> = verdict.secrets.iter().map(|s| s.secret_id.as_str()).collect();
    // A failure here (no stream, e.g.) only costs the access log its fields; the
    // request itself is already decided.
    let _ = hostcalls::set_property(vec![ROUTE], Some(route.as_bytes()));
    let _ = hostcalls::set_property(vec![OUTCOME], Some(outcome.as_bytes()));
    for (key, values) in [(REASON, reasons), (SECRET, secrets)] {
        if !values.is_empty() {
            let _ = hostcalls::set_property(vec![key], Some(values.join(",").as_bytes()));
        }
    }
}
