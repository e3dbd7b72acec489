//! The generic scheme with every template placeholder, a prefix, a timestamp and an id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_guard_fuzz::Target;

const CHECKS: &str = r#"{"signature":{"scheme":"generic","secrets":[{"value":"g"}],"header":"X-Sig","algorithm":"sha512","encoding":"base64","prefix":"sha512=","timestamp_header":"X-Ts","id_header":"X-Id","signed_payload":"{method} {path}|{id}|{timestamp}.{body}","dedupe":{}}}"#;

thread_local! {
    static TARGET: Target = Target::new(CHECKS, 1000);
}

fuzz_target!(|data: &[u8]| TARGET.with(|t| t.request(data)));
