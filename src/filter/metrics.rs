//! Envoy stats: counters and gauges defined once per name, and per route the ids a
//! request needs, prepared when the configuration loads.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::denial::Denial;
use crate::policy::Policy;

/// Counters are defined on first use and their ids cached: one `define_metric`
/// hostcall per name per VM, one `increment_metric` per event.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

pub const PREFIX: &str = "webhook_guard";

/// What the request path needs of a route besides its checks, prepared once when the
/// configuration loads: no metric name is formatted or hashed on a forwarded request.
#[derive(Default)]
pub struct RouteMeta {
    /// The route's name in logs and metric names (`unmatched` for no route).
    pub name: String,
    allowed: Option<u32>,
    duplicate: Option<u32>,
    /// `handshake`: provider handshakes answered here (routes whose scheme has one).
    handshake: Option<u32>,
    /// `secret.<id>.matched`, by secret id.
    secrets: Vec<(String, Option<u32>)>,
    /// `denied.<reason>`, defined on first use (most reasons never happen).
    denied: RefCell<Vec<(Denial, Option<u32>)>>,
}

impl RouteMeta {
    fn new(metrics: &Metrics, name: &str, secret_ids: &[&str]) -> Self {
        RouteMeta {
            name: name.to_string(),
            allowed: metrics.id(&format!("{PREFIX}.{name}.allowed")),
            duplicate: None,
            handshake: None,
            secrets: secret_ids
                .iter()
                .map(|id| (id.to_string(), metrics.id(&format!("{PREFIX}.{name}.secret.{id}.matched"))))
                .collect(),
            denied: RefCell::new(Vec::new()),
        }
    }

    pub fn allowed(&self) {
        increment(self.allowed);
    }

    pub fn secret_matched(&self, id: &str) {
        if let Some((_, metric)) = self.secrets.iter().find(|(s, _)| s == id) {
            increment(*metric);
        }
    }

    pub fn duplicate(&self) {
        increment(self.duplicate);
    }

    pub fn handshake(&self) {
        increment(self.handshake);
    }

    pub fn denied(&self, metrics: &Metrics, d: Denial) {
        let known = self.denied.borrow().iter().find(|(k, _)| *k == d).map(|(_, id)| *id);
        let id = match known {
            Some(id) => id,
            None => {
                let id = metrics.id(&format!("{PREFIX}.{}.denied.{}", self.name, d.reason()));
                self.denied.borrow_mut().push((d, id));
                id
            }
        };
        increment(id);
    }
}

/// Per route, index for index, and for requests that match no route.
#[derive(Default)]
pub struct RouteMetrics {
    routes: Vec<RouteMeta>,
    unmatched: RouteMeta,
}

impl RouteMetrics {
    pub fn get(&self, route: Option<usize>) -> &RouteMeta {
        route.and_then(|i| self.routes.get(i)).unwrap_or(&self.unmatched)
    }
}

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    /// Define every counter a route always has (so they read 0 before the first
    /// request) and prepare each route's ids.
    pub fn prepare(&self, policy: &Policy) -> RouteMetrics {
        let routes = policy
            .routes
            .iter()
            .map(|r| {
                let mut meta = RouteMeta::new(self, &r.name, &r.secret_ids());
                if r.checks.dedupe.is_some() {
                    meta.duplicate = self.id(&format!("{PREFIX}.{}.duplicate", r.name));
                }
                if r.checks.signature.as_ref().is_some_and(|s| s.has_handshake()) {
                    meta.handshake = self.id(&format!("{PREFIX}.{}.handshake", r.name));
                }
                for (id, not_after) in r.secret_expiries() {
                    self.gauge(&format!("{PREFIX}.{}.secret.{id}.not_after_seconds", r.name), not_after);
                }
                meta
            })
            .collect();
        let unmatched = RouteMeta {
            name: "unmatched".to_string(),
            allowed: None,
            duplicate: None,
            handshake: None,
            secrets: Vec::new(),
            denied: RefCell::new(Vec::new()),
        };
        RouteMetrics { routes, unmatched }
    }

    /// Define a counter without counting, so it reads 0 until its first event (a rate
    /// in Prometheus then sees that first event).
    pub fn declare(&self, name: &str) {
        let _ = self.id(name);
    }

    pub fn inc(&self, name: &str) {
        if let Some(id) = self.id(name) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    pub fn gauge(&self, name: &str, value: u64) {
        if let Some(id) = self.define(name, MetricType::Gauge) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn id(&self, name: &str) -> Option<u32> {
        self.define(name, MetricType::Counter)
    }

    fn define(&self, name: &str, kind: MetricType) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.ids.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }
}
