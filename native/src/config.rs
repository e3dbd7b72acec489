//! The filter configuration: one object for every worker thread, made on the main thread
//! when Envoy loads the configuration, destroyed there when it unloads it.
//!
//! What every worker shares lives in [`Shared`] (an `Arc`): the store of rate limits,
//! replays and remote lists (exact across workers: one map, one lock) and the counter
//! ids. The parsed policy keeps per-thread caches, so each worker thread parses the same
//! configuration once into its own [`WorkerView`] (as each Wasm VM does). The remote
//! lists are fetched by the main thread alone, on a one-second tick posted by the config
//! scheduler, with config-level HTTP callouts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_guard::config;
use webhook_guard::policy::Policy;
use webhook_guard::remote_list::{Outcome, Refresher};
use webhook_guard::shared::SharedStore;
use webhook_guard::verdict::Judge;

use crate::abi::{self, Config, Level, Scheduler};
use crate::metrics::{Counters, PREFIX};
use crate::store::ProcessStore;

/// How often the main thread looks at its remote lists (as the Wasm edition's tick).
const TICK: Duration = Duration::from_secs(1);

pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What every worker thread shares.
pub struct Shared {
    json: Vec<u8>,
    pub store: ProcessStore,
    pub counters: Counters,
}

/// One worker thread's parse of the configuration.
pub struct WorkerView {
    pub judge: Judge,
    pub lists: Vec<Refresher>,
}

thread_local! {
    /// This thread's views, one per live configuration (a configuration being replaced
    /// and its successor coexist while old requests drain).
    static VIEWS: RefCell<Vec<(Weak<Shared>, Rc<WorkerView>)>> = const { RefCell::new(Vec::new()) };
    /// The main thread's remote-list state, by configuration id.
    static MAIN: RefCell<Vec<(u64, MainLists)>> = const { RefCell::new(Vec::new()) };
}

impl Shared {
    /// This thread's view of the configuration, parsed on first use. `None` only if the
    /// configuration that loaded on the main thread does not parse here (the environment
    /// changed in between): the request is then refused.
    pub fn worker_view(self: &Arc<Self>) -> Option<Rc<WorkerView>> {
        VIEWS.with(|views| {
            let mut views = views.borrow_mut();
            if let Some((_, view)) = views.iter().find(|(shared, _)| shared.as_ptr() == Arc::as_ptr(self)) {
                return Some(view.clone());
            }
            // Configurations unloaded since: their views go.
            views.retain(|(shared, _)| shared.strong_count() > 0);
            let policy = config::parse(&self.json, &env).ok()?;
            let lists = refreshers(&policy);
            let view = Rc::new(WorkerView { judge: Judge::new(Rc::new(policy)), lists });
            views.push((Arc::downgrade(self), view.clone()));
            Some(view)
        })
    }
}

fn refreshers(policy: &Policy) -> Vec<Refresher> {
    policy.remote_lists.iter().map(|(list, kind)| Refresher::new(list.clone(), *kind)).collect()
}

pub struct FilterConfig {
    id: u64,
    pub shared: Arc<Shared>,
    /// Posts the remote-list tick; stopped before the configuration goes.
    ticker: Option<Ticker>,
}

impl FilterConfig {
    /// Parse and set up the configuration; `None` (logged) when it is invalid, which makes
    /// Envoy refuse it.
    pub fn new(envoy: Config, _filter_name: &[u8], json: &[u8]) -> Option<FilterConfig> {
        let policy = match config::parse(json, &env) {
            Ok(policy) => policy,
            Err(e) => {
                abi::log(Level::Error, &format!("webhook-guard: invalid configuration: {e}"));
                return None;
            }
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            json: json.to_vec(),
            store: ProcessStore::default(),
            counters: Counters::define(&envoy, &policy),
        });
        for route in &policy.routes {
            if let Some(rl) = &route.checks.rate_limit {
                rl.prepare(&shared.store);
            }
        }
        abi::log(
            Level::Info,
            &format!(
                "webhook-guard: configured {} route(s), mode {:?}, max_body_bytes {}",
                policy.routes.len(),
                policy.mode,
                policy.max_body_bytes
            ),
        );
        let lists = MainLists::new(&envoy, refreshers(&policy), &shared.store);
        let ticker = if lists.lists.is_empty() { None } else { envoy.scheduler().map(Ticker::start) };
        MAIN.with(|main| main.borrow_mut().push((id, lists)));
        Some(FilterConfig { id, shared, ticker })
    }

    /// A tick, on the main thread.
    pub fn on_scheduled(&self, envoy: Config, _event: u64) {
        let now_ms = now_unix_ms();
        self.with_lists(|lists| {
            for index in 0..lists.lists.len() {
                lists.tick(&envoy, &self.shared.store, index, now_ms, self.id);
                lists.gauges(&envoy, index, now_ms);
            }
        });
    }

    /// A remote-list fetch or login answered (`status` 0: none, as after a reset).
    pub fn on_callout_done(&self, envoy: Config, callout: u64, status: u32, body: &[u8]) {
        let now_ms = now_unix_ms();
        self.with_lists(|lists| lists.on_response(&envoy, &self.shared.store, callout, status, body, now_ms, self.id));
    }

    fn with_lists(&self, f: impl FnOnce(&mut MainLists)) {
        MAIN.with(|main| {
            let mut main = main.borrow_mut();
            if let Some((_, lists)) = main.iter_mut().find(|(id, _)| *id == self.id) {
                f(lists);
            }
        });
    }
}

impl Drop for FilterConfig {
    fn drop(&mut self) {
        // The ticker thread is joined before its scheduler is deleted.
        self.ticker.take();
        let id = self.id;
        MAIN.with(|main| main.borrow_mut().retain(|(i, _)| *i != id));
    }
}

/// A thread that asks the main thread for a tick every second, through the config
/// scheduler (Envoy's scheduler posts at once; the wait is ours).
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Held only to be deleted after the thread is joined (fields drop after `drop`).
    _scheduler: Arc<Scheduler>,
}

impl Ticker {
    fn start(scheduler: Scheduler) -> Ticker {
        let scheduler = Arc::new(scheduler);
        let (stop, stopped) = mpsc::channel::<()>();
        let posting = scheduler.clone();
        let thread = std::thread::Builder::new()
            .name("webhook-guard-tick".into())
            .spawn(move || {
                // The first tick at once: lists load without waiting a second.
                posting.commit(0);
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
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
        // With the thread joined, `scheduler` holds the last reference: it is deleted
        // when the fields drop, after this.
    }
}

/// The counters and gauges of one remote list.
struct ListMetrics {
    fetch_ok: Option<usize>,
    fetch_failed: Option<usize>,
    login_ok: Option<usize>,
    login_failed: Option<usize>,
    entries: Option<usize>,
    age_seconds: Option<usize>,
    token_remaining_seconds: Option<usize>,
}

/// The main thread's remote lists of one configuration.
struct MainLists {
    lists: Vec<Refresher>,
    metrics: Vec<ListMetrics>,
    /// Callouts in flight: Envoy's callout id, the refresher's token, the list index.
    pending: Vec<(u64, u32, usize)>,
    next_token: u32,
}

impl MainLists {
    fn new(envoy: &Config, lists: Vec<Refresher>, store: &dyn SharedStore) -> MainLists {
        let metrics = lists
            .iter()
            .map(|list| {
                list.prepare(store);
                let name = list.name();
                let counter = |c: &str| envoy.define_counter(&format!("{PREFIX}.list.{name}.{c}"));
                let gauge = |g: &str| envoy.define_gauge(&format!("{PREFIX}.list.{name}.{g}"));
                let login = list.list().login.is_some();
                // The list's timing, so an alert can compare the age with them.
                let timing = list.list().timing;
                for (g, value) in
                    [("refresh_seconds", timing.refresh_seconds), ("max_stale_seconds", timing.max_stale_seconds)]
                {
                    if let Some(id) = gauge(g) {
                        envoy.set_gauge(id, value);
                    }
                }
                ListMetrics {
                    fetch_ok: counter("fetch_ok"),
                    fetch_failed: counter("fetch_failed"),
                    login_ok: if login { counter("login_ok") } else { None },
                    login_failed: if login { counter("login_failed") } else { None },
                    entries: gauge("entries"),
                    age_seconds: gauge("age_seconds"),
                    token_remaining_seconds: if login { gauge("token_remaining_seconds") } else { None },
                }
            })
            .collect();
        MainLists { lists, metrics, pending: Vec::new(), next_token: 0 }
    }

    /// Dispatch what list `index` wants now (a fetch or a login), if anything.
    fn tick(&mut self, envoy: &Config, store: &dyn SharedStore, index: usize, now_ms: u64, seed: u64) {
        let Some(list) = self.lists.get(index) else { return };
        // Jitter and lease nonces need only differ between ticks.
        let rand = now_ms.rotate_left(17) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64;
        let Some(req) = list.on_tick(store, now_ms, rand) else { return };
        let timeout_ms = u64::try_from(req.timeout.as_millis()).unwrap_or(u64::MAX);
        match envoy.http_callout(req.cluster, &req.all_headers(), req.body.unwrap_or_default(), timeout_ms) {
            Some(callout) => {
                self.next_token = self.next_token.wrapping_add(1);
                list.on_dispatched(self.next_token);
                self.pending.push((callout, self.next_token, index));
            }
            None => {
                let outcome = list.on_dispatch_failed(store, now_ms);
                self.report(envoy, index, outcome, now_ms);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_response(
        &mut self,
        envoy: &Config,
        store: &dyn SharedStore,
        callout: u64,
        status: u32,
        body: &[u8],
        now_ms: u64,
        seed: u64,
    ) {
        let Some(at) = self.pending.iter().position(|(c, _, _)| *c == callout) else { return };
        let (_, token, index) = self.pending.swap_remove(at);
        let Some(list) = self.lists.get(index) else { return };
        let outcome = list.on_response(store, token, status, body, now_ms);
        let logged_in = matches!(outcome, Outcome::LoginOk { .. });
        self.report(envoy, index, outcome, now_ms);
        if logged_in {
            // The fetch that needed the token goes out now, not a tick later.
            self.tick(envoy, store, index, now_ms, seed);
        }
    }

    fn report(&self, envoy: &Config, index: usize, outcome: Outcome, now_ms: u64) {
        let (Some(list), Some(m)) = (self.lists.get(index), self.metrics.get(index)) else { return };
        let name = list.name();
        let count = |id: Option<usize>| {
            if let Some(id) = id {
                envoy.increment_counter(id);
            }
        };
        match outcome {
            Outcome::Ok { entries } => {
                count(m.fetch_ok);
                abi::log(Level::Info, &format!("webhook-guard: remote list {name} loaded, {entries} entries"));
            }
            Outcome::Failed { reason } => {
                count(m.fetch_failed);
                let kept = match list.age_seconds(now_ms) {
                    Some(age) => format!("keeping the last good list ({} entries, {age}s old)", list.entries()),
                    None => "no list loaded yet: checks that need it answer 503".to_string(),
                };
                abi::log(Level::Warn, &format!("webhook-guard: remote list {name} fetch failed: {reason}; {kept}"));
            }
            Outcome::LoginOk { expires_in_seconds } => {
                count(m.login_ok);
                abi::log(
                    Level::Info,
                    &format!("webhook-guard: remote list {name} logged in, token valid for {expires_in_seconds}s"),
                );
            }
            Outcome::LoginFailed { reason } => {
                count(m.login_failed);
                abi::log(
                    Level::Warn,
                    &format!("webhook-guard: remote list {name} login failed: {reason}; retried with backoff"),
                );
            }
            Outcome::Ignored => {}
        }
        self.gauges(envoy, index, now_ms);
    }

    fn gauges(&self, envoy: &Config, index: usize, now_ms: u64) {
        let (Some(list), Some(m)) = (self.lists.get(index), self.metrics.get(index)) else { return };
        let set = |id: Option<usize>, value: Option<u64>| {
            if let (Some(id), Some(value)) = (id, value) {
                envoy.set_gauge(id, value);
            }
        };
        set(m.entries, Some(list.entries() as u64));
        set(m.age_seconds, list.age_seconds(now_ms));
        set(m.token_remaining_seconds, list.token_remaining_seconds(now_ms));
    }
}
