"""Catalog rules through the in-memory store: codes, money, uniqueness, stock never edited directly."""
from decimal import Decimal

import pytest

from app.services import catalog
from app.services.errors import DuplicateValue, NotFound, PreconditionFailed, ValidationFailed
from tests.unit.builders import add_product, ledger_sum, read, run, stock_of


def test_isbn10_is_stored_as_isbn13(memory_store):
    book = add_product(memory_store, kind="book", isbn="0-14-143951-3")
    assert book["isbn"] == "9780141439518"
    assert read(memory_store, lambda uow: uow.products.get(book["id"]))["isbn"] == "9780141439518"


def test_book_barcode_defaults_to_its_isbn13(memory_store):
    book = add_product(memory_store, kind="book", isbn="0141439513")
    assert book["barcode"] == "9780141439518"


def test_general_product_with_isbn_gets_no_default_barcode(memory_store):
    product = add_product(memory_store, kind="general", isbn="9780261102217")
    assert product["barcode"] is None


def test_book_keeps_a_barcode_given_explicitly(memory_store):
    book = add_product(memory_store, kind="book", isbn="9780141439518", barcode="SHOP-7")
    assert book["barcode"] == "SHOP-7"


def test_bad_isbn_check_digit_is_refused_and_nothing_is_stored(memory_store):
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, kind="book", isbn="9780141439519")
    assert "isbn" in err.value.errors
    assert read(memory_store, lambda uow: uow.products.count()) == 0


def test_bad_ean_check_digit_is_refused(memory_store):
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, barcode="4006381333932")
    assert err.value.errors == {"barcode": ["The check digit is wrong."]}


def test_price_is_stored_as_a_two_place_string(memory_store):
    assert add_product(memory_store, price=Decimal("12.5"))["price"] == "12.50"
    assert add_product(memory_store, price="3", cost="1.2")["cost"] == "1.20"
    assert add_product(memory_store, price="3")["cost"] is None


def test_duplicate_sku_is_refused_case_insensitively(memory_store):
    add_product(memory_store, sku="MUG-1")
    with pytest.raises(DuplicateValue) as err:
        add_product(memory_store, sku="mug-1")
    assert err.value.code == "duplicate_sku"


def test_duplicate_barcode_is_refused(memory_store):
    add_product(memory_store, barcode="4006381333931")
    with pytest.raises(DuplicateValue) as err:
        add_product(memory_store, barcode="4006381333931")
    assert err.value.code == "duplicate_barcode"


def test_upca_and_its_ean13_form_are_the_same_barcode(memory_store):
    add_product(memory_store, barcode="036000291452")
    with pytest.raises(DuplicateValue):
        add_product(memory_store, barcode="0036000291452")


def test_opening_stock_is_written_to_the_ledger(memory_store):
    product = add_product(memory_store, stock=7)
    movements = read(memory_store, lambda uow: uow.movements.for_product(product["id"]))
    assert [(m["delta"], m["reason"], m["stock_after"]) for m in movements] == [(7, "opening", 7)]


def test_zero_opening_stock_writes_no_movement(memory_store):
    product = add_product(memory_store, stock=0)
    assert read(memory_store, lambda uow: uow.movements.for_product(product["id"])) == []


def test_new_product_starts_at_version_1_with_both_timestamps(memory_store):
    product = add_product(memory_store)
    assert product["version"] == 1
    assert product["created_at"] == product["updated_at"]
    assert product["created_at"].endswith("Z")


def test_update_grows_version_by_one(memory_store):
    product = add_product(memory_store)
    updated = run(memory_store, lambda uow: catalog.update_product(uow, product["id"], {"title": "New"}))
    assert updated["version"] == 2 and updated["title"] == "New"


def test_stock_cannot_be_changed_by_an_update(memory_store):
    product = add_product(memory_store, stock=4)
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: catalog.update_product(uow, product["id"], {"stock": 9}))
    assert "stock" in err.value.errors
    assert stock_of(memory_store, product["id"]) == 4


def test_sending_the_same_stock_in_an_update_is_allowed(memory_store):
    product = add_product(memory_store, stock=4)
    updated = run(memory_store, lambda uow: catalog.update_product(
        uow, product["id"], {"stock": 4, "title": "Same stock"}))
    assert updated["stock"] == 4 and updated["title"] == "Same stock"


def test_stale_version_is_refused(memory_store):
    product = add_product(memory_store)
    with pytest.raises(PreconditionFailed):
        run(memory_store, lambda uow: catalog.update_product(uow, product["id"], {"title": "x"},
                                                             if_match=2))


def test_replace_resets_fields_not_sent(memory_store):
    product = add_product(memory_store, category="mugs", description="Blue", stock=3)
    replaced = run(memory_store, lambda uow: catalog.update_product(
        uow, product["id"], {"sku": product["sku"], "title": "Plain", "price": "4.00"}, replace=True))
    assert replaced["category"] is None and replaced["description"] is None
    assert replaced["stock"] == 3 and replaced["price"] == "4.00"


def test_changing_isbn_moves_the_default_barcode_with_it(memory_store):
    book = add_product(memory_store, kind="book", isbn="9780141439518")
    changed = run(memory_store, lambda uow: catalog.update_product(
        uow, book["id"], {"isbn": "9780261102217"}))
    assert changed["barcode"] == "9780261102217"


def test_archive_keeps_the_product_and_its_history(memory_store):
    product = add_product(memory_store, stock=5)
    archived = run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
    assert archived["status"] == "archived"
    assert ledger_sum(memory_store, product["id"]) == 5
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: catalog.get_product(uow, product["id"], include_archived=False))


def test_a_book_lookup_does_not_find_other_kinds(memory_store):
    mug = add_product(memory_store, kind="general")
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: catalog.get_product(uow, mug["id"], kind="book"))
