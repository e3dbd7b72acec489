"""checks.sns (SPEC 2.1 "Keys from a directory"): Amazon SNS messages signed here with a
key and certificate made by `cryptography`, the certificate served by a test server
behind the configured cluster (`sns_certs`) at the path the message's `SigningCertURL`
names, and Envoy agreeing with an independent verifier from PyPI
(aws-sns-message-validator, SignatureVersion 1): what it accepts reaches the upstream
untouched, what it refuses does not, each refusal with its reason counter and warn line.

Faults: a tampered message, a forged signature, another topic, a certificate URL on a
foreign host (refused and never fetched: the test server sees no request), and the
certificate server failing (503)."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sns_message_validator import SNSMessageValidator
from sns_message_validator.exceptions import InvalidCertURLException, SignatureVerificationFailureException

import denials
import harness
import mtls

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
HOST = "sns.us-east-1.amazonaws.com"
CERT_PATH = "/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
BROKEN_PATH = "/SimpleNotificationService-0000000000000000000000000000broken.pem"
URL = f"https://{HOST}{CERT_PATH}"


def make_signer(common_name: str = HOST):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


class CertServer:
    """Serves certificates by path; counts every request (path and Host)."""

    def __init__(self, pems: dict[str, bytes]):
        self.pems = pems
        self.hits: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits.append((self.path, self.headers.get("Host", "")))
                pem = server.pems.get(self.path)
                status, body = (200, pem) if pem is not None else (500, b"certificate store down")
                self.send_response(status)
                self.send_header("Content-Type", "application/x-x509-ca-cert")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def hits_of(self, path: str) -> list[tuple[str, str]]:
        return [h for h in self.hits if h[0] == path]


SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def sign(key, message: dict, version: int) -> dict:
    order = SIGNED.get(message["Type"], SIGNED["SubscriptionConfirmation"])
    canonical = "".join(f"{k}\n{message[k]}\n" for k in order if k in message)
    digest = hashes.SHA1() if version == 1 else hashes.SHA256()
    sig = key.sign(canonical.encode(), padding.PKCS1v15(), digest)
    signed = dict(message, SignatureVersion=str(version), Signature=base64.b64encode(sig).decode())
    signed.setdefault("SigningCertURL", URL)
    return signed


def notification(**overrides) -> dict:
    m = {"Type": "Notification", "MessageId": "da41e39f-ea4d-435a-b922-c6aae3915ebe", "TopicArn": TOPIC,
         "Subject": "Order placed", "Message": '{"order": 42, "note": "caf\u00e9\\n"}',
         "Timestamp": "2026-12-06T14:00:00.000Z",
         "UnsubscribeURL": f"https://{HOST}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:1"}
    m.update(overrides)
    return {k: v for k, v in m.items() if v is not None}


def confirmation() -> dict:
    return {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb7",
            "TopicArn": TOPIC, "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336",
            "Timestamp": "2026-12-06T14:00:00.000Z"}


class Lab:
    def __init__(self, factory):
        self.key, self.pem = make_signer()
        self.certs = CertServer({CERT_PATH: self.pem})
        policy = {"api": "v1", "routes": [
            {"name": "sns", "match": {"path_prefix": "/hooks/sns"},
             "checks": {"sns": {"topic_arns": [TOPIC], "certificates": {"cluster": "sns_certs", "timeout_ms": 1000}}}},
        ]}
        cfg = harness.build_config(policy, factory.upstream.port, {}, hcm_options=denials.HCM)
        cfg["static_resources"]["clusters"].append(mtls.api_cluster(self.certs.port, "sns_certs"))
        self.envoy = factory.start_config(cfg, name="sns", concurrency=2)

    def independent(self, message: dict) -> bool:
        """aws-sns-message-validator's verdict (SignatureVersion 1), the certificate read
        from the test server's copy instead of the network."""
        validator = SNSMessageValidator()
        pem = self.pem

        class Fetched:
            content = pem

        validator._cert_session.get = lambda url: Fetched()
        try:
            validator.validate_message(message)
            return True
        except (InvalidCertURLException, SignatureVerificationFailureException):
            return False


@pytest.fixture(scope="module")
def lab(envoy_factory):
    lab = Lab(envoy_factory)
    yield lab
    lab.certs.httpd.shutdown()


def post(envoy, message: dict, kind: str | None = None, rid: str | None = None):
    headers = [("Content-Type", "text/plain; charset=UTF-8"),
               ("x-amz-sns-message-type", kind or message["Type"]),
               ("x-amz-sns-topic-arn", message.get("TopicArn", ""))]
    if rid:
        headers.append(("X-Request-Id", rid))
    return harness.http1(envoy.port, "POST", "/hooks/sns", headers, json.dumps(message).encode())


def accepted(lab: Lab, upstream, message: dict):
    before = denials.counters(lab.envoy, "sns.")
    body = json.dumps(message).encode()
    resp = post(lab.envoy, message)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == body, "forwarded untouched"
    assert rec.header_values("x-amz-sns-message-type") == [message["Type"]]
    assert rec.header_values("x-webhook-guard") == ["route=sns"]
    assert denials.wait_counter_delta(lab.envoy, "sns", before, {"allowed": 1}) == {"allowed": 1}
    upstream.reset()


def refused(lab: Lab, upstream, message: dict, reason: str, status: int = 401, kind: str | None = None):
    before = denials.counters(lab.envoy, "sns.")
    rid = denials.request_id("sns")
    resp = post(lab.envoy, message, kind, rid)
    assert resp.status == status, (resp.status, resp.body)
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(lab.envoy, "sns", before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    line = denials.assert_denial_logged(lab.envoy, rid, "sns", reason)
    assert message.get("Signature", "-") not in line and "Order placed" not in line
    return resp


def test_a_valid_notification_waits_for_the_certificate_then_reaches_the_upstream_untouched(lab, upstream):
    message = sign(lab.key, notification(), 1)
    assert lab.independent(message)
    accepted(lab, upstream, message)
    # Fetched once, through the cluster, with the certificate host's authority.
    assert lab.certs.hits_of(CERT_PATH) == [(CERT_PATH, HOST)]
    lab.envoy.wait_log(r"certificate https://sns\.us-east-1\.amazonaws\.com/\S+ loaded for a waiting request")
    # Kept for every worker: four more messages, no more fetches.
    for i in range(4):
        accepted(lab, upstream, sign(lab.key, notification(MessageId=f"m-{i}"), 1))
    assert len(lab.certs.hits_of(CERT_PATH)) == 1


@pytest.mark.parametrize("version", [1, 2])
def test_both_signature_versions_and_a_subscription_confirmation_are_forwarded(lab, upstream, version):
    accepted(lab, upstream, sign(lab.key, notification(Subject=None), version))
    confirm = sign(lab.key, confirmation(), version)
    if version == 1:
        assert lab.independent(confirm)
    accepted(lab, upstream, confirm)


def test_a_tampered_message_is_refused_as_the_validator_refuses_it(lab, upstream):
    message = sign(lab.key, notification(), 1)
    message["Message"] = message["Message"].replace("42", "43")
    assert not lab.independent(message)
    refused(lab, upstream, message, "signature_mismatch")


def test_a_message_signed_by_another_key_is_refused(lab, upstream):
    forger, _ = make_signer()
    message = sign(forger, notification(), 1)
    assert not lab.independent(message)
    refused(lab, upstream, message, "signature_mismatch")


def test_a_message_of_another_topic_is_refused(lab, upstream):
    message = sign(lab.key, notification(TopicArn="arn:aws:sns:us-east-1:123456789012:payments"), 2)
    refused(lab, upstream, message, "sns_topic_not_allowed")


def test_the_type_header_must_match_the_body(lab, upstream):
    message = sign(lab.key, notification(), 2)
    refused(lab, upstream, message, "sns_type_mismatch", kind="SubscriptionConfirmation")


@pytest.mark.parametrize("url", [
    "https://sns.us-east-1.amazonaws.com.evil.test" + CERT_PATH,
    "https://evil.test" + CERT_PATH,
    "http://" + HOST + CERT_PATH,
    "https://" + HOST + ":8443" + CERT_PATH,
])
def test_a_foreign_certificate_url_is_refused_and_never_fetched(lab, upstream, url):
    hits = len(lab.certs.hits)
    message = sign(lab.key, notification(SigningCertURL=url), 1)
    refused(lab, upstream, message, "sns_cert_url_refused")
    assert len(lab.certs.hits) == hits, "the test server saw no request"


def test_the_certificate_server_failing_gives_503(lab, upstream):
    message = sign(lab.key, notification(SigningCertURL=f"https://{HOST}{BROKEN_PATH}"), 2)
    resp = refused(lab, upstream, message, "fetch_status", status=503)
    assert resp.json() == {"error": "unavailable"}
    assert int(resp.header("retry-after")) == 10
    assert lab.certs.hits_of(BROKEN_PATH) == [(BROKEN_PATH, HOST)]
    lab.envoy.wait_log(r"certificate \S+broken\.pem fetch for a waiting request failed: HTTP 500")
