//! Fetches a request waits for (SPEC 2.1 "Keys from a directory"): a check that needs a
//! document it does not have yet (a JWKS before its first good fetch) says so with a
//! [`Need`] instead of refusing; the request's stream holds the request, dispatches the
//! fetch through the request's own callout, and when the answer comes the plugin checks
//! it with the check's parser and stores it in the shared store, where every worker and
//! every later request finds it; then the stage that asked runs again.
//!
//! How the pieces meet:
//! - a check sets `Findings::need` ([`crate::policy::Findings`]) and stops there (no
//!   denial of its own); the [`crate::verdict::Case`] keeps what the stage found and
//!   answers `Decision::Fetch(need)`;
//! - the [`crate::stream::Stream`] asks the plugin for the request
//!   ([`crate::plugin::Plugin::fetch_request`]), takes the document's place in the
//!   [`Ledger`] (at most [`MAX_FETCHES_IN_FLIGHT`] fetches per document in flight per
//!   plugin instance: per worker VM in the Wasm edition, per Envoy in the native one:
//!   each waiting request has its own callout, as no host can wake one request from
//!   another's answer), dispatches it with
//!   [`crate::host::RequestHost::dispatch_callout`] and returns `Flow::Buffer`;
//! - the answer reaches `Stream::on_callout_response`; the plugin accepts it
//!   ([`crate::plugin::Plugin::accept_fetched`]: status, size limit, parser, shared
//!   store) or names the [`Failure`]; the stage runs again, or the request is refused
//!   with the failure's denial (503 with `Retry-After`).
//!
//! A request that cannot wait ([`MAX_FETCHES_IN_FLIGHT`] fetches of the document are in
//! flight already for other requests of this instance, a fetch of it failed less than [`FAILURE_PAUSE_MS`] ago, the host
//! refused the callout, or the request already waited [`MAX_FETCHES_PER_REQUEST`]
//! times) is refused as the check would have refused it without waiting: 503
//! `list_unavailable`.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::denial::Denial;
use crate::verify::directory::Wanted;

pub mod certs;

/// How often one request may wait for a fetch: a stage that still lacks a document after
/// its fetch succeeded (another document, or the store lost it) does not loop.
pub const MAX_FETCHES_PER_REQUEST: u8 = 2;
/// How many requests of one plugin instance may wait for the same document at once, each
/// with its own fetch: a burst at start-up waits for the keys, a flood before the first
/// fetch sends at most this many callouts to the key server (the rest get 503).
pub const MAX_FETCHES_IN_FLIGHT: usize = 8;
/// After a failed fetch of a document, requests of this instance do not fetch it again
/// for this long (the periodic refresh goes on retrying with its own backoff): a key
/// server that fails fast cannot be made to serve one fetch per request.
pub const FAILURE_PAUSE_MS: u64 = 10_000;
/// `Retry-After` of a refusal after a failed fetch, in seconds.
pub const FAILURE_RETRY_AFTER_SECONDS: u64 = FAILURE_PAUSE_MS / 1000;

/// A document a check needs before it can judge the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub document: Document,
    /// `Retry-After` if the request cannot wait for it.
    pub retry_after_seconds: u64,
}

/// Which document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A remote list (a fetched JWKS) before its first good fetch: fetched from the
    /// list's own upstream, read by the list's parser, published in the list's shared
    /// record (so its refresh, `max_stale_seconds` and metrics apply as to any fetch).
    List(String),
    /// A sender's key the request names (PayPal's certificate by URL, Plaid's key by
    /// `kid`): fetched with the callout its check prepared, read by the sender's parser
    /// and kept in shared data under its record ([`crate::verify::directory`]).
    Key(Box<Wanted>),
    /// A signing certificate named by URL in the message (AWS SNS `SigningCertURL`),
    /// whose URL the check's host rule accepted: fetched through `cluster` from
    /// `authority` and `path` (the URL's parts), read as an X.509 certificate in PEM
    /// with an RSA key, and kept by URL in the shared store
    /// ([`certs::CertCache`]).
    Certificate(Box<CertificateDoc>),
}

/// Where a signing certificate named by URL is fetched (boxed in [`Document`]: a need
/// travels in every stage's findings, most of which need nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDoc {
    pub url: String,
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

impl Need {
    pub fn list(name: &str, retry_after_seconds: u64) -> Need {
        Need { document: Document::List(name.to_string()), retry_after_seconds }
    }

    /// The document's key in the [`Ledger`] (and in logs: it names no secret).
    pub fn key(&self) -> String {
        match &self.document {
            Document::List(name) => format!("list:{name}"),
            Document::Key(w) => format!("key:{}", w.record),
            Document::Certificate(c) => format!("cert:{}", c.url),
        }
    }
}

/// A fetch to dispatch, owned: the request keeps nothing of the plugin borrowed while
/// it waits. `Debug` names the headers, never their values.
pub struct Request {
    pub cluster: String,
    /// `:method`, `:path` and `:authority` first, then the document's own headers.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    /// The longest answer accepted, in bytes; a longer one is [`Failure::TooLarge`].
    pub limit: usize,
}

impl Request {
    /// The headers as the host's callout takes them.
    pub fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Request")
            .field("cluster", &self.cluster)
            .field("headers", &names)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .field("limit", &self.limit)
            .finish()
    }
}

/// Why a fetch a request waited for failed. Its text names no byte of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the timeout (Envoy answers a timed-out callout with 504, a
    /// reset with no status at all).
    Timeout,
    Status(u32),
    /// The check's parser refused the answer; the reason is the parser's own text.
    Malformed(String),
    TooLarge,
    /// The document could not be written to the shared store.
    Store,
}

impl Failure {
    /// The answer's status (0: none) and size, against the request's limit: the failure
    /// they show before any parsing, if any.
    pub fn of_answer(status: u32, body_len: usize, limit: usize) -> Option<Failure> {
        match status {
            0 | 504 => Some(Failure::Timeout),
            200..=299 if body_len > limit => Some(Failure::TooLarge),
            200..=299 => None,
            other => Some(Failure::Status(other)),
        }
    }

    /// The reason a request that waited is refused with.
    pub fn denial(&self) -> Denial {
        match self {
            Failure::Timeout => Denial::FetchTimeout,
            Failure::Status(_) => Denial::FetchStatus,
            Failure::Malformed(_) => Denial::FetchMalformed,
            Failure::TooLarge => Denial::FetchTooLarge,
            // Nothing wrong with the answer: the document is just not there yet.
            Failure::Store => Denial::ListUnavailable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer within the timeout (or the connection failed)"),
            Failure::Status(s) => write!(f, "HTTP {s}"),
            Failure::Malformed(why) => write!(f, "malformed answer: {why}"),
            Failure::TooLarge => f.write_str("the answer is over the size limit"),
            Failure::Store => f.write_str("could not write the document to shared data"),
        }
    }
}

/// The fetches requests of one plugin instance started, by document: at most
/// [`MAX_FETCHES_IN_FLIGHT`] in flight per document, and none for [`FAILURE_PAUSE_MS`]
/// after a failure. Entries
/// carry a deadline, so one whose request went away (a reset) frees its place by itself.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<Vec<(String, Entry)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// A request waits for its answer, due by `until_ms` (the timeout, and a second).
    InFlight { until_ms: u64 },
    /// The last fetch failed: no other before `until_ms`.
    Paused { until_ms: u64 },
}

impl Ledger {
    /// Take a place for a fetch of the document that times out after `timeout`: `false`
    /// when [`MAX_FETCHES_IN_FLIGHT`] are in flight or the document is paused after a
    /// failure.
    pub fn begin(&self, key: &str, now_ms: u64, timeout: Duration) -> bool {
        let mut entries = self.lock();
        // Entries past their time go, so the table holds only live ones.
        entries.retain(|(_, e)| match *e {
            Entry::InFlight { until_ms } | Entry::Paused { until_ms } => now_ms < until_ms,
        });
        let mut in_flight = 0;
        for (k, e) in entries.iter() {
            if k == key {
                match e {
                    Entry::Paused { .. } => return false,
                    Entry::InFlight { .. } => in_flight += 1,
                }
            }
        }
        if in_flight >= MAX_FETCHES_IN_FLIGHT {
            return false;
        }
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let until_ms = now_ms.saturating_add(timeout_ms).saturating_add(1000);
        entries.push((key.to_string(), Entry::InFlight { until_ms }));
        true
    }

    /// A fetch of `key` ended: its place is freed; `ok` also lifts a pause, a failure
    /// pauses the document (the fetches still in flight run to their end).
    pub fn end(&self, key: &str, now_ms: u64, ok: bool) {
        let mut entries = self.lock();
        Self::free_one(&mut entries, key);
        entries.retain(|(k, e)| k != key || matches!(e, Entry::InFlight { .. }));
        if !ok {
            entries.push((key.to_string(), Entry::Paused { until_ms: now_ms.saturating_add(FAILURE_PAUSE_MS) }));
        }
    }

    /// A request that waited went away before the answer (a reset): free its place,
    /// without the pause of a failure.
    pub fn abandon(&self, key: &str) {
        Self::free_one(&mut self.lock(), key);
    }

    fn free_one(entries: &mut Vec<(String, Entry)>, key: &str) {
        if let Some(i) = entries.iter().position(|(k, e)| k == key && matches!(e, Entry::InFlight { .. })) {
            entries.swap_remove(i);
        }
    }

    /// Whether a fetch of `key` is in flight now (tests and diagnostics).
    pub fn in_flight(&self, key: &str) -> bool {
        self.lock().iter().any(|(k, e)| k == key && matches!(e, Entry::InFlight { .. }))
    }

    /// A panic while the lock was held leaves a table that is merely out of date
    /// (every step writes whole entries), so it is taken over rather than refused.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Entry)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(500);

    #[test]
    fn a_document_has_a_bounded_number_of_fetches_in_flight_until_they_end() {
        let ledger = Ledger::default();
        for _ in 0..MAX_FETCHES_IN_FLIGHT {
            assert!(ledger.begin("list:a", 1_000, T));
        }
        assert!(!ledger.begin("list:a", 1_100, T), "one more request does not fetch the same document");
        assert!(ledger.begin("list:b", 1_100, T), "another document has its own places");
        ledger.end("list:a", 1_200, true);
        assert!(ledger.begin("list:a", 1_300, T), "an ended fetch frees one place");
        assert!(!ledger.begin("list:a", 1_300, T));
        ledger.abandon("list:a");
        assert!(ledger.begin("list:a", 1_400, T), "so does an abandoned one");
    }

    #[test]
    fn a_failure_pauses_the_document_and_a_later_success_lifts_the_pause() {
        let ledger = Ledger::default();
        assert!(ledger.begin("list:a", 1_000, T));
        assert!(ledger.begin("list:a", 1_000, T));
        ledger.end("list:a", 1_100, false);
        assert!(!ledger.begin("list:a", 1_200, T), "paused after the failure");
        assert!(ledger.in_flight("list:a"), "the other fetch still runs");
        ledger.end("list:a", 1_300, true);
        assert!(!ledger.in_flight("list:a"));
        assert!(ledger.begin("list:a", 1_400, T), "its success lifted the pause");
    }

    #[test]
    fn a_failure_pauses_the_document_then_it_may_be_fetched_again() {
        let ledger = Ledger::default();
        assert!(ledger.begin("list:a", 1_000, T));
        ledger.end("list:a", 2_000, false);
        assert!(!ledger.begin("list:a", 2_000 + FAILURE_PAUSE_MS - 1, T));
        assert!(ledger.begin("list:a", 2_000 + FAILURE_PAUSE_MS, T));
    }

    #[test]
    fn a_fetch_nobody_ended_frees_its_place_after_its_timeout() {
        let ledger = Ledger::default();
        for _ in 0..MAX_FETCHES_IN_FLIGHT {
            assert!(ledger.begin("list:a", 1_000, T));
        }
        assert!(!ledger.begin("list:a", 2_499, T));
        assert!(ledger.begin("list:a", 2_500, T), "every expired place is free again");
    }

    #[test]
    fn an_abandoned_fetch_frees_its_place_without_a_pause() {
        let ledger = Ledger::default();
        assert!(ledger.begin("list:a", 1_000, T));
        ledger.abandon("list:a");
        assert!(!ledger.in_flight("list:a"));
        assert!(ledger.begin("list:a", 1_001, T));
        // A pause is no fetch in flight: abandoning leaves it.
        ledger.end("list:a", 1_002, false);
        ledger.abandon("list:a");
        assert!(!ledger.begin("list:a", 1_003, T));
    }

    #[test]
    fn answers_are_judged_by_status_then_size() {
        assert_eq!(Failure::of_answer(0, 0, 10), Some(Failure::Timeout));
        assert_eq!(Failure::of_answer(504, 0, 10), Some(Failure::Timeout));
        assert_eq!(Failure::of_answer(500, 0, 10), Some(Failure::Status(500)));
        assert_eq!(Failure::of_answer(404, 0, 10), Some(Failure::Status(404)));
        assert_eq!(Failure::of_answer(200, 11, 10), Some(Failure::TooLarge));
        assert_eq!(Failure::of_answer(200, 10, 10), None);
        assert_eq!(Failure::of_answer(204, 0, 10), None);
    }

    #[test]
    fn each_failure_has_its_denial_and_none_quotes_the_answer() {
        assert_eq!(Failure::Timeout.denial(), Denial::FetchTimeout);
        assert_eq!(Failure::Status(500).denial(), Denial::FetchStatus);
        assert_eq!(Failure::Malformed("not JSON".into()).denial(), Denial::FetchMalformed);
        assert_eq!(Failure::TooLarge.denial(), Denial::FetchTooLarge);
        assert_eq!(Failure::Status(503).to_string(), "HTTP 503");
    }

    #[test]
    fn a_request_prints_no_header_value() {
        let r = Request {
            cluster: "keys".into(),
            headers: vec![(":path".into(), "/jwks".into()), ("authorization".into(), "Bearer s3cr3t".into())],
            body: None,
            timeout: T,
            limit: 10,
        };
        let shown = format!("{r:?}");
        assert!(shown.contains("authorization") && !shown.contains("s3cr3t"), "{shown}");
    }
}
