//! The one hostcall the Wasm shell makes without the SDK: the request's header map as
//! the single buffer Envoy serializes it into. The SDK's `get_map_bytes` makes the same
//! call, then copies every name into a `String` and every value into a `Vec` (two
//! allocations per header); the core reads the buffer in place instead
//! ([`crate::request::Headers`]). The only `unsafe` of the Wasm edition.
#![allow(unsafe_code, reason = "the header map's buffer, handed over by Envoy: see the SAFETY lines")]

use std::ptr::null_mut;

// proxy-wasm ABI 0.2.1: `proxy_map_type_t` HttpRequestHeaders, `proxy_result_t` Ok.
const HTTP_REQUEST_HEADERS: u32 = 0;
const STATUS_OK: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    // Status and map type as plain u32: a status outside the SDK's enum must not be UB.
    fn proxy_get_header_map_pairs(map_type: u32, return_map_data: *mut *mut u8, return_map_size: *mut usize) -> u32;
}

/// The request headers in proxy-wasm's serialized layout, owned by the module; `None`
/// when Envoy has none to give (no request headers in this context).
pub fn request_header_map() -> Option<Vec<u8>> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: both out-pointers are live locals Envoy writes once during the call.
    let status = unsafe { proxy_get_header_map_pairs(HTTP_REQUEST_HEADERS, &mut data, &mut size) };
    if status != STATUS_OK {
        return None;
    }
    if data.is_null() {
        return Some(Vec::new());
    }
    // SAFETY: Envoy got `data` from the allocator this module exports to it (the SDK's
    // `proxy_on_memory_allocate`: a boxed slice of exactly `size` bytes, alignment 1,
    // from the global allocator), filled all `size` bytes, and hands ownership over with
    // the call, as the SDK's own `get_map_bytes` takes it: this Vec owns and frees it
    // with the same global allocator, and nothing else refers to it.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}
