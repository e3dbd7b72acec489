//! A callout for the filter to dispatch: a list fetch (built by the refresh) or a login
//! (built by the login).

use std::fmt;
use std::time::Duration;

/// A callout to dispatch: a list fetch, or a login. `Debug` names the headers but never
/// prints their values, the token or the body.
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    /// `:method`, `:path`, `:authority`, `accept` (unless configured), then the configured headers.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `Bearer <token>` from the login, sent as `authorization`.
    pub authorization: Option<String>,
    /// The login's JSON body (credentials).
    pub body: Option<&'a [u8]>,
    pub timeout: Duration,
}

impl FetchRequest<'_> {
    /// Every header to send, the authorization included.
    pub fn all_headers(&self) -> Vec<(&str, &str)> {
        let mut all = self.headers.clone();
        if let Some(a) = &self.authorization {
            all.push(("authorization", a));
        }
        all
    }
}

impl fmt::Debug for FetchRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.all_headers().iter().map(|(n, _)| *n).collect();
        f.debug_struct("FetchRequest")
            .field("cluster", &self.cluster)
            .field("headers", &names)
            .field("body_bytes", &self.body.map(<[u8]>::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}
