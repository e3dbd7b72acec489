//! `webhook-guard sign --sns-cert-url` signs an Amazon SNS message with a key made by
//! `openssl`, and `explain --signing-cert` verifies it with the plugin's own check: the
//! message passes, a tampered copy is refused as the filter would refuse it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{run, scratch, write};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
const URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A key and its certificate, made by openssl.
fn key_and_cert(dir: &std::path::Path) -> (String, String) {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=sns.us-east-1.amazonaws.com"])
        .args(["-newkey", "rsa:2048", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    (key.display().to_string(), cert.display().to_string())
}

/// What `sign` printed: the header lines and the body after the blank line.
fn signed(out: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = out.split_once("\n\n").unwrap();
    let headers = head.lines().map(|l| l.split_once(": ").unwrap()).map(|(n, v)| (n.into(), v.into())).collect();
    (headers, body.trim_end().to_string())
}

fn explain(dir: &std::path::Path, config: &str, headers: &[(String, String)], body: &str, cert: &str) -> common::Run {
    let mut text = "POST /sns HTTP/1.1\r\nHost: hooks.example\r\n".to_string();
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let req = write(dir, "req.http", &text);
    let now = now().to_string();
    run(&["explain", "--config", config, "--request", &req, "--signing-cert", cert, "--now", &now], &[])
}

#[test]
fn a_message_signed_by_the_command_passes_the_check_and_a_tampered_one_does_not() {
    let dir = scratch("sns");
    let (key, cert) = key_and_cert(&dir);
    let config = write(
        &dir,
        "policy.json",
        &serde_json::json!({"api": "v1", "routes": [{"name": "sns", "match": {"path_exact": "/sns"},
            "checks": {"sns": {"topic_arns": [TOPIC], "certificates": {"cluster": "sns_certs"}}}}]})
        .to_string(),
    );
    let message = serde_json::json!({"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC,
        "Subject": "Order placed", "Message": "{\"order\":42}", "Timestamp": "2026-12-06T14:00:00.000Z"});
    let msg = write(&dir, "message.json", &message.to_string());
    for version in ["1", "2"] {
        let r =
            run(&["sign", "--sns-cert-url", URL, "--sns-version", version, "--private-key", &key, "--body", &msg], &[]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let (headers, body) = signed(&r.stdout);
        assert!(headers.contains(&("x-amz-sns-message-type".to_string(), "Notification".to_string())), "{headers:?}");
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["SignatureVersion"], version);
        assert_eq!(sent["SigningCertURL"], URL);
        let ok = explain(&dir, &config, &headers, &body, &cert);
        assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
        assert!(ok.stdout.contains("sns") && ok.stdout.contains("forwarded"), "{}", ok.stdout);
        let tampered = body.replace("Order placed", "Order paid");
        let bad = explain(&dir, &config, &headers, &tampered, &cert);
        assert_eq!(bad.code, 1, "{}", bad.stdout);
        assert!(bad.stdout.contains("signature_mismatch"), "{}", bad.stdout);
    }
}

#[test]
fn the_command_refuses_a_url_the_filter_would_refuse() {
    let dir = scratch("sns-url");
    let (key, _) = key_and_cert(&dir);
    let msg = write(
        &dir,
        "m.json",
        r#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"x","Timestamp":"t"}"#,
    );
    let r = run(&["sign", "--sns-cert-url", "https://evil.test/c.pem", "--private-key", &key, "--body", &msg], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not an SNS certificate URL"), "{}", r.stderr);
}
