"""The sales blueprint over HTTP: placing orders (all or nothing), payment, completion, cancellation, lists."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import assert_problem, create_product, pay, place_order

WRITERS = ("admin", "manager", "clerk")


def _stock(client, auth, product):
    return client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"]


def _order_total(client, auth):
    return client.get("/api/orders", headers=auth["viewer"]).get_json()["total"]


def _post(client, headers, body, **extra_headers):
    return client.post("/api/orders", json=body, headers={**headers, **extra_headers})


# ---- placing an order -----------------------------------------------------

def test_order_is_201_with_location_snapshot_and_exact_totals(client, auth, users):
    tea = create_product(client, auth["manager"], sku="TEA", title="Tea", price="0.10", stock=10)
    cup = create_product(client, auth["manager"], sku="CUP", title="Cup", price="2.35", stock=10)
    resp = _post(client, auth["clerk"], {
        "items": [{"product_id": tea["id"], "quantity": 3}, {"product_id": cup["id"], "quantity": 3}],
        "customer": {"name": "Ada", "email": "ada@example.com", "phone": "+44 1"},
        "notes": "gift wrap"})
    assert resp.status_code == 201
    order = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/orders/{order['id']}")
    assert order["items"] == [
        {"product_id": tea["id"], "sku": "TEA", "title": "Tea", "quantity": 3, "unit_price": "0.10",
         "line_total": "0.30"},
        {"product_id": cup["id"], "sku": "CUP", "title": "Cup", "quantity": 3, "unit_price": "2.35",
         "line_total": "7.05"}]
    assert (order["subtotal"], order["total"], order["currency"]) == ("7.35", "7.35", "EUR")
    assert (order["status"], order["payment_status"], order["payment"]) == ("pending", "unpaid", None)
    assert order["customer"] == {"name": "Ada", "email": "ada@example.com", "phone": "+44 1"}
    assert order["notes"] == "gift wrap" and order["number"] == 1001
    assert order["version"] == 1 and order["created_at"].endswith("Z")
    assert _stock(client, auth, tea) == 7 and _stock(client, auth, cup) == 7
    assert client.get(resp.headers["Location"], headers=auth["viewer"]).get_json() == order


def test_order_numbers_start_at_1001_and_increase(client, auth):
    product = create_product(client, auth["manager"])
    numbers = [place_order(client, auth["clerk"], [(product, 1)])["number"] for _ in range(3)]
    assert numbers == [1001, 1002, 1003]


def test_money_may_be_a_number_and_totals_stay_exact(client, auth):
    product = create_product(client, auth["manager"], price=0.1, stock=10)
    order = place_order(client, auth["clerk"], [(product, 3)],
                        payment={"method": "cash", "amount": 0.3})
    assert order["total"] == "0.30" and order["payment"]["amount"] == "0.30"


def test_seed_form_with_customer_id_and_books_means_the_same(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="9780141439518", stock=4)
    resp = _post(client, auth["clerk"], {"customer_id": "cust-7",
                                         "books": [{"book_id": book["id"], "quantity": 2}]})
    assert resp.status_code == 201
    order = resp.get_json()
    assert order["customer_id"] == "cust-7"
    assert [(line["product_id"], line["quantity"]) for line in order["items"]] == [(book["id"], 2)]
    assert _stock(client, auth, book) == 2


def test_seed_form_line_errors_are_under_items_index_too(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="9780141439518")
    zero = _post(client, auth["clerk"], {"books": [{"book_id": book["id"], "quantity": 1},
                                                   {"book_id": book["id"], "quantity": 0}]})
    assert list(assert_problem(zero, 400, "validation_error")["errors"]) == ["items.1"]
    unknown = _post(client, auth["clerk"], {"books": [{"book_id": "nope", "quantity": 1}]})
    assert list(assert_problem(unknown, 400, "validation_error")["errors"]) == ["items.0"]


def test_a_line_may_name_its_product_by_barcode_isbn_or_sku(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="9780261102217")
    mug = create_product(client, auth["manager"], sku="MUG-3", barcode="4006381333931")
    resp = _post(client, auth["clerk"], {"items": [
        {"barcode": "9780261102217", "quantity": 1}, {"barcode": "4006381333931", "quantity": 1}]})
    assert [line["product_id"] for line in resp.get_json()["items"]] == [book["id"], mug["id"]]
    by_isbn10_and_sku = _post(client, auth["clerk"], {"items": [
        {"barcode": "0261102214", "quantity": 1}, {"barcode": "MUG-3", "quantity": 1}]})
    assert by_isbn10_and_sku.status_code == 201
    assert _stock(client, auth, book) == 8 and _stock(client, auth, mug) == 8


def test_order_beyond_stock_is_409_per_line_and_changes_nothing(client, auth):
    plenty = create_product(client, auth["manager"], stock=5)
    short = create_product(client, auth["manager"], stock=1)
    resp = _post(client, auth["clerk"], {"items": [{"product_id": plenty["id"], "quantity": 2},
                                                   {"product_id": short["id"], "quantity": 3}]})
    body = assert_problem(resp, 409, "insufficient_stock")
    assert list(body["errors"]) == ["items.1"]
    main = client.get("/api/locations?is_default=true", headers=auth["viewer"]).get_json()["items"][0]
    assert body["shortages"] == [{"index": 1, "product_id": short["id"], "location_id": main["id"],
                                  "requested": 3, "available": 1}]
    assert _stock(client, auth, plenty) == 5 and _stock(client, auth, short) == 1
    assert _order_total(client, auth) == 0
    sales = client.get("/api/stock-movements?reason=sale", headers=auth["viewer"]).get_json()
    assert sales["total"] == 0


@pytest.mark.parametrize("line,why", [
    ({"product_id": "no-such-product", "quantity": 1}, "unknown product"),
    ({"barcode": "nothing-scans-as-this", "quantity": 1}, "unknown barcode"),
    ({"product_id": "GOOD", "quantity": 0}, "quantity 0"),
    ({"product_id": "GOOD", "quantity": -2}, "negative quantity"),
    ({"product_id": "GOOD", "quantity": 1.5}, "fractional quantity"),
    ({"product_id": "GOOD"}, "no quantity"),
    ({"quantity": 1}, "no product"),
    ({"product_id": "GOOD", "quantity": 1, "colour": "red"}, "unknown field in a line"),
])
def test_bad_lines_are_400_under_their_index(client, auth, line, why):
    good = create_product(client, auth["manager"], stock=5)
    other = create_product(client, auth["manager"], stock=5)
    if line.get("product_id") == "GOOD":
        line = {**line, "product_id": other["id"]}
    body = {"items": [{"product_id": good["id"], "quantity": 1}, line]}
    problem = assert_problem(_post(client, auth["clerk"], body), 400, "validation_error")
    assert list(problem["errors"]) == ["items.1"], why
    assert _stock(client, auth, good) == 5 and _stock(client, auth, other) == 5


def test_archived_product_cannot_be_ordered(client, auth):
    gone = create_product(client, auth["manager"])
    client.delete(f"/api/products/{gone['id']}", headers=auth["manager"])
    resp = _post(client, auth["clerk"], {"items": [{"product_id": gone["id"], "quantity": 1}]})
    assert "items.0" in assert_problem(resp, 400, "validation_error")["errors"]


def test_repeated_product_is_400_on_the_repeating_line(client, auth):
    product = create_product(client, auth["manager"], sku="REP-1")
    resp = _post(client, auth["clerk"], {"items": [{"product_id": product["id"], "quantity": 1},
                                                   {"barcode": "REP-1", "quantity": 1}]})
    assert list(assert_problem(resp, 400, "validation_error")["errors"]) == ["items.1"]


def test_order_needs_lines(client, auth):
    assert_problem(_post(client, auth["clerk"], {"items": []}), 400, "validation_error")
    assert_problem(_post(client, auth["clerk"], {"notes": "nothing"}), 400, "validation_error")


def test_unknown_nested_fields_are_400(client, auth):
    product = create_product(client, auth["manager"])
    line = [{"product_id": product["id"], "quantity": 1}]
    customer = _post(client, auth["clerk"], {"items": line, "customer": {"name": "A", "age": 3}})
    assert "customer.age" in assert_problem(customer, 400, "validation_error")["errors"]
    payment = _post(client, auth["clerk"], {"items": line, "payment": {
        "method": "cash", "amount": "10.00", "tip": "1"}})
    assert "payment.tip" in assert_problem(payment, 400, "validation_error")["errors"]
    assert _stock(client, auth, product) == 10


def test_payment_in_create_makes_the_order_paid(client, auth):
    product = create_product(client, auth["manager"], price="12.50")
    order = place_order(client, auth["clerk"], [(product, 2)],
                        payment={"method": "card", "amount": "25.00", "reference": "txn-1"})
    assert (order["status"], order["payment_status"]) == ("paid", "paid")
    assert {k: order["payment"][k] for k in ("method", "amount", "reference")} == {
        "method": "card", "amount": "25.00", "reference": "txn-1"}
    assert order["payment"]["paid_at"].endswith("Z")


def test_payment_in_create_must_equal_the_total(client, auth):
    product = create_product(client, auth["manager"], price="12.50")
    resp = _post(client, auth["clerk"], {"items": [{"product_id": product["id"], "quantity": 2}],
                                         "payment": {"method": "card", "amount": "25.01"}})
    assert_problem(resp, 400, "payment_amount_mismatch")
    assert _stock(client, auth, product) == 10 and _order_total(client, auth) == 0


# ---- pay, complete, cancel --------------------------------------------------

def test_pay_records_the_payment(client, auth):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 2)])
    paid = pay(client, auth["clerk"], order, method="transfer", amount="20", reference="IBAN")
    assert (paid["status"], paid["payment_status"], paid["version"]) == ("paid", "paid", 2)
    assert (paid["payment"]["method"], paid["payment"]["amount"]) == ("transfer", "20.00")


def test_pay_amount_mismatch_is_400(client, auth):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 2)])
    body = pay(client, auth["clerk"], order, expect=400, amount="19.99")
    assert body["code"] == "payment_amount_mismatch"
    assert client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()[
        "payment_status"] == "unpaid"


def test_paying_twice_is_409_invalid_transition(client, auth):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])
    pay(client, auth["clerk"], order)
    assert pay(client, auth["clerk"], order, expect=409)["code"] == "invalid_transition"


@pytest.mark.parametrize("body,field", [({"amount": "10.00"}, "method"),
                                        ({"method": "cheque", "amount": "10.00"}, "method"),
                                        ({"method": "cash"}, "amount"),
                                        ({"method": "cash", "amount": "ten"}, "amount")])
def test_invalid_payment_is_400(client, auth, body, field):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])
    resp = client.post(f"/api/orders/{order['id']}/pay", json=body, headers=auth["clerk"])
    assert field in assert_problem(resp, 400, "validation_error")["errors"]


def test_complete_hands_over_a_paid_order(client, auth):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])
    early = client.post(f"/api/orders/{order['id']}/complete", headers=auth["clerk"])
    assert_problem(early, 409, "invalid_transition")
    pay(client, auth["clerk"], order)
    done = client.post(f"/api/orders/{order['id']}/complete", headers=auth["clerk"])
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    assert_problem(client.post(f"/api/orders/{order['id']}/complete", headers=auth["clerk"]), 409)
    assert_problem(client.post(f"/api/orders/{order['id']}/cancel", headers=auth["manager"]), 409,
                   "invalid_transition")


def test_clerk_cancels_a_pending_order_and_stock_comes_back(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    order = place_order(client, auth["clerk"], [(product, 2)])
    resp = client.post(f"/api/orders/{order['id']}/cancel", json={"reason": "changed mind"},
                       headers=auth["clerk"])
    assert resp.status_code == 200
    cancelled = resp.get_json()
    assert (cancelled["status"], cancelled["payment_status"], cancelled["cancel_reason"]) == (
        "cancelled", "unpaid", "changed mind")
    assert _stock(client, auth, product) == 5
    back = client.get(f"/api/stock-movements?reason=order_cancelled&product_id={product['id']}",
                      headers=auth["viewer"]).get_json()["items"]
    assert [(m["delta"], m["ref"]) for m in back] == [(2, order["id"])]
    assert_problem(client.post(f"/api/orders/{order['id']}/cancel", headers=auth["clerk"]), 409,
                   "invalid_transition")


def test_clerk_may_not_cancel_a_paid_order(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    order = place_order(client, auth["clerk"], [(product, 2)])
    pay(client, auth["clerk"], order)
    resp = client.post(f"/api/orders/{order['id']}/cancel", headers=auth["clerk"])
    assert_problem(resp, 403, "forbidden")
    assert _stock(client, auth, product) == 3
    assert client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()["status"] == "paid"


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_manager_cancels_a_paid_order_as_a_refund_with_stock_back(client, auth, role):
    a = create_product(client, auth["manager"], stock=5)
    b = create_product(client, auth["manager"], stock=5)
    order = place_order(client, auth["clerk"], [(a, 2), (b, 1)],
                        payment={"method": "cash", "amount": "30.00"})
    resp = client.post(f"/api/orders/{order['id']}/cancel", headers=auth[role])
    assert resp.status_code == 200
    assert (resp.get_json()["status"], resp.get_json()["payment_status"]) == ("cancelled", "refunded")
    assert _stock(client, auth, a) == 5 and _stock(client, auth, b) == 5
    back = client.get("/api/stock-movements?reason=order_cancelled", headers=auth["viewer"]).get_json()
    assert sorted((m["product_id"], m["delta"], m["ref"]) for m in back["items"]) == sorted(
        [(a["id"], 2, order["id"]), (b["id"], 1, order["id"])])
    assert pay(client, auth["manager"], order, expect=409)["code"] == "invalid_transition"


def test_action_endpoints_of_an_unknown_order_are_404(client, auth):
    for action in ("pay", "complete", "cancel"):
        resp = client.post(f"/api/orders/nope/{action}", json={"method": "cash", "amount": "1"}
                           if action == "pay" else None, headers=auth["manager"])
        assert_problem(resp, 404)
    assert_problem(client.get("/api/orders/nope", headers=auth["viewer"]), 404)


# ---- who may ----------------------------------------------------------------

@pytest.mark.parametrize("role", WRITERS)
def test_staff_who_sell_may_place_pay_and_complete(client, auth, role):
    order = place_order(client, auth[role], [(create_product(client, auth["manager"]), 1)])
    pay(client, auth[role], order)
    assert client.post(f"/api/orders/{order['id']}/complete", headers=auth[role]).status_code == 200


def test_viewer_reads_orders_but_may_not_change_them(client, auth):
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)])
    assert client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).status_code == 200
    assert_problem(_post(client, auth["viewer"], {"items": [{"product_id": product["id"],
                                                             "quantity": 1}]}), 403)
    for action in ("pay", "complete", "cancel"):
        resp = client.post(f"/api/orders/{order['id']}/{action}", headers=auth["viewer"],
                           json={"method": "cash", "amount": "10.00"} if action == "pay" else {})
        assert_problem(resp, 403)
    assert _stock(client, auth, product) == 9


def test_anonymous_callers_may_not_read_or_place_orders(client, auth):
    product = create_product(client, auth["manager"])
    assert_problem(client.get("/api/orders"), 401)
    assert_problem(client.post("/api/orders", json={"items": [{"product_id": product["id"],
                                                              "quantity": 1}]}), 401)


# ---- Idempotency-Key ----------------------------------------------------------

def test_same_key_and_body_replays_the_first_answer_and_changes_nothing(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    first = _post(client, auth["clerk"], body, **{"Idempotency-Key": "k-1"})
    again = _post(client, auth["clerk"], {"items": [{"quantity": 2, "product_id": product["id"]}]},
                  **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert _stock(client, auth, product) == 3 and _order_total(client, auth) == 1


def test_same_key_with_another_body_is_409(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    _post(client, auth["clerk"], {"items": [{"product_id": product["id"], "quantity": 1}]},
          **{"Idempotency-Key": "k-2"})
    other = _post(client, auth["clerk"], {"items": [{"product_id": product["id"], "quantity": 2}]},
                  **{"Idempotency-Key": "k-2"})
    assert_problem(other, 409, "idempotency_conflict")
    assert _stock(client, auth, product) == 4


def test_keys_belong_to_one_user(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    assert _post(client, auth["clerk"], body, **{"Idempotency-Key": "k-3"}).status_code == 201
    assert _post(client, auth["manager"], body, **{"Idempotency-Key": "k-3"}).status_code == 201
    assert _stock(client, auth, product) == 3


def test_a_failed_attempt_may_be_retried_with_its_key(client, auth):
    product = create_product(client, auth["manager"], stock=1)
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    assert_problem(_post(client, auth["clerk"], body, **{"Idempotency-Key": "k-4"}), 409,
                   "insufficient_stock")
    client.post(f"/api/products/{product['id']}/adjustments", json={"delta": 1, "reason": "received"},
                headers=auth["manager"])
    retry = _post(client, auth["clerk"], body, **{"Idempotency-Key": "k-4"})
    assert retry.status_code == 201 and _stock(client, auth, product) == 0


# ---- lists --------------------------------------------------------------------

def _numbers(client, auth, **params):
    resp = client.get("/api/orders", query_string=params, headers=auth["viewer"])
    assert resp.status_code == 200, resp.get_json()
    return [o["number"] for o in resp.get_json()["items"]]


def test_orders_list_newest_first_with_filters(client, auth):
    product = create_product(client, auth["manager"], stock=20)
    pending = place_order(client, auth["clerk"], [(product, 1)],
                          customer={"name": "Ada Lovelace", "email": "Ada@Example.com"})
    paid = place_order(client, auth["clerk"], [(product, 1)],
                       payment={"method": "cash", "amount": "10.00"}, notes="fragile parcel")
    refunded = place_order(client, auth["clerk"], [(product, 1)],
                           payment={"method": "cash", "amount": "10.00"})
    client.post(f"/api/orders/{refunded['id']}/cancel", headers=auth["manager"])
    assert _numbers(client, auth) == [refunded["number"], paid["number"], pending["number"]]
    assert _numbers(client, auth, status="paid") == [paid["number"]]
    assert _numbers(client, auth, payment_status="refunded") == [refunded["number"]]
    assert _numbers(client, auth, customer_email="ada@example.com") == [pending["number"]]
    assert _numbers(client, auth, q="LOVELACE") == [pending["number"]]
    assert _numbers(client, auth, q="fragile") == [paid["number"]]
    assert _numbers(client, auth, sort="number") == [pending["number"], paid["number"],
                                                     refunded["number"]]
    assert_problem(client.get("/api/orders?status=lost", headers=auth["viewer"]), 400)


def test_orders_sort_by_total_numerically(client, auth):
    cheap = create_product(client, auth["manager"], price="9.00")
    dear = create_product(client, auth["manager"], price="100.00")
    nine = place_order(client, auth["clerk"], [(cheap, 1)])
    hundred = place_order(client, auth["clerk"], [(dear, 1)])
    eighteen = place_order(client, auth["clerk"], [(cheap, 2)])
    assert _numbers(client, auth, sort="-total") == [hundred["number"], eighteen["number"],
                                                     nine["number"]]


def test_orders_since_and_until(client, auth):
    order = place_order(client, auth["clerk"], [(create_product(client, auth["manager"]), 1)])
    placed = datetime.strptime(order["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    today = placed.date().isoformat()
    tomorrow = (placed.date() + timedelta(days=1)).isoformat()
    assert _numbers(client, auth, since=today, until=today) == [1001]
    assert _numbers(client, auth, since=tomorrow) == []
    assert _numbers(client, auth, until=order["created_at"]) == [1001]
    after = (placed + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _numbers(client, auth, since=after) == []


def test_orders_pagination_with_link_header(client, auth):
    product = create_product(client, auth["manager"], stock=20)
    for _ in range(5):
        place_order(client, auth["clerk"], [(product, 1)])
    first = client.get("/api/orders?limit=2", headers=auth["viewer"])
    body = first.get_json()
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 0)
    assert [o["number"] for o in body["items"]] == [1005, 1004]
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    middle = client.get("/api/orders?limit=2&offset=2", headers=auth["viewer"])
    assert [o["number"] for o in middle.get_json()["items"]] == [1003, 1002]
    assert 'rel="next"' in middle.headers["Link"] and 'rel="prev"' in middle.headers["Link"]
    last = client.get("/api/orders?limit=2&offset=4", headers=auth["viewer"])
    assert [o["number"] for o in last.get_json()["items"]] == [1001]
    assert 'rel="next"' not in last.headers["Link"] and "offset=2" in last.headers["Link"]


@pytest.mark.backends("json")
def test_an_order_whose_journal_fsync_fails_is_not_answered_as_placed(client, auth, monkeypatch, caplog):
    """The fsync comes after the store lock is let go, but still before the answer: when the disk
    refuses it, the client hears 503, never 201, and the operator finds it in the log."""
    import errno
    from app.storage import jsonfile

    shelf = create_product(client, auth["manager"], stock=5)

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(jsonfile.os, "fsync", failing_fsync)
    resp = _post(client, auth["clerk"], {"items": [{"product_id": shelf["id"], "quantity": 1}]})
    assert_problem(resp, 503, "storage_unavailable")
    assert "fsync" in caplog.text and "failed after a commit" in caplog.text
    monkeypatch.undo()
    again = _post(client, auth["clerk"], {"items": [{"product_id": shelf["id"], "quantity": 1}]})
    assert again.status_code == 201   # the store goes on once the disk does


@pytest.mark.backends("json")
def test_an_order_that_cannot_get_the_store_lock_in_time_is_503_storage_busy(app_with, auth, data_dir):
    """Another process holds the write lock past SHOP_LOCK_TIMEOUT: the client hears 503 with
    Retry-After, nothing is taken from stock, and the next order goes through."""
    from tests.processes import LockHolder

    client = app_with(LOCK_TIMEOUT=0.2).test_client()
    shelf = create_product(client, auth["manager"], stock=5)
    holder = LockHolder(data_dir)
    try:
        resp = _post(client, auth["clerk"], {"items": [{"product_id": shelf["id"], "quantity": 1}]})
        assert_problem(resp, 503, "storage_busy")
        assert resp.headers["Retry-After"]
    finally:
        holder.release()
    assert _stock(client, auth, shelf) == 5
    again = _post(client, auth["clerk"], {"items": [{"product_id": shelf["id"], "quantity": 1}]})
    assert again.status_code == 201 and _stock(client, auth, shelf) == 4
