"""The storefront under several gunicorn workers: the per-key rate limit holds across them, and an
unpaid order's held stock comes back exactly once, by the background process alone when no
request comes, and by whichever worker or process notices first when many do."""
import threading
import time

import requests

from app.storage import open_store
from app.storage.base import Query

from .conftest import HTTP_TIMEOUT

ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def _key(server, token):
    resp = server.request("POST", "/api/storefront-keys", token, json={"name": "Web shop"})
    assert resp.status_code == 201, resp.text
    return resp.json()["key"]


def _checkout(server, key, product_id, quantity=1):
    return requests.post(server.url("/api/storefront/orders"), timeout=HTTP_TIMEOUT,
                         headers={"X-Storefront-Key": key, "Connection": "close"},
                         json={"items": [{"product_id": product_id, "quantity": quantity}], "customer": ADA})


def _store_of(server):
    env = server.extra_env
    return open_store({"DATA_DIR": str(server.data_dir), "DATABASE_URL": env.get("SHOP_DATABASE_URL") or None,
                       "DATABASE_SCHEMA": env.get("SHOP_DATABASE_SCHEMA"), "LOCK_TIMEOUT": 10.0,
                       "JOURNAL_COMPACT_BYTES": 64 * 1024 * 1024})


def test_the_rate_limit_holds_across_workers(make_server):
    server = make_server(workers=3, SHOP_STOREFRONT_ORDERS_PER_MINUTE="5", SHOP_STOREFRONT_HOLD_SECONDS="0")
    token = server.login()["access_token"]
    key = _key(server, token)
    product = server.create_product(token, "SYS-RL", 100)
    answers = []
    lock = threading.Lock()

    def buy():
        resp = _checkout(server, key, product["id"])
        with lock:
            answers.append(resp)
    threads = [threading.Thread(target=buy) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 5 + [429] * 7, statuses
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in answers if r.status_code == 429)
    stock = server.request("GET", f"/api/products/{product['id']}", token).json()["stock"]
    assert stock == 95
    served = {line.split()[0] for line in server.access_log.read_text().splitlines()
              if "/api/storefront/orders" in line}
    assert len(served) >= 2, "the checkouts should have reached several workers"


def test_held_stock_comes_back_once_from_the_background_process_or_any_worker(make_server):
    server = make_server(workers=3, SHOP_STOREFRONT_HOLD_SECONDS="2", SHOP_STOREFRONT_ORDERS_PER_MINUTE="100")
    token = server.login()["access_token"]
    key = _key(server, token)
    quiet = server.create_product(token, "SYS-HOLD-1", 10)
    busy = server.create_product(token, "SYS-HOLD-2", 10)
    first = _checkout(server, key, quiet["id"], 3)
    assert first.status_code == 201, first.text

    # nobody asks: the background process alone returns the stock
    store = _store_of(server)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with store.reader() as uow:
                order = uow.orders.by_number(first.json()["number"])
            if order["status"] == "cancelled":
                break
            time.sleep(0.2)
        assert (order["status"], order["cancel_reason"]) == ("cancelled", "hold_expired")
    finally:
        store.close()

    # many ask at once at the deadline: one of them does it, once
    second = _checkout(server, key, busy["id"], 4)
    assert second.status_code == 201, second.text
    number = second.json()["number"]
    time.sleep(2.2)
    seen = []

    def look():
        resp = requests.get(server.url(f"/api/storefront/orders/{number}"), params={"email": ADA["email"]},
                            headers={"X-Storefront-Key": key, "Connection": "close"}, timeout=HTTP_TIMEOUT)
        seen.append((resp.status_code, resp.json().get("status")))
    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [(200, "cancelled")] * 8

    for product, taken in ((quiet, 3), (busy, 4)):
        current = server.request("GET", f"/api/products/{product['id']}", token).json()
        assert current["stock"] == 10
        back = server.list_all("/api/stock-movements", token, product_id=product["id"], reason="order_cancelled")
        assert [(m["delta"], m["user_id"]) for m in back] == [(taken, None)]
