"""Password reset by mail over HTTP: one answer whatever the account, the token by mail, used once, sessions signed out."""
import email
import re
from pathlib import Path

import pytest

from app.background import Background
from tests.conftest import PASSWORDS

ANSWER = {"detail": "If the account exists and has an email address, a message is on its way."}
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def ask(client, **body):
    return client.post("/api/auth/password-reset", json=body)


def confirm(client, token, new_password="brand-new-pass-1"):
    return client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": new_password})


def tokens_mailed(app, data_dir):
    """Run the background process's work once; every reset token mailed so far, oldest first."""
    Background(app, "test").run_once()
    found = []
    for path in sorted((Path(data_dir) / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["Subject"].startswith("Reset your password"):
            found += [(message["To"], line) for line in message.get_payload(decode=True).decode().splitlines()
                      if TOKEN.match(line)]
    return found


def login(client, username, password):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_the_answer_is_the_same_whatever_the_account_and_nothing_is_sent_in_the_request(client, auth):
    answers = [ask(client, email="clerk@example.com"), ask(client, email="nobody@example.com"),
               ask(client, username="viewer"), ask(client, username="ghost")]
    assert [a.status_code for a in answers] == [202] * 4
    assert all(a.get_json() == ANSWER for a in answers)
    assert client.get("/api/outbox", headers=auth["admin"]).get_json()["total"] == 0


@pytest.mark.parametrize("body", [{}, {"email": "a@example.com", "username": "clerk"}, {"email": "nope"},
                                  {"username": ""}, {"phone": "1"}])
def test_exactly_one_of_email_and_username(client, body):
    resp = ask(client, **body)
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"


def test_a_mailed_token_sets_the_password_once_and_signs_every_session_out(app, client, auth, data_dir):
    assert ask(client, email="CLERK@example.com").status_code == 202
    [(to, token)] = tokens_mailed(app, data_dir)
    assert to == "clerk@example.com"
    assert client.get("/api/auth/me", headers=auth["clerk"]).status_code == 200
    assert confirm(client, token).status_code == 204
    assert client.get("/api/auth/me", headers=auth["clerk"]).status_code == 401
    assert login(client, "clerk", PASSWORDS["clerk"]).status_code == 401
    assert login(client, "clerk", "brand-new-pass-1").status_code == 200
    again = confirm(client, token, "another-pass-2")
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_token"


def test_a_short_new_password_keeps_the_token_usable(app, client, data_dir):
    ask(client, username="viewer")
    [(_, token)] = tokens_mailed(app, data_dir)
    short = confirm(client, token, "short")
    assert short.status_code == 400 and short.get_json()["code"] == "validation_error"
    assert confirm(client, token).status_code == 204


def test_a_newer_token_or_a_password_change_voids_the_older_ones(app, client, auth, data_dir):
    ask(client, username="manager")
    ask(client, username="manager")
    [(_, older), (_, newer)] = tokens_mailed(app, data_dir)
    assert confirm(client, older).get_json()["code"] == "invalid_token"
    changed = client.post("/api/auth/password", headers=auth["manager"],
                          json={"current_password": PASSWORDS["manager"], "new_password": "changed-pass-1"})
    assert changed.status_code == 204
    assert confirm(client, newer).get_json()["code"] == "invalid_token"


def test_unknown_and_bad_tokens_get_one_answer(client):
    bodies = []
    for token in ("x" * 43, "short", 7, None):
        resp = client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": "whatever-1"})
        assert resp.status_code == 400
        bodies.append({k: v for k, v in resp.get_json().items() if k != "request_id"})
    assert bodies[0]["code"] == "invalid_token" and all(b == bodies[0] for b in bodies)


def test_at_most_five_requests_an_hour_per_account_are_acted_upon(app, client, data_dir):
    for _ in range(7):
        assert ask(client, username="clerk").status_code == 202
    assert len(tokens_mailed(app, data_dir)) == 5


def test_an_account_without_email_or_deactivated_gets_nothing(app, client, auth, users, data_dir):
    client.patch(f"/api/users/{users['viewer']['id']}", json={"email": None}, headers=auth["admin"])
    client.delete(f"/api/users/{users['clerk']['id']}", headers=auth["admin"])
    ask(client, username="viewer")
    ask(client, email="clerk@example.com")
    assert tokens_mailed(app, data_dir) == []
