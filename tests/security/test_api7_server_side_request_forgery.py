"""OWASP API7:2023 Server Side Request Forgery. Today the server fetches nothing a client names:
no operation takes a URL, pictures to scan arrive as bytes, and the docs page may connect to this
origin only. When section 13 (webhooks) lands, this module tests its URLs: only http(s), no
loopback, private, link-local or metadata addresses (after DNS resolution and on every
redirect), bounded time and size, and a delivery that cannot be turned into a port scan.
"""
import re

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


def test_no_operation_takes_a_url_to_fetch():
    """A field that looks like a URL means the server may fetch it: this module must then test it."""
    found = [(where, name) for where, name, schema in request_fields(load())
             if URL_WORDS.search(name) or schema.get("format") in ("uri", "url", "hostname", "ipv4", "ipv6")]
    assert not found, f"request fields that may name a URL: {found}; add their SSRF tests here"


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
