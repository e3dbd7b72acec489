//! RFC 3339 times (`not_after`, a login answer's expiry).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::rfc3339(data));
