"""Section 13 with the real gunicorn (3 sync workers), its stream server and its webhook sender:
a low-stock crossing reaches a manager's open stream; 50 open streams leave the API answering;
a receiver on 127.0.0.1 that fails, then succeeds, and the log shows both attempts; kill -9 of
everything with deliveries pending, a restart, and every event delivered exactly as signed."""
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from standardwebhooks.webhooks import Webhook

WAIT = 15.0  # seconds a test waits for what should take well under one


class StreamReader:
    """One open stream on a plain socket, read in a thread: the messages as (event, id, data)."""

    def __init__(self, server, token, last_event_id=None):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        head = (f"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n")
        if last_event_id:
            head += f"Last-Event-ID: {last_event_id}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the stream closed before its headers"
            self.buffer += chunk
        headers, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = headers.decode().split("\r\n")
        assert status_line.split()[1] == "200", headers
        fields = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}
        assert fields["content-type"].startswith("text/event-stream")
        assert fields["cache-control"] == "no-cache"
        self.messages, self.comments, self.ended = [], 0, False
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            self._read_all()
        finally:
            self.ended = True

    def _read_all(self):
        data = self.buffer
        try:
            while True:
                while b"\n\n" in data:
                    block, _, data = data.partition(b"\n\n")
                    self._take(block.decode())
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                data += chunk
        except OSError:
            return

    def _take(self, block):
        current = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments += 1
            elif line:
                name, _, value = line.partition(": ")
                current[name] = value
        if current:
            with self.lock:
                self.messages.append((current.get("event"), current.get("id"),
                                      json.loads(current.get("data", "null"))))

    def wait_for(self, predicate, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for message in self.messages:
                    if predicate(message):
                        return message
            time.sleep(0.02)
        raise AssertionError(f"not on the stream in {timeout}s: {self.messages[-5:]}")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Receiver:
    """A webhook receiver on 127.0.0.1: answers with `statuses` in turn, then 200."""

    def __init__(self, statuses=(), port=0):
        self.statuses = list(statuses)
        self.got = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = outer.statuses.pop(0) if outer.statuses else 200
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def events_server(make_server):
    return make_server(SHOP_WEBHOOK_ALLOW_PRIVATE="true")


@pytest.fixture(scope="module")
def token(events_server):
    return events_server.login()["access_token"]


def _manager(server, token, name):
    resp = server.request("POST", "/api/users", token,
                          json={"username": name, "password": "manager-pass-1", "role": "manager"})
    assert resp.status_code == 201, resp.text
    return server.login(name, "manager-pass-1")["access_token"]


def _order(server, token, product, quantity=1):
    resp = server.request("POST", "/api/orders", token,
                          json={"items": [{"product_id": product["id"], "quantity": quantity}]})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_low_stock_crossing_reaches_a_managers_open_stream(events_server, token):
    manager = _manager(events_server, token, "streamer")
    product = events_server.create_product(token, "LOW-1", 5, low_stock_threshold=2)
    reader = StreamReader(events_server, manager)
    try:
        _order(events_server, token, product, 3)
        low = reader.wait_for(lambda m: m[0] == "stock.low")
        assert low[2]["data"]["id"] == product["id"] and low[2]["data"]["stock"] == 2
        note = reader.wait_for(lambda m: m[0] == "notification")
        assert note[1] == low[1] and note[2]["type"] == "stock.low" and note[2]["event_id"] == low[1]
        kinds = [m[0] for m in reader.messages]
        assert kinds.index("order.created") < kinds.index("stock.low") < kinds.index("notification")
    finally:
        reader.close()
    # resuming after the order's event replays what came after it, in commit order
    created = next(m for m in reader.messages if m[0] == "order.created")
    again = StreamReader(events_server, manager, last_event_id=created[1])
    try:
        assert again.wait_for(lambda m: m[0] == "stock.low")[1] == low[1]
    finally:
        again.close()


def test_fifty_open_streams_leave_the_api_answering(events_server, token):
    readers = [StreamReader(events_server, token) for _ in range(50)]
    try:
        product = events_server.create_product(token, "MANY-1", 100)

        def get(_):
            return events_server.request("GET", f"/api/products/{product['id']}", token, timeout=10).status_code
        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(get, range(60))) == {200}
        order = _order(events_server, token, product)
        for reader in readers:
            reader.wait_for(lambda m: m[0] == "order.created" and m[2]["data"]["id"] == order["id"])
    finally:
        for reader in readers:
            reader.close()


def test_a_failing_receiver_then_a_succeeding_one_and_the_log_shows_both(events_server, token):
    receiver = Receiver([500])
    try:
        resp = events_server.request("POST", "/api/webhooks", token,
                                     json={"url": receiver.url, "events": ["order.created"]})
        assert resp.status_code == 201, resp.text
        hook = resp.json()
        product = events_server.create_product(token, "HOOK-1", 10)
        order = _order(events_server, token, product)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and len(receiver.got) < 2:
            time.sleep(0.05)  # the second attempt comes 5 s after the first failed
        assert [status for _, _, status in receiver.got] == [500, 200]
        for headers, body, _ in receiver.got:
            payload = Webhook(hook["secret"]).verify(body, headers)
            assert payload["data"]["id"] == order["id"]
        log = events_server.request("GET", f"/api/webhooks/{hook['id']}/deliveries", token).json()["items"]
        assert len(log) == 1 and log[0]["status"] == "delivered" and log[0]["attempts"] == 2
        assert log[0]["response_status"] == 200 and log[0]["error"] is None
    finally:
        events_server.request("DELETE", f"/api/webhooks/{hook['id']}", token)
        receiver.close()


def test_kill_9_with_deliveries_pending_loses_none(make_server):
    server = make_server(SHOP_WEBHOOK_ALLOW_PRIVATE="true")
    admin = server.login()["access_token"]
    receiver = Receiver()
    port = receiver.port
    receiver.close()  # nobody listens there yet: every first attempt fails
    resp = server.request("POST", "/api/webhooks", admin, json={"url": f"http://127.0.0.1:{port}/hooks",
                                                                 "events": ["order.created", "order.paid"]})
    hook = resp.json()
    product = server.create_product(admin, "KILL-1", 100)
    orders = [_order(server, admin, product) for _ in range(15)]
    server.kill()
    receiver = Receiver(port=port)
    try:
        server.start()
        wanted = len(orders)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({h["webhook-id"] for h, _, _ in receiver.got}) < wanted:
            time.sleep(0.1)
        seen = {}
        for headers, body, _ in receiver.got:
            payload = Webhook(hook["secret"]).verify(body, headers)
            seen[headers["webhook-id"]] = payload["data"]["id"]
        assert sorted(seen.values()) == sorted(o["id"] for o in orders)
        events = server.list_all("/api/events", admin, type="order.created")
        assert {e["id"] for e in events} == set(seen)
    finally:
        receiver.close()
        server.kill()


def test_a_deactivated_users_stream_closes(events_server, token):
    resp = events_server.request("POST", "/api/users", token,
                                 json={"username": "leaver", "password": "leaver-pass-1", "role": "viewer"})
    assert resp.status_code == 201, resp.text
    leaver = resp.json()
    reader = StreamReader(events_server, events_server.login("leaver", "leaver-pass-1")["access_token"])
    try:
        assert events_server.request("DELETE", f"/api/users/{leaver['id']}", token).status_code == 200
        deadline = time.monotonic() + 65  # the contract's 60 s, and a little
        while time.monotonic() < deadline and not reader.ended:
            time.sleep(0.2)
        assert reader.ended, "the stream of a deactivated user stayed open"
    finally:
        reader.close()
