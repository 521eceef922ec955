"""Product images: decoding, the gallery's order, variants and the bytes' life, through the in-memory store."""
import io

import pytest
from PIL import Image

from app.services import images
from app.services.catalog import Writer
from app.services.errors import (DuplicateImage, Forbidden, ImageTooLarge, NotFound, PreconditionFailed,
                                 TooManyImages, UnsupportedImage, ValidationFailed)
from app.storage.base import Query
from app.storage.images import MemoryImageBytes, blob_name
from tests.factories import picture
from tests.unit.builders import add_product, read, run

MAX_PIXELS = 40_000_000


@pytest.fixture
def blobs():
    return MemoryImageBytes()


def upload(colour=(10, 120, 200), size=(80, 60), fmt="JPEG", **save):
    return images.decode_upload(picture(size, colour, fmt, **save), MAX_PIXELS)


def add(store, blobs, product, colour=(10, 120, 200), position=None, alt=None, writer=None, **kw):
    return run(store, lambda uow: images.add_image(uow, blobs, product["id"], upload(colour, **kw), alt,
                                                   position, **({"writer": writer} if writer else {})))


def positions(store, product):
    return read(store, lambda uow: [(i["id"], i["position"]) for i in images.gallery(uow, product["id"])])


def stored_product(store, product):
    return read(store, lambda uow: uow.products.get(product["id"]))


def event_types(store):
    return read(store, lambda uow: [e["type"] for e in uow.events.list(Query(limit=200))[0]])


def jpeg_with_exif(orientation, size=(40, 20), gps=True, comment=b"secret"):
    """A real JPEG as a phone writes it: EXIF orientation, a GPS position, a comment."""
    image = Image.new("RGB", size, (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))  # left half red
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=comment, quality=95)
    return out.getvalue()


# ---- decoding -------------------------------------------------------------------------------------

def test_exif_orientation_is_applied_and_every_metadata_is_dropped():
    raw = jpeg_with_exif(orientation=6)  # "rotate 90 clockwise to view"
    stored = images.decode_upload(raw, MAX_PIXELS)
    assert (stored.width, stored.height) == (20, 40)
    picture_back = Image.open(io.BytesIO(stored.data))
    assert picture_back.size == (20, 40)
    assert not picture_back.getexif()
    assert "exif" not in picture_back.info and "comment" not in picture_back.info
    assert b"PhoneMaker" not in stored.data and b"secret" not in stored.data
    # the red half, on the left before turning, is on top after a quarter turn clockwise
    top, bottom = picture_back.getpixel((10, 5)), picture_back.getpixel((10, 35))
    assert top[0] > 200 and bottom[0] < 50


def test_a_stored_original_is_described_by_its_own_bytes():
    stored = upload(size=(120, 90))
    import hashlib
    assert stored.sha256 == hashlib.sha256(stored.data).hexdigest()
    assert (stored.width, stored.height, stored.content_type) == (120, 90, "image/jpeg")


def test_the_icc_profile_is_kept():
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    stored = images.decode_upload(picture((30, 30), icc_profile=icc), MAX_PIXELS)
    assert Image.open(io.BytesIO(stored.data)).info.get("icc_profile") == icc


def test_cmyk_becomes_rgb_and_png_transparency_is_kept():
    out = io.BytesIO()
    Image.new("CMYK", (10, 10), (0, 255, 255, 0)).save(out, "JPEG")
    assert Image.open(io.BytesIO(images.decode_upload(out.getvalue(), MAX_PIXELS).data)).mode == "RGB"
    png = images.decode_upload(picture((10, 10), (0, 0, 255, 0), "PNG"), MAX_PIXELS)
    assert png.content_type == "image/png"
    assert Image.open(io.BytesIO(png.data)).getpixel((9, 9))[3] == 0


def test_a_lossless_webp_stays_lossless_and_a_lossy_one_lossy():
    lossless = images.decode_upload(picture((16, 16), fmt="WEBP", lossless=True), MAX_PIXELS)
    lossy = images.decode_upload(picture((16, 16), fmt="WEBP", quality=50), MAX_PIXELS)
    assert b"VP8L" in lossless.data[:40] and b"VP8L" not in lossy.data[:40]
    assert lossless.content_type == lossy.content_type == "image/webp"


def test_only_the_first_frame_of_an_animation_is_kept():
    frames = [Image.new("RGBA", (8, 8), c) for c in ((255, 0, 0, 255), (0, 255, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    stored = Image.open(io.BytesIO(images.decode_upload(out.getvalue(), MAX_PIXELS).data))
    assert getattr(stored, "n_frames", 1) == 1 and stored.getpixel((4, 4))[:3] == (255, 0, 0)


@pytest.mark.parametrize("raw", [picture(fmt="GIF"), b"%PDF-1.4 not a picture", b"just text",
                                 picture((200, 200))[:300]], ids=["gif", "pdf", "text", "truncated"])
def test_anything_but_a_whole_jpeg_png_or_webp_is_unsupported(raw):
    with pytest.raises(UnsupportedImage):
        images.decode_upload(raw, MAX_PIXELS)


def test_too_many_pixels_is_refused_from_the_header():
    with pytest.raises(ImageTooLarge):
        images.decode_upload(picture((100, 100)), 9_999)
    with pytest.raises(ValidationFailed) as refused:
        images.decode_upload(b"", MAX_PIXELS)
    assert "file" in refused.value.errors


# ---- the gallery ------------------------------------------------------------------------------------

def test_images_go_last_or_where_asked_and_hold_one_to_n(memory_store, blobs):
    product = add_product(memory_store)
    first = add(memory_store, blobs, product, (1, 0, 0))
    second = add(memory_store, blobs, product, (2, 0, 0))
    inserted = add(memory_store, blobs, product, (3, 0, 0), position=1)
    assert positions(memory_store, product) == [(inserted["id"], 1), (first["id"], 2), (second["id"], 3)]
    with pytest.raises(ValidationFailed) as refused:
        add(memory_store, blobs, product, (4, 0, 0), position=5)
    assert "position" in refused.value.errors


def test_the_product_carries_its_images_and_grows_its_version(memory_store, blobs):
    product = add_product(memory_store)
    image = add(memory_store, blobs, product, alt="  Front cover ")
    stored = stored_product(memory_store, product)
    assert stored["version"] == product["version"] + 1
    assert [i["id"] for i in stored["images"]] == [image["id"]] and image["alt"] == "Front cover"
    assert "product.image_added" in event_types(memory_store)


def test_an_eleventh_image_is_refused(memory_store, blobs):
    product = add_product(memory_store)
    for n in range(images.MAX_IMAGES):
        add(memory_store, blobs, product, (n * 20, 5, 5))
    with pytest.raises(TooManyImages):
        add(memory_store, blobs, product, (250, 250, 5))


def test_the_same_picture_twice_is_refused_naming_the_first_but_two_products_may_share_it(memory_store, blobs):
    product, other = add_product(memory_store), add_product(memory_store)
    first = add(memory_store, blobs, product)
    with pytest.raises(DuplicateImage) as refused:
        add(memory_store, blobs, product)
    assert refused.value.extra["image_id"] == first["id"]
    assert add(memory_store, blobs, other)["sha256"] == first["sha256"]


def test_a_refused_upload_stores_nothing(memory_store, blobs):
    product = add_product(memory_store)
    for n in range(images.MAX_IMAGES):
        add(memory_store, blobs, product, (n * 20, 5, 5))
    before = dict(blobs.blobs)
    with pytest.raises(TooManyImages):
        add(memory_store, blobs, product, (250, 250, 5))
    assert blobs.blobs == before


def test_moving_an_image_shifts_those_between_in_one_change(memory_store, blobs):
    product = add_product(memory_store)
    a, b, c, d = (add(memory_store, blobs, product, (n * 40, 0, 0)) for n in range(4))
    moved = run(memory_store, lambda uow: images.update_image(uow, product["id"], d["id"], {"position": 2}))
    assert positions(memory_store, product) == [(a["id"], 1), (d["id"], 2), (b["id"], 3), (c["id"], 4)]
    versions = read(memory_store, lambda uow: {i["id"]: i["version"] for i in images.gallery(uow, product["id"])})
    assert versions == {a["id"]: 1, d["id"]: 2, b["id"]: 2, c["id"]: 2}
    assert moved["position"] == 2
    run(memory_store, lambda uow: images.update_image(uow, product["id"], d["id"], {"position": 4}))
    assert positions(memory_store, product) == [(a["id"], 1), (b["id"], 2), (c["id"], 3), (d["id"], 4)]
    with pytest.raises(ValidationFailed):
        run(memory_store, lambda uow: images.update_image(uow, product["id"], d["id"], {"position": 5}))


def test_a_stale_version_or_an_image_of_another_product_changes_nothing(memory_store, blobs):
    product, other = add_product(memory_store), add_product(memory_store)
    image = add(memory_store, blobs, product)
    with pytest.raises(PreconditionFailed):
        run(memory_store, lambda uow: images.update_image(uow, product["id"], image["id"], {"alt": "x"}, {7}))
    with pytest.raises(NotFound):
        run(memory_store, lambda uow: images.update_image(uow, other["id"], image["id"], {"alt": "x"}))
    with pytest.raises(ValidationFailed):
        run(memory_store, lambda uow: images.update_image(uow, product["id"], image["id"], {"alt": "x" * 251}))
    assert read(memory_store, lambda uow: uow.images.get(image["id"]))["version"] == 1


def test_deleting_closes_the_gap_and_the_last_user_of_the_bytes_takes_them(memory_store, blobs):
    product = add_product(memory_store)
    a, b, c = (add(memory_store, blobs, product, (n * 60, 0, 0)) for n in range(3))
    removed = run(memory_store, lambda uow: images.remove_image(uow, product["id"], a["id"]))
    assert positions(memory_store, product) == [(b["id"], 1), (c["id"], 2)]
    assert removed["id"] == a["id"] and "product.image_removed" in event_types(memory_store)
    assert blobs.exists(blob_name(a["sha256"], "original"))
    run(memory_store, lambda uow: images.forget_unused_bytes(uow, blobs, a["sha256"]))
    assert not blobs.names(prefix=a["sha256"])
    assert blobs.exists(blob_name(b["sha256"], "original"))


def test_bytes_another_product_still_names_stay(memory_store, blobs):
    product, other = add_product(memory_store), add_product(memory_store)
    image = add(memory_store, blobs, product)
    add(memory_store, blobs, other)
    run(memory_store, lambda uow: images.remove_image(uow, product["id"], image["id"]))
    assert not run(memory_store, lambda uow: images.forget_unused_bytes(uow, blobs, image["sha256"]))
    assert blobs.exists(blob_name(image["sha256"], "original"))


def test_an_editor_writes_images_of_drafts_only_while_approval_is_on(memory_store, blobs):
    editor = Writer(user_id="e1", approver=False, sets_cost=False, approval=True)
    active, draft = add_product(memory_store), add_product(memory_store, status="draft")
    with pytest.raises(Forbidden):
        add(memory_store, blobs, active, writer=editor)
    assert add(memory_store, blobs, draft, writer=editor)["position"] == 1


def test_archiving_a_product_keeps_its_images(memory_store, blobs):
    from app.services import catalog
    product = add_product(memory_store)
    image = add(memory_store, blobs, product)
    archived = run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
    assert [i["id"] for i in archived["images"]] == [image["id"]]


# ---- variants ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size, side, fitted", [((4000, 3000), 1200, (1200, 900)), ((3000, 4000), 200, (150, 200)),
                                                ((500, 300), 600, (500, 300)), ((10000, 3), 200, (200, 1))])
def test_variants_fit_the_longest_side_and_are_never_upscaled(size, side, fitted):
    assert images.fitted_size(*size, side) == fitted


def test_a_variant_is_made_once_and_answered_the_same_after(memory_store, blobs):
    product = add_product(memory_store)
    image = add(memory_store, blobs, product, size=(900, 300))
    thumb = images.variant_bytes(blobs, image, "thumb")
    assert Image.open(io.BytesIO(thumb)).size == (200, 67)
    assert Image.open(io.BytesIO(thumb)).format == "JPEG"
    made = blobs.blobs[blob_name(image["sha256"], "thumb")][1]
    assert images.variant_bytes(blobs, image, "thumb") == thumb
    assert blobs.blobs[blob_name(image["sha256"], "thumb")][1] == made
    assert Image.open(io.BytesIO(images.variant_bytes(blobs, image, "large"))).size == (900, 300)


def test_png_variants_are_webp_with_transparency_and_jpeg_is_flattened_on_white(memory_store, blobs):
    product = add_product(memory_store)
    image = add(memory_store, blobs, product, colour=(0, 0, 255, 0), fmt="PNG", size=(400, 400))
    medium = Image.open(io.BytesIO(images.variant_bytes(blobs, image, "medium")))
    assert medium.format == "WEBP" and medium.mode == "RGBA" and medium.getpixel((399, 399))[3] == 0
    as_jpeg = Image.open(io.BytesIO(images.variant_bytes(blobs, image, "thumb", "jpeg")))
    assert as_jpeg.format == "JPEG" and min(as_jpeg.getpixel((190, 190))) > 240
    assert images.variant_type(image, "thumb", "jpeg") == "image/jpeg"
    assert images.etag(image, "thumb", "jpeg") == f'"{image["sha256"]}-thumb-jpeg"'


# ---- the orphan sweep -------------------------------------------------------------------------------

def test_the_sweep_takes_old_bytes_without_a_record_and_spares_the_rest(memory_store, blobs):
    product = add_product(memory_store)
    kept = add(memory_store, blobs, product)
    blobs.put("f" * 64 + "-original", b"left by a crash")
    blobs.put("e" * 64 + "-original", b"an upload under way")
    blobs.blobs["f" * 64 + "-original"] = (b"left by a crash", 0.0)  # written long ago
    for name, (data, _) in list(blobs.blobs.items()):
        if name.startswith(kept["sha256"]):
            blobs.blobs[name] = (data, 0.0)
    assert images.sweep_orphans(memory_store, blobs) == 1
    assert not blobs.exists("f" * 64 + "-original")
    assert blobs.exists("e" * 64 + "-original") and blobs.exists(blob_name(kept["sha256"], "original"))
