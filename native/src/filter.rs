//! One request: the core's [`Stream`] driven from Envoy's hooks, through a
//! [`RequestHost`] over the hook's filter. The shell copies the body as it arrives and
//! maps each [`Flow`]; the core decides, logs, counts and publishes.

use std::sync::Arc;

use std::time::Duration;

use webhook_guard::host::{CalloutId, Flow, Host, Level, MetricId, RequestHost};
use webhook_guard::request::Headers;
use webhook_guard::shared::SharedStore;
use webhook_guard::stream::Stream;
use webhook_guard::verify::cert::PeerCertForm;

use crate::abi::{self, Filter};
use crate::config::{metric_index, now_unix_ms, FilterConfig, Shared};

/// Log where a panic happened, never its message (it could quote request bytes). The
/// hook that caught it answers the request.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        abi::log(Level::Error, &format!("webhook-guard: internal error at {at}"));
    }));
}

/// The Wasm edition's filter state keys are its field names under `wasm.` (proxy-wasm
/// files `webhook_guard.route` as `wasm.webhook_guard.route`): written under the same
/// keys here, one access-log format (`%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%`,
/// ...) reads both editions.
const ACCESS_LOG_PREFIX: &str = "wasm.";

#[cfg(feature = "panic-test")]
const PANIC_TEST_HEADER: &str = "x-webhook-guard-panic-test";

pub struct Guard {
    shared: Arc<Shared>,
    stream: Stream,
    /// The body received so far, copied chunk by chunk as each arrives while the core
    /// holds the request (at the end of the stream Envoy's buffered body may or may not
    /// hold the last chunk yet); a body that is passed on is never copied.
    body: Vec<u8>,
    /// Whether the last hook told Envoy to hold the request and buffer its body.
    buffering: bool,
}

impl Guard {
    pub fn new(config: &FilterConfig) -> Guard {
        let shared = Arc::clone(&config.shared);
        Guard { stream: Stream::new(Arc::clone(&shared.plugin)), shared, body: Vec::new(), buffering: false }
    }

    pub fn on_request_headers(&mut self, f: &Filter, end_of_stream: bool) -> Flow {
        #[cfg(feature = "panic-test")]
        if f.request_headers().contains(PANIC_TEST_HEADER) {
            panic!("panic-test: injected by request");
        }
        let flow =
            self.stream.on_request_headers(&mut RequestSide::new(f, &self.shared, &mut self.body), end_of_stream);
        self.buffering = flow == Flow::Buffer;
        if self.buffering {
            // Envoy must hold the whole body for the body checks: up to max_body_bytes,
            // and one byte more, so that the core, not Envoy, refuses a longer one.
            let max = self.shared.plugin.judge().policy().max_body_bytes;
            f.raise_buffer_limit(max.saturating_add(1));
        }
        flow
    }

    pub fn on_request_body(&mut self, f: &Filter, end_of_stream: bool) -> Flow {
        if self.buffering {
            f.append_received_request_body(&mut self.body);
        }
        let received = self.body.len();
        let flow = self.stream.on_request_body(
            &mut RequestSide::new(f, &self.shared, &mut self.body),
            received,
            end_of_stream,
        );
        self.buffering = flow == Flow::Buffer;
        flow
    }

    pub fn on_request_trailers(&mut self, f: &Filter) -> Flow {
        self.stream.on_request_trailers(&mut RequestSide::new(f, &self.shared, &mut self.body))
    }

    pub fn on_response_headers(&mut self, f: &Filter) -> Flow {
        self.stream.on_response_headers(&mut RequestSide::new(f, &self.shared, &mut self.body))
    }

    /// The answer to a callout this request dispatched (`status` 0: none). The core's
    /// [`Flow`]: `Continue` resumes the held request (the caller calls
    /// `continue_decoding`), `Stop` means it was answered, `Buffer` that it stays held.
    pub fn on_callout_done(&mut self, f: &Filter, callout: u64, status: u32, body: &[u8]) -> Flow {
        let flow = self.stream.on_callout_response(
            &mut RequestSide::new(f, &self.shared, &mut self.body),
            CalloutId(callout),
            status,
            body,
        );
        // Held still: the body checks wait for the rest of the body, copied as it comes.
        self.buffering = flow == Flow::Buffer;
        flow
    }

    /// Answer 500 after a panic in one of this request's hooks (logged and counted as
    /// `internal_error` by the core).
    pub fn refuse_internal(&mut self, f: &Filter) -> Flow {
        self.stream.refuse_internal(&mut RequestSide::new(f, &self.shared, &mut self.body))
    }
}

/// The core's host for one hook of one request.
struct RequestSide<'a> {
    filter: &'a Filter,
    shared: &'a Shared,
    body: &'a mut Vec<u8>,
}

impl<'a> RequestSide<'a> {
    fn new(filter: &'a Filter, shared: &'a Shared, body: &'a mut Vec<u8>) -> Self {
        RequestSide { filter, shared, body }
    }
}

impl Host for RequestSide<'_> {
    fn log(&self, level: Level, message: &str) {
        abi::log(level, message);
    }

    fn increment(&self, counter: MetricId) {
        if let Some(id) = metric_index(counter) {
            self.filter.increment_counter(id);
        }
    }

    fn now_ms(&self) -> u64 {
        now_unix_ms()
    }

    fn store(&self) -> &dyn SharedStore {
        &self.shared.store
    }
}

impl RequestHost for RequestSide<'_> {
    fn request_headers(&self) -> Headers {
        self.filter.request_headers()
    }

    fn client_address(&self) -> Option<String> {
        self.filter.source_address()
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        // The 1.40 ABI gives a module the peer certificate's SHA-256 digest, not the
        // certificate: the core then works as on Envoys before 1.38 (SHA-256 pins from the
        // digest; SHA-1 pins from the x-forwarded-client-cert `Cert=` that hashes to it).
        match form {
            PeerCertForm::Pem => None,
            PeerCertForm::Sha256Digest => self.filter.peer_certificate_sha256_digest(),
        }
    }

    fn set_request_header(&mut self, name: &str, value: &str) {
        self.filter.set_request_header(name, Some(value.as_bytes()));
    }

    fn remove_request_header(&mut self, name: &str) {
        self.filter.set_request_header(name, None);
    }

    fn request_body(&mut self, len: usize) -> Vec<u8> {
        let mut body = std::mem::take(self.body);
        body.truncate(len);
        body
    }

    fn send_reply(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.filter.send_response(status, headers, body, "webhook_guard");
    }

    fn set_access_log_field(&mut self, key: &str, value: &str) {
        self.filter.set_filter_state(&format!("{ACCESS_LOG_PREFIX}{key}"), value);
    }

    fn response_status(&self) -> Option<u32> {
        let raw = self.filter.response_header(":status")?;
        std::str::from_utf8(&raw).ok()?.parse().ok()
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        self.filter.http_callout(cluster, headers, body.unwrap_or_default(), timeout).map(CalloutId)
    }
}
