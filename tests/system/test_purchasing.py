"""Receiving against one purchase order from several gunicorn workers at once: the received
quantities and the stock never pass what was ordered, every acknowledged carton is counted once,
and the ledger holds one `received` movement per acknowledged line."""
import random
import threading
import time

import requests

from .conftest import HTTP_TIMEOUT

RECEIVERS = 4


def _post(server, token, path, body, expect=None, **headers):
    resp = server.request("POST", path, token, json=body, headers=headers)
    if expect is not None:
        assert resp.status_code == expect, resp.text
    return resp


def _ordered_purchase_order(server, token, lines):
    vendor = _post(server, token, "/api/vendors", {"name": f"Vendor {time.monotonic_ns()}"}, 201).json()
    po = _post(server, token, "/api/purchase-orders", {"vendor_id": vendor["id"], "lines": lines}, 201).json()
    return _post(server, token, f"/api/purchase-orders/{po['id']}/order", {"note": "by phone"}, 200).json()


def _receive(server, token, po_id, ordered, acknowledged, unexpected, seed):
    """Cartons of 1-3 of each product still outstanding (as this receiver last saw it), until the
    purchase order has them all; an over-receipt makes it read the purchase order again."""
    rng = random.Random(seed)
    outstanding = dict(ordered)
    path = f"/api/purchase-orders/{po_id}"
    for n in range(1000):
        lines = [{"product_id": pid, "quantity": min(rng.randint(1, 3), left)}
                 for pid, left in outstanding.items() if left > 0]
        if not lines:
            return
        body = {"lines": lines, "note": f"carton {seed}-{n}"}
        try:
            resp = server.request("POST", f"{path}/receive", token, json=body)
        except requests.RequestException as exc:
            unexpected.append(("no answer", str(exc)))
            return
        if resp.status_code == 200:
            acknowledged.append(body)
            seen = resp.json()
        elif resp.status_code == 409 and resp.json()["code"] in ("over_receipt", "invalid_transition"):
            seen = server.request("GET", path, token).json()
        elif resp.status_code == 503:  # busy: try again
            time.sleep(0.01)
            continue
        else:
            unexpected.append((resp.status_code, resp.text[:300]))
            return
        outstanding = {line["product_id"]: line["quantity"] - line["received_quantity"] for line in seen["lines"]}
    unexpected.append(("no end", outstanding))


def _received_by(acknowledged):
    totals = {}
    for body in acknowledged:
        for line in body["lines"]:
            totals[line["product_id"]] = totals.get(line["product_id"], 0) + line["quantity"]
    return totals


def test_receipts_from_several_workers_never_pass_what_was_ordered(make_server):
    server = make_server(workers=3)
    token = server.login()["access_token"]
    products = [server.create_product(token, f"PO-{n}", stock=4, cost="2.00") for n in range(2)]
    ordered = {products[0]["id"]: 30, products[1]["id"]: 17}
    po = _ordered_purchase_order(server, token, [{"product_id": pid, "quantity": q, "unit_cost": "3.00"}
                                                 for pid, q in ordered.items()])
    acknowledged, unexpected = [], []
    threads = [threading.Thread(target=_receive, args=(server, token, po["id"], ordered, acknowledged,
                                                       unexpected, seed)) for seed in range(RECEIVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert unexpected == []
    final = server.request("GET", f"/api/purchase-orders/{po['id']}", token).json()
    received = {line["product_id"]: line["received_quantity"] for line in final["lines"]}
    assert received == _received_by(acknowledged)
    assert received == ordered  # every receiver went on until all was in, and not one more
    assert final["status"] == "received"
    movements = server.list_all("/api/stock-movements", token, ref=po["id"])
    assert all(m["reason"] == "received" for m in movements)
    assert len(movements) == sum(len(body["lines"]) for body in acknowledged)
    for pid in ordered:
        product = server.request("GET", f"/api/products/{pid}", token).json()
        assert product["stock"] == 4 + received[pid] == 4 + sum(m["delta"] for m in movements
                                                                 if m["product_id"] == pid)
        assert product["on_order"] == 0
        assert "2.00" < product["cost"] <= "3.00"  # averaged, carton by carton, towards the unit cost
    assert len(final["events"]) == 2 + len(acknowledged)


def test_one_carton_scanned_in_two_workers_at_once_counts_once(make_server):
    server = make_server(workers=3)
    token = server.login()["access_token"]
    product = server.create_product(token, "PO-KEY", stock=0, cost="1.00")
    po = _ordered_purchase_order(server, token, [{"product_id": product["id"], "quantity": 50}])
    body = {"lines": [{"product_id": product["id"], "quantity": 5}], "note": "carton 1"}
    answers, barrier = [], threading.Barrier(4)

    def scan():
        barrier.wait(timeout=30)
        answers.append(server.request("POST", f"/api/purchase-orders/{po['id']}/receive", token, json=body,
                                      headers={"Idempotency-Key": "carton-1"}))
    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [200] * 4
    assert len({a.text for a in answers}) == 1
    assert server.request("GET", f"/api/products/{product['id']}", token).json()["stock"] == 5
    assert len(server.list_all("/api/stock-movements", token, ref=po["id"])) == 1
