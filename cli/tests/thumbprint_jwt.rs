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

/// The public key of a PEM private key as a JWK, from openssl's DER SubjectPublicKeyInfo
/// (EC and Ed25519: the point ends it) or its modulus (RSA, exponent 65537).
fn public_jwk(key: &str, kid: &str) -> serde_json::Value {
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let der = Command::new("openssl").args(["pkey", "-in", key, "-pubout", "-outform", "DER"]).output().unwrap().stdout;
    let info = openssl(&["pkey", "-in", key, "-noout", "-text"]);
    if info.contains("modulus:") {
        let modulus = openssl(&["rsa", "-in", key, "-noout", "-modulus"]);
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        serde_json::json!({"kty": "RSA", "kid": kid, "n": b64u(&n), "e": "AQAB"})
    } else if info.contains("ED25519") {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64u(&der[der.len() - 32..])})
    } else {
        // A P-256 SubjectPublicKeyInfo is 91 bytes, a P-384 one 120.
        let len = if der.len() == 120 { 48 } else { 32 };
        let point = &der[der.len() - 2 * len..];
        let crv = if len == 48 { "P-384" } else { "P-256" };
        serde_json::json!({"kty": "EC", "crv": crv, "kid": kid, "x": b64u(&point[..len]), "y": b64u(&point[len..])})
    }
}

#[test]
fn jwt_tokens_signed_with_a_pem_key_verify_with_its_public_jwk() {
    let dir = scratch("jwt-keys");
    let cases: [(&str, &[&str], &str); 6] = [
        ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "RS256"),
        ("rsa", &[], "PS512"),
        ("p256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "ES256"),
        ("p384", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "ES384"),
        ("ed", &["-algorithm", "ED25519"], "EdDSA"),
        ("p256sec1", &[], "ES256"),
    ];
    for (name, genpkey, alg) in cases {
        let key = dir.join(format!("{name}.pem")).display().to_string();
        if name == "p256sec1" {
            // SEC1 PEM, as `openssl ecparam -genkey` writes it.
            let out = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
            std::fs::write(&key, out).unwrap();
        } else if !genpkey.is_empty() {
            let mut args = vec!["genpkey"];
            args.extend_from_slice(genpkey);
            args.extend_from_slice(&["-out", &key]);
            openssl(&args);
        }
        let r = run(&["jwt", "--key", &key, "--alg", alg, "--kid", name, "--claim", "aud=webhooks"], &[]);
        assert_eq!(r.code, 0, "{alg}: {}", r.stderr);
        let token = r.stdout.trim().to_string();
        assert_eq!(segment(&token, 0), serde_json::json!({"alg": alg, "typ": "JWT", "kid": name}));
        // The plugin's own check, with the public key as a JWKS written in the config.
        let policy = serde_json::json!({"api": "v1", "routes": [{"name": "r", "match": {"path_prefix": "/"},
            "checks": {"jwt": {"algorithms": [alg], "audiences": ["webhooks"],
                               "jwks": {"keys": [public_jwk(&key, name)]}}}}]});
        let policy = webhook_guard::config::parse(policy.to_string().as_bytes(), &|_: &str| None).unwrap();
        let check = policy.routes[0].checks.jwt.as_ref().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let headers = |t: &str| {
            webhook_guard::request::Headers::new(vec![("authorization".into(), format!("Bearer {t}").into_bytes())])
        };
        assert_eq!(check.verify(&headers(&token), now, None), Ok(None), "{alg}");
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[3] ^= 1;
        let forged = format!("{input}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig));
        assert!(check.verify(&headers(&forged), now, None).is_err(), "{alg}");
    }
    // A key of another type than the algorithm needs, and HS* with --key: refused, the
    // file never quoted.
    let rsa = dir.join("rsa.pem").display().to_string();
    let r = run(&["jwt", "--key", &rsa, "--alg", "ES256"], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a private key of the type ES256 needs") && !r.stderr.contains("BEGIN"),
        "{}",
        r.stderr
    );
    let r = run(&["jwt", "--key", &rsa, "--alg", "HS256"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("with --key, expected RS256"), "{}", r.stderr);
    let r = run(&["jwt", "--key", &rsa, "--secret", "s"], &[]);
    assert_ne!(r.code, 0);
}
