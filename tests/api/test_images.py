"""Section 16 over HTTP: uploads (multipart and raw), the gallery's order, serving with ETags and
caching, who may do what, and products carrying their images."""
import io

import pytest
from PIL import Image

from tests.factories import add_image, assert_problem, create_product, picture

ROLES = ("admin", "manager", "clerk", "editor", "viewer")
WRITERS = ("admin", "manager", "editor")


def _images_path(product, image=None):
    return f"/api/products/{product['id']}/images" + (f"/{image['id']}" if image else "")


def _file(image, variant, **query):
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/images/{image['id']}/{variant}" + (f"?{tail}" if tail else "")


def _gallery(client, auth, product):
    return [(i["id"], i["position"]) for i in
            client.get(_images_path(product), headers=auth["viewer"]).get_json()["items"]]


@pytest.fixture
def approving(make_app):
    return make_app(PRODUCT_APPROVAL=True).test_client()


# ---- upload -------------------------------------------------------------------------------------

def test_a_multipart_upload_answers_the_image_with_absolute_urls(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.post(_images_path(product), headers=auth["manager"], content_type="multipart/form-data",
                       data={"file": (io.BytesIO(picture((300, 200))), "cover.jpg"), "alt": "Front cover"})
    assert resp.status_code == 201, resp.get_json()
    image = resp.get_json()
    assert resp.headers["Location"] == f"/api/products/{product['id']}/images/{image['id']}"
    assert resp.headers["ETag"] == '"1"'
    assert (image["position"], image["alt"], image["width"], image["height"]) == (1, "Front cover", 300, 200)
    assert image["content_type"] == "image/jpeg" and len(image["sha256"]) == 64
    assert image["urls"]["thumb"] == f"http://localhost/api/images/{image['id']}/thumb"
    assert set(image["urls"]) == {"original", "large", "medium", "thumb"}


def test_a_raw_body_upload_takes_alt_and_position_from_the_query(client, auth):
    product = create_product(client, auth["manager"])
    first = add_image(client, auth["manager"], product)
    resp = client.post(_images_path(product) + "?alt=Back&position=1", data=picture(fmt="PNG"),
                       content_type="image/png", headers=auth["manager"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["content_type"] == "image/png"
    assert _gallery(client, auth, product) == [(resp.get_json()["id"], 1), (first["id"], 2)]


@pytest.mark.parametrize("body, content_type, status, code, field", [
    (b"", "image/jpeg", 400, "validation_error", "file"),
    ({"alt": "no file"}, "multipart/form-data", 400, "validation_error", "file"),
    (b"GIF89a not really", "image/gif", 415, "unsupported_image", None),
    (b"hello", "text/plain", 415, "unsupported_image", None),
    (b"%PDF-1.7", "image/jpeg", 415, "unsupported_image", None),
])
def test_uploads_that_are_not_pictures_are_refused_and_store_nothing(client, auth, body, content_type,
                                                                     status, code, field):
    product = create_product(client, auth["manager"])
    resp = client.post(_images_path(product), data=body, content_type=content_type, headers=auth["manager"])
    problem = assert_problem(resp, status, code)
    if field:
        assert field in problem["errors"]
    assert _gallery(client, auth, product) == []


def test_a_picture_with_too_many_pixels_is_413_before_it_is_decoded(make_app, auth):
    client = make_app(MAX_IMAGE_PIXELS=1000).test_client()
    product = create_product(client, auth["manager"])
    resp = client.post(_images_path(product), data=picture((100, 100)), content_type="image/jpeg",
                       headers=auth["manager"])
    assert_problem(resp, 413, "image_too_large")


def test_a_body_over_the_limit_is_413(make_app, auth):
    client = make_app(MAX_BODY_BYTES=2000).test_client()
    product = create_product(client, auth["manager"])
    big = picture((600, 600), quality=100)
    assert len(big) > 2000
    resp = client.post(_images_path(product), data=big, content_type="image/jpeg", headers=auth["manager"])
    assert_problem(resp, 413)


def test_bad_alt_or_position_is_400_under_its_name(client, auth):
    product = create_product(client, auth["manager"])
    problem = add_image(client, auth["manager"], product, expect=400, alt="x" * 251)
    assert problem["code"] == "validation_error" and "alt" in problem["errors"]
    for position in ("2", "0", "first"):
        problem = add_image(client, auth["manager"], product, expect=400, position=position)
        assert "position" in problem["errors"]


def test_the_same_picture_twice_is_409_naming_the_image_and_the_eleventh_is_409(client, auth):
    product = create_product(client, auth["manager"])
    data = picture((50, 50), (9, 99, 199))
    first = add_image(client, auth["manager"], product, data=data)
    problem = add_image(client, auth["manager"], product, data=data, expect=409)
    assert problem["code"] == "duplicate_image" and problem["image_id"] == first["id"]
    for _ in range(9):
        add_image(client, auth["manager"], product)
    assert add_image(client, auth["manager"], product, expect=409)["code"] == "too_many_images"
    other = create_product(client, auth["manager"])
    assert add_image(client, auth["manager"], other, data=data)["sha256"] == first["sha256"]


def test_an_upload_with_an_idempotency_key_is_made_once(client, auth):
    product = create_product(client, auth["manager"])
    data = picture((40, 40), (1, 2, 3))
    headers = {**auth["manager"], "Idempotency-Key": "upload-1"}
    answers = [client.post(_images_path(product) + "?alt=A", data=data, content_type="image/jpeg",
                           headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    assert len(_gallery(client, auth, product)) == 1
    other = client.post(_images_path(product) + "?alt=B", data=data, content_type="image/jpeg", headers=headers)
    assert_problem(other, 409, "idempotency_conflict")


# ---- roles -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_change_images_as_section_16_says(client, auth, role):
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    allowed = role in WRITERS
    upload = client.post(_images_path(product), data=picture(colour=(7, 7, 7)), content_type="image/jpeg",
                         headers=auth[role])
    patch = client.patch(_images_path(product, image), json={"alt": role}, headers=auth[role])
    delete = client.delete(_images_path(product, image), headers=auth[role])
    if allowed:
        assert (upload.status_code, patch.status_code, delete.status_code) == (201, 200, 204)
    else:
        for resp in (upload, patch, delete):
            assert_problem(resp, 403, "forbidden")
    for resp in (client.get(_images_path(product), headers=auth[role]),
                 client.get(_file(image, "thumb"), headers=auth[role]) if not allowed else None):
        if resp is not None:
            assert resp.status_code == 200


def test_without_a_token_writes_are_401_and_an_unknown_product_is_404_first(client, auth):
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    assert_problem(client.post(_images_path(product), data=picture(), content_type="image/jpeg"), 401)
    assert_problem(client.patch(_images_path(product, image), json={"alt": "x"}), 401)
    assert_problem(client.delete(_images_path(product, image)), 401)
    assert_problem(client.post("/api/products/nope/images", data=b"", content_type="image/jpeg",
                               headers=auth["clerk"]), 404)


def test_an_editor_changes_images_of_drafts_only_while_approval_is_on(approving, auth):
    active = create_product(approving, auth["manager"])
    draft = create_product(approving, auth["manager"], status="draft")
    assert_problem(approving.post(_images_path(active), data=picture(), content_type="image/jpeg",
                                  headers=auth["editor"]), 403, "forbidden")
    assert add_image(approving, auth["editor"], draft)["position"] == 1


# ---- order, alt text, removal --------------------------------------------------------------------

def test_moving_and_deleting_renumber_the_gallery_and_grow_versions(client, auth):
    product = create_product(client, auth["manager"])
    a, b, c = (add_image(client, auth["manager"], product) for _ in range(3))
    before = client.get(f"/api/products/{product['id']}", headers=auth["viewer"])
    resp = client.patch(_images_path(product, c), json={"position": 1, "alt": "Spine"},
                        headers={**auth["manager"], "If-Match": '"1"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == '"2"'
    assert _gallery(client, auth, product) == [(c["id"], 1), (a["id"], 2), (b["id"], 3)]
    stale = client.patch(_images_path(product, a), json={"alt": "x"}, headers={**auth["manager"], "If-Match": '"1"'})
    assert_problem(stale, 412)
    after = client.get(f"/api/products/{product['id']}", headers=auth["viewer"])
    assert after.headers["ETag"] != before.headers["ETag"]
    assert [i["id"] for i in after.get_json()["images"]] == [c["id"], a["id"], b["id"]]
    assert client.delete(_images_path(product, c), headers=auth["manager"]).status_code == 204
    assert _gallery(client, auth, product) == [(a["id"], 1), (b["id"], 2)]
    assert_problem(client.get(_images_path(product, c), headers=auth["viewer"]), 404)
    assert_problem(client.get(_file(c, "original"), headers=auth["viewer"]), 404)


def test_a_patch_refuses_unknown_fields_and_ignores_what_describes_the_picture(client, auth):
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    assert "colour" in assert_problem(client.patch(_images_path(product, image), json={"colour": "red"},
                                                   headers=auth["manager"]), 400)["errors"]
    same = client.patch(_images_path(product, image), json={**image, "alt": "Front"}, headers=auth["manager"])
    assert same.status_code == 200 and same.get_json()["sha256"] == image["sha256"]
    assert_problem(client.patch(_images_path(product, image), json={"position": 2}, headers=auth["manager"]), 400)


def test_an_image_under_another_products_path_is_404(client, auth):
    product, other = create_product(client, auth["manager"]), create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    assert_problem(client.get(_images_path(other, image), headers=auth["viewer"]), 404)
    assert_problem(client.delete(_images_path(other, image), headers=auth["manager"]), 404)


# ---- products carry their images -------------------------------------------------------------------

def test_every_product_answer_carries_its_images_and_a_put_of_a_get_keeps_working(client, auth):
    product = create_product(client, auth["manager"])
    assert product["images"] == []
    image = add_image(client, auth["manager"], product, alt="Front")
    listed = client.get("/api/products", headers=auth["viewer"]).get_json()["items"]
    assert next(p for p in listed if p["id"] == product["id"])["images"][0]["id"] == image["id"]
    anonymous = client.get(f"/api/products/{product['id']}").get_json()
    assert anonymous["images"] == [image]
    body = client.get(f"/api/products/{product['id']}", headers=auth["manager"]).get_json()
    put = client.put(f"/api/products/{product['id']}", json={**body, "images": []}, headers=auth["manager"])
    assert put.status_code == 200, put.get_json()
    assert [i["id"] for i in put.get_json()["images"]] == [image["id"]]


# ---- serving -------------------------------------------------------------------------------------------

def test_variants_are_served_with_strong_etags_304_and_immutable_caching(client, auth):
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product, data=picture((1600, 800)))
    resp = client.get(_file(image, "thumb"))
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(resp.data)).size == (200, 100)
    assert resp.headers["ETag"] == f'"{image["sha256"]}-thumb"'
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert client.get(_file(image, "thumb")).data == resp.data
    for tag in (resp.headers["ETag"], "*"):
        again = client.get(_file(image, "thumb"), headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == resp.headers["ETag"]
        assert again.headers["Cache-Control"] == resp.headers["Cache-Control"]
    original = client.get(_file(image, "original"))
    assert original.data and original.headers["ETag"] == f'"{image["sha256"]}-original"'
    assert len(original.data) == image["bytes"]
    head = client.head(_file(image, "medium"))
    assert head.status_code == 200 and head.data == b""
    webp = client.get(_file(image, "large", format="webp"))
    assert webp.mimetype == "image/webp" and webp.headers["ETag"] == f'"{image["sha256"]}-large-webp"'
    assert "format" in assert_problem(client.get(_file(image, "large", format="gif")), 400)["errors"]
    assert_problem(client.get(_file(image, "huge")), 404)
    assert_problem(client.get("/api/images/nope/thumb"), 404)


def test_images_of_products_that_are_not_active_are_staff_only_and_private(client, auth):
    draft = create_product(client, auth["manager"], status="draft")
    image = add_image(client, auth["manager"], draft)
    assert_problem(client.get(_file(image, "thumb")), 404)
    assert_problem(client.get(_images_path(draft)), 404)
    staff = client.get(_file(image, "thumb"), headers=auth["viewer"])
    assert staff.status_code == 200 and staff.headers["Cache-Control"] == "private, no-cache"


def test_without_a_public_catalog_images_need_a_token_or_a_storefront_key(make_app, auth):
    client = make_app(PUBLIC_CATALOG=False).test_client()
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    assert_problem(client.get(_file(image, "thumb")), 401)
    assert_problem(client.get(_file(image, "thumb", key="not-a-key")), 401, "invalid_storefront_key")
    staff = client.get(_file(image, "thumb"), headers=auth["clerk"])
    assert staff.status_code == 200 and staff.headers["Cache-Control"] == "private, no-cache"
