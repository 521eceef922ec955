"""Product images (section 16): what a client may change, and the image as it is sent back."""
from urllib.parse import quote

from marshmallow import fields, pre_load

from .common import InputSchema, StrictInteger

VARIANTS = ("original", "large", "medium", "thumb")
# the stored record's keys, in the order an answer lists them (`urls` after `sha256`)
FIELDS = ("id", "product_id", "position", "alt", "width", "height", "content_type", "bytes", "sha256")
READ_ONLY = ("product_id", "width", "height", "content_type", "bytes", "sha256", "urls")


class ImagePatchSchema(InputSchema):
    """PATCH: alt and position; the service checks both (position against the gallery's size)."""

    alt = fields.String(allow_none=True)
    position = StrictInteger()

    @pre_load
    def drop_described(self, data, **kwargs):
        """What describes the stored picture is read-only: ignored as `version` is, so a PATCH
        of a GET body works."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in READ_ONLY}
        return data


def image_urls(image_id, base, key=None):
    """The absolute address of each variant; `key` (a storefront key) rides along so an <img> works."""
    tail = f"?key={quote(key, safe='')}" if key else ""
    root = f"{base.rstrip('/')}/api/images/{image_id}"
    return {variant: f"{root}/{variant}{tail}" for variant in VARIANTS}


def image_out(image, base, key=None):
    """One image as every answer sends it: the record, with `urls` built on `base` (the
    request's scheme and host, e.g. request.host_url)."""
    out = {k: image.get(k) for k in FIELDS}
    out["urls"] = image_urls(image["id"], base, key)
    for k in ("created_at", "updated_at", "version"):
        out[k] = image.get(k)
    return out


def images_out(product, base, key=None):
    """A product's `images` as its answers carry them (by position; [] when it has none), for
    staff, anonymous and storefront answers alike (a storefront passes its key)."""
    return [image_out(i, base, key) for i in product.get("images") or ()]
