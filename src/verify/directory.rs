//! Keys a sender publishes and the filter fetches on a request's first use (PayPal's
//! certificate by URL, Plaid's key by `kid`), kept in shared data so that every worker
//! and every later request uses the copy fetched once.
//!
//! A check either judges the request with a key it finds in shared data, or says which
//! key it lacks ([`Wanted`]: the record's name and the callout that fetches it). The
//! answer of that callout is read by [`accept`] (the sender's parser), and only a good
//! key is written: a refused URL or `kid` leaves nothing behind.

use std::fmt;

use crate::denial::Denial;
use crate::request::RequestHead;
use crate::shared::record::{Reader, Writer};
use crate::shared::SharedStore;
use crate::verify::certificate::{self, MAX_PEM_BYTES};
use crate::verify::jwt::plaid::{self, PlaidCheck, PlaidKey};
use crate::verify::paypal::PaypalCheck;

/// The record format; a record of another version is no record (fetched again).
const VERSION: u8 = 1;
/// A Plaid key is asked for again after a day, so a key Plaid has since marked expired
/// stops verifying within a day (Plaid's example asks again only on an unknown `kid`).
pub const PLAID_KEY_TTL_SECONDS: u64 = 86_400;

/// Which sender's parser reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PaypalCertificate,
    PlaidKey,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::PaypalCertificate => "PayPal certificate",
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
    Lacks(Box<Wanted>),
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
    /// Judge the request with the certificate of its URL from shared data, or say that
    /// certificate is lacking. The headers are judged first: a refused URL is never
    /// wanted.
    pub fn judge(&self, head: &RequestHead, body: &[u8], store: &dyn SharedStore) -> Judged {
        let t = match self.read(head) {
            Ok(t) => t,
            Err(d) => return Judged::Verdict(Err(d)),
        };
        let record = record_name("paypal", &[t.cert.url.as_bytes()]);
        let key = store.get(&record).0.and_then(|b| read_record(&b, head.now).and_then(rsa_key));
        match key {
            Some(key) => Judged::Verdict(self.verify(&t, body, &key)),
            None => Judged::Lacks(Box::new(Wanted {
                kind: Kind::PaypalCertificate,
                record,
                kid: String::new(),
                cluster: self.cluster.clone(),
                headers: vec![
                    (":method".into(), "GET".into()),
                    (":path".into(), t.cert.path.clone()),
                    (":authority".into(), t.cert.authority.into()),
                ],
                body: None,
                timeout_ms: self.timeout_ms,
                limit: MAX_PEM_BYTES,
            })),
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
            None => Judged::Lacks(Box::new(Wanted {
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
        }
    }
}

/// The RSA key of a PayPal record: modulus length (u16), modulus, exponent.
fn rsa_key(bytes: &[u8]) -> Option<rsa::RsaPublicKey> {
    let mut r = Reader::new(bytes);
    let n_len = usize::from(r.u16()?);
    let n = r.take(n_len)?;
    let rest = r.remaining();
    let e = r.take(rest)?;
    rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e)).ok()
}

/// Read the answer of a [`Wanted`] fetch with its sender's parser and, when it holds a
/// good key, write the record for every worker. The error names what was wrong, never
/// a byte of the answer.
pub fn accept(w: &Wanted, answer: &[u8], now: u64, store: &dyn SharedStore) -> Result<(), String> {
    let value = match w.kind {
        Kind::PaypalCertificate => {
            use rsa::traits::PublicKeyParts;
            let cert = certificate::rsa_from_pem(answer, now).map_err(|e| e.to_string())?;
            let n = cert.key.n().to_bytes_be();
            let n_len = u16::try_from(n.len()).map_err(|_| "the modulus is too long".to_string())?;
            let mut key = Writer::with_capacity(n.len() + 8);
            key.u16(n_len).bytes(&n).bytes(&cert.key.e().to_bytes_be());
            write_record(now, cert.not_after, &key.finish())
        }
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
