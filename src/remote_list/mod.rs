//! Remote lists (SPEC 2.3): entries such as certificate thumbprints or CIDRs, fetched
//! over HTTP from an Envoy cluster, refreshed periodically and shared by every worker VM.
//!
//! Pure parts, one job a file, driven by the filter:
//! - [`config`]: the `remote_list` block, validated by [`RemoteList::compile`];
//! - [`parse`]: [`parse_list`] reads the entries out of a JSON answer whose shape is not
//!   published, tolerant about the shape and strict about the content;
//! - [`refresh`]: [`Refresher`], the refresh state machine keyed by callout token, and
//!   [`ListState`], what the request path sees;
//! - [`login`]: the login a list may need before a fetch (Copyleaks): the shared token,
//!   its renewal, the login backoff and the rate window, driven by the refresh;
//! - [`callout`]: [`FetchRequest`], the callout either machine hands the filter;
//! - `timing`: backoff, jitter, leases and clock-skew rules both machines apply;
//! - [`record`]: the shared records of a list and of a login, in the codec of
//!   [`crate::shared`].
//!
//! # What the plugin does ([`crate::plugin`], for both shells)
//!
//! - When the configuration loads: one [`Refresher`] per list of the policy
//!   (`Policy::remote_lists`), held by the plugin and shared with its requests; then
//!   `prepare(store)` on each.
//! - Every second or so (the plugin's tick), for each refresher: `on_tick(store, now_ms,
//!   rand)`. When it returns a [`FetchRequest`] (a list fetch, or with `login` a login),
//!   dispatch it (a callout to its cluster with `all_headers()`, its body, its timeout),
//!   then `on_dispatched(id)` on success or `on_dispatch_failed(store, now_ms)` on error
//!   (an unknown cluster, for instance).
//! - On the callout response: `on_response(store, token, status, body, now_ms)` with the
//!   `:status` as a number (Envoy 1.40 answers a timed-out callout with 504; 0 when
//!   there is no status at all, as after a reset) and the body read up to
//!   `MAX_BODY_BYTES + 1` bytes, so that a longer one is refused as too large rather
//!   than copied whole. Count `fetch_ok` / `fetch_failed` / `login_ok` / `login_failed`
//!   from the [`Outcome`] (log its reason); set the gauges from `entries()`,
//!   `age_seconds(now_ms)` and `token_remaining_seconds(now_ms)`. After `LoginOk`, tick
//!   the list again at once: the fetch that needed the token goes out without waiting.
//! - `rand` need only differ between workers and ticks (the plugin mixes the clock with
//!   the host's instance seed; it is no secret): it seeds the lease nonce and the jitter.
//! - On the request path: `current(store, now_ms)`.
//!
//! Every method takes `&self`: the plugin and its requests share each refresher (in the
//! native edition, every worker thread does), so its per-worker part is behind a lock.
//!
//! # Shared data
//!
//! Two keys per list and source, `webhook_guard:list:<name>:<source>:state` and
//! `...:data`, where `<source>` is a digest of what defines the list (cluster,
//! authority, path, pointer, field): a configuration that points the list elsewhere
//! starts from nothing instead of serving the old source's entries, and a VM still
//! draining with the old configuration cannot overwrite the new one's list.
//!
//! - `state` (60 bytes, written with CAS): the lease of the worker fetching now, the
//!   failure count and the time of the next fetch (so backoff holds across workers),
//!   and the generation of the published list.
//! - `data` (up to about 700 KiB at [`MAX_ENTRIES`] SHA-256 thumbprints): the generation,
//!   the fetch time and the canonical entries. Each worker decodes it once per
//!   generation; the hot path reads only `state`, at most once per second.
//!
//! With `login`, one more key per login endpoint (cluster, authority, path; not the
//! credentials), `webhook_guard:login:<digest>`, written with CAS and read by the ticks
//! only: the token, its expiry and renewal time, a digest of the credentials that
//! obtained it, the login backoff, and the start times of the logins of the last 15
//! minutes (at most 12, Copyleaks' limit, whatever the number of workers). A login takes
//! the list's lease like a fetch, and its slot in that window before it is dispatched.

pub mod callout;
pub mod config;
pub mod login;
pub mod parse;
mod record;
pub mod refresh;
mod timing;

#[cfg(test)]
mod testing;

pub use callout::FetchRequest;
pub use config::{RemoteList, RemoteListConfig};
pub use login::LoginError;
pub use parse::{parse_list, EntryKind, MAX_BODY_BYTES};
pub use refresh::{ListState, Outcome, Refresher};
