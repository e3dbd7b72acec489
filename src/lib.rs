//! webhook-guard: an HTTP filter for Envoy that lets through only webhooks that prove
//! where they came from.
//!
//! Everything but `filter` is a pure core with no proxy-wasm in it, so native unit tests,
//! tools and the native dynamic module can use it. The core drives each request
//! ([`stream`]) and the plugin as a whole ([`plugin`]) through the host traits of
//! [`host`]; `filter` is the Wasm shell, the only caller of proxy-wasm hostcalls.

pub mod access_log;
pub mod config;
mod dedupe;
pub mod denial;
pub mod error;
pub mod fetch;
pub mod host;
mod json;
pub mod metrics;
pub mod path;
pub mod plugin;
pub mod policy;
mod rate_limit;
pub mod remote_list;
pub mod request;
mod secret;
pub mod shared;
mod sort;
pub mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod verdict;
pub mod verify;
mod wire;

#[cfg(target_arch = "wasm32")]
mod filter;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    filter::start();
}}
