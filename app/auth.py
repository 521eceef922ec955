"""Bearer tokens (itsdangerous, a salt per kind), the current user, and the role table as a decorator."""
import time
from functools import wraps

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .services import users as user_service
from .services.errors import Forbidden, Unauthorized

ALL_STAFF = {"admin", "manager", "clerk", "editor", "viewer"}

# who may do what (contract section 3, and the rows each later section adds)
PERMISSIONS = {
    "catalog.read_all": ALL_STAFF,
    # what the shop paid: the one rule that keeps `cost` from an editor (schemas.products.product_out
    # applies it to every product answer; sort=cost and a body with cost are refused by it too)
    "catalog.cost": ALL_STAFF - {"editor"},
    "catalog.write": {"admin", "manager", "editor"},
    "catalog.submit": {"admin", "manager", "editor"},
    "catalog.review": {"admin", "manager"},
    "categories.write": {"admin", "manager", "editor"},
    "stock.write": {"admin", "manager"},
    "orders.read": ALL_STAFF,
    "orders.write": {"admin", "manager", "clerk"},
    "orders.refund": {"admin", "manager"},
    "deliveries.read": ALL_STAFF,
    "deliveries.write": {"admin", "manager", "clerk"},
    "barcodes.scan": ALL_STAFF,
    "users.manage": {"admin"},
    "invites.manage": {"admin"},
    "outbox.read": {"admin"},
    "settings.read": ALL_STAFF,
    "settings.write": {"admin"},
    "assistant.read_all": {"admin"},
    "signed_in": ALL_STAFF,
    # section 15: reports, the dashboard, CSV in
    "reports.read": ALL_STAFF,
    "reports.finance": {"admin", "manager"},
    "products.import": {"admin", "manager"},
    # section 9: locations, transfers, stock counts
    "locations.read": ALL_STAFF,
    "locations.write": {"admin", "manager"},
    "transfers.write": {"admin", "manager", "clerk"},
    # section 11: customers and the storefront's keys
    "customers.read": ALL_STAFF,
    "customers.write": {"admin", "manager", "clerk"},
    "customers.erase": {"admin", "manager"},
    "storefront_keys.manage": {"admin"},
    # section 10: vendors, supply links, contacts, purchase orders, suggestions
    "purchasing.read": ALL_STAFF,
    "purchasing.write": {"admin", "manager"},
    "vendors.contact": {"admin", "manager", "clerk"},
    # section 16: product images (an editor on the products it may edit: services.images)
    "images.write": {"admin", "manager", "editor"},
    # section 12: the audit log
    "audit.read": {"admin"},
    # section 13: events, one's own notifications, the live stream; webhooks
    "events.read": ALL_STAFF,
    "notifications.own": ALL_STAFF,
    "webhooks.manage": {"admin"},
}


class Tokens:
    """Signs and reads access and refresh tokens; each names a session, which logout revokes."""

    def __init__(self, secret, access_ttl, refresh_ttl):
        self.access = URLSafeTimedSerializer(secret, salt="backroom.access")
        self.refresh = URLSafeTimedSerializer(secret, salt="backroom.refresh")
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._verified = {}

    def issue(self, session, user):
        return {
            "access_token": self.access.dumps({"sid": session["id"], "uid": user["id"]}),
            "refresh_token": self.refresh.dumps(
                {"sid": session["id"], "uid": user["id"], "rid": session["refresh_id"]}),
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
        }

    def _read(self, serializer, token, ttl, kind):
        """(claims, signed_at) of a valid token of this kind, else Unauthorized."""
        if not isinstance(token, str) or not token:
            raise Unauthorized(f"A {kind} token is required.")
        try:
            claims, signed_at = serializer.loads(token, max_age=ttl, return_timestamp=True)
        except SignatureExpired:
            raise Unauthorized(f"The {kind} token has expired.") from None
        except BadSignature:
            raise Unauthorized(f"The {kind} token is not valid.") from None
        if not isinstance(claims, dict) or "sid" not in claims:
            raise Unauthorized(f"The {kind} token is not valid.")
        return claims, signed_at

    def read_access(self, token):
        """Claims of a valid access token. A signature once checked is remembered until the
        token's own expiry (revocation is checked apart, on its session, every request)."""
        hit = self._verified.get(token) if isinstance(token, str) else None
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        claims, signed_at = self._read(self.access, token, self.access_ttl, "access")
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = (claims, signed_at.timestamp() + self.access_ttl)
        return claims

    def read_refresh(self, token):
        return self._read(self.refresh, token, self.refresh_ttl, "refresh")[0]


def tokens():
    return current_app.extensions["backroom.tokens"]


def store():
    return current_app.extensions["backroom.store"]


def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def load_user(required):
    """Set g.user and g.session from the bearer token; anonymous when absent and not required."""
    if "user" in g:
        return g.user
    token = bearer_token()
    g.user, g.session = None, None
    if token is None:
        if required:
            raise Unauthorized("Sign in and send 'Authorization: Bearer <access_token>'.")
        return None
    claims = tokens().read_access(token)
    with store().reader() as uow:
        g.session, g.user = user_service.active_session(uow, claims["sid"], claims.get("uid"))
    return g.user


def can(permission, user=None):
    user = user if user is not None else g.get("user")
    return user is not None and user["role"] in PERMISSIONS[permission]


def catalog_reader(uow=None):
    """Staff see every product with cost; anonymous callers see active ones without cost, if allowed
    (the setting read from `uow` when given)."""
    from .api.store import shop_settings
    if g.user is None and not shop_settings(uow)["public_catalog"]:
        raise Unauthorized("Sign in to read the catalog.")
    return can("catalog.read_all")


def sees_cost():
    """Whether the caller may see (and set) what the shop paid: never an editor, never anonymous."""
    return can("catalog.cost")


def requires(permission):
    """The route needs a signed-in user whose role holds this permission."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = load_user(required=True)
            if user["role"] not in PERMISSIONS[permission]:
                raise Forbidden(f"The {user['role']} role may not do this.")
            return view(*args, **kwargs)
        return wrapper
    return decorator


def optional_user(view):
    """The route serves anonymous callers too; a token, when sent, must be valid."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        load_user(required=False)
        return view(*args, **kwargs)
    return wrapper
