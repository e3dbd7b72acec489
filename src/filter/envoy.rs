//! Reads from Envoy: the clock, the client address, shared data, and what the header
//! checks look up (remote lists, the client certificate).

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;

use crate::denial::Denial;
use crate::policy::Lookups;
use crate::remote_list::{ListState, Refresher};
use crate::request::Headers;
use crate::shared::{Conflict, SharedStore};
use crate::verify::cert::{pem_to_der, xfcc_cert, CertSource};

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

thread_local! {
    // Whether this VM already knows the notice was given (saves the shared-data read).
    static WARNED_XFF: Cell<bool> = const { Cell::new(false) };
}

/// Shared by every worker, so the notice is logged once per Envoy, not once per worker.
const WARNED_XFF_KEY: &str = "webhook_guard:notice:xff";

/// Say once that client addresses come from `X-Forwarded-For` (port 0).
fn notice_forwarded_address() {
    if WARNED_XFF.with(|w| w.replace(true)) {
        return;
    }
    let store = SharedData;
    let (value, cas) = store.get(WARNED_XFF_KEY);
    // The first worker to write the key says it; a CAS on a new key is not possible, so
    // two workers racing at the very first request may both say it.
    if value.is_none() && store.set(WARNED_XFF_KEY, b"1", cas).is_ok() {
        log::warn!(
            "webhook-guard: client addresses come from X-Forwarded-For (port 0). That is right only with \
             use_remote_address: true and xff_num_trusted_hops set to the number of trusted proxies in front; \
             otherwise a client can choose its own address"
        );
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
    pub headers: &'a Headers,
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

    fn fetch_early(&self, name: &str) {
        if let Some(list) = self.lists.iter().find(|l| l.name() == name) {
            list.fetch_early(&SharedData, self.now_ms);
        }
    }

    fn client_cert(&self, source: CertSource) -> Result<Option<Vec<u8>>, Denial> {
        match source {
            CertSource::Connection => {
                // Envoy gives the leaf certificate of the TLS connection as PEM.
                let pem = hostcalls::get_property(vec!["connection", "peer_certificate"]).ok().flatten();
                match pem {
                    None => Ok(None),
                    Some(p) if p.is_empty() => Ok(None),
                    Some(p) => pem_to_der(&p).map(Some).ok_or(Denial::CertMalformed),
                }
            }
            CertSource::Xfcc => match self.headers.get_one("x-forwarded-client-cert") {
                Err(_) => Err(Denial::CertMalformed),
                Ok(None) => Ok(None),
                Ok(Some(v)) => xfcc_cert(v),
            },
        }
    }
}
