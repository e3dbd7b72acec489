//! `webhook-guard`: check a deployment before it ships, sign test webhooks, explain a
//! refusal, mint test tokens and certificate pins, on the same core as the plugin.

mod capture;
mod check;
mod directory;
mod explain;
mod jwt;
mod plugin;
mod secret;
mod sign;
mod sns;
mod thumbprint;
mod yaml;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "webhook-guard",
    version,
    about = "Check webhook-guard deployments, sign test webhooks, explain refusals; certificate pins and test tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check plugin configurations, Envoy configs and Istio manifests: the errors the
    /// plugin would log in Envoy, then deployment warnings.
    ///
    /// Exit status: 0 clean (warnings allowed), 1 errors, 2 warnings only with --strict.
    Check {
        /// Plugin configurations (JSON or YAML), Envoy configs, Istio manifests.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// KEY=VALUE lines: variables Envoy would have in its environment
        /// (host_env_keys, Istio valueFrom HOST). They win over this process's environment.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// Exit 2 when there are warnings but no errors.
        #[arg(long)]
        strict: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: check::Format,
        /// Unix seconds to judge `not_after` times by (default: now).
        #[arg(long, hide = true)]
        now: Option<u64>,
        /// The Envoy release the configuration will run on (MAJOR.MINOR, e.g. 1.36): warn
        /// about what this configuration needs of a newer one.
        #[arg(long, value_name = "X.Y")]
        envoy_version: Option<check::EnvoyVersion>,
    },
    /// Sign a test webhook: print the headers the provider would send for this body, for
    /// every scheme the plugin verifies (--list), or a curl command that sends it.
    ///
    /// Exit status: 0 signed, 1 the request cannot be signed (key, body, URL), 2 usage.
    Sign {
        /// The provider's scheme (see --list); or --config and --route.
        #[arg(long, value_name = "NAME", hide_possible_values = true,
              value_parser = clap::builder::PossibleValuesParser::new(sign::scheme_names()),
              required_unless_present_any = ["config", "list", "sns_cert_url"], conflicts_with = "config")]
        scheme: Option<String>,
        /// Sign an Amazon SNS message (the body, without its signature members) with the
        /// RSA key of --private-key, for the certificate served at this URL
        /// (`https://sns.<region>.amazonaws.com/<name>.pem`).
        #[arg(long, value_name = "URL", conflicts_with_all = ["scheme", "config", "curl"], requires = "private_key")]
        sns_cert_url: Option<String>,
        /// The SNS SignatureVersion: 1 (SHA1withRSA) or 2 (SHA256withRSA).
        #[arg(long, value_name = "V", default_value = "2", value_parser = ["1", "2"], requires = "sns_cert_url")]
        sns_version: String,
        #[command(flatten)]
        key: sign::KeyArg,
        /// The body to sign: a file, or - for standard input (default: empty).
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// Unix seconds (default: now), or the value exactly as the scheme writes it
        /// (RFC 3339 for box, twitch, zendesk; milliseconds for hubspot, linear, workos).
        #[arg(long, value_name = "T")]
        timestamp: Option<String>,
        /// The message id, for schemes that sign one (default: made from the body and time).
        #[arg(long, value_name = "I")]
        id: Option<String>,
        /// The URL the provider calls, for schemes that sign it (default: the --curl URL,
        /// else http://localhost:10000/).
        #[arg(long, value_name = "U")]
        url: Option<String>,
        #[arg(long, default_value = "POST")]
        method: String,
        /// Print a curl command that sends the signed request to URL.
        #[arg(long, value_name = "URL")]
        curl: Option<String>,
        /// List the schemes: the key each takes, where the signature goes, what is signed.
        #[arg(long, exclusive = true)]
        list: bool,
        /// Print the public key of --private-key as the scheme's `public_keys` take it.
        #[arg(long, requires = "private_key")]
        public_key: bool,
        /// Sign for a configured route (generic included): a file `check` accepts, holding
        /// one webhook-guard configuration; the secret is the route's own, from the
        /// environment its VM would have, unless a key is given here.
        #[arg(long, value_name = "FILE", requires = "route")]
        config: Option<PathBuf>,
        /// The route of --config to sign for.
        #[arg(long, value_name = "NAME", requires = "config")]
        route: Option<String>,
        /// Variables Envoy would have in its environment, as for `check`.
        #[arg(long, value_name = "FILE", requires = "config")]
        env_file: Option<PathBuf>,
        #[command(flatten)]
        directory: Box<sign::DirectoryArgs>,
        /// Unix seconds to sign at (default: now).
        #[arg(long, hide = true)]
        now: Option<u64>,
    },
    /// Run a captured request through a route's checks, the way the plugin would, and
    /// say for each check pass or the precise reason (secrets are never printed).
    ///
    /// Exit status: 0 when the request would be forwarded, 1 when it would be refused.
    Explain {
        /// A file `check` accepts, holding one webhook-guard configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The route whose checks to run (default: the route the request matches).
        #[arg(long, value_name = "NAME")]
        route: Option<String>,
        /// The request: HTTP/1.1 text (request line, headers, blank line, body), or header
        /// lines with --body.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// The body, when the request file holds only the headers.
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// The client address Envoy would report (for ip_allowlist and rate_limit).
        #[arg(long, value_name = "ADDR")]
        client: Option<std::net::IpAddr>,
        /// The certificate the client presented on the TLS connection (PEM).
        #[arg(long, value_name = "PEM")]
        client_cert: Option<PathBuf>,
        /// The signing certificate an SNS message names in SigningCertURL, or a PayPal
        /// message in PAYPAL-CERT-URL (PEM), which Envoy would fetch.
        #[arg(long, value_name = "PEM")]
        signing_cert: Option<PathBuf>,
        /// Unix seconds to check timestamps and tokens at (default: now).
        #[arg(long)]
        now: Option<u64>,
        /// `:scheme` of the request, for schemes that sign the URL.
        #[arg(long, default_value = "https")]
        scheme: String,
        /// Variables Envoy would have in its environment, as for `check`.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
    },
    /// SHA-1 and SHA-256 thumbprints of a certificate (PEM or DER), as client_cert pins
    /// accept them.
    Thumbprint {
        /// The certificate; of a PEM chain, the first (the leaf).
        cert: PathBuf,
    },
    /// Mint a JWT for testing a `jwt` check: HS256/384/512 with a secret, or RS256/384/512,
    /// PS256/384/512, ES256, ES384, EdDSA with `--key` (a PEM private key).
    Jwt {
        #[command(flatten)]
        secret: jwt::KeyArg,
        #[arg(long, default_value = "HS256")]
        alg: String,
        /// A claim: `k=v` for a string, `k:=JSON` for a number, boolean, array or object.
        #[arg(long = "claim", value_name = "K=V")]
        claims: Vec<String>,
        /// Seconds until `exp` (0: no `exp`). `iat` is set to now unless given as a claim.
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// A `kid` for the JOSE header.
        #[arg(long)]
        kid: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { files, env_file, strict, format, now, envoy_version } => {
            check_command(&files, env_file, strict, format, now, envoy_version)
        }
        Command::Explain { config, route, request, body, client, client_cert, signing_cert, now, scheme, env_file } => {
            explain_command(ExplainArgs {
                config,
                route,
                request,
                body,
                client,
                client_cert,
                signing_cert,
                now,
                scheme,
                env_file,
            })
        }
        Command::Sign { list: true, .. } => sign::list(&mut std::io::stdout().lock()).map_err(|e| e.to_string()),
        Command::Sign { sns_cert_url: Some(url), key, body, sns_version, .. } => {
            let read = match body.as_deref() {
                Some(p) if p == std::path::Path::new("-") => {
                    let mut b = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map(|_| b).map_err(|e| e.to_string())
                }
                Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
                None => Err("--sns-cert-url needs --body with the message to sign".to_string()),
            };
            let version = if sns_version == "1" { 1 } else { 2 };
            match (read, key.private_key.as_deref()) {
                (Ok(b), Some(k)) => sns::run(k, &url, version, &b, &mut std::io::stdout().lock()),
                (Err(e), _) => Err(e),
                (_, None) => Err("--sns-cert-url needs --private-key".to_string()),
            }
        }
        Command::Sign {
            scheme,
            key,
            body,
            timestamp,
            id,
            url,
            method,
            curl,
            list: _,
            sns_cert_url: _,
            sns_version: _,
            public_key,
            config,
            route,
            env_file,
            directory,
            now,
        } => {
            if config.is_none() && !key.is_given() {
                usage("sign", "a key is needed: give --secret, --secret-env, --secret-file or --private-key");
            }
            let route = config.zip(route).map(|(c, r)| (c, r, env_file));
            let now = now.unwrap_or_else(secret::unix_now);
            let a = sign::Args {
                scheme,
                route,
                key,
                body,
                timestamp,
                id,
                url,
                method,
                curl,
                public_key,
                now,
                directory: *directory,
            };
            sign::run(a, &mut std::io::stdout().lock())
        }
        Command::Thumbprint { cert } => thumbprint::run(&cert),
        Command::Jwt { secret, alg, claims, ttl, kid } => jwt::run(&secret, &alg, &claims, ttl, kid.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("webhook-guard: {e}");
            ExitCode::from(1)
        }
    }
}

/// A usage error found after parsing, reported the way clap reports its own (exit 2).
fn usage(subcommand: &str, message: &str) -> ! {
    let mut cli = Cli::command();
    cli.build();
    let mut cmd = cli.find_subcommand(subcommand).cloned().unwrap_or(cli);
    cmd.error(clap::error::ErrorKind::MissingRequiredArgument, message).exit()
}

fn check_command(
    files: &[PathBuf],
    env_file: Option<PathBuf>,
    strict: bool,
    format: check::Format,
    now: Option<u64>,
    envoy_version: Option<check::EnvoyVersion>,
) -> Result<ExitCode, String> {
    let env_file = match env_file {
        Some(p) => secret::read_env_file(&p)?,
        None => Default::default(),
    };
    let opts = check::Options { env_file, now: now.unwrap_or_else(secret::unix_now), envoy_version };
    let reports: Vec<check::FileReport> = files.iter().map(|f| check::check_file(f, &opts)).collect();
    let mut out = std::io::stdout().lock();
    check::print(&reports, format, &mut out).map_err(|e| e.to_string())?;
    let errors: usize = reports.iter().map(check::FileReport::errors).sum();
    let warnings: usize = reports.iter().map(check::FileReport::warnings).sum();
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else if strict && warnings > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

struct ExplainArgs {
    config: PathBuf,
    route: Option<String>,
    request: PathBuf,
    body: Option<PathBuf>,
    client: Option<std::net::IpAddr>,
    client_cert: Option<PathBuf>,
    signing_cert: Option<PathBuf>,
    now: Option<u64>,
    scheme: String,
    env_file: Option<PathBuf>,
}

fn read(p: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn explain_command(a: ExplainArgs) -> Result<ExitCode, String> {
    let env_file = match &a.env_file {
        Some(p) => secret::read_env_file(p)?,
        None => Default::default(),
    };
    let now = a.now.unwrap_or_else(secret::unix_now);
    let opts = check::Options { env_file, now, envoy_version: None };
    let policy = explain::load(&a.config, &opts)?;
    let body = a.body.as_deref().map(read).transpose()?;
    let captured =
        capture::parse(&read(&a.request)?, body, &a.scheme).map_err(|e| format!("{}: {e}", a.request.display()))?;
    let cert_pem = a.client_cert.as_deref().map(read).transpose()?;
    let signing_cert = a.signing_cert.as_deref().map(read).transpose()?;
    let req = explain::Request { captured, client: a.client, cert_pem, signing_cert, now };
    let mut out = std::io::stdout().lock();
    explain::run(policy, a.route.as_deref(), req, &mut out).map_err(|e| e.to_string())
}
