//! The request flow against the fake host: what each callback returns, what reaches the
//! upstream, what the client is answered, and what is logged, counted and published.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;
use crate::testing::{FakeEnvoy, FakeRequest};

const SECRET: &str = "s3cr3t-value";
const NOW_MS: u64 = 1_700_000_000_000;

const WAF: &str = r#"{"name":"waf","match":{"path_prefix":"/waf"},
    "checks":{"headers":[{"name":"x-waf-token","secrets":[{"id":"t1","env":"S"}]}]}}"#;
const GITHUB: &str = r#"{"name":"github","match":{"path_prefix":"/github"},
    "checks":{"signature":{"scheme":"github","secrets":[{"id":"current","env":"S"}],"dedupe":{}}}}"#;
const META: &str = r#"{"name":"meta","match":{"path_prefix":"/meta"},
    "checks":{"signature":{"scheme":"meta","secrets":[{"env":"S"}],"verify_token":{"value":"vt-1"}}}}"#;
const ALLOWLIST: &str = r#"{"name":"ips","match":{"path_prefix":"/ips"},
    "checks":{"ip_allowlist":{"cidrs":["192.0.2.0/24"]}}}"#;

fn env(name: &str) -> Option<String> {
    (name == "S").then(|| SECRET.to_string())
}

fn plugin(envoy: &mut FakeEnvoy, top: &str, routes: &[&str]) -> Arc<Plugin> {
    let sep = if top.is_empty() { "" } else { "," };
    let json = format!(r#"{{"api":"v1"{sep}{top},"routes":[{}]}}"#, routes.join(","));
    Arc::new(Plugin::configure(envoy, json.as_bytes(), &env).unwrap())
}

fn github_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn github_request<'e>(envoy: &'e FakeEnvoy, body: &[u8], delivery: &str) -> FakeRequest<'e> {
    let sig = github_signature(body);
    let mut req = envoy.request(&[
        (":method", "POST"),
        (":path", "/github"),
        ("x-hub-signature-256", &sig),
        ("x-github-delivery", delivery),
        ("x-request-id", "r-1"),
    ]);
    req.client = Some("192.0.2.7:4000".into());
    req
}

/// Feed `body` in `chunks` body callbacks, the last with end of stream.
fn send_body(stream: &mut Stream, req: &mut FakeRequest<'_>, body: &[u8], chunks: usize) -> Vec<Flow> {
    let size = body.len().div_ceil(chunks).max(1);
    let pieces: Vec<&[u8]> = body.chunks(size).collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            req.body.extend_from_slice(piece);
            let received = req.body.len();
            stream.on_request_body(req, received, i == last)
        })
        .collect()
}

#[test]
fn a_body_in_several_chunks_is_held_then_forwarded_once_complete() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB]);
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let mut req = github_request(&envoy, body, "d-1");
    req.headers.push(("x-webhook-guard".into(), b"forged".to_vec()));
    let mut stream = Stream::new(plugin);

    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(send_body(&mut stream, &mut req, body, 3), [Flow::Buffer, Flow::Buffer, Flow::Continue]);

    assert_eq!(req.reply, None);
    assert_eq!(req.header("x-webhook-guard"), ["route=github"], "the client's verdict header is replaced");
    assert_eq!(envoy.metric("webhook_guard.github.allowed"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.github.secret.current.matched"), Some(1));
    assert_eq!(req.access_log_field("webhook_guard.route"), Some("github"));
    assert_eq!(req.access_log_field("webhook_guard.outcome"), Some("allowed"));
    assert_eq!(req.access_log_field("webhook_guard.secret"), Some("current"));
    assert_eq!(req.access_log_field("webhook_guard.reason"), None);
    assert!(envoy.logs_at(Level::Warn).is_empty());
}

#[test]
fn a_tampered_body_is_refused_after_its_last_chunk() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB]);
    let mut req = github_request(&envoy, b"signed", "d-1");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(send_body(&mut stream, &mut req, b"not what was signed", 2), [Flow::Buffer, Flow::Stop]);
    let reply = req.reply.as_ref().unwrap();
    assert_eq!((reply.status, reply.body_text()), (401, r#"{"error":"unauthorized"}"#));
    assert_eq!(reply.headers, [("content-type".to_string(), "application/json".to_string())]);
    assert_eq!(
        envoy.logs_at(Level::Warn),
        ["webhook-guard denied route=github reason=signature_mismatch client=192.0.2.7 request_id=r-1"]
    );
    assert_eq!(envoy.metric("webhook_guard.github.denied.signature_mismatch"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.github.allowed"), Some(0));
    assert_eq!(req.access_log_field("webhook_guard.outcome"), Some("denied"));
    assert_eq!(req.access_log_field("webhook_guard.reason"), Some("signature_mismatch"));
}

#[test]
fn trailers_finish_a_body_whose_callbacks_never_saw_end_of_stream() {
    // HTTP/2 with trailers: every body callback says "more to come".
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB]);
    let body = br#"{"action":"opened"}"#;
    let mut req = github_request(&envoy, body, "d-1");
    let mut stream = Stream::new(Arc::clone(&plugin));
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    req.body.extend_from_slice(body);
    assert_eq!(stream.on_request_body(&mut req, body.len(), false), Flow::Buffer);
    assert_eq!(stream.on_request_trailers(&mut req), Flow::Continue);
    assert_eq!(req.header("x-webhook-guard"), ["route=github"]);
    assert_eq!(envoy.metric("webhook_guard.github.allowed"), Some(1));

    // The same with a forged body: refused at the trailers.
    let mut req = github_request(&envoy, body, "d-2");
    let mut stream = Stream::new(plugin);
    stream.on_request_headers(&mut req, false);
    req.body.extend_from_slice(b"forged");
    assert_eq!(stream.on_request_body(&mut req, 6, false), Flow::Buffer);
    assert_eq!(stream.on_request_trailers(&mut req), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(401));
}

#[test]
fn end_of_stream_on_the_headers_decides_on_an_empty_body_at_once() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB, META]);
    // A body check with no body: refused in the headers callback, the body never read.
    let mut req = envoy.request(&[(":method", "POST"), (":path", "/github")]);
    req.body = b"never read".to_vec();
    assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(401));
    assert_eq!(envoy.metric("webhook_guard.github.denied.signature_missing"), Some(1));

    // A verified handshake (a GET without body) is answered here, as plain text.
    let mut req = envoy
        .request(&[(":method", "GET"), (":path", "/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token=vt-1")]);
    assert_eq!(Stream::new(plugin).on_request_headers(&mut req, true), Flow::Stop);
    let reply = req.reply.as_ref().unwrap();
    assert_eq!((reply.status, reply.body_text()), (200, "42"));
    assert!(reply.headers.contains(&("x-content-type-options".to_string(), "nosniff".to_string())));
    assert_eq!(envoy.metric("webhook_guard.meta.handshake"), Some(1));
    assert_eq!(req.access_log_field("webhook_guard.outcome"), Some("handshake"));
    assert_eq!(
        envoy.logs_at(Level::Info).last().unwrap(),
        "webhook-guard handshake route=meta request_id=-: answered locally"
    );
}

#[test]
fn a_local_reply_stops_the_flow_and_nothing_after_it_changes_the_request() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[WAF]);
    let mut req = envoy.request(&[(":method", "POST"), (":path", "/waf"), ("x-request-id", "r-9")]);
    req.client = Some("198.51.100.4:5000".into());
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Stop);
    let reply = req.reply.clone().unwrap();
    assert_eq!((reply.status, reply.body_text()), (401, r#"{"error":"unauthorized"}"#));
    // Whatever the host still calls, the request is decided: no second reply, no edit.
    req.body = b"late".to_vec();
    assert_eq!(stream.on_request_body(&mut req, 4, true), Flow::Continue);
    assert_eq!(stream.on_request_trailers(&mut req), Flow::Continue);
    assert_eq!(stream.on_response_headers(&mut req), Flow::Continue);
    assert_eq!(req.reply, Some(reply));
    assert!(req.header("x-webhook-guard").is_empty());
    assert_eq!(
        envoy.logs_at(Level::Warn),
        ["webhook-guard denied route=waf reason=header_missing client=198.51.100.4 request_id=r-9"]
    );
    assert_eq!(envoy.metric("webhook_guard.waf.denied.header_missing"), Some(1));
}

#[test]
fn the_upstream_status_decides_whether_a_message_counts_as_delivered() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB]);
    let body = b"{}";
    let deliver = |status: Option<u32>| {
        let mut req = github_request(&envoy, body, "d-1");
        let mut stream = Stream::new(Arc::clone(&plugin));
        stream.on_request_headers(&mut req, false);
        req.body = body.to_vec();
        let flow = stream.on_request_body(&mut req, body.len(), true);
        req.response_status = status;
        assert_eq!(stream.on_response_headers(&mut req), Flow::Continue);
        (flow, req.reply.clone())
    };
    // The upstream failed, or answered nothing readable: the provider's retry goes through.
    assert_eq!(deliver(Some(503)), (Flow::Continue, None));
    assert_eq!(deliver(None), (Flow::Continue, None));
    assert_eq!(deliver(Some(200)), (Flow::Continue, None));
    // Delivered: the same message is answered here.
    let (flow, reply) = deliver(Some(200));
    assert_eq!(flow, Flow::Stop);
    let reply = reply.unwrap();
    assert_eq!((reply.status, reply.body_text()), (200, r#"{"status":"duplicate"}"#));
    assert_eq!(envoy.metric("webhook_guard.github.allowed"), Some(3));
    assert_eq!(envoy.metric("webhook_guard.github.duplicate"), Some(1));
    assert_eq!(
        envoy.logs_at(Level::Info).last().unwrap(),
        "webhook-guard duplicate route=github client=192.0.2.7 request_id=r-1: already delivered, answered locally"
    );
}

#[test]
fn body_or_trailers_without_judged_headers_are_refused_with_a_500() {
    for trailers in [false, true] {
        let mut envoy = FakeEnvoy::at(NOW_MS);
        let plugin = plugin(&mut envoy, r#""mode":"monitor""#, &[WAF]);
        let mut req = envoy.request(&[]);
        let mut stream = Stream::new(plugin);
        req.body = b"{}".to_vec();
        let flow =
            if trailers { stream.on_request_trailers(&mut req) } else { stream.on_request_body(&mut req, 2, true) };
        // Even in monitor mode: nothing was checked, so nothing may pass as checked.
        assert_eq!(flow, Flow::Stop);
        let reply = req.reply.as_ref().unwrap();
        assert_eq!((reply.status, reply.body_text()), (500, r#"{"error":"internal"}"#));
        assert_eq!(envoy.metric("webhook_guard.unmatched.denied.internal_error"), Some(1));
        assert_eq!(
            envoy.logs_at(Level::Warn),
            ["webhook-guard denied route=unmatched reason=internal_error client=- request_id=-"]
        );
        assert_eq!(
            envoy.logs_at(Level::Error),
            ["webhook-guard: request data arrived before its headers were judged; refused"]
        );
        assert_eq!(req.access_log_field("webhook_guard.reason"), Some("internal_error"));
    }
}

#[test]
fn a_refusal_for_an_internal_failure_counts_under_the_matched_route() {
    // What the native shell does with a panic caught mid-request.
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[GITHUB]);
    let mut req = github_request(&envoy, b"{}", "d-1");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(stream.refuse_internal(&mut req), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(500));
    assert_eq!(envoy.metric("webhook_guard.github.denied.internal_error"), Some(1));
    // The request is over: a late body does not bring it back.
    req.body = b"{}".to_vec();
    assert_eq!(stream.on_request_body(&mut req, 2, true), Flow::Continue);
    assert_eq!(envoy.metric("webhook_guard.github.allowed"), Some(0));
}

#[test]
fn monitor_mode_forwards_what_it_would_refuse_marked_logged_and_counted() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, r#""mode":"monitor""#, &[WAF, GITHUB]);
    let mut req = envoy.request(&[(":method", "POST"), (":path", "/waf"), ("x-waf-token", "wrong")]);
    req.client = Some("192.0.2.1:1".into());
    assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), Flow::Continue);
    assert_eq!(req.reply, None);
    assert_eq!(req.header("x-webhook-guard"), ["route=waf; would_deny=header_mismatch"]);
    assert!(req.header("x-waf-token").is_empty(), "the secret header never reaches the upstream");
    assert_eq!(
        envoy.logs_at(Level::Warn),
        ["webhook-guard monitor: would deny route=waf reason=header_mismatch client=192.0.2.1 request_id=-"]
    );
    assert_eq!(envoy.metric("webhook_guard.waf.denied.header_mismatch"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.waf.allowed"), Some(0));
    assert_eq!(req.access_log_field("webhook_guard.outcome"), Some("would_deny"));

    // A body route in monitor mode still buffers, then forwards the forged body.
    let mut req = github_request(&envoy, b"signed", "d-1");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(send_body(&mut stream, &mut req, b"forged", 2), [Flow::Buffer, Flow::Continue]);
    assert_eq!(req.header("x-webhook-guard"), ["route=github; would_deny=signature_mismatch"]);
}

#[test]
fn a_body_over_the_limit_is_refused_on_the_chunk_that_crosses_it() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, r#""max_body_bytes":10"#, &[GITHUB]);
    let mut req = github_request(&envoy, b"", "d-1");
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    assert_eq!(
        send_body(&mut stream, &mut req, b"0123456789abcdef", 4),
        [Flow::Buffer, Flow::Buffer, Flow::Stop, Flow::Continue]
    );
    assert_eq!(req.reply.as_ref().map(|r| (r.status, r.body_text())), Some((413, r#"{"error":"payload_too_large"}"#)));
    assert_eq!(envoy.metric("webhook_guard.github.denied.payload_too_large"), Some(1));
}

#[test]
fn the_client_address_is_read_once_and_a_forwarded_one_noticed_once() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[ALLOWLIST]);
    for (client, flow) in [("192.0.2.9:0", Flow::Continue), ("203.0.113.1:0", Flow::Stop)] {
        let mut req = envoy.request(&[(":method", "POST"), (":path", "/ips")]);
        req.client = Some(client.into());
        assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), flow, "{client}");
        assert_eq!(req.client_reads.get(), 1, "read for the check, reused for the log line");
    }
    let notices: Vec<String> =
        envoy.logs_at(Level::Warn).into_iter().filter(|l| l.contains("X-Forwarded-For")).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(envoy.metric("webhook_guard.ips.denied.ip_not_allowed"), Some(1));
}

#[test]
fn a_request_no_route_takes_is_answered_404_and_counted_as_unmatched() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[WAF]);
    let mut req = envoy.request(&[(":method", "POST"), (":path", "/elsewhere")]);
    assert_eq!(Stream::new(plugin).on_request_headers(&mut req, false), Flow::Stop);
    assert_eq!(req.reply.as_ref().map(|r| r.status), Some(404));
    assert_eq!(envoy.metric("webhook_guard.unmatched.denied.route_not_found"), Some(1));
    assert_eq!(req.access_log_field("webhook_guard.route"), Some("unmatched"));
}

const EVENT_GRID: &str = r#"{"name":"grid","match":{"path_prefix":"/grid"},
    "checks":{"headers":[{"name":"x-grid-key","secrets":[{"id":"k1","env":"S"}]}],"event_grid":{"allowed_rate":60}}}"#;

#[test]
fn event_grid_handshakes_are_answered_behind_the_routes_authentication() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = plugin(&mut envoy, "", &[EVENT_GRID]);
    let options = |key: Option<&str>| {
        let mut h = vec![(":method", "OPTIONS"), (":path", "/grid"), ("webhook-request-origin", "eventgrid.azure.net")];
        h.extend(key.map(|k| ("x-grid-key", k)));
        envoy.request(&h)
    };
    // Authenticated: answered here with the origin and the rate, nothing forwarded.
    let mut req = options(Some(SECRET));
    assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), Flow::Stop);
    let reply = req.reply.as_ref().unwrap();
    assert_eq!(reply.status, 200);
    for (n, v) in [("webhook-allowed-origin", "eventgrid.azure.net"), ("webhook-allowed-rate", "60")] {
        assert!(reply.headers.contains(&(n.to_string(), v.to_string())), "{n}: {:?}", reply.headers);
    }
    assert_eq!(envoy.metric("webhook_guard.grid.handshake"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.grid.secret.k1.matched"), Some(1));
    // Not authenticated: a 401 like any other request, and no origin granted.
    let mut req = options(None);
    assert_eq!(Stream::new(Arc::clone(&plugin)).on_request_headers(&mut req, true), Flow::Stop);
    let reply = req.reply.as_ref().unwrap();
    assert_eq!(reply.status, 401);
    assert!(!reply.headers.iter().any(|(n, _)| n.starts_with("webhook-")));
    assert_eq!(envoy.metric("webhook_guard.grid.denied.header_missing"), Some(1));
    // An event is forwarded once authenticated; the secret header is stripped.
    let mut req = envoy.request(&[
        (":method", "POST"),
        (":path", "/grid"),
        ("aeg-event-type", "Notification"),
        ("x-grid-key", SECRET),
    ]);
    let mut stream = Stream::new(plugin);
    assert_eq!(stream.on_request_headers(&mut req, false), Flow::Buffer);
    let flows = send_body(&mut stream, &mut req, br#"[{"id":"1","eventType":"Contoso.Items.ItemReceived"}]"#, 1);
    assert_eq!(flows, [Flow::Continue]);
    assert!(req.reply.is_none());
    assert!(req.header("x-grid-key").is_empty());
}
