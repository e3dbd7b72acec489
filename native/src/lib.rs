//! webhook-guard as a native Envoy HTTP filter: a dynamic module (`libwebhook_guard.so`)
//! for the ABI of Envoy 1.40, on the same core as the Wasm plugin.
//!
//! - [`abi`]: the boundary with Envoy, every `extern "C"` item and every `unsafe` block;
//! - `config`: the filter configuration shared by every worker thread, and the remote
//!   lists the main thread refreshes;
//! - `filter`: one request through the core's verdict;
//! - `metrics`: the counters, named as the Wasm edition's;
//! - `store`: the in-process store of rate limits, replays and remote lists.

pub mod abi;
mod config;
mod filter;
mod metrics;
mod store;
