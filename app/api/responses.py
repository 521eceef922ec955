"""JSON answers: one record with its ETag, a page of a list with its Link header, compact encoding."""
import json
from decimal import Decimal
from urllib.parse import urlencode

import orjson
from flask import Response, request


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


def as_sent(payload):
    """The payload as a client reads it back (Decimals as strings), to be kept and sent again."""
    return json.loads(json.dumps(payload, cls=_Encoder))


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


def page_response(items, total, query, extra=None):
    """The list envelope (and `extra` fields after it, a report's totals) and a Link header
    with rel=next / rel=prev."""
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
    body = {"items": items, "total": total, "limit": query.limit, "offset": query.offset}
    if extra:
        body.update(extra)
    return json_response(body, headers=headers)
