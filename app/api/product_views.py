"""Products as the caller may read and write them: every product answer goes through product_answer."""
from flask import g, request

from schemas.images import images_out
from schemas.products import product_out
from ..auth import can, sees_cost
from ..services.catalog import Writer


def product_answer(product):
    """The product as this caller may read it: staff get `review`, only those who may see
    `cost` get it (never an editor, never an anonymous reader); everyone gets its `images`."""
    out = product_out(product, staff=can("catalog.read_all"), with_cost=sees_cost())
    if out is product:  # the stored record itself: never changed
        out = product.copy()
    out["images"] = product_images(product)  # where the record has it, else last
    return out


def product_images(product, key=None):
    """Section 16: a product's `images` with absolute urls for this request (a storefront answer
    passes its key, so each url opens the image whatever SHOP_PUBLIC_CATALOG says)."""
    return images_out(product, request.host_url, key)


def product_answers(products):
    """product_answer of every product of a list page, the caller's rights looked up once."""
    staff, with_cost, base = can("catalog.read_all"), sees_cost(), request.host_url
    out = []
    for product in products:
        shown = product_out(product, staff=staff, with_cost=with_cost)
        if shown is product:  # the stored record itself: never changed
            shown = product.copy()
        shown["images"] = images_out(product, base)  # where the record has it, else last
        out.append(shown)
    return out


def sort_fields(fields):
    """The sort fields a product list offers this caller: `sort=cost` is 400 to those who may not see cost."""
    return fields if sees_cost() else tuple(f for f in fields if f != "cost")


def writer():
    """The signed-in caller as the catalog's rules see a writer."""
    return Writer(user_id=g.user["id"], approver=can("catalog.review"), sets_cost=sees_cost(),
                  approval=product_approval())


def product_approval():
    """Section 14's `product_approval`, from the shop's settings (SHOP_PRODUCT_APPROVAL unless stored)."""
    from .store import shop_settings
    return bool(shop_settings()["product_approval"])
