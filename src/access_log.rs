//! The verdict of a request, handed to the host for Envoy's access log.
//!
//! Only names go there (route, outcome, reasons, secret ids), never a secret, a
//! signature or a token. The Wasm edition writes each field as filter state:
//! `webhook_guard.route` becomes the object `wasm.webhook_guard.route`, which an access
//! log reads with `%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%`.

use crate::host::RequestHost;
use crate::verdict::{Outcome, Verdict};

pub const ROUTE: &str = "webhook_guard.route";
pub const OUTCOME: &str = "webhook_guard.outcome";
pub const REASON: &str = "webhook_guard.reason";
pub const SECRET: &str = "webhook_guard.secret";

/// Every field a request may get, in the order they are written.
pub const KEYS: [&str; 4] = [ROUTE, OUTCOME, REASON, SECRET];

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
pub fn publish(host: &mut impl RequestHost, route: &str, verdict: &Verdict<'_>) {
    let Some(outcome) = outcome_name(verdict.outcome) else { return };
    let mut reasons: Vec<&str> = verdict.denials.iter().map(|d| d.reason()).collect();
    if verdict.outcome == Outcome::WouldDenyDuplicate {
        reasons.push("duplicate");
    }
    let secrets: Vec<&str> = verdict.secrets.iter().map(|s| s.secret_id.as_str()).collect();
    host.set_access_log_field(ROUTE, route);
    host.set_access_log_field(OUTCOME, outcome);
    for (key, values) in [(REASON, reasons), (SECRET, secrets)] {
        match values.as_slice() {
            [] => {}
            // Most requests have one: written as it is, without joining a copy.
            [one] => host.set_access_log_field(key, one),
            many => host.set_access_log_field(key, &many.join(",")),
        }
    }
}
