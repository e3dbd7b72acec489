//! The filter configuration: one object for every worker thread, made on the main thread
//! when Envoy loads the configuration and destroyed there when it unloads it.
//!
//! It holds the core's [`Plugin`] (the policy, the metric handles, the remote lists with
//! their refresh and login machines; `Send + Sync`) and the in-process store of rate
//! limits, replays, lists and the login token, exact across worker threads (one map,
//! one lock). The remote lists are fetched by the main thread: a one-second tick posted
//! through the config scheduler, config-level HTTP callouts for the fetches and logins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_guard::host::{CalloutId, Host, Level, MetricId, PluginHost};
use webhook_guard::plugin::Plugin;
use webhook_guard::shared::{MemoryStore, SharedStore};

use crate::abi::{self, Config, Scheduler};

pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// What every request of the configuration shares.
pub struct Shared {
    pub plugin: Arc<Plugin>,
    pub store: MemoryStore,
}

pub struct FilterConfig {
    id: u64,
    pub shared: Arc<Shared>,
    /// Posts the remote-list tick; stopped before the configuration goes.
    ticker: Option<Ticker>,
}

impl FilterConfig {
    /// Configure the plugin from its JSON; `None` when the configuration is invalid (the
    /// core has logged why), which makes Envoy refuse it.
    pub fn new(envoy: Config, _filter_name: &[u8], json: &[u8]) -> Option<FilterConfig> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let store = MemoryStore::default();
        let mut host = ConfigHost { envoy, store: &store, seed: id, ticks: None };
        let env = |name: &str| std::env::var(name).ok();
        let plugin = Plugin::configure(&mut host, json, &env).ok()?;
        let ticks = host.ticks;
        let ticker = match ticks {
            Some(period) => match envoy.scheduler() {
                Some(scheduler) => Some(Ticker::start(scheduler, period)),
                None => {
                    // Without ticks the lists would never load and every request needing
                    // one would get 503 forever: refuse the configuration instead.
                    abi::log(
                        Level::Error,
                        "webhook-guard: invalid configuration: Envoy gave no scheduler for the remote-list refresh",
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(FilterConfig { id, shared: Arc::new(Shared { plugin: Arc::new(plugin), store }), ticker })
    }

    /// A tick, on the main thread.
    pub fn on_scheduled(&self, envoy: Config, _event: u64) {
        let mut host = ConfigHost { envoy, store: &self.shared.store, seed: self.id, ticks: None };
        self.shared.plugin.on_tick(&mut host);
    }

    /// A remote-list fetch or login answered (`status` 0: none, as after a reset).
    pub fn on_callout_done(&self, envoy: Config, callout: u64, status: u32, body: &[u8]) {
        let mut host = ConfigHost { envoy, store: &self.shared.store, seed: self.id, ticks: None };
        self.shared.plugin.on_callout_response(&mut host, CalloutId(callout), status, body);
    }
}

impl Drop for FilterConfig {
    fn drop(&mut self) {
        // The ticker thread is joined (and its scheduler deleted) before the rest goes.
        self.ticker.take();
    }
}

/// The plugin's host on the main thread: Envoy's config object, for one hook.
struct ConfigHost<'a> {
    envoy: Config,
    store: &'a MemoryStore,
    seed: u64,
    /// The tick period the plugin asked for while configuring.
    ticks: Option<Duration>,
}

/// Envoy's metric ids are `size_t`; the core carries them as `u64`.
pub fn metric_index(id: MetricId) -> Option<usize> {
    usize::try_from(id.0).ok()
}

impl Host for ConfigHost<'_> {
    fn log(&self, level: Level, message: &str) {
        abi::log(level, message);
    }

    fn increment(&self, counter: MetricId) {
        if let Some(id) = metric_index(counter) {
            self.envoy.increment_counter(id);
        }
    }

    fn now_ms(&self) -> u64 {
        now_unix_ms()
    }

    fn store(&self) -> &dyn SharedStore {
        self.store
    }
}

impl PluginHost for ConfigHost<'_> {
    fn define_counter(&mut self, name: &str) -> Option<MetricId> {
        self.envoy.define_counter(name).map(|id| MetricId(id as u64))
    }

    fn define_gauge(&mut self, name: &str) -> Option<MetricId> {
        self.envoy.define_gauge(name).map(|id| MetricId(id as u64))
    }

    fn set_gauge(&self, gauge: MetricId, value: u64) {
        if let Some(id) = metric_index(gauge) {
            self.envoy.set_gauge(id, value);
        }
    }

    fn start_ticks(&mut self, period: Duration) {
        self.ticks = Some(period);
    }

    fn dispatch_callout(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<CalloutId> {
        self.envoy.http_callout(cluster, headers, body.unwrap_or_default(), timeout).map(CalloutId)
    }

    fn instance_seed(&self) -> u64 {
        // One plugin serves every worker: any value will do.
        self.seed
    }

    fn defines_after_configure(&self) -> bool {
        false
    }
}

/// A thread that asks the main thread for a tick every `period`, through the config
/// scheduler (Envoy's scheduler posts at once; the wait is ours).
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Held only to be deleted after the thread is joined (fields drop after `drop`).
    _scheduler: Arc<Scheduler>,
}

impl Ticker {
    fn start(scheduler: Scheduler, period: Duration) -> Ticker {
        let scheduler = Arc::new(scheduler);
        let (stop, stopped) = mpsc::channel::<()>();
        let posting = Arc::clone(&scheduler);
        let thread = std::thread::Builder::new()
            .name("webhook-guard-tick".into())
            .spawn(move || {
                // The first tick at once: lists load without waiting a period.
                posting.commit(0);
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    posting.commit(0);
                }
            })
            .ok();
        Ticker { stop: Some(stop), thread, _scheduler: scheduler }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
