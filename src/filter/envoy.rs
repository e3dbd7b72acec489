//! Reads from Envoy: the clock, the client address, shared data, and what the header
//! checks look up (remote lists, the client certificate).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;

use crate::policy::Lookups;
use crate::remote_list::{ListState, Refresher};
use crate::shared::{Conflict, SharedStore};
use crate::verify::cert::PeerCertForm;

pub fn now_unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// `source.address` as a socket address (`1.2.3.4:5678` or `[::1]:5678`). An address
/// Envoy took from X-Forwarded-For has port 0: said once in the log.
pub fn client_address() -> Option<SocketAddr> {
    let raw = hostcalls::get_property(vec!["source", "address"]).ok()??;
    let addr: Option<SocketAddr> = std::str::from_utf8(&raw).ok()?.parse().ok();
    if addr.is_some_and(|a| a.port() == 0) {
        notice_forwarded_address();
    }
    addr
}

/// Say once that client addresses come from `X-Forwarded-For` (port 0).
fn notice_forwarded_address() {
    notice_once("xff", || {
        log::warn!(
            "webhook-guard: client addresses come from X-Forwarded-For (port 0). That is right only with \
             use_remote_address: true and xff_num_trusted_hops set to the number of trusted proxies in front; \
             otherwise a client can choose its own address"
        )
    });
}

thread_local! {
    // The notices this VM already knows were given (saves the shared-data read).
    static NOTICED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Run `say` (a log line) once per Envoy for `name`: the key in shared data is seen by
/// every worker, so the line is not repeated per worker.
pub fn notice_once(name: &str, say: impl FnOnce()) {
    let first_here = NOTICED.with(|n| {
        let mut n = n.borrow_mut();
        if n.iter().any(|k| k == name) {
            return false;
        }
        n.push(name.to_string());
        true
    });
    if !first_here {
        return;
    }
    let key = format!("webhook_guard:notice:{name}");
    let store = SharedData;
    let (value, cas) = store.get(&key);
    // The first worker to write the key says it; a CAS on a new key is not possible, so
    // two workers racing at the very first request may both say it.
    if value.is_none() && store.set(&key, b"1", cas).is_ok() {
        say();
    }
}

/// Envoy's shared data, seen by every worker VM of this plugin's `vm_id`.
pub struct SharedData;

impl SharedStore for SharedData {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Conflict> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|_| Conflict)
    }
}

/// What the header checks look up, read from Envoy.
pub struct EnvoyLookups<'a> {
    pub lists: &'a [Refresher],
    pub now_ms: u64,
}

impl Lookups for EnvoyLookups<'_> {
    fn store(&self) -> &dyn SharedStore {
        &SharedData
    }

    fn list(&self, name: &str) -> ListState {
        match self.lists.iter().find(|l| l.name() == name) {
            Some(list) => list.current(&SharedData, self.now_ms),
            // Cannot happen: lists are built from the same policy. Fail closed.
            None => ListState::Unavailable { retry_after_seconds: 60 },
        }
    }

    fn peer_certificate(&self, form: PeerCertForm) -> Option<Vec<u8>> {
        // Both are strings: PEM text (Envoy 1.38+), and the digest as lower-case hex.
        let name = match form {
            PeerCertForm::Pem => "peer_certificate",
            PeerCertForm::Sha256Digest => "sha256_peer_certificate_digest",
        };
        hostcalls::get_property(vec!["connection", name]).ok().flatten()
    }
}
