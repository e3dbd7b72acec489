//! One request: reads it from Envoy stage by stage, hands it to the core's verdict
//! (`webhook_guard::verdict`), and applies each decision: forward with header edits,
//! answer locally, or hold the headers while the body is buffered. The same stages,
//! log lines, counters and access-log fields as the Wasm edition.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use webhook_guard::denial::{Denial, Reply, INTERNAL_ERROR};
use webhook_guard::policy::Lookups;
use webhook_guard::remote_list::ListState;
use webhook_guard::request::{Headers, RequestHead};
use webhook_guard::shared::SharedStore;
use webhook_guard::verdict::{Case, Decision, HeaderEdit, Outcome, Verdict};
use webhook_guard::verify::cert::{xfcc_cert, CertSource};

use crate::abi::{self, Filter, Flow, Level};
use crate::config::{now_unix_ms, FilterConfig, Shared, WorkerView};

/// Log where a panic happened, never its message (it could quote request bytes). The
/// hook that caught it answers the request.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        abi::log(Level::Error, &format!("webhook-guard: internal error at {at}"));
    }));
}

/// The access-log fields, as filter state. Named as the Wasm edition's are (it writes
/// `webhook_guard.route`, which Envoy stores as `wasm.webhook_guard.route`), so one
/// access-log format, `%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%` and so on, reads
/// both editions.
const ROUTE: &str = "wasm.webhook_guard.route";
const OUTCOME: &str = "wasm.webhook_guard.outcome";
const REASON: &str = "wasm.webhook_guard.reason";
const SECRET: &str = "wasm.webhook_guard.secret";

#[cfg(feature = "panic-test")]
const PANIC_TEST_HEADER: &str = "x-webhook-guard-panic-test";

pub struct Guard {
    shared: Arc<Shared>,
    view: Option<Rc<WorkerView>>,
    case: Case,
    head: Option<RequestHead>,
    /// The body received so far, copied chunk by chunk as each arrives: at the end of
    /// the stream Envoy's buffered body may or may not hold the last chunk yet.
    body: Vec<u8>,
    client: Option<Option<SocketAddr>>,
}

impl Guard {
    pub fn new(config: &FilterConfig) -> Guard {
        Guard {
            view: config.shared.worker_view(),
            shared: config.shared.clone(),
            case: Case::default(),
            head: None,
            body: Vec::new(),
            client: None,
        }
    }

    fn client_address(&mut self, f: &Filter) -> Option<SocketAddr> {
        if let Some(known) = self.client {
            return known;
        }
        let addr: Option<SocketAddr> = f.source_address().and_then(|a| a.parse().ok());
        if addr.is_some_and(|a| a.port() == 0) {
            notice_forwarded_address();
        }
        self.client = Some(addr);
        addr
    }

    fn client_ip(&mut self, f: &Filter) -> String {
        self.client_address(f).map_or_else(|| "-".to_string(), |a| a.ip().to_string())
    }

    fn request_id(&self) -> String {
        self.head
            .as_ref()
            .and_then(|h| h.headers.get_all("x-request-id").next())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into())
    }

    pub fn on_request_headers(&mut self, f: &Filter, end_of_stream: bool) -> Flow {
        let headers = Headers::new(f.request_headers());
        #[cfg(feature = "panic-test")]
        if headers.contains(PANIC_TEST_HEADER) {
            panic!("panic-test: injected by request");
        }
        let Some(view) = self.view.clone() else { return self.refuse_internal(f) };
        let now_ms = now_unix_ms();
        let mut head = RequestHead::from_headers(headers, None, now_ms / 1000);
        head.now_ms = now_ms;
        let judge = &view.judge;
        let policy = judge.policy();
        let route = match self.case.on_routing(judge, policy.route(&head), &head) {
            Ok(i) => i,
            Err(verdict) => {
                self.head = Some(head);
                return self.apply(f, verdict);
            }
        };
        let Some(route) = policy.routes.get(route) else { return self.refuse_internal(f) };
        if route.needs_client() {
            head.client = self.client_address(f);
        }
        let head = self.head.insert(head);
        let lookups = NativeLookups { view: &view, store: &self.shared.store, headers: &head.headers, now_ms };
        let findings = route.check_head(head, policy.mode, &lookups);
        let verdict = self.case.on_head(judge, head, findings, &self.shared.store);
        if verdict.decision == Decision::KeepBuffering {
            if end_of_stream {
                // The body is already complete (there is none).
                self.apply(f, verdict);
                return self.finish_body(f);
            }
            // Envoy must hold up to max_body_bytes for the body checks.
            f.raise_buffer_limit(policy.max_body_bytes.saturating_add(1));
        }
        self.apply(f, verdict)
    }

    pub fn on_request_body(&mut self, f: &Filter, end_of_stream: bool) -> Flow {
        if !self.case.is_buffering() {
            return Flow::Continue;
        }
        f.append_received_request_body(&mut self.body);
        let Some(view) = self.view.clone() else { return self.refuse_internal(f) };
        let Some(head) = self.head.as_ref() else { return Flow::Continue };
        if let Some(verdict) = self.case.on_body_data(&view.judge, head, self.body.len()) {
            return self.apply(f, verdict);
        }
        if !end_of_stream {
            return Flow::Buffer;
        }
        self.finish_body(f)
    }

    pub fn on_request_trailers(&mut self, f: &Filter) -> Flow {
        // With trailers the body hook never sees end of stream: the body is complete now.
        if !self.case.is_buffering() {
            return Flow::Continue;
        }
        self.finish_body(f)
    }

    pub fn on_response_headers(&mut self, f: &Filter) -> Flow {
        if !self.case.awaits_delivery() {
            return Flow::Continue;
        }
        let status = f
            .response_header(":status")
            .and_then(|s| std::str::from_utf8(&s).ok().and_then(|s| s.parse::<u32>().ok()))
            .unwrap_or(0);
        let Some(view) = self.view.clone() else { return Flow::Continue };
        if let Some(head) = self.head.as_ref() {
            self.case.on_response(&view.judge, head, status, &self.shared.store);
        }
        Flow::Continue
    }

    /// Answer 500: the handling of this request failed inside the filter (a panic, or a
    /// configuration this thread could not load). Counted and logged like a denial.
    pub fn refuse_internal(&mut self, f: &Filter) -> Flow {
        let shared = self.shared.clone();
        let counters = shared.counters.get(self.case.route());
        abi::log(
            Level::Error,
            &format!(
                "webhook-guard denied route={} reason={INTERNAL_ERROR} client={} request_id={}",
                counters.name,
                self.client_ip(f),
                self.request_id()
            ),
        );
        counters.internal_error(f);
        f.set_filter_state(ROUTE, &counters.name);
        f.set_filter_state(OUTCOME, "denied");
        f.set_filter_state(REASON, INTERNAL_ERROR);
        let Reply { status, body } = Reply::INTERNAL;
        f.send_response(
            status,
            &[("content-type", "application/json")],
            body.as_bytes(),
            "webhook_guard_internal_error",
        );
        Flow::Stop
    }

    fn finish_body(&mut self, f: &Filter) -> Flow {
        let Some(view) = self.view.clone() else { return self.refuse_internal(f) };
        let Some(head) = self.head.as_ref() else { return Flow::Continue };
        let body = std::mem::take(&mut self.body);
        let verdict = self.case.on_body(&view.judge, head, &body, &self.shared.store);
        self.apply(f, verdict)
    }

    /// Log and count what the verdict reports, then apply its decision.
    fn apply(&mut self, f: &Filter, verdict: Verdict<'_>) -> Flow {
        let shared = self.shared.clone();
        let counters = shared.counters.get(self.case.route());
        for d in &verdict.denials {
            abi::log(
                Level::Warn,
                &format!(
                    "webhook-guard {} route={} reason={} client={} request_id={}",
                    verdict.outcome.verb(),
                    counters.name,
                    d.reason(),
                    self.client_ip(f),
                    self.request_id()
                ),
            );
            counters.denied(f, *d);
        }
        match verdict.outcome {
            Outcome::Allowed => {
                for s in &verdict.secrets {
                    counters.secret_matched(f, &s.secret_id);
                }
                counters.allowed(f);
            }
            Outcome::Duplicate | Outcome::WouldDenyDuplicate => {
                counters.duplicate(f);
                abi::log(
                    Level::Info,
                    &format!(
                        "webhook-guard duplicate route={} client={} request_id={}: already delivered, answered locally",
                        counters.name,
                        self.client_ip(f),
                        self.request_id()
                    ),
                );
            }
            Outcome::Handshake => {
                for s in &verdict.secrets {
                    counters.secret_matched(f, &s.secret_id);
                }
                counters.handshake(f);
                abi::log(
                    Level::Info,
                    &format!(
                        "webhook-guard handshake route={} request_id={}: answered locally",
                        counters.name,
                        self.request_id()
                    ),
                );
            }
            Outcome::Denied(_) | Outcome::WouldDeny(_) | Outcome::Unchecked | Outcome::Pending => {}
        }
        publish(f, &counters.name, &verdict);
        match verdict.decision {
            Decision::Forward(edits) => {
                for edit in edits {
                    match edit {
                        HeaderEdit::Remove(name) => f.set_request_header(name, None),
                        HeaderEdit::Set(name, value) => f.set_request_header(name, Some(value.as_bytes())),
                    }
                }
                Flow::Continue
            }
            Decision::Reply { status, body, headers } => {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                f.send_response(status, &headers, body.as_bytes(), "webhook_guard");
                Flow::Stop
            }
            Decision::KeepBuffering => Flow::Buffer,
            Decision::Handshake(reply) => {
                let headers = [("content-type", reply.content_type), ("x-content-type-options", "nosniff")];
                f.send_response(200, &headers, reply.body.as_bytes(), "webhook_guard_handshake");
                Flow::Stop
            }
        }
    }
}

/// The outcome as the access log names it; `None` while the verdict is pending.
fn outcome_name(outcome: Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Allowed => "allowed",
        Outcome::Denied(_) => "denied",
        Outcome::WouldDeny(_) | Outcome::WouldDenyDuplicate => "would_deny",
        Outcome::Duplicate => "duplicate",
        Outcome::Unchecked => "unchecked",
        Outcome::Handshake => "handshake",
        Outcome::Pending => return None,
    })
}

/// Publish a final verdict for the access log: the route, the outcome, the reasons of
/// every denial and the ids of the secrets that matched (the last two only when there
/// are any, joined with `,`).
fn publish(f: &Filter, route: &str, verdict: &Verdict<'_>) {
    let Some(outcome) = outcome_name(verdict.outcome) else { return };
    let mut reasons: Vec<&str> = verdict.denials.iter().map(|d| d.reason()).collect();
    if verdict.outcome == Outcome::WouldDenyDuplicate {
        reasons.push("duplicate");
    }
    let secrets: Vec<&str> = verdict.secrets.iter().map(|s| s.secret_id.as_str()).collect();
    f.set_filter_state(ROUTE, route);
    f.set_filter_state(OUTCOME, outcome);
    for (key, values) in [(REASON, reasons), (SECRET, secrets)] {
        if !values.is_empty() {
            f.set_filter_state(key, &values.join(","));
        }
    }
}

/// Say once per process that client addresses come from `X-Forwarded-For` (port 0).
fn notice_forwarded_address() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        abi::log(
            Level::Warn,
            "webhook-guard: client addresses come from X-Forwarded-For (port 0). That is right only with \
             use_remote_address: true and xff_num_trusted_hops set to the number of trusted proxies in front; \
             otherwise a client can choose its own address",
        );
    }
}

/// What the header checks look up: the store and this thread's remote lists.
struct NativeLookups<'a> {
    view: &'a WorkerView,
    store: &'a dyn SharedStore,
    headers: &'a Headers,
    now_ms: u64,
}

impl Lookups for NativeLookups<'_> {
    fn store(&self) -> &dyn SharedStore {
        self.store
    }

    fn list(&self, name: &str) -> ListState {
        match self.view.lists.iter().find(|l| l.name() == name) {
            Some(list) => list.current(self.store, self.now_ms),
            // Cannot happen: lists are built from the same policy. Fail closed.
            None => ListState::Unavailable { retry_after_seconds: 60 },
        }
    }

    fn client_cert(&self, source: CertSource) -> Result<Option<Vec<u8>>, Denial> {
        match source {
            // The 1.40 ABI gives a module the peer certificate's SHA-256 digest and
            // subject, not the certificate: with `source: connection` the native edition
            // sees no certificate and refuses (cert_missing). `source: xfcc` works.
            CertSource::Connection => Ok(None),
            CertSource::Xfcc => match self.headers.get_one("x-forwarded-client-cert") {
                Err(_) => Err(Denial::CertMalformed),
                Ok(None) => Ok(None),
                Ok(Some(v)) => xfcc_cert(v),
            },
        }
    }
}
