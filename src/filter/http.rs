//! The per-request context: route on the headers, run the header checks, hold the
//! headers while the body is buffered, then forward the untouched request or answer
//! locally.

use std::cell::Cell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host::{self, Metrics, PREFIX};
use crate::denial::{Denial, Reply};
use crate::policy::{Findings, Mode, Policy, Routing};
use crate::request::{Headers, RequestHead};

pub const VERDICT_HEADER: &str = "x-webhook-guard";

thread_local! {
    // Said once per VM: the operator needs to know, not to be flooded.
    static WARNED_XFF: Cell<bool> = const { Cell::new(false) };
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
    route: usize,
    head: Option<RequestHead>,
    /// Denials found at the header stage in monitor mode (enforce stops at the first).
    head_findings: Findings,
    stage: Stage,
    body_size: usize,
}

impl Guard {
    pub fn new(policy: Rc<Policy>, metrics: Rc<Metrics>) -> Self {
        Guard {
            policy,
            metrics,
            route: 0,
            head: None,
            head_findings: Findings::default(),
            stage: Stage::Done,
            body_size: 0,
        }
    }

    fn route_name(&self) -> &str {
        self.policy.routes.get(self.route).map_or("-", |r| r.name.as_str())
    }

    fn request_id(&self) -> String {
        self.head
            .as_ref()
            .and_then(|h| h.headers.get_all("x-request-id").next())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into())
    }

    fn client(&self) -> String {
        match self.head.as_ref().and_then(|h| h.client) {
            Some(a) => a.ip().to_string(),
            None => "-".into(),
        }
    }

    /// Log and count one denial. `metric_route` is the route name or `unmatched`.
    fn record_denial(&self, metric_route: &str, d: Denial) {
        let verb = if self.policy.mode == Mode::Monitor { "monitor: would deny" } else { "denied" };
        log::warn!(
            "webhook-guard {verb} route={} reason={} client={} request_id={}",
            metric_route,
            d.reason(),
            self.client(),
            self.request_id()
        );
        self.metrics.inc(&format!("{PREFIX}.{metric_route}.denied.{}", d.reason()));
    }

    fn reply(&mut self, reply: Reply, extra: Vec<(&str, &str)>) -> Action {
        self.stage = Stage::Done;
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(extra);
        self.send_http_response(reply.status, headers, Some(reply.body.as_bytes()));
        Action::Pause
    }

    /// Refuse (enforce) or record and forward (monitor) a request that failed.
    fn deny(&mut self, metric_route: &str, denials: &[Denial], extra: Vec<(&str, &str)>) -> Action {
        for d in denials {
            self.record_denial(metric_route, *d);
        }
        let Some(first) = denials.first().copied() else {
            return Action::Continue;
        };
        match self.policy.mode {
            Mode::Enforce => self.reply(first.status(), extra),
            Mode::Monitor => {
                if metric_route == "unmatched" {
                    self.stage = Stage::Done;
                    return Action::Continue;
                }
                self.forward(&format!("route={}; would_deny={}", metric_route, first.reason()))
            }
        }
    }

    fn allow(&mut self, findings: &Findings) -> Action {
        self.stage = Stage::Done;
        let name = self.route_name().to_string();
        for s in &findings.secrets {
            self.metrics.inc(&format!("{PREFIX}.{name}.secret.{}.matched", s.secret_id));
        }
        self.metrics.inc(&format!("{PREFIX}.{name}.allowed"));
        self.forward(&format!("route={name}"))
    }

    /// Let the request go upstream: secret headers removed, the verdict added.
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

    /// Combine the header-stage findings with the body-stage ones and decide.
    fn decide(&mut self, mut findings: Findings) -> Action {
        let mut all = std::mem::take(&mut self.head_findings);
        all.denials.append(&mut findings.denials);
        all.secrets.append(&mut findings.secrets);
        if all.denials.is_empty() {
            self.allow(&all)
        } else {
            let name = self.route_name().to_string();
            let denials = all.denials.clone();
            self.deny(&name, &denials, vec![])
        }
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
        let name = self.route_name().to_string();
        self.head_findings = Findings::default();
        self.deny(&name, &[Denial::PayloadTooLarge], vec![])
    }
}

impl Context for Guard {}

impl HttpContext for Guard {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // Nobody but this filter may say a request was verified.
        self.set_http_request_header(VERDICT_HEADER, None);

        let headers = Headers::new(self.get_http_request_headers_bytes());
        let client = host::client_address();
        if client.is_some_and(|a| a.port() == 0) && !WARNED_XFF.with(|w| w.replace(true)) {
            log::warn!(
                "webhook-guard: the client address has port 0, so Envoy took it from X-Forwarded-For; \
                 set use_remote_address: true (and xff_num_trusted_hops) or it can be forged"
            );
        }
        let now = host::now_unix(self.get_current_time());
        let head = RequestHead::from_headers(headers, client, now);
        let routing = self.policy.route(&head);
        self.head = Some(head);

        let route_index = match routing {
            Routing::Route(i) => i,
            Routing::NotFound => {
                return match self.policy.unmatched {
                    crate::policy::Unmatched::Allow => Action::Continue,
                    crate::policy::Unmatched::Deny => self.deny("unmatched", &[Denial::RouteNotFound], vec![]),
                };
            }
            Routing::MethodNotAllowed { allow } => {
                return self.deny("unmatched", &[Denial::MethodNotAllowed], vec![("allow", allow.as_str())]);
            }
        };
        self.route = route_index;
        let policy = self.policy.clone();
        let route = &policy.routes[route_index];
        let Some(head) = self.head.as_ref() else {
            return Action::Continue;
        };

        let findings = route.check_head(head, policy.mode);
        if !findings.denials.is_empty() && policy.mode == Mode::Enforce {
            return self.deny(&route.name, &findings.denials, vec![]);
        }
        self.head_findings = findings;

        if !route.needs_body() {
            let findings = Findings::default();
            return self.decide(findings);
        }
        let declared = head
            .headers
            .get_all("content-length")
            .next()
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > policy.max_body_bytes) {
            // Refused before a byte of the body is read.
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
}
