"""Purchasing: vendors, what each sells us (supply links), every contact with them, purchase orders
from draft to receipt (stock, average cost and on_order follow), and what to reorder."""
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ..storage.base import Query, UniqueViolation, new_id, timestamp
from . import stock
from .catalog import FIELD_ORDER, money
from .errors import (DuplicateValue, InvalidTransition, NotFound, OverReceipt, SupplyExists,
                     ValidationFailed, VendorArchived)
from .users import check_version

VENDOR_STATUSES = ("active", "archived")
VENDOR_FIELDS = ("name", "contact_name", "email", "phone", "address", "specialty", "notes")
LINK_FIELDS = ("vendor_sku", "cost", "lead_time_days", "min_order_quantity", "pack_size", "is_primary")
CONTACT_TYPES = ("email", "phone", "in_person")
PURCHASE_ORDER_STATUSES = ("draft", "ordered", "partially_received", "received", "closed", "cancelled")
OPEN = ("ordered", "partially_received")  # what their lines still await is on order
FINISHED = ("received", "closed", "cancelled")
SKIP_REASONS = ("no_vendor", "no_cost", "on_draft")
EVERYTHING = 10 ** 9  # a list limit past any shop's records
CENT = Decimal("0.01")


def _text(value):
    """A trimmed string, None for a blank one; anything else as it is."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _day(value):
    """A date (or its text) as "YYYY-MM-DD", None as None."""
    return value.isoformat() if hasattr(value, "isoformat") else value


# ---- vendors --------------------------------------------------------------------------------------

def get_vendor(uow, vendor_id):
    vendor = uow.vendors.get(vendor_id)
    if vendor is None:
        raise NotFound("No vendor with this id.")
    return vendor


def _normalise_vendor(vendor):
    name = vendor.get("name")
    vendor["name"] = name.strip() if isinstance(name, str) else name
    if not isinstance(vendor["name"], str) or not 1 <= len(vendor["name"]) <= 200:
        raise ValidationFailed("The vendor is not valid.",
                               errors={"name": ["Must be 1 to 200 characters (trimmed)."]})
    for key in VENDOR_FIELDS[1:]:
        vendor[key] = _text(vendor.get(key))
    if vendor.get("status") not in VENDOR_STATUSES:
        raise ValidationFailed("The vendor is not valid.",
                               errors={"status": [f"Must be one of: {', '.join(VENDOR_STATUSES)}."]})
    return vendor


def _store_vendor(uow, vendor, new):
    try:
        if new:
            uow.vendors.add(vendor)
        else:
            uow.vendors.update(vendor)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field) from None
    return vendor


def create_vendor(uow, data):
    """A new active vendor; its name is unique among all vendors, archived ones too, in any case."""
    if data.get("status", "active") != "active":
        raise ValidationFailed("A new vendor is active.", errors={"status": ["A new vendor is active."]})
    vendor = {"id": new_id(), **{key: data.get(key) for key in VENDOR_FIELDS}, "status": "active"}
    return _store_vendor(uow, _normalise_vendor(vendor), new=True)


def update_vendor(uow, vendor_id, data, if_match=None, replace=False):
    """PATCH changes the fields sent; PUT replaces them all (a PUT without status keeps it)."""
    vendor = get_vendor(uow, vendor_id)
    check_version(vendor, if_match)
    if replace:
        vendor.update({key: None for key in VENDOR_FIELDS})
    vendor.update({k: v for k, v in data.items() if k in VENDOR_FIELDS or k == "status"})
    return _store_vendor(uow, _normalise_vendor(vendor), new=False)


def archive_vendor(uow, vendor_id, if_match=None):
    """Archived: its links, contacts and purchase orders stay; it gets no new link or purchase order."""
    return update_vendor(uow, vendor_id, {"status": "archived"}, if_match)


def _active_vendor(vendor, what):
    if vendor["status"] != "active":
        raise VendorArchived(f"This vendor is archived; it gets no new {what}. Revive it first "
                             "(PATCH status: active).")
    return vendor


# ---- supply links: what a vendor sells us -----------------------------------------------------------

def link_key(vendor_id, product_id):
    """The one key of a vendor's link to a product."""
    return f"{vendor_id}:{product_id}"


def get_link(uow, vendor_id, product_id):
    get_vendor(uow, vendor_id)
    link = uow.supply_links.find_by_key(link_key(vendor_id, product_id)) if isinstance(product_id, str) else None
    if link is None:
        raise NotFound("This vendor has no link to this product.")
    return link


def _primary_of(uow, product_id):
    for link in uow.supply_links.for_product(product_id):
        if link["is_primary"]:
            return link
    return None


def _take_primary_from_others(uow, link):
    """The link becomes its product's primary: the previous primary stops being it (version +1).
    The caller has read the product in this unit of work (on PostgreSQL its lock serialises them)."""
    previous = _primary_of(uow, link["product_id"])
    if previous is not None and previous["id"] != link["id"]:
        previous = uow.supply_links.get(previous["id"])
        previous["is_primary"] = False
        uow.supply_links.update(previous)


def _link_fields(link, data):
    for key in LINK_FIELDS:
        if key in data:
            link[key] = data[key]
    link["vendor_sku"] = _text(link.get("vendor_sku"))
    link["cost"] = money(link.get("cost"))
    return link


def create_link(uow, vendor_id, data):
    """The vendor sells us this active product; it is the product's primary vendor when asked, or
    when the product has none yet."""
    vendor = _active_vendor(get_vendor(uow, vendor_id), "supply link")
    product_id = data.get("product_id")
    product = uow.products.get(product_id)
    if product is None or product["status"] != "active":
        raise ValidationFailed("The link is not valid.", errors={"product_id": ["Must name an active product."]})
    key = link_key(vendor["id"], product["id"])
    if uow.supply_links.find_by_key(key) is not None:
        raise SupplyExists("This vendor already has a link to this product; change that one.")
    link = {"id": new_id(), "key": key, "vendor_id": vendor["id"], "product_id": product["id"],
            "vendor_sku": None, "cost": None, "lead_time_days": None, "min_order_quantity": 1,
            "pack_size": 1, "is_primary": False}
    _link_fields(link, {k: v for k, v in data.items() if k != "is_primary"})
    wanted = data.get("is_primary")
    link["is_primary"] = _primary_of(uow, product["id"]) is None if wanted is None else bool(wanted)
    if link["is_primary"]:
        _take_primary_from_others(uow, link)
    try:
        uow.supply_links.add(link)
    except UniqueViolation:
        raise SupplyExists("This vendor already has a link to this product; change that one.") from None
    return link


def update_link(uow, vendor_id, product_id, data, if_match=None):
    """Change vendor_sku, cost, lead time, minimum, pack size, is_primary (vendor and product never change)."""
    link = get_link(uow, vendor_id, product_id)
    check_version(link, if_match)
    errors = {key: ["Never changes."] for key in ("vendor_id", "product_id")
              if key in data and data[key] != link[key]}
    if errors:
        raise ValidationFailed("A link's vendor and product never change.", errors=errors)
    was_primary = link["is_primary"]
    _link_fields(link, data)
    link["is_primary"] = bool(link["is_primary"])
    if link["is_primary"] and not was_primary:
        uow.products.get(link["product_id"])  # locked first, as every primary change does
        _take_primary_from_others(uow, link)
    return uow.supply_links.update(link)


def delete_link(uow, vendor_id, product_id, if_match=None):
    """The link goes; no other link becomes primary, and purchase orders keep their lines."""
    link = get_link(uow, vendor_id, product_id)
    check_version(link, if_match)
    uow.supply_links.delete(link["id"])


def vendor_links(uow, vendor_id, query):
    get_vendor(uow, vendor_id)
    query.filters["vendor_id"] = vendor_id
    return uow.supply_links.list(query)


def product_links(uow, product_id, query):
    """The product's links (archived products too): the primary first, then oldest first."""
    if uow.products.get(product_id) is None:
        raise NotFound("No product with this id.")
    links = sorted(uow.supply_links.for_product(product_id), key=lambda link: not link["is_primary"])
    return links[query.offset:query.offset + query.limit], len(links)


# ---- contact history ----------------------------------------------------------------------------------

def record_contact(uow, vendor_id, data, user_id):
    """Who talked to the vendor about what (archived vendors too); contacts never change."""
    vendor = get_vendor(uow, vendor_id)
    errors = {}
    message = data.get("message")
    message = message.strip() if isinstance(message, str) else message
    if not isinstance(message, str) or not 1 <= len(message) <= 5000:
        errors["message"] = ["Must be 1 to 5000 characters (trimmed)."]
    product_id = data.get("product_id")
    if product_id is not None and uow.products.get(product_id) is None:
        errors["product_id"] = ["No product with this id."]
    if errors:
        raise ValidationFailed("The contact is not valid.", errors=errors)
    contact = {"id": new_id(), "vendor_id": vendor["id"], "product_id": product_id,
               "contact_type": data.get("contact_type"), "message": message, "user_id": user_id,
               "created_at": timestamp()}
    uow.contacts.add(contact)
    uow.events.add("vendor.contacted", contact)
    return contact


def list_contacts(uow, vendor_id, query):
    get_vendor(uow, vendor_id)
    query.filters["vendor_id"] = vendor_id
    return uow.contacts.list(query)


# ---- purchase orders ------------------------------------------------------------------------------

def get_purchase_order(uow, purchase_order_id):
    purchase_order = uow.purchase_orders.get(purchase_order_id)
    if purchase_order is None:
        raise NotFound("No purchase order with this id.")
    return purchase_order


def default_unit_cost(link, product):
    """What a line costs when it names no unit_cost: this vendor's link's cost, else the
    product's cost; None with neither."""
    if link is not None and link.get("cost") is not None:
        return link["cost"]
    return product.get("cost")


def _lines(uow, vendor_id, items):
    """(lines, subtotal) of a purchase order's line items, defaults worked out; or one validation
    error per bad line under lines.<index>."""
    if not items:
        raise ValidationFailed("A purchase order needs lines.", errors={"lines": ["Send at least one line."]})
    lines, errors = [], {}
    for index, product, item in stock.resolve_lines(uow, items, "lines", "ordered"):
        link = uow.supply_links.find_by_key(link_key(vendor_id, product["id"]))
        unit_cost = item.get("unit_cost")
        if unit_cost is None:
            unit_cost = default_unit_cost(link, product)
        if unit_cost is None:
            errors[f"lines.{index}"] = ["Send a unit_cost: neither this vendor's link nor the product has a cost."]
            continue
        unit_cost = Decimal(unit_cost)
        lines.append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                      "vendor_sku": link.get("vendor_sku") if link else None,
                      "quantity": item["quantity"], "received_quantity": 0,
                      "unit_cost": money(unit_cost), "line_total": money(unit_cost * item["quantity"])})
    if errors:
        raise ValidationFailed("Some lines are not valid.", errors=errors)
    return lines, money(sum((Decimal(line["line_total"]) for line in lines), Decimal(0)))


def _add_event(purchase_order, user_id, note):
    purchase_order["events"].append({"status": purchase_order["status"], "at": timestamp(),
                                     "user_id": user_id, "note": note})


def create_purchase_order(uow, data, user_id, currency):
    """A draft for an active vendor, numbered 1, 2, ... in the order of commits."""
    vendor_id = data.get("vendor_id")
    vendor = uow.vendors.get(vendor_id) if isinstance(vendor_id, str) else None
    if vendor is None:
        raise ValidationFailed("The purchase order is not valid.", errors={"vendor_id": ["Unknown vendor."]})
    _active_vendor(vendor, "purchase order")
    lines, subtotal = _lines(uow, vendor["id"], data.get("lines") or [])
    purchase_order = {
        "id": new_id(), "number": uow.counters.next_number("purchase_order_number", 1),
        "vendor_id": vendor["id"], "status": "draft", "lines": lines, "subtotal": subtotal,
        "currency": currency, "expected_date": _day(data.get("expected_date")), "notes": data.get("notes"),
        "ordered_at": None, "events": []}
    _add_event(purchase_order, user_id, None)
    return uow.purchase_orders.add(purchase_order)


def update_purchase_order(uow, purchase_order_id, data, if_match=None):
    """Lines (all of them) only while draft; expected_date and notes until it is finished."""
    purchase_order = get_purchase_order(uow, purchase_order_id)
    check_version(purchase_order, if_match)
    status = purchase_order["status"]
    if "lines" in data and status != "draft":
        raise InvalidTransition(f"The lines of a purchase order that is {status} no longer change.")
    if ("expected_date" in data or "notes" in data) and status in FINISHED:
        raise InvalidTransition(f"A purchase order that is {status} no longer changes.")
    if "lines" in data:
        purchase_order["lines"], purchase_order["subtotal"] = _lines(uow, purchase_order["vendor_id"],
                                                                     data["lines"] or [])
    if "expected_date" in data:
        purchase_order["expected_date"] = _day(data["expected_date"])
    if "notes" in data:
        purchase_order["notes"] = data["notes"]
    return uow.purchase_orders.update(purchase_order)


def _move_on_order(uow, purchase_order, sign):
    """Each line's outstanding quantity onto (+1) or off (-1) its product's on_order, the products
    read in id order (the order every writer locks them in)."""
    outstanding = {line["product_id"]: line["quantity"] - line["received_quantity"]
                   for line in purchase_order["lines"]}
    for product_id in sorted(outstanding):
        if not outstanding[product_id]:
            continue
        product = uow.products.get(product_id)
        if product is None:  # pragma: no cover - products are archived, never deleted
            continue
        product["on_order"] = max(0, (product.get("on_order") or 0) + sign * outstanding[product_id])
        uow.products.update(product)


def order_purchase_order(uow, purchase_order_id, note, user_id, tz="UTC", today=None):
    """draft -> ordered: its quantities go on order; without an expected_date, the order day plus
    the longest lead time of its lines' links (when any has one)."""
    purchase_order = get_purchase_order(uow, purchase_order_id)
    if purchase_order["status"] != "draft":
        raise InvalidTransition(f"A purchase order that is {purchase_order['status']} cannot be ordered.")
    _move_on_order(uow, purchase_order, +1)
    if purchase_order["expected_date"] is None:
        leads = []
        for line in purchase_order["lines"]:
            link = uow.supply_links.find_by_key(link_key(purchase_order["vendor_id"], line["product_id"]))
            if link is not None and link.get("lead_time_days") is not None:
                leads.append(link["lead_time_days"])
        if leads:
            day = today or datetime.now(timezone.utc).astimezone(ZoneInfo(tz)).date()
            purchase_order["expected_date"] = (day + timedelta(days=max(leads))).isoformat()
    purchase_order.update(status="ordered", ordered_at=timestamp())
    _add_event(purchase_order, user_id, note)
    uow.purchase_orders.update(purchase_order)
    uow.events.add("purchase_order.ordered", purchase_order)
    return purchase_order


def close_purchase_order(uow, purchase_order_id, note, user_id):
    """partially_received -> closed: the rest will not come, so it is no longer on order."""
    purchase_order = get_purchase_order(uow, purchase_order_id)
    if purchase_order["status"] != "partially_received":
        raise InvalidTransition(f"A purchase order that is {purchase_order['status']} cannot be closed; "
                                "only a partially received one can.")
    _move_on_order(uow, purchase_order, -1)
    purchase_order["status"] = "closed"
    _add_event(purchase_order, user_id, note)
    return uow.purchase_orders.update(purchase_order)


def cancel_purchase_order(uow, purchase_order_id, note, user_id):
    """draft | ordered -> cancelled: an ordered one's quantities are no longer on order."""
    purchase_order = get_purchase_order(uow, purchase_order_id)
    if purchase_order["status"] not in ("draft", "ordered"):
        raise InvalidTransition(f"A purchase order that is {purchase_order['status']} cannot be cancelled.")
    if purchase_order["status"] == "ordered":
        _move_on_order(uow, purchase_order, -1)
    purchase_order["status"] = "cancelled"
    _add_event(purchase_order, user_id, note)
    return uow.purchase_orders.update(purchase_order)


def average_cost(stock_before, cost_before, quantity, unit_cost):
    """A product's cost after `quantity` came in at `unit_cost` (section 10): the weighted average
    of what was on hand at its stored cost and what came in, half-up to cents; the unit cost
    itself when nothing was on hand or the product had no cost."""
    unit_cost = Decimal(unit_cost)
    if stock_before == 0 or cost_before is None:
        return str(unit_cost.quantize(CENT, ROUND_HALF_UP))
    total = stock_before * Decimal(cost_before) + quantity * unit_cost
    return str((total / (stock_before + quantity)).quantize(CENT, ROUND_HALF_UP))


def receive_purchase_order(uow, purchase_order_id, data, user_id, invalid=None):
    """Goods in against an ordered or partially received purchase order, all lines or none: per
    line a `received` movement at the location (ref = the purchase order), stock up, cost
    averaged, on_order down, received_quantity up; then its status and one event.

    Judged in this order: the status, the body (`invalid`: what the schema found wrong with it),
    the lines and location, then over-receipt."""
    purchase_order = get_purchase_order(uow, purchase_order_id)
    if purchase_order["status"] not in OPEN:
        raise InvalidTransition(f"A purchase order that is {purchase_order['status']} cannot be received.")
    if invalid is not None:
        raise invalid
    items = data.get("lines") or []
    if not items:
        raise ValidationFailed("A receipt needs lines.", errors={"lines": ["Send at least one line."]})
    resolved = stock.resolve_lines(uow, items, "lines", None)
    position = {line["product_id"]: n for n, line in enumerate(purchase_order["lines"])}
    errors = {f"lines.{index}": ["This product is not on the purchase order."]
              for index, product, _ in resolved if product["id"] not in position}
    if errors:
        raise ValidationFailed("Some lines are not valid.", errors=errors)
    location = stock.stock_location(uow, data.get("location_id"))
    overages = []
    for index, product, item in resolved:
        line = purchase_order["lines"][position[product["id"]]]
        outstanding = line["quantity"] - line["received_quantity"]
        if item["quantity"] > outstanding:
            overages.append({"index": index, "product_id": product["id"], "requested": item["quantity"],
                             "outstanding": outstanding})
            errors[f"lines.{index}"] = [f"Only {outstanding} of {product['title']!r} outstanding."]
    if overages:
        raise OverReceipt("Some lines are over what is outstanding; nothing was received.",
                          errors=errors, overages=overages)
    note = data.get("note")
    for _, product, item in sorted(resolved, key=lambda entry: entry[1]["id"]):
        line = purchase_order["lines"][position[product["id"]]]
        before = uow.products.get(product["id"])
        cost = average_cost(before["stock"], before.get("cost"), item["quantity"], line["unit_cost"])
        updated, _ = stock.change_stock(uow, product["id"], item["quantity"], "received", purchase_order["id"],
                                        note, user_id, location["id"])
        updated["cost"] = cost
        updated["on_order"] = max(0, (updated.get("on_order") or 0) - item["quantity"])
        uow.products.update(updated)
        line["received_quantity"] += item["quantity"]
    done = all(line["received_quantity"] >= line["quantity"] for line in purchase_order["lines"])
    purchase_order["status"] = "received" if done else "partially_received"
    _add_event(purchase_order, user_id, note)
    uow.purchase_orders.update(purchase_order)
    uow.events.add("purchase_order.received", purchase_order)
    return purchase_order


# ---- on order and reorder suggestions ---------------------------------------------------------------

def suggested_quantity(product, link=None):
    """reorder_quantity, else 2 x threshold - stock - on_order; at least the link's minimum (and 1);
    rounded up to a multiple of its pack size."""
    on_order = product.get("on_order") or 0
    threshold = product.get("low_stock_threshold") or 0
    wanted = product.get("reorder_quantity")
    if wanted is None:
        wanted = 2 * threshold - product["stock"] - on_order
    minimum = link["min_order_quantity"] if link is not None and link.get("min_order_quantity") else 1
    pack = link["pack_size"] if link is not None and link.get("pack_size") else 1
    wanted = max(wanted, minimum, 1)
    return -(-wanted // pack) * pack


def suggestion_groups(uow, vendor_id=None):
    """Every group of section 10's suggestions, in order: [(vendor or None, [(product, link, row)])].
    Active products at or below their threshold counting what is on order, by primary vendor
    (an archived one is none); groups by vendor name in any case, the one without last; products by sku."""
    products, _ = uow.products.list(Query(filters={"status": "active"}, limit=EVERYTHING))
    primaries = {link["product_id"]: link for link in
                 uow.supply_links.list(Query(filters={"is_primary": True}, limit=EVERYTHING))[0]}
    vendors, groups = {}, {}
    for product in products:
        on_order = product.get("on_order") or 0
        threshold = product.get("low_stock_threshold") or 0
        if product["stock"] + on_order > threshold:
            continue
        link = primaries.get(product["id"])
        vendor = None
        if link is not None:
            if link["vendor_id"] not in vendors:
                vendors[link["vendor_id"]] = uow.vendors.get(link["vendor_id"])
            vendor = vendors[link["vendor_id"]]
            if vendor is None or vendor["status"] != "active":
                vendor, link = None, None
        row = {"product_id": product["id"], "sku": product["sku"], "title": product["title"],
               "stock": product["stock"], "on_order": on_order, "threshold": threshold,
               "suggested_quantity": suggested_quantity(product, link)}
        key = vendor["id"] if vendor else None
        groups.setdefault(key, (vendor, []))[1].append((product, link, row))
    ordered = sorted(groups.values(), key=lambda group: (group[0] is None, (group[0] or {}).get("name", "").lower(),
                                                         (group[0] or {}).get("id", "")))
    for _, entries in ordered:
        entries.sort(key=lambda entry: entry[0]["sku"])
    if vendor_id is not None:
        ordered = [group for group in ordered if group[0] is not None and group[0]["id"] == vendor_id]
    return ordered


def suggestions(uow, vendor_id=None):
    """[{vendor_id, vendor_name, products: [...]}] in the order of suggestion_groups."""
    return [{"vendor_id": vendor["id"] if vendor else None, "vendor_name": vendor["name"] if vendor else None,
             "products": [row for _, _, row in entries]}
            for vendor, entries in suggestion_groups(uow, vendor_id)]


def draft_from_suggestions(uow, vendor_ids, user_id, currency):
    """One draft per vendor group (only those of vendor_ids when given), a line per product at its
    suggested quantity and default unit cost, all in this unit of work; (purchase orders, skipped)."""
    if vendor_ids is not None:
        errors = {f"vendor_ids.{n}": ["Unknown vendor."] for n, vid in enumerate(vendor_ids)
                  if uow.vendors.get(vid) is None}
        if errors:
            raise ValidationFailed("Some vendors are unknown.", errors=errors)
    drafts, _ = uow.purchase_orders.list(Query(filters={"status": "draft"}, limit=EVERYTHING))
    on_draft = {line["product_id"] for draft in drafts for line in draft["lines"]}
    made, skipped = [], []

    def skip(row, reason):
        skipped.append({"product_id": row["product_id"], "sku": row["sku"], "title": row["title"],
                        "reason": reason})
    for vendor, entries in suggestion_groups(uow):
        if vendor is None:
            if vendor_ids is None:
                for _, _, row in entries:
                    skip(row, "no_vendor")
            continue
        if vendor_ids is not None and vendor["id"] not in vendor_ids:
            continue
        lines = []
        for product, link, row in entries:
            if product["id"] in on_draft:
                skip(row, "on_draft")
            elif default_unit_cost(link, product) is None:
                skip(row, "no_cost")
            else:
                lines.append({"product_id": product["id"], "quantity": row["suggested_quantity"]})
        if lines:
            made.append(create_purchase_order(uow, {"vendor_id": vendor["id"], "lines": lines}, user_id, currency))
    return made, skipped


# ---- the start-up step --------------------------------------------------------------------------

def fill_product_fields(uow):
    """Products stored before purchasing get on_order 0 and reorder_quantity null (their version
    kept: nothing about them changed); how many were filled."""
    missing, _ = uow.products.list(Query(filters={"on_order": None}, limit=EVERYTHING))
    for product in missing:
        product.setdefault("reorder_quantity", None)
        product["on_order"] = 0
        ordered = {key: product[key] for key in FIELD_ORDER if key in product}
        ordered.update({k: v for k, v in product.items() if k not in ordered})
        uow.products.save(ordered)
    return len(missing)
