//! webhook-guard as a native Envoy HTTP filter: a dynamic module (`libwebhook_guard.so`)
//! for the ABI of Envoy 1.40, on the same core as the Wasm plugin. The core drives the
//! requests and the plugin through its host traits (`webhook_guard::host`); this crate
//! is the shell that implements them over Envoy's C ABI.
//!
//! - [`abi`]: the boundary with Envoy, every `extern "C"` item and every `unsafe` block;
//! - `config`: the filter configuration shared by every worker thread (the core's
//!   plugin and the in-process store), and the main thread's remote-list tick;
//! - `filter`: one request, the core's stream over the hook's filter.
//!
//! Loaded with `dynamic_module_config: { name: webhook_guard, metrics_namespace:
//! wasmcustom }` and the runtime flag
//! `envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix: true`: the
//! metrics then read exactly as the Wasm edition's, on `/stats` and `/stats/prometheus`.

pub mod abi;
mod config;
mod filter;
