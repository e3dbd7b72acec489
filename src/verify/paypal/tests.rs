use super::*;
use crate::request::Headers;
use base64::Engine;
use rsa::signature::{SignatureEncoding, Signer};

const NOW: u64 = 1_700_000_000;
const TIME: &str = "2023-11-14T22:13:20Z"; // NOW
const WEBHOOK_ID: &str = "1JE4291016473214C";
const CERT: &str = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
const BODY: &[u8] = br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}"#;

use crate::verify::test_keys::keys;

fn sign(key: &rsa::RsaPrivateKey, signed: &[u8]) -> String {
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    base64::engine::general_purpose::STANDARD.encode(signer.sign(signed).to_bytes())
}

fn check() -> PaypalCheck {
    let c: PaypalConfig =
        crate::wire::read_str(&format!(r#"{{"webhook_id":"{WEBHOOK_ID}","certificates":{{"cluster":"paypal_api"}}}}"#))
            .unwrap();
    PaypalCheck::compile(&c, "paypal").unwrap()
}

fn head(now: u64, pairs: &[(&str, &str)]) -> RequestHead {
    let all = pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    RequestHead::from_headers(Headers::new(all), None, now)
}

/// The headers PayPal sends for `BODY`, signed with `key`.
fn genuine(key: &rsa::RsaPrivateKey, time: &str) -> Vec<(String, String)> {
    let id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
    let sig = sign(key, format!("{id}|{time}|{WEBHOOK_ID}|{}", crc32(BODY)).as_bytes());
    vec![
        ("PAYPAL-TRANSMISSION-ID".into(), id.into()),
        ("PAYPAL-TRANSMISSION-TIME".into(), time.into()),
        ("PAYPAL-TRANSMISSION-SIG".into(), sig),
        ("PAYPAL-CERT-URL".into(), CERT.into()),
        ("PAYPAL-AUTH-ALGO".into(), ALGORITHM.into()),
    ]
}

fn run(pairs: &[(String, String)], body: &[u8], now: u64) -> Result<(), Denial> {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let h = head(now, &pairs);
    let c = check();
    let t = c.read(&h)?;
    c.verify(&t, body, &keys().0.to_public_key())
}

fn with(pairs: &[(String, String)], name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs.iter().filter(|(n, _)| !n.eq_ignore_ascii_case(name)).cloned().collect();
    if let Some(v) = value {
        out.push((name.to_string(), v.to_string()));
    }
    out
}

#[test]
fn crc32_is_the_ieee_crc_as_zlib_computes_it() {
    // The check value of CRC-32/ISO-HDLC, and zlib.crc32 of the other inputs.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
}

#[test]
fn the_signed_string_is_four_parts_with_an_unsigned_decimal_crc() {
    let s = signed_string(b"id-1", TIME.as_bytes(), WEBHOOK_ID, b"123456789");
    // 0xCBF43926 above i32::MAX: written unsigned, as PayPal's page computes it.
    assert_eq!(String::from_utf8(s).unwrap(), format!("id-1|{TIME}|{WEBHOOK_ID}|3421780262"));
}

#[test]
fn a_genuine_transmission_verifies() {
    assert_eq!(run(&genuine(&keys().0, TIME), BODY, NOW), Ok(()));
    let t = check();
    let g = genuine(&keys().0, TIME);
    let pairs: Vec<(&str, &str)> = g.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let h = head(NOW, &pairs);
    let read = t.read(&h).unwrap();
    assert_eq!(read.cert, CertUrl { url: CERT.into(), authority: "api.paypal.com", path: CERT[22..].into() });
}

#[test]
fn another_key_a_changed_body_or_another_webhook_id_is_a_mismatch() {
    assert_eq!(run(&genuine(&keys().1, TIME), BODY, NOW), Err(Denial::SignatureMismatch));
    let mut body = BODY.to_vec();
    body[10] ^= 1;
    assert_eq!(run(&genuine(&keys().0, TIME), &body, NOW), Err(Denial::SignatureMismatch));
    // Signed for another webhook of the same account.
    let g = genuine(&keys().0, TIME);
    let id = &g[0].1;
    let other = sign(&keys().0, format!("{id}|{TIME}|8PT597110X687430LKGECATA|{}", crc32(BODY)).as_bytes());
    assert_eq!(run(&with(&g, "paypal-transmission-sig", Some(&other)), BODY, NOW), Err(Denial::SignatureMismatch));
    // A changed id or time is not what was signed.
    let changed = with(&g, "paypal-transmission-id", Some("69cd13f0-d67a-11e5-baa3-778b53f4ae56"));
    assert_eq!(run(&changed, BODY, NOW), Err(Denial::SignatureMismatch));
}

#[test]
fn the_transmission_time_is_held_to_the_window() {
    // 300 s behind, 60 s ahead by default.
    let key = &keys().0;
    assert_eq!(run(&genuine(key, "2023-11-14T22:08:20Z"), BODY, NOW), Ok(()));
    assert_eq!(run(&genuine(key, "2023-11-14T22:08:19Z"), BODY, NOW), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(run(&genuine(key, "2023-11-14T22:14:20Z"), BODY, NOW), Ok(()));
    assert_eq!(run(&genuine(key, "2023-11-14T22:14:21Z"), BODY, NOW), Err(Denial::TimestampOutOfTolerance));
    assert_eq!(run(&genuine(key, "yesterday"), BODY, NOW), Err(Denial::TimestampMalformed));
    assert_eq!(run(&genuine(key, "1700000000"), BODY, NOW), Err(Denial::TimestampMalformed));
}

#[test]
fn header_rules() {
    let g = genuine(&keys().0, TIME);
    let cases: Vec<(Vec<(String, String)>, Denial)> = vec![
        (with(&g, "paypal-transmission-sig", None), Denial::SignatureMissing),
        (with(&g, "paypal-cert-url", None), Denial::SignatureMissing),
        (with(&g, "paypal-transmission-id", None), Denial::MessageIdMissing),
        (with(&g, "paypal-transmission-id", Some("")), Denial::MessageIdMissing),
        (with(&g, "paypal-transmission-time", None), Denial::TimestampMissing),
        (with(&g, "paypal-auth-algo", None), Denial::SignatureMalformed),
        (with(&g, "paypal-auth-algo", Some("SHA1withRSA")), Denial::SignatureMalformed),
        (with(&g, "paypal-auth-algo", Some("sha256withrsa")), Denial::SignatureMalformed),
        (with(&g, "paypal-transmission-sig", Some("not base64!")), Denial::SignatureMalformed),
        (with(&g, "paypal-transmission-sig", Some(&"A".repeat(504))), Denial::SignatureMalformed),
        (with(&g, "paypal-transmission-id", Some("a|b")), Denial::SignatureMalformed),
        (with(&g, "paypal-transmission-id", Some(&"a".repeat(51))), Denial::SignatureMalformed),
        (
            with(&g, "paypal-cert-url", Some("https://evil.example/v1/notifications/certs/CERT-1")),
            Denial::CertUrlRefused,
        ),
    ];
    for (pairs, want) in cases {
        assert_eq!(run(&pairs, BODY, NOW), Err(want), "{pairs:?}");
    }
    // Each header twice is ambiguous.
    for name in [TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL, AUTH_ALGO] {
        let mut twice = g.clone();
        let v = g.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap().1.clone();
        twice.push((name.to_string(), v));
        assert_eq!(run(&twice, BODY, NOW), Err(Denial::SignatureRepeated), "{name}");
    }
}

#[test]
fn only_https_urls_on_paypals_hosts_under_the_certificates_path_pass() {
    let all = CERT_HOSTS.to_vec();
    for host in CERT_HOSTS {
        let url = format!("https://{host}/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77");
        assert_eq!(cert_url(url.as_bytes(), &all).map(|c| c.authority), Ok(host), "{url}");
    }
    for url in [
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://evilapi.paypal.com/v1/notifications/certs/CERT-1",
        "https://www.paypal.com/v1/notifications/certs/CERT-1",
        "https://API.PAYPAL.COM/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:443/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://user@api.paypal.com/v1/notifications/certs/CERT-1",
        "https://evil.example@api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com./v1/notifications/certs/CERT-1",
        "https://api.paypal.com",
        "https://api.paypal.com/",
        "https://api.paypal.com/v1/notifications/certs/",
        "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
        "https://api.paypal.com/v1/notifications/certs/CERT-1/../x",
        "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
        "https://api.paypal.com/v1/notifications/certs/CERT-1#f",
        "https://api.paypal.com/v1/notifications/certs/CERT%2D1",
        "https://api.paypal.com/v1/notifications/certs/..",
        "https://api.paypal.com/v1/other/CERT-1",
        "https://api.paypal.com\\@evil.example/v1/notifications/certs/CERT-1",
        "//api.paypal.com/v1/notifications/certs/CERT-1",
        " https://api.paypal.com/v1/notifications/certs/CERT-1",
    ] {
        assert_eq!(cert_url(url.as_bytes(), &all), Err(Denial::CertUrlRefused), "{url}");
    }
    assert_eq!(cert_url(&[b'h'; 501], &all), Err(Denial::CertUrlRefused));
    // A route limited to the sandbox refuses the live hosts.
    let sandbox = ["api-m.sandbox.paypal.com"];
    assert_eq!(cert_url(CERT.as_bytes(), &sandbox), Err(Denial::CertUrlRefused));
}

#[test]
fn config_errors_name_the_field() {
    let compile = |json: &str| {
        let c: PaypalConfig = crate::wire::read_str(json).map_err(|e| e.to_string())?;
        PaypalCheck::compile(&c, "r.paypal").map_err(|e| e.to_string())
    };
    let cases = [
        (r#"{"webhook_id":"","certificates":{"cluster":"c"}}"#, "r.paypal.webhook_id: must be PayPal's webhook id"),
        (r#"{"webhook_id":"a-b","certificates":{"cluster":"c"}}"#, "r.paypal.webhook_id: must be PayPal's webhook id"),
        (
            r#"{"webhook_id":"A1","certificates":{"cluster":""}}"#,
            "r.paypal.certificates.cluster: must name an Envoy cluster",
        ),
        (
            r#"{"webhook_id":"A1","certificates":{"cluster":"c","hosts":[]}}"#,
            "r.paypal.certificates.hosts: at least one host",
        ),
        (
            r#"{"webhook_id":"A1","certificates":{"cluster":"c","hosts":["api.paypal.com","paypal.com"]}}"#,
            "r.paypal.certificates.hosts[1]: \"paypal.com\" is not one of PayPal's hosts",
        ),
        (
            r#"{"webhook_id":"A1","certificates":{"cluster":"c","timeout_ms":5}}"#,
            "r.paypal.certificates.timeout_ms: must be between",
        ),
        (r#"{"webhook_id":"A1"}"#, "missing field `certificates`"),
        (r#"{"webhook_id":"A1","certificates":{"cluster":"c"},"secret":"x"}"#, "unknown field `secret`"),
    ];
    for (json, want) in cases {
        let got = compile(json).unwrap_err();
        assert!(got.contains(want), "{json}: {got}");
    }
    let ok = compile(r#"{"webhook_id":"A1","certificates":{"cluster":"c","hosts":["api-m.sandbox.paypal.com"]},"tolerance_seconds":600}"#).unwrap();
    assert_eq!(ok.hosts, vec!["api-m.sandbox.paypal.com"]);
    assert_eq!(ok.window, Window::both(600));
    assert_eq!(check().window, Window { past: 300, future: 60 });
}
