use super::*;
use crate::shared::{ContendedStore, MemoryStore, OtherWorker, CAS_ATTEMPTS};
use std::net::{Ipv4Addr, Ipv6Addr};

fn rl(json: &str) -> RateLimit {
    rl_on(json, "github")
}

fn rl_on(json: &str, route: &str) -> RateLimit {
    let c: RateLimitConfig = crate::wire::read_str(json).unwrap();
    RateLimit::compile(&c, "rl", route).unwrap()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// Requests allowed in a row at one instant.
fn burst(r: &RateLimit, store: &MemoryStore, client: Option<IpAddr>, now: u64) -> u64 {
    let mut n = 0;
    while r.check(store, client, now).is_ok() {
        n += 1;
        assert!(n <= MAX_REQUESTS, "never limited");
    }
    n
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn burst_up_to_capacity_then_limited() {
    let r = rl(r#"{"requests":100,"per_seconds":60}"#);
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    for i in 0..100 {
        assert_eq!(r.check(&s, c, T0), Ok(()), "request {i}");
    }
    assert_eq!(r.check(&s, c, T0), Err(Limited { retry_after_seconds: 1 }));
    // Still limited a moment later: 100/60s is one token per 600 ms.
    assert!(r.check(&s, c, T0 + 599).is_err());
}

#[test]
fn refill_is_exact_in_milliseconds() {
    // 3 per 10 s: one token every 3333.33 ms.
    let r = rl(r#"{"requests":3,"per_seconds":10}"#);
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    assert_eq!(burst(&r, &s, c, T0), 3);
    assert!(r.check(&s, c, T0 + 3333).is_err());
    assert_eq!(r.check(&s, c, T0 + 3334), Ok(()));
    assert!(r.check(&s, c, T0 + 3334).is_err());
    // A long pause refills to capacity, never beyond.
    assert_eq!(burst(&r, &s, c, T0 + 3_600_000), 3);
    // Fractions accumulate without drift: 3000 tokens over 10000 s.
    let r = rl(r#"{"requests":3,"per_seconds":10}"#);
    let s = MemoryStore::default();
    let mut allowed = 0;
    for ms in (0..10_000_000u64).step_by(1000) {
        if r.check(&s, c, T0 + ms).is_ok() {
            allowed += 1;
        }
    }
    // 3 up front, then one per 3333.33 ms over 9999 s.
    assert_eq!(allowed, 3 + 2999);
}

#[test]
fn retry_after_is_the_wait_for_the_next_token() {
    let table = [
        // (config, elapsed ms after the burst, expected Retry-After)
        (r#"{"requests":100,"per_seconds":60}"#, 0, 1),
        (r#"{"requests":1,"per_seconds":60}"#, 0, 60),
        (r#"{"requests":1,"per_seconds":60}"#, 1, 60),
        (r#"{"requests":1,"per_seconds":60}"#, 1000, 59),
        (r#"{"requests":1,"per_seconds":60}"#, 58_999, 2),
        (r#"{"requests":1,"per_seconds":60}"#, 59_000, 1),
        (r#"{"requests":1,"per_seconds":60}"#, 59_999, 1),
        (r#"{"requests":2,"per_seconds":86400}"#, 0, 43_200),
        (r#"{"requests":1000000,"per_seconds":1}"#, 0, 1),
    ];
    for (json, elapsed, want) in table {
        let r = rl(json);
        let s = MemoryStore::default();
        let c = ip("192.0.2.1");
        burst(&r, &s, c, T0);
        assert_eq!(r.check(&s, c, T0 + elapsed), Err(Limited { retry_after_seconds: want }), "{json} +{elapsed}");
    }
    // The advertised wait is enough.
    let r = rl(r#"{"requests":1,"per_seconds":60}"#);
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    burst(&r, &s, c, T0);
    let wait = r.check(&s, c, T0 + 1234).unwrap_err().retry_after_seconds;
    assert_eq!(r.check(&s, c, T0 + 1234 + wait * 1000), Ok(()));
}

#[test]
fn clients_are_independent() {
    let r = rl(r#"{"requests":2,"per_seconds":60}"#);
    let s = MemoryStore::default();
    assert_eq!(burst(&r, &s, ip("192.0.2.1"), T0), 2);
    assert_eq!(burst(&r, &s, ip("192.0.2.2"), T0), 2);
    assert_eq!(burst(&r, &s, ip("2001:db8:0:1::1"), T0), 2);
    assert_eq!(burst(&r, &s, ip("2001:db8:0:2::1"), T0), 2);
    assert!(r.check(&s, ip("192.0.2.1"), T0).is_err());
}

#[test]
fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_by_the_ipv4_address() {
    let r = rl(r#"{"requests":2,"per_seconds":60}"#);
    let s = MemoryStore::default();
    assert_eq!(r.check(&s, ip("2001:db8:1:2::1"), T0), Ok(()));
    assert_eq!(r.check(&s, ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), T0), Ok(()));
    assert!(r.check(&s, ip("2001:db8:1:2:abcd::9"), T0).is_err());
    assert_eq!(r.check(&s, ip("2001:db8:1:3::1"), T0), Ok(()));

    assert_eq!(r.check(&s, ip("198.51.100.7"), T0), Ok(()));
    assert_eq!(r.check(&s, ip("::ffff:198.51.100.7"), T0), Ok(()));
    assert!(r.check(&s, ip("198.51.100.7"), T0).is_err());
    assert_eq!(client_id("::ffff:198.51.100.7".parse().unwrap()), client_id("198.51.100.7".parse().unwrap()));
    // An IPv4 address and the IPv6 /64 with the same leading bytes are different clients.
    assert_ne!(
        client_id(IpAddr::V4(Ipv4Addr::new(32, 1, 13, 184))),
        client_id(IpAddr::V6(Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0)))
    );
}

#[test]
fn by_route_is_one_budget_for_every_client() {
    let r = rl(r#"{"requests":3,"per_seconds":60,"by":"route"}"#);
    assert_eq!(r.by(), By::Route);
    let s = MemoryStore::default();
    assert_eq!(r.check(&s, ip("192.0.2.1"), T0), Ok(()));
    assert_eq!(r.check(&s, ip("192.0.2.2"), T0), Ok(()));
    assert_eq!(r.check(&s, None, T0), Ok(()));
    assert!(r.check(&s, ip("2001:db8::1"), T0).is_err());
    assert_eq!(s.len(), 1);
    assert!(s.get("webhook_guard:rl:github").0.is_some());
    assert!(s.bytes() <= r.max_shared_bytes());
    assert_eq!(r.max_shared_bytes(), "webhook_guard:rl:github".len() + HEADER_LEN + ENTRY_LEN);
}

#[test]
fn prepared_keys_make_the_first_write_a_cas() {
    for (json, client) in [
        (r#"{"requests":2,"per_seconds":60,"by":"route"}"#, None),
        (r#"{"requests":2,"per_seconds":60}"#, Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)))),
    ] {
        let r = rl(json);
        // Another worker takes a token between this worker's read and its write.
        let other = rl(json);
        let s = ContendedStore::new(
            vec![Box::new(move |inner: &MemoryStore| {
                assert_eq!(other.check(inner, client, 1_000), Ok(()));
            })],
            false,
        );
        r.prepare(&s.inner);
        let prepared = s.inner.len();
        assert!(prepared >= 1);
        assert_eq!(r.check(&s, client, 1_000), Ok(()));
        // Two tokens were taken in all: the bucket of 2 is empty, none was lost.
        assert!(r.check(&s.inner, client, 1_000).is_err(), "{json}");
        // Preparing again keeps what is there.
        r.prepare(&s.inner);
        assert!(r.check(&s.inner, client, 1_000).is_err(), "{json}");
        assert_eq!(s.inner.len(), prepared);
    }
}

#[test]
fn unknown_addresses_share_one_bucket() {
    let r = rl(r#"{"requests":2,"per_seconds":60}"#);
    let s = MemoryStore::default();
    assert_eq!(burst(&r, &s, None, T0), 2);
    assert!(s.get("webhook_guard:rl:github:unknown").0.is_some());
    // Known clients are not charged for them.
    assert_eq!(burst(&r, &s, ip("192.0.2.1"), T0), 2);
}

#[test]
fn routes_are_independent() {
    let a = rl_on(r#"{"requests":1,"per_seconds":60}"#, "a");
    let b = rl_on(r#"{"requests":1,"per_seconds":60}"#, "b");
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    assert_eq!(a.check(&s, c, T0), Ok(()));
    assert_eq!(b.check(&s, c, T0), Ok(()));
    assert!(a.check(&s, c, T0).is_err());
}

#[test]
fn two_workers_share_the_budget() {
    let json = r#"{"requests":10,"per_seconds":60}"#;
    let (w1, w2) = (rl(json), rl(json));
    let s = MemoryStore::default();
    let c = ip("203.0.113.5");
    let mut allowed = 0;
    for i in 0..40 {
        let w = if i % 2 == 0 { &w1 } else { &w2 };
        // The second worker's clock reads a few ms behind: no double refill.
        let now = if i % 2 == 0 { T0 + 5 } else { T0 };
        if w.check(&s, c, now).is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
    let route = r#"{"requests":10,"per_seconds":60,"by":"route"}"#;
    let (w1, w2) = (rl(route), rl(route));
    assert_eq!(burst(&w1, &s, c, T0) + burst(&w2, &s, ip("203.0.113.6"), T0), 10);
}

#[test]
fn clocks_behind_the_bucket_neither_refill_nor_lock_out() {
    // 1 per 10 s.
    let r = rl(r#"{"requests":1,"per_seconds":10}"#);
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    assert_eq!(r.check(&s, c, T0 + 900), Ok(()));
    // Another worker's clock, 900 ms behind: the wait counts from the bucket's instant.
    assert_eq!(r.check(&s, c, T0), Err(Limited { retry_after_seconds: 11 }));
    assert!(r.check(&s, c, T0 + 10_899).is_err());
    assert_eq!(r.check(&s, c, T0 + 10_900), Ok(()));
    // The clock stepped back an hour: the bucket starts over instead of locking the
    // client out for the hour, then counts from the new clock.
    let back = T0 + 10_900 - 3_600_000;
    assert_eq!(r.check(&s, c, back), Ok(()));
    assert_eq!(r.check(&s, c, back + 1), Err(Limited { retry_after_seconds: 10 }));
    assert_eq!(r.check(&s, c, back + 10_000), Ok(()));
    assert_eq!(r.check(&s, c, u64::MAX), Ok(()));
    assert!(r.check(&s, c, u64::MAX).is_err());
    assert_eq!(r.check(&s, c, 0), Ok(()));
    assert!(r.check(&s, c, 0).is_err());
}

#[test]
fn cas_conflicts_are_retried_and_see_the_other_write() {
    let json = r#"{"requests":5,"per_seconds":60}"#;
    let c = ip("192.0.2.9");
    let other_worker = |json: &'static str| -> OtherWorker {
        Box::new(move |s: &MemoryStore| {
            assert_eq!(rl(json).check(s, ip("192.0.2.9"), T0), Ok(()));
        })
    };
    let r = rl(json);
    // The other worker creates the key first; then it writes twice more in between.
    let s = ContendedStore::new(vec![other_worker(json), other_worker(json)], false);
    assert_eq!(r.check(&s.inner, c, T0), Ok(()));
    assert_eq!(r.check(&s, c, T0), Ok(()));
    // 1 (before) + 2 (interleaved) + 1 (ours, after two conflicts) spent of 5.
    assert_eq!(s.sets.get(), 3);
    assert_eq!(r.check(&s, c, T0), Ok(()));
    assert!(r.check(&s, c, T0).is_err());

    // More conflicts than attempts: fail closed.
    let s = ContendedStore::new(Vec::new(), true);
    assert_eq!(r.check(&s, c, T0), Err(Limited { retry_after_seconds: 1 }));
    assert_eq!(s.sets.get(), CAS_ATTEMPTS);
    // Exactly CAS_ATTEMPTS - 1 conflicts: still goes through.
    let json = r#"{"requests":100,"per_seconds":60}"#;
    let s = ContendedStore::new((0..CAS_ATTEMPTS - 1).map(|_| other_worker(json)).collect(), false);
    let r = rl(json);
    assert_eq!(r.check(&s.inner, c, T0), Ok(()));
    assert_eq!(r.check(&s, c, T0), Ok(()));
    assert_eq!(s.sets.get(), CAS_ATTEMPTS);
}

#[test]
fn memory_is_bounded_with_100k_clients() {
    let r = rl(r#"{"requests":100,"per_seconds":60}"#);
    let s = MemoryStore::default();
    for i in 0..100_000u32 {
        let v4 = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        assert_eq!(r.check(&s, Some(v4), T0), Ok(()));
    }
    for i in 0..20_000u64 {
        let v6 = IpAddr::V6(Ipv6Addr::from(u128::from(i) << 64 | 1));
        assert_eq!(r.check(&s, Some(v6), T0), Ok(()));
    }
    assert_eq!(r.check(&s, None, T0), Ok(()));
    assert_eq!(s.len(), SLOTS + 1);
    // Every slot is full of drained buckets: the bound is reached exactly, never passed.
    assert_eq!(s.bytes(), r.max_shared_bytes());
    for i in 0..1000u32 {
        let v4 = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i));
        assert_eq!(r.check(&s, Some(v4), T0 + 1), Ok(()));
        assert!(s.bytes() <= r.max_shared_bytes());
    }
}

#[test]
fn the_stated_bound() {
    // 1024 slot keys "webhook_guard:rl:github:<0..1023>", each with at most a 210-byte
    // value, plus the unknown-address key.
    assert_eq!(MAX_VALUE_BYTES, 210);
    let r = rl(r#"{"requests":100,"per_seconds":60}"#);
    let digits: usize = (0..SLOTS).map(|s| s.to_string().len()).sum();
    let want = SLOTS * ("webhook_guard:rl:github:".len() + MAX_VALUE_BYTES)
        + digits
        + "webhook_guard:rl:github:unknown".len()
        + HEADER_LEN
        + ENTRY_LEN;
    assert_eq!(r.max_shared_bytes(), want);
    assert_eq!(want, 242_668);
    // The largest route name (64 characters).
    let long = "a".repeat(64);
    let r = rl_on(r#"{"requests":100,"per_seconds":60}"#, &long);
    assert_eq!(r.max_shared_bytes(), 302_118);
}

/// Addresses in 10.0.0.0/16 that fall into one slot, in order.
fn colliding(r: &RateLimit, n: usize) -> Vec<IpAddr> {
    let first = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let slot = r.slot(&client_id(first));
    (1..0xffffu32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .filter(|a| r.slot(&client_id(*a)) == slot)
        .take(n)
        .collect()
}

fn clients_in_slot(r: &RateLimit, s: &MemoryStore, a: IpAddr) -> Vec<ClientId> {
    let (key, _) = r.bucket(Some(a));
    r.decode(s.get(&key).0.as_deref()).iter().map(|e| e.client).collect()
}

#[test]
fn a_full_slot_evicts_the_fullest_bucket_which_starts_over_full() {
    // 10 per 10 s: one token per second.
    let r = rl(r#"{"requests":10,"per_seconds":10}"#);
    let s = MemoryStore::default();
    let addrs = colliding(&r, ENTRIES_PER_SLOT + 2);
    assert_eq!(addrs.len(), ENTRIES_PER_SLOT + 2);
    // addrs[0] spends 4 tokens; the next ones 1 each, 1 ms apart.
    for _ in 0..4 {
        r.check(&s, Some(addrs[0]), T0).unwrap();
    }
    for (i, a) in addrs[1..ENTRIES_PER_SLOT].iter().enumerate() {
        r.check(&s, Some(*a), T0 + 1 + i as u64).unwrap();
    }
    assert_eq!(clients_in_slot(&r, &s, addrs[0]).len(), ENTRIES_PER_SLOT);
    // A newcomer: addrs[1] has the fullest bucket (9 tokens, the oldest of those with 9).
    let now = T0 + 100;
    r.check(&s, Some(addrs[ENTRIES_PER_SLOT]), now).unwrap();
    let held = clients_in_slot(&r, &s, addrs[0]);
    assert_eq!(held.len(), ENTRIES_PER_SLOT);
    assert!(!held.contains(&client_id(addrs[1])));
    assert!(held.contains(&client_id(addrs[0])), "the least recently used is not the fullest");
    // The drained client kept its debt: 6 tokens left.
    assert_eq!(burst(&r, &s, Some(addrs[0]), now), 6);
    // The evicted client comes back with a full bucket.
    assert_eq!(burst(&r, &s, Some(addrs[1]), now), 10);
}

#[test]
fn full_buckets_are_dropped_from_the_slot() {
    let r = rl(r#"{"requests":1,"per_seconds":1}"#);
    let s = MemoryStore::default();
    let addrs = colliding(&r, 3);
    r.check(&s, Some(addrs[0]), T0).unwrap();
    r.check(&s, Some(addrs[1]), T0 + 500).unwrap();
    assert_eq!(clients_in_slot(&r, &s, addrs[0]).len(), 2);
    // A second later addrs[0] is full again and carries no information.
    r.check(&s, Some(addrs[2]), T0 + 1000).unwrap();
    assert_eq!(clients_in_slot(&r, &s, addrs[0]), vec![client_id(addrs[1]), client_id(addrs[2])]);
}

#[test]
fn a_changed_limit_keeps_each_bucket_in_proportion() {
    let s = MemoryStore::default();
    let c = ip("192.0.2.1");
    let before = rl(r#"{"requests":10,"per_seconds":60}"#);
    assert_eq!(burst(&before, &s, c, T0), 10);
    // Halving the rate: a drained bucket stays drained.
    let after = rl(r#"{"requests":5,"per_seconds":60}"#);
    assert!(after.check(&s, c, T0).is_err());
    // Half drained stays half drained.
    let s = MemoryStore::default();
    for _ in 0..5 {
        before.check(&s, c, T0).unwrap();
    }
    let after = rl(r#"{"requests":100,"per_seconds":600}"#);
    assert_eq!(burst(&after, &s, c, T0), 50);
}

#[test]
fn hostile_or_foreign_values_read_as_empty_and_never_panic() {
    let r = rl(r#"{"requests":2,"per_seconds":60}"#);
    let c = ip("192.0.2.1");
    let (key, _) = r.bucket(c);
    let good = {
        let s = MemoryStore::default();
        r.check(&s, c, T0).unwrap();
        s.get(&key).0.unwrap()
    };
    let mut values: Vec<Vec<u8>> = vec![
        vec![],
        vec![FORMAT],
        vec![2; HEADER_LEN],
        vec![0xff; 400],
        [&good[..HEADER_LEN - 1], &[200u8][..]].concat(),
        // requests = 0 in the header
        vec![FORMAT, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    ];
    for cut in 0..good.len() {
        values.push(good[..cut].to_vec());
    }
    let mut extra = good.clone();
    extra.push(0);
    values.push(extra);
    // A stored token count far above capacity.
    let mut rich = good.clone();
    rich[HEADER_LEN + CLIENT_LEN..HEADER_LEN + CLIENT_LEN + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    values.push(rich);
    for v in values {
        let s = MemoryStore::default();
        s.set(&key, &v, None).unwrap();
        assert_eq!(burst(&r, &s, c, T0), 2, "{v:?}");
    }
}

#[test]
fn encoding_round_trips() {
    let r = rl(r#"{"requests":7,"per_seconds":30}"#);
    let entries = vec![
        Entry { client: client_id("192.0.2.1".parse().unwrap()), tokens: 12345, last_millis: T0 },
        Entry { client: client_id("2001:db8::1".parse().unwrap()), tokens: 0, last_millis: u64::MAX },
    ];
    let bytes = r.encode(&entries);
    assert_eq!(bytes.len(), HEADER_LEN + 2 * ENTRY_LEN);
    assert_eq!(&bytes[..HEADER_LEN], &[FORMAT, 0, 0, 0, 7, 0, 0, 0, 30, 2], "big-endian, like every shared record");
    assert_eq!(r.decode(Some(&bytes)), entries);
}

#[test]
fn config_errors_name_the_field() {
    let table = [
        (r#"{"requests":0,"per_seconds":60}"#, "rl.requests: must be at least 1"),
        (r#"{"requests":1000001,"per_seconds":60}"#, "rl.requests: must be at most 1000000"),
        (r#"{"requests":1,"per_seconds":0}"#, "rl.per_seconds: must be at least 1"),
        (r#"{"requests":1,"per_seconds":86401}"#, "rl.per_seconds: must be at most 86400 (one day)"),
        (r#"{"requests":1,"per_seconds":1,"by":"header"}"#, "rl.by: \"header\" is not one of client_ip, route"),
    ];
    for (json, want) in table {
        let c: RateLimitConfig = crate::wire::read_str(json).unwrap();
        let got = RateLimit::compile(&c, "rl", "github").unwrap_err().to_string();
        assert_eq!(got, want, "{json}");
    }
    for json in
        [r#"{"requests":1}"#, r#"{"requests":1,"per_seconds":1,"burst":2}"#, r#"{"requests":-1,"per_seconds":1}"#]
    {
        assert!(crate::wire::read_str::<RateLimitConfig>(json).is_err(), "{json}");
    }
    // The bounds themselves are accepted.
    for json in [
        r#"{"requests":1,"per_seconds":1}"#,
        r#"{"requests":1000000,"per_seconds":86400,"by":"client_ip"}"#,
        r#"{"requests":1000000,"per_seconds":86400,"by":"route"}"#,
    ] {
        let r = rl(json);
        let s = MemoryStore::default();
        assert_eq!(r.check(&s, ip("192.0.2.1"), u64::MAX), Ok(()));
    }
}

#[test]
fn keys_have_the_documented_shape() {
    let r = rl(r#"{"requests":1,"per_seconds":1}"#);
    let (key, _) = r.bucket(ip("192.0.2.1"));
    let slot = key.strip_prefix("webhook_guard:rl:github:").unwrap();
    assert!(slot.parse::<usize>().unwrap() < SLOTS);
    // The seed makes routes spread clients differently.
    let other = rl_on(r#"{"requests":1,"per_seconds":1}"#, "stripe");
    let moved =
        (0..64u32).map(|i| client_id(IpAddr::V4(Ipv4Addr::from(i)))).filter(|id| r.slot(id) != other.slot(id)).count();
    assert!(moved > 50);
}
