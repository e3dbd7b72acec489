/work/wt/obs/bench/noop-filter/target/wasm32-wasip1/release/deps/bench_noop_filter.d: src/lib.rs

/work/wt/obs/bench/noop-filter/target/wasm32-wasip1/release/deps/bench_noop_filter.wasm: src/lib.rs

src/lib.rs:
