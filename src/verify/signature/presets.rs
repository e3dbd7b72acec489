//! The presets: one row per provider, each a value of the scheme model, with the
//! provider page it follows. A new provider is a row here and its test vector.

use super::handshake::Handshake;
use super::model::{
    Algorithm, BodyRule, Declared, Encoding, Field, HexCase, KeyFormat, ListRules, Mac, Repeated, Scheme, SignatureAt,
    TimeFormat, Timestamp, Unknown,
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
            Departure::Past { ours, theirs } => {
                write!(f, "timestamps up to {ours} s old (the provider's verifier: {})", limit(theirs))
            }
            Departure::Future { ours, theirs } => {
                write!(f, "timestamps up to {ours} s ahead (the provider's verifier: {})", limit(theirs))
            }
            Departure::RepeatedHeaders => f.write_str("a repeated signature, timestamp or id header is refused"),
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
        if first.is_some_and(|s| s.reads_headers()) {
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
    fn per_key(mut self) -> Self {
        if let SignatureAt::Headers { per_key, .. } = &mut self.signature {
            *per_key = true;
        }
        self
    }
}

/// A row: `name`, the page it follows, its scheme. The window defaults to five minutes
/// each way, and so does the provider's.
/// Words about a preset (its source page, its provider's verifier, notes) are for the
/// docs and the CLI; the plugin verifies without them, so they are left out of the
/// `.wasm` (an argument the plugin's build never reads is dropped, and its text with it).
const fn words(text: &'static str) -> &'static str {
    if cfg!(target_arch = "wasm32") {
        ""
    } else {
        text
    }
}

// Out of line for the same reason as `headers`.
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
        self.verifier = (!cfg!(target_arch = "wasm32")).then_some(v);
        self
    }
    fn note(mut self, text: &'static str) -> Self {
        if !cfg!(target_arch = "wasm32") {
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
const STRIPE_LIST: ListRules =
    ListRules { trim: false, unknown: Unknown::Ignore, repeated: Repeated::First, fixed: false };
/// Paddle's reading of `Paddle-Signature`: no trimming, an unknown key refused, the last `ts` taken.
const PADDLE_LIST: ListRules =
    ListRules { trim: false, unknown: Unknown::Refuse, repeated: Repeated::Last, fixed: false };
/// WorkOS's reading of `WorkOS-Signature`: exactly `t=<ms>, v1=<hex>`.
const WORKOS_LIST: ListRules =
    ListRules { trim: false, unknown: Unknown::Refuse, repeated: Repeated::Refuse, fixed: true };
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

/// The characters HubSpot's v3 signature decodes in the URI.
const HUBSPOT_DECODED: &[u8] = b":/?@!$'()*,;";

/// Providers that sign the body alone with an HMAC in one header, as their pages give it:
/// name, header, prefix, MAC, encoding and source, one line each (a line costs the plugin
/// a few bytes where a row of its own costs a few hundred). Hex is compared in lower case,
/// as the pages' recipes compare the hex strings they compute.
type BodyMacRow = (&'static str, &'static str, &'static str, Mac, Encoding, &'static str);

const BODY_MAC_ROWS: &[BodyMacRow] = &[
    (
        "notion",
        "x-notion-signature",
        "sha256=",
        Mac::Sha256,
        Encoding::Hex,
        words("https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended"),
    ),
    (
        "checkout",
        "cko-signature",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/receive-webhooks"),
    ),
    (
        "woocommerce",
        "x-wc-webhook-signature",
        "",
        Mac::Sha256,
        Encoding::Base64,
        words("https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks"),
    ),
    (
        "mollie",
        "x-mollie-signature",
        "sha256=",
        Mac::Sha256,
        Encoding::Hex,
        words("https://docs.mollie.com/reference/webhooks-new#verifying-the-signature"),
    ),
    (
        "onfido",
        "x-sha2-signature",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://documentation.onfido.com/api/latest/#webhooks-signature-verification"),
    ),
    (
        "tally",
        "tally-signature",
        "",
        Mac::Sha256,
        Encoding::Base64,
        words("https://tally.so/help/webhooks#securing-your-webhooks"),
    ),
    (
        "paystack",
        "x-paystack-signature",
        "",
        Mac::Sha512,
        Encoding::Hex,
        words("https://paystack.com/docs/payments/webhooks/#verify-event-origin"),
    ),
    (
        "heroku",
        "heroku-webhook-hmac-sha256",
        "",
        Mac::Sha256,
        Encoding::Base64,
        words("https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests"),
    ),
    (
        "launchdarkly",
        "x-ld-signature",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://launchdarkly.com/docs/home/infrastructure/webhooks#sign-webhooks"),
    ),
    (
        "helpscout",
        "x-helpscout-signature",
        "",
        Mac::Sha1,
        Encoding::Base64,
        words("https://developer.helpscout.com/webhooks/#verifying"),
    ),
    (
        "asana",
        "x-hook-signature",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://developers.asana.com/docs/webhooks-guide#security"),
    ),
    (
        "alchemy",
        "x-alchemy-signature",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://www.alchemy.com/docs/reference/notify-api-quickstart#webhook-signature--security"),
    ),
    (
        "dwolla",
        "x-request-signature-sha-256",
        "",
        Mac::Sha256,
        Encoding::Hex,
        words("https://developers.dwolla.com/docs/balance/webhooks/process-validate"),
    ),
];

fn body_mac_row(&(name, signature, prefix, mac, encoding, source): &BodyMacRow) -> Preset {
    let s = header(signature, prefix, Algorithm::Hmac(mac), encoding, "{body}");
    row(name, source, if encoding == Encoding::Hex { s.lower_hex() } else { s })
}

/// Every preset, in the order of the providers table: the one place a preset is named.
pub fn all() -> Vec<Preset> {
    use Encoding::*;
    use TimeFormat::*;
    let body_hex = |h: &str, prefix: &str, a: Algorithm| header(h, prefix, a, Hex, "{body}");
    let body_b64 = |h: &str, prefix: &str, a: Algorithm| header(h, prefix, a, Base64, "{body}");
    let meta = |n: &'static str| {
        row(
            n,
            "https://developers.facebook.com/docs/graph-api/webhooks/getting-started",
            body_hex("x-hub-signature-256", "sha256=", SHA256),
        )
        .handshake(Handshake::MetaVerifyToken)
    };
    vec![
        row(
            "github",
            "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
            // The page's examples compare `sha256=` and a lower-case hex digest as strings.
            body_hex("x-hub-signature-256", "sha256=", SHA256).lower_hex(),
        )
        .delivery("x-github-delivery"),
        row(
            "stripe",
            "https://docs.stripe.com/webhooks#verify-manually",
            list("stripe-signature", ",", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Seconds)
                .rules(STRIPE_LIST)
                .lower_hex()
                .body(BodyRule::Text),
        )
        .verifier("stripe (PyPI): stripe.WebhookSignature.verify_header")
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None),
        row(
            "slack",
            "https://api.slack.com/authentication/verifying-requests-from-slack",
            header("x-slack-signature", "v0=", SHA256, Hex, "v0:{timestamp}:{body}")
                .ts_header("x-slack-request-timestamp", Seconds)
                .lower_hex()
                .body(BodyRule::Text),
        )
        .verifier("slack_sdk (PyPI): slack_sdk.signature.SignatureVerifier.is_valid"),
        row(
            "shopify",
            "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
            body_b64("x-shopify-hmac-sha256", "", SHA256),
        )
        .delivery("x-shopify-webhook-id"),
        // Standard Webhooks' own library reads the `webhook-*` headers only.
        row(
            "standard",
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
            standard("webhook"),
        )
        .verifier("standardwebhooks (PyPI): standardwebhooks.Webhook.verify"),
        standard_row("svix", "https://docs.svix.com/receiving/verifying-payloads/how-manual")
            .verifier("svix (PyPI): svix.webhooks.Webhook.verify"),
        standard_row("clerk", "https://clerk.com/docs/webhooks/verifying")
            .verifier("svix (PyPI): svix.webhooks.Webhook.verify, as the page does"),
        standard_row("resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests")
            .each(|s| s.body(BodyRule::Json))
            .verifier("resend (PyPI): resend.Webhooks.verify"),
        row(
            "gitlab",
            "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
            header("x-gitlab-token", "", Algorithm::Token, Raw, "{body}"),
        )
        .delivery("x-gitlab-event-uuid"),
        row(
            "bitbucket",
            "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
            body_hex("x-hub-signature", "sha256=", SHA256),
        )
        .delivery("x-request-uuid"),
        {
            let mut s = header("x-twilio-signature", "", SHA1, Base64, "{url}{form}");
            s.body_sha256_query = Some("bodySHA256".into());
            // A shared-key signature names its key and algorithm in this header; the
            // preset verifies the auth token's HMAC-SHA1, which comes without it.
            let s = s.lower_hex().declare("x-twilio-webhooks-signature-settings", Declared::Absent);
            row("twilio", "https://www.twilio.com/docs/usage/webhooks/webhooks-security", s)
                .verifier("twilio (PyPI): twilio.request_validator.RequestValidator.validate")
        },
        row(
            "square",
            "https://developer.squareup.com/docs/webhooks/step3validate",
            header("x-square-hmacsha256-signature", "", SHA256, Base64, "{url}{body}").body(BodyRule::NonEmptyText),
        )
        .verifier("squareup (PyPI): square.utils.webhooks_helper.verify_signature"),
        row(
            "zoom",
            "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
            header("x-zm-signature", "v0=", SHA256, Hex, "v0:{timestamp}:{body}")
                .ts_header("x-zm-request-timestamp", Seconds),
        )
        .handshake(Handshake::ZoomUrlValidation),
        row(
            "paddle",
            "https://developer.paddle.com/webhooks/signature-verification",
            list("paddle-signature", ";", b'=', &[("h1", SHA256)], Hex, "{timestamp}:{body}")
                .ts_member("ts", Seconds)
                .rules(PADDLE_LIST)
                .lower_hex()
                .body(BodyRule::Text),
        )
        .window(5, 5)
        .theirs(Some(5), Some(5))
        .verifier("paddle-python-sdk (PyPI): paddle_billing.Notifications.Verifier.verify"),
        {
            let mut s = body_hex("linear-signature", "", SHA256);
            s.timestamp = Some(Timestamp { at: Field::Body(body_pointer("/webhookTimestamp")), format: Milliseconds });
            row("linear", "https://linear.app/developers/webhooks#securing-webhooks", s)
                .window(60, 60)
                .delivery("linear-delivery")
        },
        row(
            "intercom",
            "https://developers.intercom.com/docs/webhooks/webhook-notifications#signed-notifications",
            body_hex("x-hub-signature", "sha1=", SHA1),
        ),
        {
            let mut s = header("x-hubspot-signature-v3", "", SHA256, Base64, "{method}{url}{body}{timestamp}")
                .ts_header("x-hubspot-request-timestamp", Milliseconds);
            s.url_decode = HUBSPOT_DECODED.to_vec();
            row(
                "hubspot",
                "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests",
                s.body(BodyRule::Text),
            )
            .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
            .theirs(Some(DEFAULT_WINDOW), None)
            .verifier("hubspot-api-client (PyPI): hubspot.utils.signature.Signature.is_valid")
        },
        row(
            "typeform",
            "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
            body_b64("typeform-signature", "sha256=", SHA256),
        ),
        row(
            "calendly",
            "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
            list("calendly-webhook-signature", ",", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Seconds),
        )
        .window(180, 180),
        row(
            "pagerduty",
            "https://developer.pagerduty.com/docs/verifying-webhook-signatures",
            list("x-pagerduty-signature", ",", b'=', &[("v1", SHA256)], Hex, "{body}"),
        )
        .delivery("x-webhook-id"),
        row(
            "twitch",
            "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
            header("twitch-eventsub-message-signature", "sha256=", SHA256, Hex, "{id}{timestamp}{body}")
                .ts_header("twitch-eventsub-message-timestamp", Rfc3339)
                .id_header("twitch-eventsub-message-id"),
        )
        .window(600, 600)
        .handshake(Handshake::TwitchChallenge),
        meta("meta"),
        meta("facebook"),
        meta("instagram"),
        meta("whatsapp"),
        row(
            "sentry",
            "https://docs.sentry.io/integrations/integration-platform/webhooks/",
            body_hex("sentry-hook-signature", "", SHA256),
        ),
        row(
            "vercel",
            "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
            body_hex("x-vercel-signature", "", SHA1),
        ),
        row(
            "lemonsqueezy",
            "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
            body_hex("x-signature", "", SHA256),
        ),
        row(
            "razorpay",
            "https://razorpay.com/docs/webhooks/validate-test/",
            body_hex("x-razorpay-signature", "", SHA256).lower_hex().body(BodyRule::Text),
        )
        .verifier("razorpay (PyPI): razorpay.Utility.verify_webhook_signature")
        .delivery("x-razorpay-event-id"),
        row(
            "mux",
            "https://www.mux.com/docs/core/verify-webhook-signatures",
            list("mux-signature", ",", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}").ts_member("t", Seconds),
        ),
        row(
            "segment",
            "https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook",
            body_hex("x-signature", "", SHA1),
        ),
        row(
            "circleci",
            "https://circleci.com/docs/guides/integration/outbound-webhooks/",
            list("circleci-signature", ",", b'=', &[("v1", SHA256)], Hex, "{body}"),
        ),
        {
            // One header per Connect key, X-DocuSign-Signature-1 up to -100.
            let names: Vec<String> = (1..=100).map(|i| format!("x-docusign-signature-{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            row(
                "docusign",
                "https://developers.docusign.com/platform/webhooks/connect/validate/",
                headers(&names, "", SHA256, Base64, "{body}"),
            )
        },
        row(
            "dropbox",
            "https://www.dropbox.com/developers/reference/webhooks",
            body_hex("x-dropbox-signature", "", SHA256),
        )
        .handshake(Handshake::DropboxChallenge),
        row(
            "box",
            "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
            // The primary key signs the primary header only, the secondary the secondary.
            headers(&["box-signature-primary", "box-signature-secondary"], "", SHA256, Base64, "{body}{timestamp}")
                .per_key()
                .ts_header("box-delivery-timestamp", Rfc3339)
                .declare("box-signature-version", Declared::Equal("1".into()))
                .declare("box-signature-algorithm", Declared::Equal("HmacSHA256".into()))
                .body(BodyRule::Text),
        )
        .window(600, CLOCK_SKEW_SECONDS)
        .theirs(Some(600), Some(0))
        .verifier("box-sdk-gen (PyPI): box_sdk_gen.WebhooksManager.validate_message")
        .note("the SDK also accepts a signature over the body with its non-ASCII characters escaped as \\uXXXX; Box signs the body as sent")
        .delivery("box-delivery-id"),
        row(
            "coinbase",
            "https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security",
            body_hex("x-cc-webhook-signature", "", SHA256).lower_hex().body(BodyRule::Json),
        )
        .verifier("coinbase-commerce (PyPI): coinbase_commerce.webhook.WebhookSignature.verify_sig_header"),
        row(
            "jira",
            "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
            body_hex("x-hub-signature", "sha256=", SHA256),
        ),
        row(
            "webex",
            "https://developer.webex.com/docs/receive-and-verify-webhooks",
            body_hex("x-spark-signature", "", SHA1),
        ),
        row(
            "microsoft_teams",
            "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook",
            body_b64("authorization", "HMAC ", SHA256).keys(KeyFormat::new("", Base64)),
        ),
        row(
            "twitter",
            "https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks",
            body_b64("x-twitter-webhooks-signature", "sha256=", SHA256),
        )
        .handshake(Handshake::TwitterCrc),
        row(
            "xero",
            "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
            body_b64("x-xero-signature", "", SHA256),
        ),
        {
            let mut s = header("", "", SHA256, Hex, "{timestamp}{id}");
            s.signature = SignatureAt::Body(body_pointer("/signature/signature"));
            s.timestamp = Some(Timestamp { at: Field::Body(body_pointer("/signature/timestamp")), format: Seconds });
            s.id = Some(Field::Body(body_pointer("/signature/token")));
            row(
                "mailgun",
                "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks",
                s.lower_hex(),
            )
            .window(900, 900)
            .theirs(Some(900), Some(900))
            .verifier("mailgun (PyPI): mailgun.security.SecurityGuard.verify_webhook")
        },
        row(
            "discord",
            "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
            header("x-signature-ed25519", "", Algorithm::Ed25519, Hex, "{timestamp}{body}")
                .ts_header("x-signature-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Hex)),
        ),
        row(
            "sendgrid",
            "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
            header("x-twilio-email-event-webhook-signature", "", Algorithm::EcdsaP256, Base64, "{timestamp}{body}")
                .ts_header("x-twilio-email-event-webhook-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64))
                .body(BodyRule::Text),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .verifier("sendgrid (PyPI): sendgrid.helpers.eventwebhook.EventWebhook.verify_signature"),
        row(
            "workos",
            "https://workos.com/docs/events/data-syncing/webhooks/3-process-the-events/b-validate-the-requests-manually",
            list("workos-signature", ", ", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Milliseconds)
                .rules(WORKOS_LIST)
                .lower_hex()
                .body(BodyRule::Text),
        )
        .window(180, 180)
        .theirs(Some(180), Some(180))
        .verifier("workos (PyPI): workos.webhooks.verify_header"),
        row(
            "zendesk",
            "https://developer.zendesk.com/documentation/webhooks/verifying/",
            header("x-zendesk-webhook-signature", "", SHA256, Base64, "{timestamp}{body}")
                .ts_header("x-zendesk-webhook-signature-timestamp", Rfc3339),
        )
        .delivery("x-zendesk-webhook-invocation-id"),
        row(
            "trello",
            "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures",
            header("x-trello-webhook", "", SHA1, Base64, "{body}{url}"),
        )
        .handshake(Handshake::TrelloHead),
        row(
            "mandrill",
            "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
            header("x-mandrill-signature", "", SHA1, Base64, "{url}{form}"),
        ),
        row(
            "gitea",
            "https://docs.gitea.com/usage/webhooks",
            body_hex("x-gitea-signature", "", SHA256),
        )
        .delivery("x-gitea-delivery"),
        row(
            "terraform",
            "https://developer.hashicorp.com/terraform/cloud-docs/workspaces/settings/notifications",
            body_hex("x-tfe-notification-signature", "", SHA512),
        ),
        row(
            "buildkite",
            "https://buildkite.com/docs/apis/webhooks#webhook-signature",
            list("x-buildkite-signature", ",", b'=', &[("signature", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("timestamp", Seconds),
        ),
        row(
            "calcom",
            "https://cal.com/docs/developing/guides/automation/webhooks#verifying-the-authenticity-of-the-received-payload",
            body_hex("x-cal-signature-256", "", SHA256),
        ),
        row(
            "airtable",
            "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
            body_hex("x-airtable-content-mac", "hmac-sha256=", SHA256).keys(KeyFormat::new("", Base64))
                .lower_hex(),
        ),
        row(
            "customerio",
            "https://docs.customer.io/journeys/webhooks/#securely-verify-requests",
            header("x-cio-signature", "", SHA256, Hex, "v0:{timestamp}:{body}").ts_header("x-cio-timestamp", Seconds)
                .lower_hex(),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None),
        row(
            "webflow",
            "https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures",
            header("x-webflow-signature", "", SHA256, Hex, "{timestamp}:{body}")
                .ts_header("x-webflow-timestamp", Milliseconds)
                .lower_hex(),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None),
        standard_row("replicate", "https://replicate.com/docs/topics/webhooks/verify-webhook"),
        standard_row("openai", "https://platform.openai.com/docs/guides/webhooks#verifying-webhook-signatures")
            .verifier("openai (PyPI): client.webhooks.verify_signature"),
        row(
            "sinch",
            "https://developers.sinch.com/docs/conversation/callbacks#validating-callback-requests",
            header("x-sinch-webhook-signature", "", SHA256, Base64, "{body}.{id}.{timestamp}")
                .ts_header("x-sinch-webhook-signature-timestamp", Seconds)
                .id_header("x-sinch-webhook-signature-nonce"),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None),
        row(
            "front",
            "https://dev.frontapp.com/docs/application-webhooks#verifying-integrity",
            header("x-front-signature", "", SHA256, Base64, "{timestamp}:{body}")
                .ts_header("x-front-request-timestamp", Milliseconds),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None),
        row(
            "telnyx",
            "https://developers.telnyx.com/docs/development/api-fundamentals/webhooks#verify-an-ed25519-signature",
            header("telnyx-signature-ed25519", "", Algorithm::Ed25519, Base64, "{timestamp}|{body}")
                .ts_header("telnyx-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64)),
        )
        .verifier("telnyx (npm): telnyx.webhooks.signature.verifySignature")
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None),
        row(
            "okta",
            "https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request",
            header("authorization", "", Algorithm::Token, Raw, "{body}"),
        )
        .handshake(Handshake::OktaVerification)
        .note("the secret is the whole Authorization header value configured on the hook (Okta lets a hook name another header: use the `headers` check for that)"),
        {
            let mut s = header("", "", Algorithm::Token, Raw, "{body}");
            s.signature = SignatureAt::Body(body_pointer("/passcode"));
            row("figma", "https://www.figma.com/developers/api#webhooks-v2-payloads", s)
        },
        row(
            "hubspot_v1",
            "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v1-request-signature",
            header("x-hubspot-signature", "", Algorithm::Digest(Mac::Sha256), Hex, "{secret}{body}")
                .lower_hex()
                .declare("x-hubspot-signature-version", Declared::Equal("v1".into())),
        )
        .verifier("hubspot-api-client (PyPI): hubspot.utils.signature.Signature.is_valid"),
        row(
            "hubspot_v2",
            "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v2-request-signature",
            header("x-hubspot-signature", "", Algorithm::Digest(Mac::Sha256), Hex, "{secret}{method}{url}{body}")
                .lower_hex()
                .declare("x-hubspot-signature-version", Declared::Equal("v2".into())),
        )
        .verifier("hubspot-api-client (PyPI): hubspot.utils.signature.Signature.is_valid"),
    ]
    .into_iter()
    .chain(BODY_MAC_ROWS.iter().map(body_mac_row))
    .collect()
}

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
                assert!(!s.template.is_empty(), "{}", p.name);
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
            p.departures(),
            [Departure::Future { ours: CLOCK_SKEW_SECONDS, theirs: None }, Departure::RepeatedHeaders]
        );
        assert_eq!(
            p.departures()[0].to_string(),
            format!("timestamps up to {CLOCK_SKEW_SECONDS} s ahead (the provider's verifier: no limit)")
        );
        // No timestamp: no window to depart from; no header: none to repeat.
        let mailgun = preset("mailgun").unwrap();
        assert!(!mailgun.departures().contains(&Departure::RepeatedHeaders));
        let github = preset("github").unwrap();
        assert!(!github.departures().iter().any(|d| matches!(d, Departure::Past { .. } | Departure::Future { .. })));
    }
}
