//! Each preset reads a request as its provider's own verifier does: what that verifier
//! refuses (upper-case hex, a list it cannot parse, a header declaring another version,
//! one key's signature in another key's header, a body it cannot read) is refused here
//! too, and what it accepts (an unknown list item, the first of two `t`) is accepted.

use super::presets::{self, Departure, CLOCK_SKEW_SECONDS};
use super::vectors::{check, req, NOW, SENDGRID_BODY, SENDGRID_KEY, SENDGRID_SIGNATURE};
use super::*;
use crate::verify::encoding::hex_encode;
use base64::Engine;

const BODY: &[u8] = br#"{"id":"evt_1","event":{"type":"x"}}"#;

fn hex(key: &str, parts: &[&[u8]]) -> String {
    hex_encode(&compute(Algorithm::Sha256, key.as_bytes(), parts))
}

fn b64(key: &str, parts: &[&[u8]]) -> String {
    base64::engine::general_purpose::STANDARD.encode(compute(Algorithm::Sha256, key.as_bytes(), parts))
}

fn with_secrets(scheme: &str, secrets: &[&str]) -> SignatureCheck {
    let list: Vec<String> =
        secrets.iter().enumerate().map(|(i, s)| format!(r#"{{"id":"k{i}","value":"{s}"}}"#)).collect();
    check(&format!(r#"{{"scheme":"{scheme}","secrets":[{}]}}"#, list.join(",")))
}

fn stripe_at(now: u64, header: &str, body: &[u8]) -> Result<&'static str, Denial> {
    let c = with_secrets("stripe", &["whsec_k"]);
    c.verify(&req(now, "POST", "/s", &[("stripe-signature", header)]), body).map(|_| "ok")
}

#[test]
fn hex_signatures_in_upper_case_are_refused_where_the_verifier_compares_lower_case() {
    let body_sig = hex("k", &[BODY]);
    let cases: [(&str, &str, String); 4] = [
        ("github", "x-hub-signature-256", format!("sha256={body_sig}")),
        ("razorpay", "x-razorpay-signature", body_sig.clone()),
        ("coinbase", "x-cc-webhook-signature", body_sig.clone()),
        ("slack", "x-slack-signature", format!("v0={}", hex("k", &[b"v0:1700000000:", BODY]))),
    ];
    for (scheme, header, sig) in cases {
        let c = with_secrets(scheme, &["k"]);
        let at = |v: &str| req(NOW, "POST", "/h", &[(header, v), ("x-slack-request-timestamp", "1700000000")]);
        assert_eq!(c.verify(&at(&sig), BODY), Ok("k0"), "{scheme}");
        let upper = sig.replacen(&sig[sig.len() - 64..], &sig[sig.len() - 64..].to_ascii_uppercase(), 1);
        assert_eq!(c.verify(&at(&upper), BODY), Err(Denial::SignatureMalformed), "{scheme}");
    }
    let zoom = with_secrets("zoom", &["k"]);
    let sig = hex("k", &[b"v0:1700000000:", BODY]);
    let at = |v: &str| req(NOW, "POST", "/z", &[("x-zm-signature", v), ("x-zm-request-timestamp", "1700000000")]);
    assert_eq!(zoom.verify(&at(&format!("v0={sig}")), BODY), Ok("k0"));
    assert_eq!(zoom.verify(&at(&format!("v0={}", sig.to_ascii_uppercase())), BODY), Err(Denial::SignatureMalformed));
    // An upper-case v1 in Stripe's list is a candidate that cannot match.
    let mac = hex("whsec_k", &[b"1700000000.", BODY]);
    assert_eq!(stripe_at(NOW, &format!("t=1700000000,v1={mac}"), BODY), Ok("ok"));
    assert!(stripe_at(NOW, &format!("t=1700000000,v1={}", mac.to_ascii_uppercase()), BODY).is_err());
    // generic: either case unless told.
    let any = check(r#"{"scheme":"generic","secrets":[{"value":"k"}]}"#);
    let lower = check(r#"{"scheme":"generic","secrets":[{"value":"k"}],"hex_case":"lower"}"#);
    let upper = req(NOW, "POST", "/g", &[("x-webhook-signature", &body_sig.to_ascii_uppercase())]);
    assert_eq!(any.verify(&upper, BODY), Ok("0"));
    assert_eq!(lower.verify(&upper, BODY), Err(Denial::SignatureMalformed));
}

#[test]
fn stripe_reads_its_list_as_stripes_library_does() {
    let mac = hex("whsec_k", &[b"1700000000.", BODY]);
    // Unknown and pair-less items, empty ones: skipped.
    assert_eq!(stripe_at(NOW, &format!("t=1700000000,,junk,v0=ab,v1={mac}"), BODY), Ok("ok"));
    // No trimming: ` v1` is another key, so there is no v1 at all.
    assert_eq!(stripe_at(NOW, &format!("t=1700000000, v1={mac}"), BODY), Err(Denial::SignatureMissing));
    // An undecodable v1 beside a good one is a candidate that does not match.
    assert_eq!(stripe_at(NOW, &format!("t=1700000000,v1=zz,v1={mac}"), BODY), Ok("ok"));
    assert_eq!(stripe_at(NOW, "t=1700000000,v1=zz", BODY), Err(Denial::SignatureMalformed));
    // The library decodes the body as UTF-8 before it signs.
    let raw: &[u8] = b"\xff\xfe";
    let sig = hex("whsec_k", &[b"1700000000.", raw]);
    assert_eq!(stripe_at(NOW, &format!("t=1700000000,v1={sig}"), raw), Err(Denial::SignatureMalformed));
}

#[test]
fn future_timestamps_get_the_clock_skew_allowance_where_the_provider_sets_no_limit() {
    let mac = hex("whsec_k", &[b"1700000000.", BODY]);
    let hdr = format!("t=1700000000,v1={mac}");
    let ahead = NOW - CLOCK_SKEW_SECONDS;
    assert_eq!(stripe_at(ahead, &hdr, BODY), Ok("ok"));
    assert_eq!(stripe_at(ahead - 1, &hdr, BODY), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(stripe_at(NOW + 300, &hdr, BODY), Ok("ok"));
    assert_eq!(stripe_at(NOW + 301, &hdr, BODY), Err(Denial::TimestampOutOfTolerance));
    let stripe = presets::preset("stripe").unwrap();
    assert_eq!(stripe.departures()[0], Departure::Future { ours: CLOCK_SKEW_SECONDS, theirs: None });
    // A configured tolerance_seconds still holds both ways.
    let c = check(r#"{"scheme":"stripe","secrets":[{"value":"whsec_k"}],"tolerance_seconds":600}"#);
    assert_eq!(c.verify(&req(NOW - 600, "POST", "/s", &[("stripe-signature", &hdr)]), BODY), Ok("0"));
}

#[test]
fn paddle_refuses_what_its_parser_refuses_and_takes_the_last_ts() {
    let c = with_secrets("paddle", &["k"]);
    let mac = hex("k", &[b"1700000000:", BODY]);
    let at = |v: &str| c.verify(&req(NOW, "POST", "/p", &[("paddle-signature", v)]), BODY);
    assert_eq!(at(&format!("ts=1700000000;;junk;h1={mac}")), Ok("k0"));
    assert_eq!(at(&format!("ts=1700000000;h1={mac}")), Ok("k0"));
    assert_eq!(at(&format!("ts=1;ts=1700000000;h1={mac}")), Ok("k0"));
    assert_eq!(at(&format!("ts=1700000000;h2=ab;h1={mac}")), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("ts=1700000000;h1={mac}=x")), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("ts=1700000000; h1={mac}")), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("ts=1700000000;h1={}", mac.to_ascii_uppercase())), Err(Denial::SignatureMalformed));
}

#[test]
fn workos_takes_exactly_t_then_v1_after_a_comma_and_a_space() {
    let c = with_secrets("workos", &["k"]);
    let mac = hex("k", &[b"1700000000123.", BODY]);
    let at = |v: &str| c.verify(&req(NOW, "POST", "/w", &[("workos-signature", v)]), BODY);
    assert_eq!(at(&format!("t=1700000000123, v1={mac}")), Ok("k0"));
    for bad in [
        format!("t=1700000000123,v1={mac}"),
        format!("v1={mac}, t=1700000000123"),
        format!("t=1700000000123, v1={mac}, v1={mac}"),
        format!("t=1700000000123,  v1={mac}"),
    ] {
        assert!(at(&bad).is_err(), "{bad}");
    }
}

#[test]
fn box_binds_each_key_to_its_header_and_requires_the_declared_version_and_algorithm() {
    let ts = "2023-11-14T22:13:20Z";
    let primary = b64("p", &[BODY, ts.as_bytes()]);
    let secondary = b64("s", &[BODY, ts.as_bytes()]);
    let c = with_secrets("box", &["p", "s"]);
    let mut base =
        [("box-delivery-timestamp", ts), ("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256")];
    let at = |extra: &[(&'static str, &str)], drop: &str| {
        let mut all: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != drop).collect();
        all.extend_from_slice(extra);
        c.verify(&req(NOW, "POST", "/b", &all), BODY)
    };
    assert_eq!(at(&[("box-signature-primary", &primary)], ""), Ok("k0"));
    assert_eq!(at(&[("box-signature-secondary", &secondary)], ""), Ok("k1"));
    // The primary key's signature in the secondary header, and the other way round.
    assert_eq!(at(&[("box-signature-secondary", &primary)], ""), Err(Denial::SignatureMismatch));
    assert_eq!(at(&[("box-signature-primary", &secondary)], ""), Err(Denial::SignatureMismatch));
    assert_eq!(at(&[("box-signature-primary", &primary)], "box-signature-version"), Err(Denial::SignatureMalformed));
    assert_eq!(at(&[("box-signature-primary", &primary)], "box-signature-algorithm"), Err(Denial::SignatureMalformed));
    base[1] = ("box-signature-version", "2");
    let c2 = with_secrets("box", &["p"]);
    let all: Vec<(&str, &str)> = base.iter().copied().chain([("box-signature-primary", primary.as_str())]).collect();
    assert_eq!(c2.verify(&req(NOW, "POST", "/b", &all), BODY), Err(Denial::SignatureMalformed));
    let err = SignatureCheck::compile(
        &crate::wire::read_str(r#"{"scheme":"box","secrets":[{"value":"a"},{"value":"b"},{"value":"c"}]}"#).unwrap(),
        "sig",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("sig.secrets: scheme \"box\" binds each secret to one header"), "{err}");
    let departures = presets::preset("box").unwrap().departures();
    assert!(departures.contains(&Departure::Future { ours: CLOCK_SKEW_SECONDS, theirs: Some(0) }));
    assert!(departures.iter().any(|d| matches!(d, Departure::Other(t) if t.contains("escaped"))));
}

#[test]
fn bodies_the_providers_verifier_cannot_read_are_refused() {
    let empty_sig = b64("k", &[b"https://hooks.example.com/sq", b""]);
    let square = with_secrets("square", &["k"]);
    let h = req(NOW, "POST", "/sq", &[("x-square-hmacsha256-signature", &empty_sig)]);
    assert_eq!(square.verify(&h, b""), Err(Denial::SignatureMalformed));
    let coinbase = with_secrets("coinbase", &["k"]);
    let sig = hex("k", &[b"not json"]);
    let h = req(NOW, "POST", "/c", &[("x-cc-webhook-signature", &sig)]);
    assert_eq!(coinbase.verify(&h, b"not json"), Err(Denial::PayloadNotJson));
    let generic = check(r#"{"scheme":"generic","secrets":[{"value":"k"}],"body_format":"json"}"#);
    let h = req(NOW, "POST", "/g", &[("x-webhook-signature", &sig)]);
    assert_eq!(generic.verify(&h, b"not json"), Err(Denial::PayloadNotJson));
}

#[test]
fn twilio_refuses_a_shared_key_declaration_and_an_upper_case_body_hash() {
    let c = check(r#"{"scheme":"twilio","secrets":[{"value":"tok"}],"public_url":"https://x.example/t"}"#);
    let body = br#"{"a":1}"#;
    let hash = hex_encode(&{
        use sha2::{Digest, Sha256};
        Sha256::digest(body)
    });
    let url = format!("https://x.example/t?bodySHA256={hash}");
    let sig = base64::engine::general_purpose::STANDARD.encode(compute(Algorithm::Sha1, b"tok", &[url.as_bytes()]));
    let path = format!("/t?bodySHA256={hash}");
    assert_eq!(c.verify(&req(NOW, "POST", &path, &[("x-twilio-signature", &sig)]), body), Ok("0"));
    let declared =
        [("x-twilio-signature", sig.as_str()), ("x-twilio-webhooks-signature-settings", "key=k,algorithm=HMAC_SHA1")];
    assert_eq!(c.verify(&req(NOW, "POST", &path, &declared), body), Err(Denial::SignatureMalformed));
    let upper = format!("/t?bodySHA256={}", hash.to_ascii_uppercase());
    assert!(c.verify(&req(NOW, "POST", &upper, &[("x-twilio-signature", &sig)]), body).is_err());
}

#[test]
fn generic_list_rules_and_declared_headers() {
    let c = check(
        r#"{"scheme":"generic","secrets":[{"value":"k"}],"header":"X-Sig","signed_payload":"{timestamp}.{body}",
            "list":{"separator":", ","timestamp_key":"t","trim":false,"unknown":"refuse","repeated":"last","fixed":false},
            "declared":[{"header":"x-sig-version","equals":"2"},{"header":"x-legacy"}]}"#,
    );
    let mac = hex("k", &[b"1700000000.", BODY]);
    let at = |v: &str, extra: &[(&str, &str)]| {
        let mut all = vec![("x-sig", v), ("x-sig-version", "2")];
        all.extend_from_slice(extra);
        c.verify(&req(NOW, "POST", "/g", &all), BODY)
    };
    assert_eq!(at(&format!("t=1, t=1700000000, v1={mac}"), &[]), Ok("0"));
    assert_eq!(at(&format!("t=1700000000, x=1, v1={mac}"), &[]), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("t=1700000000, v1={mac}"), &[("x-legacy", "1")]), Err(Denial::SignatureMalformed));
    let errors = [
        (r#""list":{"unknown":"drop"}"#, "sig.list.unknown: \"drop\" is not one of ignore, refuse"),
        (r#""list":{"fixed":true}"#, "sig.list.fixed: a fixed list starts with `timestamp_key`"),
        (r#""hex_case":"upper""#, "sig.hex_case: \"upper\" is not one of any, lower"),
        (r#""body_format":"xml""#, "sig.body_format: \"xml\" is not one of bytes, text, non_empty_text, json"),
        (r#""declared":[{"header":"bad header"}]"#, "sig.declared[0].header: \"bad header\" is not a header name"),
    ];
    for (extra, want) in errors {
        let json = format!(r#"{{"scheme":"generic","secrets":[{{"value":"k"}}],{extra}}}"#);
        let c: SignatureConfig = crate::wire::read_str(&json).unwrap();
        let got = SignatureCheck::compile(&c, "sig", &|_| None).unwrap_err().to_string();
        assert!(got.starts_with(want), "{extra}\n got {got:?}\nwant {want:?}");
    }
}

// Calendly's page: its example splits `Calendly-Webhook-Signature` at `,` and `=` as
// written, keeps the last `t`, compares lower-case hex strings, and refuses a message
// three minutes old; nothing is said of one ahead.
#[test]
fn calendly_reads_its_header_as_the_page_does() {
    let c = with_secrets("calendly", &["k"]);
    let sig = |t: u64| hex("k", &[t.to_string().as_bytes(), b".", BODY]);
    let at = |now: u64, h: &str| c.verify(&req(now, "POST", "/c", &[("calendly-webhook-signature", h)]), BODY);
    let s = sig(NOW);
    assert_eq!(at(NOW, &format!("t={NOW},v1={s}")), Ok("k0"));
    // Unknown and pair-less items are skipped; of two `t`, the last is the one read.
    assert_eq!(at(NOW, &format!("t={NOW},v0=abc,x,v1={s}")), Ok("k0"));
    assert_eq!(at(NOW, &format!("t={},t={NOW},v1={s}", NOW - 10)), Ok("k0"));
    assert_eq!(at(NOW, &format!("t={NOW},t={},v1={s}", NOW - 10)), Err(Denial::SignatureMismatch));
    // A space before an item makes it another key, as in the example.
    assert_eq!(at(NOW, &format!("t={NOW}, v1={s}")), Err(Denial::SignatureMissing));
    assert_eq!(at(NOW, &format!("t={NOW},v1={}", s.to_uppercase())), Err(Denial::SignatureMalformed));
    // 180 s old passes, 181 s does not; ahead, the shared allowance for clock skew.
    assert_eq!(at(NOW + 180, &format!("t={NOW},v1={s}")), Ok("k0"));
    assert_eq!(at(NOW + 181, &format!("t={NOW},v1={s}")), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(at(NOW - CLOCK_SKEW_SECONDS, &format!("t={NOW},v1={s}")), Ok("k0"));
    assert_eq!(at(NOW - CLOCK_SKEW_SECONDS - 1, &format!("t={NOW},v1={s}")), Err(Denial::TimestampOutOfTolerance));
}

// CircleCI's page: a comma-separated list read as written, `v1` the lower-case hex
// HMAC-SHA256 of the body; its own example signatures hold.
#[test]
fn circleci_reads_its_header_as_the_page_does() {
    let c = with_secrets("circleci", &["secret"]);
    let at = |h: &str, body: &[u8]| c.verify(&req(NOW, "POST", "/c", &[("circleci-signature", h)]), body);
    let page = "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a";
    assert_eq!(at(&format!("v1={page}"), b"hello world"), Ok("k0"));
    assert_eq!(at(&format!("v1={page},v2=abc,v3=def"), b"hello world"), Ok("k0"));
    assert_eq!(at(&format!("v1={}", page.to_uppercase()), b"hello world"), Err(Denial::SignatureMalformed));
    // A space before the item makes another key; an item without `=` fails the split.
    assert_eq!(at(&format!("v0=abc, v1={page}"), b"hello world"), Err(Denial::SignatureMissing));
    assert_eq!(at(&format!("v1={page},x"), b"hello world"), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("v1={page}"), b"hello world!"), Err(Denial::SignatureMismatch));
}

const SHOPIFY_REQUIRED: [(&str, &str); 4] = [
    ("x-shopify-topic", "orders/create"),
    ("x-shopify-shop-domain", "example.myshopify.com"),
    ("x-shopify-api-version", "2025-10"),
    ("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
];

// @shopify/shopify-api's validate: a non-empty body, read as text; the base64 compared
// whole; the topic, shop domain, API version and webhook id present and not empty.
#[test]
fn shopify_refuses_what_its_library_refuses() {
    let c = with_secrets("shopify", &["k"]);
    let at = |sig: &str, body: &[u8]| {
        let mut h = vec![("x-shopify-hmac-sha256", sig)];
        h.extend(SHOPIFY_REQUIRED);
        c.verify(&req(NOW, "POST", "/s", &h), body)
    };
    assert_eq!(at(&b64("k", &[BODY]), BODY), Ok("k0"));
    assert_eq!(at(&b64("k", &[b""]), b""), Err(Denial::SignatureMalformed));
    let latin1 = b"{\"note\":\"h\xe9llo\"}";
    assert_eq!(at(&b64("k", &[latin1]), latin1), Err(Denial::SignatureMalformed));
    // The last character of a 32-byte MAC in base64 carries two unused bits: another
    // character there is another string, refused as the library's comparison would.
    let sig = b64("k", &[BODY]);
    let last = sig.as_bytes()[sig.len() - 2];
    let other = if last == b'A' { 'B' } else { 'A' };
    let changed = format!("{}{other}=", &sig[..sig.len() - 2]);
    assert_ne!(at(&changed, BODY), Ok("k0"));
}

#[test]
fn shopify_refuses_a_request_without_a_header_its_library_requires() {
    let c = with_secrets("shopify", &["k"]);
    let sig = b64("k", &[BODY]);
    let at = |h: &[(&str, &str)]| c.verify(&req(NOW, "POST", "/s", h), BODY);
    let all: Vec<(&str, &str)> =
        [("x-shopify-hmac-sha256", sig.as_str())].into_iter().chain(SHOPIFY_REQUIRED).collect();
    assert_eq!(at(&all), Ok("k0"));
    for (name, _) in SHOPIFY_REQUIRED {
        // The webhook id is the message id: its own reason; the others are the scheme's.
        let want = if name == "x-shopify-webhook-id" { Denial::MessageIdMissing } else { Denial::SignatureMalformed };
        let without: Vec<_> = all.iter().copied().filter(|(n, _)| *n != name).collect();
        assert_eq!(at(&without), Err(want), "{name} absent");
        let empty: Vec<_> = all.iter().map(|&(n, v)| (n, if n == name { "" } else { v })).collect();
        assert_eq!(at(&empty), Err(want), "{name} empty");
        let twice: Vec<_> = all.iter().copied().chain([(name, "x")]).collect();
        assert_eq!(at(&twice), Err(Denial::SignatureRepeated), "{name} twice");
    }
    // Whatever the values, as the library reads them; signing writes all four.
    let other: Vec<_> =
        all.iter().map(|&(n, v)| (n, if n == "x-shopify-topic" { "app/uninstalled" } else { v })).collect();
    assert_eq!(at(&other), Ok("k0"));
}

// Alchemy's and Coinify's code reads the body as UTF-8 text before the MAC.
#[test]
fn alchemy_and_coinify_need_a_utf8_body() {
    let latin1 = b"{\"note\":\"h\xe9llo\"}";
    for (name, header) in [("alchemy", "x-alchemy-signature"), ("coinify", "x-coinify-webhook-signature")] {
        let c = with_secrets(name, &["k"]);
        let at = |body: &[u8]| {
            let sig = hex("k", &[body]);
            c.verify(&req(NOW, "POST", "/a", &[(header, sig.as_str())]), body)
        };
        assert_eq!(at(BODY), Ok("k0"), "{name}");
        assert_eq!(at(latin1), Err(Denial::SignatureMalformed), "{name}");
    }
}

// Microsoft's outgoing-webhook sample: the body read as UTF-8 text, `HMAC <base64>` compared whole.
#[test]
fn microsoft_teams_compares_the_header_as_its_sample_does() {
    let token = base64::engine::general_purpose::STANDARD.encode(b"teams security token 0123456789ab");
    let c = with_secrets("microsoft_teams", &[&token]);
    let key = base64::engine::general_purpose::STANDARD.decode(&token).unwrap();
    let mac = |body: &[u8]| base64::engine::general_purpose::STANDARD.encode(compute(Algorithm::Sha256, &key, &[body]));
    let at = |h: &str, body: &[u8]| c.verify(&req(NOW, "POST", "/t", &[("authorization", h)]), body);
    assert_eq!(at(&format!("HMAC {}", mac(BODY)), BODY), Ok("k0"));
    assert_eq!(at(&format!("hmac {}", mac(BODY)), BODY), Err(Denial::SignatureMalformed));
    assert_eq!(at(&format!("HMAC  {}", mac(BODY)), BODY), Err(Denial::SignatureMalformed));
    let latin1 = b"{\"text\":\"h\xe9llo\"}";
    assert_eq!(at(&format!("HMAC {}", mac(latin1)), latin1), Err(Denial::SignatureMalformed));
}

// @notionhq/client 5.26.0 (verifyWebhookSignature): `sha256=` as written, the hex lower-cased
// before it is compared, the body's bytes as given.
#[test]
fn notion_reads_hex_in_either_case_after_its_exact_prefix() {
    let c = with_secrets("notion", &["secret_n"]);
    let at = |h: &str, body: &[u8]| c.verify(&req(NOW, "POST", "/n", &[("x-notion-signature", h)]), body);
    let sig = hex("secret_n", &[BODY]);
    assert_eq!(at(&format!("sha256={sig}"), BODY), Ok("k0"));
    assert_eq!(at(&format!("sha256={}", sig.to_ascii_uppercase()), BODY), Ok("k0"));
    assert_eq!(at(&format!("SHA256={sig}"), BODY), Err(Denial::SignatureMalformed));
    let bytes = b"{\"text\":\"h\xe9llo\"}";
    assert_eq!(at(&format!("sha256={}", hex("secret_n", &[bytes])), bytes), Ok("k0"));
}

// X's receiver (xdevplatform/autohook, validateSignature): the body read as text, `sha256=`
// and the base64 compared whole. Cal.com's sender writes lower-case hex.
#[test]
fn twitter_reads_a_text_body_and_calcom_lower_case_hex() {
    let x = with_secrets("twitter", &["consumer"]);
    let at = |h: &str, body: &[u8]| x.verify(&req(NOW, "POST", "/x", &[("x-twitter-webhooks-signature", h)]), body);
    assert_eq!(at(&format!("sha256={}", b64("consumer", &[BODY])), BODY), Ok("k0"));
    assert_eq!(at(&format!("SHA256={}", b64("consumer", &[BODY])), BODY), Err(Denial::SignatureMalformed));
    let latin1 = b"{\"text\":\"h\xe9llo\"}";
    assert_eq!(at(&format!("sha256={}", b64("consumer", &[latin1])), latin1), Err(Denial::SignatureMalformed));
    let cal = with_secrets("calcom", &["cal"]);
    let at = |h: &str| cal.verify(&req(NOW, "POST", "/c", &[("x-cal-signature-256", h)]), BODY);
    assert_eq!(at(&hex("cal", &[BODY])), Ok("k0"));
    assert_eq!(at(&hex("cal", &[BODY]).to_ascii_uppercase()), Err(Denial::SignatureMalformed));
}

#[test]
fn gitlab_token_is_compared_whole() {
    let c = check(r#"{"scheme":"gitlab","secrets":[{"value":"glpat-token-1"}]}"#);
    let h = |t: &str| req(NOW, "POST", "/g", &[("x-gitlab-token", t)]);
    assert_eq!(c.verify(&h("glpat-token-1"), b"{}"), Ok("0"));
    for bad in ["glpat-token-", "glpat-token-12", "GLPAT-TOKEN-1", ""] {
        assert!(c.verify(&h(bad), b"{}").is_err(), "{bad:?}");
    }
}

#[test]
fn docusign_any_of_its_hundred_headers() {
    let c = check(r#"{"scheme":"docusign","secrets":[{"value":"k"}]}"#);
    let sig = b64("k", &[b"{}"]);
    assert_eq!(c.verify(&req(NOW, "POST", "/d", &[("x-docusign-signature-100", &sig)]), b"{}"), Ok("0"));
    assert_eq!(
        c.verify(&req(NOW, "POST", "/d", &[("x-docusign-signature-101", &sig)]), b"{}"),
        Err(Denial::SignatureMissing)
    );
}

#[test]
fn sendgrid_takes_der_signatures_only() {
    let (key, der, body) = (SENDGRID_KEY, SENDGRID_SIGNATURE, SENDGRID_BODY);
    let c = check(&format!(r#"{{"scheme":"sendgrid","public_keys":[{{"id":"sg","value":"{key}"}}]}}"#));
    let at = |sig: &str| {
        let pairs =
            [("x-twilio-email-event-webhook-signature", sig), ("x-twilio-email-event-webhook-timestamp", "1588788367")];
        c.verify(&req(1_588_788_367, "POST", "/sg", &pairs), body)
    };
    assert_eq!(at(der), Ok("sg"));
    // The same r and s as 64 bytes: a signature the provider's helper cannot read.
    let bytes = base64::engine::general_purpose::STANDARD.decode(der).unwrap();
    let (r, s) = (&bytes[5..37], &bytes[39..71]);
    let raw = base64::engine::general_purpose::STANDARD.encode([r, s].concat());
    assert_eq!(at(&raw), Err(Denial::SignatureMalformed));
    // generic reads either unless told.
    let generic = |format: &str| {
        check(&format!(
            r#"{{"scheme":"generic","public_keys":[{{"value":"{key}"}}],"algorithm":"ecdsa_p256","encoding":"base64",
                "key_encoding":"base64","header":"x-sig","timestamp_header":"x-ts","signed_payload":"{{timestamp}}{{body}}"{format}}}"#
        ))
    };
    let h = |sig: &str| req(1_588_788_367, "POST", "/g", &[("x-sig", sig), ("x-ts", "1588788367")]);
    assert_eq!(generic("").verify(&h(&raw), body), Ok("0"));
    assert_eq!(generic(r#","ecdsa_format":"der""#).verify(&h(&raw), body), Err(Denial::SignatureMalformed));
    assert_eq!(generic(r#","ecdsa_format":"der""#).verify(&h(der), body), Ok("0"));
}
