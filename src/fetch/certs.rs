//! Signing certificates fetched by URL (AWS SNS `SigningCertURL`), kept in the shared
//! store under a digest of the URL, so every worker and every later request uses the
//! certificate one request fetched; each instance keeps the few it read, decoded.
//!
//! A certificate is used for [`CERT_TTL_MS`] after its fetch, then fetched again by the
//! next request that names it (a provider names a new certificate by a new URL, so the
//! refetch is a safety margin, not a rotation path). Its own validity is checked by the
//! check on every use.

use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::Failure;
use crate::shared::SharedStore;
use crate::verify::x509::{read_pem, SigningCert};

/// How long a fetched certificate serves before the next request that names it fetches
/// it again.
pub const CERT_TTL_MS: u64 = 24 * 3_600_000;
/// Certificates an instance keeps decoded (a topic's publisher uses one at a time).
const LOCAL_CERTS: usize = 16;
const FORMAT: u8 = 1;

/// The certificates by URL.
#[derive(Debug, Default)]
pub struct CertCache {
    /// URL, fetch time, the certificate: most recent last.
    local: Mutex<Vec<(String, u64, Arc<SigningCert>)>>,
}

impl CertCache {
    /// The certificate at `url`, if one fetched less than [`CERT_TTL_MS`] ago is in this
    /// instance or in the shared store.
    pub fn get(&self, store: &dyn SharedStore, url: &str, now_ms: u64) -> Option<Arc<SigningCert>> {
        let fresh =
            |fetched: u64| now_ms.saturating_sub(fetched) < CERT_TTL_MS && fetched <= now_ms.saturating_add(60_000);
        {
            let local = self.lock();
            if let Some((_, fetched, cert)) = local.iter().find(|(u, _, _)| u == url) {
                if fresh(*fetched) {
                    return Some(Arc::clone(cert));
                }
            }
        }
        let (bytes, _) = store.get(&store_key(url));
        let bytes = bytes?;
        let (&format, rest) = bytes.split_first()?;
        let fetched = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        if format != FORMAT || !fresh(fetched) {
            return None;
        }
        let cert = Arc::new(read_pem(rest.get(8..)?).ok()?);
        self.remember(url, fetched, Arc::clone(&cert));
        Some(cert)
    }

    /// A fetched certificate document: read (an RSA key of 2048 to 4096 bits, valid
    /// now) and stored for every worker.
    pub fn put(&self, store: &dyn SharedStore, url: &str, pem: &[u8], now_ms: u64) -> Result<(), Failure> {
        let cert = read_pem(pem).map_err(|why| Failure::Malformed(why.to_string()))?;
        if !cert.is_valid_at(now_ms / 1000) {
            return Err(Failure::Malformed("the certificate has expired or is not valid yet".to_string()));
        }
        let mut record = Vec::with_capacity(9 + pem.len());
        record.push(FORMAT);
        record.extend_from_slice(&now_ms.to_be_bytes());
        record.extend_from_slice(pem);
        store.set(&store_key(url), &record, None).map_err(|_| Failure::Store)?;
        self.remember(url, now_ms, Arc::new(cert));
        Ok(())
    }

    fn remember(&self, url: &str, fetched: u64, cert: Arc<SigningCert>) {
        let mut local = self.lock();
        local.retain(|(u, _, _)| u != url);
        if local.len() >= LOCAL_CERTS {
            local.remove(0);
        }
        local.push((url.to_string(), fetched, cert));
    }

    /// A panic while the lock was held leaves whole entries: taken over, not refused.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, u64, Arc<SigningCert>)>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The shared-store key of a certificate URL (a digest: URLs are long and any bytes).
fn store_key(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("webhook_guard:cert:{hex}")
}
