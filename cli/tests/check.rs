//! `webhook-guard check` on the real binary: the examples pass, broken configurations
//! fail with the plugin's own message, each deployment warning fires where it should and
//! nowhere else.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{assert_says, repo, run, scratch, write};

const EXAMPLES_ENV: &str = "cli/tests/examples.env";

/// Every Envoy config and Istio manifest the project ships with a webhook-guard filter.
fn examples() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["envoy", "deploy/compose", "deploy/istio", "deploy/envoy-gateway"] {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // The workloads are the application, webhook-guard-stats.yaml the proxy's stats
            // settings (no plugin configuration in any); the two kept for later are
            // checked below.
            let not_plugin = [
                "workload.yaml",
                "native-workload.yaml",
                "webhook-guard-stats.yaml",
                "wasmplugin.yaml",
                "envoyextensionpolicy.yaml",
            ];
            if name.ends_with(".yaml") && !not_plugin.contains(&name.as_str()) {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    // Both editions: the dynamic-module examples are among them.
    for native in
        ["envoy/native.yaml", "deploy/istio/native-envoyfilter.yaml", "deploy/envoy-gateway/dynamic-module.yaml"]
    {
        assert!(out.iter().any(|f| f == native), "{native} not in {out:?}");
    }
    out
}

/// The Envoy Gateway policy for the native module: the module must be in the EnvoyProxy's
/// allow-list, the EnvoyProxy must run an image that carries it, and the secrets come
/// from the proxy container's env.
#[test]
fn envoy_gateway_dynamic_module_policy() {
    let example = "deploy/envoy-gateway/dynamic-module.yaml";
    let text = std::fs::read_to_string(repo().join(example)).unwrap();
    let dir = scratch("gateway");
    let strict = |f: &str| run(&["check", "--strict", "--env-file", EXAMPLES_ENV, f], &[]);
    let policy = "document 3: EnvoyExtensionPolicy webhooks/webhook-guard, spec.dynamicModule[0]";
    assert_says(&strict(example), 0, &[&format!("{policy}: ok, 1 route (github)")]);
    // A module the EnvoyProxy does not register: Envoy Gateway rejects the policy.
    let other = text.replacen("    - name: webhook-guard\n      source:", "    - name: other-module\n      source:", 1);
    let unregistered = "dynamic module \"webhook-guard\" is not registered in the EnvoyProxy dynamicModules allowlist";
    assert_says(&strict(&write(&dir, "unregistered.yaml", &other)), 1, &[unregistered]);
    // Envoy Gateway's default image carries no module.
    let image = "          image: registry.example.com/webhooks/envoy-webhook-guard:0.1.0\n";
    let default_image = write(&dir, "default-image.yaml", &text.replacen(image, "", 1));
    assert_says(&strict(&default_image), 2, &["warning [dynamic_module_image]"]);
    // The secret comes from the container env (a Secret), which this machine stands in for.
    let unset = "environment variable GITHUB_WEBHOOK_SECRET is unset or empty";
    assert_says(&run(&["check", example], &[]), 1, &[unset, "valueFrom in the EnvoyProxy's container env"]);
    let f = write(&dir, "no-env.yaml", &text.replacen("name: GITHUB_WEBHOOK_SECRET", "name: OTHER_SECRET", 1));
    let r = run(&["check", &f], &[("GITHUB_WEBHOOK_SECRET", "gh-5d1c")]);
    assert_says(&r, 1, &["is not in the EnvoyProxy's provider.kubernetes.envoyDeployment.container.env"]);
    assert!(!r.stdout.contains("gh-5d1c"));
}

#[test]
fn the_manifests_kept_for_later_raise_their_one_warning() {
    for f in ["deploy/istio/wasmplugin.yaml", "deploy/envoy-gateway/envoyextensionpolicy.yaml"] {
        let r = run(&["check", "--strict", "--env-file", EXAMPLES_ENV, f], &[]);
        assert_eq!(r.code, 2, "{f}: {}", r.stdout);
        assert!(r.stdout.contains(": ok, 1 route (github)"), "{}", r.stdout);
        assert_eq!(r.stdout.matches(": warning [").count(), 1, "{}", r.stdout);
        assert!(r.stdout.contains("warning [allow_on_headers_stop_iteration]"), "{}", r.stdout);
    }
}

#[test]
fn every_example_passes_strict_check() {
    for file in examples() {
        let r = run(&["check", "--strict", "--env-file", EXAMPLES_ENV, &file], &[]);
        assert_eq!(r.code, 0, "{file}:\n{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(": ok, "), "{}", r.stdout);
        assert!(!r.stdout.contains(": warning ") && r.stdout.contains(": 0 errors, 0 warnings"), "{}", r.stdout);
    }
}

#[test]
fn example_secrets_come_from_the_environment_and_are_never_printed() {
    // Without the variables the copyleaks example would stop Envoy: each is named,
    // with the field that needs it.
    let r = run(&["check", "envoy/copyleaks.yaml"], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    for (var, field) in [
        ("COPYLEAKS_EMAIL", "routes[0].checks.client_cert.remote_list.login.body.email.env"),
        ("COPYLEAKS_API_KEY", "routes[0].checks.client_cert.remote_list.login.body.key.env"),
        ("COPYLEAKS_WAF_TOKEN", "routes[0].checks.headers[0].secrets[0].env"),
        ("COPYLEAKS_DEVELOPER_PAYLOAD", "routes[0].checks.developer_payload.secrets[0].env"),
    ] {
        let line = format!("error: {field}: environment variable {var} is unset or empty");
        assert!(r.stdout.contains(&line), "{line}\n{}", r.stdout);
    }
    assert!(r.stdout.contains("host_env_keys"), "{}", r.stdout);
    // The process environment serves as Envoy's; values never appear.
    let env = [
        ("COPYLEAKS_EMAIL", "ops-3b1f0c@example.com"),
        ("COPYLEAKS_API_KEY", "key-5e2a9d71"),
        ("COPYLEAKS_WAF_TOKEN", "waf-9d8e7f"),
        ("COPYLEAKS_DEVELOPER_PAYLOAD", "payload-6a5b4c"),
    ];
    let r = run(&["check", "--format", "json", "envoy/copyleaks.yaml"], &env);
    assert_eq!(r.code, 0, "{}", r.stdout);
    for (_, v) in env {
        assert!(!r.stdout.contains(v) && !r.stderr.contains(v));
    }
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["files"][0]["configurations"][0]["routes"], serde_json::json!(["copyleaks"]));
    // A variable that is set but not passed to the VM does not count.
    let dir = scratch("unlisted");
    let text = std::fs::read_to_string(repo().join("envoy/copyleaks.yaml")).unwrap();
    let f = write(&dir, "envoy.yaml", &text.replace("- COPYLEAKS_WAF_TOKEN\n", ""));
    let r = run(&["check", &f], &env);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("COPYLEAKS_WAF_TOKEN is unset or empty"), "{}", r.stdout);
    assert!(r.stdout.contains("not in vm_config.environment_variables"), "{}", r.stdout);
}

fn policy(checks: &str) -> String {
    format!(r#"{{"api":"v1","routes":[{{"name":"a","match":{{"path_prefix":"/"}},"checks":{checks}}}]}}"#)
}

/// Broken plugin configurations and the line the plugin logs for each (the texts of the
/// core's own table; tests/e2e/test_cli.py compares them with Envoy's log).
#[test]
fn broken_configurations_fail_with_the_plugins_message() {
    let sig = r#"{"signature":{"scheme":"github","secrets":[{"env":"S"}]}}"#;
    let table: Vec<(String, &str)> = vec![
        (
            policy(sig).replace(r#""api":"v1","#, r#""api":"v1","colour":"blue","#),
            "colour: unknown field `colour`, expected one of `api`, `mode`, `max_body_bytes`, `unmatched`, `routes`",
        ),
        (r#"{"routes":[]}"#.into(), "api: missing field `api`"),
        (r#"{"api":"v1","api":"v1","routes":[]}"#.into(), "api: duplicate field `api`"),
        (policy(sig).replace("github", "gitlub"), "routes[0].checks.signature.scheme: unknown scheme \"gitlub\" (expected one of github, stripe, slack, shopify, standard, svix,"),
        (policy(r#"{"rate_limit":{"requests":10}}"#), "routes[0].checks.rate_limit.per_seconds: missing field `per_seconds`"),
        (policy(r#"{"magic":{}}"#), "routes[0].checks.magic: unknown field `magic`"),
        (policy("{}"), "routes[0].checks: a route needs at least one check"),
        (policy(sig).replace(r#"{"env":"S"}"#, r#"{"env":"S","not_after":"soon"}"#), "routes[0].checks.signature.secrets[0].not_after: \"soon\" is not an RFC 3339 time such as 2027-01-31T00:00:00Z"),
        (policy(sig).replace(r#""env":"S""#, r#""env":"UNSET_HERE""#), "routes[0].checks.signature.secrets[0].env: environment variable UNSET_HERE is unset or empty (set it in vm_config.environment_variables)"),
        (r#"{"api":"v1","routes":["#.into(), "(top level): EOF while parsing a list at line 1 column 22"),
        ("".into(), "(top level): EOF while parsing a value at line 1 column 0"),
    ];
    let dir = scratch("broken");
    for (i, (json, want)) in table.iter().enumerate() {
        let f = write(&dir, &format!("{i}.json"), json);
        let r = run(&["check", &f], &[("S", "s3cr3t-value")]);
        assert_eq!(r.code, 1, "{json}\n{}", r.stdout);
        let line = format!("{f}: error: {want}");
        assert!(r.stdout.lines().any(|l| l.starts_with(&line)), "{json}\n want {line}\n got {}", r.stdout);
        assert!(!r.stdout.contains("s3cr3t-value"));
        // JSON output carries the same text, with the field's path on its own.
        let r = run(&["check", "--format", "json", &f], &[("S", "s3cr3t-value")]);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        let err = &doc["files"][0]["configurations"][0]["errors"][0];
        assert!(err["message"].as_str().unwrap().starts_with(want), "{err}");
        assert!(want.starts_with(&format!("{}: ", err["path"].as_str().unwrap())) || err["path"] == "");
    }
}

#[test]
fn yaml_plugin_configurations_and_every_missing_variable() {
    let dir = scratch("yaml");
    let f = write(
        &dir,
        "policy.yaml",
        "api: v1\nroutes:\n  - name: gh\n    match: { path_prefix: /gh }\n    checks:\n      signature:\n        scheme: github\n        secrets: [{ env: ONE }, { id: b, env: TWO }]\n  - name: st\n    match: { path_prefix: /st }\n    checks:\n      signature: { scheme: standard, secrets: [{ env: THREE }] }\n",
    );
    let r = run(&["check", &f], &[("TWO", "set")]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("routes[0].checks.signature.secrets[0].env: environment variable ONE"), "{}", r.stdout);
    assert!(r.stdout.contains("routes[1].checks.signature.secrets[0].env: environment variable THREE"), "{}", r.stdout);
    assert!(!r.stdout.contains("variable TWO"), "{}", r.stdout);
    let env_file = write(&dir, "env", "ONE=1\nTHREE=d2ViaG9vaw==\n");
    let r = run(&["check", "--env-file", &env_file, &f], &[("TWO", "set")]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("ok, 2 routes (gh, st), mode enforce"), "{}", r.stdout);
    // YAML errors and files holding nothing to check.
    let bad = write(&dir, "bad.yaml", "api: v1\napi: v2\n");
    let r = run(&["check", &bad], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("not valid YAML") || r.stdout.contains("duplicate"), "{}", r.stdout);
    let other = write(&dir, "other.yaml", "kind: Service\nmetadata: {name: x}\n");
    let r = run(&["check", &other], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("no webhook-guard configuration found"), "{}", r.stdout);
}

#[test]
fn strict_turns_warnings_into_exit_2() {
    let dir = scratch("strict");
    let f = write(
        &dir,
        "p.json",
        &policy(r#"{"signature":{"scheme":"github","secrets":[{"value":"k"}]}}"#)
            .replace(r#""api":"v1","#, r#""api":"v1","mode":"monitor","#),
    );
    let r = run(&["check", &f], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("warning [mode_monitor] mode: mode is monitor"), "{}", r.stdout);
    let r = run(&["check", "--strict", &f], &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // Errors win over warnings.
    let g = write(&dir, "q.json", "{}");
    let r = run(&["check", "--strict", &f, &g], &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}
