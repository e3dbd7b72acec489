//! Where the command takes secrets from, and the small helpers around them. A secret
//! given here is used, never printed.

use std::collections::HashMap;
use std::path::Path;

/// The secret from whichever of `--secret`, `--secret-env`, `--secret-file` is given;
/// `None` when none is. Empty is an error.
pub fn read(secret: Option<&str>, env: Option<&str>, file: Option<&Path>) -> Result<Option<Vec<u8>>, String> {
    let bytes = if let Some(s) = secret {
        s.as_bytes().to_vec()
    } else if let Some(name) = env {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?.into_bytes()
    } else if let Some(p) = file {
        let mut b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if b.last() == Some(&b'\n') {
            b.pop();
            if b.last() == Some(&b'\r') {
                b.pop();
            }
        }
        b
    } else {
        return Ok(None);
    };
    if bytes.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(Some(bytes))
}

/// `KEY=VALUE` lines; blank lines and `#` comments skipped, `export ` and one pair of
/// matching quotes around the value allowed (the common `.env` shape).
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_env(&text).map_err(|line| format!("{}:{line}: expected KEY=VALUE", path.display()))
}

fn parse_env(text: &str) -> Result<HashMap<String, String>, usize> {
    let mut out = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=').ok_or(i + 1)?;
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(i + 1);
        }
        let v = v.trim();
        let unquoted = [b'"', b'\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q as char).and_then(|r| r.strip_suffix(*q as char)))
            .unwrap_or(v);
        out.insert(k.to_string(), unquoted.to_string());
    }
    Ok(out)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines() {
        let env = parse_env("# c\n\nA=1\nexport B = \"two words\"\nC='x=y'\nD=\n").unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "two words");
        assert_eq!(env["C"], "x=y");
        assert_eq!(env["D"], "");
        assert_eq!(parse_env("A=1\nnot a pair\n"), Err(2));
        assert_eq!(parse_env("BAD-NAME=1\n"), Err(1));
    }
}
