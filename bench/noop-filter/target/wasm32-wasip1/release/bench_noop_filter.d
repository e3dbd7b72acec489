/work/wt/obs/bench/noop-filter/target/wasm32-wasip1/release/bench_noop_filter.wasm: /work/wt/obs/bench/noop-filter/src/lib.rs
