//! Remote lists (SPEC 2.3): entries such as certificate thumbprints or CIDRs, fetched
//! over HTTP from an Envoy cluster, refreshed periodically and shared by every worker VM.
//!
//! Three pure parts, driven by the filter glue:
//! - [`RemoteList::compile`]: the validated `remote_list` block;
//! - [`parse_list`]: extraction of entries from a JSON document whose shape is not
//!   published, tolerant about the shape and strict about the content;
//! - [`Refresher`]: the refresh state machine, keyed by callout token.
//!
//! # What the glue does
//!
//! - Every second or so (root context tick), for each refresher: `on_tick(store, now_ms,
//!   rand)`. When it returns a [`FetchRequest`], dispatch it (`dispatch_http_call` with its
//!   cluster, headers, no body, its timeout), then `on_dispatched(token)` on success or
//!   `on_dispatch_failed(store, now_ms)` on error (an unknown cluster, for instance).
//! - On the callout response: `on_response(store, token, status, body, now_ms)` with the
//!   `:status` as a number (Envoy 1.40 answers a timed-out callout with 504; 0 when
//!   there is no status at all, as after a reset) and the body read up to `MAX_BODY_BYTES + 1` bytes, so
//!   that a longer one is refused as too large rather than copied whole. Count
//!   `fetch_ok` / `fetch_failed` from the [`Outcome`] (log its reason); set the gauges
//!   from `entries()` and `age_seconds(now_ms)`.
//! - `rand` is a fresh random number per tick (WASI `random_get`); it seeds the lease
//!   nonce and the jitter.
//! - On the request path: `current(store, now_ms)`.
//!
//! Every method takes `&self`: a refresher can live inside the compiled policy, shared
//! by the root context and the HTTP contexts of one VM (single-threaded).
//!
//! # Shared data
//!
//! Two keys per list and source, `webhook_guard:list:<name>:<source>:state` and
//! `...:data`, where `<source>` is a digest of what defines the list (cluster,
//! authority, path, pointer, field): a configuration that points the list elsewhere
//! starts from nothing instead of serving the old source's entries, and a VM still
//! draining with the old configuration cannot overwrite the new one's list.
//!
//! - `state` (a few hundred bytes, written with CAS): the lease of the worker fetching
//!   now, the failure count and the time of the next fetch (so backoff holds across
//!   workers), and the generation of the published list.
//! - `data` (up to about 700 KiB at [`MAX_ENTRIES`] SHA-256 thumbprints): the generation,
//!   the fetch time and the canonical entries. Each worker decodes it once per
//!   generation; the hot path reads only `state`, at most once per second.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{ConfigError, Env};
use crate::denial::Denial;
use crate::json::{self, Json};
use crate::secret::{self, SecretBytes, SecretSpec};
use crate::shared::SharedStore;
use crate::wire::{self, FromJson, Obj};

pub const DEFAULT_REFRESH_SECONDS: u64 = 86_400;
pub const DEFAULT_RETRY_SECONDS: u64 = 60;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_STALE_SECONDS: u64 = 259_200;

const MIN_REFRESH_SECONDS: u64 = 10;
const MAX_REFRESH_SECONDS: u64 = 30 * 86_400;
const MIN_TIMEOUT_MS: u64 = 100;
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_STALE_LIMIT_SECONDS: u64 = 365 * 86_400;

/// Larger answers are refused without parsing: no list of thumbprints or CIDRs is that big.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// More entries than this are refused: it bounds the shared-data value and each
/// worker's copy.
pub const MAX_ENTRIES: usize = 10_000;
/// A thumbprint with colons is 95 characters, an IPv6 CIDR at most 43.
const MAX_ENTRY_LEN: usize = 256;

/// How long a lease outlives the callout timeout: Envoy answers every callout by its
/// timeout, so the margin only covers tick granularity and a VM that died mid-flight.
const LEASE_MARGIN_MS: u64 = 5_000;
/// How far ahead of this worker's clock reading another worker's record may be without
/// it meaning the clock went back. Workers run in parallel and a tick reads the clock
/// once for all its lists, so a lease taken by another worker a moment later looks up
/// to that moment longer than `lease_ms`; taking that for a clock jump voided live
/// leases and fetched the list twice. A real jump back stalls for at most this longer.
const CLOCK_SKEW_MS: u64 = 5_000;
/// The request path re-reads the shared state at most this often.
const SYNC_INTERVAL_MS: u64 = 1_000;
/// Backoff never waits longer than this, even with a daily refresh: one call an hour is
/// no load, and a list that failed must not wait a day for its next try.
const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Retry-After is advice to the sender; a sender told to wait hours may give up.
const MAX_RETRY_AFTER_SECONDS: u64 = 600;
/// Shared records and the source digest carry it: a plugin upgrade that changes the
/// encoding starts from nothing instead of misreading the old records. 2: the records
/// are binary (1 was JSON).
const FORMAT_VERSION: u32 = 2;
const KEY_PREFIX: &str = "webhook_guard:list:";
/// CAS retries for the state record; conflicts only come from other workers' ticks.
const CAS_ATTEMPTS: usize = 8;

// ---------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------

/// Wire form of a `remote_list` block.
#[derive(Debug)]
pub struct RemoteListConfig {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub headers: Option<HeaderSpecs>,
    pub refresh_seconds: Option<u64>,
    pub retry_seconds: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_stale_seconds: Option<u64>,
    pub pointer: Option<String>,
    pub field: Option<String>,
}

impl FromJson for RemoteListConfig {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        let o = Obj::new(
            v,
            path,
            &[
                "cluster",
                "authority",
                "path",
                "headers",
                "refresh_seconds",
                "retry_seconds",
                "timeout_ms",
                "max_stale_seconds",
                "pointer",
                "field",
            ],
        )?;
        Ok(RemoteListConfig {
            cluster: o.req("cluster")?,
            authority: o.req("authority")?,
            path: o.req("path")?,
            headers: o.opt("headers")?,
            refresh_seconds: o.opt("refresh_seconds")?,
            retry_seconds: o.opt("retry_seconds")?,
            timeout_ms: o.opt("timeout_ms")?,
            max_stale_seconds: o.opt("max_stale_seconds")?,
            pointer: o.opt("pointer")?,
            field: o.opt("field")?,
        })
    }
}

/// `headers: { name: secret, ... }` in the order written, duplicates kept so that
/// compile can refuse them (a map type would silently keep one of the two).
#[derive(Debug, Default)]
pub struct HeaderSpecs(pub Vec<(String, SecretSpec)>);

impl FromJson for HeaderSpecs {
    fn from_json(v: &Json, path: &str) -> Result<Self, ConfigError> {
        let members = wire::entries(v, path, "an object of header name to secret")?;
        let specs = members
            .iter()
            .map(|(name, spec)| Ok((name.clone(), SecretSpec::from_json(spec, &format!("{path}.{name}"))?)))
            .collect::<Result<_, ConfigError>>()?;
        Ok(HeaderSpecs(specs))
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
    /// Digest of what defines the list's content (not the credentials).
    source_digest: u64,
    /// Digest of the whole request, credentials included, so that a fixed credential is
    /// retried at once. A truncated SHA-256 in shared data, never the credential.
    request_digest: u64,
}

/// Set by the filter: a configured one would be ambiguous or break the callout.
const RESERVED_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "upgrade"];

impl RemoteList {
    /// Validate a `remote_list` block found at `path`. `name` identifies the list in
    /// shared data and metrics: `[a-z0-9_.-]+`, at most 128 characters.
    pub fn compile(c: &RemoteListConfig, path: &str, env: &Env, name: &str) -> Result<Self, ConfigError> {
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(ConfigError::new(path, format!("internal: \"{name}\" is not a usable list name")));
        }
        if c.cluster.is_empty() || c.cluster.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(ConfigError::new(format!("{path}.cluster"), "must name an Envoy cluster (no spaces)"));
        }
        if c.authority.is_empty()
            || c.authority
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control() || matches!(ch, '/' | '?' | '#' | '@'))
        {
            return Err(ConfigError::new(
                format!("{path}.authority"),
                format!("\"{}\" is not a host name (such as api.copyleaks.com)", c.authority.escape_debug()),
            ));
        }
        if !c.path.starts_with('/')
            || c.path.contains('#')
            || c.path.chars().any(|ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(ConfigError::new(
                format!("{path}.path"),
                format!("\"{}\" must start with '/' and hold no spaces or fragment", c.path.escape_debug()),
            ));
        }
        let headers = compile_headers(c.headers.as_ref(), path, env)?;
        let timing = compile_timing(c, path)?;
        let timeout_ms = c.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(ConfigError::new(
                format!("{path}.timeout_ms"),
                format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
            ));
        }
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
            c.authority.as_bytes(),
            c.path.as_bytes(),
            pointer.as_bytes(),
            field.as_bytes(),
        ]);
        let source = source_digest.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![b"webhook-guard remote_list request", &source];
        for (n, v) in &headers {
            parts.push(n.as_bytes());
            parts.push(v.expose());
        }
        let request_digest = digest64(&parts);
        Ok(RemoteList {
            name: name.to_string(),
            upstream: Upstream {
                cluster: c.cluster.clone(),
                authority: c.authority.clone(),
                path: c.path.clone(),
                headers,
                timeout: Duration::from_millis(timeout_ms),
            },
            timing,
            pointer,
            field,
            source_digest,
            request_digest,
        })
    }

    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.upstream.timeout.as_millis()).unwrap_or(MAX_TIMEOUT_MS)
    }

    fn refresh_ms(&self) -> u64 {
        self.timing.refresh_seconds.saturating_mul(1000)
    }

    fn retry_ms(&self) -> u64 {
        self.timing.retry_seconds.saturating_mul(1000)
    }

    fn lease_ms(&self) -> u64 {
        self.timeout_ms().saturating_add(LEASE_MARGIN_MS)
    }

    /// Failure `failures` (1-based): `retry * 2^(failures-1)`, capped at the refresh
    /// interval and at an hour, minus up to a quarter of itself as jitter so that a
    /// fleet of Envoys that failed together does not retry together.
    fn backoff_ms(&self, failures: u32, seed: u64) -> u64 {
        let cap = self.refresh_ms().min(MAX_BACKOFF_MS.max(self.retry_ms()));
        let doubling = 1u64 << failures.saturating_sub(1).min(32);
        let base = self.retry_ms().saturating_mul(doubling).min(cap);
        base - mix(seed ^ u64::from(failures)) % (base / 4 + 1)
    }

    /// The next refresh after a success: `refresh` minus up to a tenth as jitter, so it
    /// always happens before the list is `refresh` old.
    fn refresh_delay_ms(&self, seed: u64) -> u64 {
        let refresh = self.refresh_ms();
        refresh - mix(seed ^ 0x5eed) % (refresh / 10 + 1)
    }
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
        if spec.id.is_some() {
            return Err(ConfigError::new(format!("{hp}.id"), "a header value takes no id"));
        }
        if spec.not_after.is_some() {
            return Err(ConfigError::new(
                format!("{hp}.not_after"),
                "a header value cannot expire here: rotate it in the environment",
            ));
        }
        // resolve_all names list items `[0]`; this is a single value, so drop the index.
        let indexed = format!("{hp}[0]");
        let mut resolved = secret::resolve_all(std::slice::from_ref(spec), &hp, env).map_err(|e| {
            let p = match e.path.strip_prefix(&indexed) {
                Some(rest) => format!("{hp}{rest}"),
                None => e.path,
            };
            ConfigError::new(p, e.message)
        })?;
        let value = match resolved.pop() {
            Some(s) => s.key,
            None => return Err(ConfigError::new(&hp, "a value is required")),
        };
        let printable =
            std::str::from_utf8(value.expose()).is_ok_and(|v| !v.chars().any(|ch| ch.is_control() && ch != '\t'));
        if !printable {
            // The value is a secret: say what is wrong with it, never what it is.
            return Err(ConfigError::new(&hp, "the value holds a control character (such as a newline)"));
        }
        out.push((lower, value));
    }
    Ok(out)
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

/// SplitMix64's finaliser: spreads the caller's randomness (and any weak seed) over
/// every bit, for jitter and lease nonces. Not a security boundary.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------------------------
// Parsing the answer
// ---------------------------------------------------------------------------------

/// Why an answer was refused (the last good list stays). Never carries document text:
/// the answer is not ours and could hold anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge {
        bytes: usize,
    },
    NotJson,
    /// An object with the same member twice: which one did the sender mean? Refused.
    DuplicateKey,
    PointerNotFound,
    NotAnArray,
    /// No array whose first entry looks like a value (and no empty one either).
    NoArray,
    /// The list is empty: more likely an outage than "trust nobody".
    Empty,
    TooManyEntries {
        count: usize,
    },
    /// Not a string (or an object, for arrays of objects), or not a valid value.
    InvalidEntry {
        index: usize,
    },
    /// An object without the member that holds the value.
    MissingField {
        index: usize,
    },
    /// The first object has no member whose value looks like a value.
    NoField,
}

impl ParseError {
    /// Metric- and log-safe name.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::TooLarge { .. } => "too_large",
            ParseError::NotJson => "not_json",
            ParseError::DuplicateKey => "duplicate_key",
            ParseError::PointerNotFound => "pointer_not_found",
            ParseError::NotAnArray => "not_an_array",
            ParseError::NoArray => "no_array",
            ParseError::Empty => "empty",
            ParseError::TooManyEntries { .. } => "too_many_entries",
            ParseError::InvalidEntry { .. } => "invalid_entry",
            ParseError::MissingField { .. } => "missing_field",
            ParseError::NoField => "no_field",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge { bytes } => {
                write!(f, "answer of {bytes} bytes is over the {MAX_BODY_BYTES}-byte limit")
            }
            ParseError::NotJson => f.write_str("answer is not JSON"),
            ParseError::DuplicateKey => f.write_str("answer has an object with a repeated member"),
            ParseError::PointerNotFound => f.write_str("`pointer` does not exist in the answer"),
            ParseError::NotAnArray => f.write_str("`pointer` does not point at an array"),
            ParseError::NoArray => f.write_str("no array of entries found (set `pointer`)"),
            ParseError::Empty => f.write_str("the list is empty"),
            ParseError::TooManyEntries { count } => write!(f, "{count} entries, over the limit of {MAX_ENTRIES}"),
            ParseError::InvalidEntry { index } => {
                write!(
                    f,
                    "entry [{index}] is not a valid value (the whole answer is refused; check `pointer` and `field`)"
                )
            }
            ParseError::MissingField { index } => write!(f, "entry [{index}] lacks the member holding the value"),
            ParseError::NoField => f.write_str("no member of the first entry looks like a value (set `field`)"),
        }
    }
}

fn member<'a>(members: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    members.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn resolve_pointer<'a>(doc: &'a Json, pointer: &str) -> Option<&'a Json> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return if pointer.is_empty() { Some(doc) } else { None };
    };
    let mut cur = doc;
    for raw in rest.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Json::Object(m) => member(m, &token)?,
            Json::Array(items) => {
                let canonical_index = !token.is_empty()
                    && token.bytes().all(|b| b.is_ascii_digit())
                    && (token == "0" || !token.starts_with('0'));
                if !canonical_index {
                    return None;
                }
                items.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// The first member (document order) whose string value looks like a value.
fn guess_field(members: &[(String, Json)], looks_like: fn(&str) -> bool) -> Option<&str> {
    members.iter().find_map(|(k, v)| match v {
        Json::String(s) if looks_like(s.trim()) => Some(k.as_str()),
        _ => None,
    })
}

/// Whether an array's first entry yields something that looks like a value.
fn starts_with_value(items: &[Json], field: &str, looks_like: fn(&str) -> bool) -> bool {
    match items.first() {
        Some(Json::String(s)) => looks_like(s.trim()),
        Some(Json::Object(m)) if field.is_empty() => guess_field(m, looks_like).is_some(),
        Some(Json::Object(m)) => matches!(member(m, field), Some(Json::String(s)) if looks_like(s.trim())),
        _ => false,
    }
}

/// Extract the entries of a remote list answer.
///
/// Where the array is: at `pointer` when set; else the document itself when it is an
/// array; else, in a top-level object, the first member (document order) holding an
/// array whose first entry looks like a value. Entries are strings, or objects whose
/// member `field` (when set; else the first member of the first object whose value
/// looks like one) holds the string; one array holds one kind.
///
/// Every entry must pass `looks_like` (after trimming white space): one that does not
/// means the shape was misread (wrong member, format change), so the whole answer is
/// refused rather than trusted in part, and the last good list stays. The operator sees
/// `fetch_failed` and the index, and can set `pointer`/`field`. An empty list is refused
/// too: it would deny every request, and an API that answers `[]` is far more likely
/// broken than revoking everything; the last good list still ages out at
/// `max_stale_seconds`. Entries are returned trimmed, in order, not canonicalised.
pub fn parse_list(
    body: &[u8],
    pointer: &str,
    field: &str,
    looks_like: fn(&str) -> bool,
) -> Result<Vec<String>, ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::TooLarge { bytes: body.len() });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let doc = json::parse(body).map_err(|_| ParseError::NotJson)?;
    // "The first member" would be ambiguous, and so would the sender's intent.
    if doc.has_repeated_member() {
        return Err(ParseError::DuplicateKey);
    }
    let items: &[Json] = if pointer.is_empty() {
        match &doc {
            Json::Array(items) => items,
            Json::Object(members) => {
                let arrays = members.iter().filter_map(|(_, v)| match v {
                    Json::Array(items) => Some(items.as_slice()),
                    _ => None,
                });
                let mut saw_empty = false;
                let mut found = None;
                for items in arrays {
                    saw_empty |= items.is_empty();
                    if starts_with_value(items, field, looks_like) {
                        found = Some(items);
                        break;
                    }
                }
                match found {
                    Some(items) => items,
                    None if saw_empty => return Err(ParseError::Empty),
                    None => return Err(ParseError::NoArray),
                }
            }
            _ => return Err(ParseError::NoArray),
        }
    } else {
        match resolve_pointer(&doc, pointer) {
            None => return Err(ParseError::PointerNotFound),
            Some(Json::Array(items)) => items,
            Some(_) => return Err(ParseError::NotAnArray),
        }
    };
    if items.is_empty() {
        return Err(ParseError::Empty);
    }
    if items.len() > MAX_ENTRIES {
        return Err(ParseError::TooManyEntries { count: items.len() });
    }
    let objects = matches!(items.first(), Some(Json::Object(_)));
    let chosen: &str = match items.first() {
        Some(Json::Object(m)) if field.is_empty() => guess_field(m, looks_like).ok_or(ParseError::NoField)?,
        _ => field,
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let raw = match item {
            Json::String(s) if !objects => s,
            Json::Object(m) if objects => match member(m, chosen) {
                Some(Json::String(s)) => s,
                Some(_) => return Err(ParseError::InvalidEntry { index }),
                None => return Err(ParseError::MissingField { index }),
            },
            _ => return Err(ParseError::InvalidEntry { index }),
        };
        let value = raw.trim();
        if value.is_empty() || value.len() > MAX_ENTRY_LEN || value.chars().any(char::is_control) || !looks_like(value)
        {
            return Err(ParseError::InvalidEntry { index });
        }
        out.push(value.to_string());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// The refresh state machine
// ---------------------------------------------------------------------------------

/// What the entries of a list are, supplied by the check that uses the list.
#[derive(Debug, Clone, Copy)]
pub struct EntryKind {
    /// Whether a string is a valid entry (a thumbprint, a CIDR): picks the member of
    /// objects that holds the value, and validates every entry.
    pub looks_like: fn(&str) -> bool,
    /// The form stored and compared (e.g. lower-case hex without ':'), applied to
    /// entries that passed `looks_like`.
    pub canonical: fn(&str) -> String,
}

/// A list as loaded: canonical entries, sorted and without duplicates.
pub struct RemoteEntries {
    entries: Vec<String>,
    fetched_at_ms: u64,
    generation: u64,
}

impl RemoteEntries {
    /// `value` in canonical form.
    pub fn contains(&self, value: &str) -> bool {
        self.entries.binary_search_by(|e| e.as_str().cmp(value)).is_ok()
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn fetched_at_ms(&self) -> u64 {
        self.fetched_at_ms
    }
    /// Changes with every successful fetch: a check that derives something costly from
    /// the entries (parsed CIDRs) can cache it by generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for RemoteEntries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteEntries")
            .field("len", &self.entries.len())
            .field("fetched_at_ms", &self.fetched_at_ms)
            .field("generation", &self.generation)
            .finish()
    }
}

/// The list as the request path sees it.
#[derive(Debug, Clone)]
pub enum ListState {
    /// Never loaded: a check that depends only on this list answers 503 + Retry-After.
    Unavailable { retry_after_seconds: u64 },
    /// Loaded and at most `max_stale_seconds` old (a refresh may be overdue).
    Fresh(Rc<RemoteEntries>),
    /// Loaded, but older than `max_stale_seconds`: the check fails closed.
    Stale { age_seconds: u64 },
}

impl ListState {
    /// The denial for a check that depends only on this list, when it cannot run.
    pub fn denial(&self) -> Option<Denial> {
        match self {
            ListState::Unavailable { .. } => Some(Denial::ListUnavailable),
            ListState::Stale { .. } => Some(Denial::ListStale),
            ListState::Fresh(_) => None,
        }
    }
}

/// A callout to dispatch. `Debug` names the headers but never prints their values.
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    /// `:method`, `:path`, `:authority`, `accept` (unless configured), then the configured headers.
    pub headers: Vec<(&'a str, &'a str)>,
    pub timeout: Duration,
}

impl fmt::Debug for FetchRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("FetchRequest")
            .field("cluster", &self.cluster)
            .field("headers", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a fetch failed. The last good list stays in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host refused the callout (unknown cluster, for instance).
    DispatchFailed,
    /// No `:status`: the callout timed out or the connection failed.
    NoResponse,
    HttpStatus(u32),
    Malformed(ParseError),
    /// The list could not be written to shared data.
    StoreWrite,
}

impl FetchError {
    /// Metric- and log-safe name.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::DispatchFailed => "dispatch_failed",
            FetchError::NoResponse => "no_response",
            FetchError::HttpStatus(_) => "http_status",
            FetchError::Malformed(_) => "malformed",
            FetchError::StoreWrite => "store_write",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::DispatchFailed => f.write_str("could not dispatch the callout (is the cluster defined?)"),
            FetchError::NoResponse => f.write_str("no response (timeout or connection failure)"),
            FetchError::HttpStatus(s @ (401 | 403)) => {
                write!(f, "HTTP {s}: the API refused the credentials (check remote_list.headers)")
            }
            FetchError::HttpStatus(s) => write!(f, "HTTP {s}"),
            FetchError::Malformed(e) => write!(f, "malformed answer: {e}"),
            FetchError::StoreWrite => f.write_str("could not write the list to shared data"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published; `entries` is the number of distinct canonical entries.
    Ok {
        entries: usize,
    },
    Failed {
        reason: FetchError,
    },
    /// Not this refresher's callout (or a late one): nothing changed.
    Ignored,
}

/// The shared state record of a list: its fields in order, big-endian, fixed width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Schedule {
    v: u32,
    /// Request digest of the configuration that wrote last.
    request: u64,
    /// Nonce of the worker holding the lease; 0: free.
    lease: u64,
    lease_until_ms: u64,
    failures: u32,
    /// No fetch before this (refresh or backoff), unless the configuration changed.
    next_ms: u64,
    last_attempt_ms: u64,
    /// Generation of the published list; 0: none.
    generation: u64,
}

/// The shared data record of a list: `v`, `generation`, `fetched_at_ms`, the entry
/// count (u32), then each entry as its length (u16) and its bytes; big-endian.
struct DataRecord {
    v: u32,
    generation: u64,
    fetched_at_ms: u64,
    entries: Vec<String>,
}

impl Schedule {
    const LEN: usize = 4 + 3 * 8 + 4 + 3 * 8;

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&self.v.to_be_bytes());
        for n in [self.request, self.lease, self.lease_until_ms] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.failures.to_be_bytes());
        for n in [self.next_ms, self.last_attempt_ms, self.generation] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let mut r = Reader(bytes);
        Some(Schedule {
            v: r.u32()?,
            request: r.u64()?,
            lease: r.u64()?,
            lease_until_ms: r.u64()?,
            failures: r.u32()?,
            next_ms: r.u64()?,
            last_attempt_ms: r.u64()?,
            generation: r.u64()?,
        })
    }
}

impl DataRecord {
    /// `None` when an entry is too long to encode (entries are at most `MAX_ENTRY_LEN`).
    fn encode(&self) -> Option<Vec<u8>> {
        let size = self.entries.iter().map(|e| 2 + e.len()).sum::<usize>();
        let mut out = Vec::with_capacity(24 + size);
        out.extend_from_slice(&self.v.to_be_bytes());
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&self.fetched_at_ms.to_be_bytes());
        out.extend_from_slice(&u32::try_from(self.entries.len()).ok()?.to_be_bytes());
        for e in &self.entries {
            out.extend_from_slice(&u16::try_from(e.len()).ok()?.to_be_bytes());
            out.extend_from_slice(e.as_bytes());
        }
        Some(out)
    }

    /// Anything but a whole record of this format is `None`, before any large allocation.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let (v, generation, fetched_at_ms) = (r.u32()?, r.u64()?, r.u64()?);
        let count = usize::try_from(r.u32()?).ok().filter(|&n| v == FORMAT_VERSION && n <= MAX_ENTRIES)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes(r.array()?));
            entries.push(std::str::from_utf8(r.take(len)?).ok()?.to_string());
        }
        r.0.is_empty().then_some(DataRecord { v, generation, fetched_at_ms, entries })
    }
}

/// Reads a shared record front to back; `None` once it runs out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    nonce: u64,
    token: Option<u32>,
    /// Past this, the host will not answer any more (it answers by the timeout).
    deadline_ms: u64,
}

#[derive(Debug, Default)]
struct Local {
    attempt: Option<Attempt>,
    cache: Option<Rc<RemoteEntries>>,
    /// The shared state as last read, for Retry-After.
    seen: Option<Schedule>,
    synced_at_ms: Option<u64>,
    draws: u64,
}

/// The refresh state machine of one list in one worker VM. Workers coordinate through
/// the shared store only; see the module documentation for the protocol.
#[derive(Debug)]
pub struct Refresher {
    list: RemoteList,
    kind: EntryKind,
    state_key: String,
    data_key: String,
    local: RefCell<Local>,
}

impl Refresher {
    pub fn new(list: RemoteList, kind: EntryKind) -> Self {
        let base = format!("{KEY_PREFIX}{}:{:016x}", list.name, list.source_digest);
        Refresher {
            state_key: format!("{base}:state"),
            data_key: format!("{base}:data"),
            list,
            kind,
            local: RefCell::new(Local::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.list.name
    }

    pub fn list(&self) -> &RemoteList {
        &self.list
    }

    /// Entries loaded in this worker (gauge).
    pub fn entries(&self) -> usize {
        self.local().and_then(|l| l.cache.as_ref().map(|c| c.len())).unwrap_or(0)
    }

    /// Age of the list loaded in this worker (gauge); `None` before the first load.
    pub fn age_seconds(&self, now_ms: u64) -> Option<u64> {
        let fetched = self.local()?.cache.as_ref()?.fetched_at_ms;
        Some(now_ms.saturating_sub(fetched) / 1000)
    }

    /// Create the shared state record, where absent, when the configuration loads.
    /// Envoy's shared data has no create-if-absent, so the first lease of a new record
    /// could not be a compare-and-swap, and two VMs ticking together could both fetch.
    /// With the record in place before the first tick, taking the lease is always a CAS.
    pub fn prepare(&self, store: &dyn SharedStore) {
        if store.get(&self.state_key).0.is_none() {
            let initial = Schedule { v: FORMAT_VERSION, request: self.list.request_digest, ..Schedule::default() };
            // A failure leaves the record absent: the first tick then creates it as before.
            let _ = store.set(&self.state_key, &initial.encode(), None);
        }
    }

    /// Whether this worker should fetch now; if so it holds the lease and must dispatch
    /// the request. `rand` is any random number (lease nonce and jitter).
    pub fn on_tick(&self, store: &dyn SharedStore, now_ms: u64, rand: u64) -> Option<FetchRequest<'_>> {
        let mut local = self.local()?;
        let (schedule, cas) = self.read_state(store);
        self.sync(&mut local, store, schedule, now_ms);
        if let Some(a) = local.attempt {
            if now_ms < a.deadline_ms && a.deadline_ms - now_ms <= self.list.lease_ms() {
                return None;
            }
            // The host never answered (a lost callback, or the clock jumped): count a
            // failure so that backoff applies, and let the lease go.
            local.attempt = None;
            drop(local);
            self.finish(store, a.nonce, now_ms, None);
            return None;
        }
        if !self.due(schedule.as_ref(), now_ms) {
            return None;
        }
        local.draws = local.draws.wrapping_add(1);
        let nonce = mix(rand ^ now_ms.rotate_left(32) ^ mix(local.draws)).max(1);
        let until = now_ms.saturating_add(self.list.lease_ms());
        let mut next = schedule.unwrap_or_default();
        if next.request != self.list.request_digest {
            // Another configuration's failures say nothing about this one's credentials.
            next.failures = 0;
        }
        next.v = FORMAT_VERSION;
        next.request = self.list.request_digest;
        next.lease = nonce;
        next.lease_until_ms = until;
        next.last_attempt_ms = now_ms;
        store.set(&self.state_key, &next.encode(), cas).ok()?;
        if cas.is_none() {
            // Creating a key is not protected by CAS: another worker may have created it
            // at the same moment. Go on only if the record holds our lease. (Both may
            // still go on in a narrow interleaving: a harmless double fetch, once.)
            if self.read_state(store).0.map(|s| s.lease) != Some(nonce) {
                return None;
            }
        }
        local.attempt = Some(Attempt { nonce, token: None, deadline_ms: until });
        local.seen = Some(next);
        Some(self.request())
    }

    /// The glue dispatched the request of the last `on_tick`; `token` identifies its answer.
    pub fn on_dispatched(&self, token: u32) {
        if let Some(mut local) = self.local() {
            if let Some(a) = local.attempt.as_mut() {
                if a.token.is_none() {
                    a.token = Some(token);
                }
            }
        }
    }

    /// The glue could not dispatch the request of the last `on_tick`.
    pub fn on_dispatch_failed(&self, store: &dyn SharedStore, now_ms: u64) -> Outcome {
        let Some(a) = self.local().and_then(|mut l| l.attempt.take()) else {
            return Outcome::Ignored;
        };
        self.finish(store, a.nonce, now_ms, None);
        Outcome::Failed { reason: FetchError::DispatchFailed }
    }

    /// The answer to a callout. `status` 0: no response (timeout, reset).
    pub fn on_response(&self, store: &dyn SharedStore, token: u32, status: u32, body: &[u8], now_ms: u64) -> Outcome {
        let attempt = {
            let Some(mut local) = self.local() else {
                return Outcome::Ignored;
            };
            match local.attempt {
                Some(a) if a.token == Some(token) => {
                    local.attempt = None;
                    a
                }
                _ => return Outcome::Ignored,
            }
        };
        let entries = match self.accept(status, body) {
            Ok(entries) => entries,
            Err(reason) => {
                self.finish(store, attempt.nonce, now_ms, None);
                return Outcome::Failed { reason };
            }
        };
        let record = DataRecord { v: FORMAT_VERSION, generation: attempt.nonce, fetched_at_ms: now_ms, entries };
        let written = record.encode().is_some_and(|b| store.set(&self.data_key, &b, None).is_ok());
        if !written {
            self.finish(store, attempt.nonce, now_ms, None);
            return Outcome::Failed { reason: FetchError::StoreWrite };
        }
        // The data is written before the state announces its generation, so a worker
        // that sees the new generation finds the new data.
        self.finish(store, attempt.nonce, now_ms, Some(attempt.nonce));
        let n = record.entries.len();
        if let Some(mut local) = self.local() {
            local.cache = Some(Rc::new(RemoteEntries {
                entries: record.entries,
                fetched_at_ms: now_ms,
                generation: attempt.nonce,
            }));
        }
        Outcome::Ok { entries: n }
    }

    /// The list for the request path. Reads shared data at most once a second (the
    /// small state record; the list itself only when its generation changed).
    pub fn current(&self, store: &dyn SharedStore, now_ms: u64) -> ListState {
        let Some(mut local) = self.local() else {
            return ListState::Unavailable { retry_after_seconds: 1 };
        };
        // Until this worker has a list, look at every request: the first good fetch (often
        // made by another VM) must be used at once, not up to a second later.
        let due = local.cache.is_none()
            || match local.synced_at_ms {
                None => true,
                Some(t) => now_ms >= t.saturating_add(SYNC_INTERVAL_MS) || now_ms < t,
            };
        if due {
            let (schedule, _) = self.read_state(store);
            self.sync(&mut local, store, schedule, now_ms);
        }
        match &local.cache {
            Some(c) => {
                let age_ms = now_ms.saturating_sub(c.fetched_at_ms);
                if age_ms > self.list.timing.max_stale_seconds.saturating_mul(1000) {
                    ListState::Stale { age_seconds: age_ms / 1000 }
                } else {
                    ListState::Fresh(Rc::clone(c))
                }
            }
            None => ListState::Unavailable { retry_after_seconds: self.retry_after(local.seen.as_ref(), now_ms) },
        }
    }

    /// The state machine is single-threaded and never re-entered; should that ever
    /// change, callers get a conservative answer instead of a panic.
    fn local(&self) -> Option<RefMut<'_, Local>> {
        self.local.try_borrow_mut().ok()
    }

    fn request(&self) -> FetchRequest<'_> {
        let up = &self.list.upstream;
        let mut headers: Vec<(&str, &str)> =
            vec![(":method", "GET"), (":path", &up.path), (":authority", &up.authority)];
        if !up.headers.iter().any(|(n, _)| n == "accept") {
            headers.push(("accept", "application/json"));
        }
        // Values were checked to be UTF-8 at compile time.
        headers
            .extend(up.headers.iter().filter_map(|(n, v)| Some((n.as_str(), std::str::from_utf8(v.expose()).ok()?))));
        FetchRequest { cluster: &up.cluster, headers, timeout: up.timeout }
    }

    fn accept(&self, status: u32, body: &[u8]) -> Result<Vec<String>, FetchError> {
        if status == 0 {
            return Err(FetchError::NoResponse);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::HttpStatus(status));
        }
        let raw = parse_list(body, &self.list.pointer, &self.list.field, self.kind.looks_like)
            .map_err(FetchError::Malformed)?;
        let mut entries: Vec<String> = raw.iter().map(|e| (self.kind.canonical)(e)).collect();
        entries.sort_unstable();
        entries.dedup();
        Ok(entries)
    }

    fn due(&self, s: Option<&Schedule>, now_ms: u64) -> bool {
        let Some(s) = s else {
            return true;
        };
        // A lease or a schedule further ahead than this configuration could have set it
        // (beyond the skew between workers' clock readings) means the clock went back:
        // ignore it rather than stall for that long.
        let plausible = |until: u64, span: u64| until - now_ms <= span.saturating_add(CLOCK_SKEW_MS);
        let lease_live = s.lease != 0 && now_ms < s.lease_until_ms && plausible(s.lease_until_ms, self.list.lease_ms());
        if lease_live {
            return false;
        }
        if s.request != self.list.request_digest {
            // Another configuration of this source wrote last (changed credentials, or a
            // VM still draining): fetch without waiting out its schedule, but at most once
            // per retry interval, so two live configurations cannot alternate at tick rate.
            return now_ms >= s.last_attempt_ms.saturating_add(self.list.retry_ms())
                || now_ms.saturating_add(CLOCK_SKEW_MS) < s.last_attempt_ms;
        }
        now_ms >= s.next_ms || !plausible(s.next_ms, self.list.refresh_ms())
    }

    /// Record the end of an attempt in the shared state: `generation` on success.
    fn finish(&self, store: &dyn SharedStore, nonce: u64, now_ms: u64, generation: Option<u64>) {
        for _ in 0..CAS_ATTEMPTS {
            let (current, cas) = self.read_state(store);
            let mut s = current.unwrap_or_default();
            let same_config = s.request == self.list.request_digest;
            if s.lease == nonce {
                s.lease = 0;
                s.lease_until_ms = 0;
            }
            // A foreign live lease (ours expired and another worker took over) stays.
            s.v = FORMAT_VERSION;
            s.request = self.list.request_digest;
            s.last_attempt_ms = s.last_attempt_ms.max(now_ms);
            match generation {
                Some(g) => {
                    s.failures = 0;
                    s.generation = g;
                    s.next_ms = now_ms.saturating_add(self.list.refresh_delay_ms(nonce));
                }
                None => {
                    s.failures = if same_config { s.failures.saturating_add(1) } else { 1 };
                    s.next_ms = now_ms.saturating_add(self.list.backoff_ms(s.failures, nonce));
                }
            }
            if store.set(&self.state_key, &s.encode(), cas).is_ok() {
                if let Some(mut local) = self.local() {
                    local.seen = Some(s);
                }
                return;
            }
        }
    }

    /// The state record and its CAS token. An unreadable record (another format) counts
    /// as absent, but its token is kept so that the next write still uses CAS.
    fn read_state(&self, store: &dyn SharedStore) -> (Option<Schedule>, Option<u32>) {
        let (bytes, cas) = store.get(&self.state_key);
        let schedule = bytes.and_then(|b| Schedule::decode(&b)).filter(|s| s.v == FORMAT_VERSION);
        (schedule, cas)
    }

    /// Bring this worker's copy up to date with the shared state just read.
    fn sync(&self, local: &mut Local, store: &dyn SharedStore, schedule: Option<Schedule>, now_ms: u64) {
        local.synced_at_ms = Some(now_ms);
        local.seen = schedule;
        let have = local.cache.as_ref().map(|c| c.generation);
        match schedule.map(|s| s.generation) {
            Some(g) if have == Some(g) => return,
            // Nothing published yet: no need to look at the data key.
            Some(0) if have.is_none() => return,
            _ => {}
        }
        let (bytes, _) = store.get(&self.data_key);
        let record = bytes
            .and_then(|b| DataRecord::decode(&b))
            .filter(|r| r.v == FORMAT_VERSION && r.generation != 0 && r.entries.len() <= MAX_ENTRIES);
        // An unreadable record keeps what this worker has: never drop a good list.
        if let Some(r) = record {
            if Some(r.generation) != have {
                local.cache = Some(Rc::new(RemoteEntries {
                    entries: r.entries,
                    fetched_at_ms: r.fetched_at_ms,
                    generation: r.generation,
                }));
            }
        }
    }

    /// Seconds until a list may be there: the running fetch's lease, or the next
    /// attempt plus its timeout, clamped to 1..=600.
    fn retry_after(&self, seen: Option<&Schedule>, now_ms: u64) -> u64 {
        let timeout = self.list.timeout_ms();
        // A fetch that can start now does so on the next tick, about a second away.
        let soon = timeout.saturating_add(1000);
        let wait_ms = match seen {
            Some(s) if s.lease != 0 && s.lease_until_ms > now_ms => s.lease_until_ms - now_ms,
            Some(s) => {
                let next = if s.request == self.list.request_digest {
                    s.next_ms
                } else {
                    s.last_attempt_ms.saturating_add(self.list.retry_ms())
                };
                if next > now_ms {
                    (next - now_ms).saturating_add(timeout)
                } else {
                    soon
                }
            }
            None => soon,
        };
        wait_ms.div_ceil(1000).clamp(1, MAX_RETRY_AFTER_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{Conflict, MemoryStore};

    // ---- fixtures -------------------------------------------------------------------

    const SHA1: &str = "3F:2A:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02";
    const SHA1_CANON: &str = "3f2a00112233445566778899aabbccddeeff0102";
    const SHA256: &str = "9c41e4f5b6a798011223344556677889aabbccddeeff00112233445566778899";

    fn hex_only(s: &str) -> String {
        s.chars().filter(|c| *c != ':' && *c != ' ').collect()
    }

    /// What the client_cert check supplies: SHA-1 or SHA-256 hex, any case, ':' and ' ' ignored.
    fn looks_like_thumbprint(s: &str) -> bool {
        let h = hex_only(s);
        (h.len() == 40 || h.len() == 64) && h.bytes().all(|b| b.is_ascii_hexdigit())
    }

    fn canonical_thumbprint(s: &str) -> String {
        hex_only(s).to_ascii_lowercase()
    }

    const THUMBPRINTS: EntryKind = EntryKind { looks_like: looks_like_thumbprint, canonical: canonical_thumbprint };

    fn looks_like_ip(s: &str) -> bool {
        let (addr, len) = s.split_once('/').unwrap_or((s, "0"));
        addr.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "COPYLEAKS_TOKEN" => Some("Bearer t0p-s3cret".into()),
            "OTHER_TOKEN" => Some("Bearer 0ther".into()),
            "CRLF" => Some("Bearer a\r\nx-injected: 1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    const BASE: &str =
        r#""cluster":"copyleaks_api","authority":"api.copyleaks.com","path":"/v2/security/client-certificates""#;

    fn wire(extra: &str) -> RemoteListConfig {
        let json = if extra.is_empty() { format!("{{{BASE}}}") } else { format!("{{{BASE},{extra}}}") };
        crate::wire::from_str(&json).unwrap()
    }

    fn list(extra: &str) -> RemoteList {
        RemoteList::compile(&wire(extra), "r.client_cert.remote_list", &env, "r.client_cert").unwrap()
    }

    fn worker(extra: &str) -> Refresher {
        Refresher::new(list(extra), THUMBPRINTS)
    }

    const T0: u64 = 1_700_000_000_000;
    const LEASE: u64 = DEFAULT_TIMEOUT_MS + LEASE_MARGIN_MS;
    const DAY_MS: u64 = 86_400_000;

    fn body() -> Vec<u8> {
        format!(r#"["{SHA1}","{SHA256}"]"#).into_bytes()
    }

    /// Tick, dispatch with `token`, answer with `status`/`body`.
    fn fetch(w: &Refresher, store: &MemoryStore, now: u64, token: u32, status: u32, body: &[u8]) -> Outcome {
        assert!(w.on_tick(store, now, u64::from(token)).is_some(), "expected a fetch at {now}");
        w.on_dispatched(token);
        w.on_response(store, token, status, body, now + 100)
    }

    fn fresh(state: ListState) -> Rc<RemoteEntries> {
        match state {
            ListState::Fresh(e) => e,
            other => panic!("expected Fresh, got {other:?}"),
        }
    }

    fn schedule(w: &Refresher, store: &MemoryStore) -> Schedule {
        w.read_state(store).0.unwrap()
    }

    #[test]
    fn prepared_record_makes_the_first_lease_single_flight() {
        let (a, b) = (worker(""), worker(""));
        // Without the record, both VMs see no key at their first tick and both write it;
        // with it, the second VM's lease write fails its CAS.
        let store = crate::shared::ContendedStore::new(Vec::new(), false);
        a.prepare(&store.inner);
        b.prepare(&store.inner);
        let before = schedule(&a, &store.inner);
        assert_eq!(before.generation, 0);
        // Both read the record; then both try to take the lease.
        let (_, cas_b) = b.read_state(&store.inner);
        assert!(a.on_tick(&store.inner, T0, 1).is_some());
        assert!(cas_b.is_some());
        assert!(b.on_tick(&store.inner, T0, 2).is_none(), "the lease is held: no second fetch");
        // Preparing again (a config reload) keeps what is there.
        a.prepare(&store.inner);
        assert_eq!(schedule(&a, &store.inner).lease, schedule(&b, &store.inner).lease);
    }

    #[test]
    fn a_worker_without_a_list_sees_the_first_good_fetch_at_once() {
        let store = MemoryStore::default();
        let (fetcher, other) = (worker(""), worker(""));
        // The other worker asks first: nothing yet.
        assert!(matches!(other.current(&store, T0), ListState::Unavailable { .. }));
        assert_eq!(fetch(&fetcher, &store, T0 + 10, 7, 200, &body()), Outcome::Ok { entries: 2 });
        // 200 ms later, well inside the once-a-second re-read of a worker that has a list.
        assert_eq!(fresh(other.current(&store, T0 + 200)).len(), 2);
    }

    // ---- configuration --------------------------------------------------------------

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
            (r#""headers":{"authorization":{"id":"a","value":"x"}}"#, "r.client_cert.remote_list.headers.authorization.id: a header value takes no id"),
            (
                r#""headers":{"authorization":{"value":"x","not_after":"2027-01-31T00:00:00Z"}}"#,
                "r.client_cert.remote_list.headers.authorization.not_after: a header value cannot expire here",
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
            let c: RemoteListConfig = crate::wire::from_str(json).unwrap();
            let err = RemoteList::compile(&c, "x", &env, "n").unwrap_err().to_string();
            assert!(err.starts_with(want), "{json}: got {err:?}, want prefix {want:?}");
        }
        let err = RemoteList::compile(&wire(""), "x", &env, "Bad Name").unwrap_err();
        assert_eq!(err.path, "x");
    }

    #[test]
    fn unknown_and_missing_fields_are_refused_with_their_path() {
        let parse = |json: &str| crate::wire::from_str::<RemoteListConfig>(json).unwrap_err().to_string();
        assert!(parse(&format!("{{{BASE},\"refresh\":1}}")).starts_with("refresh: unknown field `refresh`"));
        assert_eq!(parse(r#"{"cluster":"c","path":"/p"}"#), "authority: missing field `authority`");
        let e = parse(&format!(r#"{{{BASE},"headers":{{"authorization":{{"env":"X","bogus":1}}}}}}"#));
        assert!(e.starts_with("headers.authorization.bogus: unknown field `bogus`"), "{e}");
        let e = parse(&format!(r#"{{{BASE},"headers":{{"authorization":"Bearer s3cr3t"}}}}"#));
        assert_eq!(e, "headers.authorization: expected an object, found a string");
        let e = parse(&format!(r#"{{{BASE},"headers":["authorization"]}}"#));
        assert_eq!(e, "headers: expected an object of header name to secret, found an array");
    }

    #[test]
    fn fetch_request_carries_headers_and_debug_hides_their_values() {
        let w = worker(
            r#""headers":{"Authorization":{"env":"COPYLEAKS_TOKEN"},"x-client":{"value":"wg"}},"timeout_ms":2500"#,
        );
        let store = MemoryStore::default();
        let req = w.on_tick(&store, T0, 1).unwrap();
        assert_eq!(req.cluster, "copyleaks_api");
        assert_eq!(req.timeout, Duration::from_millis(2500));
        assert_eq!(
            req.headers,
            vec![
                (":method", "GET"),
                (":path", "/v2/security/client-certificates"),
                (":authority", "api.copyleaks.com"),
                ("accept", "application/json"),
                ("authorization", "Bearer t0p-s3cret"),
                ("x-client", "wg"),
            ]
        );
        let printed = format!("{req:?} {:?}", w.list());
        assert!(!printed.contains("t0p-s3cret") && !printed.contains("\"wg\""), "{printed}");
        assert!(printed.contains("authorization"), "{printed}");
        // A configured accept header replaces the default one.
        let w = worker(r#""headers":{"accept":{"value":"text/plain"}}"#);
        let req = w.on_tick(&MemoryStore::default(), T0, 1).unwrap();
        assert_eq!(req.headers.iter().filter(|(n, _)| *n == "accept").count(), 1);
        assert!(req.headers.contains(&("accept", "text/plain")));
    }

    #[test]
    fn shared_keys_depend_on_name_and_source_not_on_credentials() {
        let a = worker("");
        assert!(a.state_key.starts_with("webhook_guard:list:r.client_cert:"), "{}", a.state_key);
        assert!(a.state_key.ends_with(":state") && a.data_key.ends_with(":data"));
        let same = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
        assert_eq!(a.data_key, same.data_key);
        assert_ne!(a.list.request_digest, same.list.request_digest);
        let moved = worker(r#""pointer":"/certificates""#);
        assert_ne!(a.data_key, moved.data_key);
    }

    // ---- parsing --------------------------------------------------------------------

    fn parse(body: &str) -> Result<Vec<String>, ParseError> {
        parse_list(body.as_bytes(), "", "", looks_like_thumbprint)
    }

    #[test]
    fn accepts_an_array_of_strings() {
        assert_eq!(parse(&format!(r#"["{SHA1}", " {SHA256} "]"#)), Ok(vec![SHA1.to_string(), SHA256.to_string()]));
        let spaced = "3f 2a 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 01 02";
        assert_eq!(parse(&format!(r#"["{spaced}"]"#)), Ok(vec![spaced.to_string()]));
        // A UTF-8 byte order mark is tolerated.
        let bom = [&b"\xEF\xBB\xBF"[..], format!(r#"["{SHA1}"]"#).as_bytes()].concat();
        assert_eq!(parse_list(&bom, "", "", looks_like_thumbprint), Ok(vec![SHA1.to_string()]));
    }

    #[test]
    fn accepts_arrays_of_objects_with_any_member_name() {
        for name in ["thumbprint", "sha1", "fingerprint", "value", "Thumbprint"] {
            let doc = format!(
                r#"[{{"id":7,"name":"copyleaks-2025","{name}":"{SHA1}","active":true}},{{"id":8,"name":"x","{name}":"{SHA256}"}}]"#
            );
            assert_eq!(parse(&doc), Ok(vec![SHA1.to_string(), SHA256.to_string()]), "{name}");
        }
        // The first member that looks like a value, in document order (not alphabetical).
        let both = format!(r#"[{{"sha256":"{SHA256}","sha1":"{SHA1}"}}]"#);
        assert_eq!(parse(&both), Ok(vec![SHA256.to_string()]));
        assert_eq!(parse_list(both.as_bytes(), "", "sha1", looks_like_thumbprint), Ok(vec![SHA1.to_string()]));
        // The member is chosen once, from the first object: every object must have it.
        let drift = format!(r#"[{{"sha1":"{SHA1}"}},{{"thumbprint":"{SHA1}"}}]"#);
        assert_eq!(parse(&drift), Err(ParseError::MissingField { index: 1 }));
    }

    #[test]
    fn accepts_an_object_holding_the_array() {
        let doc = format!(r#"{{"count":2,"certificates":["{SHA1}","{SHA256}"]}}"#);
        assert_eq!(parse(&doc), Ok(vec![SHA1.to_string(), SHA256.to_string()]));
        // Arrays that hold no value (or nothing) are passed over for the one that does.
        let doc = format!(r#"{{"errors":[],"warnings":["none"],"data":[{{"thumbprint":"{SHA1}"}}]}}"#);
        assert_eq!(parse(&doc), Ok(vec![SHA1.to_string()]));
        // Only top-level members are searched.
        let nested = format!(r#"{{"data":{{"certificates":["{SHA1}"]}}}}"#);
        assert_eq!(parse(&nested), Err(ParseError::NoArray));
    }

    #[test]
    fn explicit_pointer_and_field() {
        let doc = format!(
            r#"{{"data":{{"a/b":[{{"hash":"{SHA256}","sha1":"{SHA1}"}}],"list":[["{SHA1}"]]}},"other":["{SHA256}"]}}"#
        );
        let p = |pointer: &str, field: &str| parse_list(doc.as_bytes(), pointer, field, looks_like_thumbprint);
        assert_eq!(p("/data/a~1b", "sha1"), Ok(vec![SHA1.to_string()]));
        assert_eq!(p("/data/a~1b", ""), Ok(vec![SHA256.to_string()]));
        assert_eq!(p("/data/list/0", ""), Ok(vec![SHA1.to_string()]));
        assert_eq!(p("/data/list/00", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data/list/1", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data/missing", ""), Err(ParseError::PointerNotFound));
        assert_eq!(p("/data", ""), Err(ParseError::NotAnArray));
        assert_eq!(p("/data/a~1b", "name"), Err(ParseError::MissingField { index: 0 }));
        // With a pointer, the first top-level array is not what counts.
        assert_eq!(p("/other", ""), Ok(vec![SHA256.to_string()]));
    }

    #[test]
    fn refuses_garbage() {
        let cases: Vec<(String, ParseError)> = vec![
            ("".into(), ParseError::NotJson),
            ("<html>502 Bad Gateway</html>".into(), ParseError::NotJson),
            (format!(r#"["{SHA1}"] trailing"#), ParseError::NotJson),
            (format!(r#"["{SHA1}""#), ParseError::NotJson),
            ("\u{0}".into(), ParseError::NotJson),
            ("42".into(), ParseError::NoArray),
            (format!(r#""{SHA1}""#), ParseError::NoArray),
            ("null".into(), ParseError::NoArray),
            ("{}".into(), ParseError::NoArray),
            (r#"{"error":"unauthorized","codes":[401]}"#.into(), ParseError::NoArray),
            ("[]".into(), ParseError::Empty),
            (r#"{"certificates":[]}"#.into(), ParseError::Empty),
            (format!(r#"["{SHA1}","not-a-thumbprint"]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",42]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",{{"sha1":"{SHA1}"}}]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"[{{"sha1":"{SHA1}"}},"{SHA1}"]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"[{{"sha1":"{SHA1}"}},{{"sha1":5}}]"#), ParseError::InvalidEntry { index: 1 }),
            (format!(r#"["{SHA1}",""]"#), ParseError::InvalidEntry { index: 1 }),
            (r#"[{"name":"a","id":1}]"#.into(), ParseError::NoField),
            (format!(r#"[{{"sha1":"{SHA1}","sha1":"{SHA256}"}}]"#), ParseError::DuplicateKey),
            (format!(r#"{{"a":1,"a":2,"list":["{SHA1}"]}}"#), ParseError::DuplicateKey),
        ];
        for (body, want) in cases {
            assert_eq!(parse(&body), Err(want), "{body}");
        }
        // Surrounding white space is trimmed; a control character inside an entry (after
        // JSON unescaping) is refused whatever `looks_like` says.
        assert_eq!(parse(&format!(r#"["\t{SHA1}\n"]"#)), Ok(vec![SHA1.to_string()]));
        assert_eq!(parse_list(br#"["ok","a\u0007b"]"#, "", "", |_| true), Err(ParseError::InvalidEntry { index: 1 }));
        // Not UTF-8.
        assert_eq!(parse_list(b"[\"\xff\"]", "", "", looks_like_thumbprint), Err(ParseError::NotJson));
        // An overlong entry is refused before looks_like sees it.
        let long = format!(r#"["{}"]"#, "a".repeat(MAX_ENTRY_LEN + 1));
        assert_eq!(parse_list(long.as_bytes(), "", "", |_| true), Err(ParseError::InvalidEntry { index: 0 }));
    }

    #[test]
    fn hostile_input_is_bounded_and_never_panics() {
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse_list(&huge, "", "", looks_like_thumbprint),
            Err(ParseError::TooLarge { bytes: MAX_BODY_BYTES + 1 })
        );
        let many = format!("[{}]", vec![format!("\"{SHA1}\""); MAX_ENTRIES + 1].join(","));
        assert!(many.len() <= MAX_BODY_BYTES);
        assert_eq!(parse(&many), Err(ParseError::TooManyEntries { count: MAX_ENTRIES + 1 }));
        let enough = format!("[{}]", vec![format!("\"{SHA1}\""); MAX_ENTRIES].join(","));
        assert_eq!(parse(&enough).map(|v| v.len()), Ok(MAX_ENTRIES));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep[..MAX_BODY_BYTES.min(deep.len())]), Err(ParseError::NotJson));
        let wide = format!("{{{}}}", (0..50_000).map(|i| format!("\"k{i}\":0")).collect::<Vec<_>>().join(","));
        assert_eq!(parse(&wide), Err(ParseError::NoArray));
        for body in ["[", "{", "[\"", "{\"a\":", "[{]", "\"\\u", "[1e999999]", "[-]"] {
            assert!(parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn the_parser_is_generic_over_entry_kinds() {
        let doc = r#"{"prefixes":[{"region":"eu","cidr":"192.0.2.0/24"},{"region":"us","cidr":"2001:db8::/32"}]}"#;
        assert_eq!(
            parse_list(doc.as_bytes(), "", "", looks_like_ip),
            Ok(vec!["192.0.2.0/24".to_string(), "2001:db8::/32".to_string()])
        );
        assert_eq!(parse_list(br#"["198.51.100.7","::1"]"#, "", "", looks_like_ip).map(|v| v.len()), Ok(2));
        assert_eq!(
            parse_list(br#"["198.51.100.7","999.1.1.1"]"#, "", "", looks_like_ip),
            Err(ParseError::InvalidEntry { index: 1 })
        );
    }

    #[test]
    fn parse_errors_have_metric_safe_reasons_and_no_document_text() {
        let doc = r#"["secret-looking-garbage"]"#;
        let e = parse(doc).unwrap_err();
        assert!(!e.to_string().contains("garbage"));
        for e in [
            ParseError::TooLarge { bytes: 1 },
            ParseError::NotJson,
            ParseError::DuplicateKey,
            ParseError::PointerNotFound,
            ParseError::NotAnArray,
            ParseError::NoArray,
            ParseError::Empty,
            ParseError::TooManyEntries { count: 1 },
            ParseError::InvalidEntry { index: 1 },
            ParseError::MissingField { index: 1 },
            ParseError::NoField,
        ] {
            assert!(e.reason().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    // ---- the refresh state machine --------------------------------------------------

    #[test]
    fn first_tick_fetches_and_success_is_shared_with_other_workers() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(matches!(b.current(&store, T0), ListState::Unavailable { .. }));
        let req = a.on_tick(&store, T0, 7).unwrap();
        assert_eq!(req.cluster, "copyleaks_api");
        a.on_dispatched(42);
        let outcome = a.on_response(&store, 42, 200, &body(), T0 + 300);
        assert_eq!(outcome, Outcome::Ok { entries: 2 });
        let mine = fresh(a.current(&store, T0 + 300));
        assert!(mine.contains(SHA1_CANON));
        assert!(mine.contains(SHA256));
        assert!(!mine.contains(SHA1), "entries are canonical");
        assert_eq!(a.entries(), 2);
        assert_eq!(a.age_seconds(T0 + 2_300), Some(2));
        // b has no list yet, so it looks again at once (not a second later).
        let theirs = fresh(b.current(&store, T0 + 500));
        assert_eq!(theirs.iter().collect::<Vec<_>>(), vec![SHA1_CANON, SHA256]);
        assert_eq!(theirs.generation(), mine.generation());
        assert_eq!(theirs.fetched_at_ms(), T0 + 300);
        assert_eq!(b.entries(), 2);
        // Later reads reuse the decoded list (same allocation) until the generation changes.
        let again = fresh(b.current(&store, T0 + 5_000));
        assert!(Rc::ptr_eq(&theirs, &again));
        // Nobody fetches again before the refresh.
        assert!(a.on_tick(&store, T0 + 1_000, 1).is_none());
        assert!(b.on_tick(&store, T0 + 1_000, 2).is_none());
    }

    #[test]
    fn a_held_lease_keeps_other_workers_and_the_holder_from_fetching() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        for t in [T0, T0 + 1_000, T0 + LEASE - 1] {
            assert!(b.on_tick(&store, t, 2).is_none(), "{t}");
            assert!(a.on_tick(&store, t, 3).is_none(), "{t}");
        }
        let s = schedule(&a, &store);
        assert_ne!(s.lease, 0);
        assert_eq!(s.lease_until_ms, T0 + LEASE);
    }

    #[test]
    fn a_worker_whose_clock_reading_is_a_little_older_still_sees_the_lease() {
        // A tick reads the clock once for all its lists, and workers run in parallel: by
        // the time this worker reads a list's record, another may have taken the lease
        // with a later reading. That lease (and the schedule after its fetch) looks
        // longer than this configuration could set, but it is not the clock going back.
        for skew in [1, 45, 1_000, CLOCK_SKEW_MS] {
            let store = MemoryStore::default();
            let (a, b) = (worker(""), worker(""));
            assert!(a.on_tick(&store, T0 + skew, 1).is_some());
            a.on_dispatched(1);
            assert!(b.on_tick(&store, T0, 2).is_none(), "a live lease, {skew} ms ahead");
            assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + skew), Outcome::Ok { entries: 2 });
            // Whatever the jitter, the next refresh is not due for this worker either.
            let mut s = schedule(&a, &store);
            s.next_ms = T0 + skew + DAY_MS;
            store.set(&a.state_key, &s.encode(), None).unwrap();
            assert!(b.on_tick(&store, T0, 3).is_none(), "a schedule {skew} ms past a day");
        }
    }

    #[test]
    fn an_expired_lease_lets_another_worker_take_over() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // a's VM died mid-flight: it never answers, never ticks again.
        assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
        b.on_dispatched(9);
        assert_eq!(b.on_response(&store, 9, 200, &body(), T0 + LEASE + 50), Outcome::Ok { entries: 2 });
        assert_eq!(fresh(a.current(&store, T0 + LEASE + 100)).len(), 2);
    }

    #[test]
    fn a_lost_callback_counts_as_a_failure_and_releases_the_lease() {
        let store = MemoryStore::default();
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // Past the deadline, the holder gives up: no fetch on that tick, a failure recorded.
        assert!(a.on_tick(&store, T0 + LEASE, 2).is_none());
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        assert!(s.next_ms >= T0 + LEASE + 45_000 && s.next_ms <= T0 + LEASE + 60_000, "{}", s.next_ms - T0);
        // The late answer, if it ever comes, changes nothing.
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + LEASE + 1), Outcome::Ignored);
        assert!(matches!(a.current(&store, T0 + LEASE + 2_000), ListState::Unavailable { .. }));
    }

    #[test]
    fn failures_keep_the_last_good_list() {
        let store = MemoryStore::default();
        let (a, b) = (worker(r#""refresh_seconds":60"#), worker(r#""refresh_seconds":60"#));
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let good = fresh(b.current(&store, T0 + 1_000));
        let answers: Vec<(u32, Vec<u8>, FetchError)> = vec![
            (500, b"oops".to_vec(), FetchError::HttpStatus(500)),
            (401, br#"{"error":"unauthorized"}"#.to_vec(), FetchError::HttpStatus(401)),
            (0, Vec::new(), FetchError::NoResponse),
            (200, b"<html>maintenance</html>".to_vec(), FetchError::Malformed(ParseError::NotJson)),
            (200, b"[]".to_vec(), FetchError::Malformed(ParseError::Empty)),
            (200, br#"{"certificates":[]}"#.to_vec(), FetchError::Malformed(ParseError::Empty)),
            (
                200,
                format!(r#"["{SHA1}","zz"]"#).into_bytes(),
                FetchError::Malformed(ParseError::InvalidEntry { index: 1 }),
            ),
            (204, Vec::new(), FetchError::Malformed(ParseError::NotJson)),
            (302, Vec::new(), FetchError::HttpStatus(302)),
        ];
        let mut now = schedule(&a, &store).next_ms;
        for (i, (status, answer, want)) in answers.into_iter().enumerate() {
            let token = 100 + i as u32;
            let outcome = fetch(&a, &store, now, token, status, &answer);
            assert_eq!(outcome, Outcome::Failed { reason: want }, "{status}");
            let still = fresh(b.current(&store, now + 2_000));
            assert!(Rc::ptr_eq(&still, &good), "{status}: the list is the one fetched first");
            assert!(fresh(a.current(&store, now + 2_000)).contains(SHA1_CANON));
            now = schedule(&a, &store).next_ms;
        }
        // A worker that starts later still finds the last good list.
        assert_eq!(fresh(worker(r#""refresh_seconds":60"#).current(&store, now)).generation(), good.generation());
    }

    #[test]
    fn failure_reasons_are_metric_safe_and_401_points_at_the_credentials() {
        assert!(FetchError::HttpStatus(401).to_string().contains("remote_list.headers"));
        assert!(FetchError::HttpStatus(403).to_string().contains("credentials"));
        assert_eq!(FetchError::HttpStatus(503).to_string(), "HTTP 503");
        for e in [
            FetchError::DispatchFailed,
            FetchError::NoResponse,
            FetchError::HttpStatus(500),
            FetchError::Malformed(ParseError::NotJson),
            FetchError::StoreWrite,
        ] {
            assert!(e.reason().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let l = list("");
        for seed in 0..2_000u64 {
            let seed = mix(seed);
            let d1 = l.backoff_ms(1, seed);
            assert!((45_000..=60_000).contains(&d1), "{d1}");
            let d2 = l.backoff_ms(2, seed);
            assert!((90_000..=120_000).contains(&d2), "{d2}");
            let d5 = l.backoff_ms(5, seed);
            assert!((720_000..=960_000).contains(&d5), "{d5}");
            // 60 s * 2^6 = 64 min: capped at an hour even with a daily refresh.
            for n in [7, 20, 33, 1_000, u32::MAX] {
                let d = l.backoff_ms(n, seed);
                assert!((2_700_000..=3_600_000).contains(&d), "{n}: {d}");
            }
            let r = l.refresh_delay_ms(seed);
            assert!((DAY_MS * 9 / 10..=DAY_MS).contains(&r), "{r}");
        }
        // Capped at the refresh interval when that is shorter than an hour.
        let short = list(r#""refresh_seconds":300,"retry_seconds":60"#);
        assert!((225_000..=300_000).contains(&short.backoff_ms(10, 3)));
        // Jitter actually varies.
        let spread: std::collections::HashSet<u64> = (0..50).map(|s| l.backoff_ms(1, mix(s))).collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn backoff_holds_across_workers_and_grows_with_each_failure() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert_eq!(fetch(&a, &store, T0, 1, 503, b""), Outcome::Failed { reason: FetchError::HttpStatus(503) });
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        let wait1 = s.next_ms - (T0 + 100);
        assert!((45_000..=60_000).contains(&wait1), "{wait1}");
        // Neither worker retries before the backoff is over.
        assert!(b.on_tick(&store, s.next_ms - 1, 2).is_none());
        assert!(a.on_tick(&store, s.next_ms - 1, 3).is_none());
        // Then one of them does, and a second failure doubles the wait.
        let t1 = s.next_ms;
        assert_eq!(fetch(&b, &store, t1, 4, 0, b""), Outcome::Failed { reason: FetchError::NoResponse });
        let s2 = schedule(&b, &store);
        assert_eq!(s2.failures, 2);
        let wait2 = s2.next_ms - (t1 + 100);
        assert!((90_000..=120_000).contains(&wait2), "{wait2}");
        // A success resets the count.
        assert_eq!(fetch(&a, &store, s2.next_ms, 5, 200, &body()), Outcome::Ok { entries: 2 });
        assert_eq!(schedule(&a, &store).failures, 0);
    }

    #[test]
    fn refresh_happens_after_refresh_seconds_with_jitter() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let fetched = T0 + 100;
        assert!(b.on_tick(&store, fetched + DAY_MS * 9 / 10 - 1, 2).is_none());
        let next = schedule(&a, &store).next_ms;
        assert!((fetched + DAY_MS * 9 / 10..=fetched + DAY_MS).contains(&next));
        // Whichever worker ticks first after that refreshes; the new list replaces the old.
        let newer = format!(r#"{{"certificates":[{{"thumbprint":"{SHA256}"}}]}}"#);
        assert_eq!(fetch(&b, &store, fetched + DAY_MS, 2, 200, newer.as_bytes()), Outcome::Ok { entries: 1 });
        let seen = fresh(a.current(&store, fetched + DAY_MS + 1_000));
        assert_eq!(seen.iter().collect::<Vec<_>>(), vec![SHA256]);
        assert!(!seen.contains(SHA1_CANON), "a thumbprint removed upstream is no longer trusted");
    }

    #[test]
    fn a_list_older_than_max_stale_fails_closed() {
        let store = MemoryStore::default();
        let a = worker(r#""refresh_seconds":60,"max_stale_seconds":120"#);
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let fetched = T0 + 100;
        assert!(matches!(a.current(&store, fetched + 120_000), ListState::Fresh(_)));
        match a.current(&store, fetched + 120_001) {
            ListState::Stale { age_seconds } => assert_eq!(age_seconds, 120),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.current(&store, fetched + 120_001).denial(), Some(Denial::ListStale));
        // A good fetch makes it usable again.
        assert_eq!(fetch(&a, &store, fetched + 130_000, 2, 200, &body()), Outcome::Ok { entries: 2 });
        assert_eq!(a.current(&store, fetched + 130_200).denial(), None);
    }

    #[test]
    fn unavailable_before_the_first_success_with_a_sensible_retry_after() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        let retry = |w: &Refresher, now| match w.current(&store, now) {
            ListState::Unavailable { retry_after_seconds } => retry_after_seconds,
            other => panic!("{other:?}"),
        };
        // Nothing started yet: a fetch starts within a tick and takes at most the timeout.
        assert_eq!(retry(&b, T0), 6);
        assert_eq!(b.current(&store, T0).denial(), Some(Denial::ListUnavailable));
        // In flight: until the lease ends.
        assert!(a.on_tick(&store, T0 + 1_000, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(retry(&b, T0 + 2_000), 9);
        // Failed: until the retry, plus the timeout.
        assert!(matches!(a.on_response(&store, 1, 500, b"", T0 + 2_000), Outcome::Failed { .. }));
        let next = schedule(&a, &store).next_ms;
        let want = (next - (T0 + 3_000) + DEFAULT_TIMEOUT_MS).div_ceil(1000);
        assert_eq!(retry(&b, T0 + 3_000), want);
        assert!((50..=65).contains(&want), "{want}");
        // Capped: a sender is never told to go away for hours.
        let long = worker(r#""retry_seconds":3600"#);
        let s2 = MemoryStore::default();
        assert_eq!(fetch(&long, &s2, T0, 3, 500, b""), Outcome::Failed { reason: FetchError::HttpStatus(500) });
        match long.current(&s2, T0 + 2_000) {
            ListState::Unavailable { retry_after_seconds } => assert_eq!(retry_after_seconds, MAX_RETRY_AFTER_SECONDS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_to_unknown_tokens_are_ignored() {
        let store = MemoryStore::default();
        let a = worker("");
        // Nothing in flight at all.
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
        assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Ignored);
        assert!(a.on_tick(&store, T0, 1).is_some());
        // Dispatched but not yet told the token: no answer can be ours.
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
        a.on_dispatched(5);
        a.on_dispatched(6); // a second token does not replace the first
        assert_eq!(a.on_response(&store, 6, 200, &body(), T0 + 1), Outcome::Ignored);
        assert_eq!(a.on_response(&store, 4, 500, b"", T0 + 1), Outcome::Ignored);
        assert!(matches!(a.current(&store, T0 + 1), ListState::Unavailable { .. }));
        assert_eq!(a.on_response(&store, 5, 200, &body(), T0 + 2), Outcome::Ok { entries: 2 });
        // Answered once: a duplicate delivery is ignored.
        assert_eq!(a.on_response(&store, 5, 500, b"", T0 + 3), Outcome::Ignored);
        assert_eq!(schedule(&a, &store).failures, 0);
    }

    #[test]
    fn an_undispatchable_callout_backs_off_like_any_failure() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Failed { reason: FetchError::DispatchFailed });
        let s = schedule(&a, &store);
        assert_eq!((s.lease, s.failures), (0, 1));
        assert!(b.on_tick(&store, T0 + 1_000, 2).is_none(), "the lease is released but the backoff holds");
        assert!(b.on_tick(&store, s.next_ms, 3).is_some());
    }

    #[test]
    fn changed_credentials_are_tried_without_waiting_out_the_old_backoff() {
        let store = MemoryStore::default();
        let old = worker(r#""headers":{"authorization":{"env":"OTHER_TOKEN"}}"#);
        let mut now = T0;
        for token in 1..=8 {
            let outcome = fetch(&old, &store, now, token, 401, b"");
            assert_eq!(outcome, Outcome::Failed { reason: FetchError::HttpStatus(401) });
            now = schedule(&old, &store).next_ms;
        }
        let s = schedule(&old, &store);
        assert!(s.next_ms - s.last_attempt_ms > 1_800_000, "deep in backoff");
        // The operator fixes the token: the new configuration retries after retry_seconds.
        let fixed = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
        assert_eq!(fixed.data_key, old.data_key);
        assert!(fixed.on_tick(&store, s.last_attempt_ms + 59_999, 1).is_none());
        assert!(fixed.on_tick(&store, s.last_attempt_ms + 60_000, 2).is_some());
        fixed.on_dispatched(2);
        assert_eq!(fixed.on_response(&store, 2, 200, &body(), s.last_attempt_ms + 60_100), Outcome::Ok { entries: 2 });
        // The old configuration (a VM still draining) may fetch again, but not at tick rate.
        let after = schedule(&fixed, &store);
        assert!(old.on_tick(&store, after.last_attempt_ms + 1_000, 3).is_none());
    }

    #[test]
    fn a_different_source_does_not_see_the_old_sources_list() {
        let store = MemoryStore::default();
        let a = worker("");
        assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
        let moved = worker(r#""pointer":"/certificates""#);
        assert!(matches!(moved.current(&store, T0 + 1_000), ListState::Unavailable { .. }));
        assert!(moved.on_tick(&store, T0 + 1_000, 2).is_some(), "its own schedule: fetch at once");
    }

    #[test]
    fn the_clock_going_back_does_not_stall_refreshes() {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        // The wall clock jumps back an hour: the lease now looks an hour long.
        let back = T0 - 3_600_000;
        assert!(b.on_tick(&store, back, 2).is_some(), "a lease further ahead than possible is void");
        // The same for the holder's own attempt and for a far-future schedule.
        assert!(a.on_tick(&store, back, 3).is_none());
        assert!(a.local().unwrap().attempt.is_none());
        b.on_dispatched(2);
        assert_eq!(b.on_response(&store, 2, 200, &body(), back + 100), Outcome::Ok { entries: 2 });
        let c = worker("");
        assert!(c.on_tick(&store, back - 2 * DAY_MS, 4).is_some());
    }

    #[test]
    fn creating_the_state_key_is_checked_after_the_write() {
        // Another worker creates the key between this worker's read and its write
        // (creation is not protected by CAS), and its write lands last.
        struct Racing {
            inner: MemoryStore,
            raced: std::cell::Cell<bool>,
        }
        impl SharedStore for Racing {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.inner.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                self.inner.set(key, value, cas)?;
                if !self.raced.replace(true) {
                    let other =
                        Schedule { v: FORMAT_VERSION, lease: 99, lease_until_ms: T0 + LEASE, ..Default::default() };
                    self.inner.set(key, &other.encode(), None)?;
                }
                Ok(())
            }
        }
        let store = Racing { inner: MemoryStore::default(), raced: std::cell::Cell::new(false) };
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_none());
        assert!(a.local().unwrap().attempt.is_none());
        // Once the key exists, acquisition is a plain CAS.
        let b = worker("");
        assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
    }

    #[test]
    fn a_cas_conflict_means_another_worker_won() {
        struct Conflicting(MemoryStore);
        impl SharedStore for Conflicting {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                if cas.is_some() {
                    return Err(Conflict);
                }
                self.0.set(key, value, cas)
            }
        }
        let store = Conflicting(MemoryStore::default());
        let a = worker("");
        store.0.set(&a.state_key, &Schedule { v: FORMAT_VERSION, ..Default::default() }.encode(), None).unwrap();
        assert!(a.on_tick(&store, T0, 1).is_none());
    }

    #[test]
    fn unreadable_shared_records_are_survived() {
        let store = MemoryStore::default();
        let a = worker("");
        store.set(&a.state_key, b"\xff garbage", None).unwrap();
        let truncated = DataRecord { v: FORMAT_VERSION, generation: 5, fetched_at_ms: 0, entries: vec!["x".into()] };
        let truncated = truncated.encode().unwrap();
        store.set(&a.data_key, &truncated[..truncated.len() - 1], None).unwrap();
        assert!(matches!(a.current(&store, T0), ListState::Unavailable { .. }));
        // The unreadable state is replaced, with CAS.
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 10), Outcome::Ok { entries: 2 });
        // A good list is not dropped when the data record turns unreadable.
        let b = worker("");
        assert_eq!(fresh(b.current(&store, T0 + 20)).len(), 2);
        store.set(&a.data_key, b"not json", None).unwrap();
        let mut s = schedule(&a, &store);
        s.generation = 12345;
        store.set(&a.state_key, &s.encode(), None).unwrap();
        assert_eq!(fresh(b.current(&store, T0 + 2_000)).len(), 2);
        // A record from another format version is ignored.
        let other = DataRecord { v: FORMAT_VERSION + 1, generation: 7, fetched_at_ms: 0, entries: vec!["x".into()] };
        store.set(&a.data_key, &other.encode().unwrap(), None).unwrap();
        let c = worker("");
        assert!(matches!(c.current(&store, T0 + 3_000), ListState::Unavailable { .. }));
    }

    #[test]
    fn shared_records_round_trip_and_refuse_anything_else() {
        let s = Schedule {
            v: FORMAT_VERSION,
            request: 1,
            lease: u64::MAX,
            lease_until_ms: 3,
            failures: 4,
            next_ms: 5,
            last_attempt_ms: 6,
            generation: 7,
        };
        let bytes = s.encode();
        assert_eq!(bytes.len(), Schedule::LEN);
        assert_eq!(Schedule::decode(&bytes), Some(s));
        assert_eq!(Schedule::decode(&bytes[1..]), None);
        assert_eq!(Schedule::decode(&[bytes.as_slice(), b"x"].concat()), None);

        let r =
            DataRecord { v: FORMAT_VERSION, generation: 9, fetched_at_ms: 10, entries: vec!["a".into(), "".into()] };
        let bytes = r.encode().unwrap();
        let back = DataRecord::decode(&bytes).unwrap();
        assert_eq!((back.v, back.generation, back.fetched_at_ms, back.entries), (r.v, 9, 10, r.entries.clone()));
        for cut in 0..bytes.len() {
            assert!(DataRecord::decode(&bytes[..cut]).is_none(), "{cut}");
        }
        assert!(DataRecord::decode(&[bytes.as_slice(), b"x"].concat()).is_none());
        // A count beyond MAX_ENTRIES is refused before anything is allocated for it.
        let mut huge = bytes.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(DataRecord::decode(&huge).is_none());
        let mut not_utf8 = bytes;
        not_utf8[26] = 0xff;
        assert!(DataRecord::decode(&not_utf8).is_none());
        let long = DataRecord { entries: vec!["x".repeat(70_000)], ..r };
        assert!(long.encode().is_none());
    }

    #[test]
    fn a_store_that_refuses_the_list_is_a_failure() {
        struct Full(MemoryStore);
        impl SharedStore for Full {
            fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
                if key.ends_with(":data") {
                    return Err(Conflict);
                }
                self.0.set(key, value, cas)
            }
        }
        let store = Full(MemoryStore::default());
        let a = worker("");
        assert!(a.on_tick(&store, T0, 1).is_some());
        a.on_dispatched(1);
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 1), Outcome::Failed { reason: FetchError::StoreWrite });
        assert_eq!(a.entries(), 0);
        assert_eq!(a.read_state(&store).0.unwrap().failures, 1);
    }

    #[test]
    fn duplicates_collapse_and_shared_data_stays_bounded() {
        let store = MemoryStore::default();
        let a = worker("");
        let lower = SHA1_CANON.to_string();
        let doc = format!(r#"["{SHA1}","{lower}","{}"]"#, lower.to_ascii_uppercase());
        assert_eq!(fetch(&a, &store, T0, 1, 200, doc.as_bytes()), Outcome::Ok { entries: 1 });
        // The largest list there can be: MAX_ENTRIES SHA-256 thumbprints with colons.
        let big: Vec<String> = (0..MAX_ENTRIES)
            .map(|i| {
                let hex = format!("{:016x}{:048x}", mix(i as u64), i);
                hex.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":")
            })
            .collect();
        let doc = format!("[\"{}\"]", big.join("\",\"")).into_bytes();
        assert!(doc.len() <= MAX_BODY_BYTES, "{}", doc.len());
        let w = worker(r#""refresh_seconds":10"#);
        let s2 = MemoryStore::default();
        assert_eq!(fetch(&w, &s2, T0, 1, 200, &doc), Outcome::Ok { entries: MAX_ENTRIES });
        assert_eq!(s2.len(), 2, "one state and one data key per list");
        assert!(s2.bytes() < 720 * 1024, "{}", s2.bytes());
    }
}
