//! The only code that touches proxy-wasm: the root context (configuration, metrics),
//! the per-request HTTP context, and small host adapters.

mod host;
mod http;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config;
use crate::policy::Policy;
use host::Metrics;

pub fn start() {
    proxy_wasm::set_log_level(LogLevel::Trace);
    // A panic aborts the VM; say where, but never print the payload: it could hold
    // request bytes.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        log::error!("webhook-guard: internal error at {at}");
    }));
    proxy_wasm::set_root_context(|_| Box::new(Root { policy: None, metrics: Rc::new(Metrics::default()) }));
}

struct Root {
    policy: Option<Rc<Policy>>,
    metrics: Rc<Metrics>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        match config::parse(&bytes, &env) {
            Ok(policy) => {
                self.metrics.declare(&policy);
                log::info!(
                    "webhook-guard: configured {} route(s), mode {:?}, max_body_bytes {}",
                    policy.routes.len(),
                    policy.mode,
                    policy.max_body_bytes
                );
                self.policy = Some(Rc::new(policy));
                true
            }
            Err(e) => {
                // Returning false makes Envoy refuse the configuration: fail closed.
                log::error!("webhook-guard: invalid configuration: {e}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let policy = self.policy.clone()?;
        Some(Box::new(http::Guard::new(policy, self.metrics.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
