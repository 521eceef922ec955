"""Sign-in over HTTP: login, throttling, refresh rotation, logout, password change, deactivation, me."""
from tests.conftest import PASSWORDS
from tests.factories import assert_problem


def _login(client, username, password, **kwargs):
    return client.post("/api/auth/login", json={"username": username, "password": password}, **kwargs)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _me(client, token):
    return client.get("/api/auth/me", headers=_bearer(token))


def test_login_answers_tokens_and_the_user(client, users):
    resp = _login(client, "clerk", PASSWORDS["clerk"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"] == {k: users["clerk"][k] for k in body["user"]}
    assert set(body["user"]) == {"id", "username", "email", "role", "active", "created_at",
                                 "updated_at", "version"}
    assert _me(client, body["access_token"]).get_json()["username"] == "clerk"


def test_login_username_is_case_insensitive(client):
    assert _login(client, "CLERK", PASSWORDS["clerk"]).status_code == 200


def test_wrong_username_and_wrong_password_get_the_same_401(client):
    no_user = _login(client, "nobody", PASSWORDS["clerk"])
    bad_password = _login(client, "clerk", "not-the-password")
    assert_problem(no_user, 401, "unauthorized")
    def without_request_id(resp):  # each answer has its own request id; all else is the same
        return {k: v for k, v in resp.get_json().items() if k != "request_id"}
    assert without_request_id(no_user) == without_request_id(bad_password)
    assert no_user.headers["WWW-Authenticate"].startswith("Bearer")


def test_login_without_a_password_is_400(client):
    assert_problem(client.post("/api/auth/login", json={"username": "clerk"}), 400, "validation_error")


def test_ten_failed_logins_in_a_minute_lock_that_username_with_retry_after(client):
    for _ in range(10):
        assert _login(client, "viewer", "wrong-password").status_code == 401
    locked = _login(client, "viewer", PASSWORDS["viewer"])     # even the right password
    body = assert_problem(locked, 429, "rate_limited")
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert body["status"] == 429
    # other usernames and addresses: tests/unit/test_users.py (each login here costs a scrypt hash)


def test_refresh_rotates_and_the_old_refresh_token_is_refused(client, tokens):
    old = tokens["clerk"]
    resp = client.post("/api/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert resp.status_code == 200
    new = resp.get_json()
    assert new["token_type"] == "Bearer" and new["user"]["username"] == "clerk"
    assert new["refresh_token"] != old["refresh_token"]
    assert _me(client, new["access_token"]).status_code == 200
    newer = client.post("/api/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert newer.status_code == 200
    assert_problem(client.post("/api/auth/refresh", json={"refresh_token": old["refresh_token"]}), 401)


def test_a_refresh_token_used_twice_signs_its_session_out(client, tokens):
    """Someone holds a copy: the session ends, for the thief's tokens and the owner's alike."""
    stolen = tokens["clerk"]
    first = client.post("/api/auth/refresh", json={"refresh_token": stolen["refresh_token"]}).get_json()
    assert _me(client, first["access_token"]).status_code == 200
    replay = client.post("/api/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert "signed out" in assert_problem(replay, 401)["detail"]
    assert_problem(_me(client, first["access_token"]), 401)
    assert_problem(client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    assert _me(client, tokens["viewer"]["access_token"]).status_code == 200   # other sessions stay


def test_an_access_token_sent_to_refresh_is_refused(client, tokens):
    resp = client.post("/api/auth/refresh", json={"refresh_token": tokens["clerk"]["access_token"]})
    assert_problem(resp, 401)


def test_a_refresh_token_is_not_an_access_token(client, tokens):
    assert_problem(_me(client, tokens["clerk"]["refresh_token"]), 401)


def test_logout_revokes_the_access_token_and_its_refresh_token(client, tokens):
    clerk = tokens["clerk"]
    resp = client.post("/api/auth/logout", headers=_bearer(clerk["access_token"]))
    assert resp.status_code == 204 and resp.data == b""
    assert_problem(_me(client, clerk["access_token"]), 401)
    refresh = client.post("/api/auth/refresh", json={"refresh_token": clerk["refresh_token"]})
    assert_problem(refresh, 401)
    assert _me(client, tokens["viewer"]["access_token"]).status_code == 200   # others stay


def test_logout_without_a_token_is_401(client):
    assert_problem(client.post("/api/auth/logout"), 401)


def test_password_change_keeps_this_session_and_ends_the_others(client, tokens):
    here = _login(client, "clerk", PASSWORDS["clerk"]).get_json()
    elsewhere = tokens["clerk"]
    resp = client.post("/api/auth/password", headers=_bearer(here["access_token"]),
                       json={"current_password": PASSWORDS["clerk"], "new_password": "brand-new-pass"})
    assert resp.status_code == 204
    assert _me(client, here["access_token"]).status_code == 200
    assert_problem(_me(client, elsewhere["access_token"]), 401)
    assert_problem(client.post("/api/auth/refresh",
                               json={"refresh_token": elsewhere["refresh_token"]}), 401)
    assert client.post("/api/auth/refresh",
                       json={"refresh_token": here["refresh_token"]}).status_code == 200
    assert _login(client, "clerk", PASSWORDS["clerk"]).status_code == 401
    assert _login(client, "clerk", "brand-new-pass").status_code == 200


def test_password_change_needs_the_current_password_and_a_long_new_one(client, auth):
    wrong = client.post("/api/auth/password", headers=auth["clerk"],
                        json={"current_password": "guess-guess", "new_password": "brand-new-pass"})
    assert "current_password" in assert_problem(wrong, 400, "validation_error")["errors"]
    short = client.post("/api/auth/password", headers=auth["clerk"],
                        json={"current_password": PASSWORDS["clerk"], "new_password": "short"})
    assert "new_password" in assert_problem(short, 400, "validation_error")["errors"]
    assert _me(client, auth["clerk"]["Authorization"].split()[1]).status_code == 200


def test_deactivated_users_token_is_401_and_login_refused(client, auth, users):
    assert client.delete(f"/api/users/{users['clerk']['id']}", headers=auth["admin"]).status_code == 200
    assert_problem(client.get("/api/auth/me", headers=auth["clerk"]), 401)
    assert_problem(client.get("/api/orders", headers=auth["clerk"]), 401)
    assert_problem(_login(client, "clerk", PASSWORDS["clerk"]), 401)


def test_me_is_the_signed_in_user_without_secrets(client, auth, users):
    resp = client.get("/api/auth/me", headers=auth["manager"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == users["manager"]["id"] and body["role"] == "manager"
    assert "password_hash" not in body and "password" not in body


def test_me_without_or_with_a_bad_token_is_401_with_www_authenticate(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        resp = client.get("/api/auth/me", headers=headers)
        assert_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_access_token_is_401(app_with, auth):
    app = app_with(ACCESS_TOKEN_TTL=-1)
    assert_problem(app.test_client().get("/api/auth/me", headers=auth["clerk"]), 401)
