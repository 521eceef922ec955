"""Every failure leaves as application/problem+json (RFC 9457) with a stable `code`; nothing else does this."""
import logging

from flask import Response, json
from werkzeug.exceptions import HTTPException

from .request_ids import current_request_id
from .services import errors as domain
from .storage.base import LockTimeout, StoreError

log = logging.getLogger("backroom")

STATUS = {
    domain.ValidationFailed: 400,
    domain.PaymentAmountMismatch: 400,
    domain.Unauthorized: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.PreconditionFailed: 412,
    domain.ImageTooLarge: 413,
    domain.TooManyRows: 413,
    domain.UnsupportedImage: 415,
    domain.RateLimited: 429,
    domain.StorageBusy: 503,
    domain.ScannerUnavailable: 503,
}

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    412: "precondition_failed", 413: "payload_too_large", 415: "unsupported_media_type",
    416: "range_not_satisfiable", 428: "precondition_required", 429: "rate_limited",
    500: "internal_error", 501: "not_implemented", 503: "service_unavailable",
}


def problem(status, title, detail=None, code=None, errors=None, headers=None, **extra):
    body = {"type": "about:blank", "title": title, "status": status,
            "detail": detail or title, "code": code or HTTP_CODES.get(status, "error")}
    if errors:
        body["errors"] = errors
    body.update(extra)
    body["request_id"] = current_request_id()
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="backroom"'
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _status_of(exc):
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def handle_domain_error(exc: domain.DomainError):
    status = _status_of(exc)
    headers = {}
    if isinstance(exc, domain.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, domain.StorageBusy):
        headers["Retry-After"] = "1"
    return problem(status, exc.title, exc.detail, exc.code, exc.errors, headers, **exc.extra)


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    title = exc.name
    detail = exc.description
    if status == 413:
        detail = "The request body is larger than this server accepts."
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return problem(status, title, detail, HTTP_CODES.get(status), headers=headers)


def handle_unexpected(exc):
    if isinstance(exc, HTTPException):
        return handle_http_error(exc)
    if isinstance(exc, LockTimeout):
        return handle_domain_error(domain.StorageBusy("The store is busy; try again shortly."))
    log.exception("unhandled error")
    if isinstance(exc, StoreError):
        return problem(503, "Storage unavailable", "The store could not be reached; try again.",
                       "storage_unavailable", headers={"Retry-After": "1"})
    return problem(500, "Internal Server Error", "Something went wrong on our side.", "internal_error")


def init_app(app):
    app.register_error_handler(domain.DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
