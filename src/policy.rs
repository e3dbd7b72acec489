//! The compiled policy: routes, matching, and the evaluation of a route's checks.

use crate::denial::Denial;
use crate::request::RequestHead;
use crate::verify::headers::SecretHeader;
use crate::verify::ip::IpAllowlist;
use crate::verify::jwt::JwtCheck;
use crate::verify::signature::SignatureCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse requests that fail a check.
    Enforce,
    /// Run every check, log and count what would be refused, forward everything.
    Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    Allow,
    Deny,
}

#[derive(Debug)]
pub struct Policy {
    pub mode: Mode,
    pub max_body_bytes: u64,
    pub unmatched: Unmatched,
    pub routes: Vec<Route>,
}

#[derive(Debug)]
pub enum Matcher {
    Prefix(String),
    Exact(String),
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub matcher: Matcher,
    /// Lower-case host without port; `None` matches any host.
    pub host: Option<String>,
    /// Upper-case methods.
    pub methods: Vec<String>,
    pub checks: Checks,
}

#[derive(Debug, Default)]
pub struct Checks {
    pub ip_allowlist: Option<IpAllowlist>,
    pub headers: Vec<SecretHeader>,
    pub jwt: Option<JwtCheck>,
    pub signature: Option<SignatureCheck>,
}

impl Checks {
    pub fn is_empty(&self) -> bool {
        self.ip_allowlist.is_none() && self.headers.is_empty() && self.jwt.is_none() && self.signature.is_none()
    }
}

/// Which route a request belongs to.
#[derive(Debug, PartialEq, Eq)]
pub enum Routing {
    Route(usize),
    /// Some route has this path, none allows this method: `Allow` lists the methods.
    MethodNotAllowed {
        allow: String,
    },
    NotFound,
}

/// A secret that verified a request: counted as `secret.<id>.matched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    pub check: &'static str,
    pub secret_id: String,
}

/// What a stage of checks found. In enforce mode evaluation stops at the first denial;
/// in monitor mode every check runs and every denial is listed.
#[derive(Debug, Default)]
pub struct Findings {
    pub denials: Vec<Denial>,
    pub secrets: Vec<SecretUse>,
}

impl Findings {
    fn record(&mut self, check: &'static str, result: Result<&str, Denial>) {
        match result {
            Ok(id) => self.secrets.push(SecretUse { check, secret_id: id.to_string() }),
            Err(d) => self.denials.push(d),
        }
    }
}

impl Policy {
    pub fn route(&self, head: &RequestHead) -> Routing {
        let host = if self.routes.iter().any(|r| r.host.is_some()) { Some(head.host()) } else { None };
        let mut allow: Vec<&str> = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let path_ok = match &r.matcher {
                Matcher::Prefix(p) => head.path.starts_with(p.as_str()),
                Matcher::Exact(p) => head.path == *p,
            };
            let host_ok = match (&r.host, &host) {
                (Some(want), Some(got)) => want == got,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if !(path_ok && host_ok) {
                continue;
            }
            if r.methods.contains(&head.method) {
                return Routing::Route(i);
            }
            for m in &r.methods {
                if !allow.contains(&m.as_str()) {
                    allow.push(m);
                }
            }
        }
        if allow.is_empty() {
            Routing::NotFound
        } else {
            Routing::MethodNotAllowed { allow: allow.join(", ") }
        }
    }
}

impl Route {
    /// Whether any check of this route reads the body (so it must be buffered).
    pub fn needs_body(&self) -> bool {
        self.checks.signature.is_some()
    }

    /// Ids of every secret of this route's checks (for metrics declared up front).
    pub fn secret_ids(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        for h in &self.checks.headers {
            ids.extend(h.secret_ids());
        }
        if let Some(j) = &self.checks.jwt {
            ids.extend(j.secret_ids());
        }
        if let Some(s) = &self.checks.signature {
            ids.extend(s.secret_ids());
        }
        ids
    }

    /// The checks that need only the headers, cheapest first (SPEC 2.2).
    pub fn check_head(&self, head: &RequestHead, mode: Mode) -> Findings {
        let mut f = Findings::default();
        let go_on = |f: &Findings| mode == Mode::Monitor || f.denials.is_empty();
        if let Some(ip) = &self.checks.ip_allowlist {
            if let Err(d) = ip.verify(head.client.map(|a| a.ip()), None) {
                f.denials.push(d);
            }
        }
        for h in &self.checks.headers {
            if !go_on(&f) {
                return f;
            }
            f.record("header", h.verify(&head.headers, head.now));
        }
        if let Some(jwt) = &self.checks.jwt {
            if !go_on(&f) {
                return f;
            }
            f.record("jwt", jwt.verify(&head.headers, head.now));
        }
        f
    }

    /// Secret headers that must not reach the upstream.
    pub fn headers_to_strip(&self) -> impl Iterator<Item = &str> {
        self.checks.headers.iter().filter(|h| h.strip).map(|h| h.name.as_str())
    }

    /// The checks that need the exact body bytes.
    pub fn check_body(&self, head: &RequestHead, body: &[u8], mode: Mode) -> Findings {
        let mut f = Findings::default();
        if let Some(sig) = &self.checks.signature {
            f.record("signature", sig.verify(head, body));
        }
        let _ = mode;
        f
    }
}
