"""Request ids: every answer carries X-Request-Id (the client's own when it is a sane one), problems and the access log too."""
import os
import re

from flask import g, has_request_context, request

_CLIENTS_OWN = re.compile(r"^[A-Za-z0-9\-_.:@/+=]{1,128}$")


# every two of base32's digits (RFC 4648, lower case), by the 10 bits they write
_PAIRS = [a + b for a in "abcdefghijklmnopqrstuvwxyz234567" for b in "abcdefghijklmnopqrstuvwxyz234567"]
_SHIFTS = tuple(range(110, -1, -10))


def _new_id():
    # 15 random bytes are 24 base32 characters, letters and digits: base64.b32encode's, lower
    # case, written from a table of pairs (b32encode is pure Python; this is on every answer)
    value = int.from_bytes(os.urandom(15), "big")
    return "req_" + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def current_request_id():
    """This request's id, made on first use; None outside a request."""
    if not has_request_context():
        return None
    rid = g.get("request_id")
    if rid is None:
        rid = g.request_id = chosen(request.headers.get("X-Request-Id", ""))
    return rid


def chosen(sent):
    """The id of a request that sent X-Request-Id `sent` ("" when none): its own when sane."""
    return sent if _CLIENTS_OWN.match(sent) else _new_id()


def init_app(app):
    @app.after_request
    def send_request_id(response):
        response.headers["X-Request-Id"] = current_request_id()
        return response
