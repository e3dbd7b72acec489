//! An answer of Plaid's `/webhook_verification_key/get`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::plaid_key(data));
