//! What the fuzz targets share: the one place that knows the core's API, so each target
//! stays a few lines and a change to the core's module layout is fixed here once.
//!
//! Request inputs are text-like: header lines `name: value`, an empty line, then the
//! body (all bytes, not necessarily UTF-8). `:method` and `:path` default to the route's
//! when the input does not set them. Inputs for the other targets are the raw bytes a
//! parser reads (a PEM, a header value, an API answer, a configuration).

use webhook_guard::policy::{Lookups, Mode, Policy, Routing};
use webhook_guard::remote_list::{EntryKind, ListState};
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::shared::{MemoryStore, SharedStore};
use webhook_guard::verify::cert::{PeerCertForm, THUMBPRINTS};
use webhook_guard::verify::ip::CIDRS;

/// The value every `{ env: NAME }` secret of a fuzzed configuration resolves to: base64,
/// so standard-webhooks secrets compile too.
const ENV_VALUE: &str = "c2VjcmV0LWZvci1mdXp6aW5n";

fn env(_: &str) -> Option<String> {
    Some(ENV_VALUE.to_string())
}

/// A compiled policy (one route on `/hook`) and the clock its requests are judged at.
pub struct Target {
    policy: Policy,
    now: u64,
    store: MemoryStore,
}

impl Target {
    /// `checks`: the JSON of the route's `checks` object. A configuration the core
    /// refuses is a bug in the target, not in the input: it panics at start.
    pub fn new(checks: &str, now: u64) -> Self {
        let config = format!(
            r#"{{"api":"v1","unmatched":"deny","max_body_bytes":1048576,
                 "routes":[{{"name":"fuzz","match":{{"path_prefix":"/hook"}},"checks":{checks}}}]}}"#
        );
        let policy = match webhook_guard::config::parse(config.as_bytes(), &env) {
            Ok(p) => p,
            Err(e) => panic!("fuzz target configuration refused: {e}"),
        };
        Target { policy, now, store: MemoryStore::default() }
    }

    /// Run a request (`headers`, empty line, body) through routing and every check of
    /// the route, in enforce and in monitor mode.
    pub fn request(&self, data: &[u8]) {
        let (head, body) = request(data, self.now);
        self.run(&head, body);
    }

    /// Run a POST to `/hook` with no other headers and this body.
    pub fn body(&self, body: &[u8]) {
        let head = request(b"", self.now).0;
        self.run(&head, body);
    }

    fn run(&self, head: &RequestHead, body: &[u8]) {
        let Routing::Route(i) = self.policy.route(head) else {
            return;
        };
        let route = &self.policy.routes[i];
        for mode in [Mode::Enforce, Mode::Monitor] {
            let head_findings = route.check_head(head, mode, self);
            let body_findings = route.check_body(head, body, mode);
            for d in head_findings.denials.iter().chain(&body_findings.denials) {
                // Every denial has a reason and a reply; neither may panic.
                let _ = (d.reason(), d.reply());
            }
        }
        let _ = route.dedupe_id(head, None);
    }
}

impl Lookups for Target {
    fn store(&self) -> &dyn SharedStore {
        &self.store
    }
    fn list(&self, _: &str) -> ListState {
        ListState::Unavailable { retry_after_seconds: 1 }
    }
    fn peer_certificate(&self, _: PeerCertForm) -> Option<Vec<u8>> {
        None
    }
}

/// Split an input into a request head and a body (see the crate documentation).
pub fn request(data: &[u8], now: u64) -> (RequestHead, &[u8]) {
    let (block, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for line in block.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let (name, value) = match line.windows(2).position(|w| w == b": ") {
            Some(i) => (&line[..i], &line[i + 2..]),
            None => (line, &[][..]),
        };
        pairs.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    for (name, default) in [(":method", "POST"), (":path", "/hook")] {
        if !pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            pairs.insert(0, (name.to_string(), default.as_bytes().to_vec()));
        }
    }
    (RequestHead::from_headers(Headers::new(pairs), None, now), body)
}

/// Routes the path interpretation is fuzzed against: prefix, exact, case-sensitive,
/// host-bound and other-method routes.
const PATH_ROUTES: &str = r#"[
  {"name":"github","match":{"path_prefix":"/hooks/github"},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}},
  {"name":"exact","match":{"path_exact":"/hooks/exact","methods":["POST","PUT"]},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}},
  {"name":"case","match":{"path_prefix":"/Case/Sensitive","case_sensitive":true},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}},
  {"name":"hosted","match":{"path_prefix":"/hosted","host":"Hooks.Example.test."},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}},
  {"name":"get_only","match":{"path_exact":"/get-only","methods":["GET"]},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}},
  {"name":"root_files","match":{"path_prefix":"/static/"},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"t"}]}]}}
]"#;

thread_local! {
    static PATH_POLICY: Policy = {
        let config = format!(r#"{{"api":"v1","unmatched":"allow","routes":{PATH_ROUTES}}}"#);
        match webhook_guard::config::parse(config.as_bytes(), &env) {
            Ok(p) => p,
            Err(e) => panic!("path fuzz configuration refused: {e}"),
        }
    };
}

/// Path interpretation (SPEC 2.2a). Input: the `:path` bytes, optionally a newline and
/// the `:authority`. Beyond not panicking: a plain path reads one way only, and every
/// plain reading that reaches a route, sent as the path itself, means the request is
/// checked by that route or refused as ambiguous, never routed elsewhere or let through.
pub fn path(data: &[u8]) {
    use webhook_guard::path::{is_plain, readings};
    let (raw, authority) = match data.iter().position(|&c| c == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"hooks.example.test"[..]),
    };
    let head = |p: &[u8]| {
        let pairs = vec![
            (":method".to_string(), b"POST".to_vec()),
            (":path".to_string(), p.to_vec()),
            (":authority".to_string(), authority.to_vec()),
        ];
        RequestHead::from_headers(Headers::new(pairs), None, 0)
    };
    let without_query = raw.split(|&b| b == b'?').next().unwrap_or_default();
    let all = readings(without_query);
    if is_plain(without_query) {
        // Readings may repeat; a plain path has no other.
        let one_way = all.as_ref().is_ok_and(|rs| rs.iter().all(|r| r == without_query));
        assert!(one_way, "a plain path reads one way: {all:?}");
    }
    PATH_POLICY.with(|policy| {
        let routing = policy.route(&head(raw));
        for r in all.iter().flatten().filter(|r| is_plain(r)) {
            if let Routing::Route(j) = policy.route(&head(r)) {
                assert!(
                    routing == Routing::Route(j) || routing == Routing::Ambiguous,
                    "reading {:?} reaches route {j}, the path as sent: {routing:?}",
                    String::from_utf8_lossy(r)
                );
            }
        }
    });
}

/// A PEM text as the client-certificate check reads it.
pub fn pem(data: &[u8]) {
    if let Some(der) = webhook_guard::verify::cert::pem_to_der(data) {
        assert!(der.first() == Some(&0x30), "a certificate's DER is a SEQUENCE");
    }
}

/// A signing certificate document (PayPal's certificate URL, SNS's): read, never a panic.
pub fn sender_certificate(data: &[u8]) {
    if let Ok(c) = webhook_guard::verify::x509::read_pem(data) {
        let _ = c.is_valid_at(1_800_000_000);
    }
}

/// An answer of Plaid's key endpoint, for the kid the fuzzer's request named.
pub fn plaid_key(data: &[u8]) {
    let _ = webhook_guard::verify::jwt::plaid::read_key_answer(data, "kid-1");
}

/// An `x-forwarded-client-cert` header value.
pub fn xfcc(data: &[u8]) {
    if let Ok(Some(der)) = webhook_guard::verify::cert::xfcc_cert(data) {
        assert!(der.first() == Some(&0x30), "a certificate's DER is a SEQUENCE");
    }
}

/// A remote-list answer, read both ways an operator can configure: shape guessed (no
/// `pointer`, no `field`) and given. Accepted entries are then canonicalised and decoded
/// as the refresher and the check do (`decode`).
pub fn remote_list(data: &[u8], kind: EntryKind, pointer: &str, field: &str, decode: fn(&str)) {
    let EntryKind::Values { looks_like, canonical } = kind else {
        return;
    };
    for (p, f) in [("", ""), (pointer, field)] {
        if let Ok(entries) = webhook_guard::remote_list::parse_list(data, p, f, looks_like) {
            assert!(!entries.is_empty(), "an empty list is refused");
            for e in entries {
                decode(&canonical(&e));
            }
        }
    }
}

/// A remote list of client-certificate thumbprints.
pub fn remote_thumbprints(data: &[u8]) {
    remote_list(data, THUMBPRINTS, "/data", "thumbprint", |e| {
        assert!(
            webhook_guard::verify::cert::normalize_thumbprint(e).is_some(),
            "accepted entry {e:?} is no thumbprint"
        );
    });
}

/// A remote list of CIDRs.
pub fn remote_cidrs(data: &[u8]) {
    remote_list(data, CIDRS, "/ranges", "cidr", |e| {
        assert!(webhook_guard::verify::ip::CidrSet::parse_entry(e).is_some(), "accepted entry {e:?} is no CIDR");
    });
}

/// An RFC 3339 time (a secret's `not_after`, a login answer's expiry).
pub fn rfc3339(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = webhook_guard::time::parse_rfc3339(text);
    }
}

/// The whole plugin configuration as Envoy hands it over.
pub fn config(data: &[u8]) {
    if let Err(e) = webhook_guard::config::parse(data, &env) {
        // The message names the field; rendering it must not panic.
        let _ = e.to_string();
    }
}
