"""A configuration the plugin refuses stops Envoy (fail closed), and the log says which
field is wrong, before Envoy's own complaint, without printing a secret (SPEC 2, 5)."""

from __future__ import annotations

import copy
import re

import pytest

import harness

SECRET_VALUE = "cfg-e2e-inline-secret-8h7g"
ENV_SECRET = "cfg-e2e-env-secret-6f5e"


def good_policy() -> dict:
    return {
        "api": "v1",
        "routes": [
            {"name": "github", "match": {"path_prefix": "/hooks/github"},
             "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"},
                                                                      {"id": "inline", "value": SECRET_VALUE}]}}},
            {"name": "stripe", "match": {"path_prefix": "/hooks/stripe"},
             "checks": {"signature": {"scheme": "stripe", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}},
        ],
    }


def sig(p: dict, i: int = 0) -> dict:
    return p["routes"][i]["checks"]["signature"]


def mutate(fn):
    p = good_policy()
    fn(p)
    return p


ENV = {"GH_SECRET": ENV_SECRET}

# (id, policy, env, strings the plugin's error line must hold)
CASES = [
    ("unknown-top-level-field", mutate(lambda p: p.update(colour="blue")), ENV, ["colour"]),
    ("unknown-field-in-signature", mutate(lambda p: sig(p).update(hash="md5")), ENV,
     ["routes[0].checks.signature", "hash"]),
    ("unknown-field-in-secret", mutate(lambda p: sig(p)["secrets"][0].update(file="/etc/secret")), ENV,
     ["routes[0].checks.signature.secrets[0]", "file"]),
    ("unknown-check", mutate(lambda p: p["routes"][1]["checks"].update(magic={})), ENV, ["routes[1].checks", "magic"]),
    ("env-secret-unset", good_policy(), {}, ["routes[0].checks.signature.secrets[0].env"]),
    ("env-secret-empty", good_policy(), {"GH_SECRET": ""}, ["routes[0].checks.signature.secrets[0].env"]),
    ("unknown-scheme", mutate(lambda p: sig(p, 1).update(scheme="paypal")), ENV, ["routes[1].checks.signature.scheme"]),
    ("bad-not-after", mutate(lambda p: sig(p)["secrets"][1].update(not_after="next tuesday")), ENV,
     ["routes[0].checks.signature.secrets[1].not_after"]),
    ("wrong-api", mutate(lambda p: p.update(api="v2")), ENV, ["api"]),
    ("bad-mode", mutate(lambda p: p.update(mode="audit")), ENV, ["mode"]),
    ("bad-unmatched", mutate(lambda p: p.update(unmatched="maybe")), ENV, ["unmatched"]),
    ("duplicate-route-name", mutate(lambda p: p["routes"][1].update(name="github")), ENV, ["routes[1].name"]),
    ("bad-route-name", mutate(lambda p: p["routes"][0].update(name="GitHub Hooks")), ENV, ["routes[0].name"]),
    ("wrong-type", mutate(lambda p: p.update(max_body_bytes="big")), ENV, ["max_body_bytes"]),
    # A secret written where another kind of value belongs is named by its kind only.
    ("secret-in-a-number-field", mutate(lambda p: sig(p).update(tolerance_seconds=SECRET_VALUE)), ENV,
     ["routes[0].checks.signature.tolerance_seconds: expected a non-negative integer, found a string"]),
    ("secret-instead-of-a-list", mutate(lambda p: sig(p, 1).update(secrets=SECRET_VALUE)), ENV,
     ["routes[1].checks.signature.secrets: expected an array, found a string"]),
    ("secret-instead-of-an-object", mutate(lambda p: sig(p, 1).update(secrets=[SECRET_VALUE])), ENV,
     ["routes[1].checks.signature.secrets[0]: expected an object, found a string"]),
    ("standard-secret-not-base64", mutate(lambda p: sig(p, 1).update(
        scheme="standard", secrets=[{"id": "current", "value": "whsec_%%%not-base64%%%"}])), ENV,
     ["routes[1].checks.signature.secrets[0]"]),
    ("generic-bad-algorithm", mutate(lambda p: sig(p, 1).update(scheme="generic", algorithm="md5")), ENV,
     ["routes[1].checks.signature.algorithm"]),
]


def plugin_error_lines(log: str) -> list[str]:
    mark = harness.plugin_log_mark()
    return [line for line in log.splitlines() if mark in line and re.search(r"\]\[(error|critical)\]", line)]


@pytest.mark.parametrize("policy,env,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_configuration_stops_envoy_and_names_the_field(envoy_factory, policy, env, expected):
    failure = envoy_factory.start_failing(policy, env)
    assert failure.returncode != 0
    lines = plugin_error_lines(failure.log)
    assert lines, f"no error line from the plugin in:\n{failure.log[-3000:]}"
    assert any(all(s in line for s in expected) for line in lines), (expected, lines)
    # The plugin says why before Envoy says that it failed.
    log = failure.log
    envoy_says = [m.start() for m in re.finditer(
        r"Unable to create Wasm|failed to load|Failed to configure|Failed to initialize dynamic module", log)]
    assert envoy_says and log.index(lines[0]) < min(envoy_says)
    assert SECRET_VALUE not in log and ENV_SECRET not in log


def test_malformed_json_stops_envoy(envoy_factory):
    failure = envoy_factory.start_failing('{"api": "v1", "routes": [', ENV)
    assert failure.returncode != 0
    assert plugin_error_lines(failure.log)


def test_empty_configuration_stops_envoy(envoy_factory):
    failure = envoy_factory.start_failing("", ENV)
    assert failure.returncode != 0


def test_the_good_policy_starts(envoy_factory):
    """The cases above differ from a configuration that works by one field each."""
    envoy = envoy_factory.start(copy.deepcopy(good_policy()), ENV, name="good")
    assert envoy.port
    envoy.assert_no_secret_in_log()
