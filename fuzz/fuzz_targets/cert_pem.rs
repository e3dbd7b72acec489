//! A client certificate in PEM (how the filter reads `connection.peer_certificate`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::pem(data));
