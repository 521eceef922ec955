"""app/quick_reads.py: the anonymous GETs of a product and of an image's bytes, answered before
Flask, answer exactly what the views answer (status, headers in order, body), and step aside for
everything else: a token, a query, a conditional request, a hidden product, a closed catalog,
holds that are due."""
import time

import pytest

from tests.factories import add_image, create_product


@pytest.fixture
def pair(make_app):
    """(the app as make serve runs it, the same store with SHOP_QUICK_READS=0)."""
    quick = make_app(STOREFRONT_HOLD_SECONDS=3600)
    slow = make_app(QUICK_READS=False, STOREFRONT_HOLD_SECONDS=3600)
    return quick, slow


def _answered(app):
    return app.wsgi_app.answered


def _seen(resp):
    """What a client sees, but for the request id each answer makes anew."""
    headers = [(k, v) for k, v in resp.headers.items() if k != "X-Request-Id"]
    body = resp.get_json() if resp.mimetype == "application/problem+json" else resp.data
    if isinstance(body, dict):
        body.pop("request_id", None)
    assert resp.headers["X-Request-Id"].startswith("req_") or resp.headers["X-Request-Id"] == "mine-1"
    return resp.status_code, headers, body


def _both(pair, path, headers=None):
    """(what the quick app answered, what Flask answered, whether the quick path answered)."""
    quick, slow = pair
    before = _answered(quick)
    seen = _seen(quick.test_client().get(path, headers=headers or {}))
    return seen, _seen(slow.test_client().get(path, headers=headers or {})), _answered(quick) - before


def _warm(pair):
    """The first API request of a process looks for holds that are due; after it the quick path may answer."""
    for app in pair:
        app.test_client().get("/api/products?limit=1")


def test_an_anonymous_product_and_its_pictures_are_answered_as_flask_answers_them(pair, auth):
    client = pair[0].test_client()
    product = create_product(client, auth["manager"], stock=4, cost="2.50")
    image = add_image(client, auth["manager"], product)
    _warm(pair)
    for path in (f"/api/products/{product['id']}", f"/api/images/{image['id']}/thumb",
                 f"/api/images/{image['id']}/original", f"/api/images/{image['id']}/medium"):
        quick, slow, answered = _both(pair, path)
        assert answered == 1, path
        assert quick == slow, path
        assert quick[0] == 200
    status, headers, body = _both(pair, f"/api/products/{product['id']}")[0]
    assert b'"cost"' not in body and b'"stock":4' in body
    assert f'"http://localhost/api/images/{image["id"]}/thumb"'.encode() in body
    staff = client.get(f"/api/products/{product['id']}", headers=auth["viewer"])
    assert dict(headers)["ETag"] == staff.headers["ETag"] == f'"{staff.get_json()["version"]}"'
    assert dict(headers)["X-Content-Type-Options"] == "nosniff"


def test_a_request_id_sent_is_the_one_answered(pair, auth):
    product = create_product(pair[0].test_client(), auth["manager"])
    _warm(pair)
    before = _answered(pair[0])
    resp = pair[0].test_client().get(f"/api/products/{product['id']}", headers={"X-Request-Id": "mine-1"})
    assert resp.headers["X-Request-Id"] == "mine-1" and _answered(pair[0]) == before + 1


def test_what_it_does_not_answer_flask_answers_the_same(pair, auth):
    client = pair[0].test_client()
    product = create_product(client, auth["manager"], cost="2.50")
    image = add_image(client, auth["manager"], product)
    hidden = create_product(client, auth["manager"])
    hidden_image = add_image(client, auth["manager"], hidden)
    assert client.delete(f"/api/products/{hidden['id']}", headers=auth["manager"]).status_code == 200
    _warm(pair)
    etag = client.get(f"/api/images/{image['id']}/thumb").headers["ETag"]
    cases = [
        (f"/api/products/{product['id']}", auth["manager"], 200),  # staff: cost and review
        (f"/api/products/{hidden['id']}", None, 404),  # archived: anonymous callers do not find it
        ("/api/products/nope", None, 404),
        (f"/api/products/{product['id']}/", None, 200),
        (f"/api/images/{hidden_image['id']}/thumb", None, 404),
        (f"/api/images/{hidden_image['id']}/thumb", auth["viewer"], 200),
        (f"/api/images/{image['id']}/huge", None, 404),
        (f"/api/images/{image['id']}/thumb?format=webp", None, 200),
        (f"/api/images/{image['id']}/thumb", {"If-None-Match": etag}, 304),
        ("/api/images/nope/thumb", None, 404),
    ]
    for path, headers, status in cases:
        quick, slow, answered = _both(pair, path, headers)
        assert answered == 0, path
        assert quick == slow, path
        assert quick[0] == status, path
    staff = _both(pair, f"/api/products/{product['id']}", auth["manager"])[0][2]
    assert b'"cost":"2.50"' in staff


def test_a_closed_catalog_is_closed_to_it_too(pair, auth):
    client = pair[0].test_client()
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    resp = client.patch("/api/settings", json={"public_catalog": False}, headers=auth["admin"])
    assert resp.status_code == 200, resp.get_json()
    _warm(pair)
    for path in (f"/api/products/{product['id']}", f"/api/images/{image['id']}/thumb"):
        quick, slow, answered = _both(pair, path)
        assert (quick[0], answered) == (401, 0), path
        assert quick == slow


def test_a_product_read_after_a_hold_ran_out_shows_the_stock_back(make_app, auth):
    app = make_app(STOREFRONT_HOLD_SECONDS=3)
    client = app.test_client()
    book = create_product(client, auth["manager"], stock=5)
    key = client.post("/api/storefront-keys", json={"name": "web"}, headers=auth["admin"]).get_json()["key"]
    placed = client.post("/api/storefront/orders", headers={"X-Storefront-Key": key},
                         json={"items": [{"product_id": book["id"], "quantity": 2}],
                               "customer": {"email": "ada@example.com", "name": "Ada Lovelace"}})
    assert placed.status_code == 201, placed.get_json()
    before = _answered(app)
    assert client.get(f"/api/products/{book['id']}").get_json()["stock"] == 3
    assert _answered(app) == before + 1  # no hold is due yet: answered before Flask
    time.sleep(3.5)  # past the hold
    assert client.get(f"/api/products/{book['id']}").get_json()["stock"] == 5
