//! `webhook-guard explain` on the real binary: for each reason a request can be refused,
//! the check that refuses it is named with that reason, and the verdict is the plugin's.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{run, scratch, write};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NOW: u64 = 1_800_000_000;
const GH: &str = "gh-explain-secret-41";
const SLACK: &str = "slack-explain-secret-42";
const TOKEN: &str = "hdr-explain-secret-43";
const JWT: &str = "jwt-explain-secret-44";
const PAYLOAD: &str = "payload-explain-secret-45";
// Standard Webhooks: the key is the base64 after whsec_ ("explain standard key 46").
const STANDARD: &str = "whsec_ZXhwbGFpbiBzdGFuZGFyZCBrZXkgNDY=";

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    use base64::Engine;
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn policy() -> String {
    let route = |name: &str, path: &str, checks: serde_json::Value| serde_json::json!({"name": name, "match": {"path_exact": path}, "checks": checks});
    serde_json::json!({
        "api": "v1",
        "max_body_bytes": 256,
        "routes": [
            route("ip", "/ip", serde_json::json!({"ip_allowlist": {"cidrs": ["10.0.0.0/8"]}})),
            route("remote", "/remote", serde_json::json!({"ip_allowlist": {"remote_list": {"cluster": "c", "authority": "a", "path": "/l"}}})),
            route("hdr", "/hdr", serde_json::json!({"headers": [{"name": "x-token", "secrets": [{"id": "tok", "value": TOKEN}]}]})),
            route("jwt", "/jwt", serde_json::json!({"jwt": {"secrets": [{"id": "j", "value": JWT}], "issuer": "iss1"}})),
            route("gh", "/gh", serde_json::json!({"signature": {"scheme": "github", "secrets": [{"id": "current", "value": GH}]}})),
            route("slack", "/slack", serde_json::json!({"signature": {"scheme": "slack", "secrets": [{"value": SLACK}]}})),
            route("std", "/std", serde_json::json!({"signature": {"scheme": "standard", "secrets": [{"value": STANDARD}]}})),
            route("payload", "/payload", serde_json::json!({"developer_payload": {"secrets": [{"id": "p", "value": PAYLOAD}]}})),
            route("cert", "/cert", serde_json::json!({"client_cert": {"thumbprints": ["ab".repeat(32)], "source": "xfcc"}})),
            route("paypal", "/paypal", serde_json::json!({"paypal": {"webhook_id": "W1", "certificates": {"cluster": "paypal_api"}}})),
            route("plaid", "/plaid", serde_json::json!({"plaid": {"client_id": {"value": "c1"}, "secret": {"value": "plaid-explain-s3cret"}, "keys": {"cluster": "plaid_api"}}})),
            route("all", "/all", serde_json::json!({
                "ip_allowlist": {"cidrs": ["10.0.0.0/8"]},
                "headers": [{"name": "x-token", "secrets": [{"id": "tok", "value": TOKEN}]}],
                "signature": {"scheme": "github", "secrets": [{"id": "current", "value": GH}]}})),
            {"name": "put", "match": {"path_exact": "/put", "methods": ["PUT"]},
             "checks": {"headers": [{"name": "x-token", "secrets": [{"value": TOKEN}]}]}},
        ]
    })
    .to_string()
}

struct Explained {
    code: i32,
    out: String,
}

fn explain(config: &str, path: &str, headers: &[(&str, String)], body: &str, extra: &[&str]) -> Explained {
    let dir = scratch("explain");
    let mut text = format!("POST {path} HTTP/1.1\r\nHost: hooks.example\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let req = write(&dir, "req.http", &text);
    let now = NOW.to_string();
    let mut args = vec!["explain", "--config", config, "--request", &req, "--now", &now];
    args.extend_from_slice(extra);
    let r = run(&args, &[]);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    for secret in [GH, SLACK, TOKEN, JWT, PAYLOAD, STANDARD] {
        assert!(!r.stdout.contains(secret), "a secret in the output:\n{}", r.stdout);
    }
    Explained { code: r.code, out: r.stdout }
}

fn jwt(claims: &[&str], secret: &str) -> String {
    let mut args = vec!["jwt", "--secret", secret, "--ttl", "0"];
    for c in claims {
        args.extend_from_slice(&["--claim", c]);
    }
    run(&args, &[]).stdout.trim().to_string()
}

/// The check's line says `fail: <reason>` and the verdict names the same reason.
fn assert_refused(e: &Explained, check: &str, reason: &str, status: u32) {
    assert_eq!(e.code, 1, "{}", e.out);
    let line = e
        .out
        .lines()
        .find(|l| l.trim_start().starts_with(check))
        .unwrap_or_else(|| panic!("no {check} line:\n{}", e.out));
    assert!(line.contains(&format!("fail: {reason}")), "{check} should fail with {reason}:\n{}", e.out);
    let verdict = e.out.lines().find(|l| l.starts_with("verdict")).expect("verdict");
    assert!(verdict.starts_with(&format!("verdict  {status} ")), "{}", e.out);
    assert!(verdict.ends_with(&format!("(reason {reason})")), "{}", e.out);
}

/// (path, headers, body, extra args, check, reason, status)
type Refused<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, Vec<&'a str>, &'a str, &'a str, u32);
/// (path, headers, body, extra args, what the check's line says)
type Passed<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, Vec<&'a str>, &'a str);

#[test]
fn each_denial_reason_is_named_with_its_check() {
    let dir = scratch("explain-config");
    let config = write(&dir, "policy.json", &policy());
    let c = config.as_str();
    let gh_body = r#"{"action":"opened"}"#;
    let gh_sig = format!("sha256={}", hmac_hex(GH.as_bytes(), gh_body.as_bytes()));
    let ts = NOW.to_string();
    let slack_sig = |t: &str| format!("v0={}", hmac_hex(SLACK.as_bytes(), format!("v0:{t}:{gh_body}").as_bytes()));
    let std_key = b"explain standard key 46";
    let std_sig = format!("v1,{}", hmac_b64(std_key, format!("msg_1.{ts}.{gh_body}").as_bytes()));
    let iat = format!("iat:={NOW}");
    let paypal = |url: &str| -> Vec<(&str, String)> {
        vec![
            ("PAYPAL-TRANSMISSION-ID", "t-1".into()),
            ("PAYPAL-TRANSMISSION-TIME", webhook_guard::time::format_rfc3339(NOW)),
            ("PAYPAL-TRANSMISSION-SIG", "c2lnbmF0dXJl".into()),
            ("PAYPAL-CERT-URL", url.into()),
            ("PAYPAL-AUTH-ALGO", "SHA256withRSA".into()),
        ]
    };
    let cases: Vec<Refused> = vec![
        ("/ip", vec![], "{}", vec!["--client", "192.0.2.1"], "ip_allowlist", "ip_not_allowed", 403),
        (
            "/paypal",
            paypal("https://evil.example/v1/notifications/certs/C-1"),
            "{}",
            vec![],
            "paypal",
            "cert_url_refused",
            401,
        ),
        // Headers in PayPal's form: the certificate is what Envoy would fetch.
        (
            "/paypal",
            paypal("https://api.paypal.com/v1/notifications/certs/C-1"),
            "{}",
            vec![],
            "paypal",
            "list_unavailable",
            503,
        ),
        ("/plaid", vec![], "{}", vec![], "plaid", "token_missing", 401),
        (
            "/plaid",
            vec![("Plaid-Verification", jwt(&["iss=x", &iat], "k"))],
            "{}",
            vec![],
            "plaid",
            "token_algorithm_not_allowed",
            401,
        ),
        ("/ip", vec![], "{}", vec![], "ip_allowlist", "client_address_unknown", 403),
        ("/remote", vec![], "{}", vec!["--client", "10.0.0.1"], "ip_allowlist", "list_unavailable", 503),
        ("/hdr", vec![], "{}", vec![], "headers x-token", "header_missing", 401),
        ("/hdr", vec![("X-Token", "nope".into())], "{}", vec![], "headers x-token", "header_mismatch", 401),
        (
            "/hdr",
            vec![("X-Token", TOKEN.into()), ("x-token", TOKEN.into())],
            "{}",
            vec![],
            "headers x-token",
            "header_repeated",
            401,
        ),
        ("/jwt", vec![], "{}", vec![], "jwt", "token_missing", 401),
        ("/jwt", vec![("Authorization", "Bearer abc".into())], "{}", vec![], "jwt", "token_malformed", 401),
        (
            "/jwt",
            vec![("Authorization", format!("Bearer {}", jwt(&["iss=iss1", &iat], "other")))],
            "{}",
            vec![],
            "jwt",
            "token_signature_mismatch",
            401,
        ),
        (
            "/jwt",
            vec![("Authorization", format!("Bearer {}", jwt(&["iss=iss1", &iat], JWT)))],
            "{}",
            vec![],
            "jwt",
            "token_exp_missing",
            401,
        ),
        (
            "/jwt",
            vec![("Authorization", format!("Bearer {}", jwt(&["iss=iss1", "exp:=1000"], JWT)))],
            "{}",
            vec![],
            "jwt",
            "token_expired",
            401,
        ),
        (
            "/jwt",
            vec![("Authorization", format!("Bearer {}", jwt(&["iss=x", &format!("exp:={}", NOW + 60)], JWT)))],
            "{}",
            vec![],
            "jwt",
            "token_issuer_mismatch",
            401,
        ),
        ("/gh", vec![], gh_body, vec![], "signature", "signature_missing", 401),
        (
            "/gh",
            vec![("X-Hub-Signature-256", "sha256=zz".into())],
            gh_body,
            vec![],
            "signature",
            "signature_malformed",
            401,
        ),
        (
            "/gh",
            vec![("X-Hub-Signature-256", gh_sig.clone())],
            r#"{"action":"closed"}"#,
            vec![],
            "signature",
            "signature_mismatch",
            401,
        ),
        (
            "/gh",
            vec![("X-Hub-Signature-256", gh_sig.clone()), ("X-Hub-Signature-256", gh_sig.clone())],
            gh_body,
            vec![],
            "signature",
            "signature_repeated",
            401,
        ),
        ("/slack", vec![("X-Slack-Signature", slack_sig(&ts))], gh_body, vec![], "signature", "timestamp_missing", 401),
        (
            "/slack",
            vec![("X-Slack-Signature", slack_sig("soon")), ("X-Slack-Request-Timestamp", "soon".into())],
            gh_body,
            vec![],
            "signature",
            "timestamp_malformed",
            401,
        ),
        (
            "/slack",
            vec![("X-Slack-Signature", slack_sig("1000")), ("X-Slack-Request-Timestamp", "1000".into())],
            gh_body,
            vec![],
            "signature",
            "timestamp_out_of_tolerance",
            401,
        ),
        (
            "/std",
            vec![("webhook-timestamp", ts.clone()), ("webhook-signature", std_sig.clone())],
            gh_body,
            vec![],
            "signature",
            "message_id_missing",
            401,
        ),
        ("/payload", vec![], "not json", vec![], "developer_payload", "payload_not_json", 401),
        ("/payload", vec![], r#"{"other":1}"#, vec![], "developer_payload", "payload_missing", 401),
        ("/payload", vec![], r#"{"developerPayload":"guess"}"#, vec![], "developer_payload", "payload_mismatch", 401),
        (
            "/payload",
            vec![],
            r#"{"developerPayload":"a","developerPayload":"b"}"#,
            vec![],
            "developer_payload",
            "payload_duplicate_key",
            401,
        ),
        ("/cert", vec![], "{}", vec![], "client_cert", "cert_missing", 403),
        (
            "/cert",
            vec![("x-forwarded-client-cert", "Cert=\"garbage\"".into())],
            "{}",
            vec![],
            "client_cert",
            "cert_malformed",
            403,
        ),
    ];
    for (path, headers, body, extra, check, reason, status) in &cases {
        let e = explain(c, path, headers, body, extra);
        assert_refused(&e, check, reason, *status);
    }
    // And each of these, set right, passes, naming the secret that matched.
    let payload_body = format!(r#"{{"developerPayload":"{PAYLOAD}"}}"#);
    let passes: Vec<Passed> = vec![
        ("/ip", vec![], "{}", vec!["--client", "10.1.2.3"], "pass"),
        ("/hdr", vec![("X-Token", TOKEN.into())], "{}", vec![], "pass (secret \"tok\")"),
        (
            "/jwt",
            vec![("Authorization", format!("Bearer {}", jwt(&["iss=iss1", &format!("exp:={}", NOW + 60)], JWT)))],
            "{}",
            vec![],
            "pass (secret \"j\")",
        ),
        ("/gh", vec![("X-Hub-Signature-256", gh_sig.clone())], gh_body, vec![], "pass (secret \"current\")"),
        (
            "/slack",
            vec![("X-Slack-Signature", slack_sig(&ts)), ("X-Slack-Request-Timestamp", ts.clone())],
            gh_body,
            vec![],
            "pass (secret \"0\")",
        ),
        (
            "/std",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.clone()),
                ("webhook-signature", std_sig.clone()),
            ],
            gh_body,
            vec![],
            "pass",
        ),
        ("/payload", vec![], &payload_body, vec![], "pass (secret \"p\")"),
    ];
    for (path, headers, body, extra, want) in &passes {
        let e = explain(c, path, headers, body, extra);
        assert_eq!(e.code, 0, "{path}:\n{}", e.out);
        assert!(e.out.contains(want), "{path}: {want}\n{}", e.out);
        assert!(e.out.contains(&format!("verdict  forwarded with x-webhook-guard: route={}", &path[1..])), "{}", e.out);
    }
}

#[test]
fn routing_refusals_and_the_order_of_checks() {
    let dir = scratch("explain-routing");
    let config = write(&dir, "policy.json", &policy());
    let c = config.as_str();
    let e = explain(c, "/nowhere", &[], "{}", &[]);
    assert!(e.out.contains("routing  fail: route_not_found"), "{}", e.out);
    assert!(e.out.ends_with("verdict  404 {\"error\":\"not_found\"}  (reason route_not_found)\n"), "{}", e.out);
    let e = explain(c, "/put", &[], "{}", &[]);
    assert!(e.out.contains("routing  fail: method_not_allowed"), "{}", e.out);
    assert!(e.out.contains("verdict  405 {\"error\":\"method_not_allowed\"} Allow: PUT"), "{}", e.out);
    let e = explain(c, "/gh%zz", &[], "{}", &[]);
    assert!(e.out.contains("routing  fail: ambiguous_path"), "{}", e.out);
    assert!(e.out.contains("verdict  400 "), "{}", e.out);
    // Over max_body_bytes (256).
    let big = "x".repeat(300);
    let e = explain(c, "/gh", &[("X-Hub-Signature-256", "sha256=00".into())], &big, &[]);
    assert_refused(&e, "body", "payload_too_large", 413);
    // Enforce mode stops at the first failure; what the later checks would say is shown.
    let body = r#"{"a":1}"#;
    let sig = format!("sha256={}", hmac_hex(GH.as_bytes(), body.as_bytes()));
    let e = explain(c, "/all", &[("X-Hub-Signature-256", sig)], body, &["--client", "10.0.0.7"]);
    assert_refused(&e, "headers x-token", "header_missing", 401);
    let lines: Vec<&str> = e.out.lines().filter(|l| l.starts_with("  ")).collect();
    assert!(lines[0].trim_start().starts_with("ip_allowlist") && lines[0].ends_with(" pass"), "{}", e.out);
    assert!(lines[1].contains("fail: header_missing"), "{}", e.out);
    assert!(
        lines[2].contains("signature") && lines[2].contains("not reached (would be: pass (secret \"current\"))"),
        "{}",
        e.out
    );
    // --route runs a named route's checks even when the path leads elsewhere.
    let e = explain(c, "/gh", &[], "{}", &["--route", "hdr"]);
    assert!(e.out.contains("the request reaches route gh, not hdr"), "{}", e.out);
    assert_refused(&e, "headers x-token", "header_missing", 401);
    let r = run(&["explain", "--config", c, "--request", "/dev/null", "--route", "nope"], &[]);
    assert_eq!(r.code, 1);
}

#[test]
fn monitor_mode_forwards_and_says_what_it_would_refuse() {
    let dir = scratch("explain-monitor");
    let config = write(&dir, "policy.json", &policy().replacen(r#""api":"v1""#, r#""api":"v1","mode":"monitor""#, 1));
    let e = explain(&config, "/hdr", &[], "{}", &[]);
    assert_eq!(e.code, 0, "{}", e.out);
    assert!(
        e.out.contains("verdict  forwarded (monitor mode) with x-webhook-guard: route=hdr; would_deny=header_missing"),
        "{}",
        e.out
    );
}

#[test]
fn headers_and_body_from_separate_files_and_envoy_configs() {
    let dir = scratch("explain-files");
    let body = r#"{"action":"opened"}"#;
    let sig = format!("sha256={}", hmac_hex(b"demo-github-secret", body.as_bytes()));
    let head =
        write(&dir, "head.txt", &format!(":method: POST\n:path: /webhooks/github\nx-hub-signature-256: {sig}\n"));
    let body_file = write(&dir, "body.json", body);
    let r = run(&["explain", "--config", "envoy/envoy.yaml", "--request", &head, "--body", &body_file], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("signature              pass (secret \"current\")"), "{}", r.stdout);
    // A configuration the plugin refuses cannot explain anything.
    let r = run(&["explain", "--config", "envoy/copyleaks.yaml", "--request", &head], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("the plugin refuses this configuration") && r.stderr.contains("COPYLEAKS"),
        "{}",
        r.stderr
    );
}

/// A JWT made here, for claims the `jwt` command always sets (`iat`).
fn hs256_token(claims: &str, secret: &str) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signing_input = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.as_bytes()));
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&m.finalize().into_bytes()))
}

/// With the cases above, every denial reason but two: `rate_limited` and `list_stale`
/// depend on state only Envoy holds (explain starts with full buckets and no lists).
#[test]
fn the_token_and_certificate_reasons_are_named_too() {
    let dir = scratch("explain-more");
    let config = write(
        &dir,
        "policy.json",
        &serde_json::json!({"api": "v1", "routes": [
            {"name": "jwt", "match": {"path_exact": "/jwt"},
             "checks": {"jwt": {"secrets": [{"id": "j", "value": JWT}], "audiences": ["aud1"], "max_age_seconds": 60}}},
            {"name": "cert", "match": {"path_exact": "/cert"},
             "checks": {"client_cert": {"thumbprints": ["ab".repeat(32)], "source": "xfcc"}}},
        ]})
        .to_string(),
    );
    let bearer = |t: String| vec![("Authorization", format!("Bearer {t}"))];
    let (iat, exp) = (format!("iat:={NOW}"), format!("exp:={}", NOW + 60));
    let minted = |alg: &str, claims: &[&str]| {
        let mut args = vec!["jwt", "--secret", JWT, "--ttl", "0", "--alg", alg];
        for c in claims {
            args.extend_from_slice(&["--claim", c]);
        }
        run(&args, &[]).stdout.trim().to_string()
    };
    let good = minted("HS256", &["aud=aud1", &iat, &exp]);
    let pem = dir.join("c.pem").display().to_string();
    let key = dir.join("c.key").display().to_string();
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=sender", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", &key, "-out", &pem])
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    let xfcc: String = std::fs::read_to_string(&pem)
        .unwrap()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    // Envoy's XFCC carries the certificate's SHA-256 beside it.
    let der = std::process::Command::new("openssl").args(["x509", "-in", &pem, "-outform", "DER"]).output().unwrap();
    let hash: String = {
        use sha2::Digest;
        Sha256::digest(&der.stdout).iter().map(|b| format!("{b:02x}")).collect()
    };
    // (headers, path, check, reason, status)
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, &'a str, &'a str, u32);
    let cases: Vec<Case> = vec![
        (bearer(minted("HS384", &["aud=aud1", &iat, &exp])), "/jwt", "jwt", "token_algorithm_not_allowed", 401),
        (bearer(minted("HS256", &["aud=other", &iat, &exp])), "/jwt", "jwt", "token_audience_mismatch", 401),
        (
            bearer(minted(
                "HS256",
                &["aud=aud1", &iat, &format!("nbf:={}", NOW + 3600), &format!("exp:={}", NOW + 7200)],
            )),
            "/jwt",
            "jwt",
            "token_not_yet_valid",
            401,
        ),
        (
            bearer(minted("HS256", &["aud=aud1", &format!("iat:={}", NOW - 3600), &exp])),
            "/jwt",
            "jwt",
            "token_too_old",
            401,
        ),
        (
            bearer(hs256_token(&format!(r#"{{"aud":"aud1","exp":{}}}"#, NOW + 60), JWT)),
            "/jwt",
            "jwt",
            "token_iat_missing",
            401,
        ),
        (
            vec![("Authorization", format!("Bearer {good}")), ("Authorization", format!("Bearer {good}"))],
            "/jwt",
            "jwt",
            "token_repeated",
            401,
        ),
        (
            vec![("x-forwarded-client-cert", format!("Hash={hash};Cert=\"{xfcc}\""))],
            "/cert",
            "client_cert",
            "cert_not_pinned",
            403,
        ),
    ];
    for (headers, path, check, reason, status) in &cases {
        let e = explain(&config, path, headers, "{}", &[]);
        assert_refused(&e, check, reason, *status);
    }
    let e = explain(&config, "/jwt", &bearer(good), "{}", &[]);
    assert_eq!(e.code, 0, "{}", e.out);
}

/// A request `text` (HTTP/1.1, headers and body) through `config`.
fn explain_raw(config: &str, text: &str) -> Explained {
    let dir = scratch("explain-raw");
    let req = write(&dir, "req.http", text);
    let now = NOW.to_string();
    let r = run(&["explain", "--config", config, "--request", &req, "--now", &now], &[]);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(!r.stdout.contains(TOKEN), "a secret in the output:\n{}", r.stdout);
    Explained { code: r.code, out: r.stdout }
}

#[test]
fn adyen_items_and_event_grid_handshakes_are_explained() {
    let dir = scratch("explain-adyen-grid");
    let adyen_key = "00112233445566778899aabbccddeeff";
    let config = write(
        &dir,
        "policy.json",
        &serde_json::json!({"api": "v1", "routes": [
            {"name": "adyen", "match": {"path_exact": "/adyen"},
             "checks": {"signature": {"scheme": "adyen", "secrets": [{"id": "hmac", "value": adyen_key}]}}},
            {"name": "grid", "match": {"path_exact": "/grid"},
             "checks": {"headers": [{"name": "x-token", "secrets": [{"id": "tok", "value": TOKEN}]}],
                        "event_grid": {"allowed_rate": 30}}},
        ]})
        .to_string(),
    );
    let c = config.as_str();
    let post = |path: &str, headers: &str, body: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: h\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len())
    };
    // Adyen: a signed field of the wrong type, then a genuine notification.
    let item = |value: &str, sig: &str| {
        format!(
            r#"{{"notificationItems":[{{"NotificationRequestItem":{{"additionalData":{{"hmacSignature":"{sig}"}},"amount":{{"currency":"EUR","value":{value}}},"pspReference":"p1"}}}}]}}"#
        )
    };
    let e = explain_raw(c, &post("/adyen", "", &item("\"10\"", "x")));
    assert_refused(&e, "signature", "signed_field_malformed", 401);
    let key: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&adyen_key[2 * i..2 * i + 2], 16).unwrap()).collect();
    let sig = hmac_b64(&key, b"p1::::10:EUR::");
    let e = explain_raw(c, &post("/adyen", "", &item("10", &sig)));
    assert_eq!(e.code, 0, "{}", e.out);
    assert!(e.out.contains("signature              pass (secret \"hmac\")"), "{}", e.out);
    let e = explain_raw(c, &post("/adyen", "", &item("11", &sig)));
    assert_refused(&e, "signature", "signature_mismatch", 401);

    // Event Grid: the OPTIONS handshake answered behind the secret header.
    let options = |origin: &str, token: &str| {
        format!("OPTIONS /grid HTTP/1.1\r\nHost: h\r\nWebHook-Request-Origin: {origin}\r\nx-token: {token}\r\n\r\n")
    };
    let e = explain_raw(c, &options("eventgrid.azure.net", TOKEN));
    assert_eq!(e.code, 0, "{}", e.out);
    assert!(
        e.out.contains(
            "verdict  200 (no body) Allow: POST Webhook-Allowed-Origin: eventgrid.azure.net Webhook-Allowed-Rate: 30"
        ),
        "{}",
        e.out
    );
    assert_refused(
        &explain_raw(c, &options("other.example", TOKEN)),
        "event_grid",
        "handshake_origin_not_allowed",
        403,
    );
    assert_refused(
        &explain_raw(c, &options("eventgrid.azure.net", "wrong")),
        "headers x-token",
        "header_mismatch",
        401,
    );
    let validation = r#"[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"abc-1"}}]"#;
    let headers = format!("x-token: {TOKEN}\r\naeg-event-type: SubscriptionValidation\r\n");
    let e = explain_raw(c, &post("/grid", &headers, validation));
    assert!(e.out.contains(r#"verdict  200 {"validationResponse":"abc-1"}"#), "{}", e.out);
    let notification = format!("x-token: {TOKEN}\r\naeg-event-type: Notification\r\n");
    let e = explain_raw(c, &post("/grid", &notification, validation));
    assert_refused(&e, "event_grid", "handshake_malformed", 401);
}
