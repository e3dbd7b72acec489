use super::*;
use crate::remote_list::callout::FetchRequest;
use crate::remote_list::refresh::FetchError;
use crate::remote_list::refresh::{ListState, Outcome, Refresher};
use crate::remote_list::testing::*;
use crate::shared::MemoryStore;
use std::sync::Arc;

const HOUR_MS: u64 = 3_600_000;

fn login_worker(extra: &str) -> Refresher {
    let all = if extra.is_empty() { LOGIN.to_string() } else { format!("{LOGIN},{extra}") };
    Refresher::new(list(&all), THUMBPRINTS)
}

fn answer(token: &str, expires_in_seconds: u64) -> Vec<u8> {
    format!(r#"{{"access_token":"{token}","expires_in":{expires_in_seconds}}}"#).into_bytes()
}

fn authorization(req: &FetchRequest<'_>) -> Option<String> {
    req.all_headers().iter().find(|(n, _)| *n == "authorization").map(|(_, v)| v.to_string())
}

fn is_login(req: &FetchRequest<'_>) -> bool {
    req.cluster == "copyleaks_id"
}

/// Tick; expect a login; answer it with `status`/`body` 100 ms later.
fn login(w: &Refresher, store: &MemoryStore, now: u64, token: u32, status: u32, body: &[u8]) -> Outcome {
    let req = w.on_tick(store, now, u64::from(token)).unwrap_or_else(|| panic!("expected a login at {now}"));
    assert!(is_login(&req), "{req:?}");
    w.on_dispatched(token.into());
    w.on_response(store, token.into(), status, body, now + 100)
}

fn login_record(w: &Refresher, store: &MemoryStore) -> LoginRecord {
    w.session().unwrap().read_record(store).0.unwrap()
}

#[test]
fn without_a_token_the_filter_logs_in_first_then_fetches_with_it() {
    let store = MemoryStore::default();
    let (a, b) = (login_worker(""), login_worker(""));
    a.prepare(&store);
    b.prepare(&store);
    assert_eq!(a.token_remaining_seconds(T0), Some(0));
    assert_eq!(worker("").token_remaining_seconds(T0), None, "no gauge without login");
    let req = a.on_tick(&store, T0, 1).expect("a login");
    assert_eq!(req.cluster, "copyleaks_id");
    assert_eq!(
        req.all_headers(),
        vec![
            (":method", "POST"),
            (":path", "/v3/account/login/api"),
            (":authority", "id.copyleaks.com"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ]
    );
    assert_eq!(req.body, Some(&br#"{"email":"ops@example.com","key":"7e1d0c52-k3y-s3cret"}"#[..]));
    let printed = format!("{req:?} {a:?}");
    assert!(!printed.contains("s3cret") && !printed.contains("ops@example.com"), "{printed}");
    // One worker logs in at a time: the other neither logs in nor fetches meanwhile.
    assert!(b.on_tick(&store, T0 + 50, 2).is_none());
    a.on_dispatched(1);
    let copyleaks = br#"{"access_token":"ACLNSK-t0ken-1","issued":"x",".issued":"2023-11-14T22:13:20Z",".expires":"2023-11-17T00:13:20.2431255+02:00"}"#;
    assert_eq!(a.on_response(&store, 1, 200, copyleaks, T0 + 100), Outcome::LoginOk { expires_in_seconds: 172_799 });
    assert_eq!(a.token_remaining_seconds(T0 + 100), Some(172_799));
    // The fetch that was due goes out with the token (the filter ticks at once).
    let req = a.on_tick(&store, T0 + 100, 3).expect("the fetch");
    assert_eq!(req.cluster, "copyleaks_api");
    assert_eq!(authorization(&req).as_deref(), Some("Bearer ACLNSK-t0ken-1"));
    assert!(!format!("{req:?}").contains("t0ken"), "{req:?}");
    assert!(b.on_tick(&store, T0 + 150, 4).is_none(), "the fetch holds the lease");
    a.on_dispatched(3);
    assert_eq!(a.on_response(&store, 3, 200, &body(), T0 + 200), Outcome::Ok { entries: 2 });
    assert_eq!(fresh(b.current(&store, T0 + 300)).len(), 2);
    assert_eq!(login_record(&a, &store).logins, vec![T0]);
}

#[test]
fn a_fresh_token_is_used_by_every_worker_without_logging_in() {
    let store = MemoryStore::default();
    let (a, b) = (login_worker(""), login_worker(""));
    assert_eq!(
        login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)),
        Outcome::LoginOk { expires_in_seconds: 172_800 }
    );
    assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
    // A day later the other worker refreshes with the same token: no login.
    let next = schedule(&a, &store).next_ms;
    let req = b.on_tick(&store, next, 3).expect("the refresh");
    assert!(!is_login(&req));
    assert_eq!(authorization(&req).as_deref(), Some("Bearer t0ken-1"));
    assert_eq!(b.token_remaining_seconds(next), Some((T0 + 100 + 48 * HOUR_MS - next) / 1000));
    b.on_dispatched(3);
    assert_eq!(b.on_response(&store, 3, 200, &body(), next + 100), Outcome::Ok { entries: 2 });
    assert_eq!(login_record(&a, &store).logins.len(), 1);
    // Nothing more to do until the next refresh or the token's renewal.
    assert!(a.on_tick(&store, next + 1_000, 4).is_none());
}

#[test]
fn a_token_near_its_expiry_is_renewed_before_it_expires() {
    let store = MemoryStore::default();
    let a = login_worker(r#""refresh_seconds":604800"#);
    assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
    assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
    let logged_in = T0 + 100;
    let expires = logged_in + 48 * HOUR_MS;
    // Renewal starts an hour (at most a quarter of the lifetime) before the expiry,
    // even though no fetch is due for days.
    assert_eq!(login_record(&a, &store).renew_ms, expires - HOUR_MS);
    assert!(a.on_tick(&store, expires - HOUR_MS - 1, 3).is_none());
    assert!(matches!(
        login(&a, &store, expires - HOUR_MS, 4, 200, &answer("t0ken-2", 48 * 3600)),
        Outcome::LoginOk { .. }
    ));
    assert!(a.on_tick(&store, expires - HOUR_MS + 200, 5).is_none(), "no fetch is due");
    let r = login_record(&a, &store);
    assert_eq!(r.token, b"t0ken-2");
    assert_eq!(r.expires_ms, expires - HOUR_MS + 100 + 48 * HOUR_MS);
    // A short-lived token is renewed with a quarter of its life left.
    let s2 = MemoryStore::default();
    let short = login_worker(r#""refresh_seconds":10"#);
    assert!(matches!(login(&short, &s2, T0, 1, 200, &answer("t", 20)), Outcome::LoginOk { expires_in_seconds: 20 }));
    assert_eq!(login_record(&short, &s2).renew_ms, T0 + 100 + 15_000);
    // While a renewal cannot happen (backoff), a token that has not expired is still used.
    let mut r = login_record(&short, &s2);
    r.failures = 3;
    r.next_ms = T0 + 60_000;
    r.credentials = short.list().login.as_ref().unwrap().credentials_digest;
    s2.set(short.session().unwrap().key, &r.encode().unwrap(), None).unwrap();
    let req = short.on_tick(&s2, T0 + 16_000, 2).expect("a fetch with the old token");
    assert_eq!(authorization(&req).as_deref(), Some("Bearer t"));
}

#[test]
fn a_403_to_a_logged_in_token_names_the_account_and_keeps_the_token() {
    let store = MemoryStore::default();
    let a = login_worker(r#""refresh_seconds":60"#);
    assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
    assert_eq!(fetch(&a, &store, T0 + 100, 2, 403, b""), Outcome::Failed { reason: FetchError::TokenForbidden });
    let why = FetchError::TokenForbidden.to_string();
    assert!(why.starts_with("HTTP 403") && why.contains("remote_list.login"), "{why}");
    assert!(!why.contains("remote_list.headers"));
    // Not a revoked token: it is kept, and the fetch backs off like any failure.
    assert_eq!(login_record(&a, &store).token, b"t0ken-1");
    assert_eq!(schedule(&a, &store).failures, 1);
}

#[test]
fn a_401_drops_the_token_logs_in_once_more_then_backs_off() {
    let store = MemoryStore::default();
    let (a, b) = (login_worker(r#""refresh_seconds":60"#), login_worker(r#""refresh_seconds":60"#));
    assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
    assert_eq!(fetch(&a, &store, T0 + 100, 2, 200, &body()), Outcome::Ok { entries: 2 });
    let good = fresh(b.current(&store, T0 + 1_000));
    // The API revokes the token long before its expiry.
    let t1 = schedule(&a, &store).next_ms;
    assert_eq!(fetch(&b, &store, t1, 3, 401, b""), Outcome::Failed { reason: FetchError::TokenRefused });
    assert!(FetchError::TokenRefused.to_string().starts_with("HTTP 401"));
    assert_eq!(login_record(&a, &store).token_id, 0, "the token is dropped");
    assert_eq!(b.token_remaining_seconds(t1 + 100), Some(0));
    // Logged in again at once, then fetched with the new token.
    assert!(matches!(login(&a, &store, t1 + 100, 4, 200, &answer("t0ken-2", 48 * 3600)), Outcome::LoginOk { .. }));
    let req = a.on_tick(&store, t1 + 200, 5).expect("the fetch again");
    assert_eq!(authorization(&req).as_deref(), Some("Bearer t0ken-2"));
    a.on_dispatched(5);
    // Refused again: now it backs off like any failure, and the list is kept.
    assert_eq!(a.on_response(&store, 5, 401, b"", t1 + 300), Outcome::Failed { reason: FetchError::TokenRefused });
    let s = schedule(&a, &store);
    assert_eq!(s.failures, 2);
    // retry_seconds doubled, capped at refresh_seconds (60 s), minus jitter.
    assert!(s.next_ms >= t1 + 300 + 45_000, "{}", s.next_ms - t1);
    for t in [t1 + 1_000, s.next_ms - 1] {
        assert!(a.on_tick(&store, t, 6).is_none(), "no login storm at {t}");
        assert!(b.on_tick(&store, t, 7).is_none());
    }
    assert!(Arc::ptr_eq(&fresh(b.current(&store, t1 + 2_000)), &good));
    // After the backoff: log in, then fetch.
    assert!(matches!(login(&b, &store, s.next_ms, 8, 200, &answer("t0ken-3", 48 * 3600)), Outcome::LoginOk { .. }));
    assert_eq!(fetch(&b, &store, s.next_ms + 100, 9, 200, &body()), Outcome::Ok { entries: 2 });
    assert_eq!(login_record(&a, &store).logins.len(), 3);
}

#[test]
fn a_401_to_an_old_token_does_not_drop_a_newer_one() {
    let store = MemoryStore::default();
    let (a, b) = (login_worker(""), login_worker(""));
    assert!(matches!(login(&a, &store, T0, 1, 200, &answer("t0ken-1", 48 * 3600)), Outcome::LoginOk { .. }));
    let old = login_record(&a, &store).token_id;
    let mut r = login_record(&a, &store);
    r.token_id = old + 1;
    r.token = b"t0ken-2".to_vec();
    store.set(a.session().unwrap().key, &r.encode().unwrap(), None).unwrap();
    b.session().unwrap().drop_token(&store, old);
    assert_eq!(login_record(&a, &store).token, b"t0ken-2");
}

#[test]
fn failed_logins_are_reported_without_the_answer_and_back_off() {
    let store = MemoryStore::default();
    let a = login_worker("");
    let cases: Vec<(u32, Vec<u8>, LoginError)> = vec![
        (401, br#"{"error":"s3cret-echo"}"#.to_vec(), LoginError::HttpStatus(401)),
        (429, Vec::new(), LoginError::HttpStatus(429)),
        (503, Vec::new(), LoginError::HttpStatus(503)),
        (0, Vec::new(), LoginError::NoResponse),
        (200, b"<html>s3cret</html>".to_vec(), LoginError::Malformed("not one JSON object")),
        (200, br#"{"expires_in":3600}"#.to_vec(), LoginError::Malformed("no access_token")),
        (200, br#"{"access_token":"","expires_in":3600}"#.to_vec(), LoginError::Malformed("no access_token")),
        (
            200,
            br#"{"access_token":"a b","expires_in":3600}"#.to_vec(),
            LoginError::Malformed("access_token is not a usable header value"),
        ),
        (
            200,
            br#"{"access_token":"t","access_token":"u","expires_in":3600}"#.to_vec(),
            LoginError::Malformed("not one JSON object"),
        ),
        (200, br#"{"access_token":"t"}"#.to_vec(), LoginError::Malformed("no .expires or expires_in")),
        (
            200,
            br#"{"access_token":"t",".expires":"soon"}"#.to_vec(),
            LoginError::Malformed(".expires is not an RFC 3339 time"),
        ),
        (
            200,
            br#"{"access_token":"t",".expires":"2020-01-01T00:00:00Z"}"#.to_vec(),
            LoginError::Malformed("the token's expiry is in the past"),
        ),
        (
            200,
            br#"{"access_token":"t","expires_in":0}"#.to_vec(),
            LoginError::Malformed("the token's expiry is in the past"),
        ),
    ];
    let mut now = T0;
    for (i, (status, answer, want)) in cases.into_iter().enumerate() {
        let outcome = login(&a, &store, now, 10 + i as u32, status, &answer);
        assert_eq!(outcome, Outcome::LoginFailed { reason: want.clone() }, "{status}");
        let text = want.to_string();
        assert!(!text.contains("s3cret") && !text.contains("t0ken"), "{text}");
        let r = login_record(&a, &store);
        assert_eq!((r.token_id, r.failures), (0, i as u32 + 1));
        assert_eq!(schedule(&a, &store).lease, 0, "the lease is released");
        assert!(a.on_tick(&store, now + 200, 99).is_none(), "backing off");
        // Jump past both the backoff and the rate window: the next case logs in.
        now = r.next_ms.max(now + LOGIN_WINDOW_MS);
    }
    assert!(LoginError::HttpStatus(401).to_string().contains("remote_list.login.body"));
    assert!(LoginError::HttpStatus(429).to_string().contains("12 logins per 15 minutes"));
    // Nothing was ever fetched.
    assert!(matches!(a.current(&store, now), ListState::Unavailable { .. }));
    // A login that could not be dispatched counts as a failure too.
    let req = a.on_tick(&store, now, 1).unwrap();
    assert!(is_login(&req));
    assert_eq!(a.on_dispatch_failed(&store, now), Outcome::LoginFailed { reason: LoginError::DispatchFailed });
    // A login that is never answered too.
    let failures = login_record(&a, &store).failures;
    let now = login_record(&a, &store).next_ms.max(now + LOGIN_WINDOW_MS);
    assert!(a.on_tick(&store, now, 2).is_some());
    a.on_dispatched(2);
    assert!(a.on_tick(&store, now + LEASE, 3).is_none());
    assert_eq!(login_record(&a, &store).failures, failures + 1);
}

#[test]
fn failing_logins_never_exceed_the_rate_window_whatever_the_worker_count() {
    // Four workers tick every second for three hours; every login is refused. The
    // backoff starts at retry_seconds (1 s) and is capped by refresh_seconds (10 s),
    // so the shared rate window is what holds logins to 12 per 15 minutes.
    for (status, body) in [(401, &b""[..]), (200, &b"{}"[..])] {
        let store = MemoryStore::default();
        let extra = r#""refresh_seconds":10,"retry_seconds":1,"timeout_ms":500"#;
        let workers: Vec<Refresher> = (0..4).map(|_| login_worker(extra)).collect();
        for w in &workers {
            w.prepare(&store);
        }
        let mut logins: Vec<u64> = Vec::new();
        let mut token = 0u32;
        let end = T0 + 3 * HOUR_MS;
        let mut now = T0;
        while now < end {
            for (i, w) in workers.iter().enumerate() {
                let t = now + i as u64 * 7;
                if let Some(req) = w.on_tick(&store, t, u64::from(token) ^ (i as u64) << 40) {
                    assert!(is_login(&req), "the list is never fetched without a token");
                    token += 1;
                    w.on_dispatched(token.into());
                    logins.push(t);
                    let outcome = w.on_response(&store, token.into(), status, body, t + 50);
                    assert!(matches!(outcome, Outcome::LoginFailed { .. }), "{outcome:?}");
                }
            }
            now += 1_000;
        }
        for (i, &start) in logins.iter().enumerate() {
            let inside = logins[i..].iter().take_while(|&&t| t < start + LOGIN_WINDOW_MS).count();
            assert!(inside <= LOGINS_PER_WINDOW, "{inside} logins in 15 minutes from {}", start - T0);
        }
        // The window is used (12 per 15 minutes, 144 in three hours), not starved.
        assert!((130..=144).contains(&logins.len()), "{}", logins.len());
        // The first logins back off with growing gaps (1 s, 2 s, 4 s, 8 s, then the cap).
        let gaps: Vec<u64> = logins.windows(2).take(4).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        assert!(gaps[0] >= 1_000, "{gaps:?}");
    }
}

#[test]
fn the_rate_window_counts_successful_logins_too() {
    // Tokens that live 10 s are renewed every 7.5 s or so; after 12 logins in 15
    // minutes the next waits for the window, and fetches use the token while it lasts.
    let store = MemoryStore::default();
    let a = login_worker(r#""refresh_seconds":10,"retry_seconds":1"#);
    let mut logins = Vec::new();
    let mut now = T0;
    let mut token = 0;
    while now < T0 + LOGIN_WINDOW_MS {
        if let Some(req) = a.on_tick(&store, now, now) {
            token += 1;
            a.on_dispatched(token);
            if is_login(&req) {
                logins.push(now);
                a.on_response(&store, token, 200, &answer("t", 10), now + 50);
            } else {
                a.on_response(&store, token, 200, &body(), now + 50);
            }
        }
        now += 1_000;
    }
    assert_eq!(logins.len(), LOGINS_PER_WINDOW, "{logins:?}");
}

#[test]
fn other_credentials_do_not_use_the_token_or_wait_out_the_backoff() {
    let store = MemoryStore::default();
    let old = login_worker("");
    assert!(matches!(login(&old, &store, T0, 1, 200, &answer("t0ken-old", 48 * 3600)), Outcome::LoginOk { .. }));
    let fixed = Refresher::new(list(&LOGIN.replace("COPYLEAKS_API_KEY", "OTHER_KEY")), THUMBPRINTS);
    assert_eq!(fixed.session().unwrap().key, old.session().unwrap().key, "one login record per endpoint");
    // Another configuration of the list wrote last: it may try once per retry_seconds.
    assert!(fixed.on_tick(&store, T0 + 59_000, 2).is_none());
    let t = T0 + 60_000;
    let req = fixed.on_tick(&store, t, 2).expect("its own login, not the old token");
    assert!(is_login(&req));
    fixed.on_dispatched(2);
    assert_eq!(
        fixed.on_response(&store, 2, 401, b"", t + 100),
        Outcome::LoginFailed { reason: LoginError::HttpStatus(401) }
    );
    // Its failure is its own: the old token is gone, and the old configuration logs
    // in again without waiting out the other one's login backoff.
    let r = login_record(&old, &store);
    assert_eq!((r.token_id, r.failures), (0, 1));
    assert!(old.on_tick(&store, t + 60_000, 3).is_some_and(|r| is_login(&r)));
}
