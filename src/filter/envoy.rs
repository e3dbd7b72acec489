//! The host traits of the core, answered with proxy-wasm hostcalls. Each call acts on
//! the context whose callback is running (the SDK makes it the effective context), so
//! one small value serves the root context and every HTTP context alike.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

use crate::host::{CalloutId, Host, Level, MetricId, PluginHost, RequestHost};
use crate::request::Headers;
use crate::shared::{Conflict, SharedStore};
use crate::verify::cert::PeerCertForm;

/// Envoy, as seen from one context of this VM.
pub struct Envoy {
    pub context_id: u32,
}

/// Envoy's shared data, seen by every worker VM of this plugin's `vm_id`.
pub struct SharedData;

impl SharedStore for SharedData {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|_| Conflict)
    }
}

/// Metric ids are 32-bit in proxy-wasm; the core hands back only ids made here.
fn metric(id: MetricId) -> Option<u32> {
    u32::try_from(id.0).ok()
}

impl Host for Envoy {
    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        let _ = hostcalls::log(level, message);
    }

    fn increment(&self, counter: MetricId) {
        if let Some(id) = metric(counter) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn now_ms(&self) -> u64 {
        let Ok(now) = hostcalls::get_current_time() else { return 0 };
        now.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    fn store(&self) -> &dyn SharedStore {
        &SharedData
    }
}

impl RequestHost for Envoy {
    fn request_headers(&self) -> Headers {
        super::abi::request_header_map().and_then(Headers::from_map).unwrap_or_default()
    }

    fn client_address(&self) -> Option<String> {
        let raw = hostcalls::get_property(vec!["source", "address"]).ok()??;
        String::from_utf8(raw).ok()
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        // Both are strings: PEM text (Envoy 1.38+), and the digest as lower-case hex.
        let name = match form {
            PeerCertForm::Pem => "peer_certificate",
            PeerCertForm::Sha256Digest => "sha256_peer_certificate_digest",
        };
        hostcalls::get_property(vec!["connection", name]).ok().flatten()
    }

    fn set_request_header(&mut self, name: &str, value: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
    }

    fn remove_request_header(&mut self, name: &str) {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None);
    }

    fn request_body(&mut self, len: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpRequestBody, 0, len).ok().flatten().unwrap_or_default()
    }

    fn send_reply(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let _ = hostcalls::send_http_response(status, headers.to_vec(), Some(body));
    }

    fn set_access_log_field(&mut self, key: &str, value: &str) {
        // A failure (no stream, e.g.) only costs the access log its field; the request
        // itself is already decided.
        let _ = hostcalls::set_property(vec![key], Some(value.as_bytes()));
    }

    fn response_status(&self) -> Option<u32> {
        hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status").ok()??.parse().ok()
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        // From the HTTP context: the SDK files the token under this context, and hands the
        // answer to its `on_http_call_response`.
        http_call(cluster, headers, body, timeout)
    }
}

/// Dispatch a callout from the context whose callback runs.
fn http_call(cluster: &str, headers: &[(&str, &str)], body: Option<&[u8]>, timeout: Duration) -> Option<CalloutId> {
    let token = hostcalls::dispatch_http_call(cluster, headers.to_vec(), body, vec![], timeout).ok()?;
    Some(CalloutId(u64::from(token)))
}

impl PluginHost for Envoy {
    fn define_counter(&mut self, name: &str) -> Option<MetricId> {
        hostcalls::define_metric(MetricType::Counter, name).ok().map(|id| MetricId(u64::from(id)))
    }

    fn define_gauge(&mut self, name: &str) -> Option<MetricId> {
        hostcalls::define_metric(MetricType::Gauge, name).ok().map(|id| MetricId(u64::from(id)))
    }

    fn set_gauge(&self, gauge: MetricId, value: u64) {
        if let Some(id) = metric(gauge) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn start_ticks(&mut self, period: Duration) {
        let _ = hostcalls::set_tick_period(period);
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        http_call(cluster, headers, body, timeout)
    }

    fn instance_seed(&self) -> u64 {
        u64::from(self.context_id)
    }
}
