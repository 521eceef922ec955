"""Section 16's storage promises on every backend: image records beside products, their bytes
(files under SHOP_DATA_DIR/images/, PostgreSQL's bytea table, or a shared SHOP_IMAGE_DIR), several
app servers serving the same bytes, and scripts.move_shop carrying them both ways."""
import io
import os

import pytest

from app import create_app
from app.services import images
from app.storage.images import FileImageBytes, PgImageBytes, blob_name, image_bytes
from scripts import move_shop
from tests.factories import add_image, create_product, picture


def _bytes_of(app):
    return image_bytes(app.extensions["backroom.store"])


def _signed_in(client, app):
    from app.services import users
    store = app.extensions["backroom.store"]
    with store.unit_of_work() as uow:
        if uow.users.find_by_username("boss") is None:
            users.create_user(uow, {"username": "boss", "password": "long-enough-1", "role": "admin"})
            uow.commit()
    token = client.post("/api/auth/login", json={"username": "boss", "password": "long-enough-1"})
    return {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def test_image_bytes_are_kept_where_the_backend_says(make_app, backend, data_dir, auth):
    app = make_app()
    client = app.test_client()
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    blobs = _bytes_of(app)
    if backend == "json":
        assert isinstance(blobs, FileImageBytes)
        assert os.path.exists(os.path.join(str(data_dir), "images", blob_name(image["sha256"], "original")))
    else:
        assert isinstance(blobs, PgImageBytes)
    assert len(blobs.get(blob_name(image["sha256"], "original"))) == image["bytes"]
    client.get(f"/api/images/{image['id']}/thumb")
    assert blobs.exists(blob_name(image["sha256"], "thumb"))
    assert client.delete(f"/api/products/{product['id']}/images/{image['id']}",
                         headers=auth["manager"]).status_code == 204
    assert blobs.names(prefix=image["sha256"]) == []


def test_a_shared_image_dir_holds_them_on_either_backend(make_app, tmp_path, auth):
    shared = tmp_path / "shared-images"
    app = make_app(IMAGE_DIR=str(shared))
    client = app.test_client()
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    found = [name for _, _, names in os.walk(shared) for name in names]
    assert blob_name(image["sha256"], "original") in found


def test_two_app_servers_on_one_store_serve_the_same_bytes(make_app, auth):
    first, second = make_app().test_client(), make_app().test_client()
    product = create_product(first, auth["manager"])
    image = add_image(first, auth["manager"], product, data=picture((900, 600)))
    made = first.get(f"/api/images/{image['id']}/medium")
    served = second.get(f"/api/images/{image['id']}/medium")
    assert served.status_code == 200 and served.data == made.data
    assert second.get(f"/api/images/{image['id']}/original").data == first.get(
        f"/api/images/{image['id']}/original").data


def test_image_records_are_found_by_product_and_by_sha256(store, make_app, auth):
    client = make_app().test_client()
    product, other = create_product(client, auth["manager"]), create_product(client, auth["manager"])
    data = picture((30, 30), (4, 4, 4))
    a = add_image(client, auth["manager"], product, data=data)
    b = add_image(client, auth["manager"], other, data=data)
    with store.reader() as uow:
        assert [i["id"] for i in uow.images.for_product(product["id"])] == [a["id"]]
        assert sorted(i["id"] for i in uow.images.with_sha256(a["sha256"])) == sorted([a["id"], b["id"]])
        assert [i["id"] for i in uow.products.get(product["id"])["images"]] == [a["id"]]


def test_the_sweep_spares_young_orphans_and_bytes_with_a_record(make_app, auth):
    app = make_app()
    client = app.test_client()
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    blobs = _bytes_of(app)
    blobs.put("a" * 64 + "-original", b"an upload under way")
    store = app.extensions["backroom.store"]
    assert images.sweep_orphans(store, blobs, older_than=3600) == 0
    # (PostgreSQL's test schema is shared: earlier tests' bytes are orphans here too)
    assert images.sweep_orphans(store, blobs, older_than=0) >= 1
    assert not blobs.exists("a" * 64 + "-original")
    assert blobs.exists(blob_name(image["sha256"], "original"))


def test_move_shop_carries_images_and_their_bytes_both_ways(tmp_path, pg_shop, monkeypatch):
    pg_shop.wipe()
    source = tmp_path / "shop"
    app = create_app({"DATA_DIR": str(source), "SECRET_KEY": "s" * 40})
    client = app.test_client()
    headers = _signed_in(client, app)
    product = create_product(client, headers)
    image = add_image(client, headers, product, data=picture((700, 500)))
    thumb = client.get(f"/api/images/{image['id']}/thumb").data
    app.extensions["backroom.store"].close()

    out = io.StringIO()
    assert move_shop.json_to_postgres(str(source), pg_shop.url, pg_shop.schema, force=True, out=out)
    assert "image bytes" in out.getvalue()
    on_pg = create_app({**pg_shop.config(), "DATA_DIR": str(tmp_path / "pg-side"), "SECRET_KEY": "s" * 40})
    pg_client = on_pg.test_client()
    assert pg_client.get(f"/api/images/{image['id']}/thumb").data == thumb
    assert pg_client.get(f"/api/products/{product['id']}").get_json()["images"][0]["id"] == image["id"]

    back = tmp_path / "back"
    assert move_shop.postgres_to_json(pg_shop.url, str(back), pg_shop.schema, out=io.StringIO())
    again = create_app({"DATA_DIR": str(back), "SECRET_KEY": "s" * 40}).test_client()
    assert again.get(f"/api/images/{image['id']}/original").data == client.get(
        f"/api/images/{image['id']}/original").data
    assert os.path.exists(back / "images" / blob_name(image["sha256"], "original"))
    pg_shop.wipe()


def test_a_backup_of_the_json_store_holds_the_images_bytes(make_app, backend, tmp_path, auth):
    if backend != "json":
        pytest.skip("flask backup copies the JSON store; PostgreSQL is backed up with pg_dump")
    app = make_app()
    client = app.test_client()
    image = add_image(client, auth["manager"], create_product(client, auth["manager"]))
    copied = app.extensions["backroom.store"].backup(str(tmp_path / "backup"))
    assert os.path.join("images", blob_name(image["sha256"], "original")) in copied
    restored = create_app({"DATA_DIR": str(tmp_path / "backup")}).test_client()
    assert restored.get(f"/api/images/{image['id']}/original").status_code == 200
