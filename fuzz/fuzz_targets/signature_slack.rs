//! Slack `X-Slack-Signature` and `X-Slack-Request-Timestamp` parsing and verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str =
    r#"{"signature":{"scheme":"slack","secrets":[{"id":"current","value":"8f742231b10e8888abcd99yyyzzz85a5"}]}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 1_531_420_618);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
