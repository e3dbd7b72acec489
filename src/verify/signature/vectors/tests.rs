//! Adyen: every item of a notification signed on its own (per-item HMAC over named
//! fields), one bad item refusing the whole request.

use super::*;

/// An Adyen notification of `items`, each `(pspReference, value, signature)`.
fn adyen_body(items: &[(&str, &str, &str)]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|(psp, value, sig)| {
            format!(
                r#"{{"NotificationRequestItem":{{"additionalData":{{"hmacSignature":"{sig}"}},"amount":{{"currency":"EUR","value":{value}}},"eventCode":"AUTHORISATION","merchantAccountCode":"Shop","merchantReference":"order-1","pspReference":"{psp}","success":"true"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"live":"false","notificationItems":[{}]}}"#, items.join(","))
}

fn adyen_sig(key: &[u8], psp: &str, value: &str) -> String {
    let signed = format!("{psp}::Shop:order-1:{value}:EUR:AUTHORISATION:true");
    base64::engine::general_purpose::STANDARD.encode(mac(Mac::Sha256, key, &[signed.as_bytes()]))
}

#[test]
fn adyen_every_item_must_verify_with_one_key() {
    let (k1, k2) = ("00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100");
    let c = check(&format!(
        r#"{{"scheme":"adyen","secrets":[{{"id":"new","value":"{k1}"}},{{"id":"old","value":"{k2}"}}]}}"#
    ));
    let key = |hex: &str| crate::verify::encoding::hex_decode(hex.as_bytes()).unwrap();
    let at = req(NOW, "POST", "/a", &[]);
    let a = adyen_sig(&key(k1), "p1", "100");
    let b = adyen_sig(&key(k1), "p2", "250");
    assert_eq!(c.verify(&at, adyen_body(&[("p1", "100", &a), ("p2", "250", &b)]).as_bytes()), Ok("new"));
    // One bad item refuses the whole request, wherever it is.
    let bad = adyen_sig(&key(k1), "p2", "251");
    assert_eq!(
        c.verify(&at, adyen_body(&[("p1", "100", &a), ("p2", "250", &bad)]).as_bytes()),
        Err(Denial::SignatureMismatch)
    );
    assert_eq!(
        c.verify(&at, adyen_body(&[("p2", "250", &bad), ("p1", "100", &a)]).as_bytes()),
        Err(Denial::SignatureMismatch)
    );
    // The items are signed with one key: one item per key is not a notification Adyen sends.
    let old = adyen_sig(&key(k2), "p2", "250");
    assert_eq!(
        c.verify(&at, adyen_body(&[("p1", "100", &a), ("p2", "250", &old)]).as_bytes()),
        Err(Denial::SignatureMismatch)
    );
    assert_eq!(c.verify(&at, adyen_body(&[("p2", "250", &old)]).as_bytes()), Ok("old"));
    // A signature moved to another item does not verify it.
    assert_eq!(c.verify(&at, adyen_body(&[("p1", "100", &b)]).as_bytes()), Err(Denial::SignatureMismatch));
}

#[test]
fn adyen_refuses_what_it_cannot_read_by_name() {
    let k = "00112233445566778899AABBCCDDEEFF";
    let c = check(&format!(r#"{{"scheme":"adyen","secrets":[{{"value":"{k}"}}]}}"#));
    let key = crate::verify::encoding::hex_decode(k.as_bytes()).unwrap();
    let at = req(NOW, "POST", "/a", &[]);
    let sig = adyen_sig(&key, "p1", "100");
    let v = |body: &str| c.verify(&at, body.as_bytes());
    assert_eq!(v(&adyen_body(&[("p1", "100", &sig)])), Ok("0"));
    assert_eq!(v("not json"), Err(Denial::PayloadNotJson));
    assert_eq!(v(r#"{"live":"false"}"#), Err(Denial::SignedFieldMalformed));
    assert_eq!(v(r#"{"notificationItems":[]}"#), Err(Denial::SignedFieldMalformed));
    assert_eq!(v(&adyen_body(&[("p1", "\"100\"", &sig)])), Err(Denial::SignedFieldMalformed));
    assert_eq!(v(&adyen_body(&[("p1", "100.0", &sig)])), Err(Denial::SignedFieldMalformed));
    assert_eq!(v(&adyen_body(&[("p1", "100", "")])), Err(Denial::SignatureMissing));
    assert_eq!(v(&adyen_body(&[("p1", "100", "not base64!")])), Err(Denial::SignatureMalformed));
    // The signature's text exactly: no padding dropped, no bits beyond the digest.
    assert_eq!(v(&adyen_body(&[("p1", "100", sig.trim_end_matches('='))])), Err(Denial::SignatureMalformed));
    let no_signature = adyen_body(&[("p1", "100", &sig)])
        .replace(r#""additionalData":{"hmacSignature":"#, r#""additionalData":{"other":"#);
    assert_eq!(v(&no_signature), Err(Denial::SignatureMissing));
    let numeric_psp = adyen_body(&[("p1", "100", &sig)]).replace(r#""pspReference":"p1""#, r#""pspReference":1"#);
    assert_eq!(v(&numeric_psp), Err(Denial::SignedFieldMalformed));
    // Fields the signature does not cover may change; those it covers may not.
    let unsigned = adyen_body(&[("p1", "100", &sig)]).replace(r#""live":"false""#, r#""live":"true""#);
    assert_eq!(v(&unsigned), Ok("0"));
    let code = adyen_body(&[("p1", "100", &sig)]).replace("AUTHORISATION", "REFUND");
    assert_eq!(v(&code), Err(Denial::SignatureMismatch));
    // The key is hex: anything else is a configuration error that names the field.
    let e = compile_err(r#"{"scheme":"adyen","secrets":[{"value":"not-hex"}]}"#);
    assert!(e.starts_with("sig.secrets[0]"), "{e}");
}

mod adyen_properties {
    use super::*;
    use crate::verify::signature::sign::{Message, Signer, SigningKey};
    use proptest::prelude::*;

    const KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

    /// A notification of one item with these fields, as JSON text (escaped by `{:?}` of a
    /// `String`, which writes JSON-compatible escapes for the characters drawn here).
    fn body(psp: &str, reference: &str, value: i64, success: &str) -> String {
        format!(
            r#"{{"notificationItems":[{{"NotificationRequestItem":{{"amount":{{"currency":"EUR","value":{value}}},"eventCode":"AUTHORISATION","merchantReference":{reference:?},"pspReference":{psp:?},"success":{success:?}}}}}]}}"#
        )
    }

    fn sign(text: &str) -> Vec<u8> {
        let m =
            Message { method: "POST", url: "https://h/a", body: text.as_bytes(), timestamp: None, id: None, now: NOW };
        Signer::preset("adyen").unwrap().sign(SigningKey::Secret(KEY.as_bytes()), &m).unwrap().body
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn signed_items_verify_and_any_changed_signed_field_is_refused(
            psp in "[A-Za-z0-9:\\\\ ]{0,24}",
            reference in "[a-z0-9:é-]{0,24}",
            value in any::<i64>(),
            success in prop::sample::select(vec!["true", "false"]),
        ) {
            let c = check(&format!(r#"{{"scheme":"adyen","secrets":[{{"value":"{KEY}"}}]}}"#));
            let at = req(NOW, "POST", "/a", &[]);
            let signed = String::from_utf8(sign(&body(&psp, &reference, value, success))).unwrap();
            prop_assert_eq!(c.verify(&at, signed.as_bytes()), Ok("0"));
            let sig = signed.split("\"hmacSignature\":\"").nth(1).unwrap().split('"').next().unwrap();
            let with = |b: String| {
                b.replace(r#""NotificationRequestItem":{"#, &format!(r#""NotificationRequestItem":{{"additionalData":{{"hmacSignature":"{sig}"}},"#))
            };
            let other = if success == "true" { "false" } else { "true" };
            for changed in [
                body(&format!("{psp}x"), &reference, value, success),
                body(&psp, &format!("{reference}x"), value, success),
                body(&psp, &reference, value.wrapping_add(1), success),
                body(&psp, &reference, value, other),
            ] {
                prop_assert_eq!(c.verify(&at, with(changed).as_bytes()), Err(Denial::SignatureMismatch));
            }
        }
    }
}
