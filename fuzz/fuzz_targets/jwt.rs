//! Bearer JWT (HS256/384/512, issuer, audience, max age) and a secret header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"headers":[{"name":"x-waf-token","secrets":[{"value":"waf-secret"}],"strip":true}],"jwt":{"secrets":[{"id":"current","value":"jwt-test-secret"}],"algorithms":["HS256","HS384","HS512"],"issuer":"flatfile","audiences":["webhooks"],"max_age_seconds":300}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 1_700_000_010);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
