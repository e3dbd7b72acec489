//! The per-request context: route on the headers, run the header checks, hold the
//! headers while the body is buffered, then forward the untouched request or answer
//! locally.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host::{self, HostStore, Metrics, RouteMeta};
use crate::denial::{Denial, Reply};
use crate::policy::{Findings, Host, Mode, Policy, Routing, Unmatched};
use crate::remote_list::{ListState, Refresher};
use crate::request::{Headers, RequestHead};
use crate::shared::SharedStore;
use crate::verify::cert::{pem_to_der, xfcc_cert, CertSource};

pub const VERDICT_HEADER: &str = "x-webhook-guard";
const DUPLICATE_BODY: &str = r#"{"status":"duplicate"}"#;

thread_local! {
    // Whether this VM already knows the notice was given (saves the shared-data read).
    static WARNED_XFF: Cell<bool> = const { Cell::new(false) };
}

/// Shared by every worker, so the notice is logged once per Envoy, not once per worker.
const WARNED_XFF_KEY: &str = "webhook_guard:notice:xff";

/// Say once that client addresses come from `X-Forwarded-For` (port 0).
fn notice_forwarded_address() {
    if WARNED_XFF.with(|w| w.replace(true)) {
        return;
    }
    let store = HostStore;
    let (value, cas) = store.get(WARNED_XFF_KEY);
    // The first worker to write the key says it; a CAS on a new key is not possible, so
    // two workers racing at the very first request may both say it.
    if value.is_none() && store.set(WARNED_XFF_KEY, b"1", cas).is_ok() {
        log::warn!(
            "webhook-guard: client addresses come from X-Forwarded-For (port 0). That is right only with \
             use_remote_address: true and xff_num_trusted_hops set to the number of trusted proxies in front; \
             otherwise a client can choose its own address"
        );
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing more to do for this request (forwarded or answered).
    Done,
    /// Headers held; body being buffered for the body checks.
    Buffering,
}

pub struct Guard {
    policy: Rc<Policy>,
    metrics: Rc<Metrics>,
    /// Per route, index for index, then one for requests that match no route.
    metas: Rc<Vec<RouteMeta>>,
    lists: Rc<Vec<Refresher>>,
    /// Index into `policy.routes` and `metas`; `metas.len() - 1` when no route matched.
    route: usize,
    head: Option<RequestHead>,
    /// The client address, read from the host at most once and only when needed.
    client: Cell<Option<Option<SocketAddr>>>,
    /// What the header stage found: the secrets that matched there and, in monitor mode,
    /// its denials (in enforce mode the first denial is answered at once).
    head_findings: Findings,
    stage: Stage,
    body_size: usize,
    /// A message forwarded under `dedupe`: recorded once the upstream answers 2xx.
    dedupe_pending: Option<Vec<u8>>,
}

/// The host as the header checks see it.
struct HostView<'a> {
    lists: &'a [Refresher],
    headers: &'a Headers,
    now_ms: u64,
}

impl Host for HostView<'_> {
    fn store(&self) -> &dyn SharedStore {
        &HostStore
    }

    fn list(&self, name: &str) -> ListState {
        match self.lists.iter().find(|l| l.name() == name) {
            Some(list) => list.current(&HostStore, self.now_ms),
            // Cannot happen: lists are built from the same policy. Fail closed.
            None => ListState::Unavailable { retry_after_seconds: 60 },
        }
    }

    fn client_cert(&self, source: CertSource) -> Result<Option<Vec<u8>>, Denial> {
        match source {
            CertSource::Connection => {
                // Envoy gives the leaf certificate of the TLS connection as PEM.
                let pem = hostcalls::get_property(vec!["connection", "peer_certificate"]).ok().flatten();
                match pem {
                    None => Ok(None),
                    Some(p) if p.is_empty() => Ok(None),
                    Some(p) => pem_to_der(&p).map(Some).ok_or(Denial::CertMalformed),
                }
            }
            CertSource::Xfcc => match self.headers.get_one("x-forwarded-client-cert") {
                Err(_) => Err(Denial::CertMalformed),
                Ok(None) => Ok(None),
                Ok(Some(v)) => xfcc_cert(v),
            },
        }
    }
}

impl Guard {
    pub fn new(policy: Rc<Policy>, metrics: Rc<Metrics>, metas: Rc<Vec<RouteMeta>>, lists: Rc<Vec<Refresher>>) -> Self {
        let unmatched = metas.len().saturating_sub(1);
        Guard {
            policy,
            metrics,
            metas,
            lists,
            route: unmatched,
            head: None,
            client: Cell::new(None),
            head_findings: Findings::default(),
            stage: Stage::Done,
            body_size: 0,
            dedupe_pending: None,
        }
    }

    fn meta(&self) -> Option<&RouteMeta> {
        self.metas.get(self.route)
    }

    fn unmatched(&self) -> bool {
        self.route + 1 >= self.metas.len()
    }

    /// `source.address`, read once; an address Envoy took from X-Forwarded-For has port 0.
    fn client_address(&self) -> Option<SocketAddr> {
        if let Some(known) = self.client.get() {
            return known;
        }
        let addr = host::client_address();
        if addr.is_some_and(|a| a.port() == 0) {
            notice_forwarded_address();
        }
        self.client.set(Some(addr));
        addr
    }

    fn request_id(&self) -> String {
        self.head
            .as_ref()
            .and_then(|h| h.headers.get_all("x-request-id").next())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into())
    }

    /// Log and count one denial.
    fn record_denial(&self, d: Denial) {
        let Some(meta) = self.meta() else { return };
        let verb = if self.policy.mode == Mode::Monitor { "monitor: would deny" } else { "denied" };
        let client = self.client_address().map_or_else(|| "-".to_string(), |a| a.ip().to_string());
        log::warn!(
            "webhook-guard {verb} route={} reason={} client={client} request_id={}",
            meta.name,
            d.reason(),
            self.request_id()
        );
        meta.denied(&self.metrics, d);
    }

    fn reply(&mut self, status: u32, body: &str, extra: Vec<(&str, &str)>) -> Action {
        self.stage = Stage::Done;
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(extra);
        self.send_http_response(status, headers, Some(body.as_bytes()));
        Action::Pause
    }

    /// Refuse (enforce) or record and forward (monitor) a request that failed.
    fn deny(&mut self, f: &Findings, allow: Option<&str>) -> Action {
        for d in &f.denials {
            self.record_denial(*d);
        }
        let Some(first) = f.denials.first().copied() else {
            return Action::Continue;
        };
        match self.policy.mode {
            Mode::Enforce => {
                let Reply { status, body } = first.status();
                let retry_after = f.retry_after.map(|s| s.max(1).to_string());
                let mut extra = Vec::new();
                if let Some(a) = allow {
                    extra.push(("allow", a));
                }
                if let Some(r) = retry_after.as_deref() {
                    extra.push(("retry-after", r));
                }
                self.reply(status, body, extra)
            }
            Mode::Monitor if self.unmatched() => self.pass_unchecked(),
            Mode::Monitor => {
                let verdict =
                    format!("{}; would_deny={}", self.meta().map_or("", |m| m.verdict.as_str()), first.reason());
                self.forward(&verdict)
            }
        }
    }

    fn allow(&mut self, findings: &Findings) -> Action {
        let metas = self.metas.clone();
        let Some(meta) = metas.get(self.route) else { return Action::Continue };
        for s in &findings.secrets {
            meta.secret_matched(&s.secret_id);
        }
        meta.allowed();
        self.forward(&meta.verdict)
    }

    /// Let the request go upstream: secret headers removed, the verdict set (replacing
    /// any value the client sent).
    fn forward(&mut self, verdict: &str) -> Action {
        self.stage = Stage::Done;
        let policy = self.policy.clone();
        if let Some(route) = policy.routes.get(self.route) {
            for name in route.headers_to_strip() {
                self.set_http_request_header(name, None);
            }
        }
        self.set_http_request_header(VERDICT_HEADER, Some(verdict));
        Action::Continue
    }

    /// Forward a request no route covers: nobody but this filter may say a request was
    /// verified, so a client's `x-webhook-guard` goes.
    fn pass_unchecked(&mut self) -> Action {
        self.stage = Stage::Done;
        if self.head.as_ref().is_some_and(|h| h.headers.contains(VERDICT_HEADER)) {
            self.set_http_request_header(VERDICT_HEADER, None);
        }
        Action::Continue
    }

    /// Combine the header-stage findings with the body-stage ones and decide.
    fn decide(&mut self, mut findings: Findings) -> Action {
        let mut all = std::mem::take(&mut self.head_findings);
        all.denials.append(&mut findings.denials);
        all.secrets.append(&mut findings.secrets);
        all.retry_after = all.retry_after.or(findings.retry_after);
        all.handshake = all.handshake.take().or(findings.handshake);
        if !all.denials.is_empty() {
            return self.deny(&all, None);
        }
        if let Some(reply) = all.handshake.take() {
            return self.answer_handshake(reply, &all);
        }
        if let Some(action) = self.replay() {
            return action;
        }
        self.allow(&all)
    }

    /// A verified provider handshake: answered here, counted, never forwarded (in
    /// monitor mode too: the application has nothing to do with it).
    fn answer_handshake(&mut self, reply: crate::verify::signature::handshake::Reply, f: &Findings) -> Action {
        let metas = self.metas.clone();
        if let Some(meta) = metas.get(self.route) {
            for s in &f.secrets {
                meta.secret_matched(&s.secret_id);
            }
            meta.handshake();
            log::info!(
                "webhook-guard handshake route={} request_id={}: answered locally",
                meta.name,
                self.request_id()
            );
        }
        self.stage = Stage::Done;
        self.send_http_response(
            200,
            vec![("content-type", reply.content_type), ("x-content-type-options", "nosniff")],
            Some(reply.body.as_bytes()),
        );
        Action::Pause
    }

    /// Replay protection: a message already delivered is answered here, not forwarded.
    fn replay(&mut self) -> Option<Action> {
        let policy = self.policy.clone();
        let route = policy.routes.get(self.route)?;
        let head = self.head.as_ref()?;
        let (dedupe, id) = route.dedupe_id(head)?;
        if !dedupe.seen(&HostStore, id, head.now) {
            self.dedupe_pending = Some(id.to_vec());
            return None;
        }
        let metas = self.metas.clone();
        let meta = metas.get(self.route)?;
        meta.duplicate();
        log::info!(
            "webhook-guard duplicate route={} client={} request_id={}: already delivered, answered locally",
            meta.name,
            self.client_address().map_or_else(|| "-".to_string(), |a| a.ip().to_string()),
            self.request_id()
        );
        if policy.mode == Mode::Monitor {
            return Some(self.forward(&format!("{}; would_deny=duplicate", meta.verdict)));
        }
        Some(self.reply(200, DUPLICATE_BODY, vec![]))
    }

    fn finish_body(&mut self) -> Action {
        let body = if self.body_size == 0 {
            Vec::new()
        } else {
            self.get_http_request_body(0, self.body_size).unwrap_or_default()
        };
        let findings = match (self.policy.routes.get(self.route), self.head.as_ref()) {
            (Some(route), Some(head)) => route.check_body(head, &body, self.policy.mode),
            _ => return Action::Continue,
        };
        self.decide(findings)
    }

    fn too_large(&mut self) -> Action {
        self.head_findings = Findings::default();
        let f = Findings { denials: vec![Denial::PayloadTooLarge], ..Findings::default() };
        self.deny(&f, None)
    }
}

impl Context for Guard {}

impl HttpContext for Guard {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let headers = Headers::new(self.get_http_request_headers_bytes());
        let now_ms = host::now_unix_ms(self.get_current_time());
        let mut head = RequestHead::from_headers(headers, None, now_ms / 1000);
        head.now_ms = now_ms;
        let routing = self.policy.route(&head);
        let route_index = match routing {
            Routing::Route(i) => i,
            Routing::NotFound => {
                self.head = Some(head);
                return match self.policy.unmatched {
                    Unmatched::Allow => self.pass_unchecked(),
                    Unmatched::Deny => {
                        let f = Findings { denials: vec![Denial::RouteNotFound], ..Findings::default() };
                        self.deny(&f, None)
                    }
                };
            }
            Routing::Ambiguous => {
                // Refused whatever `unmatched` says: some upstream may read it as a route.
                self.head = Some(head);
                let f = Findings { denials: vec![Denial::AmbiguousPath], ..Findings::default() };
                return self.deny(&f, None);
            }
            Routing::MethodNotAllowed { allow } => {
                self.head = Some(head);
                let f = Findings { denials: vec![Denial::MethodNotAllowed], ..Findings::default() };
                return self.deny(&f, Some(&allow));
            }
        };
        self.route = route_index;
        let policy = self.policy.clone();
        let route = &policy.routes[route_index];
        if route.needs_client() {
            head.client = self.client_address();
        }
        self.head = Some(head);
        let Some(head) = self.head.as_ref() else { return Action::Continue };

        let view = HostView { lists: &self.lists, headers: &head.headers, now_ms };
        let findings = route.check_head(head, policy.mode, &view);
        if !findings.denials.is_empty() && policy.mode == Mode::Enforce {
            // Answered before a byte of the body is read.
            return self.deny(&findings, None);
        }
        self.head_findings = findings;

        if !route.needs_body() {
            return self.decide(Findings::default());
        }
        let declared = head
            .headers
            .get_all("content-length")
            .next()
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > policy.max_body_bytes) {
            return self.too_large();
        }
        if end_of_stream {
            return self.finish_body();
        }
        self.stage = Stage::Buffering;
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.stage != Stage::Buffering {
            return Action::Continue;
        }
        self.body_size = body_size;
        if body_size as u64 > self.policy.max_body_bytes {
            return self.too_large();
        }
        if !end_of_stream {
            // Keep buffering; Envoy holds the headers and the data so far.
            return Action::Pause;
        }
        self.finish_body()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        // With trailers the body callback never sees end_of_stream: the body is
        // complete now.
        if self.stage != Stage::Buffering {
            return Action::Continue;
        }
        self.finish_body()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(id) = self.dedupe_pending.take() {
            let ok = self.get_http_response_header(":status").is_some_and(|s| s.starts_with('2') && s.len() == 3);
            // Only a delivered message counts: after an upstream failure the provider's
            // retry must go through.
            if ok {
                let policy = self.policy.clone();
                if let (Some(route), Some(head)) = (policy.routes.get(self.route), self.head.as_ref()) {
                    if let Some(dedupe) = route.checks.dedupe.as_ref() {
                        dedupe.record(&HostStore, &id, head.now);
                    }
                }
            }
        }
        Action::Continue
    }
}
