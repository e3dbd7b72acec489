//! Reference filters for `make bench` (see Cargo.toml), and the probes of
//! `bench/run.py --hostcalls`, which price one hostcall at a time.
//!
//! The root configuration is a comma-separated list of operations done for every request:
//!
//! - `noop`: nothing (the price of any proxy-wasm filter);
//! - `buffer`: hold the headers until the whole body has arrived, as webhook-guard does;
//! - `body`: with `buffer`, copy the complete body into the VM (`get_http_request_body`);
//! - `headers`: read the whole request header map (`get_http_request_headers_bytes`:
//!   the SDK copies every name and value out of the buffer Envoy fills);
//! - `headers_raw`: read the whole request header map as the one buffer Envoy fills
//!   (`proxy_get_header_map_pairs`), as webhook-guard does;
//! - `header1`, `header5`: read one / five single headers;
//! - `property`: read `source.address`;
//! - `time`: read the clock;
//! - `metric`: increment a counter defined at configuration time;
//! - `remove_header`, `set_header`: remove / set `x-webhook-guard`;
//! - `log_warn`: one warn log line;
//! - `filter_state`: set the filter state an allowed request gets for the access log
//!   (`webhook_guard.route`, `.outcome`, `.secret`: three `set_property` calls);
//! - `deny`: answer 403 locally (`send_http_response`).
//! - `gh_path`: with `body`, every host call an allowed GitHub request makes in the plugin,
//!   in the callback where it makes them: at the headers the header map as one buffer, the
//!   clock and `source.address`; at the end of the body the clock, two counters (the
//!   route's `allowed` and the secret's), the three access-log properties and the verdict
//!   header set;
//! - `hmac`: with `body`, HMAC-SHA256 of the body in the VM (the same `hmac` and `sha2`
//!   crates as the plugin), compared with a fixed tag, as the signature check does.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(Root { ops: Rc::new(Ops::default()) }));
}}

#[derive(Default)]
struct Ops {
    buffer: bool,
    body: bool,
    headers: bool,
    headers_raw: bool,
    header1: bool,
    header5: bool,
    property: bool,
    time: bool,
    metric: Option<u32>,
    remove_header: bool,
    set_header: bool,
    log_warn: bool,
    filter_state: bool,
    deny: bool,
    gh_path: bool,
    hmac: bool,
    metric2: Option<u32>,
}

struct Root {
    ops: Rc<Ops>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let cfg = self.get_plugin_configuration().unwrap_or_default();
        let cfg = String::from_utf8_lossy(&cfg);
        let mut ops = Ops::default();
        for op in cfg.split(',').map(str::trim) {
            match op {
                "noop" | "" => {}
                "buffer" => ops.buffer = true,
                "body" => {
                    ops.buffer = true;
                    ops.body = true;
                }
                "headers" => ops.headers = true,
                "headers_raw" => ops.headers_raw = true,
                "header1" => ops.header1 = true,
                "header5" => ops.header5 = true,
                "property" => ops.property = true,
                "time" => ops.time = true,
                "metric" => ops.metric = hostcalls::define_metric(MetricType::Counter, "bench_reference.requests").ok(),
                "remove_header" => ops.remove_header = true,
                "set_header" => ops.set_header = true,
                "log_warn" => ops.log_warn = true,
                "filter_state" => ops.filter_state = true,
                "deny" => ops.deny = true,
                "gh_path" => {
                    ops.buffer = true;
                    ops.body = true;
                    ops.gh_path = true;
                    ops.metric = hostcalls::define_metric(MetricType::Counter, "bench_reference.allowed").ok();
                    ops.metric2 = hostcalls::define_metric(MetricType::Counter, "bench_reference.secret").ok();
                }
                "hmac" => {
                    ops.buffer = true;
                    ops.body = true;
                    ops.hmac = true;
                }
                other => {
                    log::error!("bench reference filter: unknown operation {other:?}");
                    return false;
                }
            }
        }
        self.ops = Rc::new(ops);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { ops: self.ops.clone(), size: 0 }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    ops: Rc<Ops>,
    size: usize,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let ops = self.ops.clone();
        if ops.gh_path {
            std::hint::black_box(request_header_map());
            std::hint::black_box(self.get_current_time());
            std::hint::black_box(self.get_property(vec!["source", "address"]));
        }
        if ops.remove_header {
            self.set_http_request_header("x-webhook-guard", None);
        }
        if ops.headers {
            std::hint::black_box(self.get_http_request_headers_bytes());
        }
        if ops.headers_raw {
            std::hint::black_box(request_header_map());
        }
        if ops.header1 {
            std::hint::black_box(self.get_http_request_header_bytes("x-hub-signature-256"));
        }
        if ops.header5 {
            for name in [":path", ":method", ":authority", "content-length", "x-hub-signature-256"] {
                std::hint::black_box(self.get_http_request_header_bytes(name));
            }
        }
        if ops.property {
            std::hint::black_box(self.get_property(vec!["source", "address"]));
        }
        if ops.time {
            std::hint::black_box(self.get_current_time());
        }
        if let (Some(id), false) = (ops.metric, ops.gh_path) {
            let _ = hostcalls::increment_metric(id, 1);
        }
        if ops.log_warn {
            log::warn!("bench reference filter: denied route=bench reason=ip_not_allowed client=127.0.0.1");
        }
        if ops.filter_state {
            for (key, value) in [
                ("webhook_guard.route", "github"),
                ("webhook_guard.outcome", "allowed"),
                ("webhook_guard.secret", "current"),
            ] {
                let _ = hostcalls::set_property(vec![key], Some(value.as_bytes()));
            }
        }
        if ops.deny {
            self.send_http_response(
                403,
                vec![("content-type", "application/json")],
                Some(b"{\"error\":\"forbidden\"}"),
            );
            return Action::Pause;
        }
        if ops.set_header {
            self.set_http_request_header("x-webhook-guard", Some("route=bench"));
        }
        if ops.buffer && !end_of_stream {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.size = body_size;
        if !self.ops.buffer {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let ops = self.ops.clone();
        if ops.body {
            let body = self.get_http_request_body(0, self.size).unwrap_or_default();
            if ops.hmac {
                use hmac::Mac;
                if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"bench-github-secret") {
                    mac.update(&body);
                    std::hint::black_box(mac.verify_slice(&[0u8; 32]).is_ok());
                }
            }
            std::hint::black_box(body);
        }
        if ops.gh_path {
            std::hint::black_box(self.get_current_time());
            for id in [ops.metric, ops.metric2].into_iter().flatten() {
                let _ = hostcalls::increment_metric(id, 1);
            }
            for (key, value) in [
                ("webhook_guard.route", "github"),
                ("webhook_guard.outcome", "allowed"),
                ("webhook_guard.secret", "current"),
            ] {
                let _ = hostcalls::set_property(vec![key], Some(value.as_bytes()));
            }
            self.set_http_request_header("x-webhook-guard", Some("route=github"));
        }
        Action::Continue
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, return_map_data: *mut *mut u8, return_map_size: *mut usize) -> u32;
}

/// The request header map in proxy-wasm's serialized layout, owned by the filter.
fn request_header_map() -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: both out-pointers are live locals Envoy writes during the call.
    if unsafe { proxy_get_header_map_pairs(0, &mut data, &mut size) } != 0 || data.is_null() {
        return None;
    }
    // SAFETY: Envoy allocated `size` bytes with this module's `proxy_on_memory_allocate`
    // (the SDK's global-allocator slice) and hands them over, as `get_map_bytes` takes them.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}
