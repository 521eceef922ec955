"""Storefront routes: the public API opened by a publishable key (products, checkout, tracking),
its per-key CORS, and the admins' management of the keys."""
import time
from datetime import datetime, timezone
from functools import wraps

from flask import Blueprint, current_app, g, make_response, request, url_for

from schemas.storefront import StorefrontKeySchema, StorefrontOrderSchema, load_plain_checkout
from ..auth import requires
from ..services import idempotency, rate_limits, settings, storefront
from ..services.errors import DomainError, ValidationFailed
from ..storage.base import StoreError
from .inventory import PRODUCT_SEARCH, _in_category, category_page
from .preconditions import if_match
from .product_views import product_images
from .query_params import boolean, choice, list_query, text
from .request_body import load, raw_body
from .response_cache import cached_response, remember_response
from .responses import as_sent, json_response, page_response, record_response
from .store import page_of, read, reader, unit_of_work, write

bp = Blueprint("storefront", __name__, url_prefix="/api")

KEY_HEADER = "X-Storefront-Key"
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "X-Storefront-Key, Content-Type, Idempotency-Key"
EXPOSE_HEADERS = "Link, ETag, Location, Retry-After"
PRODUCT_SORT = ("title", "author", "price")


# ---- the key, CORS and the rate limit ---------------------------------------------------------------

def keyed(view):
    """The route needs an active storefront key (X-Storefront-Key); a bearer token counts for
    nothing here. Sets g.storefront_key and g.storefront_key_id (the audit log's actor)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        with reader() as uow:
            record = storefront.authenticate(uow, request.headers.get(KEY_HEADER))
        g.storefront_key, g.storefront_key_id = record, record["id"]
        return view(*args, **kwargs)
    return wrapper


def limited(name):
    """At most SHOP_STOREFRONT_ORDERS_PER_MINUTE requests in any 60 seconds per key and client
    address, counted in the store (every worker shares the count) before the request is
    answered, whatever it is answered."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            _count_hit(name)
            return view(*args, **kwargs)
        return wrapper
    return decorator


@bp.before_request
def preflight():
    """A CORS preflight carries no key: allowed when some active key lists its origin."""
    if request.method != "OPTIONS" or not request.path.startswith("/api/storefront/"):
        return None
    resp = make_response("", 204)
    origin = request.headers.get("Origin")
    if origin and read(storefront.origin_allowed, origin):
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        resp.headers["Access-Control-Max-Age"] = "600"
    resp.headers["Vary"] = "Origin"
    return resp


@bp.after_request
def cors(resp):
    """An answer to a request whose active key lists its Origin, errors included, names it."""
    if not request.path.startswith("/api/storefront/") or request.method == "OPTIONS":
        return resp
    origin = request.headers.get("Origin")
    record = g.get("storefront_key")
    if origin and record is not None and origin in (record.get("allowed_origins") or ()):
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    resp.headers.add("Vary", "Origin")
    return resp


@bp.before_app_request
def expire_due_holds():
    """Section 11's held stock: before any answer, the storefront orders whose hold has run out
    are cancelled (by whichever worker comes first), so no answer shows them pending. Only API
    answers show orders and stock; a store that cannot be reached now is left to the request
    itself (and to the background process), so /healthz still answers."""
    if not request.path.startswith("/api/"):
        return
    try:
        run_due_holds(current_app)
    except (StoreError, DomainError):
        current_app.logger.warning("could not expire the storefront's held stock now", exc_info=True)


def run_due_holds(app, force=False):
    """Expire the holds that are due, when this process's next known deadline has come (or
    always, with force: the background task). New holds end at least SHOP_STOREFRONT_HOLD_SECONDS
    after they are made, so between deadlines a worker need not look."""
    hold = app.config["STOREFRONT_HOLD_SECONDS"]
    if hold <= 0:
        return 0
    state = app.extensions.setdefault("backroom.holds", {"next": 0.0})
    now = time.time()
    if not force and now < state["next"]:
        return 0
    shop = app.extensions["backroom.store"]
    with shop.reader() as uow:
        due = storefront.holds_due(uow)
    cancelled = []
    if due:
        with shop.unit_of_work() as uow:
            cancelled = storefront.expire_holds(uow)
            if cancelled:
                uow.commit()
    with shop.reader() as uow:
        upcoming = storefront.next_hold_after(uow)
    # timestamps are whole seconds: a hold made a moment ago may end up to a second early
    following = now + hold - 2
    if upcoming is not None:
        moment = datetime.strptime(upcoming, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        following = min(following, moment.timestamp())
    state["next"] = following
    return len(cancelled)


# ---- the public API ---------------------------------------------------------------------------------

@bp.get("/storefront/products")
@keyed
def list_products():
    """Active products for the public: filters q, kind, category, available; sort title, author, price."""
    query = list_query(filters={"kind": choice("book", "general"), "category": text, "available": boolean},
                       sort_fields=PRODUCT_SORT, q_fields=PRODUCT_SEARCH, default_sort=(("title", False),))
    query.filters["status"] = "active"
    with reader() as uow:
        key = ("storefront.products", request.host_url, request.query_string, g.storefront_key["key"])
        state = uow.state()
        cached = cached_response(key, state)
        if cached is not None:
            return cached
        currency = settings.effective(uow, current_app.config["SETTINGS_DEFAULTS"])["currency"]
        _in_category(uow, query)
        items, total = uow.products.list(query)
    return remember_response(key, state, page_response([_product(p, currency) for p in items], total, query))


@bp.get("/storefront/products/<product_id>")
@keyed
def get_product(product_id):
    """One active product."""
    product = read(lambda uow: storefront.get_product(uow, product_id))
    return json_response(_product(product, read(_currency_of)))


def _product(product, currency):
    """A product as the public sees it, with its images (section 16: urls carrying the key)."""
    return {**storefront.product_view(product, currency),
            "images": product_images(product, g.storefront_key["key"])}


def _currency_of(uow):
    return settings.effective(uow, current_app.config["SETTINGS_DEFAULTS"])["currency"]


@bp.get("/storefront/categories")
@keyed
def list_categories():
    """The category tree, as GET /api/categories answers it (section 14): filters parent_id, slug; q."""
    return category_page()


@bp.post("/storefront/orders")
@keyed
def create_order():
    """Check out: every line from stock or none; a pending, unpaid order of the storefront channel.

    The request is counted against the rate limit in the order's own unit of work (one commit):
    a refused checkout is found out before anything is written, so its count alone is committed;
    a body that fails validation is counted in a unit of work of its own before it is answered."""
    config = current_app.config
    body = raw_body()
    try:
        most = config["STOREFRONT_MAX_QUANTITY"]
        data = load_plain_checkout(body, most) or load(StorefrontOrderSchema, body=body)
        errors = {f"items.{i}.quantity": [f"At most {most}."] for i, item in enumerate(data["items"])
                  if item["quantity"] > most}
        if errors:
            raise ValidationFailed("The request is not valid.", errors=errors)
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            idempotency.check_key(key)
    except DomainError:
        _count_hit("orders")
        raise
    owner = f"storefront:{g.storefront_key_id}"
    with unit_of_work() as uow:
        _hit(uow, "orders")
        remembered = idempotency.recall(uow, owner, "storefront.orders", key, body) if key else None
        if remembered is not None:
            uow.commit()  # the count
            status, payload, headers = remembered
            return json_response(payload, status, {**headers, "Idempotent-Replayed": "true"})
        try:
            lines = storefront.check_checkout(uow, data)
        except DomainError:
            uow.commit()  # nothing but the count was written
            raise
        currency = settings.currency_for_sale(uow, config["SETTINGS_DEFAULTS"])
        order = storefront.place_order(uow, data, currency, config["STOREFRONT_HOLD_SECONDS"], lines)
        payload = storefront.order_view(uow, order)
        headers = {"Location": f"{request.script_root}/api/storefront/orders/{order['number']}"}
        if key is not None:
            payload = as_sent(payload)  # kept exactly as sent
            idempotency.remember(uow, owner, "storefront.orders", key, body, 201, payload, headers)
        uow.commit()
    return json_response(payload, 201, headers)


def _hit(uow, name):
    allowed = current_app.config["STOREFRONT_ORDERS_PER_MINUTE"]
    if allowed > 0:
        rate_limits.hit(uow, f"storefront.{name}", f"{g.storefront_key_id}:{request.remote_addr}", allowed)


def _count_hit(name):
    with unit_of_work() as uow:
        _hit(uow, name)
        uow.commit()


@bp.get("/storefront/orders/<number>")
@keyed
@limited("tracking")
def track_order(number):
    """Track an order by its number and the customer's email; one 404 for every miss."""
    email = request.args.get("email")
    if email is None or not email.strip():
        raise ValidationFailed("Give the email the order was placed with.",
                               errors={"email": ["Required."]})
    return json_response(read(storefront.track_order, number, email))


# ---- the keys (admins) ------------------------------------------------------------------------------

@bp.get("/storefront-keys")
@requires("storefront_keys.manage")
def list_keys():
    """List storefront keys: filters active, builtin; q over name."""
    query = list_query(filters={"active": boolean, "builtin": boolean}, sort_fields=("name", "created_at"),
                       q_fields=("name",), default_sort=(("id", False),))
    return page_of("storefront_keys", query)


@bp.post("/storefront-keys")
@requires("storefront_keys.manage")
def create_key():
    """Make a publishable key (pk_...) for a web shop at these origins."""
    data = load(StorefrontKeySchema)
    record = write(storefront.create_key, {k: data.get(k) for k in ("name", "allowed_origins")})
    return record_response(record, 201, {"Location": url_for("storefront.get_key", key_id=record["id"])})


@bp.get("/storefront-keys/<key_id>")
@requires("storefront_keys.manage")
def get_key(key_id):
    """One storefront key."""
    return record_response(read(storefront.get_key, key_id))


@bp.patch("/storefront-keys/<key_id>")
@requires("storefront_keys.manage")
def update_key(key_id):
    """Rename a key or change its allowed origins."""
    data = load(StorefrontKeySchema, partial=True)
    changes = {k: data[k] for k in ("name", "allowed_origins") if k in data}
    return record_response(write(storefront.update_key, key_id, changes, if_match()))


@bp.delete("/storefront-keys/<key_id>")
@requires("storefront_keys.manage")
def revoke_key(key_id):
    """Revoke a key, at once and for good."""
    return record_response(write(storefront.revoke_key, key_id, if_match()))
