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
    fn tolerance(mut self, seconds: u64) -> Self {
        self.tolerance_seconds = seconds;
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

/// Which of a preset's spellings its provider sends, for a signer to write: Svix and the
/// providers built on it send `svix-*`. Kept apart from the rows, and out of the plugin,
/// because the verifier accepts either.
#[cfg(not(target_arch = "wasm32"))]
pub fn sent_spelling(name: &str) -> usize {
    usize::from(matches!(name, "svix" | "clerk" | "resend"))
}

/// Every preset name, in the order of the README table.
pub const NAMES: &[&str] = &[
    "github",
    "stripe",
    "slack",
    "shopify",
    "standard",
    "svix",
    "clerk",
    "resend",
    "gitlab",
    "bitbucket",
    "twilio",
    "square",
    "zoom",
    "paddle",
    "linear",
    "intercom",
    "hubspot",
    "typeform",
    "calendly",
    "pagerduty",
    "twitch",
    "meta",
    "facebook",
    "instagram",
    "whatsapp",
    "sentry",
    "vercel",
    "lemonsqueezy",
    "razorpay",
    "mux",
    "segment",
    "circleci",
    "docusign",
    "dropbox",
    "box",
    "coinbase",
    "jira",
    "webex",
    "microsoft_teams",
    "twitter",
    "xero",
    "mailgun",
    "discord",
    "sendgrid",
    "workos",
    "zendesk",
    "trello",
    "mandrill",
    "gitea",
    "terraform",
    "buildkite",
    "calcom",
    "airtable",
    "notion",
    "customerio",
    "checkout",
    "woocommerce",
    "webflow",
    "mollie",
    "onfido",
    "tally",
    "paystack",
    "heroku",
    "launchdarkly",
    "helpscout",
    "asana",
    "alchemy",
    "dwolla",
    "replicate",
    "openai",
    "sinch",
    "front",
    "telnyx",
];

/// The characters HubSpot's v3 signature decodes in the URI.
const HUBSPOT_DECODED: &[u8] = b":/?@!$'()*,;";

/// The preset called `name`.
pub fn preset(name: &str) -> Option<Preset> {
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
    let p = match name {
        "github" => row(
            "github",
            "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
            body_hex("x-hub-signature-256", "sha256=", SHA256),
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
            body_b64("x-shopify-hmac-sha256", "", SHA256),
        )
        .delivery("x-shopify-webhook-id"),
        "standard" => standard_row(
            "standard",
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
        ),
        "svix" => standard_row("svix", "https://docs.svix.com/receiving/verifying-payloads/how-manual"),
        "clerk" => standard_row("clerk", "https://clerk.com/docs/webhooks/verifying"),
        "resend" => standard_row("resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests"),
        "gitlab" => row(
            "gitlab",
            "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
            header("x-gitlab-token", "", Algorithm::Token, Raw, "{body}"),
        )
        .delivery("x-gitlab-event-uuid"),
        "bitbucket" => row(
            "bitbucket",
            "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
            body_hex("x-hub-signature", "sha256=", SHA256),
        )
        .delivery("x-request-uuid"),
        "twilio" => {
            let mut s = header("x-twilio-signature", "", SHA1, Base64, "{url}{form}");
            s.body_sha256_query = Some("bodySHA256".into());
            row("twilio", "https://www.twilio.com/docs/usage/webhooks/webhooks-security", s)
        }
        "square" => row(
            "square",
            "https://developer.squareup.com/docs/webhooks/step3validate",
            header("x-square-hmacsha256-signature", "", SHA256, Base64, "{url}{body}"),
        ),
        "zoom" => row(
            "zoom",
            "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
            header("x-zm-signature", "v0=", SHA256, Hex, "v0:{timestamp}:{body}")
                .ts_header("x-zm-request-timestamp", Seconds),
        )
        .handshake(Handshake::ZoomUrlValidation),
        "paddle" => row(
            "paddle",
            "https://developer.paddle.com/webhooks/signature-verification",
            list("paddle-signature", b';', b'=', &[("h1", SHA256)], Hex, "{timestamp}:{body}").ts_member("ts", Seconds),
        )
        .tolerance(5),
        "linear" => {
            let mut s = body_hex("linear-signature", "", SHA256);
            s.timestamp = Some(Timestamp { at: Field::Body(body_pointer("/webhookTimestamp")), format: Milliseconds });
            row("linear", "https://linear.app/developers/webhooks#securing-webhooks", s)
                .tolerance(60)
                .delivery("linear-delivery")
        }
        "intercom" => row(
            "intercom",
            "https://developers.intercom.com/docs/webhooks/webhook-notifications#signed-notifications",
            body_hex("x-hub-signature", "sha1=", SHA1),
        ),
        "hubspot" => {
            let mut s = header("x-hubspot-signature-v3", "", SHA256, Base64, "{method}{url}{body}{timestamp}")
                .ts_header("x-hubspot-request-timestamp", Milliseconds);
            s.url_decode = HUBSPOT_DECODED.to_vec();
            row("hubspot", "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests", s)
        }
        "typeform" => row(
            "typeform",
            "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
            body_b64("typeform-signature", "sha256=", SHA256),
        ),
        "calendly" => row(
            "calendly",
            "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
            list("calendly-webhook-signature", b',', b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Seconds),
        )
        .tolerance(180),
        "pagerduty" => row(
            "pagerduty",
            "https://developer.pagerduty.com/docs/verifying-webhook-signatures",
            list("x-pagerduty-signature", b',', b'=', &[("v1", SHA256)], Hex, "{body}"),
        )
        .delivery("x-webhook-id"),
        "twitch" => row(
            "twitch",
            "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
            header("twitch-eventsub-message-signature", "sha256=", SHA256, Hex, "{id}{timestamp}{body}")
                .ts_header("twitch-eventsub-message-timestamp", Rfc3339)
                .id_header("twitch-eventsub-message-id"),
        )
        .tolerance(600)
        .handshake(Handshake::TwitchChallenge),
        "meta" => meta("meta"),
        "facebook" => meta("facebook"),
        "instagram" => meta("instagram"),
        "whatsapp" => meta("whatsapp"),
        "sentry" => row(
            "sentry",
            "https://docs.sentry.io/integrations/integration-platform/webhooks/",
            body_hex("sentry-hook-signature", "", SHA256),
        ),
        "vercel" => row(
            "vercel",
            "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
            body_hex("x-vercel-signature", "", SHA1),
        ),
        "lemonsqueezy" => row(
            "lemonsqueezy",
            "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
            body_hex("x-signature", "", SHA256),
        ),
        "razorpay" => row(
            "razorpay",
            "https://razorpay.com/docs/webhooks/validate-test/",
            body_hex("x-razorpay-signature", "", SHA256),
        )
        .delivery("x-razorpay-event-id"),
        "mux" => row(
            "mux",
            "https://www.mux.com/docs/core/verify-webhook-signatures",
            list("mux-signature", b',', b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}").ts_member("t", Seconds),
        ),
        "segment" => row(
            "segment",
            "https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook",
            body_hex("x-signature", "", SHA1),
        ),
        "circleci" => row(
            "circleci",
            "https://circleci.com/docs/guides/integration/outbound-webhooks/",
            list("circleci-signature", b',', b'=', &[("v1", SHA256)], Hex, "{body}"),
        ),
        "docusign" => {
            // One header per Connect key, X-DocuSign-Signature-1 up to -100.
            let names: Vec<String> = (1..=100).map(|i| format!("x-docusign-signature-{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            row(
                "docusign",
                "https://developers.docusign.com/platform/webhooks/connect/validate/",
                headers(&names, "", SHA256, Base64, "{body}"),
            )
        }
        "dropbox" => row(
            "dropbox",
            "https://www.dropbox.com/developers/reference/webhooks",
            body_hex("x-dropbox-signature", "", SHA256),
        )
        .handshake(Handshake::DropboxChallenge),
        "box" => row(
            "box",
            "https://developer.box.com/guides/webhooks/v2/signatures-v2/",
            headers(&["box-signature-primary", "box-signature-secondary"], "", SHA256, Base64, "{body}{timestamp}")
                .ts_header("box-delivery-timestamp", Rfc3339),
        )
        .tolerance(600)
        .delivery("box-delivery-id"),
        "coinbase" => row(
            "coinbase",
            "https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security",
            body_hex("x-cc-webhook-signature", "", SHA256),
        ),
        "jira" => row(
            "jira",
            "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
            body_hex("x-hub-signature", "sha256=", SHA256),
        ),
        "webex" => row(
            "webex",
            "https://developer.webex.com/docs/receive-and-verify-webhooks",
            body_hex("x-spark-signature", "", SHA1),
        ),
        "microsoft_teams" => row(
            "microsoft_teams",
            "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook",
            body_b64("authorization", "HMAC ", SHA256).keys(KeyFormat::new("", Base64)),
        ),
        "twitter" => row(
            "twitter",
            "https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks",
            body_b64("x-twitter-webhooks-signature", "sha256=", SHA256),
        )
        .handshake(Handshake::TwitterCrc),
        "xero" => row(
            "xero",
            "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
            body_b64("x-xero-signature", "", SHA256),
        ),
        "mailgun" => {
            let mut s = header("", "", SHA256, Hex, "{timestamp}{id}");
            s.signature = SignatureAt::Body(body_pointer("/signature/signature"));
            s.timestamp = Some(Timestamp { at: Field::Body(body_pointer("/signature/timestamp")), format: Seconds });
            s.id = Some(Field::Body(body_pointer("/signature/token")));
            row("mailgun", "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks", s)
        }
        "discord" => row(
            "discord",
            "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
            header("x-signature-ed25519", "", Algorithm::Ed25519, Hex, "{timestamp}{body}")
                .ts_header("x-signature-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Hex)),
        ),
        "sendgrid" => row(
            "sendgrid",
            "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
            header("x-twilio-email-event-webhook-signature", "", Algorithm::EcdsaP256, Base64, "{timestamp}{body}")
                .ts_header("x-twilio-email-event-webhook-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64)),
        ),
        "workos" => row(
            "workos",
            "https://workos.com/docs/events/data-syncing/webhooks/3-process-the-events/b-validate-the-requests-manually",
            list("workos-signature", b',', b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}").ts_member("t", Milliseconds),
        )
        .tolerance(180),
        "zendesk" => row(
            "zendesk",
            "https://developer.zendesk.com/documentation/webhooks/verifying/",
            header("x-zendesk-webhook-signature", "", SHA256, Base64, "{timestamp}{body}")
                .ts_header("x-zendesk-webhook-signature-timestamp", Rfc3339),
        )
        .delivery("x-zendesk-webhook-invocation-id"),
        "trello" => row(
            "trello",
            "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures",
            header("x-trello-webhook", "", SHA1, Base64, "{body}{url}"),
        )
        .handshake(Handshake::TrelloHead),
        "mandrill" => row(
            "mandrill",
            "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
            header("x-mandrill-signature", "", SHA1, Base64, "{url}{form}"),
        ),
        "gitea" => row(
            "gitea",
            "https://docs.gitea.com/usage/webhooks",
            body_hex("x-gitea-signature", "", SHA256),
        )
        .delivery("x-gitea-delivery"),
        "terraform" => row(
            "terraform",
            "https://developer.hashicorp.com/terraform/cloud-docs/workspaces/settings/notifications",
            body_hex("x-tfe-notification-signature", "", SHA512),
        ),
        "buildkite" => row(
            "buildkite",
            "https://buildkite.com/docs/apis/webhooks#webhook-signature",
            list("x-buildkite-signature", b',', b'=', &[("signature", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("timestamp", Seconds),
        ),
        "calcom" => row(
            "calcom",
            "https://cal.com/docs/developing/guides/automation/webhooks#verifying-the-authenticity-of-the-received-payload",
            body_hex("x-cal-signature-256", "", SHA256),
        ),
        "airtable" => row(
            "airtable",
            "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery",
            body_hex("x-airtable-content-mac", "hmac-sha256=", SHA256).keys(KeyFormat::new("", Base64)),
        ),
        "notion" => row(
            "notion",
            "https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended",
            body_hex("x-notion-signature", "sha256=", SHA256),
        ),
        "customerio" => row(
            "customerio",
            "https://docs.customer.io/journeys/webhooks/#securely-verify-requests",
            header("x-cio-signature", "", SHA256, Hex, "v0:{timestamp}:{body}").ts_header("x-cio-timestamp", Seconds),
        ),
        "checkout" => row(
            "checkout",
            "https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/receive-webhooks",
            body_hex("cko-signature", "", SHA256),
        ),
        "woocommerce" => row(
            "woocommerce",
            "https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
            body_b64("x-wc-webhook-signature", "", SHA256),
        ),
        "webflow" => row(
            "webflow",
            "https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures",
            header("x-webflow-signature", "", SHA256, Hex, "{timestamp}:{body}")
                .ts_header("x-webflow-timestamp", Milliseconds),
        ),
        "mollie" => row(
            "mollie",
            "https://docs.mollie.com/reference/webhooks-new#verifying-the-signature",
            body_hex("x-mollie-signature", "sha256=", SHA256),
        ),
        "onfido" => row(
            "onfido",
            "https://documentation.onfido.com/api/latest/#webhooks-signature-verification",
            body_hex("x-sha2-signature", "", SHA256),
        ),
        "tally" => row(
            "tally",
            "https://tally.so/help/webhooks#securing-your-webhooks",
            body_b64("tally-signature", "", SHA256),
        ),
        "paystack" => row(
            "paystack",
            "https://paystack.com/docs/payments/webhooks/#verify-event-origin",
            body_hex("x-paystack-signature", "", SHA512),
        ),
        "heroku" => row(
            "heroku",
            "https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests",
            body_b64("heroku-webhook-hmac-sha256", "", SHA256),
        ),
        "launchdarkly" => row(
            "launchdarkly",
            "https://launchdarkly.com/docs/home/infrastructure/webhooks#sign-webhooks",
            body_hex("x-ld-signature", "", SHA256),
        ),
        "helpscout" => row(
            "helpscout",
            "https://developer.helpscout.com/webhooks/#verifying",
            body_b64("x-helpscout-signature", "", SHA1),
        ),
        "asana" => row(
            "asana",
            "https://developers.asana.com/docs/webhooks-guide#security",
            body_hex("x-hook-signature", "", SHA256),
        ),
        "alchemy" => row(
            "alchemy",
            "https://www.alchemy.com/docs/reference/notify-api-quickstart#webhook-signature--security",
            body_hex("x-alchemy-signature", "", SHA256),
        ),
        "dwolla" => row(
            "dwolla",
            "https://developers.dwolla.com/docs/balance/webhooks/process-validate",
            body_hex("x-request-signature-sha-256", "", SHA256),
        ),
        "replicate" => standard_row("replicate", "https://replicate.com/docs/topics/webhooks/verify-webhook"),
        "openai" => standard_row("openai", "https://platform.openai.com/docs/guides/webhooks#verifying-webhook-signatures"),
        "sinch" => row(
            "sinch",
            "https://developers.sinch.com/docs/conversation/callbacks#validating-callback-requests",
            header("x-sinch-webhook-signature", "", SHA256, Base64, "{body}.{id}.{timestamp}")
                .ts_header("x-sinch-webhook-signature-timestamp", Seconds)
                .id_header("x-sinch-webhook-signature-nonce"),
        ),
        "front" => row(
            "front",
            "https://dev.frontapp.com/docs/application-webhooks#verifying-integrity",
            header("x-front-signature", "", SHA256, Base64, "{timestamp}:{body}")
                .ts_header("x-front-request-timestamp", Milliseconds),
        ),
        "telnyx" => row(
            "telnyx",
            "https://developers.telnyx.com/docs/development/api-fundamentals/webhooks#verify-an-ed25519-signature",
            header("telnyx-signature-ed25519", "", Algorithm::Ed25519, Base64, "{timestamp}|{body}")
                .ts_header("telnyx-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64)),
        ),
        _ => return None,
    };
    Some(p)
}

fn body_pointer(text: &str) -> super::model::Pointer {
    super::model::Pointer::parse(text).unwrap_or(super::model::Pointer(Vec::new()))
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
