//! The plugin against the fake host: the metrics a configuration defines, a refused
//! configuration, and the remote-list callouts (fetch, login) with their reports.

use std::sync::Arc;

use super::*;
use crate::host::Flow;
use crate::stream::Stream;
use crate::testing::FakeEnvoy;

const NOW_MS: u64 = 1_700_000_000_000;

fn env(name: &str) -> Option<String> {
    match name {
        "S" => Some("s3cr3t-value".into()),
        "EMAIL" => Some("ops@example.com".into()),
        "KEY" => Some("k3y-s3cret".into()),
        _ => None,
    }
}

fn configure(envoy: &mut FakeEnvoy, routes: &str) -> Result<Plugin, ConfigError> {
    Plugin::configure(envoy, format!(r#"{{"api":"v1","routes":[{routes}]}}"#).as_bytes(), &env)
}

const LISTED: &str = r#"{"name":"partner","match":{"path_prefix":"/partner"},"checks":{"ip_allowlist":{
    "remote_list":{"cluster":"lists","authority":"lists.example.com","path":"/ips","refresh_seconds":60}}}}"#;
const LOGGED_IN: &str = r#"{"name":"vault","match":{"path_prefix":"/vault"},"checks":{"ip_allowlist":{
    "remote_list":{"cluster":"lists","authority":"lists.example.com","path":"/ips","refresh_seconds":60,
    "login":{"cluster":"id","authority":"id.example.com","path":"/login",
             "body":{"email":{"env":"EMAIL"},"key":{"env":"KEY"}}}}}}}"#;

fn request_from(envoy: &FakeEnvoy, plugin: &Arc<Plugin>, path: &str, client: &str) -> Option<u32> {
    let mut req = envoy.request(&[(":method", "POST"), (":path", path)]);
    req.client = Some(client.into());
    match Stream::new(Arc::clone(plugin)).on_request_headers(&mut req, true) {
        Flow::Continue => None,
        _ => req.reply.map(|r| r.status),
    }
}

#[test]
fn configuring_defines_every_metric_before_any_request() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let github = r#"{"name":"github","match":{"path_prefix":"/github"},"checks":{"signature":{"scheme":"github",
        "secrets":[{"id":"old","env":"S","not_after":"2030-01-01T00:00:00Z"},{"id":"new","env":"S"}],"dedupe":{}}}}"#;
    configure(&mut envoy, &format!("{github},{LISTED}")).unwrap();
    let names = envoy.metric_names();
    for name in [
        "webhook_guard.github.allowed",
        "webhook_guard.github.duplicate",
        "webhook_guard.github.secret.old.matched",
        "webhook_guard.github.secret.new.matched",
        "webhook_guard.github.denied.signature_mismatch",
        "webhook_guard.github.denied.internal_error",
        "webhook_guard.partner.denied.list_unavailable",
        "webhook_guard.unmatched.denied.route_not_found",
        "webhook_guard.unmatched.denied.method_not_allowed",
        "webhook_guard.list.partner.ip_allowlist.fetch_ok",
        "webhook_guard.list.partner.ip_allowlist.fetch_failed",
        "webhook_guard.list.partner.ip_allowlist.entries",
    ] {
        assert_eq!(envoy.metric(name), Some(0), "{name} in {names:?}");
    }
    assert_eq!(envoy.metric("webhook_guard.github.secret.old.not_after_seconds"), Some(1_893_456_000));
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.refresh_seconds"), Some(60));
    // Only what the policy can move: no handshake for GitHub, no login, no allowed for
    // requests no route takes, and no age for a list never loaded (0 would read as fresh).
    for absent in [
        "webhook_guard.github.handshake",
        "webhook_guard.list.partner.ip_allowlist.login_ok",
        "webhook_guard.list.partner.ip_allowlist.token_remaining_seconds",
        "webhook_guard.unmatched.allowed",
        "webhook_guard.unmatched.denied.signature_mismatch",
        "webhook_guard.list.partner.ip_allowlist.age_seconds",
    ] {
        assert_eq!(envoy.metric(absent), None, "{absent}");
    }
    assert_eq!(envoy.ticks.get(), Some(TICK), "a policy with a remote list ticks");
    assert_eq!(
        envoy.logs_at(Level::Info),
        ["webhook-guard: configured 2 route(s), mode Enforce, max_body_bytes 1048576"]
    );
}

#[test]
fn an_invalid_configuration_is_logged_and_refused_without_side_effects() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let err = configure(&mut envoy, r#"{"name":"x","match":{"path_prefix":"/x"},"checks":{"headers":[{"name":"x-t","secrets":[{"env":"UNSET"}]}]}}"#)
        .err()
        .unwrap();
    assert_eq!(envoy.logs_at(Level::Error), [format!("webhook-guard: invalid configuration: {err}")]);
    assert!(envoy.metric_names().is_empty());
    assert_eq!(envoy.ticks.get(), None);
    assert!(envoy.store.is_empty());
}

#[test]
fn a_tick_fetches_the_list_and_its_answer_serves_the_next_request() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = Arc::new(configure(&mut envoy, LISTED).unwrap());
    assert_eq!(request_from(&envoy, &plugin, "/partner", "192.0.2.9:1"), Some(503), "no list yet");

    plugin.on_tick(&mut envoy);
    let [fetch] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(fetch.cluster, "lists");
    assert_eq!(
        (fetch.header(":method"), fetch.header(":path"), fetch.header(":authority")),
        (Some("GET"), Some("/ips"), Some("lists.example.com"))
    );
    assert_eq!(fetch.body, None);
    // Nothing more while the fetch is in flight.
    plugin.on_tick(&mut envoy);
    assert!(envoy.take_callouts().is_empty());

    envoy.advance(40);
    plugin.on_callout_response(&mut envoy, fetch.id, 200, br#"["192.0.2.0/24"]"#);
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.fetch_ok"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.entries"), Some(1));
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.age_seconds"), Some(0));
    assert_eq!(
        envoy.logs_at(Level::Info).last().unwrap(),
        "webhook-guard: remote list partner.ip_allowlist loaded, 1 entries"
    );
    assert_eq!(request_from(&envoy, &plugin, "/partner", "192.0.2.9:1"), None);
    assert_eq!(request_from(&envoy, &plugin, "/partner", "198.51.100.1:1"), Some(403));

    // An answer nobody waits for changes nothing.
    let logs = envoy.take_logs().len();
    plugin.on_callout_response(&mut envoy, fetch.id, 200, br#"["203.0.113.0/24"]"#);
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.fetch_ok"), Some(1));
    assert!(envoy.take_logs().is_empty(), "{logs} lines before");
    assert_eq!(request_from(&envoy, &plugin, "/partner", "203.0.113.5:1"), Some(403));

    // Ticks keep the gauges current.
    envoy.advance(30_000);
    plugin.on_tick(&mut envoy);
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.age_seconds"), Some(30));
}

#[test]
fn a_failed_or_refused_fetch_is_counted_and_says_what_is_kept() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = configure(&mut envoy, LISTED).unwrap();
    plugin.on_tick(&mut envoy);
    let [fetch] = envoy.take_callouts().try_into().unwrap();
    plugin.on_callout_response(&mut envoy, fetch.id, 503, b"");
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.fetch_failed"), Some(1));
    let warn = envoy.logs_at(Level::Warn);
    let line = warn.last().unwrap();
    assert!(line.starts_with("webhook-guard: remote list partner.ip_allowlist fetch failed: "), "{line}");
    assert!(line.ends_with("; no list loaded yet: checks that need it answer 503"), "{line}");
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.age_seconds"), None);

    // The host refuses to send (an unknown cluster): a failure too, at once.
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = configure(&mut envoy, LISTED).unwrap();
    envoy.refuse_callouts.set(true);
    plugin.on_tick(&mut envoy);
    assert_eq!(envoy.metric("webhook_guard.list.partner.ip_allowlist.fetch_failed"), Some(1));
    assert!(envoy.logs_at(Level::Warn).last().unwrap().contains(" fetch failed: "));
}

#[test]
fn a_login_comes_first_and_its_token_goes_out_with_the_fetch_at_once() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = configure(&mut envoy, LOGGED_IN).unwrap();
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.login_ok"), Some(0));
    plugin.on_tick(&mut envoy);
    let [login] = envoy.take_callouts().try_into().unwrap();
    assert_eq!(
        (login.cluster.as_str(), login.header(":path"), login.header(":method")),
        ("id", Some("/login"), Some("POST"))
    );
    let body: serde_json::Value = serde_json::from_slice(login.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"email": "ops@example.com", "key": "k3y-s3cret"}));

    plugin.on_callout_response(&mut envoy, login.id, 200, br#"{"access_token":"tok-1","expires_in":3600}"#);
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.login_ok"), Some(1));
    assert_eq!(
        envoy.logs_at(Level::Info).last().unwrap(),
        "webhook-guard: remote list vault.ip_allowlist logged in, token valid for 3600s"
    );
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.token_remaining_seconds"), Some(3600));
    // The fetch went out in the same callback, with the token.
    let [fetch] = envoy.take_callouts().try_into().unwrap();
    assert_eq!((fetch.cluster.as_str(), fetch.header("authorization")), ("lists", Some("Bearer tok-1")));
    plugin.on_callout_response(&mut envoy, fetch.id, 200, br#"["192.0.2.0/24"]"#);
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.fetch_ok"), Some(1));
    for (_, line) in envoy.take_logs() {
        assert!(!line.contains("k3y-s3cret") && !line.contains("tok-1"), "a secret in {line}");
    }
}

#[test]
fn a_refused_login_is_counted_and_retried_later() {
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = configure(&mut envoy, LOGGED_IN).unwrap();
    plugin.on_tick(&mut envoy);
    let [login] = envoy.take_callouts().try_into().unwrap();
    plugin.on_callout_response(&mut envoy, login.id, 401, b"");
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.login_failed"), Some(1));
    let warn = envoy.logs_at(Level::Warn);
    let line = warn.last().unwrap();
    assert!(line.starts_with("webhook-guard: remote list vault.ip_allowlist login failed: "), "{line}");
    assert!(line.ends_with("; retried with backoff"), "{line}");
    assert!(envoy.take_callouts().is_empty(), "no fetch without a token");
    assert_eq!(envoy.metric("webhook_guard.list.vault.ip_allowlist.token_remaining_seconds"), Some(0));
}

#[test]
fn the_shared_store_serves_every_thread_of_the_native_edition() {
    // One plugin and one store for every worker thread: a rate limit of 5 lets exactly
    // 5 of 40 concurrent requests through.
    let limited = r#"{"name":"limited","match":{"path_prefix":"/limited"},
        "checks":{"rate_limit":{"requests":5,"per_seconds":3600,"by":"route"}}}"#;
    let mut envoy = FakeEnvoy::at(NOW_MS);
    let plugin = configure(&mut envoy, limited).unwrap();
    let store = &envoy.store;
    let Some(rl) = plugin.judge().policy().routes.first().and_then(|r| r.checks.rate_limit.as_ref()) else {
        panic!("no rate limit")
    };
    let allowed: usize = std::thread::scope(|s| {
        let workers: Vec<_> =
            (0..4).map(|_| s.spawn(|| (0..10).filter(|_| rl.check(store, None, NOW_MS).is_ok()).count())).collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(allowed, 5);
}
