"""The worker's garbage collection policy (scripts/gunicorn_conf.py): full collections between
requests, then a freeze of what survived, so the next one walks only what came since."""
import gc
import weakref

import pytest

from scripts import gunicorn_conf


class Node:
    """A plain object the collector tracks."""


@pytest.fixture
def collector():
    gc.collect()
    yield
    gc.unfreeze()  # nothing else in a test process freezes


def cycle():
    node = Node()
    node.me = node
    return node


def test_between_requests_nothing_is_done_until_python_would_make_a_full_collection(collector):
    before = gc.get_freeze_count()
    kept = cycle()
    gone = weakref.ref(kept)
    for _ in range(gunicorn_conf.YOUNG_COLLECTIONS_PER_FULL - 1):
        gc.collect(1)  # each young collection counts towards the next full one
    del kept
    assert gunicorn_conf.collect_between_requests() is False
    assert gone() is not None and gc.get_freeze_count() == before  # left for later, nothing frozen


def test_a_full_collection_frees_the_garbage_and_freezes_only_what_lives_on(collector):
    live = [Node() for _ in range(1000)]
    kept = cycle()
    gone = weakref.ref(kept)
    for _ in range(gunicorn_conf.YOUNG_COLLECTIONS_PER_FULL):
        gc.collect(1)  # the cycle, still referenced, moves to the oldest generation
    del kept  # now garbage that only a full collection finds
    before = gc.get_freeze_count()
    assert gunicorn_conf.collect_between_requests() is True
    assert gone() is None  # freed, not frozen with the rest
    assert gc.get_freeze_count() >= before + len(live)
    assert not any(node is live[0] for node in gc.get_objects())  # frozen: no collection walks it
    assert gunicorn_conf.collect_between_requests() is False  # and the count starts again
