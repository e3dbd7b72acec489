//! The boundary with Envoy: every `extern "C"` item and every `unsafe` block of the
//! native edition is in this file.
//!
//! Facts from the dynamic-module ABI of Envoy 1.40 (`abi.h` in
//! `source/extensions/dynamic_modules/abi/`, checked against the symbols the 1.40 binary
//! exports): names, signatures, enum values and who owns what. Only the callbacks this
//! filter uses are declared; `make native` fails when the library needs a symbol the
//! Envoy binary does not export.
//!
//! Ownership, as the ABI sets it:
//! - Envoy's objects (the filter config, each request's filter) are `void*` owned by
//!   Envoy. The config pointer stays valid until `on_http_filter_config_destroy`; a
//!   filter pointer until `on_http_filter_destroy`, but this module uses it only inside
//!   the hook that handed it over ([`Filter`] borrows it for that hook).
//! - The module's objects ([`crate::config::FilterConfig`], [`crate::filter::Guard`])
//!   are boxed here, handed to Envoy as `const void*` and freed here, in the matching
//!   destroy hook, exactly once. Envoy never frees module memory.
//! - Buffers Envoy hands over (hook arguments, getter results) are borrowed until the
//!   hook returns or a setter is called: everything read is copied out at once.
//! - Buffers the module passes to a callback are borrowed for the call only.
//! - A config scheduler is allocated by Envoy and owned by the module, which deletes it.
//!
//! No panic unwinds into Envoy (that would abort the process): every hook runs its
//! body under `catch_unwind`. A request whose handling panicked is answered 500
//! (`{"error":"internal"}`), counted as `denied.internal_error` and logged without
//! payload; a config-level hook that panics refuses the configuration or is logged.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::time::Duration;

use webhook_guard::host::{Flow, Level};
use webhook_guard::request::Headers;

use crate::config::FilterConfig;
use crate::filter::Guard;

// ---------------------------------------------------------------------------------
// Types (`envoy_dynamic_module_type_*`)
// ---------------------------------------------------------------------------------

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    ptr: *const c_char,
    length: usize,
}

impl EnvoyBuffer {
    const EMPTY: EnvoyBuffer = EnvoyBuffer { ptr: ptr::null(), length: 0 };

    /// The bytes, borrowed.
    ///
    /// # Safety
    /// As for [`Self::to_vec`], and the slice must be dropped before the hook returns or
    /// a setter is called.
    unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.length == 0 {
            return &[];
        }
        // SAFETY: per this function's contract, `ptr` points at `length` initialized
        // bytes owned by Envoy that stay valid while the slice is used.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.length) }
    }

    /// Copy the bytes out.
    ///
    /// # Safety
    /// `self` must come from Envoy in the current hook, before any setter was called:
    /// then `ptr` is null or points at `length` readable bytes (ABI ownership rules).
    unsafe fn to_vec(self) -> Vec<u8> {
        if self.ptr.is_null() || self.length == 0 {
            return Vec::new();
        }
        // SAFETY: per this function's contract, `ptr` points at `length` initialized
        // bytes owned by Envoy that stay valid for the duration of this copy.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.length) }.to_vec()
    }
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by the module, borrowed by
/// Envoy for one call.
#[repr(C)]
#[derive(Clone, Copy)]
struct ModuleBuffer {
    ptr: *const c_char,
    length: usize,
}

impl ModuleBuffer {
    fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer { ptr: bytes.as_ptr().cast(), length: bytes.len() }
    }

    /// A null buffer: `set_header` reads it as "remove the header".
    const NULL: ModuleBuffer = ModuleBuffer { ptr: ptr::null(), length: 0 };
}

/// `envoy_dynamic_module_type_envoy_http_header`: a header owned by Envoy's header map.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHttpHeader {
    key_ptr: *const c_char,
    key_length: usize,
    value_ptr: *const c_char,
    value_length: usize,
}

/// `envoy_dynamic_module_type_module_http_header`: a header owned by the module.
#[repr(C)]
struct ModuleHttpHeader {
    key_ptr: *const c_char,
    key_length: usize,
    value_ptr: *const c_char,
    value_length: usize,
}

impl ModuleHttpHeader {
    fn of(name: &str, value: &[u8]) -> ModuleHttpHeader {
        ModuleHttpHeader {
            key_ptr: name.as_ptr().cast(),
            key_length: name.len(),
            value_ptr: value.as_ptr().cast(),
            value_length: value.len(),
        }
    }
}

/// C enums are `int`.
type CEnum = i32;

// envoy_dynamic_module_type_http_header_type
const REQUEST_HEADER: CEnum = 0;
const RESPONSE_HEADER: CEnum = 2;
// envoy_dynamic_module_type_http_body_type
const RECEIVED_REQUEST_BODY: CEnum = 0;
// envoy_dynamic_module_type_log_level
const LOG_TRACE: CEnum = 0;
const LOG_DEBUG: CEnum = 1;
const LOG_INFO: CEnum = 2;
const LOG_WARN: CEnum = 3;
const LOG_ERROR: CEnum = 4;
// envoy_dynamic_module_type_metrics_result
const METRICS_SUCCESS: CEnum = 0;
// envoy_dynamic_module_type_http_callout_init_result
const CALLOUT_INIT_SUCCESS: CEnum = 0;
// envoy_dynamic_module_type_http_callout_result
const CALLOUT_SUCCESS: CEnum = 0;
// envoy_dynamic_module_type_attribute_id
const ATTRIBUTE_SOURCE_ADDRESS: CEnum = 24;
// connection.sha256_peer_certificate_digest: fourteen places after source.address in the
// v1.40 enum (source.port, destination.address/.port, connection.id, .mtls,
// .requested_server_name, .tls_version, then the subject, DNS SAN and URI SAN of the
// local and peer certificates). A wrong id would read another string, which no pin
// matches: the check would refuse, never let through.
const ATTRIBUTE_CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST: CEnum = 38;
// envoy_dynamic_module_type_on_http_filter_request_headers_status (and response)
const HEADERS_CONTINUE: CEnum = 0;
const HEADERS_STOP_ITERATION: CEnum = 1;
// envoy_dynamic_module_type_on_http_filter_request_body_status (and response)
const BODY_CONTINUE: CEnum = 0;
const BODY_STOP_ITERATION_AND_BUFFER: CEnum = 1;
const BODY_STOP_ITERATION_NO_BUFFER: CEnum = 3;
// envoy_dynamic_module_type_on_http_filter_request_trailers_status (and response)
const TRAILERS_CONTINUE: CEnum = 0;
const TRAILERS_STOP_ITERATION: CEnum = 1;

/// The ABI version this module is built for. Envoy 1.40 compares the string only:
/// `v0.2.0` is its own (older modules say `v0.1.0` and load with a warning).
static ABI_VERSION: &[u8] = b"v0.2.0\0";

// ---------------------------------------------------------------------------------
// Callbacks Envoy exports (`envoy_dynamic_module_callback_*`): only those used.
// ---------------------------------------------------------------------------------

extern "C" {
    fn envoy_dynamic_module_callback_log(level: CEnum, message: ModuleBuffer);

    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config_envoy: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        counter_id: *mut usize,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config_envoy: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        gauge_id: *mut usize,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config_envoy: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_config_set_gauge(
        config_envoy: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter_envoy: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> CEnum;

    fn envoy_dynamic_module_callback_http_get_headers_size(filter_envoy: *mut c_void, header_type: CEnum) -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        filter_envoy: *mut c_void,
        header_type: CEnum,
        result_headers: *mut EnvoyHttpHeader,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_header(
        filter_envoy: *mut c_void,
        header_type: CEnum,
        key: ModuleBuffer,
        result_buffer: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter_envoy: *mut c_void,
        header_type: CEnum,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter_envoy: *mut c_void,
        status_code: u32,
        headers_vector: *mut ModuleHttpHeader,
        headers_vector_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );

    fn envoy_dynamic_module_callback_http_get_body_chunks_size(filter_envoy: *mut c_void, body_type: CEnum) -> usize;
    fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter_envoy: *mut c_void,
        body_type: CEnum,
        result_buffer_vector: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_buffer_limit(filter_envoy: *mut c_void) -> u64;
    fn envoy_dynamic_module_callback_http_set_buffer_limit(filter_envoy: *mut c_void, limit: u64);

    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter_envoy: *mut c_void,
        attribute_id: CEnum,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter_envoy: *mut c_void,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config_envoy: *mut c_void,
        callout_id_out: *mut u64,
        cluster_name: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_milliseconds: u64,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter_envoy: *mut c_void,
        callout_id_out: *mut u64,
        cluster_name: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_milliseconds: u64,
    ) -> CEnum;
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter_envoy: *mut c_void);
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(config_envoy: *mut c_void) -> *mut c_void;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(scheduler: *mut c_void, event_id: u64);
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);
}

// ---------------------------------------------------------------------------------
// Safe handles on Envoy's objects
// ---------------------------------------------------------------------------------

/// Write one line to Envoy's log (its `dynamic_modules` logger).
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => LOG_TRACE,
        Level::Debug => LOG_DEBUG,
        Level::Info => LOG_INFO,
        Level::Warn => LOG_WARN,
        Level::Error => LOG_ERROR,
    };
    // SAFETY: the buffer borrows `message`, alive for the call; Envoy copies the text.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
}

/// Envoy's filter config object, valid from `config_new` until `config_destroy`. Used on
/// the main thread only (configuration, scheduled events, callout answers).
#[derive(Clone, Copy)]
pub struct Config {
    ptr: NonNull<c_void>,
}

impl Config {
    /// Define a counter; `None` if Envoy refused it (metrics are defined only while the
    /// configuration loads).
    pub fn define_counter(&self, name: &str) -> Option<usize> {
        let mut id = 0usize;
        // SAFETY: `ptr` is Envoy's live config (this handle exists only between
        // config_new and config_destroy); the name buffer and `id` are borrowed for the
        // call; no labels (null, 0), as the ABI allows.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_counter(
                self.ptr.as_ptr(),
                ModuleBuffer::of(name.as_bytes()),
                ptr::null_mut(),
                0,
                &mut id,
            )
        };
        (result == METRICS_SUCCESS).then_some(id)
    }

    pub fn define_gauge(&self, name: &str) -> Option<usize> {
        let mut id = 0usize;
        // SAFETY: as in `define_counter`.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_gauge(
                self.ptr.as_ptr(),
                ModuleBuffer::of(name.as_bytes()),
                ptr::null_mut(),
                0,
                &mut id,
            )
        };
        (result == METRICS_SUCCESS).then_some(id)
    }

    pub fn increment_counter(&self, id: usize) {
        // SAFETY: live config; `id` came from this config's define_counter; no labels.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.ptr.as_ptr(),
                id,
                ptr::null_mut(),
                0,
                1,
            )
        };
    }

    pub fn set_gauge(&self, id: usize, value: u64) {
        // SAFETY: live config; `id` came from this config's define_gauge; no labels.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_set_gauge(self.ptr.as_ptr(), id, ptr::null_mut(), 0, value)
        };
    }

    /// Send an HTTP request to `cluster`; its answer comes to
    /// `on_http_filter_config_http_callout_done` with the returned id. `None` if Envoy
    /// refused to start it (unknown cluster, missing pseudo-headers, no host).
    pub fn http_callout(&self, cluster: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Option<u64> {
        // SAFETY: live config, the object this callback takes.
        unsafe {
            http_callout(
                envoy_dynamic_module_callback_http_filter_config_http_callout,
                self.ptr.as_ptr(),
                cluster,
                headers,
                body,
                timeout,
            )
        }
    }

    /// A scheduler that posts events to this config on the main thread.
    pub fn scheduler(&self) -> Option<Scheduler> {
        // SAFETY: live config. Envoy allocates the scheduler; the module owns it from here
        // and deletes it in `Scheduler::drop`.
        let raw = unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.ptr.as_ptr()) };
        NonNull::new(raw).map(|ptr| Scheduler { ptr })
    }
}

/// Posts `on_http_filter_config_scheduled` events to the main thread; usable from any
/// thread. Owned by the module: deleted on drop.
pub struct Scheduler {
    ptr: NonNull<c_void>,
}

// SAFETY: the ABI documents the config scheduler as the way to reach the main thread
// "from any thread": commit may be called on another thread than the one that created
// it. Deletion happens once, in `drop`, which takes the scheduler by value, so no commit
// can run concurrently with it (the owner joins the committing thread first).
unsafe impl Send for Scheduler {}
// SAFETY: `commit` takes `&self` and Envoy's commit is itself thread-safe (it posts to
// the main dispatcher); nothing else is reachable through a shared reference.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    pub fn commit(&self, event_id: u64) {
        // SAFETY: the scheduler is alive (deleted only in drop).
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.ptr.as_ptr(), event_id) }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: created by scheduler_new, owned by this value, deleted exactly once.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.ptr.as_ptr()) }
    }
}

/// Envoy's filter of one request, borrowed for the duration of one hook.
pub struct Filter {
    ptr: NonNull<c_void>,
}

/// The shape both callout callbacks share (the config's and a filter's).
type CalloutFn =
    unsafe extern "C" fn(*mut c_void, *mut u64, ModuleBuffer, *mut ModuleHttpHeader, usize, ModuleBuffer, u64) -> CEnum;

/// Start a callout through `callback` on `owner`; the id Envoy gave it, or `None` if
/// Envoy refused to start it.
///
/// # Safety
/// `owner` must be the live object `callback` takes (the config, or the filter of the
/// current hook).
unsafe fn http_callout(
    callback: CalloutFn,
    owner: *mut c_void,
    cluster: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<u64> {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let mut raw: Vec<ModuleHttpHeader> = headers.iter().map(|(n, v)| ModuleHttpHeader::of(n, v.as_bytes())).collect();
    let mut id = 0u64;
    // SAFETY: `owner` is live (the caller's promise); every buffer (cluster, the header
    // array and the strings it points into, body) is borrowed for the call only, and
    // Envoy copies what it sends.
    let result = unsafe {
        callback(
            owner,
            &mut id,
            ModuleBuffer::of(cluster.as_bytes()),
            raw.as_mut_ptr(),
            raw.len(),
            ModuleBuffer::of(body),
            timeout_ms,
        )
    };
    (result == CALLOUT_INIT_SUCCESS).then_some(id)
}

impl Filter {
    /// Send an HTTP request to `cluster` for this request; its answer comes to
    /// `on_http_filter_http_callout_done` of this filter with the returned id, unless
    /// the filter is destroyed first (Envoy then cancels the callout and calls nothing).
    /// `None` if Envoy refused to start it (unknown cluster, missing pseudo-headers, no
    /// healthy host).
    pub fn http_callout(&self, cluster: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Option<u64> {
        // SAFETY: the live filter of the current hook, the object this callback takes.
        unsafe {
            http_callout(
                envoy_dynamic_module_callback_http_filter_http_callout,
                self.ptr.as_ptr(),
                cluster,
                headers,
                body,
                timeout,
            )
        }
    }

    /// Resume a request the filter held (headers, and the body buffered meanwhile, go on).
    pub fn continue_decoding(&self) {
        // SAFETY: the live filter of the current hook (the callout-done hook of this filter).
        unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(self.ptr.as_ptr()) }
    }

    /// Every request header in order, pseudo-headers included, values as raw bytes: laid
    /// out in one buffer (the core's header map), copied straight from Envoy's.
    pub fn request_headers(&self) -> Headers {
        const NONE: EnvoyHttpHeader =
            EnvoyHttpHeader { key_ptr: ptr::null(), key_length: 0, value_ptr: ptr::null(), value_length: 0 };
        // Room for a usual request's headers on the stack; more take a Vec.
        let mut on_stack = [NONE; 32];
        let mut on_heap = Vec::new();
        // SAFETY: `ptr` is the live filter of the current hook.
        let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(self.ptr.as_ptr(), REQUEST_HEADER) };
        let raw: &mut [EnvoyHttpHeader] = match on_stack.get_mut(..n) {
            Some(raw) => raw,
            None => {
                on_heap.resize(n, NONE);
                &mut on_heap
            }
        };
        // SAFETY: `raw` has room for the `n` headers Envoy just counted (no setter ran in
        // between); Envoy fills it with pointers into its header map.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_get_headers(self.ptr.as_ptr(), REQUEST_HEADER, raw.as_mut_ptr())
        };
        if !ok {
            return Headers::default();
        }
        // SAFETY: both buffers of each header point into Envoy's header map, valid until
        // this hook returns or a setter runs; `from_pairs` copies them, before either.
        Headers::from_pairs(raw.iter().map(|h| unsafe {
            (
                EnvoyBuffer { ptr: h.key_ptr, length: h.key_length }.as_slice(),
                EnvoyBuffer { ptr: h.value_ptr, length: h.value_length }.as_slice(),
            )
        }))
    }

    /// The first value of response header `name`.
    pub fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        let mut out = EnvoyBuffer::EMPTY;
        let mut count = 0usize;
        // SAFETY: live filter; the key is borrowed for the call; `out` and `count` are
        // written by Envoy.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.ptr.as_ptr(),
                RESPONSE_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                &mut out,
                0,
                &mut count,
            )
        };
        if !ok || count == 0 {
            return None;
        }
        // SAFETY: `out` was just filled by Envoy in this hook; copied before any setter.
        Some(unsafe { out.to_vec() })
    }

    /// Replace every value of request header `name` (`None`: remove it).
    pub fn set_request_header(&self, name: &str, value: Option<&[u8]>) {
        let value = value.map_or(ModuleBuffer::NULL, ModuleBuffer::of);
        // SAFETY: live filter; both buffers borrowed for the call (Envoy copies them); a
        // null value buffer asks Envoy to remove the header.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.ptr.as_ptr(),
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                value,
            )
        };
    }

    /// Answer the request locally.
    pub fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let mut raw: Vec<ModuleHttpHeader> =
            headers.iter().map(|(n, v)| ModuleHttpHeader::of(n, v.as_bytes())).collect();
        // SAFETY: live filter; the header array, the strings it points into, the body and
        // the details are borrowed for the call only (Envoy copies them into the reply).
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.ptr.as_ptr(),
                status,
                raw.as_mut_ptr(),
                raw.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(details.as_bytes()),
            )
        };
    }

    /// Append the request body chunk of the current body hook to `out`.
    pub fn append_received_request_body(&self, out: &mut Vec<u8>) {
        // SAFETY: live filter, inside a request-body hook (the only place the received
        // body exists).
        let n = unsafe {
            envoy_dynamic_module_callback_http_get_body_chunks_size(self.ptr.as_ptr(), RECEIVED_REQUEST_BODY)
        };
        if n == 0 {
            return;
        }
        let mut chunks = vec![EnvoyBuffer::EMPTY; n];
        // SAFETY: `chunks` has room for the `n` slices Envoy just counted.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_get_body_chunks(
                self.ptr.as_ptr(),
                RECEIVED_REQUEST_BODY,
                chunks.as_mut_ptr(),
            )
        };
        if !ok {
            return;
        }
        for chunk in chunks {
            if chunk.ptr.is_null() || chunk.length == 0 {
                continue;
            }
            // SAFETY: each slice points into Envoy's buffer of this hook, valid until it
            // returns; copied now.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(chunk.ptr.cast::<u8>(), chunk.length) });
        }
    }

    /// Let Envoy buffer at least `limit` bytes of this request (never lowers it).
    pub fn raise_buffer_limit(&self, limit: u64) {
        // SAFETY: live filter.
        let current = unsafe { envoy_dynamic_module_callback_http_get_buffer_limit(self.ptr.as_ptr()) };
        // 0 means no limit at all.
        if current != 0 && current < limit {
            // SAFETY: live filter.
            unsafe { envoy_dynamic_module_callback_http_set_buffer_limit(self.ptr.as_ptr(), limit) };
        }
    }

    /// `source.address` as Envoy prints it (`1.2.3.4:5678`, `[::1]:5678`).
    pub fn source_address(&self) -> Option<String> {
        String::from_utf8(self.attribute_string(ATTRIBUTE_SOURCE_ADDRESS)?).ok()
    }

    /// `connection.sha256_peer_certificate_digest`: the client certificate's SHA-256 in
    /// lower-case hex; `None` without TLS or without a client certificate.
    pub fn peer_certificate_sha256_digest(&self) -> Option<Vec<u8>> {
        self.attribute_string(ATTRIBUTE_CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST).filter(|d| !d.is_empty())
    }

    fn attribute_string(&self, id: CEnum) -> Option<Vec<u8>> {
        let mut out = EnvoyBuffer::EMPTY;
        // SAFETY: live filter; `out` is written by Envoy.
        let ok =
            unsafe { envoy_dynamic_module_callback_http_filter_get_attribute_string(self.ptr.as_ptr(), id, &mut out) };
        if !ok {
            return None;
        }
        // SAFETY: filled by Envoy in this hook; copied before any setter.
        Some(unsafe { out.to_vec() })
    }

    /// Set a string filter state object (read by `%FILTER_STATE(<key>:PLAIN)%`).
    pub fn set_filter_state(&self, key: &str, value: &str) {
        // SAFETY: live filter; both buffers borrowed for the call (Envoy copies them).
        unsafe {
            envoy_dynamic_module_callback_http_set_filter_state_bytes(
                self.ptr.as_ptr(),
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        };
    }

    /// Add 1 to a counter of the config this filter belongs to.
    pub fn increment_counter(&self, id: usize) {
        // SAFETY: live filter, created from the config that defined `id`; no labels.
        unsafe {
            envoy_dynamic_module_callback_http_filter_increment_counter(self.ptr.as_ptr(), id, ptr::null_mut(), 0, 1)
        };
    }
}

fn headers_status(flow: Flow) -> CEnum {
    match flow {
        Flow::Continue => HEADERS_CONTINUE,
        Flow::Buffer | Flow::Stop => HEADERS_STOP_ITERATION,
    }
}

fn body_status(flow: Flow) -> CEnum {
    match flow {
        Flow::Continue => BODY_CONTINUE,
        Flow::Buffer => BODY_STOP_ITERATION_AND_BUFFER,
        Flow::Stop => BODY_STOP_ITERATION_NO_BUFFER,
    }
}

fn trailers_status(flow: Flow) -> CEnum {
    match flow {
        Flow::Continue => TRAILERS_CONTINUE,
        Flow::Buffer | Flow::Stop => TRAILERS_STOP_ITERATION,
    }
}

// ---------------------------------------------------------------------------------
// Hooks Envoy calls (`envoy_dynamic_module_on_*`)
// ---------------------------------------------------------------------------------

/// Hand a module object to Envoy: it keeps the pointer until the matching destroy hook,
/// which gives it back to [`reclaim`].
fn hand_over<T>(value: T) -> *const c_void {
    Box::into_raw(Box::new(value)).cast_const().cast()
}

/// Take back and drop a module object Envoy is done with (a panic in its drop is logged,
/// not unwound into Envoy).
///
/// # Safety
/// `ptr` must come from [`hand_over`] with the same `T` and be reclaimed only once: Envoy
/// calls each destroy hook once per object and nothing with it afterwards.
unsafe fn reclaim<T>(ptr: *const c_void, what: &str) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per the contract, a live Box<T> made by hand_over, reclaimed exactly once.
    let value = unsafe { Box::from_raw(ptr.cast_mut().cast::<T>()) };
    if catch_unwind(AssertUnwindSafe(|| drop(value))).is_err() {
        log(Level::Error, &format!("webhook-guard: internal error while unloading {what}"));
    }
}

/// Borrow the module's config behind `config_module`.
///
/// # Safety
/// `config_module` must be a pointer returned by `on_http_filter_config_new` and not yet
/// passed to `on_http_filter_config_destroy` (Envoy guarantees this for every hook that
/// hands it over).
unsafe fn config_ref<'a>(config_module: *const c_void) -> Option<&'a FilterConfig> {
    // SAFETY: per the contract, a live `Box<FilterConfig>` made in config_new.
    unsafe { config_module.cast::<FilterConfig>().as_ref() }
}

/// Run a request hook: the guard and Envoy's filter, and on a panic the internal refusal.
///
/// # Safety
/// `filter_module` must be a pointer returned by `on_http_filter_new` and not yet
/// destroyed; `filter_envoy` the live Envoy filter of the current hook.
unsafe fn with_guard(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    hook: impl FnOnce(&mut Guard, &Filter) -> Flow,
) -> Flow {
    // Envoy never passes null here; should it, pass nothing on (fail closed).
    let Some(ptr) = NonNull::new(filter_envoy) else { return Flow::Stop };
    let filter = Filter { ptr };
    // SAFETY: per the contract, a live `Box<Guard>` made in on_http_filter_new. Envoy
    // calls a filter's hooks one at a time on its worker thread, so this is the only
    // reference to it while the hook runs.
    let Some(guard) = (unsafe { filter_module.cast_mut().cast::<Guard>().as_mut() }) else { return Flow::Stop };
    match catch_unwind(AssertUnwindSafe(|| hook(guard, &filter))) {
        Ok(flow) => flow,
        Err(_) => {
            // The panic hook already logged where. Refusing must not panic in turn; if it
            // does, the request is reset rather than Envoy aborted.
            catch_unwind(AssertUnwindSafe(|| guard.refuse_internal(&filter))).unwrap_or(Flow::Stop)
        }
    }
}

/// A callout's answer as its done hook hands it over: the `:status` as a number (0 when
/// there is none) and at most [`webhook_guard::host::CALLOUT_BODY_LIMIT`] bytes of the
/// body, copied out.
///
/// # Safety
/// The arguments must be those of a callout-done hook that is running: `headers` points at
/// `headers_size` headers and `body_chunks` at `body_chunks_size` slices (or either is
/// null), all valid until the hook returns.
unsafe fn callout_answer(
    result: CEnum,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) -> (u32, Vec<u8>) {
    // Envoy answers a timed-out callout with 504; a reset or an oversized answer has no
    // status: 0, a failed fetch.
    let mut status = 0u32;
    let mut body = Vec::new();
    if result == CALLOUT_SUCCESS {
        let headers: &[EnvoyHttpHeader] = if headers.is_null() || headers_size == 0 {
            &[]
        } else {
            // SAFETY: Envoy passes `headers_size` headers, valid for this hook.
            unsafe { std::slice::from_raw_parts(headers, headers_size) }
        };
        for h in headers {
            // SAFETY: buffers into Envoy's response headers, valid for this hook.
            let key = unsafe { EnvoyBuffer { ptr: h.key_ptr, length: h.key_length }.to_vec() };
            if key == b":status" {
                // SAFETY: as above.
                let value = unsafe { EnvoyBuffer { ptr: h.value_ptr, length: h.value_length }.to_vec() };
                status = std::str::from_utf8(&value).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            }
        }
        let chunks: &[EnvoyBuffer] = if body_chunks.is_null() || body_chunks_size == 0 {
            &[]
        } else {
            // SAFETY: Envoy passes `body_chunks_size` slices, valid for this hook.
            unsafe { std::slice::from_raw_parts(body_chunks, body_chunks_size) }
        };
        let limit = webhook_guard::host::CALLOUT_BODY_LIMIT;
        for chunk in chunks {
            if body.len() >= limit {
                break;
            }
            // SAFETY: each slice is Envoy's, valid for this hook; copied now.
            let bytes = unsafe { chunk.to_vec() };
            let room = limit - body.len();
            body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
    }
    (status, body)
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    crate::filter::install_panic_hook();
    ABI_VERSION.as_ptr().cast()
}

/// # Safety
/// Called by Envoy with its live config object and two buffers it owns for the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    let Some(ptr) = NonNull::new(config_envoy) else { return ptr::null() };
    // SAFETY: both buffers are Envoy's arguments to this hook, valid until it returns.
    let (name, config) = unsafe { (name.to_vec(), config.to_vec()) };
    let made = catch_unwind(AssertUnwindSafe(|| FilterConfig::new(Config { ptr }, &name, &config)));
    match made {
        Ok(Some(config)) => hand_over(config),
        // Null makes Envoy refuse the configuration: fail closed.
        Ok(None) => ptr::null(),
        Err(_) => {
            log(Level::Error, "webhook-guard: invalid configuration: internal error while loading it");
            ptr::null()
        }
    }
}

/// # Safety
/// `config_module` is a pointer this module returned from config_new, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config_module: *const c_void) {
    // SAFETY: handed over by config_new; Envoy destroys each config once.
    unsafe { reclaim::<FilterConfig>(config_module, "the configuration") }
}

/// # Safety
/// `config_module` is a live config of this module; `config_envoy` Envoy's.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: *mut c_void,
    config_module: *const c_void,
    event_id: u64,
) {
    let Some(ptr) = NonNull::new(config_envoy) else { return };
    // SAFETY: a live config per the contract.
    let Some(config) = (unsafe { config_ref(config_module) }) else { return };
    if catch_unwind(AssertUnwindSafe(|| config.on_scheduled(Config { ptr }, event_id))).is_err() {
        log(Level::Error, "webhook-guard: internal error in a remote-list tick");
    }
}

/// # Safety
/// `config_module` is a live config of this module; headers and body chunks are Envoy's,
/// valid until this hook returns (null when absent).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    config_envoy: *mut c_void,
    config_module: *const c_void,
    callout_id: u64,
    result: CEnum,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    let Some(ptr) = NonNull::new(config_envoy) else { return };
    // SAFETY: a live config per the contract.
    let Some(config) = (unsafe { config_ref(config_module) }) else { return };
    // SAFETY: the arguments of this hook, passed on as Envoy gave them.
    let (status, body) = unsafe { callout_answer(result, headers, headers_size, body_chunks, body_chunks_size) };
    if catch_unwind(AssertUnwindSafe(|| config.on_callout_done(Config { ptr }, callout_id, status, &body))).is_err() {
        log(Level::Error, "webhook-guard: internal error handling a remote-list answer");
    }
}

/// # Safety
/// `config_module` is a live config of this module; `filter_envoy` Envoy's new filter.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config_module: *const c_void,
    _filter_envoy: *mut c_void,
) -> *const c_void {
    // SAFETY: a live config per the contract.
    let Some(config) = (unsafe { config_ref(config_module) }) else { return ptr::null() };
    match catch_unwind(AssertUnwindSafe(|| Guard::new(config))) {
        Ok(guard) => hand_over(guard),
        Err(_) => {
            // Null makes Envoy close the stream: nothing goes upstream unchecked.
            log(Level::Error, "webhook-guard: internal error creating a request's filter");
            ptr::null()
        }
    }
}

/// # Safety
/// `filter_module` is a pointer this module returned from on_http_filter_new.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter_module: *const c_void) {
    // SAFETY: handed over by on_http_filter_new; Envoy destroys each filter once.
    unsafe { reclaim::<Guard>(filter_module, "a request's filter") }
}

/// # Safety
/// Envoy's live filter and this module's filter of the same stream.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    end_of_stream: bool,
) -> CEnum {
    // SAFETY: the pointers Envoy hands to this hook, per with_guard's contract.
    headers_status(unsafe { with_guard(filter_envoy, filter_module, |g, f| g.on_request_headers(f, end_of_stream)) })
}

/// # Safety
/// Envoy's live filter and this module's filter of the same stream.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    end_of_stream: bool,
) -> CEnum {
    // SAFETY: the pointers Envoy hands to this hook, per with_guard's contract.
    body_status(unsafe { with_guard(filter_envoy, filter_module, |g, f| g.on_request_body(f, end_of_stream)) })
}

/// # Safety
/// Envoy's live filter and this module's filter of the same stream.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
) -> CEnum {
    // SAFETY: the pointers Envoy hands to this hook, per with_guard's contract.
    trailers_status(unsafe { with_guard(filter_envoy, filter_module, |g, f| g.on_request_trailers(f)) })
}

/// # Safety
/// Envoy's live filter and this module's filter of the same stream.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    _end_of_stream: bool,
) -> CEnum {
    // SAFETY: the pointers Envoy hands to this hook, per with_guard's contract.
    headers_status(unsafe { with_guard(filter_envoy, filter_module, |g, f| g.on_response_headers(f)) })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _end_of_stream: bool,
) -> CEnum {
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
) -> CEnum {
    TRAILERS_CONTINUE
}

/// The answer to a callout a request dispatched (a key it waits for). Envoy calls this
/// only while the filter lives: a filter destroyed first (a reset) has its callouts
/// cancelled, and Envoy checks that the module's filter is still there before calling.
///
/// # Safety
/// Envoy's live filter and this module's filter of the same stream; headers and body
/// chunks are Envoy's, valid until this hook returns (null when absent).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter_envoy: *mut c_void,
    filter_module: *const c_void,
    callout_id: u64,
    result: CEnum,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    // SAFETY: the arguments of this hook, passed on as Envoy gave them.
    let (status, body) = unsafe { callout_answer(result, headers, headers_size, body_chunks, body_chunks_size) };
    // SAFETY: the pointers Envoy hands to this hook, per with_guard's contract.
    let flow =
        unsafe { with_guard(filter_envoy, filter_module, |g, f| g.on_callout_done(f, callout_id, status, &body)) };
    if flow == Flow::Continue {
        if let Some(ptr) = NonNull::new(filter_envoy) {
            Filter { ptr }.continue_decoding();
        }
    }
}

// Hooks Envoy requires of every HTTP filter module but this filter has no use for: it
// starts no per-request stream or scheduler and is no terminal filter.

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _stream_id: u64,
    _headers: *const EnvoyHttpHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _stream_id: u64,
    _trailers: *const EnvoyHttpHeader,
    _trailers_size: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _stream_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _stream_id: u64,
    _reason: CEnum,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
    _event_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter_envoy: *mut c_void,
    _filter_module: *const c_void,
) {
}
