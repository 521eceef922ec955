"""OWASP API2:2023 Broken Authentication: a token works only as the kind it was made for, only
while it is signed by this shop's key, unexpired and its session alive; it is read from the
Authorization header alone; guessing passwords is throttled per username and address; a failed
login says nothing about which half was wrong. (The basics, one behaviour each, are in
tests/api/test_auth.py; this module attacks them.)
"""
import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.conftest import PASSWORDS
from tests.factories import assert_problem


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class _BackdatedSigner(TimestampSigner):
    """Signs as of an hour ago: a genuine token, long expired."""

    def get_timestamp(self):
        return int(time.time()) - 3600


def forged(app, claims, salt="backroom.access", secret=None, signer=TimestampSigner):
    return URLSafeTimedSerializer(secret or app.config["SECRET_KEY"], salt=salt,
                                  signer=signer).dumps(claims)


def test_a_refresh_token_is_no_access_token_and_the_reverse(client, tokens):
    assert_problem(client.get("/api/auth/me", headers=bearer(tokens["admin"]["refresh_token"])), 401)
    resp = client.post("/api/auth/refresh", json={"refresh_token": tokens["admin"]["access_token"]})
    assert_problem(resp, 401)


def test_a_token_signed_with_another_key_is_refused(app, client, tokens, users):
    claims = {"sid": "whatever", "uid": users["admin"]["id"]}
    token = forged(app, claims, secret="not-this-shops-key")
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)


def test_a_token_signed_with_the_right_key_for_a_made_up_session_is_refused(app, client, users):
    token = forged(app, {"sid": "no-such-session", "uid": users["admin"]["id"]})
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)


def test_a_tampered_token_is_refused(client, tokens):
    token = tokens["viewer"]["access_token"]
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    for at in (1, len(token) // 2, len(token) - 3):
        changed = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]
        assert_problem(client.get("/api/auth/me", headers=bearer(changed)), 401)
    assert_problem(client.get("/api/auth/me", headers=bearer(token[:-2])), 401)


def test_an_expired_but_genuine_token_is_refused(app, client, tokens):
    """Same key, same salt, a live session: only its age is wrong."""
    live = app.extensions["backroom.tokens"].access.loads(tokens["manager"]["access_token"])
    old = forged(app, live, signer=_BackdatedSigner)
    assert_problem(client.get("/api/auth/me", headers=bearer(old)), 401)
    old_refresh = app.extensions["backroom.tokens"].refresh.loads(tokens["manager"]["refresh_token"])
    resp = client.post("/api/auth/refresh",
                       json={"refresh_token": forged(app, old_refresh, "backroom.refresh",
                                                     signer=_BackdatedSigner)})
    assert resp.status_code == 200, "a week-long refresh token an hour old is still good"
    short = app.extensions["backroom.tokens"]
    short.refresh_ttl = 1800  # now an hour is too old for it as well
    old_refresh = short.refresh.loads(resp.get_json()["refresh_token"])
    resp = client.post("/api/auth/refresh",
                       json={"refresh_token": forged(app, old_refresh, "backroom.refresh",
                                                     signer=_BackdatedSigner)})
    assert_problem(resp, 401)


def test_tokens_are_read_from_the_authorization_header_only(client, tokens):
    token = tokens["admin"]["access_token"]
    for resp in (client.get(f"/api/users?access_token={token}"),
                 client.get("/api/users", headers={"X-Access-Token": token}),
                 client.get("/api/users", headers={"Cookie": f"access_token={token}"}),
                 client.get("/api/users", headers={"Authorization": f"Basic {token}"}),
                 client.get("/api/users", headers={"Authorization": token})):
        assert_problem(resp, 401)


def test_a_bad_token_is_refused_even_where_anonymous_callers_are_welcome(client):
    assert_problem(client.get("/api/products", headers=bearer("garbage")), 401)


def test_logged_out_and_deactivated_tokens_stop_at_once(client, auth, tokens, users):
    assert client.post("/api/auth/logout", headers=auth["viewer"]).status_code == 204
    assert_problem(client.get("/api/orders", headers=auth["viewer"]), 401)
    resp = client.post("/api/auth/refresh", json={"refresh_token": tokens["viewer"]["refresh_token"]})
    assert_problem(resp, 401)
    assert client.delete(f"/api/users/{users['clerk']['id']}", headers=auth["admin"]).status_code == 200
    assert_problem(client.get("/api/orders", headers=auth["clerk"]), 401)
    assert_problem(client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORDS["clerk"]}), 401)


def test_throttled_logins_are_per_username_and_address(make_app):
    app = make_app(LOGIN_MAX_FAILURES=3)
    client = app.test_client()
    here, there = {"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.2"}
    for _ in range(3):
        resp = client.post("/api/auth/login", json={"username": "viewer", "password": "guess"},
                           environ_base=here)
        assert resp.status_code == 401
    locked = client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORDS["viewer"]},
                         environ_base=here)
    assert_problem(locked, 429, "rate_limited")
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    # the same user from elsewhere, and another user from here, are not locked out
    assert client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORDS["viewer"]},
                       environ_base=there).status_code == 200
    assert client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORDS["clerk"]},
                       environ_base=here).status_code == 200


def test_a_failed_login_does_not_tell_which_half_was_wrong(client):
    no_user = client.post("/api/auth/login", json={"username": "nobody-here", "password": "x" * 12})
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": "x" * 12})
    assert no_user.status_code == wrong.status_code == 401

    def but_for_the_request_id(items):  # each answer has its own request id; all else is the same
        return {k: v for k, v in items if k not in ("request_id", "X-Request-Id")}
    assert but_for_the_request_id(no_user.get_json().items()) == but_for_the_request_id(wrong.get_json().items())
    assert but_for_the_request_id(no_user.headers.items()) == but_for_the_request_id(wrong.headers.items())
