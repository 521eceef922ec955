"""The background process's loop through the in-memory store: jobs run once, failures come back later, tasks keep their pace."""
import pytest

from app import background
from app.background import Background, job, retry_delay, task
from app.storage.base import Query


class FakeApp:
    """What Background needs of the Flask app: the store, a config and an app context."""

    def __init__(self, store):
        self.extensions = {"backroom.store": store}
        self.config = {"REFRESH_TOKEN_TTL": 3600, "SNAPSHOT_SETTLE_SECONDS": 2.0,
                       "SNAPSHOT_MAX_LAG_SECONDS": 30.0}

    def app_context(self):
        from contextlib import nullcontext
        return nullcontext()


@pytest.fixture
def registry(monkeypatch):
    """Job kinds and tasks registered by a test stay in that test."""
    monkeypatch.setattr(background, "JOBS", {})
    monkeypatch.setattr(background, "TASKS", [])
    return background


def enqueue(store, kind, payload=None):
    with store.unit_of_work() as uow:
        queued = uow.jobs.enqueue(kind, payload)
        uow.commit()
    return queued


def jobs_left(store):
    with store.reader() as uow:
        return uow.jobs.list(Query(limit=200))[0]


def test_a_queued_job_runs_once_and_is_forgotten(memory_store, registry):
    ran = []
    job("greet")(lambda app, payload: ran.append(payload["name"]))
    enqueue(memory_store, "greet", {"name": "Ada"})
    runner = Background(FakeApp(memory_store), "test")
    runner.run_once()
    runner.run_once()
    assert ran == ["Ada"] and jobs_left(memory_store) == []


def test_a_failing_job_is_tried_again_later_then_marked_failed(memory_store, registry):
    calls = []

    def flaky(app, payload):
        calls.append(1)
        raise RuntimeError("mail server down")
    job("flaky", max_attempts=2)(flaky)
    enqueue(memory_store, "flaky")
    runner = Background(FakeApp(memory_store), "test")
    runner.run_once()
    [waiting] = jobs_left(memory_store)
    assert waiting["status"] == "queued" and waiting["attempts"] == 1
    assert waiting["last_error"] == "RuntimeError: mail server down" and waiting["claimed_by"] is None
    runner.run_once()
    assert len(calls) == 1, "a failed job waits for its next attempt"
    with memory_store.unit_of_work() as uow:  # its time has come
        record = uow.jobs.get(waiting["id"])
        record["run_at"] = "2000-01-01T00:00:00Z"
        uow.jobs.update(record)
        uow.commit()
    runner.run_once()
    [failed] = jobs_left(memory_store)
    assert len(calls) == 2 and failed["status"] == "failed" and failed["attempts"] == 2


def test_a_job_taken_over_after_its_lease_is_reported_by_its_new_holder(memory_store, registry):
    job("slow")(lambda app, payload: None)
    enqueue(memory_store, "slow")
    first = Background(FakeApp(memory_store), "first")
    [claimed] = first.claim()
    with memory_store.unit_of_work() as uow:  # the lease ran out and another process took it
        record = uow.jobs.get(claimed["id"])
        record["claimed_by"] = "second"
        uow.jobs.update(record)
        uow.commit()
    first.run_job(claimed)
    [still] = jobs_left(memory_store)
    assert still["claimed_by"] == "second"


def test_retry_delays_grow_and_stop_at_an_hour():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(30) == 3600


def test_a_task_runs_every_so_many_seconds_and_a_failing_one_does_not_stop_the_others(memory_store, registry):
    ran = []
    task(10, "tidy")(lambda app: ran.append("tidy"))

    def broken(app):
        raise RuntimeError("boom")
    task(1, "broken")(broken)
    runner = Background(FakeApp(memory_store), "test")
    runner.run_tasks(now=100.0)
    runner.run_tasks(now=105.0)
    runner.run_tasks(now=110.5)
    assert ran == ["tidy", "tidy"]


def test_unknown_job_kinds_are_left_for_a_process_that_knows_them(memory_store, registry):
    job("known")(lambda app, payload: None)
    enqueue(memory_store, "from-a-newer-release")
    Background(FakeApp(memory_store), "test").run_once()
    [left] = jobs_left(memory_store)
    assert left["status"] == "queued" and left["attempts"] == 0


def test_dead_sessions_are_forgotten_and_live_ones_kept(memory_store):
    from app.services import users
    with memory_store.unit_of_work() as uow:
        live = uow.sessions.add({"id": "live", "user_id": "u", "refresh_id": "r", "revoked": False})
        uow.sessions.add({"id": "revoked", "user_id": "u", "refresh_id": "r", "revoked": True})
        uow.sessions.add({"id": "stale", "user_id": "u", "refresh_id": "r", "revoked": False,
                          "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"})
        uow.commit()
    with memory_store.unit_of_work() as uow:
        assert users.forget_dead_sessions(uow, refresh_ttl=3600) == 2
        uow.commit()
    with memory_store.reader() as uow:
        assert [s["id"] for s in uow.sessions.list(Query())[0]] == [live["id"]]


class CountingStore:
    """The in-memory store, counting the write transactions begun on it."""

    def __init__(self):
        from app.storage.memory import MemoryStore
        self.inner, self.writes = MemoryStore(), 0

    def unit_of_work(self):
        self.writes += 1
        return self.inner.unit_of_work()

    def reader(self):
        return self.inner.reader()


def test_a_round_with_nothing_due_takes_no_write_lock(registry):
    @job("tick")
    def tick(app, payload):
        pass
    store = CountingStore()
    runner = Background(FakeApp(store))
    assert runner.run_jobs() == 0 and store.writes == 0
    with store.inner.unit_of_work() as uow:
        uow.jobs.enqueue("tick", {}, run_at="2999-01-01T00:00:00Z")  # queued, not yet due
        uow.commit()
    assert runner.run_jobs() == 0 and store.writes == 0
    with store.inner.unit_of_work() as uow:
        uow.jobs.enqueue("tick", {})
        uow.commit()
    assert runner.run_jobs() == 1 and store.writes > 0
