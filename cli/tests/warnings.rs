//! Each deployment warning of `check`, on the example with the one change that should
//! raise it (the unchanged examples raise none: see check.rs).

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{assert_says, repo, run, scratch, write};
use serde_json::Value;

fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("envoy").join(name)).expect("example")
}

/// Replace `from` (which must occur) by `to`, once.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the example");
    text.replacen(from, to, 1)
}

/// The warning codes `check` reports for this config, and its exit code under --strict.
fn warnings(name: &str, text: &str) -> (Vec<String>, i32) {
    let dir = scratch("warn");
    let f = write(&dir, name, text);
    let r = run(&["check", "--strict", "--format", "json", "--env-file", "cli/tests/examples.env", &f], &[]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    assert_eq!(doc["errors"], 0, "{}", r.stdout);
    let codes = doc["files"][0]["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap().to_string()))
        .collect();
    (codes, r.code)
}

const FIRST_CHECKS: &str = "\"checks\": {\n";

#[test]
fn each_warning_fires_on_the_demo_changed_to_raise_it() {
    let demo = example("envoy.yaml");
    // Inside the YAML block scalar: indented like the JSON around it.
    let with_check = |check: &str| edit(&demo, FIRST_CHECKS, &format!("{FIRST_CHECKS}{:40}{check},\n", ""));
    let ip = r#""ip_allowlist": { "cidrs": ["10.0.0.0/8"] }"#;
    let cases: Vec<(&str, String)> = vec![
        (
            "allow_on_headers_stop_iteration",
            edit(&demo, "allow_on_headers_stop_iteration: true", "allow_on_headers_stop_iteration: false"),
        ),
        ("allow_on_headers_stop_iteration", edit(&demo, "allow_on_headers_stop_iteration: true", "")),
        ("fail_open", edit(&demo, "fail_open: false", "fail_open: true")),
        ("use_remote_address", edit(&with_check(ip), "use_remote_address: true", "use_remote_address: false")),
        (
            "use_remote_address",
            edit(&with_check(r#""rate_limit": { "requests": 10, "per_seconds": 60 }"#), "use_remote_address: true", ""),
        ),
        (
            "unmatched_allow",
            edit(&edit(&demo, r#""unmatched": "deny""#, r#""unmatched": "allow""#), "merge_slashes: true", ""),
        ),
        (
            "require_client_certificate",
            with_check(&format!(r#""client_cert": {{ "thumbprints": ["{}"] }}"#, "ab".repeat(32))),
        ),
        (
            "unknown_cluster",
            with_check(
                r#""ip_allowlist": { "remote_list": { "cluster": "no_such_cluster", "authority": "a", "path": "/l" } }"#,
            ),
        ),
        (
            "secret_expired",
            edit(
                &demo,
                r#"{ "id": "current", "env": "GITHUB_WEBHOOK_SECRET" }"#,
                r#"{ "id": "current", "env": "GITHUB_WEBHOOK_SECRET" }, { "id": "old", "value": "x", "not_after": "2024-01-31T00:00:00Z" }"#,
            ),
        ),
        ("mode_monitor", edit(&demo, r#""mode": "enforce""#, r#""mode": "monitor""#)),
    ];
    for (want, text) in cases {
        let (codes, code) = warnings("envoy.yaml", &text);
        assert_eq!(codes, vec![want.to_string()], "{want}");
        assert_eq!(code, 2, "{want}: --strict exits 2 on warnings");
    }
    // The same settings that are fine without the check that needs them.
    assert_eq!(
        warnings("envoy.yaml", &edit(&demo, "use_remote_address: true", "use_remote_address: false")).0,
        Vec::<String>::new()
    );
    assert_eq!(
        warnings("envoy.yaml", &with_check(r#""rate_limit": { "requests": 10, "per_seconds": 60, "by": "route" }"#)).0,
        Vec::<String>::new()
    );
    // A secret that expires later is no warning.
    let later = edit(
        &demo,
        r#"{ "id": "current", "env": "GITHUB_WEBHOOK_SECRET" }"#,
        r#"{ "id": "current", "env": "GITHUB_WEBHOOK_SECRET" }, { "id": "old", "value": "x", "not_after": "2999-01-31T00:00:00Z" }"#,
    );
    assert_eq!(warnings("envoy.yaml", &later).0, Vec::<String>::new());
}

#[test]
fn copyleaks_listener_and_cluster_warnings() {
    let cl = example("copyleaks.yaml");
    let (codes, _) =
        warnings("c.yaml", &edit(&cl, "require_client_certificate: true", "require_client_certificate: false"));
    assert_eq!(codes, ["require_client_certificate"]);
    let (codes, _) = warnings("c.yaml", &edit(&cl, "- name: copyleaks_api", "- name: copyleaks_api_renamed"));
    assert_eq!(codes, ["unknown_cluster"]);
    // The login's cluster too.
    let (codes, _) = warnings("c.yaml", &edit(&cl, "- name: copyleaks_id", "- name: copyleaks_id_renamed"));
    assert_eq!(codes, ["unknown_cluster"]);
    // PayPal's and Plaid's clusters too (with a rate limit, so that is the only warning).
    let sender = |check: &str| {
        edit(
            &cl,
            r#""routes": ["#,
            &format!(
                r#""routes": [{{ "name": "sender", "match": {{ "path_exact": "/sender" }}, "checks": {{ "rate_limit": {{ "requests": 5, "per_seconds": 1, "by": "route" }}, {check} }} }},"#
            ),
        )
    };
    let paypal = r#""paypal": { "webhook_id": "W1", "certificates": { "cluster": "paypal_api" } }"#;
    let plaid =
        r#""plaid": { "client_id": { "value": "c" }, "secret": { "value": "s" }, "keys": { "cluster": "plaid_api" } }"#;
    for check in [paypal, plaid] {
        let (codes, _) = warnings("c.yaml", &sender(check));
        assert_eq!(codes, ["unknown_cluster"], "{check}");
    }
    // With clusters from CDS, a cluster the file does not define proves nothing.
    let cds = edit(&cl, "static_resources:", "dynamic_resources:\n  cds_config: { ads: {} }\nstatic_resources:");
    let (codes, _) = warnings("c.yaml", &edit(&cds, "- name: copyleaks_api", "- name: copyleaks_api_renamed"));
    assert_eq!(codes, Vec::<String>::new());
}

const POLICY_YAML: &str = r#"
      api: v1
      routes:
        - name: github
          match: { path_prefix: /hooks/github }
          checks:
            signature:
              scheme: github
              secrets: [{ id: current, env: GITHUB_WEBHOOK_SECRET }]
"#;

#[test]
fn istio_wasm_plugin_and_envoy_filter() {
    let plugin = format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{ name: webhook-guard, namespace: hooks }}\nspec:\n  url: oci://registry.example/webhook-guard:0.1.0\n  phase: AUTHN\n  failStrategy: FAIL_OPEN\n  vmConfig:\n    env:\n      - {{ name: GITHUB_WEBHOOK_SECRET, valueFrom: HOST }}\n  pluginConfig:{POLICY_YAML}"
    );
    let dir = scratch("istio");
    let f = write(
        &dir,
        "wasmplugin.yaml",
        &format!("apiVersion: v1\nkind: Service\nmetadata: {{name: app}}\n---\n{plugin}"),
    );
    let r = run(&["check", "--format", "json", &f], &[("GITHUB_WEBHOOK_SECRET", "gh-7a6b")]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &doc["files"][0]["configurations"][0];
    assert_eq!(c["location"], "document 2: WasmPlugin hooks/webhook-guard");
    assert_eq!(c["routes"], serde_json::json!(["github"]));
    let codes: Vec<&str> = c["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["allow_on_headers_stop_iteration", "fail_open"]);
    assert!(!r.stdout.contains("gh-7a6b"));
    // Not taken from the host: the plugin would refuse the configuration.
    let r = run(&["check", &f], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("environment variable GITHUB_WEBHOOK_SECRET is unset"), "{}", r.stdout);
    assert!(r.stdout.contains("valueFrom: HOST"), "{}", r.stdout);

    let policy_json = serde_json::json!({"api": "v1", "routes": [{"name": "github", "match": {"path_prefix": "/hooks/github"},
        "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GITHUB_WEBHOOK_SECRET"}]}}}]})
    .to_string();
    let filter = format!(
        r#"apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {{ name: webhook-guard-config, namespace: hooks }}
spec:
  configPatches:
    - applyTo: EXTENSION_CONFIG
      patch:
        operation: ADD
        value:
          name: hooks.webhook-guard
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
            config:
              root_id: webhook_guard
              allow_on_headers_stop_iteration: true
              vm_config:
                runtime: envoy.wasm.runtime.v8
                code: {{ remote: {{ http_uri: {{ uri: "oci://registry.example/webhook-guard:0.1.0" }} }} }}
                environment_variables: {{ host_env_keys: [GITHUB_WEBHOOK_SECRET] }}
              configuration:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: '{}'
"#,
        policy_json.replace('\'', "''")
    );
    let f = write(&dir, "envoyfilter.yaml", &filter);
    let r = run(&["check", "--strict", &f], &[("GITHUB_WEBHOOK_SECRET", "gh-7a6b")]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("EnvoyFilter hooks/webhook-guard-config, spec.configPatches[0].patch.value.typed_config: ok, 1 route (github)"), "{}", r.stdout);
    let r = run(&["check", "--strict", &f], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

/// The native example (envoy/native.yaml, the dynamic-module filter) raises the warnings
/// of the deployment around it as the Wasm one does, and none of the Wasm filter's own.
#[test]
fn native_filter_warnings() {
    let native = example("native.yaml");
    let with_check = |check: &str| edit(&native, FIRST_CHECKS, &format!("{FIRST_CHECKS}{:38}{check},\n", ""));
    let ip = r#""ip_allowlist": { "cidrs": ["10.0.0.0/8"] }"#;
    // The filter entry moved behind the router.
    let (head, rest) = native.split_once("                  # webhook-guard must come before the router.\n").unwrap();
    let (ours, router) = rest.split_once("                  - name: envoy.filters.http.router\n").unwrap();
    let (router, tail) = router.split_once("\n\n").unwrap();
    let after_router = format!("{head}                  - name: envoy.filters.http.router\n{router}\n{ours}\n{tail}");
    let cases: Vec<(&str, String)> = vec![
        ("use_remote_address", edit(&with_check(ip), "use_remote_address: true", "use_remote_address: false")),
        ("filter_order", after_router),
        (
            "fail_open",
            edit(
                &native,
                "                  - name: webhook_guard\n",
                "                  - name: webhook_guard\n                    is_optional: true\n",
            ),
        ),
        (
            "fail_open",
            edit(
                &native,
                "                  - name: webhook_guard\n",
                "                  - name: webhook_guard\n                    disabled: true\n",
            ),
        ),
        (
            "unmatched_allow",
            edit(&edit(&native, r#""unmatched": "deny""#, r#""unmatched": "allow""#), "normalize_path: true", ""),
        ),
        ("mode_monitor", edit(&native, r#""mode": "enforce""#, r#""mode": "monitor""#)),
    ];
    for (want, text) in cases {
        let (codes, code) = warnings("native.yaml", &text);
        assert_eq!(codes, vec![want.to_string()], "{want}");
        assert_eq!(code, 2, "{want}");
    }
    // The Wasm filter's own knobs mean nothing to the module: no warning for their absence.
    assert!(!native.contains("allow_on_headers_stop_iteration") && !native.contains("fail_open"));
    assert_eq!(warnings("native.yaml", &native), (Vec::<String>::new(), 0));
    // The same order mistake in the Wasm demo is the same warning.
    let demo = example("envoy.yaml");
    let (head, rest) = demo.split_once("                  # webhook-guard must come before the router.\n").unwrap();
    let (ours, router) = rest.split_once("                  - name: envoy.filters.http.router\n").unwrap();
    let (router, tail) = router.split_once("\n\n").unwrap();
    let wasm_after = format!("{head}                  - name: envoy.filters.http.router\n{router}\n{ours}\n{tail}");
    assert_eq!(warnings("envoy.yaml", &wasm_after).0, ["filter_order"]);
}

#[test]
fn native_filter_config_errors_and_secrets_from_envoys_environment() {
    let native = example("native.yaml");
    let dir = scratch("native");
    let check =
        |name: &str, text: &str| run(&["check", "--env-file", "cli/tests/examples.env", &write(&dir, name, text)], &[]);
    // Secrets come from Envoy's own environment: unset, each is named, with where to set it.
    let r = run(
        &["check", &write(&dir, "native.yaml", &native)],
        &[("STRIPE_WEBHOOK_SECRET", "s"), ("STANDARD_WEBHOOK_SECRET", "whsec_c2VjcmV0")],
    );
    let unset =
        "routes[0].checks.signature.secrets[0].env: environment variable GITHUB_WEBHOOK_SECRET is unset or empty";
    assert_says(&r, 1, &[unset, "the native module reads GITHUB_WEBHOOK_SECRET from the Envoy process's environment"]);
    assert!(!r.stdout.contains("STRIPE_WEBHOOK_SECRET is unset"), "{}", r.stdout);
    // The plugin's own errors, as for the Wasm filter.
    let bad = edit(&native, r#""scheme": "github""#, r#""scheme": "gitlub""#);
    assert_says(&check("bad.yaml", &bad), 1, &["error: routes[0].checks.signature.scheme: unknown scheme \"gitlub\""]);
    // A Struct filter_config is handed over as JSON; a config of another type is refused.
    let value = native.find("value: |\n").unwrap() + "value: |\n".len();
    let router = native.find("                  - name: envoy.filters.http.router").unwrap();
    let json: Value = serde_json::from_str(&native[value..router]).unwrap();
    let config = native.find("                      filter_config:\n").unwrap();
    let as_struct = format!(
        "{}                      filter_config:\n                        \"@type\": type.googleapis.com/google.protobuf.Struct\n                        value: {json}\n{}",
        &native[..config],
        &native[router..]
    );
    let strict = run(
        &["check", "--strict", "--env-file", "cli/tests/examples.env", &write(&dir, "struct.yaml", &as_struct)],
        &[],
    );
    assert_says(&strict, 0, &["ok, 3 routes (github, stripe, standard)"]);
    let other = as_struct.replace("google.protobuf.Struct", "google.protobuf.Duration");
    let refused = "error: filter_config must be a google.protobuf.StringValue holding the plugin's JSON";
    assert_says(&check("other.yaml", &other), 1, &[refused]);
    // No module named: Envoy has nothing to load.
    let nameless = edit(&native, "name: webhook_guard\n                        metrics_namespace", "metrics_namespace");
    let no_module = "error: dynamic_module_config names no module: set name: webhook_guard";
    assert_says(&check("nameless.yaml", &nameless), 1, &[no_module]);
}

/// An Istio HTTP_FILTER patch that appends the filter (ADD) puts it after the router: the
/// ECDS pair of either edition says so.
#[test]
fn istio_patch_after_the_router() {
    for file in ["deploy/istio/native-envoyfilter.yaml", "deploy/istio/envoyfilter.yaml"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let added = edit(&text, "operation: INSERT_FIRST", "operation: ADD");
        let (codes, code) = warnings("envoyfilter.yaml", &added);
        assert_eq!(codes, ["filter_order"], "{file}");
        assert_eq!(code, 2, "{file}");
        assert_eq!(warnings("envoyfilter.yaml", &text), (Vec::<String>::new(), 0), "{file}");
    }
}

/// The warning codes and messages `check --envoy-version VERSION` reports for `text`.
fn with_envoy(name: &str, text: &str, version: &str) -> Vec<(String, String)> {
    let dir = scratch("envoy-version");
    let f = write(&dir, name, text);
    let r = run(
        &["check", "--format", "json", "--env-file", "cli/tests/examples.env", "--envoy-version", version, &f],
        &[],
    );
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    assert_eq!(doc["errors"], 0, "{}", r.stdout);
    doc["files"][0]["configurations"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["code"].as_str().unwrap().to_string(), w["message"].as_str().unwrap().to_string()))
        .collect()
}

const SHA1_PIN: &str = "71:39:DC:4F:13:B4:53:A8:5B:DC:21:85:48:78:18:44:DD:FB:31:44";
const SHA256_PIN: &str = "df37cdc4beb946b43cd631938dff955751f600051032392e2b0b29046a72dd8f";

fn pinned_policy(pin: &str, source: Option<&str>) -> String {
    let source = source.map(|s| format!(r#","source":"{s}""#)).unwrap_or_default();
    format!(
        r#"{{"api":"v1","routes":[{{"name":"cl","match":{{"path_prefix":"/cl"}},"checks":{{"client_cert":{{"thumbprints":["{pin}"]{source}}}}}}}]}}"#
    )
}

#[test]
fn sha1_pins_on_an_envoy_before_1_38_without_the_certificate_in_xfcc() {
    // The Copyleaks example as it was before it set the XFCC options: its remote list
    // (SHA-1 thumbprints at Copyleaks) cannot be checked on 1.36 or 1.37.
    let cl = example("copyleaks.yaml");
    let sanitize = edit(
        &edit(&cl, "forward_client_cert_details: SANITIZE_SET", "forward_client_cert_details: SANITIZE"),
        "set_current_client_cert_details:\n                  cert: true\n",
        "",
    );
    for version in ["1.36", "1.37.0", "v1.37"] {
        let found = with_envoy("c.yaml", &sanitize, version);
        assert_eq!(found.len(), 1, "{version}: {found:?}");
        let (code, message) = &found[0];
        assert_eq!(code, "envoy_version");
        assert!(message.starts_with("route copyleaks pins a remote list of thumbprints"), "{message}");
        assert!(message.contains("cert_pin_unverifiable"), "{message}");
        assert!(message.contains(&format!("Envoy {}", version.trim_start_matches('v').get(..4).unwrap())), "{message}");
    }
    // 1.38 reads the certificate from the connection; the example as shipped writes
    // it into the header for older ones.
    assert_eq!(with_envoy("c.yaml", &sanitize, "1.38"), vec![]);
    assert_eq!(with_envoy("c.yaml", &cl, "1.36"), vec![]);
    // Without --envoy-version nothing is assumed.
    assert_eq!(warnings("c.yaml", &sanitize).0, Vec::<String>::new());
}

#[test]
fn a_plugin_configuration_alone_names_what_the_connection_manager_must_do() {
    let found = with_envoy("p.json", &pinned_policy(SHA1_PIN, None), "1.36");
    let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["envoy_version"]);
    assert!(found[0].1.contains("route cl pins SHA-1 thumbprints"), "{}", found[0].1);
    assert!(found[0].1.contains("unless the connection manager does write the certificate"), "{}", found[0].1);
    // SHA-256 pins are checked against the connection's digest on every release, and
    // source: xfcc reads the header on every release.
    assert_eq!(with_envoy("p.json", &pinned_policy(SHA256_PIN, None), "1.36"), vec![]);
    assert_eq!(with_envoy("p.json", &pinned_policy(SHA1_PIN, Some("xfcc")), "1.36"), vec![]);
    assert_eq!(with_envoy("p.json", &pinned_policy(SHA1_PIN, None), "1.40"), vec![]);
}

#[test]
fn releases_without_what_the_filter_needs() {
    let found = with_envoy("p.json", &pinned_policy(SHA256_PIN, None), "1.34");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("Envoy 1.34 has no allow_on_headers_stop_iteration"), "{}", found[0].1);
    let found = with_envoy("p.json", &pinned_policy(SHA256_PIN, None), "1.35");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("older than any webhook-guard is tested on (1.36 and newer)"), "{}", found[0].1);
    for bad in ["1", "1.x", "1.36.4.1", "one.two", "1..36"] {
        let r = run(&["check", "--envoy-version", bad, "envoy/envoy.yaml"], &[]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("is not an Envoy release: expected MAJOR.MINOR"), "{bad}: {}", r.stderr);
    }
}

#[test]
fn an_event_grid_route_whose_methods_leave_out_options() {
    let policy = |methods: &str| {
        format!(
            r#"{{"api":"v1","routes":[{{"name":"grid","match":{{"path_exact":"/eg"{methods}}},
                "checks":{{"headers":[{{"name":"x-k","secrets":[{{"value":"k"}}]}}],"event_grid":{{}}}}}}]}}"#
        )
    };
    assert_eq!(warnings("p.json", &policy(r#","methods":["POST"]"#)), (vec!["event_grid_without_options".into()], 2));
    // The default methods, or methods that include OPTIONS, let the handshake through.
    assert_eq!(warnings("p.json", &policy("")).0, Vec::<String>::new());
    assert_eq!(warnings("p.json", &policy(r#","methods":["post","options"]"#)).0, Vec::<String>::new());
}

#[test]
fn a_paypal_or_plaid_route_without_a_rate_limit() {
    let paypal = r#""paypal":{"webhook_id":"W1","certificates":{"cluster":"paypal_api"}}"#;
    let plaid = r#""plaid":{"client_id":{"value":"c"},"secret":{"value":"s"},"keys":{"cluster":"plaid_api"}}"#;
    let policy = |check: &str, rate: &str| {
        format!(r#"{{"api":"v1","routes":[{{"name":"r","match":{{"path_exact":"/r"}},"checks":{{{check}{rate}}}}}]}}"#)
    };
    let rate = r#","rate_limit":{"requests":10,"per_seconds":1,"by":"route"}"#;
    for check in [paypal, plaid] {
        assert_eq!(warnings("p.json", &policy(check, "")), (vec!["fetched_keys_without_rate_limit".into()], 2));
        assert_eq!(warnings("p.json", &policy(check, rate)).0, Vec::<String>::new());
    }
}
