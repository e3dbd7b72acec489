//! Deployment warnings: settings the plugin accepts but that weaken what it guards.
//! They read the plugin configuration only after the plugin's own code accepted it, so
//! its shape is known.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{EnvoyVersion, Finding, Options};
use crate::plugin;

/// What surrounds a webhook-guard filter in the config, as far as the file shows it: what
/// the deployment warnings read besides the plugin configuration (`envoy` fills it in).
#[derive(Clone, Default)]
pub struct Around<'a> {
    pub listener: Option<&'a str>,
    /// The filter chain holding the HttpConnectionManager (its `transport_socket`).
    pub chain: Option<&'a Value>,
    pub hcm: Option<&'a Value>,
    /// The `name` of the HTTP filter entry.
    pub filter: Option<&'a str>,
    /// The HTTP filter entry itself (`name`, `typed_config`, `is_optional`, `disabled`).
    pub entry: Option<&'a Value>,
    /// The Istio EnvoyFilter patch holding the filter (`applyTo`, `match`, `patch`).
    pub patch: Option<&'a Value>,
    /// Cluster names the config defines; `None` when clusters may come from elsewhere
    /// (CDS, Istio), so a missing one proves nothing.
    pub clusters: Option<&'a BTreeSet<String>>,
}

/// `(path, route)` for each route of a valid configuration.
fn routes(policy: &Value) -> impl Iterator<Item = (String, &Value)> {
    policy
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| (format!("routes[{i}]"), r))
}

fn route_name(r: &Value) -> &str {
    r.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

/// Warnings any plugin configuration can raise on its own; `around` when the Envoy
/// config around it is known.
pub fn plugin(policy: &Value, opts: &Options, around: Option<&Around>, out: &mut Vec<Finding>) {
    if policy.get("mode").and_then(Value::as_str) == Some("monitor") {
        out.push(Finding::warning(
            "mode_monitor",
            "mode",
            "mode is monitor: every check runs and is logged, but no request is refused",
        ));
    }
    expired_secrets(policy, "", opts.now, out);
    event_grid_methods(policy, out);
    fetched_keys_rate(policy, out);
    if let Some(version) = opts.envoy_version {
        envoy_release(policy, version, around.and_then(|a| a.hcm), out);
    }
}

/// A route with `event_grid` whose `match.methods` leaves out `OPTIONS`: a CloudEvents
/// subscription's validation gets 405 and the subscription is never created.
fn event_grid_methods(policy: &Value, out: &mut Vec<Finding>) {
    for (path, r) in routes(policy) {
        if r.pointer("/checks/event_grid").is_none() {
            continue;
        }
        let Some(methods) = r.pointer("/match/methods").and_then(Value::as_array) else { continue };
        if !methods.iter().any(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case("OPTIONS"))) {
            out.push(Finding::warning(
                "event_grid_without_options",
                format!("{path}.match.methods"),
                format!(
                    "route {} has event_grid but its methods leave out OPTIONS: Event Grid's CloudEvents \
                     validation gets 405 (Event Grid schema subscriptions validate with a POST)",
                    route_name(r)
                ),
            ));
        }
    }
}

/// A route with `paypal` or `plaid` and no `rate_limit`: every certificate URL or key id
/// a request names costs the filter one fetch (with Plaid's credentials) until it is known.
fn fetched_keys_rate(policy: &Value, out: &mut Vec<Finding>) {
    for (path, r) in routes(policy) {
        let fetches = ["paypal", "plaid"].into_iter().find(|c| r.pointer(&format!("/checks/{c}")).is_some());
        let Some(check) = fetches else { continue };
        if r.pointer("/checks/rate_limit").is_none() {
            out.push(Finding::warning(
                "fetched_keys_without_rate_limit",
                format!("{path}.checks"),
                format!(
                    "route {} has {check} but no rate_limit: each new certificate URL or key id a request names \
                     makes the filter fetch it once, so a flood of invented ones becomes a flood of fetches",
                    route_name(r)
                ),
            ));
        }
    }
}

/// The first Envoy release with `connection.peer_certificate`; before it the filter is
/// given only the SHA-256 of a client certificate.
const PEER_CERTIFICATE_SINCE: EnvoyVersion = EnvoyVersion(1, 38);
/// The first Envoy release with `allow_on_headers_stop_iteration`.
const STOP_ITERATION_SINCE: EnvoyVersion = EnvoyVersion(1, 35);
/// The oldest Envoy release the end-to-end suite runs on.
const OLDEST_TESTED: EnvoyVersion = EnvoyVersion(1, 36);

/// What this configuration needs of a newer Envoy than `version`. `hcm`: the connection
/// manager around the filter, when known.
fn envoy_release(policy: &Value, version: EnvoyVersion, hcm: Option<&Value>, out: &mut Vec<Finding>) {
    if version < STOP_ITERATION_SINCE {
        out.push(Finding::warning(
            "envoy_version",
            "",
            format!(
                "Envoy {version} has no allow_on_headers_stop_iteration ({STOP_ITERATION_SINCE} or newer): it forwards \
                 the request headers upstream before the body is verified; webhook-guard is tested on Envoy \
                 {OLDEST_TESTED} and newer"
            ),
        ));
    } else if version < OLDEST_TESTED {
        out.push(Finding::warning(
            "envoy_version",
            "",
            format!("Envoy {version} is older than any webhook-guard is tested on ({OLDEST_TESTED} and newer)"),
        ));
    }
    if version >= PEER_CERTIFICATE_SINCE || hcm.is_some_and(writes_client_cert) {
        return;
    }
    for (p, r) in routes(policy) {
        let Some(cc) = r.pointer("/checks/client_cert") else { continue };
        let from_xfcc = cc.get("source").and_then(Value::as_str) == Some("xfcc");
        let sha1 = cc
            .get("thumbprints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|t| t.chars().filter(char::is_ascii_hexdigit).count() == 40);
        let list = cc.get("remote_list").is_some();
        if from_xfcc || !(sha1 || list) {
            // source: xfcc reads the header whatever the release; SHA-256 pins are
            // checked against the connection's digest.
            continue;
        }
        let pins = match (sha1, list) {
            (true, true) => "pins SHA-1 thumbprints and a remote list (which may hold SHA-1 ones, as Copyleaks' does)",
            (true, false) => "pins SHA-1 thumbprints",
            _ => "pins a remote list of thumbprints (which may hold SHA-1 ones, as Copyleaks' does)",
        };
        let manager =
            if hcm.is_some() { "its connection manager does not" } else { "unless the connection manager does" };
        out.push(Finding {
            hint: Some(format!(
                "pin SHA-256 thumbprints, or set forward_client_cert_details: SANITIZE_SET with \
                 set_current_client_cert_details: {{ cert: true }} on the connection manager, or run Envoy \
                 {PEER_CERTIFICATE_SINCE} or newer"
            )),
            ..Finding::warning(
                "envoy_version",
                format!("{p}.checks.client_cert"),
                format!(
                    "route {} {pins}, but Envoy {version} gives the filter only the SHA-256 of a client \
                     certificate (connection.peer_certificate needs {PEER_CERTIFICATE_SINCE}) and {manager} write \
                     the certificate into x-forwarded-client-cert: a certificate that matches no SHA-256 pin is \
                     refused (cert_pin_unverifiable)",
                    route_name(r)
                ),
            )
        });
    }
}

/// Whether the connection manager writes the client certificate into
/// `x-forwarded-client-cert` itself, replacing what a client sent.
fn writes_client_cert(hcm: &Value) -> bool {
    hcm.get("forward_client_cert_details").and_then(Value::as_str) == Some("SANITIZE_SET")
        && is_true(hcm.pointer("/set_current_client_cert_details/cert"))
}

/// Every `secrets[i].not_after` in the past, wherever a check keeps its secrets.
fn expired_secrets(v: &Value, path: &str, now: u64, out: &mut Vec<Finding>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if k == "secrets" {
                    for (i, s) in child.as_array().into_iter().flatten().enumerate() {
                        let Some(t) = s.get("not_after").and_then(Value::as_str) else { continue };
                        let Some(when) = plugin::rfc3339(t) else { continue };
                        if when < now {
                            let id = s.get("id").and_then(Value::as_str).map_or(i.to_string(), str::to_string);
                            out.push(Finding::warning(
                                "secret_expired",
                                format!("{p}[{i}].not_after"),
                                format!("secret \"{id}\" expired at {t}: it verifies nothing any more; remove it"),
                            ));
                        }
                    }
                } else {
                    expired_secrets(child, &p, now, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                expired_secrets(child, &format!("{path}[{i}]"), now, out);
            }
        }
        _ => {}
    }
}

/// Settings of the Wasm filter itself (Envoy's `PluginConfig`).
pub fn wasm_filter(config: Option<&Value>, out: &mut Vec<Finding>) {
    let get = |k: &str| config.and_then(|c| c.get(k));
    if !is_true(get("allow_on_headers_stop_iteration")) {
        out.push(Finding::warning(
            "allow_on_headers_stop_iteration",
            "config.allow_on_headers_stop_iteration",
            "allow_on_headers_stop_iteration is not true: Envoy forwards the request headers upstream before \
             the body is verified (needs Envoy 1.35 or newer)",
        ));
    }
    if is_true(get("fail_open")) {
        out.push(Finding::warning(
            "fail_open",
            "config.fail_open",
            "fail_open is true: if the plugin fails, requests pass unchecked",
        ));
    }
    if get("failure_policy").and_then(Value::as_str) == Some("FAIL_OPEN") {
        out.push(Finding::warning(
            "fail_open",
            "config.failure_policy",
            "failure_policy is FAIL_OPEN: if the plugin fails, requests pass unchecked",
        ));
    }
}

/// Where the filter sits in its HTTP filter chain, and whether Envoy may run without it.
/// The same for both editions.
pub fn chain(around: &Around, out: &mut Vec<Finding>) {
    const ROUTER: &str = "envoy.filters.http.router";
    let is_router = |f: &Value| {
        f.get("name").and_then(Value::as_str) == Some(ROUTER)
            || f.pointer("/typed_config/@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("envoy.extensions.filters.http.router.v3.Router"))
    };
    if let (Some(hcm), Some(entry)) = (around.hcm, around.entry) {
        let filters = hcm.get("http_filters").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let ours = filters.iter().position(|f| std::ptr::eq(f, entry));
        let router = filters.iter().position(is_router);
        if let (Some(ours), Some(router)) = (ours, router) {
            if ours > router {
                out.push(Finding::warning(
                    "filter_order",
                    "http_connection_manager.http_filters",
                    "the webhook-guard filter comes after the router: the router forwards every request before \
                     the filter sees it, so nothing is checked; put it before envoy.filters.http.router",
                ));
            }
        }
    }
    if let Some(patch) = around.patch {
        let operation = patch.pointer("/patch/operation").and_then(Value::as_str);
        let after = patch.pointer("/match/listener/filterChain/filter/subFilter/name").and_then(Value::as_str);
        let late = patch.get("applyTo").and_then(Value::as_str) == Some("HTTP_FILTER")
            && (operation == Some("ADD") || (operation == Some("INSERT_AFTER") && after == Some(ROUTER)));
        if late {
            out.push(Finding::warning(
                "filter_order",
                "patch.operation",
                "this HTTP_FILTER patch puts the webhook-guard filter after the router, where it checks nothing: \
                 use INSERT_FIRST (or INSERT_BEFORE the router)",
            ));
        }
    }
    if let Some(entry) = around.entry {
        if is_true(entry.get("is_optional")) {
            out.push(Finding::warning(
                "fail_open",
                "http_filters[].is_optional",
                "is_optional is true: an Envoy that cannot load this filter drops it and serves requests unchecked",
            ));
        }
        if is_true(entry.get("disabled")) {
            out.push(Finding::warning(
                "fail_open",
                "http_filters[].disabled",
                "disabled is true: the filter runs only on routes that enable it in typed_per_filter_config; \
                 requests on every other route pass unchecked",
            ));
        }
    }
}

/// What an Envoy Gateway `EnvoyProxy` running the native module lacks.
pub fn gateway_proxy(proxy: &Value, out: &mut Vec<Finding>) {
    if proxy.pointer("/spec/provider/kubernetes/envoyDeployment/container/image").is_none() {
        out.push(Finding::warning(
            "dynamic_module_image",
            "EnvoyProxy spec.provider.kubernetes.envoyDeployment.container.image",
            "the EnvoyProxy runs Envoy Gateway's default Envoy image, which carries neither libwebhook_guard.so nor \
             libgcc_s.so.1: set the image `make image-native` builds",
        ));
    }
}

/// What an Istio `WasmPlugin` cannot say, or says dangerously.
pub fn istio_wasm_plugin(spec: &Value, out: &mut Vec<Finding>) {
    out.push(Finding::warning(
        "allow_on_headers_stop_iteration",
        "spec",
        "a WasmPlugin cannot set allow_on_headers_stop_iteration, so the sidecar forwards the request headers \
         before the body is verified: deliver the plugin with the EnvoyFilter pair (EXTENSION_CONFIG + HTTP_FILTER)",
    ));
    if spec.get("failStrategy").and_then(Value::as_str) == Some("FAIL_OPEN") {
        out.push(Finding::warning(
            "fail_open",
            "spec.failStrategy",
            "failStrategy is FAIL_OPEN: if the plugin fails, requests pass unchecked",
        ));
    }
}

/// What an Envoy Gateway Wasm entry cannot say, or says dangerously.
pub fn gateway_wasm(w: &Value, out: &mut Vec<Finding>) {
    if !is_true(w.get("allowOnHeadersStopIteration")) {
        out.push(Finding::warning(
            "allow_on_headers_stop_iteration",
            "spec.wasm",
            "this EnvoyExtensionPolicy does not set allowOnHeadersStopIteration, so Envoy forwards the request \
             headers before the body is verified: run webhook-guard as a sidecar or a plain Envoy instead",
        ));
    }
    if is_true(w.get("failOpen")) {
        out.push(Finding::warning(
            "fail_open",
            "spec.wasm.failOpen",
            "failOpen is true: if the plugin fails, requests pass unchecked",
        ));
    }
}

/// What the listener and HttpConnectionManager around the filter mean for this policy.
pub fn envoy(policy: &Value, around: &Around, out: &mut Vec<Finding>) {
    if let Some(hcm) = around.hcm {
        let ip_routes: Vec<&str> = routes(policy)
            .filter(|(_, r)| {
                let c = r.get("checks");
                let ip = c.and_then(|c| c.get("ip_allowlist")).is_some();
                let by = c.and_then(|c| c.pointer("/rate_limit/by")).and_then(Value::as_str);
                let per_client = c.and_then(|c| c.get("rate_limit")).is_some() && by.is_none_or(|b| b == "client_ip");
                ip || per_client
            })
            .map(|(_, r)| route_name(r))
            .collect();
        if !ip_routes.is_empty() && !is_true(hcm.get("use_remote_address")) {
            out.push(Finding::warning(
                "use_remote_address",
                "http_connection_manager.use_remote_address",
                format!(
                    "use_remote_address is not true, but route(s) {} check the client address: Envoy then takes \
                     it from X-Forwarded-For, which a client can forge",
                    ip_routes.join(", ")
                ),
            ));
        }
        if policy.get("unmatched").and_then(Value::as_str) == Some("allow") {
            let missing: Vec<&str> =
                ["normalize_path", "merge_slashes"].into_iter().filter(|k| !is_true(hcm.get(*k))).collect();
            if let Some(first) = missing.first() {
                out.push(Finding::warning(
                    "unmatched_allow",
                    format!("http_connection_manager.{first}"),
                    format!(
                        "unmatched is allow and {} not set: Envoy routes paths the application may read as a \
                         guarded one (//hooks, /./hooks) while nothing is checked for requests no route matches",
                        missing.join(" and ")
                    ),
                ));
            }
        }
    }
    if let Some(chain) = around.chain {
        let requires = chain
            .pointer("/transport_socket/typed_config/require_client_certificate")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        for (p, r) in routes(policy) {
            let Some(cc) = r.pointer("/checks/client_cert") else { continue };
            if cc.get("source").and_then(Value::as_str) == Some("xfcc") {
                continue;
            }
            if !requires {
                out.push(Finding::warning(
                    "require_client_certificate",
                    format!("{p}.checks.client_cert"),
                    format!(
                        "route {} pins client certificates, but its listener does not set \
                         require_client_certificate: true, so clients are not asked for one",
                        route_name(r)
                    ),
                ));
            }
        }
    }
    if let Some(clusters) = around.clusters {
        for (p, r) in routes(policy) {
            for check in ["ip_allowlist", "client_cert"] {
                let Some(list) = r.pointer(&format!("/checks/{check}/remote_list")) else { continue };
                let lp = format!("{p}.checks.{check}.remote_list");
                let mut named = vec![(format!("{lp}.cluster"), list.get("cluster"))];
                if let Some(login) = list.get("login") {
                    named.push((format!("{lp}.login.cluster"), login.get("cluster")));
                }
                unknown_clusters(clusters, named, out);
            }
            // The senders whose key is fetched for a request.
            for (check, block) in [("paypal", "certificates"), ("plaid", "keys")] {
                let Some(b) = r.pointer(&format!("/checks/{check}/{block}")) else { continue };
                let named = vec![(format!("{p}.checks.{check}.{block}.cluster"), b.get("cluster"))];
                unknown_clusters(clusters, named, out);
            }
        }
    }
}

/// An `unknown_cluster` warning for each named cluster the config does not define.
fn unknown_clusters(clusters: &BTreeSet<String>, named: Vec<(String, Option<&Value>)>, out: &mut Vec<Finding>) {
    for (fp, c) in named {
        let Some(c) = c.and_then(Value::as_str) else { continue };
        if !clusters.contains(c) {
            out.push(Finding::warning(
                "unknown_cluster",
                fp,
                format!("cluster \"{c}\" is not defined in static_resources.clusters: every fetch fails"),
            ));
        }
    }
}
