//! Plugin configuration: the wire types (serde, unknown fields refused) and their
//! compilation into a validated [`Policy`]. Every error names the path of the field.

use serde::Deserialize;

use crate::dedupe::Dedupe;
use crate::policy::{Checks, Matcher, Mode, Policy, Route, Unmatched};
use crate::rate_limit::{RateLimit, RateLimitConfig};
use crate::remote_list::{EntryKind, RemoteList, RemoteListConfig};
use crate::verify::cert::{normalize_thumbprint, ClientCertCheck, ClientCertConfig};
use crate::verify::headers::{SecretHeader, SecretHeaderConfig};
use crate::verify::ip::{looks_like_cidr, IpAllowlist, IpAllowlistConfig};
use crate::verify::jwt::{JwtCheck, JwtConfig};
use crate::verify::payload::{PayloadCheck, PayloadConfig};
use crate::verify::signature::{SignatureCheck, SignatureConfig};

/// Looks up an environment variable of the VM (`vm_config.environment_variables`).
pub type Env = dyn Fn(&str) -> Option<String>;

/// An operator-facing configuration error: the path of the bad field and what is wrong.
/// It never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub api: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub unmatched: Option<String>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: MatchConfig,
    #[serde(default)]
    pub checks: ChecksConfig,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub path_prefix: Option<String>,
    pub path_exact: Option<String>,
    pub host: Option<String>,
    pub methods: Option<Vec<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    pub ip_allowlist: Option<IpAllowlistConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    pub client_cert: Option<ClientCertConfig>,
    pub headers: Option<Vec<SecretHeaderConfig>>,
    pub jwt: Option<JwtConfig>,
    pub signature: Option<SignatureConfig>,
    pub developer_payload: Option<PayloadConfig>,
}

/// Parse and validate the plugin configuration (JSON bytes from Envoy).
pub fn parse(bytes: &[u8], env: &Env) -> Result<Policy, ConfigError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let wire: PolicyConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::new(path, e.into_inner().to_string())
    })?;
    compile(wire, env)
}

pub fn compile(wire: PolicyConfig, env: &Env) -> Result<Policy, ConfigError> {
    if wire.api != "v1" {
        return Err(ConfigError::new("api", format!("unsupported api \"{}\" (expected \"v1\")", wire.api)));
    }
    let mode = match wire.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("monitor") => Mode::Monitor,
        Some(other) => return Err(ConfigError::new("mode", format!("\"{other}\" is not one of enforce, monitor"))),
    };
    let unmatched = match wire.unmatched.as_deref() {
        None | Some("deny") => Unmatched::Deny,
        Some("allow") => Unmatched::Allow,
        Some(other) => return Err(ConfigError::new("unmatched", format!("\"{other}\" is not one of allow, deny"))),
    };
    let max_body_bytes = wire.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes == 0 {
        return Err(ConfigError::new("max_body_bytes", "must be greater than 0"));
    }
    let mut routes: Vec<Route> = Vec::with_capacity(wire.routes.len());
    let mut remote_lists = Vec::new();
    for (i, r) in wire.routes.into_iter().enumerate() {
        let path = format!("routes[{i}]");
        let route = compile_route(r, &path, env, &mut remote_lists)?;
        if routes.iter().any(|o| o.name == route.name) {
            return Err(ConfigError::new(format!("{path}.name"), format!("duplicate route name \"{}\"", route.name)));
        }
        routes.push(route);
    }
    Ok(Policy { mode, max_body_bytes, unmatched, routes, remote_lists })
}

/// Entries of a remote thumbprint list, compared in one canonical spelling.
pub const THUMBPRINTS: EntryKind = EntryKind {
    looks_like: |s| normalize_thumbprint(s).is_some(),
    canonical: |s| normalize_thumbprint(s).map(|t| t.to_string()).unwrap_or_default(),
};

/// Entries of a remote IP list: CIDRs or addresses.
pub const CIDRS: EntryKind = EntryKind { looks_like: looks_like_cidr, canonical: |s| s.trim().to_string() };

fn compile_list(
    c: &Option<RemoteListConfig>,
    path: &str,
    env: &Env,
    name: String,
    kind: EntryKind,
    lists: &mut Vec<(RemoteList, EntryKind)>,
) -> Result<Option<String>, ConfigError> {
    let Some(c) = c else { return Ok(None) };
    let list = RemoteList::compile(c, path, env, &name)?;
    lists.push((list, kind));
    Ok(Some(name))
}

fn compile_route(
    r: RouteConfig,
    path: &str,
    env: &Env,
    lists: &mut Vec<(RemoteList, EntryKind)>,
) -> Result<Route, ConfigError> {
    check_name(&r.name, &format!("{path}.name"))?;
    if r.name == "unmatched" {
        // `webhook_guard.unmatched.*` counts requests that match no route.
        return Err(ConfigError::new(
            format!("{path}.name"),
            "\"unmatched\" is reserved for requests that match no route",
        ));
    }
    let mp = format!("{path}.match");
    let m = r.matcher;
    let matcher = match (m.path_prefix, m.path_exact) {
        (Some(_), Some(_)) => return Err(ConfigError::new(&mp, "set either path_prefix or path_exact, not both")),
        (None, None) => return Err(ConfigError::new(&mp, "one of path_prefix or path_exact is required")),
        (Some(p), None) => {
            check_path(&p, &format!("{mp}.path_prefix"))?;
            Matcher::Prefix(p)
        }
        (None, Some(p)) => {
            check_path(&p, &format!("{mp}.path_exact"))?;
            Matcher::Exact(p)
        }
    };
    let host = match m.host {
        Some(h) if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) => {
            return Err(ConfigError::new(format!("{mp}.host"), format!("\"{h}\" is not a host name")));
        }
        Some(h) => Some(h.to_ascii_lowercase()),
        None => None,
    };
    let methods = match m.methods {
        None => vec!["POST".to_string()],
        Some(v) if v.is_empty() => {
            return Err(ConfigError::new(format!("{mp}.methods"), "must list at least one method"))
        }
        Some(v) => {
            let mut out = Vec::with_capacity(v.len());
            for (j, meth) in v.into_iter().enumerate() {
                if meth.is_empty() || !meth.bytes().all(|c| c.is_ascii_alphabetic()) {
                    return Err(ConfigError::new(
                        format!("{mp}.methods[{j}]"),
                        format!("\"{meth}\" is not an HTTP method"),
                    ));
                }
                let up = meth.to_ascii_uppercase();
                if !out.contains(&up) {
                    out.push(up);
                }
            }
            out
        }
    };
    let cp = format!("{path}.checks");
    let c = r.checks;
    let signature = match &c.signature {
        Some(s) => Some(SignatureCheck::compile(s, &format!("{cp}.signature"), env)?),
        None => None,
    };
    let (mut ip_allowlist, mut ip_list) = (None, None);
    if let Some(ip) = &c.ip_allowlist {
        let ipp = format!("{cp}.ip_allowlist");
        ip_allowlist = Some(IpAllowlist::compile(ip, &ipp)?);
        let name = format!("{}.ip_allowlist", r.name);
        ip_list = compile_list(&ip.remote_list, &format!("{ipp}.remote_list"), env, name, CIDRS, lists)?;
    }
    let rate_limit = match &c.rate_limit {
        Some(rl) => Some(RateLimit::compile(rl, &format!("{cp}.rate_limit"), &r.name)?),
        None => None,
    };
    let (mut client_cert, mut cert_list) = (None, None);
    if let Some(cc) = &c.client_cert {
        let ccp = format!("{cp}.client_cert");
        client_cert = Some(ClientCertCheck::compile(cc, &ccp)?);
        let name = format!("{}.client_cert", r.name);
        cert_list = compile_list(&cc.remote_list, &format!("{ccp}.remote_list"), env, name, THUMBPRINTS, lists)?;
    }
    let mut headers = Vec::new();
    for (i, h) in c.headers.iter().flatten().enumerate() {
        let hp = format!("{cp}.headers[{i}]");
        let header = SecretHeader::compile(h, &hp, env)?;
        if headers.iter().any(|o: &SecretHeader| o.name == header.name) {
            return Err(ConfigError::new(format!("{hp}.name"), format!("header \"{}\" is listed twice", header.name)));
        }
        headers.push(header);
    }
    if c.headers.as_ref().is_some_and(Vec::is_empty) {
        return Err(ConfigError::new(format!("{cp}.headers"), "list at least one header, or leave `headers` out"));
    }
    let jwt = match &c.jwt {
        Some(j) => Some(JwtCheck::compile(j, &format!("{cp}.jwt"), env)?),
        None => None,
    };
    let dedupe = match c.signature.as_ref().and_then(|s| s.dedupe.as_ref()) {
        Some(d) => Some(Dedupe::compile(d, &format!("{cp}.signature.dedupe"), &r.name)?),
        None => None,
    };
    let payload = match &c.developer_payload {
        Some(p) => Some(PayloadCheck::compile(p, &format!("{cp}.developer_payload"), env)?),
        None => None,
    };
    let checks = Checks {
        ip_allowlist,
        ip_list,
        rate_limit,
        client_cert,
        cert_list,
        headers,
        jwt,
        signature,
        dedupe,
        payload,
        ..Checks::default()
    };
    if checks.is_empty() {
        // A route with no check would forward anything while looking protected.
        return Err(ConfigError::new(&cp, "a route needs at least one check"));
    }
    Ok(Route { name: r.name, matcher, host, methods, checks })
}

fn check_path(p: &str, path: &str) -> Result<(), ConfigError> {
    if !p.starts_with('/') || p.contains('?') || p.contains('#') {
        return Err(ConfigError::new(path, format!("\"{p}\" must start with '/' and hold no query or fragment")));
    }
    Ok(())
}

/// Names used in logs and metric names: `[a-z0-9_-]+`, at most 64 characters.
pub fn check_name(name: &str, path: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(path, format!("\"{name}\" must match [a-z0-9_-]+ (at most 64 characters)")))
    }
}
