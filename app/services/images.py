"""Product images: each product's ordered gallery; uploads decoded and re-encoded by Pillow
(orientation applied, metadata dropped), variants made once, bytes named by their sha256.

The bytes live apart from the records (app/storage/images.py). They are written, durably,
inside the unit of work that adds the record, after every check has passed: a refused upload
stores nothing, and a record never commits without its bytes. Whoever removes bytes (the last
image of a sha256 deleted, the orphan sweep) does it inside a unit of work that claims that
sha256 too (the JSON store's write lock, PostgreSQL's advisory lock), so an upload of the same
picture cannot slip between the look-up and the removal.
"""
import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from ..storage.base import new_id
from ..storage.images import blob_name
from . import catalog
from .errors import (DuplicateImage, Forbidden, ImageTooLarge, NotFound, TooManyImages,
                     UnsupportedImage, ValidationFailed)
from .users import check_version

MAX_IMAGES = 10
MAX_ALT = 250
VARIANTS = {"large": 1200, "medium": 600, "thumb": 200}  # the longest side of each
VARIANT_NAMES = ("original", *VARIANTS)
FORMATS = {"jpeg": "image/jpeg", "webp": "image/webp"}  # what ?format= may ask for
OPENED = ("JPEG", "PNG", "WEBP")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
ORPHAN_SECONDS = 3600  # bytes without a record younger than this may belong to an upload under way
SORTS = ("position", "created_at")


# ---- decoding and re-encoding -------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """An upload as it will be stored: Pillow's re-encoding of it, and what describes that."""

    data: bytes
    sha256: str
    width: int
    height: int
    content_type: str


def _webp_is_lossless(raw):
    """Whether a WebP file's (first) image is VP8L (lossless) rather than VP8 (lossy): walk its
    RIFF chunks (an animation's frames hold theirs after a 16-byte header)."""
    pos = 12
    while pos + 8 <= len(raw):
        tag, size = raw[pos:pos + 4], int.from_bytes(raw[pos + 4:pos + 8], "little")
        if tag == b"VP8L":
            return True
        if tag == b"VP8 ":
            return False
        if tag == b"ANMF":
            pos += 8 + 16
            continue
        pos += 8 + size + (size & 1)
    return False


def _has_alpha(image):
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def decode_upload(raw, max_pixels):
    """The upload as Backroom stores it, or the refusal: 400 empty, 413 too many pixels (read from
    the header, before anything is decoded), 415 anything Pillow does not open as JPEG, PNG or
    WebP (or cannot decode to the end)."""
    if not raw:
        raise ValidationFailed("Send a picture.", errors={"file": ["The file is empty."]})
    try:
        picture = Image.open(io.BytesIO(raw), formats=OPENED)
    except Image.DecompressionBombError:
        raise ImageTooLarge("The picture has too many pixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UnsupportedImage("Send a JPEG, PNG or WebP picture.") from None
    width, height = picture.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"The picture is {width} x {height} pixels; at most {max_pixels} are accepted.")
    fmt = picture.format
    icc = picture.info.get("icc_profile")
    try:
        picture.load()  # the first frame only, of an animation
        image = ImageOps.exif_transpose(picture)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise UnsupportedImage("The picture is damaged or cut short.") from None
    if image.mode == "CMYK":
        image, icc = image.convert("RGB"), None  # a CMYK profile does not describe RGB pixels
    elif image.mode == "P" or (fmt != "PNG" and image.mode not in ("L", "RGB", "RGBA")):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    elif "transparency" in image.info and image.mode in ("L", "RGB"):
        image = image.convert("LA" if image.mode == "L" else "RGBA")
    if fmt == "JPEG" and image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    image.info = {}  # EXIF, XMP, IPTC, comments, text chunks: none is written again
    params = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=90, **params)
    elif fmt == "PNG":
        image.save(out, "PNG", **params)
    else:
        lossless = _webp_is_lossless(raw)
        image.save(out, "WEBP", lossless=lossless, **({} if lossless else {"quality": 90}), **params)
    data = out.getvalue()
    return Upload(data, hashlib.sha256(data).hexdigest(), image.width, image.height, CONTENT_TYPES[fmt])


def fitted_size(width, height, side):
    """The size that fits in `side` on the longest side, keeping the aspect ratio (each side
    rounded, at least 1); never larger than the picture itself."""
    longest = max(width, height)
    if longest <= side:
        return width, height
    scale = side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def variant_type(image, variant, fmt=None):
    """The content type of a variant: the original's own, else JPEG for a JPEG and WebP for the
    rest, unless ?format= asked."""
    if fmt:
        return FORMATS[fmt]
    if variant == "original" or image["content_type"] == "image/jpeg":
        return image["content_type"]
    return "image/webp"


def render_variant(original, image, variant, fmt=None):
    """The bytes of a variant, made from the stored original (Lanczos; JPEG quality 85,
    progressive; WebP quality 85 with transparency; JPEG flattened on white)."""
    picture = Image.open(io.BytesIO(original))
    icc = picture.info.get("icc_profile")
    size = (picture.width, picture.height)
    if variant in VARIANTS:
        size = fitted_size(picture.width, picture.height, VARIANTS[variant])
        if picture.format == "JPEG" and size != picture.size:
            picture.draft(picture.mode, (size[0] * 2, size[1] * 2))  # libjpeg's own scaling, down to twice the size
    picture.load()
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    params = {"icc_profile": icc} if icc else {}
    if variant_type(image, variant, fmt) == "image/jpeg":
        if _has_alpha(picture):
            rgba = picture.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            picture = flat
        elif picture.mode not in ("L", "RGB"):
            picture = picture.convert("RGB")
        picture.save(out, "JPEG", quality=85, progressive=True, **params)
    else:
        picture = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
        picture.save(out, "WEBP", quality=85, **params)
    return out.getvalue()


def variant_bytes(blobs, image, variant, fmt=None):
    """The bytes of one variant: made once and kept beside the original, the same bytes after."""
    original_name = blob_name(image["sha256"], "original")
    if variant == "original" and not fmt:
        data = blobs.get(original_name)
    else:
        name = blob_name(image["sha256"], variant, fmt)
        data = blobs.get(name)
        if data is None:
            original = blobs.get(original_name)
            if original is None:
                raise NotFound("This image's bytes are gone.")
            data = render_variant(original, image, variant, fmt)
            try:
                blobs.put(name, data)
            except OSError:  # another thread of this process writing the same variant: its bytes are these
                pass
    if data is None:
        raise NotFound("This image's bytes are gone.")
    return data


def etag(image, variant, fmt=None):
    return f'"{image["sha256"]}-{variant}' + (f"-{fmt}" if fmt else "") + '"'


# ---- the gallery ----------------------------------------------------------------------------------

def gallery(uow, product_id):
    """A product's image records, by position."""
    return sorted(uow.images.for_product(product_id), key=lambda i: i["position"])


def _image_of(uow, product_id, image_id):
    image = uow.images.get(image_id)
    if image is None or image["product_id"] != product_id:
        raise NotFound("This product has no image with this id.")
    return image


def get_image(uow, product_id, image_id, include_archived=True):
    """An image of this product (an image id under another product's path is 404)."""
    catalog.get_product(uow, product_id, include_archived=include_archived)
    return _image_of(uow, product_id, image_id)


def list_images(uow, product_id, query, include_archived=True):
    """A page of the product's images: (items, total)."""
    catalog.get_product(uow, product_id, include_archived=include_archived)
    query.filters["product_id"] = product_id
    return uow.images.list(query)


def readable_image(uow, image_id, staff):
    """(image, whether its product is active) for GET /api/images/...: anonymous callers find
    only the images of active products."""
    image = uow.images.get(image_id)
    product = uow.products.get(image["product_id"]) if image else None
    if image is None or product is None:
        raise NotFound("No image with this id.")
    active = product["status"] == "active"
    if not staff and not active:
        raise NotFound("No image with this id.")
    return image, active


def may_edit(writer, product):
    """An editor writes images on the products section 14 lets it edit (drafts only while approval is on)."""
    if writer.drafts_only and product["status"] != "draft":
        raise Forbidden("While approval is on, this role edits the images of drafts only.")


def clean_alt(value):
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.strip()) > MAX_ALT:
        raise ValidationFailed("The image is not valid.",
                               errors={"alt": [f"Text of at most {MAX_ALT} characters (trimmed)."]})
    return value.strip()


def clean_position(value, highest):
    """A position 1..highest (an int, or the digits of a form field or query)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise ValidationFailed("The image is not valid.",
                               errors={"position": [f"Must be a whole number from 1 to {highest}."]})
    return value


def _shift(uow, images, first, last, by):
    """Move the images at positions first..last by `by` (each one's version grows)."""
    for image in images:
        if first <= image["position"] <= last:
            image["position"] += by
            uow.images.update(image)


def _gallery_changed(uow, product, images):
    """The product keeps a copy of its images (its answers carry them); its version grows."""
    product["images"] = sorted(images, key=lambda i: i["position"])
    uow.products.update(product)


def _claim_bytes(uow, sha256):
    """Writers and removers of one sha256's bytes take turns (PostgreSQL; the JSON and memory
    stores' units of work hold their whole store's lock anyway)."""
    if hasattr(uow, "claim"):
        uow.claim("image bytes", sha256)


def add_image(uow, blobs, product_id, upload, alt=None, position=None, writer=catalog.STAFF):
    """Store an upload as the product's image at `position` (last when None), moving those at and
    after it down; judged as section 16 says: product, role, fields, then the gallery's state."""
    product = catalog.get_product(uow, product_id)
    may_edit(writer, product)
    alt = clean_alt(alt)
    images = gallery(uow, product_id)
    position = len(images) + 1 if position is None else clean_position(position, len(images) + 1)
    if len(images) >= MAX_IMAGES:
        raise TooManyImages(f"A product holds at most {MAX_IMAGES} images; delete one first.")
    for other in images:
        if other["sha256"] == upload.sha256:
            raise DuplicateImage("The product already has this picture.", image_id=other["id"])
    _claim_bytes(uow, upload.sha256)
    name = blob_name(upload.sha256, "original")
    if not blobs.exists(name):  # bytes never change under a name: present means whole
        blobs.put(name, upload.data)
    _shift(uow, images, position, len(images), 1)
    image = {"id": new_id(), "product_id": product_id, "position": position, "alt": alt,
             "width": upload.width, "height": upload.height, "content_type": upload.content_type,
             "bytes": len(upload.data), "sha256": upload.sha256}
    uow.images.add(image)
    _gallery_changed(uow, product, images + [image])
    uow.events.add("product.image_added", image)
    return image


def update_image(uow, product_id, image_id, data, if_match=None, writer=catalog.STAFF):
    """Set alt and position (1..n; those between move by one), all in this one transaction."""
    product = catalog.get_product(uow, product_id)
    may_edit(writer, product)
    image = _image_of(uow, product_id, image_id)
    check_version(image, if_match)
    images = [i for i in gallery(uow, product_id) if i["id"] != image_id]
    changed = False
    if "alt" in data:
        alt = clean_alt(data["alt"])
        changed = changed or alt != image["alt"]
        image["alt"] = alt
    if "position" in data:
        wanted, was = clean_position(data["position"], len(images) + 1), image["position"]
        if wanted < was:
            _shift(uow, images, wanted, was - 1, 1)
        elif wanted > was:
            _shift(uow, images, was + 1, wanted, -1)
        changed = changed or wanted != was
        image["position"] = wanted
    if changed:
        uow.images.update(image)
    _gallery_changed(uow, product, images + [image])
    uow.events.add("product.image_updated", image)
    return image


def remove_image(uow, product_id, image_id, if_match=None, writer=catalog.STAFF):
    """Delete the image and close the gap; the image as it was (its bytes go after the commit,
    when no image names them: forget_unused_bytes)."""
    product = catalog.get_product(uow, product_id)
    may_edit(writer, product)
    image = _image_of(uow, product_id, image_id)
    check_version(image, if_match)
    uow.images.delete(image_id)
    images = [i for i in gallery(uow, product_id) if i["id"] != image_id]
    _shift(uow, images, image["position"] + 1, MAX_IMAGES + 1, -1)
    _gallery_changed(uow, product, images)
    uow.events.add("product.image_removed", image)
    return image


def forget_unused_bytes(uow, blobs, sha256, older_than=None):
    """Remove a sha256's bytes and variants when no image names it (and, for the sweep, when all
    of them are older than `older_than` seconds); True if removed. Call in a writing unit of work."""
    _claim_bytes(uow, sha256)
    if uow.images.with_sha256(sha256):
        return False
    if older_than is not None and any(age < older_than for _, age in blobs.names(prefix=sha256 + "-")):
        return False
    blobs.remove(sha256)
    return True


def sweep_orphans(store, blobs, older_than=ORPHAN_SECONDS):
    """Bytes without a record, older than an hour (and temporary files a crash left): removed.
    How many sha256s went."""
    shas, temporary = set(), []
    for name, age in blobs.names():
        if name.endswith(".tmp"):
            if age >= older_than:
                temporary.append(name)
        elif age >= older_than:
            shas.add(name.split("-", 1)[0])
    for name in temporary:
        blobs.discard(name)
    if not shas:
        return 0
    with store.reader() as uow:
        shas = {sha for sha in shas if not uow.images.with_sha256(sha)}
    gone = 0
    for sha in sorted(shas):
        with store.unit_of_work() as uow:
            gone += forget_unused_bytes(uow, blobs, sha, older_than)
            uow.commit()
    return gone
