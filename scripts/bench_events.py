"""Section 13's benchmark: `python -m scripts.bench_events` (`make bench` runs it, see scripts/bench.py).

On a fresh JSON store, Backroom started as `make serve` starts it (gunicorn, its stream server,
its webhook sender), on a free 127.0.0.1 port, loaded with wrk (scripts/bench_http.py's scripts):

1. `POST /api/orders` without webhooks, then with two active webhooks subscribed to
   `order.created` (an asyncio receiver in this process on 127.0.0.1 answers 204): at least 0.9x, since a
   request never waits for a delivery; and the same again in turns (without, with, with, without;
   half a figure each, the webhooks switched off and on between turns, the sender drained and the
   server idle before each), judged the same way;
2. events delivered per second by the sender: while it keeps up, the webhook-ids the receiver
   saw over the time from the first delivery until the last one came, with how long after the
   last order the last delivery came (the sender's lag); that rate is the order rate itself
   when the sender keeps up, so its capacity is measured too: the receiver holds its answers
   while orders come for a third of a figure (the sender's attempts wait, inside their
   timeout, and deliveries queue), then the backlog's events over the time it takes to drain
   once released, beside the rate of the orders with webhooks (1): at least it, so a backlog
   never grows;
3. `GET /api/products/{id}` without streams and with 50 streams open (plain sockets reading
   them), in turns (without, with, with, without; half a figure each), each once the server is
   idle (the stream server follows the store only while a stream is open, so the first ones
   make it catch up with the orders' journal): at least 0.9x, since open streams take no worker;
4. the memory (PSS) of every server process together at the end, printed beside the figures;
5. the memory (PSS) of every server process together serving the big shop of
   scripts/bench_shop.py (100,000 orders) with the events of those orders (`order.created`, and
   `order.paid` for the paid ones) and a notification of its manager for every fifth order,
   beside the same shop without them: at most 1.25x (events and notifications are logs, read
   from their files, never held in a worker: scripts/bench_audit.py writes them as the store
   does).

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

from scripts import bench_audit, bench_shop, proc_memory
from scripts.bench_http import (BENCH, _start_backroom, clean_env, ensure_wrk, http, lua_file, say, wrk)

SECONDS = int(os.environ.get("BENCH_EVENTS_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_EVENTS_CONNECTIONS", "16"))
THREADS = 2
STREAMS = 50
ADMIN, PASSWORD = "bench-admin", "bench-admin-pass-1"


class Receiver:
    """A webhook receiver on 127.0.0.1: counts attempts and distinct webhook-ids, answers 204.

    It shares the machine's cores with the server it measures (a real receiver runs elsewhere),
    so it is an asyncio server in a thread of its own that reads each request's head and body
    and answers, costing little per attempt; http.server's thread per connection cost about as
    much CPU as the attempts it received."""

    def __init__(self):
        import asyncio
        self.lock = threading.Lock()
        self.attempts, self.ids, self.first_at, self.last_at = 0, set(), None, None
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        outer = self
        self.open = None  # an asyncio.Event: cleared, each request waits before it is counted and answered

        async def handle(reader, writer):
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    fields = {}
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        fields[name.strip().lower()] = value.strip()
                    await reader.readexactly(int(fields.get(b"content-length") or 0))
                    await outer.open.wait()
                    with outer.lock:
                        outer.attempts += 1
                        outer.ids.add((fields.get(b"webhook-id") or b"").decode())
                        outer.last_at = time.monotonic()
                        outer.first_at = outer.first_at or outer.last_at
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    if fields.get(b"connection", b"").lower() == b"close" or head.startswith(b"POST / HTTP/1.0"):
                        break
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                pass
            finally:
                writer.close()

        async def serve():
            self.open = asyncio.Event()
            self.open.set()
            self.server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def hold(self):
        """From now on requests wait, unanswered and uncounted, until release()."""
        self.loop.call_soon_threadsafe(self.open.clear)

    def release(self):
        self.loop.call_soon_threadsafe(self.open.set)

    def close(self):
        self.release()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


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


MEMORY_TARGET = 1.25
NOTIFY_EVERY = 5


def write_history(data_dir):
    """The events of every order of the shop in data_dir (and a notification of each staff user
    for every NOTIFY_EVERY-th), written into its logs as committed, with the users' inboxes."""
    from app.storage import codec
    with open(os.path.join(data_dir, "orders.json"), "rb") as fh:
        orders = sorted(codec.loads(fh.read())["records"], key=lambda o: o["id"])
    with open(os.path.join(data_dir, "users.json"), "rb") as fh:
        staff = [u for u in codec.loads(fh.read())["records"] if u["role"] in ("admin", "manager", "clerk")]
    notes, boxes = [], {u["id"]: {"id": u["id"], "total": 0, "unread": 0, "newest": None,
                                  "read_through": None, "read_through_at": None,
                                  "created_at": u["created_at"], "updated_at": u["created_at"],
                                  "version": 1} for u in staff}

    def events():
        for n, order in enumerate(orders):
            made = [("order.created", "0")] + ([("order.paid", "1")] if order.get("payment_status") == "paid" else [])
            for kind, tail in made:
                event = {"id": "evt_" + order["id"][:25] + tail, "type": kind, "at": order["created_at"],
                         "data": order}
                yield event
            if n % NOTIFY_EVERY == 0:
                for user in staff:
                    note_id = "ntf_" + order["id"][:24] + user["id"][-2:]
                    notes.append({"id": note_id, "user_id": user["id"], "type": "order.created",
                                  "event_id": "evt_" + order["id"][:25] + "0",
                                  "title": f"New storefront order #{order['number']}",
                                  "message": f"{order['total']} {order.get('currency') or ''}".strip(),
                                  "resource_type": "order", "resource_id": order["id"],
                                  "created_at": order["created_at"]})
                    box = boxes[user["id"]]
                    box.update(total=box["total"] + 1, unread=box["unread"] + 1, newest=note_id)
    bench_audit.commit_log_position(data_dir, "events", bench_audit.write_log(data_dir, "events", events()))
    bench_audit.commit_log_position(data_dir, "notifications",
                                    bench_audit.write_log(data_dir, "notifications", iter(notes)))
    bench_audit.write_snapshot_records(data_dir, "notification_inboxes", list(boxes.values()))
    return len(notes)


def memory_with_history():
    """Figure 5: (PSS kB without, PSS kB with, the counts the API answered with the history)."""
    source = os.path.join(BENCH, "shop-big")
    info = bench_shop.ensure_shop(source, 5000, 100_000, 5)
    run = tempfile.mkdtemp(prefix="backroom-bench-history-")
    pss, seen = {}, {}
    try:
        without, with_history = os.path.join(run, "without"), os.path.join(run, "with")
        shutil.copytree(source, without)
        shutil.copytree(source, with_history)
        started = time.monotonic()
        made = write_history(with_history)
        say(f"wrote the events of 100,000 orders and {made:,} notifications in "
            f"{time.monotonic() - started:.0f} s")
        for label, folder in (("without", without), ("with", with_history)):
            env = clean_env(SHOP_DATA_DIR=folder, SHOP_BIND="127.0.0.1:{port}", SHOP_DEMO_DATA="0")
            server, _, _ = _start_backroom(f"backroom-history-{label}", env)
            try:
                manager = info["manager"]
                _, login = http("POST", server.base + "/api/auth/login",
                                {"username": manager["username"], "password": manager["password"]})
                auth = {"Authorization": f"Bearer {login['access_token']}"}
                _, page = http("GET", server.base + "/api/notifications?limit=20", headers=auth, timeout=60)
                _, unread = http("GET", server.base + "/api/notifications/unread-count", headers=auth)
                _, events = http("GET", server.base + "/api/events?limit=20", headers=auth, timeout=60)
                seen[label] = {"notifications": page.get("total"), "unread": unread.get("count"),
                               "events_page": len(events.get("items", []))}
                say(f"  {label} the history: notifications {seen[label]['notifications']}, unread "
                    f"{seen[label]['unread']}, a page of {seen[label]['events_page']} events")
                http("GET", server.base + "/healthz", timeout=120)
                pss[label] = proc_memory.summarise(server.processes_memory())["all"]["Pss"]
            finally:
                server.stop()
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return pss["without"], pss["with"], seen


def settle(server, timeout=30.0):
    """Wait until every server process together is idle (under 20 ms of CPU in half a second)."""
    deadline = time.monotonic() + timeout
    last = server.cpu_ticks()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.cpu_ticks()
        if now - last <= 2:
            return
        last = now


def figure(label, url, script, seconds=None):
    say(f"{label} ...")
    result = wrk(url, script, seconds or SECONDS, CONNECTIONS, THREADS)
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
        hook_ids = []
        for _ in range(2):
            status, hook = http("POST", base + "/api/webhooks",
                                {"url": receiver.url, "events": ["order.created"]}, auth)
            assert status == 201, hook
            hook_ids.append(hook["id"])
        started = time.monotonic()
        results["orders_hooked"] = figure("POST /api/orders (2 webhooks on order.created)",
                                          base + "/api/orders", order)
        orders_ended = time.monotonic()
        _, listed = http("GET", base + "/api/events?type=order.created&limit=1", headers=auth)
        hooked_orders = results["orders_hooked"]["requests"] - results["orders_hooked"]["status"]
        say("waiting for the sender to drain its backlog ...")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(receiver.ids) < hooked_orders:
            time.sleep(0.2)
        last = receiver.last_at or time.monotonic()
        drained = last - (receiver.first_at or started)
        results["sender"] = {"events": len(receiver.ids), "attempts": receiver.attempts,
                             "seconds": drained, "eps": len(receiver.ids) / drained if drained else 0.0,
                             "lag": last - orders_ended}
        say(f"  {len(receiver.ids)} events ({receiver.attempts} attempts) delivered in {drained:.1f} s: "
            f"{results['sender']['eps']:.1f} events/s; the last {last - orders_ended:.2f} s after the last order")
        # A sender that keeps up delivers at the rate the orders come: the rate above is the order
        # rate give or take the windows' edges, whatever the sender could do. Its capacity: a
        # backlog made while the receiver holds its answers (the sender's attempts wait, well
        # inside their 10 s timeout, and new deliveries queue), then drained at full speed.
        receiver.hold()
        before = len(receiver.ids)
        held = figure("POST /api/orders (2 webhooks, the receiver holding its answers)", base + "/api/orders",
                      order, max(1, SECONDS // 3))
        backlog = held["requests"] - held["status"]
        released = time.monotonic()
        receiver.release()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(receiver.ids) < before + backlog:
            time.sleep(0.05)
        took = (receiver.last_at or time.monotonic()) - released
        results["sender"]["capacity_eps"] = (len(receiver.ids) - before) / took if took > 0 else 0.0
        say(f"  a backlog of {len(receiver.ids) - before} events (of {backlog} orders) drained in {took:.2f} s "
            f"once released: {results['sender']['capacity_eps']:.1f} events/s")

        # The orders with and without webhooks again, in turns (without, with, with, without; half
        # a figure each), the two switched off and on between turns (PATCH active): a machine
        # speeding up or slowing down during the run moves both alike. Before each turn the
        # sender has delivered what the last one made and the server is idle, so no turn pays
        # for another's deliveries.
        hooked_turns = {False: [], True: []}
        for on in (False, True, True, False):
            for hook_id in hook_ids:
                status, _ = http("PATCH", f"{base}/api/webhooks/{hook_id}", {"active": on}, auth)
                assert status == 200, status
            settle(server)
            before = len(receiver.ids)
            label = "POST /api/orders (2 webhooks, in turns)" if on else "POST /api/orders (webhooks off, in turns)"
            turn = figure(label, base + "/api/orders", order, max(1, SECONDS // 2))
            hooked_turns[on].append(turn)
            if on:
                made = turn["requests"] - turn["status"]
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and len(receiver.ids) < before + made:
                    time.sleep(0.05)
        for key, on in (("orders_turns_off", False), ("orders_turns_on", True)):
            results[key] = {"rps": sum(r["rps"] for r in hooked_turns[on]) / 2,
                            "p99_us": max(r["p99_us"] for r in hooked_turns[on])}

        # in turns (without, with, with, without), half a figure each: the store's background
        # work after the orders (snapshot files rewritten) falls on both alike
        settle(server)
        turns = {"read": [], "read_streams": []}
        for open_now in (False, True, True, False):
            if open_now and not socks:
                socks = open_streams(server.port, token, STREAMS)
                # the stream server follows nothing while no stream is open; the first ones make
                # it catch up with the journal the orders wrote: measured once it has
                settle(server)
            label = f"GET /api/products/{{id}} ({STREAMS} streams open)" if open_now else \
                "GET /api/products/{id} (no streams)"
            turns["read_streams" if open_now else "read"].append(
                figure(label, base + "/api/products/x", by_id, max(1, SECONDS // 2)))
            if open_now and turns["read_streams"][1:]:
                summary = proc_memory.summarise(server.processes_memory())  # while they are open
                for sock in socks:
                    sock.close()
                socks = []
        for key, runs in turns.items():
            results[key] = {"rps": sum(r["rps"] for r in runs) / len(runs),
                            "p99_us": max(r["p99_us"] for r in runs)}
        results["pss_kb"] = summary["all"]["Pss"]

        def ratio(a, b):
            return results[a]["rps"] / results[b]["rps"] if results[b]["rps"] else 0.0
        checks = [
            ("POST /api/orders with 2 webhooks >= 0.9 x without", ratio("orders_hooked", "orders"), 0.9),
            ("POST /api/orders with 2 webhooks >= 0.9 x without, in turns",
             ratio("orders_turns_on", "orders_turns_off"), 0.9),
            ("events delivered/s by the sender, draining a backlog, >= the order rate",
             results["sender"]["capacity_eps"] / results["orders_hooked"]["rps"] if results["orders_hooked"]["rps"] else 0.0,
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
    if checks and os.environ.get("BENCH_EVENTS_HISTORY", "1") != "0":
        say("the big shop with and without the events and notifications of its 100,000 orders ...")
        without, with_history, seen = memory_with_history()
        results["history"] = {"pss_kb_without": without, "pss_kb_with": with_history, "seen": seen}
        checks.append(("PSS with the events and notifications of 100,000 orders <= 1.25 x without",
                       with_history / without if without else 0.0, MEMORY_TARGET, "at most"))
    print("\n| figure | req/s | p99 ms |\n| --- | --- | --- |")
    for key, label in (("orders", "POST /api/orders"), ("orders_hooked", "POST /api/orders, 2 webhooks"),
                       ("orders_turns_off", "POST /api/orders, webhooks off (in turns)"),
                       ("orders_turns_on", "POST /api/orders, 2 webhooks (in turns)"),
                       ("read", "GET /api/products/{id}"), ("read_streams", f"GET /api/products/{{id}}, {STREAMS} streams")):
        print(f"| {label} | {results[key]['rps']:.1f} | {results[key]['p99_us'] / 1000:.1f} |")
    print(f"| webhook sender, keeping up | {results['sender']['eps']:.1f} events/s | lag {results['sender']['lag'] * 1000:.0f} ms |")
    print(f"| webhook sender, draining a backlog | {results['sender']['capacity_eps']:.1f} events/s | |")
    print(f"\nmemory of every server process together (PSS): {results['pss_kb'] / 1024:.0f} MiB")
    if "history" in results:
        h = results["history"]
        print(f"the big shop, every server process together (PSS): {h['pss_kb_without'] / 1024:.0f} MiB "
              f"without its history, {h['pss_kb_with'] / 1024:.0f} MiB with the events and notifications "
              f"of its 100,000 orders (the API answered {h['seen']['with']})")
    print("\n| check | ratio | target | |\n| --- | --- | --- | --- |")
    for name, value, target, *most in checks:
        ok = value <= target if most else value >= target
        print(f"| {name} | {value:.2f} | {target} | {'PASS' if ok else 'FAIL'} |")
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "events.json"), "w") as fh:
        json.dump({"results": results, "checks": [list(c) for c in checks]}, fh, indent=2)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
