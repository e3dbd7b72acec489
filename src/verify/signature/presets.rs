//! The presets: one row per provider, each a value of the scheme model, with the
//! provider page it follows. A new provider is a row here and its test vector.

use super::handshake::Handshake;
use super::model::{Algorithm, Encoding, Field, KeyFormat, Mac, Scheme, SignatureAt, TimeFormat, Timestamp};
use super::template;

/// A named provider scheme.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    /// Alternative spellings of the same scheme, told apart by which signature header is
    /// present (Standard Webhooks' `webhook-*` and `svix-*`); usually one.
    pub schemes: Vec<Scheme>,
    pub tolerance_seconds: u64,
    pub handshake: Option<Handshake>,
    /// A header naming the delivery, for replay protection, when the signed bytes have no id.
    pub delivery_id: Option<&'static str>,
    /// The provider's documentation this row follows.
    pub doc: &'static str,
}

const SHA1: Algorithm = Algorithm::Hmac(Mac::Sha1);
const SHA256: Algorithm = Algorithm::Hmac(Mac::Sha256);
const SHA512: Algorithm = Algorithm::Hmac(Mac::Sha512);

fn tpl(t: &str) -> Vec<template::Part> {
    // Preset templates are constants; a test parses every one.
    template::parse(t, "").unwrap_or_default()
}

/// A signature in one header, after `prefix`.
fn header(name: &str, prefix: &str, algorithm: Algorithm, encoding: Encoding, signed: &str) -> Scheme {
    headers(&[name], prefix, algorithm, encoding, signed)
}

fn headers(names: &[&str], prefix: &str, algorithm: Algorithm, encoding: Encoding, signed: &str) -> Scheme {
    Scheme {
        signature: SignatureAt::Headers { names: names.iter().map(|n| n.to_string()).collect(), prefix: prefix.into() },
        algorithm,
        encoding,
        timestamp: None,
        id: None,
        template: tpl(signed),
        secret_format: KeyFormat::RAW,
        public_key_format: KeyFormat::RAW,
        body_sha256_query: None,
        url_decode: Vec::new(),
    }
}

/// A `k=v` list in one header: `labels` carry signatures.
fn list(name: &str, separator: u8, pair: u8, labels: &[(&str, Algorithm)], encoding: Encoding, signed: &str) -> Scheme {
    let labels: Vec<(String, Algorithm)> = labels.iter().map(|(l, a)| (l.to_string(), *a)).collect();
    let algorithm = labels.first().map_or(SHA256, |(_, a)| *a);
    Scheme {
        signature: SignatureAt::List { name: name.into(), separator, pair, labels },
        ..header(name, "", algorithm, encoding, signed)
    }
}

impl Scheme {
    fn ts_header(mut self, name: &str, format: TimeFormat) -> Self {
        self.timestamp = Some(Timestamp { at: Field::Header(name.into()), format });
        self
    }
    fn ts_member(mut self, key: &str, format: TimeFormat) -> Self {
        self.timestamp = Some(Timestamp { at: Field::Member(key.into()), format });
        self
    }
    fn id_header(mut self, name: &str) -> Self {
        self.id = Some(Field::Header(name.into()));
        self
    }
    fn keys(mut self, secret: KeyFormat) -> Self {
        self.secret_format = secret;
        self
    }
    fn public_keys(mut self, public: KeyFormat) -> Self {
        self.public_key_format = public;
        self
    }
}

fn row(name: &'static str, doc: &'static str, scheme: Scheme) -> Preset {
    Preset { name, schemes: vec![scheme], tolerance_seconds: 300, handshake: None, delivery_id: None, doc }
}

impl Preset {
    fn delivery(mut self, header: &'static str) -> Self {
        self.delivery_id = Some(header);
        self
    }
    fn or(mut self, alternative: Scheme) -> Self {
        self.schemes.push(alternative);
        self
    }
}

/// Standard Webhooks, in the header family `family` (`webhook` or `svix`): `v1` HMAC with
/// the base64 key after `whsec_`, `v1a` Ed25519 with the base64 key after `whpk_`.
fn standard(family: &str) -> Scheme {
    let h = |n: &str| format!("{family}-{n}");
    list(
        &h("signature"),
        b' ',
        b',',
        &[("v1", SHA256), ("v1a", Algorithm::Ed25519)],
        Encoding::Base64,
        "{id}.{timestamp}.{body}",
    )
    .ts_header(&h("timestamp"), TimeFormat::Seconds)
    .id_header(&h("id"))
    .keys(KeyFormat::new("whsec_", Encoding::Base64))
    .public_keys(KeyFormat::new("whpk_", Encoding::Base64))
}

fn standard_row(name: &'static str, doc: &'static str) -> Preset {
    row(name, doc, standard("webhook")).or(standard("svix"))
}

/// Every preset name, in the order of the README table.
pub const NAMES: &[&str] = &["github", "stripe", "slack", "shopify", "standard"];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<Preset> {
    use Encoding::*;
    use TimeFormat::*;
    let p = match name {
        "github" => row(
            "github",
            "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
            header("x-hub-signature-256", "sha256=", SHA256, Hex, "{body}"),
        )
        .delivery("x-github-delivery"),
        "stripe" => row(
            "stripe",
            "https://docs.stripe.com/webhooks#verify-manually",
            list("stripe-signature", b',', b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}").ts_member("t", Seconds),
        ),
        "slack" => row(
            "slack",
            "https://api.slack.com/authentication/verifying-requests-from-slack",
            header("x-slack-signature", "v0=", SHA256, Hex, "v0:{timestamp}:{body}")
                .ts_header("x-slack-request-timestamp", Seconds),
        ),
        "shopify" => row(
            "shopify",
            "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
            header("x-shopify-hmac-sha256", "", SHA256, Base64, "{body}"),
        )
        .delivery("x-shopify-webhook-id"),
        "standard" => standard_row(
            "standard",
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
        ),
        _ => return None,
    };
    let _ = (SHA1, SHA512, Milliseconds, Rfc3339, Base64Url, Raw);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_preset_with_a_parsed_template() {
        for name in NAMES {
            let p = preset(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.name, *name);
            assert!(p.doc.starts_with("https://"), "{name}");
            for s in &p.schemes {
                assert!(!s.template.is_empty(), "{name}");
            }
        }
        assert!(preset("generic").is_none());
    }
}
