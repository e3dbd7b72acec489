//! The plugin configuration, as Envoy hands it over.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::config(data));
