use super::*;
use crate::request::Headers;
use base64::Engine;
use p256::ecdsa::signature::Signer as _;

const NOW: u64 = 1_700_000_000;
const KID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
const BODY: &[u8] = b"{\n  \"webhook_type\": \"TRANSACTIONS\",\n  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\"\n}";

fn b64u(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn signer(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

/// Plaid's answer for `kid` with the public half of `key`.
fn answer(key: &p256::ecdsa::SigningKey, kid: &str, expired_at: &str) -> String {
    let point = key.verifying_key().to_encoded_point(false);
    format!(
        r#"{{"key":{{"alg":"ES256","created_at":1560466143,"crv":"P-256","expired_at":{expired_at},"kid":"{kid}","kty":"EC","use":"sig","x":"{}","y":"{}"}},"request_id":"HvfCtrDLG1ihcp7"}}"#,
        b64u(point.x().unwrap()),
        b64u(point.y().unwrap())
    )
}

fn plaid_key(seed: u8) -> PlaidKey {
    read_key_answer(answer(&signer(seed), KID, "null").as_bytes(), KID).unwrap()
}

fn token(key: &p256::ecdsa::SigningKey, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64u(&sig.to_bytes()))
}

fn body_hash(body: &[u8]) -> String {
    hex_encode(&Sha256::digest(body))
}

fn genuine(iat: u64, body: &[u8]) -> String {
    token(
        &signer(1),
        &format!(r#"{{"alg":"ES256","kid":"{KID}","typ":"JWT"}}"#),
        &format!(r#"{{"iat":{iat},"request_body_sha256":"{}"}}"#, body_hash(body)),
    )
}

fn env(name: &str) -> Option<String> {
    match name {
        "PLAID_CLIENT_ID" => Some("client-1".into()),
        "PLAID_SECRET" => Some("s3cr\"et".into()),
        _ => None,
    }
}

fn compile(json: &str) -> Result<PlaidCheck, String> {
    let c: PlaidConfig = crate::wire::read_str(json).map_err(|e| e.to_string())?;
    PlaidCheck::compile(&c, "r.plaid", &env).map_err(|e| e.to_string())
}

fn check() -> PlaidCheck {
    compile(r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET"},"keys":{"cluster":"plaid_api"}}"#)
        .unwrap()
}

fn head(values: &[&str]) -> RequestHead {
    let pairs = values.iter().map(|v| ("Plaid-Verification".to_string(), v.as_bytes().to_vec())).collect();
    RequestHead::from_headers(Headers::new(pairs), None, NOW)
}

fn run(tok: &str, key: &PlaidKey, body: &[u8], now: u64) -> Result<(), Denial> {
    let c = check();
    let h = head(&[tok]);
    let t = c.read(&h)?;
    assert_eq!(t.kid, KID);
    c.verify(&t, key, body, now)
}

#[test]
fn a_genuine_webhook_verifies() {
    assert_eq!(run(&genuine(NOW, BODY), &plaid_key(1), BODY, NOW), Ok(()));
}

#[test]
fn another_key_or_a_changed_body_is_refused() {
    assert_eq!(run(&genuine(NOW, BODY), &plaid_key(2), BODY, NOW), Err(Denial::TokenSignatureMismatch));
    let mut body = BODY.to_vec();
    body.push(b'\n');
    assert_eq!(run(&genuine(NOW, BODY), &plaid_key(1), &body, NOW), Err(Denial::BodyHashMismatch));
    // The hash as Plaid's example compares it: lower-case hex, as a string.
    let upper = token(
        &signer(1),
        &format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#),
        &format!(r#"{{"iat":{NOW},"request_body_sha256":"{}"}}"#, body_hash(BODY).to_ascii_uppercase()),
    );
    assert_eq!(run(&upper, &plaid_key(1), BODY, NOW), Err(Denial::BodyHashMismatch));
    // A tampered signature.
    let mut t = genuine(NOW, BODY);
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'Q' } else { 'A' });
    assert!(run(&t, &plaid_key(1), BODY, NOW).is_err());
}

#[test]
fn iat_at_most_five_minutes_old_and_not_ahead() {
    let key = plaid_key(1);
    assert_eq!(run(&genuine(NOW - 300, BODY), &key, BODY, NOW), Ok(()));
    assert_eq!(run(&genuine(NOW - 301, BODY), &key, BODY, NOW), Err(Denial::TokenTooOld));
    assert_eq!(run(&genuine(NOW + 60, BODY), &key, BODY, NOW), Ok(()));
    assert_eq!(run(&genuine(NOW + 61, BODY), &key, BODY, NOW), Err(Denial::TokenNotYetValid));
    let no_iat = token(
        &signer(1),
        &format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#),
        &format!(r#"{{"request_body_sha256":"{}"}}"#, body_hash(BODY)),
    );
    assert_eq!(run(&no_iat, &key, BODY, NOW), Err(Denial::TokenIatMissing));
    let twice = token(
        &signer(1),
        &format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#),
        &format!(r#"{{"iat":{NOW},"iat":{NOW},"request_body_sha256":"{}"}}"#, body_hash(BODY)),
    );
    assert_eq!(run(&twice, &key, BODY, NOW), Err(Denial::TokenMalformed));
    let no_hash = token(&signer(1), &format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#), &format!(r#"{{"iat":{NOW}}}"#));
    assert_eq!(run(&no_hash, &key, BODY, NOW), Err(Denial::TokenMalformed));
}

#[test]
fn only_es256_with_a_kid_is_read() {
    let c = check();
    let claims = format!(r#"{{"iat":{NOW},"request_body_sha256":"{}"}}"#, body_hash(BODY));
    let read = |header: &str| {
        let t = token(&signer(1), header, &claims);
        c.read(&head(&[&t])).map(|t| t.kid)
    };
    assert_eq!(read(&format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#)), Ok(KID.to_string()));
    for alg in ["ES384", "RS256", "HS256", "none", "es256", "ES256 "] {
        assert_eq!(
            read(&format!(r#"{{"alg":"{alg}","kid":"{KID}"}}"#)),
            Err(Denial::TokenAlgorithmNotAllowed),
            "{alg}"
        );
    }
    assert_eq!(read(r#"{"alg":"ES256"}"#), Err(Denial::TokenKidMissing));
    assert_eq!(read(r#"{"alg":"ES256","kid":""}"#), Err(Denial::TokenMalformed));
    assert_eq!(read(r#"{"alg":"ES256","kid":"../../x"}"#), Err(Denial::TokenMalformed));
    assert_eq!(read(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, "a".repeat(65))), Err(Denial::TokenMalformed));
    assert_eq!(read(&format!(r#"{{"alg":"ES256","alg":"ES256","kid":"{KID}"}}"#)), Err(Denial::TokenMalformed));
    assert_eq!(read(&format!(r#"{{"alg":"ES256","kid":"{KID}","crit":["b64"]}}"#)), Err(Denial::TokenMalformed));
    assert_eq!(c.read(&head(&[])).map(|t| t.kid), Err(Denial::TokenMissing));
    let t = genuine(NOW, BODY);
    assert_eq!(c.read(&head(&[&t, &t])).map(|t| t.kid), Err(Denial::TokenRepeated));
    assert_eq!(c.read(&head(&["a.b"])).map(|t| t.kid), Err(Denial::TokenMalformed));
    assert_eq!(c.read(&head(&[&format!("Bearer {t}")])).map(|t| t.kid), Err(Denial::TokenMalformed));
}

#[test]
fn a_key_with_expired_at_is_refused() {
    // Plaid's example refuses a key once expired_at is set.
    let expired = read_key_answer(answer(&signer(1), KID, "1700000000").as_bytes(), KID).unwrap();
    assert_eq!(expired.expired_at, Some(1_700_000_000));
    assert_eq!(run(&genuine(NOW, BODY), &expired, BODY, NOW), Err(Denial::KeyExpired));
}

#[test]
fn key_answers_are_read_strictly() {
    let good = answer(&signer(1), KID, "null");
    assert!(read_key_answer(good.as_bytes(), KID).is_ok());
    assert_eq!(read_key_answer(good.as_bytes(), "other").err(), Some(KeyAnswerError::OtherKid));
    assert_eq!(read_key_answer(b"not json", KID).err(), Some(KeyAnswerError::NotJson));
    assert_eq!(read_key_answer(br#"{"request_id":"x"}"#, KID).err(), Some(KeyAnswerError::NoKey));
    assert_eq!(read_key_answer(br#"{"key":[]}"#, KID).err(), Some(KeyAnswerError::NoKey));
    let twice = good.replacen(r#""request_id""#, r#""kid":"a","kid""#, 0).replacen(
        "\"kty\":\"EC\"",
        "\"kty\":\"EC\",\"kty\":\"EC\"",
        1,
    );
    assert_eq!(read_key_answer(twice.as_bytes(), KID).err(), Some(KeyAnswerError::NoKey));
    let as_text = answer(&signer(1), KID, "\"1700000000\"");
    assert_eq!(read_key_answer(as_text.as_bytes(), KID).err(), Some(KeyAnswerError::BadExpiry));
    let p384 = good.replace("P-256", "P-384");
    assert_eq!(read_key_answer(p384.as_bytes(), KID).err(), Some(KeyAnswerError::Unusable));
    let rs = good.replace(r#""alg":"ES256""#, r#""alg":"ES384""#);
    assert_eq!(read_key_answer(rs.as_bytes(), KID).err(), Some(KeyAnswerError::Unusable));
    let private = good.replace(r#""use":"sig""#, r#""use":"sig","d":"AAAA""#);
    assert_eq!(read_key_answer(private.as_bytes(), KID).err(), Some(KeyAnswerError::Unusable));
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_ANSWER_BYTES));
    assert_eq!(read_key_answer(big.as_bytes(), KID).err(), Some(KeyAnswerError::TooLarge));
}

#[test]
fn the_key_request_carries_the_credentials_as_json_and_debug_hides_them() {
    let c = check();
    let body = String::from_utf8(c.key_request_body(KID)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["client_id"], "client-1");
    assert_eq!(parsed["secret"], "s3cr\"et");
    assert_eq!(parsed["key_id"], KID);
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cr") && !shown.contains("client-1"), "{shown}");
    assert_eq!(c.authority, "production.plaid.com");
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"UNSET"},"keys":{"cluster":"c"}}"#,
            "r.plaid.secret",
        ),
        (
            r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET"},"keys":{"cluster":" "}}"#,
            "r.plaid.keys.cluster: must name an Envoy cluster",
        ),
        (
            r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET"},"keys":{"cluster":"c","authority":"a/b"}}"#,
            "r.plaid.keys.authority: \"a/b\" is not a host name",
        ),
        (
            r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET"},"keys":{"cluster":"c","timeout_ms":0}}"#,
            "r.plaid.keys.timeout_ms: must be between",
        ),
        (
            r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET","not_after":"2030-01-01T00:00:00Z"},"keys":{"cluster":"c"}}"#,
            "r.plaid.secret.not_after",
        ),
        (r#"{"client_id":{"env":"PLAID_CLIENT_ID"},"secret":{"env":"PLAID_SECRET"}}"#, "missing field `keys`"),
        (r#"{"client_id":"x","secret":{"env":"PLAID_SECRET"},"keys":{"cluster":"c"}}"#, "client_id"),
    ];
    for (json, want) in cases {
        let got = compile(json).unwrap_err();
        assert!(got.contains(want), "{json}: {got}");
        assert!(!got.contains("s3cr"), "{got}");
    }
    let sandbox = compile(
        r#"{"client_id":{"value":"c"},"secret":{"value":"s"},"keys":{"cluster":"c","authority":"sandbox.plaid.com"}}"#,
    )
    .unwrap();
    assert_eq!(sandbox.authority, "sandbox.plaid.com");
}
