//! The plugin's core, as this command uses it. Every call into the configuration API
//! goes through here, so when that API changes, this file is what changes.

use std::collections::HashMap;

use webhook_guard::config::{self, PolicyConfig};
pub use webhook_guard::error::ConfigError;
pub use webhook_guard::policy::Policy;
use webhook_guard::verify::signature::sign::Signer;

/// Parse and compile a plugin configuration exactly as the plugin does in
/// `on_configure`: the same bytes, the same first error. `env` is every variable the
/// VM would see (`vm_config.environment_variables`).
pub fn parse(json: &[u8], env: HashMap<String, String>) -> Result<Policy, ConfigError> {
    let lookup = move |name: &str| env.get(name).cloned();
    config::parse(json, &lookup)
}

/// The variable an "unset or empty" secret error is about, if it is one.
pub fn unset_variable(e: &ConfigError) -> Option<&str> {
    if !e.path.ends_with(".env") {
        return None;
    }
    let rest = e.message.strip_prefix("environment variable ")?;
    let (name, tail) = rest.split_once(' ')?;
    tail.starts_with("is unset or empty").then_some(name)
}

/// Seconds since the epoch of an RFC 3339 time, read as the plugin reads `not_after`.
pub fn rfc3339(s: &str) -> Option<u64> {
    webhook_guard::time::parse_rfc3339(s)
}

/// What a request to an `event_grid` route carries to pass its authentication: each
/// `headers` entry with its first secret live at `now` (resolved from `env` as the
/// plugin resolves it). `Ok(None)`: the route has no `event_grid`.
pub fn event_grid_headers(
    json: &[u8],
    env: HashMap<String, String>,
    route: &str,
    now: u64,
) -> Result<Option<Vec<(String, String)>>, String> {
    let wire: PolicyConfig = config::read(json).map_err(|e| e.to_string())?;
    let Some((i, r)) = wire.routes.iter().enumerate().find(|(_, r)| r.name == route) else { return Ok(None) };
    if r.checks.event_grid.is_none() {
        return Ok(None);
    }
    let lookup = move |name: &str| env.get(name).cloned();
    let mut out = Vec::new();
    for (j, h) in r.checks.headers.iter().flatten().enumerate() {
        let path = format!("routes[{i}].checks.headers[{j}]");
        let live = h.live_secret(&path, &lookup, now).map_err(|e| e.to_string())?;
        let live = live.ok_or_else(|| format!("{path}.secrets: no secret is live now"))?;
        let value = String::from_utf8(live).map_err(|_| format!("{path}.secrets: not text"))?;
        out.push((h.name.to_ascii_lowercase(), value));
    }
    if out.is_empty() {
        return Err(format!(
            "route \"{route}\" authenticates Event Grid with a JWT (Entra ID): mint a test token with `webhook-guard jwt`"
        ));
    }
    Ok(Some(out))
}

/// The signer of route `route` and, when the route has shared secrets, the first one
/// live at `now`, resolved from `env` as the plugin resolves it.
pub fn route_signer(
    json: &[u8],
    env: HashMap<String, String>,
    route: &str,
    now: u64,
) -> Result<(Signer, Option<Vec<u8>>), String> {
    let policy = parse(json, env.clone()).map_err(|e| format!("the plugin refuses this configuration: {e}"))?;
    let Some(compiled) = policy.routes.iter().find(|r| r.name == route) else {
        let names: Vec<&str> = policy.routes.iter().map(|r| r.name.as_str()).collect();
        return Err(format!("no route \"{route}\" (routes: {})", names.join(", ")));
    };
    let no_signature = || format!("route \"{route}\" has no signature check");
    let check = compiled.checks.signature.as_ref().ok_or_else(no_signature)?;
    let wire: PolicyConfig = config::read(json).map_err(|e| e.to_string())?;
    let (i, sig) = wire
        .routes
        .iter()
        .enumerate()
        .find_map(|(i, r)| Some((i, r.checks.signature.as_ref().filter(|_| r.name == route)?)))
        .ok_or_else(no_signature)?;
    let signer = check.signer(&sig.scheme).ok_or_else(no_signature)?;
    let lookup = move |name: &str| env.get(name).cloned();
    let secret = sig.live_secret(&format!("routes[{i}].checks.signature"), &lookup, now).map_err(|e| e.to_string())?;
    Ok((signer, secret))
}
