"""Backroom: create_app() wires configuration, storage, auth, blueprints, error handlers and the CLI."""
import logging
import sys

import click

from flask import Flask
from flask.sessions import SessionInterface

from . import errors, request_ids, security
from .auth import Tokens
from .config import load_config
from .storage import open_store, read_or_create_secret


class _Backroom(Flask):
    """Flask, remembering per view whether it is a coroutine (Flask asks inspect on every call)."""

    def ensure_sync(self, func):
        checked = self.__dict__.setdefault("_checked_views", {})
        wrapped = checked.get(func)
        if wrapped is None:
            wrapped = checked[func] = super().ensure_sync(func)
        return wrapped


def create_app(overrides=None):
    """The WSGI app; tests pass overrides such as {"DATA_DIR": tmp_path}."""
    app = _Backroom(__name__)
    load_config(app, overrides)
    app.json.sort_keys = False
    app.session_interface = _NoCookieSession()  # bearer tokens only: no cookie to parse or sign
    app.url_map.strict_slashes = False

    store = open_store(app.config)
    app.extensions["backroom.store"] = store
    secret = app.config["SECRET_KEY"] or read_or_create_secret(app.config["DATA_DIR"])
    app.config["SECRET_KEY"] = secret
    app.extensions["backroom.tokens"] = Tokens(secret, app.config["ACCESS_TOKEN_TTL"],
                                               app.config["REFRESH_TOKEN_TTL"])

    errors.init_app(app)
    request_ids.init_app(app)
    security.init_app(app)
    _register_blueprints(app)
    _init_docs(app)
    if app.config["CORS_ORIGINS"]:
        from flask_cors import CORS
        # /api/storefront/* answers CORS by its keys' origins (section 11), not by this list
        CORS(app, resources={r"^/(?!api/storefront/).*": {}}, origins=app.config["CORS_ORIGINS"],
             expose_headers=["ETag", "Link", "Location", "Retry-After"])
    _init_cli(app)
    bootstrap(app)
    from . import quick_reads
    quick_reads.init_app(app)
    return app


class _NoCookieSession(SessionInterface):
    """Backroom never keeps state in cookies; skip Flask's per-request session work."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        pass


def _register_blueprints(app):
    from .api import assistant, auth, delivery, health, inventory, invites, outbox, sales, settings, users
    for module in (health, auth, users, invites, outbox, settings, inventory, sales, delivery, assistant):
        app.register_blueprint(module.bp)
    from .api import locations
    app.register_blueprint(locations.bp)
    from .api import customers, storefront
    app.register_blueprint(customers.bp)
    app.register_blueprint(storefront.bp)
    from .api import images
    app.register_blueprint(images.bp)
    from .api import events, notifications, webhooks  # section 13
    for module in (events, notifications, webhooks):
        app.register_blueprint(module.bp)
    try:
        from .api import barcodes
    except ImportError:  # pragma: no cover - the barcode blueprint is optional during set-up
        barcodes = None
    if barcodes is not None:
        app.register_blueprint(barcodes.bp)
    from .api import purchasing
    app.register_blueprint(purchasing.bp)
    from .api import reports
    from .web import bp as web
    app.register_blueprint(reports.bp)
    app.register_blueprint(web)
    from .api import audit
    app.register_blueprint(audit.bp)
    audit.init_app(app)  # every request's commit carries its audit entry; every 403 writes one


def _init_docs(app):
    """Swagger UI at /apidocs/, driven by the hand-kept openapi.yaml.

    app/templates/flasgger/ overrides three of flasgger's templates: the head (no web fonts from
    another host), the footer (no version banner) and the OAuth redirect page (unused)."""
    from flasgger import Swagger
    from .api.health import load_spec

    class _Swagger(Swagger):
        def add_headers(self, app):
            """flasgger copies config["headers"] onto every response from an after_request hook;
            with none configured, the hook would only cost every request a call."""
            if self.config.get("headers"):
                super().add_headers(app)

    spec = load_spec()
    app.extensions["backroom.spec"] = spec
    config = {
        "headers": [],
        "specs": [{"endpoint": "apispec", "route": "/apidocs/apispec.json",
                   "rule_filter": lambda rule: False, "model_filter": lambda tag: False}],
        "static_url_path": "/apidocs/static",
        "swagger_ui": True,
        "specs_route": "/apidocs/",
        "openapi": spec.get("openapi", "3.0.3"),
        "title": "Backroom API",
        "uiversion": 3,
        "ui_params": {"persistAuthorization": True, "displayRequestDuration": True},
        # flasgger writes this into the page's script as it is; unset, it writes Python's None
        # and the script stops there (flasgger issue #639). No OAuth: initOAuth gets {}.
        "auth": {},
    }
    _Swagger(app, template=spec, config=config, merge=True)


def _init_cli(app):
    @app.cli.command("checkpoint")
    def checkpoint():
        """Compact the JSON store's journal into its snapshot files (for backups)."""
        store = app.extensions["backroom.store"]
        if hasattr(store, "checkpoint"):
            store.checkpoint()
        print("checkpoint done")

    @app.cli.command("backup")
    @click.argument("dest")
    def backup(dest):
        """Copy a consistent JSON store (snapshots, journal, secret.key) into DEST while it runs."""
        store = app.extensions["backroom.store"]
        if not hasattr(store, "backup"):
            raise click.ClickException("backup copies the JSON store; on PostgreSQL use pg_dump")
        copied = store.backup(dest)
        print(f"copied {len(copied)} files to {dest}")


def bootstrap(app, out=None):
    """Start-up tasks: the default location, the configured admin, then demo data when asked and
    the store has no products."""
    out = out or sys.stderr
    store = app.extensions["backroom.store"]
    cfg = app.config
    from .services import settings, users
    _adopt_legacy_notifications(store, out)  # first: a compaction waits for it
    _retire_done_records(store, out)
    _ensure_default_location(store, out)
    with store.reader() as uow:
        has_settings = uow.settings.get(settings.RECORD) is not None
    if not has_settings:  # a store of an earlier release, or a new one
        with store.unit_of_work() as uow:
            if settings.ensure_record(uow):
                uow.commit()
    if cfg["ADMIN_USERNAME"] and cfg["ADMIN_PASSWORD"]:
        with store.reader() as uow:
            exists = uow.users.find_by_username(cfg["ADMIN_USERNAME"]) is not None
        if not exists:
            with store.unit_of_work() as uow:
                if users.ensure_admin(uow, cfg["ADMIN_USERNAME"], cfg["ADMIN_PASSWORD"]):
                    uow.commit()
                    print(f"created admin user {cfg['ADMIN_USERNAME']!r}", file=out)
    _link_categories(store, out)
    _link_customers(store, out)
    _ensure_builtin_storefront_key(store, out)
    _fill_purchasing_fields(store, out)
    if cfg["DEMO_DATA"]:
        with store.reader() as uow:
            empty = uow.products.count() == 0
        if empty:
            from scripts.demo_data import seed
            seed(store, cfg, out)


def _adopt_legacy_notifications(store, out):
    """Section 13: the notifications of an earlier release's JSON store (a collection then) move
    into the notifications log, their read state into reads and inboxes, once; the PostgreSQL
    store's migration 0017 does the same."""
    from .services import notifications
    legacy = store.legacy_records("notifications") if hasattr(store, "legacy_records") else None
    if legacy is None:
        return
    with store.unit_of_work() as uow:
        moved = notifications.adopt_legacy(uow, legacy)
        if moved is not None:
            uow.commit()
    store.forget_legacy("notifications")
    if moved:
        print(f"moved {moved} notifications into the notifications log", file=out)


def _retire_done_records(store, out):
    """Section 13: a JSON store of an earlier release kept every webhook delivery in memory; the
    done ones (delivered, failed) move into their log, and each webhook's count of deliveries is
    set, once (the counter "retired:webhook_deliveries" marks it done; a new store takes the
    step at its first start)."""
    from .storage.base import RETIRED_LOGS
    marker = "retired:webhook_deliveries"
    with store.reader() as uow:
        if not hasattr(uow.webhook_deliveries, "retire_done") or uow.counters.get(marker) is not None:
            return  # PostgreSQL keeps one table; or done
    with store.unit_of_work() as uow:
        if uow.counters.get(marker) is not None:
            return
        moved = 0
        for collection in RETIRED_LOGS:
            repository = getattr(uow, collection)
            moved += repository.retire_done()
            repository.recount()
        uow.counters.save({"id": marker, "value": moved})
        uow.commit()
    if moved:
        print(f"moved {moved} finished webhook deliveries into their log", file=out)


def _products_step_once(store, wanted, claim, step):
    """A start-up step over the products that some of them still need (`wanted` filters for
    those), done once: a restart finds none left. One unit of work: the JSON store's holds the
    cross-process lock, and on PostgreSQL the claim makes a second worker wait, then find nothing
    to do. How many products the step changed."""
    from .storage.base import Query
    with store.reader() as uow:
        if uow.products.list(Query(filters=wanted, limit=1))[1] == 0:
            return 0
    with store.unit_of_work() as uow:
        if hasattr(uow, "claim"):
            uow.claim("products", claim)
        changed = step(uow)
        uow.commit()
    return changed


def _link_categories(store, out):
    """Section 14: products' category strings become categories."""
    from .services import categories
    if linked := _products_step_once(store, {"unlinked_category": True}, "link categories",
                                     categories.link_product_categories):
        print(f"linked {linked} products to their categories", file=out)


def _link_customers(store, out):
    """Section 11: orders of an earlier release get their channel, and orders with a customer
    email and no customer_id are linked (customers made as needed), once."""
    from .services import customers
    from .storage.base import Query
    wanted = Query(filters={"needs_customer_link": True}, limit=1)
    with store.reader() as uow:
        if uow.orders.list(wanted)[1] == 0:
            return
    with store.unit_of_work() as uow:
        if hasattr(uow, "claim"):
            uow.claim("orders", "link customers")
        changed = customers.link_existing_orders(uow)
        uow.commit()
    if changed:
        print(f"linked {changed} orders to their customers", file=out)


def _ensure_builtin_storefront_key(store, out):
    """Section 11: the shop page's key, made at start-up when no active one exists."""
    from .services import storefront
    with store.reader() as uow:
        if storefront.builtin_key(uow) is not None:
            return
    with store.unit_of_work() as uow:
        if storefront.ensure_builtin_key(uow) is not None:
            uow.commit()
            print("created the shop page's storefront key", file=out)


def _fill_purchasing_fields(store, out):
    """Section 10: products stored before purchasing get on_order 0 and reorder_quantity null."""
    from .services import purchasing
    if filled := _products_step_once(store, {"on_order": None}, "purchasing fields",
                                     purchasing.fill_product_fields):
        print(f"gave {filled} products on_order 0 (purchasing)", file=out)


def _ensure_default_location(store, out):
    """A store with no location (a new one, or one made before locations existed) gets the
    default location holding every product's stock, in one unit of work. Several workers may
    start at once: the check is made again inside the unit of work (the JSON store's lock, or
    PostgreSQL's advisory lock taken by count()), so one of them does it and the rest find it done."""
    from .services import locations
    with store.reader() as uow:
        if uow.locations.count():
            return
    with store.unit_of_work() as uow:
        made = locations.ensure_default_location(uow)
        if made is not None:
            uow.commit()
            print(f"created the default location {made['name']!r} ({made['code']})", file=out)


logging.getLogger("backroom").setLevel(logging.INFO)
