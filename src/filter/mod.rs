//! The only code that touches proxy-wasm: the root context (configuration, remote-list
//! refresh, metrics), the per-request HTTP context, what is read from Envoy, and stats.

mod access_log;
mod envoy;
mod http;
mod metrics;

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config;
use crate::remote_list::{Outcome, Refresher, MAX_BODY_BYTES};
use crate::verdict::Judge;
use envoy::SharedData;
use metrics::{Metrics, RouteMetrics, PREFIX};

pub fn start() {
    proxy_wasm::set_log_level(LogLevel::Trace);
    // A panic aborts the VM; say where, but never print the payload: it could hold
    // request bytes.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        log::error!("webhook-guard: internal error at {at}");
    }));
    proxy_wasm::set_root_context(|context_id| {
        Box::new(Root {
            context_id,
            judge: None,
            metrics: Rc::new(Metrics::default()),
            routes: Rc::new(RouteMetrics::default()),
            lists: Rc::new(Vec::new()),
            pending: Vec::new(),
        })
    });
}

/// How often the root context looks at its remote lists. Each look is a shared-data
/// read; a fetch happens only when one is due.
const TICK: Duration = Duration::from_secs(1);

struct Root {
    context_id: u32,
    judge: Option<Rc<Judge>>,
    metrics: Rc<Metrics>,
    routes: Rc<RouteMetrics>,
    lists: Rc<Vec<Refresher>>,
    /// Callout token and the index of the list it fetches: a few entries at most (the
    /// fetches in flight), so a vector; a map type would add its code to the plugin.
    pending: Vec<(u32, usize)>,
}

impl Root {
    fn now_ms(&self) -> u64 {
        envoy::now_unix_ms(self.get_current_time())
    }

    fn report(&self, list: &Refresher, outcome: Outcome, now_ms: u64) {
        let name = list.name();
        match outcome {
            Outcome::Ok { entries } => {
                self.metrics.inc(&format!("{PREFIX}.list.{name}.fetch_ok"));
                log::info!("webhook-guard: remote list {name} loaded, {entries} entries");
            }
            Outcome::Failed { reason } => {
                self.metrics.inc(&format!("{PREFIX}.list.{name}.fetch_failed"));
                let kept = match list.age_seconds(now_ms) {
                    Some(age) => format!("keeping the last good list ({} entries, {age}s old)", list.entries()),
                    None => "no list loaded yet: checks that need it answer 503".to_string(),
                };
                log::warn!("webhook-guard: remote list {name} fetch failed: {reason}; {kept}");
            }
            Outcome::LoginOk { expires_in_seconds } => {
                self.metrics.inc(&format!("{PREFIX}.list.{name}.login_ok"));
                log::info!("webhook-guard: remote list {name} logged in, token valid for {expires_in_seconds}s");
            }
            Outcome::LoginFailed { reason } => {
                self.metrics.inc(&format!("{PREFIX}.list.{name}.login_failed"));
                log::warn!("webhook-guard: remote list {name} login failed: {reason}; retried with backoff");
            }
            Outcome::Ignored => {}
        }
        self.gauges(list, now_ms);
    }

    fn gauges(&self, list: &Refresher, now_ms: u64) {
        let name = list.name();
        self.metrics.gauge(&format!("{PREFIX}.list.{name}.entries"), list.entries() as u64);
        if let Some(age) = list.age_seconds(now_ms) {
            self.metrics.gauge(&format!("{PREFIX}.list.{name}.age_seconds"), age);
        }
        if let Some(left) = list.token_remaining_seconds(now_ms) {
            self.metrics.gauge(&format!("{PREFIX}.list.{name}.token_remaining_seconds"), left);
        }
    }

    /// Dispatch what the list wants now (a fetch or a login), if anything.
    fn tick_list(&mut self, index: usize, list: &Refresher, now_ms: u64) {
        // Jitter and lease nonces need only differ between workers and ticks.
        let rand = now_ms.rotate_left(17) ^ u64::from(self.context_id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if let Some(req) = list.on_tick(&SharedData, now_ms, rand ^ index as u64) {
            let body = req.body;
            match self.dispatch_http_call(req.cluster, req.all_headers(), body, vec![], req.timeout) {
                Ok(token) => {
                    list.on_dispatched(token);
                    self.pending.push((token, index));
                }
                Err(_) => {
                    let outcome = list.on_dispatch_failed(&SharedData, now_ms);
                    self.report(list, outcome, now_ms);
                }
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let Some(at) = self.pending.iter().position(|&(t, _)| t == token) else { return };
        let (_, index) = self.pending.swap_remove(at);
        let lists = self.lists.clone();
        let Some(list) = lists.get(index) else { return };
        // Envoy answers a timed-out callout with 504; no `:status` at all (a reset) is
        // passed on as 0. Both are failed fetches.
        let status = self.get_http_call_response_header(":status").and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        // One byte past the parser's limit is enough to refuse an oversized answer
        // without copying all of it.
        let body = self.get_http_call_response_body(0, body_size.min(MAX_BODY_BYTES + 1)).unwrap_or_default();
        let now_ms = self.now_ms();
        let outcome = list.on_response(&SharedData, token, status, &body, now_ms);
        let logged_in = matches!(outcome, Outcome::LoginOk { .. });
        self.report(list, outcome, now_ms);
        if logged_in {
            // The fetch that needed the token goes out now, not a tick later.
            self.tick_list(index, list, now_ms);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        match config::parse(&bytes, &env) {
            Ok(policy) => {
                self.routes = Rc::new(self.metrics.prepare(&policy));
                for route in &policy.routes {
                    if let Some(rl) = &route.checks.rate_limit {
                        rl.prepare(&SharedData);
                    }
                }
                log::info!(
                    "webhook-guard: configured {} route(s), mode {:?}, max_body_bytes {}",
                    policy.routes.len(),
                    policy.mode,
                    policy.max_body_bytes
                );
                self.lists = Rc::new(
                    policy.remote_lists.iter().map(|(list, kind)| Refresher::new(list.clone(), *kind)).collect(),
                );
                for list in self.lists.iter() {
                    list.prepare(&SharedData);
                    let name = list.name();
                    for counter in ["fetch_ok", "fetch_failed"] {
                        self.metrics.declare(&format!("{PREFIX}.list.{name}.{counter}"));
                    }
                    if list.list().login.is_some() {
                        for counter in ["login_ok", "login_failed"] {
                            self.metrics.declare(&format!("{PREFIX}.list.{name}.{counter}"));
                        }
                    }
                    // The list's timing, so an alert can compare the age with them.
                    let timing = list.list().timing;
                    self.metrics.gauge(&format!("{PREFIX}.list.{name}.refresh_seconds"), timing.refresh_seconds);
                    self.metrics.gauge(&format!("{PREFIX}.list.{name}.max_stale_seconds"), timing.max_stale_seconds);
                }
                if !self.lists.is_empty() {
                    self.set_tick_period(TICK);
                }
                self.judge = Some(Rc::new(Judge::new(Rc::new(policy))));
                true
            }
            Err(e) => {
                // Returning false makes Envoy refuse the configuration: fail closed.
                log::error!("webhook-guard: invalid configuration: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let now_ms = self.now_ms();
        let lists = self.lists.clone();
        for (index, list) in lists.iter().enumerate() {
            self.tick_list(index, list, now_ms);
            self.gauges(list, now_ms);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let judge = self.judge.clone()?;
        Some(Box::new(http::Guard::new(judge, self.metrics.clone(), self.routes.clone(), self.lists.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
