"""The `webhook-guard` command against a real Envoy (SPEC 6): `check` reports for an Envoy
config exactly the line the plugin logs when Envoy loads it, and passes the configs Envoy
accepts; what `jwt` mints, Envoy lets through, and one changed byte it refuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import harness
from test_config_errors import CASES, ENV, good_policy, plugin_error_lines

CLI = Path(os.environ.get("WEBHOOK_GUARD_CLI", harness.REPO / "target" / "release" / "webhook-guard"))
PLUGIN_SAYS = "webhook-guard: invalid configuration: "


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not CLI.is_file():
        pytest.fail(f"the command is not built: {CLI} is missing (run `make cli`)", pytrace=False)
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ.get("PATH", ""), **(env or {})})


def check_json(path: Path, env: dict[str, str] | None = None) -> tuple[int, dict]:
    r = cli("check", "--format", "json", str(path), env=env)
    return r.returncode, json.loads(r.stdout)


def write_config(tmp_path: Path, cfg: dict, name: str = "envoy.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


# Every case of test_config_errors would do; these cover unknown fields, types, the
# environment, scheme checks and a JSON syntax error.
COMPARED = ["unknown-field-in-secret", "env-secret-unset", "unknown-scheme", "wrong-type", "bad-not-after",
            "standard-secret-not-base64"]


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in COMPARED], ids=lambda c: c[0])
def test_check_reports_what_envoy_logs(envoy_factory, upstream, tmp_path, case):
    _, policy, env, _ = case
    cfg = harness.build_config(policy, upstream.port, env)
    code, report = check_json(write_config(tmp_path, cfg))
    assert code == 1
    [unit] = report["files"][0]["configurations"]
    assert unit["location"] == "listener webhooks, http filter webhook_guard"
    cli_message = unit["errors"][0]["message"]

    failure = envoy_factory.start_failing(policy, env)
    lines = plugin_error_lines(failure.log)
    logged = [line.split(PLUGIN_SAYS, 1)[1] for line in lines if PLUGIN_SAYS in line]
    assert logged, failure.log[-3000:]
    assert cli_message == logged[0]


def test_check_reports_a_json_syntax_error_as_envoy_logs_it(envoy_factory, upstream, tmp_path):
    broken = '{"api": "v1", "routes": ['
    code, report = check_json(write_config(tmp_path, harness.build_config(broken, upstream.port, ENV)))
    assert code == 1
    message = report["files"][0]["configurations"][0]["errors"][0]["message"]
    failure = envoy_factory.start_failing(broken, ENV)
    logged = [line.split(PLUGIN_SAYS, 1)[1] for line in plugin_error_lines(failure.log) if PLUGIN_SAYS in line]
    assert logged and message == logged[0]


def test_what_check_passes_envoy_loads(envoy_factory, upstream, tmp_path):
    cfg = harness.build_config(good_policy(), upstream.port, ENV)
    r = cli("check", "--strict", str(write_config(tmp_path, cfg)))
    assert r.returncode == 0, r.stdout
    assert "ok, 2 routes (github, stripe), mode enforce" in r.stdout
    envoy = envoy_factory.start(good_policy(), ENV, name="checked")
    assert envoy.port
    # Never a secret value in what the command prints.
    for secret in ENV.values():
        assert secret not in r.stdout


JWT_SECRET = "cli-e2e-jwt-secret-5d4c3b"
JWT_POLICY = {"api": "v1", "routes": [
    {"name": "jwt", "match": {"path_prefix": "/hooks/jwt"},
     "checks": {"jwt": {"secrets": [{"id": "current", "env": "JWT_SECRET"}], "algorithms": ["HS256", "HS384", "HS512"],
                        "issuer": "flatfile", "audiences": ["webhooks"]}}},
]}


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_jwt_minted_by_the_command_is_accepted_and_a_changed_byte_refused(envoy_factory, upstream, alg):
    envoy = envoy_factory.start(JWT_POLICY, {"JWT_SECRET": JWT_SECRET}, name=f"jwt-{alg}")
    r = cli("jwt", "--secret-env", "S", "--alg", alg, "--claim", "iss=flatfile", "--claim", "aud=webhooks",
            env={"S": JWT_SECRET})
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    body = b'{"event":"cli"}'
    resp = harness.http1(envoy.port, "POST", "/hooks/jwt", [("Authorization", f"Bearer {token}")], body)
    assert resp.status == 200, resp.body
    [seen] = upstream.requests()
    assert seen.body == body and seen.header("x-webhook-guard") == "route=jwt"

    upstream.reset()
    head, claims, sig = token.split(".")
    tampered = f"{head}.{claims}.{('B' if sig[0] == 'A' else 'A') + sig[1:]}"
    resp = harness.http1(envoy.port, "POST", "/hooks/jwt", [("Authorization", f"Bearer {tampered}")], body)
    assert resp.status == 401
    upstream.assert_nothing_reached()
    assert re.search(r"reason=token_signature_mismatch", envoy.wait_log("reason=token_"))


EXPLAIN_SECRET = "cli-e2e-explain-gh-7c6b5a"
WAF = "cli-e2e-explain-waf-4e3d"
EXPLAIN_POLICY = {"api": "v1", "routes": [
    {"name": "github", "match": {"path_prefix": "/hooks/github"},
     "checks": {"headers": [{"name": "x-waf-token", "secrets": [{"id": "waf", "env": "WAF"}]}],
                "signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH"}]}}},
]}
EXPLAIN_ENV = {"GH": EXPLAIN_SECRET, "WAF": WAF}


def test_explain_names_the_reason_envoy_logs(envoy_factory, upstream, tmp_path):
    import signing

    envoy = envoy_factory.start(EXPLAIN_POLICY, EXPLAIN_ENV, name="explain", hcm_options={"preserve_external_request_id": True})
    config = write_config(tmp_path, harness.build_config(EXPLAIN_POLICY, upstream.port, EXPLAIN_ENV))
    body = b'{"action":"opened","n":1}'
    good = signing.github(EXPLAIN_SECRET, body)
    cases = [
        ("missing-header", good, body, "header_missing", 401),
        ("wrong-header", [("x-waf-token", "guess"), *good], body, "header_mismatch", 401),
        ("tampered-body", [("x-waf-token", WAF), *good], body.replace(b"1", b"2"), "signature_mismatch", 401),
        ("no-signature", [("x-waf-token", WAF)], body, "signature_missing", 401),
        ("good", [("x-waf-token", WAF), *good], body, None, 200),
    ]
    for name, headers, sent, reason, status in cases:
        request_id = f"explain-{name}"
        headers = [*headers, ("x-request-id", request_id)]
        resp = harness.http1(envoy.port, "POST", "/hooks/github", headers, sent)
        assert resp.status == status, name
        capture = tmp_path / f"{name}.http"
        lines = ["POST /hooks/github HTTP/1.1", "Host: example.test", *(f"{k}: {v}" for k, v in headers),
                 f"Content-Length: {len(sent)}"]
        capture.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
        r = cli("explain", "--config", str(config), "--request", str(capture))
        verdict = [line for line in r.stdout.splitlines() if line.startswith("verdict")]
        if reason is None:
            assert r.returncode == 0 and verdict == ["verdict  forwarded with x-webhook-guard: route=github, without x-waf-token"], r.stdout
            continue
        logged = envoy.wait_log(rf"request_id={request_id}\b")
        assert f"reason={reason} " in logged
        assert r.returncode == 1 and verdict[0].startswith(f"verdict  {status} ") and verdict[0].endswith(f"(reason {reason})"), r.stdout
        for secret in EXPLAIN_ENV.values():
            assert secret not in r.stdout
