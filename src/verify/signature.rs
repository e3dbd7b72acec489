//! HMAC signatures over the raw body, for the common provider schemes and a
//! configurable generic one.
//!
//! Every scheme reduces to the same steps: take the signature (and, where the scheme
//! has them, the timestamp and message id) from the headers, refuse anything ambiguous,
//! check the timestamp against the tolerance, then compute the MAC over the signed
//! parts with each live secret and compare in constant time. The body is fed to the
//! MAC in place: it is never copied to build the signed payload.

use serde::Deserialize;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::request::RequestHead;
use crate::secret::{self, Secret, SecretBytes, SecretSpec};
use crate::verify::encoding::{base64_decode, hex_decode};
use crate::verify::mac::KeyedMac;
pub use crate::verify::mac::{compute, Algorithm};

pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// Wire form of `checks.signature`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureConfig {
    pub scheme: String,
    pub secrets: Vec<SecretSpec>,
    pub tolerance_seconds: Option<u64>,
    /// Replay protection; compiled by the route (it needs the route's name).
    pub dedupe: Option<crate::dedupe::DedupeConfig>,
    // `generic` only:
    pub header: Option<String>,
    pub algorithm: Option<String>,
    pub encoding: Option<String>,
    pub prefix: Option<String>,
    pub timestamp_header: Option<String>,
    pub id_header: Option<String>,
    pub signed_payload: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// A piece of the signed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Body,
    Timestamp,
    Id,
    Method,
    Path,
}

#[derive(Debug)]
struct Generic {
    header: String,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    timestamp_header: Option<String>,
    id_header: Option<String>,
    template: Vec<Part>,
}

#[derive(Debug)]
enum Scheme {
    Github,
    Stripe,
    Slack,
    Shopify,
    Standard,
    Generic(Generic),
}

/// A compiled `checks.signature`.
#[derive(Debug)]
pub struct SignatureCheck {
    scheme: Scheme,
    secrets: Vec<Secret>,
    /// One prepared MAC per secret, in the same order.
    keys: Vec<KeyedMac>,
    tolerance_seconds: u64,
}

/// What the headers carry, before the MAC is computed.
struct Presented<'a> {
    signatures: Vec<Vec<u8>>,
    timestamp: Option<&'a [u8]>,
    id: Option<&'a [u8]>,
}

impl SignatureCheck {
    pub fn compile(c: &SignatureConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let generic_fields = [
            ("header", c.header.is_some()),
            ("algorithm", c.algorithm.is_some()),
            ("encoding", c.encoding.is_some()),
            ("prefix", c.prefix.is_some()),
            ("timestamp_header", c.timestamp_header.is_some()),
            ("id_header", c.id_header.is_some()),
            ("signed_payload", c.signed_payload.is_some()),
        ];
        let scheme = match c.scheme.as_str() {
            "github" => Scheme::Github,
            "stripe" => Scheme::Stripe,
            "slack" => Scheme::Slack,
            "shopify" => Scheme::Shopify,
            "standard" => Scheme::Standard,
            "generic" => Scheme::Generic(compile_generic(c, path)?),
            other => {
                return Err(ConfigError::new(
                    format!("{path}.scheme"),
                    format!(
                    "unknown scheme \"{other}\" (expected one of github, stripe, slack, shopify, standard, generic)"
                ),
                ))
            }
        };
        if !matches!(scheme, Scheme::Generic(_)) {
            if let Some((field, _)) = generic_fields.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    format!("{path}.{field}"),
                    format!("only the generic scheme takes `{field}`; scheme \"{}\" defines its own", c.scheme),
                ));
            }
        }
        // `tolerance_seconds` on a scheme without a timestamp (github, shopify) has
        // nothing to apply to; it is accepted so one policy template fits every scheme.
        let tolerance_seconds = c.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE_SECONDS);
        let sp = format!("{path}.secrets");
        let mut secrets = secret::resolve_all(&c.secrets, &sp, env)?;
        if let Scheme::Standard = scheme {
            // Standard Webhooks: the key is the base64 after the `whsec_` prefix.
            for (i, s) in secrets.iter_mut().enumerate() {
                let raw = s.key.expose();
                let b64 = raw.strip_prefix(b"whsec_").unwrap_or(raw);
                let key = base64_decode(b64).filter(|k| !k.is_empty()).ok_or_else(|| {
                    ConfigError::new(
                        format!("{sp}[{i}]"),
                        "a standard-webhooks secret must be base64 (optionally after a `whsec_` prefix)",
                    )
                })?;
                s.key = SecretBytes::new(key);
            }
        }
        let algorithm = scheme.algorithm();
        let keys = secrets.iter().map(|s| KeyedMac::new(algorithm, s.key.expose())).collect();
        Ok(SignatureCheck { scheme, secrets, keys, tolerance_seconds })
    }

    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|s| s.id.as_str())
    }

    /// `(id, not_after)` of each secret that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.secrets.iter().filter_map(|s| s.not_after.map(|t| (s.id.as_str(), t)))
    }

    /// Verify the request. On success, the id of the secret that matched.
    pub fn verify(&self, head: &RequestHead, body: &[u8]) -> Result<&str, Denial> {
        let presented = self.presented(head)?;
        if let Some(ts) = presented.timestamp {
            let ts = parse_timestamp(ts).ok_or(Denial::TimestampMalformed)?;
            if head.now.abs_diff(ts) > self.tolerance_seconds {
                return Err(Denial::TimestampOutOfTolerance);
            }
        }
        let parts = self.parts(&presented, head, body);
        for (s, key) in self.secrets.iter().zip(&self.keys).filter(|(s, _)| s.is_live(head.now)) {
            let mac = key.tag(&parts);
            // Compare against every presented signature without an early exit on the
            // first byte that differs; lengths are public (they follow from the algorithm).
            let hit = presented.signatures.iter().fold(subtle::Choice::from(0), |acc, sig| acc | mac.matches(sig));
            if bool::from(hit) {
                return Ok(&s.id);
            }
        }
        Err(Denial::SignatureMismatch)
    }

    /// The message id for replay protection: the scheme's id header where it has one,
    /// else the signature header itself.
    pub fn message_id<'a>(&self, head: &'a RequestHead) -> Option<&'a [u8]> {
        let (id_header, sig_header): (Option<&str>, &str) = match &self.scheme {
            Scheme::Github => (Some("x-github-delivery"), "x-hub-signature-256"),
            Scheme::Stripe => (None, "stripe-signature"),
            Scheme::Slack => (None, "x-slack-signature"),
            Scheme::Shopify => (Some("x-shopify-webhook-id"), "x-shopify-hmac-sha256"),
            Scheme::Standard => {
                let family = if head.headers.contains("svix-signature") { "svix" } else { "webhook" };
                return head.headers.get_one(&format!("{family}-id")).ok().flatten();
            }
            Scheme::Generic(g) => (g.id_header.as_deref(), g.header.as_str()),
        };
        id_header
            .and_then(|h| head.headers.get_one(h).ok().flatten())
            .or_else(|| head.headers.get_one(sig_header).ok().flatten())
    }

    fn presented<'a>(&self, head: &'a RequestHead) -> Result<Presented<'a>, Denial> {
        let h = &head.headers;
        let one = |name: &str| h.get_one(name).map_err(|_| Denial::SignatureRepeated);
        let required = |name: &str| one(name)?.ok_or(Denial::SignatureMissing);
        let timestamp = |name: &str| match h.get_one(name) {
            Err(_) => Err(Denial::SignatureRepeated),
            Ok(None) => Err(Denial::TimestampMissing),
            Ok(Some(v)) => Ok(v),
        };
        let id = |name: &str| match h.get_one(name) {
            Err(_) => Err(Denial::SignatureRepeated),
            Ok(None) => Err(Denial::MessageIdMissing),
            Ok(Some([])) => Err(Denial::MessageIdMissing),
            Ok(Some(v)) => Ok(v),
        };
        match &self.scheme {
            Scheme::Github => {
                let v = required("x-hub-signature-256")?;
                let hex = v.strip_prefix(b"sha256=").ok_or(Denial::SignatureMalformed)?;
                Ok(Presented { signatures: vec![decode_sized(hex, Encoding::Hex, 32)?], timestamp: None, id: None })
            }
            Scheme::Shopify => {
                let v = required("x-shopify-hmac-sha256")?;
                Ok(Presented { signatures: vec![decode_sized(v, Encoding::Base64, 32)?], timestamp: None, id: None })
            }
            Scheme::Slack => {
                let v = required("x-slack-signature")?;
                let ts = timestamp("x-slack-request-timestamp")?;
                let hex = v.strip_prefix(b"v0=").ok_or(Denial::SignatureMalformed)?;
                Ok(Presented { signatures: vec![decode_sized(hex, Encoding::Hex, 32)?], timestamp: Some(ts), id: None })
            }
            Scheme::Stripe => {
                let v = required("stripe-signature")?;
                let mut ts = None;
                let mut signatures = Vec::new();
                for item in v.split(|&c| c == b',') {
                    let item = item.trim_ascii();
                    let (key, value) = match item.iter().position(|&c| c == b'=') {
                        Some(i) => (&item[..i], &item[i + 1..]),
                        None => return Err(Denial::SignatureMalformed),
                    };
                    match key {
                        // Two timestamps: which one did the sender sign? Refuse.
                        b"t" if ts.is_some() => return Err(Denial::SignatureMalformed),
                        b"t" => ts = Some(value),
                        b"v1" => signatures.push(decode_sized(value, Encoding::Hex, 32)?),
                        // v0 (test-mode scheme) and future schemes are not ours to judge.
                        _ => {}
                    }
                }
                let ts = ts.ok_or(Denial::TimestampMissing)?;
                if signatures.is_empty() {
                    return Err(Denial::SignatureMissing);
                }
                Ok(Presented { signatures, timestamp: Some(ts), id: None })
            }
            Scheme::Standard => {
                let family = match (h.contains("webhook-signature"), h.contains("svix-signature")) {
                    (true, true) => return Err(Denial::SignatureRepeated),
                    (false, true) => "svix",
                    _ => "webhook",
                };
                let v = required(&format!("{family}-signature"))?;
                let ts = timestamp(&format!("{family}-timestamp"))?;
                let id = id(&format!("{family}-id"))?;
                let mut signatures = Vec::new();
                for item in v.split(|&c| c == b' ').filter(|s| !s.is_empty()) {
                    // `v1a,` (asymmetric) and later versions are skipped, not failed.
                    if let Some(b64) = item.strip_prefix(b"v1,") {
                        signatures.push(decode_sized(b64, Encoding::Base64, 32)?);
                    }
                }
                if signatures.is_empty() {
                    return Err(Denial::SignatureMissing);
                }
                Ok(Presented { signatures, timestamp: Some(ts), id: Some(id) })
            }
            Scheme::Generic(g) => {
                let v = required(&g.header)?;
                let encoded = v.strip_prefix(g.prefix.as_bytes()).ok_or(Denial::SignatureMalformed)?;
                let signature = decode_sized(encoded.trim_ascii(), g.encoding, g.algorithm.output_len())?;
                let ts = match &g.timestamp_header {
                    Some(name) => Some(timestamp(name)?),
                    None => None,
                };
                let id = match &g.id_header {
                    Some(name) => Some(id(name)?),
                    None => None,
                };
                Ok(Presented { signatures: vec![signature], timestamp: ts, id })
            }
        }
    }

    /// The signed bytes, as a list of slices fed to the MAC in order.
    fn parts<'a>(&'a self, p: &Presented<'a>, head: &'a RequestHead, body: &'a [u8]) -> Vec<&'a [u8]> {
        let ts = p.timestamp.unwrap_or_default();
        let id = p.id.unwrap_or_default();
        match &self.scheme {
            Scheme::Github | Scheme::Shopify => vec![body],
            Scheme::Stripe => vec![ts, b".", body],
            Scheme::Slack => vec![b"v0:", ts, b":", body],
            Scheme::Standard => vec![id, b".", ts, b".", body],
            Scheme::Generic(g) => g
                .template
                .iter()
                .map(|part| match part {
                    Part::Literal(l) => l.as_slice(),
                    Part::Body => body,
                    Part::Timestamp => ts,
                    Part::Id => id,
                    Part::Method => head.method.as_bytes(),
                    Part::Path => head.raw_path.as_bytes(),
                })
                .collect(),
        }
    }
}

impl Scheme {
    fn algorithm(&self) -> Algorithm {
        match self {
            Scheme::Generic(g) => g.algorithm,
            _ => Algorithm::Sha256,
        }
    }
}

/// Decode a presented signature; anything that does not decode to the MAC's length is
/// malformed (so a truncated signature can never "match" a prefix).
fn decode_sized(s: &[u8], encoding: Encoding, len: usize) -> Result<Vec<u8>, Denial> {
    let bytes = match encoding {
        Encoding::Hex => hex_decode(s),
        Encoding::Base64 => base64_decode(s),
    };
    bytes.filter(|b| b.len() == len).ok_or(Denial::SignatureMalformed)
}

/// Unix seconds, digits only (no sign, no fraction), at most 12 digits.
fn parse_timestamp(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 12 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn compile_generic(c: &SignatureConfig, path: &str) -> Result<Generic, ConfigError> {
    let header_name =
        |v: &str, field: &str| crate::error::request_header_name(v, &format!("{path}.{field}"), "a signature");
    let header = header_name(c.header.as_deref().unwrap_or("X-Webhook-Signature"), "header")?;
    let algorithm = match c.algorithm.as_deref().unwrap_or("sha256") {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        other => {
            return Err(ConfigError::new(
                format!("{path}.algorithm"),
                format!("\"{other}\" is not one of sha1, sha256, sha512"),
            ))
        }
    };
    let encoding = match c.encoding.as_deref().unwrap_or("hex") {
        "hex" => Encoding::Hex,
        "base64" => Encoding::Base64,
        other => {
            return Err(ConfigError::new(format!("{path}.encoding"), format!("\"{other}\" is not one of hex, base64")))
        }
    };
    let timestamp_header = c.timestamp_header.as_deref().map(|h| header_name(h, "timestamp_header")).transpose()?;
    let id_header = c.id_header.as_deref().map(|h| header_name(h, "id_header")).transpose()?;
    let tp = format!("{path}.signed_payload");
    let template = parse_template(c.signed_payload.as_deref().unwrap_or("{body}"), &tp)?;
    if template.iter().filter(|p| **p == Part::Body).count() != 1 {
        return Err(ConfigError::new(&tp, "the template must contain {body} exactly once"));
    }
    if template.contains(&Part::Timestamp) && timestamp_header.is_none() {
        return Err(ConfigError::new(&tp, "{timestamp} needs `timestamp_header`"));
    }
    if template.contains(&Part::Id) && id_header.is_none() {
        return Err(ConfigError::new(&tp, "{id} needs `id_header`"));
    }
    Ok(Generic {
        header,
        algorithm,
        encoding,
        prefix: c.prefix.clone().unwrap_or_default(),
        timestamp_header,
        id_header,
        template,
    })
}

fn parse_template(t: &str, path: &str) -> Result<Vec<Part>, ConfigError> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(ConfigError::new(path, "unbalanced '}' in template"));
        }
        literal.extend_from_slice(&rest.as_bytes()[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| ConfigError::new(path, "unclosed '{' in template"))?;
        let part = match &after[..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "method" => Part::Method,
            "path" => Part::Path,
            other => {
                return Err(ConfigError::new(
                    path,
                    format!("unknown placeholder {{{other}}} (expected body, timestamp, id, method, path)"),
                ))
            }
        };
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(part);
        rest = &after[close + 1..];
    }
    literal.extend_from_slice(rest.as_bytes());
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;
    use crate::verify::encoding::hex_encode;
    use base64::Engine;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn check(json: &str) -> SignatureCheck {
        let c: SignatureConfig = crate::wire::read_str(json).unwrap();
        SignatureCheck::compile(&c, "sig", &no_env).unwrap()
    }

    fn compile_err(json: &str) -> String {
        let c: SignatureConfig = crate::wire::read_str(json).unwrap();
        SignatureCheck::compile(&c, "sig", &no_env).unwrap_err().to_string()
    }

    fn head(now: u64, pairs: &[(&str, &str)]) -> RequestHead {
        let mut all = vec![(":method".to_string(), b"POST".to_vec()), (":path".to_string(), b"/hook?a=1".to_vec())];
        all.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(all), None, now)
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    // GitHub's documentation example ("Validating webhook deliveries"):
    // secret "It's a Secret to Everybody", payload "Hello, World!".
    #[test]
    fn github_published_vector() {
        let c = check(r#"{"scheme":"github","secrets":[{"value":"It's a Secret to Everybody"}]}"#);
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(c.verify(&head(0, &[("X-Hub-Signature-256", sig)]), b"Hello, World!"), Ok("0"));
        assert_eq!(
            c.verify(&head(0, &[("X-Hub-Signature-256", sig)]), b"Hello, World?"),
            Err(Denial::SignatureMismatch)
        );
        let upper = sig.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1);
        assert_eq!(c.verify(&head(0, &[("x-hub-signature-256", &upper)]), b"Hello, World!"), Ok("0"));
    }

    #[test]
    fn github_refuses_missing_repeated_malformed() {
        let c = check(r#"{"scheme":"github","secrets":[{"value":"k"}]}"#);
        assert_eq!(c.verify(&head(0, &[]), b"x"), Err(Denial::SignatureMissing));
        let good = format!("sha256={}", hex_encode(&compute(Algorithm::Sha256, b"k", &[b"x"])));
        assert_eq!(c.verify(&head(0, &[("x-hub-signature-256", &good)]), b"x"), Ok("0"));
        assert_eq!(
            c.verify(&head(0, &[("x-hub-signature-256", &good), ("x-hub-signature-256", &good)]), b"x"),
            Err(Denial::SignatureRepeated)
        );
        for bad in ["sha1=abcd", "sha256=zz", "sha256=", &good[..good.len() - 2], "757107ea"] {
            assert_eq!(
                c.verify(&head(0, &[("x-hub-signature-256", bad)]), b"x"),
                Err(Denial::SignatureMalformed),
                "{bad}"
            );
        }
    }

    // Slack's documentation example ("Verifying requests from Slack").
    #[test]
    fn slack_published_vector() {
        let c = check(r#"{"scheme":"slack","secrets":[{"id":"current","value":"8f742231b10e8888abcd99yyyzzz85a5"}]}"#);
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ts = "1531420618";
        let h = head(1_531_420_618, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&h, body), Ok("current"));
        let mut tampered = body.to_vec();
        tampered[0] = b'T';
        assert_eq!(c.verify(&h, &tampered), Err(Denial::SignatureMismatch));
        // Five minutes and one second late or early: outside the default tolerance.
        let late = head(1_531_420_618 + 301, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&late, body), Err(Denial::TimestampOutOfTolerance));
        let early = head(1_531_420_618 - 301, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&early, body), Err(Denial::TimestampOutOfTolerance));
        let edge = head(1_531_420_618 + 300, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", ts)]);
        assert_eq!(c.verify(&edge, body), Ok("current"));
        assert_eq!(c.verify(&head(0, &[("X-Slack-Signature", sig)]), body), Err(Denial::TimestampMissing));
        let bad_ts = head(0, &[("X-Slack-Signature", sig), ("X-Slack-Request-Timestamp", "-5")]);
        assert_eq!(c.verify(&bad_ts, body), Err(Denial::TimestampMalformed));
    }

    // Standard Webhooks reference test vector (the libraries' shared test).
    #[test]
    fn standard_published_vector() {
        let c = check(r#"{"scheme":"standard","secrets":[{"value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}"#);
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let pairs = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sig),
        ];
        assert_eq!(c.verify(&head(1_614_265_330, &pairs), body), Ok("0"));
        // The svix-* header family carries the same scheme.
        let svix =
            [("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("svix-timestamp", "1614265330"), ("svix-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &svix), body), Ok("0"));
        // Several signatures, space separated; unknown versions skipped.
        let multi = format!("v1a,abcd v1,{} {sig}", b64(&[0u8; 32]));
        let pairs2 = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", &multi),
        ];
        assert_eq!(c.verify(&head(1_614_265_330, &pairs2), body), Ok("0"));
        // Another id is another message.
        let other = [("webhook-id", "msg_other"), ("webhook-timestamp", "1614265330"), ("webhook-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &other), body), Err(Denial::SignatureMismatch));
        let no_id = [("webhook-timestamp", "1614265330"), ("webhook-signature", sig)];
        assert_eq!(c.verify(&head(1_614_265_330, &no_id), body), Err(Denial::MessageIdMissing));
        // Both families at once is ambiguous.
        let both = [pairs[0], pairs[1], pairs[2], svix[2]];
        assert_eq!(c.verify(&head(1_614_265_330, &both), body), Err(Denial::SignatureRepeated));
    }

    #[test]
    fn stripe_computed_vector() {
        let secret = "whsec_test_secret";
        let c = check(&format!(r#"{{"scheme":"stripe","secrets":[{{"value":"{secret}"}}],"tolerance_seconds":60}}"#));
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let mac = hex_encode(&compute(Algorithm::Sha256, secret.as_bytes(), &[b"1700000000.", body]));
        // Known answer, computed independently with Python's hmac module.
        assert_eq!(mac, "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd");
        let hdr = format!("t=1700000000,v1={},v1={mac},v0=deadbeef", hex_encode(&[7u8; 32]));
        assert_eq!(c.verify(&head(1_700_000_030, &[("Stripe-Signature", &hdr)]), body), Ok("0"));
        assert_eq!(
            c.verify(&head(1_700_000_061, &[("Stripe-Signature", &hdr)]), body),
            Err(Denial::TimestampOutOfTolerance)
        );
        let two_t = format!("t=1700000000,t=1700000001,v1={mac}");
        assert_eq!(
            c.verify(&head(1_700_000_000, &[("Stripe-Signature", &two_t)]), body),
            Err(Denial::SignatureMalformed)
        );
        let no_v1 = "t=1700000000,v0=abcd";
        assert_eq!(c.verify(&head(1_700_000_000, &[("Stripe-Signature", no_v1)]), body), Err(Denial::SignatureMissing));
        let wrong_t = format!("t=1700000001,v1={mac}");
        assert_eq!(
            c.verify(&head(1_700_000_000, &[("Stripe-Signature", &wrong_t)]), body),
            Err(Denial::SignatureMismatch)
        );
    }

    #[test]
    fn shopify_base64() {
        let c = check(r#"{"scheme":"shopify","secrets":[{"value":"shpss_x"}]}"#);
        let body = br#"{"id":1}"#;
        let sig = b64(&compute(Algorithm::Sha256, b"shpss_x", &[body]));
        assert_eq!(c.verify(&head(0, &[("X-Shopify-Hmac-Sha256", &sig)]), body), Ok("0"));
        assert_eq!(c.verify(&head(0, &[("X-Shopify-Hmac-Sha256", &sig)]), b"{}"), Err(Denial::SignatureMismatch));
        assert_eq!(c.verify(&head(0, &[("X-Shopify-Hmac-Sha256", "%%%")]), body), Err(Denial::SignatureMalformed));
    }

    #[test]
    fn generic_template_and_options() {
        let c = check(
            r#"{"scheme":"generic","secrets":[{"value":"g"}],"header":"X-Sig","algorithm":"sha512","encoding":"base64",
               "prefix":"sha512=","timestamp_header":"X-Ts","id_header":"X-Id","signed_payload":"{method} {path}|{id}|{timestamp}.{body}"}"#,
        );
        let body = b"payload";
        let mac = compute(Algorithm::Sha512, b"g", &[b"POST /hook?a=1|m1|1000.", body]);
        let sig = format!("sha512={}", b64(&mac));
        let h = head(1000, &[("x-sig", &sig), ("x-ts", "1000"), ("x-id", "m1")]);
        assert_eq!(c.verify(&h, body), Ok("0"));
        assert_eq!(c.message_id(&h), Some(&b"m1"[..]));
        let wrong_id = head(1000, &[("x-sig", &sig), ("x-ts", "1000"), ("x-id", "m2")]);
        assert_eq!(c.verify(&wrong_id, body), Err(Denial::SignatureMismatch));
        let no_prefix = head(1000, &[("x-sig", &b64(&mac)), ("x-ts", "1000"), ("x-id", "m1")]);
        assert_eq!(c.verify(&no_prefix, body), Err(Denial::SignatureMalformed));
        let no_ts = head(1000, &[("x-sig", &sig), ("x-id", "m1")]);
        assert_eq!(c.verify(&no_ts, body), Err(Denial::TimestampMissing));
        // Defaults: X-Webhook-Signature, sha256, hex, body only.
        let d = check(r#"{"scheme":"generic","secrets":[{"value":"g"}]}"#);
        let sig = hex_encode(&compute(Algorithm::Sha256, b"g", &[body]));
        assert_eq!(d.verify(&head(0, &[("X-Webhook-Signature", &sig)]), body), Ok("0"));
        let sha1 = check(r#"{"scheme":"generic","secrets":[{"value":"g"}],"algorithm":"sha1","prefix":"sha1="}"#);
        let sig = format!("sha1={}", hex_encode(&compute(Algorithm::Sha1, b"g", &[body])));
        assert_eq!(sha1.verify(&head(0, &[("X-Webhook-Signature", &sig)]), body), Ok("0"));
    }

    #[test]
    fn rotation_and_not_after() {
        let c = check(
            r#"{"scheme":"github","secrets":[{"id":"current","value":"new"},
                {"id":"previous","value":"old","not_after":"2027-01-31T00:00:00Z"}]}"#,
        );
        let sig = |k: &[u8]| format!("sha256={}", hex_encode(&compute(Algorithm::Sha256, k, &[b"b"])));
        let before = 1_801_353_600;
        assert_eq!(c.verify(&head(before, &[("x-hub-signature-256", &sig(b"new"))]), b"b"), Ok("current"));
        assert_eq!(c.verify(&head(before, &[("x-hub-signature-256", &sig(b"old"))]), b"b"), Ok("previous"));
        assert_eq!(
            c.verify(&head(before + 1, &[("x-hub-signature-256", &sig(b"old"))]), b"b"),
            Err(Denial::SignatureMismatch)
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let table = [
            (r#"{"scheme":"gitlab","secrets":[{"value":"k"}]}"#, "sig.scheme: unknown scheme \"gitlab\""),
            (r#"{"scheme":"github","secrets":[]}"#, "sig.secrets: at least one secret is required"),
            (
                r#"{"scheme":"github","secrets":[{"env":"NOPE"}]}"#,
                "sig.secrets[0].env: environment variable NOPE is unset",
            ),
            (r#"{"scheme":"github","secrets":[{"value":"k"}],"header":"x"}"#, "sig.header: only the generic scheme"),
            (
                r#"{"scheme":"standard","secrets":[{"value":"whsec_%%%"}]}"#,
                "sig.secrets[0]: a standard-webhooks secret must be base64",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"algorithm":"md5"}"#,
                "sig.algorithm: \"md5\" is not one of",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"encoding":"b32"}"#,
                "sig.encoding: \"b32\" is not one of",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"bad header"}"#,
                "sig.header: \"bad header\" is not a header name",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"Content-Length"}"#,
                "sig.header: \"Content-Length\" cannot carry a signature",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{timestamp}"}"#,
                "sig.signed_payload: the template must contain {body} exactly once",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{timestamp}.{body}"}"#,
                "sig.signed_payload: {timestamp} needs `timestamp_header`",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{nope}{body}"}"#,
                "sig.signed_payload: unknown placeholder {nope}",
            ),
            (
                r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{body"}"#,
                "sig.signed_payload: unclosed '{'",
            ),
        ];
        for (json, want) in table {
            let got = compile_err(json);
            assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
        }
    }

    #[test]
    fn no_panic_on_hostile_header_bytes() {
        let c = check(r#"{"scheme":"stripe","secrets":[{"value":"k"}]}"#);
        for v in ["", ",", "=", "t=", "v1=", "t=1,v1=", "t=99999999999999999999,v1=00", "\u{ff}\u{0}"] {
            let r = c.verify(&head(0, &[("stripe-signature", v)]), b"");
            assert!(r.is_err(), "{v:?}");
        }
    }
}
