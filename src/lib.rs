//! webhook-guard: a proxy-wasm HTTP filter that lets through only webhooks that prove
//! where they came from.
//!
//! Everything but `filter` is a pure core with no proxy-wasm in it, so native unit tests
//! (and tools) can use it; `filter` is the only caller of hostcalls.

pub mod config;
mod dedupe;
pub mod denial;
pub mod error;
pub mod host;
mod json;
pub mod path;
pub mod policy;
mod rate_limit;
pub mod remote_list;
pub mod request;
mod secret;
pub mod shared;
mod sort;
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
