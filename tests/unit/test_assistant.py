"""The assistant's built-in engine, part by part, each with a table of questions and answers."""
from decimal import Decimal

import pytest

from app.services import assistant, catalog, categories, rate_limits
from app.services.errors import RateLimited

from .builders import add_product, read, run


# ---- 1. the tokenizer ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("Any books by Ann Lee?", ("any", "books", "by", "ann", "lee")),
    ("The Hitchhiker’s Guide!", ("the", "hitchhiker's", "guide")),
    ("under €9.50, please", ("under", "€", "9.50", "please")),
    ("less than 10 EUR", ("less", "than", "10", "eur")),
    ("Café  NOIR...", ("cafe", "noir")),
    ("Nineteen Eighty-Four", ("nineteen", "eighty", "four")),
    ("", ()),
])
def test_the_tokenizer_reads_words_amounts_and_signs(text, words):
    assert assistant.tokenize(text) == words


@pytest.mark.parametrize("words, limit", [
    ("under 10", Decimal("10")), ("below €9.50", Decimal("9.50")), ("less than 10 euros", Decimal("10")),
    ("cheaper than 7,25 eur", Decimal("7.25")), ("under ten", None), ("10 euros", None),
])
def test_a_price_limit_is_read_after_its_words(words, limit):
    assert assistant.price_limit(assistant.tokenize(words)) == limit


# ---- 2. the filters, over a small shop ----------------------------------------------------------

@pytest.fixture
def shop(memory_store):
    fiction = run(memory_store, lambda uow: categories.create_category(uow, {"name": "Fiction"}))
    crime = run(memory_store, lambda uow: categories.create_category(
        uow, {"name": "Crime fiction", "parent_id": fiction["id"]}))
    run(memory_store, lambda uow: categories.create_category(uow, {"name": "Books"}))
    add_product(memory_store, title="The Quiet Shore", author="Ann Lee", kind="book", price="8.50",
                category_id=crime["id"])
    add_product(memory_store, title="Loud Harbour", author="Ann Lee", kind="book", price="12.00",
                stock=0, category_id=fiction["id"])
    add_product(memory_store, title="Middlemarch", author="George Eliot", kind="book", price="9.99",
                description="A study of provincial life")
    add_product(memory_store, title="Canvas tote bag", price="14.00", description="Sturdy and quiet")
    add_product(memory_store, title="Brass bookmark", price="4.50")
    add_product(memory_store, title="Secret draft", author="Ann Lee", kind="book", price="1.00",
                status="draft")
    add_product(memory_store, title="It", author="Stephen King", kind="book", price="11.00")
    return memory_store


def _ask(store, message):
    return read(store, lambda uow: assistant.answer(uow, message, "EUR"))


@pytest.mark.parametrize("message, titles", [
    ("Do you have Middlemarch?", ["Middlemarch"]),
    ("do you have the quiet shore", ["The Quiet Shore"]),
    ("Any books by Ann Lee?", ["Loud Harbour", "The Quiet Shore"]),
    ("Any books by Ann Lee under 10 euros?", ["The Quiet Shore"]),
    ("Anything by George Eliot below €5?", []),
    ("What crime fiction do you have?", ["The Quiet Shore"]),
    ("fiction", ["Loud Harbour", "The Quiet Shore"]),  # a category's descendants too
    ("books", ["It", "Loud Harbour", "Middlemarch", "The Quiet Shore"]),  # the kind, not the category
    ("What is under 10?", ["Brass bookmark", "The Quiet Shore", "Middlemarch"]),  # by price
    ("cheaper than 9 EUR", ["Brass bookmark", "The Quiet Shore"]),
    ("What's your cheapest book?", ["The Quiet Shore"]),
    ("cheapest", ["Brass bookmark"]),
    ("something about provincial life", ["Middlemarch"]),
    ("anything quiet?", ["Canvas tote bag", "The Quiet Shore"]),
    ("is it in?", []),  # a title of common words never matches alone
    ("hello there", []),
    ("Secret draft", []),  # drafts are never seen
])
def test_the_filters_find_what_a_question_names(shop, message, titles):
    _, found, _ = _ask(shop, message)
    assert [p["title"] for p in found] == titles


def test_a_question_sees_each_change_to_the_catalog_at_once(shop):
    """The catalog a question is read against is kept between questions, never past a change."""
    assert [p["title"] for p in _ask(shop, "Do you have Middlemarch?")[1]] == ["Middlemarch"]
    add_product(shop, title="Middlemarch, annotated", author="George Eliot", kind="book", price="19.00")
    _, found, reply = _ask(shop, "Any books by George Eliot?")
    assert [p["title"] for p in found] == ["Middlemarch", "Middlemarch, annotated"]
    middlemarch = found[0]
    run(shop, lambda uow: catalog.update_product(uow, middlemarch["id"], {"price": "7.00"}))
    assert "Middlemarch (7.00 EUR" in _ask(shop, "Do you have Middlemarch?")[2]
    other = assistant.catalog_of
    assert read(shop, other) is read(shop, other)  # unchanged: the same index, not rebuilt


def test_at_most_ten_products_are_found(memory_store):
    for n in range(12):
        add_product(memory_store, title=f"Poem {n:02d}", kind="book", price="3.00")
    _, found, _ = _ask(memory_store, "books")
    assert len(found) == 10 and found[0]["title"] == "Poem 00"


# ---- 3. the reply writer ---------------------------------------------------------------------------

@pytest.mark.parametrize("message, reply", [
    ("Any books by Ann Lee under 10 euros?", "By Ann Lee we have The Quiet Shore (8.50 EUR, in stock)."),
    ("Any books by Ann Lee?", "By Ann Lee we have Loud Harbour (12.00 EUR, out of stock) and "
                              "The Quiet Shore (8.50 EUR, in stock)."),
    ("cheapest", "The cheapest is Brass bookmark (4.50 EUR, in stock)."),
    ("crime fiction", "In Crime fiction we have The Quiet Shore (8.50 EUR, in stock)."),
    ("Do you have Middlemarch?", "We have Middlemarch (9.99 EUR, in stock)."),
    ("cheaper than 9", "We have Brass bookmark (4.50 EUR, in stock) and The Quiet Shore (8.50 EUR, in stock)."),
    ("Do you have Moby Dick?", "I couldn't find anything like that."),
])
def test_the_reply_names_exactly_the_products_found(shop, message, reply):
    _, found, written = _ask(shop, message)
    assert written == reply
    for product in found:
        assert product["title"] in written


# ---- the per-minute limit -------------------------------------------------------------------------

def test_the_limit_counts_a_sliding_minute_and_a_refused_hit_counts_nothing(memory_store):
    for n in range(3):
        run(memory_store, lambda uow: rate_limits.hit(uow, "assistant", "ip:1", 3, now=1000.0 + n))
    with pytest.raises(RateLimited) as err:
        run(memory_store, lambda uow: rate_limits.hit(uow, "assistant", "ip:1", 3, now=1030.0))
    assert err.value.retry_after == 30
    assert len(read(memory_store, lambda uow: uow.rate_limits.get("assistant:ip:1"))["hits"]) == 3
    run(memory_store, lambda uow: rate_limits.hit(uow, "assistant", "ip:2", 3, now=1030.0))  # another key
    assert run(memory_store, lambda uow: rate_limits.hit(uow, "assistant", "ip:1", 3, now=1060.5)) == 3
