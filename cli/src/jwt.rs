//! `webhook-guard jwt`: a test token for a `jwt` check, signed by the plugin's own code.

use std::process::ExitCode;

use serde_json::{Map, Value};
use webhook_guard::verify::jwt::{mint, JwtAlgorithm};

use crate::secret::{unix_now, SecretArg};

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

pub fn run(secret: &SecretArg, alg: &str, args: &[String], ttl: u64, kid: Option<&str>) -> Result<ExitCode, String> {
    let algorithm =
        JwtAlgorithm::from_name(alg).ok_or_else(|| format!("--alg {alg}: expected HS256, HS384 or HS512"))?;
    let key = secret.bytes()?;
    let mut header = Map::new();
    header.insert("alg".into(), algorithm.name().into());
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    let claims = claims(args, ttl, unix_now())?;
    let token = mint(algorithm, &Value::Object(header).to_string(), &Value::Object(claims).to_string(), &key);
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
