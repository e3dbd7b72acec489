//! Every metric of the plugin: its name (the dashboard, the alert rules and the stats
//! tag rules of the shipped Envoy configs read exactly these), defined once when the
//! configuration loads, so a request moves a counter by its handle and never formats a
//! name.
//!
//! - per route `webhook_guard.<route>.`: `allowed`, `denied.<reason>`,
//!   `secret.<id>.matched`, `duplicate` (with `dedupe`), `handshake` (schemes that have
//!   one, and `event_grid`), gauge `secret.<id>.not_after_seconds`; for requests no route takes the route
//!   is `unmatched`;
//! - per remote list `webhook_guard.list.<list>.`: `fetch_ok`, `fetch_failed`,
//!   `login_ok` and `login_failed` (with `login`), gauges `entries`, `age_seconds`,
//!   `token_remaining_seconds` (with `login`), `refresh_seconds`, `max_stale_seconds`.

use std::sync::OnceLock;

use crate::denial::Denial;
use crate::host::{Host, MetricId, PluginHost};
use crate::policy::{Policy, Route};
use crate::remote_list::Refresher;

pub const PREFIX: &str = "webhook_guard";

/// The route name of requests no route takes.
pub const UNMATCHED: &str = "unmatched";

/// The denials of a request no route takes: routing's, and the filter's own failure.
const UNMATCHED_DENIALS: [Denial; 4] =
    [Denial::RouteNotFound, Denial::AmbiguousPath, Denial::MethodNotAllowed, Denial::InternalError];

/// The counters of one route (or of `unmatched`).
#[derive(Debug, Default)]
pub struct RouteMetrics {
    /// The route's name in logs, metric names and the access log.
    pub name: String,
    allowed: Option<MetricId>,
    duplicate: Option<MetricId>,
    handshake: Option<MetricId>,
    /// `secret.<id>.matched`, by secret id.
    secrets: Vec<(String, Option<MetricId>)>,
    /// `denied.<reason>`, indexed by `Denial as usize`.
    denied: Vec<Option<MetricId>>,
}

impl RouteMetrics {
    fn new(host: &mut dyn PluginHost, route: &Route) -> Self {
        let name = route.name.as_str();
        let mut counter = |what: &str| host.define_counter(&format!("{PREFIX}.{name}.{what}"));
        RouteMetrics {
            allowed: counter("allowed"),
            duplicate: route.checks.dedupe.as_ref().and_then(|_| counter("duplicate")),
            handshake: (route.checks.signature.as_ref().is_some_and(|s| s.has_handshake())
                || route.checks.event_grid.is_some())
            .then(|| counter("handshake"))
            .flatten(),
            secrets: route
                .secret_ids()
                .into_iter()
                .map(|id| (id.to_string(), counter(&format!("secret.{id}.matched"))))
                .collect(),
            // Every reason, so each reads 0 before its first refusal (a rate in
            // Prometheus then sees that first one).
            denied: Denial::ALL.iter().map(|d| counter(&format!("denied.{}", d.reason()))).collect(),
            name: name.to_string(),
        }
    }

    fn unmatched(host: &mut dyn PluginHost) -> Self {
        let mut denied = vec![None; Denial::ALL.len()];
        for d in UNMATCHED_DENIALS {
            if let Some(slot) = denied.get_mut(d as usize) {
                *slot = host.define_counter(&format!("{PREFIX}.{UNMATCHED}.denied.{}", d.reason()));
            }
        }
        RouteMetrics { name: UNMATCHED.to_string(), denied, ..RouteMetrics::default() }
    }

    pub fn allowed(&self, host: &dyn Host) {
        bump(host, self.allowed);
    }

    pub fn duplicate(&self, host: &dyn Host) {
        bump(host, self.duplicate);
    }

    pub fn handshake(&self, host: &dyn Host) {
        bump(host, self.handshake);
    }

    pub fn secret_matched(&self, host: &dyn Host, id: &str) {
        if let Some((_, metric)) = self.secrets.iter().find(|(s, _)| s == id) {
            bump(host, *metric);
        }
    }

    pub fn denied(&self, host: &dyn Host, d: Denial) {
        bump(host, self.denied.get(d as usize).copied().flatten());
    }
}

/// The counters and gauges of one remote list, index for index with the plugin's
/// refreshers.
#[derive(Debug)]
pub struct ListMetrics {
    fetch_ok: Option<MetricId>,
    fetch_failed: Option<MetricId>,
    login_ok: Option<MetricId>,
    login_failed: Option<MetricId>,
    entries: Option<MetricId>,
    token_remaining_seconds: Option<MetricId>,
    /// Defined when the list first loads, not before: a never-loaded list has no age
    /// (0 would read as fresh), and the alert on age must not fire or clear on it.
    age_seconds: OnceLock<Option<MetricId>>,
    age_name: String,
}

impl ListMetrics {
    fn new(host: &mut dyn PluginHost, list: &Refresher) -> Self {
        let name = list.name();
        let login = list.list().login.is_some();
        let counter =
            |host: &mut dyn PluginHost, what: &str| host.define_counter(&format!("{PREFIX}.list.{name}.{what}"));
        let gauge = |host: &mut dyn PluginHost, what: &str| host.define_gauge(&format!("{PREFIX}.list.{name}.{what}"));
        let metrics = ListMetrics {
            fetch_ok: counter(host, "fetch_ok"),
            fetch_failed: counter(host, "fetch_failed"),
            login_ok: if login { counter(host, "login_ok") } else { None },
            login_failed: if login { counter(host, "login_failed") } else { None },
            entries: gauge(host, "entries"),
            token_remaining_seconds: if login { gauge(host, "token_remaining_seconds") } else { None },
            age_seconds: OnceLock::new(),
            age_name: format!("{PREFIX}.list.{name}.age_seconds"),
        };
        if !host.defines_after_configure() {
            // No later chance: defined now, it reads 0 until the list first loads.
            let _ = metrics.age_seconds.set(host.define_gauge(&metrics.age_name));
        }
        // The list's timing, so an alert can compare the age with them.
        let timing = list.list().timing;
        for (what, value) in
            [("refresh_seconds", timing.refresh_seconds), ("max_stale_seconds", timing.max_stale_seconds)]
        {
            if let Some(id) = gauge(host, what) {
                host.set_gauge(id, value);
            }
        }
        metrics
    }

    pub fn fetch_ok(&self, host: &dyn Host) {
        bump(host, self.fetch_ok);
    }

    pub fn fetch_failed(&self, host: &dyn Host) {
        bump(host, self.fetch_failed);
    }

    pub fn login_ok(&self, host: &dyn Host) {
        bump(host, self.login_ok);
    }

    pub fn login_failed(&self, host: &dyn Host) {
        bump(host, self.login_failed);
    }

    /// The list's gauges as this instance sees it now.
    pub fn gauges(&self, host: &mut dyn PluginHost, list: &Refresher, now_ms: u64) {
        if let Some(id) = self.entries {
            host.set_gauge(id, list.entries() as u64);
        }
        if let Some(age) = list.age_seconds(now_ms) {
            if let Some(id) = *self.age_seconds.get_or_init(|| host.define_gauge(&self.age_name)) {
                host.set_gauge(id, age);
            }
        }
        if let (Some(id), Some(left)) = (self.token_remaining_seconds, list.token_remaining_seconds(now_ms)) {
            host.set_gauge(id, left);
        }
    }
}

/// Every metric of one policy, defined when its configuration loads.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    unmatched: RouteMetrics,
    lists: Vec<ListMetrics>,
}

impl Metrics {
    /// Define every counter and gauge of `policy` and its remote lists (`lists`, one
    /// refresher per list), and set the gauges known now (secret expiries, list timing).
    pub fn define(host: &mut dyn PluginHost, policy: &Policy, lists: &[Refresher]) -> Self {
        let routes = policy
            .routes
            .iter()
            .map(|r| {
                let metrics = RouteMetrics::new(host, r);
                for (id, not_after) in r.secret_expiries() {
                    if let Some(gauge) =
                        host.define_gauge(&format!("{PREFIX}.{}.secret.{id}.not_after_seconds", r.name))
                    {
                        host.set_gauge(gauge, not_after);
                    }
                }
                metrics
            })
            .collect();
        let unmatched = RouteMetrics::unmatched(host);
        let lists = lists.iter().map(|l| ListMetrics::new(host, l)).collect();
        Metrics { routes, unmatched, lists }
    }

    /// The counters of route `route` (an index into the policy's routes), or of
    /// `unmatched` for `None`.
    pub fn route(&self, route: Option<usize>) -> &RouteMetrics {
        route.and_then(|i| self.routes.get(i)).unwrap_or(&self.unmatched)
    }

    /// The metrics of the list at `index` among the plugin's refreshers.
    pub fn list(&self, index: usize) -> Option<&ListMetrics> {
        self.lists.get(index)
    }
}

fn bump(host: &dyn Host, metric: Option<MetricId>) {
    if let Some(id) = metric {
        host.increment(id);
    }
}
