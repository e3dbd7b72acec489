//! `webhook-guard sign` on the real binary: what it signs checked with an HMAC computed
//! here, the asymmetric schemes with keys made by openssl, and every argument error with
//! a clear message and exit status (2 usage, 1 cannot sign), never quoting a secret.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use common::{run, run_stdin, scratch, write};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const BODY: &str = r#"{"id":"evt_1","amount":4200}"#;

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn header<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect("openssl runs (make setup installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn signs_what_an_independent_hmac_gives() {
    let dir = scratch("sign-hmac");
    let body = write(&dir, "body.json", BODY);
    let r = run(&["sign", "--scheme", "github", "--secret", "gh-secret", "--body", &body], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "content-type: application/json\nx-hub-signature-256: sha256={}\n",
            hmac_hex(b"gh-secret", BODY.as_bytes())
        )
    );
    // Slack at a given time, the body from standard input, the secret from the environment.
    let r = run_stdin(
        &["sign", "--scheme", "slack", "--secret-env", "S", "--body", "-", "--timestamp", "1700000000"],
        &[("S", "slack-secret")],
        Some(BODY.as_bytes()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(header(&r.stdout, "x-slack-request-timestamp"), "1700000000");
    let want = hmac_hex(b"slack-secret", format!("v0:1700000000:{BODY}").as_bytes());
    assert_eq!(header(&r.stdout, "x-slack-signature"), format!("v0={want}"));
    // Stripe's list, with the timestamp inside it.
    let r =
        run(&["sign", "--scheme", "stripe", "--secret", "whsec_k", "--body", &body, "--timestamp", "1700000000"], &[]);
    let want = hmac_hex(b"whsec_k", format!("1700000000.{BODY}").as_bytes());
    assert_eq!(header(&r.stdout, "stripe-signature"), format!("t=1700000000,v1={want}"));
}

#[test]
fn curl_line_quotes_for_the_shell() {
    let dir = scratch("sign-curl");
    let body = write(&dir, "body.json", BODY);
    let r = run(
        &[
            "sign",
            "--scheme",
            "github",
            "--secret",
            "k",
            "--body",
            &body,
            "--curl",
            "http://localhost:10000/hooks/github",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sig = hmac_hex(b"k", BODY.as_bytes());
    assert_eq!(
        r.stdout,
        format!(
            "curl -sS http://localhost:10000/hooks/github -H 'content-type: application/json' \
             -H 'x-hub-signature-256: sha256={sig}' --data-binary @{body}\n"
        )
    );
}

#[test]
fn configured_route_signs_with_its_secret_from_the_environment() {
    let dir = scratch("sign-config");
    let config = write(
        &dir,
        "policy.json",
        r#"{"api":"v1","routes":[
            {"name":"gh","match":{"path_exact":"/gh"},"checks":{"signature":{"scheme":"github","secrets":[{"env":"GH_SECRET"}]}}},
            {"name":"plain","match":{"path_exact":"/p"},"checks":{"headers":[{"name":"x-t","secrets":[{"value":"v"}]}]}}]}"#,
    );
    let body = write(&dir, "body.json", BODY);
    let r = run(&["sign", "--config", &config, "--route", "gh", "--body", &body], &[("GH_SECRET", "from-env")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(header(&r.stdout, "x-hub-signature-256"), format!("sha256={}", hmac_hex(b"from-env", BODY.as_bytes())));
    let env_file = write(&dir, "env", "GH_SECRET=from-file\n");
    let r = run(&["sign", "--config", &config, "--route", "gh", "--body", &body, "--env-file", &env_file], &[]);
    assert_eq!(header(&r.stdout, "x-hub-signature-256"), format!("sha256={}", hmac_hex(b"from-file", BODY.as_bytes())));

    let r = run(&["sign", "--config", &config, "--route", "gh"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("environment variable GH_SECRET is unset or empty"), "{}", r.stderr);
    let r = run(&["sign", "--config", &config, "--route", "nope"], &[("GH_SECRET", "x")]);
    assert_eq!(
        (r.code, r.stderr.trim_end().ends_with("no route \"nope\" (routes: gh, plain)")),
        (1, true),
        "{}",
        r.stderr
    );
    let r = run(&["sign", "--config", &config, "--route", "plain"], &[("GH_SECRET", "x")]);
    assert!(r.stderr.contains("route \"plain\" has no signature check"), "{}", r.stderr);
}

#[test]
fn private_keys_from_openssl() {
    let dir = scratch("sign-keys");
    let ed = dir.join("ed.pem").display().to_string();
    let ec = dir.join("ec.pem").display().to_string();
    let sec1 = dir.join("sec1.pem").display().to_string();
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &ed]);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &ec]);
    openssl(&["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", &sec1]);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let ed_public = openssl(&["pkey", "-in", &ed, "-pubout", "-outform", "DER"]);
    let r = run(&["sign", "--scheme", "discord", "--private-key", &ed, "--public-key"], &[]);
    assert_eq!(r.stdout.trim(), hex(&ed_public[ed_public.len() - 32..]), "{}", r.stderr);
    use base64::Engine;
    for key in [&ec, &sec1] {
        let spki = openssl(&["pkey", "-in", key, "-pubout", "-outform", "DER"]);
        let r = run(&["sign", "--scheme", "sendgrid", "--private-key", key, "--public-key"], &[]);
        assert_eq!(r.stdout.trim(), base64::engine::general_purpose::STANDARD.encode(&spki), "{}", r.stderr);
        let r = run(&["sign", "--scheme", "sendgrid", "--private-key", key, "--timestamp", "1700000000"], &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(header(&r.stdout, "x-twilio-email-event-webhook-timestamp"), "1700000000");
    }
    let r = run(&["sign", "--scheme", "standard", "--private-key", &ed, "--id", "msg_1"], &[]);
    assert!(header(&r.stdout, "webhook-signature").starts_with("v1a,"), "{}", r.stdout);

    // The wrong kind of key for the scheme, and a file that is no key.
    let r = run(&["sign", "--scheme", "discord", "--private-key", &ec], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "webhook-guard: scheme \"discord\" does not sign with ECDSA P-256 (it verifies Ed25519)\n");
    let junk = write(&dir, "junk.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    let r = run(&["sign", "--scheme", "discord", "--private-key", &junk], &[]);
    assert_eq!((r.code, r.stderr.contains("not an Ed25519 or P-256 private key")), (1, true), "{}", r.stderr);
}

#[test]
fn argument_errors_say_what_is_wrong() {
    // Usage errors: exit 2, clap's format, the subcommand's usage line.
    let r = run(&["sign", "--scheme", "github"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: a key is needed: give --secret, --secret-env, --secret-file or --private-key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Usage: webhook-guard sign"), "{}", r.stderr);
    let r = run(&["sign", "--scheme", "githb", "--secret", "k"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: invalid value 'githb' for '--scheme <NAME>'"), "{}", r.stderr);
    assert!(r.stderr.contains("tip: a similar value exists: 'github'"), "{}", r.stderr);
    let r = run(&["sign", "--secret", "k"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the following required arguments were not provided:\n  --scheme <NAME>"),
        "{}",
        r.stderr
    );
    let r = run(&["sign", "--scheme", "github", "--secret", "a", "--secret-env", "B"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("the argument '--secret <S>' cannot be used with '--secret-env <NAME>'"), "{}", r.stderr);
    let r = run(&["sign", "--route", "gh", "--secret", "k"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(&["sign", "--list", "--scheme", "github"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Cannot sign: exit 1, one line, and the secret never in it.
    let secret = "whsec_not!base64-secret-9f";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--scheme", "discord", "--secret", secret],
            "scheme \"discord\" signs with a private key (Ed25519), not a shared secret",
        ),
        (
            &["--scheme", "standard", "--secret", secret],
            "a standard-webhooks secret must be base64 (optionally after a `whsec_` prefix)",
        ),
        (
            &["--scheme", "twilio", "--secret", secret],
            "this scheme signs the URL: give --url (or --curl) with the URL the provider calls",
        ),
        (
            &["--scheme", "github", "--secret", secret, "--url", "ftp://x/"],
            "\"ftp://x/\" is not an http:// or https:// URL",
        ),
        (
            &["--scheme", "slack", "--secret", secret, "--timestamp", "noon"],
            "the timestamp \"noon\" is not unix seconds",
        ),
        (&["--scheme", "github", "--secret-env", "UNSET"], "environment variable UNSET is not set"),
        (&["--scheme", "github", "--secret", ""], "the secret is empty"),
        (
            &["--scheme", "github", "--secret", secret, "--body", "/nonexistent/body"],
            "/nonexistent/body: No such file or directory (os error 2)",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["sign"];
        all.extend_from_slice(args);
        let r = run(&all, &[]);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, format!("webhook-guard: {want}\n"), "{args:?}");
        assert!(r.stdout.is_empty() && !r.stderr.contains(secret), "{args:?}");
    }
}

#[test]
fn list_shows_every_preset_once() {
    let r = run(&["sign", "--list"], &[]);
    assert_eq!(r.code, 0);
    let names: Vec<&str> =
        r.stdout.lines().filter(|l| !l.starts_with(' ')).map(|l| l.split_whitespace().next().unwrap()).collect();
    let mut want: Vec<&str> = webhook_guard::verify::signature::presets::names();
    want.extend(["generic", "paypal", "plaid"]);
    assert_eq!(names, want);
    assert!(
        r.stdout.contains(
            "discord          private key            x-signature-ed25519: <sig>  (Ed25519 hex of {timestamp}{body})"
        ),
        "{}",
        r.stdout
    );
}

/// Each preset's source and departures come from its row, under its line.
#[test]
fn list_shows_each_presets_source_and_departures() {
    let r = run(&["sign", "--list"], &[]);
    assert_eq!(r.code, 0);
    let block = |name: &str| -> Vec<String> {
        let mut lines = r.stdout.lines().skip_while(|l| l.split_whitespace().next() != Some(name));
        let head = lines.next().unwrap_or_else(|| panic!("no {name} in:\n{}", r.stdout));
        std::iter::once(head).chain(lines.take_while(|l| l.starts_with(' '))).map(|l| l.trim().to_string()).collect()
    };
    for p in webhook_guard::verify::signature::presets::all() {
        let b = block(p.name);
        assert!(b.contains(&format!("source: {}", p.source)), "{b:?}");
        for d in p.departures() {
            assert!(b.contains(&format!("departs: {d}")), "{b:?}");
        }
    }
    let stripe = block("stripe");
    assert!(
        stripe.contains(&"verifier: stripe (PyPI): stripe.WebhookSignature.verify_header".to_string()),
        "{stripe:?}"
    );
    assert!(stripe.contains(&"departs: future 60 s (its verifier: no limit)".to_string()), "{stripe:?}");
    assert!(stripe.contains(&"departs: repeated headers refused".to_string()), "{stripe:?}");
    // A preset without a timestamp has no window to depart from.
    let github = block("github");
    assert!(!github.iter().any(|l| l.starts_with("departs: past") || l.starts_with("departs: future")), "{github:?}");
}

#[test]
fn adyen_signs_each_item_of_the_notification_in_its_body() {
    use base64::Engine;
    let dir = scratch("sign-adyen");
    let items = r#"{"live":"false","notificationItems":[
        {"NotificationRequestItem":{"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","merchantAccountCode":"Shop","pspReference":"p1","success":"true"}},
        {"NotificationRequestItem":{"amount":{"currency":"EUR","value":-5},"eventCode":"REFUND","originalReference":"p1","pspReference":"p2","success":"false"}}]}"#;
    let body = write(&dir, "notification.json", items);
    let key = "00112233445566778899AABBCCDDEEFF";
    let r = run(&["sign", "--scheme", "adyen", "--secret", key, "--body", &body], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The headers, a blank line, then the body with a signature in each item.
    let (head, signed) = r.stdout.split_once("\n\n").unwrap();
    assert_eq!(head, "content-type: application/json");
    let doc: serde_json::Value = serde_json::from_str(signed.trim_end()).unwrap();
    let raw_key: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap()).collect();
    for (item, text) in [(0, "p1::Shop::1130:EUR:AUTHORISATION:true"), (1, "p2:p1:::-5:EUR:REFUND:false")] {
        let mut m = Hmac::<Sha256>::new_from_slice(&raw_key).unwrap();
        m.update(text.as_bytes());
        let want = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
        let got = &doc["notificationItems"][item]["NotificationRequestItem"]["additionalData"]["hmacSignature"];
        assert_eq!(got, &serde_json::Value::String(want), "item {item}");
    }
    assert_eq!(doc["live"], "false");
    // A key that is not hex, and a body that is no notification, are refused with a reason.
    let r = run(&["sign", "--scheme", "adyen", "--secret", "not-hex", "--body", &body], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("must be hex"), "{}", r.stderr);
    let plain = write(&dir, "plain.json", r#"{"id":1}"#);
    let r = run(&["sign", "--scheme", "adyen", "--secret", key, "--body", &plain], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("signed_field_malformed"), "{}", r.stderr);
    assert!(!r.stderr.contains(key), "{}", r.stderr);
}

#[test]
fn event_grid_routes_get_their_secret_header_and_event_type() {
    let dir = scratch("sign-event-grid");
    let config = write(
        &dir,
        "policy.json",
        r#"{"api":"v1","routes":[
            {"name":"grid","match":{"path_exact":"/grid"},"checks":{"headers":[{"name":"X-Grid-Key","secrets":[{"env":"GRID_KEY"}]}],"event_grid":{}}},
            {"name":"entra","match":{"path_exact":"/entra"},"checks":{"jwt":{"secrets":[{"value":"j"}]},"event_grid":{}}}]}"#,
    );
    let validation = write(
        &dir,
        "validation.json",
        r#"[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"abc-1"}}]"#,
    );
    let env = [("GRID_KEY", "grid-key-1")];
    let r = run(&["sign", "--config", &config, "--route", "grid", "--body", &validation], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "content-type: application/json\nx-grid-key: grid-key-1\naeg-event-type: SubscriptionValidation\n"
    );
    let event = write(&dir, "event.json", r#"[{"id":"2","eventType":"Contoso.Thing"}]"#);
    let r = run(&["sign", "--config", &config, "--route", "grid", "--body", &event], &env);
    assert_eq!(header(&r.stdout, "aeg-event-type"), "Notification");
    let r = run(
        &["sign", "--config", &config, "--route", "grid", "--method", "OPTIONS", "--curl", "http://127.0.0.1:1/grid"],
        &env,
    );
    assert_eq!(
        r.stdout,
        "curl -sS -X OPTIONS http://127.0.0.1:1/grid -H 'x-grid-key: grid-key-1' -H 'webhook-request-origin: eventgrid.azure.net'\n"
    );
    let r = run(&["sign", "--config", &config, "--route", "entra"], &env);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("mint a test token with `webhook-guard jwt`"), "{}", r.stderr);
}
