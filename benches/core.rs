//! The core's cost per request, case by case (criterion, wall clock): see
//! BENCHMARKS.md "Cost of the core per request". `make bench-core` runs it with the
//! exact counts (instructions, allocations) of `examples/core_cost.rs`.

// A benchmark: a request the core answers wrongly stops it, as in a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "cases/mod.rs"]
mod cases;

fn per_request(c: &mut Criterion) {
    let bench = cases::Bench::new();
    let mut group = c.benchmark_group("core");
    for case in &bench.cases {
        bench.check(case);
        group.bench_function(case.name, |b| b.iter(|| bench.run(std::hint::black_box(case))));
    }
    group.finish();
}

criterion_group!(benches, per_request);
criterion_main!(benches);
