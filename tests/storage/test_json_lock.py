"""The JSON store's write lock: a writer waits for it, gives up at its deadline with the store
unchanged, and leaves the process's own interval timer as it found it.

The lock is held here as another process would hold it (tests.processes.LockHolder)."""
import signal

import pytest

from app.services import catalog
from app.storage.base import LockTimeout
from app.storage.jsonfile import JsonFileStore
from tests.processes import LockHolder


@pytest.fixture
def store(tmp_path):
    store = JsonFileStore(str(tmp_path / "data"), lock_timeout=5.0)
    yield store
    store.close()


def add_product(store, sku):
    with store.unit_of_work() as uow:
        product = catalog.create_product(uow, {"sku": sku, "title": sku, "price": "1.00", "stock": 1})
        uow.commit()
    return product


def product_count(store):
    with store.reader() as uow:
        return uow.products.count()


def test_a_writer_waits_for_the_lock_and_commits_once_it_is_let_go(store):
    holder = LockHolder(store.dir)
    timer = holder.release_after(0.2)
    add_product(store, "WAITED")
    timer.join()
    assert product_count(store) == 1


def test_a_writer_that_cannot_get_the_lock_in_time_is_told_so_and_changes_nothing(store):
    store.lock_timeout = 0.2
    holder = LockHolder(store.dir)
    try:
        with pytest.raises(LockTimeout):
            add_product(store, "TOO-LATE")
    finally:
        holder.release()
    assert product_count(store) == 0
    add_product(store, "AFTERWARDS")  # the lock works again once it is free
    assert product_count(store) == 1


def test_a_wait_puts_back_the_interval_timer_and_handler_the_process_had(store):
    """pytest-timeout, for one, keeps its deadline in SIGALRM's interval timer."""
    fired = []

    def handler(signum, frame):
        fired.append(signum)
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        holder = LockHolder(store.dir)
        timer = holder.release_after(0.2)
        add_product(store, "WAITED")
        timer.join()
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20.0 < left <= 30.0
        assert signal.getsignal(signal.SIGALRM) is handler and fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
