//! Stripe `Stripe-Signature` (`t=..,v1=..`) parsing, tolerance and verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str =
    r#"{"signature":{"scheme":"stripe","secrets":[{"value":"whsec_test_secret"}],"tolerance_seconds":60}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 1_700_000_030);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
