"""Staff management over HTTP: admins only, unique usernames, deactivation, the last admin, If-Match."""
import pytest

from tests.factories import assert_problem


def _new_user(client, auth, **fields):
    body = {"username": "dora", "password": "dora-password", "role": "clerk",
            "email": "dora@example.com"}
    body.update(fields)
    return client.post("/api/users", json=body, headers=auth["admin"])


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer"])
def test_only_admins_manage_users(client, auth, users, role):
    headers = auth[role]
    assert_problem(client.get("/api/users", headers=headers), 403, "forbidden")
    assert_problem(client.get(f"/api/users/{users['clerk']['id']}", headers=headers), 403)
    assert_problem(client.post("/api/users", json={"username": "x", "password": "long-enough",
                                                   "role": "admin"}, headers=headers), 403)
    assert_problem(client.patch(f"/api/users/{users[role]['id']}", json={"role": "admin"},
                                headers=headers), 403)
    assert_problem(client.delete(f"/api/users/{users['admin']['id']}", headers=headers), 403)


def test_anonymous_callers_get_401(client):
    assert_problem(client.get("/api/users"), 401)


def test_admin_lists_users_without_secrets(client, auth):
    resp = client.get("/api/users", headers=auth["admin"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["total"] == 5 and {u["username"] for u in body["items"]} == {
        "admin", "manager", "clerk", "editor", "viewer"}
    assert all("password_hash" not in u for u in body["items"])
    only_clerks = client.get("/api/users?role=clerk", headers=auth["admin"]).get_json()
    assert [u["username"] for u in only_clerks["items"]] == ["clerk"]


def test_create_user_is_201_with_location(client, auth):
    resp = _new_user(client, auth)
    assert resp.status_code == 201
    user = resp.get_json()
    assert set(user) == {"id", "username", "email", "role", "active", "created_at", "updated_at",
                         "version"}
    assert (user["username"], user["role"], user["active"], user["version"]) == (
        "dora", "clerk", True, 1)
    assert resp.headers["Location"].endswith(f"/api/users/{user['id']}")
    assert client.get(resp.headers["Location"], headers=auth["admin"]).get_json() == user
    login = client.post("/api/auth/login", json={"username": "dora", "password": "dora-password"})
    assert login.status_code == 200


def test_duplicate_username_is_409_case_insensitively(client, auth):
    body = assert_problem(_new_user(client, auth, username="Clerk"), 409, "duplicate_username")
    assert "username" in body["errors"]


@pytest.mark.parametrize("field,value", [("password", "short"), ("role", "owner"),
                                         ("email", "not-an-email"), ("username", "has space")])
def test_invalid_new_user_is_400_per_field(client, auth, field, value):
    body = assert_problem(_new_user(client, auth, **{field: value}), 400, "validation_error")
    assert field in body["errors"]


def test_unknown_field_on_a_user_is_400(client, auth):
    body = assert_problem(_new_user(client, auth, nickname="D"), 400, "validation_error")
    assert "nickname" in body["errors"]


def test_patch_changes_role_and_email_and_grows_version(client, auth, users):
    url = f"/api/users/{users['viewer']['id']}"
    resp = client.patch(url, json={"role": "clerk", "email": "v@example.org"}, headers=auth["admin"])
    assert resp.status_code == 200
    user = resp.get_json()
    assert (user["role"], user["email"], user["version"]) == ("clerk", "v@example.org", 2)
    assert resp.headers["ETag"] == '"2"'


def test_patch_with_a_password_is_400(client, auth, users):
    resp = client.patch(f"/api/users/{users['clerk']['id']}", json={"password": "new-password-1"},
                        headers=auth["admin"])
    assert "password" in assert_problem(resp, 400, "validation_error")["errors"]


def test_renaming_onto_a_taken_username_is_409(client, auth, users):
    resp = client.patch(f"/api/users/{users['clerk']['id']}", json={"username": "VIEWER"},
                        headers=auth["admin"])
    assert_problem(resp, 409, "duplicate_username")


def test_delete_deactivates_the_user(client, auth, users):
    url = f"/api/users/{users['viewer']['id']}"
    resp = client.delete(url, headers=auth["admin"])
    assert resp.status_code == 200
    assert resp.get_json()["active"] is False
    assert client.get(url, headers=auth["admin"]).get_json()["active"] is False
    assert_problem(client.get("/api/orders", headers=auth["viewer"]), 401)


def test_a_deactivated_user_may_be_reactivated(client, auth, users):
    url = f"/api/users/{users['viewer']['id']}"
    client.delete(url, headers=auth["admin"])
    assert client.patch(url, json={"active": True}, headers=auth["admin"]).get_json()["active"] is True


def test_last_admin_cannot_be_demoted_or_deactivated(client, auth, users):
    url = f"/api/users/{users['admin']['id']}"
    assert_problem(client.patch(url, json={"role": "manager"}, headers=auth["admin"]), 409, "last_admin")
    assert_problem(client.patch(url, json={"active": False}, headers=auth["admin"]), 409, "last_admin")
    assert_problem(client.delete(url, headers=auth["admin"]), 409, "last_admin")
    assert client.get(url, headers=auth["admin"]).get_json()["role"] == "admin"


def test_an_admin_may_step_down_once_another_admin_exists(client, auth, users):
    assert _new_user(client, auth, role="admin").status_code == 201
    resp = client.patch(f"/api/users/{users['admin']['id']}", json={"role": "manager"},
                        headers=auth["admin"])
    assert resp.status_code == 200 and resp.get_json()["role"] == "manager"
    assert_problem(client.get("/api/users", headers=auth["admin"]), 403)


def test_stale_if_match_is_412_and_current_one_passes(client, auth, users):
    url = f"/api/users/{users['clerk']['id']}"
    etag = client.get(url, headers=auth["admin"]).headers["ETag"]
    assert etag == '"1"'
    ok = client.patch(url, json={"email": "c1@example.com"}, headers={**auth["admin"], "If-Match": etag})
    assert ok.status_code == 200
    stale = client.patch(url, json={"email": "c2@example.com"},
                         headers={**auth["admin"], "If-Match": etag})
    assert_problem(stale, 412, "precondition_failed")
    assert_problem(client.delete(url, headers={**auth["admin"], "If-Match": etag}), 412)
    assert client.get(url, headers=auth["admin"]).get_json()["email"] == "c1@example.com"


def test_unknown_user_is_404(client, auth):
    assert_problem(client.get("/api/users/nope", headers=auth["admin"]), 404, "not_found")
    assert_problem(client.patch("/api/users/nope", json={"role": "clerk"}, headers=auth["admin"]), 404)
    assert_problem(client.delete("/api/users/nope", headers=auth["admin"]), 404)
