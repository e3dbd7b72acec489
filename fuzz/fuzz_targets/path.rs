//! Path interpretation: every reading of a request path, and the route it reaches.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::path(data));
