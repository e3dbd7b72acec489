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

pub fn now_unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// `source.address` as a socket address (`1.2.3.4:5678` or `[::1]:5678`).
pub fn client_address() -> Option<SocketAddr> {
    let raw = hostcalls::get_property(vec!["source", "address"]).ok()??;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}

/// Envoy's shared data, seen by every worker VM of this plugin's `vm_id`.
pub struct HostStore;

impl crate::shared::SharedStore for HostStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), crate::shared::Conflict> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|_| crate::shared::Conflict)
    }
}
