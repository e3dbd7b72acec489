//! Event Grid's validation event and CloudEvents `OPTIONS` behind a secret header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"headers":[{"name":"x-k","secrets":[{"value":"k"}]}],"event_grid":{"allowed_rate":60}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 0);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
