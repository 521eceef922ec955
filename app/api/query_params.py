"""A list's query string (limit, offset, sort, q, filters, since/until) as a storage Query."""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import request

from ..services.errors import ValidationFailed
from ..storage.base import Query

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000  # far past any shop's records, well inside every backend's integers


def _bad(field, message):
    return ValidationFailed("The query is not valid.", errors={field: [message]})


def _int_arg(name, default, minimum, maximum=None):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, "Must be an integer.") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise _bad(name, f"Must be between {minimum} and {maximum}." if maximum
                   else f"Must be at least {minimum}.")
    return value


def _moment(name, end):
    """A date (that whole day in SHOP_TIMEZONE) or a timestamp, as a UTC timestamp string."""
    raw = request.args.get(name)
    if not raw:
        return None
    raw = raw.strip()
    from .store import shop_settings
    tz = ZoneInfo(shop_settings()["timezone"])
    try:
        if len(raw) == 10:
            day = datetime.strptime(raw, "%Y-%m-%d").date()
            moment = datetime.combine(day, time.max if end else time.min, tzinfo=tz)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError:
        raise _bad(name, "Must be a date (YYYY-MM-DD) or an ISO 8601 timestamp.") from None
    moment = moment.astimezone(timezone.utc)
    if end:
        moment = moment.replace(microsecond=0)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def list_query(filters=None, sort_fields=(), q_fields=(), default_sort=(("id", False),), dated=False):
    """?limit, ?offset, ?sort, ?q, documented filters and since/until, as a storage Query.

    filters: name -> converter(raw string) returning the value to match (raise ValueError if bad).
    """
    query = Query(limit=_int_arg("limit", 50, 1, MAX_LIMIT), offset=_int_arg("offset", 0, 0, MAX_OFFSET))
    for name, convert in (filters or {}).items():
        raw = request.args.get(name)
        if raw is None or raw == "":
            continue
        try:
            query.filters[name] = convert(raw)
        except ValueError as exc:
            raise _bad(name, str(exc) or "Not a valid value.") from None
    sort = request.args.get("sort")
    if sort:
        for part in sort.split(","):
            part = part.strip()
            desc = part.startswith("-")
            fname = part.lstrip("-+")
            if fname not in sort_fields:
                raise _bad("sort", f"Cannot sort by {fname!r}; use one of: {', '.join(sort_fields)}.")
            query.sort.append((fname, desc))
    else:
        query.sort = list(default_sort)
    q = request.args.get("q")
    if q:
        query.q, query.q_fields = q, tuple(q_fields)
    if dated:
        query.since, query.until = _moment("since", end=False), _moment("until", end=True)
    return query


def choice(*allowed):
    def convert(raw):
        if raw not in allowed:
            raise ValueError(f"Must be one of: {', '.join(allowed)}.")
        return raw
    return convert


def boolean(raw):
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError("Must be true or false.")


def text(raw):
    return raw
