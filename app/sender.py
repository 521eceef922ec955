"""The webhook sender: a process of its own that makes the attempts of pending deliveries.

`make serve` forks one beside gunicorn's workers (scripts/gunicorn_conf.py, supervised as the
background process is, restarted if it dies); `python -m scripts.sender` runs more, here or on
another machine sharing the database. Each round it claims up to BATCH due entries of the
`webhook_queue` for a lease (PostgreSQL: FOR UPDATE SKIP LOCKED, so senders never wait on each
other; the JSON store: under its write lock), posts them in parallel threads, then records
every outcome in one unit of work. A sender killed mid-round loses nothing: its lease runs out
(or, on this machine, its entries are freed when a sender starts) and the entry is tried
again; so delivery is at least once, and `webhook-id` lets receivers drop a repeat.
"""
import http.client
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import urlsplit

from .services import webhooks
from .storage.base import Query, timestamp

log = logging.getLogger("backroom.sender")

BATCH = 100
# after a round that emptied the queue's due part, wait this long before claiming again: rounds
# gather more deliveries each (fewer commits beside the API's), well inside the 2 s promised
GATHER_SECONDS = 0.1
THREADS = 16
LEASE_SECONDS = 60.0
RECENT = 5_000  # events kept in memory for the deliveries to come (older ones are looked up)


class _Connections(threading.local):
    """Each sending thread's open connections, by (scheme, host, port): a receiver that keeps
    connections alive (HTTP/1.1) is not connected to anew for every attempt."""

    def __init__(self):
        self.open = {}


_connections = _Connections()


class _OneWrite:
    """An attempt's request in one write: http.client writes the head and then the body, two
    packets and two wake-ups of the receiver for a few hundred bytes; with Nagle off, as urllib3
    sets it, nothing waits on the first one's acknowledgement either."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_output(self, message_body=None, encode_chunked=False):
        if not isinstance(message_body, bytes):
            return super()._send_output(message_body, encode_chunked)
        self._buffer.extend((b"", message_body))
        data = b"\r\n".join(self._buffer)
        del self._buffer[:]
        self.send(data)
        return None


class _Http(_OneWrite, http.client.HTTPConnection):
    pass


class _Https(_OneWrite, http.client.HTTPSConnection):
    pass


def _connection(parts, timeout):
    """(its key, a connection, whether it was open already): the thread's open one to this
    endpoint, else a new one."""
    key = (parts.scheme, parts.hostname, parts.port)
    conn = _connections.open.pop(key, None)
    if conn is not None and conn.sock is not None:
        return key, conn, True
    kind = _Https if parts.scheme == "https" else _Http
    return key, kind(parts.hostname, parts.port, timeout=timeout), False


def attempt(url, headers, body, allow_private, timeout=webhooks.ATTEMPT_TIMEOUT):
    """POST body to url once: {ok, status, ms, error, gone}. A redirect is not followed.

    The SSRF guard is checked first, every time; a connection the receiver kept alive is used
    again only while its peer is among the addresses the host resolves to now."""
    started = time.monotonic()
    parts = urlsplit(url)
    reason, addresses = webhooks.guard_addresses(parts.hostname, allow_private)
    if reason:
        return {"ok": False, "status": None, "ms": None, "error": reason}
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key, conn, reused = _connection(parts, timeout)
    if reused and _peer(conn) not in addresses:
        conn.close()
        key, conn, reused = _connection(parts, timeout)
    keep = False
    try:
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            conn.close()  # the receiver closed the connection it kept: once more on a new one
            _, conn, reused = _connection(parts, timeout)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
        data = response.read(65536)
        status = response.status
        keep = not response.will_close and response.isclosed() and len(data) < 65536
    except (socket.timeout, TimeoutError):
        return {"ok": False, "status": None, "ms": _ms(started), "error": "timeout"}
    except (OSError, http.client.HTTPException) as exc:
        return {"ok": False, "status": None, "ms": _ms(started),
                "error": f"connection failed: {type(exc).__name__}"[:200]}
    finally:
        if keep:
            _connections.open[key] = conn
        else:
            conn.close()
    ms = _ms(started)
    if ms > timeout * 1000:
        return {"ok": False, "status": status, "ms": ms, "error": "timeout"}
    if 200 <= status < 300:
        return {"ok": True, "status": status, "ms": ms, "error": None}
    return {"ok": False, "status": status, "ms": ms, "error": f"HTTP {status}", "gone": status == 410}


def _peer(conn):
    try:
        return conn.sock.getpeername()[0]
    except (OSError, AttributeError):
        return None


def _ms(started):
    return int((time.monotonic() - started) * 1000)


def request_of(webhook, event, now=None, body=None):
    """(headers, body) of one attempt, signed with every secret that signs now, newest first
    (body: the event's, when already made for another endpoint)."""
    now = now or datetime.now(timezone.utc)
    body = body if body is not None else webhooks.body_of(event)
    ts = str(int(now.timestamp()))
    return {"Content-Type": "application/json", "User-Agent": "Backroom-Webhooks/1",
            "webhook-id": event["id"], "webhook-timestamp": ts,
            "webhook-signature": webhooks.sign(webhooks.signing_secrets(webhook, now), event["id"], ts, body),
            }, body


class Sender:
    def __init__(self, app, name=None):
        self.app = app
        self.store = app.extensions["backroom.store"]
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.allow_private = app.config["WEBHOOK_ALLOW_PRIVATE"]
        self.scale = app.config["WEBHOOK_RETRY_SCALE"]
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="webhook")
        self.stopping = threading.Event()
        # the newest events, followed as they commit: a delivery's event is read from here, not
        # looked up one by one (the JSON store's log is read from its end)
        self.recent = OrderedDict()
        self.cursor = None
        self.followed = False

    def follow(self):
        """Read the events committed since the last round into `recent`."""
        if not self.followed:
            from .services.events import newest_id
            with self.store.reader() as uow:
                self.cursor = newest_id(uow)
            self.followed = True
        while True:
            events = self.store.events_after(self.cursor, 1000) if self.cursor else \
                self.store.events_after(None, 1000)
            if events is None:  # the cursor is no longer kept: on from the newest
                self.followed = False
                return
            for event in events:
                self.recent[event["id"]] = event
            while len(self.recent) > RECENT:
                self.recent.popitem(last=False)
            if events:
                self.cursor = events[-1]["id"]
            if len(events) < 1000:
                return

    def event(self, uow, event_id):
        found = self.recent.get(event_id)
        return found if found is not None else uow.events.get(event_id)

    def claim(self):
        with self.store.reader() as uow:  # most wake-ups (a commit with events) queue nothing
            if not uow.webhook_queue.any_due():
                # nothing to send: the events are not followed meanwhile (a delivery's event
                # older than the cursor is looked up), so an idle sender costs a commit nothing
                self.followed = False
                return []
        self.follow()
        with self.store.unit_of_work() as uow:
            entries = uow.webhook_queue.claim(self.name, LEASE_SECONDS, BATCH)
            if not entries:
                return []
            work = []
            hooks = {}
            for entry in entries:
                delivery = uow.webhook_deliveries.get(entry["id"])
                webhook = hooks.get(entry["webhook_id"]) or uow.webhooks.get(entry["webhook_id"])
                event = self.event(uow, delivery["event_id"]) if delivery else None
                if delivery is None or webhook is None or event is None or not webhook["active"]:
                    uow.webhook_queue.delete(entry["id"])
                    continue
                hooks[webhook["id"]] = webhook
                work.append((entry["id"], webhook, event))
            uow.commit()
        return work

    def run_once(self):
        """One round: claim, post, record; how many attempts were made."""
        with self.app.app_context():
            work = self.claim()
            if not work:
                return 0

            bodies = {}  # an event's body is the same for every endpoint it goes to
            for _, _, event in work:
                if event["id"] not in bodies:
                    bodies[event["id"]] = webhooks.body_of(event)

            def one(item):
                delivery_id, webhook, event = item
                headers, body = request_of(webhook, event, body=bodies[event["id"]])
                return delivery_id, attempt(webhook["url"], headers, body, self.allow_private)
            outcomes = list(self.pool.map(one, work))
            with self.store.unit_of_work() as uow:
                for delivery_id, outcome in outcomes:
                    webhooks.record_attempt(uow, delivery_id, self.name, outcome, self.scale)
                uow.commit()
            return len(outcomes)

    def release_orphans(self):
        """Entries claimed by a sender of this machine that is gone (kill -9) are free at once."""
        from .background import _alive
        host = socket.gethostname()
        with self.app.app_context(), self.store.unit_of_work() as uow:
            now = timestamp()
            entries, _ = uow.webhook_queue.list(Query(limit=100_000))
            freed = 0
            for entry in entries:
                owner_host, _, pid = (entry.get("claimed_by") or "").rpartition(":")
                if (entry.get("claimed_until") or "") > now and owner_host == host and pid.isdigit() \
                        and int(pid) != os.getpid() and not _alive(int(pid)):
                    entry.update(claimed_by=None, claimed_until=None)
                    uow.webhook_queue.update(entry)
                    freed += 1
            if freed:
                uow.commit()
        return freed

    def run(self):
        log.info("webhook sender %s started", self.name)
        try:
            self.release_orphans()
        except Exception:  # noqa: BLE001 - their leases run out anyway
            log.warning("could not free the deliveries of dead senders", exc_info=True)
        while not self.stopping.is_set():
            try:
                done = self.run_once()
            except Exception:  # noqa: BLE001 - the store may be down a moment
                log.warning("webhook round failed", exc_info=True)
                done = 0
                self.stopping.wait(1.0)
            if 0 < done < BATCH:
                self.stopping.wait(GATHER_SECONDS)
            elif not done and not self.stopping.is_set():
                # woken by any commit (new deliveries come with their events); a retry's due time
                # is met by the timeout
                self.store.wait_for_events(0.5)
        self.pool.shutdown(wait=False)
        log.info("webhook sender %s stopped", self.name)

    def stop(self, *_):
        self.stopping.set()


def serve_forever(app, name=None):
    import signal
    sender = Sender(app, name)
    signal.signal(signal.SIGTERM, sender.stop)
    signal.signal(signal.SIGINT, sender.stop)
    sender.run()
