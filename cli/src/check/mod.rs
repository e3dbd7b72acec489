//! `webhook-guard check FILE...`: find every webhook-guard configuration in the files
//! (a plugin configuration, an Envoy config, Istio manifests), compile each with the
//! plugin's own code and the environment its VM would have, and look at the deployment
//! around it for settings that would weaken it.

mod envoy;
mod report;
mod warnings;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::plugin;
use crate::yaml;

pub use report::{print, Format};

/// What `check` was asked to do.
pub struct Options {
    /// `--env-file` entries; they win over the process environment.
    pub env_file: HashMap<String, String>,
    /// Unix seconds: `not_after` times before this are reported.
    pub now: u64,
}

impl Options {
    /// A variable as this machine would give it to Envoy (`host_env_keys`, Istio `HOST`).
    fn host_var(&self, name: &str) -> Option<String> {
        self.env_file.get(name).cloned().or_else(|| std::env::var(name).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in one configuration.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    /// A stable name for scripts (`config`, `fail_open`, ...).
    pub code: &'static str,
    /// The field the finding is about: a plugin-configuration path for plugin errors,
    /// or the Envoy/Istio field for deployment warnings.
    pub path: String,
    pub message: String,
    /// Where to look or what to do; never part of the plugin's own message.
    pub hint: Option<String>,
}

impl Finding {
    fn warning(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { severity: Severity::Warning, code, path: path.into(), message: message.into(), hint: None }
    }
}

/// One webhook-guard configuration: a plugin configuration file, one Wasm or
/// dynamic-module filter of an Envoy config, or one Istio or Envoy Gateway resource.
#[derive(Debug)]
pub struct Unit {
    /// Where in the file: empty for a plugin configuration file, else e.g.
    /// `listener webhooks, http filter webhook_guard` or `WasmPlugin istio-system/webhook-guard`.
    pub location: String,
    /// Route names, when the configuration compiled.
    pub routes: Option<Vec<String>>,
    pub mode: Option<String>,
    pub findings: Vec<Finding>,
    /// The bytes the plugin is handed, and the variables its VM sees.
    pub config: Vec<u8>,
    pub vars: Vars,
}

/// Variables of a VM: secret values, so `Debug` prints only the names.
#[derive(Default, Clone)]
pub struct Vars(pub HashMap<String, String>);

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_struct("Vars").field("names", &names).finish()
    }
}

impl Unit {
    pub fn new(location: impl Into<String>) -> Self {
        Unit {
            location: location.into(),
            routes: None,
            mode: None,
            findings: Vec::new(),
            config: Vec::new(),
            vars: Vars::default(),
        }
    }

    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
}

#[derive(Debug)]
pub struct FileReport {
    pub file: String,
    /// The file could not be read as any configuration.
    pub error: Option<String>,
    pub units: Vec<Unit>,
}

impl FileReport {
    pub fn errors(&self) -> usize {
        usize::from(self.error.is_some()) + self.units.iter().map(Unit::errors).sum::<usize>()
    }
    pub fn warnings(&self) -> usize {
        self.units.iter().map(Unit::warnings).sum()
    }
}

/// Where a deployment sets the variables the filter reads, for hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvPlace {
    /// An Envoy config: `vm_config.environment_variables`, or Envoy's own environment.
    Envoy,
    /// An Istio sidecar: `vmConfig.env`, or the istio-proxy container's `env`.
    Istio,
    /// An Envoy Gateway proxy: the `EnvoyProxy`'s container `env`.
    EnvoyProxy,
}

/// How the filter's environment is made, for the secrets' `env` and for hints.
pub enum VmEnv<'a> {
    /// A plugin configuration on its own: the process environment and `--env-file`.
    Process(&'a Options),
    /// Envoy's `vm_config.environment_variables`, Istio's `vmConfig.env`, or an
    /// EnvoyProxy's container `env`: literal values, and names whose values come from
    /// elsewhere (Envoy's own environment, a Kubernetes Secret), taken from this machine.
    Listed { values: HashMap<String, String>, host_keys: BTreeSet<String>, opts: &'a Options, place: EnvPlace },
    /// The native module: the Envoy process's own environment, which this machine's
    /// environment and `--env-file` stand in for.
    Host { opts: &'a Options, place: EnvPlace },
}

impl VmEnv<'_> {
    /// Every variable the filter would see.
    fn snapshot(&self) -> HashMap<String, String> {
        match self {
            VmEnv::Process(opts) | VmEnv::Host { opts, .. } => {
                let mut all: HashMap<String, String> = std::env::vars().collect();
                all.extend(opts.env_file.iter().map(|(k, v)| (k.clone(), v.clone())));
                all
            }
            VmEnv::Listed { values, host_keys, opts, .. } => {
                let mut all: HashMap<String, String> =
                    host_keys.iter().filter_map(|k| Some((k.clone(), opts.host_var(k)?))).collect();
                all.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                all
            }
        }
    }

    fn hint(&self, name: &str) -> String {
        match self {
            VmEnv::Process(_) => format!("set {name} in the environment or in the file given with --env-file"),
            VmEnv::Host { place, .. } => {
                let set = match place {
                    EnvPlace::Envoy => "set it in Envoy's environment".to_string(),
                    EnvPlace::Istio => "set it in the istio-proxy container's env (from a Secret)".to_string(),
                    EnvPlace::EnvoyProxy => {
                        "set it in the EnvoyProxy's provider.kubernetes.envoyDeployment.container.env".to_string()
                    }
                };
                format!(
                    "the native module reads {name} from the Envoy process's environment: {set}; here, export it \
                     or pass --env-file"
                )
            }
            VmEnv::Listed { values, host_keys, place, .. } => {
                if values.contains_key(name) {
                    format!("{name} is given an empty value")
                } else if host_keys.contains(name) {
                    let from = match place {
                        EnvPlace::Envoy => "host_env_keys",
                        EnvPlace::Istio => "valueFrom: HOST",
                        EnvPlace::EnvoyProxy => "valueFrom in the EnvoyProxy's container env",
                    };
                    format!("{name} is taken from the host ({from}) but is not set here: export it or pass --env-file")
                } else {
                    match place {
                        EnvPlace::Istio => {
                            format!("{name} is not in vmConfig.env: add {{name: {name}, valueFrom: HOST}}")
                        }
                        EnvPlace::Envoy => format!(
                            "{name} is not in vm_config.environment_variables: add it to host_env_keys (or key_values)"
                        ),
                        EnvPlace::EnvoyProxy => format!(
                            "{name} is not in the EnvoyProxy's provider.kubernetes.envoyDeployment.container.env: add \
                             it (valueFrom.secretKeyRef)"
                        ),
                    }
                }
            }
        }
    }
}

/// Check one file.
pub fn check_file(path: &Path, opts: &Options) -> FileReport {
    let file = path.display().to_string();
    let fail = |e: String| FileReport { file: file.clone(), error: Some(e), units: Vec::new() };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let is_json_name = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let looks_json = bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
    let docs: Vec<Value> = if is_json_name || looks_json {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => vec![v],
            // Not JSON at all: a `.json` file is a plugin configuration Envoy would hand
            // over as it is, so the plugin's own parser says what is wrong with it.
            Err(_) if is_json_name => {
                let mut unit = Unit::new("");
                compile(&bytes, &VmEnv::Process(opts), &mut unit);
                return FileReport { file, error: None, units: vec![unit] };
            }
            Err(_) => match read_yaml(&bytes) {
                Ok(d) => d,
                Err(e) => return fail(e),
            },
        }
    } else {
        match read_yaml(&bytes) {
            Ok(d) => d,
            Err(e) => return fail(e),
        }
    };
    let mut units = Vec::new();
    let single = docs.len() == 1;
    // An EnvoyExtensionPolicy's dynamic module is registered in an EnvoyProxy, often
    // shipped in the same file.
    let proxies: Vec<&Value> =
        docs.iter().filter(|d| d.get("kind").and_then(Value::as_str) == Some("EnvoyProxy")).collect();
    for (i, doc) in docs.iter().enumerate() {
        // A lone JSON object that is nothing else is a plugin configuration, however
        // broken: the plugin says what is wrong with it.
        let lone_json = single && (is_json_name || looks_json) && is_bare(doc) && !holds_guard_filter(doc);
        if is_plugin_config(doc) || lone_json {
            let mut unit = Unit::new(if single { String::new() } else { format!("document {}", i + 1) });
            // A JSON file goes to the plugin byte for byte; YAML as the JSON Istio or a
            // template would make of it, in the order written.
            let json =
                if single && (is_json_name || looks_json) { bytes.clone() } else { doc.to_string().into_bytes() };
            compile(&json, &VmEnv::Process(opts), &mut unit);
            if unit.routes.is_some() {
                warnings::plugin(doc, opts.now, &mut unit.findings);
            }
            units.push(unit);
        } else {
            let prefix = if single { String::new() } else { format!("document {}: ", i + 1) };
            units.extend(envoy::units(doc, opts, &prefix, &proxies));
        }
    }
    if units.is_empty() {
        return fail(
            "no webhook-guard configuration found (expected a plugin configuration, an Envoy config with a \
             webhook-guard Wasm or dynamic-module filter, an Istio WasmPlugin or EnvoyFilter, or an Envoy Gateway \
             EnvoyExtensionPolicy)"
                .into(),
        );
    }
    FileReport { file, error: None, units }
}

fn read_yaml(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    yaml::documents(text).map_err(|e| format!("not valid YAML: {e}"))
}

/// A document that is a plugin configuration: its fields at the top, and no Kubernetes
/// kind or Envoy bootstrap around them.
fn is_plugin_config(doc: &Value) -> bool {
    ["api", "routes", "mode", "unmatched", "max_body_bytes"].iter().any(|k| doc.get(k).is_some()) && is_bare(doc)
}

fn is_bare(doc: &Value) -> bool {
    ["kind", "static_resources", "dynamic_resources", "resources"].iter().all(|k| doc.get(k).is_none())
}

/// A document holding a Wasm or a dynamic-module HTTP filter somewhere.
fn holds_guard_filter(doc: &Value) -> bool {
    let ours = |t: &str| t.ends_with(".wasm.v3.Wasm") || t.ends_with(envoy::NATIVE_FILTER);
    match doc {
        Value::Object(m) => {
            m.iter().any(|(k, v)| (k == "@type" && v.as_str().is_some_and(ours)) || holds_guard_filter(v))
        }
        Value::Array(items) => items.iter().any(holds_guard_filter),
        _ => false,
    }
}

/// Compile the configuration with the plugin's code, as `on_configure` would. The first
/// error is the one the plugin logs; after an unset variable the rest is still checked
/// (with a stand-in for that variable), so one run lists every missing secret. When
/// the configuration is otherwise valid, `unit.routes` and `unit.mode` are set.
fn compile(json: &[u8], env: &VmEnv, unit: &mut Unit) {
    // Valid for every secret kind, including base64 keys (standard webhooks).
    const STAND_IN: &str = "d2ViaG9vay1ndWFyZCBjaGVjaw==";
    let mut vars = env.snapshot();
    unit.config = json.to_vec();
    unit.vars = Vars(vars.clone());
    let mut missing: Vec<String> = Vec::new();
    loop {
        match plugin::parse(json, vars.clone()) {
            Ok(policy) => {
                unit.routes = Some(policy.routes.iter().map(|r| r.name.clone()).collect());
                let monitor = policy.mode == webhook_guard::policy::Mode::Monitor;
                unit.mode = Some(if monitor { "monitor" } else { "enforce" }.into());
                return;
            }
            Err(e) => {
                let var = plugin::unset_variable(&e).map(str::to_string);
                let hint = var.as_deref().map(|v| env.hint(v));
                unit.findings.push(Finding {
                    severity: Severity::Error,
                    code: "config",
                    path: e.path.clone(),
                    message: e.to_string(),
                    hint,
                });
                match var {
                    Some(v) if !missing.contains(&v) && missing.len() < 64 => {
                        vars.insert(v.clone(), STAND_IN.to_string());
                        missing.push(v);
                    }
                    _ => return,
                }
            }
        }
    }
}

/// The one webhook-guard configuration a file holds, as the plugin would be handed it:
/// its bytes and the variables its VM sees.
pub fn only_configuration(path: &Path, opts: &Options) -> Result<(Vec<u8>, HashMap<String, String>), String> {
    let mut report = check_file(path, opts);
    if let Some(e) = report.error {
        return Err(format!("{}: {e}", report.file));
    }
    if report.units.len() > 1 {
        let all: Vec<String> = report.units.iter().map(|u| u.location.clone()).collect();
        return Err(format!(
            "{}: holds {} configurations ({}): give a file with one",
            report.file,
            all.len(),
            all.join("; ")
        ));
    }
    let unit = report.units.pop().ok_or_else(|| format!("{}: no configuration", report.file))?;
    Ok((unit.config, unit.vars.0))
}
