//! `developer_payload` bound by HMAC to another field of the body (the body is the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"developer_payload":{"pointer":"/p","secrets":[{"value":"key"}],"bound_to":"/m"}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 0);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.body(data)));
