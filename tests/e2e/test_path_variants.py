"""Route matching under every reading of the path (SPEC 2.2a), against a real Envoy with
and without the HttpConnectionManager's own normalisation (`normalize_path`,
`merge_slashes`; `path_with_escaped_slashes_action` left at its default, which keeps
`%2F` and `%5C`), with `unmatched: allow` and `deny`.

Every spelling an application might read as a guarded route is checked as that route
(401 unsigned, 200 signed), the upstream gets the request with the path Envoy gave the
filter (exactly as sent when Envoy does not normalise), and paths that cannot be read
one way get 400 and reach nothing."""

from __future__ import annotations

import pytest

import harness
import signing

SECRET = "path-variants-e2e-secret-4d3c2b"
ENV = {"GH_SECRET": SECRET}
SIG = {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}
BODY = b'{"zen":"Keep it logically awesome."}'

RAW_HCM = {"normalize_path": False, "merge_slashes": False}


def policy(unmatched: str) -> dict:
    return {
        "api": "v1",
        "unmatched": unmatched,
        "routes": [
            {"name": "github", "match": {"path_prefix": "/hooks/github"}, "checks": SIG},
            {"name": "exact", "match": {"path_exact": "/hooks/exact"}, "checks": SIG},
            {"name": "case", "match": {"path_prefix": "/Case/Only", "case_sensitive": True}, "checks": SIG},
            {"name": "hosted", "match": {"path_prefix": "/hosted", "host": "hooks.example.test"}, "checks": SIG},
            # A specific route, then a catch-all over it with the same check: a path that
            # reads as one and as the other is refused.
            {"name": "special", "match": {"path_prefix": "/api/special"}, "checks": SIG},
            {"name": "api", "match": {"path_prefix": "/api/"}, "checks": SIG},
        ],
    }


@pytest.fixture(scope="module", params=["normalised-allow", "normalised-deny", "raw-allow", "raw-deny"])
def envoy(request, envoy_factory):
    hcm, unmatched = request.param.split("-")
    e = envoy_factory.start(policy(unmatched), ENV, name=request.param,
                            hcm_options=RAW_HCM if hcm == "raw" else None)
    e.normalised = hcm == "normalised"
    e.unmatched = unmatched
    return e


def signed() -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), *signing.github(SECRET, BODY)]


def unsigned() -> list[tuple[str, str]]:
    return [("Content-Type", "application/json")]


# (path as sent, the path Envoy hands on when it normalises). Envoy decodes escaped
# unreserved characters, turns `\` into `/`, merges slashes and resolves dot segments;
# it keeps `%2F`, `%5C`, `;` and case. The filter sees what Envoy hands on and must
# route every one of these as `/hooks/github`.
GITHUB_SPELLINGS = [
    ("/Hooks/github", "/Hooks/github"),
    ("/HOOKS/GITHUB", "/HOOKS/GITHUB"),
    ("/hooks%2Fgithub", "/hooks%2Fgithub"),
    ("/hooks%2fgithub", "/hooks%2fgithub"),
    ("/hooks/git%48ub", "/hooks/gitHub"),
    ("/%68ooks/github", "/hooks/github"),
    ("/hooks%5Cgithub", "/hooks%5Cgithub"),
    ("/hooks\\github", "/hooks/github"),
    ("//hooks/github", "/hooks/github"),
    ("/hooks//github", "/hooks/github"),
    ("/x/../hooks/github", "/hooks/github"),
    ("/hooks/./github", "/hooks/github"),
    ("/hooks/github/../github", "/hooks/github"),
    ("/x/%2e%2e/hooks/github", "/hooks/github"),
    ("/hooks;x/github", "/hooks;x/github"),
    ("/x/..;/hooks/github", "/hooks/github"),
    ("/hooks/github/", "/hooks/github/"),
    ("/hooks%252Fgithub", "/hooks%252Fgithub"),
    ("/hooks%2F..%2Fhooks%2Fgithub", "/hooks%2F..%2Fhooks%2Fgithub"),
    ("/hooks/github?delivery=1", "/hooks/github?delivery=1"),
]

# Envoy 1.36 to 1.38 do not take `..;` for a dot-dot segment (1.39 does): they hand the
# path on as sent, and the filter still routes it as `/hooks/github`.
BEFORE_1_39 = {"/x/..;/hooks/github": "/x/..;/hooks/github"}


def envoy_normal_form(sent: str, normalised: str) -> str:
    """The path this Envoy hands on when it normalises `sent`."""
    version = harness.envoy_version()
    if version is not None and version < (1, 39, 0):
        return BEFORE_1_39.get(sent, normalised)
    return normalised


@pytest.mark.parametrize("sent,normalised", GITHUB_SPELLINGS, ids=[s for s, _ in GITHUB_SPELLINGS])
def test_every_spelling_of_a_route_is_checked(envoy, upstream, sent, normalised):
    resp = harness.http1(envoy.port, "POST", sent, unsigned(), BODY)
    assert resp.status == 401, (sent, resp.status, resp.body)
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()

    resp = harness.http1(envoy.port, "POST", sent, signed(), BODY)
    assert resp.status == 200, (sent, resp.status, resp.body)
    [rec] = upstream.requests()
    # Forwarded with the path the filter got: the client's, or Envoy's normal form.
    assert rec.path == (envoy_normal_form(sent, normalised) if envoy.normalised else sent)
    assert rec.header_values("x-webhook-guard") == ["route=github"]
    assert rec.body == BODY


EXACT_SPELLINGS = ["/hooks/exact", "/HOOKS/EXACT/", "/hooks/exact;v=1", "/hooks//exact", "/hooks/ex%61ct?x=1"]


def test_a_path_whose_normal_form_is_no_route_is_refused_with_unmatched_deny(envoy, upstream):
    """`/hooks/exact%3Fx` is `exact` cut at the decoded `?`, and no route decoded only.
    With `unmatched: allow` it is checked as `exact`; with `deny` no path but a route's
    may reach the application, so it is refused. The same for a `..` out of a route."""
    for sent in ("/hooks/exact%3Fx", "/hooks/github/..%2F..%2Fadmin"):
        resp = harness.http1(envoy.port, "POST", sent, signed(), BODY)
        if envoy.unmatched == "deny":
            assert resp.status == 400, (sent, resp.status)
            upstream.assert_nothing_reached()
        else:
            assert resp.status == 200, (sent, resp.status)
            [rec] = upstream.requests()
            assert rec.path == sent
            upstream.reset()


@pytest.mark.parametrize("sent", EXACT_SPELLINGS)
def test_every_spelling_of_an_exact_route_is_checked(envoy, upstream, sent):
    resp = harness.http1(envoy.port, "POST", sent, unsigned(), BODY)
    assert resp.status == 401, (sent, resp.status, resp.body)
    upstream.assert_nothing_reached()
    resp = harness.http1(envoy.port, "POST", sent, signed(), BODY)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-webhook-guard") == ["route=exact"]


# (path as sent, who refuses it without, and with, Envoy's normalisation):
# "filter" is our 400 bad_request (reason ambiguous_path), "envoy" is Envoy's own 400
# before any filter, "checked" means Envoy's normalisation made it the route's path, so
# it is checked as the route (401 unsigned).
UNREADABLE = [
    ("/hooks/github%00", "filter", "envoy"),
    ("/hooks/github%0A", "filter", "filter"),
    ("/hooks/github%zz", "filter", "filter"),
    ("/hooks/%u0067ithub", "filter", "filter"),
    ("/../hooks/github", "filter", "checked"),
    ("/hooks/../../hooks/github", "filter", "checked"),
    ("/x%2F..%2F..%2Fhooks/github", "filter", "filter"),
    ("/hooks%C0%AFgithub", "filter", "filter"),
    ("/hooks/github%FF", "filter", "filter"),
    ("/hooks/g%C4%B1thub", "filter", "filter"),
    ("/hook%C5%BF/github", "filter", "filter"),
    ("/hooks/github%25252F", "filter", "filter"),
    # Readings that reach `special` and the catch-all `api`, which are different routes.
    ("/api/x%2F..%2Fspecial", "filter", "filter"),
    ("/api/x%5C..%5Cspecial", "filter", "filter"),
    ("/api/spec%69al", "filter", "checked"),
    # Raw bytes Envoy refuses itself.
    ("/hooks/github\x00", "envoy", "envoy"),
    ("/hooks/github\x7f", "envoy", "envoy"),
    ("/hooks/github#frag", "envoy", "envoy"),
    ("/hooks/g\xc4\xb1thub", "envoy", "envoy"),
]


@pytest.mark.parametrize("sent,raw_outcome,normalised_outcome", UNREADABLE, ids=[repr(u[0]) for u in UNREADABLE])
def test_paths_that_cannot_be_read_one_way_reach_nothing(envoy, upstream, sent, raw_outcome, normalised_outcome):
    outcome = normalised_outcome if envoy.normalised else raw_outcome
    before = envoy.counter("webhook_guard.unmatched.denied.ambiguous_path")
    for headers in (unsigned(), signed()):
        resp = harness.http1(envoy.port, "POST", sent, headers, BODY)
        if outcome == "checked":
            if headers == unsigned():
                assert resp.status == 401, (sent, resp.status, resp.body)
            continue
        assert resp.status == 400, (sent, resp.status, resp.body)
        if outcome == "filter":
            assert resp.json() == {"error": "bad_request"}
            assert resp.header("content-type") == "application/json"
        else:
            assert resp.body != b'{"error":"bad_request"}'
        upstream.assert_nothing_reached()
    if outcome == "filter":
        envoy.wait_counter("webhook_guard.unmatched.denied.ambiguous_path", before + 2)
        envoy.wait_log(r"webhook-guard denied route=unmatched reason=ambiguous_path")


@pytest.mark.parametrize("sent", ["/HOOKS//github", "/hooks%2Fgithub", "/x/../Hooks/GitHub"])
def test_other_methods_get_405_under_every_spelling(envoy, upstream, sent):
    resp = harness.http1(envoy.port, "GET", sent, unsigned())
    assert resp.status == 405, (sent, resp.status, resp.body)
    assert resp.header("allow") == "POST"
    upstream.assert_nothing_reached()


def test_case_sensitive_route_matches_only_as_written(envoy, upstream):
    for sent in ("/Case/Only", "/Case/Only/x", "/Case%2FOnly", "//Case/./Only"):
        resp = harness.http1(envoy.port, "POST", sent, unsigned(), BODY)
        assert resp.status == 401, (sent, resp.status)
        upstream.assert_nothing_reached()
    for sent in ("/case/only", "/CASE/ONLY"):
        upstream.reset()
        resp = harness.http1(envoy.port, "POST", sent, unsigned(), BODY)
        if envoy.unmatched == "deny":
            assert resp.status == 404, (sent, resp.status)
            upstream.assert_nothing_reached()
        else:
            assert resp.status == 200, (sent, resp.status)
            [rec] = upstream.requests()
            assert rec.path == sent
            assert rec.header_values("x-webhook-guard") == []


@pytest.mark.parametrize("host", ["hooks.example.test", "HOOKS.Example.TEST", "hooks.example.test.",
                                  "hooks.example.test:10000", "Hooks.Example.Test.:443"])
def test_host_matching_ignores_case_port_and_trailing_dot(envoy, upstream, host):
    resp = harness.http1(envoy.port, "POST", "/Hosted", unsigned(), BODY, host=host)
    assert resp.status == 401, (host, resp.status)
    upstream.assert_nothing_reached()
    resp = harness.http1(envoy.port, "POST", "/hosted", signed(), BODY, host=host)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-webhook-guard") == ["route=hosted"]


@pytest.mark.parametrize("host", ["other.example.test", "hooks.example.test.evil", "xhooks.example.test"])
def test_other_hosts_are_not_the_route(envoy, upstream, host):
    resp = harness.http1(envoy.port, "POST", "/hosted", unsigned(), BODY, host=host)
    if envoy.unmatched == "deny":
        assert resp.status == 404
        upstream.assert_nothing_reached()
    else:
        assert resp.status == 200
        [rec] = upstream.requests()
        assert rec.header_values("x-webhook-guard") == []


@pytest.mark.parametrize("sent", ["/public/page", "/public%2Fpage", "/caf%C3%A9", "/docs/./a//b", "/a;b=c"])
def test_paths_of_no_route_follow_unmatched(envoy, upstream, sent):
    resp = harness.http1(envoy.port, "POST", sent, unsigned(), b"x")
    if envoy.unmatched == "deny":
        assert resp.status == 404, (sent, resp.status)
        upstream.assert_nothing_reached()
    else:
        assert resp.status == 200, (sent, resp.status)
        assert len(upstream.requests()) == 1


def test_no_secret_in_the_logs(envoy):
    envoy.assert_no_secret_in_log()


def test_each_of_repeated_host_headers_is_read(envoy, upstream):
    """Envoy joins repeated `Host` headers with `,`; an application may take either."""
    two_hosts = [("Host", "other.example.test"), ("Host", "hooks.example.test")]
    resp = harness.http1(envoy.port, "POST", "/hosted", [*two_hosts, *unsigned()], BODY, host=None)
    assert resp.status == 401, resp.status
    upstream.assert_nothing_reached()
    resp = harness.http1(envoy.port, "POST", "/hosted", [*two_hosts, *signed()], BODY, host=None)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-webhook-guard") == ["route=hosted"]


@pytest.mark.parametrize("host", ["hooks.example.test:abc", "user@hooks.example.test"])
def test_odd_authorities_naming_the_host_are_the_route(envoy, upstream, host):
    resp = harness.http1(envoy.port, "POST", "/hosted", unsigned(), BODY, host=host)
    assert resp.status in (400, 401), (host, resp.status)
    upstream.assert_nothing_reached()


def test_http2_host_header_beside_authority_never_reaches_the_app_unchecked(envoy, upstream):
    resp = harness.http2(envoy.port, "POST", "/hosted", [("host", "hooks.example.test"), *unsigned()], BODY,
                         authority="other.example.test", validate=False)
    if resp.status in (401, 404):
        # Checked as the route, or (Envoy having dropped the `host` header) not a route.
        upstream.assert_nothing_reached()
        return
    # Envoy drops a `host` header beside `:authority`: the app sees only the other host.
    assert envoy.unmatched == "allow" and resp.status == 200, resp.status
    [rec] = upstream.requests()
    assert rec.header_values("host") == ["other.example.test"]
    assert rec.header_values("x-webhook-guard") == []


@pytest.mark.parametrize("sent", ["/hooks/g\xc4\xb1thub", "/hooks/github%2500", "/HOOKS%2F..%2F..%2Fx"])
def test_http2_paths_that_cannot_be_read_one_way_reach_nothing(envoy, upstream, sent):
    resp = harness.http2(envoy.port, "POST", sent.encode("latin-1"), signed(), BODY)
    assert resp.status == 400, (sent, resp.status)
    assert resp.json() == {"error": "bad_request"}
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("field,value", [("path_prefix", "/hooks%2Fgithub"), ("path_exact", "/hooks/./github"),
                                          ("path_prefix", "/hooks;x")])
def test_a_route_path_that_is_not_plain_stops_envoy(envoy_factory, field, value):
    bad = {"api": "v1", "routes": [{"name": "github", "match": {field: value}, "checks": SIG}]}
    failure = envoy_factory.start_failing(bad, ENV)
    assert failure.returncode != 0
    assert f"routes[0].match.{field}" in failure.log
