//! Finding webhook-guard in an Envoy config or an Istio manifest: every Wasm HTTP filter
//! that loads it (wherever it sits: a static listener, an LDS or ECDS resource, an
//! EnvoyFilter patch), with the listener, filter chain and HttpConnectionManager around
//! it, and every Istio `WasmPlugin` that delivers it.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::warnings::{self, Around};
use super::{compile, Finding, Options, Severity, Unit, VmEnv};

const WASM_FILTER: &str = "envoy.extensions.filters.http.wasm.v3.Wasm";
const HCM: &str = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// Every webhook-guard configuration in one document.
pub fn units(doc: &Value, opts: &Options, prefix: &str) -> Vec<Unit> {
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
            for (path, filter, around) in found {
                out.extend(filter_unit(filter, &around, opts, &format!("{prefix}EnvoyFilter {name}, {path}")));
            }
        }
        Some("EnvoyExtensionPolicy") => out.extend(extension_policy(doc, opts, prefix)),
        // Other Kubernetes resources (Deployments, Services, ...) hold no filter config.
        Some(_) => {}
        None => {
            let clusters = static_clusters(doc);
            let mut found = Vec::new();
            let start = Around { clusters: clusters.as_ref(), ..Around::default() };
            walk(doc, start, "", &mut found);
            for (path, filter, around) in found {
                let location = match (around.listener, around.filter) {
                    (Some(l), Some(f)) => format!("{prefix}listener {l}, http filter {f}"),
                    _ => format!("{prefix}{path}"),
                };
                out.extend(filter_unit(filter, &around, opts, &location));
            }
        }
    }
    out
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

/// Collect every Wasm HTTP filter below `v` with what surrounds it.
fn walk<'a>(v: &'a Value, around: Around<'a>, path: &str, out: &mut Vec<(String, &'a Value, Around<'a>)>) {
    match v {
        Value::Object(m) => {
            if type_is(v, WASM_FILTER) {
                out.push((path.to_string(), v, around));
                return;
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
            if m.contains_key("typed_config") {
                here.filter = m.get("name").and_then(Value::as_str);
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

/// Whether a Wasm filter loads webhook-guard: its names, or where its code comes from.
fn loads_webhook_guard(filter: &Value, around: &Around) -> bool {
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

/// The bytes Envoy hands the plugin as its configuration, from the `configuration` Any.
fn configuration_bytes(config: Option<&Value>) -> Result<Vec<u8>, String> {
    let Some(any) = config.and_then(|c| c.get("configuration")) else {
        // No configuration: the plugin is given nothing, and says so.
        return Ok(Vec::new());
    };
    if type_is(any, "google.protobuf.StringValue") {
        return match any.get("value") {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s.clone().into_bytes()),
            Some(_) => Err("configuration.value must be a string (the plugin's JSON)".into()),
        };
    }
    if type_is(any, "google.protobuf.BytesValue") {
        let text = any.get("value").and_then(Value::as_str).unwrap_or_default();
        return base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "configuration.value of a BytesValue must be base64".into());
    }
    Err("configuration must be a google.protobuf.StringValue holding the plugin's JSON".into())
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
    VmEnv::Listed { values, host_keys, opts, istio: false }
}

fn filter_unit(filter: &Value, around: &Around, opts: &Options, location: &str) -> Option<Unit> {
    if !loads_webhook_guard(filter, around) {
        return None;
    }
    let config = filter.get("config");
    let mut unit = Unit::new(location);
    match configuration_bytes(config) {
        Ok(bytes) => {
            compile(&bytes, &envoy_env(config, opts), &mut unit);
            if unit.routes.is_some() {
                if let Ok(policy) = serde_json::from_slice::<Value>(&bytes) {
                    warnings::plugin(&policy, opts, Some(around), &mut unit.findings);
                    warnings::envoy(&policy, around, &mut unit.findings);
                }
            }
        }
        Err(e) => unit.findings.push(Finding {
            severity: Severity::Error,
            code: "configuration_type",
            path: "config.configuration".into(),
            message: e,
            hint: None,
        }),
    }
    warnings::wasm_filter(config, &mut unit.findings);
    Some(unit)
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
    compile(&bytes, &VmEnv::Listed { values, host_keys, opts, istio: true }, &mut unit);
    if unit.routes.is_some() {
        if let Some(c) = &config {
            warnings::plugin(c, opts, None, &mut unit.findings);
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
        compile(&bytes, &VmEnv::Listed { values: HashMap::new(), host_keys, opts, istio: false }, &mut unit);
        if unit.routes.is_some() {
            if let Some(c) = w.get("config") {
                warnings::plugin(c, opts, None, &mut unit.findings);
            }
        }
        warnings::gateway_wasm(w, &mut unit.findings);
        out.push(unit);
    }
    out
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
