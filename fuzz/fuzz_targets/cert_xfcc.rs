//! The `x-forwarded-client-cert` header value Envoy sets under SANITIZE_SET.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::xfcc(data));
