"""Webhooks (contract section 13): endpoints, their secrets, deliveries made in the event's
transaction, Standard Webhooks signatures, the retry schedule and disabling, the SSRF guard.

A delivery is a record of `webhook_deliveries` (what the log shows) plus, while it is pending,
an entry of `webhook_queue` (what the sender claims): both are written in the event's
transaction, so a committed event's deliveries survive any crash. A delivered or failed
delivery is done: the JSON store then keeps it in the collection's append-only log, out of
memory (declarations: `retire`), and reads it back from there. The sender (app/sender.py)
makes the attempts and reports them through record_attempt.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets as random_secrets
import socket
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from ..storage.base import Query, new_id, timestamp
from .errors import NotFound, ValidationFailed, WebhookInactive, WebhookUrlNotAllowed
from .users import check_version

# seconds before the 2nd, 3rd, ... 8th attempt; after the 8th fails, the delivery is failed
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = 24 * 3600  # seconds of failures with no success
ATTEMPT_TIMEOUT = 10.0
WRITABLE = ("url", "events", "description", "active")
MAX_ROTATION_OVERLAP = 86400


def _now():
    return datetime.now(timezone.utc)


def _moment(text):
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def new_secret():
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(32)).decode()


def view(webhook):
    """A webhook as answered: never its secrets."""
    return {k: webhook.get(k) for k in ("id", "url", "events", "description", "active",
                                         "disabled_reason", "created_at", "updated_at", "version")}


def delivery_view(delivery):
    return {k: delivery.get(k) for k in (
        "id", "webhook_id", "event_id", "type", "status", "attempts", "response_status",
        "response_ms", "error", "next_attempt_at", "created_at", "updated_at", "version")}


# ---- the SSRF guard ---------------------------------------------------------------------------

def address_allowed(address):
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


def resolve(host):
    """Every address host is or resolves to; [] when it does not resolve."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    except (socket.gaierror, UnicodeError, OSError):
        return []


def guard(host, allow_private):
    """None when an attempt may reach host; else the reason (`address not allowed`, ...)."""
    return guard_addresses(host, allow_private)[0]


def guard_addresses(host, allow_private):
    """(None, the addresses host resolves to) when an attempt may reach it; else (the reason, ())."""
    addresses = resolve(host)
    if not addresses:
        return "host does not resolve", ()
    if not allow_private and not all(address_allowed(a) for a in addresses):
        return "address not allowed", ()
    return None, addresses


def check_url(url, allow_private):
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("The webhook is not valid.", errors={"url": ["Required."]})
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValidationFailed("The webhook is not valid.", errors={"url": ["Not a valid URL."]}) from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationFailed("The webhook is not valid.",
                               errors={"url": ["Must be an absolute http or https URL."]})
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("The webhook is not valid.",
                               errors={"url": ["Must not carry a user or password."]})
    reason = guard(host, allow_private)
    if reason == "host does not resolve":
        raise ValidationFailed("The webhook is not valid.", errors={"url": ["The host does not resolve."]})
    if reason:
        raise WebhookUrlNotAllowed(
            "The URL's host is or resolves to an address that is not public.",
            errors={"url": ["Address not allowed (loopback, private, link-local, reserved or multicast)."]})
    return url.strip()


def check_events(events):
    if events == ["*"]:
        return events
    ok = isinstance(events, list) and events and all(
        isinstance(e, str) and "." in e and e.strip() == e and e != "*" and len(e) <= 100 for e in events)
    if not ok:
        raise ValidationFailed("The webhook is not valid.", errors={
            "events": ['A non-empty list of event types ("order.paid"), or exactly ["*"].']})
    return list(dict.fromkeys(events))


def _clean(data, allow_private, partial):
    errors = {}
    if "secret" in data:
        errors["secret"] = ["The server makes the secret; rotate it with POST .../rotate-secret."]
    for key in data:
        if key not in WRITABLE and key not in ("secret", "id", "created_at", "updated_at", "version",
                                                "disabled_reason"):
            errors[key] = ["Unknown field."]
    if errors:
        raise ValidationFailed("The webhook is not valid.", errors=errors)
    out = {}
    if "url" in data or not partial:
        out["url"] = check_url(data.get("url"), allow_private)
    if "events" in data or not partial:
        out["events"] = check_events(data.get("events"))
    if "description" in data:
        if data["description"] is not None and not isinstance(data["description"], str):
            raise ValidationFailed("The webhook is not valid.", errors={"description": ["Must be text."]})
        out["description"] = (data["description"] or "")[:1000]
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationFailed("The webhook is not valid.", errors={"active": ["Must be true or false."]})
        out["active"] = data["active"]
    return out


def get_stored(uow, webhook_id):
    webhook = uow.webhooks.get(webhook_id) if isinstance(webhook_id, str) else None
    if webhook is None:
        raise NotFound("No webhook with this id.")
    return webhook


def get_webhook(uow, webhook_id):
    return view(get_stored(uow, webhook_id))


def create_webhook(uow, data, allow_private=False):
    """201's body: the webhook and, this once, its secret."""
    clean = _clean(data, allow_private, partial=False)
    secret = new_secret()
    webhook = {"id": "wh_" + new_id(), "url": clean["url"], "events": clean["events"],
               "description": clean.get("description", ""), "active": clean.get("active", True),
               "disabled_reason": None, "secrets": [{"secret": secret, "expires_at": None}],
               "failing_since": None}
    uow.webhooks.add(webhook)
    return {**view(webhook), "secret": secret}


def update_webhook(uow, webhook_id, data, if_match=None, allow_private=False):
    webhook = get_stored(uow, webhook_id)
    clean = _clean(data, allow_private, partial=True)  # a bad body is 400 whatever If-Match says
    check_version(webhook, if_match)
    was_active = webhook["active"]
    webhook.update(clean)
    if webhook["active"] and not was_active:
        webhook["disabled_reason"], webhook["failing_since"] = None, None
    if not webhook["active"] and was_active:
        _drop_pending(uow, webhook["id"], "endpoint made inactive")
    return view(uow.webhooks.update(webhook))


def delete_webhook(uow, webhook_id, if_match=None):
    webhook = get_stored(uow, webhook_id)
    check_version(webhook, if_match)
    _drop_pending(uow, webhook["id"], "endpoint deleted")
    uow.webhooks.delete(webhook["id"])


def rotate_secret(uow, webhook_id, data):
    webhook = get_stored(uow, webhook_id)
    overlap = (data or {}).get("old_secret_expires_in", MAX_ROTATION_OVERLAP)
    unknown = [k for k in (data or {}) if k != "old_secret_expires_in"]
    if unknown:
        raise ValidationFailed("The request is not valid.", errors={k: ["Unknown field."] for k in unknown})
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValidationFailed("The request is not valid.", errors={
            "old_secret_expires_in": [f"Must be an integer from 0 to {MAX_ROTATION_OVERLAP}."]})
    secret = new_secret()
    kept = [{"secret": secret, "expires_at": None}]
    current = (webhook.get("secrets") or [None])[0]
    if current and overlap > 0:
        kept.append({"secret": current["secret"],
                     "expires_at": timestamp(_now() + timedelta(seconds=overlap))})
    webhook["secrets"] = kept
    return {**view(uow.webhooks.update(webhook)), "secret": secret}


def signing_secrets(webhook, now=None):
    """The secrets that sign now, newest first."""
    now_text = timestamp(now or _now())
    return [s["secret"] for s in webhook.get("secrets") or ()
            if s.get("expires_at") is None or s["expires_at"] > now_text]


def sign(secrets, msg_id, ts, body):
    """The webhook-signature header: `v1,<base64 HMAC-SHA256>` per secret, space-separated."""
    content = f"{msg_id}.{ts}.".encode() + body
    out = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        out.append("v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode())
    return " ".join(out)


def body_of(event):
    """The compact JSON an attempt posts: exactly id, type, timestamp and data."""
    return json.dumps({"id": event["id"], "type": event["type"], "timestamp": event["at"],
                       "data": event.get("data")}, separators=(",", ":"), ensure_ascii=False).encode()


# ---- deliveries ---------------------------------------------------------------------------------

def subscribes(webhook, event_type):
    return webhook["active"] and (webhook["events"] == ["*"] or event_type in webhook["events"])


def _new_delivery(uow, webhook, event):
    now = timestamp()
    delivery = {"id": "whd_" + new_id(), "webhook_id": webhook["id"], "event_id": event["id"],
                "type": event["type"], "status": "pending", "attempts": 0, "response_status": None,
                "response_ms": None, "error": None, "next_attempt_at": now}
    uow.webhook_deliveries.add(delivery)
    uow.webhook_queue.add({"id": delivery["id"], "webhook_id": webhook["id"], "due_at": now,
                           "claimed_by": None, "claimed_until": None})
    return delivery


def fan_out(uow, events):
    """One delivery per active webhook subscribed to each event (a ping is for its endpoint only)."""
    events = [e for e in events if e["type"] != "webhook.ping"]
    if not events:
        return
    hooks, _ = uow.webhooks.list(Query(filters={"active": True}, limit=10_000))
    if not hooks:
        return
    for event in events:
        for webhook in hooks:
            if subscribes(webhook, event["type"]):
                _new_delivery(uow, webhook, event)


def _drop_pending(uow, webhook_id, reason):
    for entry in uow.webhook_queue.for_webhook(webhook_id):
        uow.webhook_queue.delete(entry["id"])
        delivery = uow.webhook_deliveries.get(entry["id"])
        if delivery is not None and delivery["status"] == "pending":
            delivery.update(status="failed", next_attempt_at=None, error=reason)
            uow.webhook_deliveries.update(delivery)


def ping(uow, webhook_id):
    webhook = get_stored(uow, webhook_id)
    if not webhook["active"]:
        raise WebhookInactive("This webhook is inactive; enable it with PATCH {\"active\": true}.")
    event = uow.events.add("webhook.ping", view(webhook))
    return delivery_view(_new_delivery(uow, webhook, event))


def list_deliveries(uow, webhook_id, query):
    get_stored(uow, webhook_id)
    query.filters["webhook_id"] = webhook_id
    items, total = uow.webhook_deliveries.list(query)
    return [delivery_view(d) for d in items], total


def _mine(uow, webhook_id, delivery_id):
    delivery = uow.webhook_deliveries.get(delivery_id) if isinstance(delivery_id, str) else None
    if delivery is None or delivery["webhook_id"] != webhook_id:
        raise NotFound("No delivery with this id.")
    return delivery


def retry(uow, webhook_id, delivery_id):
    """One more attempt within 2 seconds, whatever the delivery's status."""
    webhook = get_stored(uow, webhook_id)
    delivery = _mine(uow, webhook_id, delivery_id)
    if not webhook["active"]:
        raise WebhookInactive("This webhook is inactive; enable it with PATCH {\"active\": true}.")
    now = timestamp()
    delivery.update(status="pending", next_attempt_at=now)
    delivery = uow.webhook_deliveries.update(delivery)
    entry = uow.webhook_queue.get(delivery["id"])
    if entry is None:
        uow.webhook_queue.add({"id": delivery["id"], "webhook_id": webhook_id, "due_at": now,
                               "claimed_by": None, "claimed_until": None, "retry_now": True})
    else:
        entry.update(due_at=now, claimed_by=None, claimed_until=None, retry_now=True)
        uow.webhook_queue.update(entry)
    return delivery_view(delivery)


# ---- an attempt's outcome (the sender reports here) ----------------------------------------------

def record_attempt(uow, delivery_id, worker, outcome, scale=1.0, now=None):
    """Record one attempt: outcome {ok, status, ms, error, gone (a 410)}. Moves the delivery on
    (delivered; pending with its next attempt; failed after the last), and disables its
    endpoint after 24 hours (times scale) of failures, or at once on 410. False when the entry
    is no longer this worker's (dropped, or taken over)."""
    now = now or _now()
    entry = uow.webhook_queue.get(delivery_id)
    if entry is None or entry.get("claimed_by") != worker:
        return False
    delivery = uow.webhook_deliveries.get(delivery_id)
    webhook = uow.webhooks.get(entry["webhook_id"])
    if delivery is None or webhook is None:
        uow.webhook_queue.delete(delivery_id)
        return False
    delivery["attempts"] = (delivery.get("attempts") or 0) + 1
    delivery.update(response_status=outcome.get("status"), response_ms=outcome.get("ms"),
                    error=None if outcome.get("ok") else (outcome.get("error") or "failed")[:200])
    if outcome.get("ok"):
        delivery.update(status="delivered", next_attempt_at=None)
        uow.webhook_queue.delete(delivery_id)
    elif delivery["attempts"] >= MAX_ATTEMPTS:
        delivery.update(status="failed", next_attempt_at=None)
        uow.webhook_queue.delete(delivery_id)
    else:
        delay = RETRY_DELAYS[delivery["attempts"] - 1] * scale
        due = timestamp(now + timedelta(seconds=delay))
        delivery.update(status="pending", next_attempt_at=due)
        entry.update(due_at=due, claimed_by=None, claimed_until=None, retry_now=False)
        uow.webhook_queue.update(entry)
    uow.webhook_deliveries.update(delivery)
    if outcome.get("ok"):
        if webhook.get("failing_since"):
            webhook["failing_since"] = None
            uow.webhooks.update(webhook)
        return True
    since = webhook.get("failing_since")
    if since is None:
        webhook["failing_since"] = since = timestamp(now)
        webhook = uow.webhooks.update(webhook)
    if outcome.get("gone"):
        disable(uow, webhook, "The endpoint answered 410 Gone.")
    elif (now - _moment(since)).total_seconds() >= DISABLE_AFTER * scale:
        disable(uow, webhook, "Every attempt failed for 24 hours since the first failure.")
    return True


def disable(uow, webhook, reason):
    """The endpoint goes inactive with a reason; its pending deliveries fail; the admins hear of it."""
    webhook = uow.webhooks.get(webhook["id"])
    if not webhook["active"]:
        return
    webhook.update(active=False, disabled_reason=reason)
    webhook = uow.webhooks.update(webhook)
    _drop_pending(uow, webhook["id"], "endpoint disabled")
    uow.events.add("webhook.disabled", view(webhook))
