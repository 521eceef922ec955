"""Mail: messages queued in the unit of work of their cause, sent after the commit by the background process, retried on a schedule."""
from datetime import datetime, timedelta, timezone

from ..storage.base import new_id, timestamp

KINDS = ("invite", "password_reset", "notification")
# seconds to wait after the 1st, 2nd, ... failed attempt; then every 2 hours
RETRY_DELAYS = (10, 60, 300, 1800)
THEN_EVERY = 7200
GIVE_UP_AFTER = timedelta(hours=24)


def queue_message(uow, kind, to, subject, text):
    """A message waiting to be sent (its text kept only until then), and the job that sends it."""
    message = {"id": new_id(), "kind": kind, "to": to, "subject": subject, "text": text,
               "status": "queued", "attempts": 0, "last_error": None,
               "next_attempt_at": timestamp(), "sent_at": None}
    uow.outbox.add(message)
    uow.jobs.enqueue("mail.send", {"message_id": message["id"]})
    return message


def _moment(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def next_attempt(message, now):
    """When to try again after the attempt just failed, or None: give up (24 hours after queuing)."""
    delay = RETRY_DELAYS[message["attempts"] - 1] if message["attempts"] <= len(RETRY_DELAYS) else THEN_EVERY
    deadline = _moment(message["created_at"]) + GIVE_UP_AFTER
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=delay), deadline)


def record_attempt(uow, message_id, error=None, permanent=False, now=None):
    """After an attempt: sent (its text forgotten), or failed for good, or queued again.
    Returns the time of the next attempt, or None when there is none."""
    now = now or datetime.now(timezone.utc)
    message = uow.outbox.get(message_id)
    message["attempts"] += 1
    if error is None:
        message.update(status="sent", sent_at=timestamp(now), text=None, last_error=None,
                       next_attempt_at=None)
        uow.outbox.update(message)
        return None
    message["last_error"] = error[:300]
    later = None if permanent else next_attempt(message, now)
    if later is None:
        message.update(status="failed", text=None, next_attempt_at=None)
    else:
        message["next_attempt_at"] = timestamp(later)
    uow.outbox.update(message)
    return later


def outbox_view(message):
    """A message as GET /api/outbox shows it: never its text."""
    return {k: message.get(k) for k in ("id", "kind", "to", "subject", "status", "attempts", "last_error",
                                        "next_attempt_at", "created_at", "sent_at")}
