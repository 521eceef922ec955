"""Stock at one location under several gunicorn workers: concurrent buyers there and a concurrent
transfer out of it never take it below zero, and after kill -9 under that load and a restart the
ledger still sums, per product and per location, to what the store holds."""
import random
import threading
import time
from collections import Counter

import requests

from .conftest import HTTP_TIMEOUT

BUYERS = 5


def _location(server, token, name, code):
    resp = server.request("POST", "/api/locations", token, json={"name": name, "code": code, "kind": "stockroom"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _transfer(server, token, source, destination, product_id, quantity, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return server.request("POST", "/api/transfers", token, headers=headers, json={
        "from_location_id": source, "to_location_id": destination, "complete": True,
        "lines": [{"product_id": product_id, "quantity": quantity}]})


def _buy(server, token, product_ids, location_id, acknowledged, unexpected, stop, seed):
    """Orders at one location until stopped; every 201 is remembered."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        body = {"location_id": location_id,
                "items": [{"product_id": pid, "quantity": rng.randint(1, 2)} for pid in product_ids]}
        try:
            resp = requests.post(server.url("/api/orders"), json=body, headers=headers, timeout=10)
        except requests.RequestException:
            time.sleep(0.005)  # down, or died mid-answer: nothing acknowledged
            continue
        if resp.status_code == 201:
            acknowledged[resp.json()["id"]] = resp.json()
        elif resp.status_code != 409:
            unexpected.append((resp.status_code, resp.text[:300]))


def _move_out(server, token, source, destination, product_ids, acknowledged, unexpected, stop):
    """Transfers of 3 of each product out of the source, completed on create, until stopped."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            resp = server.request("POST", "/api/transfers", token, timeout=10, json={
                "from_location_id": source, "to_location_id": destination, "complete": True,
                "lines": [{"product_id": pid, "quantity": 3} for pid in product_ids]})
        except requests.RequestException:
            time.sleep(0.005)
            continue
        if resp.status_code == 201:
            acknowledged[resp.json()["id"]] = resp.json()
        elif resp.status_code != 409:
            unexpected.append((resp.status_code, resp.text[:300]))


def _run_load(server, token, product_ids, back, main, seconds=None, until=None):
    """Buyers at `back` and one mover out of it, for `seconds` or until `until()` is true; then
    (orders, transfers, unexpected) acknowledged."""
    orders, transfers, unexpected = {}, {}, []
    stop = threading.Event()
    threads = [threading.Thread(target=_buy, args=(server, token, product_ids, back, orders, unexpected, stop, n))
               for n in range(BUYERS)]
    threads.append(threading.Thread(target=_move_out, args=(server, token, back, main, product_ids, transfers,
                                                            unexpected, stop)))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + (seconds or 30)
    while time.monotonic() < deadline and not (until and until(orders, transfers)):
        time.sleep(0.01)
    stop.set()
    return threads, stop, orders, transfers, unexpected


def _join(threads):
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT)


def _check_books(server, token, product_ids, location_ids):
    """Every product's ledger sums to its stock, and at each location to its quantity there, which
    is never below zero; a completed transfer has its two movements per line, and every transfer
    movement its completed transfer. Returns {product_id: {location_id: quantity}}."""
    movements = server.list_all("/api/stock-movements", token)
    transfers = {t["id"]: t for t in server.list_all("/api/transfers", token)}
    held = {}
    for product_id in product_ids:
        answer = server.request("GET", f"/api/products/{product_id}/stock", token).json()
        there = {loc["location_id"]: loc["quantity"] for loc in answer["locations"]}
        own = [m for m in movements if m["product_id"] == product_id]
        assert sum(m["delta"] for m in own) == answer["total"] == sum(there.values())
        for location_id in location_ids:
            at = [m for m in own if m["location_id"] == location_id]
            assert there[location_id] >= 0
            assert sum(m["delta"] for m in at) == there[location_id], (product_id, location_id)
            if at:
                assert max(at, key=lambda m: m["id"])["location_stock_after"] == there[location_id]
        held[product_id] = there
    by_transfer = Counter(m["ref"] for m in movements if m["reason"] in ("transfer_out", "transfer_in"))
    for transfer_id, n in by_transfer.items():
        assert transfers[transfer_id]["status"] == "completed"
        assert n == 2 * len(transfers[transfer_id]["lines"])
    assert all(by_transfer[t["id"]] for t in transfers.values() if t["status"] == "completed")
    return held


def test_buyers_and_a_transfer_out_of_one_location_never_take_it_below_zero(make_server):
    server = make_server(workers=4)
    token = server.login()["access_token"]
    main = server.request("GET", "/api/locations?is_default=true", token).json()["items"][0]["id"]
    back = _location(server, token, "Back room", "BACK")["id"]
    product_ids = [server.create_product(token, f"LOC-{n}", stock=500)["id"] for n in range(2)]
    for pid in product_ids:
        assert _transfer(server, token, main, back, pid, 40).status_code == 201

    def back_is_empty(orders, transfers):
        quantities = [server.request("GET", f"/api/products/{pid}/stock", token).json()["locations"]
                      for pid in product_ids]
        return any(loc["location_id"] == back and loc["quantity"] < 2 for locs in quantities for loc in locs)

    threads, _, orders, transfers, unexpected = _run_load(server, token, product_ids, back, main,
                                                          until=back_is_empty)
    _join(threads)
    assert unexpected == []
    assert orders and transfers, "both the buyers and the mover should have got some stock"
    held = _check_books(server, token, product_ids, (main, back))
    for pid in product_ids:  # what was answered taken from the back room is what it had
        sold = sum(line["quantity"] for o in orders.values() for line in o["items"] if line["product_id"] == pid)
        moved = sum(line["quantity"] for t in transfers.values() for line in t["lines"] if line["product_id"] == pid)
        assert sold + moved + held[pid][back] == 40
        assert held[pid][main] == 460 + moved


def test_kill_9_under_that_load_and_a_restart_leave_the_books_summing(make_server):
    server = make_server(workers=3, SHOP_JOURNAL_COMPACT_BYTES="65536")
    token = server.login()["access_token"]
    main = server.request("GET", "/api/locations?is_default=true", token).json()["items"][0]["id"]
    back = _location(server, token, "Back room", "BACK")["id"]
    product_ids = [server.create_product(token, f"KILL-{n}", stock=100_000)["id"] for n in range(2)]
    for pid in product_ids:
        assert _transfer(server, token, main, back, pid, 5000).status_code == 201
    rng = random.Random(9)
    answered_orders, answered_transfers = {}, {}
    for _ in range(2):
        before = len(answered_orders)
        threads, _, orders, transfers, unexpected = _run_load(
            server, token, product_ids, back, main, seconds=5,
            until=lambda o, t: len(o) >= 20 + rng.randint(0, 20) and t)
        server.kill()  # master and every worker, mid-request
        _join(threads)
        assert unexpected == []
        answered_orders.update(orders)
        answered_transfers.update(transfers)
        assert len(answered_orders) > before
        server.start()
        for path, answered in (("orders", answered_orders), ("transfers", answered_transfers)):
            for record_id in answered:
                assert server.request("GET", f"/api/{path}/{record_id}", token).status_code == 200, path
        _check_books(server, token, product_ids, (main, back))
    server.stop()
