//! Keys a sender publishes and the filter fetches on a request's first use, kept in
//! shared data so that every worker and every later request uses the copy fetched once:
//! PayPal's certificate by URL (the signing-certificate machinery of [`crate::fetch`],
//! shared with SNS), Plaid's key by `kid` (here).
//!
//! A check either judges the request with the key at hand, or says which key it lacks
//! (a [`Need`]). Plaid's answer is read by [`accept`] (Plaid's parser), and only a good
//! key is written: a refused URL or `kid` leaves nothing behind.

use std::fmt;

use std::sync::Arc;

use crate::denial::Denial;
use crate::fetch::{CertificateDoc, Document, Need};
use crate::request::RequestHead;
use crate::shared::record::{Reader, Writer};
use crate::shared::SharedStore;
use crate::verify::jwt::plaid::{self, PlaidCheck, PlaidKey};
use crate::verify::paypal::PaypalCheck;
use crate::verify::x509::SigningCert;

/// The record format; a record of another version is no record (fetched again).
const VERSION: u8 = 1;
/// A Plaid key is asked for again after a day, so a key Plaid has since marked expired
/// stops verifying within a day (Plaid's example asks again only on an unknown `kid`).
pub const PLAID_KEY_TTL_SECONDS: u64 = 86_400;

/// `Retry-After` of a request refused for a key it could not wait for.
pub const RETRY_AFTER_SECONDS: u64 = 10;

/// Which sender's parser reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PlaidKey,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::PlaidKey => "Plaid key",
        })
    }
}

/// A key a check lacks: where it is kept, and the callout that fetches it.
#[derive(Clone, PartialEq, Eq)]
pub struct Wanted {
    pub kind: Kind,
    /// The shared-data key of the record (and the fetch's name in the ledger); holds a
    /// digest of the URL or `kid`, never a secret.
    pub record: String,
    /// For Plaid, the `kid` the answer must carry.
    pub kid: String,
    pub cluster: String,
    /// `:method`, `:path`, `:authority`, then `content-type` for a body.
    pub headers: Vec<(String, String)>,
    /// Plaid's key request holds the client id and secret: never printed.
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
    pub limit: usize,
}

impl fmt::Debug for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wanted")
            .field("kind", &self.kind)
            .field("record", &self.record)
            .field("cluster", &self.cluster)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// What a check found: a verdict, or the key it needs first.
#[derive(Debug, PartialEq, Eq)]
pub enum Judged {
    Verdict(Result<(), Denial>),
    Lacks(Need),
}

fn record_name(prefix: &str, parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("webhook_guard.key.{prefix}.{hex}")
}

/// A record: version, the time it was fetched, the time it stops serving, the key.
fn write_record(fetched: u64, until: u64, key: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(key.len() + 17);
    w.u8(VERSION).u64(fetched).u64(until).bytes(key);
    w.finish()
}

/// The key bytes of a record still serving at `now`.
fn read_record(bytes: &[u8], now: u64) -> Option<&[u8]> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let (_fetched, until) = (r.u64()?, r.u64()?);
    if now > until {
        return None;
    }
    let rest = r.remaining();
    r.take(rest)
}

impl PaypalCheck {
    /// Judge the request with the certificate of its URL (`cert`: the one fetched, if at
    /// hand), or say that certificate is lacking. The headers are judged first: a refused
    /// URL is never wanted.
    pub fn judge(&self, head: &RequestHead, body: &[u8], cert: &dyn Fn(&str) -> Option<Arc<SigningCert>>) -> Judged {
        let t = match self.read(head) {
            Ok(t) => t,
            Err(d) => return Judged::Verdict(Err(d)),
        };
        match cert(&t.cert.url) {
            // Checked at each use: a certificate fetched while valid may have expired since.
            Some(c) if !c.is_valid_at(head.now) => Judged::Verdict(Err(Denial::KeyExpired)),
            Some(c) => Judged::Verdict(self.verify(&t, body, &c.key)),
            None => Judged::Lacks(Need {
                document: Document::Certificate(Box::new(CertificateDoc {
                    url: t.cert.url.clone(),
                    cluster: self.cluster.clone(),
                    authority: t.cert.authority.to_string(),
                    path: t.cert.path.clone(),
                    timeout_ms: self.timeout_ms,
                })),
                retry_after_seconds: RETRY_AFTER_SECONDS,
            }),
        }
    }
}

impl PlaidCheck {
    /// Judge the request with the key its token names, from shared data, or say that key
    /// is lacking. The token is read first: a token Plaid did not make (another `alg`, a
    /// `kid` of another form) never makes the filter ask Plaid.
    pub fn judge(&self, head: &RequestHead, body: &[u8], store: &dyn SharedStore) -> Judged {
        let t = match self.read(head) {
            Ok(t) => t,
            Err(d) => return Judged::Verdict(Err(d)),
        };
        // Per environment and client (the key endpoint answers for a client), by kid.
        let record = record_name("plaid", &[self.authority.as_bytes(), self.client_id(), t.kid.as_bytes()]);
        let key = store
            .get(&record)
            .0
            .and_then(|b| read_record(&b, head.now).and_then(|k| plaid::read_key_answer(k, &t.kid).ok()));
        match key {
            Some(key) => Judged::Verdict(self.verify(&t, &key, body, head.now)),
            None => Judged::Lacks(Need {
                document: Document::Key(Box::new(Wanted {
                    kind: Kind::PlaidKey,
                    record,
                    kid: t.kid.clone(),
                    cluster: self.cluster.clone(),
                    headers: vec![
                        (":method".into(), "POST".into()),
                        (":path".into(), plaid::KEY_PATH.into()),
                        (":authority".into(), self.authority.clone()),
                        ("content-type".into(), "application/json".into()),
                    ],
                    body: Some(self.key_request_body(&t.kid)),
                    timeout_ms: self.timeout_ms,
                    limit: plaid::MAX_ANSWER_BYTES,
                })),
                retry_after_seconds: RETRY_AFTER_SECONDS,
            }),
        }
    }
}

/// Read the answer of a [`Wanted`] fetch with its sender's parser and, when it holds a
/// good key, write the record for every worker. The error names what was wrong, never
/// a byte of the answer.
pub fn accept(w: &Wanted, answer: &[u8], now: u64, store: &dyn SharedStore) -> Result<(), String> {
    let value = match w.kind {
        Kind::PlaidKey => {
            let key: PlaidKey = plaid::read_key_answer(answer, &w.kid).map_err(|e| e.to_string())?;
            // The answer is kept as Plaid wrote it (a few hundred bytes) and read again at
            // each use; `expired_at` travels with it.
            let _ = key;
            write_record(now, now.saturating_add(PLAID_KEY_TTL_SECONDS), answer)
        }
    };
    store.set(&w.record, &value, None).map_err(|_| "shared data refused the write".to_string())
}

#[cfg(test)]
mod tests;
