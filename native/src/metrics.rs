//! The filter's counters and gauges, under exactly the names the Wasm edition uses
//! (`webhook_guard.<route>.allowed`, `webhook_guard.<route>.denied.<reason>`, ...), so
//! the stats tags, the dashboard and the alert rules read both editions alike.
//!
//! Envoy defines a dynamic module's metrics only while its configuration loads, so every
//! counter a policy can ever move is defined then (the Wasm edition defines the
//! `denied.<reason>` ones on first use); a request only increments by id.

use webhook_guard::denial::{Denial, INTERNAL_ERROR};
use webhook_guard::policy::Policy;

use crate::abi::{Config, Filter};

pub const PREFIX: &str = "webhook_guard";

/// The counters of one route (or of the requests no route takes), by id.
pub struct RouteCounters {
    /// The route's name in logs and metric names (`unmatched` for no route).
    pub name: String,
    allowed: Option<usize>,
    duplicate: Option<usize>,
    handshake: Option<usize>,
    /// `secret.<id>.matched`, by secret id.
    secrets: Vec<(String, Option<usize>)>,
    /// `denied.<reason>`, index for index with `Denial::ALL`.
    denied: Vec<Option<usize>>,
    internal_error: Option<usize>,
}

impl RouteCounters {
    fn define(config: &Config, name: &str) -> RouteCounters {
        RouteCounters {
            name: name.to_string(),
            allowed: None,
            duplicate: None,
            handshake: None,
            secrets: Vec::new(),
            denied: Denial::ALL
                .iter()
                .map(|d| config.define_counter(&format!("{PREFIX}.{name}.denied.{}", d.reason())))
                .collect(),
            internal_error: config.define_counter(&format!("{PREFIX}.{name}.denied.{INTERNAL_ERROR}")),
        }
    }

    pub fn allowed(&self, f: &Filter) {
        increment(f, self.allowed);
    }

    pub fn duplicate(&self, f: &Filter) {
        increment(f, self.duplicate);
    }

    pub fn handshake(&self, f: &Filter) {
        increment(f, self.handshake);
    }

    pub fn secret_matched(&self, f: &Filter, id: &str) {
        if let Some((_, counter)) = self.secrets.iter().find(|(s, _)| s == id) {
            increment(f, *counter);
        }
    }

    pub fn denied(&self, f: &Filter, d: Denial) {
        let at = Denial::ALL.iter().position(|k| *k == d);
        increment(f, at.and_then(|i| self.denied.get(i).copied().flatten()));
    }

    pub fn internal_error(&self, f: &Filter) {
        increment(f, self.internal_error);
    }
}

fn increment(f: &Filter, id: Option<usize>) {
    if let Some(id) = id {
        f.increment_counter(id);
    }
}

/// Per route, index for index, and for requests that match no route.
pub struct Counters {
    routes: Vec<RouteCounters>,
    unmatched: RouteCounters,
}

impl Counters {
    /// Define every counter of `policy` (and set the secret expiry gauges).
    pub fn define(config: &Config, policy: &Policy) -> Counters {
        let routes = policy
            .routes
            .iter()
            .map(|r| {
                let name = &r.name;
                let mut counters = RouteCounters::define(config, name);
                counters.allowed = config.define_counter(&format!("{PREFIX}.{name}.allowed"));
                counters.secrets = r
                    .secret_ids()
                    .iter()
                    .map(|id| (id.to_string(), config.define_counter(&format!("{PREFIX}.{name}.secret.{id}.matched"))))
                    .collect();
                if r.checks.dedupe.is_some() {
                    counters.duplicate = config.define_counter(&format!("{PREFIX}.{name}.duplicate"));
                }
                if r.checks.signature.as_ref().is_some_and(|s| s.has_handshake()) {
                    counters.handshake = config.define_counter(&format!("{PREFIX}.{name}.handshake"));
                }
                for (id, not_after) in r.secret_expiries() {
                    if let Some(gauge) = config.define_gauge(&format!("{PREFIX}.{name}.secret.{id}.not_after_seconds"))
                    {
                        config.set_gauge(gauge, not_after);
                    }
                }
                counters
            })
            .collect();
        Counters { routes, unmatched: RouteCounters::define(config, "unmatched") }
    }

    pub fn get(&self, route: Option<usize>) -> &RouteCounters {
        route.and_then(|i| self.routes.get(i)).unwrap_or(&self.unmatched)
    }
}
