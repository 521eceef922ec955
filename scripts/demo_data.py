"""Demo data for a new shop: books and other products, a back room, orders, deliveries, vendors and
purchase orders, and one user per role."""
import colorsys
import hashlib
import io
import secrets
import sys
import textwrap

from PIL import Image, ImageDraw

from app.services import catalog, categories, deliveries, images, locations, orders, purchasing, users
from app.services.barcodes import font
from app.services.codes import ean_check_digit
from app.storage.images import image_bytes

ROLE_USERS = ("admin", "manager", "clerk", "editor", "viewer")
# section 14: the demo products sit in a tree two levels deep (top level -> its children)
CATEGORY_TREE = {
    "Books": ("Classics", "Fantasy", "Science fiction"),
    "Gifts and stationery": ("Merchandise", "Gifts", "Stationery", "Gift cards"),
}


def _isbn(body12):
    return body12 + ean_check_digit(body12)


BOOKS = [
    ("BK-AUSTEN-PP", "Pride and Prejudice", "Jane Austen", "978014143951", "9.99", "4.10", 14, "classics"),
    ("BK-ORWELL-1984", "Nineteen Eighty-Four", "George Orwell", "978014118776", "10.99", "4.80", 9, "classics"),
    ("BK-SHELLEY-FR", "Frankenstein", "Mary Shelley", "978014143947", "8.99", "3.60", 3, "classics"),
    ("BK-TOLKIEN-HOB", "The Hobbit", "J. R. R. Tolkien", "978026110221", "12.99", "6.20", 20, "fantasy"),
    ("BK-LEGUIN-EARTH", "A Wizard of Earthsea", "Ursula K. Le Guin", "978014130479", "9.50", "4.40", 6, "fantasy"),
    ("BK-ADAMS-HHGG", "The Hitchhiker's Guide to the Galaxy", "Douglas Adams", "978033025864", "8.50", "3.90", 11, "science fiction"),
    ("BK-HERBERT-DUNE", "Dune", "Frank Herbert", "978034101344", "11.99", "5.50", 2, "science fiction"),
    ("BK-WOOLF-DALL", "Mrs Dalloway", "Virginia Woolf", "978014118249", "9.99", "4.20", 7, "classics"),
]
GENERAL = [
    ("GEN-TOTE-CANVAS", "Canvas tote bag", None, "14.00", "5.00", 25, "merchandise"),
    ("GEN-BOOKMARK-BR", "Brass bookmark", None, "4.50", "1.20", 40, "gifts"),
    ("GEN-MUG-READ", "\"Just one more chapter\" mug", "4006381333931", "11.50", "4.75", 4, "gifts"),
    ("GEN-NOTEBOOK-A5", "A5 dotted notebook", None, "7.25", "2.80", 30, "stationery"),
    ("GEN-GIFTCARD-25", "Gift card 25", None, "25.00", None, 100, "gift cards"),
]


COVER_SIZE = (600, 900)


def cover_picture(title, author):
    """A book cover drawn here (no file is downloaded): a colour of its own from the title, a
    frame, the title and the author; PNG bytes."""
    hue = int(hashlib.sha256(title.encode()).hexdigest()[:4], 16) / 0xFFFF
    background = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.55))
    picture = Image.new("RGB", COVER_SIZE, background)
    draw = ImageDraw.Draw(picture)
    width, height = COVER_SIZE
    draw.rectangle((24, 24, width - 25, height - 25), outline=(245, 240, 225), width=6)
    y = 150
    for line in textwrap.wrap(title, 16):
        draw.text((width // 2, y), line, font=font("title", 56), fill=(250, 248, 240), anchor="ma")
        y += 70
    draw.line((width // 2 - 80, y + 30, width // 2 + 80, y + 30), fill=(245, 240, 225), width=4)
    draw.text((width // 2, height - 150), author, font=font("title", 36), fill=(245, 240, 225), anchor="ma")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def add_cover(uow, blobs, product, max_pixels):
    """Section 16: the demo book's one generated cover, alt text naming it."""
    upload = images.decode_upload(cover_picture(product["title"], product["author"]), max_pixels)
    return images.add_image(uow, blobs, product["id"], upload, f"Cover of {product['title']}")


def seed(store, config, out=sys.stderr):
    """Seed only an empty catalog, in one unit of work; existing usernames are left alone."""
    created = []
    with store.unit_of_work() as uow:
        if uow.products.count() > 0:
            return []
        locations.ensure_default_location(uow)  # a no-op after start-up, which made it
        for role in ROLE_USERS:
            if uow.users.find_by_username(role) is None:
                password = secrets.token_urlsafe(9)
                users.create_user(uow, {"username": role, "password": password, "role": role,
                                        "email": f"{role}@backroom.example"})
                created.append((role, password))
        staff = uow.users.find_by_username("manager") or uow.users.find_by_username("admin")
        staff_id = staff["id"] if staff else None
        shelves = {}
        for top, children in CATEGORY_TREE.items():
            parent = categories.category_named(uow, top) or categories.create_category(uow, {"name": top})
            for name in children:
                shelves[name.lower()] = (categories.category_named(uow, name) or categories.create_category(
                    uow, {"name": name, "parent_id": parent["id"]}))["id"]
        products = []
        for sku, title, author, body, price, cost, qty, category in BOOKS:
            products.append(catalog.create_product(uow, {
                "sku": sku, "title": title, "kind": "book", "author": author, "isbn": _isbn(body),
                "price": price, "cost": cost, "stock": qty, "category_id": shelves[category],
                "low_stock_threshold": 3}, staff_id))
        blobs = image_bytes(store)
        for book in products:
            add_cover(uow, blobs, book, config.get("MAX_IMAGE_PIXELS", 40_000_000))
        for sku, title, barcode, price, cost, qty, category in GENERAL:
            products.append(catalog.create_product(uow, {
                "sku": sku, "title": title, "kind": "general", "barcode": barcode, "price": price,
                "cost": cost, "stock": qty, "category_id": shelves[category]}, staff_id))
        back = uow.locations.find_by_code("BACK") or locations.create_location(
            uow, {"name": "Back room", "code": "BACK", "kind": "stockroom"})
        locations.create_transfer(uow, {
            "from_location_id": uow.locations.default()["id"], "to_location_id": back["id"],
            "note": "overstock to the back room", "complete": True,
            "lines": [{"product_id": products[3]["id"], "quantity": 6},
                      {"product_id": products[8]["id"], "quantity": 10},
                      {"product_id": products[12]["id"], "quantity": 60}]}, staff_id)
        currency = config["CURRENCY"]
        first = orders.place_order(uow, {"items": [{"product_id": products[0]["id"], "quantity": 1},
                                                   {"product_id": products[8]["id"], "quantity": 1}],
                                         "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                                         "payment": {"method": "card", "amount": "23.99"}},
                                   staff_id, currency)
        orders.complete_order(uow, first["id"], staff_id)
        second = orders.place_order(uow, {"items": [{"product_id": products[3]["id"], "quantity": 2}],
                                          "customer": {"name": "Bilbo Baggins", "email": "bilbo@example.com"}},
                                    staff_id, currency)
        shipped = orders.place_order(uow, {"items": [{"product_id": products[1]["id"], "quantity": 1}],
                                           "customer": {"name": "Winston Smith", "email": "winston@example.com"},
                                           "payment": {"method": "transfer", "amount": "10.99"}},
                                     staff_id, currency)
        delivery = deliveries.create_delivery(uow, {
            "order_id": shipped["id"], "carrier": "PostNL", "tracking_number": "3SABCD1234567",
            "address": {"name": "Winston Smith", "line1": "101 Victory Mansions", "city": "London",
                        "postal_code": "EC1A 1AA", "country": "GB"}},
            staff_id, config["DELIVERY_DAYS"], config["TIMEZONE"])
        deliveries.advance_delivery(uow, delivery["id"], "in_transit", "handed to the carrier", staff_id)
        done = orders.place_order(uow, {"items": [{"product_id": products[5]["id"], "quantity": 1}],
                                        "customer": {"name": "Arthur Dent", "email": "arthur@example.com"},
                                        "payment": {"method": "cash", "amount": "8.50"}},
                                  staff_id, currency)
        delivered = deliveries.create_delivery(uow, {"order_id": done["id"],
                                                     "address": "42 Cottington Close, Cottington"},
                                               staff_id, config["DELIVERY_DAYS"], config["TIMEZONE"])
        deliveries.advance_delivery(uow, delivered["id"], "in_transit", None, staff_id)
        deliveries.advance_delivery(uow, delivered["id"], "delivered", "left with a neighbour", staff_id)
        _seed_purchasing(uow, products, back, staff_id, currency, config["TIMEZONE"])
        uow.commit()
    print(f"seeded demo data: {len(BOOKS) + len(GENERAL)} products (each book with a cover), a back room filled by one "
          f"transfer, 4 orders (#{second['number']} is pending), 2 deliveries, 2 vendors with "
          "2 purchase orders (one ordered, one partially received)", file=out)
    if created:
        print("demo users (passwords are shown only this once):", file=out)
        for role, password in created:
            print(f"    {role:8} {password}", file=out)
    return created


def _seed_purchasing(uow, products, back, staff_id, currency, tz):
    """Section 10: two vendors and what they sell us, a contact, one ordered purchase order and
    one partially received into the back room."""
    penguin = purchasing.create_vendor(uow, {
        "name": "Penguin Trade", "contact_name": "Ann Lee", "email": "orders@penguin.example",
        "phone": "+44 20 7010 3000", "specialty": "classics"})
    makers = purchasing.create_vendor(uow, {
        "name": "Stationery Makers", "contact_name": "Raj Patel", "email": "sales@makers.example",
        "specialty": "gifts and stationery"})
    by_sku = {p["sku"]: p for p in products}
    for sku, vendor_sku, cost, lead, minimum, pack in (
            ("BK-AUSTEN-PP", "PEN-0141", "4.10", 7, 1, 1), ("BK-ORWELL-1984", "PEN-1187", "4.80", 7, 1, 1),
            ("BK-SHELLEY-FR", "PEN-0394", "3.60", 7, 5, 1), ("BK-HERBERT-DUNE", "PEN-0134", "5.50", 10, 1, 1)):
        purchasing.create_link(uow, penguin["id"], {
            "product_id": by_sku[sku]["id"], "vendor_sku": vendor_sku, "cost": cost, "lead_time_days": lead,
            "min_order_quantity": minimum, "pack_size": pack})
    for sku, vendor_sku, cost in (("GEN-MUG-READ", "SM-MUG-01", "4.75"), ("GEN-NOTEBOOK-A5", "SM-NB-A5", "2.80")):
        purchasing.create_link(uow, makers["id"], {
            "product_id": by_sku[sku]["id"], "vendor_sku": vendor_sku, "cost": cost, "lead_time_days": 3,
            "min_order_quantity": 6, "pack_size": 6})
    purchasing.record_contact(uow, penguin["id"], {
        "contact_type": "email", "message": "Asked for the spring list", "product_id": None}, staff_id)
    ordered = purchasing.create_purchase_order(uow, {
        "vendor_id": penguin["id"], "notes": "classics restock",
        "lines": [{"product_id": by_sku["BK-ORWELL-1984"]["id"], "quantity": 10},
                  {"product_id": by_sku["BK-AUSTEN-PP"]["id"], "quantity": 6}]}, staff_id, currency)
    purchasing.order_purchase_order(uow, ordered["id"], "sent by email", staff_id, tz)
    partial = purchasing.create_purchase_order(uow, {
        "vendor_id": makers["id"], "notes": "mugs and notebooks",
        "lines": [{"product_id": by_sku["GEN-MUG-READ"]["id"], "quantity": 12},
                  {"product_id": by_sku["GEN-NOTEBOOK-A5"]["id"], "quantity": 12}]}, staff_id, currency)
    purchasing.order_purchase_order(uow, partial["id"], None, staff_id, tz)
    purchasing.receive_purchase_order(uow, partial["id"], {
        "lines": [{"product_id": by_sku["GEN-MUG-READ"]["id"], "quantity": 12}],
        "location_id": back["id"], "note": "carton 1 of 2"}, staff_id)
