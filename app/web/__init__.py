"""The pages: the static files of app/web/<page>/ (plain HTML, CSS and ES modules, no build step),
served under /<page>/ with a Content-Security-Policy that keeps them to this origin. They are
clients of the public API; no route here renders business data."""
import os

from flask import Blueprint, abort, current_app, send_from_directory

from ..security import page_policy

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = ("dashboard", "shop")
POLICY = page_policy(b"", inline_allowed=False)  # default-src 'self' and stricter: nothing inline

bp = Blueprint("web", __name__)


def _serve(page, filename):
    if page == "shop":  # section 11: SHOP_STOREFRONT_PAGE turns it off; key.json is its key
        if not current_app.config["STOREFRONT_PAGE"]:
            abort(404)
        if filename == "key.json":
            return _builtin_key()
    resp = send_from_directory(os.path.join(HERE, page), filename, max_age=0)
    resp.headers["Content-Security-Policy"] = POLICY  # the stylesheet and modules too
    return resp


def _add_page(page):
    # strict slashes: /dashboard redirects to /dashboard/, so the page's relative links resolve
    bp.add_url_rule(f"/{page}/", f"{page}_index", lambda: _serve(page, "index.html"),
                    methods=["GET"], strict_slashes=True)
    bp.add_url_rule(f"/{page}/<path:filename>", f"{page}_file",
                    lambda filename: _serve(page, filename), methods=["GET"])


for _page in PAGES:
    _add_page(_page)


def _builtin_key():
    """The shop page's publishable key (section 11: made at start-up), for its scripts."""
    from ..api.responses import json_response
    from ..api.store import read
    from ..services import storefront
    record = read(storefront.builtin_key)
    if record is None:
        abort(404)
    resp = json_response({"key": record["key"]})
    resp.headers["Cache-Control"] = "no-store"
    return resp
