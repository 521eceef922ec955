"""OWASP API1:2023 Broken Object Level Authorization: an id that belongs to another user gives no
access to it. Today a user owns sessions (tokens), idempotency keys and a password; staff share
the shop's records by role (tested in API5), and anonymous callers may not learn that archived
products exist. When section 11 (customers) and 13 (each user's inbox of notifications) land,
their ids join here: one customer's orders and one user's notifications, fetched with another's
token, are 404.
"""
from tests.factories import create_product


def test_logging_out_ends_only_the_callers_own_session(client, auth):
    assert client.post("/api/auth/logout", headers=auth["clerk"]).status_code == 204
    assert client.get("/api/auth/me", headers=auth["clerk"]).status_code == 401
    for role in ("admin", "manager", "viewer"):
        assert client.get("/api/auth/me", headers=auth[role]).status_code == 200, role


def test_a_refresh_token_renews_only_its_own_session_and_user(client, tokens):
    resp = client.post("/api/auth/refresh", json={"refresh_token": tokens["viewer"]["refresh_token"]})
    assert resp.status_code == 200
    assert resp.get_json()["user"]["username"] == "viewer"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {resp.get_json()['access_token']}"})
    assert me.get_json()["role"] == "viewer"


def test_me_is_always_the_caller_whatever_is_asked(client, auth, users):
    resp = client.get(f"/api/auth/me?id={users['admin']['id']}&user_id={users['admin']['id']}",
                      headers=auth["viewer"])
    assert resp.status_code == 200 and resp.get_json()["id"] == users["viewer"]["id"]


def test_changing_a_password_needs_the_callers_own_current_password(client, auth):
    resp = client.post("/api/auth/password", headers=auth["clerk"],
                       json={"current_password": "admin-pass-1", "new_password": "taken-over-1"})
    assert resp.status_code in (400, 401)
    login = client.post("/api/auth/login", json={"username": "admin", "password": "taken-over-1"})
    assert login.status_code == 401


def test_password_change_refuses_a_user_id_in_the_body(client, auth, users):
    resp = client.post("/api/auth/password", headers=auth["clerk"],
                       json={"current_password": "clerk-pass-1", "new_password": "new-pass-123",
                             "user_id": users["admin"]["id"]})
    assert resp.status_code == 400
    assert client.post("/api/auth/login", json={"username": "admin", "password": "new-pass-123"}).status_code == 401


def test_another_users_idempotency_key_replays_nothing_of_theirs(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    key = {"Idempotency-Key": "till-1-0001"}
    first = client.post("/api/orders", json=body, headers={**auth["clerk"], **key})
    assert first.status_code == 201
    theirs = client.post("/api/orders", json=body, headers={**auth["manager"], **key})
    assert theirs.status_code == 201
    assert theirs.get_json()["id"] != first.get_json()["id"], "the clerk's order was replayed to the manager"
    other_body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    assert client.post("/api/orders", json=other_body, headers={**auth["manager"], **key}).status_code == 409


def test_anonymous_callers_cannot_tell_an_archived_product_exists(client, auth):
    product = create_product(client, auth["manager"])
    assert client.delete(f"/api/products/{product['id']}", headers=auth["manager"]).status_code == 200
    for path in (f"/api/products/{product['id']}", f"/api/books/{product['id']}",
                 f"/api/barcodes/{product['sku']}"):
        resp = client.get(path)
        assert resp.status_code == 404, path
    listed = client.get("/api/products?status=archived").get_json()
    assert listed["total"] == 0 and listed["items"] == []
