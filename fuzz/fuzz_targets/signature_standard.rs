//! Standard Webhooks (`webhook-*` and `svix-*`) parsing and verification, with rotation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"signature":{"scheme":"standard","secrets":[{"id":"current","value":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},{"id":"previous","value":"whsec_c2VjcmV0","not_after":"2030-01-01T00:00:00Z"}],"dedupe":{}}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 1_614_265_330);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
