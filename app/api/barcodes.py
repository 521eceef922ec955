"""Barcode routes: product images, in-store codes, look-ups, photo scans and A4 label sheets."""
from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import PathConverter

from schemas.common import EmptySchema
from ..auth import catalog_reader, optional_user, requires
from ..services import barcodes
from ..services.errors import ValidationFailed
from .query_params import boolean
from .request_body import load
from .product_views import product_answer, writer
from .responses import json_response, record_response
from .store import read, reader, shop_settings, write

bp = Blueprint("barcodes", __name__, url_prefix="/api")


class ScannedCode(PathConverter):
    """A code as a scanner typed it: slashes (some SKUs have them) and control characters too.

    The path converter's `.` stops at a newline, and a USB scanner ends every code with Enter
    (`%0A` once URL-encoded); 404 for that would be a riddle.
    """

    regex = r"[^/][\s\S]*?"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("scanned", ScannedCode))

# images change only with the product's version, which the ETag carries: cache, but ask each time
# (a label shows the price, and a stale price on a shelf is worse than one round trip)
PUBLIC_CACHE = "public, no-cache"
PRIVATE_CACHE = "private, no-cache"
MAX_IDS = 200


def _arg(name, default, convert):
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return convert(raw.strip())
    except ValueError as exc:
        raise ValidationFailed("The query is not valid.", errors={name: [str(exc)]}) from None


def _one_of(*allowed):
    def convert(raw):
        if raw.lower() not in allowed:
            raise ValueError(f"Must be one of: {', '.join(allowed)}.")
        return raw.lower()
    return convert


def _copies(raw):
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("Must be an integer.") from None
    if not 1 <= value <= 100:
        raise ValueError("Must be between 1 and 100.")
    return value


def _ids(raw):
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        raise ValueError("Name at least one product id.")
    if len(ids) > MAX_IDS:
        raise ValueError(f"At most {MAX_IDS} ids.")
    return ids


def _cache_control():
    return PRIVATE_CACHE if g.user is not None else PUBLIC_CACHE


def _conditional(etag, make_body, mimetype, headers=None):
    """304 when If-None-Match names this ETag (nothing is drawn), else the body."""
    headers = {"ETag": etag, "Cache-Control": _cache_control(), **(headers or {})}
    if request.if_none_match.contains_weak(etag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(make_body(), mimetype=mimetype, headers=headers)


@bp.get("/products/<product_id>/barcode")
@optional_user
def product_barcode(product_id):
    """The product's barcode as PNG or SVG, with title and price under it when label=true."""
    staff = catalog_reader()
    fmt = _arg("format", "png", _one_of("png", "svg"))
    label = _arg("label", False, boolean)
    image = read(barcodes.product_image, product_id, fmt, label, shop_settings()["currency"],
                 include_archived=staff)
    return _conditional(image.etag, image.render, image.mimetype)


@bp.post("/products/<product_id>/barcode")
@requires("catalog.write")
def assign_barcode(product_id):
    """Give a product without a barcode a new in-store EAN-13 (prefix 20)."""
    load(EmptySchema, optional=True)
    return record_response(product_answer(write(barcodes.assign_store_barcode, product_id,
                                                writer=writer())))


@bp.get("/barcodes/<scanned:code>")
@optional_user
def lookup_barcode(code):
    """The product with this barcode, ISBN-10/13 or SKU, as a scanner or a person typed it."""
    staff = catalog_reader()
    product = read(barcodes.find_product, code, include_archived=staff)
    etag = f'"{product["version"]}"'
    if request.if_none_match.contains_weak(etag.strip('"')):
        return Response(status=304, headers={"ETag": etag})
    return record_response(product_answer(product))


def _uploaded_picture():
    """The picture's bytes: the multipart field `image`, or a raw image body."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is None:
            raise ValidationFailed("Send the picture in the form field 'image'.",
                                   errors={"image": ["Missing data for required field."]})
        return upload.read()
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        return request.get_data(cache=False)
    raise UnsupportedMediaType("Send the picture as multipart/form-data (field 'image'), "
                               "or as an image/png or image/jpeg body.")


@bp.post("/barcodes/scan")
@requires("barcodes.scan")
def scan_barcodes():
    """Every barcode zbar finds in a photo, each with the product it names (or null)."""
    data = _uploaded_picture()
    codes = barcodes.scan_picture(data, current_app.config["MAX_IMAGE_PIXELS"], reader)
    return json_response({"codes": [{**c, "product": product_answer(c["product"])
                                      if c["product"] else None} for c in codes]})


@bp.get("/labels")
@optional_user
def labels():
    """A4 sheets of 3 x 8 labels (barcode, title, price) as PDF, or PNG pages one under another."""
    staff = catalog_reader()
    product_ids = _arg("product_ids", None, _ids)
    if product_ids is None:
        raise ValidationFailed("The query is not valid.",
                               errors={"product_ids": ["Name at least one product id."]})
    copies = _arg("copies", 1, _copies)
    fmt = _arg("format", "pdf", _one_of("pdf", "png"))
    sheet = read(barcodes.label_sheet, product_ids, copies, fmt, shop_settings()["currency"],
                 include_archived=staff)
    return _conditional(sheet.etag, sheet.render, sheet.mimetype,
                        {"Content-Disposition": f'inline; filename="labels.{fmt}"'})
