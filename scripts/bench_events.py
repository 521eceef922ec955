"""Section 13's benchmark: `python -m scripts.bench_events` (`make bench` runs it, see scripts/bench.py).

On a fresh JSON store, Backroom started as `make serve` starts it (gunicorn, its stream server,
its webhook sender), on a free 127.0.0.1 port, loaded with wrk (scripts/bench_http.py's scripts):

1. `POST /api/orders` without webhooks, then with two active webhooks subscribed to
   `order.created` (a receiver in this process on 127.0.0.1 answers 204): at least 0.9x, since a
   request never waits for a delivery;
2. events delivered per second by the sender: the webhook-ids the receiver saw, over the time
   from the start of the orders with webhooks until the last delivery came (the backlog
   drained): at least the order rate of (1), so a backlog never grows;
3. `GET /api/products/{id}` without streams, then with 50 streams open (plain sockets reading
   them): at least 0.9x, since open streams take no worker;
4. the memory (PSS) of every server process together at the end, printed beside the figures.

BENCH_EVENTS_SECONDS (default 10) is each figure's length; BENCH_EVENTS_CONNECTIONS (16).
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scripts import proc_memory
from scripts.bench_http import (_start_backroom, clean_env, ensure_wrk, http, lua_file, say, wrk)

SECONDS = int(os.environ.get("BENCH_EVENTS_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_EVENTS_CONNECTIONS", "16"))
THREADS = 2
STREAMS = 50
ADMIN, PASSWORD = "bench-admin", "bench-admin-pass-1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # http.server's 5 drops the sender's parallel connects (1 s SYN retry)


class Receiver:
    """A webhook receiver: counts attempts and distinct webhook-ids, answers 204."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts, self.ids, self.last_at = 0, set(), None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.attempts += 1
                    outer.ids.add(self.headers.get("webhook-id"))
                    outer.last_at = time.monotonic()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def open_streams(port, token, n):
    """n streams on plain sockets, each drained by one thread; the sockets."""
    socks = []

    def drain(sock):
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(f"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        head = sock.recv(4096)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"a stream did not open: {head[:200]!r}")
        threading.Thread(target=drain, args=(sock,), daemon=True).start()
        socks.append(sock)
    return socks


def figure(label, url, script):
    say(f"{label} ...")
    result = wrk(url, script, SECONDS, CONNECTIONS, THREADS)
    say(f"  {result['rps']:.1f} req/s, p50 {result['p50_us'] / 1000:.1f} ms, "
        f"p99 {result['p99_us'] / 1000:.1f} ms, errors {result['errors']}")
    return result


def main():
    ensure_wrk()
    data_dir = tempfile.mkdtemp(prefix="backroom-bench-events-")
    env = clean_env(SHOP_DATA_DIR=data_dir, SHOP_BIND="127.0.0.1:{port}", SHOP_DEMO_DATA="0",
                    SHOP_ADMIN_USERNAME=ADMIN, SHOP_ADMIN_PASSWORD=PASSWORD,
                    SHOP_WEBHOOK_ALLOW_PRIVATE="true")
    receiver = Receiver()
    server = None
    socks = []
    results, checks = {}, []
    try:
        server, _, _ = _start_backroom("backroom-events", env)
        base = server.base
        _, login = http("POST", base + "/api/auth/login", {"username": ADMIN, "password": PASSWORD})
        token = login["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ids = []
        for n in range(50):
            status, product = http("POST", base + "/api/products", {
                "sku": f"EVT-{n:03d}", "title": f"Bench product {n}", "price": "9.50",
                "stock": 10_000_000, "low_stock_threshold": 0}, auth)
            assert status == 201, product
            ids.append(product["id"])
        order = lua_file("events_order", ids, None, "POST",
                         '{"items": [{"product_id": "ID", "quantity": 1}]}',
                         {**auth, "Content-Type": "application/json"})
        by_id = lua_file("events_product", ids, "/api/products/", headers=auth)

        results["orders"] = figure("POST /api/orders (no webhooks)", base + "/api/orders", order)
        for _ in range(2):
            status, hook = http("POST", base + "/api/webhooks",
                                {"url": receiver.url, "events": ["order.created"]}, auth)
            assert status == 201, hook
        started = time.monotonic()
        results["orders_hooked"] = figure("POST /api/orders (2 webhooks on order.created)",
                                          base + "/api/orders", order)
        _, listed = http("GET", base + "/api/events?type=order.created&limit=1", headers=auth)
        hooked_orders = results["orders_hooked"]["requests"] - results["orders_hooked"]["status"]
        say("waiting for the sender to drain its backlog ...")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(receiver.ids) < hooked_orders:
            time.sleep(0.2)
        drained = (receiver.last_at or time.monotonic()) - started
        results["sender"] = {"events": len(receiver.ids), "attempts": receiver.attempts,
                             "seconds": drained, "eps": len(receiver.ids) / drained if drained else 0.0}
        say(f"  {len(receiver.ids)} events ({receiver.attempts} attempts) delivered in {drained:.1f} s: "
            f"{results['sender']['eps']:.1f} events/s")

        results["read"] = figure("GET /api/products/{id} (no streams)", base + "/api/products/x", by_id)
        socks = open_streams(server.port, token, STREAMS)
        results["read_streams"] = figure(f"GET /api/products/{{id}} ({STREAMS} streams open)",
                                         base + "/api/products/x", by_id)
        summary = proc_memory.summarise(server.processes_memory())
        results["pss_kb"] = summary["all"]["Pss"]

        def ratio(a, b):
            return results[a]["rps"] / results[b]["rps"] if results[b]["rps"] else 0.0
        checks = [
            ("POST /api/orders with 2 webhooks >= 0.9 x without", ratio("orders_hooked", "orders"), 0.9),
            ("events delivered/s by the sender >= the order rate",
             results["sender"]["eps"] / results["orders_hooked"]["rps"] if results["orders_hooked"]["rps"] else 0.0,
             1.0),
            (f"GET /api/products/{{id}} with {STREAMS} streams >= 0.9 x without", ratio("read_streams", "read"), 0.9),
        ]
    finally:
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass
        if server is not None:
            server.stop()
        receiver.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    print("\n| figure | req/s | p99 ms |\n| --- | --- | --- |")
    for key, label in (("orders", "POST /api/orders"), ("orders_hooked", "POST /api/orders, 2 webhooks"),
                       ("read", "GET /api/products/{id}"), ("read_streams", f"GET /api/products/{{id}}, {STREAMS} streams")):
        print(f"| {label} | {results[key]['rps']:.1f} | {results[key]['p99_us'] / 1000:.1f} |")
    print(f"| webhook sender | {results['sender']['eps']:.1f} events/s | |")
    print(f"\nmemory of every server process together (PSS): {results['pss_kb'] / 1024:.0f} MiB")
    print("\n| check | ratio | target | |\n| --- | --- | --- | --- |")
    for name, value, target in checks:
        print(f"| {name} | {value:.2f} | {target} | {'PASS' if value >= target else 'FAIL'} |")
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "events.json"), "w") as fh:
        json.dump({"results": results, "checks": [list(c) for c in checks]}, fh, indent=2)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
