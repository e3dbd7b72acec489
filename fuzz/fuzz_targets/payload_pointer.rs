//! `developer_payload` found by a JSON pointer and compared with the secrets (the body is the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"developer_payload":{"pointer":"/developerPayload","secrets":[{"id":"current","value":"dp-secret-1"},{"id":"old","value":"dp-secret-0"}]}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 0);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.body(data)));
