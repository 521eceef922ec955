"""Several shops on one PostgreSQL database, a schema each, sharing even a secret key: nothing crosses."""
import io

import pytest

from app import create_app
from app.storage.base import Query
from app.storage.jsonfile import JsonFileStore
from scripts import move_shop
from tests import pg


@pytest.fixture
def two_shops(tmp_path):
    url = pg.require_postgres()
    schemas = [pg.new_schema_name("york"), pg.new_schema_name("leeds")]
    apps = []
    for n, schema in enumerate(schemas):
        apps.append(create_app({"DATA_DIR": str(tmp_path / f"shop{n}"), "DATABASE_URL": url,
                                "DATABASE_SCHEMA": schema, "SECRET_KEY": "one-key-for-both-shops",
                                "ADMIN_USERNAME": "owner", "ADMIN_PASSWORD": f"owner-pass-{n}"}))
    yield apps, schemas, url
    for app in apps:
        app.extensions["backroom.store"].close()
    for schema in schemas:
        pg.drop_schema(url, schema)


def login(client, password):
    resp = client.post("/api/auth/login", json={"username": "owner", "password": password})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def test_two_shops_on_one_database_see_nothing_of_each_other(two_shops):
    (york, leeds), _, _ = two_shops
    a, b = york.test_client(), leeds.test_client()
    york_auth, leeds_auth = login(a, "owner-pass-0"), login(b, "owner-pass-1")
    # a token of one shop is 401 at the other, though both sign with the same key
    assert b.get("/api/auth/me", headers=york_auth).status_code == 401
    assert a.get("/api/auth/me", headers=leeds_auth).status_code == 401
    # the same SKU and barcode in both; each numbers its own orders from 1001
    numbers = []
    for client, headers in ((a, york_auth), (b, leeds_auth)):
        made = client.post("/api/products", headers=headers,
                           json={"sku": "MUG", "title": "Mug", "price": "5.00", "stock": 3,
                                 "barcode": "4006381333931"})
        assert made.status_code == 201, made.get_json()
        order = client.post("/api/orders", headers=headers,
                            json={"items": [{"product_id": made.get_json()["id"], "quantity": 1}]})
        numbers.append(order.get_json()["number"])
        invite = client.post("/api/invites", headers=headers, json={"role": "clerk", "email": "x@example.com"})
        assert invite.status_code == 201
    assert numbers == [1001, 1001]
    assert a.get("/api/products", headers=york_auth).get_json()["total"] == 1
    assert len(a.get("/api/outbox", headers=york_auth).get_json()["items"]) == 1
    # idempotency keys belong to a shop too
    for client, headers in ((a, york_auth), (b, leeds_auth)):
        resp = client.post("/api/inventory/receive", headers={**headers, "Idempotency-Key": "scan-1"},
                           json={"code": "MUG", "quantity": 1})
        assert resp.status_code == 201 and "Idempotent-Replayed" not in resp.headers


def test_move_shop_moves_one_schema_alone(two_shops, tmp_path):
    (york, leeds), (york_schema, _), url = two_shops
    a = york.test_client()
    headers = login(a, "owner-pass-0")
    a.post("/api/products", headers=headers, json={"sku": "ONLY-YORK", "title": "Y", "price": "1.00"})
    out = io.StringIO()
    assert move_shop.postgres_to_json(url, str(tmp_path / "york-json"), york_schema, out=out)
    with JsonFileStore(str(tmp_path / "york-json")).reader() as uow:
        skus = [p["sku"] for p in uow.products.list(Query())[0]]
        users = [u["username"] for u in uow.users.list(Query())[0]]
    assert skus == ["ONLY-YORK"] and users == ["owner"]
