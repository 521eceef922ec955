"""Idempotency keys: the same key and body replays the first success; another body is a conflict."""
import hashlib
import json
from datetime import timedelta

from ..storage.base import timestamp, utcnow
from .errors import IdempotencyConflict, ValidationFailed

KEEP = timedelta(hours=24)


def fingerprint(body):
    """Bodies compare as parsed JSON: key order and spacing do not matter."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str,
                                     separators=(",", ":")).encode()).hexdigest()


def key_id(user_id, endpoint, key):
    return hashlib.sha256(f"{user_id}|{endpoint}|{key}".encode()).hexdigest()[:40]


def check_key(key):
    if not key or len(key) > 255:
        raise ValidationFailed("The Idempotency-Key header must be 1 to 255 characters.",
                               errors={"Idempotency-Key": ["1 to 255 characters."]})


def recall(uow, user_id, endpoint, key, body):
    """The stored (status, body, headers) for this key, or None; 409 if the key came with another body."""
    rec = uow.idempotency.get(key_id(user_id, endpoint, key))
    if rec is None or rec["created_at"] < timestamp(utcnow() - KEEP):
        return None
    if rec["fingerprint"] != fingerprint(body):
        raise IdempotencyConflict("This Idempotency-Key was used with a different body.")
    return rec["status"], rec["response"], rec["headers"]


def remember(uow, user_id, endpoint, key, body, status, response, headers):
    """Kept in the same unit of work as the change it answers for."""
    uow.idempotency.save({
        "id": key_id(user_id, endpoint, key), "user_id": user_id, "endpoint": endpoint,
        "fingerprint": fingerprint(body), "status": status, "response": response,
        "headers": headers, "created_at": timestamp(),
    })
    uow.idempotency.purge_before(timestamp(utcnow() - KEEP))
