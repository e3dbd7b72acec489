//! What every check may use while it compiles its configuration: [`ConfigError`], the
//! environment the secrets come from, and the rules for names written in the config.

/// Looks up an environment variable of the VM (`vm_config.environment_variables`).
pub type Env = dyn Fn(&str) -> Option<String>;

/// An operator-facing configuration error: the path of the bad field and what is wrong.
/// It never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { path: path.into(), message: message.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Names used in logs and metric names: `[a-z0-9_-]+`, at most 64 characters.
pub fn check_name(name: &str, path: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(path, format!("\"{name}\" must match [a-z0-9_-]+ (at most 64 characters)")))
    }
}

/// A request header a check reads: a token name (no pseudo-headers), lower-cased. Headers
/// that frame or route the request, and the verdict header this filter sets, cannot carry
/// a credential: `what` says which one, for the message.
pub fn request_header_name(name: &str, path: &str, what: &str) -> Result<String, ConfigError> {
    let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !token {
        return Err(ConfigError::new(path, format!("\"{name}\" is not a header name")));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "host" | "content-length" | "transfer-encoding" | "x-webhook-guard") {
        return Err(ConfigError::new(path, format!("\"{name}\" cannot carry {what}")));
    }
    Ok(lower)
}
