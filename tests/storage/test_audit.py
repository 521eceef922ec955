"""The audit log's storage on every backend: entries commit with their change or not at all, read newest
first with the section's filters, and what a unit of work wrote is seen as it was before and after."""
import pytest

from app.services import audit
from app.storage.base import UNKNOWN, Query
from tests.storage.test_contract import product, shop  # noqa: F401 - the fixture, on every backend
from tests.unit.builders import read, run as commit


def _entry(action="product.update", at="2026-11-21T10:15:00.123Z", **fields):
    record = audit.entry(action, "product", fields.pop("resource_id", "p1"), {"price": ["1.00", "2.00"]},
                         None, {"user_id": "u1", "username": "maria", "role": "manager"},
                         {"method": "PATCH", "path": "/api/products/p1", "status": 200, "ip": "203.0.113.7",
                          "request_id": fields.pop("request_id", "req-1")})
    record["at"] = at
    record.update(fields)
    return record


def test_an_entry_commits_with_its_change_or_not_at_all(shop):  # noqa: F811
    record = product()

    def change_then_fail(uow):
        uow.products.add(record)
        uow.audit.append(_entry())
        raise RuntimeError("the request failed")
    with pytest.raises(RuntimeError):
        commit(shop, change_then_fail)
    assert read(shop, lambda uow: uow.audit.count()) == 0
    kept = _entry()
    commit(shop, lambda uow: [uow.products.add(record), uow.audit.append(kept)])
    assert read(shop, lambda uow: uow.audit.get(kept["id"])) == kept
    assert read(shop, lambda uow: uow.audit.count()) == 1


def test_the_log_reads_newest_first_with_its_filters_to_the_millisecond(shop):  # noqa: F811
    made = [
        _entry("product.create", "2026-11-21T10:15:00.100Z", resource_id="p1"),
        _entry("product.update", "2026-11-21T10:15:00.900Z", resource_id="p1", request_id="req-2"),
        _entry("order.pay", "2026-11-21T23:59:59.999Z", resource_id="o1", resource_type="order",
               actor={"storefront_key_id": "sk1"}, actor_id="sk1"),
        _entry("auth.forbidden", "2026-11-22T00:00:00.000Z", resource_id=None, resource_type=None,
               actor=None, actor_id=None),
    ]
    for record in made:
        commit(shop, lambda uow, r=record: uow.audit.append(r))

    def ids(**query):
        page, total = read(shop, lambda uow: uow.audit.list(Query(**query)))
        assert total == len(page)
        return [made.index(r) for r in page]
    assert ids() == [3, 2, 1, 0]
    assert ids(sort=[("id", False)]) == [0, 1, 2, 3]
    assert ids(filters={"action": ["product.create", "order.pay"]}) == [2, 0]
    assert ids(filters={"resource_type": "product", "resource_id": "p1"}) == [1, 0]
    assert ids(filters={"actor_id": "sk1"}) == [2]
    assert ids(filters={"request_id": "req-2"}) == [1]
    # bounds are to the second and include both ends: 10:15:00 holds .100 and .900
    assert ids(since="2026-11-21T10:15:00Z", until="2026-11-21T10:15:00Z") == [1, 0]
    assert ids(until="2026-11-21T23:59:59Z") == [2, 1, 0]
    assert ids(since="2026-11-22T00:00:00Z") == [3]
    page, total = read(shop, lambda uow: uow.audit.list(Query(limit=2, offset=1)))
    assert [made.index(r) for r in page] == [2, 1] and total == 4
    streamed = read(shop, lambda uow: list(uow.audit.iterate(Query(filters={"resource_id": "p1"}))))
    assert streamed == [made[1], made[0]]
    assert read(shop, lambda uow: uow.audit.get("no-such-entry")) is None


def test_what_a_unit_of_work_wrote_is_seen_as_it_was_and_as_it_is(shop):  # noqa: F811
    kept, gone = product(price="10.00"), product()
    commit(shop, lambda uow: [uow.products.add(kept), uow.products.add(gone)])
    fresh = product()

    def change(uow):
        record = uow.products.get(kept["id"])
        record["price"] = "12.50"
        uow.products.update(record)
        uow.products.get(gone["id"])
        uow.products.delete(gone["id"])
        uow.products.add(fresh)
        return uow.changed_records()
    with shop.unit_of_work() as uow:
        changed = change(uow)
    by_id = {rid: (collection, before, after) for collection, rid, before, after in changed}
    collection, before, after = by_id[kept["id"]]
    assert collection == "products"
    assert audit.changes_between(before, after) == {"price": ["10.00", "12.50"]}
    assert by_id[gone["id"]][2] is None and by_id[gone["id"]][1]["id"] == gone["id"]
    assert by_id[fresh["id"]][1] is None and by_id[fresh["id"]][2]["sku"] == fresh["sku"]
    assert all(before is not UNKNOWN for _, before, _ in by_id.values())


@pytest.mark.backends("json")
def test_an_entry_is_found_by_id_in_any_segment_of_a_long_log(shop):  # noqa: F811
    shop.segment_bytes = 2048  # a new segment every few entries
    made = [_entry(at=f"2026-11-21T10:{n // 60:02d}:{n % 60:02d}.000Z") for n in range(60)]
    for start in range(0, 60, 6):
        commit(shop, lambda uow, part=made[start:start + 6]: [uow.audit.append(r) for r in part])
    assert len(shop.log_files.segments("audit")) > 5
    for record in (made[0], made[1], made[29], made[30], made[58], made[59]):
        assert read(shop, lambda uow, r=record: uow.audit.get(r["id"])) == record
    assert read(shop, lambda uow: uow.audit.get(made[0]["id"][:10] + "z" * 16)) is None
    page, total = read(shop, lambda uow: uow.audit.list(Query(limit=3, offset=56)))
    assert page == [made[3], made[2], made[1]] and total == 60
