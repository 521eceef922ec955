"""Issue 18: the kept orders, search index and matches of a collection answer every list exactly
as a walk over all its records does (evaluate), and a commit to the collection is seen at once."""
import random

import pytest

from app.storage import repositories
from app.storage.base import Query
from app.storage.memory import MemoryStore
from app.storage.repositories import ProductRepository, Listing, evaluate

WORDS = ("Eliot", "eliot", "march", "Dickens", "ÉMILE", "zola", "the", "x", "9780")
SORTS = ([], [("id", True)], [("price", False)], [("price", True)], [("title", True)],
         [("title", False), ("price", True)], [("stock", False), ("title", False)],
         [("author", False)], [("id", True), ("title", False)])


def _products(n, rng):
    out = []
    for i in range(n):
        out.append({
            "id": f"p{i:05d}", "sku": f"SKU-{i}", "title": rng.choice(("Middlemarch", "The Road", "Nana",
                                                                       "Bleak House", None, "the end")),
            "author": rng.choice(("George Eliot", "Charles Dickens", "Émile Zola", None, "")),
            "isbn": rng.choice((None, f"9780{i:09d}")), "barcode": None,
            "kind": rng.choice(("book", "general")), "status": rng.choice(("active", "draft")),
            "price": rng.choice(("1.50", "12.00", "9.99", "100.00", None)),
            "stock": rng.randint(0, 9), "low_stock_threshold": rng.randint(0, 5),
            "created_at": f"2026-11-{1 + i % 28:02d}T10:00:00Z"})
    return out


def _queries(rng):
    for _ in range(300):
        filters = {}
        if rng.random() < 0.4:
            filters["kind"] = rng.choice(("book", "general"))
        if rng.random() < 0.3:
            filters["low_stock"] = rng.choice((True, False))
        if rng.random() < 0.2:
            filters["status"] = rng.choice((["active"], ["active", "draft"], "draft"))
        yield Query(filters=filters, q=rng.choice((None, None, *WORDS)),
                    q_fields=("title", "author", "isbn", "sku", "barcode"),
                    since=rng.choice((None, None, "2026-11-10T00:00:00Z")),
                    until=rng.choice((None, None, "2026-11-20T00:00:00Z")),
                    sort=list(rng.choice(SORTS)), limit=rng.choice((1, 5, 50)),
                    offset=rng.choice((0, 3, 17, 100, 1000)))


@pytest.mark.parametrize("bounded", [False, True])
def test_kept_listing_answers_as_a_walk_of_every_record(bounded, monkeypatch):
    if bounded:  # what is kept is forgotten every few questions: the answers stay the same
        monkeypatch.setattr(repositories, "KEPT_MOST", 3)
        monkeypatch.setattr(repositories, "KEPT_REFERENCES", 0)
        monkeypatch.setattr(repositories, "KEPT_PER_RECORD", 2)
    rng = random.Random(18)
    records = _products(300, rng)
    kept = {}
    listing = Listing(kept, lambda: records, ProductRepository.numeric, ProductRepository.special)
    for query in _queries(rng):
        expected = evaluate(records, query, ProductRepository.numeric, ProductRepository.special)
        for _ in range(2):  # built, then from what was kept
            page, total = listing.page(query)
            assert ([r["id"] for r in page], total) == ([r["id"] for r in expected[0]], expected[1]), query


@pytest.mark.parametrize("monotone", [True, False])
def test_a_time_window_answers_as_a_walk_of_every_record(monotone):
    rng = random.Random(monotone)
    records = _products(200, rng)
    for n, r in enumerate(records):  # in creation order, times that never go back (or do)
        r["created_at"] = f"2026-11-{1 + n // 10:02d}T10:00:00Z"
    if not monotone:
        records[50]["created_at"] = "2026-11-01T09:00:00Z"
    listing = Listing({}, lambda: records, ProductRepository.numeric, ProductRepository.special)
    for since in (None, "2026-11-01T10:00:00Z", "2026-11-05", "2026-11-05T10:00:00Z", "2026-12-01"):
        for until in (None, "2026-11-01T10:00:00Z", "2026-11-09T10:00:00Z", "2026-11-30T00:00:00Z", "2026-10-01"):
            for sort in ([], [("id", True)], [("id", False)]):
                for offset in (0, 5, 15, 95, 500):
                    query = Query(since=since, until=until, sort=sort, limit=10, offset=offset)
                    expected = evaluate(records, query)
                    page, total = listing.page(query)
                    assert ([r["id"] for r in page], total) == ([r["id"] for r in expected[0]], expected[1]), query


def test_a_commit_to_the_collection_is_listed_at_once():
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.products.add({"id": "p1", "sku": "A", "title": "Alpha", "kind": "general", "status": "active",
                          "price": "2.00", "stock": 1, "low_stock_threshold": 0})
        uow.commit()
    query = Query(sort=[("price", False)], q="alpha", q_fields=("title",))
    with store.reader() as uow:
        assert [p["id"] for p in uow.products.list(query)[0]] == ["p1"]
    with store.unit_of_work() as uow:
        uow.products.add({"id": "p2", "sku": "B", "title": "Alphabet", "kind": "general", "status": "active",
                          "price": "1.00", "stock": 1, "low_stock_threshold": 0})
        # its own staged record is seen by the unit of work that wrote it
        assert [p["id"] for p in uow.products.list(query)[0]] == ["p2", "p1"]
        uow.commit()
    with store.reader() as uow:
        assert [p["id"] for p in uow.products.list(query)[0]] == ["p2", "p1"]
        assert uow.products.list(Query(sort=[("price", True)], limit=1, offset=1))[1] == 2
