//! Secrets: where they come from (`{env}` / `{value}`), their id, their expiry,
//! and a key type that never prints its bytes.

use serde::Deserialize;

use crate::error::{ConfigError, Env};
use crate::time;

/// Key material. `Debug` prints `[redacted]` so a secret cannot reach a log line
/// through `{:?}` on any struct that holds one.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Wire form of a secret, as written in the plugin configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub id: Option<String>,
    pub env: Option<String>,
    pub value: Option<String>,
    /// An Envoy generic secret by name: read so that its use is refused with a reason,
    /// not as an unknown field.
    pub sds: Option<String>,
    pub not_after: Option<String>,
}

// Hand-written so that printing a wire config never prints an inline `value`.
impl std::fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSpec")
            .field("id", &self.id)
            .field("env", &self.env)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .field("sds", &self.sds)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// A resolved secret. `id` names it in logs and metrics; the key itself never does.
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: String,
    pub key: SecretBytes,
    /// Unix seconds after which this secret no longer verifies.
    pub not_after: Option<u64>,
}

impl Secret {
    /// Whether the secret may still verify at `now` (unix seconds).
    pub fn is_live(&self, now: u64) -> bool {
        self.not_after.is_none_or(|t| now <= t)
    }
}

/// Resolve a list of secrets. `path` is the config path of the list, e.g.
/// `routes[0].checks.signature.secrets`. An empty list, an unset or empty variable,
/// both or neither of `env`/`value`, a bad `not_after` or a duplicate id are errors.
pub fn resolve_all(specs: &[SecretSpec], path: &str, env: &Env) -> Result<Vec<Secret>, ConfigError> {
    if specs.is_empty() {
        return Err(ConfigError::new(path, "at least one secret is required"));
    }
    let mut out: Vec<Secret> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let secret = resolve(spec, i, &p, env)?;
        if out.iter().any(|s| s.id == secret.id) {
            return Err(ConfigError::new(format!("{p}.id"), format!("duplicate secret id \"{}\"", secret.id)));
        }
        out.push(secret);
    }
    Ok(out)
}

fn resolve(spec: &SecretSpec, index: usize, path: &str, env: &Env) -> Result<Secret, ConfigError> {
    if spec.sds.is_some() {
        // Neither edition reads Envoy's generic secrets yet: the Wasm edition has no host
        // call for them, and the native edition does not bind them. Refused by name so an
        // operator is not left guessing at an "unknown field".
        return Err(ConfigError::new(
            format!("{path}.sds"),
            "SDS generic secrets are not supported yet by either edition (the Wasm edition cannot read them); \
             hand the secret to Envoy's environment and use `env`",
        ));
    }
    let key = match (&spec.env, &spec.value) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(path, "set either `env` or `value`, not both"));
        }
        (None, None) => return Err(ConfigError::new(path, "one of `env` or `value` is required")),
        (Some(name), None) => match env(name) {
            Some(v) if !v.is_empty() => v.into_bytes(),
            _ => {
                // The variable's name is not a secret; its value is never printed.
                return Err(ConfigError::new(
                    format!("{path}.env"),
                    format!(
                        "environment variable {name} is unset or empty (Wasm edition: set it in vm_config.environment_variables; native edition: in the environment of the Envoy process)"
                    ),
                ));
            }
        },
        (None, Some(v)) if v.is_empty() => {
            return Err(ConfigError::new(format!("{path}.value"), "a secret must not be empty"));
        }
        (None, Some(v)) => v.clone().into_bytes(),
    };
    let id = match &spec.id {
        Some(id) => {
            crate::error::check_name(id, &format!("{path}.id"))?;
            id.clone()
        }
        None => index.to_string(),
    };
    let not_after = match &spec.not_after {
        None => None,
        Some(t) => Some(time::parse_rfc3339(t).ok_or_else(|| {
            ConfigError::new(
                format!("{path}.not_after"),
                format!("\"{t}\" is not an RFC 3339 time such as 2027-01-31T00:00:00Z"),
            )
        })?),
    };
    Ok(Secret { id, key: SecretBytes::new(key), not_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn spec(id: Option<&str>, env: Option<&str>, value: Option<&str>, not_after: Option<&str>) -> SecretSpec {
        SecretSpec {
            id: id.map(Into::into),
            env: env.map(Into::into),
            value: value.map(Into::into),
            sds: None,
            not_after: not_after.map(Into::into),
        }
    }

    #[test]
    fn sds_is_refused_by_name() {
        let mut s = spec(None, None, None, None);
        s.sds = Some("github-webhook".into());
        let err = resolve_all(&[s], "routes[0].checks.signature.secrets", &env).unwrap_err().to_string();
        assert!(
            err.starts_with("routes[0].checks.signature.secrets[0].sds: SDS generic secrets are not supported"),
            "{err}"
        );
    }

    #[test]
    fn wire_debug_never_prints_value() {
        let printed = format!("{:?}", spec(Some("a"), None, Some("hunter2"), None));
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn debug_never_prints_key() {
        let s = resolve_all(&[spec(Some("current"), None, Some("hunter2"), None)], "s", &env).unwrap();
        let printed = format!("{:?}", s);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn errors_name_the_path() {
        let table: &[(SecretSpec, &str)] = &[
            (spec(None, Some("UNSET"), None, None), "s[0].env: environment variable UNSET is unset or empty"),
            (spec(None, Some("EMPTY"), None, None), "s[0].env: environment variable EMPTY is unset or empty"),
            (spec(None, None, Some(""), None), "s[0].value: a secret must not be empty"),
            (spec(None, Some("SET"), Some("x"), None), "s[0]: set either `env` or `value`, not both"),
            (spec(None, None, None, None), "s[0]: one of `env` or `value` is required"),
            (spec(None, None, Some("x"), Some("tomorrow")), "s[0].not_after: \"tomorrow\" is not an RFC 3339 time"),
            (spec(Some("Bad Id"), None, Some("x"), None), "s[0].id:"),
        ];
        for (s, want) in table {
            let err = resolve_all(std::slice::from_ref(s), "s", &env).unwrap_err().to_string();
            assert!(err.starts_with(want), "got {err:?}, want prefix {want:?}");
        }
        let err = resolve_all(&[], "s", &env).unwrap_err().to_string();
        assert_eq!(err, "s: at least one secret is required");
    }

    #[test]
    fn error_never_contains_secret_value() {
        let err = resolve_all(
            &[spec(Some("a"), None, Some("topsecret"), None), spec(Some("a"), None, Some("topsecret2"), None)],
            "s",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(err.contains("duplicate secret id"));
    }

    #[test]
    fn ids_default_to_position_and_expiry_applies() {
        let s = resolve_all(
            &[spec(None, Some("SET"), None, None), spec(None, None, Some("old"), Some("2027-01-31T00:00:00Z"))],
            "s",
            &env,
        )
        .unwrap();
        assert_eq!(s[0].id, "0");
        assert_eq!(s[1].id, "1");
        assert_eq!(s[0].key.expose(), b"s3cr3t");
        let t = 1_801_353_600; // 2027-01-31T00:00:00Z
        assert!(s[1].is_live(t));
        assert!(!s[1].is_live(t + 1));
        assert!(s[0].is_live(u64::MAX));
    }
}
