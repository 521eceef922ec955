"""The one home for work outside requests: jobs queued in a unit of work, and tasks that run every so often.

`make serve` (through scripts/gunicorn_conf.py) forks one background process beside gunicorn's
workers, restarts it if it dies and stops it with the server; `python -m scripts.background`
runs one on its own (another machine, or a second one here). Any number may run at once:

- A **job** is a record of the `jobs` collection, queued by a service in the unit of work of
  its cause (`uow.jobs.enqueue("mail.send", {...})`), so it exists if and only if its cause
  committed. A background process claims due jobs for a lease (on PostgreSQL with
  `FOR UPDATE SKIP LOCKED`, in the JSON store under its write lock), runs each outside any
  transaction, then deletes it (done), or puts it back with a later `run_at` (failed; after
  `max_attempts` it stays as `failed`). A process killed mid-job (`kill -9`) loses nothing: its
  lease runs out and another process, or the restarted one, takes the job again; so a job runs
  at least once, and its handler must not mind running twice.
- A **task** runs every `seconds` in each background process (tidying, keeping the JSON
  store's snapshot files fresh); tasks must be safe to run in several processes at once.

Areas register their handlers here with `@job("kind")` and `@task(seconds)`.
"""
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .storage.base import timestamp

log = logging.getLogger("backroom.background")

JOBS = {}   # kind -> handler(app, payload)
TASKS = []  # Task


@dataclass
class Task:
    name: str
    seconds: float
    run: object  # run(app)


@dataclass
class JobKind:
    kind: str
    run: object  # run(app, payload)
    max_attempts: int = 10
    lease_seconds: float = 60.0


def job(kind, max_attempts=10, lease_seconds=60.0):
    """Register the handler of a job kind: handler(app, payload); raising means "try again later"."""
    def register(handler):
        JOBS[kind] = JobKind(kind, handler, max_attempts, lease_seconds)
        return handler
    return register


def task(seconds, name=None):
    """Register a task run every `seconds` in each background process: task(app)."""
    def register(function):
        TASKS.append(Task(name or function.__name__, seconds, function))
        return function
    return register


class RunAgainAt(Exception):
    """Raised by a job that keeps its own schedule (mail): run it again at `moment` (a datetime)."""

    def __init__(self, moment):
        super().__init__(moment)
        self.moment = moment


def retry_delay(attempts):
    """Seconds before a failed job's next attempt: 5 s, doubling, at most an hour."""
    return min(5 * 2 ** max(attempts - 1, 0), 3600)


class Background:
    """One background process's loop (see the module's docstring)."""

    def __init__(self, app, name=None, poll_seconds=0.5):
        self.app = app
        self.store = app.extensions["backroom.store"]
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._next_run = {}

    # ---- jobs
    def claim(self, limit=10):
        kinds = list(JOBS)
        if not kinds:
            return []
        lease = max(k.lease_seconds for k in JOBS.values())
        with self.store.reader() as uow:  # most rounds find nothing due: no write lock for those
            if not uow.jobs.any_due(kinds):
                return []
        with self.store.unit_of_work() as uow:
            claimed = uow.jobs.claim(self.name, kinds, lease, limit)
            if claimed:
                uow.commit()
        return claimed

    def run_job(self, claimed):
        kind = JOBS.get(claimed["kind"])
        error, again_at = None, None
        try:
            kind.run(self.app, claimed["payload"])
        except RunAgainAt as exc:
            again_at = exc.moment
        except Exception as exc:  # noqa: BLE001 - a failed job is tried again later, never lost
            log.warning("job %s (%s) failed: %s", claimed["id"], claimed["kind"], exc, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self.store.unit_of_work() as uow:
            current = uow.jobs.get(claimed["id"])
            if current is None or current["claimed_by"] != self.name:
                return  # taken over meanwhile (our lease ran out): the new holder reports
            if again_at is not None:
                current.update(status="queued", run_at=timestamp(again_at), claimed_by=None,
                               claimed_until=None)
                uow.jobs.update(current)
            elif error is None:
                uow.jobs.delete(current["id"])
            else:
                current["last_error"] = error
                current["claimed_by"] = current["claimed_until"] = None
                if current["attempts"] >= kind.max_attempts:
                    current["status"] = "failed"
                else:
                    current["status"] = "queued"
                    current["run_at"] = timestamp(datetime.now(timezone.utc)
                                                  + timedelta(seconds=retry_delay(current["attempts"])))
                uow.jobs.update(current)
            uow.commit()

    def run_jobs(self):
        """Claim and run due jobs until none is left; how many ran."""
        done = 0
        while not self.stopping.is_set():
            claimed = self.claim()
            if not claimed:
                return done
            for one in claimed:
                self.run_job(one)
                done += 1
        return done

    # ---- tasks
    def run_tasks(self, now=None):
        now = time.monotonic() if now is None else now
        for one in TASKS:
            if self._next_run.get(one.name, 0) > now:
                continue
            self._next_run[one.name] = now + one.seconds
            try:
                one.run(self.app)
            except Exception:  # noqa: BLE001 - a task runs again on its next turn
                log.warning("task %s failed", one.name, exc_info=True)

    def release_orphans(self):
        """Jobs claimed by a background process of this machine that is gone (kill -9) are free
        again at once, rather than when their lease runs out."""
        from .storage.base import Query
        host = socket.gethostname()
        with self.store.unit_of_work() as uow:
            claimed, _ = uow.jobs.list(Query(filters={"status": "claimed"}, limit=200))
            freed = 0
            for one in claimed:
                owner_host, _, pid = (one["claimed_by"] or "").rpartition(":")
                if owner_host == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    one["claimed_until"] = timestamp(datetime(2000, 1, 1, tzinfo=timezone.utc))
                    uow.jobs.update(one)
                    freed += 1
            if freed:
                uow.commit()
        return freed

    def run_once(self):
        with self.app.app_context():
            self.run_tasks()
            self.run_jobs()

    def run(self):
        """Until stop(): jobs and tasks, waking every poll_seconds (or when events commit)."""
        log.info("background process %s started (jobs: %s; tasks: %s)", self.name,
                 ", ".join(sorted(JOBS)) or "none", ", ".join(t.name for t in TASKS) or "none")
        try:
            self.release_orphans()
        except Exception:  # noqa: BLE001 - their leases will run out anyway
            log.warning("could not release the jobs of dead background processes", exc_info=True)
        while not self.stopping.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the store may be down for a moment: try again
                log.warning("background round failed", exc_info=True)
            self.stopping.wait(self.poll_seconds)
        with self.app.app_context():
            for one in TASKS:  # a last turn at shutdown (snapshot files written out, ...)
                if getattr(one.run, "at_shutdown", False):
                    try:
                        one.run(self.app, final=True)
                    except Exception:  # noqa: BLE001
                        log.warning("task %s failed at shutdown", one.name, exc_info=True)
        log.info("background process %s stopped", self.name)

    def stop(self, *_):
        self.stopping.set()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) is gone for our purposes
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"
    except OSError:
        return True


def at_shutdown(function):
    """Mark a task to run once more when the background process stops cleanly."""
    function.at_shutdown = True
    return function


def serve_forever(app, name=None):
    """Run the loop in this process until SIGTERM or SIGINT."""
    runner = Background(app, name)
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    runner.run()
    return runner


# ---- the built-in tasks --------------------------------------------------------------------------

@task(2.0, "snapshot files")
@at_shutdown
def keep_snapshot_files_fresh(app, final=False):
    """The JSON store's pretty-printed files follow the journal: within `SHOP_SNAPSHOT_SETTLE_SECONDS`
    of the last write, at most `SHOP_SNAPSHOT_MAX_LAG_SECONDS` behind under steady writes, and
    written out when the background process stops."""
    store = app.extensions["backroom.store"]
    if hasattr(store, "refresh_snapshots"):
        settle = 0.0 if final else app.config["SNAPSHOT_SETTLE_SECONDS"]
        store.refresh_snapshots(settle, app.config["SNAPSHOT_MAX_LAG_SECONDS"])


@task(2.0, "journal compaction")
def compact_the_journal(app):
    """The JSON store's journal is compacted here once it passes `SHOP_JOURNAL_COMPACT_BYTES`:
    rewriting every snapshot file takes seconds of CPU, which in a worker would hold up the
    requests it answers meanwhile (make serve lets workers compact only at four times the size,
    should this process be down that long)."""
    store = app.extensions["backroom.store"]
    if hasattr(store, "compact_if_due"):
        store.compact_if_due()


@task(600.0, "sessions")
def forget_dead_sessions(app):
    """Sessions that can no longer be used (revoked, or past the refresh token's lifetime) go."""
    from .services import users
    store = app.extensions["backroom.store"]
    with store.unit_of_work() as uow:
        if users.forget_dead_sessions(uow, app.config["REFRESH_TOKEN_TTL"]):
            uow.commit()


@task(2.0, "storefront holds")
def expire_storefront_holds(app):
    """Section 11: unpaid storefront orders past their hold are cancelled and their stock
    returned (the workers do the same before answering; whoever comes first does it, once).

    Like a worker it looks only when its next known deadline has come: the earliest hold it saw
    pending, or a hold's length after its last look (a hold made since ends later than that), so
    a busy store's orders are not searched every two seconds for holds that cannot be due yet."""
    from .api.storefront import run_due_holds
    run_due_holds(app)


@job("mail.send", max_attempts=1000, lease_seconds=45)
def send_mail(app, payload):
    """Hand a queued message to the mail server (or the outbox folder); its schedule is its own."""
    from . import mail
    from .services import mail as mail_service, settings
    store = app.extensions["backroom.store"]
    with store.reader() as uow:
        message = uow.outbox.get(payload["message_id"])
        shop_name = settings.effective(uow, app.config["SETTINGS_DEFAULTS"])["shop_name"]
    if message is None or message["status"] != "queued":
        return
    built = mail.build(message, app.config["MAIL_FROM"], shop_name)
    now = datetime.now(timezone.utc)
    name = f"{now.strftime('%Y%m%dT%H%M%S%f')}Z-{message['id']}.eml"
    error, permanent = None, False
    try:
        mail.deliver(built, app.config.get("SMTP"), os.path.join(app.config["DATA_DIR"], "outbox"), name)
    except mail.Refused as exc:
        error, permanent = str(exc), exc.permanent
    with store.unit_of_work() as uow:
        later = mail_service.record_attempt(uow, message["id"], error, permanent)
        uow.commit()
    if later is not None:
        raise RunAgainAt(later)


@job("password_reset.request", max_attempts=5)
def act_on_password_reset_request(app, payload):
    """Look the account up and queue its message: away from the request, so its answer and its
    time tell nothing about the account."""
    from .services import password_reset, settings
    store = app.extensions["backroom.store"]
    with store.unit_of_work() as uow:
        shop_name = settings.effective(uow, app.config["SETTINGS_DEFAULTS"])["shop_name"]
        password_reset.act_on_request(uow, payload, shop_name, app.config["RESET_TOKEN_TTL"])
        uow.commit()


@task(3600.0, "image sweep")
def sweep_image_orphans(app):
    """Section 16: image bytes no record names, older than an hour (a crash between writing the
    bytes and committing the record leaves them), go; at start-up, then hourly."""
    from .services import images
    from .storage.images import image_bytes
    store = app.extensions["backroom.store"]
    gone = images.sweep_orphans(store, image_bytes(store))
    if gone:
        log.info("removed the bytes of %d images no record names", gone)
@task(600.0, "stream tickets")
def forget_old_stream_tickets(app):
    """Section 13's stream tickets last 60 seconds: those an hour old go."""
    store = app.extensions["backroom.store"]
    cutoff = timestamp(datetime.now(timezone.utc) - timedelta(hours=1))
    with store.unit_of_work() as uow:
        uow.stream_tickets.purge_before(cutoff)
        uow.commit()
