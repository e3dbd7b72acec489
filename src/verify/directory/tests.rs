use super::*;
use crate::request::Headers;
use crate::shared::MemoryStore;
use crate::verify::test_keys::{keys, rsa_certificate};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;

const NOW: u64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"WH-1"}"#;
const CERT: &str = "https://api-m.paypal.com/v1/notifications/certs/CERT-1";

fn head(pairs: &[(&str, String)]) -> RequestHead {
    let all = pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    RequestHead::from_headers(Headers::new(all), None, NOW)
}

fn paypal() -> PaypalCheck {
    let c = crate::wire::read_str(r#"{"webhook_id":"W1","certificates":{"cluster":"paypal_api","timeout_ms":700}}"#)
        .unwrap();
    PaypalCheck::compile(&c, "paypal").unwrap()
}

fn paypal_request(key: &rsa::RsaPrivateKey, url: &str) -> RequestHead {
    use rsa::signature::{SignatureEncoding, Signer};
    let time = "2023-11-14T22:13:20Z";
    let signed = crate::verify::paypal::signed_string(b"t-1", time.as_bytes(), "W1", BODY);
    let sig = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()).sign(&signed).to_bytes();
    head(&[
        ("paypal-transmission-id", "t-1".into()),
        ("paypal-transmission-time", time.into()),
        ("paypal-transmission-sig", base64::engine::general_purpose::STANDARD.encode(sig)),
        ("paypal-cert-url", url.into()),
        ("paypal-auth-algo", "SHA256withRSA".into()),
    ])
}

fn signing_cert(key: &rsa::RsaPublicKey) -> Arc<SigningCert> {
    Arc::new(crate::verify::x509::read_pem(&rsa_certificate(key)).unwrap())
}

#[test]
fn paypal_lacks_the_certificate_then_verifies_with_the_one_fetched() {
    let check = paypal();
    let req = paypal_request(&keys().0, CERT);
    let none = |_: &str| None;
    let Judged::Lacks(need) = check.judge(&req, BODY, &none) else { panic!("a certificate is lacking") };
    let Document::Certificate(doc) = need.document else { panic!("a certificate by URL") };
    assert_eq!(
        *doc,
        CertificateDoc {
            url: CERT.into(),
            cluster: "paypal_api".into(),
            authority: "api-m.paypal.com".into(),
            path: "/v1/notifications/certs/CERT-1".into(),
            timeout_ms: 700,
        }
    );
    let ours = signing_cert(&keys().0.to_public_key());
    let asked = std::cell::RefCell::new(Vec::new());
    let at_hand = |url: &str| {
        asked.borrow_mut().push(url.to_string());
        Some(ours.clone())
    };
    assert_eq!(check.judge(&req, BODY, &at_hand), Judged::Verdict(Ok(())));
    assert_eq!(asked.borrow().as_slice(), [CERT.to_string()]);
    assert_eq!(check.judge(&req, b"{}", &at_hand), Judged::Verdict(Err(Denial::SignatureMismatch)));
    // Another key, same URL: the fetched certificate refuses it.
    let forged = paypal_request(&keys().1, CERT);
    assert_eq!(check.judge(&forged, BODY, &at_hand), Judged::Verdict(Err(Denial::SignatureMismatch)));
    // A certificate past its validity refuses even a genuine message.
    let mut expired = (*ours).clone();
    expired.not_after = i64::try_from(NOW).unwrap() - 1;
    let old = |_: &str| Some(Arc::new(expired.clone()));
    assert_eq!(check.judge(&req, BODY, &old), Judged::Verdict(Err(Denial::KeyExpired)));
}

#[test]
fn paypal_never_wants_a_refused_url() {
    let req = paypal_request(&keys().0, "https://evil.example/v1/notifications/certs/CERT-1");
    let asked = std::cell::Cell::new(false);
    let cert = |_: &str| {
        asked.set(true);
        None
    };
    assert_eq!(paypal().judge(&req, BODY, &cert), Judged::Verdict(Err(Denial::CertUrlRefused)));
    assert!(!asked.get());
}

fn plaid() -> PlaidCheck {
    let c = crate::wire::read_str(
        r#"{"client_id":{"value":"client-1"},"secret":{"value":"plaid-s3cret"},"keys":{"cluster":"plaid_api"}}"#,
    )
    .unwrap();
    PlaidCheck::compile(&c, "plaid", &|_: &str| None).unwrap()
}

fn plaid_answer(key: &p256::ecdsa::SigningKey, kid: &str) -> String {
    let p = key.verifying_key().to_encoded_point(false);
    let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
    format!(
        r#"{{"key":{{"alg":"ES256","crv":"P-256","expired_at":null,"kid":"{kid}","kty":"EC","use":"sig","x":"{}","y":"{}"}},"request_id":"r"}}"#,
        b(p.x().unwrap()),
        b(p.y().unwrap())
    )
}

fn plaid_request(key: &p256::ecdsa::SigningKey, kid: &str, now: u64) -> RequestHead {
    use p256::ecdsa::signature::Signer;
    let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
    let hash: String = Sha256::digest(BODY).iter().map(|x| format!("{x:02x}")).collect();
    let input = format!(
        "{}.{}",
        b(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#).as_bytes()),
        b(format!(r#"{{"iat":{now},"request_body_sha256":"{hash}"}}"#).as_bytes())
    );
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let mut h = head(&[("plaid-verification", format!("{input}.{}", b(&sig.to_bytes())))]);
    h.now = now;
    h
}

#[test]
fn plaid_lacks_the_key_then_verifies_with_the_one_fetched_and_asks_again_after_a_day() {
    let store = MemoryStore::default();
    let check = plaid();
    let key = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
    let req = plaid_request(&key, "kid-1", NOW);
    let Judged::Lacks(need) = check.judge(&req, BODY, &store) else { panic!("the key is lacking") };
    assert_eq!(need.retry_after_seconds, RETRY_AFTER_SECONDS);
    let Document::Key(w) = need.document else { panic!("a sender's key") };
    assert_eq!(w.kind, Kind::PlaidKey);
    assert_eq!(w.headers[0], (":method".to_string(), "POST".to_string()));
    assert_eq!(w.headers[1], (":path".to_string(), "/webhook_verification_key/get".to_string()));
    assert_eq!(w.headers[2], (":authority".to_string(), "production.plaid.com".to_string()));
    let sent: serde_json::Value = serde_json::from_slice(w.body.as_deref().unwrap()).unwrap();
    assert_eq!(sent, serde_json::json!({"client_id": "client-1", "secret": "plaid-s3cret", "key_id": "kid-1"}));
    // Neither the record's name nor Debug shows the secret.
    assert!(!w.record.contains("s3cret") && !format!("{w:?}").contains("s3cret"));
    // The answer for another kid is refused, nothing written.
    assert!(accept(&w, plaid_answer(&key, "kid-2").as_bytes(), NOW, &store).is_err());
    assert!(matches!(check.judge(&req, BODY, &store), Judged::Lacks(_)));
    accept(&w, plaid_answer(&key, "kid-1").as_bytes(), NOW, &store).unwrap();
    assert_eq!(check.judge(&req, BODY, &store), Judged::Verdict(Ok(())));
    assert_eq!(check.judge(&req, b"{}", &store), Judged::Verdict(Err(Denial::BodyHashMismatch)));
    let later = plaid_request(&key, "kid-1", NOW + PLAID_KEY_TTL_SECONDS + 1);
    assert!(matches!(check.judge(&later, BODY, &store), Judged::Lacks(_)));
}

#[test]
fn plaid_never_asks_for_a_token_it_refuses_on_sight() {
    let store = MemoryStore::default();
    let key = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
    let req = plaid_request(&key, "../x", NOW);
    assert_eq!(plaid().judge(&req, BODY, &store), Judged::Verdict(Err(Denial::TokenMalformed)));
    let none = head(&[]);
    assert_eq!(plaid().judge(&none, BODY, &store), Judged::Verdict(Err(Denial::TokenMissing)));
}

#[test]
fn records_of_another_version_or_cut_short_are_no_records() {
    assert_eq!(read_record(&write_record(1, 10, b"k"), 5), Some(&b"k"[..]));
    assert_eq!(read_record(&write_record(1, 10, b"k"), 11), None);
    let mut other = write_record(1, 10, b"k");
    other[0] = 9;
    assert_eq!(read_record(&other, 5), None);
    assert_eq!(read_record(&[VERSION, 0, 0], 5), None);
}
