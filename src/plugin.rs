//! The configured plugin, the same in both shells: the validated policy and its judge,
//! every metric handle, and the remote lists with their refresh and login state
//! machines. One [`Plugin`] serves every request of a configuration: per worker VM in
//! the Wasm edition, for every worker thread in the native edition (it is `Send + Sync`).
//!
//! A shell calls [`Plugin::configure`] when the configuration loads, [`Plugin::on_tick`]
//! on every tick it was asked for, and [`Plugin::on_callout_response`] when a callout
//! is answered; the plugin logs and counts what happens itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config;
use crate::error::{ConfigError, Env};
use crate::fetch::certs::CertCache;
use crate::fetch::{Document, Failure, Ledger, Need, Request};
use crate::host::{CalloutId, Host, Level, PluginHost, RequestHost};
use crate::metrics::Metrics;
use crate::remote_list::parse::ParseError;
use crate::remote_list::refresh::FetchError;
use crate::remote_list::{ListState, Outcome, Refresher};
use crate::shared::SharedStore;
use crate::verdict::Judge;

/// How often the plugin looks at its remote lists. Each look is a shared-data read; a
/// fetch happens only when one is due.
pub const TICK: Duration = Duration::from_secs(1);

/// The native edition shares one plugin among every worker thread: this fails to
/// compile the day something in it (the judge, a refresher, a cache) stops being
/// shareable.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<Plugin>();
};

pub struct Plugin {
    judge: Judge,
    metrics: Metrics,
    /// One per remote list of the policy, in `Policy::remote_lists` order.
    lists: Vec<Refresher>,
    /// The notices this instance knows were given ([`Plugin::notice_once`]).
    noticed: Mutex<Vec<String>>,
    /// The fetches requests of this instance wait for ([`crate::fetch`]).
    fetches: Ledger,
    /// Signing certificates fetched by URL.
    certs: CertCache,
}

impl Plugin {
    /// Validate `config` (the plugin's JSON configuration; secrets `{ env: NAME }` read
    /// through `env`), define every metric, prepare the shared records and ask for ticks
    /// when there are remote lists. An invalid configuration is logged and returned:
    /// the shell then refuses it (fail closed).
    pub fn configure(host: &mut impl PluginHost, config: &[u8], env: &Env) -> Result<Plugin, ConfigError> {
        let policy = match config::parse(config, env) {
            Ok(policy) => policy,
            Err(e) => {
                host.log(Level::Error, &format!("webhook-guard: invalid configuration: {e}"));
                return Err(e);
            }
        };
        for route in &policy.routes {
            if let Some(rl) = &route.checks.rate_limit {
                rl.prepare(host.store());
            }
        }
        host.log(
            Level::Info,
            &format!(
                "webhook-guard: configured {} route(s), mode {:?}, max_body_bytes {}",
                policy.routes.len(),
                policy.mode,
                policy.max_body_bytes
            ),
        );
        let lists: Vec<Refresher> =
            policy.remote_lists.iter().map(|(list, kind)| Refresher::new(list.clone(), *kind)).collect();
        for list in &lists {
            list.prepare(host.store());
        }
        let metrics = Metrics::define(host, &policy, &lists);
        if !lists.is_empty() {
            host.start_ticks(TICK);
        }
        Ok(Plugin {
            judge: Judge::new(Arc::new(policy)),
            metrics,
            lists,
            noticed: Mutex::new(Vec::new()),
            fetches: Ledger::default(),
            certs: CertCache::default(),
        })
    }

    pub fn judge(&self) -> &Judge {
        &self.judge
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The remote list `name` as the request path sees it now.
    pub fn list_state(&self, store: &dyn SharedStore, name: &str, now_ms: u64) -> ListState {
        match self.lists.iter().find(|l| l.name() == name) {
            Some(list) => list.current(store, now_ms),
            // Cannot happen: lists are built from the same policy. Fail closed.
            None => ListState::Unavailable { retry_after_seconds: 60 },
        }
    }

    /// The list `name` read from shared data now, whatever the last read (see
    /// [`Refresher::reread`]).
    pub fn reread_list(&self, store: &dyn SharedStore, name: &str, now_ms: u64) -> ListState {
        match self.lists.iter().find(|l| l.name() == name) {
            Some(list) => list.reread(store, now_ms),
            None => ListState::Unavailable { retry_after_seconds: 60 },
        }
    }

    /// The fetches requests of this instance wait for.
    pub fn fetches(&self) -> &Ledger {
        &self.fetches
    }

    /// Signing certificates fetched by URL.
    pub fn certs(&self) -> &CertCache {
        &self.certs
    }

    /// The request that fetches what `need` names, or `None` when a request cannot fetch
    /// it itself (a list that logs in first).
    pub fn fetch_request(&self, need: &Need) -> Option<Request> {
        match &need.document {
            Document::List(name) => {
                let req = self.lists.iter().find(|l| l.name() == name)?.request_now()?;
                Some(Request {
                    cluster: req.cluster.to_string(),
                    headers: req.all_headers().iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
                    body: req.body.map(<[u8]>::to_vec),
                    timeout: req.timeout,
                    limit: crate::remote_list::MAX_BODY_BYTES,
                })
            }
            Document::Key(w) => Some(Request {
                cluster: w.cluster.clone(),
                headers: w.headers.clone(),
                body: w.body.clone(),
                timeout: std::time::Duration::from_millis(w.timeout_ms),
                limit: w.limit,
            }),
            Document::Certificate(c) => Some(Request {
                cluster: c.cluster.clone(),
                headers: vec![
                    (":method".to_string(), "GET".to_string()),
                    (":path".to_string(), c.path.clone()),
                    (":authority".to_string(), c.authority.clone()),
                ],
                body: None,
                timeout: Duration::from_millis(c.timeout_ms),
                limit: crate::verify::x509::MAX_PEM_BYTES,
            }),
        }
    }

    /// The answer to a fetch a request waited for: `status` its `:status` (0: none),
    /// `body` at most `limit + 1` bytes of it. Checked (status, size, the check's
    /// parser), stored for every worker, logged and counted as the list's fetches are;
    /// the document's place in the ledger is freed (or paused after a failure).
    pub fn accept_fetched(
        &self,
        host: &dyn Host,
        need: &Need,
        limit: usize,
        status: u32,
        body: &[u8],
    ) -> Result<(), Failure> {
        let now_ms = host.now_ms();
        let result = match Failure::of_answer(status, body.len(), limit) {
            Some(failure) => Err(failure),
            None => self.store_fetched(host, need, body, now_ms),
        };
        self.fetches.end(&need.key(), now_ms, result.is_ok());
        if let Err(failure) = &result {
            match &need.document {
                Document::List(name) => {
                    host.log(
                        Level::Warn,
                        &format!("webhook-guard: remote list {name} fetch for a waiting request failed: {failure}"),
                    );
                    let index = self.lists.iter().position(|l| l.name() == name);
                    if let Some(m) = index.and_then(|i| self.metrics.list(i)) {
                        m.fetch_failed(host);
                    }
                }
                Document::Key(w) => host.log(
                    Level::Warn,
                    &format!("webhook-guard: {} {} fetch for a waiting request failed: {failure}", w.kind, w.record),
                ),
                Document::Certificate(c) => host.log(
                    Level::Warn,
                    &format!("webhook-guard: certificate {} fetch for a waiting request failed: {failure}", c.url),
                ),
            }
        }
        result
    }

    fn store_fetched(&self, host: &dyn Host, need: &Need, body: &[u8], now_ms: u64) -> Result<(), Failure> {
        match &need.document {
            Document::List(name) => {
                let Some(index) = self.lists.iter().position(|l| l.name() == name) else {
                    return Err(Failure::Store);
                };
                let list = self.lists.get(index).ok_or(Failure::Store)?;
                let entries = list.publish(host.store(), body, now_ms).map_err(|e| match e {
                    FetchError::Malformed(ParseError::TooLarge { .. }) => Failure::TooLarge,
                    FetchError::Malformed(why) => Failure::Malformed(why.to_string()),
                    _ => Failure::Store,
                })?;
                if let Some(m) = self.metrics.list(index) {
                    m.fetch_ok(host);
                }
                host.log(
                    Level::Info,
                    &format!("webhook-guard: remote list {name} loaded for a waiting request, {entries} entries"),
                );
                Ok(())
            }
            Document::Key(w) => {
                crate::verify::directory::accept(w, body, now_ms / 1000, host.store()).map_err(Failure::Malformed)?;
                host.log(Level::Info, &format!("webhook-guard: {} {} fetched for a waiting request", w.kind, w.record));
                Ok(())
            }
            Document::Certificate(c) => {
                self.certs.put(host.store(), &c.url, body, now_ms)?;
                host.log(Level::Info, &format!("webhook-guard: certificate {} loaded for a waiting request", c.url));
                Ok(())
            }
        }
    }

    /// Bring a list's next fetch forward for a request that needs it (a JWKS without the
    /// token's key), as far as the list allows (see [`Refresher::fetch_early`]).
    pub fn fetch_early(&self, store: &dyn SharedStore, name: &str, now_ms: u64) {
        if let Some(list) = self.lists.iter().find(|l| l.name() == name) {
            list.fetch_early(store, now_ms);
        }
    }

    /// Look at every remote list: dispatch what each wants now (a fetch or a login),
    /// and refresh its gauges.
    pub fn on_tick(&self, host: &mut impl PluginHost) {
        let now_ms = host.now_ms();
        for (index, list) in self.lists.iter().enumerate() {
            self.tick_list(host, index, list, now_ms);
            if let Some(metrics) = self.metrics.list(index) {
                metrics.gauges(host, list, now_ms);
            }
        }
    }

    /// A callout was answered: `status` is its `:status` (0 when there is none, as
    /// after a reset; Envoy answers a timed-out callout with 504), `body` at most
    /// [`crate::host::CALLOUT_BODY_LIMIT`] bytes of its body.
    pub fn on_callout_response(&self, host: &mut impl PluginHost, id: CalloutId, status: u32, body: &[u8]) {
        let now_ms = host.now_ms();
        for (index, list) in self.lists.iter().enumerate() {
            // Only the list that dispatched this callout acts on it.
            let outcome = list.on_response(host.store(), id.0, status, body, now_ms);
            if matches!(outcome, Outcome::Ignored) {
                continue;
            }
            let logged_in = matches!(outcome, Outcome::LoginOk { .. });
            self.report(host, index, list, outcome, now_ms);
            if logged_in {
                // The fetch that needed the token goes out now, not a tick later.
                self.tick_list(host, index, list, now_ms);
            }
            return;
        }
    }

    /// Dispatch what the list wants now (a fetch or a login), if anything.
    fn tick_list(&self, host: &mut impl PluginHost, index: usize, list: &Refresher, now_ms: u64) {
        // Jitter and lease nonces need only differ between instances and ticks.
        let rand = now_ms.rotate_left(17) ^ host.instance_seed().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let Some(req) = list.on_tick(host.store(), now_ms, rand ^ index as u64) else { return };
        match host.dispatch_callout(req.cluster, &req.all_headers(), req.body, req.timeout) {
            Some(id) => list.on_dispatched(id.0),
            None => {
                let outcome = list.on_dispatch_failed(host.store(), now_ms);
                self.report(host, index, list, outcome, now_ms);
            }
        }
    }

    /// Log and count what became of a list's callout, then refresh its gauges.
    fn report(&self, host: &mut impl PluginHost, index: usize, list: &Refresher, outcome: Outcome, now_ms: u64) {
        let Some(metrics) = self.metrics.list(index) else { return };
        let name = list.name();
        match outcome {
            Outcome::Ok { entries } => {
                metrics.fetch_ok(host);
                host.log(Level::Info, &format!("webhook-guard: remote list {name} loaded, {entries} entries"));
            }
            Outcome::Failed { reason } => {
                metrics.fetch_failed(host);
                let kept = match list.age_seconds(now_ms) {
                    Some(age) => format!("keeping the last good list ({} entries, {age}s old)", list.entries()),
                    None => "no list loaded yet: checks that need it answer 503".to_string(),
                };
                host.log(Level::Warn, &format!("webhook-guard: remote list {name} fetch failed: {reason}; {kept}"));
            }
            Outcome::LoginOk { expires_in_seconds } => {
                metrics.login_ok(host);
                host.log(
                    Level::Info,
                    &format!("webhook-guard: remote list {name} logged in, token valid for {expires_in_seconds}s"),
                );
            }
            Outcome::LoginFailed { reason } => {
                metrics.login_failed(host);
                host.log(
                    Level::Warn,
                    &format!("webhook-guard: remote list {name} login failed: {reason}; retried with backoff"),
                );
            }
            Outcome::Ignored => {}
        }
        metrics.gauges(host, list, now_ms);
    }

    /// Say once that client addresses come from `X-Forwarded-For` (port 0).
    pub(crate) fn notice_forwarded_address(&self, host: &impl RequestHost) {
        self.notice_once(
            host,
            Level::Warn,
            "xff",
            "webhook-guard: client addresses come from X-Forwarded-For (port 0). That is right only with \
             use_remote_address: true and xff_num_trusted_hops set to the number of trusted proxies in front; \
             otherwise a client can choose its own address",
        );
    }

    /// Log `message` at `level` once per Envoy for `name`: the key in the store is seen
    /// by every worker, so the line is not repeated per worker.
    pub(crate) fn notice_once(&self, host: &impl RequestHost, level: Level, name: &str, message: &str) {
        {
            // Which notices this instance knows were given (saves the store read).
            let mut noticed = self.noticed.lock().unwrap_or_else(PoisonError::into_inner);
            if noticed.iter().any(|n| n == name) {
                return;
            }
            noticed.push(name.to_string());
        }
        let store = host.store();
        let key = format!("webhook_guard:notice:{name}");
        let (value, cas) = store.get(&key);
        // The first worker to write the key says it; a CAS on a new key is not possible
        // in Envoy's shared data, so two workers racing at the very first request may
        // both say it.
        if value.is_none() && store.set(&key, b"1", cas).is_ok() {
            host.log(level, message);
        }
    }
}

#[cfg(test)]
mod tests;
