"""What every route shares: reading JSON, schema loading, list parameters, ETags, idempotent creates."""
import io
import json
import re
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from flask import Response, current_app, g, request
from marshmallow import ValidationError

from ..services import idempotency
from ..auth import can
from ..services.errors import Unauthorized, ValidationFailed
from ..storage.base import Query

MAX_LIMIT = 200
MAX_OFFSET = 1_000_000_000  # far past any shop's records, well inside every backend's integers


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


_ENCODER = _Encoder(ensure_ascii=False, separators=(",", ":"))


def _encode(payload):
    """Compact UTF-8 JSON of an answer (Decimals as strings): orjson, or the standard library
    for what orjson does not write (integers past 64 bits)."""
    try:
        return orjson.dumps(payload, default=_ENCODER.default)
    except TypeError:
        return _ENCODER.encode(payload)


def store():
    return current_app.extensions["backroom.store"]


def unit_of_work():
    return store().unit_of_work()


def reader():
    return store().reader()


def json_response(payload, status=200, headers=None):
    body = _encode(payload)
    resp = Response(body, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def record_response(record, status=200, headers=None):
    """One stored record, with its strong ETag."""
    headers = dict(headers or {})
    headers["ETag"] = f'"{record["version"]}"'
    return json_response(record, status, headers)


def _flatten(errors, prefix=""):
    flat = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "_body"
            flat_child = _flatten(value, name)
            for k, v in flat_child.items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        flat[prefix or "_body"] = [str(e) for e in errors]
    else:
        flat[prefix or "_body"] = [str(errors)]
    return flat


def flatten_errors(errors):
    """Nested marshmallow errors as field -> messages; an order line's problems stay under items.<i>
    (the seed form's `books` lines too, as they mean the same lines)."""
    flat = _flatten(errors)
    out = {}
    for key, messages in flat.items():
        parts = key.split(".")
        if len(parts) > 2 and parts[0] in ("items", "books") and parts[1].isdigit():
            line = f"items.{parts[1]}"
            out.setdefault(line, []).extend(f"{'.'.join(parts[2:])}: {m}" for m in messages)
        else:
            out.setdefault(key, []).extend(messages)
    return out


def _body_bytes():
    """The request body. The common case, a Content-Length within the limit and no transfer
    coding, is read straight from the WSGI input (werkzeug's stream wrappers cost more than
    parsing a small order), and the input is put back as a buffer, so a second read (or anyone
    reading after) gets the same bytes; anything else takes werkzeug's way, with its 413 and its
    chunked decoding."""
    environ = request.environ
    length = environ.get("CONTENT_LENGTH") or ""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if (not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ
            or (limit is not None and int(length) > limit)):
        return request.get_data(cache=True)
    data = environ["wsgi.input"].read(int(length)) if int(length) else b""
    environ["wsgi.input"] = io.BytesIO(data)
    return data


def raw_body(optional=False):
    """The parsed JSON body; 415 for another content type, 400 for bad JSON, {} for an empty optional body."""
    data = _body_bytes()
    if not data.strip():
        if optional:
            return {}
        raise ValidationFailed("A JSON body is required.", errors={"_body": ["Send a JSON object."]})
    mimetype = request.mimetype or ""
    if not (mimetype == "application/json" or mimetype.endswith("+json")):
        if optional and not mimetype:
            pass
        else:
            from werkzeug.exceptions import UnsupportedMediaType
            raise UnsupportedMediaType("Send JSON with 'Content-Type: application/json'.")
    try:
        body = json.loads(data.decode("utf-8"), parse_float=Decimal)
        if b"\\u" in data:  # only an escape can make half a surrogate pair, which no text may hold
            _refuse_lone_surrogates(body)
        return body
    except (ValueError, UnicodeDecodeError) as exc:
        err = ValidationFailed(f"The body is not valid JSON: {exc}")
        err.code = "invalid_json"
        raise err from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(value):
    """A \\ud800-style escape without its pair parses, but is no character: it could be neither
    stored as UTF-8 nor sent back."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        if match:
            raise ValueError(f"\\u{ord(match.group()):04x} is half of a surrogate pair, not a character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key)
            _refuse_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_lone_surrogates(item)


_SCHEMAS = {}


def load(schema, optional=False, partial=False, body=None):
    """Validate the body with a marshmallow schema (a class: one instance is kept and reused);
    every failure is one 400 with errors per field."""
    if isinstance(schema, type):
        schema = _SCHEMAS.get(schema) or _SCHEMAS.setdefault(schema, schema())
    body = raw_body(optional) if body is None else body
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", errors={"_body": ["Must be an object."]})
    try:
        return schema.load(body, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed("The request is not valid.", errors=flatten_errors(exc.messages)) from None


def if_match():
    """The versions an If-Match header names (a set), or None; '*' matches any version.

    If-Match compares strongly (RFC 9110): a weak W/"3" never matches, so it is a 412."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit():
            versions.add(int(tag[1:-1]))
    return frozenset(versions)


# ---- lists -----------------------------------------------------------------

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
    tz = ZoneInfo(current_app.config["TIMEZONE"])
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


def _responses():
    return current_app.extensions.setdefault("backroom.responses", {})


def cached_response(key, state):
    """A response remembered under key while the store is still in `state`, or None.

    state comes from the unit of work (None: this backend cannot tell, so nothing is cached)."""
    if state is None:
        return None
    hit = _responses().get(key)
    if hit is None or hit[0] != state:
        return None
    _, status, body, headers = hit
    return Response(body, status=status, headers=headers, mimetype="application/json")


def remember_response(key, state, response):
    if state is not None and response.status_code == 200:
        responses = _responses()
        if len(responses) > 512:
            responses.clear()
        headers = [(k, v) for k, v in response.headers.items()
                   if k.lower() not in ("content-type", "content-length")]
        responses[key] = (state, response.status_code, response.get_data(), headers)
    return response


def page_response(items, total, query):
    """The list envelope and a Link header with rel=next / rel=prev."""
    links = []
    args = request.args.to_dict()
    base = request.base_url
    if query.offset + query.limit < total:
        args.update(limit=query.limit, offset=query.offset + query.limit)
        links.append(f'<{base}?{urlencode(args)}>; rel="next"')
    if query.offset > 0:
        args.update(limit=query.limit, offset=max(query.offset - query.limit, 0))
        links.append(f'<{base}?{urlencode(args)}>; rel="prev"')
    headers = {"Link": ", ".join(links)} if links else {}
    return json_response({"items": items, "total": total, "limit": query.limit,
                          "offset": query.offset}, headers=headers)


# ---- idempotent creates ----------------------------------------------------

def idempotent_create(endpoint, body, run):
    """Run `run(uow) -> (status, payload, headers)` in one unit of work; with an Idempotency-Key,
    the same key and body replays the first success, stored in that same unit of work."""
    key = request.headers.get("Idempotency-Key")
    user_id = g.user["id"]
    if key is not None:
        idempotency.check_key(key)
    with unit_of_work() as uow:
        remembered = None
        if key is not None:
            remembered = idempotency.recall(uow, user_id, endpoint, key, body)
        if remembered is not None:  # a replay changes nothing, so nothing is committed
            status, payload, headers = remembered
            headers = {**headers, "Idempotent-Replayed": "true"}
        else:
            status, payload, headers = run(uow)
            if key is not None:
                payload = json.loads(json.dumps(payload, cls=_Encoder))  # stored exactly as sent
                idempotency.remember(uow, user_id, endpoint, key, body, status, payload, headers)
            uow.commit()
    if "version" in payload:
        headers = {**headers, "ETag": f'"{payload["version"]}"'}
    return json_response(payload, status, headers)


def catalog_reader():
    """Staff see every product with cost; anonymous callers see active ones without cost, if allowed."""
    if g.user is None and not current_app.config["PUBLIC_CATALOG"]:
        raise Unauthorized("Sign in to read the catalog.")
    return can("catalog.read_all")
