"""OWASP API7:2023 Server Side Request Forgery. The server fetches nothing a client names but
section 13's webhook URLs: pictures to scan arrive as bytes, and the docs page may connect to
this origin only. A webhook URL is only http(s), never loopback, private, link-local or metadata
addresses (after DNS resolution, on POST and PATCH and again at every attempt), a redirect is
not followed, and an attempt is bounded in time.
"""
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .spec import load

URL_WORDS = re.compile(r"(url|uri|href|link|webhook|callback|endpoint|host)s?$", re.I)


def request_fields(spec):
    """(where, name, schema) of every request body property and parameter in the spec."""
    schemas = spec["components"]["schemas"]

    def resolve(schema):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = schemas[schema["$ref"].split("/")[-1]]
        return schema

    def walk(schema, where, seen):
        schema = resolve(schema)
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen = seen | {id(schema)}
        for name, inner in (schema.get("properties") or {}).items():
            yield where, name, resolve(inner)
            yield from walk(inner, f"{where}.{name}", seen)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from walk(schema[key], where, seen)
        for key in ("oneOf", "anyOf", "allOf"):
            for inner in schema.get(key, []):
                yield from walk(inner, where, seen)

    parameters = spec["components"].get("parameters", {})
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            where = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                param = parameters[param["$ref"].split("/")[-1]] if "$ref" in param else param
                yield where, param["name"], param.get("schema", {})
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                yield from walk(media.get("schema", {}), where, frozenset())


# the fields this module tests (section 13's webhooks)
TESTED_URL_FIELDS = {("POST /api/webhooks", "url"), ("PATCH /api/webhooks/{id}", "url")}


def test_no_operation_takes_a_url_to_fetch():
    """A field that looks like a URL means the server may fetch it: this module must then test it."""
    found = [(where, name) for where, name, schema in request_fields(load())
             if URL_WORDS.search(name) or schema.get("format") in ("uri", "url", "hostname", "ipv4", "ipv6")]
    untested = [f for f in found if f not in TESTED_URL_FIELDS]
    assert not untested, f"request fields that may name a URL: {untested}; add their SSRF tests here"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:5432/", "http://[::1]/", "http://10.0.0.1/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/", "http://[fe80::1]/",
    "http://100.64.0.1/"])
def test_webhook_urls_to_inner_addresses_are_refused(client, auth, url):
    resp = client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=auth["admin"])
    assert resp.status_code == 400 and resp.get_json()["code"] == "webhook_url_not_allowed", url
    assert client.get("/api/webhooks", headers=auth["admin"]).get_json()["total"] == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://93.184.215.14/",
                                 "http://user:pw@93.184.215.14/"])
def test_webhook_urls_are_http_or_https_without_credentials(client, auth, url):
    resp = client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=auth["admin"])
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error", url


def test_a_patch_is_checked_as_a_post(client, auth):
    hook = client.post("/api/webhooks", json={"url": "https://93.184.215.14/h", "events": ["*"]},
                       headers=auth["admin"]).get_json()
    resp = client.patch(f"/api/webhooks/{hook['id']}", json={"url": "http://169.254.169.254/"},
                        headers=auth["admin"])
    assert resp.status_code == 400 and resp.get_json()["code"] == "webhook_url_not_allowed"
    assert client.get(f"/api/webhooks/{hook['id']}", headers=auth["admin"]).get_json()["url"] == "https://93.184.215.14/h"


class _Receiver:
    def __init__(self, status=200, location=None):
        self.hits = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _one_round(app, allow_private):
    from app.sender import Sender
    sender = Sender(app, name="ssrf-test:1")
    sender.allow_private = allow_private
    try:
        sender.run_once()
    finally:
        sender.pool.shutdown()


def _deliveries(client, auth, hook):
    return client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth["admin"]).get_json()["items"]


def test_the_guard_is_checked_again_at_every_attempt(make_app, auth):
    """An endpoint saved while private addresses were allowed (or whose name now resolves to one)
    gets no request once they are not: the attempt fails as `address not allowed`."""
    app = make_app(WEBHOOK_ALLOW_PRIVATE=True)
    client = app.test_client()
    receiver = _Receiver()
    try:
        hook = client.post("/api/webhooks", json={"url": receiver.url + "/in", "events": ["*"]},
                           headers=auth["admin"]).get_json()
        client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"])
        _one_round(app, allow_private=False)
        delivery = _deliveries(client, auth, hook)[0]
        assert delivery["error"] == "address not allowed" and delivery["response_status"] is None
        assert receiver.hits == []
    finally:
        receiver.close()


def test_a_redirect_is_not_followed(make_app, auth):
    app = make_app(WEBHOOK_ALLOW_PRIVATE=True)
    client = app.test_client()
    inner = _Receiver()
    outer = _Receiver(status=302, location=inner.url + "/secret")
    try:
        hook = client.post("/api/webhooks", json={"url": outer.url + "/in", "events": ["*"]},
                           headers=auth["admin"]).get_json()
        client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"])
        _one_round(app, allow_private=True)
        delivery = _deliveries(client, auth, hook)[0]
        assert delivery["status"] == "pending" and delivery["error"] == "HTTP 302"
        assert outer.hits == ["/in"] and inner.hits == []
    finally:
        inner.close()
        outer.close()


def test_the_field_walk_sees_nested_request_fields():
    names = {(where.split(".")[0], name) for where, name, _ in request_fields(load())}
    assert ("POST /api/deliveries", "postal_code") in names     # in an address, in a oneOf
    assert ("POST /api/orders", "quantity") in names            # in each item of a list


def test_a_scan_takes_picture_bytes_not_an_address(client, auth):
    for content_type, body in (("application/json", '{"url": "http://169.254.169.254/latest/meta-data/"}'),
                               ("text/uri-list", "http://127.0.0.1:5432/"),
                               ("text/plain", "file:///etc/passwd")):
        resp = client.post("/api/barcodes/scan", data=body, content_type=content_type, headers=auth["clerk"])
        assert resp.status_code == 415, content_type


def test_the_docs_page_may_connect_to_its_own_origin_only(client):
    policy = client.get("/apidocs/").headers["Content-Security-Policy"]
    assert "connect-src 'self';" in policy
