//! One request's way through the filter, the same in both shells: read the head from
//! the host, route it, run the header checks, hold the headers while the body arrives,
//! run the body checks, apply the decision (forward with header edits, or answer here),
//! then watch the upstream's status for replay protection. Each step logs and counts what
//! the verdict reports and publishes the access-log fields.
//!
//! A shell makes one [`Stream`] per request and calls it from each callback with its
//! [`RequestHost`]; the [`Flow`] it gets back is all it has to map to its host.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::access_log;
use crate::denial::Denial;
use crate::fetch::{Need, FAILURE_RETRY_AFTER_SECONDS, MAX_FETCHES_PER_REQUEST};
use crate::host::{CalloutId, Flow, Level, RequestHost};
use crate::plugin::Plugin;
use crate::policy::Lookups;
use crate::remote_list::ListState;
use crate::request::RequestHead;
use crate::shared::SharedStore;
use crate::verdict::{Case, Decision, HeaderEdit, Outcome, Verdict};
use crate::verify::cert::{pin_unverifiable_advice, PeerCertForm};

/// One request's state, for the life of its stream.
pub struct Stream {
    plugin: Arc<Plugin>,
    case: Case,
    head: Option<RequestHead>,
    /// The client address, read from the host at most once and only when needed.
    client: Option<Option<SocketAddr>>,
    /// Bytes of the body received so far (the whole body once it is complete).
    body_size: usize,
    /// The request has ended (end of stream or trailers): no body callback will come.
    ended: bool,
    /// The fetch the request waits for ([`crate::fetch`]).
    waiting: Option<Wait>,
    /// How many fetches the request waited for.
    fetches: u8,
    /// The body the body stage read, kept while it waits for a fetch to run again with.
    body: Option<Vec<u8>>,
}

/// A fetch in flight for this request.
struct Wait {
    id: CalloutId,
    need: Need,
    /// The longest answer accepted.
    limit: usize,
}

impl Stream {
    pub fn new(plugin: Arc<Plugin>) -> Self {
        Stream {
            plugin,
            case: Case::default(),
            head: None,
            client: None,
            body_size: 0,
            ended: false,
            waiting: None,
            fetches: 0,
            body: None,
        }
    }

    /// The request headers arrived (`end_of_stream`: there is no body).
    pub fn on_request_headers(&mut self, host: &mut impl RequestHost, end_of_stream: bool) -> Flow {
        let headers = host.request_headers();
        let now_ms = host.now_ms();
        let mut head = RequestHead::from_headers(headers, None, now_ms / 1000);
        head.now_ms = now_ms;
        let plugin = Arc::clone(&self.plugin);
        let judge = plugin.judge();
        let policy = judge.policy();
        let routed = self.case.on_routing(judge, policy.route(&head), &head);
        let route = match routed.map(|i| policy.routes.get(i)) {
            Ok(Some(route)) => route,
            Ok(None) => {
                self.head = Some(head);
                let verdict = self.case.refuse_internal();
                return self.apply(host, verdict);
            }
            Err(verdict) => {
                self.head = Some(head);
                return self.apply(host, verdict);
            }
        };
        if route.needs_client() {
            head.client = self.client_address(host);
        }
        let head = self.head.insert(head);
        let lookups = HostLookups { host: &*host, plugin: &plugin, now_ms };
        let findings = route.check_head(head, policy.mode, &lookups);
        if let Some(origin) = findings.cert_origin {
            let line = format!("webhook-guard: {}", origin.notice());
            plugin.notice_once(&*host, Level::Info, origin.name(), &line);
        }
        let verdict = self.case.on_head(judge, head, findings, host.store());
        // With end of stream the body is already complete (there is none).
        self.ended = end_of_stream;
        self.settle(host, verdict)
    }

    /// Body data arrived: `received` is the size of the whole body received so far (not
    /// of this chunk).
    pub fn on_request_body(&mut self, host: &mut impl RequestHost, received: usize, end_of_stream: bool) -> Flow {
        let Some(head) = self.head.as_ref() else { return self.refuse_unjudged(host) };
        let fetching = self.case.is_fetching();
        if !self.case.is_buffering() && !fetching {
            return Flow::Continue;
        }
        self.body_size = received;
        self.ended |= end_of_stream;
        let plugin = Arc::clone(&self.plugin);
        if let Some(verdict) = self.case.on_body_data(plugin.judge(), head, received) {
            self.abandon_wait();
            return self.apply(host, verdict);
        }
        if fetching {
            // Held with the headers until the fetch is answered, never forwarded before.
            if end_of_stream {
                self.keep_body(host);
            }
            return Flow::Buffer;
        }
        if !end_of_stream {
            // Keep buffering; the host holds the headers and the data so far.
            return Flow::Buffer;
        }
        self.finish_body(host)
    }

    /// The request trailers arrived. With trailers the body callback never sees end of
    /// stream (HTTP/2): the body is complete now.
    pub fn on_request_trailers(&mut self, host: &mut impl RequestHost) -> Flow {
        if self.head.is_none() {
            return self.refuse_unjudged(host);
        }
        self.ended = true;
        if self.case.is_fetching() {
            self.keep_body(host);
            return Flow::Buffer;
        }
        if !self.case.is_buffering() {
            return Flow::Continue;
        }
        self.finish_body(host)
    }

    /// The answer to a callout this stream dispatched: `status` its `:status` (0 when
    /// there is none, as after a reset; Envoy answers a timed-out callout with 504),
    /// `body` at most [`crate::host::CALLOUT_BODY_LIMIT`] bytes of its body. The fetched
    /// document is checked and stored, then the stage that asked for it runs again; or
    /// the request is refused with the fetch's failure. An answer this stream does not
    /// wait for changes nothing ([`Flow::Buffer`]: the shell does nothing).
    pub fn on_callout_response(
        &mut self,
        host: &mut impl RequestHost,
        id: CalloutId,
        status: u32,
        body: &[u8],
    ) -> Flow {
        let Some(wait) = self.waiting.take_if(|w| w.id == id) else { return Flow::Buffer };
        let plugin = Arc::clone(&self.plugin);
        let judge = plugin.judge();
        let fetched = plugin.accept_fetched(&*host, &wait.need, wait.limit, status, body);
        let Some(head) = self.head.as_ref() else { return self.refuse_unjudged(host) };
        if let Err(failure) = fetched {
            let verdict = self.case.give_up(judge, head, failure.denial(), FAILURE_RETRY_AFTER_SECONDS, host.store());
            return self.settle(host, verdict);
        }
        match self.case.retry() {
            Some(Some(found)) => {
                let Some(route) = self.case.route().and_then(|i| judge.policy().routes.get(i)) else {
                    return self.refuse_internal(host);
                };
                let now_ms = host.now_ms();
                let lookups = HostLookups { host: &*host, plugin: &plugin, now_ms };
                let findings = route.resume_head(head, &lookups, found);
                let verdict = self.case.on_head(judge, head, findings, host.store());
                self.settle(host, verdict)
            }
            Some(None) => self.finish_body(host),
            // Waiting, yet no stage to resume: the state is lost.
            None => self.refuse_internal(host),
        }
    }

    /// The upstream's response headers arrived: a message forwarded under `dedupe` is
    /// recorded as delivered on a 2xx.
    pub fn on_response_headers(&mut self, host: &mut impl RequestHost) -> Flow {
        if !self.case.awaits_delivery() {
            return Flow::Continue;
        }
        let status = host.response_status().unwrap_or(0);
        if let Some(head) = self.head.as_ref() {
            self.case.on_response(self.plugin.judge(), head, status, host.store());
        }
        Flow::Continue
    }

    /// Refuse the request because the filter failed (its state lost, or, in the native
    /// edition, a panic caught in a hook): 500 in every mode, logged and counted as
    /// `internal_error`.
    pub fn refuse_internal(&mut self, host: &mut impl RequestHost) -> Flow {
        let verdict = self.case.refuse_internal();
        self.apply(host, verdict)
    }

    /// Body or trailers of a request whose headers this stream never saw: nothing of it
    /// was judged, so it must not go on as if it had been.
    fn refuse_unjudged(&mut self, host: &mut impl RequestHost) -> Flow {
        host.log(Level::Error, "webhook-guard: request data arrived before its headers were judged; refused");
        self.refuse_internal(host)
    }

    fn finish_body(&mut self, host: &mut impl RequestHost) -> Flow {
        let body = match self.body.take() {
            Some(kept) => kept,
            None if self.body_size == 0 => Vec::new(),
            None => host.request_body(self.body_size),
        };
        let plugin = Arc::clone(&self.plugin);
        let now_ms = host.now_ms();
        let Some(head) = self.head.as_ref() else { return self.refuse_unjudged(host) };
        let lookups = HostLookups { host: &*host, plugin: &plugin, now_ms };
        let verdict = self.case.on_body_with(plugin.judge(), head, &body, &lookups);
        if matches!(verdict.decision, Decision::Fetch(_)) {
            // The body stage runs again with the same bytes once the document is here.
            self.body = Some(body);
        }
        self.settle(host, verdict)
    }

    /// Apply a stage's verdict: wait for the fetch it asks for, finish the body stage at
    /// once when the body is already complete, or apply it.
    fn settle(&mut self, host: &mut impl RequestHost, verdict: Verdict<'_>) -> Flow {
        match verdict.decision {
            Decision::Fetch(need) => self.start_fetch(host, need),
            Decision::KeepBuffering => {
                let flow = self.apply(host, verdict);
                if self.ended {
                    return self.finish_body(host);
                }
                flow
            }
            _ => self.apply(host, verdict),
        }
    }

    /// Hold the request and fetch what a check lacks; when the request cannot wait (see
    /// [`crate::fetch`]), the check refuses as it would without waiting.
    fn start_fetch(&mut self, host: &mut impl RequestHost, need: Need) -> Flow {
        let plugin = Arc::clone(&self.plugin);
        let now_ms = host.now_ms();
        let key = need.key();
        let mut dispatched = None;
        if self.fetches < MAX_FETCHES_PER_REQUEST {
            if let Some(req) = plugin.fetch_request(&need) {
                if plugin.fetches().begin(&key, now_ms, req.timeout) {
                    match host.dispatch_callout(&req.cluster, &req.header_refs(), req.body.as_deref(), req.timeout) {
                        Some(id) => dispatched = Some((id, req.limit)),
                        None => {
                            plugin.fetches().end(&key, now_ms, false);
                            host.log(
                                Level::Warn,
                                &format!(
                                    "webhook-guard: could not dispatch the fetch of {key} for a waiting request \
                                     (is cluster {} defined?)",
                                    req.cluster
                                ),
                            );
                        }
                    }
                }
            }
        }
        if let Some((id, limit)) = dispatched {
            self.fetches = self.fetches.saturating_add(1);
            host.log(Level::Debug, &format!("webhook-guard: request {} waits for {key}", self.request_id()));
            self.waiting = Some(Wait { id, need, limit });
            return Flow::Buffer;
        }
        let Some(head) = self.head.as_ref() else { return self.refuse_unjudged(host) };
        let verdict =
            self.case.give_up(plugin.judge(), head, Denial::ListUnavailable, need.retry_after_seconds, host.store());
        self.settle(host, verdict)
    }

    /// The body is complete while the request waits for a fetch: read it now, in the
    /// body (or trailers) callback, where every host can give it, for the body checks
    /// that run once the fetch is answered.
    fn keep_body(&mut self, host: &mut impl RequestHost) {
        let needs_body =
            self.case.route().and_then(|i| self.plugin.judge().policy().routes.get(i)).is_some_and(|r| r.needs_body());
        if needs_body && self.body.is_none() && self.body_size > 0 {
            self.body = Some(host.request_body(self.body_size));
        }
    }

    /// Stop waiting (the request was refused meanwhile): the document's place in the
    /// ledger goes to the next request that needs it.
    fn abandon_wait(&mut self) {
        if let Some(wait) = self.waiting.take() {
            self.plugin.fetches().abandon(&wait.need.key());
        }
    }

    fn client_address(&mut self, host: &impl RequestHost) -> Option<SocketAddr> {
        if let Some(known) = self.client {
            return known;
        }
        let addr: Option<SocketAddr> = host.client_address().and_then(|a| a.parse().ok());
        if addr.is_some_and(|a| a.port() == 0) {
            self.plugin.notice_forwarded_address(host);
        }
        self.client = Some(addr);
        addr
    }

    /// The client's address as the log names it (`-` when unknown): formatted in place,
    /// so a refusal's log line is its only allocation.
    fn client_ip(&mut self, host: &impl RequestHost) -> ClientIp {
        ClientIp(self.client_address(host).map(|a| a.ip()))
    }

    fn request_id(&self) -> RequestId<'_> {
        RequestId(self.head.as_ref().and_then(|h| h.headers.get_all("x-request-id").next()))
    }

    /// Log and count what the verdict reports, publish it for the access log, then apply
    /// its decision.
    fn apply(&mut self, host: &mut impl RequestHost, verdict: Verdict<'_>) -> Flow {
        let plugin = Arc::clone(&self.plugin);
        let route = plugin.metrics().route(self.case.route());
        for d in &verdict.denials {
            let line = format!(
                "webhook-guard {} route={} reason={} client={} request_id={}",
                verdict.outcome.verb(),
                route.name,
                d.reason(),
                self.client_ip(host),
                self.request_id()
            );
            host.log(Level::Warn, &line);
            route.denied(host, *d);
            if *d == Denial::CertPinUnverifiable {
                let advice = format!("webhook-guard: {}", pin_unverifiable_advice(&route.name));
                plugin.notice_once(&*host, Level::Warn, &format!("cert_pin_unverifiable.{}", route.name), &advice);
            }
        }
        match verdict.outcome {
            Outcome::Allowed => {
                for s in &verdict.secrets {
                    route.secret_matched(host, &s.secret_id);
                }
                route.allowed(host);
            }
            Outcome::Duplicate | Outcome::WouldDenyDuplicate => {
                route.duplicate(host);
                let line = format!(
                    "webhook-guard duplicate route={} client={} request_id={}: already delivered, answered locally",
                    route.name,
                    self.client_ip(host),
                    self.request_id()
                );
                host.log(Level::Info, &line);
            }
            Outcome::Handshake => {
                for s in &verdict.secrets {
                    route.secret_matched(host, &s.secret_id);
                }
                route.handshake(host);
                let line = format!(
                    "webhook-guard handshake route={} request_id={}: answered locally",
                    route.name,
                    self.request_id()
                );
                host.log(Level::Info, &line);
            }
            Outcome::Denied(_) | Outcome::WouldDeny(_) | Outcome::Unchecked | Outcome::Pending => {}
        }
        access_log::publish(host, &route.name, &verdict);
        match verdict.decision {
            Decision::Forward(edits) => {
                for edit in edits {
                    match edit {
                        HeaderEdit::Remove(name) => host.remove_request_header(name),
                        HeaderEdit::Set(name, value) => host.set_request_header(name, &value),
                    }
                }
                Flow::Continue
            }
            Decision::Reply { status, body, headers } => {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                host.send_reply(status, &headers, body.as_bytes());
                Flow::Stop
            }
            // `settle` starts the fetch before a verdict gets here; hold meanwhile.
            Decision::KeepBuffering | Decision::Fetch(_) => Flow::Buffer,
            Decision::Handshake(reply) => {
                let mut headers = vec![("content-type", reply.content_type), ("x-content-type-options", "nosniff")];
                headers.extend(reply.headers.iter().map(|(n, v)| (*n, v.as_str())));
                host.send_reply(200, &headers, reply.body.as_bytes());
                Flow::Stop
            }
        }
    }
}

struct ClientIp(Option<IpAddr>);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// `x-request-id` as sent (bytes that are not UTF-8 as U+FFFD), `-` when absent.
struct RequestId<'a>(Option<&'a [u8]>);

impl fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => String::from_utf8_lossy(v).fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// What the header checks look up, read from the host: the store, the remote lists,
/// the client certificate.
struct HostLookups<'a, H> {
    host: &'a H,
    plugin: &'a Plugin,
    now_ms: u64,
}

impl<H: RequestHost> Lookups for HostLookups<'_, H> {
    fn store(&self) -> &dyn SharedStore {
        self.host.store()
    }

    fn list(&self, name: &str) -> ListState {
        self.plugin.list_state(self.host.store(), name, self.now_ms)
    }

    fn reread(&self, name: &str) -> ListState {
        self.plugin.reread_list(self.host.store(), name, self.now_ms)
    }

    fn may_fetch(&self) -> bool {
        true
    }

    fn signing_cert(&self, url: &str) -> Option<Arc<crate::verify::x509::SigningCert>> {
        self.plugin.certs().get(self.host.store(), url, self.now_ms)
    }

    fn fetch_early(&self, name: &str) {
        self.plugin.fetch_early(self.host.store(), name, self.now_ms);
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        self.host.peer_certificate(form)
    }
}

/// A request that goes away while it waits (a reset) gives its document's place in the
/// ledger back at once; the host drops the callout's answer.
impl Drop for Stream {
    fn drop(&mut self) {
        self.abandon_wait();
    }
}

#[cfg(test)]
mod fetch_tests;
#[cfg(test)]
mod tests;
