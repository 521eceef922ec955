"""Every collection the store keeps, declared once: its fields, keys, look-ups, indexes, and whether it is a log.

Each backend reads these declarations and serves any collection from them: the memory and
JSON-file stores build their unique-key maps and look-up lists, the PostgreSQL store its
tables, indexes and SQL (see postgres.Shape, and postgres.sync_declared, which creates what a
declaration names and the database lacks). A new area adds a Collection here, and perhaps a
repository subclass for a query that needs hand-written code; nothing else.

A Field names one key of a record and the kind of column that holds it exactly:
  text, int (64 bits), int32, bool, money (NUMERIC(12,2) as "12.50"), ts (timestamptz as
  "2026-11-21T10:15:00Z"), ts_ms (timestamptz to the millisecond, "2026-11-21T10:15:00.123Z"), date ("YYYY-MM-DD"), json (anything, in a json column), floats (a
  float8[]), struct (an object spread over `parts` columns), children (a list of objects kept
  as rows of a child table).
A value a column cannot hold exactly, and any key no field names, rides along in the row's
`extra` json column, so a record read back is always the record that was written.
"""
from dataclasses import dataclass, field as dc_field


class Field:
    """One key of a record: a column of `kind`, an object spread over `parts` columns
    (kind "struct"), or a list of objects in a child table (kind "children")."""

    def __init__(self, name, kind="text", column=None, optional=False, parts=(), child=None):
        self.name, self.kind, self.column = name, kind, column or name
        self.optional = optional  # absent rather than null when the column is empty (orders' cancelled_at)
        self.parts, self.child = parts, child


@dataclass
class Child:
    """The rows of a child table: one per object of a record's list field, in order."""

    table: str
    parent_key: str
    fields: list


@dataclass
class Unique:
    """A unique key: no two records share `key(value)`; null and "" are no key.

    key: "exact", "lower" (case-insensitive) or "code" (a barcode: a UPC-A and its EAN-13 form,
    a leading 0, are one code). sql: the expression PostgreSQL's unique index is on, when it is
    not the key applied to the column (the products' generated barcode_key column)."""

    field: str
    key: str = "exact"
    sql: str | None = None


@dataclass
class Index:
    """A PostgreSQL index for a list's filters and sorts (the memory stores scan instead).

    columns: column names (or SQL expressions), exactly as indexed; end with `id` where a list
    pages by that filter in id order."""

    columns: tuple
    name: str | None = None


@dataclass
class Collection:
    """One collection of records.

    attr: the unit of work's name for its repository (`uow.movements`).
    lookups: field -> finder name: non-unique look-ups every backend answers from an index,
      oldest first (`uow.movements.for_product(product_id)`).
    unique: its unique keys; each is also a finder, `find_by_<field>`.
    log: an append-only log (audit entries, events, ...): records are appended, never changed
      or deleted, and listed newest first; the JSON store keeps them in append-only files, never
      in a worker's memory.
    retire: (field, values): a record whose field takes one of these values is done (a webhook
      delivery delivered or failed): the memory and JSON stores then keep it out of memory, in
      the append-only log `retired_log` (a version per change after that; the newest one is the
      record), and hold only the live ones; a change can bring it back. PostgreSQL keeps one
      table either way.
    subsets: name -> predicate over a record: the memory and JSON stores keep the ids of the
      records it holds for (a few live ones among a history: storefront orders still on hold),
      so a query about them reads no other record (see Transaction.subset); PostgreSQL answers
      the same query from its indexes.
    time_ids: ids come from base.new_id, so they sort by creation (and follow commit order).
    upsert: records are saved by an id the caller makes (login attempts, idempotency keys); on
      PostgreSQL a writer reading one by id holds that id's lock even while no row exists.
    versioned (from the fields): records have updated_at and version.
    table: the PostgreSQL table (default: the name).
    """

    name: str
    fields: list
    attr: str | None = None
    table: str | None = None
    unique: tuple = ()
    lookups: dict = dc_field(default_factory=dict)
    indexes: tuple = ()
    log: bool = False
    time_ids: bool = True
    upsert: bool = False
    retire: tuple | None = None
    subsets: dict = dc_field(default_factory=dict)

    def __post_init__(self):
        self.attr = self.attr or self.name
        self.table = self.table or self.name
        self.retired_log = f"{self.name}_retired" if self.retire else None
        self.by_name = {f.name: f for f in self.fields}
        self.unique_by_field = {u.field: u for u in self.unique}
        self.versioned = "version" in self.by_name


F = Field


def stamps(versioned=True):
    fields = [F("created_at", "ts")]
    if versioned:
        fields += [F("updated_at", "ts"), F("version", "int32")]
    return fields


def on_hold(order):
    """Section 11: a storefront order still pending with a hold (its stock is held until then)."""
    return (order.get("status") == "pending" and order.get("channel") == "storefront"
            and bool(order.get("hold_expires_at")))


ORDER_LINES = Child("order_lines", "order_id", [
    F("product_id"), F("sku"), F("title"), F("quantity", "int"), F("unit_price", "money"),
    F("line_total", "money")])
TRANSFER_LINES = Child("transfer_lines", "transfer_id", [
    F("product_id"), F("sku"), F("title"), F("quantity", "int")])
COUNT_LINES = Child("stock_count_lines", "count_id", [
    F("product_id"), F("sku"), F("title"), F("expected", "int"), F("counted", "int"), F("delta", "int")])
PURCHASE_ORDER_LINES = Child("purchase_order_lines", "purchase_order_id", [
    F("product_id"), F("sku"), F("title"), F("vendor_sku"), F("quantity", "int"),
    F("received_quantity", "int"), F("unit_cost", "money"), F("line_total", "money")])
PURCHASE_ORDER_EVENTS = Child("purchase_order_events", "purchase_order_id", [
    F("status"), F("at", "ts"), F("user_id"), F("note")])
DELIVERY_EVENTS = Child("delivery_events", "delivery_id", [
    F("status"), F("at", "ts"), F("note"), F("user_id")])

DECLARED = [
    Collection("users", [
        F("id"), F("username"), F("email"), F("role"), F("active", "bool"), F("password_hash"),
        *stamps()],
        unique=(Unique("username", "lower"),),
        indexes=(Index(("role", "active"), name="users_role_active_idx"),)),
    Collection("sessions", [F("id"), F("user_id"), F("refresh_id"), F("revoked", "bool"), *stamps()],
               lookups={"user_id": "for_user"}),
    Collection("login_attempts", [F("id"), F("failures", "floats"), F("updated_at", "ts")],
               time_ids=False, upsert=True),
    Collection("products", [
        F("id"), F("sku"), F("title"), F("kind"), F("author"), F("isbn"), F("barcode"),
        F("description"), F("category"), F("price", "money"), F("cost", "money"), F("stock", "int"),
        F("low_stock_threshold", "int"), F("status"), *stamps(),
        F("category_id"), F("review", "json"),  # section 14: the category tree, the review history
        F("on_order", "int"), F("reorder_quantity", "int"),  # section 10: open purchase orders, reorder
        F("images", "json", optional=True)],  # section 16: a copy of its image records, by position
        unique=(Unique("sku", "lower"), Unique("barcode", "code", sql="barcode_key"),
                Unique("isbn", "exact")),
        lookups={"category_id": "in_category"},
        indexes=(Index(("status", "kind", "id"), name="products_status_kind_idx"),
                 Index(("category",), name="products_category_idx"),
                 # issue 18: the lists' sorts by price and title, for anonymous readers (active
                 # products) and for staff; a page is then one index scan (see tests/storage/test_pg_lists.py)
                 Index(("status", "price", "id"), name="products_status_price_idx"),
                 Index(("status", 'title COLLATE "C"', "id"), name="products_status_title_idx"),
                 Index(("price", "id"), name="products_price_idx"),
                 Index(('title COLLATE "C"', "id"), name="products_title_idx"))),
    Collection("stock_movements", [
        F("id"), F("product_id"), F("location_id"), F("delta", "int"), F("stock_after", "int"),
        F("location_stock_after", "int"), F("reason"), F("ref"), F("note"), F("user_id"),
        *stamps(versioned=False)],
        attr="movements", lookups={"product_id": "for_product"},
        indexes=(Index(("reason", "id"), name="stock_movements_reason_idx"),
                 Index(("created_at",), name="stock_movements_created_idx"),
                 Index(("location_id", "id"), name="stock_movements_location_idx"))),
    Collection("orders", [
        F("id"), F("number", "int32"), F("status"), F("payment_status"),
        F("items", "children", child=ORDER_LINES), F("subtotal", "money"), F("total", "money"),
        F("currency"), F("customer", "json"), F("customer_id"),
        F("payment", "struct", parts=(F("method", column="payment_method"),
                                      F("amount", "money", column="payment_amount"),
                                      F("reference", column="payment_reference"),
                                      F("paid_at", "ts"))),
        F("notes"), F("cancel_reason"), F("created_by"), F("location_id"), *stamps(),
        F("cancelled_at", "ts", optional=True),
        # section 11: who bought it (customer_id links a customer), where it came from, where it goes
        F("channel"), F("shipping_address", "json"), F("hold_expires_at", "ts")],
        lookups={"customer_id": "of_customer", "number": "numbered"},
        subsets={"held": on_hold},
        indexes=(Index(("channel", "id"), name="orders_channel_idx"),
                 Index(("hold_expires_at",), name="orders_hold_expires_idx"),
                 Index(("status", "id"), name="orders_status_idx"),
                 Index(("location_id", "id"), name="orders_location_idx"),
                 Index(("payment_status", "id"), name="orders_payment_status_idx"),
                 Index(("created_at",), name="orders_created_idx"),
                 Index(("lower(COALESCE(customer ->> 'email', ''))",), name="orders_customer_email_idx"))),
    Collection("deliveries", [
        F("id"), F("order_id"), F("status"), F("address", "json"), F("carrier"), F("tracking_number"),
        F("estimated_date", "date"), F("events", "children", child=DELIVERY_EVENTS), F("created_by"),
        *stamps()],
        lookups={"order_id": "for_order"},
        indexes=(Index(("status", "id"), name="deliveries_status_idx"),)),
    Collection("idempotency", [
        F("id"), F("user_id"), F("endpoint"), F("fingerprint"), F("status", "int32"),
        F("response", "json"), F("headers", "json"), *stamps(versioned=False)],
        table="idempotency_keys", time_ids=False, upsert=True,
        indexes=(Index(("created_at",), name="idempotency_keys_created_idx"),)),
    Collection("counters", [F("id"), F("value", "int")], time_ids=False, upsert=True),
    # ---- the outbox: events recorded in the unit of work of their change (a log)
    Collection("events", [F("id"), F("type"), F("at", "ts"), F("data", "json")],
               log=True,
               indexes=(Index(("type", "seq")), Index(("at",)))),
    # background jobs: queued in the unit of work of their cause, claimed by the background process
    Collection("jobs", [
        F("id"), F("kind"), F("payload", "json"), F("status"), F("run_at", "ts"),
        F("attempts", "int32"), F("claimed_by"), F("claimed_until", "ts"), F("last_error"),
        *stamps()],
        indexes=(Index(("status", "run_at", "id")),)),
    # ---- accounts (section 12): queued mail, invitations, password reset tokens, throttles
    Collection("outbox", [
        F("id"), F("kind"), F("to", column="to_address"), F("subject"), F("text"), F("status"),
        F("attempts", "int32"),
        F("last_error"), F("next_attempt_at", "ts"), F("sent_at", "ts"), *stamps()],
        indexes=(Index(("status", "id")),)),
    Collection("invites", [
        F("id"), F("role"), F("email"), F("note"), F("status"), F("expires_at", "ts"),
        F("used_at", "ts"), F("used_by"), F("revoked_at", "ts"), F("created_by"), F("code_hash"),
        *stamps()],
        unique=(Unique("code_hash", "exact"),)),
    Collection("reset_tokens", [
        F("id"), F("user_id"), F("token_hash"), F("expires_at", "ts"), F("used_at", "ts"),
        F("voided", "bool"), *stamps()],
        unique=(Unique("token_hash", "exact"),), lookups={"user_id": "for_user"}),
    # the shop's settings: one record ("shop"); a field left null takes its variable or default
    Collection("settings", [
        F("id"), F("shop_name"), F("email"), F("phone"), F("address"), F("currency"),
        F("default_low_stock_threshold", "int"), F("delivery_days", "int"), F("timezone"),
        F("public_catalog", "bool"), F("product_approval", "bool"), *stamps()],
        time_ids=False, upsert=True),
    # hits per (what, who) in a sliding window, as Unix times: refused invite codes per address, ...
    Collection("throttles", [F("id"), F("hits", "floats"), F("updated_at", "ts")],
               time_ids=False, upsert=True),
    # ---- section 14: the category tree, the assistant's conversations, per-minute rate counts
    Collection("categories", [
        F("id"), F("name"), F("slug"), F("parent_id"), F("description"), *stamps()],
        unique=(Unique("name", "lower"), Unique("slug", "exact")),
        lookups={"parent_id": "children_of"}),
    Collection("conversations", [F("id"), F("user_id"), F("messages", "json"), *stamps()],
               time_ids=False, lookups={"user_id": "of_user"}),
    # a sliding window per limited caller ("assistant:user:<id>"): the times of its recent hits
    Collection("rate_limits", [F("id"), F("hits", "floats"), F("updated_at", "ts")],
               time_ids=False, upsert=True, indexes=(Index(("updated_at",)),)),
    # ---- section 9: locations, the quantity of each product at each, transfers, stock counts
    Collection("locations", [
        F("id"), F("name"), F("code"), F("kind"), F("address"), F("is_default", "bool"), F("status"),
        *stamps()],
        unique=(Unique("name", "lower"), Unique("code", "exact"))),
    # one record per product and location ("<product_id>:<location_id>"), changed only by
    # uow.products.change_stock together with the product's total
    Collection("stock_levels", [
        F("id"), F("product_id"), F("location_id"), F("quantity", "int"), *stamps()],
        time_ids=False, lookups={"product_id": "for_product", "location_id": "at_location"}),
    Collection("transfers", [
        F("id"), F("number", "int32"), F("from_location_id"), F("to_location_id"),
        F("lines", "children", child=TRANSFER_LINES), F("status"), F("note"), F("created_by"),
        F("completed_by"), F("completed_at", "ts"), *stamps()],
        indexes=(Index(("status", "id"), name="transfers_status_idx"),
                 Index(("from_location_id", "id"), name="transfers_from_idx"),
                 Index(("to_location_id", "id"), name="transfers_to_idx"),
                 Index(("created_at",), name="transfers_created_idx"))),
    Collection("stock_counts", [
        F("id"), F("location_id"), F("note"), F("created_by"), *stamps(versioned=False),
        F("lines", "children", child=COUNT_LINES)],
        lookups={"location_id": "at_location"},
        indexes=(Index(("created_at",), name="stock_counts_created_idx"),)),
    # ---- section 11: customers, and the publishable keys of the storefront API
    Collection("customers", [
        F("id"), F("name"), F("email"), F("phone"), F("addresses", "json"), F("notes"),
        F("erased", "bool"), *stamps()],
        unique=(Unique("email", "lower"),),
        indexes=(Index(("erased", "id"), name="customers_erased_idx"),)),
    Collection("storefront_keys", [
        F("id"), F("name"), F("key"), F("allowed_origins", "json"), F("active", "bool"),
        F("builtin", "bool"), *stamps()],
        unique=(Unique("key", "exact"),)),
    # ---- section 10: vendors, what each sells us (one link per vendor and product, its `key`
    # "<vendor_id>:<product_id>"), every contact with them, purchase orders
    Collection("vendors", [
        F("id"), F("name"), F("contact_name"), F("email"), F("phone"), F("address"), F("specialty"),
        F("notes"), F("status"), *stamps()],
        unique=(Unique("name", "lower"),),
        indexes=(Index(("status", "id"), name="vendors_status_idx"),)),
    Collection("supply_links", [
        F("id"), F("key"), F("vendor_id"), F("product_id"), F("vendor_sku"), F("cost", "money"),
        F("lead_time_days", "int"), F("min_order_quantity", "int"), F("pack_size", "int"),
        F("is_primary", "bool"), *stamps()],
        unique=(Unique("key", "exact"),),
        lookups={"vendor_id": "of_vendor", "product_id": "for_product"}),
    Collection("vendor_contacts", [
        F("id"), F("vendor_id"), F("product_id"), F("contact_type"), F("message"), F("user_id"),
        *stamps(versioned=False)],
        attr="contacts", lookups={"vendor_id": "of_vendor"},
        indexes=(Index(("created_at",), name="vendor_contacts_created_idx"),)),
    Collection("purchase_orders", [
        F("id"), F("number", "int32"), F("vendor_id"), F("status"),
        F("lines", "children", child=PURCHASE_ORDER_LINES), F("subtotal", "money"), F("currency"),
        F("expected_date", "date"), F("notes"), F("ordered_at", "ts"),
        F("events", "children", child=PURCHASE_ORDER_EVENTS), *stamps()],
        indexes=(Index(("status", "id"), name="purchase_orders_status_idx"),
                 Index(("vendor_id", "id"), name="purchase_orders_vendor_idx"),
                 Index(("created_at",), name="purchase_orders_created_idx"))),
    # ---- section 16: product images (their bytes live apart: app/storage/images.py)
    Collection("images", [
        F("id"), F("product_id"), F("position", "int32"), F("alt"), F("width", "int32"),
        F("height", "int32"), F("content_type"), F("bytes", "int"), F("sha256"), *stamps()],
        lookups={"product_id": "for_product", "sha256": "with_sha256"}),
    # ---- section 12: the audit log, one entry per change, sign-in and refusal (see app/api/audit.py);
    # actor_id (the actor's user or storefront key id) is kept flat for its filter, never shown
    Collection("audit", [
        F("id"), F("at", "ts_ms"), F("actor", "json"), F("actor_id"), F("action"), F("resource_type"),
        F("resource_id"), F("changes", "json"), F("details", "json"), F("method"), F("path"),
        F("status", "int32"), F("ip"), F("request_id")],
        attr="audit", table="audit_log", log=True,
        indexes=(Index(("actor_id", "id"), name="audit_log_actor_idx"),
                 Index(("action", "id"), name="audit_log_action_idx"),
                 Index(("resource_type", "resource_id", "id"), name="audit_log_resource_idx"),
                 Index(("resource_id", "id"), name="audit_log_resource_id_idx"),
                 Index(("request_id",), name="audit_log_request_idx"),
                 Index(("at",), name="audit_log_at_idx"))),
    # ---- section 13: notifications, their preferences, webhooks, their deliveries, stream tickets
    # a log: a notification never changes once made; whether its user read it is kept apart,
    # in notification_reads (one per notification read on its own) and the user's inbox
    Collection("notifications", [
        F("id"), F("user_id"), F("type"), F("event_id"), F("title"), F("message"),
        F("resource_type"), F("resource_id"), F("created_at", "ts")],
        log=True,
        indexes=(Index(("user_id", "id"), name="notifications_user_idx"),
                 Index(("event_id",), name="notifications_event_idx"))),
    # a notification read (id = the notification's): the first read_at, kept
    Collection("notification_reads", [F("id"), F("user_id"), F("read_at", "ts"), *stamps(versioned=False)],
               time_ids=False),
    # one record per user (id = the user's id): how many notifications they have and how many are
    # unread, the newest one's id, and read-all's marker (every one up to read_through is read)
    Collection("notification_inboxes", [
        F("id"), F("total", "int"), F("unread", "int"), F("newest"), F("read_through"),
        F("read_through_at", "ts"), *stamps()],
        time_ids=False, upsert=True),
    # one record per user (id = the user's id): {types: {type: bool}, email: {type: bool}}
    Collection("notification_preferences", [F("id"), F("types", "json"), F("email", "json"), *stamps()],
               time_ids=False, upsert=True),
    Collection("webhooks", [
        F("id"), F("url"), F("events", "json"), F("description"), F("active", "bool"),
        F("disabled_reason"), F("secrets", "json"), F("failing_since", "ts"), *stamps()]),
    Collection("webhook_deliveries", [
        F("id"), F("webhook_id"), F("event_id"), F("type"), F("status"), F("attempts", "int32"),
        F("response_status", "int32"), F("response_ms", "int"), F("error"), F("next_attempt_at", "ts"),
        *stamps()],
        lookups={"webhook_id": "for_webhook"},
        indexes=(Index(("webhook_id", "id"), name="webhook_deliveries_webhook_idx"),),
        retire=("status", ("delivered", "failed"))),
    # the sender's queue: one entry per pending delivery (id = the delivery's), gone once it ends
    Collection("webhook_queue", [
        F("id"), F("webhook_id"), F("due_at", "ts"), F("claimed_by"), F("claimed_until", "ts"),
        *stamps()],
        time_ids=False, lookups={"webhook_id": "for_webhook"},
        indexes=(Index(("due_at", "id"), name="webhook_queue_due_idx"),)),
    # a stream ticket (id = the ticket's hash): opens one stream as its user, once, within 60 s
    Collection("stream_tickets", [F("id"), F("user_id"), F("expires_at", "ts"), F("used", "bool"),
                                  *stamps()],
               time_ids=False, upsert=True),
]

COLLECTIONS = {c.name: c for c in DECLARED}
BY_ATTR = {c.attr: c for c in DECLARED}
