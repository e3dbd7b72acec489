//! Properties of every signature scheme, through the public API (configuration in,
//! verdict out): a message signed the way the provider signs it is accepted, and any
//! single-byte change to its body, signature, timestamp or message id is refused.
//!
//! The signing side is written here from the providers' documentation with the `hmac`
//! crate directly, not with the filter's code, so both sides cannot share a mistake.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use webhook_guard::policy::{Mode, Policy, Routing};
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::verify::signature::presets::CLOCK_SKEW_SECONDS;

/// Every secret of these tests comes from this variable, so any string can be a secret
/// without JSON escaping.
const SECRET_ENV: &str = "PROPERTY_SECRET";
const TOLERANCE: u64 = 300;
const PATH: &str = "/hooks/p?delivery=1";

#[derive(Debug, Clone, Copy)]
enum Alg {
    Sha1,
    Sha256,
    Sha512,
}

fn hmac(alg: Alg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    macro_rules! run {
        ($d:ty) => {{
            let mut m = <Hmac<$d>>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        Alg::Sha1 => run!(Sha1),
        Alg::Sha256 => run!(Sha256),
        Alg::Sha512 => run!(Sha512),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The generic scheme's knobs, as a user would set them.
#[derive(Debug, Clone)]
struct Generic {
    alg: Alg,
    base64: bool,
    prefix: &'static str,
    template: &'static str,
}

#[derive(Debug, Clone)]
enum Scheme {
    Github,
    Stripe,
    Slack,
    Shopify,
    /// `svix`: the `svix-*` header family instead of `webhook-*`.
    Standard {
        svix: bool,
    },
    Generic(Generic),
}

/// A request as the provider sends it, and the secret as the operator configures it.
#[derive(Debug, Clone)]
struct Message {
    scheme: Scheme,
    key: String,
    ts: u64,
    id: String,
    /// The key as the operator writes it in the configuration.
    secret: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    now: u64,
}

/// Which part of a message a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Body,
    Header(usize),
}

impl Message {
    /// Sign `body` as the scheme's provider does. `key` is the raw key material;
    /// `secret` is how the operator writes it in the configuration.
    fn sign(scheme: Scheme, key: &str, body: Vec<u8>, ts: u64, id: &str, now: u64) -> Message {
        let t = ts.to_string();
        let k = key.as_bytes();
        let mut secret = key.to_string();
        let h = |n: &str, v: String| (n.to_string(), v.into_bytes());
        let headers = match &scheme {
            Scheme::Github => {
                let mac = hmac(Alg::Sha256, k, &body);
                vec![h("X-Hub-Signature-256", format!("sha256={}", hex(&mac))), h("X-GitHub-Delivery", id.into())]
            }
            Scheme::Stripe => {
                // The key is the whole `whsec_...` string.
                secret = format!("whsec_{key}");
                let mac = hmac(Alg::Sha256, secret.as_bytes(), &[t.as_bytes(), b".", &body].concat());
                vec![h("Stripe-Signature", format!("t={t},v1={}", hex(&mac)))]
            }
            Scheme::Slack => {
                let mac = hmac(Alg::Sha256, k, &[b"v0:", t.as_bytes(), b":", &body].concat());
                vec![h("X-Slack-Signature", format!("v0={}", hex(&mac))), h("X-Slack-Request-Timestamp", t)]
            }
            Scheme::Shopify => {
                let mac = hmac(Alg::Sha256, k, &body);
                // The library also requires the topic, the shop domain and the API version.
                vec![
                    h("X-Shopify-Hmac-Sha256", B64.encode(mac)),
                    h("X-Shopify-Webhook-Id", id.into()),
                    h("X-Shopify-Topic", "orders/create".into()),
                    h("X-Shopify-Shop-Domain", "prop.myshopify.com".into()),
                    h("X-Shopify-API-Version", "2025-10".into()),
                ]
            }
            Scheme::Standard { svix } => {
                // The key is the base64 after `whsec_`.
                secret = format!("whsec_{}", B64.encode(k));
                let mac = hmac(Alg::Sha256, k, &[id.as_bytes(), b".", t.as_bytes(), b".", &body].concat());
                let family = if *svix { "svix" } else { "webhook" };
                vec![
                    h(&format!("{family}-id"), id.into()),
                    h(&format!("{family}-timestamp"), t),
                    h(&format!("{family}-signature"), format!("v1,{}", B64.encode(mac))),
                ]
            }
            Scheme::Generic(g) => {
                let signed = g
                    .template
                    .replace("{method}", "POST")
                    .replace("{path}", PATH)
                    .replace("{timestamp}", &t)
                    .replace("{id}", id);
                let (before, after) = signed.split_once("{body}").expect("templates hold {body}");
                let mac = hmac(g.alg, k, &[before.as_bytes(), &body, after.as_bytes()].concat());
                let encoded = if g.base64 { B64.encode(mac) } else { hex(&mac) };
                vec![
                    h("X-Signature", format!("{}{encoded}", g.prefix)),
                    h("X-Timestamp", t),
                    h("X-Message-Id", id.into()),
                ]
            }
        };
        Message { scheme, key: key.to_string(), ts, id: id.to_string(), secret, headers, body, now }
    }

    fn checks(&self) -> String {
        let secrets = format!(r#"[{{"id":"current","env":"{SECRET_ENV}"}}]"#);
        let generic = match &self.scheme {
            Scheme::Github => return format!(r#"{{"scheme":"github","secrets":{secrets}}}"#),
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
            Scheme::Shopify => return format!(r#"{{"scheme":"shopify","secrets":{secrets}}}"#),
            Scheme::Standard { .. } => "standard",
            Scheme::Generic(g) => {
                let alg = match g.alg {
                    Alg::Sha1 => "sha1",
                    Alg::Sha256 => "sha256",
                    Alg::Sha512 => "sha512",
                };
                let enc = if g.base64 { "base64" } else { "hex" };
                return format!(
                    r#"{{"scheme":"generic","secrets":{secrets},"tolerance_seconds":{TOLERANCE},
                        "header":"X-Signature","algorithm":"{alg}","encoding":"{enc}","prefix":"{}",
                        "timestamp_header":"X-Timestamp","id_header":"X-Message-Id","signed_payload":"{}"}}"#,
                    g.prefix, g.template
                );
            }
        };
        format!(r#"{{"scheme":"{generic}","secrets":{secrets},"tolerance_seconds":{TOLERANCE}}}"#)
    }

    fn policy(&self) -> Policy {
        let config = format!(
            r#"{{"api":"v1","routes":[{{"name":"p","match":{{"path_prefix":"/hooks/p"}},
                 "checks":{{"signature":{}}}}}]}}"#,
            self.checks()
        );
        let secret = self.secret.clone();
        let env = move |name: &str| (name == SECRET_ENV).then(|| secret.clone());
        match webhook_guard::config::parse(config.as_bytes(), &env) {
            Ok(p) => p,
            Err(e) => panic!("{:?}: configuration refused: {e}", self.scheme),
        }
    }

    /// Whether the filter lets this request through.
    fn accepted(&self, policy: &Policy, headers: &[(String, Vec<u8>)], body: &[u8]) -> bool {
        let mut all = vec![(":method".to_string(), b"POST".to_vec()), (":path".to_string(), PATH.as_bytes().to_vec())];
        all.extend(headers.iter().cloned());
        let head = RequestHead::from_headers(Headers::new(all), None, self.now);
        let Routing::Route(i) = policy.route(&head) else {
            panic!("the request does not reach the route");
        };
        let findings = policy.routes[i].check_body(&head, body, Mode::Enforce);
        findings.denials.is_empty() && findings.secrets.iter().any(|s| s.secret_id == "current")
    }

    /// The parts whose every byte the sender's proof covers: the body, the signature,
    /// and, where the scheme signs them, the timestamp and the message id. (GitHub and
    /// Shopify sign neither: their delivery-id headers are not covered.)
    fn covered(&self) -> Vec<Part> {
        let signed_headers: &[usize] = match self.scheme {
            Scheme::Github | Scheme::Shopify => &[0],
            Scheme::Stripe => &[0],
            Scheme::Slack => &[0, 1],
            Scheme::Standard { .. } | Scheme::Generic(_) => &[0, 1, 2],
        };
        std::iter::once(Part::Body).chain(signed_headers.iter().map(|&i| Part::Header(i))).collect()
    }

    /// Whether this part holds a hex-encoded signature.
    fn is_hex(&self, part: Part) -> bool {
        part == Part::Header(0)
            && match &self.scheme {
                Scheme::Github | Scheme::Stripe | Scheme::Slack => true,
                Scheme::Shopify | Scheme::Standard { .. } => false,
                Scheme::Generic(g) => !g.base64,
            }
    }

    fn bytes(&self, part: Part) -> &[u8] {
        match part {
            Part::Body => &self.body,
            Part::Header(i) => &self.headers[i].1,
        }
    }

    /// The same message with `part` replaced.
    fn with(&self, part: Part, value: Vec<u8>) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
        let mut headers = self.headers.clone();
        let mut body = self.body.clone();
        match part {
            Part::Body => body = value,
            Part::Header(i) => headers[i].1 = value,
        }
        (headers, body)
    }
}

/// Another byte at this place that changes what the message says. In a hex signature,
/// digits of either case spell the same MAC, so `a` -> `A` is the same signature, not a
/// change.
fn other_byte(original: u8, wanted: u8, hex: bool) -> u8 {
    let mut b = if wanted == original { original.wrapping_add(1) } else { wanted };
    if hex && original.is_ascii_hexdigit() && b.eq_ignore_ascii_case(&original) {
        b = if original == b'0' { b'1' } else { b'0' };
    }
    b
}

fn generic() -> impl Strategy<Value = Generic> {
    (
        prop_oneof![Just(Alg::Sha1), Just(Alg::Sha256), Just(Alg::Sha512)],
        any::<bool>(),
        prop_oneof![Just(""), Just("sha256="), Just("v1=")],
        prop_oneof![
            Just("{body}"),
            Just("{timestamp}.{body}"),
            Just("{id}.{timestamp}.{body}"),
            Just("{method} {path}|{id}|{timestamp}|{body}"),
            Just("{body}:{timestamp}:{id}"),
        ],
    )
        .prop_map(|(alg, base64, prefix, template)| Generic { alg, base64, prefix, template })
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Github),
        Just(Scheme::Stripe),
        Just(Scheme::Slack),
        Just(Scheme::Shopify),
        any::<bool>().prop_map(|svix| Scheme::Standard { svix }),
        generic().prop_map(Scheme::Generic),
    ]
}

/// A signed message of any scheme: any key, any body the provider's verifier reads (Stripe
/// and Slack hand their SDKs text, Shopify's library non-empty text), any message id, a timestamp anywhere inside the
/// tolerance in the past and inside the shared clock-skew allowance ahead (the presets
/// whose providers set no future limit allow only that).
fn message() -> impl Strategy<Value = Message> {
    (
        scheme(),
        "[!-~]{1,48}",
        prop::collection::vec(any::<u8>(), 0..300),
        -(TOLERANCE as i64)..=(CLOCK_SKEW_SECONDS as i64),
        "[A-Za-z0-9_-]{1,36}",
    )
        .prop_map(|(scheme, key, body, skew, id)| {
            let now: u64 = 1_700_000_000;
            let ts = now.checked_add_signed(skew).unwrap_or(now);
            let body = match scheme {
                Scheme::Stripe | Scheme::Slack => String::from_utf8_lossy(&body).into_owned().into_bytes(),
                // @shopify/shopify-api reads a body of text, and refuses an empty one.
                Scheme::Shopify if body.is_empty() => b"{}".to_vec(),
                Scheme::Shopify => String::from_utf8_lossy(&body).into_owned().into_bytes(),
                _ => body,
            };
            Message::sign(scheme, &key, body, ts, &id, now)
        })
}

/// Templates only use what the generic scheme is configured with: the timestamp and
/// id headers, so a template without `{timestamp}` or `{id}` leaves them unsigned.
fn signs(m: &Message, part: Part) -> bool {
    match (&m.scheme, part) {
        (Scheme::Generic(g), Part::Header(1)) => g.template.contains("{timestamp}"),
        (Scheme::Generic(g), Part::Header(2)) => g.template.contains("{id}"),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_signed_message_is_accepted(m in message()) {
        let policy = m.policy();
        prop_assert!(m.accepted(&policy, &m.headers, &m.body), "{:?}", m.scheme);
    }

    /// Every position of every covered part, each replaced by another byte, and each
    /// removed: all refused.
    #[test]
    fn every_single_byte_change_is_refused(m in message(), bytes in prop::collection::vec(any::<u8>(), 512)) {
        let policy = m.policy();
        for part in m.covered().into_iter().filter(|&p| signs(&m, p)) {
            let original = m.bytes(part);
            // The body: a sample of positions keeps the test fast; headers: all of them.
            let step = if part == Part::Body { 1 + original.len() / 24 } else { 1 };
            for i in (0..original.len()).step_by(step) {
                let mut changed = original.to_vec();
                changed[i] = other_byte(original[i], bytes[i % bytes.len()], m.is_hex(part));
                let (h, b) = m.with(part, changed.clone());
                prop_assert!(!m.accepted(&policy, &h, &b),
                    "{:?}: {part:?} byte {i} {:?} -> {:?} accepted", m.scheme, original[i] as char, changed[i] as char);
                let mut removed = original.to_vec();
                removed.remove(i);
                let (h, b) = m.with(part, removed);
                prop_assert!(!m.accepted(&policy, &h, &b), "{:?}: {part:?} byte {i} removed, accepted", m.scheme);
            }
        }
    }

    /// A byte appended to the body or to the signature: refused.
    #[test]
    fn an_appended_byte_is_refused(m in message(), extra in any::<u8>()) {
        let policy = m.policy();
        let mut body = m.body.clone();
        body.push(extra);
        prop_assert!(!m.accepted(&policy, &m.headers, &body));
        let mut signature = m.headers[0].1.clone();
        // Space and tab are trimmed as header white space by some schemes; that is no change.
        // Nor is a trailing `,` in Stripe's list: an empty item, which Stripe's own parser
        // skips (the preset reads the list as it does).
        let empty_item = matches!(m.scheme, Scheme::Stripe) && extra == b',';
        if !extra.is_ascii_whitespace() && !empty_item {
            signature.push(extra);
            let (h, b) = m.with(Part::Header(0), signature);
            prop_assert!(!m.accepted(&policy, &h, &b), "{:?}: {:?} appended", m.scheme, extra as char);
        }
    }

    /// Signed with another key: refused.
    #[test]
    fn another_key_is_refused(m in message(), other in "[!-~]{1,48}") {
        prop_assume!(other != m.key);
        let forged = Message::sign(m.scheme.clone(), &other, m.body.clone(), m.ts, &m.id, m.now);
        prop_assert!(!m.accepted(&m.policy(), &forged.headers, &forged.body), "{:?}", m.scheme);
    }
}

/// A timestamp one second outside the tolerance, either side, is refused even when the
/// signature over it is right.
#[test]
fn timestamps_outside_the_tolerance_are_refused() {
    let now = 1_700_000_000;
    let schemes = [
        Scheme::Stripe,
        Scheme::Slack,
        Scheme::Standard { svix: false },
        Scheme::Generic(Generic { alg: Alg::Sha256, base64: false, prefix: "", template: "{timestamp}.{body}" }),
    ];
    for scheme in schemes {
        for (ts, ok) in [
            (now - TOLERANCE, true),
            (now + TOLERANCE, true),
            (now - TOLERANCE - 1, false),
            (now + TOLERANCE + 1, false),
        ] {
            let m = Message::sign(scheme.clone(), "k", b"{}".to_vec(), ts, "msg_1", now);
            assert_eq!(m.accepted(&m.policy(), &m.headers, &m.body), ok, "{scheme:?} at {ts}");
        }
    }
}
