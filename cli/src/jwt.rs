//! `webhook-guard jwt`: a test token for a `jwt` check: HS* MACed by the plugin's own
//! code, or RS*/PS*/ES*/EdDSA signed with a PEM private key (signing lives here, never in
//! the plugin).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use serde_json::{Map, Value};
use webhook_guard::verify::jwk::KeyAlgorithm;
use webhook_guard::verify::jwt::{mint, JwtAlgorithm};

use crate::secret::{self, unix_now};

/// `--secret`, `--secret-env`, `--secret-file` (HS*) or `--key` (public-key algorithms):
/// exactly one.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct KeyArg {
    /// The HMAC secret itself.
    #[arg(long, value_name = "S")]
    secret: Option<String>,
    /// An environment variable holding the HMAC secret.
    #[arg(long, value_name = "NAME")]
    secret_env: Option<String>,
    /// A file holding the HMAC secret (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// A PEM private key: RSA (PKCS#8 or PKCS#1), EC P-256 or P-384 (PKCS#8 or SEC1),
    /// Ed25519 (PKCS#8).
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
}

/// A private key read for a public-key algorithm.
pub(crate) enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// The key in `path`, of the type `alg` needs. The error never quotes the file.
pub(crate) fn load_key(path: &Path, alg: KeyAlgorithm) -> Result<PrivateKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let bad = |why: &str| format!("{}: {why}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?;
    let sec1 = text.contains("-----BEGIN EC PRIVATE KEY-----");
    let key = match alg {
        KeyAlgorithm::Rs256
        | KeyAlgorithm::Rs384
        | KeyAlgorithm::Rs512
        | KeyAlgorithm::Ps256
        | KeyAlgorithm::Ps384
        | KeyAlgorithm::Ps512 => rsa::RsaPrivateKey::from_pkcs8_pem(&text)
            .ok()
            .or_else(|| rsa::RsaPrivateKey::from_pkcs1_pem(&text).ok())
            .map(|k| PrivateKey::Rsa(Box::new(k))),
        KeyAlgorithm::Es256 if sec1 => p256::SecretKey::from_sec1_pem(&text).ok().map(|k| PrivateKey::P256(k.into())),
        KeyAlgorithm::Es256 => p256::ecdsa::SigningKey::from_pkcs8_pem(&text).ok().map(PrivateKey::P256),
        KeyAlgorithm::Es384 if sec1 => p384::SecretKey::from_sec1_pem(&text).ok().map(|k| PrivateKey::P384(k.into())),
        KeyAlgorithm::Es384 => p384::ecdsa::SigningKey::from_pkcs8_pem(&text).ok().map(PrivateKey::P384),
        KeyAlgorithm::EdDsa => ed25519_dalek::SigningKey::from_pkcs8_pem(&text).ok().map(PrivateKey::Ed25519),
    };
    key.ok_or_else(|| bad(&format!("not a private key of the type {} needs (PEM)", alg.name())))
}

/// The JWS signature of `input` (RFC 7518: PKCS#1 v1.5 or PSS with a salt as long as the
/// hash, ECDSA as R || S, Ed25519).
pub(crate) fn sign(key: &PrivateKey, alg: KeyAlgorithm, input: &[u8]) -> Result<Vec<u8>, String> {
    use sha2::{Digest as _, Sha256, Sha384, Sha512};
    let mut rng = rand_core::OsRng;
    let rsa_failed = |e: rsa::Error| format!("RSA signing failed: {e}");
    Ok(match (key, alg) {
        (PrivateKey::Rsa(k), KeyAlgorithm::Rs256) => {
            k.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::Rsa(k), KeyAlgorithm::Rs384) => {
            k.sign(rsa::Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::Rsa(k), KeyAlgorithm::Rs512) => {
            k.sign(rsa::Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::Rsa(k), KeyAlgorithm::Ps256) => {
            k.sign_with_rng(&mut rng, rsa::Pss::new::<Sha256>(), &Sha256::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::Rsa(k), KeyAlgorithm::Ps384) => {
            k.sign_with_rng(&mut rng, rsa::Pss::new::<Sha384>(), &Sha384::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::Rsa(k), KeyAlgorithm::Ps512) => {
            k.sign_with_rng(&mut rng, rsa::Pss::new::<Sha512>(), &Sha512::digest(input)).map_err(rsa_failed)?
        }
        (PrivateKey::P256(k), KeyAlgorithm::Es256) => {
            use p256::ecdsa::signature::Signer as _;
            let sig: p256::ecdsa::Signature = k.sign(input);
            sig.to_bytes().to_vec()
        }
        (PrivateKey::P384(k), KeyAlgorithm::Es384) => {
            use p384::ecdsa::signature::Signer as _;
            let sig: p384::ecdsa::Signature = k.sign(input);
            sig.to_bytes().to_vec()
        }
        (PrivateKey::Ed25519(k), KeyAlgorithm::EdDsa) => {
            use ed25519_dalek::Signer as _;
            k.sign(input).to_bytes().to_vec()
        }
        _ => return Err(format!("the key does not fit {}", alg.name())),
    })
}

/// `k=v` is a string claim, `k:=JSON` any JSON value.
fn claim(arg: &str) -> Result<(String, Value), String> {
    if let Some((k, v)) = arg.split_once(":=") {
        if !k.contains('=') {
            let value = serde_json::from_str(v).map_err(|e| format!("--claim {k}: not JSON: {e}"))?;
            return Ok((k.to_string(), value));
        }
    }
    let (k, v) = arg.split_once('=').ok_or_else(|| format!("--claim {arg}: expected k=v or k:=JSON"))?;
    if k.is_empty() {
        return Err(format!("--claim {arg}: the name is empty"));
    }
    Ok((k.to_string(), Value::String(v.to_string())))
}

/// The claims: `iat` now and `exp` now + ttl unless given, then the `--claim`s in order.
pub fn claims(args: &[String], ttl: u64, now: u64) -> Result<Map<String, Value>, String> {
    let given: Vec<(String, Value)> = args.iter().map(|a| claim(a)).collect::<Result<_, _>>()?;
    let mut out = Map::new();
    let has = |name: &str| given.iter().any(|(k, _)| k == name);
    if !has("iat") {
        out.insert("iat".into(), now.into());
    }
    if ttl > 0 && !has("exp") {
        out.insert("exp".into(), (now + ttl).into());
    }
    for (k, v) in given {
        out.insert(k, v);
    }
    Ok(out)
}

pub fn run(key: &KeyArg, alg: &str, args: &[String], ttl: u64, kid: Option<&str>) -> Result<ExitCode, String> {
    let mut header = Map::new();
    header.insert("alg".into(), alg.into());
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    let header = Value::Object(header).to_string();
    let claims = Value::Object(claims(args, ttl, unix_now())?).to_string();
    let token = match &key.key {
        Some(path) => {
            let algorithm = KeyAlgorithm::from_name(alg).ok_or_else(|| {
                format!(
                    "--alg {alg}: with --key, expected RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"
                )
            })?;
            let private = load_key(path, algorithm)?;
            let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let input = format!("{}.{}", b64u(header.as_bytes()), b64u(claims.as_bytes()));
            let signature = sign(&private, algorithm, input.as_bytes())?;
            format!("{input}.{}", b64u(&signature))
        }
        None => {
            let algorithm = JwtAlgorithm::from_name(alg).ok_or_else(|| {
                format!("--alg {alg}: with a secret, expected HS256, HS384 or HS512 (--key for the others)")
            })?;
            let secret = secret::read(key.secret.as_deref(), key.secret_env.as_deref(), key.secret_file.as_deref())?
                .ok_or("give --secret, --secret-env, --secret-file or --key")?;
            mint(algorithm, &header, &claims, &secret)
        }
    };
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_in_order_with_defaults() {
        let c = claims(&["iss=flatfile".into(), "aud:=[\"a\",\"b\"]".into(), "n:=3".into()], 300, 1000).unwrap();
        assert_eq!(Value::Object(c).to_string(), r#"{"iat":1000,"exp":1300,"iss":"flatfile","aud":["a","b"],"n":3}"#);
        let c = claims(&["exp:=5".into(), "url=a:=b".into()], 0, 1000).unwrap();
        assert_eq!(Value::Object(c).to_string(), r#"{"iat":1000,"exp":5,"url":"a:=b"}"#);
        assert!(claims(&["novalue".into()], 0, 0).is_err());
        assert!(claims(&["x:={".into()], 0, 0).is_err());
    }
}
