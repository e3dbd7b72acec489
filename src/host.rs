//! What the core needs of the proxy it runs in, and what it tells the proxy to do.
//!
//! Two shells implement these traits: the Wasm plugin (`src/filter/`, proxy-wasm
//! hostcalls) and the native dynamic module (`native/`, Envoy's C ABI). Each shell only
//! reads its host through these methods and maps the core's [`Flow`] to its host's return
//! value; everything else (stages, verdicts, logs, metric names, access-log fields, the
//! remote-list and login state machines) is in the core, so both editions behave alike.
//!
//! # How a shell drives the core
//!
//! Plugin level (Wasm: the root context; native: the filter config, main thread):
//! - configure: `Plugin::configure(&mut host, config_bytes, &env)` with the plugin's
//!   JSON configuration and a lookup of the process environment. `Ok(plugin)`: keep it
//!   (native: in an `Arc`, shared by every filter of the config). `Err`: the core has
//!   logged `webhook-guard: invalid configuration: ...`; refuse the configuration
//!   (Wasm: `on_configure` returns false; native: `config_new` returns null).
//! - every tick the core asked for ([`PluginHost::start_ticks`]): `plugin.on_tick(&mut host)`.
//! - a callout's answer: `plugin.on_callout_response(&mut host, id, status, body)` with
//!   the `:status` as a number (0 when there is none, as after a reset; Envoy answers a
//!   timed-out callout with 504) and at most [`CALLOUT_BODY_LIMIT`] bytes of the body.
//!
//! Per request (Wasm: the HTTP context; native: the filter), one `Stream::new(plugin)`:
//! - `on_request_headers(&mut host, end_of_stream)`;
//! - `on_request_body(&mut host, received, end_of_stream)`, `received` being the size
//!   of the whole body received so far (not of this chunk);
//! - `on_request_trailers(&mut host)`: with trailers the body callback never sees end
//!   of stream (HTTP/2), so the body is complete here;
//! - `on_response_headers(&mut host)`;
//! - `on_callout_response(&mut host, id, status, body)`: the answer to a callout the
//!   stream dispatched ([`RequestHost::dispatch_callout`]), read as at plugin level.
//!   [`Flow::Continue`]: resume the held request (Wasm: `resume_http_request`; native:
//!   `envoy_dynamic_module_callback_http_filter_continue_decoding`); [`Flow::Stop`]: the
//!   request was answered here; [`Flow::Buffer`]: nothing to do, the request stays held
//!   (its body checks wait for the rest of the body);
//! - `refuse_internal(&mut host)`: the native shell's answer to a panic caught in a hook
//!   (500, logged and counted as `internal_error`).
//!
//! Each returns a [`Flow`]: the shell maps it to its host's return value and does
//! nothing else.
//!
//! # Who owns what
//!
//! - The shell owns the host objects and hands the core a `&mut` for the duration of
//!   one callback. The core never stores one: a host
//!   object may wrap a pointer that is only valid during the callback that made it.
//! - Everything a method returns is owned by the core (copied out of the host); nothing
//!   the core passes in (`&str`, `&[u8]`) is kept by the host past the call: a host that
//!   needs it later copies it.
//! - The core owns the configured plugin ([`crate::plugin::Plugin`]) and each request's
//!   state ([`crate::stream::Stream`]). The plugin is `Send + Sync`: the native edition
//!   shares one across every worker thread (in an `Arc`); the Wasm edition has one per VM.
//!
//! # Failure
//!
//! Host methods never panic and never fail loudly: a read the host cannot answer is
//! `None` (the core then fails closed where it matters), a write the host refuses is
//! ignored (the request is already decided; only, say, an access-log field is lost).

use std::time::Duration;

use crate::request::Headers;
use crate::shared::SharedStore;
use crate::verify::cert::PeerCertForm;

/// A metric the host defined: Envoy's id of a counter or gauge. Handles are resolved
/// once, when the configuration loads ([`PluginHost::define_counter`]), so a request
/// never formats or hashes a metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricId(pub u64);

/// A callout's id, as the host numbered it when it was dispatched; the host hands the
/// same id back with its answer. Unique among the callouts in flight of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CalloutId(pub u64);

/// Log levels, as Envoy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// What the core asks of every host, at request and at plugin level.
pub trait Host {
    /// Write `message` to Envoy's log at `level`. The core has already formatted the
    /// whole line (`webhook-guard denied route=... reason=...`) and checked that it
    /// holds no secret; the host adds nothing but its own prefix, if any.
    fn log(&self, level: Level, message: &str);

    /// Add 1 to a counter defined by [`PluginHost::define_counter`].
    fn increment(&self, counter: MetricId);

    /// Wall-clock time, milliseconds since the Unix epoch (0 if the host cannot say).
    /// Tokens, signatures, rate limits and remote lists are all judged by it.
    fn now_ms(&self) -> u64;

    /// The state shared by every request of this plugin: rate-limit buckets, the replay
    /// cache, the remote lists and the login token. Wasm: Envoy's shared data, seen by
    /// every worker VM of the plugin's `vm_id`. Native: one in-process store owned by the
    /// filter config (e.g. [`crate::shared::MemoryStore`]), shared by every worker
    /// thread. Both have the same compare-and-swap semantics (see [`SharedStore`]).
    fn store(&self) -> &dyn SharedStore;
}

/// One HTTP request as the host holds it. The shell makes one for each callback of a
/// request's stream and hands it to [`crate::stream::Stream`].
pub trait RequestHost: Host {
    /// Every request header, pseudo-headers (`:method`, `:path`, `:authority`)
    /// included, in the order received: a header sent twice is two entries (the checks
    /// refuse a repeated signature header, so none may be merged or dropped). Names as
    /// the host has them (the core compares them without regard to case); values as raw
    /// bytes, which need not be UTF-8. One buffer in proxy-wasm's header-map layout
    /// ([`Headers::from_map`], as the Wasm host returns it; [`Headers::from_pairs`] lays
    /// out a host's own list), which the core reads in place: no copy per header. Called
    /// once per request, from the request-headers callback; empty if the host cannot say.
    fn request_headers(&self) -> Headers;

    /// The downstream address Envoy reports (`source.address`) as text, `1.2.3.4:5678`
    /// or `[::1]:5678`; an address Envoy took from `X-Forwarded-For` has port 0. Called
    /// at most once per request, and only for a route whose checks need the client.
    fn client_address(&self) -> Option<String>;

    /// The leaf certificate the client presented on this TLS connection, in `form`, as
    /// the host's attribute gives it: [`PeerCertForm::Pem`], Envoy's
    /// `connection.peer_certificate` (1.38 and newer); [`PeerCertForm::Sha256Digest`],
    /// `connection.sha256_peer_certificate_digest` (hex). `None` without TLS, without a
    /// client certificate, or when the host has no such attribute. Called only by a
    /// `client_cert` check whose source is the connection, in that order, the digest only
    /// when there is no PEM; the core decides what each allows
    /// ([`crate::verify::cert::read_presented`]).
    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>>;

    /// Replace every value of request header `name` with `value` (add it if absent).
    /// Called only while the headers are still held (before [`Flow::Continue`] released
    /// them), from the request-headers callback or a later body or trailers callback.
    fn set_request_header(&mut self, name: &str, value: &str);

    /// Remove every value of request header `name`. Same timing as `set_request_header`.
    fn remove_request_header(&mut self, name: &str);

    /// The request body received so far, from its first byte: `len` bytes, the total
    /// the shell reported with the last body callback (the chunk of that callback
    /// included). Called once per request, when the body is complete (end of stream or
    /// trailers). A host that keeps the body in pieces joins them in order.
    fn request_body(&mut self, len: usize) -> Vec<u8>;

    /// Answer the request here, with this status, these headers and this body: nothing
    /// of the request reaches the upstream. The core then returns [`Flow::Stop`] and
    /// calls nothing more for the request (save the response callbacks, if the host
    /// makes them). The host may add its own details (Envoy's `response_code_details`).
    fn send_reply(&mut self, status: u32, headers: &[(&str, &str)], body: &[u8]);

    /// Record one access-log field of this request: `key` is one of
    /// [`crate::access_log::KEYS`] (`webhook_guard.route`, ...), `value` plain ASCII (a
    /// route name, an outcome, reasons, secret ids: never a secret). The Wasm edition
    /// writes filter state that an access log reads as
    /// `%FILTER_STATE(wasm.webhook_guard.route:PLAIN)%`; the native edition writes the
    /// same under the key its access log reads.
    fn set_access_log_field(&mut self, key: &str, value: &str);

    /// The upstream's response status (`:status`), read in the response-headers
    /// callback; `None` if absent or not a number.
    fn response_status(&self) -> Option<u32>;

    /// Send an HTTP request to the Envoy cluster `cluster` on behalf of this request (a
    /// key the request waits for, [`crate::fetch`]): as
    /// [`PluginHost::dispatch_callout`], but the answer comes back to this request's
    /// stream, [`crate::stream::Stream::on_callout_response`], with the same id. Called
    /// only while the request is held (after [`Flow::Buffer`], before anything else
    /// released it). `None` when the host refused to send it. If the request goes away
    /// first (a reset), the host cancels the callout or drops its answer: nothing of it
    /// reaches a stream that no longer exists. Wasm: `dispatch_http_call` from the HTTP
    /// context; native: `envoy_dynamic_module_callback_http_filter_http_callout`.
    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId>;
}

/// The plugin as a whole: its configuration, its timer, its callouts, its metrics. The
/// shell makes one for each plugin-level callback (configure, tick, callout answer).
pub trait PluginHost: Host {
    /// Define a counter named `name` (e.g. `webhook_guard.github.allowed`; exactly these
    /// names reach `/stats`, and the dashboard and alert rules read them) and return
    /// its handle. Called only while configuring ([`crate::plugin::Plugin::configure`]):
    /// every counter a policy can ever move is defined then, so it reads 0 before its
    /// first event. `None` if the host refused (the counter is then never moved).
    fn define_counter(&mut self, name: &str) -> Option<MetricId>;

    /// Define a gauge (same naming as `define_counter`). Called while configuring, with
    /// one exception: a remote list's `age_seconds` is defined on the tick or callout
    /// answer that first finds the list loaded, because a gauge reading 0 before then
    /// would say a never-loaded list is fresh (the alert rules rely on its absence). A
    /// host that cannot define a metric then says so ([`Self::defines_after_configure`]):
    /// the core defines the gauge while configuring instead (0 until the first load).
    fn define_gauge(&mut self, name: &str) -> Option<MetricId>;

    /// Set a gauge defined by `define_gauge`. Called while configuring, on ticks and on
    /// callout answers.
    fn set_gauge(&self, gauge: MetricId, value: u64);

    /// Call the core's tick ([`crate::plugin::Plugin::on_tick`]) every `period` from now
    /// on (remote-list refresh and login). Called at most once, while configuring, and
    /// only when the policy has remote lists.
    fn start_ticks(&mut self, period: Duration);

    /// Send an HTTP request to the Envoy cluster `cluster` (a remote-list fetch or a
    /// login): `headers` holds `:method`, `:path` and `:authority` first, `body` is
    /// sent as is (`None`: no body), and the host gives up after `timeout`. Returns the
    /// callout's id, or `None` when the host refused to send it (an unknown cluster,
    /// for instance). The answer comes back through
    /// [`crate::plugin::Plugin::on_callout_response`] with the same id.
    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId>;

    /// A number that differs between the plugin's instances (Wasm: between worker VMs;
    /// native: any value, there is one instance). It seeds the jitter of refreshes and
    /// the lease nonces of remote lists; it need not be secret or random.
    fn instance_seed(&self) -> u64;

    /// Whether a metric can still be defined after configuring (Wasm: yes). Envoy's
    /// dynamic modules freeze a configuration's metrics once it has loaded: there the
    /// core defines up front what it would otherwise define on first use, rather than
    /// lose it (a native list's age would otherwise never reach the stale-list alerts).
    fn defines_after_configure(&self) -> bool {
        true
    }
}

/// What the shell tells its host after a callback of the request's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on: the request (headers, and the body received so far) goes upstream as the
    /// core left it. Wasm: `Action::Continue`; native: `Continue`.
    Continue,
    /// Hold the headers and keep buffering the body: the body checks need all of it, or
    /// the request waits for a fetch ([`RequestHost::dispatch_callout`]; a body that
    /// arrives meanwhile is held too, never forwarded). Wasm: `Action::Pause`; native:
    /// `StopIteration` from the headers and trailers callbacks, `StopIterationAndBuffer`
    /// from the body callback.
    Buffer,
    /// The request was answered here ([`RequestHost::send_reply`]): pass nothing on.
    /// Wasm: `Action::Pause`; native: `StopIteration` (headers, trailers),
    /// `StopIterationNoBuffer` (body).
    Stop,
}

/// How many bytes of a callout's answer body a shell reads at most: one past the
/// longest answer the remote-list parser accepts, so a longer one is refused as too
/// large without being copied whole.
pub const CALLOUT_BODY_LIMIT: usize = crate::remote_list::MAX_BODY_BYTES + 1;
