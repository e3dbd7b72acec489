//! The presets: one row per provider, each a value of the scheme model, with the
//! provider page it follows. A new provider is a row here and its test vector.

use super::handshake::Handshake;
use super::model::{
    Algorithm, BodyRule, Declared, Encoding, Field, HexCase, Items, KeyFormat, ListRules, Mac, Repeated, Scheme,
    SignatureAt, TimeFormat, Timestamp, Unknown,
};
use super::template;

/// A named provider scheme: one row of the table, holding everything said about the
/// preset (its name, the page it follows, the provider's own verifier it is held to, and
/// where it departs from that verifier).
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    /// Alternative spellings of the same scheme, told apart by which signature header is
    /// present (Standard Webhooks' `webhook-*` and `svix-*`); usually one.
    pub schemes: Vec<Scheme>,
    /// Which of `schemes` the provider sends, for a signer to write (Svix and the
    /// providers built on it send `svix-*`); the verifier accepts any.
    pub sends: usize,
    /// How far from now a signed timestamp may lie, each way.
    pub window: Window,
    /// What the provider's own verifier (else its documentation) allows each way.
    pub provider_window: ProviderWindow,
    pub handshake: Option<Handshake>,
    /// A header naming the delivery, for replay protection, when the signed bytes have no id.
    pub delivery_id: Option<&'static str>,
    /// The provider's documentation this row follows.
    pub source: &'static str,
    /// The provider's own verifier this row is held to (package and function), where the
    /// provider publishes one; else the row follows `source` to the letter.
    pub verifier: Option<&'static str>,
    /// Departures from the provider's verifier other than the window and repeated
    /// headers, in words.
    pub notes: Vec<&'static str>,
}

/// How far a signed timestamp may lie from now, in seconds: `past` for an old message,
/// `future` for one stamped ahead of our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub past: u64,
    pub future: u64,
}

impl Window {
    /// The same limit both ways (`tolerance_seconds`).
    pub const fn both(seconds: u64) -> Window {
        Window { past: seconds, future: seconds }
    }
}

/// What a provider's verifier allows each way; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderWindow {
    pub past: Option<u64>,
    pub future: Option<u64>,
}

/// The allowance for clock skew on a timestamp ahead of our clock, for every preset
/// whose provider says nothing about the future: a sender's clock a little ahead is
/// normal, a message stamped minutes ahead is not one the sender just made.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// One way a preset is not exactly its provider's verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    /// Our limit on a timestamp's age differs from the provider's (`None`: no limit).
    Past {
        ours: u64,
        theirs: Option<u64>,
    },
    /// Our limit on a timestamp ahead of now differs from the provider's.
    Future {
        ours: u64,
        theirs: Option<u64>,
    },
    /// A signature, timestamp or id header sent twice is refused; a verifier reading a
    /// framework's header map sees one of them (or both joined).
    RepeatedHeaders,
    Other(&'static str),
}

impl std::fmt::Display for Departure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = |l: &Option<u64>| l.map_or("no limit".to_string(), |s| format!("{s} s"));
        match self {
            Departure::Past { ours, theirs } => write!(f, "past {ours} s (its verifier: {})", limit(theirs)),
            Departure::Future { ours, theirs } => write!(f, "future {ours} s (its verifier: {})", limit(theirs)),
            Departure::RepeatedHeaders => f.write_str("repeated headers refused"),
            Departure::Other(text) => f.write_str(text),
        }
    }
}

impl Preset {
    /// Where this preset departs from its provider's verifier, for the docs and `sign --list`.
    pub fn departures(&self) -> Vec<Departure> {
        let mut out = Vec::new();
        let first = self.schemes.first();
        if first.is_some_and(|s| s.timestamp.is_some()) {
            let (w, p) = (self.window, self.provider_window);
            if p.past != Some(w.past) {
                out.push(Departure::Past { ours: w.past, theirs: p.past });
            }
            if p.future != Some(w.future) {
                out.push(Departure::Future { ours: w.future, theirs: p.future });
            }
        }
        if first.is_some_and(|s| s.refuses_repeated_headers()) {
            out.push(Departure::RepeatedHeaders);
        }
        out.extend(self.notes.iter().map(|n| Departure::Other(n)));
        out
    }
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

// Called once per row: kept out of line, each call site is a few bytes instead of a
// whole `Scheme` built in place (6 KB of the plugin over the table).
#[inline(never)]
fn headers(names: &[&str], prefix: &str, algorithm: Algorithm, encoding: Encoding, signed: &str) -> Scheme {
    Scheme {
        signature: SignatureAt::Headers {
            names: names.iter().map(|n| n.to_string()).collect(),
            prefix: prefix.into(),
            per_key: false,
            repeats: false,
            prefix_optional: false,
        },
        algorithm,
        encoding,
        timestamp: None,
        id: None,
        template: tpl(signed),
        secret_format: KeyFormat::RAW,
        public_key_format: KeyFormat::RAW,
        body_sha256_query: None,
        url_decode: Vec::new(),
        hex_case: HexCase::Any,
        ecdsa_der_only: false,
        body: BodyRule::Bytes,
        declared: Vec::new(),
    }
}

/// A `k=v` list in one header: `labels` carry signatures.
fn list(
    name: &str,
    separator: &str,
    pair: u8,
    labels: &[(&str, Algorithm)],
    encoding: Encoding,
    signed: &str,
) -> Scheme {
    let labels: Vec<(String, Algorithm)> = labels.iter().map(|(l, a)| (l.to_string(), *a)).collect();
    let algorithm = labels.first().map_or(SHA256, |(_, a)| *a);
    Scheme {
        signature: SignatureAt::List {
            name: name.into(),
            separator: separator.into(),
            pair,
            labels,
            rules: ListRules::DEFAULT,
        },
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
    /// The provider's verifier compares lower-case hex strings.
    fn lower_hex(mut self) -> Self {
        self.hex_case = HexCase::Lower;
        self
    }
    fn der_only(mut self) -> Self {
        self.ecdsa_der_only = true;
        self
    }
    fn body(mut self, rule: BodyRule) -> Self {
        self.body = rule;
        self
    }
    fn declare(mut self, header: &str, d: Declared) -> Self {
        self.declared.push((header.into(), d));
        self
    }
    fn rules(mut self, r: ListRules) -> Self {
        if let SignatureAt::List { rules, .. } = &mut self.signature {
            *rules = r;
        }
        self
    }
    /// Every value of a repeated signature header is a signature, each with or without
    /// the prefix (Mollie's verifiers take a list of header values).
    fn each_value(mut self) -> Self {
        if let SignatureAt::Headers { repeats, prefix_optional, .. } = &mut self.signature {
            *repeats = true;
            *prefix_optional = true;
        }
        self
    }
    fn per_key(mut self) -> Self {
        if let SignatureAt::Headers { per_key, .. } = &mut self.signature {
            *per_key = true;
        }
        self
    }
}

/// A row: `name`, the page it follows, its scheme. The window defaults to five minutes
/// each way, and so does the provider's. Out of line for the same reason as `headers`.
#[inline(never)]
fn row(name: &'static str, source: &'static str, scheme: Scheme) -> Preset {
    Preset {
        name,
        schemes: vec![scheme],
        sends: 0,
        window: Window::both(DEFAULT_WINDOW),
        provider_window: ProviderWindow { past: Some(DEFAULT_WINDOW), future: Some(DEFAULT_WINDOW) },
        handshake: None,
        delivery_id: None,
        source: words(source),
        verifier: None,
        notes: Vec::new(),
    }
}

const DEFAULT_WINDOW: u64 = 300;

/// A row's words (its source, verifier and notes) are for the docs and the command line:
/// the plugin never prints them, so they stay out of the `.wasm`.
const fn words(text: &'static str) -> &'static str {
    if cfg!(target_arch = "wasm32") {
        ""
    } else {
        text
    }
}

impl Preset {
    /// Our window, each way.
    fn window(mut self, past: u64, future: u64) -> Self {
        self.window = Window { past, future };
        self
    }
    /// The provider verifier's window, each way (`None`: no limit).
    fn theirs(mut self, past: Option<u64>, future: Option<u64>) -> Self {
        self.provider_window = ProviderWindow { past, future };
        self
    }
    /// The provider's own verifier, `package: function`.
    fn verifier(mut self, v: &'static str) -> Self {
        self.verifier = Some(words(v));
        self
    }
    fn note(mut self, text: &'static str) -> Self {
        if !words(text).is_empty() {
            self.notes.push(text);
        }
        self
    }
    fn handshake(mut self, h: Handshake) -> Self {
        self.handshake = Some(h);
        self
    }
    fn delivery(mut self, header: &'static str) -> Self {
        self.delivery_id = Some(header);
        self
    }
    fn or(mut self, alternative: Scheme) -> Self {
        self.schemes.push(alternative);
        self
    }
    fn sends(mut self, spelling: usize) -> Self {
        self.sends = spelling;
        self
    }
    /// Change every spelling of the scheme alike.
    fn each(mut self, f: impl Fn(Scheme) -> Scheme) -> Self {
        self.schemes = self.schemes.into_iter().map(f).collect();
        self
    }
}

/// Stripe's reading of `Stripe-Signature`: items as written (no trimming), unknown and
/// pair-less ones ignored, the first `t` taken.
const STRIPE_LIST: ListRules = ListRules {
    trim: false,
    unknown: Unknown::Ignore,
    pairless: Unknown::Ignore,
    repeated: Repeated::First,
    fixed: false,
};
/// Paddle's reading of `Paddle-Signature`: no trimming, an unknown key refused, an item
/// without `=` skipped, the last `ts` taken.
const PADDLE_LIST: ListRules = ListRules {
    trim: false,
    unknown: Unknown::Refuse,
    pairless: Unknown::Ignore,
    repeated: Repeated::Last,
    fixed: false,
};
/// Mux's reading of `Mux-Signature`: items as written, unknown and pair-less ones
/// ignored, the last `t` taken.
const MUX_LIST: ListRules = ListRules {
    trim: false,
    unknown: Unknown::Ignore,
    pairless: Unknown::Ignore,
    repeated: Repeated::Last,
    fixed: false,
};
/// PagerDuty's reading of `X-PagerDuty-Signature`: items as written, anything but a `v1`
/// item ignored.
const PAGERDUTY_LIST: ListRules = ListRules { repeated: Repeated::Refuse, ..MUX_LIST };
/// Buildkite's `X-Buildkite-Signature`: `timestamp`, then one `signature`, spaces around
/// the items dropped.
const BUILDKITE_LIST: ListRules = ListRules {
    trim: true,
    unknown: Unknown::Refuse,
    pairless: Unknown::Refuse,
    repeated: Repeated::Refuse,
    fixed: true,
};
/// WorkOS's reading of `WorkOS-Signature`: exactly `t=<ms>, v1=<hex>`.
const WORKOS_LIST: ListRules = ListRules {
    trim: false,
    unknown: Unknown::Refuse,
    pairless: Unknown::Refuse,
    repeated: Repeated::Refuse,
    fixed: true,
};
/// Standard Webhooks' libraries split at each single space and compare each item whole.
const STANDARD_LIST: ListRules = ListRules { trim: false, ..ListRules::DEFAULT };

/// Standard Webhooks, in the header family `family` (`webhook` or `svix`): `v1` HMAC with
/// the base64 key after `whsec_`, `v1a` Ed25519 with the base64 key after `whpk_`.
fn standard(family: &str) -> Scheme {
    let h = |n: &str| format!("{family}-{n}");
    list(
        &h("signature"),
        " ",
        b',',
        &[("v1", SHA256), ("v1a", Algorithm::Ed25519)],
        Encoding::Base64,
        "{id}.{timestamp}.{body}",
    )
    .ts_header(&h("timestamp"), TimeFormat::Seconds)
    .id_header(&h("id"))
    .keys(KeyFormat::new("whsec_", Encoding::Base64))
    .public_keys(KeyFormat::new("whpk_", Encoding::Base64))
    .rules(STANDARD_LIST)
}

/// Svix and the providers built on it: either header family (Svix's library reads
/// `svix-*`, else `webhook-*`).
fn standard_row(name: &'static str, source: &'static str) -> Preset {
    row(name, source, standard("webhook")).or(standard("svix")).sends(1)
}

const DECIMAL_TIMESTAMP: &str =
    "a timestamp with a fraction is refused; the library reads it with float() and signs its whole seconds";

mod table;
pub use table::all;

/// The preset called `name`.
pub fn preset(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

/// Every preset's name, in table order.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}

fn body_pointer(text: &str) -> super::model::Pointer {
    super::model::Pointer::parse(text).unwrap_or(super::model::Pointer(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_a_preset_with_a_parsed_template_and_a_source() {
        let all = all();
        for p in &all {
            assert_eq!(preset(p.name).map(|q| q.name), Some(p.name));
            assert!(p.source.starts_with("https://"), "{}", p.name);
            assert!(p.sends < p.schemes.len(), "{}", p.name);
            for s in &p.schemes {
                // Items sign their own fields (Adyen); every other scheme a template.
                assert!(!s.template.is_empty() || matches!(s.signature, SignatureAt::Items(_)), "{}", p.name);
            }
        }
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a name is used twice");
        assert!(preset("generic").is_none());
    }

    #[test]
    fn departures_follow_from_the_windows() {
        let mut p = preset("stripe").unwrap();
        p.window = Window { past: 300, future: CLOCK_SKEW_SECONDS };
        p.provider_window = ProviderWindow { past: Some(300), future: None };
        assert_eq!(
            p.departures()[..2],
            [Departure::Future { ours: CLOCK_SKEW_SECONDS, theirs: None }, Departure::RepeatedHeaders]
        );
        assert_eq!(p.departures()[0].to_string(), format!("future {CLOCK_SKEW_SECONDS} s (its verifier: no limit)"));
        // No timestamp: no window to depart from; no header: none to repeat.
        let mailgun = preset("mailgun").unwrap();
        assert!(!mailgun.departures().contains(&Departure::RepeatedHeaders));
        let github = preset("github").unwrap();
        assert!(!github.departures().iter().any(|d| matches!(d, Departure::Past { .. } | Departure::Future { .. })));
    }
}
