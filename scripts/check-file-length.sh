#!/usr/bin/env bash
# Fails when a Rust source file under src/ or cli/ holds more than MAX_LINES lines of
# code: every line counts except those of an inline `#[cfg(test)] mod name { ... }` at
# the top level. A big module keeps its tests in a sibling file (`mod tests;`, the file
# `name/tests.rs`), and those files, like cli/tests/, are tests and are not counted.
set -euo pipefail
MAX_LINES=${MAX_LINES:-800}
cd "$(dirname "$0")/.."

files=$(find src cli/src -name '*.rs' ! -name tests.rs | sort)
# shellcheck disable=SC2086
awk -v max="$MAX_LINES" '
    function report() {
        if (file != "" && code > max) {
            printf "%s: %d lines before its tests, over the %d-line limit: move its tests to a sibling tests.rs or split it\n", file, code, max
            over = 1
        }
    }
    FNR == 1 { report(); file = FILENAME; code = 0; in_tests = 0; held = 0 }
    in_tests { if ($0 ~ /^}/) in_tests = 0; next }
    /^#\[cfg\(test\)\]/ { held++; next }
    held && /^#\[/ { held++; next }
    held && /^(pub(\([a-z]+\))? )?mod [A-Za-z0-9_]+ *\{ *$/ { in_tests = 1; held = 0; next }
    { code += held + 1; held = 0 }
    END { report(); exit over }
' $files
