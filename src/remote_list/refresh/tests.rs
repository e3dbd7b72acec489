use super::*;
use std::time::Duration;

use crate::remote_list::config::DEFAULT_TIMEOUT_MS;
use crate::remote_list::parse::MAX_BODY_BYTES;
use crate::remote_list::testing::*;
use crate::remote_list::timing::mix;
use crate::shared::{Conflict, MemoryStore};

const DAY_MS: u64 = 86_400_000;

#[test]
fn prepared_record_makes_the_first_lease_single_flight() {
    let (a, b) = (worker(""), worker(""));
    // Without the record, both VMs see no key at their first tick and both write it;
    // with it, the second VM's lease write fails its CAS.
    let store = crate::shared::ContendedStore::new(Vec::new(), false);
    a.prepare(&store.inner);
    b.prepare(&store.inner);
    let before = schedule(&a, &store.inner);
    assert_eq!(before.generation, 0);
    // Both read the record; then both try to take the lease.
    let (_, cas_b) = b.read_state(&store.inner);
    assert!(a.on_tick(&store.inner, T0, 1).is_some());
    assert!(cas_b.is_some());
    assert!(b.on_tick(&store.inner, T0, 2).is_none(), "the lease is held: no second fetch");
    // Preparing again (a config reload) keeps what is there.
    a.prepare(&store.inner);
    assert_eq!(schedule(&a, &store.inner).lease, schedule(&b, &store.inner).lease);
}

#[test]
fn a_worker_without_a_list_sees_the_first_good_fetch_at_once() {
    let store = MemoryStore::default();
    let (fetcher, other) = (worker(""), worker(""));
    // The other worker asks first: nothing yet.
    assert!(matches!(other.current(&store, T0), ListState::Unavailable { .. }));
    assert_eq!(fetch(&fetcher, &store, T0 + 10, 7, 200, &body()), Outcome::Ok { entries: 2 });
    // 200 ms later, well inside the once-a-second re-read of a worker that has a list.
    assert_eq!(fresh(other.current(&store, T0 + 200)).len(), 2);
}

#[test]
fn fetch_request_carries_headers_and_debug_hides_their_values() {
    let w =
        worker(r#""headers":{"Authorization":{"env":"COPYLEAKS_TOKEN"},"x-client":{"value":"wg"}},"timeout_ms":2500"#);
    let store = MemoryStore::default();
    let req = w.on_tick(&store, T0, 1).unwrap();
    assert_eq!(req.cluster, "copyleaks_api");
    assert_eq!(req.timeout, Duration::from_millis(2500));
    assert_eq!(
        req.headers,
        vec![
            (":method", "GET"),
            (":path", "/v2/security/client-certificates"),
            (":authority", "api.copyleaks.com"),
            ("accept", "application/json"),
            ("authorization", "Bearer t0p-s3cret"),
            ("x-client", "wg"),
        ]
    );
    let printed = format!("{req:?} {:?}", w.list);
    assert!(!printed.contains("t0p-s3cret") && !printed.contains("\"wg\""), "{printed}");
    assert!(printed.contains("authorization"), "{printed}");
    // A configured accept header replaces the default one.
    let w = worker(r#""headers":{"accept":{"value":"text/plain"}}"#);
    let req = w.on_tick(&MemoryStore::default(), T0, 1).unwrap();
    assert_eq!(req.headers.iter().filter(|(n, _)| *n == "accept").count(), 1);
    assert!(req.headers.contains(&("accept", "text/plain")));
}

#[test]
fn shared_keys_depend_on_name_and_source_not_on_credentials() {
    let a = worker("");
    assert!(a.state_key.starts_with("webhook_guard:list:r.client_cert:"), "{}", a.state_key);
    assert!(a.state_key.ends_with(":state") && a.data_key.ends_with(":data"));
    let same = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
    assert_eq!(a.data_key, same.data_key);
    assert_ne!(a.list.request_digest, same.list.request_digest);
    let moved = worker(r#""pointer":"/certificates""#);
    assert_ne!(a.data_key, moved.data_key);
}

#[test]
fn first_tick_fetches_and_success_is_shared_with_other_workers() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert!(matches!(b.current(&store, T0), ListState::Unavailable { .. }));
    let req = a.on_tick(&store, T0, 7).unwrap();
    assert_eq!(req.cluster, "copyleaks_api");
    a.on_dispatched(42);
    let outcome = a.on_response(&store, 42, 200, &body(), T0 + 300);
    assert_eq!(outcome, Outcome::Ok { entries: 2 });
    let mine = fresh(a.current(&store, T0 + 300));
    assert!(mine.contains(SHA1_CANON));
    assert!(mine.contains(SHA256));
    assert!(!mine.contains(SHA1), "entries are canonical");
    assert_eq!(a.entries(), 2);
    assert_eq!(a.age_seconds(T0 + 2_300), Some(2));
    // b has no list yet, so it looks again at once (not a second later).
    let theirs = fresh(b.current(&store, T0 + 500));
    assert_eq!(theirs.iter().collect::<Vec<_>>(), vec![SHA1_CANON, SHA256]);
    assert_eq!(theirs.generation(), mine.generation());
    assert_eq!(theirs.fetched_at_ms, T0 + 300);
    assert_eq!(b.entries(), 2);
    // Later reads reuse the decoded list (same allocation) until the generation changes.
    let again = fresh(b.current(&store, T0 + 5_000));
    assert!(Arc::ptr_eq(&theirs, &again));
    // Nobody fetches again before the refresh.
    assert!(a.on_tick(&store, T0 + 1_000, 1).is_none());
    assert!(b.on_tick(&store, T0 + 1_000, 2).is_none());
}

#[test]
fn a_held_lease_keeps_other_workers_and_the_holder_from_fetching() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    for t in [T0, T0 + 1_000, T0 + LEASE - 1] {
        assert!(b.on_tick(&store, t, 2).is_none(), "{t}");
        assert!(a.on_tick(&store, t, 3).is_none(), "{t}");
    }
    let s = schedule(&a, &store);
    assert_ne!(s.lease, 0);
    assert_eq!(s.lease_until_ms, T0 + LEASE);
}

#[test]
fn a_worker_whose_clock_reading_is_a_little_older_still_sees_the_lease() {
    // A tick reads the clock once for all its lists, and workers run in parallel: by
    // the time this worker reads a list's record, another may have taken the lease
    // with a later reading. That lease (and the schedule after its fetch) looks
    // longer than this configuration could set, but it is not the clock going back.
    for skew in [1, 45, 1_000, CLOCK_SKEW_MS] {
        let store = MemoryStore::default();
        let (a, b) = (worker(""), worker(""));
        assert!(a.on_tick(&store, T0 + skew, 1).is_some());
        a.on_dispatched(1);
        assert!(b.on_tick(&store, T0, 2).is_none(), "a live lease, {skew} ms ahead");
        assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + skew), Outcome::Ok { entries: 2 });
        // Whatever the jitter, the next refresh is not due for this worker either.
        let mut s = schedule(&a, &store);
        s.next_ms = T0 + skew + DAY_MS;
        store.set(&a.state_key, &s.encode(), None).unwrap();
        assert!(b.on_tick(&store, T0, 3).is_none(), "a schedule {skew} ms past a day");
    }
}

#[test]
fn an_expired_lease_lets_another_worker_take_over() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    // a's VM died mid-flight: it never answers, never ticks again.
    assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
    b.on_dispatched(9);
    assert_eq!(b.on_response(&store, 9, 200, &body(), T0 + LEASE + 50), Outcome::Ok { entries: 2 });
    assert_eq!(fresh(a.current(&store, T0 + LEASE + 100)).len(), 2);
}

#[test]
fn a_lost_callback_counts_as_a_failure_and_releases_the_lease() {
    let store = MemoryStore::default();
    let a = worker("");
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    // Past the deadline, the holder gives up: no fetch on that tick, a failure recorded.
    assert!(a.on_tick(&store, T0 + LEASE, 2).is_none());
    let s = schedule(&a, &store);
    assert_eq!((s.lease, s.failures), (0, 1));
    assert!(s.next_ms >= T0 + LEASE + 45_000 && s.next_ms <= T0 + LEASE + 60_000, "{}", s.next_ms - T0);
    // The late answer, if it ever comes, changes nothing.
    assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + LEASE + 1), Outcome::Ignored);
    assert!(matches!(a.current(&store, T0 + LEASE + 2_000), ListState::Unavailable { .. }));
}

#[test]
fn failures_keep_the_last_good_list() {
    let store = MemoryStore::default();
    let (a, b) = (worker(r#""refresh_seconds":60"#), worker(r#""refresh_seconds":60"#));
    assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
    let good = fresh(b.current(&store, T0 + 1_000));
    let answers: Vec<(u32, Vec<u8>, FetchError)> = vec![
        (500, b"oops".to_vec(), FetchError::HttpStatus(500)),
        (401, br#"{"error":"unauthorized"}"#.to_vec(), FetchError::HttpStatus(401)),
        (0, Vec::new(), FetchError::NoResponse),
        (200, b"<html>maintenance</html>".to_vec(), FetchError::Malformed(ParseError::NotJson)),
        (200, b"[]".to_vec(), FetchError::Malformed(ParseError::Empty)),
        (200, br#"{"certificates":[]}"#.to_vec(), FetchError::Malformed(ParseError::Empty)),
        (200, format!(r#"["{SHA1}","zz"]"#).into_bytes(), FetchError::Malformed(ParseError::InvalidEntry { index: 1 })),
        (204, Vec::new(), FetchError::Malformed(ParseError::NotJson)),
        (302, Vec::new(), FetchError::HttpStatus(302)),
    ];
    let mut now = schedule(&a, &store).next_ms;
    for (i, (status, answer, want)) in answers.into_iter().enumerate() {
        let token = 100 + i as u32;
        let outcome = fetch(&a, &store, now, token, status, &answer);
        assert_eq!(outcome, Outcome::Failed { reason: want }, "{status}");
        let still = fresh(b.current(&store, now + 2_000));
        assert!(Arc::ptr_eq(&still, &good), "{status}: the list is the one fetched first");
        assert!(fresh(a.current(&store, now + 2_000)).contains(SHA1_CANON));
        now = schedule(&a, &store).next_ms;
    }
    // A worker that starts later still finds the last good list.
    assert_eq!(fresh(worker(r#""refresh_seconds":60"#).current(&store, now)).generation(), good.generation());
}

#[test]
fn failure_reasons_are_metric_safe_and_401_points_at_the_credentials() {
    assert!(FetchError::HttpStatus(401).to_string().contains("remote_list.headers"));
    assert!(FetchError::HttpStatus(403).to_string().contains("credentials"));
    assert_eq!(FetchError::HttpStatus(503).to_string(), "HTTP 503");
    for e in [
        FetchError::DispatchFailed,
        FetchError::NoResponse,
        FetchError::HttpStatus(500),
        FetchError::Malformed(ParseError::NotJson),
        FetchError::StoreWrite,
    ] {
        assert!(!e.to_string().is_empty(), "{e:?}");
    }
}

#[test]
fn backoff_grows_is_capped_and_jittered_within_bounds() {
    let l = list("");
    for seed in 0..2_000u64 {
        let seed = mix(seed);
        let d1 = l.backoff_ms(1, seed);
        assert!((45_000..=60_000).contains(&d1), "{d1}");
        let d2 = l.backoff_ms(2, seed);
        assert!((90_000..=120_000).contains(&d2), "{d2}");
        let d5 = l.backoff_ms(5, seed);
        assert!((720_000..=960_000).contains(&d5), "{d5}");
        // 60 s * 2^6 = 64 min: capped at an hour even with a daily refresh.
        for n in [7, 20, 33, 1_000, u32::MAX] {
            let d = l.backoff_ms(n, seed);
            assert!((2_700_000..=3_600_000).contains(&d), "{n}: {d}");
        }
        let r = l.refresh_delay_ms(seed);
        assert!((DAY_MS * 9 / 10..=DAY_MS).contains(&r), "{r}");
    }
    // Capped at the refresh interval when that is shorter than an hour.
    let short = list(r#""refresh_seconds":300,"retry_seconds":60"#);
    assert!((225_000..=300_000).contains(&short.backoff_ms(10, 3)));
    // Jitter actually varies.
    let spread: std::collections::HashSet<u64> = (0..50).map(|s| l.backoff_ms(1, mix(s))).collect();
    assert!(spread.len() > 10);
}

#[test]
fn backoff_holds_across_workers_and_grows_with_each_failure() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert_eq!(fetch(&a, &store, T0, 1, 503, b""), Outcome::Failed { reason: FetchError::HttpStatus(503) });
    let s = schedule(&a, &store);
    assert_eq!((s.lease, s.failures), (0, 1));
    let wait1 = s.next_ms - (T0 + 100);
    assert!((45_000..=60_000).contains(&wait1), "{wait1}");
    // Neither worker retries before the backoff is over.
    assert!(b.on_tick(&store, s.next_ms - 1, 2).is_none());
    assert!(a.on_tick(&store, s.next_ms - 1, 3).is_none());
    // Then one of them does, and a second failure doubles the wait.
    let t1 = s.next_ms;
    assert_eq!(fetch(&b, &store, t1, 4, 0, b""), Outcome::Failed { reason: FetchError::NoResponse });
    let s2 = schedule(&b, &store);
    assert_eq!(s2.failures, 2);
    let wait2 = s2.next_ms - (t1 + 100);
    assert!((90_000..=120_000).contains(&wait2), "{wait2}");
    // A success resets the count.
    assert_eq!(fetch(&a, &store, s2.next_ms, 5, 200, &body()), Outcome::Ok { entries: 2 });
    assert_eq!(schedule(&a, &store).failures, 0);
}

#[test]
fn refresh_happens_after_refresh_seconds_with_jitter() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
    let fetched = T0 + 100;
    assert!(b.on_tick(&store, fetched + DAY_MS * 9 / 10 - 1, 2).is_none());
    let next = schedule(&a, &store).next_ms;
    assert!((fetched + DAY_MS * 9 / 10..=fetched + DAY_MS).contains(&next));
    // Whichever worker ticks first after that refreshes; the new list replaces the old.
    let newer = format!(r#"{{"certificates":[{{"thumbprint":"{SHA256}"}}]}}"#);
    assert_eq!(fetch(&b, &store, fetched + DAY_MS, 2, 200, newer.as_bytes()), Outcome::Ok { entries: 1 });
    let seen = fresh(a.current(&store, fetched + DAY_MS + 1_000));
    assert_eq!(seen.iter().collect::<Vec<_>>(), vec![SHA256]);
    assert!(!seen.contains(SHA1_CANON), "a thumbprint removed upstream is no longer trusted");
}

#[test]
fn a_list_older_than_max_stale_fails_closed() {
    let store = MemoryStore::default();
    let a = worker(r#""refresh_seconds":60,"max_stale_seconds":120"#);
    assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
    let fetched = T0 + 100;
    assert!(matches!(a.current(&store, fetched + 120_000), ListState::Fresh(_)));
    match a.current(&store, fetched + 120_001) {
        ListState::Stale { age_seconds } => assert_eq!(age_seconds, 120),
        other => panic!("{other:?}"),
    }
    // A good fetch makes it usable again.
    assert_eq!(fetch(&a, &store, fetched + 130_000, 2, 200, &body()), Outcome::Ok { entries: 2 });
    assert!(matches!(a.current(&store, fetched + 130_200), ListState::Fresh(_)));
}

#[test]
fn a_worker_looks_for_a_refresh_before_calling_its_copy_stale() {
    // max_stale_seconds equal to refresh_seconds: the refresh lands just before the
    // list would go stale, and another worker read shared data less than a second ago.
    let store = MemoryStore::default();
    let extra = r#""refresh_seconds":10,"max_stale_seconds":10"#;
    let (a, b) = (worker(extra), worker(extra));
    assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
    let first = fresh(b.current(&store, T0 + 9_500)).generation();
    a.on_tick(&store, T0 + 9_800, 2).expect("the refresh is due");
    a.on_dispatched(2);
    assert_eq!(a.on_response(&store, 2, 200, &body(), T0 + 9_900), Outcome::Ok { entries: 2 });
    // 10.15 s after the first fetch, 0.65 s after b's last read: b's copy is stale, the
    // shared list is not.
    let now = fresh(b.current(&store, T0 + 10_150));
    assert_ne!(now.generation(), first);
    assert_eq!(now.fetched_at_ms, T0 + 9_900);
}

#[test]
fn unavailable_before_the_first_success_with_a_sensible_retry_after() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    let retry = |w: &Refresher, now| match w.current(&store, now) {
        ListState::Unavailable { retry_after_seconds } => retry_after_seconds,
        other => panic!("{other:?}"),
    };
    // Nothing started yet: a fetch starts within a tick and takes at most the timeout.
    assert_eq!(retry(&b, T0), 6);
    // In flight: until the lease ends.
    assert!(a.on_tick(&store, T0 + 1_000, 1).is_some());
    a.on_dispatched(1);
    assert_eq!(retry(&b, T0 + 2_000), 9);
    // Failed: until the retry, plus the timeout.
    assert!(matches!(a.on_response(&store, 1, 500, b"", T0 + 2_000), Outcome::Failed { .. }));
    let next = schedule(&a, &store).next_ms;
    let want = (next - (T0 + 3_000) + DEFAULT_TIMEOUT_MS).div_ceil(1000);
    assert_eq!(retry(&b, T0 + 3_000), want);
    assert!((50..=65).contains(&want), "{want}");
    // Capped: a sender is never told to go away for hours.
    let long = worker(r#""retry_seconds":3600"#);
    let s2 = MemoryStore::default();
    assert_eq!(fetch(&long, &s2, T0, 3, 500, b""), Outcome::Failed { reason: FetchError::HttpStatus(500) });
    match long.current(&s2, T0 + 2_000) {
        ListState::Unavailable { retry_after_seconds } => assert_eq!(retry_after_seconds, MAX_RETRY_AFTER_SECONDS),
        other => panic!("{other:?}"),
    }
}

#[test]
fn responses_to_unknown_tokens_are_ignored() {
    let store = MemoryStore::default();
    let a = worker("");
    // Nothing in flight at all.
    assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
    assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Ignored);
    assert!(a.on_tick(&store, T0, 1).is_some());
    // Dispatched but not yet told the token: no answer can be ours.
    assert_eq!(a.on_response(&store, 5, 200, &body(), T0), Outcome::Ignored);
    a.on_dispatched(5);
    a.on_dispatched(6); // a second token does not replace the first
    assert_eq!(a.on_response(&store, 6, 200, &body(), T0 + 1), Outcome::Ignored);
    assert_eq!(a.on_response(&store, 4, 500, b"", T0 + 1), Outcome::Ignored);
    assert!(matches!(a.current(&store, T0 + 1), ListState::Unavailable { .. }));
    assert_eq!(a.on_response(&store, 5, 200, &body(), T0 + 2), Outcome::Ok { entries: 2 });
    // Answered once: a duplicate delivery is ignored.
    assert_eq!(a.on_response(&store, 5, 500, b"", T0 + 3), Outcome::Ignored);
    assert_eq!(schedule(&a, &store).failures, 0);
}

#[test]
fn an_undispatchable_callout_backs_off_like_any_failure() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert!(a.on_tick(&store, T0, 1).is_some());
    assert_eq!(a.on_dispatch_failed(&store, T0), Outcome::Failed { reason: FetchError::DispatchFailed });
    let s = schedule(&a, &store);
    assert_eq!((s.lease, s.failures), (0, 1));
    assert!(b.on_tick(&store, T0 + 1_000, 2).is_none(), "the lease is released but the backoff holds");
    assert!(b.on_tick(&store, s.next_ms, 3).is_some());
}

#[test]
fn changed_credentials_are_tried_without_waiting_out_the_old_backoff() {
    let store = MemoryStore::default();
    let old = worker(r#""headers":{"authorization":{"env":"OTHER_TOKEN"}}"#);
    let mut now = T0;
    for token in 1..=8 {
        let outcome = fetch(&old, &store, now, token, 401, b"");
        assert_eq!(outcome, Outcome::Failed { reason: FetchError::HttpStatus(401) });
        now = schedule(&old, &store).next_ms;
    }
    let s = schedule(&old, &store);
    assert!(s.next_ms - s.last_attempt_ms > 1_800_000, "deep in backoff");
    // The operator fixes the token: the new configuration retries after retry_seconds.
    let fixed = worker(r#""headers":{"authorization":{"env":"COPYLEAKS_TOKEN"}}"#);
    assert_eq!(fixed.data_key, old.data_key);
    assert!(fixed.on_tick(&store, s.last_attempt_ms + 59_999, 1).is_none());
    assert!(fixed.on_tick(&store, s.last_attempt_ms + 60_000, 2).is_some());
    fixed.on_dispatched(2);
    assert_eq!(fixed.on_response(&store, 2, 200, &body(), s.last_attempt_ms + 60_100), Outcome::Ok { entries: 2 });
    // The old configuration (a VM still draining) may fetch again, but not at tick rate.
    let after = schedule(&fixed, &store);
    assert!(old.on_tick(&store, after.last_attempt_ms + 1_000, 3).is_none());
}

#[test]
fn a_different_source_does_not_see_the_old_sources_list() {
    let store = MemoryStore::default();
    let a = worker("");
    assert_eq!(fetch(&a, &store, T0, 1, 200, &body()), Outcome::Ok { entries: 2 });
    let moved = worker(r#""pointer":"/certificates""#);
    assert!(matches!(moved.current(&store, T0 + 1_000), ListState::Unavailable { .. }));
    assert!(moved.on_tick(&store, T0 + 1_000, 2).is_some(), "its own schedule: fetch at once");
}

#[test]
fn the_clock_going_back_does_not_stall_refreshes() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    // The wall clock jumps back an hour: the lease now looks an hour long.
    let back = T0 - 3_600_000;
    assert!(b.on_tick(&store, back, 2).is_some(), "a lease further ahead than possible is void");
    // The same for the holder's own attempt and for a far-future schedule.
    assert!(a.on_tick(&store, back, 3).is_none());
    assert!(a.local().unwrap().attempt.is_none());
    b.on_dispatched(2);
    assert_eq!(b.on_response(&store, 2, 200, &body(), back + 100), Outcome::Ok { entries: 2 });
    let c = worker("");
    assert!(c.on_tick(&store, back - 2 * DAY_MS, 4).is_some());
}

#[test]
fn creating_the_state_key_is_checked_after_the_write() {
    // Another worker creates the key between this worker's read and its write
    // (creation is not protected by CAS), and its write lands last.
    struct Racing {
        inner: MemoryStore,
        raced: std::cell::Cell<bool>,
    }
    impl SharedStore for Racing {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
            self.inner.set(key, value, cas)?;
            if !self.raced.replace(true) {
                let other = Schedule { v: FORMAT_VERSION, lease: 99, lease_until_ms: T0 + LEASE, ..Default::default() };
                self.inner.set(key, &other.encode(), None)?;
            }
            Ok(())
        }
    }
    let store = Racing { inner: MemoryStore::default(), raced: std::cell::Cell::new(false) };
    let a = worker("");
    assert!(a.on_tick(&store, T0, 1).is_none());
    assert!(a.local().unwrap().attempt.is_none());
    // Once the key exists, acquisition is a plain CAS.
    let b = worker("");
    assert!(b.on_tick(&store, T0 + LEASE, 2).is_some());
}

#[test]
fn a_cas_conflict_means_another_worker_won() {
    struct Conflicting(MemoryStore);
    impl SharedStore for Conflicting {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
            if cas.is_some() {
                return Err(Conflict);
            }
            self.0.set(key, value, cas)
        }
    }
    let store = Conflicting(MemoryStore::default());
    let a = worker("");
    store.0.set(&a.state_key, &Schedule { v: FORMAT_VERSION, ..Default::default() }.encode(), None).unwrap();
    assert!(a.on_tick(&store, T0, 1).is_none());
}

#[test]
fn unreadable_shared_records_are_survived() {
    let store = MemoryStore::default();
    let a = worker("");
    store.set(&a.state_key, b"\xff garbage", None).unwrap();
    let truncated = DataRecord { v: FORMAT_VERSION, generation: 5, fetched_at_ms: 0, entries: vec!["x".into()] };
    let truncated = truncated.encode().unwrap();
    store.set(&a.data_key, &truncated[..truncated.len() - 1], None).unwrap();
    assert!(matches!(a.current(&store, T0), ListState::Unavailable { .. }));
    // The unreadable state is replaced, with CAS.
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 10), Outcome::Ok { entries: 2 });
    // A good list is not dropped when the data record turns unreadable.
    let b = worker("");
    assert_eq!(fresh(b.current(&store, T0 + 20)).len(), 2);
    store.set(&a.data_key, b"not json", None).unwrap();
    let mut s = schedule(&a, &store);
    s.generation = 12345;
    store.set(&a.state_key, &s.encode(), None).unwrap();
    assert_eq!(fresh(b.current(&store, T0 + 2_000)).len(), 2);
    // A record from another format version is ignored.
    let other = DataRecord { v: FORMAT_VERSION + 1, generation: 7, fetched_at_ms: 0, entries: vec!["x".into()] };
    store.set(&a.data_key, &other.encode().unwrap(), None).unwrap();
    let c = worker("");
    assert!(matches!(c.current(&store, T0 + 3_000), ListState::Unavailable { .. }));
}

#[test]
fn a_store_that_refuses_the_list_is_a_failure() {
    struct Full(MemoryStore);
    impl SharedStore for Full {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
            if key.ends_with(":data") {
                return Err(Conflict);
            }
            self.0.set(key, value, cas)
        }
    }
    let store = Full(MemoryStore::default());
    let a = worker("");
    assert!(a.on_tick(&store, T0, 1).is_some());
    a.on_dispatched(1);
    assert_eq!(a.on_response(&store, 1, 200, &body(), T0 + 1), Outcome::Failed { reason: FetchError::StoreWrite });
    assert_eq!(a.entries(), 0);
    assert_eq!(a.read_state(&store).0.unwrap().failures, 1);
}

#[test]
fn duplicates_collapse_and_shared_data_stays_bounded() {
    let store = MemoryStore::default();
    let a = worker("");
    let lower = SHA1_CANON.to_string();
    let doc = format!(r#"["{SHA1}","{lower}","{}"]"#, lower.to_ascii_uppercase());
    assert_eq!(fetch(&a, &store, T0, 1, 200, doc.as_bytes()), Outcome::Ok { entries: 1 });
    // The largest list there can be: MAX_ENTRIES SHA-256 thumbprints with colons.
    let big: Vec<String> = (0..MAX_ENTRIES)
        .map(|i| {
            let hex = format!("{:016x}{:048x}", mix(i as u64), i);
            hex.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":")
        })
        .collect();
    let doc = format!("[\"{}\"]", big.join("\",\"")).into_bytes();
    assert!(doc.len() <= MAX_BODY_BYTES, "{}", doc.len());
    let w = worker(r#""refresh_seconds":10"#);
    let s2 = MemoryStore::default();
    assert_eq!(fetch(&w, &s2, T0, 1, 200, &doc), Outcome::Ok { entries: MAX_ENTRIES });
    assert_eq!(s2.len(), 2, "one state and one data key per list");
    assert!(s2.bytes() < 720 * 1024, "{}", s2.bytes());
}

#[test]
fn an_early_fetch_is_granted_once_a_minute_for_every_worker_and_never_during_backoff() {
    let store = MemoryStore::default();
    let (a, b) = (worker(""), worker(""));
    a.prepare(&store);
    assert_eq!(fetch(&a, &store, T0, 7, 200, &body()), Outcome::Ok { entries: 2 });
    // The next fetch is a day away; a request brings it forward.
    assert!(a.on_tick(&store, T0 + 5_000, 1).is_none());
    assert!(b.fetch_early(&store, T0 + 5_000));
    assert!(a.on_tick(&store, T0 + 5_500, 2).is_some(), "the fetch goes out at the next tick");
    assert_eq!(a.on_response(&store, 0, 200, &body(), T0 + 5_600), Outcome::Ignored);
    let token = 9;
    a.on_dispatched(token);
    assert_eq!(a.on_response(&store, token, 200, &body(), T0 + 6_000), Outcome::Ok { entries: 2 });
    // Within the minute, no worker may ask again; after it, one may.
    assert!(!a.fetch_early(&store, T0 + 30_000));
    assert!(!b.fetch_early(&store, T0 + 64_999));
    assert!(a.on_tick(&store, T0 + 64_999, 3).is_none());
    assert!(b.fetch_early(&store, T0 + 65_000));
    let req = a.on_tick(&store, T0 + 65_100, 4);
    assert!(req.is_some());
    a.on_dispatched(10);
    // A failed fetch backs off; an early fetch does not cut the backoff short.
    assert!(matches!(a.on_response(&store, 10, 500, b"", T0 + 65_200), Outcome::Failed { .. }));
    assert!(!b.fetch_early(&store, T0 + 200_000));
    assert!(!b.fetch_early(&store, T0 + 200_001));
}
