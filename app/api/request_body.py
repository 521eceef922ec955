"""The request body: read once, parsed as JSON, validated by a schema into errors per field."""
import io
import json
import re
from decimal import Decimal

from flask import current_app, request
from marshmallow import ValidationError

from ..services.errors import ValidationFailed


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
    (the seed form's `books` lines too, as they mean the same lines), a transfer's or count's
    under lines.<i>."""
    flat = _flatten(errors)
    out = {}
    for key, messages in flat.items():
        parts = key.split(".")
        if len(parts) > 2 and parts[0] in ("items", "books", "lines") and parts[1].isdigit():
            line = f"{'lines' if parts[0] == 'lines' else 'items'}.{parts[1]}"
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
