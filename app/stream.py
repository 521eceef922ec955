"""The live stream (contract section 13): Server-Sent Events served by a small asyncio server of
its own, so that open streams take no gunicorn worker.

How a stream opens, behind the API's own address:

1. `GET /api/events/stream` reaches a gunicorn sync worker like any request. The worker checks
   the caller (Bearer token or a one-time ticket), works out where the stream starts (after
   `Last-Event-ID` when that event is kept, else after the newest event, with a `reset`
   message) and hands the client's socket to the stream server over a Unix socket
   (SCM_RIGHTS), with {user, role, after, reset}. The worker then answers into a socketpair
   put in the socket's place, and is free again at once.
2. The stream server (one asyncio process per gunicorn master, forked beside the workers in
   gunicorn's when_ready, restarted if it dies) writes the status line and headers, then every
   event the caller may read and every notification made for them, as they commit. One
   thread follows the store's events (`store.events_after` woken by `store.wait_for_events`:
   PostgreSQL's LISTEN/NOTIFY across every app server, the journal's size on the JSON store)
   and keeps the newest few thousand in memory; a stream behind them (resuming) reads the
   store until it catches up.
3. Every 10 s a `: keepalive` comment; every 20 s the users of the open streams are read
   again, and a deactivated user's streams close.

Without gunicorn (the Flask test client, `flask run`), the route streams from the worker
itself for a short while (`inline_stream`), with the same messages.
"""
import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections import OrderedDict

log = logging.getLogger("backroom.stream")

KEEPALIVE_SECONDS = 10.0
USER_CHECK_SECONDS = 20.0
RING_SIZE = 5000
MAX_BUFFER = 1 << 20  # a reader this far behind is closed (it reconnects with Last-Event-ID)
BATCH = 500
IDLE_POLL_SECONDS = 0.25  # how soon the follower notices the first stream opening

ADDRESS = None  # the abstract Unix socket the stream server listens on (set in gunicorn's master)


def new_address():
    return f"\0backroom-stream-{os.getpid()}-{secrets.token_hex(6)}"


# ---- messages ------------------------------------------------------------------------------------

def _dumps(payload):
    from .api.responses import _encode
    return _encode(payload).decode()


def message(event_id, kind, payload):
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {_dumps(payload)}\n\n".encode()


def reset_message():
    return message(None, "reset", {"reason": "last_event_id_unknown"})


def messages_for(entry, user_id, role):
    """The bytes one reader gets for one (event, notifications) entry."""
    from .services import events as ev
    from .services.notifications import view
    event, notes = entry
    out = []
    if event["type"] not in ev.NOT_STREAMED and ev.may_read(role, event["type"]):
        out.append(message(event["id"], event["type"], ev.as_read_by(event, role)))
    for note in notes:
        if note["user_id"] == user_id:
            out.append(message(event["id"], "notification", view(note)))
    return b"".join(out)


def with_notifications(store, events):
    """[(event, [notifications it made])]: only notifying events are looked up."""
    from .services.notifications import NOTIFY, for_event
    wanted = [e for e in events if e["type"] in NOTIFY]
    found = {}
    if wanted:
        with store.reader() as uow:
            for event in wanted:
                found[event["id"]] = for_event(uow, event["id"])
    return [(e, found.get(e["id"], [])) for e in events]


def start_point(store, last_event_id):
    """(after, reset): the stream starts after `after` (None: the store has no event yet);
    reset when last_event_id was given but is not kept."""
    from .services.events import newest_id
    if last_event_id:
        if store.events_after(last_event_id, 1) is not None:
            return last_event_id, False
        with store.reader() as uow:
            return newest_id(uow), True
    with store.reader() as uow:
        return newest_id(uow), False


HEADERS = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
           b"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\n"
           b"Connection: close\r\n")


# ---- the hand-over from a worker -----------------------------------------------------------------

def hand_over(client, info, address=None):
    """Give the client's socket to the stream server (True), then put a socketpair in its place in
    this process so that whatever the worker still writes or shuts down never reaches the client.
    Returns (True, the other end to close once the worker has answered), or (False, None)."""
    address = address or ADDRESS
    if not address:
        return False, None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
            unix.settimeout(2.0)
            unix.connect(address)
            socket.send_fds(unix, [json.dumps(info).encode()], [client.fileno()])
            if unix.recv(1) != b"k":
                return False, None
    except OSError:
        log.warning("the stream server did not take the stream", exc_info=True)
        return False, None
    mine, other = socket.socketpair()
    os.dup2(mine.fileno(), client.fileno())
    mine.close()
    return True, other


# ---- the stream server ---------------------------------------------------------------------------

class Reader:
    def __init__(self, writer, info):
        self.writer = writer
        self.user_id, self.role = info["user_id"], info["role"]
        self.cursor = info.get("after")
        self.catching_up = False
        self.closed = False

    def send(self, data):
        if self.closed or not data:
            return
        transport = self.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFER:
            self.close()
            return
        self.writer.write(data)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001
                pass


class StreamServer:
    def __init__(self, app, address):
        self.app = app
        self.store = app.extensions["backroom.store"]
        self.address = address
        self.readers = set()
        self.ring = OrderedDict()  # event id -> (event, notifications), oldest first
        self.base = None  # the id the ring starts after
        self.loop = None
        self.stopping = threading.Event()

    # the ring, on the loop's thread
    def _after(self, cursor):
        """The ring's entries after cursor, or None when cursor is not the base nor in the ring."""
        if cursor == self.base:
            return list(self.ring.values())
        if cursor not in self.ring:
            return None
        out, seen = [], False
        for key, entry in self.ring.items():
            if seen:
                out.append(entry)
            elif key == cursor:
                seen = True
        return out

    def _push(self, entries):
        for entry in entries:
            self.ring[entry[0]["id"]] = entry
        while len(self.ring) > RING_SIZE:
            key, _ = self.ring.popitem(last=False)
            self.base = key
        for reader in list(self.readers):
            self._feed(reader)

    def _feed(self, reader):
        if reader.closed or reader.catching_up:
            return
        entries = self._after(reader.cursor)
        if entries is None:
            reader.catching_up = True
            asyncio.ensure_future(self._catch_up(reader))
            return
        if entries:
            reader.send(b"".join(messages_for(e, reader.user_id, reader.role) for e in entries))
            reader.cursor = entries[-1][0]["id"]

    async def _catch_up(self, reader):
        """Read the store from the reader's cursor until the ring holds it."""
        try:
            while not reader.closed:
                batch = await self.loop.run_in_executor(None, self._read_after, reader.cursor)
                if batch is None:  # the cursor is no longer kept: on from the newest
                    reader.cursor = next(reversed(self.ring), self.base)
                    break
                if not batch:
                    break
                reader.send(b"".join(messages_for(e, reader.user_id, reader.role) for e in batch))
                reader.cursor = batch[-1][0]["id"]
                if reader.cursor in self.ring or reader.cursor == self.base:
                    break
        except Exception:  # noqa: BLE001
            log.warning("a stream could not catch up", exc_info=True)
            reader.close()
        finally:
            reader.catching_up = False
        if reader.cursor in self.ring or reader.cursor == self.base:
            self._feed(reader)

    def _read_after(self, cursor):
        with self.app.app_context():
            events = self.store.events_after(cursor, BATCH) if cursor else self.store.events_after(None, BATCH)
            return None if events is None else with_notifications(self.store, events)

    # the follower thread
    def follow(self):
        from .services.events import newest_id
        cursor = None
        while not self.stopping.is_set():
            try:
                if not self.readers:
                    # Nobody listens: follow nothing (the commits of a busy shop cost this process
                    # nothing). The ring is let go, so a stream that opens later catches up from
                    # the store to the newest event, and the ring starts again from there.
                    if cursor is not None and asyncio.run_coroutine_threadsafe(
                            self._forget_if_idle(), self.loop).result(5.0):
                        cursor = None
                    if cursor is None:
                        self.stopping.wait(IDLE_POLL_SECONDS)
                        continue
                with self.app.app_context():
                    if cursor is None:
                        with self.store.reader() as uow:
                            cursor = newest_id(uow) or ""
                        self.loop.call_soon_threadsafe(self._set_base, cursor or None)
                    events = self.store.events_after(cursor or None, BATCH)
                    if events is None:
                        cursor = None
                        continue
                    if events:
                        entries = with_notifications(self.store, events)
                        cursor = events[-1]["id"]
                        self.loop.call_soon_threadsafe(self._push, entries)
                        if len(events) == BATCH:
                            continue
                    self.store.wait_for_events(1.0)
            except Exception:  # noqa: BLE001 - the store may be down a moment
                log.warning("following the events failed", exc_info=True)
                time.sleep(1.0)

    async def _forget_if_idle(self):
        """On the loop's thread: empty the ring when no stream is open (True), else keep it."""
        if self.readers:
            return False
        self.ring.clear()
        self.base = None
        return True

    def _set_base(self, cursor):
        if self.base is None and not self.ring:
            self.base = cursor
        # streams opened before the ring began (the follower was idle) may lack events up to
        # its base: feeding them now catches them up from the store
        for reader in list(self.readers):
            self._feed(reader)

    # hand-overs, in a thread of their own (asyncio has no recv of descriptors)
    def take_handovers(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(128)
        listener.settimeout(1.0)
        while not self.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                conn.settimeout(2.0)
                data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
                if not fds:
                    continue
                try:
                    info = json.loads(data)
                except ValueError:
                    for fd in fds:
                        os.close(fd)
                    continue
                client = socket.socket(fileno=fds[0])
                conn.sendall(b"k")
                self.loop.call_soon_threadsafe(lambda c=client, i=info: asyncio.ensure_future(self._open(c, i)))
            except OSError:
                log.warning("a hand-over failed", exc_info=True)
            finally:
                conn.close()
        listener.close()

    async def _open(self, client, info):
        client.setblocking(False)
        reader_stream, writer = await asyncio.open_connection(sock=client)
        reader = Reader(writer, info)
        head = HEADERS
        if info.get("request_id"):
            head += f"X-Request-Id: {info['request_id']}\r\n".encode()
        reader.send(head + b"\r\n" + (reset_message() if info.get("reset") else b": open\n\n"))
        self.readers.add(reader)
        self._feed(reader)
        try:
            while not reader.closed:
                chunk = await reader_stream.read(4096)
                if not chunk:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            reader.close()
            self.readers.discard(reader)

    async def keepalive(self):
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            for reader in list(self.readers):
                reader.send(b": keepalive\n\n")

    async def check_users(self):
        while True:
            await asyncio.sleep(USER_CHECK_SECONDS)
            ids = {r.user_id for r in self.readers}
            if not ids:
                continue
            try:
                gone = await self.loop.run_in_executor(None, self._gone_users, ids)
            except Exception:  # noqa: BLE001
                log.warning("checking the streams' users failed", exc_info=True)
                continue
            for reader in list(self.readers):
                if gone.get(reader.user_id) != reader.role:
                    reader.close()

    def _gone_users(self, ids):
        """{user_id: the role, or None when inactive or gone}."""
        out = {}
        with self.app.app_context(), self.store.reader() as uow:
            for user_id in ids:
                user = uow.users.get(user_id)
                if user is None or not user.get("active"):
                    out[user_id] = None
                else:
                    out[user_id] = user["role"]
        return out

    def run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        threading.Thread(target=self.take_handovers, name="stream-handovers", daemon=True).start()
        threading.Thread(target=self.follow, name="stream-follower", daemon=True).start()
        self.loop.add_signal_handler(signal.SIGTERM, self.loop.stop)
        self.loop.add_signal_handler(signal.SIGINT, self.loop.stop)
        self.loop.create_task(self.keepalive())
        self.loop.create_task(self.check_users())
        log.info("stream server %d listening", os.getpid())
        try:
            self.loop.run_forever()
        finally:
            self.stopping.set()
            for reader in list(self.readers):
                reader.close()


def serve(app, address):
    StreamServer(app, address).run()


# ---- without the stream server: a short stream from the worker itself ----------------------------

def inline_stream(app, info, seconds=1.0, poll=0.1):
    """The same messages, from this process, for `seconds` (SHOP_STREAM_INLINE_SECONDS), then the
    stream ends and the client reconnects with Last-Event-ID (`retry: 1000` asks a browser to
    come back within a second): a long poll, so that a worker is never held long."""
    store = app.extensions["backroom.store"]

    def generate():
        yield b"retry: 1000\n\n" + (reset_message() if info.get("reset") else b": open\n\n")
        cursor = info.get("after")
        deadline = time.monotonic() + seconds
        last_beat = time.monotonic()
        while time.monotonic() < deadline:
            with app.app_context():
                events = store.events_after(cursor, BATCH)
                if events is None:
                    events = []
                if events:
                    for entry in with_notifications(store, events):
                        yield messages_for(entry, info["user_id"], info["role"])
                    cursor = events[-1]["id"]
                    continue
            if time.monotonic() - last_beat >= KEEPALIVE_SECONDS:
                last_beat = time.monotonic()
                yield b": keepalive\n\n"
            time.sleep(poll)
    return generate()
