//! Endpoint handshakes: requests a provider sends to prove an endpoint is theirs before
//! it delivers to it. The filter answers them itself (the application never needs the
//! secret) and never forwards them.

use super::model::{body_text, parse_body, Pointer};
use super::template::query_param;
use crate::denial::Denial;
use crate::request::RequestHead;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Zoom: a signed POST `{"event":"endpoint.url_validation","payload":{"plainToken":..}}`,
    /// answered `{"plainToken":..,"encryptedToken": hex HMAC-SHA256(secret, plainToken)}`.
    ZoomUrlValidation,
    /// X: `GET ?crc_token=..`, answered `{"response_token":"sha256=<base64 HMAC-SHA256>"}`.
    TwitterCrc,
    /// Meta: `GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`; the token must
    /// equal the configured `verify_token`, the challenge is echoed.
    MetaVerifyToken,
    /// Twitch EventSub: a signed POST with `Twitch-Eventsub-Message-Type:
    /// webhook_callback_verification`; the body's `challenge` is echoed as text.
    TwitchChallenge,
    /// Dropbox: `GET ?challenge=..`, echoed as text.
    DropboxChallenge,
    /// Trello: a `HEAD` to the callback URL when the webhook is created, answered 200.
    TrelloHead,
    /// Okta event hooks: a one-time `GET` carrying `X-Okta-Verification-Challenge` and the
    /// hook's authorization header; once that verifies, answered
    /// `{"verification":"<challenge>"}`.
    OktaVerification,
}

/// What a handshake request carries, once recognised.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Verify the request like a webhook, then answer with the MAC of `token`.
    SignedMacOf { token: String },
    /// Verify the request like a webhook, then echo `challenge`.
    SignedEcho { challenge: String },
    /// Not signed: answer with the MAC of `token` under the first live secret.
    MacOf { token: String },
    /// Compare `token` with the verify token, then echo `challenge`.
    TokenEcho { token: Vec<u8>, challenge: String },
    /// Not signed: echo `challenge`.
    Echo { challenge: String },
}

/// A local answer: always 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: String,
    /// Headers the answer carries besides its content type (lower case).
    pub headers: Vec<(&'static str, String)>,
}

/// Longest token or challenge echoed. Providers send short random strings.
const MAX_TOKEN: usize = 512;

/// Tokens and challenges are echoed into a reply: only characters that need no escaping
/// in JSON and that no browser reads as markup are accepted.
fn safe(v: &str) -> Result<String, Denial> {
    let ok = !v.is_empty()
        && v.len() <= MAX_TOKEN
        && v.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'=' | b'+' | b'/'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(Denial::SignatureMalformed)
    }
}

fn pointer(text: &str) -> Pointer {
    Pointer::parse(text).unwrap_or(Pointer(Vec::new()))
}

impl Handshake {
    /// The method it arrives with besides POST, which its route must allow.
    pub fn method(self) -> Option<&'static str> {
        match self {
            Handshake::TwitterCrc
            | Handshake::MetaVerifyToken
            | Handshake::DropboxChallenge
            | Handshake::OktaVerification => Some("GET"),
            Handshake::TrelloHead => Some("HEAD"),
            Handshake::ZoomUrlValidation | Handshake::TwitchChallenge => None,
        }
    }

    /// `None` when the request is not this handshake (it is then checked as a webhook);
    /// an error when it is one but cannot be answered.
    pub fn recognise(self, head: &RequestHead, body: &[u8]) -> Option<Result<Request, Denial>> {
        let get = head.method() == "GET";
        let param = |name: &str| -> Result<Option<String>, Denial> {
            let v = query_param(head, name).map_err(|_| Denial::SignatureMalformed)?;
            v.map(|v| String::from_utf8(v).map_err(|_| Denial::SignatureMalformed)).transpose()
        };
        match self {
            Handshake::ZoomUrlValidation => {
                if get || !body.windows(23).any(|w| w == b"endpoint.url_validation") {
                    return None;
                }
                let doc = match parse_body(body) {
                    Ok(d) => d,
                    Err(_) => return None,
                };
                match body_text(&doc, &pointer("/event")) {
                    Ok(Some(e)) if e == "endpoint.url_validation" => {}
                    Ok(_) => return None,
                    Err(d) => return Some(Err(d)),
                }
                Some(match body_text(&doc, &pointer("/payload/plainToken")) {
                    Ok(Some(t)) => safe(&t).map(|token| Request::SignedMacOf { token }),
                    Ok(None) => Err(Denial::SignatureMalformed),
                    Err(d) => Err(d),
                })
            }
            Handshake::TwitchChallenge => {
                let kind = head.headers.get_one("twitch-eventsub-message-type");
                if get || !matches!(kind, Ok(Some(b"webhook_callback_verification"))) {
                    return None;
                }
                Some(match parse_body(body).and_then(|d| body_text(&d, &pointer("/challenge"))) {
                    Ok(Some(c)) => safe(&c).map(|challenge| Request::SignedEcho { challenge }),
                    Ok(None) => Err(Denial::SignatureMalformed),
                    Err(d) => Err(d),
                })
            }
            Handshake::TwitterCrc => {
                if !get {
                    return None;
                }
                Some(match param("crc_token") {
                    Ok(Some(t)) => safe(&t).map(|token| Request::MacOf { token }),
                    Ok(None) => return None,
                    Err(d) => Err(d),
                })
            }
            Handshake::MetaVerifyToken => {
                if !get {
                    return None;
                }
                let mode = match param("hub.mode") {
                    Ok(None) => return None,
                    Ok(Some(m)) => m,
                    Err(d) => return Some(Err(d)),
                };
                if mode != "subscribe" {
                    return Some(Err(Denial::SignatureMalformed));
                }
                Some((|| {
                    let token = param("hub.verify_token")?.ok_or(Denial::SignatureMissing)?;
                    let challenge = safe(&param("hub.challenge")?.ok_or(Denial::SignatureMalformed)?)?;
                    Ok(Request::TokenEcho { token: token.into_bytes(), challenge })
                })())
            }
            Handshake::TrelloHead => (head.method() == "HEAD").then(|| Ok(Request::Echo { challenge: String::new() })),
            Handshake::OktaVerification => {
                if !get {
                    return None;
                }
                Some(match head.headers.get_one("x-okta-verification-challenge") {
                    Ok(Some(c)) => std::str::from_utf8(c)
                        .map_err(|_| Denial::SignatureMalformed)
                        .and_then(safe)
                        .map(|challenge| Request::SignedEcho { challenge }),
                    Ok(None) => return None,
                    Err(_) => Err(Denial::SignatureRepeated),
                })
            }
            Handshake::DropboxChallenge => {
                if !get {
                    return None;
                }
                Some(match param("challenge") {
                    Ok(Some(c)) => safe(&c).map(|challenge| Request::Echo { challenge }),
                    Ok(None) => return None,
                    Err(d) => Err(d),
                })
            }
        }
    }

    /// The answer, given the MAC of the token where the handshake needs one.
    pub fn reply(self, req: &Request, mac: Option<&[u8]>) -> Reply {
        use base64::Engine;
        let hex = || crate::verify::encoding::hex_encode(mac.unwrap_or_default());
        let text = |s: &str| Reply { content_type: "text/plain", body: s.to_string(), headers: Vec::new() };
        match (self, req) {
            (Handshake::ZoomUrlValidation, Request::SignedMacOf { token }) => Reply {
                content_type: "application/json",
                body: format!(r#"{{"plainToken":"{token}","encryptedToken":"{}"}}"#, hex()),
                headers: Vec::new(),
            },
            (Handshake::TwitterCrc, _) => Reply {
                content_type: "application/json",
                body: format!(
                    r#"{{"response_token":"sha256={}"}}"#,
                    base64::engine::general_purpose::STANDARD.encode(mac.unwrap_or_default())
                ),
                headers: Vec::new(),
            },
            (Handshake::OktaVerification, Request::SignedEcho { challenge }) => Reply {
                content_type: "application/json",
                body: format!(r#"{{"verification":"{challenge}"}}"#),
                headers: Vec::new(),
            },
            (
                _,
                Request::SignedEcho { challenge } | Request::TokenEcho { challenge, .. } | Request::Echo { challenge },
            ) => text(challenge),
            (_, Request::SignedMacOf { token } | Request::MacOf { token }) => text(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;

    fn head(method: &str, path: &str, pairs: &[(&str, &str)]) -> RequestHead {
        let mut all =
            vec![(":method".to_string(), method.as_bytes().to_vec()), (":path".into(), path.as_bytes().to_vec())];
        all.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(all), None, 0)
    }

    #[test]
    fn zoom_is_recognised_by_its_event() {
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let r = Handshake::ZoomUrlValidation.recognise(&head("POST", "/z", &[]), body);
        assert_eq!(r, Some(Ok(Request::SignedMacOf { token: "qgg8vlvZRS6UYooatFL8Aw".into() })));
        let other = br#"{"event":"meeting.started","payload":{"note":"endpoint.url_validation"}}"#;
        assert_eq!(Handshake::ZoomUrlValidation.recognise(&head("POST", "/z", &[]), other), None);
        let hostile = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"<script>"}}"#;
        assert_eq!(
            Handshake::ZoomUrlValidation.recognise(&head("POST", "/z", &[]), hostile),
            Some(Err(Denial::SignatureMalformed))
        );
        let twice = br#"{"event":"endpoint.url_validation","event":"x","payload":{"plainToken":"a"}}"#;
        assert_eq!(
            Handshake::ZoomUrlValidation.recognise(&head("POST", "/z", &[]), twice),
            Some(Err(Denial::PayloadDuplicateKey))
        );
    }

    #[test]
    fn meta_needs_subscribe_token_and_challenge() {
        let h = head("GET", "/m?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", &[]);
        assert_eq!(
            Handshake::MetaVerifyToken.recognise(&h, b""),
            Some(Ok(Request::TokenEcho { token: b"meatyhamhock".to_vec(), challenge: "1158201444".into() }))
        );
        assert_eq!(Handshake::MetaVerifyToken.recognise(&head("GET", "/m", &[]), b""), None);
        assert_eq!(Handshake::MetaVerifyToken.recognise(&head("POST", "/m?hub.mode=subscribe", &[]), b""), None);
        let no_token = head("GET", "/m?hub.mode=subscribe&hub.challenge=1", &[]);
        assert_eq!(Handshake::MetaVerifyToken.recognise(&no_token, b""), Some(Err(Denial::SignatureMissing)));
        let twice = head("GET", "/m?hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=t", &[]);
        assert_eq!(Handshake::MetaVerifyToken.recognise(&twice, b""), Some(Err(Denial::SignatureMalformed)));
    }

    #[test]
    fn trello_head_only() {
        assert_eq!(
            Handshake::TrelloHead.recognise(&head("HEAD", "/t", &[]), b""),
            Some(Ok(Request::Echo { challenge: String::new() }))
        );
        assert_eq!(Handshake::TrelloHead.recognise(&head("POST", "/t", &[]), b""), None);
        assert_eq!(Handshake::TrelloHead.method(), Some("HEAD"));
        assert_eq!(Handshake::ZoomUrlValidation.method(), None);
    }

    #[test]
    fn okta_get_with_its_challenge_header_only() {
        let h = head("GET", "/o", &[("x-okta-verification-challenge", "X8bqAq2wF4Rx1dQfTc3aG6tn4Vz5yBnU")]);
        let r = Handshake::OktaVerification.recognise(&h, b"");
        assert_eq!(r, Some(Ok(Request::SignedEcho { challenge: "X8bqAq2wF4Rx1dQfTc3aG6tn4Vz5yBnU".into() })));
        let reply = Handshake::OktaVerification.reply(&Request::SignedEcho { challenge: "abc".into() }, None);
        assert_eq!((reply.content_type, reply.body.as_str()), ("application/json", r#"{"verification":"abc"}"#));
        assert_eq!(Handshake::OktaVerification.recognise(&head("GET", "/o", &[]), b""), None);
        let post = head("POST", "/o", &[("x-okta-verification-challenge", "abc")]);
        assert_eq!(Handshake::OktaVerification.recognise(&post, b""), None);
        let hostile = head("GET", "/o", &[("x-okta-verification-challenge", "\"}<b>")]);
        assert_eq!(Handshake::OktaVerification.recognise(&hostile, b""), Some(Err(Denial::SignatureMalformed)));
        let twice =
            head("GET", "/o", &[("x-okta-verification-challenge", "a"), ("x-okta-verification-challenge", "b")]);
        assert_eq!(Handshake::OktaVerification.recognise(&twice, b""), Some(Err(Denial::SignatureRepeated)));
        assert_eq!(Handshake::OktaVerification.method(), Some("GET"));
    }

    #[test]
    fn replies() {
        let z = Handshake::ZoomUrlValidation.reply(&Request::SignedMacOf { token: "abc".into() }, Some(&[0xab, 0x01]));
        assert_eq!(z.body, r#"{"plainToken":"abc","encryptedToken":"ab01"}"#);
        assert_eq!(z.content_type, "application/json");
        let x = Handshake::TwitterCrc.reply(&Request::MacOf { token: "t".into() }, Some(b"hi"));
        assert_eq!(x.body, r#"{"response_token":"sha256=aGk="}"#);
        let t = Handshake::TwitchChallenge.reply(&Request::SignedEcho { challenge: "pogchamp-kappa".into() }, None);
        assert_eq!((t.content_type, t.body.as_str()), ("text/plain", "pogchamp-kappa"));
    }
}
