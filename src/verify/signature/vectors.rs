//! Known-answer tests: one vector per preset (the provider's published example where
//! there is one), tampering refused, and `generic` expressing the whole model.
//!
//! Vectors marked "computed" were made with Python's `hmac`/`hashlib` (or the named
//! library) from the provider's documented recipe, outside this code base.

use super::*;
use crate::request::Headers;
use crate::verify::encoding::hex_encode;
use base64::Engine;

// Adyen's per-item signatures.
mod tests;
// Telnyx and Replicate, each held to its provider's own verifier.
mod held;

fn no_env(_: &str) -> Option<String> {
    None
}

pub(super) fn check(json: &str) -> SignatureCheck {
    let c: SignatureConfig = crate::wire::read_str(json).unwrap_or_else(|e| panic!("{e}"));
    SignatureCheck::compile(&c, "sig", &no_env).unwrap_or_else(|e| panic!("{e}"))
}

fn compile_err(json: &str) -> String {
    let c: SignatureConfig = crate::wire::read_str(json).unwrap();
    SignatureCheck::compile(&c, "sig", &no_env).unwrap_err().to_string()
}

/// A request at `now` (unix seconds) to `path` with `pairs`.
pub(super) fn req(now: u64, method: &str, path: &str, pairs: &[(&str, &str)]) -> RequestHead {
    let mut all = vec![
        (":method".to_string(), method.as_bytes().to_vec()),
        (":path".to_string(), path.as_bytes().to_vec()),
        (":scheme".to_string(), b"https".to_vec()),
        (":authority".to_string(), b"hooks.example.com".to_vec()),
    ];
    all.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
    RequestHead::from_headers(Headers::new(all), None, now)
}

fn mac(a: Mac, key: &[u8], msg: &[&[u8]]) -> Vec<u8> {
    compute(a, key, msg)
}

#[test]
fn generic_list_with_several_signatures_and_a_member_timestamp() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"X-Sig","list":{"separator":";","pair":"=",
            "signature_key":"h1","timestamp_key":"ts"},"signed_payload":"{timestamp}:{body}"}"#,
    );
    let good = hex_encode(&mac(Mac::Sha256, b"k", &[b"1700000000:", b"body"]));
    let hdr = format!("ts=1700000000;h1={};h1={good}", "0".repeat(64));
    assert_eq!(c.verify(&req(1_700_000_000, "POST", "/", &[("x-sig", &hdr)]), b"body"), Ok("0"));
    assert_eq!(c.verify(&req(1_700_000_000, "POST", "/", &[("x-sig", &hdr)]), b"bodY"), Err(Denial::SignatureMismatch));
    assert_eq!(
        c.verify(&req(1_700_000_400, "POST", "/", &[("x-sig", &hdr)]), b"body"),
        Err(Denial::TimestampOutOfTolerance)
    );
    let no_ts = format!("h1={good}");
    assert_eq!(
        c.verify(&req(1_700_000_000, "POST", "/", &[("x-sig", &no_ts)]), b"body"),
        Err(Denial::TimestampMissing)
    );
}

#[test]
fn generic_signature_and_fields_in_the_body() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"k"}],"signature_field":"/sig/value","timestamp_field":"/sig/ts",
            "id_field":"/sig/token","signed_payload":"{timestamp}.{id}"}"#,
    );
    let body = |ts: &str, token: &str, sig: &str| {
        format!(r#"{{"sig":{{"ts":"{ts}","token":"{token}","value":"{sig}"}},"x":1}}"#)
    };
    let m = hex_encode(&mac(Mac::Sha256, b"k", &[b"1700000000.tok"]));
    let at = req(1_700_000_000, "POST", "/", &[]);
    assert_eq!(c.verify(&at, body("1700000000", "tok", &m).as_bytes()), Ok("0"));
    assert_eq!(c.verify(&at, body("1700000000", "tok2", &m).as_bytes()), Err(Denial::SignatureMismatch));
    assert_eq!(c.verify(&at, body("1700000001", "tok", &m).as_bytes()), Err(Denial::SignatureMismatch));
    assert_eq!(c.verify(&at, body("1700009999", "tok", &m).as_bytes()), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(c.verify(&at, body("1700000000", "", &m).as_bytes()), Err(Denial::MessageIdMissing));
    let twice = format!(r#"{{"sig":{{"ts":"1700000000","token":"tok","value":"{m}","value":"{m}"}}}}"#);
    assert_eq!(c.verify(&at, twice.as_bytes()), Err(Denial::PayloadDuplicateKey));
    assert_eq!(c.verify(&req(1_700_000_000, "POST", "/", &[]), b"{}"), Err(Denial::SignatureMissing));
    assert_eq!(c.verify(&req(1_700_000_000, "POST", "/", &[]), b"not json"), Err(Denial::PayloadNotJson));
}

#[test]
fn generic_milliseconds_base64url_hex_key_url_query_and_form() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"6b6579"}],"key_encoding":"hex","algorithm":"sha384",
            "encoding":"base64url","timestamp_header":"X-Ts","timestamp_unit":"milliseconds",
            "signed_payload":"{method}\n{url}\n{query}\n{timestamp}\n{form}"}"#,
    );
    let msg = "POST\nhttps://hooks.example.com/f?b=2&a=1\nb=2&a=1\n1700000000123\na1b2 3";
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(Mac::Sha384, b"key", &[msg.as_bytes()]));
    let h = req(1_700_000_000, "POST", "/f?b=2&a=1", &[("x-webhook-signature", &sig), ("x-ts", "1700000000123")]);
    assert_eq!(c.verify(&h, b"b=2+3&a=1"), Ok("0"));
    assert_eq!(c.verify(&h, b"b=2+4&a=1"), Err(Denial::SignatureMismatch));
    let late = req(1_700_000_301, "POST", "/f?b=2&a=1", &[("x-webhook-signature", &sig), ("x-ts", "1700000000123")]);
    assert_eq!(c.verify(&late, b"b=2+3&a=1"), Err(Denial::TimestampOutOfTolerance));
}

#[test]
fn public_url_replaces_the_request_url() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{url}{body}",
            "public_url":"https://public.example.com/hooks/x"}"#,
    );
    let sig = hex_encode(&mac(Mac::Sha256, b"k", &[b"https://public.example.com/hooks/x?q=1", b"b"]));
    assert_eq!(c.verify(&req(0, "POST", "/internal/x?q=1", &[("x-webhook-signature", &sig)]), b"b"), Ok("0"));
}

#[test]
fn generic_config_errors() {
    let table = [
        (r#""list":{},"signature_field":"/s""#, "sig.list: set either `list` or `signature_field`"),
        (r#""list":{},"prefix":"x""#, "sig.prefix: `prefix` applies to a signature alone"),
        (r#""list":{"separator":""}"#, "sig.list.separator: \"\" must be one to four printable characters"),
        (r#""list":{"separator":"=","pair":"="}"#, "sig.list.pair: must differ"),
        (r#""signature_field":"sig""#, "sig.signature_field: \"sig\" is not a JSON pointer"),
        (r#""timestamp_unit":"minutes","timestamp_header":"x-ts""#, "sig.timestamp_unit: \"minutes\" is not one of"),
        (r#""timestamp_unit":"seconds""#, "sig.timestamp_unit: there is no timestamp to read"),
        (r#""key_encoding":"b32""#, "sig.key_encoding: \"b32\" is not one of raw, base64, hex"),
        (r#""key_encoding":"hex","secrets":[{"value":"zz"}]"#, "sig.secrets[0]: a generic secret must be hex"),
        (r#""encoding":"b32""#, "sig.encoding: \"b32\" is not one of hex, base64, base64url"),
        (r#""public_url":"ftp://x""#, "sig.public_url: \"ftp://x\" is not an http:// or https:// URL"),
        (r#""signed_payload":"{form}{body}""#, "sig.signed_payload: the template must contain {body} exactly once"),
        (r#""signature_field":"/s""#, "sig.signed_payload: with `signature_field` the body holds the signature"),
    ];
    for (extra, want) in table {
        let json = format!(r#"{{"scheme":"generic","secrets":[{{"value":"k"}}],{extra}}}"#);
        // A later `secrets` replaces nothing: the wire refuses a repeated field.
        let json = if extra.contains("\"secrets\"") { format!(r#"{{"scheme":"generic",{extra}}}"#) } else { json };
        let got = compile_err(&json);
        assert!(got.starts_with(want), "{extra}\n got {got:?}\nwant {want:?}");
    }
    assert!(compile_err(r#"{"scheme":"github","secrets":[{"value":"k"}],"list":{}}"#)
        .starts_with("sig.list: only the generic scheme takes `list`"));
    assert!(compile_err(r#"{"scheme":"github","public_keys":[{"value":"k"}]}"#)
        .starts_with("sig.secrets: missing field `secrets`"));
    assert!(compile_err(r#"{"scheme":"github","secrets":[{"value":"k"}],"public_keys":[{"value":"k"}]}"#)
        .starts_with("sig.public_keys: scheme \"github\" verifies with shared secrets"));
}

#[test]
fn every_preset_compiles_and_names_its_page() {
    for name in presets::names() {
        let p = presets::preset(name).unwrap();
        let s = &p.schemes[0];
        let keys = if s.algorithms() == [model::Algorithm::EcdsaP256] {
            r#""public_keys":[{"value":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="}]"#
        } else if s.algorithms().iter().all(|a| a.is_public_key()) && s.public_key_format.decode == Encoding::Base64 {
            r#""public_keys":[{"value":"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}]"#
        } else if s.algorithms().iter().all(|a| a.is_public_key()) {
            r#""public_keys":[{"value":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"}]"#
        } else if s.secret_format.decode == Encoding::Hex {
            r#""secrets":[{"value":"736563726574"}]"#
        } else {
            r#""secrets":[{"value":"c2VjcmV0"}]"#
        };
        check(&format!(r#"{{"scheme":"{name}",{keys}}}"#));
    }
}

/// A request a provider would send, signed by the script in the module comment.
pub(super) struct Vector {
    pub(super) scheme: &'static str,
    pub(super) secret: &'static str,
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) headers: &'static [(&'static str, &'static str)],
    pub(super) body: &'static str,
    /// Headers whose value is signed (timestamps, ids): changing one must fail.
    signed_headers: &'static [&'static str],
}

pub(super) const NOW: u64 = 1_700_000_000;

/// Change the last digit of the first run of digits (or the first letter): a value that
/// parses as before but is not what was signed.
pub(super) fn tamper(v: &str) -> String {
    let b = v.as_bytes();
    let i = match b.iter().position(u8::is_ascii_digit) {
        Some(start) => start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count() - 1,
        None => b.iter().position(u8::is_ascii_alphabetic).unwrap_or(0),
    };
    let mut out = b.to_vec();
    out[i] = match out[i] {
        b'9' => b'8',
        c if c.is_ascii_digit() => c + 1,
        c => c ^ 0x20,
    };
    String::from_utf8(out).unwrap()
}

/// The body with its first letter's case flipped.
pub(super) fn tamper_body(body: &str) -> Vec<u8> {
    let mut b = body.as_bytes().to_vec();
    if let Some(i) = b.iter().position(u8::is_ascii_alphabetic) {
        b[i] ^= 0x20;
    }
    b
}

#[test]
fn preset_vectors_verify_and_refuse_tampering() {
    let mut seen = std::collections::BTreeSet::new();
    for v in VECTORS {
        seen.insert(v.scheme);
        let c = check(&format!(r#"{{"scheme":"{}","secrets":[{{"value":"{}"}}]}}"#, v.scheme, v.secret));
        let at = |now: u64, headers: &[(&str, &str)]| req(now, v.method, v.path, headers);
        let ok = at(NOW, v.headers);
        assert_eq!(c.verify(&ok, v.body.as_bytes()), Ok("0"), "{} {}", v.scheme, v.path);
        let preset = presets::preset(v.scheme).unwrap();
        // A token (GitLab) proves the sender, not the body.
        if preset.schemes[0].algorithm != model::Algorithm::Token {
            assert!(c.verify(&ok, &tamper_body(v.body)).is_err(), "{}: tampered body accepted", v.scheme);
        }
        for name in v.signed_headers {
            let changed: Vec<(&str, String)> =
                v.headers.iter().map(|(n, val)| (*n, if n == name { tamper(val) } else { val.to_string() })).collect();
            let pairs: Vec<(&str, &str)> = changed.iter().map(|(n, val)| (*n, val.as_str())).collect();
            assert!(c.verify(&at(NOW, &pairs), v.body.as_bytes()).is_err(), "{}: tampered {name} accepted", v.scheme);
        }
        if preset.schemes[0].timestamp.is_some() {
            let late = NOW + preset.window.past + 2;
            assert_eq!(
                c.verify(&at(late, v.headers), v.body.as_bytes()),
                Err(Denial::TimestampOutOfTolerance),
                "{}",
                v.scheme
            );
        }
        let sig_headers: Vec<&str> = preset.schemes.iter().flat_map(|s| s.signature_headers()).collect();
        if !sig_headers.is_empty() {
            let without: Vec<(&str, &str)> =
                v.headers.iter().copied().filter(|(n, _)| !sig_headers.contains(n)).collect();
            assert_eq!(c.verify(&at(NOW, &without), v.body.as_bytes()), Err(Denial::SignatureMissing), "{}", v.scheme);
            let other =
                check(&format!(r#"{{"scheme":"{}","secrets":[{{"value":"{}"}}]}}"#, v.scheme, "d2hzZWNfb3RoZXI="));
            assert!(other.verify(&ok, v.body.as_bytes()).is_err(), "{}: another secret accepted", v.scheme);
        }
    }
    let missing: Vec<&str> = presets::names()
        .into_iter()
        .filter(|n| !seen.contains(n) && !["discord", "sendgrid", "telnyx"].contains(n))
        .collect();
    assert!(missing.is_empty(), "presets without a vector: {missing:?}");
}

// Twilio's documented example ("Validating signatures from Twilio"): auth token 12345,
// this URL and these five parameters sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
#[test]
fn twilio_published_vector() {
    let c =
        check(r#"{"scheme":"twilio","secrets":[{"value":"12345"}],"public_url":"https://mycompany.com/myapp.php"}"#);
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let h =
        req(0, "POST", "/internal/myapp.php?foo=1&bar=2", &[("x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")]);
    assert_eq!(c.verify(&h, body), Ok("0"));
    // Parameters in another order sign the same (they are sorted); another value does not.
    let reordered =
        b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030";
    assert_eq!(c.verify(&h, reordered), Ok("0"));
    let changed = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1235&From=%2B12349013030&To=%2B18005551212";
    assert_eq!(c.verify(&h, changed), Err(Denial::SignatureMismatch));
    let other_query = req(0, "POST", "/x?foo=1&bar=3", &[("x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")]);
    assert_eq!(c.verify(&other_query, body), Err(Denial::SignatureMismatch));
}

#[test]
fn twilio_body_sha256_must_match_the_body() {
    let v = VECTORS.iter().find(|v| v.scheme == "twilio" && v.path.contains("bodySHA256")).unwrap();
    let c = check(&format!(r#"{{"scheme":"twilio","secrets":[{{"value":"{}"}}]}}"#, v.secret));
    let h = req(NOW, v.method, v.path, v.headers);
    assert_eq!(c.verify(&h, v.body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&h, b"{}"), Err(Denial::SignatureMismatch));
}

// SendGrid's event webhook library test vector (the Node and Python helpers' tests).
pub(super) const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
pub(super) const SENDGRID_SIGNATURE: &str =
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
pub(super) const SENDGRID_BODY: &[u8] =
    br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;

#[test]
fn sendgrid_published_vector() {
    let (key, sig, body) = (SENDGRID_KEY, SENDGRID_SIGNATURE, SENDGRID_BODY);
    let c = check(&format!(r#"{{"scheme":"sendgrid","public_keys":[{{"id":"sg","value":"{key}"}}]}}"#));
    let pairs =
        [("x-twilio-email-event-webhook-signature", sig), ("x-twilio-email-event-webhook-timestamp", "1588788367")];
    assert_eq!(c.verify(&req(1_588_788_367, "POST", "/sg", &pairs), body), Ok("sg"));
    assert_eq!(
        c.verify(&req(1_588_788_367, "POST", "/sg", &pairs), &tamper_body(std::str::from_utf8(body).unwrap())),
        Err(Denial::SignatureMismatch)
    );
    let other_ts = [pairs[0], ("x-twilio-email-event-webhook-timestamp", "1588788368")];
    assert_eq!(c.verify(&req(1_588_788_367, "POST", "/sg", &other_ts), body), Err(Denial::SignatureMismatch));
    assert_eq!(c.verify(&req(1_588_788_367 + 301, "POST", "/sg", &pairs), body), Err(Denial::TimestampOutOfTolerance));
    assert!(compile_err(r#"{"scheme":"sendgrid","public_keys":[{"value":"bm90IGEga2V5"}]}"#)
        .starts_with("sig.public_keys[0]: a P-256 public key is"));
    assert!(compile_err(r#"{"scheme":"sendgrid","secrets":[{"value":"k"}]}"#)
        .starts_with("sig.secrets: scheme \"sendgrid\" verifies with public keys"));
}

// Generated by a Python script (hmac, hashlib, base64, json from the standard library) from each
// provider's documented recipe: tests/e2e/signing.py holds the same recipes.
pub(super) const VECTORS: &[Vector] = &[
    Vector { scheme: "github", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature-256", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "stripe", secret: "whsec_test", method: "POST", path: "/hook", headers: &[("stripe-signature", "t=1700000000,v1=8f5065aae17d4b5c55b5a0412ade12e154e0a925f684840cc10634de01c701aa")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["stripe-signature"] },
    Vector { scheme: "slack", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-slack-signature", "v0=fdc8b4afff3cc9f591cce0e464f440f2d20e4213e6ffe47d016a0c1c7ce1ba93"), ("x-slack-request-timestamp", "1700000000")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-slack-request-timestamp"] },
    Vector { scheme: "shopify", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-shopify-hmac-sha256", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk="), ("x-shopify-topic", "orders/create"), ("x-shopify-shop-domain", "example.myshopify.com"), ("x-shopify-api-version", "2025-10"), ("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "standard", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["webhook-id", "webhook-timestamp"] },
    Vector { scheme: "svix", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("svix-id", "msg_1"), ("svix-timestamp", "1700000000"), ("svix-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["svix-id", "svix-timestamp"] },
    Vector { scheme: "clerk", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("svix-id", "msg_1"), ("svix-timestamp", "1700000000"), ("svix-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["svix-id", "svix-timestamp"] },
    Vector { scheme: "resend", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("svix-id", "msg_1"), ("svix-timestamp", "1700000000"), ("svix-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["svix-id", "svix-timestamp"] },
    Vector { scheme: "gitlab", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-gitlab-token", "test-secret-0123456789")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-gitlab-token"] },
    Vector { scheme: "bitbucket", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "twilio", secret: "test-secret-0123456789", method: "POST", path: "/hook?x=1", headers: &[("x-twilio-signature", "VJfgCgaaUXvtZ46cmRVtvtNEk6M="), ("content-type", "application/x-www-form-urlencoded")], body: "To=%2B18005551212&From=%2B12349013030&Body=Hello+world&Digits=1234&MessageSid=SM123", signed_headers: &[] },
    Vector { scheme: "twilio", secret: "test-secret-0123456789", method: "POST", path: "/hook?bodySHA256=793ba325e997d75e9d5f462d8809a460a9a2c55489e99745f28b644984b5dec8", headers: &[("x-twilio-signature", "/C/wNtzErWvK8ZhWj8qu0vs8KZc=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "square", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-square-hmacsha256-signature", "/LSuaY2vOv26y1zVf6WoZtlaJHdVgJrf35Xq2/a3SOg=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "zoom", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-zm-signature", "v0=fdc8b4afff3cc9f591cce0e464f440f2d20e4213e6ffe47d016a0c1c7ce1ba93"), ("x-zm-request-timestamp", "1700000000")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-zm-request-timestamp"] },
    Vector { scheme: "paddle", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("paddle-signature", "ts=1700000000;h1=3a0736f0cfbfa8943f9d7400655de340edebe19de0d0938047443fcb7fbbfbdc")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["paddle-signature"] },
    Vector { scheme: "linear", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("linear-signature", "0895f3c5f40649a4a29af9f9cdf479639bf1244cedf8b3d1ebaa7d22098d70af")], body: "{\"action\":\"create\",\"type\":\"Issue\",\"webhookTimestamp\":1700000000123}", signed_headers: &[] },
    Vector { scheme: "intercom", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature", "sha1=9d3d1a6282747e1c1135afe9d83821b1e5e3cf17")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "hubspot", secret: "test-secret-0123456789", method: "POST", path: "/hook?portal=1&email=a%40b.com&q=%2Fx%3Ay", headers: &[("x-hubspot-signature-v3", "LRAGeZGP4AohHIYKA0Mvw7k6cbb1RauJaH3GpSUShJQ="), ("x-hubspot-request-timestamp", "1700000000123")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-hubspot-request-timestamp"] },
    Vector { scheme: "typeform", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("typeform-signature", "sha256=fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "calendly", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("calendly-webhook-signature", "t=1700000000,v1=0d7aec94fd514a161a96d778c0ebb21ae27f6246694ece01d02942ce9f1a7d5c")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["calendly-webhook-signature"] },
    Vector { scheme: "pagerduty", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-pagerduty-signature", "v1=0000000000000000000000000000000000000000000000000000000000000000,v1=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "twitch", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("twitch-eventsub-message-id", "e76c6bd4-55c9-4987-8304-da1588d8988b"), ("twitch-eventsub-message-timestamp", "2023-11-14T22:13:20.123456789Z"), ("twitch-eventsub-message-signature", "sha256=cc10594b698d16862b05551bc125fe28b8ec448ac46d4e8ff82416796316f149")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["twitch-eventsub-message-id", "twitch-eventsub-message-timestamp"] },
    Vector { scheme: "meta", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature-256", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "facebook", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature-256", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "instagram", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature-256", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "whatsapp", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature-256", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "sentry", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("sentry-hook-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "vercel", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-vercel-signature", "9d3d1a6282747e1c1135afe9d83821b1e5e3cf17")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "lemonsqueezy", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "razorpay", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-razorpay-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "mux", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("mux-signature", "t=1700000000,v1=0d7aec94fd514a161a96d778c0ebb21ae27f6246694ece01d02942ce9f1a7d5c")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["mux-signature"] },
    Vector { scheme: "segment", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-signature", "9d3d1a6282747e1c1135afe9d83821b1e5e3cf17")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "circleci", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("circleci-signature", "v1=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "docusign", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-docusign-signature-1", "CiQen7oRZK54+eeSeMbZoRtisWBOIBIFTZviUm70Nm0="), ("x-docusign-signature-2", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "dropbox", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-dropbox-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "box", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256"), ("box-delivery-timestamp", "2023-11-14T22:13:20.123456789Z"), ("box-signature-primary", "39wGJM/eWHJEZHkmZ4fximieQb1fCeNZuY4S2S0lf8A="), ("box-signature-secondary", "E1OmJlc8aAaeE/+2tglEEQ1T+nXKmMd5YrFXEYQ3BIg=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["box-delivery-timestamp"] },
    Vector { scheme: "coinbase", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-cc-webhook-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "jira", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hub-signature", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "webex", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-spark-signature", "9d3d1a6282747e1c1135afe9d83821b1e5e3cf17")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "microsoft_teams", secret: "dGVhbXMgb3V0Z29pbmcgd2ViaG9vayB0b2tlbiEh", method: "POST", path: "/hook", headers: &[("authorization", "HMAC 7spjmr3JdvhOCuYCjaX6dHutzhC/xQS9CgwDuUoHl7k=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "twitter", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-twitter-webhooks-signature", "sha256=fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "xero", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-xero-signature", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "mailgun", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[], body: "{\"signature\":{\"timestamp\":\"1700000000\",\"token\":\"a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0\",\"signature\":\"b220404c5cea91a76dcb90cfe32d54f96a0dfab963611622910fe867aa638afc\"},\"event-data\":{\"event\":\"delivered\"}}", signed_headers: &[] },
    Vector { scheme: "workos", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("workos-signature", "t=1700000000123, v1=783b222bda85c949f341ae2999af8cf136ce4421a76d1f0f2d167023f69dd247")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["workos-signature"] },
    Vector { scheme: "zendesk", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-zendesk-webhook-signature", "MJZ1d3yQyOpto+u1AoKwJVtW/eNdn+pe3hlw3GSPAS0="), ("x-zendesk-webhook-signature-timestamp", "2023-11-14T22:13:20Z")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-zendesk-webhook-signature-timestamp"] },
    Vector { scheme: "trello", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-trello-webhook", "uWy8zQu3rHH121CLCMdOB8sg35U=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "mandrill", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-mandrill-signature", "luL+9YF49+IyDXqV1rg7+j2hRpI="), ("content-type", "application/x-www-form-urlencoded")], body: "mandrill_events=%5B%7B%22event%22%3A%22send%22%7D%5D", signed_headers: &[] },
    Vector { scheme: "gitea", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-gitea-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "terraform", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-tfe-notification-signature", "91a3b9c2f8774874d8a490262c7d2ee67a0f82c8562d957605f0fc83fa3904c9c07809272f0a5487fc306775ba1abf19f4f6a35484a53ab5ddb67d5bf1b35afb")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "buildkite", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-buildkite-signature", "timestamp=1700000000,signature=0d7aec94fd514a161a96d778c0ebb21ae27f6246694ece01d02942ce9f1a7d5c")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-buildkite-signature"] },
    Vector { scheme: "calcom", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-cal-signature-256", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "airtable", secret: "YWlydGFibGUgbWFjIHNlY3JldCAwMTIzNDU2Nzg5YWI=", method: "POST", path: "/hook", headers: &[("x-airtable-content-mac", "hmac-sha256=103e0f9dd6ac0dcf108bf77f030cef61bc3cba1d19dbc8ca45d3dcd2cc04b785")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "notion", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-notion-signature", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "customerio", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-cio-signature", "fdc8b4afff3cc9f591cce0e464f440f2d20e4213e6ffe47d016a0c1c7ce1ba93"), ("x-cio-timestamp", "1700000000")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-cio-timestamp"] },
    Vector { scheme: "checkout", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("cko-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "woocommerce", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-wc-webhook-signature", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "webflow", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-webflow-signature", "5e05c5d2a9aea391e363889707311f64036592fb261bfce5dbad8a27b762d313"), ("x-webflow-timestamp", "1700000000123")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-webflow-timestamp"] },
    Vector { scheme: "mollie", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-mollie-signature", "sha256=7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "onfido", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-sha2-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "tally", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("tally-signature", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "paystack", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-paystack-signature", "91a3b9c2f8774874d8a490262c7d2ee67a0f82c8562d957605f0fc83fa3904c9c07809272f0a5487fc306775ba1abf19f4f6a35484a53ab5ddb67d5bf1b35afb")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "heroku", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("heroku-webhook-hmac-sha256", "fefVDQquEHadDLEXiwlElys3/yg/uDrGnFsinB8yutk=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "launchdarkly", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-ld-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "helpscout", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-helpscout-signature", "nT0aYoJ0fhwRNa/p2DghseXjzxc=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "asana", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hook-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "alchemy", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-alchemy-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "dwolla", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-request-signature-sha-256", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "replicate", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["webhook-id", "webhook-timestamp"] },
    Vector { scheme: "openai", secret: "whsec_c3RhbmRhcmQgd2ViaG9va3Mga2V5IDAxMjM0NTY3", method: "POST", path: "/hook", headers: &[("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", "v1,Da15/BAEOcik1WdQtipdzJUYLDUBGaaqCdFI6gEBzgE=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["webhook-id", "webhook-timestamp"] },
    Vector { scheme: "brex", secret: "YnJleCB3ZWJob29rIHNlY3JldCAwMTIzNDU2Nzg5YWI=", method: "POST", path: "/hook", headers: &[("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", "v1,6+K6Gt1DnpRpLa/vhsFtvZkPagir/ayWGUtgiipgVC8=")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["webhook-id", "webhook-timestamp"] },
    Vector { scheme: "sinch", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-sinch-webhook-signature", "xaDNGN0W9oXzoqkHg0xZ/vKTuK2Nbd9mXsqpNg3Mpo4="), ("x-sinch-webhook-signature-nonce", "01FJA8B4A7BM43YGWSG9GBV067"), ("x-sinch-webhook-signature-timestamp", "1700000000")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-sinch-webhook-signature-nonce", "x-sinch-webhook-signature-timestamp"] },
    Vector { scheme: "front", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-front-signature", "XgXF0qmuo5HjY4iXBzEfZANlkvsmG/zl262KJ7di0xM="), ("x-front-request-timestamp", "1700000000123")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-front-request-timestamp"] },
// Coinify: the example on its webhook-signature page.
    Vector { scheme: "gocardless", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("webhook-signature", "7de7d50d0aae10769d0cb1178b0944972b37ff283fb83ac69c5b229c1f32bad9")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "coinify", secret: "my-shared-secret", method: "POST", path: "/hook", headers: &[("x-coinify-webhook-signature", "bcdbb89e3031905f3cc1a20d16b5f969a17a7d8fa0c26e4a807c2193402d66f4")], body: "{\"examplePayload\":true}", signed_headers: &[] },
    Vector { scheme: "cashfree", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-webhook-signature", "9k6XRSAWD0jajBUGtVltC4dmLtdGJoPM89u+7lZFveo="), ("x-webhook-timestamp", "1700000000123")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["x-webhook-timestamp"] },
    Vector { scheme: "hubspot_v1", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[("x-hubspot-signature", "b6f9154029e14539ecec2f1eaea6ea3b3efda7f3d8efc3d744aba9c926836b6c"), ("x-hubspot-signature-version", "v1")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "hubspot_v2", secret: "test-secret-0123456789", method: "POST", path: "/hook?portalId=62515", headers: &[("x-hubspot-signature", "6192baee10502a9bd18ab70d4a9b5b23d3eb8a9dff3111989ad2d2e7ed1fe4ec"), ("x-hubspot-signature-version", "v2")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &[] },
    Vector { scheme: "okta", secret: "Bearer okta-hook-secret-0123", method: "POST", path: "/hook", headers: &[("authorization", "Bearer okta-hook-secret-0123")], body: "{\"id\":\"evt_1\",\"amount\":4200,\"note\":\"héllo\"}", signed_headers: &["authorization"] },
    // Computed with the adyen SDK (PyPI 16.0.0, Adyen.util.generate_notification_sig).
    Vector { scheme: "adyen", secret: "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056", method: "POST", path: "/hook", headers: &[], body: "{\"notificationItems\":[{\"NotificationRequestItem\":{\"additionalData\":{\"hmacSignature\":\"4rg6bgAP89ufbd2YOuqGWUqPRI/KekuK8t3L53I2rYs=\"},\"amount\":{\"currency\":\"EUR\",\"value\":1130},\"eventCode\":\"AUTHORISATION\",\"eventDate\":\"2024-01-01T01:00:00+01:00\",\"merchantAccountCode\":\"YOUR_MERCHANT_ACCOUNT\",\"merchantReference\":\"YOUR_MERCHANT_REFERENCE\",\"pspReference\":\"YOUR_PSP_REFERENCE\",\"reason\":\"null\",\"success\":\"true\"}}],\"live\":\"false\"}", signed_headers: &[] },
    Vector { scheme: "figma", secret: "test-secret-0123456789", method: "POST", path: "/hook", headers: &[], body: "{\"event_type\":\"FILE_UPDATE\",\"file_key\":\"TpPXWr0lMZGyQuvAhj7ELL\",\"passcode\":\"test-secret-0123456789\",\"webhook_id\":\"22\"}", signed_headers: &[] },
];

// Signed with PyNaCl (libsodium), seed 00 01 .. 1f: Discord signs timestamp + body.
#[test]
fn discord_ed25519_vector() {
    let pk = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
    let c = check(&format!(r#"{{"scheme":"discord","public_keys":[{{"id":"app","value":"{pk}"}}]}}"#));
    let sig = "e35e62cc07905d3b001167f2c17c78195b90ac37154a91d2915f2b5d047aca699a7d85ee9dd4a4e5efe3f99edc37f499826333159c0b8ab6b4cfd5806bbd7400";
    let body = br#"{"type":1,"id":"ping"}"#;
    let h = |ts: &str, s: &str| req(NOW, "POST", "/i", &[("x-signature-ed25519", s), ("x-signature-timestamp", ts)]);
    assert_eq!(c.verify(&h("1700000000", sig), body), Ok("app"));
    assert_eq!(c.verify(&h("1700000001", sig), body), Err(Denial::SignatureMismatch));
    assert_eq!(c.verify(&h("1700000000", sig), br#"{"type":2,"id":"ping"}"#), Err(Denial::SignatureMismatch));
    // Discord probes endpoints with invalid signatures: they are refused, never forwarded.
    let flipped = format!("{}1", &sig[..127]);
    assert_eq!(c.verify(&h("1700000000", &flipped), body), Err(Denial::SignatureMismatch));
    assert_eq!(c.verify(&h("1700000000", &sig[..64]), body), Err(Denial::SignatureMalformed));
    assert!(compile_err(r#"{"scheme":"discord","public_keys":[{"value":"abcd"}]}"#)
        .starts_with("sig.public_keys[0]: an Ed25519 public key is 32 bytes"));
}

// Standard Webhooks v1a, signed with PyNaCl (same seed): Ed25519 over id.timestamp.body,
// public key `whpk_` + base64. One route may hold v1 secrets and v1a public keys.
#[test]
fn standard_v1a_ed25519_vector() {
    let c = check(
        r#"{"scheme":"standard","secrets":[{"id":"hmac","value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}],
            "public_keys":[{"id":"ed","value":"whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}]}"#,
    );
    let v1a = "v1a,6p81NWZKrRh3GPo5MBtIaA/0NfVNny3+VLRKGl/lCpumTgAOd513cPeuzLtJu1ZF4GIrgqL3L9yQwP1aCKYhBw==";
    let body = br#"{"type":1,"id":"ping"}"#;
    let h = |id: &str, sig: &str| {
        req(NOW, "POST", "/s", &[("webhook-id", id), ("webhook-timestamp", "1700000000"), ("webhook-signature", sig)])
    };
    assert_eq!(c.verify(&h("msg_1", v1a), body), Ok("ed"));
    assert_eq!(c.verify(&h("msg_2", v1a), body), Err(Denial::SignatureMismatch));
    let both = format!("v1,{} {v1a}", "A".repeat(43) + "=");
    assert_eq!(c.verify(&h("msg_1", &both), body), Ok("ed"));
    // Secrets only: a v1a signature is skipped like an unknown version.
    let hmac_only = check(r#"{"scheme":"standard","secrets":[{"value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}"#);
    assert_eq!(hmac_only.verify(&h("msg_1", v1a), body), Err(Denial::SignatureMissing));
    let pk_only =
        check(r#"{"scheme":"standard","public_keys":[{"value":"whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}]}"#);
    assert_eq!(pk_only.verify(&h("msg_1", v1a), body), Ok("0"));
}

// Sinch's own SDK test vector (Sinch.Tests, Conversation webhooks): secret
// "foo_secret1234", HMAC-SHA256 over `<body>.<nonce>.<timestamp>`, base64.
#[test]
fn sinch_sdk_vector() {
    let c = check(r#"{"scheme":"sinch","secrets":[{"value":"foo_secret1234"}],"tolerance_seconds":86400}"#);
    let body = r#"{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4","contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}"#;
    let h = |nonce: &str| {
        req(
            1_634_579_353,
            "POST",
            "/s",
            &[
                ("x-sinch-webhook-signature-nonce", nonce),
                ("x-sinch-webhook-signature-timestamp", "1634579353"),
                ("x-sinch-webhook-signature", "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="),
            ],
        )
    };
    assert_eq!(c.verify(&h("01FJA8B4A7BM43YGWSG9GBV067"), body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&h("01FJA8B4A7BM43YGWSG9GBV068"), body.as_bytes()), Err(Denial::SignatureMismatch));
}

// hubspot-api-client's own signature tests: client secret
// "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"; v1 is SHA-256 of secret + body, v2 of secret +
// method + URL + body (a GET has no body).
#[test]
fn hubspot_v1_and_v2_sdk_vectors() {
    let secret = r#"[{"value":"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"}]"#;
    let v1 = check(&format!(r#"{{"scheme":"hubspot_v1","secrets":{secret}}}"#));
    let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    fn sig<'a>(s: &'a str, version: &'a str) -> [(&'a str, &'a str); 2] {
        [("x-hubspot-signature", s), ("x-hubspot-signature-version", version)]
    }
    let h = req(NOW, "POST", "/h", &sig("232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de", "v1"));
    assert_eq!(v1.verify(&h, body), Ok("0"));
    assert_eq!(v1.verify(&h, &tamper_body(std::str::from_utf8(body).unwrap())), Err(Denial::SignatureMismatch));

    let public = "https://www.example.com/webhook_uri";
    let v2 = check(&format!(r#"{{"scheme":"hubspot_v2","secrets":{secret},"public_url":"{public}"}}"#));
    let post = req(NOW, "POST", "/h", &sig("9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900", "v2"));
    assert_eq!(v2.verify(&post, br#"{"example_field":"example_value"}"#), Ok("0"));
    assert_eq!(v2.verify(&post, br#"{"example_field":"example_valuf"}"#), Err(Denial::SignatureMismatch));
    let get = req(NOW, "GET", "/h", &sig("eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e", "v2"));
    assert_eq!(v2.verify(&get, b""), Ok("0"));
    // A v1 signature is not a v2 one (the method and URL are missing), and a v1 route
    // checks only what declares itself v1, as the SDK verifies the version it is given.
    let v1_sig = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
    assert_eq!(v2.verify(&req(NOW, "POST", "/h", &sig(v1_sig, "v2")), body), Err(Denial::SignatureMismatch));
    assert!(v1.verify(&req(NOW, "POST", "/h", &sig(v1_sig, "v2")), body).is_err());
    assert!(v1.verify(&req(NOW, "POST", "/h", &[("x-hubspot-signature", v1_sig)]), body).is_err());
    let upper = v1_sig.to_uppercase();
    assert!(v1.verify(&req(NOW, "POST", "/h", &sig(&upper, "v1")), body).is_err(), "the SDK compares lower-case hex");
}

#[test]
fn generic_digest_hashes_the_secret_where_the_template_says() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"s3cret"}],"header":"X-Sig","algorithm":"digest_sha256",
            "signed_payload":"{method}|{secret}|{body}"}"#,
    );
    use sha2::Digest;
    let good = hex_encode(&sha2::Sha256::digest(b"POST|s3cret|body"));
    assert_eq!(c.verify(&req(NOW, "POST", "/", &[("x-sig", &good)]), b"body"), Ok("0"));
    assert_eq!(c.verify(&req(NOW, "PUT", "/", &[("x-sig", &good)]), b"body"), Err(Denial::SignatureMismatch));
    // An HMAC of the same bytes is not the digest.
    let hmac = hex_encode(&mac(Mac::Sha256, b"s3cret", &[b"POST|s3cret|body"]));
    assert_eq!(c.verify(&req(NOW, "POST", "/", &[("x-sig", &hmac)]), b"body"), Err(Denial::SignatureMismatch));
    assert!(compile_err(r#"{"scheme":"generic","secrets":[{"value":"k"}],"algorithm":"digest_sha256"}"#)
        .starts_with("sig.signed_payload: a digest algorithm hashes the secret: the template must contain {secret}"));
    assert!(compile_err(
        r#"{"scheme":"generic","secrets":[{"value":"k"}],"algorithm":"digest_sha256","signed_payload":"{secret}{body}{secret}"}"#
    )
    .starts_with("sig.signed_payload: a digest algorithm hashes the secret"));
    assert!(compile_err(r#"{"scheme":"generic","secrets":[{"value":"k"}],"signed_payload":"{secret}{body}"}"#)
        .starts_with("sig.signed_payload: {secret} belongs to a digest algorithm"));
    // The secret is in no message about the key.
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn figma_passcode_in_the_body_is_compared_whole() {
    let c = check(r#"{"scheme":"figma","secrets":[{"value":"figma-pass-1"}]}"#);
    let body = |p: &str| format!(r#"{{"event_type":"PING","passcode":"{p}","webhook_id":"22"}}"#);
    let at = req(NOW, "POST", "/f", &[]);
    assert_eq!(c.verify(&at, body("figma-pass-1").as_bytes()), Ok("0"));
    for bad in ["figma-pass-", "figma-pass-12", "FIGMA-PASS-1"] {
        assert_eq!(c.verify(&at, body(bad).as_bytes()), Err(Denial::SignatureMismatch), "{bad:?}");
    }
    assert_eq!(c.verify(&at, br#"{"event_type":"PING"}"#), Err(Denial::SignatureMissing));
    let twice = r#"{"passcode":"figma-pass-1","passcode":"other"}"#;
    assert_eq!(c.verify(&at, twice.as_bytes()), Err(Denial::PayloadDuplicateKey));
}

#[test]
fn okta_verification_get_is_answered_only_with_the_hook_secret() {
    let c = check(r#"{"scheme":"okta","secrets":[{"id":"hook","value":"Bearer okta-1"}]}"#);
    let get = |auth: &str| {
        req(NOW, "GET", "/o", &[("authorization", auth), ("x-okta-verification-challenge", "X8bqAq2wF4Rx1dQf")])
    };
    let (reply, key) = c.handshake(&get("Bearer okta-1"), b"").unwrap().unwrap();
    assert_eq!((reply.body.as_str(), key), (r#"{"verification":"X8bqAq2wF4Rx1dQf"}"#, Some("hook")));
    assert_eq!(c.handshake(&get("Bearer okta-2"), b"").unwrap().unwrap_err(), Denial::SignatureMismatch);
    assert_eq!(c.handshake_method(), Some("GET"));
}

// The hapi-dropbox-webhooks library's test vector: secret "the_secret".
#[test]
fn dropbox_library_vector() {
    let c = check(r#"{"scheme":"dropbox","secrets":[{"value":"the_secret"}]}"#);
    let sig = "0a8c16b085420b960dc78664279fe09e936a2a01b1f91064869d9e77dfd64529";
    let h = req(NOW, "POST", "/d", &[("x-dropbox-signature", sig)]);
    assert_eq!(c.verify(&h, br#"{"delta": {"users": [12345]}}"#), Ok("0"));
    assert_eq!(c.verify(&h, br#"{"delta": {"users": [12346]}}"#), Err(Denial::SignatureMismatch));
}

// Mollie's validators (PHP and TypeScript SDKs) take every value of X-Mollie-Signature,
// each with or without `sha256=`, and pass when one is the lower-case hex HMAC.
#[test]
fn mollie_takes_every_value_of_its_signature_header() {
    let body = b"{\"id\":\"evt_1\",\"amount\":4200}";
    let c = check(r#"{"scheme":"mollie","secrets":[{"value":"new-secret"}]}"#);
    let new = hex_encode(&mac(Mac::Sha256, b"new-secret", &[body]));
    let old = hex_encode(&mac(Mac::Sha256, b"old-secret", &[body]));
    let at = |pairs: &[(&str, &str)]| req(NOW, "POST", "/m", pairs);
    let (new_p, old_p) = (format!("sha256={new}"), format!("sha256={old}"));
    // During a rotation: one header per secret, in either order.
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &old_p), ("x-mollie-signature", &new_p)]), body), Ok("0"));
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &new_p), ("x-mollie-signature", &old_p)]), body), Ok("0"));
    // Without the prefix, as the validators also read it.
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &new)]), body), Ok("0"));
    // None of them ours, or one of them not hex: refused.
    assert_eq!(
        c.verify(&at(&[("x-mollie-signature", &old_p), ("x-mollie-signature", &old_p)]), body),
        Err(Denial::SignatureMismatch)
    );
    assert_eq!(
        c.verify(&at(&[("x-mollie-signature", &new_p), ("x-mollie-signature", "sha256=zz")]), body),
        Err(Denial::SignatureMalformed)
    );
    // Both joined in one value (a framework's comma join) is no signature.
    let joined = format!("{new_p}, {old_p}");
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &joined)]), body), Err(Denial::SignatureMalformed));
    // Upper-case hex: the validators compare strings.
    let upper = format!("sha256={}", new.to_uppercase());
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &upper)]), body), Err(Denial::SignatureMalformed));
    // The body changed: refused.
    assert_eq!(c.verify(&at(&[("x-mollie-signature", &new_p)]), b"{}"), Err(Denial::SignatureMismatch));
    // Every other preset still refuses its signature header twice.
    let gh = check(r#"{"scheme":"github","secrets":[{"value":"new-secret"}]}"#);
    let two = [("x-hub-signature-256", new_p.as_str()), ("x-hub-signature-256", new_p.as_str())];
    assert_eq!(gh.verify(&at(&two), body), Err(Denial::SignatureRepeated));
    let gc = check(r#"{"scheme":"gocardless","secrets":[{"value":"new-secret"}]}"#);
    let two = [("webhook-signature", new.as_str()), ("webhook-signature", new.as_str())];
    assert_eq!(gc.verify(&at(&two), body), Err(Denial::SignatureRepeated));
}

// Linear's SDK compares its lower-case hex digest as a string and allows a minute either way.
#[test]
fn linear_is_as_strict_as_its_sdk() {
    let v = VECTORS.iter().find(|v| v.scheme == "linear").unwrap();
    let c = check(&format!(r#"{{"scheme":"linear","secrets":[{{"value":"{}"}}]}}"#, v.secret));
    let sig = v.headers[0].1;
    let at = |now: u64, s: &str| req(now, "POST", "/hook", &[("linear-signature", s)]);
    let t = 1_700_000_000;
    assert_eq!(c.verify(&at(t, sig), v.body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&at(t, &sig.to_uppercase()), v.body.as_bytes()), Err(Denial::SignatureMalformed));
    assert_eq!(c.verify(&at(t + 60, sig), v.body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&at(t + 62, sig), v.body.as_bytes()), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(c.verify(&at(t - 62, sig), v.body.as_bytes()), Err(Denial::TimestampOutOfTolerance));
}

// Buildkite's page: `timestamp=<ts>,signature=<hex>`, its example trimming the items and
// comparing lower-case hex strings.
#[test]
fn buildkite_reads_its_header_as_the_page_does() {
    let v = VECTORS.iter().find(|v| v.scheme == "buildkite").unwrap();
    let c = check(&format!(r#"{{"scheme":"buildkite","secrets":[{{"value":"{}"}}]}}"#, v.secret));
    let sig = v.headers[0].1.split("signature=").nth(1).unwrap();
    let at = |h: &str| req(1_700_000_000, "POST", "/hook", &[("x-buildkite-signature", h)]);
    let body = v.body.as_bytes();
    assert_eq!(c.verify(&at(&format!("timestamp=1700000000,signature={sig}")), body), Ok("0"));
    assert_eq!(c.verify(&at(&format!("timestamp=1700000000, signature={sig}")), body), Ok("0"));
    for refused in [
        format!("timestamp=1700000000,signature={}", sig.to_uppercase()),
        format!("signature={sig},timestamp=1700000000"),
        format!("timestamp=1700000000,signature={},signature={sig}", "0".repeat(64)),
        format!("timestamp=1700000000,signature={sig},v1=abc"),
    ] {
        assert_eq!(c.verify(&at(&refused), body), Err(Denial::SignatureMalformed), "{refused}");
    }
}
