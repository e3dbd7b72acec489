//! A fake Envoy for tests of the core's flow (and of a shell's mapping of it): it
//! implements the host traits on plain data and records what the core did: header
//! edits, local replies, access-log fields, log lines, metrics, callouts.
//!
//! [`FakeEnvoy`] is the plugin level (metrics, store, clock, callouts, log);
//! [`FakeRequest`] one request, borrowing it. Single-threaded, for tests only.

// A fake for tests: a misuse by the code under test (a second reply, an undefined metric)
// fails the test on the spot.
#![allow(clippy::panic, reason = "a fake host for tests: a misuse fails the test")]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use crate::host::{CalloutId, Host, Level, MetricId, PluginHost, RequestHost};
use crate::request::Headers;
use crate::shared::{MemoryStore, SharedStore};
use crate::verify::cert::PeerCertForm;

/// A callout the core dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCallout {
    pub id: CalloutId,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl SentCallout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// The plugin-level host: clock, store, metrics, log, ticks and callouts.
#[derive(Default)]
pub struct FakeEnvoy {
    pub store: MemoryStore,
    pub now_ms: Cell<u64>,
    /// Metrics by id (`MetricId(index)`): name, kind, value.
    metrics: RefCell<Vec<(String, Kind, u64)>>,
    logs: RefCell<Vec<(Level, String)>>,
    pub callouts: RefCell<Vec<SentCallout>>,
    /// Refuse every callout, as Envoy does for an unknown cluster.
    pub refuse_callouts: Cell<bool>,
    pub ticks: Cell<Option<Duration>>,
    /// Whether metrics may still be defined: only while configuring, as in the native
    /// edition (set by the test around `Plugin::configure`, or left open).
    pub closed_for_definitions: Cell<bool>,
}

impl FakeEnvoy {
    pub fn at(now_ms: u64) -> Self {
        let envoy = FakeEnvoy::default();
        envoy.now_ms.set(now_ms);
        envoy
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }

    /// A counter's or gauge's value; `None` when it was never defined.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.metrics.borrow().iter().find(|(n, _, _)| n == name).map(|(_, _, v)| *v)
    }

    /// Every metric name defined, in order.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.borrow().iter().map(|(n, _, _)| n.clone()).collect()
    }

    /// Every log line so far, and forget them.
    pub fn take_logs(&self) -> Vec<(Level, String)> {
        self.logs.take()
    }

    /// The log lines at `level` so far (kept).
    pub fn logs_at(&self, level: Level) -> Vec<String> {
        self.logs.borrow().iter().filter(|(l, _)| *l == level).map(|(_, m)| m.clone()).collect()
    }

    /// The callouts sent so far, and forget them.
    pub fn take_callouts(&self) -> Vec<SentCallout> {
        self.callouts.take()
    }

    pub fn request(&self, headers: &[(&str, &str)]) -> FakeRequest<'_> {
        FakeRequest {
            envoy: self,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect(),
            client: None,
            peer_certificate: None,
            peer_certificate_digest: None,
            body: Vec::new(),
            response_status: None,
            reply: None,
            access_log: Vec::new(),
            client_reads: Cell::new(0),
        }
    }

    fn define(&self, name: &str, kind: Kind) -> Option<MetricId> {
        if self.closed_for_definitions.get() {
            return None;
        }
        let mut metrics = self.metrics.borrow_mut();
        if let Some(i) = metrics.iter().position(|(n, k, _)| n == name && *k == kind) {
            return Some(MetricId(i as u64));
        }
        metrics.push((name.to_string(), kind, 0));
        Some(MetricId(metrics.len() as u64 - 1))
    }

    fn with_metric(&self, id: MetricId, kind: Kind, f: impl FnOnce(&mut u64)) {
        let mut metrics = self.metrics.borrow_mut();
        match usize::try_from(id.0).ok().and_then(|i| metrics.get_mut(i)) {
            Some((_, k, value)) if *k == kind => f(value),
            other => panic!("metric {id:?} is not a defined {kind:?}: {other:?}"),
        }
    }
}

impl Host for FakeEnvoy {
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn increment(&self, counter: MetricId) {
        self.with_metric(counter, Kind::Counter, |v| *v += 1);
    }

    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    fn store(&self) -> &dyn SharedStore {
        &self.store
    }
}

impl PluginHost for FakeEnvoy {
    fn define_counter(&mut self, name: &str) -> Option<MetricId> {
        self.define(name, Kind::Counter)
    }

    fn define_gauge(&mut self, name: &str) -> Option<MetricId> {
        self.define(name, Kind::Gauge)
    }

    fn set_gauge(&self, gauge: MetricId, value: u64) {
        self.with_metric(gauge, Kind::Gauge, |v| *v = value);
    }

    fn start_ticks(&mut self, period: Duration) {
        self.ticks.set(Some(period));
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        self.record_callout(cluster, headers, body, timeout)
    }

    fn instance_seed(&self) -> u64 {
        7
    }
}

impl FakeEnvoy {
    /// A callout of the plugin or of a request: recorded, numbered from 1000.
    fn record_callout(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        if self.refuse_callouts.get() {
            return None;
        }
        let mut callouts = self.callouts.borrow_mut();
        let id = CalloutId(1000 + callouts.len() as u64);
        callouts.push(SentCallout {
            id,
            cluster: cluster.to_string(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.map(<[u8]>::to_vec),
            timeout,
        });
        Some(id)
    }
}

/// A local reply the core sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReply {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SentReply {
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }
}

/// One request: what the client sent (set by the test) and what the core did to it.
pub struct FakeRequest<'e> {
    envoy: &'e FakeEnvoy,
    /// The request headers; the core's edits apply here, so after a `Continue` they are
    /// what goes upstream.
    pub headers: Vec<(String, Vec<u8>)>,
    /// `source.address` as text.
    pub client: Option<String>,
    /// The connection's peer certificate, PEM (Envoy 1.38 and newer).
    pub peer_certificate: Option<Vec<u8>>,
    /// Its SHA-256 digest, hex (every Envoy release).
    pub peer_certificate_digest: Option<Vec<u8>>,
    /// Every body byte received so far: a test appends each chunk before the callback.
    pub body: Vec<u8>,
    pub response_status: Option<u32>,
    pub reply: Option<SentReply>,
    pub access_log: Vec<(String, String)>,
    /// How often the core read the client address.
    pub client_reads: Cell<usize>,
}

impl FakeRequest<'_> {
    /// The values of header `name` as the upstream would get them.
    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// An access-log field, if it was written.
    pub fn access_log_field(&self, key: &str) -> Option<&str> {
        self.access_log.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl Host for FakeRequest<'_> {
    fn log(&self, level: Level, message: &str) {
        self.envoy.log(level, message);
    }

    fn increment(&self, counter: MetricId) {
        self.envoy.increment(counter);
    }

    fn now_ms(&self) -> u64 {
        self.envoy.now_ms()
    }

    fn store(&self) -> &dyn SharedStore {
        &self.envoy.store
    }
}

impl RequestHost for FakeRequest<'_> {
    fn request_headers(&self) -> Headers {
        Headers::from_pairs(self.headers.iter().map(|(n, v)| (n.as_bytes(), v.as_slice())))
    }

    fn client_address(&self) -> Option<String> {
        self.client_reads.set(self.client_reads.get() + 1);
        self.client.clone()
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        match form {
            PeerCertForm::Pem => self.peer_certificate.clone(),
            PeerCertForm::Sha256Digest => self.peer_certificate_digest.clone(),
        }
    }

    fn set_request_header(&mut self, name: &str, value: &str) {
        self.remove_request_header(name);
        self.headers.push((name.to_string(), value.as_bytes().to_vec()));
    }

    fn remove_request_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn request_body(&mut self, len: usize) -> Vec<u8> {
        self.body.iter().copied().take(len).collect()
    }

    fn send_reply(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        assert!(self.reply.is_none(), "a second local reply for one request");
        self.reply = Some(SentReply {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.to_vec(),
        });
    }

    fn set_access_log_field(&mut self, key: &str, value: &str) {
        self.access_log.push((key.to_string(), value.to_string()));
    }

    fn response_status(&self) -> Option<u32> {
        self.response_status
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        self.envoy.record_callout(cluster, headers, body, timeout)
    }
}
