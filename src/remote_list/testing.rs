//! Fixtures for the tests of every part: thumbprint and IP entry kinds, an environment,
//! a `remote_list` block pointing at the Copyleaks API, and a worker's refresher driven
//! through a fetch (for the refresh and the login).

use std::sync::Arc;

use super::config::{RemoteList, RemoteListConfig, DEFAULT_TIMEOUT_MS};
use super::parse::EntryKind;
use super::record::Schedule;
use super::refresh::{ListState, Outcome, Refresher, RemoteEntries};
use super::timing::LEASE_MARGIN_MS;
use crate::shared::MemoryStore;

pub const SHA1: &str = "3F:2A:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02";
pub const SHA1_CANON: &str = "3f2a00112233445566778899aabbccddeeff0102";
pub const SHA256: &str = "9c41e4f5b6a798011223344556677889aabbccddeeff00112233445566778899";

pub fn hex_only(s: &str) -> String {
    s.chars().filter(|c| *c != ':' && *c != ' ').collect()
}

/// What the client_cert check supplies: SHA-1 or SHA-256 hex, any case, ':' and ' ' ignored.
pub fn looks_like_thumbprint(s: &str) -> bool {
    let h = hex_only(s);
    (h.len() == 40 || h.len() == 64) && h.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn canonical_thumbprint(s: &str) -> String {
    hex_only(s).to_ascii_lowercase()
}

pub const THUMBPRINTS: EntryKind =
    EntryKind::Values { looks_like: looks_like_thumbprint, canonical: canonical_thumbprint };

pub fn looks_like_ip(s: &str) -> bool {
    let (addr, len) = s.split_once('/').unwrap_or((s, "0"));
    addr.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128)
}

pub fn env(name: &str) -> Option<String> {
    match name {
        "COPYLEAKS_TOKEN" => Some("Bearer t0p-s3cret".into()),
        "OTHER_TOKEN" => Some("Bearer 0ther".into()),
        "CRLF" => Some("Bearer a\r\nx-injected: 1".into()),
        "EMPTY" => Some(String::new()),
        "COPYLEAKS_EMAIL" => Some("ops@example.com".into()),
        "COPYLEAKS_API_KEY" => Some("7e1d0c52-k3y-s3cret".into()),
        "OTHER_KEY" => Some("0ther-k3y-s3cret".into()),
        "QUOTED" => Some("a\"b\\c\td".into()),
        _ => None,
    }
}

pub const BASE: &str =
    r#""cluster":"copyleaks_api","authority":"api.copyleaks.com","path":"/v2/security/client-certificates""#;

/// A `login` block for the Copyleaks identity service (append to a list's fields).
pub const LOGIN: &str = r#""login":{"cluster":"copyleaks_id","authority":"id.copyleaks.com","path":"/v3/account/login/api","body":{"email":{"env":"COPYLEAKS_EMAIL"},"key":{"env":"COPYLEAKS_API_KEY"}}}"#;

pub fn wire(extra: &str) -> RemoteListConfig {
    let json = if extra.is_empty() { format!("{{{BASE}}}") } else { format!("{{{BASE},{extra}}}") };
    crate::wire::read_str(&json).unwrap()
}

pub fn list(extra: &str) -> RemoteList {
    RemoteList::compile(&wire(extra), "r.client_cert.remote_list", &env, "r.client_cert").unwrap()
}

pub fn worker(extra: &str) -> Refresher {
    Refresher::new(list(extra), THUMBPRINTS)
}

pub const T0: u64 = 1_700_000_000_000;
pub const LEASE: u64 = DEFAULT_TIMEOUT_MS + LEASE_MARGIN_MS;

pub fn body() -> Vec<u8> {
    format!(r#"["{SHA1}","{SHA256}"]"#).into_bytes()
}

/// Tick, dispatch with `token`, answer with `status`/`body`.
pub fn fetch(w: &Refresher, store: &MemoryStore, now: u64, token: u32, status: u32, body: &[u8]) -> Outcome {
    assert!(w.on_tick(store, now, u64::from(token)).is_some(), "expected a fetch at {now}");
    w.on_dispatched(token.into());
    w.on_response(store, token.into(), status, body, now + 100)
}

pub fn fresh(state: ListState) -> Arc<RemoteEntries> {
    match state {
        ListState::Fresh(e) => e,
        other => panic!("expected Fresh, got {other:?}"),
    }
}

pub fn schedule(w: &Refresher, store: &MemoryStore) -> Schedule {
    w.read_state(store).0.unwrap()
}
