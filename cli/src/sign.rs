//! `webhook-guard sign`: the headers a provider would send for a body, signed by the
//! plugin's own signer (the scheme model the verifier reads), printed as header lines or
//! as a curl command. Private keys are read here: the core only asks them to sign.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use webhook_guard::verify::signature::model::Algorithm;
use webhook_guard::verify::signature::presets;
use webhook_guard::verify::signature::sign::{Message, PrivateKey, Signed, Signer, SigningKey};

use crate::{check, directory, plugin, secret};

/// Where the key comes from: at most one of these.
#[derive(clap::Args, Debug)]
#[group(id = "key", multiple = false)]
pub struct KeyArg {
    /// The shared secret, as the configuration takes it (`whsec_...` for Standard Webhooks).
    #[arg(long, value_name = "S")]
    pub secret: Option<String>,
    /// An environment variable holding the secret.
    #[arg(long, value_name = "NAME")]
    pub secret_env: Option<String>,
    /// A file holding the secret (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// The private key, for discord, telnyx, sendgrid and Standard Webhooks v1a: PKCS#8 PEM
    /// (`openssl genpkey`), SEC1 PEM (`openssl ecparam -genkey`), or 32 bytes in hex; for
    /// paypal an RSA key (PKCS#8 or PKCS#1 PEM), for plaid a P-256 key (PEM).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
}

impl KeyArg {
    pub fn is_given(&self) -> bool {
        self.secret.is_some() || self.secret_env.is_some() || self.secret_file.is_some() || self.private_key.is_some()
    }
}

/// What to sign, and how to print it.
pub struct Args {
    /// A preset, or `None` with `route`.
    pub scheme: Option<String>,
    /// `--config FILE --route NAME`, with the `--env-file` variables.
    pub route: Option<(PathBuf, String, Option<PathBuf>)>,
    pub key: KeyArg,
    pub body: Option<PathBuf>,
    pub timestamp: Option<String>,
    pub id: Option<String>,
    pub url: Option<String>,
    pub method: String,
    pub curl: Option<String>,
    pub public_key: bool,
    pub now: u64,
    pub directory: DirectoryArgs,
}

/// The fields only the senders with keys from a directory sign (PayPal, Plaid).
#[derive(clap::Args, Debug, Default)]
pub struct DirectoryArgs {
    /// paypal: the webhook's id (signed in every message).
    #[arg(long, value_name = "ID")]
    pub webhook_id: Option<String>,
    /// paypal: the certificate URL sent in PAYPAL-CERT-URL.
    #[arg(long, value_name = "URL")]
    pub cert_url: Option<String>,
    /// plaid: the key id sent in the token's header.
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
}

/// Every `--scheme` name: the presets, then PayPal and Plaid.
pub fn scheme_names() -> Vec<&'static str> {
    let mut names = presets::names();
    names.extend(directory::SENDERS);
    names
}

/// The URL signed when neither `--url` nor `--curl` says: the demo Envoy's listener.
pub const DEFAULT_URL: &str = "http://localhost:10000/";

/// `--list`: every preset, with where it puts its signature and what it signs, then,
/// indented, the page it follows, the provider's verifier it is held to and where it
/// departs from that verifier (all from the preset's row).
pub fn list(out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let all = presets::all();
    let width = all.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let indent = " ".repeat(width + 2);
    for p in &all {
        let Some(s) = Signer::preset(p.name) else { continue };
        let key = if s.needs_private_key() {
            "private key"
        } else if s.algorithms().iter().any(|a| a.is_public_key()) {
            "secret or private key"
        } else {
            "secret"
        };
        writeln!(out, "{:<width$}  {:<21}  {}", p.name, key, s.summary())?;
        writeln!(out, "{indent}source: {}", p.source)?;
        if let Some(v) = p.verifier {
            writeln!(out, "{indent}verifier: {v}")?;
        }
        for d in p.departures() {
            writeln!(out, "{indent}departs: {d}")?;
        }
    }
    writeln!(out, "{:<width$}  {:<21}  with --config FILE --route NAME: the route's own fields", "generic", "secret")?;
    // The senders whose key is fetched: signed here, verified by their own checks.
    let senders = [
        (
            "paypal",
            "private key (RSA)",
            "PAYPAL-TRANSMISSION-SIG over <id>|<time>|<webhook id>|<crc32>; --webhook-id, --cert-url (checks.paypal)",
            "https://developer.paypal.com/api/rest/webhooks/rest/",
        ),
        (
            "plaid",
            "private key (P-256)",
            "Plaid-Verification: ES256 JWT with iat and request_body_sha256; --kid (checks.plaid)",
            "https://plaid.com/docs/api/webhooks/webhook-verification/",
        ),
    ];
    for (name, key, summary, source) in senders {
        writeln!(out, "{name:<width$}  {key:<21}  {summary}")?;
        writeln!(out, "{indent}source: {source}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: Args, out: &mut dyn Write) -> Result<ExitCode, String> {
    if let Some(sender) = a.scheme.as_deref().filter(|s| directory::SENDERS.contains(s)) {
        return run_directory(sender, &a, out);
    }
    if let Some((config, route, env_file)) = &a.route {
        let env_file = match env_file {
            Some(p) => secret::read_env_file(p)?,
            None => Default::default(),
        };
        let opts = check::Options { env_file, now: a.now, envoy_version: None };
        let (bytes, env) = check::only_configuration(config, &opts)?;
        let grid =
            plugin::event_grid_headers(&bytes, env, route, a.now).map_err(|e| format!("{}: {e}", config.display()))?;
        if let Some(headers) = grid {
            return event_grid(&a, headers, out);
        }
    }
    let (signer, configured) = match (&a.scheme, &a.route) {
        (Some(name), _) => (Signer::preset(name).ok_or_else(|| format!("unknown scheme \"{name}\""))?, None),
        (None, Some((config, route, env_file))) => {
            let env_file = match env_file {
                Some(p) => secret::read_env_file(p)?,
                None => Default::default(),
            };
            let opts = check::Options { env_file, now: a.now, envoy_version: None };
            let (bytes, env) = check::only_configuration(config, &opts)?;
            plugin::route_signer(&bytes, env, route, a.now).map_err(|e| format!("{}: {e}", config.display()))?
        }
        (None, None) => return Err("give --scheme NAME, or --config FILE --route NAME".into()),
    };

    let private = a.key.private_key.as_deref().map(|p| load_private_key(p, &signer.algorithms())).transpose()?;
    if a.public_key {
        let key = private.as_ref().ok_or("--public-key needs --private-key")?;
        writeln!(out, "{}", signer.public_key_text(key)).map_err(|e| e.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let given = secret::read(a.key.secret.as_deref(), a.key.secret_env.as_deref(), a.key.secret_file.as_deref())?;
    let key = match (&private, &given, &configured) {
        (Some(k), _, _) => SigningKey::Private(k),
        (None, Some(s), _) | (None, None, Some(s)) => SigningKey::Secret(s),
        (None, None, None) if signer.needs_private_key() => {
            return Err("this scheme signs with a private key: give --private-key FILE".into())
        }
        (None, None, None) => return Err("the route has no live secret to sign with: give --secret".into()),
    };

    let (body, body_file) = match a.body.as_deref() {
        None => (Vec::new(), None),
        Some(p) if p == Path::new("-") => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).map_err(|e| format!("stdin: {e}"))?;
            (b, None)
        }
        Some(p) => (std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?, Some(p)),
    };
    if a.url.is_none() && a.curl.is_none() && signer.signs_url() {
        return Err("this scheme signs the URL: give --url (or --curl) with the URL the provider calls".into());
    }
    let url = a.url.as_deref().or(a.curl.as_deref()).unwrap_or(DEFAULT_URL);
    let m = Message {
        method: &a.method,
        url,
        body: &body,
        timestamp: a.timestamp.as_deref(),
        id: a.id.as_deref(),
        now: a.now,
    };
    let signed = signer.sign(key, &m).map_err(|e| e.to_string())?;

    let text = match &a.curl {
        Some(target) => {
            let target = if a.url.is_some() { with_added_query(target, url, &signed.url) } else { signed.url.clone() };
            curl_line(&a.method, &target, &signed, body_file.filter(|_| !signed.body_changed))?
        }
        None => {
            if signed.url != url && signed.url.trim_end_matches('/') != url.trim_end_matches('/') {
                eprintln!("webhook-guard: send it to {}", signed.url);
            }
            let mut t: String = signed.headers.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
            if signed.body_changed {
                // The scheme's fields are in the body: what to send follows the headers.
                t.push('\n');
                t.push_str(&String::from_utf8_lossy(&signed.body));
                t.push('\n');
            }
            t
        }
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// PayPal and Plaid: the headers, signed with `--private-key`, as lines or a curl command.
fn run_directory(sender: &str, a: &Args, out: &mut dyn Write) -> Result<ExitCode, String> {
    let key = a
        .key
        .private_key
        .as_deref()
        .ok_or_else(|| format!("{sender} signs with a private key: give --private-key PEM"))?;
    let (body, body_file) = read_body(a.body.as_deref())?;
    let fields = directory::Fields {
        body: &body,
        now: a.now,
        timestamp: a.timestamp.as_deref(),
        id: a.id.as_deref(),
        webhook_id: a.directory.webhook_id.as_deref(),
        cert_url: a.directory.cert_url.as_deref(),
        kid: a.directory.kid.as_deref(),
    };
    let headers = directory::headers(sender, key, &fields)?;
    let text = match &a.curl {
        Some(target) => {
            let signed = Signed { url: target.clone(), headers, body, body_changed: false };
            curl_line(&a.method, target, &signed, body_file.as_deref())?
        }
        None => headers.iter().map(|(n, v)| format!("{n}: {v}\n")).collect(),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn read_body(path: Option<&Path>) -> Result<(Vec<u8>, Option<PathBuf>), String> {
    match path {
        None => Ok((Vec::new(), None)),
        Some(p) if p == Path::new("-") => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).map_err(|e| format!("stdin: {e}"))?;
            Ok((b, None))
        }
        Some(p) => Ok((std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?, Some(p.to_path_buf()))),
    }
}

/// A request to an `event_grid` route (Event Grid signs nothing): the route's secret
/// headers, and what Event Grid sends beside them: `WebHook-Request-Origin` on an
/// `OPTIONS`, else `aeg-event-type` (`SubscriptionValidation` for a body holding the
/// validation event, else `Notification`).
fn event_grid(a: &Args, mut headers: Vec<(String, String)>, out: &mut dyn Write) -> Result<ExitCode, String> {
    let (body, body_file) = match a.body.as_deref() {
        None => (Vec::new(), None),
        Some(p) if p == Path::new("-") => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).map_err(|e| format!("stdin: {e}"))?;
            (b, None)
        }
        Some(p) => (std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?, Some(p)),
    };
    if a.method.eq_ignore_ascii_case("OPTIONS") {
        headers.push(("webhook-request-origin".into(), "eventgrid.azure.net".into()));
    } else {
        let validation = body.windows(47).any(|w| w == b"Microsoft.EventGrid.SubscriptionValidationEvent");
        let kind = if validation { "SubscriptionValidation" } else { "Notification" };
        headers.insert(0, ("content-type".into(), "application/json".into()));
        headers.push(("aeg-event-type".into(), kind.into()));
    }
    let signed = Signed {
        url: a.url.clone().or_else(|| a.curl.clone()).unwrap_or_else(|| DEFAULT_URL.to_string()),
        headers,
        body,
        body_changed: false,
    };
    let text = match &a.curl {
        Some(target) => curl_line(&a.method, target, &signed, body_file)?,
        None => signed.headers.iter().map(|(n, v)| format!("{n}: {v}\n")).collect(),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// `target` with the query parameters the signer added to `given` (Twilio's `bodySHA256`).
fn with_added_query(target: &str, given: &str, signed: &str) -> String {
    let params = |u: &str| -> Vec<String> {
        u.split_once('?').map(|(_, q)| q.split('&').map(str::to_string).collect()).unwrap_or_default()
    };
    let before = params(given);
    let mut out = target.to_string();
    for p in params(signed).into_iter().filter(|p| !before.contains(p)) {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&p);
    }
    out
}

/// A POSIX shell word.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn curl_line(method: &str, url: &str, s: &Signed, body_file: Option<&Path>) -> Result<String, String> {
    let mut words = vec!["curl".to_string(), "-sS".to_string()];
    if method != "POST" || s.body.is_empty() {
        words.extend(["-X".to_string(), quote(method)]);
    }
    words.push(quote(url));
    for (n, v) in &s.headers {
        words.extend(["-H".to_string(), quote(&format!("{n}: {v}"))]);
    }
    match body_file {
        Some(p) => words.extend(["--data-binary".to_string(), quote(&format!("@{}", p.display()))]),
        None if s.body.is_empty() => {}
        None => {
            let text = std::str::from_utf8(&s.body)
                .ok()
                .filter(|t| !t.contains('\0'))
                .ok_or("the body is not text: give it with --body FILE for a curl line")?;
            words.extend(["--data-binary".to_string(), quote(text)]);
        }
    }
    Ok(words.join(" ") + "\n")
}

/// A private key, read for the scheme's public-key algorithm.
pub enum LoadedKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl PrivateKey for LoadedKey {
    fn algorithm(&self) -> Algorithm {
        match self {
            LoadedKey::Ed25519(_) => Algorithm::Ed25519,
            LoadedKey::P256(_) => Algorithm::EcdsaP256,
        }
    }

    fn public_key(&self) -> Vec<u8> {
        match self {
            LoadedKey::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            LoadedKey::P256(k) => k.verifying_key().to_encoded_point(false).as_bytes().to_vec(),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            LoadedKey::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message).to_bytes().to_vec()
            }
            LoadedKey::P256(k) => {
                use p256::ecdsa::signature::Signer as _;
                // DER, as SendGrid sends it.
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// PKCS#8 PEM (Ed25519 or P-256), SEC1 PEM (P-256), or 32 bytes in hex: a seed for an
/// Ed25519 scheme, else a P-256 scalar. The error never quotes the file.
pub fn load_private_key(path: &Path, algorithms: &[Algorithm]) -> Result<LoadedKey, String> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let bad = |why: &str| format!("{}: {why}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?;
    let key = if text.contains("-----BEGIN PRIVATE KEY-----") {
        ed25519_dalek::SigningKey::from_pkcs8_pem(&text)
            .map(LoadedKey::Ed25519)
            .or_else(|_| p256::ecdsa::SigningKey::from_pkcs8_pem(&text).map(LoadedKey::P256))
            .map_err(|_| bad("not an Ed25519 or P-256 private key (PKCS#8)"))?
    } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        p256::SecretKey::from_sec1_pem(&text)
            .map(|k| LoadedKey::P256(k.into()))
            .map_err(|_| bad("not a P-256 private key (SEC1)"))?
    } else {
        let hex = text.trim();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
            .collect::<Option<_>>()
            .filter(|b: &Vec<u8>| b.len() == 32 && hex.len() == 64)
            .ok_or_else(|| bad("not a private key (expected PKCS#8 or SEC1 PEM, or 32 bytes in hex)"))?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad("not 32 bytes"))?;
        if algorithms.contains(&Algorithm::Ed25519) {
            LoadedKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
        } else {
            LoadedKey::P256(p256::ecdsa::SigningKey::from_slice(&seed).map_err(|_| bad("not a P-256 scalar"))?)
        }
    };
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(quote("x-hub-signature-256: sha256=ab"), "'x-hub-signature-256: sha256=ab'");
        assert_eq!(quote("http://localhost:10000/hooks/github"), "http://localhost:10000/hooks/github");
        assert_eq!(quote(r#"{"a":"it's"}"#), r#"'{"a":"it'\''s"}'"#);
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn added_query_follows_the_target() {
        assert_eq!(
            with_added_query("http://127.0.0.1:1/t", "https://h/t?x=1", "https://h/t?x=1&bodySHA256=ab"),
            "http://127.0.0.1:1/t?bodySHA256=ab"
        );
        assert_eq!(with_added_query("http://e/t?x=1", "https://h/t?x=1", "https://h/t?x=1"), "http://e/t?x=1");
    }
}
