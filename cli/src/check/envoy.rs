//! Finding webhook-guard in an Envoy config or an Istio manifest: every HTTP filter that
//! loads it, as a Wasm plugin or as the native dynamic module (wherever it sits: a static
//! listener, an LDS or ECDS resource, an EnvoyFilter patch), with the listener, filter
//! chain and HttpConnectionManager around it; every Istio `WasmPlugin` that delivers it;
//! and every Envoy Gateway `EnvoyExtensionPolicy` entry that loads it.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::warnings::{self, Around};
use super::{compile, EnvPlace, Finding, Options, Severity, Unit, VmEnv};

const WASM_FILTER: &str = "envoy.extensions.filters.http.wasm.v3.Wasm";
pub(super) const NATIVE_FILTER: &str = "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
const HCM: &str = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// Which build of the filter an HTTP filter entry loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edition {
    Wasm,
    /// The Envoy dynamic module (`libwebhook_guard.so`).
    Native,
}

/// Every webhook-guard configuration in one document. `proxies` are the Envoy Gateway
/// `EnvoyProxy` resources of the same file: what an `EnvoyExtensionPolicy` refers to.
pub fn units(doc: &Value, opts: &Options, prefix: &str, proxies: &[&Value]) -> Vec<Unit> {
    let mut out = Vec::new();
    match doc.get("kind").and_then(Value::as_str) {
        Some("WasmPlugin") => {
            if let Some(u) = wasm_plugin(doc, opts, prefix) {
                out.push(u);
            }
        }
        Some("EnvoyFilter") => {
            let name = resource_name(doc);
            let mut found = Vec::new();
            if let Some(patches) = doc.pointer("/spec/configPatches") {
                walk(patches, Around::default(), "spec.configPatches", &mut found);
            }
            let patches = doc.pointer("/spec/configPatches").and_then(Value::as_array);
            for (path, edition, filter, mut around) in found {
                // A filter served by extension config discovery sits where the HTTP_FILTER
                // patch naming it puts it.
                if let Some(inserting) = around.patch.and_then(|p| http_filter_patch(p, patches?)) {
                    around.patch = Some(inserting);
                }
                let location = format!("{prefix}EnvoyFilter {name}, {path}");
                out.extend(filter_unit(edition, filter, &around, opts, &location));
            }
        }
        Some("EnvoyExtensionPolicy") => {
            out.extend(extension_policy(doc, opts, prefix));
            out.extend(gateway_dynamic_modules(doc, opts, prefix, proxies));
        }
        // Other Kubernetes resources (Deployments, Services, ...) hold no filter config.
        Some(_) => {}
        None => {
            let clusters = static_clusters(doc);
            let mut found = Vec::new();
            let start = Around { clusters: clusters.as_ref(), ..Around::default() };
            walk(doc, start, "", &mut found);
            for (path, edition, filter, around) in found {
                let location = match (around.listener, around.filter) {
                    (Some(l), Some(f)) => format!("{prefix}listener {l}, http filter {f}"),
                    _ => format!("{prefix}{path}"),
                };
                out.extend(filter_unit(edition, filter, &around, opts, &location));
            }
        }
    }
    out
}

/// The `HTTP_FILTER` patch that inserts the filter an `EXTENSION_CONFIG` patch defines
/// (its `config_discovery` filter has the extension's name).
fn http_filter_patch<'a>(extension: &Value, patches: &'a [Value]) -> Option<&'a Value> {
    if extension.get("applyTo").and_then(Value::as_str) != Some("EXTENSION_CONFIG") {
        return None;
    }
    let name = extension.pointer("/patch/value/name").and_then(Value::as_str)?;
    patches.iter().find(|p| {
        p.get("applyTo").and_then(Value::as_str) == Some("HTTP_FILTER")
            && p.pointer("/patch/value/name").and_then(Value::as_str) == Some(name)
            && p.pointer("/patch/value/config_discovery").is_some()
    })
}

fn resource_name(doc: &Value) -> String {
    let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("(unnamed)");
    match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// Names of `static_resources.clusters`, when they are all the clusters there are.
fn static_clusters(doc: &Value) -> Option<BTreeSet<String>> {
    if doc.pointer("/dynamic_resources/cds_config").is_some() || doc.pointer("/dynamic_resources/ads_config").is_some()
    {
        return None;
    }
    let clusters = doc.pointer("/static_resources/clusters")?.as_array()?;
    Some(clusters.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect())
}

fn type_is(v: &Value, ty: &str) -> bool {
    v.get("@type").and_then(Value::as_str).is_some_and(|t| t.rsplit('/').next() == Some(ty))
}

fn member_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A filter found below a document: its path, which edition, its typed config, and what
/// surrounds it.
type Found<'a> = (String, Edition, &'a Value, Around<'a>);

/// Collect every Wasm or dynamic-module HTTP filter below `v` with what surrounds it.
fn walk<'a>(v: &'a Value, around: Around<'a>, path: &str, out: &mut Vec<Found<'a>>) {
    match v {
        Value::Object(m) => {
            for (ty, edition) in [(WASM_FILTER, Edition::Wasm), (NATIVE_FILTER, Edition::Native)] {
                if type_is(v, ty) {
                    out.push((path.to_string(), edition, v, around));
                    return;
                }
            }
            let mut here = around;
            if m.contains_key("filter_chains") || m.contains_key("default_filter_chain") {
                here.listener = m.get("name").and_then(Value::as_str).or(here.listener);
            }
            if m.get("filters").is_some_and(Value::is_array) {
                here.chain = Some(v);
            }
            if type_is(v, HCM) {
                here.hcm = Some(v);
            }
            if m.contains_key("typed_config") || m.contains_key("config_discovery") {
                here.filter = m.get("name").and_then(Value::as_str);
                here.entry = Some(v);
            }
            if m.contains_key("applyTo") && m.contains_key("patch") {
                here.patch = Some(v);
            }
            for (k, child) in m {
                walk(child, here.clone(), &member_path(path, k), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, around.clone(), &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Whether a filter loads webhook-guard: its names, or where its code comes from.
fn loads_webhook_guard(edition: Edition, filter: &Value, around: &Around) -> bool {
    if edition == Edition::Native {
        let module = filter.get("dynamic_module_config");
        let texts = [
            around.filter,
            filter.get("filter_name").and_then(Value::as_str),
            module.and_then(|m| m.get("name")).and_then(Value::as_str),
            module.and_then(|m| m.pointer("/module/local/filename")).and_then(Value::as_str),
            module.and_then(|m| m.pointer("/module/remote/http_uri/uri")).and_then(Value::as_str),
        ];
        return texts.into_iter().flatten().any(mentions_us);
    }
    let config = filter.get("config");
    let texts = [
        around.filter,
        config.and_then(|c| c.get("name")).and_then(Value::as_str),
        config.and_then(|c| c.get("root_id")).and_then(Value::as_str),
        config.and_then(|c| c.pointer("/vm_config/vm_id")).and_then(Value::as_str),
        config.and_then(|c| c.pointer("/vm_config/code/local/filename")).and_then(Value::as_str),
        config.and_then(|c| c.pointer("/vm_config/code/remote/http_uri/uri")).and_then(Value::as_str),
    ];
    texts.into_iter().flatten().any(mentions_us)
}

fn mentions_us(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.contains("webhook_guard") || s.contains("webhook-guard")
}

/// The bytes Envoy hands the filter as its configuration, from the Any at `field` (the
/// Wasm filter's `configuration`, the dynamic module's `filter_config`).
fn configuration_bytes(any: Option<&Value>, field: &str) -> Result<Vec<u8>, String> {
    let Some(any) = any else {
        // No configuration: the filter is given nothing, and says so.
        return Ok(Vec::new());
    };
    if type_is(any, "google.protobuf.StringValue") {
        return match any.get("value") {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s.clone().into_bytes()),
            Some(_) => Err(format!("{field}.value must be a string (the plugin's JSON)")),
        };
    }
    if type_is(any, "google.protobuf.BytesValue") {
        let text = any.get("value").and_then(Value::as_str).unwrap_or_default();
        return base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("{field}.value of a BytesValue must be base64"));
    }
    // Envoy serializes a Struct to JSON for a dynamic module (the Wasm filter hands a
    // module nothing of the kind).
    if field == "filter_config" && type_is(any, "google.protobuf.Struct") {
        return Ok(any.get("value").map(as_struct_json).unwrap_or_default().to_string().into_bytes());
    }
    Err(format!("{field} must be a google.protobuf.StringValue holding the plugin's JSON"))
}

/// The VM environment of an Envoy Wasm filter.
fn envoy_env<'a>(config: Option<&Value>, opts: &'a Options) -> VmEnv<'a> {
    let vars = config.and_then(|c| c.pointer("/vm_config/environment_variables"));
    let values = vars
        .and_then(|v| v.get("key_values"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let host_keys = vars
        .and_then(|v| v.get("host_env_keys"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    VmEnv::Listed { values, host_keys, opts, place: EnvPlace::Envoy }
}

fn filter_unit(edition: Edition, filter: &Value, around: &Around, opts: &Options, location: &str) -> Option<Unit> {
    if !loads_webhook_guard(edition, filter, around) {
        return None;
    }
    let config = filter.get("config");
    let (any, field, env) = match edition {
        Edition::Wasm => (config.and_then(|c| c.get("configuration")), "config.configuration", envoy_env(config, opts)),
        // The module reads its secrets from the Envoy process's own environment.
        Edition::Native => {
            let place = if around.patch.is_some() { EnvPlace::Istio } else { EnvPlace::Envoy };
            (filter.get("filter_config"), "filter_config", VmEnv::Host { opts, place })
        }
    };
    let mut unit = Unit::new(location);
    match configuration_bytes(any, field.rsplit('.').next().unwrap_or(field)) {
        Ok(bytes) => {
            compile(&bytes, &env, &mut unit);
            if unit.routes.is_some() {
                if let Ok(policy) = serde_json::from_slice::<Value>(&bytes) {
                    warnings::plugin(&policy, opts.now, &mut unit.findings);
                    warnings::envoy(&policy, around, &mut unit.findings);
                }
            }
        }
        Err(e) => unit.findings.push(Finding {
            severity: Severity::Error,
            code: "configuration_type",
            path: field.into(),
            message: e,
            hint: None,
        }),
    }
    warnings::chain(around, &mut unit.findings);
    match edition {
        Edition::Wasm => warnings::wasm_filter(config, &mut unit.findings),
        Edition::Native => {
            if let Some(f) = native_filter_error(filter) {
                unit.findings.push(f);
            }
        }
    }
    Some(unit)
}

/// What makes Envoy refuse a dynamic-module filter for webhook-guard before the module
/// sees its configuration: no module to load.
fn native_filter_error(filter: &Value) -> Option<Finding> {
    let module = filter.get("dynamic_module_config");
    let named = module.and_then(|m| m.get("name")).and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    if named || module.and_then(|m| m.get("module")).is_some() {
        return None;
    }
    Some(Finding {
        severity: Severity::Error,
        code: "dynamic_module_config",
        path: "dynamic_module_config.name".into(),
        message: "dynamic_module_config names no module: set name: webhook_guard (Envoy loads \
                  lib<name>.so from ENVOY_DYNAMIC_MODULES_SEARCH_PATH) or module.local.filename"
            .into(),
        hint: None,
    })
}

/// An Istio `WasmPlugin`: `pluginConfig` is a protobuf Struct that Istio hands the plugin
/// as JSON (members sorted by name, numbers as doubles), `vmConfig.env` its environment.
fn wasm_plugin(doc: &Value, opts: &Options, prefix: &str) -> Option<Unit> {
    let spec = doc.get("spec")?;
    let name = resource_name(doc);
    let url = spec.get("url").and_then(Value::as_str).unwrap_or_default();
    if !mentions_us(url) && !mentions_us(&name) {
        return None;
    }
    let mut unit = Unit::new(format!("{prefix}WasmPlugin {name}"));
    let config = spec.get("pluginConfig").map(as_struct_json);
    let bytes = config.as_ref().map(|c| c.to_string().into_bytes()).unwrap_or_default();
    let mut values = HashMap::new();
    let mut host_keys = BTreeSet::new();
    for var in spec.pointer("/vmConfig/env").and_then(Value::as_array).into_iter().flatten() {
        let Some(n) = var.get("name").and_then(Value::as_str) else { continue };
        if var.get("valueFrom").and_then(Value::as_str) == Some("HOST") {
            host_keys.insert(n.to_string());
        } else {
            values.insert(n.to_string(), var.get("value").and_then(Value::as_str).unwrap_or_default().to_string());
        }
    }
    compile(&bytes, &VmEnv::Listed { values, host_keys, opts, place: EnvPlace::Istio }, &mut unit);
    if unit.routes.is_some() {
        if let Some(c) = &config {
            warnings::plugin(c, opts.now, &mut unit.findings);
        }
    }
    warnings::istio_wasm_plugin(spec, &mut unit.findings);
    Some(unit)
}

/// An Envoy Gateway `EnvoyExtensionPolicy`: each `spec.wasm[]` entry that loads
/// webhook-guard, its `config` handed to the plugin as JSON, `env.hostKeys` from the host.
fn extension_policy(doc: &Value, opts: &Options, prefix: &str) -> Vec<Unit> {
    let name = resource_name(doc);
    let mut out = Vec::new();
    for (i, w) in doc.pointer("/spec/wasm").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let wasm_name = w.get("name").and_then(Value::as_str).unwrap_or_default();
        let url = w.pointer("/code/image/url").or_else(|| w.pointer("/code/http/url")).and_then(Value::as_str);
        if !mentions_us(wasm_name) && !url.is_some_and(mentions_us) {
            continue;
        }
        let mut unit = Unit::new(format!("{prefix}EnvoyExtensionPolicy {name}, spec.wasm[{i}]"));
        let bytes = w.get("config").map(|c| c.to_string().into_bytes()).unwrap_or_default();
        let host_keys = w
            .pointer("/env/hostKeys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        compile(&bytes, &VmEnv::Listed { values: HashMap::new(), host_keys, opts, place: EnvPlace::Envoy }, &mut unit);
        if unit.routes.is_some() {
            if let Some(c) = w.get("config") {
                warnings::plugin(c, opts.now, &mut unit.findings);
            }
        }
        warnings::gateway_wasm(w, &mut unit.findings);
        out.push(unit);
    }
    out
}

/// An Envoy Gateway `EnvoyExtensionPolicy`'s `spec.dynamicModule[]` entries that load
/// webhook-guard. Envoy Gateway hands `config` to the module as JSON in a StringValue;
/// the module must be registered in the `dynamicModules` of the `EnvoyProxy` the Gateway
/// runs (or it rejects the policy), and the module's secrets come from that proxy's
/// container `env`. `proxies` are the EnvoyProxy resources of the same file.
fn gateway_dynamic_modules(doc: &Value, opts: &Options, prefix: &str, proxies: &[&Value]) -> Vec<Unit> {
    let name = resource_name(doc);
    let mut out = Vec::new();
    for (i, dm) in doc.pointer("/spec/dynamicModule").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let module = dm.get("name").and_then(Value::as_str).unwrap_or_default();
        let registered = proxies.iter().find_map(|p| {
            let entries = p.pointer("/spec/dynamicModules")?.as_array()?;
            let entry = entries.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(module))?;
            Some((*p, entry))
        });
        let source = registered.and_then(|(_, e)| {
            e.pointer("/source/local/path").or_else(|| e.pointer("/source/remote/url")).and_then(Value::as_str)
        });
        let filter_name = dm.get("filterName").and_then(Value::as_str);
        if !mentions_us(module) && !filter_name.is_some_and(mentions_us) && !source.is_some_and(mentions_us) {
            continue;
        }
        let mut unit = Unit::new(format!("{prefix}EnvoyExtensionPolicy {name}, spec.dynamicModule[{i}]"));
        let env = match registered {
            Some((proxy, _)) => proxy_env(proxy, opts),
            None => VmEnv::Host { opts, place: EnvPlace::EnvoyProxy },
        };
        // Envoy Gateway passes the JSON as the API server stores it, members in the order
        // written.
        let bytes = dm.get("config").map(|c| c.to_string().into_bytes()).unwrap_or_default();
        compile(&bytes, &env, &mut unit);
        if unit.routes.is_some() {
            if let Some(c) = dm.get("config") {
                warnings::plugin(c, opts.now, &mut unit.findings);
            }
        }
        if registered.is_none() && !proxies.is_empty() {
            unit.findings.push(Finding {
                severity: Severity::Error,
                code: "dynamic_module_unregistered",
                path: format!("spec.dynamicModule[{i}].name"),
                message: format!(
                    "dynamic module \"{module}\" is not registered in the EnvoyProxy dynamicModules allowlist: Envoy \
                     Gateway rejects this policy"
                ),
                hint: Some(
                    "add it to the EnvoyProxy's spec.dynamicModules with the path of libwebhook_guard.so".into(),
                ),
            });
        }
        if let Some((proxy, _)) = registered {
            warnings::gateway_proxy(proxy, &mut unit.findings);
        }
        out.push(unit);
    }
    out
}

/// The environment an `EnvoyProxy` gives its Envoy container: literal values, and
/// values from Secrets or elsewhere, which this machine's environment stands in for.
fn proxy_env<'a>(proxy: &Value, opts: &'a Options) -> VmEnv<'a> {
    let mut values = HashMap::new();
    let mut host_keys = BTreeSet::new();
    let vars = proxy.pointer("/spec/provider/kubernetes/envoyDeployment/container/env").and_then(Value::as_array);
    for var in vars.into_iter().flatten() {
        let Some(n) = var.get("name").and_then(Value::as_str) else { continue };
        match var.get("value").and_then(Value::as_str) {
            Some(v) if var.get("valueFrom").is_none() => {
                values.insert(n.to_string(), v.to_string());
            }
            _ => {
                host_keys.insert(n.to_string());
            }
        }
    }
    VmEnv::Listed { values, host_keys, opts, place: EnvPlace::EnvoyProxy }
}

/// A value as it comes out of a protobuf Struct in JSON: members sorted by name, every
/// number a double (written without a fraction when it has none).
fn as_struct_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), as_struct_json(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_struct_json).collect()),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
                Value::Number(Number::from(f as i64))
            } else {
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
        other => other.clone(),
    }
}
