"""Product image routes (section 16): a product's gallery, uploads, and the bytes of each variant."""
import hashlib

from flask import Blueprint, Response, current_app, request, url_for

from schemas.images import ImagePatchSchema, image_out
from ..auth import can, catalog_reader, load_user, optional_user, requires
from ..services import catalog, images
from ..services.errors import (DomainError, Forbidden, NotFound, Unauthorized, UnsupportedImage,
                               ValidationFailed)
from ..storage.images import image_bytes
from .idempotent import idempotent_create
from .preconditions import if_match
from .product_views import writer
from .query_params import list_query
from .request_body import load
from .responses import page_response, record_response
from .store import read, reader, shop_settings, store, write

bp = Blueprint("images", __name__, url_prefix="/api")

RAW_TYPES = ("image/jpeg", "image/png", "image/webp")
PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, no-cache"


def _out(image):
    return image_out(image, request.host_url)


def _blobs():
    return image_bytes(store())


def _uploaded():
    """(bytes, alt, position) of an upload: the multipart part `file` with fields alt and
    position, or a raw image body with ?alt= and ?position=; a field sent empty is left out."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("Send the picture in the form part 'file'.",
                                   errors={"file": ["Missing data for required field."]})
        data, fields = upload.read(), request.form
    else:
        data, fields = request.get_data(cache=False), request.args
        if data and mimetype not in RAW_TYPES:
            raise UnsupportedImage("Send multipart/form-data (part 'file'), or an image/jpeg, "
                                   "image/png or image/webp body.")
    if not data:
        raise ValidationFailed("Send a picture.", errors={"file": ["The file is empty."]})
    alt, position = fields.get("alt"), fields.get("position")
    return data, alt, position if position not in ("", None) else None


@bp.get("/products/<product_id>/images")
@optional_user
def list_images(product_id):
    """The product's images by position (sort also created_at, -position)."""
    staff = catalog_reader()
    query = list_query(sort_fields=images.SORTS, default_sort=(("position", False),))
    with reader() as uow:
        items, total = images.list_images(uow, product_id, query, include_archived=staff)
    return page_response([_out(i) for i in items], total, query)


@bp.post("/products/<product_id>/images")
def upload_image(product_id):
    """Upload one image: 201 with it; judged auth, product, role, size, format, fields, state."""
    load_user(required=True)
    product = read(catalog.get_product, product_id)
    if not can("images.write"):
        raise Forbidden("This role may not change product images.")
    editing = writer()
    images.may_edit(editing, product)
    data, alt, position = _uploaded()
    upload = images.decode_upload(data, current_app.config["MAX_IMAGE_PIXELS"])
    blobs = _blobs()
    body = {"file_sha256": hashlib.sha256(data).hexdigest(), "alt": alt, "position": position}

    def run(uow):
        image = images.add_image(uow, blobs, product_id, upload, alt, position, editing)
        return 201, _out(image), {"Location": url_for("images.get_image", product_id=product_id,
                                                      image_id=image["id"])}
    return idempotent_create(f"images.upload:{product_id}", body, run)


@bp.get("/products/<product_id>/images/<image_id>")
@optional_user
def get_image(product_id, image_id):
    """One image of the product."""
    staff = catalog_reader()
    return record_response(_out(read(images.get_image, product_id, image_id, include_archived=staff)))


@bp.patch("/products/<product_id>/images/<image_id>")
@requires("images.write")
def update_image(product_id, image_id):
    """Change an image's alt text or position (the images between move by one)."""
    data = load(ImagePatchSchema)
    return record_response(_out(write(images.update_image, product_id, image_id, data, if_match(),
                                      writer=writer())))


@bp.delete("/products/<product_id>/images/<image_id>")
@requires("images.write")
def delete_image(product_id, image_id):
    """Delete an image; those after it move up. Its bytes go once no image names them."""
    removed = write(images.remove_image, product_id, image_id, if_match(), writer=writer())
    try:
        write(images.forget_unused_bytes, _blobs(), removed["sha256"])
    except Exception:  # noqa: BLE001 - the image is gone; the hourly sweep takes bytes left behind
        current_app.logger.warning("could not remove the bytes of image %s", image_id, exc_info=True)
    return Response(status=204)


def _storefront_key_opens(key, uow):
    """Whether a storefront key (section 11) is known and active: section 11's own check,
    storefront.authenticate, once that service is in the build (until then no key is known)."""
    try:
        from ..services import storefront
    except ImportError:
        return False
    try:
        storefront.authenticate(uow, key)
    except DomainError:
        return False
    return True


@bp.get("/images/<image_id>/<variant>")
@optional_user
def image_file(image_id, variant):
    """The bytes of an image's variant (original, large, medium, thumb), cached for ever."""
    fmt = request.args.get("format")
    if fmt is not None and fmt not in images.FORMATS:
        raise ValidationFailed("The query is not valid.",
                               errors={"format": [f"Must be one of: {', '.join(images.FORMATS)}."]})
    staff = can("catalog.read_all")
    key = request.args.get("key")
    with reader() as uow:  # one store read: the setting, a key, the image
        public_catalog = shop_settings(uow)["public_catalog"]
        if not staff:
            if key is not None:
                if not _storefront_key_opens(key, uow):
                    err = Unauthorized("This storefront key is unknown or revoked.")
                    err.code = "invalid_storefront_key"
                    raise err
            elif not public_catalog:
                raise Unauthorized("Sign in to see the images of this shop.")
        if variant not in images.VARIANT_NAMES:
            raise NotFound("No such variant: original, large, medium or thumb.")
        image, active = images.readable_image(uow, image_id, staff)
    public = active and (public_catalog or (not staff and key is not None))
    headers = {"ETag": images.etag(image, variant, fmt),
               "Cache-Control": PUBLIC_CACHE if public else PRIVATE_CACHE}
    if request.if_none_match.contains_weak(headers["ETag"].strip('"')):
        return Response(status=304, headers=headers)
    data = images.variant_bytes(_blobs(), image, variant, fmt)
    return Response(data, mimetype=images.variant_type(image, variant, fmt), headers=headers)
