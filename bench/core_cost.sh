#!/usr/bin/env bash
# The core's exact cost per request, case by case: instructions (callgrind: the run of
# N requests minus the run of none, over N) and heap allocations (a counting allocator).
# Both are deterministic, so they compare across machines and loads; criterion
# (`cargo bench --features testing --bench core`) gives the time.
#   bench/core_cost.sh [N]        # N requests per case, default 1000
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
command -v valgrind >/dev/null || { echo "bench/core_cost.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build --quiet --release --features testing --example core_cost
bin=target/release/examples/core_cost
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# "host": what the host hands over (headers, client address, body), copied into the
# core's types and dropped: the Wasm edition pays the same copies inside the VM.
printf '%-18s %13s %13s %12s %11s %10s  %s\n' case instructions "(host)" allocations "(host)" bytes what
"$bin" "" "$n" >/dev/null
"$bin" | while read -r name allocs _ bytes _ what; do
    base=$(instructions "$name" 0)
    runs=$(instructions "$name" "$n")
    host=$(instructions "$name:host" "$n")
    host_allocs=$("$bin" "$name:host" "$n" | awk '{print $2}')
    printf '%-18s %13d %13d %12s %11s %10s  %s\n' "$name" $(((runs - base) / n)) $(((host - base) / n)) \
        "$allocs" "$host_allocs" "$bytes" "$what"
done
