"""The two commonest public reads answered before Flask: an anonymous GET of one active product
and of an image's bytes, the requests a storefront's pages make most.

Flask's request and app contexts, its URL routing, the `Response` object and the after-request
hooks cost more than the work of these two answers (a stored record, a file's bytes). Here a
request that is plainly one of them (GET, no Authorization, no query, no Origin, no
If-None-Match, no holds due) and that the shop serves to anyone (public catalog on, the product
active) is answered from the same service calls, with the same status, headers and body as the
view would send; anything else, an error included, is left to Flask, which answers it as always.
tests/api/test_quick_reads.py holds the two paths equal. SHOP_QUICK_READS=0 turns this off.
"""
import re
import time

from werkzeug.wsgi import get_current_url

from . import security
from .api.images import PUBLIC_CACHE
from .api.responses import _encode
from .request_ids import chosen as request_id
from .services import images, settings
from .services.errors import DomainError
from .services.settings import RECORD as SETTINGS
from .storage.base import StoreError
from .storage.images import image_bytes
from schemas.products import product_out
from schemas.images import images_out

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}\Z")  # a plain host[:port]; anything odder goes to Flask
# what every answer carries (app/security.py); the policy of JSON and image answers
_EVERY = [*security.EVERY_ANSWER, ("Content-Security-Policy", security.API_POLICY)]
_ASKED_ELSEWHERE = ("HTTP_AUTHORIZATION", "HTTP_ORIGIN", "HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH",
                    "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE")


class QuickReads:
    """WSGI middleware over the Flask app's wsgi_app (see the module's docstring)."""

    def __init__(self, app):
        self.flask = app.wsgi_app
        self.store = app.extensions["backroom.store"]
        self.holds = app.extensions.setdefault("backroom.holds", {"next": 0.0})
        self.hold_seconds = app.config["STOREFRONT_HOLD_SECONDS"]
        self.defaults = app.config["SETTINGS_DEFAULTS"]
        self.hosts = {}  # (scheme, HTTP_HOST) -> request.host_url
        self.answered = 0  # requests answered here (this process)

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET" and not environ.get("QUERY_STRING"):
            path = environ.get("PATH_INFO", "")
            if (path.startswith("/api/") and not any(name in environ for name in _ASKED_ELSEWHERE)
                    and _HOST.match(environ.get("HTTP_HOST", ""))):
                parts = path.split("/")  # "", "api", "products", id  |  "", "api", "images", id, variant
                answer = None
                if len(parts) == 4 and parts[2] == "products" and _ID.match(parts[3]):
                    answer = self._guarded(self._product, environ, parts[3])
                elif (len(parts) == 5 and parts[2] == "images" and _ID.match(parts[3])
                      and parts[4] in images.VARIANT_NAMES):
                    answer = self._guarded(self._image, environ, parts[3], parts[4])
                if answer is not None:
                    body, headers = answer
                    headers.extend(_EVERY)
                    headers.append(("X-Request-Id", request_id(environ.get("HTTP_X_REQUEST_ID", ""))))
                    start_response("200 OK", headers)
                    self.answered += 1
                    return [body]
        return self.flask(environ, start_response)

    def _guarded(self, answer, environ, *args):
        """answer(...)'s (body, headers), or None for Flask to answer: holds due first (the
        view's before-request step cancels them), a closed catalog, an error of any kind."""
        if self.hold_seconds > 0 and time.time() >= self.holds["next"]:
            return None
        try:
            with self.store.reader() as uow:
                if not settings.value_of(uow.settings.peek(SETTINGS), self.defaults, "public_catalog"):
                    return None
                return answer(uow, environ, *args)
        except (DomainError, StoreError):
            return None

    def _product(self, uow, environ, product_id):
        """GET /api/products/{id}, anonymous: inventory.get_product's answer."""
        product = uow.products.peek(product_id)
        if product is None or product["status"] != "active":
            return None  # Flask's 404
        out = product_out(product, staff=False, with_cost=False)  # a copy, without what is hidden
        out["images"] = images_out(product, self._host_url(environ))
        body = _encode(out)
        return body, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                      ("ETag", f'"{product["version"]}"')]

    def _image(self, uow, environ, image_id, variant):
        """GET /api/images/{id}/{variant}, anonymous, no key: images.image_file's answer."""
        image = uow.images.peek(image_id)
        product = uow.products.peek(image["product_id"]) if image is not None else None
        if product is None or product["status"] != "active":
            return None  # Flask's 404
        data = images.variant_bytes(image_bytes(self.store), image, variant)
        return data, [("ETag", images.etag(image, variant)),
                      ("Cache-Control", PUBLIC_CACHE),
                      ("Content-Type", images.variant_type(image, variant)),
                      ("Content-Length", str(len(data)))]

    def _host_url(self, environ):
        """request.host_url: the scheme and host, as Flask makes it."""
        key = (environ["wsgi.url_scheme"], environ["HTTP_HOST"])
        url = self.hosts.get(key)
        if url is None:
            if len(self.hosts) > 64:
                self.hosts.clear()
            url = self.hosts[key] = get_current_url(environ, host_only=True)
        return url


def init_app(app):
    """On unless SHOP_QUICK_READS=0, and off when CORS is configured (flask-cors writes its
    headers on every answer)."""
    if app.config.get("QUICK_READS", True) and not app.config["CORS_ORIGINS"]:
        app.wsgi_app = QuickReads(app)
