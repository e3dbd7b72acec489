#!/usr/bin/env bash
# Run every fuzz target of fuzz/ for FUZZ_SECONDS each (default 60), one after another,
# and print executions and crashes per target. Installs cargo-fuzz when it is missing.
#
#   FUZZ_SECONDS=300 FUZZ_TARGETS="jwt config" scripts/fuzz.sh
#
# The seeds (fuzz/seeds/<target>, committed) are read only; what libFuzzer learns goes to
# .work/fuzz/corpus/<target> and is reused by the next run; crashes are written to
# fuzz/artifacts/<target>/ (reproduce: cargo fuzz run <target> <file>, with the same
# RUSTC_BOOTSTRAP=1). Exit status 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address, the sanitizer
# coverage passes). Only a stable toolchain is available, and it accepts them when
# RUSTC_BOOTSTRAP=1; it ships the AddressSanitizer runtime they link against.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io)"
    cargo install --locked cargo-fuzz
fi

cd fuzz
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
logs=../.work/fuzz/logs
mkdir -p "$logs"
cargo fuzz build >"$logs/build.log" 2>&1 || { tail -n 30 "$logs/build.log"; exit 1; }
summary=()
failed=0
for t in $targets; do
    corpus=../.work/fuzz/corpus/$t
    mkdir -p "$corpus" "artifacts/$t"
    echo "== $t: ${FUZZ_SECONDS}s"
    start=$(date +%s)
    touch "$logs/$t.start"
    status=0
    # -timeout: an input that takes seconds is a finding too (quadratic parsing).
    cargo fuzz run "$t" "$corpus" "seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
        >"$logs/$t.log" 2>&1 || status=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    crashes=$(find "artifacts/$t" -type f -newer "$logs/$t.start" | wc -l)
    if [ "$status" -ne 0 ]; then
        failed=1
        tail -n 30 "$logs/$t.log"
    fi
    summary+=("$(printf '%-26s %6ss %14s executions  %s crash file(s)  exit %s' \
        "$t" "$secs" "${execs:-?}" "$crashes" "$status")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
