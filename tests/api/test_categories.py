"""Categories over HTTP: the tree, slugs, product_count, products linked by id or by name, per role."""
import pytest

from app.storage.base import Query
from tests.factories import assert_problem, create_product

ROLES = ("admin", "manager", "clerk", "editor", "viewer")
WRITERS = ("admin", "manager", "editor")


def _create(client, headers, expect=201, **body):
    resp = client.post("/api/categories", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


@pytest.mark.parametrize("role", ROLES)
def test_categories_are_written_by_admins_managers_and_editors_and_read_by_all_staff(client, auth, role):
    resp = client.post("/api/categories", json={"name": f"By {role}"}, headers=auth[role])
    if role in WRITERS:
        assert resp.status_code == 201
        category = resp.get_json()
        assert resp.headers["Location"].endswith(f"/api/categories/{category['id']}")
        url = f"/api/categories/{category['id']}"
        assert client.patch(url, json={"description": "d"}, headers=auth[role]).status_code == 200
        assert client.delete(url, headers=auth[role]).status_code == 204
    else:
        assert_problem(resp, 403, "forbidden")
    assert client.get("/api/categories", headers=auth[role]).status_code == 200


def test_a_category_has_every_field_and_a_strong_etag(client, auth):
    made = _create(client, auth["editor"], name="  Café Noir ", description="Detectives and noir")
    assert list(made) == ["id", "name", "slug", "parent_id", "description", "product_count",
                          "created_at", "updated_at", "version"]
    assert (made["name"], made["slug"], made["parent_id"], made["product_count"]) == (
        "Café Noir", "cafe-noir", None, 0)
    resp = client.get(f"/api/categories/{made['id']}", headers=auth["viewer"])
    assert resp.headers["ETag"] == '"1"' and resp.get_json() == made


def test_anonymous_readers_read_categories_only_when_the_catalog_is_public(client, auth, make_app):
    _create(client, auth["manager"], name="Poetry")
    assert client.get("/api/categories").get_json()["total"] == 1
    closed = make_app(PUBLIC_CATALOG=False).test_client()
    assert_problem(closed.get("/api/categories"), 401)


def test_duplicates_and_bad_slugs(client, auth):
    _create(client, auth["manager"], name="Poetry")
    assert_problem(client.post("/api/categories", json={"name": "poetry"}, headers=auth["manager"]), 409,
                   "duplicate_name")
    assert_problem(client.post("/api/categories", json={"name": "Verse", "slug": "poetry"},
                               headers=auth["manager"]), 409, "duplicate_slug")
    for slug in ("Poetry", "a--b", "-a", "a" * 101, ""):
        problem = assert_problem(client.post("/api/categories", json={"name": "X", "slug": slug},
                                             headers=auth["manager"]), 400, "validation_error")
        assert "slug" in problem["errors"]
    assert_problem(client.post("/api/categories", json={"name": "   "}, headers=auth["manager"]), 400)
    assert _create(client, auth["manager"], name="Poetry!")["slug"] == "poetry-2"


def test_tree_rules_over_http(client, auth):
    h = auth["manager"]
    top = _create(client, h, name="L1")
    parent = top
    for n in range(2, 6):
        parent = _create(client, h, name=f"L{n}", parent_id=parent["id"])
    assert_problem(client.post("/api/categories", json={"name": "L6", "parent_id": parent["id"]}, headers=h),
                   409, "category_too_deep")
    assert_problem(client.patch(f"/api/categories/{top['id']}", json={"parent_id": parent["id"]}, headers=h),
                   409, "category_cycle")
    assert "parent_id" in assert_problem(client.post("/api/categories", json={"name": "X", "parent_id": "nope"},
                                                     headers=h), 400)["errors"]
    assert_problem(client.delete(f"/api/categories/{top['id']}", headers=h), 409, "category_not_empty")


def test_list_filters_search_and_sorts_by_name(client, auth):
    h = auth["manager"]
    fiction = _create(client, h, name="Fiction")
    _create(client, h, name="Crime", parent_id=fiction["id"], description="noir")
    _create(client, h, name="Art")
    names = lambda **q: [c["name"] for c in client.get("/api/categories", query_string=q,
                                                        headers=h).get_json()["items"]]
    assert names() == ["Art", "Crime", "Fiction"]
    assert names(parent_id="null") == ["Art", "Fiction"]
    assert names(parent_id=fiction["id"]) == ["Crime"]
    assert names(slug="art") == ["Art"]
    assert names(q="NOIR") == ["Crime"]
    assert names(sort="-slug") == ["Fiction", "Crime", "Art"]
    assert_problem(client.get("/api/categories?sort=product_count", headers=h), 400)


def test_if_match_guards_patch_and_delete(client, auth):
    made = _create(client, auth["manager"], name="Poetry")
    url = f"/api/categories/{made['id']}"
    assert_problem(client.patch(url, json={"name": "Verse"}, headers={**auth["manager"], "If-Match": '"9"'}), 412)
    assert_problem(client.delete(url, headers={**auth["manager"], "If-Match": '"9"'}), 412)
    renamed = client.patch(url, json={"name": "Verse"}, headers={**auth["manager"], "If-Match": '"1"'})
    assert renamed.get_json()["slug"] == "poetry" and renamed.get_json()["version"] == 2


def test_products_link_by_id_or_by_name_and_filter_with_descendants(client, auth):
    h = auth["manager"]
    fiction = _create(client, h, name="Fiction")
    crime = _create(client, h, name="Crime fiction", parent_id=fiction["id"])
    in_crime = create_product(client, h, category_id=crime["id"])
    by_name = create_product(client, h, category="crime FICTION")
    assert (by_name["category_id"], by_name["category"]) == (crime["id"], "Crime fiction")
    in_fiction = create_product(client, h, category_id=fiction["id"], category="fiction")
    create_product(client, h, category="Poetry", status="draft")
    ids = lambda **q: {p["id"] for p in client.get("/api/products", query_string=q,
                                                   headers=h).get_json()["items"]}
    assert ids(category_id=fiction["id"]) == {in_crime["id"], by_name["id"], in_fiction["id"]}
    assert ids(category="Crime Fiction") == {in_crime["id"], by_name["id"]}
    assert ids(category="No such") == set()
    got = client.get(f"/api/categories/{fiction['id']}", headers=h).get_json()
    assert got["product_count"] == 3
    poetry = client.get("/api/categories?slug=poetry", headers=h).get_json()["items"][0]
    assert poetry["product_count"] == 0  # its one product is a draft
    bad = client.post("/api/products", json={"sku": "X1", "title": "X", "price": "1", "category_id": "nope"},
                      headers=h)
    assert "category_id" in assert_problem(bad, 400)["errors"]
    bad = client.post("/api/products", json={"sku": "X2", "title": "X", "price": "1",
                                             "category_id": crime["id"], "category": "Poetry"}, headers=h)
    assert "category" in assert_problem(bad, 400)["errors"]


def test_a_rename_shows_on_products_without_a_new_version(client, auth):
    h = auth["manager"]
    crime = _create(client, h, name="Crime")
    product = create_product(client, h, category_id=crime["id"])
    client.patch(f"/api/categories/{crime['id']}", json={"name": "Noir"}, headers=h)
    after = client.get(f"/api/products/{product['id']}", headers=h).get_json()
    assert (after["category"], after["version"]) == ("Noir", product["version"])


def test_start_up_turns_category_strings_into_categories_once(make_app, auth, store):
    app = make_app()
    client = app.test_client()
    olds = [create_product(client, auth["manager"]) for _ in range(3)]
    with store.unit_of_work() as uow:  # as products stored before section 14 were
        for product, name in zip(olds, ("Crime", "crime ", None)):
            record = uow.products.get(product["id"])
            record.update(category=name, category_id=None)
            uow.products.save(record)
        uow.commit()
    restarted = make_app().test_client()
    after = [restarted.get(f"/api/products/{p['id']}", headers=auth["viewer"]).get_json() for p in olds]
    cats = restarted.get("/api/categories", headers=auth["viewer"]).get_json()
    assert [c["name"] for c in cats["items"]] == ["Crime"]
    assert [p["category_id"] for p in after] == [cats["items"][0]["id"]] * 2 + [None]
    assert [p["version"] for p in after] == [p["version"] for p in olds]
    make_app()
    assert restarted.get("/api/categories", headers=auth["viewer"]).get_json()["total"] == 1


def test_category_created_events_are_recorded(client, auth, store):
    _create(client, auth["manager"], name="Poetry")
    create_product(client, auth["manager"], category="Essays")
    with store.reader() as uow:
        events, _ = uow.events.list(Query(filters={"type": "category.created"}, limit=10))
    assert sorted(e["data"]["name"] for e in events) == ["Essays", "Poetry"]
