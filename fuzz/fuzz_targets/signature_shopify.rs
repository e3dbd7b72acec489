//! Shopify `X-Shopify-Hmac-Sha256` (base64) parsing and verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"signature":{"scheme":"shopify","secrets":[{"value":"shpss_x"}],"dedupe":{}}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 0);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
