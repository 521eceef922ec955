"""The order body's fast path (schemas.orders.load_plain_order) never disagrees with the schema."""
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from schemas.orders import MAX_LINES, MAX_QUANTITY, OrderCreateSchema, load_plain_order

SCHEMA = OrderCreateSchema()
SETTINGS = settings(max_examples=400, deadline=None, database=None, derandomize=True)

texts = st.one_of(st.text(max_size=70), st.sampled_from(["", "x" * 64, "x" * 65, "a\x00b", "01hk3mrq5p88"]))
numbers = st.one_of(st.integers(min_value=-3, max_value=MAX_QUANTITY + 3), st.booleans(),
                    st.sampled_from([1.0, 2.5, Decimal("3"), Decimal("1.5"), 10**30, MAX_QUANTITY]))
values = st.one_of(texts, numbers, st.none(), st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
line_keys = st.sampled_from(["product_id", "quantity", "barcode", "book_id", "id", "version", "colour"])
lines = st.dictionaries(line_keys, st.one_of(texts, numbers, values), max_size=4)
plain_lines = st.fixed_dictionaries({"product_id": st.text(min_size=1, max_size=64).filter(lambda s: "\x00" not in s),
                                     "quantity": st.integers(min_value=1, max_value=MAX_QUANTITY)})
top_keys = st.sampled_from(["items", "books", "customer", "customer_id", "payment", "notes", "id", "created_at"])
# the fast path's own shape with edge values in it: where a wrong bound would show
edge_ids = st.sampled_from(["", "p", "x" * 63, "x" * 64, "x" * 65, "a\x00b", "\x00", "é" * 64])
edge_quantities = st.sampled_from([-1, 0, 1, 2, MAX_QUANTITY - 1, MAX_QUANTITY, MAX_QUANTITY + 1,
                                   True, False, 1.0, Decimal("1"), "1", None])
near_plain_lines = st.fixed_dictionaries({"product_id": st.one_of(edge_ids, edge_ids, texts, numbers),
                                          "quantity": st.one_of(edge_quantities, edge_quantities, numbers)})
bodies = st.one_of(
    st.builds(lambda items: {"items": items}, st.lists(near_plain_lines, min_size=1, max_size=2)),
    st.builds(lambda items: {"items": items}, st.lists(st.one_of(near_plain_lines, plain_lines), max_size=4)),
    st.dictionaries(top_keys, st.one_of(st.lists(st.one_of(lines, plain_lines), max_size=3), values), max_size=3),
    st.builds(lambda items: {"items": items}, st.lists(st.one_of(plain_lines, lines), max_size=4)),
    values,
)


def schema_load(body):
    try:
        return SCHEMA.load(body)
    except ValidationError:
        return "refused"


@SETTINGS
@given(bodies)
def test_whenever_the_fast_path_answers_the_schema_gives_the_same(body):
    fast = load_plain_order(body)
    if fast is not None:
        assert schema_load(body) == fast


@SETTINGS
@given(st.lists(plain_lines, min_size=1, max_size=20))
def test_plain_orders_take_the_fast_path(items):
    body = {"items": items}
    assert load_plain_order(body) == schema_load(body) == {"items": items}


def test_the_line_count_bounds_are_the_schemas():
    line = {"product_id": "p", "quantity": 1}
    assert load_plain_order({"items": [line] * MAX_LINES}) == schema_load({"items": [line] * MAX_LINES})
    assert load_plain_order({"items": [line] * (MAX_LINES + 1)}) is None
    assert schema_load({"items": [line] * (MAX_LINES + 1)}) == "refused"


def test_everything_else_is_left_to_the_schema():
    for body in ({"items": []}, {"items": [{"product_id": "p", "quantity": True}]},
                 {"items": [{"product_id": "p", "quantity": 1.0}]}, {"items": [{"barcode": "9780141439518", "quantity": 1}]},
                 {"items": [{"product_id": "p", "quantity": 1}], "notes": "gift"},
                 {"items": [{"product_id": "p", "quantity": 1, "id": "x"}]}, {"books": [{"book_id": "p", "quantity": 1}]},
                 {"items": [{"product_id": "p", "quantity": MAX_QUANTITY + 1}]}, ["items"], None):
        assert load_plain_order(body) is None


@pytest.mark.parametrize("product_id", ["", "p", "x" * 64, "x" * 65, "a\x00b", "é" * 64, 7, None])
@pytest.mark.parametrize("quantity", [-1, 0, 1, MAX_QUANTITY, MAX_QUANTITY + 1, True, 1.0, Decimal("1"), "1", None])
def test_every_edge_of_a_one_line_order_is_judged_as_the_schema_judges_it(product_id, quantity):
    body = {"items": [{"product_id": product_id, "quantity": quantity}]}
    fast = load_plain_order(body)
    assert fast is None or fast == schema_load(body)
    if type(quantity) is int and type(product_id) is str:  # a plain body: taken exactly when valid
        assert (fast is not None) == (schema_load(body) != "refused")
