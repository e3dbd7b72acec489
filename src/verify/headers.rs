//! `headers`: a secret custom header (the kind a provider adds so a WAF lets its
//! webhooks through). The value must equal one of the secrets.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::request::Headers;
use crate::secret::{self, SecretSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHeaderConfig {
    pub name: String,
    pub secrets: Vec<SecretSpec>,
    /// Default true: the secret never reaches the upstream.
    pub strip: Option<bool>,
}

#[cfg(not(target_arch = "wasm32"))]
impl SecretHeaderConfig {
    /// The first secret live at `now`, as written, resolved as the plugin resolves it
    /// (for the command, which sends what the route expects); `path` is this entry's path.
    pub fn live_secret(&self, path: &str, env: &Env, now: u64) -> Result<Option<Vec<u8>>, ConfigError> {
        let all = secret::resolve_all(&self.secrets, &format!("{path}.secrets"), env)?;
        Ok(all.into_iter().find(|s| s.is_live(now)).map(|s| s.key.expose().to_vec()))
    }
}

#[derive(Debug)]
struct Expected {
    id: String,
    /// SHA-256 of the secret: comparing digests keeps the comparison constant-time
    /// and independent of the secret's length.
    digest: [u8; 32],
    not_after: Option<u64>,
}

#[derive(Debug)]
pub struct SecretHeader {
    pub name: String,
    pub strip: bool,
    expected: Vec<Expected>,
}

impl SecretHeader {
    pub fn compile(c: &SecretHeaderConfig, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let lower = crate::error::request_header_name(&c.name, &format!("{path}.name"), "a secret")?;
        let secrets = secret::resolve_all(&c.secrets, &format!("{path}.secrets"), env)?;
        let expected = secrets
            .iter()
            .map(|s| Expected {
                id: s.id.clone(),
                digest: Sha256::digest(s.key.expose()).into(),
                not_after: s.not_after,
            })
            .collect();
        Ok(SecretHeader { name: lower, strip: c.strip.unwrap_or(true), expected })
    }

    /// Compile `checks.headers`: at least one, each header named once.
    pub fn compile_all(list: &[SecretHeaderConfig], path: &str, env: &Env) -> Result<Vec<Self>, ConfigError> {
        if list.is_empty() {
            return Err(ConfigError::new(path, "list at least one header, or leave `headers` out"));
        }
        let mut headers: Vec<SecretHeader> = Vec::with_capacity(list.len());
        for (i, h) in list.iter().enumerate() {
            let hp = format!("{path}[{i}]");
            let header = SecretHeader::compile(h, &hp, env)?;
            if headers.iter().any(|o| o.name == header.name) {
                return Err(ConfigError::new(
                    format!("{hp}.name"),
                    format!("header \"{}\" is listed twice", header.name),
                ));
            }
            headers.push(header);
        }
        Ok(headers)
    }

    pub fn secret_ids(&self) -> impl Iterator<Item = &str> {
        self.expected.iter().map(|e| e.id.as_str())
    }

    /// `(id, not_after)` of each secret that has a `not_after`.
    pub fn secret_expiries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.expected.iter().filter_map(|e| e.not_after.map(|t| (e.id.as_str(), t)))
    }

    pub fn verify(&self, headers: &Headers, now: u64) -> Result<&str, Denial> {
        let value = headers.get_one(&self.name).map_err(|_| Denial::HeaderRepeated)?.ok_or(Denial::HeaderMissing)?;
        let presented: [u8; 32] = Sha256::digest(value).into();
        for e in &self.expected {
            let live = e.not_after.is_none_or(|t| now <= t);
            if live && bool::from(e.digest.ct_eq(&presented)) {
                return Ok(&e.id);
            }
        }
        Err(Denial::HeaderMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "WAF").then(|| "waf-secret".to_string())
    }

    fn check(json: &str) -> Result<SecretHeader, ConfigError> {
        let c: SecretHeaderConfig = crate::wire::read_str(json).unwrap();
        SecretHeader::compile(&c, "h", &env)
    }

    fn headers(pairs: &[(&str, &[u8])]) -> Headers {
        Headers::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect())
    }

    #[test]
    fn matches_any_live_secret() {
        let c = check(
            r#"{"name":"X-WAF-Token","secrets":[{"id":"current","env":"WAF"},
               {"id":"old","value":"previous","not_after":"2027-01-31T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert!(c.strip);
        assert_eq!(c.verify(&headers(&[("x-waf-token", b"waf-secret")]), 0), Ok("current"));
        assert_eq!(c.verify(&headers(&[("X-Waf-Token", b"previous")]), 1_801_353_600), Ok("old"));
        assert_eq!(c.verify(&headers(&[("x-waf-token", b"previous")]), 1_801_353_601), Err(Denial::HeaderMismatch));
        assert_eq!(c.verify(&headers(&[("x-waf-token", b"waf-secreT")]), 0), Err(Denial::HeaderMismatch));
        assert_eq!(c.verify(&headers(&[("x-waf-token", b"")]), 0), Err(Denial::HeaderMismatch));
        assert_eq!(c.verify(&headers(&[("x-waf-token", b"\xff\x00")]), 0), Err(Denial::HeaderMismatch));
        assert_eq!(c.verify(&headers(&[]), 0), Err(Denial::HeaderMissing));
        assert_eq!(
            c.verify(&headers(&[("x-waf-token", b"waf-secret"), ("x-waf-token", b"waf-secret")]), 0),
            Err(Denial::HeaderRepeated)
        );
    }

    #[test]
    fn strip_can_be_turned_off() {
        let c = check(r#"{"name":"x-t","secrets":[{"value":"v"}],"strip":false}"#).unwrap();
        assert!(!c.strip);
    }

    #[test]
    fn config_errors() {
        let table = [
            (r#"{"name":"bad name","secrets":[{"value":"v"}]}"#, "h.name: \"bad name\" is not a header name"),
            (r#"{"name":"Host","secrets":[{"value":"v"}]}"#, "h.name: \"Host\" cannot carry a secret"),
            (r#"{"name":"x-t","secrets":[{"env":"NOPE"}]}"#, "h.secrets[0].env: environment variable NOPE"),
            (r#"{"name":"x-t","secrets":[]}"#, "h.secrets: at least one secret is required"),
        ];
        for (json, want) in table {
            let e = check(json).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
