//! Host adapters: metrics by name, the clock, the client address.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::policy::Policy;

/// Counters are defined on first use and their ids cached: one `define_metric`
/// hostcall per name per VM, one `increment_metric` per event.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

pub const PREFIX: &str = "webhook_guard";

impl Metrics {
    /// Define every counter a route always has, so they read 0 before the first request.
    pub fn declare(&self, policy: &Policy) {
        for r in &policy.routes {
            self.id(&format!("{PREFIX}.{}.allowed", r.name));
            for id in r.secret_ids() {
                self.id(&format!("{PREFIX}.{}.secret.{id}.matched", r.name));
            }
        }
    }

    pub fn inc(&self, name: &str) {
        if let Some(id) = self.id(name) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn id(&self, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(MetricType::Counter, name).ok()?;
        self.ids.borrow_mut().insert(name.to_string(), id);
        Some(id)
    }
}

pub fn now_unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `source.address` as a socket address (`1.2.3.4:5678` or `[::1]:5678`).
pub fn client_address() -> Option<SocketAddr> {
    let raw = hostcalls::get_property(vec!["source", "address"]).ok()??;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}
