"""The shop's settings: stored values win over the environment, which wins over the defaults; one record, read fresh by every worker."""
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..storage.base import Query
from .errors import Conflict, ValidationFailed
from .users import check_version

RECORD = "shop"
FIELDS = ("shop_name", "email", "phone", "address", "currency", "default_low_stock_threshold",
          "delivery_days", "timezone", "public_catalog", "product_approval")


class CurrencyLocked(Conflict):
    code = "currency_locked"
    title = "The currency is locked"


def _record(uow):
    return uow.settings.get(RECORD)


def value_of(stored, defaults, name):
    """One field's value: the stored record's (a dict, or None when there is none) when it holds
    one, else the configured default. defaults as for effective()."""
    value = stored.get(name) if stored else None
    return defaults[name][0] if value is None else value


def effective(uow, defaults):
    """The settings as answered: each field's value, its source, the record's version.
    defaults: {field: (value, "environment" | "default")} (app.config["SETTINGS_DEFAULTS"])."""
    stored = _record(uow) or {}
    out, sources = {}, {}
    for name in FIELDS:
        out[name] = value_of(stored, defaults, name)
        sources[name] = "stored" if stored.get(name) is not None else defaults[name][1]
    out["sources"] = sources
    out["version"] = stored.get("version", 1)
    out["updated_at"] = stored.get("updated_at")
    return out


def ensure_record(uow, newest_order_currency=None):
    """At start-up: the record exists (version 1), holding nothing but, in a store with orders,
    the currency its newest order was sold in. True when it was made."""
    if _record(uow) is not None:
        return False
    record = {"id": RECORD, **{name: None for name in FIELDS}}
    orders, _ = uow.orders.list(Query(limit=1, sort=[("id", True)]))
    if orders:
        record["currency"] = orders[0].get("currency")
    uow.settings.add(record)
    return True


def _check(name, value):
    """The error message for a bad value, or None."""
    if value is None:
        return None
    if name == "shop_name":
        return None if isinstance(value, str) and 1 <= len(value.strip()) <= 100 else "1 to 100 characters."
    if name in ("public_catalog", "product_approval"):
        return None if isinstance(value, bool) else "Must be true or false."
    if name in ("default_low_stock_threshold", "delivery_days"):
        top = 60 if name == "delivery_days" else 1_000_000_000
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top
        return None if ok else f"An integer from 0 to {top}."
    if not isinstance(value, str):
        return "Must be text."
    if name == "currency":
        return None if len(value) == 3 and value.isascii() and value.isupper() and value.isalpha() \
            else "Three capital letters (ISO 4217), such as EUR."
    if name == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return "An IANA time zone, such as Europe/London."
        return None
    if name == "email":
        return None if "@" in value and " " not in value.strip() and len(value) <= 254 else "An email address."
    limit = {"phone": 50, "address": 500}[name]
    return None if len(value) <= limit else f"At most {limit} characters."


def update(uow, changes, defaults, if_match=None):
    """Set the fields sent (null: back to the variable or default); +1 version when something changes."""
    errors = {name: [message] for name, value in changes.items() if (message := _check(name, value))}
    if errors:
        raise ValidationFailed("Some settings are not valid.", errors=errors)
    record = _record(uow)
    if record is None:
        ensure_record(uow)
        record = _record(uow)
    check_version(record, if_match)
    before = effective(uow, defaults)
    updated = dict(record)
    for name, value in changes.items():
        updated[name] = value.strip() if name == "shop_name" and isinstance(value, str) else value
    if {n: updated.get(n) for n in FIELDS} == {n: record.get(n) for n in FIELDS}:
        return before
    after_currency = updated["currency"] if updated.get("currency") is not None else defaults["currency"][0]
    if after_currency != before["currency"] and uow.orders.list(Query(limit=1))[1]:
        raise CurrencyLocked("The shop has orders in its currency; it can no longer change.",
                             errors={"currency": ["Locked by the shop's first order."]})
    uow.settings.update(updated)
    uow.events.add("settings.updated", effective(uow, defaults))
    return effective(uow, defaults)


def currency_for_sale(uow, defaults):
    """The currency a new order is sold in; the first order stores it, so a later SHOP_CURRENCY
    does not change the shop's."""
    record = _record(uow)
    if record is not None and record.get("currency"):
        return record["currency"]
    currency = defaults["currency"][0]
    if record is None:
        ensure_record(uow)
        record = _record(uow)
    record["currency"] = currency
    uow.settings.update(record)
    return currency
