//! GitHub `X-Hub-Signature-256` parsing and verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str =
    r#"{"signature":{"scheme":"github","secrets":[{"value":"It's a Secret to Everybody"}],"dedupe":{}}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 0);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
