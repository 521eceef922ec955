"""Concurrent buyers through the real server (3 gunicorn workers): stock is never oversold."""
import random
import threading
from collections import Counter

import requests

from .conftest import HTTP_TIMEOUT

PROBLEM_JSON = "application/problem+json"


def place_all_at_once(server, token, bodies):
    """POST every body to /api/orders from its own thread and connection, released together."""
    results = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def buy(index):
        barrier.wait(timeout=30)
        # no Session: every buyer opens its own connection, so the workers really compete
        resp = requests.post(server.url("/api/orders"), json=bodies[index], timeout=HTTP_TIMEOUT,
                             headers={"Authorization": f"Bearer {token}"})
        results[index] = resp

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in results), "a buyer never got an answer"
    return results


def ledger(server, token, product_id):
    return server.list_all("/api/stock-movements", token, product_id=product_id)


def stock_of(server, token, product_id):
    resp = server.request("GET", f"/api/products/{product_id}", token)
    assert resp.status_code == 200, resp.text
    return resp.json()["stock"]


def test_sixty_buyers_of_twenty_copies_get_exactly_twenty_orders(server, admin_token):
    product = server.create_product(admin_token, "SYS-LAST-20", stock=20)
    bodies = [{"items": [{"product_id": product["id"], "quantity": 1}]} for _ in range(60)]

    results = place_all_at_once(server, admin_token, bodies)

    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 20, 409: 40}, statuses
    refused = [r for r in results if r.status_code == 409]
    for resp in refused:
        assert resp.headers["Content-Type"].startswith(PROBLEM_JSON)
        assert resp.json()["code"] == "insufficient_stock"
    orders = [r.json() for r in results if r.status_code == 201]
    assert len({o["number"] for o in orders}) == 20
    assert len({o["id"] for o in orders}) == 20
    assert stock_of(server, admin_token, product["id"]) == 0
    movements = ledger(server, admin_token, product["id"])
    assert sum(m["delta"] for m in movements) == 0
    sales = [m for m in movements if m["reason"] == "sale"]
    assert sorted(m["ref"] for m in sales) == sorted(o["id"] for o in orders)
    assert Counter(m["reason"] for m in movements) == {"opening": 1, "sale": 20}
    # every answered order is stored as answered
    for order in orders[:5]:
        stored = server.request("GET", f"/api/orders/{order['id']}", admin_token).json()
        assert stored["number"] == order["number"] and stored["items"] == order["items"]


def test_concurrent_multi_line_orders_never_oversell_either_product(server, admin_token):
    first = server.create_product(admin_token, "SYS-PAIR-A", stock=15)
    second = server.create_product(admin_token, "SYS-PAIR-B", stock=10)
    rng = random.Random(20261121)
    bodies = []
    for _ in range(40):
        lines = [{"product_id": first["id"], "quantity": rng.choice((1, 2))},
                 {"product_id": second["id"], "quantity": rng.choice((1, 2))}]
        rng.shuffle(lines)
        bodies.append({"items": lines})

    results = place_all_at_once(server, admin_token, bodies)

    assert {r.status_code for r in results} <= {201, 409}, Counter(r.status_code for r in results)
    placed = [r.json() for r in results if r.status_code == 201]
    assert placed, "no order went through"
    assert any(r.status_code == 409 for r in results), "the test never ran out of stock"
    for resp in results:
        if resp.status_code == 409:
            assert resp.json()["code"] == "insufficient_stock"
    for product, opening in ((first, 15), (second, 10)):
        sold = sum(line["quantity"] for order in placed for line in order["items"]
                   if line["product_id"] == product["id"])
        stock = stock_of(server, admin_token, product["id"])
        assert 0 <= stock == opening - sold
        movements = ledger(server, admin_token, product["id"])
        assert sum(m["delta"] for m in movements) == stock
        # all or nothing: one sale movement per placed order, none for a refused one
        assert sorted(m["ref"] for m in movements if m["reason"] == "sale") == sorted(o["id"] for o in placed)
    assert len({o["number"] for o in placed}) == len(placed)
