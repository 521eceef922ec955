"""Section 14's catalog rules through the in-memory store: statuses, review, the editor, categories."""
import pytest

from app.services import catalog, categories
from app.services.catalog import Writer
from app.services.errors import (CategoryCycle, CategoryNotEmpty, CategoryTooDeep, DuplicateValue,
                                 Forbidden, InvalidTransition, ValidationFailed)

from .builders import add_product, read, run

EDITOR_OFF = Writer("u-editor", approver=False, sets_cost=False, approval=False)
EDITOR_ON = Writer("u-editor", approver=False, sets_cost=False, approval=True)
MANAGER_ON = Writer("u-manager", approver=True, sets_cost=True, approval=True)


def _create(store, writer, **fields):
    data = {"sku": f"SKU-{id(fields)}-{len(fields)}", "title": "A book", "price": "9.00", **fields}
    return run(store, lambda uow: catalog.create_product(uow, data, writer.user_id, writer))


def _review(store, product, action, comment=None):
    return run(store, lambda uow: catalog.review_product(uow, product["id"], action, comment, "u-1"))


def _events(store):
    return read(store, lambda uow: [e["type"] for e in uow.events.list(catalog_query())[0]])


def catalog_query():
    from app.storage.base import Query
    return Query(limit=200, sort=[("id", False)])


# ---- statuses and review ------------------------------------------------------------------------

def test_a_draft_goes_through_review_to_active_with_its_history(memory_store):
    product = add_product(memory_store, status="draft")
    submitted = _review(memory_store, product, "submitted")
    assert submitted["status"] == "pending_review" and submitted["version"] == 2
    approved = _review(memory_store, product, "approved", "  Looks good  ")
    assert approved["status"] == "active" and approved["version"] == 3
    assert [(r["action"], r["comment"]) for r in approved["review"]] == [
        ("submitted", None), ("approved", "Looks good")]
    assert _events(memory_store)[-2:] == ["product.submitted", "product.approved"]


def test_a_rejected_product_goes_back_to_draft(memory_store):
    product = add_product(memory_store, status="draft")
    _review(memory_store, product, "submitted")
    rejected = _review(memory_store, product, "rejected", "Cover image missing")
    assert rejected["status"] == "draft" and rejected["review"][-1]["comment"] == "Cover image missing"


@pytest.mark.parametrize("status, action", [
    ("draft", "approved"), ("draft", "rejected"), ("active", "submitted"), ("archived", "submitted"),
    ("active", "approved")])
def test_a_move_the_review_machine_forbids_is_invalid_and_changes_nothing(memory_store, status, action):
    product = add_product(memory_store, status=status)
    with pytest.raises(InvalidTransition):
        _review(memory_store, product, action, "why")
    assert read(memory_store, lambda uow: uow.products.get(product["id"]))["version"] == 1


def test_a_second_submit_is_an_invalid_transition(memory_store):
    product = add_product(memory_store, status="draft")
    _review(memory_store, product, "submitted")
    with pytest.raises(InvalidTransition):
        _review(memory_store, product, "submitted")


def test_pending_review_cannot_be_set_by_a_body(memory_store):
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, status="pending_review")
    assert "status" in err.value.errors


def test_a_product_in_review_leaves_it_only_by_approve_or_reject(memory_store):
    product = add_product(memory_store, status="draft")
    _review(memory_store, product, "submitted")
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: catalog.update_product(uow, product["id"], {"status": "active"}))
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
    kept = run(memory_store, lambda uow: catalog.update_product(
        uow, product["id"], {"title": "Renamed", "status": "pending_review"}))
    assert kept["status"] == "pending_review" and kept["title"] == "Renamed"


def test_a_put_without_status_keeps_it(memory_store):
    product = add_product(memory_store, status="draft")
    replaced = run(memory_store, lambda uow: catalog.update_product(
        uow, product["id"], {"sku": product["sku"], "title": "New", "price": "1.00"}, replace=True))
    assert replaced["status"] == "draft"


# ---- the editor ----------------------------------------------------------------------------------

def test_an_editor_never_sets_cost_nor_opening_stock(memory_store):
    with pytest.raises(Forbidden) as err:
        _create(memory_store, EDITOR_OFF, cost="2.00", stock=3)
    assert set(err.value.errors) == {"cost", "stock"}
    assert _create(memory_store, EDITOR_OFF, stock=0)["status"] == "active"


def test_an_editors_put_keeps_the_stored_cost(memory_store):
    product = add_product(memory_store, cost="4.00")
    replaced = run(memory_store, lambda uow: catalog.update_product(
        uow, product["id"], {"sku": product["sku"], "title": "T", "price": "5.00"}, replace=True,
        writer=EDITOR_OFF))
    assert replaced["cost"] == "4.00"


def test_with_approval_on_an_editors_new_product_is_a_draft(memory_store):
    assert _create(memory_store, EDITOR_ON)["status"] == "draft"
    assert _create(memory_store, EDITOR_ON, status="draft")["status"] == "draft"
    with pytest.raises(Forbidden):
        _create(memory_store, EDITOR_ON, status="active")
    assert _create(memory_store, MANAGER_ON)["status"] == "active"


def test_with_approval_on_an_editor_edits_drafts_only_and_never_their_status(memory_store):
    draft = add_product(memory_store, status="draft")
    active = add_product(memory_store)
    edited = run(memory_store, lambda uow: catalog.update_product(
        uow, draft["id"], {"title": "Better"}, writer=EDITOR_ON))
    assert edited["title"] == "Better"
    for product, change in ((active, {"title": "x"}), (draft, {"status": "active"})):
        with pytest.raises(Forbidden):
            run(memory_store, lambda uow: catalog.update_product(uow, product["id"], change,
                                                                 writer=EDITOR_ON))
    with pytest.raises(Forbidden):
        run(memory_store, lambda uow: catalog.archive_product(uow, draft["id"], writer=EDITOR_ON))


def test_with_approval_off_an_editor_archives_as_a_manager_does(memory_store):
    product = add_product(memory_store)
    archived = run(memory_store, lambda uow: catalog.archive_product(uow, product["id"], writer=EDITOR_OFF))
    assert archived["status"] == "archived"


# ---- categories --------------------------------------------------------------------------------

def _category(store, **data):
    return run(store, lambda uow: categories.create_category(uow, data))


@pytest.mark.parametrize("name, slug", [
    ("Crime fiction", "crime-fiction"), ("Café Noir", "cafe-noir"),
    ("Crime & Thrillers", "crime-thrillers"), ("  --Ünïcode!!  ", "unicode"), ("日本", "category"),
    ("A" * 100, "a" * 100)])
def test_a_slug_is_made_from_the_name(name, slug):
    assert categories.slugify(name) == slug


def test_a_taken_slug_gets_the_first_free_suffix(memory_store):
    _category(memory_store, name="Poetry")
    _category(memory_store, name="Other", slug="poetry-2")
    assert _category(memory_store, name="Poetry!")["slug"] == "poetry-3"


def test_names_are_unique_case_insensitively_and_slugs_exactly(memory_store):
    _category(memory_store, name="Poetry")
    with pytest.raises(DuplicateValue) as err:
        _category(memory_store, name="POETRY")
    assert err.value.code == "duplicate_name"
    with pytest.raises(DuplicateValue) as err:
        _category(memory_store, name="Verse", slug="poetry")
    assert err.value.code == "duplicate_slug"


def test_the_tree_is_at_most_five_levels(memory_store):
    parent = None
    for level in range(5):
        parent = _category(memory_store, name=f"Level {level + 1}", parent_id=parent and parent["id"])
    with pytest.raises(CategoryTooDeep):
        _category(memory_store, name="Level 6", parent_id=parent["id"])


def test_moving_under_itself_or_a_descendant_is_a_cycle(memory_store):
    top = _category(memory_store, name="Top")
    child = _category(memory_store, name="Child", parent_id=top["id"])
    for target in (top, child):
        with pytest.raises(CategoryCycle):
            run(memory_store, lambda uow: categories.update_category(uow, top["id"], {"parent_id": target["id"]}))


def test_moving_a_subtree_too_deep_is_refused(memory_store):
    chain = [_category(memory_store, name="C1")]
    for n in range(2, 5):
        chain.append(_category(memory_store, name=f"C{n}", parent_id=chain[-1]["id"]))
    other = _category(memory_store, name="Other")
    _category(memory_store, name="Under other", parent_id=other["id"])
    with pytest.raises(CategoryTooDeep):  # two levels under level 4
        run(memory_store, lambda uow: categories.update_category(uow, other["id"], {"parent_id": chain[-1]["id"]}))


def test_product_count_covers_active_products_of_descendants(memory_store):
    top = _category(memory_store, name="Fiction")
    crime = _category(memory_store, name="Crime", parent_id=top["id"])
    add_product(memory_store, category_id=crime["id"])
    add_product(memory_store, category_id=top["id"])
    add_product(memory_store, category_id=crime["id"], status="draft")
    counts = read(memory_store, lambda uow: [categories.category_out(uow, c)["product_count"]
                                             for c in (top, crime)])
    assert counts == [2, 1]


def test_a_category_name_links_or_creates_one_in_the_same_unit_of_work(memory_store):
    existing = _category(memory_store, name="Crime fiction")
    linked = add_product(memory_store, category="CRIME FICTION")
    assert (linked["category_id"], linked["category"]) == (existing["id"], "Crime fiction")
    made = add_product(memory_store, category="Poetry")
    poetry = read(memory_store, lambda uow: uow.categories.find_by_name("poetry"))
    assert made["category_id"] == poetry["id"] and poetry["parent_id"] is None
    assert _events(memory_store).count("category.created") == 2


def test_category_and_category_id_must_agree(memory_store):
    crime = _category(memory_store, name="Crime")
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, category_id=crime["id"], category="Poetry")
    assert "category" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, category_id="nope")
    assert "category_id" in err.value.errors
    cleared = run(memory_store, lambda uow: catalog.update_product(
        uow, add_product(memory_store, category_id=crime["id"])["id"], {"category": ""}))
    assert (cleared["category_id"], cleared["category"]) == (None, None)


def test_a_rename_moves_the_products_category_but_not_their_version(memory_store):
    crime = _category(memory_store, name="Crime")
    product = add_product(memory_store, category_id=crime["id"])
    run(memory_store, lambda uow: categories.update_category(uow, crime["id"], {"name": "Noir"}))
    after = read(memory_store, lambda uow: uow.products.get(product["id"]))
    assert (after["category"], after["version"]) == ("Noir", product["version"])
    assert read(memory_store, lambda uow: uow.categories.get(crime["id"]))["slug"] == "crime"


def test_a_category_in_use_cannot_be_deleted(memory_store):
    top = _category(memory_store, name="Top")
    child = _category(memory_store, name="Child", parent_id=top["id"])
    add_product(memory_store, category_id=child["id"], status="archived")
    for category in (top, child):
        with pytest.raises(CategoryNotEmpty):
            run(memory_store, lambda uow: categories.delete_category(uow, category["id"]))


def test_start_up_linking_groups_names_spelt_as_on_the_oldest_product_and_runs_once(memory_store):
    olds = []
    for name in ("crime fiction", " Crime Fiction ", "Poetry", None):
        product = add_product(memory_store)
        olds.append(product)
        product = dict(product, category=name, category_id=None)
        run(memory_store, lambda uow: uow.products.save(product))
    assert run(memory_store, categories.link_product_categories) == 3
    after = read(memory_store, lambda uow: [uow.products.get(p["id"]) for p in olds])
    assert [p["category"] for p in after] == ["crime fiction", "crime fiction", "Poetry", None]
    assert after[0]["category_id"] == after[1]["category_id"] is not None
    assert [p["version"] for p in after] == [p["version"] for p in olds]
    assert run(memory_store, categories.link_product_categories) == 0
