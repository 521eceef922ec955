"""Settings over HTTP: stored values win over the environment, null falls back, every change applies at once."""
import pytest

from tests.factories import create_product, place_order


def settings(client, auth, role="viewer"):
    resp = client.get("/api/settings", headers=auth[role])
    assert resp.status_code == 200, resp.get_json()
    return resp


def patch(client, auth, body, **headers):
    return client.patch("/api/settings", json=body, headers={**auth["admin"], **headers})


def test_every_staff_role_reads_the_settings_with_their_sources(client, auth):
    body = settings(client, auth).get_json()
    assert body["shop_name"] == "Backroom" and body["currency"] == "EUR" and body["timezone"] == "UTC"
    assert body["default_low_stock_threshold"] == 5 and body["public_catalog"] is True
    assert set(body["sources"]) == {"shop_name", "email", "phone", "address", "currency",
                                    "default_low_stock_threshold", "delivery_days", "timezone",
                                    "public_catalog", "product_approval"}
    assert body["sources"]["shop_name"] == "default" and body["version"] == 1
    assert client.get("/api/settings").status_code == 401


def test_a_variable_set_shows_as_the_environment(make_app, auth):
    client = make_app(NAME="Ye Olde Shoppe", DELIVERY_DAYS=5).test_client()
    body = client.get("/api/settings", headers=auth["clerk"]).get_json()
    assert body["shop_name"] == "Ye Olde Shoppe" and body["sources"]["shop_name"] == "environment"
    assert body["delivery_days"] == 5 and body["sources"]["delivery_days"] == "environment"


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer"])
def test_only_admins_change_settings(client, auth, role):
    assert client.patch("/api/settings", json={"shop_name": "X"}, headers=auth[role]).status_code == 403


def test_a_stored_value_wins_and_null_gives_the_variable_back(make_app, auth):
    client = make_app(NAME="From The Environment").test_client()
    changed = patch(client, auth, {"shop_name": "  Stored Name  ", "version": 99, "sources": {}})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["shop_name"] == "Stored Name" and body["sources"]["shop_name"] == "stored"
    assert body["version"] == 2 and changed.headers["ETag"] == '"2"'
    back = patch(client, auth, {"shop_name": None}).get_json()
    assert back["shop_name"] == "From The Environment" and back["sources"]["shop_name"] == "environment"
    same = patch(client, auth, {"shop_name": None}).get_json()
    assert same["version"] == back["version"], "nothing changed: the version stays"


def test_if_match_guards_a_change(client, auth):
    assert patch(client, auth, {"phone": "+44 1"}, **{"If-Match": '"7"'}).status_code == 412
    assert patch(client, auth, {"phone": "+44 1"}, **{"If-Match": '"1"'}).status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"shop_name": ""}, "shop_name"), ({"shop_name": "x" * 101}, "shop_name"), ({"email": "no"}, "email"),
    ({"phone": "1" * 51}, "phone"), ({"address": "a" * 501}, "address"), ({"currency": "eur"}, "currency"),
    ({"currency": "EURO"}, "currency"), ({"default_low_stock_threshold": -1}, "default_low_stock_threshold"),
    ({"delivery_days": 61}, "delivery_days"), ({"delivery_days": True}, "delivery_days"),
    ({"timezone": "Mars/Olympus"}, "timezone"), ({"public_catalog": "yes"}, "public_catalog"),
    ({"colour": "blue"}, "colour"),
])
def test_a_bad_value_is_400_under_its_field_and_nothing_changes(client, auth, body, field):
    resp = patch(client, auth, {"shop_name": "Changed", **body})
    assert resp.status_code == 400 and field in resp.get_json()["errors"]
    assert settings(client, auth).get_json()["shop_name"] == "Backroom"


def test_the_currency_locks_with_the_first_order_which_stores_it(make_app, auth):
    client = make_app(CURRENCY="GBP").test_client()
    assert patch(client, auth, {"currency": "USD"}).get_json()["currency"] == "USD"
    assert patch(client, auth, {"currency": None}).get_json()["currency"] == "GBP"
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)])
    assert order["currency"] == "GBP"
    body = settings(client, auth).get_json()
    assert body["currency"] == "GBP" and body["sources"]["currency"] == "stored"
    locked = patch(client, auth, {"currency": "USD"})
    assert locked.status_code == 409 and locked.get_json()["code"] == "currency_locked"
    # a later SHOP_CURRENCY changes nothing: the shop's currency is its first order's
    later = make_app(CURRENCY="USD").test_client()
    assert place_order(later, auth["clerk"], [(product, 1)])["currency"] == "GBP"


def test_a_change_applies_at_once_to_what_follows(client, auth):
    product = create_product(client, auth["manager"])
    assert client.get(f"/api/products/{product['id']}").status_code == 200
    patch(client, auth, {"public_catalog": False, "default_low_stock_threshold": 2, "delivery_days": 0,
                         "timezone": "Pacific/Kiritimati"})
    assert client.get(f"/api/products/{product['id']}").status_code == 401
    made = create_product(client, auth["manager"])
    assert made["low_stock_threshold"] == 2
    order = place_order(client, auth["clerk"], [(made, 1)])
    delivery = client.post("/api/deliveries", headers=auth["clerk"],
                           json={"order_id": order["id"], "address": "1 High Street"}).get_json()
    # the order day in Kiritimati (UTC+14) with no working days added
    from datetime import datetime, timedelta, timezone
    created = datetime.strptime(order["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert delivery["estimated_date"] == (created + timedelta(hours=14)).date().isoformat()
    day = (created + timedelta(hours=14)).date().isoformat()
    listed = client.get(f"/api/orders?since={day}&until={day}", headers=auth["viewer"]).get_json()
    assert order["id"] in [o["id"] for o in listed["items"]]


def test_the_shop_name_is_in_the_mail(client, auth, app, data_dir):
    import email
    from pathlib import Path
    from app.background import Background
    patch(client, auth, {"shop_name": "Ye Olde Bookshoppe"})
    client.post("/api/invites", json={"role": "clerk", "email": "sam@example.com"}, headers=auth["admin"])
    Background(app, "test").run_once()
    [path] = (Path(data_dir) / "outbox").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes())
    assert message["Subject"] == "Your invitation to Ye Olde Bookshoppe"
    assert message["From"] == "Ye Olde Bookshoppe <noreply@localhost>"
