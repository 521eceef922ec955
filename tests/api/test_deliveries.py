"""The delivery blueprint over HTTP: creating deliveries, the delivery machine, and the order following it."""
from datetime import date

import pytest

from tests.factories import (assert_problem, create_delivery, create_product, move_delivery, pay,
                             place_order)

ADDRESS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "line2": None,
           "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}


@pytest.fixture
def order(client, auth):
    return place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])


def _working_days_between(start, end):
    """Monday-to-Friday days after start, up to and including end."""
    return sum(1 for n in range(1, (end - start).days + 1)
               if date.fromordinal(start.toordinal() + n).weekday() < 5)


def _order_status(client, auth, order):
    return client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()["status"]


def test_create_delivery_is_201_with_its_first_event(client, auth, users, order):
    resp = client.post("/api/deliveries", headers=auth["clerk"], json={
        "order_id": order["id"], "address": ADDRESS, "carrier": "Royal Mail",
        "tracking_number": "RM123", "estimated_date": "2026-12-01"})
    assert resp.status_code == 201
    delivery = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/deliveries/{delivery['id']}")
    assert (delivery["order_id"], delivery["status"], delivery["carrier"], delivery["tracking_number"],
            delivery["estimated_date"]) == (order["id"], "pending", "Royal Mail", "RM123", "2026-12-01")
    assert delivery["address"] == ADDRESS
    assert [(e["status"], e["user_id"]) for e in delivery["events"]] == [
        ("pending", users["clerk"]["id"])]
    assert delivery["version"] == 1 and delivery["events"][0]["at"].endswith("Z")
    assert client.get(resp.headers["Location"], headers=auth["viewer"]).get_json() == delivery


def test_address_may_be_one_string(client, auth, order):
    delivery = create_delivery(client, auth["clerk"], order, address="12 St James's Square, London")
    assert delivery["address"] == "12 St James's Square, London"


@pytest.mark.parametrize("address,field", [({"line1": "12 Square"}, "address"),
                                           ({**ADDRESS, "floor": 3}, "address"),
                                           ("   ", "address"), (42, "address")])
def test_invalid_address_is_400(client, auth, order, address, field):
    resp = client.post("/api/deliveries", json={"order_id": order["id"], "address": address},
                       headers=auth["clerk"])
    body = assert_problem(resp, 400, "validation_error")
    assert any(key.startswith(field) for key in body["errors"]), body["errors"]


def test_unknown_field_in_the_address_is_named(client, auth, order):
    resp = client.post("/api/deliveries", json={"order_id": order["id"],
                                                "address": {**ADDRESS, "floor": 3}},
                       headers=auth["clerk"])
    assert "address.floor" in assert_problem(resp, 400)["errors"]


def test_unknown_order_is_400(client, auth):
    resp = client.post("/api/deliveries", json={"order_id": "nope", "address": "x"},
                       headers=auth["clerk"])
    assert "order_id" in assert_problem(resp, 400, "validation_error")["errors"]


def test_cancelled_order_is_not_deliverable(client, auth, order):
    client.post(f"/api/orders/{order['id']}/cancel", headers=auth["clerk"])
    assert create_delivery(client, auth["clerk"], order, expect=409)["code"] == "order_not_deliverable"


def test_completed_order_is_not_deliverable(client, auth, order):
    pay(client, auth["clerk"], order)
    client.post(f"/api/orders/{order['id']}/complete", headers=auth["clerk"])
    assert create_delivery(client, auth["clerk"], order, expect=409)["code"] == "order_not_deliverable"


def test_second_active_delivery_is_409(client, auth, order):
    create_delivery(client, auth["clerk"], order)
    assert create_delivery(client, auth["clerk"], order, expect=409)["code"] == "delivery_exists"
    assert client.get(f"/api/deliveries?order_id={order['id']}",
                      headers=auth["viewer"]).get_json()["total"] == 1


def test_default_estimate_is_the_order_day_plus_delivery_days_working_days(client, auth, order):
    delivery = create_delivery(client, auth["clerk"], order)
    order_day = date.fromisoformat(order["created_at"][:10])          # SHOP_TIMEZONE is UTC
    estimate = date.fromisoformat(delivery["estimated_date"])
    assert estimate.weekday() < 5
    assert _working_days_between(order_day, estimate) == 3


def test_shop_delivery_days_changes_the_default_estimate(app_with, auth):
    client = app_with(DELIVERY_DAYS=10).test_client()
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])
    delivery = create_delivery(client, auth["clerk"], order)
    estimate = date.fromisoformat(delivery["estimated_date"])
    assert estimate.weekday() < 5
    assert _working_days_between(date.fromisoformat(order["created_at"][:10]), estimate) == 10


def test_delivery_in_transit_ships_the_order_and_delivered_delivers_it(client, auth, order):
    pay(client, auth["clerk"], order)
    delivery = create_delivery(client, auth["clerk"], order)
    assert _order_status(client, auth, order) == "paid"
    moved = move_delivery(client, auth["clerk"], delivery, "in_transit", note="collected")
    assert moved["status"] == "in_transit" and moved["version"] == 2
    assert moved["events"][-1]["note"] == "collected"
    assert _order_status(client, auth, order) == "shipped"
    move_delivery(client, auth["clerk"], delivery, "out_for_delivery")
    assert _order_status(client, auth, order) == "shipped"
    done = move_delivery(client, auth["clerk"], delivery, "delivered")
    assert [e["status"] for e in done["events"]] == ["pending", "in_transit", "out_for_delivery",
                                                     "delivered"]
    assert _order_status(client, auth, order) == "delivered"
    assert create_delivery(client, auth["clerk"], order, expect=409)["code"] == "order_not_deliverable"


@pytest.mark.parametrize("paid,back_to", [(True, "paid"), (False, "pending")])
def test_failed_delivery_returns_the_order(client, auth, order, paid, back_to):
    if paid:
        pay(client, auth["clerk"], order)
    delivery = create_delivery(client, auth["clerk"], order)
    move_delivery(client, auth["clerk"], delivery, "in_transit")
    move_delivery(client, auth["clerk"], delivery, "failed", note="nobody home")
    assert _order_status(client, auth, order) == back_to
    retried = move_delivery(client, auth["clerk"], delivery, "in_transit")
    assert retried["events"][-1]["status"] == "in_transit"
    assert _order_status(client, auth, order) == "shipped"


def test_retry_is_409_when_the_order_has_another_active_delivery(client, auth, order):
    first = create_delivery(client, auth["clerk"], order)
    move_delivery(client, auth["clerk"], first, "failed")
    create_delivery(client, auth["clerk"], order)
    assert move_delivery(client, auth["clerk"], first, "in_transit", expect=409)["code"] == \
        "delivery_exists"


def test_cancelled_delivery_frees_the_order_for_another(client, auth, order):
    first = create_delivery(client, auth["clerk"], order)
    move_delivery(client, auth["clerk"], first, "cancelled")
    assert _order_status(client, auth, order) == "pending"
    create_delivery(client, auth["clerk"], order)


@pytest.mark.parametrize("path,target", [([], "delivered"), ([], "out_for_delivery"),
                                         (["in_transit"], "pending"), (["in_transit"], "cancelled"),
                                         (["cancelled"], "in_transit"), (["failed"], "delivered"),
                                         (["in_transit", "delivered"], "failed")])
def test_moves_the_machine_forbids_are_409(client, auth, order, path, target):
    delivery = create_delivery(client, auth["clerk"], order)
    for step in path:
        delivery = move_delivery(client, auth["clerk"], delivery, step)
    before = _order_status(client, auth, order)
    assert move_delivery(client, auth["clerk"], delivery, target, expect=409)["code"] == \
        "invalid_transition"
    assert client.get(f"/api/deliveries/{delivery['id']}", headers=auth["viewer"]).get_json()[
        "version"] == delivery["version"]
    assert _order_status(client, auth, order) == before


def test_unknown_status_is_400(client, auth, order):
    delivery = create_delivery(client, auth["clerk"], order)
    body = move_delivery(client, auth["clerk"], delivery, "teleported", expect=400)
    assert body["code"] == "validation_error" and "status" in body["errors"]


def test_moving_an_unknown_delivery_is_404(client, auth):
    resp = client.post("/api/deliveries/nope/status", json={"status": "in_transit"},
                       headers=auth["clerk"])
    assert_problem(resp, 404)
    assert_problem(client.get("/api/deliveries/nope", headers=auth["viewer"]), 404)


def test_cash_on_delivery_pays_a_shipped_order_and_keeps_it_shipped(client, auth, order):
    delivery = create_delivery(client, auth["clerk"], order)
    move_delivery(client, auth["clerk"], delivery, "in_transit")
    paid = pay(client, auth["clerk"], order)
    assert (paid["status"], paid["payment_status"]) == ("shipped", "paid")
    move_delivery(client, auth["clerk"], delivery, "delivered")
    assert _order_status(client, auth, order) == "delivered"


def test_a_shipped_order_cannot_be_cancelled_or_completed(client, auth, order):
    pay(client, auth["clerk"], order)
    delivery = create_delivery(client, auth["clerk"], order)
    move_delivery(client, auth["clerk"], delivery, "in_transit")
    assert_problem(client.post(f"/api/orders/{order['id']}/cancel", headers=auth["manager"]), 409,
                   "invalid_transition")
    assert_problem(client.post(f"/api/orders/{order['id']}/complete", headers=auth["manager"]), 409,
                   "invalid_transition")


def test_deliveries_list_filters_by_status_and_order(client, auth):
    product = create_product(client, auth["manager"])
    one = place_order(client, auth["clerk"], [(product, 1)])
    two = place_order(client, auth["clerk"], [(product, 1)])
    first = create_delivery(client, auth["clerk"], one)
    second = create_delivery(client, auth["clerk"], two, carrier="DHL")
    move_delivery(client, auth["clerk"], second, "in_transit")

    def ids(**params):
        resp = client.get("/api/deliveries", query_string=params, headers=auth["viewer"])
        assert resp.status_code == 200
        return [d["id"] for d in resp.get_json()["items"]]

    assert ids() == [second["id"], first["id"]]
    assert ids(status="in_transit") == [second["id"]]
    assert ids(order_id=one["id"]) == [first["id"]]
    assert ids(q="dhl") == [second["id"]]
    assert_problem(client.get("/api/deliveries?status=lost", headers=auth["viewer"]), 400)


def test_same_idempotency_key_replays_the_delivery(client, auth, order):
    headers = {**auth["clerk"], "Idempotency-Key": "d-1"}
    body = {"order_id": order["id"], "address": "1 High St"}
    first = client.post("/api/deliveries", json=body, headers=headers)
    again = client.post("/api/deliveries", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    other = client.post("/api/deliveries", json={**body, "carrier": "DHL"}, headers=headers)
    assert_problem(other, 409, "idempotency_conflict")
    assert client.get("/api/deliveries", headers=auth["viewer"]).get_json()["total"] == 1


@pytest.mark.parametrize("role", ["admin", "manager", "clerk"])
def test_selling_staff_create_and_move_deliveries(client, auth, order, role):
    delivery = create_delivery(client, auth[role], order)
    move_delivery(client, auth[role], delivery, "in_transit")


def test_viewer_reads_but_may_not_create_or_move_deliveries(client, auth, order):
    delivery = create_delivery(client, auth["clerk"], order)
    assert client.get(f"/api/deliveries/{delivery['id']}", headers=auth["viewer"]).status_code == 200
    assert_problem(client.post("/api/deliveries", json={"order_id": order["id"], "address": "x"},
                               headers=auth["viewer"]), 403)
    assert_problem(client.post(f"/api/deliveries/{delivery['id']}/status",
                               json={"status": "in_transit"}, headers=auth["viewer"]), 403)
    assert_problem(client.get("/api/deliveries"), 401)
