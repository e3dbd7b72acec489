//! A remote list answer holding CIDRs and addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::remote_cidrs(data));
