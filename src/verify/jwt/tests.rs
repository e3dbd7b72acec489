use super::token::{Claims, Date, JoseHeader};
use super::*;
use base64::Engine;

const SECRET: &str = "jwt-test-secret";

fn base64url_decode(segment: &[u8]) -> Result<Vec<u8>, Denial> {
    let mut out = Vec::new();
    super::base64url_decode_into(segment, &mut out).map(|()| out)
}
const NOW: u64 = 1_700_000_000;

fn env(name: &str) -> Option<String> {
    (name == "JWT_SECRET").then(|| SECRET.to_string())
}

fn compile(json: &str) -> Result<JwtCheck, ConfigError> {
    let c: JwtConfig = crate::wire::read_str(json).unwrap();
    JwtCheck::compile(&c, "jwt", &env, "r", &mut Vec::new())
}

fn check(json: &str) -> JwtCheck {
    compile(json).unwrap()
}

/// The check most tests use: HS256, default leeway (60), exp required.
fn default_check() -> JwtCheck {
    check(r#"{"secrets":[{"id":"current","env":"JWT_SECRET"}]}"#)
}

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with the given JOSE header and claims, signed with `key` under `alg`.
fn sign(alg: JwtAlgorithm, header: &str, claims: &str, key: &[u8]) -> String {
    mint(alg, header, claims, key)
}

fn hs256(claims: &str) -> String {
    sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256","typ":"JWT"}"#, claims, SECRET.as_bytes())
}

fn headers(pairs: &[(&str, &[u8])]) -> Headers {
    Headers::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect())
}

fn bearer(token: &str) -> Headers {
    headers(&[("Authorization", format!("Bearer {token}").as_bytes())])
}

// RFC 7515 appendix A.1: the published HS256 example. The key is given there as a
// JWK "k" (base64url of raw bytes that are not UTF-8), so the HMAC itself is
// checked first, then the whole token with that key put into a compiled check.
const RFC7515_A1_HEADER: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
const RFC7515_A1_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const RFC7515_A1_SIGNATURE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC7515_A1_KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RFC7515_A1_EXP: u64 = 1_300_819_380;

#[test]
fn rfc7515_a1_hmac_known_answer() {
    let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
    let input = format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}");
    let expected = base64url_decode(RFC7515_A1_SIGNATURE.as_bytes()).unwrap();
    assert_eq!(mac::compute(JwtAlgorithm::Hs256.mac_algorithm(), &key, &[input.as_bytes()]), expected);
}

#[test]
fn mint_reproduces_rfc7515_a1() {
    let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
    let header = String::from_utf8(base64url_decode(RFC7515_A1_HEADER.as_bytes()).unwrap()).unwrap();
    let claims = String::from_utf8(base64url_decode(RFC7515_A1_PAYLOAD.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        mint(JwtAlgorithm::Hs256, &header, &claims, &key),
        format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}.{RFC7515_A1_SIGNATURE}")
    );
}

#[test]
fn rfc7515_a1_token_verifies_end_to_end() {
    let mut c = check(r#"{"secrets":[{"id":"rfc","value":"placeholder"}],"issuer":"joe"}"#);
    // The RFC's key is binary (a JWK "k"); configured secrets are text, so the test
    // puts the prepared MAC in place directly.
    let key = base64url_decode(RFC7515_A1_KEY.as_bytes()).unwrap();
    if let Keys::Secrets { macs, .. } = &mut c.keys {
        *macs = vec![(JwtAlgorithm::Hs256, vec![KeyedMac::new(mac::Algorithm::Sha256, &key)])];
    }
    let token = format!("{RFC7515_A1_HEADER}.{RFC7515_A1_PAYLOAD}.{RFC7515_A1_SIGNATURE}");
    let h = bearer(&token);
    assert_eq!(c.verify(&h, RFC7515_A1_EXP - 1000, None), Ok(Some("rfc")));
    assert_eq!(c.verify(&h, RFC7515_A1_EXP + 60, None), Ok(Some("rfc")));
    assert_eq!(c.verify(&h, RFC7515_A1_EXP + 61, None), Err(Denial::TokenExpired));
}

// Computed independently with Python's hmac module (secret "jwt-test-secret").
#[test]
fn hs384_and_hs512_known_answers() {
    let c = check(
        r#"{"secrets":[{"env":"JWT_SECRET"}],"algorithms":["HS384","HS512"],
                "issuer":"flatfile","audiences":["webhooks"],"max_age_seconds":300}"#,
    );
    let hs384 = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmbGF0ZmlsZSIsImF1ZCI6IndlYmhvb2tzIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAzMDB9.Vjf81_zDKby7noVVnQEdEABXtq2Exp8lywWnIOv3iZeE4UIOjjvNe0IB7VCx7M9Y";
    let hs512 = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmbGF0ZmlsZSIsImF1ZCI6IndlYmhvb2tzIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAzMDB9.J2PRlr4dwtF4k3XcMi73HEvpD-8WjH46ueZdHMyiUbN3kICRxZEWj6mShy-sXH2ZZ2hFScNfO5laOCK8Z28cOQ";
    assert_eq!(c.verify(&bearer(hs384), NOW + 10, None), Ok(Some("0")));
    assert_eq!(c.verify(&bearer(hs512), NOW + 10, None), Ok(Some("0")));
    // The same tokens when only HS256 is allowed.
    let only256 = default_check();
    assert_eq!(only256.verify(&bearer(hs384), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
}

#[test]
fn valid_token_passes_and_names_the_secret() {
    let c = default_check();
    let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 300));
    assert_eq!(c.verify(&bearer(&t), NOW, None), Ok(Some("current")));
    assert_eq!(c.header, "authorization");
    assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current"]);
}

#[test]
fn tampered_header_payload_signature_are_refused() {
    let c = default_check();
    let good = hs256(&format!(r#"{{"exp":{},"sub":"a"}}"#, NOW + 300));
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    assert_eq!(c.verify(&bearer(&good), NOW, None), Ok(Some("current")));

    let other_header = b64u(br#"{"alg":"HS256","typ":"JWT","kid":"x"}"#);
    assert_eq!(c.verify(&bearer(&format!("{other_header}.{p}.{s}")), NOW, None), Err(Denial::TokenSignatureMismatch));

    let other_payload = b64u(format!(r#"{{"exp":{},"sub":"b"}}"#, NOW + 300).as_bytes());
    assert_eq!(c.verify(&bearer(&format!("{h}.{other_payload}.{s}")), NOW, None), Err(Denial::TokenSignatureMismatch));

    // Flip the first character: always a valid base64url spelling of another MAC.
    let flipped = if s.starts_with('A') { s.replacen('A', "B", 1) } else { format!("A{}", &s[1..]) };
    assert_eq!(c.verify(&bearer(&format!("{h}.{p}.{flipped}")), NOW, None), Err(Denial::TokenSignatureMismatch));

    // Signed with another secret.
    let foreign = sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &format!(r#"{{"exp":{}}}"#, NOW + 300), b"other");
    assert_eq!(c.verify(&bearer(&foreign), NOW, None), Err(Denial::TokenSignatureMismatch));
}

#[test]
fn alg_none_and_unlisted_algorithms_are_refused_before_the_signature() {
    let c = default_check();
    let claims = b64u(format!(r#"{{"exp":{}}}"#, NOW + 300).as_bytes());
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"None"}"#, r#"{"alg":"NONE","typ":"JWT"}"#] {
        let unsigned = format!("{}.{claims}.", b64u(header.as_bytes()));
        assert_eq!(c.verify(&bearer(&unsigned), NOW, None), Err(Denial::TokenAlgorithmNotAllowed), "{header}");
    }
    // A genuine HS512 signature with the right secret: still not allowed.
    let hs512 =
        sign(JwtAlgorithm::Hs512, r#"{"alg":"HS512"}"#, &format!(r#"{{"exp":{}}}"#, NOW + 300), SECRET.as_bytes());
    assert_eq!(c.verify(&bearer(&hs512), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
    // The header says HS512 over an HS256 MAC.
    let good = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 300));
    let switched = format!("{}.{}", b64u(br#"{"alg":"HS512","typ":"JWT"}"#), good.split_once('.').unwrap().1);
    assert_eq!(c.verify(&bearer(&switched), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "hs256", ""] {
        let t = sign(JwtAlgorithm::Hs256, &format!(r#"{{"alg":"{alg}"}}"#), r#"{"exp":9999999999}"#, SECRET.as_bytes());
        assert_eq!(c.verify(&bearer(&t), NOW, None), Err(Denial::TokenAlgorithmNotAllowed), "{alg}");
    }
    // When HS512 is allowed, an HS256-length signature under an HS512 header is no MAC.
    let both = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"algorithms":["HS256","HS512"]}"#);
    assert_eq!(both.verify(&bearer(&switched), NOW, None), Err(Denial::TokenMalformed));
    assert_eq!(both.verify(&bearer(&hs512), NOW, None), Ok(Some("0")));
}

#[test]
fn exp_rules_at_the_leeway_boundary() {
    let c = default_check();
    let exp = NOW;
    let t = bearer(&hs256(&format!(r#"{{"exp":{exp}}}"#)));
    assert_eq!(c.verify(&t, exp + 60, None), Ok(Some("current")));
    assert_eq!(c.verify(&t, exp + 61, None), Err(Denial::TokenExpired));
    // Fractional NumericDate (RFC 7519 2).
    let frac = bearer(&hs256(&format!(r#"{{"exp":{exp}.5}}"#)));
    assert_eq!(c.verify(&frac, exp + 60, None), Ok(Some("current")));
    assert_eq!(c.verify(&frac, exp + 61, None), Err(Denial::TokenExpired));
    let missing = bearer(&hs256(r#"{"sub":"x"}"#));
    assert_eq!(c.verify(&missing, NOW, None), Err(Denial::TokenExpMissing));
    let optional = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"require_exp":false}"#);
    assert_eq!(optional.verify(&missing, NOW, None), Ok(Some("0")));
    // Not required, but when present it still applies.
    assert_eq!(optional.verify(&t, exp + 61, None), Err(Denial::TokenExpired));
    let strict = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"leeway_seconds":0}"#);
    assert_eq!(strict.verify(&t, exp, None), Ok(Some("0")));
    assert_eq!(strict.verify(&t, exp + 1, None), Err(Denial::TokenExpired));
}

#[test]
fn nbf_rule_at_the_leeway_boundary() {
    let c = default_check();
    let nbf = NOW;
    let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}}}"#, NOW + 1000)));
    assert_eq!(c.verify(&t, nbf - 60, None), Ok(Some("current")));
    assert_eq!(c.verify(&t, nbf - 61, None), Err(Denial::TokenNotYetValid));
    // A fractional nbf is not reached until the next whole second; any spelling of
    // a number is a date.
    let frac = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{}.25}}"#, NOW + 1000, nbf - 1)));
    assert_eq!(c.verify(&frac, nbf - 60, None), Ok(Some("current")));
    assert_eq!(c.verify(&frac, nbf - 61, None), Err(Denial::TokenNotYetValid));
    let exponent = bearer(&hs256(&format!(r#"{{"exp":{}e0,"nbf":{}E-1}}"#, NOW + 1000, nbf * 10)));
    assert_eq!(c.verify(&exponent, nbf - 60, None), Ok(Some("current")));
    assert_eq!(c.verify(&exponent, nbf - 61, None), Err(Denial::TokenNotYetValid));
}

#[test]
fn iat_and_max_age_at_the_leeway_boundary() {
    let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"max_age_seconds":300,"require_exp":false}"#);
    let iat = NOW;
    let t = bearer(&hs256(&format!(r#"{{"iat":{iat}}}"#)));
    assert_eq!(c.verify(&t, iat + 300 + 60, None), Ok(Some("0")));
    assert_eq!(c.verify(&t, iat + 300 + 61, None), Err(Denial::TokenTooOld));
    // Issued in the future beyond the leeway.
    assert_eq!(c.verify(&t, iat - 60, None), Ok(Some("0")));
    assert_eq!(c.verify(&t, iat - 61, None), Err(Denial::TokenNotYetValid));
    let frac = bearer(&hs256(&format!(r#"{{"iat":{iat}.999}}"#)));
    assert_eq!(c.verify(&frac, iat + 300 + 60, None), Ok(Some("0")));
    assert_eq!(c.verify(&frac, iat + 300 + 61, None), Err(Denial::TokenTooOld));
    assert_eq!(c.verify(&frac, iat - 59, None), Ok(Some("0")));
    assert_eq!(c.verify(&frac, iat - 60, None), Err(Denial::TokenNotYetValid));
    let no_iat = bearer(&hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10)));
    assert_eq!(c.verify(&no_iat, NOW, None), Err(Denial::TokenIatMissing));
    // Without max_age, iat is informational.
    assert_eq!(default_check().verify(&t, iat - 10_000, None), Err(Denial::TokenExpMissing));
    let d = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"require_exp":false}"#);
    assert_eq!(d.verify(&t, iat + 1_000_000, None), Ok(Some("0")));
    assert_eq!(d.verify(&t, iat - 1_000, None), Ok(Some("0")));
}

#[test]
fn issuer_must_equal() {
    let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"issuer":"flatfile"}"#);
    let with = |iss: &str| bearer(&hs256(&format!(r#"{{"exp":{},{iss}}}"#, NOW + 10)));
    assert_eq!(c.verify(&with(r#""iss":"flatfile""#), NOW, None), Ok(Some("0")));
    assert_eq!(c.verify(&with(r#""iss":"Flatfile""#), NOW, None), Err(Denial::TokenIssuerMismatch));
    assert_eq!(c.verify(&with(r#""sub":"flatfile""#), NOW, None), Err(Denial::TokenIssuerMismatch));
    assert_eq!(c.verify(&with(r#""iss":["flatfile"]"#), NOW, None), Err(Denial::TokenMalformed));
    // Not configured: any issuer.
    assert_eq!(default_check().verify(&with(r#""iss":"anyone""#), NOW, None), Ok(Some("current")));
}

#[test]
fn audience_must_intersect() {
    let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"audiences":["webhooks","hooks"]}"#);
    let with = |aud: &str| bearer(&hs256(&format!(r#"{{"exp":{},{aud}}}"#, NOW + 10)));
    assert_eq!(c.verify(&with(r#""aud":"webhooks""#), NOW, None), Ok(Some("0")));
    assert_eq!(c.verify(&with(r#""aud":["api","hooks"]"#), NOW, None), Ok(Some("0")));
    assert_eq!(c.verify(&with(r#""aud":"api""#), NOW, None), Err(Denial::TokenAudienceMismatch));
    assert_eq!(c.verify(&with(r#""aud":["api"]"#), NOW, None), Err(Denial::TokenAudienceMismatch));
    assert_eq!(c.verify(&with(r#""aud":[]"#), NOW, None), Err(Denial::TokenAudienceMismatch));
    assert_eq!(c.verify(&with(r#""sub":"webhooks""#), NOW, None), Err(Denial::TokenAudienceMismatch));
    assert_eq!(c.verify(&with(r#""aud":["webhooks",1]"#), NOW, None), Err(Denial::TokenMalformed));
    assert_eq!(c.verify(&with(r#""aud":7"#), NOW, None), Err(Denial::TokenMalformed));
    // No audiences configured: a token addressed to someone is not for us.
    let d = default_check();
    assert_eq!(d.verify(&with(r#""aud":"webhooks""#), NOW, None), Err(Denial::TokenAudienceMismatch));
    assert_eq!(d.verify(&with(r#""sub":"x""#), NOW, None), Ok(Some("current")));
}

#[test]
fn bearer_scheme_parsing() {
    let c = default_check();
    let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
    for value in [
        format!("Bearer {t}"),
        format!("bearer {t}"),
        format!("BEARER {t}"),
        format!("Bearer    {t}"),
        format!("Bearer\t{t}"),
        format!("  Bearer {t}  "),
    ] {
        assert_eq!(
            c.verify(&headers(&[("authorization", value.as_bytes())]), NOW, None),
            Ok(Some("current")),
            "{value:?}"
        );
    }
    for value in [
        t.clone(),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        format!("Basic {t}"),
        format!("Bearer{t}"),
        format!("Bearer {t} extra"),
        format!("Bearer {t}."),
        String::new(),
    ] {
        assert_eq!(
            c.verify(&headers(&[("authorization", value.as_bytes())]), NOW, None),
            Err(Denial::TokenMalformed),
            "{value:?}"
        );
    }
    assert_eq!(c.verify(&headers(&[]), NOW, None), Err(Denial::TokenMissing));
    assert_eq!(c.verify(&headers(&[("x-token", t.as_bytes())]), NOW, None), Err(Denial::TokenMissing));
    let two = format!("Bearer {t}");
    assert_eq!(
        c.verify(&headers(&[("Authorization", two.as_bytes()), ("authorization", two.as_bytes())]), NOW, None),
        Err(Denial::TokenRepeated)
    );
}

#[test]
fn custom_header_takes_the_bare_token_or_bearer() {
    let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"header":"X-Webhook-Token"}"#);
    assert_eq!(c.header, "x-webhook-token");
    let t = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
    assert_eq!(c.verify(&headers(&[("X-Webhook-Token", t.as_bytes())]), NOW, None), Ok(Some("0")));
    let with_scheme = format!("bearer {t}");
    assert_eq!(c.verify(&headers(&[("x-webhook-token", with_scheme.as_bytes())]), NOW, None), Ok(Some("0")));
    let other_scheme = format!("Token {t}");
    assert_eq!(
        c.verify(&headers(&[("x-webhook-token", other_scheme.as_bytes())]), NOW, None),
        Err(Denial::TokenMalformed)
    );
    // The Authorization header is not looked at.
    assert_eq!(c.verify(&bearer(&t), NOW, None), Err(Denial::TokenMissing));
    let proxy = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"header":"proxy-authorization"}"#);
    assert_eq!(
        proxy.verify(&headers(&[("proxy-authorization", t.as_bytes())]), NOW, None),
        Err(Denial::TokenMalformed)
    );
}

#[test]
fn rotation_and_not_after() {
    let c = check(
        r#"{"secrets":[{"id":"current","env":"JWT_SECRET"},
                {"id":"previous","value":"old-secret","not_after":"2027-01-31T00:00:00Z"}]}"#,
    );
    let cutoff = 1_801_353_600;
    let claims = format!(r#"{{"exp":{}}}"#, cutoff + 100);
    let old = bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &claims, b"old-secret"));
    let new = bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, &claims, SECRET.as_bytes()));
    assert_eq!(c.verify(&new, cutoff, None), Ok(Some("current")));
    assert_eq!(c.verify(&old, cutoff, None), Ok(Some("previous")));
    assert_eq!(c.verify(&old, cutoff + 1, None), Err(Denial::TokenSignatureMismatch));
    assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current", "previous"]);
}

#[test]
fn segments_must_be_strict_base64url() {
    let c = default_check();
    let good = hs256(&format!(r#"{{"exp":{}}}"#, NOW + 10));
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/"),
        format!("{h}.{p}.{s}!"),
        format!("{h}.{p}.{}", &s[..s.len() - 1]),
        "..".to_string(),
        ".".to_string(),
    ];
    for t in &cases {
        assert_eq!(c.verify(&bearer(t), NOW, None), Err(Denial::TokenMalformed), "{t}");
    }
    // Non-zero trailing bits: a second spelling of the same MAC is refused.
    let last = s.chars().last().unwrap();
    let respelled = format!("{h}.{p}.{}{}", &s[..s.len() - 1], (last as u8 + 1) as char);
    assert_eq!(c.verify(&bearer(&respelled), NOW, None), Err(Denial::TokenMalformed));
}

#[test]
fn jose_header_rules() {
    let c = default_check();
    let claims = format!(r#"{{"exp":{}}}"#, NOW + 10);
    let with = |header: &str| bearer(&sign(JwtAlgorithm::Hs256, header, &claims, SECRET.as_bytes()));
    assert_eq!(c.verify(&with(r#"{"alg":"HS256"}"#), NOW, None), Ok(Some("current")));
    assert_eq!(c.verify(&with(r#"{"alg":"HS256","typ":"jwt"}"#), NOW, None), Ok(Some("current")));
    assert_eq!(c.verify(&with(r#"{"alg":"HS256","typ":"application/JWT"}"#), NOW, None), Ok(Some("current")));
    assert_eq!(c.verify(&with(r#"{"alg":"HS256","kid":"k1","x":[1,{"y":null}]}"#), NOW, None), Ok(Some("current")));
    for header in [
        r#"{"alg":"HS256","typ":"JWS"}"#,
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","typ":null}"#,
        r#"{"alg":"HS256","typ":1}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","crit":null}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":256}"#,
        r#"{"alg":null}"#,
        r#"["HS256"]"#,
        r#""HS256""#,
        r#"{"alg":"HS256"} x"#,
        r#"{"alg":"HS256""#,
        "",
    ] {
        assert_eq!(c.verify(&with(header), NOW, None), Err(Denial::TokenMalformed), "{header}");
    }
    // A duplicated alg cannot smuggle `none` past a parser that keeps the first.
    assert_eq!(c.verify(&with(r#"{"alg":"HS256","alg":"none"}"#), NOW, None), Err(Denial::TokenMalformed));
}

#[test]
fn claims_must_be_an_object_with_numeric_dates() {
    let c = check(r#"{"secrets":[{"env":"JWT_SECRET"}],"max_age_seconds":60}"#);
    for claims in [
        r#"{"exp":"9999999999","iat":1700000000}"#,
        r#"{"exp":null,"iat":1700000000}"#,
        r#"{"exp":true,"iat":1700000000}"#,
        r#"{"exp":9999999999,"iat":"1700000000"}"#,
        r#"{"exp":9999999999,"iat":1700000000,"nbf":{}}"#,
        r#"{"exp":1e400,"iat":1700000000}"#,
        r#"{"exp":9999999999,"exp":1,"iat":1700000000}"#,
        r#"[9999999999,0,1700000000]"#,
        r#"{"exp":9999999999,"iat":1700000000"#,
        "null",
        "",
    ] {
        assert_eq!(c.verify(&bearer(&hs256(claims)), NOW, None), Err(Denial::TokenMalformed), "{claims}");
    }
    assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":9999999999,"iat":1700000000}"#)), NOW, None), Ok(Some("0")));
    // Negative and huge dates are numbers: they fail the rules, not the parser.
    assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":-1,"iat":1700000000}"#)), NOW, None), Err(Denial::TokenExpired));
    assert_eq!(c.verify(&bearer(&hs256(r#"{"exp":1e300,"iat":1e300}"#)), NOW, None), Err(Denial::TokenNotYetValid));
}

#[test]
fn claims_are_read_from_the_values_as_written() {
    let dates = |json: &str| {
        Claims::read(json.as_bytes()).map(|c| {
            let d = |d: Option<Date>| d.map(|d| (d.floor, d.ceil));
            (d(c.exp), d(c.nbf), d(c.iat), c.iss.map(|s| s.into_owned()))
        })
    };
    assert_eq!(dates("{}"), Ok((None, None, None, None)));
    assert_eq!(dates(" { } "), Ok((None, None, None, None)));
    assert_eq!(dates(r#"{"exp":1.5e3}"#), Ok((Some((1500, 1500)), None, None, None)));
    // Ignored members of any shape, strings holding the JSON's own punctuation, white
    // space around every token, escapes in names and values.
    assert_eq!(
        dates(
            r#" { "a" : { "b" : [1, {"c":"}"}], "d":"x,y" } , "exp" : 17e-1 , "s":"q\"}:,[" ,"n":null,"e":[] , "nbf":-0, "i\u0073s":"a\/b", "iat" : 1700000000.5 } "#
        ),
        Ok((Some((1, 2)), Some((0, 0)), Some((1_700_000_000, 1_700_000_001)), Some("a/b".to_string())))
    );
    // A member it ignores is still JSON by serde_json's rules; one it reads is read once.
    for bad in [
        r#"{"x":1e400}"#,
        r#"{"x":[1e400]}"#,
        r#"{"exp":1,"exp":1}"#,
        r#"{"exp":1,"e\u0078p":2}"#,
        r#"{"iss":"a"} x"#,
        r#"[{"exp":1}]"#,
        r#"{"exp":1,}"#,
        r#"{"exp":01}"#,
    ] {
        assert_eq!(dates(bad).err(), Some(Denial::TokenMalformed), "{bad}");
    }
    let header = |json: &str| {
        JoseHeader::read(json.as_bytes()).map(|h| (h.alg.into_owned(), h.kid.map(|k| k.into_owned()), h.crit))
    };
    assert_eq!(
        header(r#"{"alg":"HS256","x":{"alg":"none"},"kid":"k\u0031"}"#),
        Ok(("HS256".into(), Some("k1".into()), false))
    );
    assert_eq!(header(r#"{"alg":"HS256","crit":null}"#), Ok(("HS256".into(), None, true)));
    for bad in
        [r#"{"kid":"k"}"#, r#"{"alg":null}"#, r#"{"alg":"HS256","alg":"HS256"}"#, r#"{"alg":"HS256","y":-1e400}"#]
    {
        assert_eq!(header(bad).err(), Some(Denial::TokenMalformed), "{bad}");
    }
}

/// A number the filter takes for a date is exactly one `str::parse::<f64>` reads as
/// finite.
#[test]
fn dates_beyond_an_f64_are_refused_as_the_float_parser_would() {
    let halfway = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
    let below = halfway.replace("7792", "7791");
    let mut texts: Vec<String> = [
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623158079e308",
        "1.797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977920000e308",
        "1.79769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791999e308",
        "1.7976931348623159e308",
        "1e308",
        "9.99e308",
        "1e309",
        "0.1e309",
        "0.1e310",
        "0.0001797693134862315808e312",
        "17976931348623158079e289",
        "-1.7976931348623158079e308",
        "-1e309",
        "1e99999999999999999999",
        "1e-99999999999999999999",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    texts.extend([
        halfway.to_string(),
        below.clone(),
        format!("{below}.99999"),
        format!("{halfway}.0"),
        format!("-{halfway}"),
    ]);
    for e in 300..=312 {
        for m in
            ["1", "1.7976931348623158", "1.7976931348623158079372897140530341507993", "17.9", "0.17976931348623159"]
        {
            texts.push(format!("{m}e{e}"));
        }
    }
    for t in &texts {
        let infinite = t.parse::<f64>().unwrap().is_infinite();
        assert_eq!(Date::from_number(t).is_none(), infinite, "{t}");
    }
}

#[test]
fn numeric_dates_are_read_exactly() {
    let d = |t: &str| Date::from_number(t).map(|d| (d.floor, d.ceil));
    let e30 = 10i128.pow(30);
    let table: &[(&str, (i128, i128))] = &[
        ("0", (0, 0)),
        ("-0", (0, 0)),
        ("0.0e5", (0, 0)),
        ("1700000000", (1_700_000_000, 1_700_000_000)),
        ("1700000000.5", (1_700_000_000, 1_700_000_001)),
        // An f64 holds no such number: it would round to 1700000000.
        ("1700000000.0000000001", (1_700_000_000, 1_700_000_001)),
        ("1.7e9", (1_700_000_000, 1_700_000_000)),
        ("17e-1", (1, 2)),
        ("0.001", (0, 1)),
        ("1e-400", (0, 1)),
        ("-1", (-1, -1)),
        ("-1.5", (-2, -1)),
        ("-0.25", (-1, 0)),
        ("123.000", (123, 123)),
        ("1E+2", (100, 100)),
        ("9007199254740993", (9_007_199_254_740_993, 9_007_199_254_740_993)),
        ("1e30", (e30, e30)),
        ("1e300", (e30, e30)),
        ("-1e300", (-e30, -e30)),
    ];
    for (text, want) in table {
        assert_eq!(d(text), Some(*want), "{text}");
    }
    for not_a_date in ["1e400", "-1e400", "\"1\"", "null", "true", "[]", "{}"] {
        assert_eq!(d(not_a_date), None, "{not_a_date}");
    }
    // Through the token: `nbf` a hair after the end of the leeway is not yet valid.
    let c = default_check();
    let nbf = NOW + DEFAULT_LEEWAY_SECONDS;
    let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}.0000000001}}"#, NOW + 600)));
    assert_eq!(c.verify(&t, NOW, None), Err(Denial::TokenNotYetValid));
    let t = bearer(&hs256(&format!(r#"{{"exp":{},"nbf":{nbf}}}"#, NOW + 600)));
    assert_eq!(c.verify(&t, NOW, None), Ok(Some("current")));
}

#[test]
fn every_token_denial_is_reachable() {
    let c = check(
        r#"{"secrets":[{"env":"JWT_SECRET"}],"issuer":"flatfile","audiences":["webhooks"],"max_age_seconds":300}"#,
    );
    let ok = r#""iss":"flatfile","aud":"webhooks""#;
    let at = |claims: String| bearer(&hs256(&claims));
    let table: Vec<(Headers, Denial)> = vec![
        (headers(&[]), Denial::TokenMissing),
        (headers(&[("authorization", b"Bearer a.b.c"), ("authorization", b"Bearer a.b.c")]), Denial::TokenRepeated),
        (bearer("not-a-token"), Denial::TokenMalformed),
        (bearer(&format!("{}.e30.", b64u(br#"{"alg":"none"}"#))), Denial::TokenAlgorithmNotAllowed),
        (bearer(&sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256"}"#, "{}", b"wrong")), Denial::TokenSignatureMismatch),
        (at(format!(r#"{{"exp":{},"iat":{NOW},{ok}}}"#, NOW - 61)), Denial::TokenExpired),
        (at(format!(r#"{{"iat":{NOW},{ok}}}"#)), Denial::TokenExpMissing),
        (at(format!(r#"{{"exp":{},"nbf":{},"iat":{NOW},{ok}}}"#, NOW + 9, NOW + 61)), Denial::TokenNotYetValid),
        (at(format!(r#"{{"exp":{},"iat":{},{ok}}}"#, NOW + 9, NOW - 361)), Denial::TokenTooOld),
        (at(format!(r#"{{"exp":{},{ok}}}"#, NOW + 9)), Denial::TokenIatMissing),
        (at(format!(r#"{{"exp":{},"iat":{NOW},"iss":"x","aud":"webhooks"}}"#, NOW + 9)), Denial::TokenIssuerMismatch),
        (at(format!(r#"{{"exp":{},"iat":{NOW},"iss":"flatfile","aud":"x"}}"#, NOW + 9)), Denial::TokenAudienceMismatch),
    ];
    for (h, want) in table {
        assert_eq!(c.verify(&h, NOW, None), Err(want), "{want:?}");
    }
    assert_eq!(c.verify(&at(format!(r#"{{"exp":{},"iat":{NOW},{ok}}}"#, NOW + 9)), NOW, None), Ok(Some("0")));
}

#[test]
fn hostile_input_never_panics() {
    let c = default_check();
    let huge = "A".repeat(1024 * 1024);
    let dotted = format!("{huge}.{huge}.{huge}");
    let just_over = format!("{}.e30.AA", "A".repeat(MAX_TOKEN_BYTES));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_claims = hs256(&format!(r#"{{"x":{}}}"#, "[".repeat(200) + &"]".repeat(200)));
    let deep_header = format!("{}.e30.AA", b64u(deep.as_bytes()));
    let values: Vec<Vec<u8>> = vec![
        format!("Bearer {huge}").into_bytes(),
        format!("Bearer {dotted}").into_bytes(),
        format!("Bearer {just_over}").into_bytes(),
        format!("Bearer {deep_header}").into_bytes(),
        format!("Bearer {deep_claims}").into_bytes(),
        b"Bearer \xff\xfe.\x00\x01.\x80".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"Bearer \xc3\xa9.\xc3\xa9.\xc3\xa9".to_vec(),
        b"Bearer\xa0token".to_vec(),
        b"\t \t".to_vec(),
        b"Bearer ...........".to_vec(),
        // Header JSON holding invalid UTF-8 inside a string.
        format!("Bearer {}.e30.AA", b64u(b"{\"alg\":\"\xff\"}")).into_bytes(),
    ];
    for v in &values {
        let r = c.verify(&headers(&[("authorization", v)]), NOW, None);
        assert!(r.is_err(), "{:?}", String::from_utf8_lossy(&v[..v.len().min(40)]));
    }
    assert_eq!(
        c.verify(&headers(&[("authorization", format!("Bearer {just_over}").as_bytes())]), NOW, None),
        Err(Denial::TokenMalformed)
    );
    for now in [0, u64::MAX] {
        let t = bearer(&hs256(r#"{"exp":1e300}"#));
        let _ = c.verify(&t, now, None);
    }
}

#[test]
fn debug_never_prints_the_secret() {
    let c = default_check();
    let printed = format!("{c:?}");
    assert!(!printed.contains(SECRET), "{printed}");
}

#[test]
fn defaults() {
    let c = default_check();
    assert!(matches!(&c.keys, Keys::Secrets { algorithms, .. } if algorithms == &[JwtAlgorithm::Hs256]));
    assert_eq!(c.header, "authorization");
    assert_eq!(c.bearer, BearerScheme::Required);
    assert_eq!(c.leeway_seconds, DEFAULT_LEEWAY_SECONDS);
    assert!(c.require_exp);
    assert_eq!(c.max_age_seconds, None);
    assert!(c.issuers.is_empty());
    assert_eq!(c.audiences, None);
}

#[test]
fn config_errors_name_the_field() {
    let table = [
        (r#"{"secrets":[]}"#, "jwt.secrets: at least one secret is required"),
        (r#"{"secrets":[{"env":"NOPE"}]}"#, "jwt.secrets[0].env: environment variable NOPE is unset"),
        (r#"{"secrets":[{"value":"k"}],"algorithms":[]}"#, "jwt.algorithms: must list at least one algorithm: with secrets, only HS256, HS384 and HS512"),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["HS256","none"]}"#,
            "jwt.algorithms[1]: \"none\" is refused: an unsigned token proves nothing; with secrets, only HS256, HS384 and HS512 are supported",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["RS256"]}"#,
            "jwt.algorithms[0]: \"RS256\" is refused: with secrets, only HS256, HS384 and HS512 are supported (a public-key algorithm needs jwks, not secrets)",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["ES256"]}"#,
            "jwt.algorithms[0]: \"ES256\" is refused: with secrets, only HS256, HS384 and HS512 are supported (a public-key algorithm needs jwks, not secrets)",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["EdDSA"]}"#,
            "jwt.algorithms[0]: \"EdDSA\" is refused: with secrets, only HS256, HS384 and HS512 are supported (a public-key algorithm needs jwks, not secrets)",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["hs256"]}"#,
            "jwt.algorithms[0]: \"hs256\" is not supported: with secrets, only HS256, HS384 and HS512 are supported (algorithm names are case-sensitive: write HS256)",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["HS1"]}"#,
            "jwt.algorithms[0]: \"HS1\" is not supported: with secrets, only HS256, HS384 and HS512 are supported",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"algorithms":["HS256","HS256"]}"#,
            "jwt.algorithms[1]: \"HS256\" is listed twice",
        ),
        (r#"{"secrets":[{"value":"k"}],"header":"bad header"}"#, "jwt.header: \"bad header\" is not a header name"),
        (r#"{"secrets":[{"value":"k"}],"header":""}"#, "jwt.header: \"\" is not a header name"),
        (r#"{"secrets":[{"value":"k"}],"header":":authority"}"#, "jwt.header: \":authority\" is not a header name"),
        (r#"{"secrets":[{"value":"k"}],"header":"Host"}"#, "jwt.header: \"Host\" cannot carry a token"),
        (r#"{"secrets":[{"value":"k"}],"issuer":""}"#, "jwt.issuer: must not be empty"),
        (r#"{"secrets":[{"value":"k"}],"audiences":[]}"#, "jwt.audiences: must list at least one audience"),
        (r#"{"secrets":[{"value":"k"}],"audiences":["a",""]}"#, "jwt.audiences[1]: must not be empty"),
        (r#"{"secrets":[{"value":"k"}],"audiences":["a","a"]}"#, "jwt.audiences[1]: \"a\" is listed twice"),
        (r#"{"secrets":[{"value":"k"}],"leeway_seconds":3601}"#, "jwt.leeway_seconds: must be at most 3600"),
        (r#"{"secrets":[{"value":"k"}],"max_age_seconds":0}"#, "jwt.max_age_seconds: must be greater than 0"),
    ];
    for (json, want) in table {
        let got = compile(json).unwrap_err().to_string();
        assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
    }
    assert!(compile(r#"{"secrets":[{"value":"k"}],"leeway_seconds":3600}"#).is_ok());
    assert!(crate::wire::read_str::<JwtConfig>(r#"{"secrets":[],"algorithm":"HS256"}"#).is_err());
}

/// An Ed25519 key made in the test, as a JWK and as the signer of tokens.
fn ed_signer(seed: u8) -> (ed25519_dalek::SigningKey, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let x = b64u(key.verifying_key().as_bytes());
    (key, x)
}

fn ed_token(key: &ed25519_dalek::SigningKey, header: &str, claims: &str) -> String {
    use ed25519_dalek::Signer;
    let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64u(&sig.to_bytes()))
}

fn jwks_check(extra: &str) -> JwtCheck {
    let (_, x1) = ed_signer(1);
    let (_, x2) = ed_signer(2);
    check(&format!(
        r#"{{"algorithms":["EdDSA"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"one","x":"{x1}"}},{{"kty":"OKP","crv":"Ed25519","kid":"two","x":"{x2}"}}]}}{extra}}}"#
    ))
}

#[test]
fn jwks_tokens_are_verified_with_the_key_their_kid_names() {
    let c = jwks_check("");
    let (one, _) = ed_signer(1);
    let (three, _) = ed_signer(3);
    let claims = format!(r#"{{"exp":{}}}"#, NOW + 60);
    let t = |key, kid: &str| bearer(&ed_token(key, &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#), &claims));
    assert_eq!(c.verify(&t(&one, "one"), NOW, None), Ok(None));
    assert_eq!(c.verify(&t(&one, "two"), NOW, None), Err(Denial::TokenSignatureMismatch));
    assert_eq!(c.verify(&t(&three, "one"), NOW, None), Err(Denial::TokenSignatureMismatch));
    assert_eq!(c.verify(&t(&one, "zzz"), NOW, None), Err(Denial::TokenKeyUnknown));
    // No kid, two keys fit EdDSA: refused, even though key one would verify it.
    let no_kid = bearer(&ed_token(&one, r#"{"alg":"EdDSA"}"#, &claims));
    assert_eq!(c.verify(&no_kid, NOW, None), Err(Denial::TokenKidMissing));
    // With one key only, a token without kid is verified with it.
    let (_, x1) = ed_signer(1);
    let single =
        check(&format!(r#"{{"algorithms":["EdDSA"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x1}"}}]}}}}"#));
    assert_eq!(single.verify(&no_kid, NOW, None), Ok(None));
    // The claims rules hold as with secrets.
    let expired = bearer(&ed_token(&one, r#"{"alg":"EdDSA","kid":"one"}"#, &format!(r#"{{"exp":{}}}"#, NOW - 61)));
    assert_eq!(c.verify(&expired, NOW, None), Err(Denial::TokenExpired));
}

#[test]
fn a_jwks_route_never_takes_hs_and_a_secrets_route_never_takes_public_key_algorithms() {
    let (one, x1) = ed_signer(1);
    let claims = format!(r#"{{"exp":{}}}"#, NOW + 60);
    // HS256 "signed" with the public key's bytes as the secret (the classic confusion).
    let forged = sign(JwtAlgorithm::Hs256, r#"{"alg":"HS256","kid":"one"}"#, &claims, x1.as_bytes());
    let c = jwks_check("");
    assert_eq!(c.verify(&bearer(&forged), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
    let none = format!("{}.{}.", b64u(br#"{"alg":"none","kid":"one"}"#), b64u(claims.as_bytes()));
    assert_eq!(c.verify(&bearer(&none), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
    // An allowed algorithm of the family, not listed: refused before any key is chosen.
    let rs = check(&format!(r#"{{"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"one","x":"{x1}"}}]}}}}"#));
    let ed = ed_token(&one, r#"{"alg":"EdDSA","kid":"one"}"#, &claims);
    assert_eq!(rs.verify(&bearer(&ed), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
    let es = check(&format!(
        r#"{{"algorithms":["ES256"],"jwks":{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"one","x":"{x1}"}}]}}}}"#
    ));
    let es_token = ed_token(&one, r#"{"alg":"ES256","kid":"one"}"#, &claims);
    assert_eq!(es.verify(&bearer(&es_token), NOW, None), Err(Denial::TokenKeyAlgorithmMismatch));
    // A secrets route refuses an EdDSA token whatever it carries.
    assert_eq!(default_check().verify(&bearer(&ed), NOW, None), Err(Denial::TokenAlgorithmNotAllowed));
}

#[test]
fn emails_and_subjects_are_allow_lists() {
    let c = jwks_check(r#","emails":["Pusher@P.iam.gserviceaccount.com"],"subjects":["1234"]"#);
    let (one, _) = ed_signer(1);
    let at = |claims: &str| bearer(&ed_token(&one, r#"{"alg":"EdDSA","kid":"one"}"#, claims));
    let exp = NOW + 60;
    let table = [
        (
            format!(r#"{{"exp":{exp},"sub":"1234","email":"pusher@p.iam.gserviceaccount.com","email_verified":true}}"#),
            Ok(None),
        ),
        (
            format!(r#"{{"exp":{exp},"sub":"1234","email":"other@p.iam.gserviceaccount.com","email_verified":true}}"#),
            Err(Denial::TokenEmailMismatch),
        ),
        (format!(r#"{{"exp":{exp},"sub":"1234","email_verified":true}}"#), Err(Denial::TokenEmailMismatch)),
        (
            format!(r#"{{"exp":{exp},"sub":"1234","email":"pusher@p.iam.gserviceaccount.com"}}"#),
            Err(Denial::TokenEmailUnverified),
        ),
        (
            format!(
                r#"{{"exp":{exp},"sub":"1234","email":"pusher@p.iam.gserviceaccount.com","email_verified":false}}"#
            ),
            Err(Denial::TokenEmailUnverified),
        ),
        (
            format!(
                r#"{{"exp":{exp},"sub":"1234","email":"pusher@p.iam.gserviceaccount.com","email_verified":"true"}}"#
            ),
            Err(Denial::TokenMalformed),
        ),
        (
            format!(r#"{{"exp":{exp},"sub":"9","email":"pusher@p.iam.gserviceaccount.com","email_verified":true}}"#),
            Err(Denial::TokenSubjectMismatch),
        ),
        (
            format!(r#"{{"exp":{exp},"email":"pusher@p.iam.gserviceaccount.com","email_verified":true}}"#),
            Err(Denial::TokenSubjectMismatch),
        ),
    ];
    for (claims, want) in table {
        assert_eq!(c.verify(&at(&claims), NOW, None), want, "{claims}");
    }
}

#[test]
fn the_google_preset_is_as_strict_as_googles_verifier() {
    let mut lists = Vec::new();
    let wire: JwtConfig = crate::wire::read_str(
        r#"{"preset":"google","audiences":["https://hooks.example/push"],"emails":["pusher@p.iam.gserviceaccount.com"],"jwks":{"remote":{"cluster":"google_apis"}}}"#,
    )
    .unwrap();
    let c = JwtCheck::compile(&wire, "jwt", &env, "pubsub", &mut lists).unwrap();
    assert_eq!(c.remote_list(), Some("pubsub.jwt"));
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].0.upstream.authority, "www.googleapis.com");
    assert_eq!(lists[0].0.upstream.path, "/oauth2/v3/certs");
    assert!(matches!(&c.keys, Keys::Jwks { algorithms, .. } if algorithms == &[KeyAlgorithm::Rs256]));
    assert_eq!(c.issuers, ["https://accounts.google.com", "accounts.google.com"]);
    assert!(c.require_iat && c.require_exp);
    let bad = |extra: &str| {
        let json = format!(
            r#"{{"preset":"google","audiences":["a"],"emails":["e@x"],"jwks":{{"remote":{{"cluster":"g"}}}}{extra}}}"#
        );
        compile(&json).unwrap_err().to_string()
    };
    assert!(bad(r#","issuer":"x""#).starts_with("jwt.issuer: is set by the preset"));
    assert!(bad(r#","secrets":[{"value":"k"}]"#).starts_with("jwt.secrets: cannot be used"));
    assert!(bad(r#","require_exp":false"#).starts_with("jwt.require_exp: cannot be false"));
    let e =
        compile(r#"{"preset":"google","audiences":["a"],"jwks":{"remote":{"cluster":"g"}}}"#).unwrap_err().to_string();
    assert!(e.starts_with("jwt.emails: is required"), "{e}");
    let e = compile(r#"{"preset":"gogle","secrets":[{"value":"k"}]}"#).unwrap_err().to_string();
    assert!(e.starts_with("jwt.preset: \"gogle\" is not a token preset"), "{e}");
}

#[test]
fn jwks_config_errors_name_the_field() {
    let (_, x1) = ed_signer(1);
    let key = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x1}"}}"#);
    let table = [
        (format!(r#"{{"secrets":[{{"value":"k"}}],"jwks":{{"keys":[{key}]}}}}"#), "jwt.jwks: cannot be used with secrets"),
        (r#"{}"#.to_string(), "jwt.secrets: set secrets (HS*) or jwks (public keys)"),
        (format!(r#"{{"jwks":{{"keys":[{key}]}},"algorithms":["HS256"]}}"#), "jwt.algorithms[0]: \"HS256\" is refused: with a JWKS"),
        (format!(r#"{{"jwks":{{"keys":[{key}]}},"algorithms":["none"]}}"#), "jwt.algorithms[0]: \"none\" is refused"),
        (format!(r#"{{"jwks":{{"keys":[{key}]}},"algorithms":["eddsa"]}}"#), "jwt.algorithms[0]: \"eddsa\" is not supported: with a JWKS, only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and EdDSA are supported (algorithm names are case-sensitive: write EdDSA)"),
        (r#"{"jwks":{"keys":[{"kty":"oct","k":"AA"}]}}"#.to_string(), "jwt.jwks.keys: JWKS holds no signature key"),
        (r#"{"jwks":{}}"#.to_string(), "jwt.jwks: set exactly one of keys"),
        (r#"{"jwks":{"remote":{"cluster":"c","authority":"a","path":"/p","pointer":"/keys"}}}"#.to_string(), "jwt.jwks.remote.pointer: does not apply to a JWKS"),
        (r#"{"jwks":{"remote":{"cluster":"c","path":"/p"}}}"#.to_string(), "jwt.jwks.remote.authority: missing field `authority`"),
        (format!(r#"{{"jwks":{{"keys":[{key}]}},"emails":[]}}"#), "jwt.emails: must list at least one email"),
        (format!(r#"{{"jwks":{{"keys":[{key}]}},"subjects":["a","a"]}}"#), "jwt.subjects[1]: \"a\" is listed twice"),
    ];
    for (json, want) in table {
        let got = compile(&json).unwrap_err().to_string();
        assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
    }
}
