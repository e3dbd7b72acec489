use super::*;
use base64::Engine;

/// Keys and tokens made by an independent implementation (PyJWT on `cryptography`),
/// each token checked by it before it was written down.
const VECTORS: &str = include_str!("vectors.json");

fn vectors() -> Json {
    json::parse(VECTORS.as_bytes()).unwrap()
}

fn member<'a>(j: &'a Json, name: &str) -> &'a Json {
    match j {
        Json::Object(m) => &m.iter().find(|(k, _)| k == name).unwrap().1,
        _ => panic!("not an object"),
    }
}

fn text<'a>(j: &'a Json, name: &str) -> &'a str {
    match member(j, name) {
        Json::String(s) => s,
        _ => panic!("{name} is not a string"),
    }
}

fn jwks_text() -> String {
    let v = vectors();
    let Json::Array(keys) = member(member(&v, "jwks"), "keys") else { panic!() };
    // Re-serialized from the tree: the document as a server would send it.
    let keys: Vec<String> = keys.iter().map(to_json).collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn to_json(j: &Json) -> String {
    match j {
        Json::String(s) => serde_json::to_string(s).unwrap(),
        Json::Bool(b) => b.to_string(),
        Json::Array(items) => format!("[{}]", items.iter().map(to_json).collect::<Vec<_>>().join(",")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), to_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => panic!("{other:?}"),
    }
}

fn b64u_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// (alg, kid, signing input, signature) of every token of the vectors.
fn tokens() -> Vec<(KeyAlgorithm, String, String, Vec<u8>)> {
    let Json::Array(tokens) = member(&vectors(), "tokens").clone() else { panic!() };
    tokens
        .iter()
        .map(|t| {
            let token = text(t, "token");
            let (input, sig) = token.rsplit_once('.').unwrap();
            (
                KeyAlgorithm::from_name(text(t, "alg")).unwrap(),
                text(t, "kid").to_string(),
                input.to_string(),
                b64u_decode(sig),
            )
        })
        .collect()
}

#[test]
fn every_algorithm_verifies_the_independent_signers_tokens() {
    let set = KeySet::from_document(jwks_text().as_bytes()).unwrap();
    assert_eq!(set.len(), 5);
    let all = tokens();
    assert_eq!(all.len(), 9, "RS256/384/512, PS256/384/512, ES256, ES384, EdDSA");
    for (alg, kid, input, sig) in &all {
        let Selection::Keys(keys) = set.select(Some(kid), *alg) else { panic!("{alg:?} {kid}") };
        assert_eq!(keys.len(), 1);
        let key = keys[0];
        assert!(key.verify(*alg, input.as_bytes(), sig), "{alg:?}");
        // One bit of the input or of the signature changed: refused.
        let mut other = input.clone().into_bytes();
        other[5] ^= 1;
        assert!(!key.verify(*alg, &other, sig), "{alg:?} input");
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!key.verify(*alg, input.as_bytes(), &bad), "{alg:?} signature");
        assert!(!key.verify(*alg, input.as_bytes(), &sig[..sig.len() - 1]), "{alg:?} short");
        // Every other key, under every algorithm, refuses it.
        for (other_alg, other_kid, _, _) in &all {
            for k in set.keys.iter().filter(|k| k.kid() != Some(kid)) {
                assert!(!k.verify(*other_alg, input.as_bytes(), sig), "{alg:?} by {other_kid}");
            }
        }
    }
}

#[test]
fn an_algorithm_must_fit_the_key_type() {
    let set = KeySet::from_document(jwks_text().as_bytes()).unwrap();
    let rs = tokens().into_iter().find(|t| t.0 == KeyAlgorithm::Rs256).unwrap();
    // The RSA key asked to verify the same bytes as PS256 or as ES256: not its algorithm.
    let Selection::Keys(keys) = set.select(Some("rsa"), KeyAlgorithm::Rs256) else { panic!() };
    assert!(!keys[0].verify(KeyAlgorithm::Ps256, rs.2.as_bytes(), &rs.3));
    assert!(matches!(set.select(Some("rsa"), KeyAlgorithm::Es256), Selection::AlgorithmMismatch));
    assert!(matches!(set.select(Some("p256"), KeyAlgorithm::Es384), Selection::AlgorithmMismatch));
    assert!(matches!(set.select(Some("ed"), KeyAlgorithm::Rs256), Selection::AlgorithmMismatch));
    assert!(matches!(set.select(Some("nope"), KeyAlgorithm::Rs256), Selection::UnknownKid));
    // Without a kid: one key fits ES384, EdDSA; two RSA keys fit RS256.
    assert!(matches!(set.select(None, KeyAlgorithm::Es384), Selection::Keys(k) if k.len() == 1));
    assert!(matches!(set.select(None, KeyAlgorithm::EdDsa), Selection::Keys(k) if k.len() == 1));
    assert!(matches!(set.select(None, KeyAlgorithm::Rs256), Selection::KidRequired));
}

#[test]
fn a_key_with_alg_verifies_only_that_algorithm() {
    let doc = jwks_text().replace(r#""kid":"rsa""#, r#""kid":"rsa","alg":"PS256""#);
    let set = KeySet::from_document(doc.as_bytes()).unwrap();
    assert!(matches!(set.select(Some("rsa"), KeyAlgorithm::Rs256), Selection::AlgorithmMismatch));
    let ps = tokens().into_iter().find(|t| t.0 == KeyAlgorithm::Ps256).unwrap();
    let Selection::Keys(keys) = set.select(Some("rsa"), KeyAlgorithm::Ps256) else { panic!() };
    assert!(keys[0].verify(KeyAlgorithm::Ps256, ps.2.as_bytes(), &ps.3));
}

#[test]
fn canonical_entries_round_trip() {
    let set = KeySet::from_document(jwks_text().as_bytes()).unwrap();
    let entries = set.entries();
    let back = KeySet::from_entries(entries.iter().map(String::as_str));
    assert_eq!(back.entries(), entries);
    for (alg, kid, input, sig) in tokens() {
        let Selection::Keys(keys) = back.select(Some(&kid), alg) else { panic!() };
        assert!(keys[0].verify(alg, input.as_bytes(), &sig));
    }
}

#[test]
fn weak_and_malformed_keys_refuse_the_document_and_others_are_skipped() {
    let weak = to_json(member(&vectors(), "weak_rsa_1024"));
    let doc = |key: &str| {
        format!(
            r#"{{"keys":[{},{key}]}}"#,
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        )
    };
    let refused = [
        (weak.clone(), "weak: an RSA modulus under 2048 bits"),
        (r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#.to_string(), "not a point on P-256"),
        (r#"{"kty":"RSA","e":"AQAB"}"#.to_string(), "a key member is missing"),
        (r#"{"kty":"RSA","n":"AQAB=","e":"AQAB"}"#.to_string(), "not canonical base64url"),
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.to_string(),
            "weak: a small-order Ed25519 point",
        ),
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"AA"}"#.to_string(),
            "private key members",
        ),
        (
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"RS256"}"#
                .to_string(),
            "alg does not fit",
        ),
        (r#"{"kty":1}"#.to_string(), "a member is not a string"),
        (r#""key""#.to_string(), "not an object"),
    ];
    for (key, want) in refused {
        let e = KeySet::from_document(doc(&key).as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with("key [1] is") && e.contains(want), "{key}: {e}");
    }
    // Skipped: an HMAC key, an encryption key, another curve, an algorithm not listed.
    for key in [
        r#"{"kty":"oct","k":"c2VjcmV0"}"#,
        r#"{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}"#,
        r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#,
        r#"{"kty":"RSA","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}"#,
        r#"{"kty":"RSA","key_ops":["encrypt"],"n":"AQAB","e":"AQAB"}"#,
    ] {
        let set = KeySet::from_document(doc(key).as_bytes()).unwrap();
        assert_eq!(set.len(), 1, "{key}");
    }
    assert_eq!(
        KeySet::from_document(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap_err(),
        JwksError::NoUsableKey
    );
    assert_eq!(KeySet::from_document(br#"{"keys":[]}"#).unwrap_err(), JwksError::NoUsableKey);
    assert_eq!(KeySet::from_document(br#"[]"#).unwrap_err(), JwksError::NoKeys);
    assert_eq!(KeySet::from_document(br#"{"keys":{}}"#).unwrap_err(), JwksError::NoKeys);
    assert_eq!(KeySet::from_document(b"nope").unwrap_err(), JwksError::NotJson);
    assert_eq!(KeySet::from_document(br#"{"keys":[],"keys":[]}"#).unwrap_err(), JwksError::DuplicateMember);
    let big = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_DOCUMENT_BYTES));
    assert!(matches!(KeySet::from_document(big.as_bytes()), Err(JwksError::TooLarge { .. })));
    let many = format!(r#"{{"keys":[{}]}}"#, vec![r#"{"kty":"oct"}"#; MAX_KEYS + 1].join(","));
    assert_eq!(KeySet::from_document(many.as_bytes()).unwrap_err(), JwksError::TooManyKeys { count: MAX_KEYS + 1 });
}

#[test]
fn errors_never_carry_document_text() {
    let doc = r#"{"keys":[{"kty":"RSA","kid":"s3cret-kid","n":"s3cret","e":"AQAB"}]}"#;
    let e = KeySet::from_document(doc.as_bytes()).unwrap_err().to_string();
    assert!(!e.contains("s3cret"), "{e}");
}
