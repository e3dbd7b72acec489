//! The Wasm shell, the only code that touches proxy-wasm: the root context holds the
//! configured [`Plugin`], each HTTP context a [`Stream`]; both only hand their callbacks
//! to the core with [`envoy::Envoy`] as the host, and map the core's [`Flow`] to an
//! [`Action`].

mod abi;
mod envoy;

use std::sync::Arc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::host::{CalloutId, Flow, CALLOUT_BODY_LIMIT};
use crate::plugin::Plugin;
use crate::stream::Stream;
use envoy::Envoy;

pub fn start() {
    proxy_wasm::set_log_level(LogLevel::Trace);
    // A panic aborts the VM; say where, but never print the payload: it could hold
    // request bytes.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        log::error!("webhook-guard: internal error at {at}");
    }));
    proxy_wasm::set_root_context(|context_id| Box::new(Root { host: Envoy { context_id }, plugin: None }));
}

struct Root {
    host: Envoy,
    plugin: Option<Arc<Plugin>>,
}

/// A callout's answer, in its callback: the `:status` as a number (0 when there is none)
/// and at most [`CALLOUT_BODY_LIMIT`] bytes of the body.
fn callout_answer(body_size: usize) -> (u32, Vec<u8>) {
    let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(0);
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size.min(CALLOUT_BODY_LIMIT))
        .ok()
        .flatten()
        .unwrap_or_default();
    (status, body)
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let Some(plugin) = &self.plugin else { return };
        let (status, body) = callout_answer(body_size);
        plugin.on_callout_response(&mut self.host, CalloutId(u64::from(token)), status, &body);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes =
            hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten().unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        // An error is logged by the core; returning false makes Envoy refuse the
        // configuration: fail closed.
        match Plugin::configure(&mut self.host, &bytes, &env) {
            Ok(plugin) => {
                self.plugin = Some(Arc::new(plugin));
                true
            }
            Err(_) => false,
        }
    }

    fn on_tick(&mut self) {
        if let Some(plugin) = &self.plugin {
            plugin.on_tick(&mut self.host);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let plugin = Arc::clone(self.plugin.as_ref()?);
        Some(Box::new(Guard { host: Envoy { context_id }, stream: Stream::new(plugin) }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request: its stream in the core.
struct Guard {
    host: Envoy,
    stream: Stream,
}

/// Both a held request and one answered here pause the filter chain in proxy-wasm.
fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Buffer | Flow::Stop => Action::Pause,
    }
}

impl Context for Guard {
    /// The answer to a fetch this request waits for (the SDK hands each callout's answer
    /// to the context that dispatched it; a context that is gone gets none).
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        let (status, body) = callout_answer(body_size);
        match self.stream.on_callout_response(&mut self.host, CalloutId(u64::from(token)), status, &body) {
            Flow::Continue => {
                let _ = hostcalls::resume_http_request();
            }
            // Answered here, or still held (the body checks wait for the rest of the body).
            Flow::Stop | Flow::Buffer => {}
        }
    }
}

impl HttpContext for Guard {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        action(self.stream.on_request_headers(&mut self.host, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.stream.on_request_body(&mut self.host, body_size, end_of_stream))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        action(self.stream.on_request_trailers(&mut self.host))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        action(self.stream.on_response_headers(&mut self.host))
    }
}
