"""OWASP API3:2023 Broken Object Property Level Authorization: no body can set a field its sender
may not (read-only fields are ignored, a product's stock and a user's password and role through
the wrong door are refused, unknown fields are 400, nested too); no answer carries a secret
(password hashes, refresh ids, the signing key) to anyone, nor `cost` to anonymous callers,
who may not sort by it either.
"""
import json

import pytest

from tests.factories import assert_problem, create_delivery, create_product, place_order

SECRET_KEYS = ("password", "password_hash", "refresh_id", "secret", "secret_key", "hash", "salt")


def keys_of(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


def test_read_only_fields_in_a_body_change_nothing(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.patch(f"/api/products/{product['id']}", headers=auth["manager"],
                        json={"id": "mine-now", "version": 99, "created_at": "2000-01-01T00:00:00Z",
                              "title": "Renamed"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["id"], body["version"], body["created_at"]) == (
        product["id"], product["version"] + 1, product["created_at"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_stock_moves_only_through_orders_and_adjustments(client, auth, method):
    product = create_product(client, auth["manager"], stock=3)
    body = {k: product[k] for k in ("sku", "title", "price")} if method == "PUT" else {}
    resp = client.open(f"/api/products/{product['id']}", method=method, headers=auth["manager"],
                       json={**body, "stock": 1000})
    assert_problem(resp, 400, "validation_error")
    assert client.get(f"/api/products/{product['id']}", headers=auth["manager"]).get_json()["stock"] == 3


def test_a_password_is_set_only_through_the_password_endpoint(client, auth, users):
    resp = client.patch(f"/api/users/{users['viewer']['id']}", headers=auth["admin"],
                        json={"password": "set-behind-back-1"})
    assert_problem(resp, 400, "validation_error")
    for field in ("password_hash", "failed_logins", "sessions"):
        resp = client.patch(f"/api/users/{users['viewer']['id']}", headers=auth["admin"],
                            json={field: "x"})
        assert_problem(resp, 400, "validation_error")


def test_no_one_raises_their_own_role_through_a_body(client, auth, users):
    for path, body in (("/api/auth/password", {"current_password": "clerk-pass-1",
                                                 "new_password": "clerk-pass-2", "role": "admin"}),
                       ("/api/orders", {"items": [], "user_id": users["admin"]["id"]})):
        resp = client.post(path, headers=auth["clerk"], json=body)
        assert resp.status_code == 400, path
    assert client.get("/api/auth/me", headers=auth["clerk"]).get_json()["role"] == "clerk"


def test_unknown_fields_are_refused_in_nested_objects_too(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": product["id"], "quantity": 1, "unit_price": "0.01"}]})
    body = assert_problem(resp, 400, "validation_error")
    assert any(key.startswith("items.0") for key in body["errors"])
    resp = client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": product["id"], "quantity": 1}],
        "customer": {"name": "Ada", "discount": "100%"}})
    assert_problem(resp, 400, "validation_error")


def test_an_order_line_price_comes_from_the_catalog_never_the_client(client, auth):
    product = create_product(client, auth["manager"], price="12.50")
    for extra in ({"total": "0.01"}, {"subtotal": "0.01"}, {"status": "paid"}, {"payment_status": "paid"}):
        resp = client.post("/api/orders", headers=auth["clerk"],
                           json={"items": [{"product_id": product["id"], "quantity": 1}], **extra})
        assert resp.status_code in (400, 201), extra
        if resp.status_code == 201:
            order = resp.get_json()
            assert order["total"] == "12.50" and order["payment_status"] == "unpaid", extra


def test_no_answer_carries_a_secret(app, client, auth, tokens):
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)])
    create_delivery(client, auth["clerk"], order)
    secret = app.config["SECRET_KEY"]
    answers = [client.post("/api/auth/login", json={"username": "viewer", "password": "viewer-pass-1"}),
               client.post("/api/auth/refresh", json={"refresh_token": tokens["manager"]["refresh_token"]})]
    for path in ("/api/users", f"/api/users/{tokens['viewer']['user']['id']}", "/api/auth/me",
                 "/api/products", "/api/orders", "/api/deliveries", "/api/stock-movements"):
        answers.append(client.get(path, headers=auth["admin"]))
    for resp in answers:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        text = resp.get_data(as_text=True)
        assert secret not in text and "scrypt:" not in text
        found = {k for k in keys_of(json.loads(text)) if k.lower() in SECRET_KEYS}
        assert not found, (resp.request.path, found)


def test_anonymous_callers_never_see_cost(client, auth):
    product = create_product(client, auth["manager"], kind="book", isbn="9780141439518", cost="4.00")
    for path in ("/api/products", f"/api/products/{product['id']}", "/api/books",
                 f"/api/books/{product['id']}", f"/api/barcodes/{product['sku']}"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "cost" not in set(keys_of(resp.get_json())), path
    staff = client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()
    assert staff["cost"] == "4.00"


def test_anonymous_callers_may_not_sort_by_cost(client, auth):
    """Sorting by a hidden field would tell it: list two products by cost and the order shows
    which costs more."""
    create_product(client, auth["manager"], cost="1.00")
    resp = client.get("/api/products?sort=cost")
    assert_problem(resp, 400, "validation_error")
    assert client.get("/api/products?sort=-cost", headers=auth["viewer"]).status_code == 200
