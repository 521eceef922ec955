"""Several processes on one JSON store (no server): nothing lost, no oversell, every commit seen at once."""
import json
import time
from contextlib import contextmanager

import pytest

from tests.processes import CTX, TIMEOUT, run_processes

from . import store_agents
from .store_agents import add_products, open_store, product_count

SMALL_JOURNAL = 4096  # compact every few commits, so caches meet replaced files all the time


@contextmanager
def idle_reader(data_dir):
    """store_agents.idle_reader in its own process; yields ask(*message) -> its answer, and stops it."""
    parent, child = CTX.Pipe()
    reader = CTX.Process(target=store_agents.idle_reader, args=(child, str(data_dir)))
    reader.start()

    def ask(*message):
        parent.send(message)
        return parent.recv()
    try:
        yield ask
        ask("stop")
        reader.join(timeout=TIMEOUT)
    finally:
        if reader.is_alive():
            reader.kill()
            reader.join()


def ledger_sum(store, product_id):
    with store.reader() as uow:
        return sum(m["delta"] for m in uow.movements.for_product(product_id)), uow.products.get(product_id)


def test_increments_from_four_processes_are_never_lost(tmp_path):
    store = open_store(tmp_path)
    [product_id] = add_products(store, 1, 5)
    barrier = CTX.Barrier(4)

    run_processes(store_agents.increment,
                  [(barrier, str(tmp_path), product_id, 40, SMALL_JOURNAL if n % 2 else store_agents.NEVER_COMPACT)
                   for n in range(4)])

    total, product = ledger_sum(store, product_id)
    assert product["stock"] == 5 + 4 * 40 == total
    assert product["version"] == 1 + 4 * 40
    fresh = open_store(tmp_path)
    assert ledger_sum(fresh, product_id) == (total, product)


def test_increments_from_processes_catching_up_while_they_wait_are_never_lost(tmp_path):
    """make serve's workers replay others' commits while they wait for the write lock (a helper
    thread); with compactions replacing the journal under them, nothing is lost or applied twice."""
    store = open_store(tmp_path)
    [product_id] = add_products(store, 1, 5)
    barrier = CTX.Barrier(4)

    done = run_processes(store_agents.increment_catching_up,
                         [(barrier, str(tmp_path), product_id, 60, SMALL_JOURNAL if n % 2 else store_agents.NEVER_COMPACT)
                          for n in range(4)])

    assert sum(caught_up for _, caught_up in done) > 0  # the helpers did replay while their process waited
    total, product = ledger_sum(store, product_id)
    assert product["stock"] == 5 + 4 * 60 == total
    assert product["version"] == 1 + 4 * 60
    assert ledger_sum(open_store(tmp_path), product_id) == (total, product)


@pytest.mark.parametrize("catch_up", [False, True], ids=["waiting", "catching-up"])
def test_buyers_in_four_processes_never_oversell(tmp_path, catch_up):
    store = open_store(tmp_path)
    [product_id] = add_products(store, 1, 30)
    barrier = CTX.Barrier(4)

    taken = run_processes(store_agents.buy_until_sold_out,
                          [(barrier, str(tmp_path), product_id, SMALL_JOURNAL, catch_up) for _ in range(4)])

    assert sum(taken) == 30
    total, product = ledger_sum(store, product_id)
    assert product["stock"] == 0 == total
    with store.reader() as uow:
        assert len([m for m in uow.movements.for_product(product_id) if m["reason"] == "sale"]) == 30


def test_every_process_sees_the_commit_another_just_made(tmp_path):
    """Three processes pass a number round a ring: each must read exactly that many products at once."""
    inboxes = [CTX.Queue() for _ in range(3)]
    last = 60
    inboxes[0].put(0)

    outcomes = run_processes(store_agents.ring,
                             [(str(tmp_path), inboxes[n], inboxes[(n + 1) % 3], last, SMALL_JOURNAL)
                              for n in range(3)])

    assert [miss for misses, _ in outcomes for miss in misses] == []
    assert sum(turns for _, turns in outcomes) == last + 1
    assert product_count(open_store(tmp_path)) == last


def test_an_idle_reader_notices_compactions_done_by_another_process(tmp_path):
    """A worker may sit idle while others compact many times; ext4 then hands the new journal the inode
    number of one it remembers. It must still see every commit, and its next commit must lose nothing."""
    writer = open_store(tmp_path)
    with idle_reader(tmp_path) as ask:
        expected = 0
        for round_number in range(30):
            writer.checkpoint()
            add_products(writer, 1, 1, prefix=f"W{round_number}")
            expected += 1
            assert ask("open") == expected
        for extra in range(5):  # the last journal outgrows what every idle store read of its own
            add_products(writer, 1, 1, prefix=f"X{extra}")
            expected += 1
        assert ask("counts") == [expected] * 30
        for index in range(0, 30, 3):  # stale stores commit: nothing anyone committed may be cut off
            assert ask("add", index, f"Y{index}") is True
            expected += 1
    fresh = open_store(tmp_path)
    assert product_count(fresh) == expected
    assert product_count(writer) == expected


def test_a_process_a_little_behind_follows_on_after_compaction_without_rereading_everything(tmp_path):
    """Compaction keeps an overlap of journal lines: a worker a few commits behind reads on from
    where it was; only one further behind than the overlap re-reads every snapshot file."""
    writer = open_store(tmp_path, compact_bytes=32768)  # its overlap: 8 KiB, a handful of lines
    with idle_reader(tmp_path) as ask:
        assert ask("open") == 0
        add_products(writer, 3, 1, prefix="near")
        writer.checkpoint()
        add_products(writer, 2, 1, prefix="after")
        assert ask("counts") == [5]
        assert ask("full_loads") == [0]

        for n in range(40):  # far more than the overlap holds
            add_products(writer, 1, 1, prefix=f"far{n}")
        writer.checkpoint()
        assert ask("counts") == [45]
        assert ask("full_loads") == [1]


def test_commits_go_on_while_another_process_compacts(tmp_path):
    """Compaction holds the write lock only to swap the journal; what others commit meanwhile is kept."""
    store = open_store(tmp_path)
    add_products(store, 5, 1, prefix="before")
    results = CTX.Queue()
    compactor = CTX.Process(target=store_agents.slow_compactor, args=(results, str(tmp_path), 0.8))
    compactor.start()
    try:
        time.sleep(0.5)  # the compactor has started writing its (slow) snapshot files (those changed)
        slowest, committed = 0.0, 0
        while compactor.is_alive() and committed < 200:
            started = time.monotonic()
            add_products(store, 1, 1, prefix=f"during{committed}")
            slowest = max(slowest, time.monotonic() - started)
            committed += 1
        compaction = results.get(timeout=TIMEOUT)
        compactor.join(timeout=TIMEOUT)
    finally:
        if compactor.is_alive():
            compactor.kill()
            compactor.join()
    assert compactor.exitcode == 0
    assert compaction > 2.5 and committed >= 5
    assert slowest < compaction / 2, "a commit waited for the whole compaction"
    assert product_count(store) == 5 + committed
    assert product_count(open_store(tmp_path)) == 5 + committed


def test_the_commit_that_fills_the_journal_does_not_wait_for_the_compaction(tmp_path):
    """It compacts in a background thread: its client, and its next ones, are answered meanwhile."""
    open_store(tmp_path)
    [(trigger, during, waited_at_close, committed)] = run_processes(
        store_agents.commit_past_the_threshold, [(str(tmp_path), 0.3)])
    assert trigger is not None, "no commit started a compaction"
    assert trigger < 1.0 and during and max(during) < 1.0, (trigger, during)
    store = open_store(tmp_path)
    assert product_count(store) == committed
    header = json.loads((tmp_path / "journal.jsonl").read_bytes().split(b"\n", 1)[0])
    assert header["base_tx"] > 0, "the compaction never finished"


def test_a_compaction_that_lost_the_race_never_writes_older_snapshots(tmp_path):
    """A background compaction is held back while another process compacts a newer state and swaps
    the journal (keeping little overlap); when it goes on, it must not write its older snapshots."""
    store = open_store(tmp_path, compact_bytes=1024)  # its compactions keep almost no overlap
    results, go = CTX.Queue(), CTX.Event()
    late = CTX.Process(target=store_agents.late_compactor, args=(results, str(tmp_path), go))
    late.start()
    try:
        committed_by_late = results.get(timeout=TIMEOUT)
        add_products(store, 5, 1, prefix="newer")
        store.checkpoint()
        go.set()
        assert results.get(timeout=TIMEOUT) == "done"
        late.join(timeout=TIMEOUT)
    finally:
        if late.is_alive():
            late.kill()
            late.join()
    assert late.exitcode == 0
    assert product_count(open_store(tmp_path)) == committed_by_late + 5
