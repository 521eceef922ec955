"""OWASP API8:2023 Security Misconfiguration: every answer, success or failure, JSON, image or page,
carries the security headers; HTML pages have a Content-Security-Policy that allows no inline
code but the docs' own (by hash); no answer names the software or its version, shows a traceback
or runs in debug mode; CORS is off unless SHOP_CORS_ORIGINS names origins.

The gunicorn `Server` header is checked over the real server in tests/system/test_server.py.
"""
import re

import pytest

from tests.factories import create_product

REFERRER_POLICIES = {"no-referrer", "strict-origin-when-cross-origin", "same-origin", "strict-origin"}
ORIGIN = "https://storefront.example"


def answers(client, auth, app):
    """(label, response) for a wide spread of answers: every status family and content type."""
    product = create_product(client, auth["admin"], kind="book", isbn="9780141439518")
    pid = product["id"]
    yield "health", client.get("/healthz")
    yield "spec json", client.get("/openapi.json")
    yield "spec yaml", client.get("/openapi.yaml")
    yield "docs page", client.get("/apidocs/")
    yield "docs redirect", client.get("/apidocs/index.html")
    yield "oauth page", client.get("/oauth2-redirect.html")
    yield "docs static", client.get("/apidocs/static/swagger-ui.css")
    yield "docs spec", client.get("/apidocs/apispec.json")
    yield "list", client.get("/api/products")
    yield "one", client.get(f"/api/products/{pid}")
    yield "created", client.post("/api/products", json={"sku": "S-1", "title": "T", "price": "1.00"},
                                 headers=auth["manager"])
    yield "png", client.get(f"/api/products/{pid}/barcode")
    yield "svg", client.get(f"/api/products/{pid}/barcode?format=svg")
    yield "pdf", client.get(f"/api/labels?product_ids={pid}")
    yield "304", client.get(f"/api/products/{pid}/barcode",
                            headers={"If-None-Match": client.get(f"/api/products/{pid}/barcode").headers["ETag"]})
    yield "400", client.post("/api/orders", data="{", content_type="application/json", headers=auth["clerk"])
    yield "401", client.get("/api/orders")
    yield "403", client.get("/api/users", headers=auth["viewer"])
    yield "404", client.get("/no/such/page")
    yield "405", client.delete("/api/orders")
    yield "415", client.post("/api/orders", data="{}", content_type="text/plain", headers=auth["clerk"])
    yield "options", client.options("/api/products")
    yield "204", client.post("/api/auth/logout", headers=auth["viewer"])


@pytest.fixture
def every_answer(client, auth, app):
    return list(answers(client, auth, app))


def assert_security_headers(label, resp):
    headers = resp.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert headers.get("Referrer-Policy") in REFERRER_POLICIES, label
    assert headers.get("X-Frame-Options") == "DENY", label
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, label
    assert re.search(r"(^|;)\s*default-src '(none|self)'", policy), (label, policy)
    for banner in ("Server", "X-Powered-By", "X-AspNet-Version"):
        assert banner not in headers, (label, banner, headers.get(banner))


def test_every_answer_carries_the_security_headers(every_answer):
    for label, resp in every_answer:
        assert_security_headers(label, resp)


def test_json_and_files_may_run_and_load_nothing(every_answer):
    for label, resp in every_answer:
        if resp.mimetype in ("text/html", "image/svg+xml"):
            continue
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'", label


def test_a_barcode_svg_opened_alone_runs_no_script(every_answer):
    policy = dict(every_answer)["svg"].headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def directives(policy):
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_html_pages_allow_no_inline_code_but_the_docs_own_by_hash(every_answer):
    pages = [(label, resp) for label, resp in every_answer if resp.mimetype == "text/html"]
    assert {"docs page", "oauth page"} <= {label for label, _ in pages}
    for label, resp in pages:
        policy = directives(resp.headers["Content-Security-Policy"])
        for name in ("script-src", "style-src", "connect-src", "img-src"):
            assert "'unsafe-inline'" not in policy.get(name, []), (label, name)
            assert "'unsafe-eval'" not in policy.get(name, []), (label, name)
            assert not [s for s in policy.get(name, []) if s.startswith(("http:", "https:", "*"))], label
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], label
    docs = directives(dict(pages)["docs page"].headers["Content-Security-Policy"])
    assert [s for s in docs["script-src"] if s.startswith("'sha256-")], "the docs' start-up script"
    oauth = directives(dict(pages)["oauth page"].headers["Content-Security-Policy"])
    assert oauth["script-src"] == ["'self'"]


def test_no_page_names_the_software_it_runs_on(client):
    page = client.get("/apidocs/").get_data(as_text=True)
    assert "Powered by" not in page and "0.9.7" not in page
    assert "fonts.googleapis.com" not in page


def test_an_unexpected_error_shows_no_traceback(app, client, monkeypatch):
    def broken():
        raise RuntimeError("secret internals at /srv/backroom/app.py line 12")
    monkeypatch.setitem(app.view_functions, "health.healthz", broken)
    resp = client.get("/healthz")
    assert resp.status_code == 500 and resp.mimetype == "application/problem+json"
    body = resp.get_data(as_text=True)
    assert "Traceback" not in body and "secret internals" not in body and ".py" not in body
    assert_security_headers("500", resp)


def test_debug_and_testing_are_off_by_default(make_app):
    app = make_app()
    assert not app.debug
    assert app.config["DEBUG"] is False


def test_cors_is_off_unless_configured(client):
    preflight = client.options("/api/products", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    simple = client.get("/api/products", headers={"Origin": ORIGIN})
    for resp in (preflight, simple):
        assert not [h for h in resp.headers.keys() if h.lower().startswith("access-control-")]


def test_cors_allows_only_the_configured_origins(make_app):
    client = make_app(CORS_ORIGINS=ORIGIN).test_client()
    ok = client.options("/api/orders", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "Authorization"})
    assert ok.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert ok.headers.get("Access-Control-Allow-Credentials") is None  # bearer tokens, never cookies
    other = client.get("/api/products", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert_security_headers("cors", ok)
