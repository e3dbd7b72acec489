//! The verdict on a request: from what the checks found, the mode and the replay state
//! to a [`Decision`] (forward with these header edits, answer with this reply, or keep
//! buffering the body). Pure: the filter reads the host, hands the results here stage
//! by stage through a [`Case`], applies each [`Decision`], and logs and counts what the
//! [`Verdict`] reports.
//!
//! A request goes through at most three stages: routing, the header checks, the body
//! checks; then, for a message forwarded under `dedupe`, the upstream's answer.

use std::borrow::Cow;
use std::sync::Arc;

use crate::denial::{Denial, Reply};
use crate::fetch::Need;
use crate::policy::{Findings, Lookups, Mode, Policy, Route, Routing, SecretUse, Unmatched};
use crate::request::RequestHead;
use crate::shared::SharedStore;
use crate::verify::signature::handshake::Reply as Handshake;

/// Set on every request the filter forwards from a route (`route=<name>`, and in
/// monitor mode `; would_deny=<reason>`); removed when a client sends it elsewhere.
pub const VERDICT_HEADER: &str = "x-webhook-guard";
/// What a sender gets for a message that was already delivered (SPEC 2.4).
pub const DUPLICATE_BODY: &str = r#"{"status":"duplicate"}"#;
/// Every local reply is JSON.
const CONTENT_TYPE: (&str, &str) = ("content-type", "application/json");

/// What the filter does with the request now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'j> {
    /// Send it upstream after these header edits, in order.
    Forward(Vec<HeaderEdit<'j>>),
    /// Answer it here: nothing of the request reaches the upstream.
    Reply { status: u32, body: &'static str, headers: Vec<(&'static str, String)> },
    /// Hold the headers: the body checks need the whole body first.
    KeepBuffering,
    /// A provider handshake, verified: answered here with 200 and this body.
    Handshake(Handshake),
    /// Hold the request and fetch this document a check lacks; then the stage runs
    /// again ([`Case::retry`]), or the request is refused ([`Case::give_up`]).
    Fetch(Need),
}

/// One change to the request headers before the request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit<'j> {
    Remove(&'j str),
    /// Replaces every value the client sent.
    Set(&'static str, Cow<'j, str>),
}

/// What became of the request, for the log, the metrics and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed: forwarded.
    Allowed,
    /// Refused with this denial's reply.
    Denied(Denial),
    /// Monitor mode: forwarded, though this denial (the first found) would refuse it.
    WouldDeny(Denial),
    /// Already delivered: answered 200 here (SPEC 2.4).
    Duplicate,
    /// Monitor mode: a duplicate, forwarded again.
    WouldDenyDuplicate,
    /// No route takes it and `unmatched: allow`: forwarded unchecked.
    Unchecked,
    /// A provider handshake answered here (`handshake`), in monitor mode too: the
    /// application has nothing to do with it.
    Handshake,
    /// Waiting for the body.
    Pending,
}

impl Outcome {
    /// How the log line of a denial starts.
    pub fn verb(self) -> &'static str {
        match self {
            Outcome::WouldDeny(_) | Outcome::WouldDenyDuplicate => "monitor: would deny",
            _ => "denied",
        }
    }

    /// The denial's reason, or `duplicate`, when the request was or would have been refused.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Outcome::Denied(d) | Outcome::WouldDeny(d) => Some(d.reason()),
            Outcome::Duplicate | Outcome::WouldDenyDuplicate => Some("duplicate"),
            Outcome::Allowed | Outcome::Unchecked | Outcome::Pending | Outcome::Handshake => None,
        }
    }
}

/// The verdict of one stage: what to do, and what to log and count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'j> {
    pub decision: Decision<'j>,
    pub outcome: Outcome,
    /// Every denial found, each to be logged (one warn line) and counted. In monitor mode
    /// that is every check that failed; in enforce mode the one that refused.
    pub denials: Vec<Denial>,
    /// Secrets that verified an allowed request (`secret.<id>.matched`).
    pub secrets: Vec<SecretUse>,
}

impl Verdict<'_> {
    fn fetch(need: Need) -> Self {
        Verdict { decision: Decision::Fetch(need), outcome: Outcome::Pending, denials: Vec::new(), secrets: Vec::new() }
    }

    fn pending() -> Self {
        Verdict {
            decision: Decision::KeepBuffering,
            outcome: Outcome::Pending,
            denials: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

/// The decisions of one policy, prepared when the configuration loads, so that no
/// header value is formatted on a request that passes.
#[derive(Debug)]
pub struct Judge {
    policy: Arc<Policy>,
    /// `route=<name>`, per route.
    labels: Vec<String>,
}

impl Judge {
    pub fn new(policy: Arc<Policy>) -> Self {
        let labels = policy.routes.iter().map(|r| format!("route={}", r.name)).collect();
        Judge { policy, labels }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn monitor(&self) -> bool {
        self.policy.mode == Mode::Monitor
    }

    /// Forward from a route: its secret headers removed, the verdict header set.
    fn forward(&self, route: usize, would_deny: Option<&'static str>) -> Decision<'_> {
        let mut edits: Vec<HeaderEdit<'_>> = match self.policy.routes.get(route) {
            Some(r) => r.headers_to_strip().map(HeaderEdit::Remove).collect(),
            None => Vec::new(),
        };
        let label = self.labels.get(route).map_or("", String::as_str);
        let value = match would_deny {
            None => Cow::Borrowed(label),
            Some(reason) => Cow::Owned(format!("{label}; would_deny={reason}")),
        };
        edits.push(HeaderEdit::Set(VERDICT_HEADER, value));
        Decision::Forward(edits)
    }

    /// Forward a request no route covers: nobody but this filter may say a request was
    /// verified, so a client's verdict header goes.
    fn forward_unchecked(&self, head: &RequestHead) -> Decision<'_> {
        let sent = head.headers.contains(VERDICT_HEADER);
        Decision::Forward(if sent { vec![HeaderEdit::Remove(VERDICT_HEADER)] } else { Vec::new() })
    }

    /// Refuse (enforce) or record and forward (monitor) a request with denials. `route`
    /// is `None` for a request no route takes (forwarded unchecked in monitor mode);
    /// `allow` is the `Allow` header of a 405.
    fn deny(&self, route: Option<usize>, head: &RequestHead, f: Findings, allow: Option<String>) -> Verdict<'_> {
        // Callers deny only with a denial; should one not, refuse rather than forward.
        let first = f.denials.first().copied().unwrap_or(Denial::RouteNotFound);
        let (decision, outcome) = if self.monitor() {
            let decision = match route {
                Some(r) => self.forward(r, Some(first.reason())),
                None => self.forward_unchecked(head),
            };
            (decision, Outcome::WouldDeny(first))
        } else {
            let Reply { status, body } = first.reply();
            let mut headers = vec![(CONTENT_TYPE.0, CONTENT_TYPE.1.to_string())];
            headers.extend(allow.map(|a| ("allow", a)));
            headers.extend(f.retry_after.map(|s| ("retry-after", s.max(1).to_string())));
            (Decision::Reply { status, body, headers }, Outcome::Denied(first))
        };
        Verdict { decision, outcome, denials: f.denials, secrets: Vec::new() }
    }
}

/// What replay protection says of a message whose checks all passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The route has no `dedupe`, or the message no id.
    NotKeyed,
    /// Not delivered before: forward, and record the id once the upstream answers 2xx.
    New(Vec<u8>),
    /// Delivered inside the window.
    Seen,
}

impl Replay {
    /// Ask the route's replay cache. Only once every check passed: otherwise anyone
    /// replaying a message id would get a 200 without proving anything.
    pub fn of(route: &Route, head: &RequestHead, body_id: Option<&[u8]>, store: &dyn SharedStore) -> Replay {
        match route.dedupe_id(head, body_id) {
            None => Replay::NotKeyed,
            Some((dedupe, id)) if dedupe.seen(store, id, head.now) => Replay::Seen,
            Some((_, id)) => Replay::New(id.to_vec()),
        }
    }
}

/// Where a request is on its way through the stages, and what that stage knows.
#[derive(Debug, Default)]
enum Stage {
    /// Not routed yet.
    #[default]
    Routing,
    /// Matched `route` (an index into the policy's routes); the header checks come next.
    Routed { route: usize },
    /// The headers are held while the body arrives. `head` is what the header stage
    /// found, kept for the body stage: the secrets that matched there and, in monitor
    /// mode, its denials.
    Buffering { route: usize, head: Findings },
    /// Forwarded under `dedupe`: the message id is recorded once the upstream answers 2xx.
    Delivering { route: usize, id: Vec<u8> },
    /// The request waits for a document a check of `at`'s stage lacks; `found` is what
    /// that stage found before the check that asked.
    Fetching { route: usize, found: Findings, at: Waiting },
    /// Decided; `route` is `None` when no route took the request.
    Done { route: Option<usize> },
}

/// Which stage waits for a fetch.
#[derive(Debug)]
enum Waiting {
    Head,
    /// The body stage; `head` is what the header stage found.
    Body {
        head: Findings,
    },
}

/// One request on its way through the stages. Each shell keeps one per request (in
/// [`crate::stream::Stream`]).
#[derive(Debug, Default)]
pub struct Case {
    stage: Stage,
}

impl Case {
    /// The route the request matched; `None` until then, and when none did.
    pub fn route(&self) -> Option<usize> {
        match self.stage {
            Stage::Routing => None,
            Stage::Routed { route }
            | Stage::Buffering { route, .. }
            | Stage::Delivering { route, .. }
            | Stage::Fetching { route, .. } => Some(route),
            Stage::Done { route } => route,
        }
    }

    /// Whether the upstream's answer matters: a message forwarded under `dedupe` is
    /// recorded once it is known to be delivered.
    pub fn awaits_delivery(&self) -> bool {
        matches!(self.stage, Stage::Delivering { .. })
    }

    /// Whether the headers are held while the body arrives.
    pub fn is_buffering(&self) -> bool {
        matches!(self.stage, Stage::Buffering { .. })
    }

    /// Whether the request waits for a fetch ([`Decision::Fetch`]).
    pub fn is_fetching(&self) -> bool {
        matches!(self.stage, Stage::Fetching { .. })
    }

    /// The fetch the request waited for arrived: back to the stage that asked, to run
    /// it again. `Some(found)` for the header stage (what it found before the check that
    /// asked: [`Route::resume_head`] goes on from there), `None` for the body stage
    /// ([`Case::on_body_with`] runs it whole). Nothing to resume: `None`, stage unchanged.
    pub fn retry(&mut self) -> Option<Option<Findings>> {
        let Stage::Fetching { route, found, at } = std::mem::take(&mut self.stage) else {
            return None;
        };
        Some(match at {
            Waiting::Head => {
                self.stage = Stage::Routed { route };
                Some(found)
            }
            Waiting::Body { head } => {
                self.stage = Stage::Buffering { route, head };
                None
            }
        })
    }

    /// The request cannot wait for its fetch, or the fetch failed: the check that asked
    /// refuses with `denial` (503, `Retry-After: retry_after`), and the stage decides as
    /// it would have without waiting.
    pub fn give_up<'j>(
        &mut self,
        judge: &'j Judge,
        head: &RequestHead,
        denial: Denial,
        retry_after: u64,
        store: &dyn SharedStore,
    ) -> Verdict<'j> {
        let Stage::Fetching { route, mut found, at } = std::mem::take(&mut self.stage) else {
            return self.refuse_internal();
        };
        found.need = None;
        found.denials.push(denial);
        found.retry_after = Some(retry_after);
        match at {
            Waiting::Head => {
                self.stage = Stage::Routed { route };
                self.on_head(judge, head, found, store)
            }
            Waiting::Body { head: head_found } => {
                self.stage = Stage::Buffering { route, head: head_found };
                self.on_body_findings(judge, head, found, store)
            }
        }
    }

    /// Routing is done: `Ok(route)` to run that route's header checks, or the verdict on
    /// a request no route takes.
    pub fn on_routing<'j>(
        &mut self,
        judge: &'j Judge,
        routing: Routing,
        head: &RequestHead,
    ) -> Result<usize, Verdict<'j>> {
        let only = |d: Denial| Findings { denials: vec![d], ..Findings::default() };
        let verdict = match routing {
            Routing::Route(route) => {
                self.stage = Stage::Routed { route };
                return Ok(route);
            }
            Routing::NotFound => match judge.policy.unmatched {
                Unmatched::Allow => Verdict {
                    decision: judge.forward_unchecked(head),
                    outcome: Outcome::Unchecked,
                    denials: Vec::new(),
                    secrets: Vec::new(),
                },
                Unmatched::Deny => judge.deny(None, head, only(Denial::RouteNotFound), None),
            },
            // Refused whatever `unmatched` says: some upstream may read it as a route.
            Routing::Ambiguous => judge.deny(None, head, only(Denial::AmbiguousPath), None),
            Routing::MethodNotAllowed { allow } => judge.deny(None, head, only(Denial::MethodNotAllowed), Some(allow)),
        };
        self.stage = Stage::Done { route: None };
        Err(verdict)
    }

    /// The route's header checks ran and found `findings`.
    pub fn on_head<'j>(
        &mut self,
        judge: &'j Judge,
        head: &RequestHead,
        mut findings: Findings,
        store: &dyn SharedStore,
    ) -> Verdict<'j> {
        let Stage::Routed { route: index } = self.stage else { return self.refuse_internal() };
        let Some(route) = judge.policy.routes.get(index) else { return self.refuse_internal() };
        if let Some(need) = findings.need.take() {
            self.stage = Stage::Fetching { route: index, found: findings, at: Waiting::Head };
            return Verdict::fetch(need);
        }
        if !findings.denials.is_empty() && !judge.monitor() {
            // Answered before a byte of the body is read.
            self.stage = Stage::Done { route: Some(index) };
            return judge.deny(Some(index), head, findings, None);
        }
        if !route.needs_body() {
            return self.decide(judge, (index, route), head, findings, Findings::default(), store);
        }
        // Refused on the declared length, before anything is buffered.
        let declared = head
            .headers
            .get_all("content-length")
            .next()
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > judge.policy.max_body_bytes) {
            return self.too_large(judge, index, head);
        }
        self.stage = Stage::Buffering { route: index, head: findings };
        Verdict::pending()
    }

    /// `received` bytes of the body are buffered so far (for the body checks, or while
    /// the request waits for a fetch): `Some` once that is too many.
    pub fn on_body_data<'j>(&mut self, judge: &'j Judge, head: &RequestHead, received: usize) -> Option<Verdict<'j>> {
        let (Stage::Buffering { route, .. } | Stage::Fetching { route, .. }) = self.stage else { return None };
        let over = u64::try_from(received).map_or(true, |n| n > judge.policy.max_body_bytes);
        over.then(|| self.too_large(judge, route, head))
    }

    /// The whole body is there: run the body checks and decide.
    pub fn on_body<'j>(
        &mut self,
        judge: &'j Judge,
        head: &RequestHead,
        body: &[u8],
        store: &dyn SharedStore,
    ) -> Verdict<'j> {
        let Stage::Buffering { route: index, .. } = self.stage else { return self.refuse_internal() };
        let Some(route) = judge.policy.routes.get(index) else { return self.refuse_internal() };
        let findings = route.check_body(head, body, judge.policy.mode);
        self.on_body_findings(judge, head, findings, store)
    }

    /// The whole body is there: run the body checks, which may ask for a document the
    /// request can wait for ([`Decision::Fetch`]), and decide.
    pub fn on_body_with<'j>(
        &mut self,
        judge: &'j Judge,
        head: &RequestHead,
        body: &[u8],
        lookups: &dyn Lookups,
    ) -> Verdict<'j> {
        let Stage::Buffering { route: index, .. } = self.stage else { return self.refuse_internal() };
        let Some(route) = judge.policy.routes.get(index) else { return self.refuse_internal() };
        let findings = route.check_body_with(head, body, judge.policy.mode, Some(lookups));
        self.on_body_findings(judge, head, findings, lookups.store())
    }

    /// What the body checks found: wait for the document one lacks, or decide.
    fn on_body_findings<'j>(
        &mut self,
        judge: &'j Judge,
        head: &RequestHead,
        mut findings: Findings,
        store: &dyn SharedStore,
    ) -> Verdict<'j> {
        let Stage::Buffering { route: index, head: found } = std::mem::take(&mut self.stage) else {
            return self.refuse_internal();
        };
        let Some(route) = judge.policy.routes.get(index) else { return self.refuse_internal() };
        if let Some(need) = findings.need.take() {
            self.stage = Stage::Fetching { route: index, found: findings, at: Waiting::Body { head: found } };
            return Verdict::fetch(need);
        }
        self.decide(judge, (index, route), head, found, findings, store)
    }

    /// The upstream answered `status`: a message forwarded under `dedupe` counts as
    /// delivered only on a 2xx, so after an upstream failure the provider's retry goes
    /// through.
    pub fn on_response(&mut self, judge: &Judge, head: &RequestHead, status: u32, store: &dyn SharedStore) {
        let Stage::Delivering { route, id } = std::mem::take(&mut self.stage) else { return };
        self.stage = Stage::Done { route: Some(route) };
        if !(200..300).contains(&status) {
            return;
        }
        if let Some(dedupe) = judge.policy.routes.get(route).and_then(|r| r.checks.dedupe.as_ref()) {
            dedupe.record(store, &id, head.now);
        }
    }

    /// The request cannot be judged (a stage out of order, its head lost): refused with
    /// a 500 in every mode, since nothing was verified. Nothing more happens to it.
    pub fn refuse_internal<'j>(&mut self) -> Verdict<'j> {
        self.stage = Stage::Done { route: self.route() };
        let Reply { status, body } = Denial::InternalError.reply();
        Verdict {
            decision: Decision::Reply { status, body, headers: vec![(CONTENT_TYPE.0, CONTENT_TYPE.1.to_string())] },
            outcome: Outcome::Denied(Denial::InternalError),
            denials: vec![Denial::InternalError],
            secrets: Vec::new(),
        }
    }

    /// Both stages are done: merge their findings and decide.
    fn decide<'j>(
        &mut self,
        judge: &'j Judge,
        (index, route): (usize, &Route),
        head: &RequestHead,
        mut all: Findings,
        mut body: Findings,
        store: &dyn SharedStore,
    ) -> Verdict<'j> {
        self.stage = Stage::Done { route: Some(index) };
        all.denials.append(&mut body.denials);
        all.secrets.append(&mut body.secrets);
        all.retry_after = all.retry_after.or(body.retry_after);
        if !all.denials.is_empty() {
            return judge.deny(Some(index), head, all, None);
        }
        if let Some(reply) = body.handshake.take() {
            // Never forwarded, never recorded for replay protection.
            return Verdict {
                decision: Decision::Handshake(reply),
                outcome: Outcome::Handshake,
                denials: Vec::new(),
                secrets: all.secrets,
            };
        }
        let (decision, outcome) = match Replay::of(route, head, body.body_message_id.as_deref(), store) {
            Replay::Seen if judge.monitor() => (judge.forward(index, Some("duplicate")), Outcome::WouldDenyDuplicate),
            Replay::Seen => {
                let headers = vec![(CONTENT_TYPE.0, CONTENT_TYPE.1.to_string())];
                (Decision::Reply { status: 200, body: DUPLICATE_BODY, headers }, Outcome::Duplicate)
            }
            Replay::New(id) => {
                self.stage = Stage::Delivering { route: index, id };
                (judge.forward(index, None), Outcome::Allowed)
            }
            Replay::NotKeyed => (judge.forward(index, None), Outcome::Allowed),
        };
        let secrets = if outcome == Outcome::Allowed { all.secrets } else { Vec::new() };
        Verdict { decision, outcome, denials: Vec::new(), secrets }
    }

    /// The body is over `max_body_bytes`: 413 (or, in monitor mode, forwarded as it is).
    fn too_large<'j>(&mut self, judge: &'j Judge, route: usize, head: &RequestHead) -> Verdict<'j> {
        self.stage = Stage::Done { route: Some(route) };
        judge.deny(Some(route), head, Findings { denials: vec![Denial::PayloadTooLarge], ..Findings::default() }, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denial::Denial::*;
    use crate::policy::Lookups;
    use crate::remote_list::ListState;
    use crate::request::Headers;
    use crate::shared::MemoryStore;
    use crate::verify::cert::PeerCertForm;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    const SECRET: &str = "s3cr3t-value";

    fn env(name: &str) -> Option<String> {
        (name == "S").then(|| SECRET.to_string())
    }

    /// A judge for a policy whose first route is `route` (any JSON members of a route).
    fn judge(top: &str, routes: &[&str]) -> Judge {
        let sep = if top.is_empty() { "" } else { "," };
        let json = format!(r#"{{"api":"v1"{sep}{top},"routes":[{}]}}"#, routes.join(","));
        Judge::new(Arc::new(crate::config::parse(json.as_bytes(), &env).unwrap()))
    }

    const WAF: &str = r#"{"name":"waf","match":{"path_prefix":"/waf"},
        "checks":{"headers":[{"name":"x-waf-token","secrets":[{"id":"t1","env":"S"}]}]}}"#;
    const LIMITED: &str = r#"{"name":"limited","match":{"path_prefix":"/limited"},
        "checks":{"rate_limit":{"requests":1,"per_seconds":60,"by":"route"}}}"#;
    const GITHUB: &str = r#"{"name":"github","match":{"path_prefix":"/github"},
        "checks":{"signature":{"scheme":"github","secrets":[{"id":"current","env":"S"}],"dedupe":{}}}}"#;

    fn head(method: &str, path: &str, extra: &[(&str, &str)]) -> RequestHead {
        let mut pairs = vec![(":method".to_string(), method.as_bytes().to_vec()), (":path".into(), path.into())];
        pairs.extend(extra.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())));
        RequestHead::from_headers(Headers::new(pairs), None, 1_700_000_000)
    }

    /// What the filter reads from Envoy, as plain data.
    struct Plain(MemoryStore);

    impl Lookups for Plain {
        fn store(&self) -> &dyn SharedStore {
            &self.0
        }
        fn list(&self, _name: &str) -> ListState {
            ListState::Unavailable { retry_after_seconds: 7 }
        }
        fn fetch_early(&self, _name: &str) {}
        fn peer_certificate(&self, _form: PeerCertForm) -> Option<Vec<u8>> {
            None
        }
    }

    /// Routing and the header stage, as the filter runs them.
    fn headers_stage<'j>(j: &'j Judge, case: &mut Case, h: &RequestHead, env: &Plain) -> Verdict<'j> {
        match case.on_routing(j, j.policy().route(h), h) {
            Err(v) => v,
            Ok(i) => {
                let findings = j.policy().routes[i].check_head(h, j.policy().mode, env);
                case.on_head(j, h, findings, &env.0)
            }
        }
    }

    fn once<'j>(j: &'j Judge, h: &RequestHead) -> Verdict<'j> {
        headers_stage(j, &mut Case::default(), h, &Plain(MemoryStore::default()))
    }

    fn json_reply(status: u32, body: &'static str, extra: &[(&'static str, &str)]) -> Decision<'static> {
        let mut headers = vec![("content-type", "application/json".to_string())];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
        Decision::Reply { status, body, headers }
    }

    fn set_verdict(value: &str) -> HeaderEdit<'static> {
        HeaderEdit::Set(VERDICT_HEADER, Cow::Owned(value.to_string()))
    }

    fn github_signature(body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn no_route_is_404_and_forwarded_unchecked_when_unmatched_is_allow() {
        let j = judge("", &[WAF]);
        let v = once(&j, &head("POST", "/elsewhere", &[]));
        assert_eq!(v.decision, json_reply(404, r#"{"error":"not_found"}"#, &[]));
        assert_eq!((v.outcome, v.denials), (Outcome::Denied(RouteNotFound), vec![RouteNotFound]));

        let allow = judge(r#""unmatched":"allow""#, &[WAF]);
        let v = once(&allow, &head("POST", "/elsewhere", &[]));
        assert_eq!((v.decision, v.outcome), (Decision::Forward(vec![]), Outcome::Unchecked));
        assert!(v.denials.is_empty());
        // Only this filter may say a request was verified.
        let v = once(&allow, &head("POST", "/elsewhere", &[(VERDICT_HEADER, "route=waf")]));
        assert_eq!(v.decision, Decision::Forward(vec![HeaderEdit::Remove(VERDICT_HEADER)]));
    }

    #[test]
    fn monitor_mode_forwards_what_no_route_takes_but_counts_it() {
        let j = judge(r#""mode":"monitor""#, &[WAF]);
        let v = once(&j, &head("POST", "/elsewhere", &[(VERDICT_HEADER, "forged")]));
        assert_eq!(v.decision, Decision::Forward(vec![HeaderEdit::Remove(VERDICT_HEADER)]));
        assert_eq!((v.outcome, v.denials), (Outcome::WouldDeny(RouteNotFound), vec![RouteNotFound]));
        assert_eq!(v.outcome.verb(), "monitor: would deny");
    }

    #[test]
    fn an_ambiguous_path_is_400_whatever_unmatched_says() {
        let j = judge(r#""unmatched":"allow""#, &[WAF]);
        let v = once(&j, &head("POST", "/a/../../waf", &[]));
        assert_eq!(v.decision, json_reply(400, r#"{"error":"bad_request"}"#, &[]));
        assert_eq!(v.outcome, Outcome::Denied(AmbiguousPath));
    }

    #[test]
    fn another_method_is_405_with_allow() {
        let j = judge("", &[WAF]);
        let v = once(&j, &head("GET", "/waf", &[]));
        assert_eq!(v.decision, json_reply(405, r#"{"error":"method_not_allowed"}"#, &[("allow", "POST")]));
        assert_eq!(v.outcome, Outcome::Denied(MethodNotAllowed));
    }

    #[test]
    fn a_header_check_refuses_before_the_body_and_monitor_forwards_with_would_deny() {
        let j = judge("", &[WAF]);
        let v = once(&j, &head("POST", "/waf", &[]));
        assert_eq!(v.decision, json_reply(401, r#"{"error":"unauthorized"}"#, &[]));
        assert_eq!((v.outcome, v.denials), (Outcome::Denied(HeaderMissing), vec![HeaderMissing]));
        assert_eq!(v.outcome.verb(), "denied");

        let j = judge(r#""mode":"monitor""#, &[WAF]);
        let v = once(&j, &head("POST", "/waf", &[("x-waf-token", "wrong")]));
        assert_eq!(
            v.decision,
            Decision::Forward(vec![
                HeaderEdit::Remove("x-waf-token"),
                set_verdict("route=waf; would_deny=header_mismatch")
            ])
        );
        assert_eq!(v.outcome, Outcome::WouldDeny(HeaderMismatch));
        assert!(v.secrets.is_empty(), "nothing counts as matched on a request that would be refused");
    }

    #[test]
    fn monitor_mode_lists_every_denial_and_names_the_first() {
        let both = r#"{"name":"both","match":{"path_prefix":"/both"},"checks":{
            "headers":[{"name":"x-a","secrets":[{"env":"S"}]},{"name":"x-b","secrets":[{"env":"S"}]}]}}"#;
        let j = judge(r#""mode":"monitor""#, &[both]);
        let v = once(&j, &head("POST", "/both", &[("x-b", "no")]));
        assert_eq!(v.denials, vec![HeaderMissing, HeaderMismatch]);
        assert_eq!(v.outcome, Outcome::WouldDeny(HeaderMissing));
        assert_eq!(v.outcome.reason(), Some("header_missing"));
    }

    #[test]
    fn a_request_that_passes_is_forwarded_with_secret_headers_stripped_and_the_verdict_set() {
        let j = judge("", &[WAF]);
        let v = once(&j, &head("POST", "/waf/x", &[("x-waf-token", SECRET), (VERDICT_HEADER, "forged")]));
        assert_eq!(
            v.decision,
            Decision::Forward(vec![
                HeaderEdit::Remove("x-waf-token"),
                HeaderEdit::Set(VERDICT_HEADER, "route=waf".into())
            ])
        );
        assert_eq!(v.outcome, Outcome::Allowed);
        assert_eq!(v.outcome.reason(), None);
        assert_eq!(v.secrets.iter().map(|s| s.secret_id.as_str()).collect::<Vec<_>>(), ["t1"]);
        // The prepared label is lent, not formatted per request.
        let Decision::Forward(edits) = v.decision else { unreachable!() };
        assert!(matches!(edits.last(), Some(HeaderEdit::Set(_, Cow::Borrowed(_)))));
    }

    #[test]
    fn rate_limited_is_429_with_retry_after() {
        let j = judge("", &[LIMITED]);
        let env = Plain(MemoryStore::default());
        let h = head("POST", "/limited", &[]);
        assert_eq!(headers_stage(&j, &mut Case::default(), &h, &env).outcome, Outcome::Allowed);
        let v = headers_stage(&j, &mut Case::default(), &h, &env);
        assert_eq!(v.decision, json_reply(429, r#"{"error":"rate_limited"}"#, &[("retry-after", "60")]));
        assert_eq!(v.outcome, Outcome::Denied(RateLimited));
    }

    #[test]
    fn a_list_never_loaded_is_503_with_its_retry_after() {
        let ips = r#"{"name":"ips","match":{"path_prefix":"/ips"},"checks":{"ip_allowlist":{
            "remote_list":{"cluster":"c","authority":"a","path":"/p"}}}}"#;
        let j = judge("", &[ips]);
        let mut h = head("POST", "/ips", &[]);
        h.client = Some("192.0.2.1:4000".parse().unwrap());
        let v = once(&j, &h);
        assert_eq!(v.decision, json_reply(503, r#"{"error":"unavailable"}"#, &[("retry-after", "7")]));
        assert_eq!(v.outcome, Outcome::Denied(ListUnavailable));
    }

    #[test]
    fn a_body_route_keeps_buffering_then_decides_on_the_body() {
        let j = judge("", &[GITHUB]);
        let env = Plain(MemoryStore::default());
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let sig = github_signature(body);
        let h = head("POST", "/github", &[("x-hub-signature-256", &sig), ("x-github-delivery", "d-1")]);
        let mut case = Case::default();
        let v = headers_stage(&j, &mut case, &h, &env);
        assert_eq!((v.decision, v.outcome), (Decision::KeepBuffering, Outcome::Pending));
        assert!(case.is_buffering());
        assert!(case.on_body_data(&j, &h, body.len()).is_none());
        let v = case.on_body(&j, &h, body, &env.0);
        assert_eq!(v.decision, Decision::Forward(vec![HeaderEdit::Set(VERDICT_HEADER, "route=github".into())]));
        assert_eq!(v.outcome, Outcome::Allowed);
        assert_eq!(v.secrets[0].secret_id, "current");
        assert!(!case.is_buffering());

        let mut case = Case::default();
        headers_stage(&j, &mut case, &h, &env);
        let v = case.on_body(&j, &h, b"tampered", &env.0);
        assert_eq!(v.decision, json_reply(401, r#"{"error":"unauthorized"}"#, &[]));
        assert_eq!(v.outcome, Outcome::Denied(SignatureMismatch));
        assert!(!case.awaits_delivery(), "a refused message is never recorded");
    }

    #[test]
    fn a_body_over_the_limit_is_413_on_its_declared_or_its_received_length() {
        let j = judge(r#""max_body_bytes":10"#, &[GITHUB]);
        let env = Plain(MemoryStore::default());
        let declared = head("POST", "/github", &[("content-length", "11")]);
        let v = headers_stage(&j, &mut Case::default(), &declared, &env);
        assert_eq!(v.decision, json_reply(413, r#"{"error":"payload_too_large"}"#, &[]));
        assert_eq!(v.outcome, Outcome::Denied(PayloadTooLarge));
        let fits = head("POST", "/github", &[("content-length", "10")]);
        assert_eq!(headers_stage(&j, &mut Case::default(), &fits, &env).decision, Decision::KeepBuffering);

        let streamed = head("POST", "/github", &[]);
        let mut case = Case::default();
        headers_stage(&j, &mut case, &streamed, &env);
        assert!(case.on_body_data(&j, &streamed, 10).is_none());
        let v = case.on_body_data(&j, &streamed, 11).unwrap();
        assert_eq!(v.outcome, Outcome::Denied(PayloadTooLarge));
        assert!(!case.is_buffering());
        assert!(case.on_body_data(&j, &streamed, 12).is_none(), "decided once");

        // Monitor: forwarded as it is, named by the size alone.
        let j = judge(r#""mode":"monitor","max_body_bytes":10"#, &[GITHUB]);
        let v = headers_stage(&j, &mut Case::default(), &declared, &env);
        assert_eq!(v.decision, Decision::Forward(vec![set_verdict("route=github; would_deny=payload_too_large")]));
        assert_eq!(v.denials, vec![PayloadTooLarge]);
    }

    #[test]
    fn a_message_delivered_with_a_2xx_is_answered_200_here_the_next_time() {
        let j = judge("", &[GITHUB]);
        let env = Plain(MemoryStore::default());
        let body = b"{}";
        let sig = github_signature(body);
        let h = head("POST", "/github", &[("x-hub-signature-256", &sig), ("x-github-delivery", "d-1")]);
        let deliver = |status: u32| {
            let mut case = Case::default();
            headers_stage(&j, &mut case, &h, &env);
            let v = case.on_body(&j, &h, body, &env.0);
            if v.outcome == Outcome::Allowed {
                assert!(case.awaits_delivery());
                case.on_response(&j, &h, status, &env.0);
            }
            v
        };
        // The upstream failed: the provider's retry must go through.
        assert_eq!(deliver(503).outcome, Outcome::Allowed);
        assert_eq!(deliver(200).outcome, Outcome::Allowed);
        let v = deliver(200);
        assert_eq!(v.decision, json_reply(200, DUPLICATE_BODY, &[]));
        assert_eq!(v.outcome, Outcome::Duplicate);
        assert_eq!(v.outcome.reason(), Some("duplicate"));
        assert!(v.secrets.is_empty() && v.denials.is_empty());

        // Monitor: forwarded again, marked.
        let m = judge(r#""mode":"monitor""#, &[GITHUB]);
        let mut case = Case::default();
        headers_stage(&m, &mut case, &h, &env);
        let v = case.on_body(&m, &h, body, &env.0);
        assert_eq!(v.decision, Decision::Forward(vec![set_verdict("route=github; would_deny=duplicate")]));
        assert_eq!(v.outcome, Outcome::WouldDenyDuplicate);
    }

    #[test]
    fn a_message_id_in_the_signed_body_keys_replay_protection() {
        // Mailgun signs `<timestamp><token>` and sends all three in the JSON body.
        const MAILGUN: &str = r#"{"name":"mailgun","match":{"path_prefix":"/mailgun"},
            "checks":{"signature":{"scheme":"mailgun","secrets":[{"env":"S"}],"dedupe":{}}}}"#;
        let j = judge("", &[MAILGUN]);
        let env = Plain(MemoryStore::default());
        let h = head("POST", "/mailgun", &[("content-type", "application/json")]);
        let body = |token: &str, key: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(format!("1700000000{token}").as_bytes());
            let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
            format!(
                r#"{{"signature":{{"timestamp":"1700000000","token":"{token}","signature":"{sig}"}},"event-data":{{}}}}"#
            )
        };
        let deliver = |body: &str| {
            let mut case = Case::default();
            headers_stage(&j, &mut case, &h, &env);
            let v = case.on_body(&j, &h, body.as_bytes(), &env.0);
            if v.outcome == Outcome::Allowed {
                case.on_response(&j, &h, 200, &env.0);
            }
            v.outcome
        };
        assert_eq!(deliver(&body("tok-1", SECRET)), Outcome::Allowed);
        assert_eq!(deliver(&body("tok-1", SECRET)), Outcome::Duplicate);
        assert_eq!(deliver(&body("tok-2", SECRET)), Outcome::Allowed);
        // A forged message reusing a delivered token is refused, not answered as a replay.
        assert_eq!(deliver(&body("tok-1", "not-the-key")), Outcome::Denied(SignatureMismatch));
    }

    #[test]
    fn a_verified_handshake_is_answered_here_and_never_recorded_for_replay() {
        const META: &str = r#"{"name":"meta","match":{"path_prefix":"/meta"},
            "checks":{"signature":{"scheme":"meta","secrets":[{"env":"S"}],"verify_token":{"value":"vt-1"},"dedupe":{}}}}"#;
        for top in ["", r#""mode":"monitor""#] {
            let j = judge(top, &[META]);
            let env = Plain(MemoryStore::default());
            let h = head("GET", "/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token=vt-1", &[]);
            let mut case = Case::default();
            assert_eq!(headers_stage(&j, &mut case, &h, &env).decision, Decision::KeepBuffering);
            let v = case.on_body(&j, &h, b"", &env.0);
            assert_eq!(v.outcome, Outcome::Handshake, "{top}");
            match &v.decision {
                Decision::Handshake(reply) => {
                    assert_eq!((reply.content_type, reply.body.as_str()), ("text/plain", "42"))
                }
                other => panic!("{other:?}"),
            }
            assert!(!case.awaits_delivery(), "a handshake is not a delivery");
        }
        // A wrong token is refused like a forged signature.
        let j = judge("", &[META]);
        let env = Plain(MemoryStore::default());
        let h = head("GET", "/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token=guess", &[]);
        let mut case = Case::default();
        headers_stage(&j, &mut case, &h, &env);
        let v = case.on_body(&j, &h, b"", &env.0);
        assert_eq!(v.outcome, Outcome::Denied(SignatureMismatch));
        assert_eq!(v.decision, json_reply(401, r#"{"error":"unauthorized"}"#, &[]));
    }
}
