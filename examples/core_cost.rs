//! Exact counts of the core's work per request, case by case: heap allocations (a
//! counting global allocator) and, under callgrind, instructions. Deterministic, so it
//! means the same on a loaded machine; criterion (`benches/core.rs`) gives the time.
//!
//! ```sh
//! cargo run --release --features testing --example core_cost            # allocations
//! valgrind --tool=callgrind target/release/examples/core_cost gh_1k 1000   # minus the
//! valgrind --tool=callgrind target/release/examples/core_cost gh_1k 0      # same with 0
//! cargo run --release --features testing --example core_cost gh_1k:host  # the host's copies only
//! ```
//!
//! `make bench-core` runs both for every case and prints one table.

// A benchmark: a request the core answers wrongly stops it, as in a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::alloc::System;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[path = "../benches/cases/mod.rs"]
mod cases;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// `n` requests of `case` (only the host's reads with `host_only`).
#[inline(never)]
fn requests(bench: &cases::Bench, case: &cases::Case, n: usize, host_only: bool) {
    for _ in 0..n {
        if host_only {
            std::hint::black_box(bench.host_reads(std::hint::black_box(case)));
        } else {
            std::hint::black_box(bench.run(std::hint::black_box(case)));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = cases::Bench::new();
    // `CASE:host`: only what the host hands over for CASE (see `Bench::host_reads`).
    let (wanted, host_only) = match args.first().map(String::as_str).filter(|w| !w.is_empty()) {
        Some(w) => match w.strip_suffix(":host") {
            Some(case) => (Some(case), true),
            None => (Some(w), false),
        },
        None => (None, false),
    };
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    for case in bench.cases.iter().filter(|c| wanted.is_none_or(|w| w == c.name)) {
        // The first request fills per-route caches; it is checked, not counted.
        bench.check(case);
        let region = Region::new(GLOBAL);
        requests(&bench, case, n, host_only);
        let stats = region.change();
        println!(
            "{:<18} {:>8.1} allocations/request {:>9.0} bytes/request  {}",
            case.name,
            stats.allocations as f64 / n as f64,
            stats.bytes_allocated as f64 / n as f64,
            case.what
        );
    }
}
