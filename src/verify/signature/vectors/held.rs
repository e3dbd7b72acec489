//! Vectors of presets held to their providers' own verifiers: Telnyx (telnyx on PyPI)
//! and Replicate (replicate on PyPI).

use super::*;

// Signed with PyNaCl (libsodium), seed 00 01 .. 1f: Telnyx signs `<timestamp>|<body>` and
// shows its public key in base64.
#[test]
fn telnyx_ed25519_vector() {
    let c = check(
        r#"{"scheme":"telnyx","public_keys":[{"id":"acct","value":"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="}]}"#,
    );
    let sig = "JbAGRWvL20+xCypSLYmk4ShKUQtjS4fHHYHodE7iF+P59C+CPEXZisQK1/JriDbk5/bP9GjkGQwX5jpFBmwfAg==";
    let body = br#"{"data":{"event_type":"message.received","id":"b301ed3f"}}"#;
    let h = |ts: &str| req(NOW, "POST", "/t", &[("telnyx-signature-ed25519", sig), ("telnyx-timestamp", ts)]);
    assert_eq!(c.verify(&h("1700000000"), body), Ok("acct"));
    assert_eq!(c.verify(&h("1700000001"), body), Err(Denial::SignatureMismatch));
    assert_eq!(
        c.verify(&h("1700000000"), br#"{"data":{"event_type":"message.received","id":"b301ed3e"}}"#),
        Err(Denial::SignatureMismatch)
    );
    let at =
        |clock: u64| req(clock, "POST", "/t", &[("telnyx-signature-ed25519", sig), ("telnyx-timestamp", "1700000000")]);
    assert_eq!(c.verify(&at(NOW + 301), body), Err(Denial::TimestampOutOfTolerance));
    // Telnyx's verifiers allow 300 s each way: a timestamp 299 s ahead passes, 301 s does not.
    assert_eq!(c.verify(&at(NOW - 299), body), Ok("acct"));
    assert_eq!(c.verify(&at(NOW - 301), body), Err(Denial::TimestampOutOfTolerance));
    // The body must be UTF-8, as Telnyx's Python verifier decodes it before it verifies.
    assert_eq!(c.verify(&h("1700000000"), b"{\"a\":\"\xff\"}"), Err(Denial::SignatureMalformed));
    assert!(compile_err(r#"{"scheme":"telnyx","secrets":[{"value":"k"}]}"#)
        .starts_with("sig.secrets: scheme \"telnyx\" verifies with public keys"));
}

// Replicate's validator (replicate on PyPI) reads the body as text and refuses an empty one;
// it sets no window, so ahead of our clock the shared allowance for skew applies.
#[test]
fn replicate_wants_a_text_body_and_allows_skew_ahead() {
    let v = VECTORS.iter().find(|v| v.scheme == "replicate").unwrap();
    let c = check(&format!(r#"{{"scheme":"replicate","secrets":[{{"value":"{}"}}]}}"#, v.secret));
    let at = |clock: u64| req(clock, "POST", "/hook", v.headers);
    assert_eq!(c.verify(&at(NOW), v.body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&at(NOW - presets::CLOCK_SKEW_SECONDS), v.body.as_bytes()), Ok("0"));
    assert_eq!(
        c.verify(&at(NOW - presets::CLOCK_SKEW_SECONDS - 1), v.body.as_bytes()),
        Err(Denial::TimestampOutOfTolerance)
    );
    assert_eq!(c.verify(&at(NOW + 300), v.body.as_bytes()), Ok("0"));
    assert_eq!(c.verify(&at(NOW + 301), v.body.as_bytes()), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(c.verify(&at(NOW), b""), Err(Denial::SignatureMalformed));
    assert_eq!(c.verify(&at(NOW), b"{\"a\":\"\xff\"}"), Err(Denial::SignatureMalformed));
}

// Replicate's validator checks HMAC signatures only: the preset takes no public keys.
#[test]
fn replicate_takes_shared_secrets_only() {
    let public = r#"[{"value":"whpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]"#;
    let alone = compile_err(&format!(r#"{{"scheme":"replicate","public_keys":{public}}}"#));
    assert!(alone.contains("missing field `secrets`"), "{alone}");
    let both = compile_err(&format!(
        r#"{{"scheme":"replicate","secrets":[{{"value":"whsec_c3RhbmRhcmQ="}}],"public_keys":{public}}}"#
    ));
    assert!(both.contains("verifies with shared secrets"), "{both}");
}
