"""`webhook-guard sign` against a real Envoy (SPEC 6): for every preset the plugin
verifies, the request the command signs is forwarded untouched, and the same request with
one byte changed is refused and reaches nothing. Also: a route's own scheme (generic
included) signed through --config, and the --curl line run as it is printed.

One Envoy serves all of it: one route per preset. Keys for the asymmetric schemes are made
by openssl, and their public keys read back by openssl, not by the command."""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
from pathlib import Path

import pytest

import harness
from test_cli import cli, write_config

import provider_signing as ps
from test_cli import CLI

# The presets as the plugin defines them (its own list, first column of `sign --list`, up to
# `generic`; the senders after it have checks of their own): every one gets a route and a case.
LISTED = [line.split()[0] for line in subprocess.run([str(CLI), "sign", "--list"], check=True, capture_output=True,
                                                     text=True).stdout.splitlines() if not line.startswith(" ")]
NAMES = LISTED[:LISTED.index("generic")]

SECRET = "e2e-sign-secret-8d3f1a"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"e2e sign standard webhooks key 01").decode()
TEAMS_TOKEN = base64.b64encode(b"e2e sign teams outgoing token").decode()
GENERIC_SECRET = "e2e-sign-generic-5b7c"
AIRTABLE_SECRET = base64.b64encode(b"e2e sign airtable mac secret 01").decode()
ADYEN_KEY = "9F6A1C3E5B7D9F1A3C5E7B9D1F3A5C7E9B1D3F5A7C9E1B3D5F7A9C1E3B5D7F9A"
ENV = {"PROVIDER_SECRET": SECRET, "STANDARD_SECRET": STANDARD_SECRET, "TEAMS_TOKEN": TEAMS_TOKEN,
       "GENERIC_SECRET": GENERIC_SECRET, "AIRTABLE_SECRET": AIRTABLE_SECRET, "ADYEN_KEY": ADYEN_KEY}
# Secrets other than PROVIDER_SECRET, by the preset whose format needs them.
SECRET_ENV = {"standard": "STANDARD_SECRET", "svix": "STANDARD_SECRET", "clerk": "STANDARD_SECRET",
              "resend": "STANDARD_SECRET", "replicate": "STANDARD_SECRET", "openai": "STANDARD_SECRET", "brex": "STANDARD_SECRET",
              "microsoft_teams": "TEAMS_TOKEN", "airtable": "AIRTABLE_SECRET", "adyen": "ADYEN_KEY"}
PUBLIC_URL = "https://hooks.example.com/public/twilio"

BODY = '{"id":"evt_sign_1","type":"test.event","data":{"amount":4200,"note":"h\u00e9llo"}}'.encode()
FORM = b"To=%2B18005551212&From=%2B12349013030&Body=Hello+world&Digits=1234"
MAILGUN_TOKEN = "e2e-mailgun-token-1234"
# An Adyen notification as the Customer Area's test sends it, before the command signs each item.
ADYEN_BODY = (b'{"live":"false","notificationItems":[{"NotificationRequestItem":{"amount":{"currency":"EUR","value":4200},'
              b'"eventCode":"AUTHORISATION","merchantAccountCode":"E2EShop","merchantReference":"evt_sign_1",'
              b'"pspReference":"8816178914079738","success":"true"}}]}')


def openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path | str]:
    d = tmp_path_factory.mktemp("keys")
    ed, ec = d / "ed25519.pem", d / "p256.pem"
    openssl("genpkey", "-algorithm", "ed25519", "-out", str(ed))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(ec))
    ed_public = openssl("pkey", "-in", str(ed), "-pubout", "-outform", "DER")[-32:]
    ec_spki = openssl("pkey", "-in", str(ec), "-pubout", "-outform", "DER")
    return {"ed": ed, "ec": ec, "discord": ed_public.hex(), "v1a": "whpk_" + base64.b64encode(ed_public).decode(),
            "telnyx": base64.b64encode(ed_public).decode(), "sendgrid": base64.b64encode(ec_spki).decode()}


def route_keys(name: str, keys: dict) -> dict:
    if name == "discord":
        return {"public_keys": [{"id": "app", "value": keys["discord"]}]}
    if name == "sendgrid":
        return {"public_keys": [{"id": "sg", "value": keys["sendgrid"]}]}
    if name == "telnyx":
        return {"public_keys": [{"id": "acct", "value": keys["telnyx"]}]}
    return {"secrets": [{"id": "current", "env": SECRET_ENV.get(name, "PROVIDER_SECRET")}]}


def policy(keys: dict) -> dict:
    routes = [{"name": f"s_{n}", "match": {"path_exact": f"/s/{n}"},
               "checks": {"signature": {"scheme": n, **route_keys(n, keys)}}} for n in NAMES]
    routes += [
        {"name": "s_standard_v1a", "match": {"path_exact": "/s/standard_v1a"},
         "checks": {"signature": {"scheme": "standard", "public_keys": [{"id": "ed", "value": keys["v1a"]}]}}},
        {"name": "s_generic", "match": {"path_exact": "/s/generic"},
         "checks": {"signature": {"scheme": "generic", "secrets": [{"id": "g", "env": "GENERIC_SECRET"}],
                                  "header": "X-Acme-Signature", "algorithm": "sha512", "encoding": "base64url",
                                  "list": {"separator": ";", "pair": "=", "signature_key": "s1", "timestamp_key": "ts"},
                                  "id_header": "X-Acme-Delivery", "signed_payload": "{method} {path}\n{id}.{timestamp}.{body}"}}},
        {"name": "s_twilio_public", "match": {"path_exact": "/s/twilio_public"},
         "checks": {"signature": {"scheme": "twilio", "secrets": [{"env": "PROVIDER_SECRET"}], "public_url": PUBLIC_URL}}},
    ]
    return {"api": "v1", "mode": "enforce", "max_body_bytes": 65536, "unmatched": "deny", "routes": routes}


@pytest.fixture(scope="module")
def envoy(envoy_factory, keys):
    return envoy_factory.start(policy(keys), ENV, name="sign")


@pytest.fixture(scope="module")
def envoy_yaml(envoy, keys, tmp_path_factory, upstream_server) -> Path:
    """The same deployment as a file, for --config: secrets come from its key_values."""
    cfg = harness.build_config(policy(keys), upstream_server.port, ENV)
    return write_config(tmp_path_factory.mktemp("cfg"), cfg)


def key_args(name: str, keys: dict) -> list[str]:
    if name in ("discord", "sendgrid", "telnyx"):
        return ["--private-key", str(keys["ec" if name == "sendgrid" else "ed"])]
    if name == "standard_v1a":
        return ["--private-key", str(keys["ed"])]
    return ["--secret-env", "SIGNING_SECRET"]


def secret_of(name: str) -> str:
    return ENV[SECRET_ENV.get(name, "PROVIDER_SECRET")]


def body_of(name: str) -> bytes:
    if name == "adyen":
        return ADYEN_BODY
    return FORM if name in ("twilio", "mandrill") else BODY


def parse(out: str) -> tuple[list[tuple[str, str]], bytes | None]:
    """Header lines; after a blank line, the body the scheme's fields were set in."""
    head, _, rest = out.partition("\n\n")
    headers = [tuple(line.split(": ", 1)) for line in head.splitlines()]
    return headers, (rest[:-1].encode() if rest else None)


def sign(args: list[str], body: bytes, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[list, bytes]:
    f = tmp_path / "body"
    f.write_bytes(body)
    r = cli("sign", *args, "--body", str(f), env=env)
    assert r.returncode == 0, r.stderr
    headers, changed = parse(r.stdout)
    return headers, body if changed is None else changed


def changed_byte(name: str, headers: list, body: bytes) -> tuple[list, bytes]:
    """The same request with one byte changed where the scheme signs it."""
    if name in ("gitlab", "okta"):  # the token proves the sender, not the body
        token = {"gitlab": "x-gitlab-token", "okta": "authorization"}[name]
        return [(k, v[:-1] + ("x" if v[-1] != "x" else "y")) if k == token else (k, v) for k, v in headers], body
    if name == "figma":  # so does the passcode in the body
        return headers, body.replace(f'"passcode":"{SECRET}"'.encode(), f'"passcode":"{SECRET}x"'.encode(), 1)
    if name == "mailgun":  # signs its timestamp and token, not the body
        return headers, body.replace(MAILGUN_TOKEN.encode(), MAILGUN_TOKEN[:-1].encode() + b"5", 1)
    changed = body.replace(b"4200", b"4201", 1).replace(b"Digits=1234", b"Digits=1235", 1)
    assert changed != body
    return headers, changed


def send_and_tamper(envoy, upstream, name: str, route: str, path: str, headers: list, body: bytes) -> None:
    resp = harness.http1(envoy.port, "POST", path, headers, body)
    assert resp.status == 200, (name, resp.status, resp.body, headers)
    [rec] = upstream.requests()
    assert rec.body == body and rec.path == path
    for k, v in headers:
        assert rec.header_values(k) == [v], k
    assert rec.header_values("x-webhook-guard") == [f"route={route}"]
    upstream.reset()
    tampered_headers, tampered_body = changed_byte(name, headers, body)
    resp = harness.http1(envoy.port, "POST", path, tampered_headers, tampered_body)
    assert resp.status == 401, (name, resp.status)
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("name", NAMES + ["standard_v1a"])
def test_signed_by_the_command_is_forwarded_and_a_changed_byte_refused(envoy, upstream, keys, tmp_path, name):
    scheme = "standard" if name == "standard_v1a" else name
    path = f"/s/{name}"
    args = ["--scheme", scheme, *key_args(name, keys), "--url", f"http://example.test{path}"]
    if name == "mailgun":
        args += ["--id", MAILGUN_TOKEN]
    headers, body = sign(args, body_of(name), tmp_path, env={"SIGNING_SECRET": secret_of(name)})
    send_and_tamper(envoy, upstream, name, f"s_{name}", path, headers, body)


@pytest.mark.parametrize("route", ["s_generic", "s_twilio_public", "s_github", "s_sendgrid"])
def test_a_configured_route_is_signed_with_its_own_scheme_and_secret(envoy, upstream, keys, envoy_yaml, tmp_path, route):
    """--config reads the route's fields (generic, public_url) and its secret from the
    config's environment; a public-key route signs with --private-key."""
    name = route.removeprefix("s_")
    path = f"/s/{name}"
    args = ["--config", str(envoy_yaml), "--route", route, "--url", f"http://example.test{path}"]
    if name == "sendgrid":
        args += ["--private-key", str(keys["ec"])]
    headers, body = sign(args, FORM if name == "twilio_public" else BODY, tmp_path)
    if name == "generic":
        sig = dict(headers)["x-acme-signature"]
        assert re.fullmatch(r"ts=\d+;s1=[A-Za-z0-9_-]{86}", sig), sig
    send_and_tamper(envoy, upstream, "twilio" if name == "twilio_public" else name, route, path, headers, body)


@pytest.mark.parametrize("name", ["github", "twilio", "mailgun"])
def test_the_curl_line_runs_as_printed(envoy, upstream, tmp_path, name):
    """The printed command, run by a shell: Twilio's JSON body gets its bodySHA256 in the
    URL, Mailgun's fields are set in the body the line carries."""
    f = tmp_path / "body.json"
    f.write_bytes(BODY)
    url = f"http://127.0.0.1:{envoy.port}/s/{name}"
    r = cli("sign", "--scheme", name, "--secret", SECRET, "--body", str(f), "--curl", url)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("curl ") and "\n" not in line
    assert SECRET not in line
    done = subprocess.run(["sh", "-c", line + " -o /dev/null -w '%{http_code}'"], capture_output=True, text=True, timeout=30)
    assert done.stdout == "200", (line, done.stdout, done.stderr)
    [rec] = upstream.requests()
    assert rec.header_values("x-webhook-guard") == [f"route=s_{name}"]
    if name == "mailgun":
        assert rec.body != BODY and b'"signature":{' in rec.body
    else:
        assert rec.body == BODY
    if name == "twilio":
        assert "bodySHA256=" in rec.path
    # The words the line sends are the ones it shows.
    assert shlex.split(line)[2] == (url if name != "twilio" else url + "?" + rec.path.split("?", 1)[1])


def test_list_names_every_preset():
    r = cli("sign", "--list")
    assert r.returncode == 0
    listed = [line.split()[0] for line in r.stdout.splitlines() if not line.startswith(" ")]
    # Every preset the independent Python recipes sign, in the table's order, then generic,
    # then the senders with checks of their own (test_directory_senders.py).
    assert listed == list(ps.SIGNERS) + ["generic", "paypal", "plaid"]
    # Under each preset, indented: the page it follows.
    blocks = re.split(r"\n(?=\S)", r.stdout.strip())
    for name, block in zip(listed, blocks):
        if name != "generic":
            assert re.search(r"^ +source: https://\S+$", block, re.M), block


@pytest.fixture(scope="module")
def demo_envoy(envoy_factory):
    demo = harness.load_demo_config()
    cfg = harness.for_test(demo, envoy_factory.upstream.port)
    secrets = harness.collect_secrets(harness.demo_policy(demo), harness.demo_env(demo))
    return envoy_factory.start_config(cfg, name="demo", secrets=secrets)


@pytest.mark.parametrize("route", [r["name"] for r in harness.demo_policy()["routes"]])
def test_the_demo_config_signs_its_own_routes(demo_envoy, upstream, tmp_path, route):
    """What docs/cli.md shows: `sign --config envoy/envoy.yaml --route NAME --curl`, run
    against the demo Envoy (`make run`), is forwarded; one changed byte is refused."""
    body = tmp_path / "body.json"
    body.write_bytes(b'{"action":"opened","number":7}')
    url = f"http://127.0.0.1:{demo_envoy.port}/webhooks/{route}"
    r = cli("sign", "--config", str(harness.DEMO_ENVOY_YAML), "--route", route, "--body", str(body), "--curl", url)
    assert r.returncode == 0, r.stderr
    run = lambda: subprocess.run(["sh", "-c", r.stdout.strip() + " -o /dev/null -w '%{http_code}'"],
                                 capture_output=True, text=True, timeout=30).stdout
    assert run() == "200"
    [rec] = upstream.requests()
    assert rec.body == body.read_bytes() and rec.header_values("x-webhook-guard") == [f"route={route}"]
    upstream.reset()
    body.write_bytes(b'{"action":"opened","number":8}')
    assert run() == "401"
    upstream.assert_nothing_reached()
