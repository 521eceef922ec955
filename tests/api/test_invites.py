"""Invites over HTTP: admins invite, the invited join once with the code, mail carries it, refusals are one answer and throttled."""
import email
import re
from pathlib import Path

import pytest

from app.background import Background
from tests.conftest import PASSWORDS

CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16}$")


def invite(client, auth, **body):
    resp = client.post("/api/invites", json={"role": "clerk", **body}, headers=auth["admin"])
    assert resp.status_code == 201, resp.get_json()
    return resp


def accept(client, code, username="sam", password="sam-pass-123", **extra):
    return client.post("/api/auth/accept-invite",
                       json={"code": code, "username": username, "password": password, **extra})


def send_mail(app):
    Background(app, "test").run_once()


def sent_messages(data_dir):
    """The .eml files the outbox folder holds, parsed, oldest first."""
    folder = Path(data_dir) / "outbox"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


@pytest.mark.parametrize("role,status", [("manager", 403), ("clerk", 403), ("viewer", 403), (None, 401)])
def test_only_admins_manage_invites(client, auth, role, status):
    headers = auth[role] if role else {}
    assert client.post("/api/invites", json={"role": "clerk"}, headers=headers).status_code == status
    assert client.get("/api/invites", headers=headers).status_code == status
    assert client.get("/api/outbox", headers=headers).status_code == status


def test_an_invite_shows_its_code_once_and_never_again(client, auth):
    resp = invite(client, auth, email="sam@example.com", note="weekend help")
    body = resp.get_json()
    assert CROCKFORD.match(body["code"]) and body["status"] == "pending" and body["role"] == "clerk"
    assert resp.headers["Location"].endswith(f"/api/invites/{body['id']}")
    one = client.get(f"/api/invites/{body['id']}", headers=auth["admin"])
    assert one.status_code == 200 and "code" not in one.get_json() and "code_hash" not in one.get_json()
    assert one.headers["ETag"] == '"1"'
    listed = client.get("/api/invites?status=pending&email=SAM@example.com", headers=auth["admin"]).get_json()
    assert [i["id"] for i in listed["items"]] == [body["id"]] and "code" not in listed["items"][0]
    assert body["code"] not in str(client.get("/api/outbox", headers=auth["admin"]).get_json())


def test_the_invited_join_once_with_the_code_typed_loosely(client, auth):
    code = invite(client, auth, role="manager", email="sam@example.com").get_json()["code"]
    typed = " ".join(code[i:i + 4] for i in range(0, 16, 4)).lower().replace(" ", " - ", 1)
    joined = accept(client, typed)
    assert joined.status_code == 201, joined.get_json()
    body = joined.get_json()
    assert body["user"]["role"] == "manager" and body["user"]["email"] == "sam@example.com"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == "sam"
    again = accept(client, code, username="sam2")
    assert again.status_code == 400 and again.get_json()["code"] == "invalid_invite"
    used = client.get("/api/invites?status=used", headers=auth["admin"]).get_json()["items"][0]
    assert used["used_by"] == body["user"]["id"] and used["used_at"]


def test_every_bad_code_gets_the_same_answer_before_the_other_fields_are_judged(client, auth):
    made = invite(client, auth).get_json()
    client.delete(f"/api/invites/{made['id']}", headers=auth["admin"])
    expired = invite(client, auth, expires_in_hours=1).get_json()
    answers = [accept(client, "0000-0000-0000-0000"), accept(client, made["code"]),
               accept(client, "nonsense", username="bad name!", password="x"), accept(client, None)]
    bodies = [{k: v for k, v in a.get_json().items() if k != "request_id"} for a in answers]
    assert all(a.status_code == 400 for a in answers)
    assert bodies[0]["code"] == "invalid_invite" and all(b == bodies[0] for b in bodies)
    assert accept(client, expired["code"], password="short").get_json()["code"] == "validation_error"


def test_a_refused_accept_leaves_the_invite_as_it_was(client, auth):
    code = invite(client, auth).get_json()["code"]
    taken = accept(client, code, username="clerk")  # that username exists
    assert taken.status_code == 409 and taken.get_json()["code"] == "duplicate_username"
    assert accept(client, code).status_code == 201


def test_ten_refusals_in_a_minute_from_one_address_lock_accepting_and_confirming(client, auth):
    code = invite(client, auth).get_json()["code"]
    for _ in range(10):
        assert accept(client, "WRONG-CODE").status_code == 400
    locked = accept(client, code)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    confirm = client.post("/api/auth/password-reset/confirm", json={"token": "x", "new_password": "whatever-1"})
    assert confirm.status_code == 429


def test_revoking_a_pending_invite_and_the_rules_for_the_others(client, auth):
    made = invite(client, auth).get_json()
    revoked = client.delete(f"/api/invites/{made['id']}", headers=auth["admin"])
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["revoked_at"]
    again = client.delete(f"/api/invites/{made['id']}", headers=auth["admin"])
    assert again.status_code == 200 and again.get_json()["version"] == revoked.get_json()["version"]
    used = invite(client, auth).get_json()
    accept(client, used["code"])
    refused = client.delete(f"/api/invites/{used['id']}", headers=auth["admin"])
    assert refused.status_code == 409 and refused.get_json()["code"] == "invalid_transition"
    assert client.delete("/api/invites/nothing", headers=auth["admin"]).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"role": "owner"}, "role"), ({"role": "clerk", "expires_in_hours": 0}, "expires_in_hours"),
    ({"role": "clerk", "expires_in_hours": 721}, "expires_in_hours"),
    ({"role": "clerk", "expires_in_hours": 2, "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
    ({"role": "clerk", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ({"role": "clerk", "email": "not an address"}, "email"), ({"role": "clerk", "code": "MINE"}, "code"),
])
def test_a_bad_invite_is_400_under_its_field(client, auth, body, field):
    resp = client.post("/api/invites", json=body, headers=auth["admin"])
    assert resp.status_code == 400 and field in resp.get_json()["errors"]


def test_the_invite_message_is_queued_with_the_change_and_sent_after_it(app, client, auth, data_dir):
    code = invite(client, auth, role="viewer", email="Sam <sam@example.com>".split("<")[1][:-1]).get_json()["code"]
    queued = client.get("/api/outbox", headers=auth["admin"]).get_json()["items"]
    assert [(m["kind"], m["status"], m["to"]) for m in queued] == [("invite", "queued", "sam@example.com")]
    assert "text" not in queued[0]
    send_mail(app)
    [message] = sent_messages(data_dir)
    assert message["Subject"] == "Your invitation to Backroom" and message["To"] == "sam@example.com"
    assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"] and message["Date"]
    assert message["From"] == "Backroom <noreply@localhost>"
    text = message.get_payload(decode=True).decode("utf-8")
    assert code in text.splitlines() and "viewer" in text
    sent = client.get("/api/outbox?status=sent", headers=auth["admin"]).get_json()["items"]
    assert len(sent) == 1 and sent[0]["attempts"] == 1 and sent[0]["sent_at"]
