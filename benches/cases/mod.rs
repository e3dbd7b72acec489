//! The requests whose cost the core benchmarks measure, each run whole through
//! [`Stream`] as a shell drives it: headers, then the body in one callback, against a
//! request host that only hands over plain data (no recording), so what is measured is
//! the core's own work. The policy is `bench/run.py`'s, so a row here is the core's
//! share of the row of the same name in `make bench`.

// Shared by the benchmark and the counting example, which each use a part of it; a case
// the core answers wrongly stops either, as in a test.
#![allow(dead_code, clippy::new_without_default, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webhook_guard::host::{Flow, Host, Level, MetricId, RequestHost};
use webhook_guard::plugin::Plugin;
use webhook_guard::request::Headers;
use webhook_guard::shared::SharedStore;
use webhook_guard::stream::Stream;
use webhook_guard::testing::FakeEnvoy;
use webhook_guard::verify::cert::PeerCertForm;

const GITHUB_SECRET: &str = "bench-github-secret";
const JWT_SECRET: &str = "bench-jwt-secret-0123456789abcdef";
const NOW_MS: u64 = 1_765_000_000_000;
const HOOK_CIDRS: &str =
    r#""192.30.252.0/22","185.199.108.0/22","140.82.112.0/20","143.55.64.0/20","2a0a:a440::/29","2606:50c0::/32""#;

fn policy() -> String {
    format!(
        r#"{{"api":"v1","mode":"enforce","max_body_bytes":1048576,"unmatched":"deny","routes":[
        {{"name":"github","match":{{"path_prefix":"/hooks/github"}},"checks":{{
            "ip_allowlist":{{"cidrs":[{HOOK_CIDRS},"127.0.0.1/32"]}},
            "signature":{{"scheme":"github","secrets":[{{"id":"current","env":"GITHUB_WEBHOOK_SECRET"}}]}}}}}},
        {{"name":"ip-only","match":{{"path_prefix":"/hooks/ip-only"}},"checks":{{
            "ip_allowlist":{{"cidrs":[{HOOK_CIDRS},"127.0.0.1/32"]}}}}}},
        {{"name":"jwt","match":{{"path_prefix":"/hooks/jwt"}},"checks":{{"jwt":{{
            "secrets":[{{"id":"current","env":"JWT_SECRET"}}],"algorithms":["HS256"],"issuer":"bench"}}}}}},
        {{"name":"refused","match":{{"path_prefix":"/hooks/refused"}},"checks":{{
            "ip_allowlist":{{"cidrs":[{HOOK_CIDRS}]}},
            "signature":{{"scheme":"github","secrets":[{{"id":"current","env":"GITHUB_WEBHOOK_SECRET"}}]}}}}}}]}}"#
    )
}

fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_WEBHOOK_SECRET" => Some(GITHUB_SECRET.into()),
        "JWT_SECRET" => Some(JWT_SECRET.into()),
        _ => None,
    }
}

fn hmac_sha256(key: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn jwt() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"bench"}"#);
    let claims = URL_SAFE_NO_PAD.encode(br#"{"iss":"bench","sub":"bench-sender","iat":1765000000,"exp":4102444800}"#);
    let signed = format!("{header}.{claims}");
    let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(JWT_SECRET, signed.as_bytes()));
    format!("{signed}.{sig}")
}

/// One benchmark case: a request as Envoy hands it over, and what the core must answer.
pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    /// The header map as the host serializes it (proxy-wasm's layout).
    headers: Vec<u8>,
    body: Vec<u8>,
    /// What the headers callback must return, then the body callback (if there is a body).
    expect: (Flow, Option<Flow>),
}

/// A request host that hands over plain data and records nothing: the Wasm host's
/// reads copy the same data into the VM (the serialized header map, a body), its writes
/// leave it.
struct BenchRequest<'a> {
    envoy: &'a FakeEnvoy,
    headers: &'a [u8],
    body: &'a [u8],
}

impl Host for BenchRequest<'_> {
    fn log(&self, _: Level, _: &str) {}
    fn increment(&self, counter: MetricId) {
        self.envoy.increment(counter);
    }
    fn now_ms(&self) -> u64 {
        self.envoy.now_ms()
    }
    fn store(&self) -> &dyn SharedStore {
        self.envoy.store()
    }
}

impl RequestHost for BenchRequest<'_> {
    fn request_headers(&self) -> Headers {
        Headers::from_map(self.headers.to_vec()).expect("a well-formed map")
    }
    fn client_address(&self) -> Option<String> {
        Some("127.0.0.1:40000".into())
    }
    fn peer_certificate(&self, _: PeerCertForm) -> Option<Vec<u8>> {
        None
    }
    fn set_request_header(&mut self, _: &str, _: &str) {}
    fn remove_request_header(&mut self, _: &str) {}
    fn request_body(&mut self, len: usize) -> Vec<u8> {
        self.body.get(..len).unwrap_or(self.body).to_vec()
    }
    fn send_reply(&mut self, _: u32, _: &[(&str, &str)], _: &[u8]) {}
    fn set_access_log_field(&mut self, _: &str, _: &str) {}
    fn response_status(&self) -> Option<u32> {
        Some(200)
    }
}

/// The configured plugin and every case.
pub struct Bench {
    pub envoy: FakeEnvoy,
    plugin: Arc<Plugin>,
    pub cases: Vec<Case>,
}

/// Headers as Envoy hands them to a filter behind its HTTP connection manager, in the
/// header map's layout.
fn envoy_headers(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut h = vec![
        (":authority", "localhost:10000"),
        (":path", path),
        (":method", method),
        (":scheme", "http"),
        ("user-agent", "h2load nghttp2/1.64.0"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "6f1c3a2e-8d4b-4f7a-9c1e-2b5d7e9f0a13"),
    ];
    h.extend_from_slice(extra);
    Headers::from_pairs(h.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))).as_map().to_vec()
}

impl Bench {
    pub fn new() -> Self {
        let mut envoy = FakeEnvoy::at(NOW_MS);
        let plugin = Arc::new(Plugin::configure(&mut envoy, policy().as_bytes(), &env).expect("the bench policy"));
        let body_1k: Vec<u8> = {
            let mut b = br#"{"ref":"refs/heads/main","pad":""#.to_vec();
            b.resize(1024 - 2, b'x');
            b.extend_from_slice(b"\"}");
            b
        };
        let sig = format!("sha256={}", hex(&hmac_sha256(GITHUB_SECRET, &body_1k)));
        let gh = |path: &str| {
            envoy_headers(
                "POST",
                path,
                &[("content-type", "application/json"), ("x-github-event", "push"), ("x-hub-signature-256", &sig)],
            )
        };
        let token = format!("Bearer {}", jwt());
        let cases = vec![
            Case {
                name: "allow_ip",
                what:
                    "ip_allowlist only, allowed (the fixed cost: routing, header reads, verdict, access log, metrics)",
                headers: gh("/hooks/ip-only"),
                body: Vec::new(),
                expect: (Flow::Continue, None),
            },
            Case {
                name: "allow_ip_query",
                what: "the same with a query string and upper-case letters in the path",
                headers: gh("/Hooks/IP-only/push?delivery=72d3162e&attempt=1"),
                body: Vec::new(),
                expect: (Flow::Continue, None),
            },
            Case {
                name: "allow_ip_encoded",
                what: "the same with a path that needs reading (%2F, ./, //): every reading computed",
                headers: gh("/hooks/ip-only/./a%2Fb//c"),
                body: Vec::new(),
                expect: (Flow::Continue, None),
            },
            Case {
                name: "gh_1k",
                what: "GitHub HMAC-SHA256 + ip_allowlist, 1 KiB body",
                headers: gh("/hooks/github"),
                body: body_1k.clone(),
                expect: (Flow::Buffer, Some(Flow::Continue)),
            },
            Case {
                name: "jwt",
                what: "JWT HS256 (issuer, exp), no body",
                headers: envoy_headers(
                    "POST",
                    "/hooks/jwt",
                    &[("content-type", "application/json"), ("authorization", &token)],
                ),
                body: Vec::new(),
                expect: (Flow::Continue, None),
            },
            Case {
                name: "refused",
                what: "refused by ip_allowlist at the headers (403, one warn line, body never read)",
                headers: gh("/hooks/refused"),
                body: body_1k,
                expect: (Flow::Stop, None),
            },
            Case {
                name: "unmatched",
                what: "no route (404 route_not_found)",
                headers: gh("/other"),
                body: Vec::new(),
                expect: (Flow::Stop, None),
            },
        ];
        Bench { envoy, plugin, cases }
    }

    /// One request of `case` through a new stream, as Envoy calls it: headers (end of
    /// stream when there is no body), then the whole body in one callback.
    pub fn run(&self, case: &Case) -> (Flow, Option<Flow>) {
        let mut host = BenchRequest { envoy: &self.envoy, headers: &case.headers, body: &case.body };
        let mut stream = Stream::new(Arc::clone(&self.plugin));
        let first = stream.on_request_headers(&mut host, case.body.is_empty());
        let second = (first == Flow::Buffer).then(|| stream.on_request_body(&mut host, case.body.len(), true));
        stream.on_response_headers(&mut host);
        (first, second)
    }

    /// Only what the host hands over for `case` (the header map, the client address, the
    /// body), copied as the Wasm host copies it into the VM and dropped: the share of a
    /// row that is not the core's own work.
    pub fn host_reads(&self, case: &Case) -> usize {
        let mut host = BenchRequest { envoy: &self.envoy, headers: &case.headers, body: &case.body };
        let headers = host.request_headers();
        let client = host.client_address();
        let body = if case.expect.1.is_some() { host.request_body(case.body.len()) } else { Vec::new() };
        headers.as_map().len() + client.map_or(0, |c| c.len()) + body.len()
    }

    /// Run `case` once and check the core answered as it must (a benchmark of a request
    /// that went the wrong way measures nothing).
    pub fn check(&self, case: &Case) {
        let got = self.run(case);
        assert_eq!(got, case.expect, "case {} answered {got:?}", case.name);
    }
}
