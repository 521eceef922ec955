"""The customers blueprint over HTTP: customers per role, their computed totals and orders, orders
linked by customer_id or email, shipping addresses taken by deliveries, and erasure."""
from tests.factories import assert_problem, create_delivery, create_product, move_delivery, pay, place_order
from tests.processes import CTX, TIMEOUT, run_processes

ROLES = ("admin", "manager", "clerk", "viewer")
ADDRESS = {"name": "Ada", "line1": "12 St James's Square", "line2": None, "city": "London",
           "postal_code": "SW1Y 4JH", "country": "GB"}


def _customer(client, auth, expect=201, **fields):
    body = {"name": "Ada Lovelace", "email": "ada@example.com", **fields}
    resp = client.post("/api/customers", json=body, headers=auth["clerk"])
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def test_each_role_may_do_what_section_11_allows(client, auth):
    ada = _customer(client, auth)
    for path in ("/api/customers", f"/api/customers/{ada['id']}", f"/api/customers/{ada['id']}/orders"):
        assert_problem(client.get(path), 401)
        for role in ROLES:
            assert client.get(path, headers=auth[role]).status_code == 200, (path, role)
    for n, role in enumerate(ROLES):
        may_write = role != "viewer"
        resp = client.post("/api/customers", json={"name": f"C{n}"}, headers=auth[role])
        assert resp.status_code == (201 if may_write else 403), role
        resp = client.patch(f"/api/customers/{ada['id']}", json={"notes": role}, headers=auth[role])
        assert resp.status_code == (200 if may_write else 403), role
        resp = client.put(f"/api/customers/{ada['id']}", json={"name": "Ada", "email": "ada@example.com"},
                          headers=auth[role])
        assert resp.status_code == (200 if may_write else 403), role
    for role in ("clerk", "viewer"):
        assert_problem(client.delete(f"/api/customers/{ada['id']}", headers=auth[role]), 403)
    assert client.delete(f"/api/customers/{ada['id']}", headers=auth["manager"]).status_code == 200


def test_a_customer_is_created_checked_and_read_with_its_totals(client, auth):
    ada = _customer(client, auth, email="Ada@Example.com", phone="+44 20 7946 0000",
                    addresses=[{"line1": "1 Road", "city": "York"}], notes="prefers pickup")
    assert list(ada) == ["id", "name", "email", "phone", "addresses", "notes", "order_count",
                         "total_spent", "last_order_at", "erased", "created_at", "updated_at", "version"]
    assert (ada["email"], ada["order_count"], ada["total_spent"], ada["last_order_at"], ada["erased"]) == (
        "Ada@Example.com", 0, "0.00", None, False)
    resp = client.get(f"/api/customers/{ada['id']}", headers=auth["viewer"])
    assert resp.headers["ETag"] == '"1"'
    assert_problem(client.post("/api/customers", json={"email": "ada@EXAMPLE.com"}, headers=auth["clerk"]),
                   409, "duplicate_email")
    body = assert_problem(client.post("/api/customers", json={"phone": "1"}, headers=auth["clerk"]), 400,
                          "validation_error")
    assert "name" in body["errors"]
    for bad in ({"email": "not-an-address"}, {"name": "X", "addresses": [{"city": "York"}]},
                {"name": "X", "addresses": [{"line1": "a", "city": "b"}] * 11}, {"name": "X", "shoe": 1},
                {"name": "X", "phone": "1" * 51}):
        assert_problem(client.post("/api/customers", json=bad, headers=auth["clerk"]), 400, "validation_error")
    assert client.get("/api/customers", headers=auth["viewer"]).get_json()["total"] == 1


def test_orders_link_by_id_or_email_and_the_totals_follow(client, auth):
    ada = _customer(client, auth)
    book = create_product(client, auth["manager"], price="12.50", stock=20)
    by_id = place_order(client, auth["clerk"], [(book, 2)], customer_id=ada["id"])
    pay(client, auth["clerk"], by_id)
    by_email = place_order(client, auth["clerk"], [(book, 1)],
                           customer={"name": "A. Lovelace", "email": "ADA@example.com"})
    assert by_id["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com", "phone": None}
    assert by_email["customer_id"] == ada["id"] and by_email["customer"]["name"] == "A. Lovelace"
    assert by_id["channel"] == "staff"
    own = place_order(client, auth["clerk"], [(book, 1)], customer_id="cust-0042")
    assert own["customer_id"] == "cust-0042"

    shown = client.get(f"/api/customers/{ada['id']}", headers=auth["viewer"]).get_json()
    assert (shown["order_count"], shown["total_spent"], shown["last_order_at"]) == (
        2, "25.00", by_email["created_at"])
    mine = client.get(f"/api/customers/{ada['id']}/orders", headers=auth["viewer"]).get_json()
    assert [o["id"] for o in mine["items"]] == [by_email["id"], by_id["id"]]
    paid = client.get(f"/api/customers/{ada['id']}/orders?status=paid", headers=auth["viewer"]).get_json()
    assert [o["id"] for o in paid["items"]] == [by_id["id"]]
    listed = client.get(f"/api/orders?customer_id={ada['id']}&channel=staff", headers=auth["viewer"]).get_json()
    assert listed["total"] == 2
    assert client.get("/api/orders?channel=storefront", headers=auth["viewer"]).get_json()["total"] == 0
    assert_problem(client.get("/api/orders?channel=web", headers=auth["viewer"]), 400, "validation_error")
    ranked = client.get("/api/customers?sort=-total_spent", headers=auth["viewer"]).get_json()
    assert ranked["items"][0]["id"] == ada["id"]
    found = client.get("/api/customers?email=ADA@example.com", headers=auth["viewer"]).get_json()
    assert [c["id"] for c in found["items"]] == [ada["id"]]
    assert client.get("/api/customers?q=lovelace&erased=false", headers=auth["viewer"]).get_json()["total"] == 1


def _order_in_a_process_of_its_own(results, config, headers, product_id, barrier):
    """As a gunicorn worker would: its own app on the shared store, one order for a new email."""
    from app import create_app
    client = create_app(config).test_client()
    barrier.wait(timeout=TIMEOUT)
    resp = client.post("/api/orders", headers=headers, json={
        "items": [{"product_id": product_id, "quantity": 1}],
        "customer": {"name": "Bob", "email": "bob@example.com"}})
    results.put(resp.status_code)


def test_a_new_email_makes_one_customer_even_from_orders_at_once(client, auth, app):
    book = create_product(client, auth["manager"], stock=20)
    config = {key: app.config[key] for key in ("DATA_DIR", "DATABASE_URL", "DATABASE_SCHEMA", "SECRET_KEY")}
    buyers = 4
    barrier = CTX.Barrier(buyers)
    answers = run_processes(_order_in_a_process_of_its_own,
                            [(config, auth["clerk"], book["id"], barrier)] * buyers)
    assert answers == [201] * buyers
    made = client.get("/api/customers?email=bob@example.com", headers=auth["viewer"]).get_json()
    assert made["total"] == 1 and made["items"][0]["order_count"] == buyers
    refused = client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": book["id"], "quantity": 99}], "customer": {"email": "eve@example.com"}})
    assert_problem(refused, 409, "insufficient_stock")
    assert client.get("/api/customers?email=eve@example.com", headers=auth["viewer"]).get_json()["total"] == 0


def test_a_delivery_takes_the_orders_shipping_address(client, auth):
    book = create_product(client, auth["manager"], stock=5)
    shipped = place_order(client, auth["clerk"], [(book, 1)], shipping_address=ADDRESS)
    assert shipped["shipping_address"] == ADDRESS
    resp = client.post("/api/deliveries", json={"order_id": shipped["id"]}, headers=auth["clerk"])
    assert resp.status_code == 201 and resp.get_json()["address"] == ADDRESS
    bare = place_order(client, auth["clerk"], [(book, 1)])
    body = assert_problem(client.post("/api/deliveries", json={"order_id": bare["id"]}, headers=auth["clerk"]),
                          400, "validation_error")
    assert "address" in body["errors"]
    assert_problem(client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": book["id"], "quantity": 1}], "shipping_address": {"city": "York"}}), 400)


def test_erasure_forgets_the_person_and_keeps_the_shops_records(client, auth):
    ada = _customer(client, auth, phone="+44 1", notes="likes Eliot")
    book = create_product(client, auth["manager"], price="8.00", stock=5)
    order = place_order(client, auth["clerk"], [(book, 1)], customer_id=ada["id"], shipping_address=ADDRESS)
    pay(client, auth["clerk"], order)
    delivery = create_delivery(client, auth["clerk"], order, address=ADDRESS)
    assert_problem(client.delete(f"/api/customers/{ada['id']}", headers=auth["manager"]), 409,
                   "customer_has_open_orders")
    move_delivery(client, auth["clerk"], delivery, "in_transit")
    move_delivery(client, auth["clerk"], delivery, "delivered")
    before = client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()

    erased = client.delete(f"/api/customers/{ada['id']}", headers=auth["manager"]).get_json()

    assert (erased["name"], erased["email"], erased["phone"], erased["notes"], erased["addresses"],
            erased["erased"], erased["order_count"], erased["total_spent"]) == (
        None, None, None, None, [], True, 1, "8.00")
    after = client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()
    assert after["customer"] == {"name": None, "email": None, "phone": None}
    assert after["shipping_address"]["country"] == "GB" and after["shipping_address"]["line1"] is None
    assert after["version"] == before["version"] + 1
    assert (after["items"], after["total"], after["payment"]) == (before["items"], before["total"], before["payment"])
    moved = client.get(f"/api/deliveries/{delivery['id']}", headers=auth["viewer"]).get_json()
    assert moved["address"]["line1"] is None and len(moved["events"]) == 3
    again = client.delete(f"/api/customers/{ada['id']}", headers=auth["manager"]).get_json()
    assert again["version"] == erased["version"]
    assert_problem(client.patch(f"/api/customers/{ada['id']}", json={"name": "Ada"}, headers=auth["clerk"]),
                   409, "customer_erased")
    assert_problem(client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": book["id"], "quantity": 1}], "customer_id": ada["id"]}), 409, "customer_erased")
    assert _customer(client, auth)["email"] == "ada@example.com"
    assert client.get("/api/customers?erased=true", headers=auth["viewer"]).get_json()["total"] == 1


def test_stale_if_match_is_412_and_changes_nothing(client, auth):
    ada = _customer(client, auth)
    resp = client.patch(f"/api/customers/{ada['id']}", json={"notes": "x"},
                        headers={**auth["clerk"], "If-Match": '"7"'})
    assert_problem(resp, 412, "precondition_failed")
    assert client.get(f"/api/customers/{ada['id']}", headers=auth["viewer"]).get_json()["notes"] is None
    assert_problem(client.get("/api/customers/nope", headers=auth["viewer"]), 404, "not_found")


def test_customers_export_as_csv_with_their_totals(client, auth):
    ada = _customer(client, auth, phone="=1+1", addresses=[{"line1": "1 Road", "city": "York"}])
    _customer(client, auth, name="Bob", email="bob@example.com")
    book = create_product(client, auth["manager"], price="3.00", stock=5)
    pay(client, auth["clerk"], place_order(client, auth["clerk"], [(book, 2)], customer_id=ada["id"]))
    resp = client.get("/api/customers?format=csv&sort=-total_spent", headers=auth["viewer"])
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    lines = resp.get_data(as_text=True).split("\r\n")
    assert lines[0] == ("id,name,email,phone,addresses,notes,order_count,total_spent,last_order_at,erased,"
                        "created_at,updated_at,version")
    assert lines[1].startswith(f"{ada['id']},Ada Lovelace,ada@example.com,'=1+1,")
    assert ",1,6.00," in lines[1] and lines[2].startswith(lines[2].split(",")[0] + ",Bob,")
    only = client.get("/api/customers?format=csv&email=BOB@example.com", headers=auth["viewer"])
    assert len(only.get_data(as_text=True).strip().split("\r\n")) == 2
