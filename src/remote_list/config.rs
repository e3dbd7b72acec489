//! The `remote_list` block: its wire form and its validation into a [`RemoteList`]:
//! where the list comes from, how often it is refreshed, where the entries are in the
//! answer, and the digests that name its shared records.

use std::fmt;
use std::time::Duration;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::record::FORMAT_VERSION;
use crate::error::{ConfigError, Env};
use crate::secret::{self, SecretBytes, SecretSpec};

pub const DEFAULT_REFRESH_SECONDS: u64 = 86_400;
pub const DEFAULT_RETRY_SECONDS: u64 = 60;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_STALE_SECONDS: u64 = 259_200;

const MIN_REFRESH_SECONDS: u64 = 10;
const MAX_REFRESH_SECONDS: u64 = 30 * 86_400;
const MIN_TIMEOUT_MS: u64 = 100;
pub(super) const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_STALE_LIMIT_SECONDS: u64 = 365 * 86_400;

/// Wire form of a `remote_list` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteListConfig {
    pub cluster: String,
    /// Required, unless the check that holds the list knows its provider's (a preset).
    pub authority: Option<String>,
    pub path: Option<String>,
    pub headers: Option<HeaderSpecs>,
    pub refresh_seconds: Option<u64>,
    pub retry_seconds: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_stale_seconds: Option<u64>,
    pub pointer: Option<String>,
    pub field: Option<String>,
    pub login: Option<LoginConfig>,
}

/// Wire form of `remote_list.login`: where to obtain the bearer token the list API wants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    /// Members of the JSON body posted; every value is a secret.
    pub body: HeaderSpecs,
    pub timeout_ms: Option<u64>,
}

/// `{ name: secret, ... }` (request headers, login body members) in the order written,
/// duplicates kept so that compile can refuse them (a map type would silently keep one
/// of the two).
#[derive(Debug, Default)]
pub struct HeaderSpecs(pub Vec<(String, SecretSpec)>);

impl<'de> Deserialize<'de> for HeaderSpecs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = HeaderSpecs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of name to secret")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderSpecs, A::Error> {
                let mut specs = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    specs.push((name, map.next_value()?));
                }
                Ok(HeaderSpecs(specs))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Where the list comes from. Header values are secrets (`Debug` prints `[redacted]`).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    /// Lower-case names; values valid UTF-8 without control characters.
    pub headers: Vec<(String, SecretBytes)>,
    pub timeout: Duration,
}

/// Where and how the token is obtained. The body holds the credentials (`Debug`
/// prints `[redacted]`).
#[derive(Debug, Clone)]
pub struct Login {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    /// The JSON object posted, secrets included.
    pub body: SecretBytes,
    pub timeout: Duration,
    /// Names the shared login record: the endpoint, not the credentials, so that every
    /// list logging in there shares one token and one rate window.
    pub(super) target_digest: u64,
    /// Digest of the whole login request, credentials included: a token obtained with
    /// other credentials is not used. A truncated SHA-256, never the credentials.
    pub(super) credentials_digest: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh_seconds: u64,
    pub retry_seconds: u64,
    pub max_stale_seconds: u64,
}

/// A compiled `remote_list` block.
#[derive(Debug, Clone)]
pub struct RemoteList {
    /// Stable identifier (e.g. `github.client_cert`): shared-data keys and metrics.
    pub name: String,
    pub upstream: Upstream,
    pub timing: Timing,
    /// JSON pointer to the array; empty: discover it.
    pub pointer: String,
    /// Member of each object holding the entry; empty: discover it.
    pub field: String,
    /// `login`: the token comes from this endpoint rather than from `headers`.
    pub login: Option<Login>,
    /// Digest of what defines the list's content (not the credentials).
    pub(super) source_digest: u64,
    /// Digest of the whole request, credentials included, so that a fixed credential is
    /// retried at once. A truncated SHA-256 in shared data, never the credential.
    pub(super) request_digest: u64,
}

/// Set by the filter: a configured one would be ambiguous or break the callout.
const RESERVED_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "upgrade"];

impl RemoteList {
    /// Validate a `remote_list` block found at `path`. `name` identifies the list in
    /// shared data and metrics: `[a-z0-9_.-]+`, at most 128 characters.
    pub fn compile(c: &RemoteListConfig, path: &str, env: &Env, name: &str) -> Result<Self, ConfigError> {
        Self::compile_for(c, path, env, name, None)
    }

    /// [`RemoteList::compile`] for a provider whose `(authority, path)` is known: they
    /// apply where the block leaves them out.
    pub fn compile_for(
        c: &RemoteListConfig,
        path: &str,
        env: &Env,
        name: &str,
        known: Option<(&str, &str)>,
    ) -> Result<Self, ConfigError> {
        let required = |value: &Option<String>, field: &str, default: Option<&str>| {
            value
                .clone()
                .or(default.map(str::to_string))
                .ok_or_else(|| ConfigError::new(format!("{path}.{field}"), format!("missing field `{field}`")))
        };
        let authority = required(&c.authority, "authority", known.map(|k| k.0))?;
        let req_path = required(&c.path, "path", known.map(|k| k.1))?;
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(ConfigError::new(path, format!("internal: \"{name}\" is not a usable list name")));
        }
        check_target(&c.cluster, &authority, &req_path, path)?;
        let login = match &c.login {
            None => None,
            Some(l) => {
                if let Some((name, _)) =
                    c.headers.iter().flat_map(|h| &h.0).find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                {
                    return Err(ConfigError::new(
                        format!("{path}.login"),
                        format!(
                            "cannot be used with {path}.headers.{name}: login obtains the token sent as authorization"
                        ),
                    ));
                }
                Some(compile_login(l, &format!("{path}.login"), env)?)
            }
        };
        let headers = compile_headers(c.headers.as_ref(), path, env)?;
        let timing = compile_timing(c, path)?;
        let timeout = compile_timeout(c.timeout_ms, path)?;
        let pointer = c.pointer.clone().unwrap_or_default();
        if !pointer_is_valid(&pointer) {
            return Err(ConfigError::new(
                format!("{path}.pointer"),
                format!(
                    "\"{}\" is not a JSON pointer: empty, or '/'-separated tokens such as /data/certificates (~0 and ~1 are the only escapes)",
                    pointer.escape_debug()
                ),
            ));
        }
        let field = c.field.clone().unwrap_or_default();
        if field.chars().any(char::is_control) {
            return Err(ConfigError::new(format!("{path}.field"), "must not hold control characters"));
        }
        let source_digest = digest64(&[
            b"webhook-guard remote_list source",
            &FORMAT_VERSION.to_be_bytes(),
            c.cluster.as_bytes(),
            authority.as_bytes(),
            req_path.as_bytes(),
            pointer.as_bytes(),
            field.as_bytes(),
        ]);
        let source = source_digest.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![b"webhook-guard remote_list request", &source];
        for (n, v) in &headers {
            parts.push(n.as_bytes());
            parts.push(v.expose());
        }
        let login_digest = login.as_ref().map(|l| l.credentials_digest.to_be_bytes());
        if let Some(d) = &login_digest {
            parts.push(d);
        }
        let request_digest = digest64(&parts);
        Ok(RemoteList {
            name: name.to_string(),
            upstream: Upstream { cluster: c.cluster.clone(), authority, path: req_path, headers, timeout },
            timing,
            pointer,
            field,
            login,
            source_digest,
            request_digest,
        })
    }
}

/// The cluster, `:authority` and `:path` of a callout (the list's or the login's).
fn check_target(cluster: &str, authority: &str, req_path: &str, path: &str) -> Result<(), ConfigError> {
    if cluster.is_empty() || cluster.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(ConfigError::new(format!("{path}.cluster"), "must name an Envoy cluster (no spaces)"));
    }
    if authority.is_empty()
        || authority.chars().any(|ch| ch.is_whitespace() || ch.is_control() || matches!(ch, '/' | '?' | '#' | '@'))
    {
        return Err(ConfigError::new(
            format!("{path}.authority"),
            format!("\"{}\" is not a host name (such as api.copyleaks.com)", authority.escape_debug()),
        ));
    }
    if !req_path.starts_with('/')
        || req_path.contains('#')
        || req_path.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(ConfigError::new(
            format!("{path}.path"),
            format!("\"{}\" must start with '/' and hold no spaces or fragment", req_path.escape_debug()),
        ));
    }
    Ok(())
}

fn compile_timeout(timeout_ms: Option<u64>, path: &str) -> Result<Duration, ConfigError> {
    let timeout_ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ConfigError::new(
            format!("{path}.timeout_ms"),
            format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
        ));
    }
    Ok(Duration::from_millis(timeout_ms))
}

/// `login`: the body is built here, once, as a JSON object of the resolved secrets.
fn compile_login(l: &LoginConfig, path: &str, env: &Env) -> Result<Login, ConfigError> {
    check_target(&l.cluster, &l.authority, &l.path, path)?;
    let timeout = compile_timeout(l.timeout_ms, path)?;
    let bp = format!("{path}.body");
    if l.body.0.is_empty() {
        return Err(ConfigError::new(
            &bp,
            "at least one member is required, such as { email: {env: ...}, key: {env: ...} }",
        ));
    }
    let mut body = String::from("{");
    let mut names: Vec<&str> = Vec::new();
    for (name, spec) in &l.body.0 {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(ConfigError::new(&bp, format!("\"{}\" is not a usable member name", name.escape_debug())));
        }
        let mp = format!("{bp}.{name}");
        if names.contains(&name.as_str()) {
            return Err(ConfigError::new(&mp, "duplicate member"));
        }
        names.push(name);
        let value = resolve_value(spec, &mp, env)?;
        if names.len() > 1 {
            body.push(',');
        }
        json_string(&mut body, name);
        body.push(':');
        // Checked printable by resolve_value.
        json_string(&mut body, std::str::from_utf8(value.expose()).unwrap_or_default());
    }
    body.push('}');
    let target_digest = digest64(&[
        b"webhook-guard login target",
        &FORMAT_VERSION.to_be_bytes(),
        l.cluster.as_bytes(),
        l.authority.as_bytes(),
        l.path.as_bytes(),
    ]);
    let credentials_digest = digest64(&[b"webhook-guard login request", &target_digest.to_be_bytes(), body.as_bytes()]);
    Ok(Login {
        cluster: l.cluster.clone(),
        authority: l.authority.clone(),
        path: l.path.clone(),
        body: SecretBytes::new(body.into_bytes()),
        timeout,
        target_digest,
        credentials_digest,
    })
}

/// `"…"` with the escapes JSON needs (a tab is the one control character that gets here).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\t' => out.push_str("\\t"),
            _ => out.push(ch),
        }
    }
    out.push('"');
}

fn compile_timing(c: &RemoteListConfig, path: &str) -> Result<Timing, ConfigError> {
    let refresh_seconds = c.refresh_seconds.unwrap_or(DEFAULT_REFRESH_SECONDS);
    if !(MIN_REFRESH_SECONDS..=MAX_REFRESH_SECONDS).contains(&refresh_seconds) {
        return Err(ConfigError::new(
            format!("{path}.refresh_seconds"),
            format!("must be between {MIN_REFRESH_SECONDS} and {MAX_REFRESH_SECONDS} (30 days)"),
        ));
    }
    // Defaults follow a shorter refresh so that leaving them out is never an error.
    let retry_seconds = c.retry_seconds.unwrap_or(DEFAULT_RETRY_SECONDS.min(refresh_seconds));
    if !(1..=refresh_seconds).contains(&retry_seconds) {
        return Err(ConfigError::new(
            format!("{path}.retry_seconds"),
            format!("must be between 1 and refresh_seconds ({refresh_seconds})"),
        ));
    }
    let max_stale_seconds = c.max_stale_seconds.unwrap_or(DEFAULT_MAX_STALE_SECONDS.max(refresh_seconds));
    if !(refresh_seconds..=MAX_STALE_LIMIT_SECONDS).contains(&max_stale_seconds) {
        return Err(ConfigError::new(
            format!("{path}.max_stale_seconds"),
            format!(
                "must be at least refresh_seconds ({refresh_seconds}) and at most {MAX_STALE_LIMIT_SECONDS} (365 days)"
            ),
        ));
    }
    Ok(Timing { refresh_seconds, retry_seconds, max_stale_seconds })
}

fn compile_headers(
    specs: Option<&HeaderSpecs>,
    path: &str,
    env: &Env,
) -> Result<Vec<(String, SecretBytes)>, ConfigError> {
    let Some(specs) = specs else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(String, SecretBytes)> = Vec::with_capacity(specs.0.len());
    for (name, spec) in &specs.0 {
        let is_token =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !is_token {
            return Err(ConfigError::new(
                format!("{path}.headers"),
                format!("\"{}\" is not an HTTP header name", name.escape_debug()),
            ));
        }
        let lower = name.to_ascii_lowercase();
        let hp = format!("{path}.headers.{name}");
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(ConfigError::new(&hp, "is set by the filter (the host comes from `authority`)"));
        }
        if out.iter().any(|(n, _)| *n == lower) {
            return Err(ConfigError::new(&hp, "duplicate header (names are case-insensitive)"));
        }
        let value = resolve_value(spec, &hp, env)?;
        out.push((lower, value));
    }
    Ok(out)
}

/// One secret value (a header's, a login body member's) at `hp`: no id, no expiry,
/// printable UTF-8.
fn resolve_value(spec: &SecretSpec, hp: &str, env: &Env) -> Result<SecretBytes, ConfigError> {
    if spec.id.is_some() {
        return Err(ConfigError::new(format!("{hp}.id"), "a value here takes no id"));
    }
    if spec.not_after.is_some() {
        return Err(ConfigError::new(
            format!("{hp}.not_after"),
            "a value here cannot expire: rotate it in the environment",
        ));
    }
    // resolve_all names list items `[0]`; this is a single value, so drop the index.
    let indexed = format!("{hp}[0]");
    let mut resolved = secret::resolve_all(std::slice::from_ref(spec), hp, env).map_err(|e| {
        let p = match e.path.strip_prefix(&indexed) {
            Some(rest) => format!("{hp}{rest}"),
            None => e.path,
        };
        ConfigError::new(p, e.message)
    })?;
    let value = match resolved.pop() {
        Some(s) => s.key,
        None => return Err(ConfigError::new(hp, "a value is required")),
    };
    let printable =
        std::str::from_utf8(value.expose()).is_ok_and(|v| !v.chars().any(|ch| ch.is_control() && ch != '\t'));
    if !printable {
        // The value is a secret: say what is wrong with it, never what it is.
        return Err(ConfigError::new(hp, "the value holds a control character (such as a newline)"));
    }
    Ok(value)
}

/// RFC 6901 syntax: empty (the whole document) or `/`-prefixed tokens, `~` only as `~0`/`~1`.
fn pointer_is_valid(p: &str) -> bool {
    if p.is_empty() {
        return true;
    }
    if !p.starts_with('/') {
        return false;
    }
    let b = p.as_bytes();
    b.iter().enumerate().all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

/// First 8 bytes of SHA-256 over length-prefixed parts (so `ab`,`c` differs from `a`,`bc`).
fn digest64(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(h.finalize()) {
        *dst = src;
    }
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_list::testing::*;

    #[test]
    fn defaults() {
        let l = list("");
        assert_eq!(l.upstream.cluster, "copyleaks_api");
        assert_eq!(l.upstream.authority, "api.copyleaks.com");
        assert_eq!(l.upstream.path, "/v2/security/client-certificates");
        assert!(l.upstream.headers.is_empty());
        assert_eq!(l.upstream.timeout, Duration::from_millis(5000));
        assert_eq!(l.timing, Timing { refresh_seconds: 86_400, retry_seconds: 60, max_stale_seconds: 259_200 });
        assert_eq!((l.pointer.as_str(), l.field.as_str()), ("", ""));
        // Defaults follow a short or long refresh instead of contradicting it.
        assert_eq!(list(r#""refresh_seconds":30"#).timing.retry_seconds, 30);
        assert_eq!(list(r#""refresh_seconds":30"#).timing.max_stale_seconds, 259_200);
        assert_eq!(list(r#""refresh_seconds":604800"#).timing.max_stale_seconds, 604_800);
        // Boundaries that are accepted.
        let edge = list(
            r#""refresh_seconds":10,"retry_seconds":10,"timeout_ms":100,"max_stale_seconds":10,"pointer":"/a~0b/~1c/0","field":"sha1""#,
        );
        assert_eq!(edge.timing, Timing { refresh_seconds: 10, retry_seconds: 10, max_stale_seconds: 10 });
        assert_eq!(edge.upstream.timeout, Duration::from_millis(100));
        assert_eq!(
            list(r#""timeout_ms":60000,"refresh_seconds":2592000,"max_stale_seconds":31536000"#).timing.refresh_seconds,
            2_592_000
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let p = "r.client_cert.remote_list";
        let table: &[(&str, &str)] = &[
            (r#""refresh_seconds":9"#, "r.client_cert.remote_list.refresh_seconds: must be between 10 and 2592000 (30 days)"),
            (r#""refresh_seconds":2592001"#, "r.client_cert.remote_list.refresh_seconds: must be between 10"),
            (r#""retry_seconds":0"#, "r.client_cert.remote_list.retry_seconds: must be between 1 and refresh_seconds (86400)"),
            (r#""refresh_seconds":60,"retry_seconds":61"#, "r.client_cert.remote_list.retry_seconds: must be between 1 and refresh_seconds (60)"),
            (r#""timeout_ms":99"#, "r.client_cert.remote_list.timeout_ms: must be between 100 and 60000"),
            (r#""timeout_ms":60001"#, "r.client_cert.remote_list.timeout_ms: must be between 100 and 60000"),
            (r#""max_stale_seconds":86399"#, "r.client_cert.remote_list.max_stale_seconds: must be at least refresh_seconds (86400)"),
            (r#""max_stale_seconds":31536001"#, "r.client_cert.remote_list.max_stale_seconds: must be at least"),
            (r#""pointer":"certificates""#, "r.client_cert.remote_list.pointer: \"certificates\" is not a JSON pointer"),
            (r#""pointer":"/a~2""#, "r.client_cert.remote_list.pointer: \"/a~2\" is not a JSON pointer"),
            (r#""pointer":"/a~""#, "r.client_cert.remote_list.pointer:"),
            (r#""field":"a\nb""#, "r.client_cert.remote_list.field: must not hold control characters"),
            (r#""headers":{"x y":{"value":"v"}}"#, "r.client_cert.remote_list.headers: \"x y\" is not an HTTP header name"),
            (r#""headers":{":path":{"value":"v"}}"#, "r.client_cert.remote_list.headers: \":path\" is not an HTTP header name"),
            (r#""headers":{"":{"value":"v"}}"#, "r.client_cert.remote_list.headers: \"\" is not an HTTP header name"),
            (r#""headers":{"Host":{"value":"v"}}"#, "r.client_cert.remote_list.headers.Host: is set by the filter"),
            (r#""headers":{"content-length":{"value":"1"}}"#, "r.client_cert.remote_list.headers.content-length: is set by the filter"),
            (
                r#""headers":{"Authorization":{"value":"a"},"authorization":{"value":"b"}}"#,
                "r.client_cert.remote_list.headers.authorization: duplicate header (names are case-insensitive)",
            ),
            (
                r#""headers":{"authorization":{"value":"a"},"authorization":{"value":"b"}}"#,
                "r.client_cert.remote_list.headers.authorization: duplicate header",
            ),
            (
                r#""headers":{"authorization":{"env":"UNSET_TOKEN"}}"#,
                "r.client_cert.remote_list.headers.authorization.env: environment variable UNSET_TOKEN is unset or empty",
            ),
            (
                r#""headers":{"authorization":{"env":"EMPTY"}}"#,
                "r.client_cert.remote_list.headers.authorization.env: environment variable EMPTY is unset or empty",
            ),
            (r#""headers":{"authorization":{"value":""}}"#, "r.client_cert.remote_list.headers.authorization.value: a secret must not be empty"),
            (r#""headers":{"authorization":{}}"#, "r.client_cert.remote_list.headers.authorization: one of `env` or `value` is required"),
            (
                r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN","value":"x"}}"#,
                "r.client_cert.remote_list.headers.authorization: set either `env` or `value`, not both",
            ),
            (r#""headers":{"authorization":{"id":"a","value":"x"}}"#, "r.client_cert.remote_list.headers.authorization.id: a value here takes no id"),
            (
                r#""headers":{"authorization":{"value":"x","not_after":"2027-01-31T00:00:00Z"}}"#,
                "r.client_cert.remote_list.headers.authorization.not_after: a value here cannot expire",
            ),
            (
                r#""headers":{"authorization":{"env":"CRLF"}}"#,
                "r.client_cert.remote_list.headers.authorization: the value holds a control character",
            ),
        ];
        for (extra, want) in table {
            let err = RemoteList::compile(&wire(extra), p, &env, "r.client_cert").unwrap_err().to_string();
            assert!(err.starts_with(want), "{extra}: got {err:?}, want prefix {want:?}");
            assert!(!err.contains("s3cret") && !err.contains("injected"), "{err}");
        }
        let shaped: &[(&str, &str)] = &[
            (r#"{"cluster":"","authority":"a","path":"/p"}"#, "x.cluster: must name an Envoy cluster"),
            (r#"{"cluster":"my cluster","authority":"a","path":"/p"}"#, "x.cluster: must name an Envoy cluster"),
            (r#"{"cluster":"c","authority":"","path":"/p"}"#, "x.authority: \"\" is not a host name"),
            (r#"{"cluster":"c","authority":"a.com/x","path":"/p"}"#, "x.authority: \"a.com/x\" is not a host name"),
            (r#"{"cluster":"c","authority":"a","path":"v2/list"}"#, "x.path: \"v2/list\" must start with '/'"),
            (r#"{"cluster":"c","authority":"a","path":"/a b"}"#, "x.path: \"/a b\" must start with '/'"),
            (r#"{"cluster":"c","authority":"a","path":"/a#f"}"#, "x.path:"),
            (r#"{"cluster":"c","authority":"a","path":"/a\r\n"}"#, "x.path: \"/a\\r\\n\""),
        ];
        for (json, want) in shaped {
            let c: RemoteListConfig = crate::wire::read_str(json).unwrap();
            let err = RemoteList::compile(&c, "x", &env, "n").unwrap_err().to_string();
            assert!(err.starts_with(want), "{json}: got {err:?}, want prefix {want:?}");
        }
        let err = RemoteList::compile(&wire(""), "x", &env, "Bad Name").unwrap_err();
        assert_eq!(err.path, "x");
    }

    #[test]
    fn login_compiles_its_body_once_and_never_prints_it() {
        let l = list(LOGIN);
        let login = l.login.as_ref().unwrap();
        assert_eq!((login.cluster.as_str(), login.authority.as_str()), ("copyleaks_id", "id.copyleaks.com"));
        assert_eq!(login.path, "/v3/account/login/api");
        assert_eq!(login.timeout, Duration::from_millis(5000));
        assert_eq!(login.body.expose(), br#"{"email":"ops@example.com","key":"7e1d0c52-k3y-s3cret"}"#);
        let printed = format!("{l:?}");
        assert!(!printed.contains("s3cret") && !printed.contains("ops@example.com"), "{printed}");
        // Members in the order written; what JSON must escape is escaped.
        let l = list(
            r#""login":{"cluster":"c","authority":"a","path":"/p","timeout_ms":250,"body":{"k\"ey":{"env":"QUOTED"},"a":{"value":"x"}}}"#,
        );
        let login = l.login.unwrap();
        assert_eq!(login.body.expose(), br#"{"k\"ey":"a\"b\\c\td","a":"x"}"#);
        assert!(crate::json::parse(login.body.expose()).is_ok());
        assert_eq!(login.timeout, Duration::from_millis(250));
        // Other credentials: another request (retried at once), the same login record.
        let other = list(&LOGIN.replace("COPYLEAKS_API_KEY", "OTHER_KEY"));
        let (a, b) = (list(LOGIN), other);
        assert_ne!(a.request_digest, b.request_digest);
        let (la, lb) = (a.login.unwrap(), b.login.unwrap());
        assert_eq!(la.target_digest, lb.target_digest);
        assert_ne!(la.credentials_digest, lb.credentials_digest);
    }

    #[test]
    fn login_config_errors_name_the_field() {
        let p = "r.client_cert.remote_list";
        let login = |inner: &str| format!(r#""login":{{{inner}}}"#);
        let target = r#""cluster":"copyleaks_id","authority":"id.copyleaks.com","path":"/v3/account/login/api""#;
        let body = r#""body":{"email":{"env":"COPYLEAKS_EMAIL"},"key":{"env":"COPYLEAKS_API_KEY"}}"#;
        let table: Vec<(String, &str)> = vec![
            (
                format!(r#"{LOGIN},"headers":{{"Authorization":{{"env":"COPYLEAKS_TOKEN"}}}}"#),
                "r.client_cert.remote_list.login: cannot be used with r.client_cert.remote_list.headers.Authorization: login obtains the token",
            ),
            // Exclusivity is said even when the header's own secret is unset.
            (
                format!(r#"{LOGIN},"headers":{{"authorization":{{"env":"UNSET_TOKEN"}}}}"#),
                "r.client_cert.remote_list.login: cannot be used with r.client_cert.remote_list.headers.authorization",
            ),
            (login(&format!(r#""cluster":"","authority":"a","path":"/p",{body}"#)), "r.client_cert.remote_list.login.cluster: must name an Envoy cluster"),
            (login(&format!(r#""cluster":"c","authority":"a/b","path":"/p",{body}"#)), "r.client_cert.remote_list.login.authority: \"a/b\" is not a host name"),
            (login(&format!(r#""cluster":"c","authority":"a","path":"p",{body}"#)), "r.client_cert.remote_list.login.path: \"p\" must start with '/'"),
            (login(&format!(r#"{target},{body},"timeout_ms":99"#)), "r.client_cert.remote_list.login.timeout_ms: must be between 100 and 60000"),
            (login(&format!(r#"{target},"body":{{}}"#)), "r.client_cert.remote_list.login.body: at least one member is required"),
            (
                login(&format!(r#"{target},"body":{{"key":{{"env":"UNSET_KEY"}}}}"#)),
                "r.client_cert.remote_list.login.body.key.env: environment variable UNSET_KEY is unset or empty",
            ),
            (login(&format!(r#"{target},"body":{{"key":{{"value":""}}}}"#)), "r.client_cert.remote_list.login.body.key.value: a secret must not be empty"),
            (
                login(&format!(r#"{target},"body":{{"key":{{"value":"a"}},"key":{{"value":"b"}}}}"#)),
                "r.client_cert.remote_list.login.body.key: duplicate member",
            ),
            (login(&format!(r#"{target},"body":{{"":{{"value":"a"}}}}"#)), "r.client_cert.remote_list.login.body: \"\" is not a usable member name"),
            (
                login(&format!(r#"{target},"body":{{"key":{{"env":"CRLF"}}}}"#)),
                "r.client_cert.remote_list.login.body.key: the value holds a control character",
            ),
            (login(&format!(r#"{target},"body":{{"key":{{"id":"a","value":"x"}}}}"#)), "r.client_cert.remote_list.login.body.key.id: a value here takes no id"),
        ];
        for (extra, want) in &table {
            let err = RemoteList::compile(&wire(extra), p, &env, "r.client_cert").unwrap_err().to_string();
            assert!(err.starts_with(want), "{extra}: got {err:?}, want prefix {want:?}");
            assert!(!err.contains("s3cret") && !err.contains("injected") && !err.contains("ops@"), "{err}");
        }
        let parse = |json: &str| crate::wire::read_str::<RemoteListConfig>(json).unwrap_err().to_string();
        let e = parse(&format!(r#"{{{BASE},{}}}"#, login(&format!(r#"{target},{body},"password":1"#))));
        assert!(e.starts_with("login.password: unknown field `password`"), "{e}");
        let e = parse(&format!(r#"{{{BASE},{}}}"#, login(target)));
        assert_eq!(e, "login.body: missing field `body`");
        let e = parse(&format!(r#"{{{BASE},{}}}"#, login(&format!(r#"{target},"body":{{"key":"s3cret"}}"#))));
        assert_eq!(e, "login.body.key: expected an object, found a string");
    }

    #[test]
    fn unknown_and_missing_fields_are_refused_with_their_path() {
        let parse = |json: &str| crate::wire::read_str::<RemoteListConfig>(json).unwrap_err().to_string();
        assert!(parse(&format!("{{{BASE},\"refresh\":1}}")).starts_with("refresh: unknown field `refresh`"));
        let wire = crate::wire::read_str::<RemoteListConfig>(r#"{"cluster":"c","path":"/p"}"#).unwrap();
        let e = RemoteList::compile(&wire, "l", &|_: &str| None, "r.l").unwrap_err().to_string();
        assert_eq!(e, "l.authority: missing field `authority`");
        let e = parse(&format!(r#"{{{BASE},"headers":{{"authorization":{{"env":"X","bogus":1}}}}}}"#));
        assert!(e.starts_with("headers.authorization.bogus: unknown field `bogus`"), "{e}");
        let e = parse(&format!(r#"{{{BASE},"headers":{{"authorization":"Bearer s3cr3t"}}}}"#));
        assert_eq!(e, "headers.authorization: expected an object, found a string");
        let e = parse(&format!(r#"{{{BASE},"headers":["authorization"]}}"#));
        assert_eq!(e, "headers: expected an object of name to secret, found an array");
    }
}
