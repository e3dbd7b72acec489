//! `webhook-guard sign --scheme paypal|plaid` on the real binary, with keys made by
//! openssl: what it prints is verified by the plugin's own PayPal and Plaid checks with
//! the public halves, and a changed body or another key is refused.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use base64::Engine;
use common::{run, scratch, write};
use webhook_guard::denial::Denial;
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::verify::jwt::plaid::{read_key_answer, PlaidCheck, PlaidConfig};
use webhook_guard::verify::paypal::{PaypalCheck, PaypalConfig};

const BODY: &str = r#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}"#;
const NOW: &str = "1700000000";

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect("openssl runs (make setup installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn head(out: &str) -> RequestHead {
    let pairs = out
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.as_bytes().to_vec())
        })
        .collect();
    RequestHead::from_headers(Headers::new(pairs), None, 1_700_000_000)
}

#[test]
fn paypal_headers_verify_with_the_certificates_key() {
    use rsa::pkcs8::DecodePublicKey;
    let dir = scratch("sign-paypal");
    let key = dir.join("rsa.pem");
    let other = dir.join("other.pem");
    for k in [&key, &other] {
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k.to_str().unwrap()]);
    }
    let public = String::from_utf8(openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"])).unwrap();
    let public = rsa::RsaPublicKey::from_public_key_pem(&public).unwrap();
    // The certificate PayPal would serve for the key, read as the plugin reads it.
    let cert = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=messageverificationcerts",
        "-days",
        "2",
    ]);
    let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let read = webhook_guard::verify::x509::read_pem(&cert).unwrap();
    assert!(read.is_valid_at(unix_now));
    assert_eq!(read.key, public);
    let body = write(&dir, "body.json", BODY);
    let cert = "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
    let sign = |key: &std::path::Path| {
        let args = [
            "sign",
            "--scheme",
            "paypal",
            "--private-key",
            key.to_str().unwrap(),
            "--body",
            &body,
            "--webhook-id",
            "1JE4291016473214C",
            "--cert-url",
            cert,
            "--now",
            NOW,
        ];
        let r = run(&args, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let c: PaypalConfig =
        serde_json::from_str(r#"{"webhook_id":"1JE4291016473214C","certificates":{"cluster":"paypal_api"}}"#).unwrap();
    let check = PaypalCheck::compile(&c, "paypal").unwrap();
    let out = sign(&key);
    assert!(out.contains("PAYPAL-TRANSMISSION-TIME: 2023-11-14T22:13:20Z\n"), "{out}");
    assert!(out.contains(&format!("PAYPAL-CERT-URL: {cert}\n")), "{out}");
    let h = head(&out);
    let t = check.read(&h).unwrap();
    assert_eq!(t.cert.authority, "api-m.paypal.com");
    assert_eq!(check.verify(&t, BODY.as_bytes(), &public), Ok(()));
    assert_eq!(check.verify(&t, b"{}", &public), Err(Denial::SignatureMismatch));
    let forged = sign(&other);
    let h = head(&forged);
    assert_eq!(check.verify(&check.read(&h).unwrap(), BODY.as_bytes(), &public), Err(Denial::SignatureMismatch));
    // Without the fields PayPal signs, nothing is signed.
    let r = run(&["sign", "--scheme", "paypal", "--private-key", key.to_str().unwrap(), "--cert-url", cert], &[]);
    assert_eq!((r.code, r.stderr.as_str()), (1, "webhook-guard: paypal signs the webhook id: give --webhook-id\n"));
}

#[test]
fn plaid_token_verifies_with_the_key_plaid_would_give() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::DecodePublicKey;
    let dir = scratch("sign-plaid");
    let key = dir.join("ec.pem");
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key.to_str().unwrap()]);
    let public = String::from_utf8(openssl(&["ec", "-in", key.to_str().unwrap(), "-pubout"])).unwrap();
    let point = p256::PublicKey::from_public_key_pem(&public).unwrap().to_encoded_point(false);
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kid = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
    let answer = format!(
        r#"{{"key":{{"alg":"ES256","created_at":1560466143,"crv":"P-256","expired_at":null,"kid":"{kid}","kty":"EC","use":"sig","x":"{}","y":"{}"}},"request_id":"r1"}}"#,
        b64u(point.x().unwrap()),
        b64u(point.y().unwrap())
    );
    let plaid_key = read_key_answer(answer.as_bytes(), kid).unwrap();
    let body = write(&dir, "body.json", BODY);
    let r = run(
        &[
            "sign",
            "--scheme",
            "plaid",
            "--private-key",
            key.to_str().unwrap(),
            "--body",
            &body,
            "--kid",
            kid,
            "--now",
            NOW,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c: PlaidConfig =
        serde_json::from_str(r#"{"client_id":{"value":"c"},"secret":{"value":"s"},"keys":{"cluster":"plaid_api"}}"#)
            .unwrap();
    let check = PlaidCheck::compile(&c, "plaid", &|_: &str| None).unwrap();
    let h = head(&r.stdout);
    let t = check.read(&h).unwrap();
    assert_eq!(t.kid, kid);
    assert_eq!(check.verify(&t, &plaid_key, BODY.as_bytes(), 1_700_000_000), Ok(()));
    assert_eq!(check.verify(&t, &plaid_key, b"{}", 1_700_000_000), Err(Denial::BodyHashMismatch));
    assert_eq!(check.verify(&t, &plaid_key, BODY.as_bytes(), 1_700_000_301), Err(Denial::TokenTooOld));
}

/// `explain --signing-cert`: a PayPal request signed by `sign` passes the route offline
/// with the certificate given; the same request with a changed body fails `paypal`.
#[test]
fn explain_verifies_paypal_with_the_certificate_given() {
    let dir = scratch("explain-paypal");
    let key = dir.join("rsa.pem");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key.to_str().unwrap()]);
    let cert = dir.join("cert.pem");
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=messageverificationcerts",
        "-days",
        "2",
        "-out",
        cert.to_str().unwrap(),
    ]);
    let body = write(&dir, "body.json", BODY);
    let url = "https://api.paypal.com/v1/notifications/certs/CERT-1";
    let r = run(
        &[
            "sign",
            "--scheme",
            "paypal",
            "--private-key",
            key.to_str().unwrap(),
            "--body",
            &body,
            "--webhook-id",
            "W1",
            "--cert-url",
            url,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let policy = r#"{"api":"v1","routes":[{"name":"pp","match":{"path_exact":"/pp"},
        "checks":{"paypal":{"webhook_id":"W1","certificates":{"cluster":"paypal_api"}}}}]}"#;
    let config = write(&dir, "policy.json", policy);
    let explain = |sent: &str| {
        let mut text = String::from("POST /pp HTTP/1.1\r\nHost: hooks.example\r\n");
        text.push_str(&r.stdout.replace('\n', "\r\n"));
        text.push_str(&format!("Content-Length: {}\r\n\r\n{sent}", sent.len()));
        let req = write(&dir, "req.http", &text);
        run(&["explain", "--config", &config, "--request", &req, "--signing-cert", cert.to_str().unwrap()], &[])
    };
    let ok = explain(BODY);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.lines().any(|l| l.contains("paypal") && l.contains("pass")), "{}", ok.stdout);
    let changed = explain(&BODY.replace("COMPLETED", "REFUNDED"));
    assert_eq!(changed.code, 1, "{}", changed.stdout);
    assert!(changed.stdout.contains("fail: signature_mismatch"), "{}", changed.stdout);
}
