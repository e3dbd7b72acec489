//! `webhook-guard thumbprint` against `openssl x509 -fingerprint`, and `webhook-guard jwt`
//! tokens read back.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use base64::Engine;
use common::{run, scratch};

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("openssl runs (make setup installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `XX:YY:...` after `Fingerprint=` in openssl's answer.
fn fingerprint(cert: &str, digest: &str) -> String {
    let out = openssl(&["x509", "-in", cert, "-noout", "-fingerprint", digest]);
    out.trim().split_once('=').expect("Fingerprint=").1.to_string()
}

#[test]
fn thumbprints_equal_openssl_fingerprints() {
    let dir = scratch("cert");
    for (name, key) in [
        ("ec", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"][..]),
        ("rsa", &["-newkey", "rsa:2048"][..]),
    ] {
        let pem = dir.join(format!("{name}.pem")).display().to_string();
        let keyfile = dir.join(format!("{name}.key")).display().to_string();
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=webhook-guard test"];
        args.extend_from_slice(key);
        args.extend_from_slice(&["-keyout", &keyfile, "-out", &pem]);
        openssl(&args);
        let sha1 = fingerprint(&pem, "-sha1");
        let sha256 = fingerprint(&pem, "-sha256");
        assert_eq!((sha1.len(), sha256.len()), (59, 95));
        let r = run(&["thumbprint", &pem], &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                format!("sha1    {sha1}"),
                format!("sha1    {}", sha1.replace(':', "").to_lowercase()),
                format!("sha256  {sha256}"),
                format!("sha256  {}", sha256.replace(':', "").to_lowercase()),
            ]
        );
        // DER gives the same answer.
        let der = dir.join(format!("{name}.der")).display().to_string();
        openssl(&["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
        assert_eq!(run(&["thumbprint", &der], &[]).stdout, r.stdout);
    }
    let not_a_cert = dir.join("ec.key").display().to_string();
    let r = run(&["thumbprint", &not_a_cert], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no certificate"), "{}", r.stderr);
}

fn segment(token: &str, i: usize) -> serde_json::Value {
    let part = token.split('.').nth(i).expect("segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn jwt_tokens_carry_the_claims_and_the_plugins_mac() {
    let r = run(
        &[
            "jwt",
            "--secret",
            "jwt-test-secret",
            "--alg",
            "HS384",
            "--kid",
            "k1",
            "--claim",
            "iss=flatfile",
            "--claim",
            "aud:=[\"webhooks\"]",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let token = r.stdout.trim();
    assert_eq!(segment(token, 0), serde_json::json!({"alg": "HS384", "typ": "JWT", "kid": "k1"}));
    let claims = segment(token, 1);
    assert_eq!(claims["iss"], "flatfile");
    assert_eq!(claims["aud"], serde_json::json!(["webhooks"]));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 300);
    assert_eq!(token.split('.').nth(2).unwrap().len(), 64, "HS384: 48 bytes of MAC");
    // The same secret from the environment or a file gives a token of the same shape;
    // a secret is required and never echoed.
    let r = run(&["jwt", "--secret-env", "K", "--ttl", "0", "--claim", "iat:=1"], &[("K", "jwt-test-secret")]);
    assert_eq!(segment(r.stdout.trim(), 1), serde_json::json!({"iat": 1}));
    let r = run(&["jwt", "--claim", "a=b"], &[]);
    assert_ne!(r.code, 0);
    let r = run(&["jwt", "--secret", "s3cr3t-x", "--alg", "none"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("HS256, HS384 or HS512") && !r.stderr.contains("s3cr3t-x"), "{}", r.stderr);
}
