"""The storage contract for section 10, on every backend: vendors, supply links, contacts and
purchase orders are kept exactly, found by their keys and look-ups, and listed as evaluate() says."""
import pytest

from app.storage.base import Query, UniqueViolation, new_id
from app.storage.repositories import PurchaseOrderRepository
from tests.unit.builders import read, run as commit

from .test_contract import T, assert_lists_like_evaluate, product, shop  # noqa: F401 (shop is a fixture)


def vendor(**fields):
    record = {"id": new_id(), "name": f"Vendor {new_id()[-6:]}", "contact_name": None, "email": None,
              "phone": None, "address": None, "specialty": None, "notes": None, "status": "active"}
    record.update(fields)
    return record


def link(vendor_record, product_id, **fields):
    record = {"id": new_id(), "key": f"{vendor_record['id']}:{product_id}", "vendor_id": vendor_record["id"],
              "product_id": product_id, "vendor_sku": None, "cost": None, "lead_time_days": None,
              "min_order_quantity": 1, "pack_size": 1, "is_primary": False}
    record.update(fields)
    return record


def purchase_order(number, vendor_id, lines, **fields):
    record = {"id": new_id(), "number": number, "vendor_id": vendor_id, "status": "draft",
              "lines": [{"product_id": pid, "sku": sku, "title": title, "vendor_sku": None, "quantity": q,
                         "received_quantity": 0, "unit_cost": "5.20", "line_total": "62.40"}
                        for pid, sku, title, q in lines],
              "subtotal": "62.40", "currency": "EUR", "expected_date": None, "notes": None, "ordered_at": None,
              "events": [{"status": "draft", "at": "2026-11-21T10:15:00Z", "user_id": "u1", "note": None}]}
    record.update(fields)
    return record


def test_purchasing_records_come_back_exactly_as_they_were_given(shop):
    v = vendor(name="Penguin Trade", email="orders@penguin.example", notes="line\nbreak")
    ln = link(v, "p1", vendor_sku="PEN-0141", cost="5.20", lead_time_days=7, is_primary=True)
    contact = {"id": new_id(), "vendor_id": v["id"], "product_id": None, "contact_type": "email",
               "message": "Asked for the spring list “soon”", "user_id": "u1", "created_at": T[0]}
    po = purchase_order(1, v["id"], [("p1", "SKU-1", "Title", 12)], expected_date="2026-12-01",
                        ordered_at="2026-11-21T11:00:00Z", notes="spring restock")
    po["events"].append({"status": "ordered", "at": "2026-11-21T11:00:00Z", "user_id": "u1", "note": "by email"})
    p = product(on_order=12, reorder_quantity=None)

    def write(uow):
        uow.vendors.add(v)
        uow.supply_links.add(ln)
        uow.contacts.add(contact)
        uow.purchase_orders.add(po)
        uow.products.add(p)
    commit(shop, write)
    with shop.reader() as uow:
        for repo, record in ((uow.vendors, v), (uow.supply_links, ln), (uow.contacts, contact),
                             (uow.purchase_orders, po), (uow.products, p)):
            got = repo.get(record["id"])
            assert got == record and list(got) == list(record)
    assert "version" not in contact


def test_vendor_names_are_unique_in_any_case_and_a_link_key_once(shop):
    v = commit(shop, lambda uow: uow.vendors.add(vendor(name="Penguin Trade")))
    with pytest.raises(UniqueViolation) as err:
        commit(shop, lambda uow: uow.vendors.add(vendor(name="PENGUIN trade")))
    assert err.value.field == "name"
    commit(shop, lambda uow: uow.supply_links.add(link(v, "p1")))
    with shop.unit_of_work() as uow:
        with pytest.raises(UniqueViolation) as err:
            uow.supply_links.add(link(v, "p1"))
        uow.supply_links.add(link(v, "p2"))  # the unit of work is still usable
        uow.commit()
    assert err.value.field == "key"
    with shop.reader() as uow:
        assert uow.supply_links.find_by_key(f"{v['id']}:p2")["product_id"] == "p2"
        assert uow.supply_links.find_by_key(f"{v['id']}:p3") is None
        assert uow.vendors.find_by_name("penguin TRADE")["id"] == v["id"]


def test_links_are_found_per_product_and_per_vendor_oldest_first_and_contacts_per_vendor(shop):
    a, b = commit(shop, lambda uow: [uow.vendors.add(vendor()), uow.vendors.add(vendor())])
    links = [link(b, "p1"), link(a, "p1", is_primary=True), link(a, "p2")]
    commit(shop, lambda uow: [uow.supply_links.add(r) for r in links])
    contacts = [{"id": new_id(), "vendor_id": v["id"], "product_id": pid, "contact_type": kind, "message": m,
                 "user_id": None, "created_at": T[i]}
                for i, (v, pid, kind, m) in enumerate(((a, None, "email", "Spring list"), (b, "p1", "phone", "late"),
                                                       (a, "p2", "in_person", "At the fair")))]
    commit(shop, lambda uow: [uow.contacts.add(r) for r in contacts])
    with shop.reader() as uow:
        assert [r["vendor_id"] for r in uow.supply_links.for_product("p1")] == [b["id"], a["id"]]
        assert [r["product_id"] for r in uow.supply_links.of_vendor(a["id"])] == ["p1", "p2"]
        assert uow.supply_links.list(Query(filters={"is_primary": True}))[0] == [links[1]]
        assert_lists_like_evaluate(uow.supply_links, links, [
            Query(filters={"vendor_id": a["id"]}), Query(filters={"vendor_id": a["id"], "is_primary": False}),
            Query(sort=[("created_at", True)]), Query(sort=[("lead_time_days", False)])])
        assert_lists_like_evaluate(uow.contacts, contacts, [
            Query(filters={"vendor_id": a["id"]}, sort=[("id", True)]),
            Query(filters={"vendor_id": a["id"], "contact_type": "in_person"}),
            Query(filters={"product_id": "p1"}), Query(q="SPRING", q_fields=("message",)),
            Query(since=T[1], until=T[2], sort=[("id", True)])])


def test_purchase_order_lists_filter_by_a_product_on_them_and_search_their_lines(shop):
    v = commit(shop, lambda uow: uow.vendors.add(vendor()))
    records = [purchase_order(n, v["id"] if n % 2 else "v-other",
                              [("p1" if n % 3 else "p2", f"SKU-{n}", ("Middlemarch", "Dune")[n % 2], n)],
                              status=("draft", "ordered", "partially_received")[n % 3],
                              notes=(None, "spring restock", "Late")[n % 3], subtotal=f"{n * 7 % 10}.00",
                              expected_date=(None, f"2026-12-0{n % 9 + 1}")[n % 2], created_at=T[n % 4])
               for n in range(1, 9)]
    commit(shop, lambda uow: [uow.purchase_orders.add(r) for r in records])
    queries = [Query(), Query(sort=[("id", True)]), Query(filters={"status": "ordered"}),
               Query(filters={"vendor_id": v["id"]}), Query(filters={"product_id": "p2"}),
               Query(filters={"product_id": "nothing"}), Query(filters={"status": ["draft", "ordered"]}),
               Query(since=T[1], until=T[2])]
    for needle in ("spring", "MIDDLE", "sku-3", "late", "nothing", "%"):
        queries.append(Query(filters={"text": needle}, sort=[("id", True)]))
        queries.append(Query(filters={"text": needle, "product_id": "p1"}))
    for name in ("number", "status", "expected_date", "subtotal", "created_at"):
        queries += [Query(sort=[(name, False)]), Query(sort=[(name, True)], limit=3, offset=1)]
    with shop.reader() as uow:
        assert_lists_like_evaluate(uow.purchase_orders, records, queries, PurchaseOrderRepository.numeric,
                                   PurchaseOrderRepository.special)


def test_products_without_on_order_are_found_for_the_start_up_step(shop):
    old, new = product(), product(on_order=0, reorder_quantity=None)
    commit(shop, lambda uow: [uow.products.add(old), uow.products.add(new)])
    found = read(shop, lambda uow: uow.products.list(Query(filters={"on_order": None}))[0])
    assert [r["id"] for r in found] == [old["id"]]
