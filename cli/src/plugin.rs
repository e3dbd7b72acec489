//! The plugin's core, as this command uses it. Every call into the configuration API
//! goes through here, so when that API changes, this file is what changes.

use std::collections::HashMap;

use webhook_guard::config;
pub use webhook_guard::error::ConfigError;
pub use webhook_guard::policy::Policy;

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
