//! A request that needs a key not fetched yet waits for it (SPEC 2.1 "Keys from a
//! directory"), against the fake host: the request's own callout, the answer stored for
//! every worker, the stage run again; and the faults: timeout, refusals, a reset while
//! waiting, a body that arrives meanwhile, a flood of requests before the first fetch.

use std::sync::Arc;

use base64::Engine;
use ed25519_dalek::Signer;

use super::*;
use crate::testing::{FakeEnvoy, FakeRequest};

const NOW_MS: u64 = 1_700_000_000_000;

/// A JWKS route whose keys come from `keys_api` (timeout 800 ms); `extra` adds checks
/// (a signature check makes the route read the body).
fn route(extra: &str) -> String {
    format!(
        r#"{{"name":"keys","match":{{"path_prefix":"/keys"}},"checks":{{"jwt":{{"algorithms":["EdDSA"],
        "jwks":{{"remote":{{"cluster":"keys_api","authority":"issuer.test","path":"/jwks",
        "refresh_seconds":3600,"retry_seconds":60,"timeout_ms":800}}}}}}{extra}}}}}"#
    )
}

const GITHUB: &str = r#","signature":{"scheme":"github","secrets":[{"id":"current","value":"gh-secret-value"}]}"#;

fn plugin(envoy: &mut FakeEnvoy, top: &str, extra: &str) -> Arc<Plugin> {
    let sep = if top.is_empty() { "" } else { "," };
    let json = format!(r#"{{"api":"v1"{sep}{top},"routes":[{}]}}"#, route(extra));
    Arc::new(Plugin::configure(envoy, json.as_bytes(), &|_| None).unwrap())
}

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn jwks(keys: &[(&str, u8)]) -> Vec<u8> {
    let keys: Vec<String> = keys
        .iter()
        .map(|(kid, seed)| {
            let x = b64u(key(*seed).verifying_key().as_bytes());
            format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{x}"}}"#)
        })
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes()
}

fn token(kid: &str, seed: u8) -> String {
    let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
    let claims = format!(r#"{{"exp":{}}}"#, NOW_MS / 1000 + 300);
    let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
    let sig = key(seed).sign(input.as_bytes());
    format!("{input}.{}", b64u(&sig.to_bytes()))
}

fn request<'e>(envoy: &'e FakeEnvoy, kid: &str, seed: u8, rid: &str) -> FakeRequest<'e> {
    let bearer = format!("Bearer {}", token(kid, seed));
    envoy.request(&[
        (":method", "POST"),
        (":path", "/keys"),
        (":authority", "hooks.test"),
        ("authorization", &bearer),
        ("x-request-id", rid),
    ])
}

fn denied(envoy: &FakeEnvoy, reason: &str) -> u64 {
    envoy.metric(&format!("webhook_guard.keys.denied.{reason}")).unwrap_or(0)
}

#[test]
fn a_request_before_the_first_fetch_waits_for_its_keys_then_is_forwarded() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-wait");
    let mut stream = Stream::new(Arc::clone(&plugin));

    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer, "held while the keys are fetched");
    assert!(req.reply.is_none());
    let [sent] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(sent.cluster, "keys_api");
    assert_eq!(sent.header(":method"), Some("GET"));
    assert_eq!(sent.header(":path"), Some("/jwks"));
    assert_eq!(sent.header(":authority"), Some("issuer.test"));
    assert_eq!(sent.timeout, std::time::Duration::from_millis(800));

    envoy.advance(300);
    let flow = stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)]));
    assert_eq!(flow, Flow::Continue, "the keys arrived: the request goes on");
    assert!(req.reply.is_none());
    assert_eq!(req.header("x-webhook-guard"), ["route=keys"]);
    assert_eq!(envoy.metric("webhook_guard.keys.allowed"), Some(1));

    // Stored for every worker and later request: the next one needs no fetch.
    let mut next = request(&envoy, "k1", 1, "r-next");
    assert_eq!(Stream::new(plugin).on_request_headers(&mut next, true), Flow::Continue);
    assert!(envoy.take_callouts().is_empty());
}

#[test]
fn a_fetch_that_times_out_refuses_the_waiting_request_with_503() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-timeout");
    let mut stream = Stream::new(Arc::clone(&plugin));
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();

    envoy.advance(800);
    // Envoy answers a timed-out callout with 504.
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 504, b"upstream request timeout"), Flow::Stop);
    let reply = req.reply.as_ref().unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body_text(), r#"{"error":"unavailable"}"#);
    let retry = reply.headers.iter().find(|(n, _)| n == "retry-after").map(|(_, v)| v.as_str());
    assert_eq!(retry, Some("10"));
    assert_eq!(denied(&envoy, "fetch_timeout"), 1);
    let warns = envoy.logs_at(Level::Warn);
    assert!(
        warns.iter().any(|l| l.contains("reason=fetch_timeout") && l.contains("request_id=r-timeout")),
        "{warns:?}"
    );
    assert!(warns.iter().any(|l| l.contains("remote list keys.jwt fetch for a waiting request failed")), "{warns:?}");
    assert!(!warns.iter().any(|l| l.contains("upstream request timeout")), "no answer bytes in a log line");
    assert_eq!(envoy.metric("webhook_guard.list.keys.jwt.fetch_failed"), Some(1));

    // After a failure, requests of this worker do not fetch again at once: 503 now.
    let mut next = request(&envoy, "k1", 1, "r-paused");
    assert_eq!(Stream::new(plugin).on_request_headers(&mut next, true), Flow::Stop);
    assert_eq!(next.reply.as_ref().map(|r| r.status), Some(503));
    assert!(envoy.take_callouts().is_empty());
    assert_eq!(denied(&envoy, "list_unavailable"), 1);
}

#[test]
fn each_failed_answer_has_its_reason_and_never_logs_the_answer() {
    let cases: [(u32, Vec<u8>, &str); 4] = [
        (0, Vec::new(), "fetch_timeout"),
        (500, b"secret-ish error page".to_vec(), "fetch_status"),
        (200, b"<html>not a jwks</html>".to_vec(), "fetch_malformed"),
        (200, vec![b' '; crate::remote_list::MAX_BODY_BYTES + 1], "fetch_too_large"),
    ];
    for (status, body, reason) in cases {
        let mut envoy = FakeEnvoy::at(NOW_MS);
        let plugin = plugin(&mut envoy, "", "");
        let mut req = request(&envoy, "k1", 1, "r-fail");
        let mut stream = Stream::new(plugin);
        assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
        let [sent] = envoy.take_callouts().try_into().unwrap();
        assert_eq!(stream.on_callout_response(&mut req, sent.id, status, &body), Flow::Stop, "{reason}");
        assert_eq!(req.reply.as_ref().map(|r| r.status), Some(503), "{reason}");
        assert_eq!(denied(&envoy, reason), 1, "{reason}");
        let logs = envoy.take_logs();
        assert!(!logs.iter().any(|(_, l)| l.contains("secret-ish") || l.contains("<html>")), "{logs:?}");
    }
}

#[test]
fn a_weak_key_in_the_answer_is_malformed_and_the_request_refused() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-priv");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    // A private member in a published JWKS: the JWKS parser refuses the whole answer.
    let x = b64u(key(1).verifying_key().as_bytes());
    let private = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{x}","d":"{x}"}}]}}"#);
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, private.as_bytes()), Flow::Stop);
    assert_eq!(denied(&envoy, "fetch_malformed"), 1);
}

#[test]
fn fetched_keys_that_lack_the_token_kid_refuse_it_as_unknown() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k9", 9, "r-kid");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(401));
    assert_eq!(denied(&envoy, "token_key_unknown"), 1);
}

#[test]
fn a_flood_before_the_first_fetch_sends_a_bounded_number_of_callouts_and_the_rest_get_503() {
    use crate::fetch::MAX_FETCHES_IN_FLIGHT;
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut waiting = Vec::new();
    for i in 0..MAX_FETCHES_IN_FLIGHT {
        let mut req = request(&envoy, "k1", 1, &format!("w-{i}"));
        let mut stream = Stream::new(Arc::clone(&plugin));
        assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer, "a burst waits for the keys");
        waiting.push((stream, req));
    }
    for i in 0..20 {
        let mut req = request(&envoy, "k1", 1, &format!("r-{i}"));
        assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), Flow::Stop);
        assert_eq!(req.reply.as_ref().map(|r| r.status), Some(503));
    }
    let sent = envoy.take_callouts();
    assert_eq!(sent.len(), MAX_FETCHES_IN_FLIGHT, "one callout per waiting request, no more");
    assert_eq!(denied(&envoy, "list_unavailable"), 20);
    for ((mut stream, mut req), callout) in waiting.into_iter().zip(sent) {
        assert_eq!(stream.on_callout_response(&mut req, callout.id, 200, &jwks(&[("k1", 1)])), Flow::Continue);
    }
    assert_eq!(envoy.metric("webhook_guard.keys.allowed"), Some(MAX_FETCHES_IN_FLIGHT as u64));
}

#[test]
fn a_body_that_arrives_while_waiting_is_held_not_forwarded() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-body");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    req.body.extend_from_slice(b"{\"part\":");
    assert_eq!(stream.on_request_body(&mut req, 8, false), Flow::Buffer, "held while waiting");
    req.body.extend_from_slice(b"1}");
    assert_eq!(stream.on_request_body(&mut req, 10, true), Flow::Buffer, "held while waiting");
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Continue);
    assert_eq!(envoy.metric("webhook_guard.keys.allowed"), Some(1));
}

#[test]
fn a_body_the_route_checks_is_judged_once_the_keys_arrive_whenever_it_ended() {
    let body = br#"{"action":"opened"}"#;
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"gh-secret-value").unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    };
    for body_ended_while_waiting in [true, false] {
        let mut envoy = FakeEnvoy::at(NOW_MS);
        let plugin = plugin(&mut envoy, "", GITHUB);
        let mut req = request(&envoy, "k1", 1, "r-gh");
        req.headers.push(("x-hub-signature-256".into(), signature.clone().into_bytes()));
        let mut stream = Stream::new(plugin);
        assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
        let [sent] = envoy.take_callouts().try_into().unwrap();
        req.body.extend_from_slice(body);
        if body_ended_while_waiting {
            assert_eq!(stream.on_request_body(&mut req, body.len(), true), Flow::Buffer);
            // The head stage passes, and the body is complete: judged at once.
            assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Continue);
        } else {
            // The head stage passes; the body checks wait for the body.
            assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Buffer);
            assert_eq!(stream.on_request_body(&mut req, body.len(), true), Flow::Continue);
        }
        assert_eq!(
            envoy.metric("webhook_guard.keys.allowed"),
            Some(1),
            "ended while waiting: {body_ended_while_waiting}"
        );
    }
}

#[test]
fn a_body_over_the_limit_while_waiting_is_refused_and_frees_the_fetch() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, r#""max_body_bytes":16"#, "");
    let mut req = request(&envoy, "k1", 1, "r-big");
    let mut stream = Stream::new(Arc::clone(&plugin));
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(envoy.take_callouts().len(), 1);
    req.body.extend_from_slice(&[b'x'; 17]);
    assert_eq!(stream.on_request_body(&mut req, 17, false), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(413));
    assert!(!plugin.fetches().in_flight("list:keys.jwt"));
}

#[test]
fn a_reset_while_waiting_frees_the_fetch_for_the_next_request() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-reset");
    let mut stream = Stream::new(Arc::clone(&plugin));
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert!(plugin.fetches().in_flight("list:keys.jwt"));
    // The client goes away: the shell drops the stream; the host drops the answer.
    drop(stream);
    assert!(!plugin.fetches().in_flight("list:keys.jwt"));
    let mut next = request(&envoy, "k1", 1, "r-after");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut next, true), Flow::Buffer, "the next request fetches");
    assert_eq!(envoy.take_callouts().len(), 2);
}

#[test]
fn an_answer_the_stream_does_not_wait_for_changes_nothing() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    let mut req = request(&envoy, "k1", 1, "r-stray");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    let other = CalloutId(sent.id.0 + 1);
    assert_eq!(stream.on_callout_response(&mut req, other, 200, &jwks(&[("k1", 1)])), Flow::Buffer);
    assert!(req.reply.is_none());
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Continue);
    // The same answer twice: the second changes nothing.
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Buffer);
}

#[test]
fn a_callout_the_host_refuses_gives_503_at_once() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", "");
    envoy.refuse_callouts.set(true);
    let mut req = request(&envoy, "k1", 1, "r-refused");
    assert_eq!(Stream::new(plugin).on_request_headers(&mut req, true), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(503));
    assert_eq!(denied(&envoy, "list_unavailable"), 1);
    assert!(envoy.logs_at(Level::Warn).iter().any(|l| l.contains("could not dispatch the fetch of list:keys.jwt")));
}

#[test]
fn monitor_mode_waits_too_then_forwards_what_it_would_refuse() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, r#""mode":"monitor""#, "");
    let mut req = request(&envoy, "k1", 1, "r-mon");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 0, b""), Flow::Continue);
    assert_eq!(req.header("x-webhook-guard"), ["route=keys; would_deny=fetch_timeout"]);
}

#[test]
fn an_unknown_kid_rereads_the_shared_keys_another_worker_fetched() {
    // Two workers: two plugins over one shared store (the Wasm edition's shared data).
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let one = plugin(&mut envoy, "", "");
    let two = plugin(&mut envoy, "", "");
    // Worker one loads k1 (its request waits for the fetch).
    let mut req = request(&envoy, "k1", 1, "r-1");
    let mut stream = Stream::new(Arc::clone(&one));
    assert_eq!(stream.on_request_headers(&mut req, true), Flow::Buffer);
    let [sent] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &jwks(&[("k1", 1)])), Flow::Continue);
    // Worker two reads it (and will not re-read for a second).
    let mut req = request(&envoy, "k1", 1, "r-2");
    assert_eq!(Stream::new(Arc::clone(&two)).on_request_headers(&mut req, true), Flow::Continue);
    // Another worker fetches a new JWKS with k2, within worker two's second.
    envoy.advance(100);
    let (list, kind) = &one.judge().policy().remote_lists[0];
    let other = crate::remote_list::Refresher::new(list.clone(), *kind);
    other.publish(&envoy.store, &jwks(&[("k1", 1), ("k2", 2)]), envoy.now_ms.get()).unwrap();
    // A k2 token on worker two: its copy lacks k2, the shared one has it.
    envoy.advance(100);
    let mut req = request(&envoy, "k2", 2, "r-4");
    assert_eq!(Stream::new(two).on_request_headers(&mut req, true), Flow::Continue);
    assert!(envoy.take_callouts().is_empty(), "read from the shared copy, not fetched");
}

mod sns {
    //! The certificate an SNS message names, fetched by the request that needs it.

    use super::*;
    use crate::verify::sns::tests::{message, notification, TOPIC, URL};
    use crate::verify::x509::tests::certificate;

    fn plugin(envoy: &mut FakeEnvoy) -> Arc<Plugin> {
        let json = format!(
            r#"{{"api":"v1","routes":[{{"name":"sns","match":{{"path_prefix":"/sns"}},"checks":{{"sns":{{
            "topic_arns":["{TOPIC}"],"certificates":{{"cluster":"sns_certs","timeout_ms":2000}}}}}}}}]}}"#
        );
        Arc::new(Plugin::configure(envoy, json.as_bytes(), &|_| None).unwrap())
    }

    fn request<'e>(envoy: &'e FakeEnvoy, body: &[u8]) -> FakeRequest<'e> {
        let mut req = envoy.request(&[
            (":method", "POST"),
            (":path", "/sns"),
            ("x-amz-sns-message-type", "Notification"),
            ("content-type", "text/plain; charset=UTF-8"),
        ]);
        req.body = body.to_vec();
        req
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn a_message_waits_for_its_certificate_which_then_serves_every_request() {
        let (pem, key) = certificate("stream-sns", "rsa:2048");
        let mut envoy = FakeEnvoy::at(now_ms());
        let plugin = plugin(&mut envoy);
        let body = message(&key, 2, &notification(&[]));
        let mut req = request(&envoy, &body);
        let mut stream = Stream::new(Arc::clone(&plugin));
        assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
        assert_eq!(stream.on_request_body(&mut req, body.len(), true), Flow::Buffer, "waits for the certificate");
        let [sent] = envoy.take_callouts().try_into().unwrap();
        assert_eq!(sent.cluster, "sns_certs");
        assert_eq!(sent.header(":authority"), Some("sns.us-east-1.amazonaws.com"));
        assert_eq!(sent.header(":path"), Some("/SimpleNotificationService-0123456789abcdef.pem"));
        assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &pem), Flow::Continue);
        assert_eq!(envoy.metric("webhook_guard.sns.allowed"), Some(1));
        assert!(envoy.logs_at(Level::Info).iter().any(|l| l.contains(&format!("certificate {URL} loaded"))));

        // Another worker (its own plugin) finds it in the shared store.
        let other = self::plugin(&mut envoy);
        let mut next = request(&envoy, &body);
        let mut stream = Stream::new(other);
        assert_eq!(stream.on_request_headers(&mut next, false), Flow::Buffer);
        assert_eq!(stream.on_request_body(&mut next, body.len(), true), Flow::Continue);
        assert!(envoy.take_callouts().is_empty());
    }

    #[test]
    fn a_weak_or_unreadable_certificate_refuses_the_message_with_503() {
        let (weak, key) = certificate("stream-sns-weak", "rsa:1024");
        for (answer, reason) in [(weak, "fetch_malformed"), (b"<html>nope</html>".to_vec(), "fetch_malformed")] {
            let mut envoy = FakeEnvoy::at(now_ms());
            let plugin = plugin(&mut envoy);
            let body = message(&key, 1, &notification(&[]));
            let mut req = request(&envoy, &body);
            let mut stream = Stream::new(plugin);
            stream.on_request_headers(&mut req, false);
            assert_eq!(stream.on_request_body(&mut req, body.len(), true), Flow::Buffer);
            let [sent] = envoy.take_callouts().try_into().unwrap();
            assert_eq!(stream.on_callout_response(&mut req, sent.id, 200, &answer), Flow::Stop);
            assert_eq!(req.reply.as_ref().map(|r| r.status), Some(503));
            assert_eq!(envoy.metric(&format!("webhook_guard.sns.denied.{reason}")), Some(1));
            assert!(!envoy.take_logs().iter().any(|(_, l)| l.contains("BEGIN CERTIFICATE") || l.contains("nope")));
        }
    }

    #[test]
    fn a_foreign_certificate_url_is_refused_and_never_fetched() {
        let (_, key) = certificate("stream-sns-foreign", "rsa:2048");
        let mut envoy = FakeEnvoy::at(now_ms());
        let plugin = plugin(&mut envoy);
        let mut members = notification(&[]);
        members.push(("SigningCertURL", "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem"));
        let body = message(&key, 2, &members);
        let mut req = request(&envoy, &body);
        let mut stream = Stream::new(plugin);
        stream.on_request_headers(&mut req, false);
        assert_eq!(stream.on_request_body(&mut req, body.len(), true), Flow::Stop);
        assert_eq!(req.reply.as_ref().map(|r| r.status), Some(401));
        assert_eq!(envoy.metric("webhook_guard.sns.denied.sns_cert_url_refused"), Some(1));
        assert!(envoy.take_callouts().is_empty());
    }
}
