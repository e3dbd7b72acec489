//! `sns`: Amazon SNS messages to an HTTP/S subscription, verified as AWS documents it
//! ("Verifying the signatures of Amazon SNS messages") and as AWS's SDK validators do:
//!
//! - the body is one JSON object (no member written twice), `Type` one of
//!   `Notification`, `SubscriptionConfirmation`, `UnsubscribeConfirmation`, equal to the
//!   `x-amz-sns-message-type` header (sent once);
//! - `TopicArn` one of the configured topics (checked before anything is fetched);
//! - `SignatureVersion` `1` (SHA1withRSA) or `2` (SHA256withRSA), `Signature` base64;
//! - `SigningCertURL` exactly `https://sns.<region>.amazonaws.com/<name>.pem` (or
//!   `.amazonaws.com.cn`): no user info, no port, no query, plain path characters. Any
//!   other URL is refused and never fetched;
//! - the certificate at that URL (fetched through the configured cluster, kept by URL:
//!   [`crate::fetch::certs`]) is valid now and its RSA key verifies the signature over
//!   the message type's canonical string: `Name\nvalue\n` for `Message`, `MessageId`,
//!   `Subject` (when present), `Timestamp`, `TopicArn`, `Type` of a notification, and
//!   `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type` of
//!   the two confirmations.
//!
//! A verified `SubscriptionConfirmation` is forwarded like any message: the application
//! confirms the subscription (the filter never visits `SubscribeURL`). AWS documents no
//! timestamp window and its validators check none: neither does this check.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::denial::Denial;
use crate::error::ConfigError;
use crate::fetch::{CertificateDoc, Document, Need};
use crate::json::{self, Json};
use crate::request::Headers;
use crate::verify::x509::SigningCert;

/// The header SNS names the message type in.
pub const TYPE_HEADER: &str = "x-amz-sns-message-type";
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The most a message may be: SNS messages are at most 256 KiB, plus the envelope.
const MAX_MESSAGE_BYTES: usize = 512 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// The topics whose messages are let through (exact ARNs).
    pub topic_arns: Vec<String>,
    pub certificates: CertificatesConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesConfig {
    /// The Envoy cluster the signing certificates are fetched through (TLS to
    /// `sns.<region>.amazonaws.com` is the cluster's job).
    pub cluster: String,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug)]
pub struct SnsCheck {
    topics: Vec<String>,
    cluster: String,
    timeout_ms: u64,
}

/// Why a message did not verify: refused, or a certificate to fetch first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified {
    Denied(Denial),
    Need(Need),
}

impl From<Denial> for Unverified {
    fn from(d: Denial) -> Self {
        Unverified::Denied(d)
    }
}

/// The message types and the members each signs, in order (`Subject` only when present).
const NOTIFICATION: &[&str] = &["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"];
const CONFIRMATION: &[&str] = &["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];

impl SnsCheck {
    pub fn compile(c: &SnsConfig, path: &str) -> Result<Self, ConfigError> {
        if c.topic_arns.is_empty() {
            return Err(ConfigError::new(format!("{path}.topic_arns"), "list at least one topic ARN"));
        }
        for (i, arn) in c.topic_arns.iter().enumerate() {
            let parts: Vec<&str> = arn.split(':').collect();
            let ok = parts.len() == 6
                && parts.first() == Some(&"arn")
                && parts.get(1).is_some_and(|p| p.starts_with("aws"))
                && parts.get(2) == Some(&"sns")
                && parts.iter().skip(3).all(|p| !p.is_empty());
            if !ok {
                return Err(ConfigError::new(
                    format!("{path}.topic_arns[{i}]"),
                    format!("\"{arn}\" is not a topic ARN (arn:aws:sns:<region>:<account>:<topic>)"),
                ));
            }
            if c.topic_arns.iter().take(i).any(|a| a == arn) {
                return Err(ConfigError::new(format!("{path}.topic_arns[{i}]"), format!("\"{arn}\" is listed twice")));
            }
        }
        if c.certificates.cluster.is_empty() {
            return Err(ConfigError::new(format!("{path}.certificates.cluster"), "must name an Envoy cluster"));
        }
        let timeout_ms = c.certificates.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(format!("{path}.certificates.timeout_ms"), "must be between 100 and 60000"));
        }
        Ok(SnsCheck { topics: c.topic_arns.clone(), cluster: c.certificates.cluster.clone(), timeout_ms })
    }

    /// Verify one message. `cert` gives the certificate fetched for a URL, if there is
    /// one; without it the answer is the [`Need`] to fetch it (the URL already passed
    /// the host rule). `now` in Unix seconds.
    pub fn verify(
        &self,
        headers: &Headers,
        body: &[u8],
        now: u64,
        cert: &dyn Fn(&str) -> Option<Arc<SigningCert>>,
    ) -> Result<(), Unverified> {
        let message = Message::read(body)?;
        let kind = message.string("Type")?;
        let signed = match kind {
            "Notification" => NOTIFICATION,
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => CONFIRMATION,
            _ => return Err(Denial::SnsMessageMalformed.into()),
        };
        let header = headers.get_one(TYPE_HEADER).map_err(|_| Denial::SnsTypeMismatch)?;
        if header != Some(kind.as_bytes()) {
            return Err(Denial::SnsTypeMismatch.into());
        }
        let topic = message.string("TopicArn")?;
        if !self.topics.iter().any(|t| t == topic) {
            return Err(Denial::SnsTopicNotAllowed.into());
        }
        let sha256 = match message.string("SignatureVersion")? {
            "1" => false,
            "2" => true,
            _ => return Err(Denial::SnsMessageMalformed.into()),
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(message.string("Signature")?)
            .map_err(|_| Denial::SnsMessageMalformed)?;
        let url = message.string("SigningCertURL")?;
        let (authority, path) = cert_url(url).ok_or(Denial::SnsCertUrlRefused)?;
        let canonical = message.canonical(signed)?;
        let Some(cert) = cert(url) else {
            return Err(Unverified::Need(Need {
                document: Document::Certificate(Box::new(CertificateDoc {
                    url: url.to_string(),
                    cluster: self.cluster.clone(),
                    authority: authority.to_string(),
                    path: path.to_string(),
                    timeout_ms: self.timeout_ms,
                })),
                retry_after_seconds: self.timeout_ms.div_ceil(1000).saturating_add(1),
            }));
        };
        if !cert.is_valid_at(now) {
            return Err(Denial::SnsCertExpired.into());
        }
        let ok = if sha256 {
            let digest = Sha256::digest(canonical.as_bytes());
            cert.key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature).is_ok()
        } else {
            let digest = Sha1::digest(canonical.as_bytes());
            cert.key.verify(rsa::Pkcs1v15Sign::new::<Sha1>(), &digest, &signature).is_ok()
        };
        if !ok {
            return Err(Denial::SignatureMismatch.into());
        }
        Ok(())
    }
}

/// The string an SNS message's signature covers: `Name\nvalue\n` of the members its
/// `Type` signs (`webhook-guard sign` signs it; the check verifies it).
pub fn string_to_sign(body: &[u8]) -> Result<String, Denial> {
    let message = Message::read(body)?;
    let signed = match message.string("Type")? {
        "Notification" => NOTIFICATION,
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => CONFIRMATION,
        _ => return Err(Denial::SnsMessageMalformed),
    };
    message.canonical(signed)
}

/// The message's members.
struct Message(Vec<(String, Json)>);

impl Message {
    fn read(body: &[u8]) -> Result<Message, Denial> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(Denial::SnsMessageMalformed);
        }
        let doc = json::parse(body).map_err(|_| Denial::SnsMessageMalformed)?;
        if doc.has_repeated_member() {
            return Err(Denial::SnsMessageMalformed);
        }
        match doc {
            Json::Object(members) => Ok(Message(members)),
            _ => Err(Denial::SnsMessageMalformed),
        }
    }

    fn get(&self, name: &str) -> Option<&Json> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// `Name\nvalue\n` of each of `signed` (`Subject` skipped when absent).
    fn canonical(&self, signed: &[&str]) -> Result<String, Denial> {
        let mut canonical = String::new();
        for name in signed {
            let value = match self.get(name) {
                Some(Json::String(v)) => v,
                None if *name == "Subject" => continue,
                _ => return Err(Denial::SnsMessageMalformed),
            };
            canonical.push_str(name);
            canonical.push('\n');
            canonical.push_str(value);
            canonical.push('\n');
        }
        Ok(canonical)
    }

    /// A member that must be a string.
    fn string(&self, name: &str) -> Result<&str, Denial> {
        match self.get(name) {
            Some(Json::String(v)) => Ok(v),
            _ => Err(Denial::SnsMessageMalformed),
        }
    }
}

/// The authority and path of a signing certificate URL SNS may name:
/// `https://sns.<region>.amazonaws.com[.cn]/<path>.pem`, the region lower-case letters,
/// digits and `-` (3 or more), the path plain characters. Anything else: `None`.
pub fn cert_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://")?;
    let slash = rest.find('/')?;
    let (host, path) = rest.split_at(slash);
    let inner = host.strip_prefix("sns.")?;
    let region = inner.strip_suffix(".amazonaws.com").or_else(|| inner.strip_suffix(".amazonaws.com.cn"))?;
    let region_ok = region.len() >= 3
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    let path_ok = path.len() > 5
        && path.len() <= 512
        && path.ends_with(".pem")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
        && !path.contains("//")
        && !path.split('/').any(|seg| seg == "." || seg == "..");
    (region_ok && path_ok).then_some((host, path))
}

#[cfg(test)]
pub(crate) mod tests;
