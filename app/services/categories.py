"""The category tree: names and slugs, at most five levels, no cycles, and which products sit in it."""
import re
import unicodedata

from ..storage.base import Query, UniqueViolation, new_id
from .errors import (CategoryCycle, CategoryNotEmpty, CategoryTooDeep, DuplicateValue, NotFound,
                     ValidationFailed)
from .users import check_version

MAX_LEVELS = 5
MAX_SLUG = 100
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
WRITABLE = ("name", "slug", "parent_id", "description")
FIELD_ORDER = ("id", "name", "slug", "parent_id", "description", "product_count", "created_at",
               "updated_at", "version")
EVERY = 1_000_000  # a shop's categories fit in one page of this size


def slugify(name):
    """NFKD, non-ASCII dropped, lower case, each run of other characters one "-", trimmed."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "category"


def _free_slug(uow, base):
    """base, or the first of base-2, base-3, ... no category has (within MAX_SLUG)."""
    base = base[:MAX_SLUG].strip("-")
    if uow.categories.find_by_slug(base) is None:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = base[:MAX_SLUG - len(suffix)].rstrip("-") + suffix
        if uow.categories.find_by_slug(candidate) is None:
            return candidate
        number += 1


def get_category(uow, category_id):
    category = uow.categories.get(category_id)
    if category is None:
        raise NotFound("No category with this id.")
    return category


class Tree:
    """Every category of the shop by id, with its children: levels, subtrees, descendants."""

    def __init__(self, uow):
        items, _ = uow.categories.list(Query(limit=EVERY))
        self.by_id = {c["id"]: c for c in items}
        self.children = {}
        for c in items:
            self.children.setdefault(c.get("parent_id"), []).append(c["id"])

    def level(self, category_id):
        """1 for a top-level category, 2 for its children, ..."""
        level, seen = 0, set()
        while category_id is not None and category_id not in seen:
            seen.add(category_id)
            level += 1
            category_id = (self.by_id.get(category_id) or {}).get("parent_id")
        return level

    def subtree(self, category_id):
        """The category's id and its descendants' ids."""
        out, todo = [], [category_id]
        while todo:
            current = todo.pop()
            if current in out:
                continue
            out.append(current)
            todo.extend(self.children.get(current, ()))
        return out

    def height(self, category_id):
        """Levels the subtree spans: 1 for a leaf."""
        below = [self.height(child) for child in self.children.get(category_id, ())]
        return 1 + max(below, default=0)


def descendants_of(uow, category_id):
    """The ids a `category_id` filter matches: the category and every one under it."""
    return Tree(uow).subtree(category_id)


def product_count(uow, category, tree=None):
    tree = tree or Tree(uow)
    return uow.products.count_active_in(tree.subtree(category["id"]))


def category_out(uow, category, tree=None):
    """The category as clients read it: product_count computed now (it never moves version)."""
    out = {k: category.get(k) for k in FIELD_ORDER if k != "product_count"}
    out["product_count"] = product_count(uow, category, tree)
    return {k: out[k] for k in FIELD_ORDER}


def categories_out(uow, categories):
    tree = Tree(uow)
    return [category_out(uow, c, tree) for c in categories]


def _clean(data):
    data = dict(data)
    for key in ("name", "description"):
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
    if "name" in data and not data["name"]:
        raise ValidationFailed("The category is not valid.", errors={"name": ["Must not be empty."]})
    if "description" in data and data["description"] == "":
        data["description"] = None
    return data


def _check_place(uow, category_id, parent_id):
    """Refuse a parent that does not exist, a cycle, or a sixth level."""
    if parent_id is None:
        parent_level = 0
        tree = Tree(uow)
    else:
        tree = Tree(uow)
        if parent_id not in tree.by_id:
            raise ValidationFailed("The category is not valid.",
                                   errors={"parent_id": ["No category with this id."]})
        if category_id is not None and parent_id in tree.subtree(category_id):
            raise CategoryCycle("A category cannot move under itself or one of its descendants.")
        parent_level = tree.level(parent_id)
    height = tree.height(category_id) if category_id is not None else 1
    if parent_level + height > MAX_LEVELS:
        raise CategoryTooDeep(f"That would put a category at level {parent_level + height}; "
                              f"at most {MAX_LEVELS} levels.")


def _store(uow, category, new):
    try:
        if new:
            uow.categories.add(category)
        else:
            uow.categories.update(category)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field) from None
    return category


def create_category(uow, data):
    data = _clean(data)
    _check_place(uow, None, data.get("parent_id"))
    category = {"id": new_id(), "name": data["name"], "slug": None,
                "parent_id": data.get("parent_id"), "description": data.get("description")}
    if uow.categories.find_by_name(category["name"]) is not None:
        raise DuplicateValue("name")
    category["slug"] = data.get("slug") or _free_slug(uow, slugify(category["name"]))
    _store(uow, category, new=True)
    uow.events.add("category.created", category_out(uow, category))
    return category


def update_category(uow, category_id, data, if_match=None):
    """Change name, slug, parent_id or description; a rename keeps the slug and renames the products' `category`."""
    category = get_category(uow, category_id)
    check_version(category, if_match)
    data = _clean(data)
    if "parent_id" in data and data["parent_id"] != category.get("parent_id"):
        _check_place(uow, category_id, data["parent_id"])
    renamed = "name" in data and data["name"] != category["name"]
    category.update({k: v for k, v in data.items() if k in WRITABLE})
    _store(uow, category, new=False)
    if renamed:
        for product in uow.products.in_category(category_id):
            product["category"] = category["name"]  # computed from the category: no new version
            uow.products.save(product)
    return category


def delete_category(uow, category_id, if_match=None):
    category = get_category(uow, category_id)
    check_version(category, if_match)
    if uow.products.in_category(category_id):
        raise CategoryNotEmpty("Products are in this category; move them first.")
    if uow.categories.children_of(category_id):
        raise CategoryNotEmpty("Categories sit under this one; move or delete them first.")
    uow.categories.delete(category_id)


def category_named(uow, name):
    """The category of that name (case-insensitively), or None."""
    return uow.categories.find_by_name(name.strip()) if isinstance(name, str) and name.strip() else None


def category_for_name(uow, name):
    """The category of that name, made at the top level when none exists (section 4's form)."""
    return category_named(uow, name) or create_category(uow, {"name": name})


def link_product_categories(uow):
    """Each distinct category string of products not yet linked becomes (or links to) a top-level
    category, spelt as on the oldest product; the products get its id with their version unchanged.
    The number of products linked (0 when run again)."""
    products, _ = uow.products.list(Query(filters={"unlinked_category": True}, limit=EVERY))
    linked = 0
    for product in products:  # oldest first: the first spelling of a name is the oldest one
        category = category_for_name(uow, product["category"])
        product["category_id"], product["category"] = category["id"], category["name"]
        uow.products.save(product)
        linked += 1
    return linked
