//! SNS messages signed in the test with a key and certificate made by `openssl`.

use std::path::Path;
use std::process::Command;

use super::*;
use crate::verify::x509::read_pem;
use crate::verify::x509::tests::certificate;

pub(crate) const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
pub(crate) const URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem";

fn check() -> SnsCheck {
    let c: SnsConfig = crate::wire::read_str(&format!(
        r#"{{"topic_arns":["{TOPIC}"],"certificates":{{"cluster":"sns_certs","timeout_ms":2000}}}}"#
    ))
    .unwrap();
    SnsCheck::compile(&c, "routes[0].checks.sns").unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `Signature` of `canonical` under `key` (SHA1 for version 1, SHA256 for 2), base64.
fn sign(key: &Path, version: u8, canonical: &str) -> String {
    let data = key.with_file_name(format!("data-{}", canonical.len()));
    std::fs::write(&data, canonical).unwrap();
    let digest = if version == 1 { "-sha1" } else { "-sha256" };
    let out = Command::new("openssl").args(["dgst", digest, "-sign"]).arg(key).arg(&data).output().unwrap();
    assert!(out.status.success());
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

/// A message of `kind` with these members (besides the signature's), signed.
pub(crate) fn message(key: &Path, version: u8, members: &[(&str, &str)]) -> Vec<u8> {
    let kind = members.iter().find(|(n, _)| *n == "Type").map(|(_, v)| *v).unwrap();
    let order = if kind == "Notification" { NOTIFICATION } else { CONFIRMATION };
    let mut canonical = String::new();
    for name in order {
        if let Some((_, v)) = members.iter().find(|(n, _)| n == name) {
            canonical.push_str(&format!("{name}\n{v}\n"));
        }
    }
    let mut doc = serde_json::Map::new();
    for (n, v) in members {
        doc.insert(n.to_string(), serde_json::Value::String(v.to_string()));
    }
    doc.insert("SignatureVersion".into(), version.to_string().into());
    doc.insert("Signature".into(), sign(key, version, &canonical).into());
    doc.entry("SigningCertURL").or_insert(URL.into());
    serde_json::to_vec(&doc).unwrap()
}

pub(crate) fn notification(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut m = vec![
        ("Type", "Notification"),
        ("MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"),
        ("TopicArn", TOPIC),
        ("Message", "{\"order\":42,\n\"note\":\"caf\u{e9}\"}"),
        ("Timestamp", "2026-12-06T14:00:00.000Z"),
        ("UnsubscribeURL", "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1"),
    ];
    m.extend_from_slice(extra);
    m
}

fn headers(kind: &str) -> Headers {
    Headers::new(vec![(TYPE_HEADER.to_string(), kind.as_bytes().to_vec())])
}

struct Signer {
    key: std::path::PathBuf,
    cert: Arc<SigningCert>,
}

fn signer(name: &str) -> Signer {
    let (pem, key) = certificate(&format!("sns-{name}"), "rsa:2048");
    Signer { key, cert: Arc::new(read_pem(&pem).unwrap()) }
}

impl Signer {
    fn verify(&self, kind: &str, body: &[u8]) -> Result<(), Unverified> {
        check().verify(&headers(kind), body, now(), &|url| (url == URL).then(|| Arc::clone(&self.cert)))
    }
}

#[test]
fn each_message_type_verifies_in_both_signature_versions() {
    let s = signer("types");
    let confirmation = |kind: &'static str| {
        vec![
            ("Type", kind),
            ("MessageId", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"),
            ("Token", "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"),
            ("TopicArn", TOPIC),
            ("Message", "You have chosen to subscribe to the topic arn:aws:sns:us-east-1:123456789012:orders."),
            ("SubscribeURL", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=2336"),
            ("Timestamp", "2026-12-06T14:00:00.000Z"),
        ]
    };
    for version in [1, 2] {
        for (kind, members) in [
            ("Notification", notification(&[])),
            ("Notification", notification(&[("Subject", "Order placed")])),
            ("SubscriptionConfirmation", confirmation("SubscriptionConfirmation")),
            ("UnsubscribeConfirmation", confirmation("UnsubscribeConfirmation")),
        ] {
            let body = message(&s.key, version, &members);
            assert_eq!(s.verify(kind, &body), Ok(()), "{kind} v{version}");
        }
    }
}

#[test]
fn a_tampered_or_forged_message_is_refused() {
    let s = signer("tamper");
    let body = message(&s.key, 2, &notification(&[("Subject", "Order placed")]));
    let text = String::from_utf8(body.clone()).unwrap();
    for tampered in [
        text.replace("Order placed", "Order paid"),
        text.replace("22b80b92", "22b80b93"),
        text.replace("2026-12-06T14:00:00.000Z", "2026-12-06T14:00:01.000Z"),
        // Dropping the Subject changes what was signed.
        text.replace(r#""Subject":"Order placed","#, ""),
        // A version-2 signature read as version 1.
        text.replace(r#""SignatureVersion":"2""#, r#""SignatureVersion":"1""#),
    ] {
        assert_ne!(tampered, text);
        assert_eq!(s.verify("Notification", tampered.as_bytes()), Err(Denial::SignatureMismatch.into()), "{tampered}");
    }
    // Signed by another key: the certificate's key does not verify it.
    let other = signer("forger");
    let forged = message(&other.key, 2, &notification(&[]));
    assert_eq!(s.verify("Notification", &forged), Err(Denial::SignatureMismatch.into()));
}

#[test]
fn the_header_must_name_the_body_type_once() {
    let s = signer("header");
    let body = message(&s.key, 1, &notification(&[]));
    assert_eq!(s.verify("SubscriptionConfirmation", &body), Err(Denial::SnsTypeMismatch.into()));
    assert_eq!(s.verify("notification", &body), Err(Denial::SnsTypeMismatch.into()));
    let none = Headers::new(vec![]);
    let cert = |_: &str| Some(Arc::clone(&s.cert));
    assert_eq!(check().verify(&none, &body, now(), &cert), Err(Denial::SnsTypeMismatch.into()));
    let twice = Headers::new(vec![
        (TYPE_HEADER.to_string(), b"Notification".to_vec()),
        (TYPE_HEADER.to_string(), b"Notification".to_vec()),
    ]);
    assert_eq!(check().verify(&twice, &body, now(), &cert), Err(Denial::SnsTypeMismatch.into()));
}

#[test]
fn another_topic_or_a_foreign_certificate_url_is_refused_before_any_fetch() {
    let s = signer("topic");
    let asked = std::cell::Cell::new(0);
    let cert = |_: &str| {
        asked.set(asked.get() + 1);
        Some(Arc::clone(&s.cert))
    };
    let mut other_topic = notification(&[]);
    other_topic[2] = ("TopicArn", "arn:aws:sns:us-east-1:123456789012:payments");
    let body = message(&s.key, 2, &other_topic);
    assert_eq!(check().verify(&headers("Notification"), &body, now(), &cert), Err(Denial::SnsTopicNotAllowed.into()));
    for url in [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com.evil.test/SimpleNotificationService-1.pem",
        "https://evil.test/sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com@evil.test/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/x.pem#y",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://sns.us-east-1.amazonaws.com/../x.pem",
        "https://sns.us-east-1.amazonaws.com/%2e%2e/x.pem",
        "https://SNS.us-east-1.amazonaws.com/x.pem",
        "https://sns.US-EAST-1.amazonaws.com/x.pem",
        "https://sns.a.amazonaws.com/x.pem",
        "https://sqs.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com./x.pem",
        "https://sns.us.east.1.amazonaws.com/x.pem",
    ] {
        let mut members = notification(&[]);
        members.push(("SigningCertURL", url));
        let body = message(&s.key, 2, &members);
        assert_eq!(
            check().verify(&headers("Notification"), &body, now(), &cert),
            Err(Denial::SnsCertUrlRefused.into()),
            "{url}"
        );
    }
    assert_eq!(asked.get(), 0, "no certificate was looked up, so none could be fetched");
}

#[test]
fn the_certificate_hosts_of_both_partitions_are_accepted() {
    assert_eq!(cert_url(URL), Some(("sns.us-east-1.amazonaws.com", "/SimpleNotificationService-0123456789abcdef.pem")));
    assert_eq!(
        cert_url("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem"),
        Some(("sns.cn-north-1.amazonaws.com.cn", "/SimpleNotificationService-1.pem"))
    );
    assert_eq!(cert_url("https://sns.us-gov-west-1.amazonaws.com/a/b-c_d.pem").map(|p| p.1), Some("/a/b-c_d.pem"));
}

#[test]
fn without_its_certificate_the_check_asks_for_it_by_url() {
    let s = signer("need");
    let body = message(&s.key, 2, &notification(&[]));
    let got = check().verify(&headers("Notification"), &body, now(), &|_| None);
    let Err(Unverified::Need(need)) = got else { panic!("{got:?}") };
    assert_eq!(
        need.document,
        Document::Certificate(Box::new(CertificateDoc {
            url: URL.to_string(),
            cluster: "sns_certs".to_string(),
            authority: "sns.us-east-1.amazonaws.com".to_string(),
            path: "/SimpleNotificationService-0123456789abcdef.pem".to_string(),
            timeout_ms: 2000,
        }))
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let s = signer("expired");
    let body = message(&s.key, 2, &notification(&[]));
    let mut expired = (*s.cert).clone();
    expired.not_after = i64::try_from(now()).unwrap() - 1;
    let expired = Arc::new(expired);
    let got = check().verify(&headers("Notification"), &body, now(), &|_| Some(Arc::clone(&expired)));
    assert_eq!(got, Err(Denial::SnsCertExpired.into()));
}

#[test]
fn bodies_that_are_not_sns_messages_are_malformed() {
    let s = signer("malformed");
    let good = String::from_utf8(message(&s.key, 2, &notification(&[]))).unwrap();
    for bad in [
        "not json".to_string(),
        "[]".to_string(),
        good.replace(r#""Type":"Notification""#, r#""Type":"Notification","Type":"Notification""#),
        good.replace(r#""Type":"Notification""#, r#""Type":"Event""#),
        good.replace(r#""SignatureVersion":"2""#, r#""SignatureVersion":"3""#),
        good.replace(r#""SignatureVersion":"2""#, r#""SignatureVersion":2"#),
        good.replace(r#""Signature":""#, r#""Signature":"!"#),
        good.replace(r#""MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","#, ""),
    ] {
        let kind = if bad.contains("Event") { "Event" } else { "Notification" };
        assert_eq!(s.verify(kind, bad.as_bytes()), Err(Denial::SnsMessageMalformed.into()), "{bad}");
    }
}

#[test]
fn configuration_errors_name_the_field() {
    let table = [
        (r#"{"topic_arns":[],"certificates":{"cluster":"c"}}"#, "p.topic_arns: list at least one topic ARN"),
        (
            r#"{"topic_arns":["orders"],"certificates":{"cluster":"c"}}"#,
            "p.topic_arns[0]: \"orders\" is not a topic ARN",
        ),
        (
            r#"{"topic_arns":["arn:aws:sns:us-east-1:1:t","arn:aws:sns:us-east-1:1:t"],"certificates":{"cluster":"c"}}"#,
            "p.topic_arns[1]: \"arn:aws:sns:us-east-1:1:t\" is listed twice",
        ),
        (
            r#"{"topic_arns":["arn:aws:sns:us-east-1:1:t"],"certificates":{"cluster":""}}"#,
            "p.certificates.cluster: must name",
        ),
        (
            r#"{"topic_arns":["arn:aws:sns:us-east-1:1:t"],"certificates":{"cluster":"c","timeout_ms":10}}"#,
            "p.certificates.timeout_ms: must be between 100 and 60000",
        ),
    ];
    for (json, want) in table {
        let c: SnsConfig = crate::wire::read_str(json).unwrap();
        let got = SnsCheck::compile(&c, "p").unwrap_err().to_string();
        assert!(got.starts_with(want), "{json}\n got {got}\nwant {want}");
    }
    assert!(crate::wire::read_str::<SnsConfig>(r#"{"topic_arns":[],"certificates":{"cluster":"c"},"x":1}"#).is_err());
}
