"""Gunicorn settings shared by `make serve`, the system tests and the benchmark."""
import gc
import os
import sys

from gunicorn.workers import sync

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
keepalive = 5
# gunicorn's usual access line, then the request id every answer carries (X-Request-Id)
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
# Load the app (and the parsed store) once in the master: workers start at once and share its
# memory copy-on-write instead of each parsing a big store again.
preload_app = True

# The young collections (of the youngest two generations) the collector makes before a full one:
# Python's own default.
YOUNG_COLLECTIONS_PER_FULL = 10
NEVER = 2**31 - 1
# with the background process in charge of compaction, a worker compacts only past this many times
# SHOP_JOURNAL_COMPACT_BYTES (the background process being down, or far behind)
WORKER_COMPACT_FACTOR = 4
# Python 3.14's collector is incremental, with other generations and thresholds: there the
# worker leaves collection to Python (the pauses this works around are what it was made for).
GENERATIONAL_GC = sys.version_info < (3, 14)


def pre_fork(server, worker):
    # Objects loaded so far live as long as the process: keep the collector from walking (and
    # so copying and pausing on) the whole store in every worker.
    gc.freeze()


def collect_between_requests():
    """A full collection, then freeze what survived; once Python would have made a full collection.

    Records a worker replays from the other workers' commits live as long as the process; left
    in the oldest generation, every full collection walks all of them again, a pause that grows
    with every order the shop takes (30 to 110 ms per worker after some 40,000 orders). Called
    between two requests, when nothing of a request is left but garbage, this frees that
    garbage and freezes the rest, so the next full collection walks only what came since.
    Returns True when it collected."""
    if gc.get_count()[2] < YOUNG_COLLECTIONS_PER_FULL:
        return False
    gc.collect()
    gc.freeze()
    return True


class SyncWorker(sync.SyncWorker):
    """gunicorn's sync worker whose full garbage collections happen between requests, not in them.

    Young collections stay automatic; the full one is left to collect_between_requests, run
    once each request is answered and its connection closed. A worker making a full
    collection does not accept meanwhile: the next client goes to another worker."""

    def init_process(self):
        if GENERATIONAL_GC:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, NEVER)
        super().init_process()

    def handle(self, listener, client, addr):
        try:
            super().handle(listener, client, addr)
        finally:
            if GENERATIONAL_GC:
                collect_between_requests()


worker_class = SyncWorker  # gunicorn logs "Using worker: SyncWorker"


def _run_stream(app):
    from app import stream
    stream.serve(app, stream.ADDRESS)


def _run_sender(app):
    from app import sender
    sender.serve_forever(app)


def when_ready(server):
    """Fork, beside the workers, the supervisors (see scripts/background.py) of the background
    process (jobs and tasks, never in a request), the stream server (section 13's live stream:
    the workers hand each stream's socket to it, see app/stream.py; set before the workers fork,
    so each knows its address) and the webhook sender."""
    app = server.app.wsgi()
    from scripts import background
    fds = [listener.fileno() for listener in server.LISTENERS]
    if app.config.get("STREAM", True):
        from app import stream
        stream.ADDRESS = stream.new_address()
        server.stream_pid = background.start_beside(app, fds, _run_stream, "stream server")
        server.log.info("Stream server supervisor: %s", server.stream_pid)
    if app.config.get("WEBHOOK_SENDER", True):
        server.sender_pid = background.start_beside(app, fds, _run_sender, "webhook sender")
        server.log.info("Webhook sender supervisor: %s", server.sender_pid)
    in_charge = app.config.get("BACKGROUND", True)
    if in_charge:
        server.background_pid = background.start_beside(app, fds)
        server.log.info("Background process supervisor: %s", server.background_pid)
    # for the workers alone (forked after the others): they leave compaction to the background
    # process, and, one request thread each, replay others' commits while they wait for the
    # write lock (JsonFileStore.catch_up_while_waiting)
    store = app.extensions.get("backroom.store")  # None in the benchmark's floor apps
    if hasattr(store, "catch_up_while_waiting"):
        store.catch_up_while_waiting = True
        if in_charge:
            store.commit_compact_factor = WORKER_COMPACT_FACTOR


def on_exit(server):
    from scripts import background
    for name in ("background_pid", "stream_pid", "sender_pid"):
        pid = getattr(server, name, None)
        if pid:
            background.stop(pid)
