//! The table of presets: one row per provider, in the order of the providers table in
//! the docs. The row type, its builders and the departures it derives are in the parent.

use super::*;

/// The characters HubSpot's v3 signature decodes in the URI.
const HUBSPOT_DECODED: &[u8] = b":/?@!$'()*,;";

/// Providers that sign the body alone with an HMAC in one header, as their pages give it:
/// name, header, prefix, MAC, encoding and source, one line each (a line costs the plugin
/// a few bytes where a row of its own costs a few hundred). Hex is compared in lower case,
/// as the pages' recipes compare the hex strings they compute.
type BodyMacRow = (&'static str, &'static str, &'static str, Mac, Encoding, &'static str);

#[rustfmt::skip]
const BODY_MAC_ROWS: &[BodyMacRow] = &[
    ("checkout", "cko-signature", "", Mac::Sha256, Encoding::Hex, words("https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/receive-webhooks")),
    // WooCommerce's sender (WC_Webhook::generate_signature): base64 of the HMAC-SHA256 of the body.
    ("woocommerce", "x-wc-webhook-signature", "", Mac::Sha256, Encoding::Base64, words("https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks")),
    ("tally", "tally-signature", "", Mac::Sha256, Encoding::Base64, words("https://tally.so/help/webhooks#securing-your-webhooks")),
    // Paystack's snippets (PaystackOSS/doc-code-snippets) compare lower-case hex with `==`, `!==`.
    ("paystack", "x-paystack-signature", "", Mac::Sha512, Encoding::Hex, words("https://paystack.com/docs/payments/webhooks/#verify-event-origin")),
    ("heroku", "heroku-webhook-hmac-sha256", "", Mac::Sha256, Encoding::Base64, words("https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests")),
    ("launchdarkly", "x-ld-signature", "", Mac::Sha256, Encoding::Hex, words("https://launchdarkly.com/docs/home/infrastructure/webhooks#sign-webhooks")),
    ("helpscout", "x-helpscout-signature", "", Mac::Sha1, Encoding::Base64, words("https://developer.helpscout.com/webhooks/#verifying")),
    ("asana", "x-hook-signature", "", Mac::Sha256, Encoding::Hex, words("https://developers.asana.com/docs/webhooks-guide#security")),
    ("alchemy", "x-alchemy-signature", "", Mac::Sha256, Encoding::Hex, words("https://www.alchemy.com/docs/reference/notify-api-quickstart#webhook-signature--security")),
    ("dwolla", "x-request-signature-sha-256", "", Mac::Sha256, Encoding::Hex, words("https://developers.dwolla.com/docs/balance/webhooks/process-validate")),
    ("coinify", "x-coinify-webhook-signature", "", Mac::Sha256, Encoding::Hex, words("https://coinify.readme.io/docs/webhook-signature")),
];

/// The rows of `BODY_MAC_ROWS` whose provider's code reads the body as UTF-8 text before
/// it computes the MAC: a body that is not UTF-8 is refused.
const TEXT_BODY_MAC_ROWS: &[&str] = &["alchemy", "coinify"];

/// HubSpot's v1 and v2 signatures: one header, a SHA-256 digest of the client secret and
/// the request, the version declared beside it (the SDK verifies the version it is told).
fn hubspot_digest(name: &'static str, source: &'static str, version: &str, signed: &str) -> Preset {
    let s = header("x-hubspot-signature", "", Algorithm::Digest(Mac::Sha256), Encoding::Hex, signed)
        .lower_hex()
        .body(BodyRule::Text)
        .declare("x-hubspot-signature-version", Declared::Equal(version.into()));
    row(name, source, s).verifier("hubspot-api-client (PyPI): hubspot.utils.signature.Signature.is_valid")
}

/// Adyen's standard notifications: in each `NotificationRequestItem`, HMAC-SHA256 over
/// eight fields joined by `:`, unescaped, an absent text field empty (as the SDK's
/// `generate_notification_sig` builds it), the amount required.
fn adyen_items() -> Items {
    use super::super::items::{ItemField, Kind};
    let field = |at: &str, kind| ItemField { at: body_pointer(at), kind };
    Items {
        list: body_pointer("/notificationItems"),
        item: body_pointer("/NotificationRequestItem"),
        signature: body_pointer("/additionalData/hmacSignature"),
        fields: vec![
            field("/pspReference", Kind::Text),
            field("/originalReference", Kind::Text),
            field("/merchantAccountCode", Kind::Text),
            field("/merchantReference", Kind::Text),
            field("/amount/value", Kind::RequiredInteger),
            field("/amount/currency", Kind::RequiredText),
            field("/eventCode", Kind::Text),
            field("/success", Kind::Text),
        ],
        separator: b':',
    }
}

fn body_mac_row(&(name, signature, prefix, mac, encoding, source): &BodyMacRow) -> Preset {
    let mut s = header(signature, prefix, Algorithm::Hmac(mac), encoding, "{body}");
    if TEXT_BODY_MAC_ROWS.contains(&name) {
        s = s.body(BodyRule::Text);
    }
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
            // Meta's sample app (fbsamples/messenger-platform-samples, verifyRequestSignature)
            // compares its lower-case hex digest with the header's as strings.
            body_hex("x-hub-signature-256", "sha256=", SHA256).lower_hex(),
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
        .note("`t=+<t>` and a `v1` value holding `=` are refused; Stripe's parser reads the number and the text before the second `=`")
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
        .verifier("slack_sdk (PyPI): slack_sdk.signature.SignatureVerifier.is_valid")
        .note("a timestamp with a sign (`+<t>`) is refused; the SDK's int() reads it"),
        row(
            "shopify",
            "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
            // The library refuses an empty body and signs the body as text; it compares
            // base64 strings, as the strict base64 here does.
            // It then refuses a request whose topic, shop domain, API version or webhook
            // id is absent or empty (`checkWebhooksHeaders`).
            body_b64("x-shopify-hmac-sha256", "", SHA256)
                .body(BodyRule::NonEmptyText)
                .declare("x-shopify-topic", Declared::Present("orders/create".into()))
                .declare("x-shopify-shop-domain", Declared::Present("example.myshopify.com".into()))
                .declare("x-shopify-api-version", Declared::Present("2025-10".into()))
                .id_header("x-shopify-webhook-id"),
        )
        .verifier("@shopify/shopify-api (npm): shopify.webhooks.validate")
        .delivery("x-shopify-webhook-id"),
        // Standard Webhooks' own library reads the `webhook-*` headers only; the preset
        // also takes the `svix-*` spelling of the same scheme (the contract has always
        // promised it, and senders built on Svix send it), one family per request.
        row(
            "standard",
            "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
            standard("webhook"),
        )
        .or(standard("svix"))
        .verifier("standardwebhooks (PyPI): standardwebhooks.Webhook.verify")
        .note(DECIMAL_TIMESTAMP)
        .note("the `svix-*` spelling of the three headers is also read, one family per request (the library reads `webhook-*` only)"),
        standard_row("svix", "https://docs.svix.com/receiving/verifying-payloads/how-manual")
            .verifier("svix (PyPI): svix.webhooks.Webhook.verify")
            .note(DECIMAL_TIMESTAMP)
            .note("the three headers come from one family (that of the signature header); the library takes each from either, svix-* first"),
        standard_row("clerk", "https://clerk.com/docs/webhooks/verifying")
            .verifier("svix (PyPI): svix.webhooks.Webhook.verify, as the page does"),
        // Resend sends the svix-* headers, and its verifier takes those.
        row("resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests", standard("svix"))
            .each(|s| s.body(BodyRule::Json))
            .verifier("resend (PyPI): resend.Webhooks.verify")
            .note("only `v1,` items are signatures; Resend's verifier ignores the label"),
        row(
            "gitlab",
            "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook",
            header("x-gitlab-token", "", Algorithm::Token, Raw, "{body}"),
        )
        .delivery("x-gitlab-event-uuid"),
        row(
            "bitbucket",
            "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
            // Atlassian's sample (knowledge base: "Python sample code to verify webhook
            // signature") compares its hex digest with the header's as strings.
            body_hex("x-hub-signature", "sha256=", SHA256).lower_hex(),
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
                .note("the URL is signed as configured (`public_url`) or as requested; the SDK also tries it with the default port added or removed")
                .note("a request carrying `X-Twilio-Webhooks-Signature-Settings` (a shared-key signature) is refused")
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
            // The page's example compares `v0=` and a lower-case hex digest as strings.
            header("x-zm-signature", "v0=", SHA256, Hex, "v0:{timestamp}:{body}")
                .ts_header("x-zm-request-timestamp", Seconds)
                .lower_hex(),
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
            // Linear's SDK compares its lower-case hex digest with the header as strings, and
            // refuses a `webhookTimestamp` more than a minute from now either way.
            row("linear", "https://linear.app/developers/webhooks#securing-webhooks", s.lower_hex())
                .window(60, 60)
                .theirs(Some(60), Some(60))
                .verifier("@linear/sdk (npm): LinearWebhookClient.verify")
                .note("a body without `webhookTimestamp` is refused; the SDK checks the time only when it is there")
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
            .note("a timestamp with a fraction is refused; the SDK reads it with float()")
        },
        row(
            "typeform",
            "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
            body_b64("typeform-signature", "sha256=", SHA256),
        ),
        row(
            "calendly",
            "https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
            // The page's example splits at `,` and `=` as written, keeps the last `t` and the
            // last `v1`, compares its lower-case hex digest with it as strings, and refuses a
            // message more than three minutes old; it says nothing of one ahead.
            list("calendly-webhook-signature", ",", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Seconds)
                .rules(MUX_LIST)
                .lower_hex(),
        )
        .window(180, CLOCK_SKEW_SECONDS)
        .theirs(Some(180), None)
        .note("every `v1` item is tried, and a `t` or `v1` value holding `=` is refused; the page's example takes the last `v1` and reads each value up to a second `=`"),
        row(
            "pagerduty",
            "https://developer.pagerduty.com/docs/verifying-webhook-signatures",
            // The page's examples split at `,` as written and compare `v1=` and the lower-case
            // hex digest with each item as strings.
            list("x-pagerduty-signature", ",", b'=', &[("v1", SHA256)], Hex, "{body}")
                .rules(PAGERDUTY_LIST)
                .lower_hex(),
        )
        .verifier("go-pagerduty (Go): webhookv3.VerifySignature")
        .note("upper-case hex is refused, as the page's examples compare strings; go-pagerduty decodes the hex and takes either case")
        .delivery("x-webhook-id"),
        row(
            "twitch",
            "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
            // The page compares `sha256=` and a lower-case hex digest, and refuses a message
            // older than 10 minutes; it says nothing of one ahead.
            header("twitch-eventsub-message-signature", "sha256=", SHA256, Hex, "{id}{timestamp}{body}")
                .ts_header("twitch-eventsub-message-timestamp", Rfc3339)
                .id_header("twitch-eventsub-message-id")
                .lower_hex(),
        )
        .window(600, CLOCK_SKEW_SECONDS)
        .theirs(Some(600), None)
        .handshake(Handshake::TwitchChallenge),
        meta("meta"),
        meta("facebook"),
        meta("instagram"),
        meta("whatsapp"),
        row(
            "sentry",
            "https://docs.sentry.io/integrations/integration-platform/webhooks/",
            // Sentry's example integration (getsentry/integration-platform-example) compares
            // its lower-case hex digest with the header as strings.
            body_hex("sentry-hook-signature", "", SHA256).lower_hex(),
        ),
        row(
            "vercel",
            "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
            // The page's example compares its lower-case hex digest with the header (`!==`).
            body_hex("x-vercel-signature", "", SHA1).lower_hex(),
        ),
        row(
            "lemonsqueezy",
            "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
            // Lemon Squeezy's Laravel package (lmsqueezy/laravel, VerifyWebhookSignature)
            // compares its lower-case hex digest with the header's (hash_equals).
            body_hex("x-signature", "", SHA256).lower_hex(),
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
            // Mux's SDK (`VerifyHeader.verify`) splits at `,` without trimming, takes `t` and
            // every `v1`, compares lower-case hex strings, and refuses only a message older
            // than five minutes.
            list("mux-signature", ",", b'=', &[("v1", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("t", Seconds)
                .rules(MUX_LIST)
                .lower_hex()
                .body(BodyRule::Text),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None)
        .verifier("@mux/mux-node (npm): Webhooks.verifyHeader")
        .note("`t` is signed as written and must be digits, and a `v1` value holding `=` is refused; the SDK's parseInt() reads the leading number of `t` and signs that, and its split keeps the text before a second `=`"),
        row(
            "segment",
            "https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook",
            // Segment's docs (the Webhooks destination's "Authentication") compare the
            // lower-case hex digest with the header (`===`).
            body_hex("x-signature", "", SHA1).lower_hex(),
        ),
        row(
            "circleci",
            "https://circleci.com/docs/guides/integration/outbound-webhooks/",
            // The page's Python example splits at `,` and each item at `=` as written (an item
            // without one, or with two, fails it), keeps `v1`, and compares its lower-case hex
            // digest with it as strings.
            list("circleci-signature", ",", b'=', &[("v1", SHA256)], Hex, "{body}")
                .rules(ListRules { trim: false, ..ListRules::DEFAULT })
                .lower_hex(),
        )
        .note("every `v1` item is tried, and an unknown item holding a second `=` is ignored; the page's example takes the last `v1` and fails on any item with two `=`"),
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
            // Dropbox's sample app (dropbox/mdwebhook) compares hexdigest() with the header.
            body_hex("x-dropbox-signature", "", SHA256).lower_hex(),
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
        .verifier("coinbase-commerce (PyPI): coinbase_commerce.webhook.WebhookSignature.verify_sig_header")
        .note("a signed JSON body without an `event` member is forwarded; the SDK's construct_event wants one"),
        row(
            "jira",
            "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
            body_hex("x-hub-signature", "sha256=", SHA256),
        ),
        row(
            "webex",
            "https://developer.webex.com/docs/receive-and-verify-webhooks",
            // Webex's own example (its developer blog, "Using a Webhook Secret") compares
            // Python's lower-case hexdigest with the header as text.
            body_hex("x-spark-signature", "", SHA1).lower_hex(),
        ),
        row(
            "microsoft_teams",
            "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook",
            // Microsoft's sample (OfficeDev/msteams-samples-outgoing-webhook-nodejs) reads the
            // body as UTF-8 text and compares `HMAC <base64>` with the whole header (`===`).
            body_b64("authorization", "HMAC ", SHA256).keys(KeyFormat::new("", Base64)).body(BodyRule::Text),
        ),
        row(
            "twitter",
            "https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks",
            // X's own receiver (xdevplatform/autohook 1.7.2, validateSignature) reads the body as
            // text and compares `sha256=` and the base64 HMAC with the header whole.
            body_b64("x-twitter-webhooks-signature", "sha256=", SHA256).body(BodyRule::Text),
        )
        .handshake(Handshake::TwitterCrc),
        row(
            "xero",
            "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
            // Xero's receivers (XeroAPI/xero-php-webhook, XeroWebhooksReceiver) compare the base64
            // HMAC of the body with the header whole.
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
            .note("an empty token, a timestamp with a sign, and a JSON member named twice are refused; the SDK signs an empty token, reads `+<t>`, and Python's json keeps the last member")
        },
        row(
            "discord",
            "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
            header("x-signature-ed25519", "", Algorithm::Ed25519, Hex, "{timestamp}{body}")
                .ts_header("x-signature-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Hex)),
        )
        // Discord's own helper verifies the signature of whatever timestamp it is given;
        // the page sets no limit either way.
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .verifier("discord-interactions (PyPI): discord_interactions.verify_key")
        .note("a signature with spaces between its hex pairs is refused; the helper's bytes.fromhex() skips them"),
        row(
            "sendgrid",
            "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
            header("x-twilio-email-event-webhook-signature", "", Algorithm::EcdsaP256, Base64, "{timestamp}{body}")
                .ts_header("x-twilio-email-event-webhook-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64))
                .der_only()
                .body(BodyRule::Text),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .verifier("sendgrid (PyPI): sendgrid.helpers.eventwebhook.EventWebhook.verify_signature")
        .note("the signature is strict base64 and the timestamp unix seconds; the helper decodes base64 leniently and signs any timestamp text"),
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
        .verifier("workos (PyPI): workos.webhooks.verify_header")
        .note("the items must be named `t` and `v1`; WorkOS's parser skips the first two and three characters unread"),
        row(
            "zendesk",
            "https://developer.zendesk.com/documentation/webhooks/verifying/",
            header("x-zendesk-webhook-signature", "", SHA256, Base64, "{timestamp}{body}")
                .ts_header("x-zendesk-webhook-signature-timestamp", Rfc3339),
        )
        // The page names replay protection as the timestamp's purpose but sets no window.
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
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
            // The page's example compares its lower-case hex digest with the header (`!==`).
            body_hex("x-gitea-signature", "", SHA256).lower_hex(),
        )
        .delivery("x-gitea-delivery"),
        row(
            "terraform",
            "https://developer.hashicorp.com/terraform/cloud-docs/workspaces/settings/notifications",
            // The API docs' sample (notification configurations, "Notification Authenticity")
            // compares its lower-case hex digest with the header (`!=`).
            body_hex("x-tfe-notification-signature", "", SHA512).lower_hex(),
        ),
        row(
            "buildkite",
            "https://buildkite.com/docs/apis/webhooks#webhook-signature",
            // The page's example trims the items, compares its lower-case hex digest with the
            // one `signature` as strings, and suggests a five-minute window.
            list("x-buildkite-signature", ",", b'=', &[("signature", SHA256)], Hex, "{timestamp}.{body}")
                .ts_member("timestamp", Seconds)
                .rules(BUILDKITE_LIST)
                .lower_hex(),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None)
        .note("exactly `timestamp=<ts>,signature=<hex>`, in that order, as Buildkite sends it; the page's example reads the items in any order and takes the last of each"),
        row(
            "calcom",
            "https://cal.com/docs/developing/guides/automation/webhooks#verifying-the-authenticity-of-the-received-payload",
            // Cal.com's sender (calcom/cal.com, createWebhookSignature) writes Node's lower-case
            // hex digest of the body it sends, and its page compares the two hashes.
            body_hex("x-cal-signature-256", "", SHA256).lower_hex(),
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
        // Webflow's JavaScript SDK compares its lower-case hex digest with the header as
        // text and checks no timestamp; the page asks for one at most five minutes old.
        .verifier("webflow-api (npm): client.webhooks.verifySignature")
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .note("the timestamp must be milliseconds; the SDK signs any timestamp text"),
        // Standard Webhooks under the `webhook-*` names only, as these senders send it.
        // Replicate's validator (replicate on PyPI) reads the body as text, refuses an empty one, and sets no window
        // unless one is passed; its page gives none. It checks HMAC signatures only: no `v1a`
        // (Ed25519) items, no public keys.
        {
            let mut s = standard("webhook").body(BodyRule::NonEmptyText);
            if let SignatureAt::List { labels, .. } = &mut s.signature {
                labels.retain(|(l, _)| l == "v1");
            }
            row("replicate", "https://replicate.com/docs/topics/webhooks/verify-webhook", s)
        }
        .verifier("replicate (PyPI): replicate.webhooks.validate")
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .note("only `v1,` items are signatures, and the list is split at single spaces; Replicate's validator compares the text after the comma of any item and splits at any whitespace"),
        row(
            "openai",
            "https://platform.openai.com/docs/guides/webhooks#verifying-webhook-signatures",
            standard("webhook").body(BodyRule::Text),
        )
        .verifier("openai (PyPI): client.webhooks.verify_signature")
        .note("the list is split at single spaces and only `v1,` items are signatures; OpenAI's verifier splits at any whitespace and compares an unlabelled item whole")
        .note("a secret without `whsec_` is read as base64 too; OpenAI's verifier takes such a secret's bytes as they are"),
        // Brex's secrets (GET /v1/webhooks/secrets) are base64 without the `whsec_` prefix,
        // which the key format takes as well.
        row("brex", "https://developer.brex.com/docs/webhooks", standard("webhook")),
        row(
            "sinch",
            "https://developers.sinch.com/docs/conversation/callbacks#validating-callback-requests",
            header("x-sinch-webhook-signature", "", SHA256, Base64, "{body}.{id}.{timestamp}")
                .ts_header("x-sinch-webhook-signature-timestamp", Seconds)
                .id_header("x-sinch-webhook-signature-nonce")
                .body(BodyRule::Text),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .verifier("sinch (PyPI): ConversationSinchEvent.validate_authentication_header")
        .note("`X-Sinch-Webhook-Signature-Algorithm` is not read: HMAC-SHA256, the one Sinch sends, is the only one checked"),
        row(
            "front",
            "https://dev.frontapp.com/docs/application-webhooks#verifying-integrity",
            header("x-front-signature", "", SHA256, Base64, "{timestamp}:{body}")
                .ts_header("x-front-request-timestamp", Milliseconds),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(Some(DEFAULT_WINDOW), None)
        .note("the `X-Front-Challenge` validation is signed like an event and forwarded: the application answers it"),
        row(
            "telnyx",
            "https://developers.telnyx.com/docs/development/api-fundamentals/webhooks#verify-an-ed25519-signature",
            header("telnyx-signature-ed25519", "", Algorithm::Ed25519, Base64, "{timestamp}|{body}")
                .ts_header("telnyx-timestamp", Seconds)
                .public_keys(KeyFormat::new("", Base64))
                .body(BodyRule::Text),
        )
        // Telnyx's Python and Node verifiers refuse a timestamp more than 300 s from now,
        // either way, and decode the body as UTF-8 (Python) before they verify.
        .verifier("telnyx (PyPI): telnyx.lib.webhook_verification.verify_webhook_signature")
        .note("the header must be exactly one base64 signature and the timestamp bare digits; the verifier's b64decode() ignores what follows the padding and its int() takes a sign"),
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
                .note("the passcode proves the sender; the rest of the body is not signed (Figma's design)")
        },
        hubspot_digest(
            "hubspot_v1",
            "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v1-request-signature",
            "v1",
            "{secret}{body}",
        ),
        hubspot_digest(
            "hubspot_v2",
            "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v2-request-signature",
            "v2",
            "{secret}{method}{url}{body}",
        ),
        row(
            "mollie",
            "https://docs.mollie.com/reference/webhooks-best-practices",
            // Mollie's SDKs (PHP and TypeScript `SignatureValidator`) take every value of
            // `X-Mollie-Signature`, each with or without `sha256=`, and pass when one is the
            // lower-case hex HMAC of the body under one of the secrets: the header comes
            // twice while a secret is being replaced.
            body_hex("x-mollie-signature", "sha256=", SHA256).each_value().lower_hex(),
        )
        .verifier("mollie-api-php (Packagist): Mollie\\Api\\Webhooks\\SignatureValidator::validateRequest"),
        row(
            "onfido",
            "https://documentation.onfido.com/api/latest/#webhooks-signature-verification",
            body_hex("x-sha2-signature", "", SHA256).lower_hex().body(BodyRule::Text),
        )
        .verifier("onfido-python (PyPI): onfido.WebhookEventVerifier.read_payload"),
        row(
            "gocardless",
            "https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks/",
            body_hex("webhook-signature", "", SHA256).lower_hex(),
        )
        .verifier("gocardless-pro (PyPI): gocardless_pro.webhooks.parse"),
        row(
            "cashfree",
            "https://www.cashfree.com/docs/payments/online/webhooks/signature-verification",
            header("x-webhook-signature", "", SHA256, Base64, "{timestamp}{body}")
                .ts_header("x-webhook-timestamp", Milliseconds)
                .body(BodyRule::Text),
        )
        .window(DEFAULT_WINDOW, CLOCK_SKEW_SECONDS)
        .theirs(None, None)
        .verifier("cashfree-pg (PyPI): cashfree_pg.api_client.Cashfree.PGVerifyWebhookSignature")
        .note("the timestamp must be milliseconds; the helper signs any timestamp text"),
        {
            let mut s = header("", "", SHA256, Base64, "").keys(KeyFormat::new("", Hex)).body(BodyRule::Json);
            s.signature = SignatureAt::Items(Box::new(adyen_items()));
            row("adyen", "https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures", s)
                .verifier("Adyen (PyPI): Adyen.util.is_valid_hmac_notification, on each item")
                .note("every item of `notificationItems` must verify, all with one key; the SDK checks the item it is given (the first, given the whole body)")
                .note("a signed field of another JSON type than Adyen writes (a number or `null` for a string, an amount value that is a string or has a fraction), or a member named twice, is refused; the SDK signs Python's str() of it and Python's json keeps the last member")
        },
        row(
            "notion",
            "https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended",
            // @notionhq/client 5.26.0 (verifyWebhookSignature) needs `sha256=` as written, then
            // lower-cases the 64 hex digits before it compares them: either case passes. It
            // signs the body's bytes as given, so any body is read.
            body_hex("x-notion-signature", "sha256=", SHA256),
        )
        .verifier("@notionhq/client (npm): verifyWebhookSignature"),
    ]
    .into_iter()
    .chain(BODY_MAC_ROWS.iter().map(body_mac_row))
    .collect()
}
