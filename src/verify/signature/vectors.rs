//! Known-answer tests: one vector per preset (the provider's published example where
//! there is one), tampering refused, and `generic` expressing the whole model.
//!
//! Vectors marked "computed" were made with Python's `hmac`/`hashlib` (or the named
//! library) from the provider's documented recipe, outside this code base.

use super::*;
use crate::request::Headers;
use crate::verify::encoding::hex_encode;
use base64::Engine;

fn no_env(_: &str) -> Option<String> {
    None
}

pub(super) fn check(json: &str) -> SignatureCheck {
    let c: SignatureConfig = crate::wire::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    SignatureCheck::compile(&c, "sig", &no_env).unwrap_or_else(|e| panic!("{e}"))
}

fn compile_err(json: &str) -> String {
    let c: SignatureConfig = crate::wire::from_str(json).unwrap();
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
        (r#""list":{"separator":",,"}"#, "sig.list.separator: \",,\" must be one printable character"),
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
    for name in presets::NAMES {
        let p = presets::preset(name).unwrap();
        let s = &p.schemes[0];
        let keys = if s.algorithms().iter().all(|a| a.is_public_key()) {
            r#""public_keys":[{"value":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"}]"#
        } else {
            r#""secrets":[{"value":"whsec_c2VjcmV0"}]"#
        };
        check(&format!(r#"{{"scheme":"{name}",{keys}}}"#));
    }
}
