"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows. Today the flows that move money
or stock are the till's: an order is taken once however often its request is retried, never
beyond the stock, paid exactly once and for exactly its total, and refunded once. When section 11
(the storefront) lands, this module adds checkout and stock-hold abuse: holds that expire, a cap
on holds per customer and per address, and a checkout that cannot be replayed to hoard stock.
"""
from tests.factories import assert_problem, create_product, pay, place_order


def stock_of(client, auth, product):
    return client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"]


def test_a_retried_order_sells_once(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    headers = {**auth["clerk"], "Idempotency-Key": "till-3-42"}
    answers = [client.post("/api/orders", json=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [201] * 3
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert stock_of(client, auth, product) == 3


def test_orders_never_take_more_than_the_shelf_holds(client, auth):
    product = create_product(client, auth["manager"], stock=3)
    sold = 0
    for _ in range(5):
        resp = client.post("/api/orders", headers=auth["clerk"],
                           json={"items": [{"product_id": product["id"], "quantity": 1}]})
        sold += resp.status_code == 201
        assert resp.status_code in (201, 409)
    assert sold == 3 and stock_of(client, auth, product) == 0


def test_a_payment_must_be_the_whole_total_and_is_taken_once(client, auth):
    product = create_product(client, auth["manager"], price="25.00")
    order = place_order(client, auth["clerk"], [(product, 2)])
    for amount in ("0.01", "49.99", "50.01", "-50.00"):
        resp = client.post(f"/api/orders/{order['id']}/pay", headers=auth["clerk"],
                           json={"method": "card", "amount": amount})
        assert resp.status_code == 400, amount
    pay(client, auth["clerk"], order)
    again = client.post(f"/api/orders/{order['id']}/pay", headers=auth["clerk"],
                        json={"method": "card", "amount": order["total"]})
    assert_problem(again, 409, "invalid_transition")


def test_a_cancel_returns_the_stock_once(client, auth):
    product = create_product(client, auth["manager"], stock=4)
    order = place_order(client, auth["clerk"], [(product, 3)])
    assert client.post(f"/api/orders/{order['id']}/cancel", json={}, headers=auth["clerk"]).status_code == 200
    again = client.post(f"/api/orders/{order['id']}/cancel", json={}, headers=auth["clerk"])
    assert_problem(again, 409, "invalid_transition")
    assert stock_of(client, auth, product) == 4


def test_a_negative_or_zero_quantity_cannot_add_stock_through_an_order(client, auth):
    product = create_product(client, auth["manager"], stock=1)
    for quantity in (0, -5):
        resp = client.post("/api/orders", headers=auth["clerk"],
                           json={"items": [{"product_id": product["id"], "quantity": quantity}]})
        assert_problem(resp, 400, "validation_error")
    assert stock_of(client, auth, product) == 1
