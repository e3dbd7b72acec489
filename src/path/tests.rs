use super::*;
use crate::config;
use crate::policy::{Policy, Routing};
use crate::request::{Headers, RequestHead};

fn strs(path: &str) -> Result<Vec<String>, Unreadable> {
    readings(path.as_bytes()).map(|v| v.into_iter().map(|r| String::from_utf8(r).unwrap()).collect())
}

#[test]
fn plain_paths_take_the_fast_path() {
    for p in ["/", "/hooks/github", "/Hooks/GitHub", "/a/b.json", "/a/b./c..", "/a-b_c~d/e=f,g+h:@!$&'()*"] {
        assert!(is_plain(p.as_bytes()), "{p}");
    }
    for p in [
        "*",
        "",
        "hooks",
        "/a/.well-known",
        "//hooks",
        "/hooks//github",
        "/hooks/./github",
        "/hooks/../github",
        "/hooks/github/.",
        "/hooks/github/..",
        "/hooks%2Fgithub",
        "/hooks\\github",
        "/hooks;x/github",
        "/hooks/git\u{131}hub",
        "/a b",
        "/a#b",
        "/a\tb",
        "/a\x7f",
        ".",
        "..",
    ] {
        assert!(!is_plain(p.as_bytes()), "{p:?}");
    }
}

#[test]
fn readings_table() {
    // (path as sent, readings that must be among its readings)
    let table: &[(&str, &[&str])] = &[
        ("/hooks/github", &["/hooks/github"]),
        ("/hooks%2Fgithub", &["/hooks%2Fgithub", "/hooks/github"]),
        ("/hooks%2fgithub", &["/hooks/github"]),
        ("/hooks/git%48ub", &["/hooks/gitHub"]),
        ("/hooks%5Cgithub", &["/hooks\\github", "/hooks/github"]),
        ("/hooks\\github", &["/hooks\\github", "/hooks/github"]),
        ("//hooks//github", &["//hooks//github", "/hooks/github"]),
        ("/x/../hooks/github", &["/x/../hooks/github", "/hooks/github"]),
        ("/hooks/./github", &["/hooks/github"]),
        ("/hooks/%2e/github", &["/hooks/github"]),
        ("/x/%2E%2e/hooks/github", &["/hooks/github"]),
        ("/x/.%2e/hooks/github", &["/hooks/github"]),
        ("/hooks/github/x/..", &["/hooks/github/"]),
        ("/hooks/github/.", &["/hooks/github/"]),
        ("/hooks;x/github", &["/hooks;x/github", "/hooks/github"]),
        ("/x/..;/hooks/github", &["/hooks/github"]),
        ("/hooks/github;jsessionid=1", &["/hooks/github"]),
        ("/hooks%3Bx/github", &["/hooks;x/github", "/hooks/github"]),
        ("/hooks%252Fgithub", &["/hooks%252Fgithub", "/hooks%2Fgithub", "/hooks/github"]),
        ("/hooks/github%3Fx", &["/hooks/github?x", "/hooks/github"]),
        ("/hooks/github%23x", &["/hooks/github"]),
        ("/x\\..\\hooks\\github", &["/hooks/github"]),
        ("/x%2F..%2Fhooks/github", &["/x%2F..%2Fhooks/github", "/x/../hooks/github", "/hooks/github"]),
        // Dots resolved without merging, and after merging.
        ("/hooks/github//../x", &["/hooks/github/x", "/hooks/x"]),
        ("/a%20b", &["/a b"]),
        ("/caf%C3%A9", &["/caf\u{e9}"]),
        ("/", &["/"]),
        ("/.", &["/"]),
    ];
    for (path, want) in table {
        let got = strs(path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(got.first().map(String::as_str), Some(*path), "the path as sent comes first");
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{path}: no reading {w:?} in {got:?}");
        }
    }
}

#[test]
fn unreadable_paths_are_refused() {
    let table: &[(&[u8], Unreadable)] = &[
        (b"/hooks/github%", Unreadable::BadEscape),
        (b"/hooks/github%4", Unreadable::BadEscape),
        (b"/hooks/github%zz", Unreadable::BadEscape),
        (b"/hooks/%u0067ithub", Unreadable::BadEscape),
        (b"/hooks/github%00", Unreadable::ControlByte),
        (b"/hooks/github%0a", Unreadable::ControlByte),
        (b"/hooks/github%7F", Unreadable::ControlByte),
        (b"/hooks/github%2500", Unreadable::ControlByte),
        (b"/hooks/github\x00", Unreadable::ControlByte),
        (b"/hooks/github\r", Unreadable::ControlByte),
        (b"/hooks/git hub", Unreadable::ControlByte),
        (b"/hooks/github#frag", Unreadable::ControlByte),
        (b"/hooks%C0%AFgithub", Unreadable::NotUtf8),
        (b"/hooks/github%ff", Unreadable::NotUtf8),
        (b"/hooks/git\xffhub", Unreadable::NotUtf8),
        (b"/hooks/git\xef\xbf\xbdhub", Unreadable::NotUtf8),
        (b"/hooks/git%EF%BF%BDhub", Unreadable::NotUtf8),
        (b"/hooks%25252Fgithub", Unreadable::EncodedThrice),
        (b"/../hooks/github", Unreadable::AboveRoot),
        (b"/hooks/../../github", Unreadable::AboveRoot),
        (b"/%2e%2e/hooks/github", Unreadable::AboveRoot),
        (b"/x%2F..%2F..%2Fhooks", Unreadable::AboveRoot),
        (b"/x\\..\\..\\hooks", Unreadable::AboveRoot),
        // Above the root only once `//` is merged.
        (b"/a//../..", Unreadable::AboveRoot),
    ];
    for (path, want) in table {
        assert_eq!(readings(path), Err(*want), "{}", String::from_utf8_lossy(path));
    }
    let long = format!("/hooks/github/{}%41", "a".repeat(MAX_READ_LEN));
    assert_eq!(readings(long.as_bytes()), Err(Unreadable::TooLong));
    assert!(readings(&long.as_bytes()[..MAX_READ_LEN]).is_ok());
}

#[test]
fn matcher_table() {
    use Hit::*;
    // (route path, exact, case_sensitive, reading, hit)
    let table: &[(&str, bool, bool, &str, Hit)] = &[
        ("/hooks/github", false, false, "/hooks/github", Yes),
        ("/hooks/github", false, false, "/HOOKS/GitHub", Yes),
        ("/hooks/github", false, false, "/hooks/github/push", Yes),
        ("/hooks/github", false, false, "/hooks/githubx", Yes),
        ("/hooks/github", false, false, "/hooks/git", No),
        ("/hooks/github", false, true, "/HOOKS/GitHub", No),
        ("/Hooks/GitHub", false, true, "/Hooks/GitHub/x", Yes),
        ("/Hooks/GitHub", false, true, "/hooks/github", No),
        ("/hooks/", false, false, "/hooks", Yes),
        ("/hooks/", false, false, "/hooksx", No),
        ("/hooks/exact", true, false, "/hooks/exact", Yes),
        ("/hooks/exact", true, false, "/Hooks/Exact/", Yes),
        ("/hooks/exact", true, false, "/hooks/exact//", Yes),
        ("/hooks/exact/", true, false, "/hooks/exact", Yes),
        ("/hooks/exact", true, false, "/hooks/exact/more", No),
        ("/hooks/exact", true, false, "/hooks/exac", No),
        ("/", true, false, "/", Yes),
        ("/", true, false, "//", Yes),
        ("/", true, false, "/a", No),
        // Non-ASCII letters Unicode folding turns into ASCII.
        ("/hooks/github", false, false, "/hooks/g\u{131}thub", Maybe),
        ("/hooks/github", false, false, "/hoo\u{212a}s/github", Maybe),
        ("/hooks/github", false, false, "/hook\u{17f}/github", Maybe),
        ("/hooks/github", false, false, "/hooks/gith\u{fb00}", Maybe),
        ("/hooks/github", true, false, "/hooks/\u{fb03}", No),
        ("/hooks/stuff", true, false, "/hooks/\u{df}tu\u{fb00}", Maybe),
        ("/hooks/github", false, true, "/hooks/g\u{131}thub", No),
        // After the prefix, or too far from the route's path: no doubt.
        ("/hooks/github", false, false, "/hooks/github/caf\u{e9}", Yes),
        ("/hooks/github", false, false, "/caf\u{e9}", No),
        ("/hooks/github", false, false, "/\u{fc}ber/github", No),
        ("/hooks/github", false, false, "/\u{65e5}\u{672c}/x", No),
    ];
    for (pat, exact, cs, reading, want) in table {
        let m = Matcher::compile(pat, *exact, *cs).unwrap();
        assert_eq!(m.test(reading.as_bytes(), reading.is_ascii()), *want, "{pat} exact={exact} cs={cs} vs {reading:?}");
    }
}

#[test]
fn route_paths_must_be_plain() {
    let table: &[(&str, &str)] = &[
        ("hooks", "must start with '/'"),
        ("/hooks?x=1", "holds '?'"),
        ("/hooks#x", "holds '#'"),
        ("/hooks%2Fgithub", "holds '%'"),
        ("/hooks\\github", "holds '\\'"),
        ("/hooks;x", "holds ';'"),
        ("/hooks/git hub", "holds a space"),
        ("/hooks/caf\u{e9}", "non-ASCII"),
        ("/hooks//github", "holds `//`"),
        ("/hooks/./github", "`.`/`..` segment"),
        ("/hooks/../github", "`.`/`..` segment"),
        ("/hooks/..", "`.`/`..` segment"),
    ];
    for (p, want) in table {
        let e = Matcher::compile(p, false, false).unwrap_err();
        assert!(e.contains(want), "{p}: {e}");
    }
    assert_eq!(Matcher::compile("/Hooks/GitHub", false, false).unwrap().path(), "/hooks/github");
    assert_eq!(Matcher::compile("/Hooks/GitHub", false, true).unwrap().path(), "/Hooks/GitHub");
    assert_eq!(Matcher::compile("/hooks/exact/", true, false).unwrap().path(), "/hooks/exact");
    assert_eq!(Matcher::compile("/", true, false).unwrap().path(), "/");
    assert_eq!(Matcher::compile("/hooks/", false, false).unwrap().path(), "/hooks/");
}

#[test]
fn hosts_compare_without_port_case_or_trailing_dot() {
    for (raw, want) in [
        ("Hooks.Example.com", "hooks.example.com"),
        ("hooks.example.com.", "hooks.example.com"),
        ("HOOKS.example.com.:8443", "hooks.example.com"),
        ("[::1]:10000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("hooks.example.test:abc", "hooks.example.test"),
    ] {
        assert_eq!(host_key(raw.as_bytes()), want, "{raw}");
    }
}

// ---- routing a request under every reading ------------------------------------------

const SIG: &str = r#"{"signature":{"scheme":"github","secrets":[{"value":"s"}]}}"#;

pub(crate) fn policy() -> Policy {
    policy_of(&[
        (r#"{"path_prefix":"/hooks/github"}"#, "github"),
        (r#"{"path_exact":"/hooks/exact","methods":["POST","PUT"]}"#, "exact"),
        (r#"{"path_prefix":"/Case/Sensitive","case_sensitive":true}"#, "case"),
        (r#"{"path_prefix":"/hosted","host":"Hooks.Example.test."}"#, "hosted"),
        (r#"{"path_exact":"/get-only","methods":["GET"]}"#, "get_only"),
    ])
}

/// A policy with these routes: (`match` object, name).
pub(crate) fn policy_of(routes: &[(&str, &str)]) -> Policy {
    let routes: Vec<String> =
        routes.iter().map(|(m, name)| format!(r#"{{"name":"{name}","match":{m},"checks":{SIG}}}"#)).collect();
    let json = format!(r#"{{"api":"v1","routes":[{}]}}"#, routes.join(","));
    config::parse(json.as_bytes(), &|_| None).unwrap()
}

pub(crate) fn request(method: &str, path: &[u8], host: &str) -> RequestHead {
    let h = Headers::new(vec![
        (":method".into(), method.as_bytes().to_vec()),
        (":path".into(), path.to_vec()),
        (":authority".into(), host.as_bytes().to_vec()),
    ]);
    RequestHead::from_headers(h, None, 0)
}

/// The route name a request reaches, or what else routing says.
pub(crate) fn routed(p: &Policy, head: &RequestHead) -> String {
    match p.route(head) {
        Routing::Route(i) => p.routes[i].name.clone(),
        Routing::MethodNotAllowed { allow } => format!("405 {allow}"),
        Routing::NotFound => "404".into(),
        Routing::Ambiguous => "400".into(),
    }
}

#[test]
fn every_spelling_of_a_route_reaches_it() {
    let p = policy();
    let table: &[(&str, &str, &str)] = &[
        ("POST", "/hooks/github", "github"),
        ("POST", "/hooks/github?x=1", "github"),
        ("POST", "/Hooks/github", "github"),
        ("POST", "/HOOKS/GITHUB", "github"),
        ("POST", "/hooks/git%48ub", "github"),
        ("POST", "/hooks%2Fgithub", "github"),
        ("POST", "/hooks%2fgithub", "github"),
        ("POST", "/hooks%5Cgithub", "github"),
        ("POST", "/hooks\\github", "github"),
        ("POST", "//hooks/github", "github"),
        ("POST", "/hooks//github", "github"),
        ("POST", "/x/../hooks/github", "github"),
        ("POST", "/x/%2e%2e/hooks/github", "github"),
        ("POST", "/hooks/./github", "github"),
        ("POST", "/hooks/github/../github", "github"),
        ("POST", "/hooks;x/github", "github"),
        ("POST", "/x/..;/hooks/github", "github"),
        ("POST", "/hooks/github/", "github"),
        ("POST", "/hooks/github%3F", "github"),
        ("POST", "/%68ooks/github", "github"),
        ("POST", "/hooks/exact", "exact"),
        ("PUT", "/hooks/exact/", "exact"),
        ("POST", "/HOOKS/EXACT", "exact"),
        ("POST", "/hooks/exact;v=1", "exact"),
        // Decoded and cut at `?` or `#` it is the route; decoded only, it is no route, which
        // `unmatched: deny` does not let through.
        ("POST", "/hooks/exact%3Fx", "400"),
        ("POST", "/hooks/exact%23x", "400"),
        ("POST", "/Case/Sensitive/x", "case"),
        // Readings of another path.
        ("POST", "/public/page", "404"),
        ("POST", "/public%2Fpage", "404"),
        ("POST", "/caf%C3%A9", "404"),
        ("GET", "/hooks/github", "405 POST"),
        ("GET", "/hooks//github", "405 POST"),
        ("DELETE", "/HOOKS/EXACT/", "405 POST, PUT"),
        // Unreadable.
        ("POST", "/hooks/github%00", "400"),
        ("POST", "/hooks/github%zz", "400"),
        ("POST", "/../hooks/github", "400"),
        ("POST", "/hooks%C0%AFgithub", "400"),
        ("POST", "/hooks\u{fffd}github", "400"),
        ("POST", "/hooks/g\u{131}thub", "400"),
        ("POST", "/hooks/g%C4%B1thub", "400"),
        // Decoded, `get_only`'s path (with another method); as sent, `github`'s.
        ("POST", "/hooks/github/..%2F..%2Fget-only", "400"),
        // Case-sensitive routes match only as written.
        ("POST", "/case/sensitive/x", "404"),
        ("POST", "/CASE/SENSITIVE", "404"),
        ("POST", "/Case%2FSensitive", "case"),
    ];
    for (method, path, want) in table {
        let got = routed(&p, &request(method, path.as_bytes(), "example.test"));
        assert_eq!(got, *want, "{method} {path}");
    }
    // Long plain paths are read as they are; long paths that need reading are refused.
    let long = format!("/hooks/github/{}", "a".repeat(3 * MAX_READ_LEN));
    assert_eq!(routed(&p, &request("POST", long.as_bytes(), "h")), "github");
    assert_eq!(routed(&p, &request("POST", format!("{long}%41").as_bytes(), "h")), "400");
}

#[test]
fn hosts_match_without_port_case_or_trailing_dot() {
    let p = policy();
    for host in ["hooks.example.test", "HOOKS.Example.Test", "hooks.example.test.", "hooks.example.test:8443"] {
        assert_eq!(routed(&p, &request("POST", b"/hosted", host)), "hosted", "{host}");
        assert_eq!(routed(&p, &request("POST", b"/Hosted%2F", host)), "hosted", "{host}");
    }
    for host in ["other.example.test", "hooks.example.test.evil", "xhooks.example.test"] {
        assert_eq!(routed(&p, &request("POST", b"/hosted", host)), "404", "{host}");
    }
    // A `host` header that names the route's host, beside another `:authority`.
    let h = Headers::new(vec![
        (":method".into(), b"POST".to_vec()),
        (":path".into(), b"/hosted".to_vec()),
        (":authority".into(), b"other.example.test".to_vec()),
        ("host".into(), b"hooks.example.test".to_vec()),
    ]);
    assert_eq!(routed(&p, &RequestHead::from_headers(h, None, 0)), "hosted");
    // Repeated `Host` headers (Envoy joins them with `,`) and userinfo.
    for host in ["other.example.test,hooks.example.test", "hooks.example.test, other", "user@Hooks.Example.Test:80"] {
        assert_eq!(routed(&p, &request("POST", b"/hosted", host)), "hosted", "{host}");
    }
    // Names that reach different routes.
    let p = policy_of(&[
        (r#"{"path_prefix":"/x","host":"a.test"}"#, "a"),
        (r#"{"path_prefix":"/x","host":"b.test"}"#, "b"),
        (r#"{"path_prefix":"/y"}"#, "y"),
    ]);
    assert_eq!(routed(&p, &request("POST", b"/x", "a.test")), "a");
    assert_eq!(routed(&p, &request("POST", b"/x", "B.test.")), "b");
    assert_eq!(routed(&p, &request("POST", b"/x", "a.test,b.test")), "400");
    assert_eq!(routed(&p, &request("POST", b"/x", "a.test,c.test")), "a");
    assert_eq!(routed(&p, &request("POST", b"/y", "a.test,b.test")), "y");
}

#[test]
fn readings_that_reach_different_routes_are_refused() {
    // Routes are tried in order; a catch-all after the specific route.
    let p = policy_of(&[
        (r#"{"path_prefix":"/hooks/github"}"#, "github"),
        (r#"{"path_prefix":"/hooks/"}"#, "hooks"),
        (r#"{"path_exact":"/get-only","methods":["GET"]}"#, "get_only"),
    ]);
    let table: &[(&str, &str, &str)] = &[
        ("POST", "/hooks/github", "github"),
        ("POST", "/HOOKS/GitHub//x", "github"),
        ("POST", "/hooks/other", "hooks"),
        ("POST", "/hooks", "hooks"),
        ("POST", "/hooks/other%2Fx", "hooks"),
        // As sent `hooks`, decoded `github`: each route has its own checks.
        ("POST", "/hooks/git%48ub", "400"),
        ("POST", "/hooks%2Fgithub", "github"),
        ("POST", "/hooks/x/../github", "400"),
        ("POST", "/hooks/github/../x", "400"),
        // As sent `hooks`; decoded the path of `get_only`, which does not take POST.
        ("POST", "/hooks/..%2Fget-only", "400"),
        ("GET", "/hooks/..%2Fget-only", "400"),
        ("GET", "/get-only", "get_only"),
        ("GET", "/x/../get-only", "get_only"),
        ("POST", "/get-only", "405 GET"),
    ];
    for (method, path, want) in table {
        let got = routed(&p, &request(method, path.as_bytes(), "example.test"));
        assert_eq!(got, *want, "{method} {path}");
    }
}

// ---- properties ---------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Bytes with the characters path readings care about over-represented.
    fn path_bytes() -> impl Strategy<Value = Vec<u8>> {
        let interesting = prop::sample::select(&b"/\\.;%2fFeE5cC0?#aA\x00\xc4\xb1\xff"[..]);
        prop::collection::vec(prop_oneof![3 => interesting, 1 => any::<u8>()], 0..80)
    }

    /// A canonical route path and a random spelling of it, built from a tape of choices.
    fn spell(segs: &[String], tape: &[u8]) -> String {
        let canonical = format!("/{}", segs.join("/"));
        let mut tape = tape.iter().copied().cycle();
        let mut next = move || tape.next().unwrap_or(0);
        let mut out = String::new();
        for (i, c) in canonical.chars().enumerate() {
            if c == '/' {
                let choices: &[&str] = if i == 0 {
                    &["/", "//", "/./", "/zz/../"]
                } else {
                    &["/", "//", "/./", "/zz/../", "\\", "%2F", "%2f", "%5C", "/;p=1/", "/%2e/", "/zz/%2E%2e/"]
                };
                out.push_str(choices[next() as usize % choices.len()]);
            } else {
                match next() % 4 {
                    0 => out.push(c),
                    1 => out.push(c.to_ascii_uppercase()),
                    2 => out.push_str(&format!("%{:02X}", c as u32)),
                    _ => out.push_str(&format!("%{:02x}", c as u32)),
                }
            }
        }
        let tail: &[&str] = &["", "/", "?x=1", "/?y", ";v=2"];
        out.push_str(tail[next() as usize % tail.len()]);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn reading_and_routing_never_panic(path in path_bytes(), method in "[A-Z]{3,6}") {
            let _ = readings(&path);
            let _ = is_plain(&path);
            let _ = routed(&policy(), &request(&method, &path, "example.test"));
        }

        #[test]
        fn a_plain_path_reads_only_as_sent(path in "/[a-zA-Z0-9/._~-]{0,40}") {
            // The fast path may skip reading a plain path only because reading it would
            // give nothing else.
            if is_plain(path.as_bytes()) {
                let all = readings(path.as_bytes()).unwrap();
                prop_assert!(all.iter().all(|r| r == path.as_bytes()), "{} -> {:?}", path, all);
            }
        }

        #[test]
        fn every_spelling_reaches_the_route_or_is_refused(
            segs in prop::collection::vec("[a-z0-9]{1,6}", 1..4),
            tape in prop::collection::vec(any::<u8>(), 1..64),
            exact in any::<bool>(),
        ) {
            let canonical = format!("/{}", segs.join("/"));
            let kind = if exact { "path_exact" } else { "path_prefix" };
            let route = format!(r#"{{"{kind}":"{canonical}"}}"#);
            // Decoys: a sibling, a catch-all after the route, and one before it that
            // only a different path reaches.
            let p = policy_of(&[
                (r#"{"path_prefix":"/decoy/first"}"#, "first"),
                (&route, "target"),
                (r#"{"path_prefix":"/zz/sibling"}"#, "sibling"),
                (r#"{"path_prefix":"/"}"#, "catch_all"),
            ]);
            prop_assert_eq!(routed(&p, &request("POST", canonical.as_bytes(), "h")), "target");
            let variant = spell(&segs, &tape);
            let got = routed(&p, &request("POST", variant.as_bytes(), "h"));
            prop_assert!(got == "target" || got == "400", "{} -> {}", variant, got);
            // Without the catch-all, a spelling is never let through unmatched.
            let p = policy_of(&[(&route, "target"), (r#"{"path_prefix":"/zz/sibling"}"#, "sibling")]);
            let got = routed(&p, &request("POST", variant.as_bytes(), "h"));
            prop_assert!(got == "target" || got == "400", "{} -> {}", variant, got);
        }
    }
}

#[test]
fn with_unmatched_deny_the_normal_form_must_reach_the_route_too() {
    let routes = [(r#"{"path_prefix":"/hooks/github"}"#, "github")];
    let allow = {
        let mut p = policy_of(&routes);
        p.unmatched = crate::policy::Unmatched::Allow;
        p
    };
    let deny = policy_of(&routes);
    let table: &[(&str, &str, &str)] = &[
        // (path, with allow, with deny)
        ("/hooks/github", "github", "github"),
        ("/hooks%2Fgithub", "github", "github"),
        ("/HOOKS/x/../github", "github", "github"),
        ("/hooks;x/github", "github", "github"),
        ("/hooks/github/..%2F..%2Fadmin", "github", "400"),
        ("/hooks/github/..\\..\\admin", "github", "400"),
        ("/hooks/github/../../admin", "github", "400"),
        ("/hooks/github;/../../admin", "github", "400"),
        ("/admin", "404", "404"),
        ("/admin/..%2Fhooks/github", "github", "github"),
    ];
    for (path, want_allow, want_deny) in table {
        assert_eq!(routed(&allow, &request("POST", path.as_bytes(), "h")), *want_allow, "allow {path}");
        assert_eq!(routed(&deny, &request("POST", path.as_bytes(), "h")), *want_deny, "deny {path}");
    }
}
