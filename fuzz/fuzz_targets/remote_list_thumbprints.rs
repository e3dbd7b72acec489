//! A remote list answer holding certificate thumbprints (Copyleaks' API).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::remote_thumbprints(data));
