//! The per-request context: reads the request from Envoy stage by stage, hands it to
//! the verdict (`crate::verdict`), and applies each decision: forward with header edits,
//! answer locally, or hold the headers while the body is buffered.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::access_log;
use super::envoy::{self, EnvoyLookups, SharedData};
use super::metrics::{Metrics, RouteMetrics};
use crate::denial::Denial;
use crate::remote_list::Refresher;
use crate::request::{Headers, RequestHead};
use crate::verdict::{Case, Decision, HeaderEdit, Judge, Outcome, Verdict};
use crate::verify::cert::pin_unverifiable_advice;

pub struct Guard {
    judge: Rc<Judge>,
    metrics: Rc<Metrics>,
    routes: Rc<RouteMetrics>,
    lists: Rc<Vec<Refresher>>,
    case: Case,
    head: Option<RequestHead>,
    /// The client address, read from Envoy at most once and only when needed.
    client: Cell<Option<Option<SocketAddr>>>,
    body_size: usize,
}

impl Guard {
    pub fn new(judge: Rc<Judge>, metrics: Rc<Metrics>, routes: Rc<RouteMetrics>, lists: Rc<Vec<Refresher>>) -> Self {
        Guard {
            judge,
            metrics,
            routes,
            lists,
            case: Case::default(),
            head: None,
            client: Cell::new(None),
            body_size: 0,
        }
    }

    fn client_address(&self) -> Option<SocketAddr> {
        if let Some(known) = self.client.get() {
            return known;
        }
        let addr = envoy::client_address();
        self.client.set(Some(addr));
        addr
    }

    fn client_ip(&self) -> String {
        self.client_address().map_or_else(|| "-".to_string(), |a| a.ip().to_string())
    }

    fn request_id(&self) -> String {
        self.head
            .as_ref()
            .and_then(|h| h.headers.get_all("x-request-id").next())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into())
    }

    /// Log and count what the verdict reports, then apply its decision.
    fn apply(&mut self, verdict: Verdict<'_>) -> Action {
        let routes = self.routes.clone();
        let meta = routes.get(self.case.route());
        for d in &verdict.denials {
            log::warn!(
                "webhook-guard {} route={} reason={} client={} request_id={}",
                verdict.outcome.verb(),
                meta.name,
                d.reason(),
                self.client_ip(),
                self.request_id()
            );
            meta.denied(&self.metrics, *d);
            if *d == Denial::CertPinUnverifiable {
                let key = format!("cert_pin_unverifiable.{}", meta.name);
                envoy::notice_once(&key, || log::warn!("webhook-guard: {}", pin_unverifiable_advice(&meta.name)));
            }
        }
        match verdict.outcome {
            Outcome::Allowed => {
                for s in &verdict.secrets {
                    meta.secret_matched(&s.secret_id);
                }
                meta.allowed();
            }
            Outcome::Duplicate | Outcome::WouldDenyDuplicate => {
                meta.duplicate();
                log::info!(
                    "webhook-guard duplicate route={} client={} request_id={}: already delivered, answered locally",
                    meta.name,
                    self.client_ip(),
                    self.request_id()
                );
            }
            Outcome::Handshake => {
                for s in &verdict.secrets {
                    meta.secret_matched(&s.secret_id);
                }
                meta.handshake();
                log::info!(
                    "webhook-guard handshake route={} request_id={}: answered locally",
                    meta.name,
                    self.request_id()
                );
            }
            Outcome::Denied(_) | Outcome::WouldDeny(_) | Outcome::Unchecked | Outcome::Pending => {}
        }
        access_log::publish(&meta.name, &verdict);
        match verdict.decision {
            Decision::Forward(edits) => {
                for edit in edits {
                    match edit {
                        HeaderEdit::Remove(name) => self.set_http_request_header(name, None),
                        HeaderEdit::Set(name, value) => self.set_http_request_header(name, Some(&value)),
                    }
                }
                Action::Continue
            }
            Decision::Reply { status, body, headers } => {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                self.send_http_response(status, headers, Some(body.as_bytes()));
                Action::Pause
            }
            Decision::KeepBuffering => Action::Pause,
            Decision::Handshake(reply) => {
                let headers = vec![("content-type", reply.content_type), ("x-content-type-options", "nosniff")];
                self.send_http_response(200, headers, Some(reply.body.as_bytes()));
                Action::Pause
            }
        }
    }

    fn finish_body(&mut self) -> Action {
        let body = if self.body_size == 0 {
            Vec::new()
        } else {
            self.get_http_request_body(0, self.body_size).unwrap_or_default()
        };
        let judge = self.judge.clone();
        let Some(head) = self.head.as_ref() else { return Action::Continue };
        let verdict = self.case.on_body(&judge, head, &body, &SharedData);
        self.apply(verdict)
    }
}

impl Context for Guard {}

impl HttpContext for Guard {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let headers = Headers::new(self.get_http_request_headers_bytes());
        let now_ms = envoy::now_unix_ms(self.get_current_time());
        let mut head = RequestHead::from_headers(headers, None, now_ms / 1000);
        head.now_ms = now_ms;
        let judge = self.judge.clone();
        let policy = judge.policy();
        // The index comes from `policy.route`, which names only routes of this policy.
        #[allow(clippy::indexing_slicing)]
        let route = match self.case.on_routing(&judge, policy.route(&head), &head) {
            Ok(i) => &policy.routes[i],
            Err(verdict) => {
                self.head = Some(head);
                return self.apply(verdict);
            }
        };
        if route.needs_client() {
            head.client = self.client_address();
        }
        let head = self.head.insert(head);
        let lookups = EnvoyLookups { lists: &self.lists, now_ms };
        let findings = route.check_head(head, policy.mode, &lookups);
        if let Some(origin) = findings.cert_origin {
            envoy::notice_once(origin.name(), || log::info!("webhook-guard: {}", origin.notice()));
        }
        let verdict = self.case.on_head(&judge, head, findings, &SharedData);
        let buffering = verdict.decision == Decision::KeepBuffering;
        let action = self.apply(verdict);
        if buffering && end_of_stream {
            // The body is already complete (there is none).
            return self.finish_body();
        }
        action
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.case.is_buffering() {
            return Action::Continue;
        }
        self.body_size = body_size;
        let judge = self.judge.clone();
        let Some(head) = self.head.as_ref() else { return Action::Continue };
        if let Some(verdict) = self.case.on_body_data(&judge, head, body_size) {
            return self.apply(verdict);
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
        if !self.case.is_buffering() {
            return Action::Continue;
        }
        self.finish_body()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if !self.case.awaits_delivery() {
            return Action::Continue;
        }
        let status = self.get_http_response_header(":status").and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        let judge = self.judge.clone();
        if let Some(head) = self.head.as_ref() {
            self.case.on_response(&judge, head, status, &SharedData);
        }
        Action::Continue
    }
}
