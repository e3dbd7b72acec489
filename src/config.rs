//! Plugin configuration: the wire types (read by [`crate::wire`], unknown fields
//! refused) and their compilation into a validated [`Policy`]. Every error names the
//! path of the field.

use serde::Deserialize;

use crate::dedupe::Dedupe;
use crate::error::{check_name, ConfigError, Env};
use crate::policy::{Checks, Matcher, Mode, Policy, Route, Unmatched};
use crate::rate_limit::{RateLimit, RateLimitConfig};
use crate::remote_list::{EntryKind, RemoteList};
use crate::verify::cert::{ClientCertCheck, ClientCertConfig};
use crate::verify::event_grid::{EventGrid, EventGridConfig};
use crate::verify::headers::{SecretHeader, SecretHeaderConfig};
use crate::verify::ip::{IpAllowlist, IpAllowlistConfig};
use crate::verify::jwt::plaid::{PlaidCheck, PlaidConfig};
use crate::verify::jwt::{JwtCheck, JwtConfig};
use crate::verify::payload::{PayloadCheck, PayloadConfig};
use crate::verify::paypal::{PaypalCheck, PaypalConfig};
use crate::verify::signature::{SignatureCheck, SignatureConfig};
use crate::verify::sns::{SnsCheck, SnsConfig};
use crate::wire;

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub api: String,
    pub mode: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub unmatched: Option<String>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    /// `match` on the wire.
    #[serde(rename = "match")]
    pub matcher: MatchConfig,
    #[serde(default)]
    pub checks: ChecksConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub path_prefix: Option<String>,
    pub path_exact: Option<String>,
    pub host: Option<String>,
    pub methods: Option<Vec<String>>,
    /// Default false: paths compare case-insensitively (SPEC 2.2a).
    pub case_sensitive: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    pub ip_allowlist: Option<IpAllowlistConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    pub client_cert: Option<ClientCertConfig>,
    pub headers: Option<Vec<SecretHeaderConfig>>,
    pub jwt: Option<JwtConfig>,
    pub signature: Option<SignatureConfig>,
    pub developer_payload: Option<PayloadConfig>,
    pub paypal: Option<PaypalConfig>,
    pub plaid: Option<PlaidConfig>,
    pub sns: Option<SnsConfig>,
    pub event_grid: Option<EventGridConfig>,
}

/// Parse and validate the plugin configuration (JSON bytes from Envoy).
pub fn parse(bytes: &[u8], env: &Env) -> Result<Policy, ConfigError> {
    compile(wire::read(bytes)?, env)
}

/// The configuration as written, before it is compiled (tools read fields the compiled
/// policy no longer holds, such as where a secret comes from).
#[cfg(not(target_arch = "wasm32"))]
pub fn read(bytes: &[u8]) -> Result<PolicyConfig, ConfigError> {
    wire::read(bytes)
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
    let case_sensitive = m.case_sensitive.unwrap_or(false);
    let (p, exact, field) = match (m.path_prefix, m.path_exact) {
        (Some(_), Some(_)) => return Err(ConfigError::new(&mp, "set either path_prefix or path_exact, not both")),
        (None, None) => return Err(ConfigError::new(&mp, "one of path_prefix or path_exact is required")),
        (Some(p), None) => (p, false, "path_prefix"),
        (None, Some(p)) => (p, true, "path_exact"),
    };
    let matcher =
        Matcher::compile(&p, exact, case_sensitive).map_err(|e| ConfigError::new(format!("{mp}.{field}"), e))?;
    let host = match m.host {
        Some(h) if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && !b"/?#@%\\".contains(&b)) => {
            return Err(ConfigError::new(format!("{mp}.host"), format!("\"{}\" is not a host name", h.escape_debug())));
        }
        Some(h) => {
            // Compared as `:authority` is: without port, brackets or trailing dot.
            let has_port = if h.starts_with('[') { h.contains("]:") } else { h.contains(':') };
            let key = crate::path::host_key(h.as_bytes());
            if key.is_empty() {
                return Err(ConfigError::new(format!("{mp}.host"), format!("\"{h}\" is not a host name")));
            }
            if has_port {
                return Err(ConfigError::new(
                    format!("{mp}.host"),
                    format!("\"{h}\": give the host without a port (IPv6 in brackets)"),
                ));
            }
            Some(key)
        }
        None => None,
    };
    let default_methods = m.methods.is_none();
    let mut methods = match m.methods {
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
    // A provider that shakes hands with a GET (X, Meta, Dropbox) or a HEAD (Trello) gets
    // that method by default.
    if let Some(m) = signature.as_ref().and_then(SignatureCheck::handshake_method).filter(|_| default_methods) {
        methods.push(m.to_string());
    }
    let ip_allowlist = match &c.ip_allowlist {
        Some(ip) => Some(IpAllowlist::compile(ip, &format!("{cp}.ip_allowlist"), env, &r.name, lists)?),
        None => None,
    };
    let rate_limit = match &c.rate_limit {
        Some(rl) => Some(RateLimit::compile(rl, &format!("{cp}.rate_limit"), &r.name)?),
        None => None,
    };
    let client_cert = match &c.client_cert {
        Some(cc) => Some(ClientCertCheck::compile(cc, &format!("{cp}.client_cert"), env, &r.name, lists)?),
        None => None,
    };
    let headers = match &c.headers {
        Some(list) => SecretHeader::compile_all(list, &format!("{cp}.headers"), env)?,
        None => Vec::new(),
    };
    let jwt = match &c.jwt {
        Some(j) => Some(JwtCheck::compile(j, &format!("{cp}.jwt"), env, &r.name, lists)?),
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
    let paypal = match &c.paypal {
        Some(p) => Some(PaypalCheck::compile(p, &format!("{cp}.paypal"))?),
        None => None,
    };
    let plaid = match &c.plaid {
        Some(p) => Some(PlaidCheck::compile(p, &format!("{cp}.plaid"), env)?),
        None => None,
    };
    let sns = match &c.sns {
        Some(s) => Some(SnsCheck::compile(s, &format!("{cp}.sns"))?),
        None => None,
    };
    let event_grid = match &c.event_grid {
        Some(eg) => {
            let authenticated = jwt.is_some() || !headers.is_empty();
            // Its CloudEvents handshake is an OPTIONS, allowed by default.
            if default_methods {
                methods.push(EventGrid::METHOD.to_string());
            }
            Some(EventGrid::compile(eg, &format!("{cp}.event_grid"), authenticated)?)
        }
        None => None,
    };
    let checks = Checks {
        ip_allowlist,
        rate_limit,
        client_cert,
        headers,
        jwt,
        signature,
        dedupe,
        payload,
        paypal,
        plaid,
        sns,
        event_grid,
        ..Checks::default()
    };
    if checks.is_empty() {
        // A route with no check would forward anything while looking protected.
        return Err(ConfigError::new(&cp, "a route needs at least one check"));
    }
    Ok(Route { name: r.name, matcher, authority: host, methods, checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "S").then(|| "s3cr3t-value".to_string())
    }

    const ROUTE: &str = r#"{"name":"a","match":{"path_prefix":"/"},"checks":{"signature":{"scheme":"github","secrets":[{"env":"S"}]}}}"#;

    /// A policy with one route whose `checks` object is `checks`.
    fn with_checks(checks: &str) -> String {
        format!(r#"{{"api":"v1","routes":[{{"name":"a","match":{{"path_prefix":"/"}},"checks":{checks}}}]}}"#)
    }

    fn error(json: &str) -> String {
        parse(json.as_bytes(), &env).unwrap_err().to_string()
    }

    #[test]
    fn route_match_errors_name_the_field() {
        let with_match = |m: &str| {
            format!(
                r#"{{"api":"v1","routes":[{{"name":"a","match":{m},"checks":{{"signature":{{"scheme":"github","secrets":[{{"env":"S"}}]}}}}}}]}}"#
            )
        };
        let table: &[(&str, &str)] = &[
            (r#"{"path_prefix":"/hooks%2Fgithub"}"#, "routes[0].match.path_prefix: \"/hooks%2Fgithub\" holds '%'"),
            (
                r#"{"path_exact":"/hooks/../admin"}"#,
                "routes[0].match.path_exact: \"/hooks/../admin\" holds `//` or a `.`/`..` segment",
            ),
            (
                r#"{"path_prefix":"/a","case_sensitive":"yes"}"#,
                "routes[0].match.case_sensitive: expected true or false",
            ),
            (
                r#"{"path_prefix":"/a","host":"hooks.example.com:443"}"#,
                "routes[0].match.host: \"hooks.example.com:443\": give the host without a port",
            ),
            (r#"{"path_prefix":"/a","host":"a/b"}"#, "routes[0].match.host: \"a/b\" is not a host name"),
            (r#"{"path_prefix":"/a","host":"..."}"#, "routes[0].match.host: \"...\" is not a host name"),
        ];
        for (m, want) in table {
            let got = error(&with_match(m));
            assert!(got.starts_with(want), "{m}\n got {got:?}\nwant {want:?}");
        }
        let p = parse(with_match(r#"{"path_exact":"/Hooks/Exact/","host":"Hooks.Example.COM."}"#).as_bytes(), &env)
            .unwrap();
        assert_eq!(p.routes[0].matcher.path(), "/hooks/exact");
        assert_eq!(p.routes[0].authority.as_deref(), Some("hooks.example.com"));
    }

    #[test]
    fn a_good_policy_parses() {
        let p = parse(format!(r#"{{"api":"v1","mode":null,"routes":[{ROUTE}]}}"#).as_bytes(), &env).unwrap();
        assert_eq!(p.routes.len(), 1);
        assert_eq!(p.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn secrets_with_a_not_after_are_listed_with_it() {
        let checks = r#"{"headers":[{"name":"x-k","secrets":[{"id":"waf","env":"S","not_after":"2030-01-01T00:00:00Z"}]}],
            "signature":{"scheme":"github","secrets":[{"id":"current","env":"S"},{"id":"previous","value":"old","not_after":"2027-01-31T00:00:00Z"}]}}"#;
        let p = parse(with_checks(checks).as_bytes(), &env).unwrap();
        assert_eq!(p.routes[0].secret_expiries(), [("waf", 1_893_456_000), ("previous", 1_801_353_600)]);
    }

    #[test]
    fn metric_namespaces_are_not_route_names() {
        let route = |name: &str| {
            let policy = ROUTE.replace(r#""name":"a""#, &format!(r#""name":"{name}""#));
            parse(format!(r#"{{"api":"v1","routes":[{policy}]}}"#).as_bytes(), &env)
        };
        let err = route("unmatched").unwrap_err();
        assert_eq!(err.to_string(), "routes[0].name: \"unmatched\" is reserved for requests that match no route");
        // The remote lists' metrics (`webhook_guard.list.<route>.<check>.*`) never take the
        // shape of a route's, so `list` is an ordinary route name.
        assert!(route("list").is_ok());
    }

    #[test]
    fn wire_errors_name_the_field() {
        let sig = |extra: &str| {
            with_checks(&format!(r#"{{"signature":{{"scheme":"github","secrets":[{{"env":"S"}}]{extra}}}}}"#))
        };
        let remote = |headers: &str| {
            with_checks(&format!(
                r#"{{"ip_allowlist":{{"remote_list":{{"cluster":"c","authority":"a","path":"/p","headers":{headers}}}}}}}"#
            ))
        };
        let table: &[(String, &str)] = &[
            (format!(r#"{{"api":"v1","colour":"blue","routes":[{ROUTE}]}}"#), "colour: unknown field `colour`, expected one of `api`, `mode`, `max_body_bytes`, `unmatched`, `routes`"),
            (r#"{"routes":[]}"#.into(), "api: missing field `api`"),
            (r#"{"api":"v1","api":"v1","routes":[]}"#.into(), "api: duplicate field `api`"),
            (r#"{"api":"v1","max_body_bytes":"big","routes":[]}"#.into(), "max_body_bytes: expected a non-negative integer, found a string"),
            (r#"{"api":"v1","max_body_bytes":1e3,"routes":[]}"#.into(), "max_body_bytes: expected a non-negative integer, found a number with a fraction, an exponent or too many digits"),
            (r#"{"api":"v1","routes":{}}"#.into(), "routes: expected an array, found an object"),
            (r#"{"api":"v1","routes":[null]}"#.into(), "routes[0]: expected an object, found null"),
            (r#"{"api":"v1","routes":[{"name":"a"}]}"#.into(), "routes[0].match: missing field `match`"),
            (with_checks("null"), "routes[0].checks: expected an object, found null"),
            (with_checks(r#"{"magic":{}}"#), "routes[0].checks.magic: unknown field `magic`"),
            (sig(r#","tolerance_seconds":"300""#), "routes[0].checks.signature.tolerance_seconds: expected a non-negative integer, found a string"),
            (sig(r#","tolerance_seconds":-1"#), "routes[0].checks.signature.tolerance_seconds: expected a non-negative integer, found a negative integer"),
            (sig(r#","hash":"md5""#), "routes[0].checks.signature.hash: unknown field `hash`"),
            (sig(r#","dedupe":{"window":5}"#), "routes[0].checks.signature.dedupe.window: unknown field `window`, expected `window_seconds` or `capacity`"),
            (with_checks(r#"{"signature":{"scheme":"github"}}"#), "routes[0].checks.signature.secrets: missing field `secrets`"),
            (with_checks(r#"{"signature":{"scheme":"github","secrets":"s3cr3t-value"}}"#), "routes[0].checks.signature.secrets: expected an array, found a string"),
            (with_checks(r#"{"signature":{"scheme":"github","secrets":[{"env":"S","file":"x"}]}}"#), "routes[0].checks.signature.secrets[0].file: unknown field `file`, expected one of `id`, `env`, `value`, `sds`, `not_after`"),
            (with_checks(r#"{"headers":[{"name":"x-k","secrets":[{"env":"S"}],"strip":"yes"}]}"#), "routes[0].checks.headers[0].strip: expected true or false, found a string"),
            (with_checks(r#"{"jwt":{"secrets":[{"env":"S"}],"audiences":["a",1]}}"#), "routes[0].checks.jwt.audiences[1]: expected a string, found an integer"),
            (with_checks(r#"{"rate_limit":{"requests":10}}"#), "routes[0].checks.rate_limit.per_seconds: missing field `per_seconds`"),
            (with_checks(r#"{"rate_limit":[10,60]}"#), "routes[0].checks.rate_limit: expected an object, found an array"),
            (with_checks(r#"{"ip_allowlist":{"cidrs":null}}"#), "routes[0].checks.ip_allowlist.cidrs: expected an array, found null"),
            (with_checks(r#"{"client_cert":{"thumbprint":["x"]}}"#), "routes[0].checks.client_cert.thumbprint: unknown field `thumbprint`"),
            (with_checks(r#"{"developer_payload":{"secrets":[{"env":"S"}],"pointr":"/x"}}"#), "routes[0].checks.developer_payload.pointr: unknown field `pointr`"),
            (remote(r#"{"authorization":"Bearer s3cr3t-value"}"#), "routes[0].checks.ip_allowlist.remote_list.headers.authorization: expected an object, found a string"),
            (remote(r#"{"authorization":{"env":"S","bogus":1}}"#), "routes[0].checks.ip_allowlist.remote_list.headers.authorization.bogus: unknown field `bogus`"),
            (remote(r#"{"x-a":{"env":"S"},"x-a":{"env":"S"}}"#), "routes[0].checks.ip_allowlist.remote_list.headers.x-a: duplicate header"),
            (r#"{"api":"v1","routes":["#.into(), "(top level): EOF while parsing a list at line 1 column 22"),
            (format!(r#"{{"api":"v1","routes":[{ROUTE}]}} x"#), "(top level): trailing characters at line 1 column"),
            ("".into(), "(top level): EOF while parsing a value at line 1 column 0"),
            (r#""v1""#.into(), "(top level): expected an object, found a string"),
        ];
        for (json, want) in table {
            let got = error(json);
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
            assert!(!got.contains("s3cr3t-value"), "{got}");
        }
    }

    #[test]
    fn error_paths_are_the_field_paths() {
        let e = parse(with_checks(r#"{"rate_limit":{"requests":10}}"#).as_bytes(), &env).unwrap_err();
        assert_eq!(e.path, "routes[0].checks.rate_limit.per_seconds");
        assert_eq!(e.message, "missing field `per_seconds`");
        let e = parse(b"[", &env).unwrap_err();
        assert_eq!(e.path, "");
    }
}
