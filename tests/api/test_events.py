"""Section 13 over HTTP: events per role, notifications, tickets and the stream, webhooks and their
deliveries (signed as the Standard Webhooks reference verifier checks), on both backends."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tests.factories import assert_problem, create_product, pay, place_order

ROLES = ("admin", "manager", "clerk", "viewer")


def _events(client, headers, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    resp = client.get(f"/api/events?limit=200&{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def _newest_types(client, auth, n):
    return [e["type"] for e in reversed(_events(client, auth["admin"])[:n])]


# ---- events ---------------------------------------------------------------------------------------

def test_an_order_paid_at_creation_emptying_a_product_records_its_events_in_order(client, auth):
    product = create_product(client, auth["manager"], stock=5, low_stock_threshold=2)
    assert _newest_types(client, auth, 1) == ["product.created"]
    order = place_order(client, auth["clerk"], [(product, 5)],
                        payment={"method": "cash", "amount": str(int(product["price"].split(".")[0]) * 5)
                                 + "." + product["price"].split(".")[1]})
    assert _newest_types(client, auth, 4) == ["order.created", "order.paid", "stock.low", "stock.out"]
    newest = _events(client, auth["viewer"])[:4]
    assert newest[3]["data"]["id"] == order["id"] and newest[3]["data"]["status"] == "paid"
    assert newest[0]["data"]["id"] == product["id"] and newest[0]["data"]["stock"] == 0
    one = client.get(f"/api/events/{newest[0]['id']}", headers=auth["clerk"])
    assert one.status_code == 200 and one.get_json() == newest[0]
    assert "." not in newest[0]["id"]


def test_stock_low_only_when_the_change_crosses_the_threshold(client, auth):
    product = create_product(client, auth["manager"], stock=10, low_stock_threshold=3)
    place_order(client, auth["clerk"], [(product, 2)])
    assert "stock.low" not in _newest_types(client, auth, 2)
    place_order(client, auth["clerk"], [(product, 5)])
    assert _newest_types(client, auth, 2) == ["order.created", "stock.low"]
    place_order(client, auth["clerk"], [(product, 1)])
    assert _newest_types(client, auth, 1) == ["order.created"]  # already at or below: no new one


def test_product_changes_record_updated_then_archived_alone(client, auth):
    product = create_product(client, auth["manager"])
    assert client.patch(f"/api/products/{product['id']}", json={"title": "New"},
                        headers=auth["manager"]).status_code == 200
    assert _newest_types(client, auth, 1) == ["product.updated"]
    assert client.delete(f"/api/products/{product['id']}", headers=auth["manager"]).status_code in (200, 204)
    assert _newest_types(client, auth, 1) == ["product.archived"]
    assert _events(client, auth["admin"])[0]["data"]["status"] == "archived"


def test_user_and_webhook_events_are_for_admins_only(client, auth):
    resp = client.post("/api/users", json={"username": "newbie", "password": "long enough pw",
                                           "role": "clerk"}, headers=auth["admin"])
    assert resp.status_code == 201
    admin_view = _events(client, auth["admin"], type="user.created")
    assert admin_view and admin_view[0]["data"]["username"] == "newbie"
    assert "password_hash" not in admin_view[0]["data"]
    for role in ("manager", "clerk", "viewer"):
        assert _events(client, auth[role], type="user.created") == []
        assert all(not e["type"].startswith("user.") for e in _events(client, auth[role]))
        assert_problem(client.get(f"/api/events/{admin_view[0]['id']}", headers=auth[role]), 404)
    assert client.get("/api/events").status_code == 401
    assert_problem(client.get("/api/events/evt_nope", headers=auth["admin"]), 404)


def test_events_filter_by_types_and_time(client, auth):
    product = create_product(client, auth["manager"], stock=3)
    place_order(client, auth["clerk"], [(product, 1)])
    both = _events(client, auth["viewer"], type="order.created,product.created")
    assert {e["type"] for e in both} <= {"order.created", "product.created"} and len(both) >= 2
    assert _events(client, auth["viewer"], since="2999-01-01") == []
    assert len(_events(client, auth["viewer"], until="2999-01-01")) >= 2


# ---- notifications ----------------------------------------------------------------------------------

def _inbox(client, headers, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    resp = client.get(f"/api/notifications?{query}", headers=headers)
    assert resp.status_code == 200
    return resp.get_json()["items"]


def _count(client, headers):
    return client.get("/api/notifications/unread-count", headers=headers).get_json()["count"]


def test_a_low_stock_crossing_notifies_admins_and_managers_who_want_it(client, auth):
    product = create_product(client, auth["manager"], stock=4, low_stock_threshold=2, title="Middlemarch")
    before = {role: _count(client, auth[role]) for role in ROLES}
    place_order(client, auth["clerk"], [(product, 2)])
    for role in ("admin", "manager"):
        assert _count(client, auth[role]) == before[role] + 1
        note = _inbox(client, auth[role])[0]
        assert note["type"] == "stock.low" and note["title"] == "Low stock: Middlemarch"
        assert note["message"] == "2 left (threshold 2)"
        assert note["resource_type"] == "product" and note["resource_id"] == product["id"]
        assert note["read_at"] is None and note["version"] == 1
    for role in ("clerk", "viewer"):
        assert _count(client, auth[role]) == before[role]


def test_read_read_all_and_another_users_notification(client, auth):
    product = create_product(client, auth["manager"], stock=2, low_stock_threshold=1)
    place_order(client, auth["clerk"], [(product, 1)])
    place_order(client, auth["clerk"], [(product, 1)])  # low, then out
    mine = _inbox(client, auth["manager"], unread="true")
    assert len(mine) >= 2
    first = client.post(f"/api/notifications/{mine[0]['id']}/read", headers=auth["manager"])
    assert first.status_code == 200 and first.get_json()["read_at"]
    again = client.put(f"/api/notifications/{mine[0]['id']}/read", headers=auth["manager"])
    assert again.get_json()["read_at"] == first.get_json()["read_at"]
    assert mine[0]["id"] in [n["id"] for n in _inbox(client, auth["manager"], unread="false")]
    # the admin's inbox is another's: 404 everywhere, and it stays unread
    theirs = _inbox(client, auth["admin"], unread="true")[0]
    assert_problem(client.get(f"/api/notifications/{theirs['id']}", headers=auth["manager"]), 404)
    assert_problem(client.post(f"/api/notifications/{theirs['id']}/read", headers=auth["manager"]), 404)
    assert client.get(f"/api/notifications/{theirs['id']}", headers=auth["admin"]).get_json()["read_at"] is None
    unread = _count(client, auth["manager"])
    resp = client.post("/api/notifications/read-all", headers=auth["manager"])
    assert resp.status_code == 200 and resp.get_json() == {"count": unread}
    assert _count(client, auth["manager"]) == 0
    assert client.get("/api/notifications").status_code == 401


def test_preferences_turn_a_type_off_and_are_validated(client, auth):
    prefs = client.get("/api/notifications/preferences", headers=auth["manager"]).get_json()
    assert prefs["types"]["stock.low"] is True and prefs["email"]["stock.low"] is False
    resp = client.put("/api/notifications/preferences", json={"types": {"stock.low": False}},
                      headers=auth["manager"])
    assert resp.status_code == 200
    assert resp.get_json()["types"]["stock.low"] is False and resp.get_json()["types"]["stock.out"] is True
    body = assert_problem(client.put("/api/notifications/preferences", json={"types": {"nope.x": True}},
                                     headers=auth["manager"]), 400, "validation_error")
    assert "types.nope.x" in body["errors"]
    assert_problem(client.put("/api/notifications/preferences", json={"types": {"stock.out": "yes"}},
                              headers=auth["manager"]), 400, "validation_error")
    before = _count(client, auth["manager"])
    product = create_product(client, auth["manager"], stock=3, low_stock_threshold=2)
    place_order(client, auth["clerk"], [(product, 1)])
    assert _count(client, auth["manager"]) == before
    assert _inbox(client, auth["admin"])[0]["type"] == "stock.low"


# ---- tickets and the stream (inline, without gunicorn) ----------------------------------------------

def test_tickets_open_one_stream_once_and_are_no_access_token(client, auth):
    resp = client.post("/api/events/tickets", headers=auth["viewer"])
    assert resp.status_code == 201 and resp.get_json()["expires_in"] == 60
    ticket = resp.get_json()["ticket"]
    assert_problem(client.get("/api/events", headers={"Authorization": f"Bearer {ticket}"}), 401)
    stream = client.get(f"/api/events/stream?ticket={ticket}", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    assert stream.headers["Cache-Control"] == "no-cache"
    stream.close()
    assert_problem(client.get(f"/api/events/stream?ticket={ticket}"), 401)
    assert_problem(client.get("/api/events/stream?ticket=stk_unknown"), 401)
    assert_problem(client.get("/api/events/stream"), 401)
    assert client.post("/api/events/tickets").status_code == 401


def _read_until(stream, needle, limit=200):
    text = ""
    for chunk in stream.response:
        text += chunk.decode()
        if needle in text or limit == 0:
            break
        limit -= 1
    return text


def test_the_stream_resumes_after_last_event_id_and_resets_on_an_unknown_one(client, auth):
    product = create_product(client, auth["manager"], stock=3, low_stock_threshold=1)
    mark = _events(client, auth["admin"])[0]["id"]
    order = place_order(client, auth["clerk"], [(product, 2)])
    stream = client.get("/api/events/stream", headers={**auth["manager"], "Last-Event-ID": mark},
                        buffered=False)
    text = _read_until(stream, "event: notification")
    stream.close()
    assert f"event: order.created\ndata: " in text and order["id"] in text
    assert text.index("event: order.created") < text.index("event: stock.low") < text.index("event: notification")
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {\"id\"")]
    assert data[0]["type"] == "order.created"
    stream = client.get("/api/events/stream?last_event_id=evt_gone", headers=auth["viewer"], buffered=False)
    text = _read_until(stream, "reset")
    stream.close()
    first = [block for block in text.split("\n\n") if block and not block.startswith("retry:")][0]
    assert first == 'event: reset\ndata: {"reason":"last_event_id_unknown"}'


# ---- webhooks ---------------------------------------------------------------------------------------

class Receiver:
    """A webhook receiver on 127.0.0.1 answering with the statuses given, then 200; HTTP/1.0
    (a connection per request), or with keep_alive HTTP/1.1 keeping connections open. It counts
    the connections it accepted."""

    def __init__(self, statuses=(), keep_alive=False):
        self.statuses = list(statuses)
        self.got = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self):
                super().setup()
                outer.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def private_client(make_app):
    app = make_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_SCALE=0.0001)
    return app, app.test_client()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def _sender_round(app):
    from app.sender import Sender
    sender = Sender(app, name="test-sender:1")
    try:
        return sender.run_once()
    finally:
        sender.pool.shutdown()


def test_webhooks_are_for_admins_and_their_secret_is_shown_once(private_client, auth, receiver):
    app, client = private_client
    for role in ("manager", "clerk", "viewer"):
        assert_problem(client.get("/api/webhooks", headers=auth[role]), 403)
        assert_problem(client.post("/api/webhooks", json={"url": receiver.url, "events": ["*"]},
                                   headers=auth[role]), 403)
    resp = client.post("/api/webhooks", json={"url": receiver.url, "events": ["order.paid"]},
                       headers={**auth["admin"], "Idempotency-Key": "wh-1"})
    assert resp.status_code == 201 and resp.headers["Location"].endswith(resp.get_json()["id"])
    hook = resp.get_json()
    assert hook["secret"].startswith("whsec_") and hook["active"] is True and hook["disabled_reason"] is None
    replay = client.post("/api/webhooks", json={"url": receiver.url, "events": ["order.paid"]},
                         headers={**auth["admin"], "Idempotency-Key": "wh-1"})
    assert replay.get_json()["id"] == hook["id"]
    one = client.get(f"/api/webhooks/{hook['id']}", headers=auth["admin"])
    assert one.status_code == 200 and "secret" not in one.get_json() and one.headers["ETag"] == '"1"'
    assert all("secret" not in w for w in client.get("/api/webhooks", headers=auth["admin"]).get_json()["items"])
    changed = client.patch(f"/api/webhooks/{hook['id']}", json={"description": "till"},
                           headers={**auth["admin"], "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.get_json()["description"] == "till"
    assert_problem(client.patch(f"/api/webhooks/{hook['id']}", json={"description": "x"},
                                headers={**auth["admin"], "If-Match": '"1"'}), 412)
    assert_problem(client.patch(f"/api/webhooks/{hook['id']}", json={"secret": "whsec_x"},
                                headers=auth["admin"]), 400, "validation_error")
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=auth["admin"]).status_code == 204
    assert_problem(client.get(f"/api/webhooks/{hook['id']}", headers=auth["admin"]), 404)


@pytest.mark.parametrize("url,code,field", [
    ("ftp://example.com/x", "validation_error", "url"),
    ("https://user:pw@example.com/x", "validation_error", "url"),
    ("/relative", "validation_error", "url"),
    ("http://127.0.0.1:9/x", "webhook_url_not_allowed", "url"),
    ("http://10.1.2.3/x", "webhook_url_not_allowed", "url"),
    ("http://169.254.169.254/latest", "webhook_url_not_allowed", "url"),
    ("http://[::1]/x", "webhook_url_not_allowed", "url"),
    ("http://localhost/x", "webhook_url_not_allowed", "url"),
    ("http://does-not-resolve.invalid/x", "validation_error", "url"),
])
def test_the_ssrf_guard_and_url_rules(client, auth, url, code, field):
    body = assert_problem(client.post("/api/webhooks", json={"url": url, "events": ["*"]},
                                      headers=auth["admin"]), 400, code)
    assert field in body["errors"]


def test_events_must_be_a_list_of_types_or_star(private_client, auth, receiver):
    _, client = private_client
    for events in ([], "order.paid", ["*", "order.paid"], [1]):
        body = assert_problem(client.post("/api/webhooks", json={"url": receiver.url, "events": events},
                                          headers=auth["admin"]), 400, "validation_error")
        assert "events" in body["errors"]


def test_a_delivery_is_signed_as_standard_webhooks_verify_and_logged(private_client, auth, receiver):
    app, client = private_client
    hook = client.post("/api/webhooks", json={"url": receiver.url, "events": ["order.created"]},
                       headers=auth["admin"]).get_json()
    product = create_product(client, auth["manager"], stock=5)
    order = place_order(client, auth["clerk"], [(product, 1)])
    deliveries = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth["admin"]).get_json()["items"]
    assert [d["status"] for d in deliveries] == ["pending"] and deliveries[0]["type"] == "order.created"
    assert _sender_round(app) == 1
    headers, body = receiver.got[0]
    payload = Webhook(hook["secret"]).verify(body, {k.lower(): v for k, v in headers.items()})
    assert payload["type"] == "order.created" and payload["data"]["id"] == order["id"]
    assert set(json.loads(body)) == {"id", "type", "timestamp", "data"}
    assert headers["webhook-id"] == payload["id"] == deliveries[0]["event_id"]
    done = client.get(f"/api/webhooks/{hook['id']}/deliveries?status=delivered",
                      headers=auth["admin"]).get_json()["items"][0]
    assert done["attempts"] == 1 and done["response_status"] == 200 and done["error"] is None
    assert done["next_attempt_at"] is None


def test_failures_retry_then_succeed_and_retry_now_and_ping(private_client, auth):
    app, client = private_client
    receiver = Receiver([500])
    try:
        hook = client.post("/api/webhooks", json={"url": receiver.url, "events": ["*"]},
                           headers=auth["admin"]).get_json()
        ping = client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"])
        assert ping.status_code == 202 and ping.get_json()["type"] == "webhook.ping"
        assert _sender_round(app) == 1
        failed = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth["admin"]).get_json()["items"][0]
        assert failed["status"] == "pending" and failed["error"] == "HTTP 500" and failed["response_status"] == 500
        assert failed["next_attempt_at"]
        retried = client.post(f"/api/webhooks/{hook['id']}/deliveries/{failed['id']}/retry",
                              headers=auth["admin"])
        assert retried.status_code == 202
        assert _sender_round(app) == 1
        log = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth["admin"]).get_json()["items"][0]
        assert log["status"] == "delivered" and log["attempts"] == 2
        assert [h["webhook-id"] for h, _ in receiver.got] == [failed["event_id"]] * 2
    finally:
        receiver.close()


def test_a_410_disables_the_endpoint_and_tells_the_admins(private_client, auth):
    app, client = private_client
    receiver = Receiver([410])
    try:
        hook = client.post("/api/webhooks", json={"url": receiver.url, "events": ["order.created"]},
                           headers=auth["admin"]).get_json()
        product = create_product(client, auth["manager"], stock=5)
        place_order(client, auth["clerk"], [(product, 1)])
        _sender_round(app)
        now = client.get(f"/api/webhooks/{hook['id']}", headers=auth["admin"]).get_json()
        assert now["active"] is False and "410" in now["disabled_reason"]
        assert _inbox(client, auth["admin"])[0]["type"] == "webhook.disabled"
        assert_problem(client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"]), 409,
                       "webhook_inactive")
        place_order(client, auth["clerk"], [(product, 1)])
        items = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=auth["admin"]).get_json()["items"]
        assert len(items) == 1 and items[0]["status"] == "failed"
        again = client.patch(f"/api/webhooks/{hook['id']}", json={"active": True}, headers=auth["admin"])
        assert again.get_json()["active"] is True and again.get_json()["disabled_reason"] is None
    finally:
        receiver.close()


def test_rotation_signs_with_both_secrets_then_only_the_new(private_client, auth, receiver):
    app, client = private_client
    hook = client.post("/api/webhooks", json={"url": receiver.url, "events": ["*"]},
                       headers=auth["admin"]).get_json()
    rotated = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", json={"old_secret_expires_in": 3600},
                          headers=auth["admin"])
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert new != hook["secret"]
    client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"])
    _sender_round(app)
    headers, body = receiver.got[-1]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert len(lowered["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, lowered)
    Webhook(hook["secret"]).verify(body, lowered)
    assert_problem(client.post(f"/api/webhooks/{hook['id']}/rotate-secret", json={"old_secret_expires_in": 86401},
                               headers=auth["admin"]), 400, "validation_error")
    newest = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", json={"old_secret_expires_in": 0},
                         headers=auth["admin"]).get_json()["secret"]
    client.post(f"/api/webhooks/{hook['id']}/ping", headers=auth["admin"])
    _sender_round(app)
    headers, body = receiver.got[-1]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert len(lowered["webhook-signature"].split(" ")) == 1
    Webhook(newest).verify(body, lowered)


def test_an_attempt_keeps_a_receivers_open_connection_and_still_checks_the_guard_each_time():
    from app.sender import attempt
    kept = Receiver([204] * 4, keep_alive=True)
    try:
        outcomes = [attempt(kept.url, {"Content-Type": "application/json"}, b"{}", True) for _ in range(3)]
        assert [o["status"] for o in outcomes] == [204, 204, 204]
        assert (kept.connections, len(kept.got)) == (1, 3)  # one connection, kept
        refused = attempt(kept.url, {"Content-Type": "application/json"}, b"{}", False)
        assert refused == {"ok": False, "status": None, "ms": None, "error": "address not allowed"}
        assert len(kept.got) == 3  # the open connection was not used past the guard
    finally:
        kept.close()
    closing = Receiver()  # HTTP/1.0: closes after each answer, so each attempt connects anew
    try:
        assert [attempt(closing.url, {}, b"{}", True)["ok"] for _ in range(2)] == [True, True]
        assert (closing.connections, len(closing.got)) == (2, 2)
    finally:
        closing.close()
