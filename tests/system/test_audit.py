"""The audit log on a real server: orders from every worker, kill -9 under load, and after the restart
an entry exists exactly when its order does (they commit together), each under its request's id."""
import random
import threading
import time

import requests

CLIENTS = 4


def order_in_a_loop(server, token, product_ids, answered, stop, seed):
    """Place orders, each with its own X-Request-Id, until stopped; remember the ones answered 201."""
    rng = random.Random(seed)
    for n in range(5000):  # bounded: the test stops it long before
        if stop.is_set():
            return
        request_id = f"audit-{seed}-{n}"
        body = {"items": [{"product_id": rng.choice(product_ids), "quantity": 1}]}
        try:
            resp = requests.post(server.url("/api/orders"), json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id})
            if resp.status_code == 201:
                answered[request_id] = resp.json()["id"]
        except (requests.RequestException, ValueError):
            time.sleep(0.005)  # the server is down (or died mid-answer): nothing was acknowledged


def test_after_kill_9_every_order_has_its_entry_and_every_entry_its_order(make_server):
    server = make_server(SHOP_JOURNAL_COMPACT_BYTES="65536")  # compactions while the log grows
    token = server.login()["access_token"]
    product_ids = [server.create_product(token, f"AUDIT-{n}", stock=100_000)["id"] for n in range(3)]
    answered, stop = {}, threading.Event()
    clients = [threading.Thread(target=order_in_a_loop, args=(server, token, product_ids, answered, stop, n))
               for n in range(CLIENTS)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 20
    while len(answered) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # master and every worker, mid-request
    stop.set()
    for client in clients:
        client.join(timeout=30)
    assert len(answered) >= 10, "too few orders went through before the kill"
    assert len(server.worker_pids("/api/orders")) >= 2, "every order went to one worker"
    server.start()

    orders = {o["id"] for o in server.list_all("/api/orders", token)}
    made = server.list_all("/api/audit-log", token, action="order.create")
    by_order = {}
    for entry in made:
        by_order.setdefault(entry["resource_id"], []).append(entry)
    assert set(by_order) == orders  # an entry exists exactly when its order does
    assert all(len(found) == 1 for found in by_order.values())
    for request_id, order_id in answered.items():
        [entry] = by_order[order_id]
        assert entry["request_id"] == request_id and entry["status"] == 201
        assert entry["actor"]["role"] == "admin" and entry["changes"]["id"] == [None, order_id]
    newest_first = [e["at"] for e in made]
    assert newest_first == sorted(newest_first, reverse=True)
    server.stop()
