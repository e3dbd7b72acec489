//! `event_grid`: Azure Event Grid's endpoint validation, answered by the filter for
//! requests that passed the route's authentication (`jwt` with Entra ID's keys, or a
//! secret delivery header through `headers`), so the application never sees it.
//!
//! Event Grid proves an endpoint in one of two ways, by the schema of the subscription:
//! - Event Grid schema: a POST with `aeg-event-type: SubscriptionValidation` whose body is
//!   an array of one `Microsoft.EventGrid.SubscriptionValidationEvent`; answered 200
//!   `{"validationResponse":"<data.validationCode>"}`.
//! - CloudEvents 1.0: the abuse-protection `OPTIONS` with `WebHook-Request-Origin`;
//!   answered 200 with `WebHook-Allowed-Origin` (and `WebHook-Allowed-Rate` when set),
//!   for the allowed origins only.
//!
//! Every other request (events: `aeg-event-type: Notification`, CloudEvents POSTs) is
//! forwarded once the route's checks pass.

use serde::Deserialize;

use crate::denial::Denial;
use crate::error::ConfigError;
use crate::json::Json;
use crate::request::RequestHead;
use crate::verify::signature::handshake::Reply;
use crate::verify::signature::model::find;
use crate::verify::signature::model::{parse_body, Pointer};

/// The origin Event Grid names in its abuse-protection request.
pub const EVENT_GRID_ORIGIN: &str = "eventgrid.azure.net";
/// The event type of the Event Grid schema's validation.
const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
/// Longest validation code answered (Event Grid's are GUIDs, 36 characters).
const MAX_CODE: usize = 128;

/// Wire form of `checks.event_grid`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventGridConfig {
    /// Origins whose `OPTIONS` handshake is answered; default `[eventgrid.azure.net]`.
    pub allowed_origins: Option<Vec<String>>,
    /// Requests per minute granted in `WebHook-Allowed-Rate`; without it, no rate is given.
    pub allowed_rate: Option<u64>,
}

/// A compiled `checks.event_grid`.
#[derive(Debug)]
pub struct EventGrid {
    /// Lower case.
    origins: Vec<String>,
    rate: Option<u64>,
}

impl EventGrid {
    /// `authenticated`: whether the route has a check that authenticates the sender
    /// (`jwt` or `headers`); the handshakes are answered only behind one.
    pub fn compile(c: &EventGridConfig, path: &str, authenticated: bool) -> Result<Self, ConfigError> {
        if !authenticated {
            return Err(ConfigError::new(
                path,
                "Event Grid's handshakes are answered only for authenticated requests: give the route `jwt` \
                 (Entra ID tokens) or `headers` (a secret delivery header)",
            ));
        }
        let origins = match &c.allowed_origins {
            None => vec![EVENT_GRID_ORIGIN.to_string()],
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    format!("{path}.allowed_origins"),
                    "list at least one origin, or leave it out for eventgrid.azure.net",
                ))
            }
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, o) in list.iter().enumerate() {
                    let ok = !o.is_empty()
                        && o.len() <= 253
                        && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                    if !ok {
                        return Err(ConfigError::new(
                            format!("{path}.allowed_origins[{i}]"),
                            format!("\"{}\" is not a host name (an origin is named, never `*`)", o.escape_debug()),
                        ));
                    }
                    let lower = o.to_ascii_lowercase();
                    if !out.contains(&lower) {
                        out.push(lower);
                    }
                }
                out
            }
        };
        if c.allowed_rate == Some(0) {
            return Err(ConfigError::new(format!("{path}.allowed_rate"), "must be greater than 0"));
        }
        Ok(EventGrid { origins, rate: c.allowed_rate })
    }

    /// The method its CloudEvents handshake arrives with, which its route allows.
    pub const METHOD: &'static str = "OPTIONS";

    /// `None` when the request is no handshake (it is then forwarded, its checks
    /// passed); else the answer, or why it cannot be given.
    pub fn handshake(&self, head: &RequestHead, body: &[u8]) -> Option<Result<Reply, Denial>> {
        if head.method() == Self::METHOD {
            return Some(self.abuse_protection(head));
        }
        let declared = match head.headers.get_one("aeg-event-type") {
            Ok(v) => v == Some(b"SubscriptionValidation".as_slice()),
            Err(_) => return Some(Err(Denial::HandshakeMalformed)),
        };
        // A validation event reaches the application under no other header either.
        if !declared && !body.windows(VALIDATION_EVENT.len()).any(|w| w == VALIDATION_EVENT.as_bytes()) {
            return None;
        }
        match validation_code(body) {
            Ok(None) if !declared => None,
            Ok(Some(code)) if declared => Some(Ok(Reply {
                content_type: "application/json",
                body: format!(r#"{{"validationResponse":"{code}"}}"#),
                headers: Vec::new(),
            })),
            Ok(_) => Some(Err(Denial::HandshakeMalformed)),
            Err(d) => Some(Err(d)),
        }
    }

    fn abuse_protection(&self, head: &RequestHead) -> Result<Reply, Denial> {
        let origin = match head.headers.get_one("webhook-request-origin") {
            Ok(Some(v)) if !v.is_empty() => v,
            _ => return Err(Denial::HandshakeMalformed),
        };
        let allowed = self.origins.iter().find(|o| o.as_bytes().eq_ignore_ascii_case(origin));
        let Some(allowed) = allowed else { return Err(Denial::HandshakeOriginNotAllowed) };
        let mut headers = vec![("allow", "POST".to_string()), ("webhook-allowed-origin", allowed.clone())];
        if let Some(rate) = self.rate {
            headers.push(("webhook-allowed-rate", rate.to_string()));
        }
        Ok(Reply { content_type: "text/plain", body: String::new(), headers })
    }
}

/// The validation code of a body that holds a validation event: `Ok(None)` when no
/// event of the body is one; refused when one is, and the body is not exactly that one
/// event with a code that can be echoed.
fn validation_code(body: &[u8]) -> Result<Option<String>, Denial> {
    let doc = parse_body(body)?;
    let Json::Array(events) = &doc else { return Ok(None) };
    let pointer = |p: &str| Pointer::parse(p).unwrap_or(Pointer(Vec::new()));
    let (event_type, code_at) = (pointer("/eventType"), pointer("/data/validationCode"));
    let mut validations = 0;
    for e in events {
        if matches!(find(e, &event_type)?, Some(Json::String(t)) if t == VALIDATION_EVENT) {
            validations += 1;
        }
    }
    match (validations, events.as_slice()) {
        (0, _) => Ok(None),
        (1, [only]) => match find(only, &code_at)? {
            Some(Json::String(code))
                if !code.is_empty()
                    && code.len() <= MAX_CODE
                    && code.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') =>
            {
                Ok(Some(code.clone()))
            }
            _ => Err(Denial::HandshakeMalformed),
        },
        _ => Err(Denial::HandshakeMalformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;

    fn head(method: &str, pairs: &[(&str, &str)]) -> RequestHead {
        let mut all = vec![(":method".to_string(), method.as_bytes().to_vec()), (":path".into(), b"/eg".to_vec())];
        all.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(all), None, 0)
    }

    fn grid(json: &str) -> EventGrid {
        let c: EventGridConfig = crate::wire::read_str(json).unwrap();
        EventGrid::compile(&c, "eg", true).unwrap()
    }

    fn compile_err(json: &str, authenticated: bool) -> String {
        let c: EventGridConfig = crate::wire::read_str(json).unwrap();
        EventGrid::compile(&c, "eg", authenticated).unwrap_err().to_string()
    }

    const CODE: &str = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6";

    fn validation(code: &str) -> String {
        format!(
            r#"[{{"id":"2d1781af-3a4c-4d7c-bd0c-e34b19da4e66","topic":"/subscriptions/x","subject":"","data":{{"validationCode":"{code}","validationUrl":"https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/s/validate?id=1"}},"eventType":"{VALIDATION_EVENT}","eventTime":"2018-01-25T22:12:19.4556811Z","metadataVersion":"1","dataVersion":"1"}}]"#
        )
    }

    #[test]
    fn the_validation_event_is_answered_with_its_code() {
        let g = grid("{}");
        let h = head("POST", &[("aeg-event-type", "SubscriptionValidation")]);
        let reply = g.handshake(&h, validation(CODE).as_bytes()).unwrap().unwrap();
        assert_eq!(reply.body, format!(r#"{{"validationResponse":"{CODE}"}}"#));
        assert_eq!((reply.content_type, reply.headers.len()), ("application/json", 0));
    }

    #[test]
    fn events_are_no_handshake() {
        let g = grid("{}");
        let h = head("POST", &[("aeg-event-type", "Notification")]);
        let event = r#"[{"id":"1","eventType":"Microsoft.Storage.BlobCreated","data":{"url":"x"}}]"#;
        assert_eq!(g.handshake(&h, event.as_bytes()), None);
        let cloud = head("POST", &[("content-type", "application/cloudevents+json; charset=utf-8")]);
        assert_eq!(g.handshake(&cloud, br#"{"specversion":"1.0","type":"x","id":"1","source":"/s"}"#), None);
        // The type's name as data is no validation event.
        let mention = format!(r#"[{{"eventType":"Contoso.Note","data":{{"text":"{VALIDATION_EVENT}"}}}}]"#);
        assert_eq!(g.handshake(&h, mention.as_bytes()), None);
    }

    #[test]
    fn validation_requests_that_cannot_be_answered_are_refused() {
        let g = grid("{}");
        let declared = head("POST", &[("aeg-event-type", "SubscriptionValidation")]);
        let refused = |h: &RequestHead, body: &str| g.handshake(h, body.as_bytes());
        assert_eq!(refused(&declared, "{}"), Some(Err(Denial::HandshakeMalformed)));
        assert_eq!(refused(&declared, "not json"), Some(Err(Denial::PayloadNotJson)));
        assert_eq!(refused(&declared, &validation("<script>")), Some(Err(Denial::HandshakeMalformed)));
        assert_eq!(refused(&declared, &validation("")), Some(Err(Denial::HandshakeMalformed)));
        let two = validation(CODE).replace("}]", &format!("}},{}", &validation(CODE)[1..]));
        assert_eq!(refused(&declared, &two), Some(Err(Denial::HandshakeMalformed)));
        let twice = validation(CODE).replace(r#""data":{"#, r#""data":{"validationCode":"a","#);
        assert_eq!(refused(&declared, &twice), Some(Err(Denial::PayloadDuplicateKey)));
        // Under a Notification header, a validation event is not forwarded either.
        let notification = head("POST", &[("aeg-event-type", "Notification")]);
        assert_eq!(refused(&notification, &validation(CODE)), Some(Err(Denial::HandshakeMalformed)));
        let repeated =
            head("POST", &[("aeg-event-type", "Notification"), ("aeg-event-type", "SubscriptionValidation")]);
        assert_eq!(refused(&repeated, "[]"), Some(Err(Denial::HandshakeMalformed)));
    }

    #[test]
    fn options_is_answered_for_allowed_origins_only() {
        let g = grid(r#"{"allowed_rate":120}"#);
        let reply = g.handshake(&head("OPTIONS", &[("webhook-request-origin", "EventGrid.Azure.net")]), b"");
        let reply = reply.unwrap().unwrap();
        assert_eq!(
            reply.headers,
            [
                ("allow", "POST".to_string()),
                ("webhook-allowed-origin", "eventgrid.azure.net".to_string()),
                ("webhook-allowed-rate", "120".to_string())
            ]
        );
        assert_eq!(reply.body, "");
        let other = head("OPTIONS", &[("webhook-request-origin", "evil.example.com")]);
        assert_eq!(g.handshake(&other, b""), Some(Err(Denial::HandshakeOriginNotAllowed)));
        assert_eq!(g.handshake(&head("OPTIONS", &[]), b""), Some(Err(Denial::HandshakeMalformed)));
        let twice = head("OPTIONS", &[("webhook-request-origin", EVENT_GRID_ORIGIN), ("webhook-request-origin", "x")]);
        assert_eq!(g.handshake(&twice, b""), Some(Err(Denial::HandshakeMalformed)));
        let custom = grid(r#"{"allowed_origins":["events.example.com"]}"#);
        let ok = custom.handshake(&head("OPTIONS", &[("webhook-request-origin", "events.example.com")]), b"");
        assert_eq!(ok.unwrap().unwrap().headers.len(), 2, "no rate unless configured");
        let eg = head("OPTIONS", &[("webhook-request-origin", EVENT_GRID_ORIGIN)]);
        assert_eq!(custom.handshake(&eg, b""), Some(Err(Denial::HandshakeOriginNotAllowed)));
    }

    #[test]
    fn config_errors_name_the_field() {
        for (json, authenticated, want) in [
            ("{}", false, "eg: Event Grid's handshakes are answered only for authenticated requests"),
            (r#"{"allowed_origins":[]}"#, true, "eg.allowed_origins: list at least one origin"),
            (r#"{"allowed_origins":["*"]}"#, true, "eg.allowed_origins[0]: \"*\" is not a host name"),
            (r#"{"allowed_origins":["a.b","https://x"]}"#, true, "eg.allowed_origins[1]: \"https://x\" is not a host"),
            (r#"{"allowed_rate":0}"#, true, "eg.allowed_rate: must be greater than 0"),
        ] {
            let got = compile_err(json, authenticated);
            assert!(got.starts_with(want), "{json}: {got}");
        }
    }
}
