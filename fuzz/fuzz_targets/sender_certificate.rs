//! A certificate document as PayPal's certificate URL answers it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| webhook_guard_fuzz::sender_certificate(data));
