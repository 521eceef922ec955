"""Builds the benchmark's shop: a JSON store with years of history, written straight to snapshot files.

`build_shop(data_dir, products=5000, orders=100_000)` writes, in a few seconds, what a shop
would have after three years of trading through the API: half the products books (valid
ISBN-13s, authors from a list), prices as "12.50" strings, 100,000 orders of 1-3 lines with
their `sale` movements, `opening` movements that make every product's ledger sum equal its
stock, cancelled orders with their `order_cancelled` movements, deliveries in every status
for about 30% of the orders, and a manager user made by `services.users.create_user`.

Nothing goes through HTTP: going through the services would take hours for 100,000 orders.
The records have the shapes the services write (see `app/services/*`), the ids sort by
creation time like `storage.base.new_id`, and the snapshot files are byte for byte what the
store's own compaction (`snapshot_chunks`) writes; the journal is left for the store to start.

Run `python -m scripts.bench_shop DIR [--products N] [--orders N]` to build one by hand.
"""
import argparse
import base64
import bisect
import hashlib
import json
import os
import random
import shutil
import sys
import time
from datetime import datetime, timezone

from app.services.codes import ean_check_digit
from app.services.deliveries import add_working_days
from app.storage.base import COLLECTIONS
from app.storage.jsonfile import JsonFileStore, snapshot_chunks
from app.storage.memory import MemoryStore

FORMAT = 1  # bump when the records this module writes change shape
INFO_FILE = "bench-shop.info"  # parameters and the manager's password; not a collection
MANAGER = "manager"
DAY = 86400
YEARS = 3

AUTHORS = [
    "Jane Austen", "George Orwell", "Mary Shelley", "J. R. R. Tolkien", "Ursula K. Le Guin",
    "Douglas Adams", "Frank Herbert", "Virginia Woolf", "Charles Dickens", "Charlotte Bronte",
    "Emily Bronte", "Thomas Hardy", "George Eliot", "Leo Tolstoy", "Fyodor Dostoevsky",
    "Anton Chekhov", "Gustave Flaubert", "Victor Hugo", "Alexandre Dumas", "Jules Verne",
    "Herman Melville", "Mark Twain", "Edith Wharton", "Henry James", "Louisa May Alcott",
    "Oscar Wilde", "Arthur Conan Doyle", "Agatha Christie", "Dorothy L. Sayers", "Raymond Chandler",
    "Dashiell Hammett", "P. G. Wodehouse", "Evelyn Waugh", "Graham Greene", "E. M. Forster",
    "Joseph Conrad", "Rudyard Kipling", "H. G. Wells", "Aldous Huxley", "Ray Bradbury",
    "Isaac Asimov", "Arthur C. Clarke", "Philip K. Dick", "Octavia E. Butler", "Terry Pratchett",
    "Neil Gaiman", "Margaret Atwood", "Toni Morrison", "Chinua Achebe", "Gabriel Garcia Marquez",
    "Italo Calvino", "Umberto Eco", "Haruki Murakami", "Kazuo Ishiguro", "Hilary Mantel",
    "Zadie Smith", "Ali Smith", "Sally Rooney", "Elena Ferrante", "Jhumpa Lahiri",
    "Chimamanda Ngozi Adichie", "Ian McEwan", "Julian Barnes", "Salman Rushdie", "Arundhati Roy",
    "Vikram Seth", "Orhan Pamuk", "Olga Tokarczuk", "Annie Ernaux", "Jon Fosse",
    "Alice Munro", "Ann Patchett", "Donna Tartt", "Jonathan Franzen", "Cormac McCarthy",
    "Kurt Vonnegut", "John Steinbeck", "Ernest Hemingway", "F. Scott Fitzgerald", "William Faulkner",
    "Harper Lee", "James Baldwin", "Zora Neale Hurston", "Ralph Ellison", "Sylvia Plath",
    "Mary Oliver", "Seamus Heaney", "Wislawa Szymborska", "Pablo Neruda", "Rainer Maria Rilke",
    "Astrid Lindgren", "Roald Dahl", "Beatrix Potter", "Philip Pullman", "J. K. Rowling",
    "Michael Ende", "Tove Jansson", "Diana Wynne Jones", "Susan Cooper", "Lewis Carroll",
    "Mary Beard", "Yuval Noah Harari", "Bill Bryson", "Rebecca Solnit", "Robert Macfarlane",
    "Ottolenghi Yotam", "Nigella Lawson", "Claudia Roden", "Madhur Jaffrey", "Jamie Oliver",
    "Patrick Leigh Fermor", "Jan Morris", "Bruce Chatwin", "Paul Theroux", "Redmond O'Hanlon",
    "Ngugi wa Thiong'o", "Naguib Mahfouz", "Clarice Lispector", "Jorge Luis Borges", "Julio Cortazar",
    "Mario Vargas Llosa", "Isabel Allende", "Roberto Bolano", "Yasunari Kawabata", "Yukio Mishima",
]
BOOK_CATEGORIES = ["fiction", "classics", "fantasy", "science fiction", "crime", "history",
                   "children", "poetry", "cookery", "travel", "biography", "essays"]
GENERAL_CATEGORIES = ["stationery", "gifts", "merchandise", "games", "cards", "gift cards"]
ADJECTIVES = ["Silent", "Hidden", "Last", "Golden", "Broken", "Winter", "Secret", "Distant",
              "Paper", "Lost", "Quiet", "Burning", "Glass", "Northern", "Little", "Endless",
              "Forgotten", "Midnight", "Salt", "Iron", "Wild", "Summer", "Crooked", "Blue"]
NOUNS = ["Garden", "River", "House", "Library", "Harbour", "Mountain", "Letters", "Orchard",
         "Lighthouse", "Island", "Map", "Archive", "Kingdom", "Station", "Forest", "Bridge",
         "Museum", "Voyage", "Atlas", "Season", "Shore", "Machine", "Tower", "Alphabet"]
GOODS = ["Canvas tote bag", "Brass bookmark", "Reading mug", "A5 dotted notebook", "Fountain pen",
         "Pencil set", "Literary tea towel", "Book light", "Jigsaw puzzle", "Greeting card",
         "Wrapping paper", "Enamel pin", "Poster", "Card game", "Gift card", "Bookends",
         "Reading socks", "Library stamp", "Postcard pack", "Desk calendar"]
FIRST = ["Ada", "Bilbo", "Clara", "Dev", "Elif", "Farah", "Gus", "Hana", "Ines", "Jonas", "Kofi",
         "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tess", "Umar", "Vera",
         "Wen", "Xavi", "Yara", "Zoe"]
LAST = ["Lovelace", "Baggins", "Okafor", "Novak", "Schmidt", "Rossi", "Dubois", "Tanaka", "Silva",
        "Kowalski", "Jensen", "Murphy", "Haddad", "Ivanova", "Kim", "Larsen", "Moreau", "Nakamura"]
CITIES = [("Amsterdam", "NL", "1012 AB"), ("Utrecht", "NL", "3511 LN"), ("Antwerp", "BE", "2000"),
          ("Berlin", "DE", "10115"), ("Lyon", "FR", "69001"), ("Dublin", "IE", "D02 X285"),
          ("Porto", "PT", "4000-322"), ("Ghent", "BE", "9000"), ("Leiden", "NL", "2311 EZ")]
STREETS = ["Kerkstraat", "Stationsweg", "Market Street", "Rue des Livres", "Hauptstrasse",
           "Canal Road", "Molenweg", "Church Lane"]
CARRIERS = ["PostNL", "DHL", "DPD", "GLS", "UPS", "bpost"]
CANCEL_REASONS = ["customer changed their mind", "duplicate order", "not collected", None]
NOTES = ["Gift wrap, please.", "Will collect on Saturday.", "Leave with a neighbour.",
         "Please include the receipt."]


# ---- ids, times, money -----------------------------------------------------

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> two characters


def ulid(millis, rand80):
    """The id `storage.base.new_id` would have made at that millisecond (26 Crockford base-32 chars)."""
    p = _PAIRS
    return (p[millis >> 40] + p[(millis >> 30) & 1023] + p[(millis >> 20) & 1023]
            + p[(millis >> 10) & 1023] + p[millis & 1023]
            + p[rand80 >> 70] + p[(rand80 >> 60) & 1023] + p[(rand80 >> 50) & 1023]
            + p[(rand80 >> 40) & 1023] + p[(rand80 >> 30) & 1023] + p[(rand80 >> 20) & 1023]
            + p[(rand80 >> 10) & 1023] + p[rand80 & 1023])


_DAYS = {}


def stamp(seconds):
    """ISO 8601 UTC with a Z, to the second, like storage.base.timestamp."""
    whole = int(seconds)
    day, rest = divmod(whole, DAY)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(whole))
    return f"{prefix}{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}Z"


def time_to_date(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).date()


def _table(options, weights):
    """A list to index with rng.random(): a weighted choice without random.choices' overhead."""
    out = []
    for option, weight in zip(options, weights):
        out.extend([option] * weight)
    return out


def pick(rng, table):
    return table[int(rng.random() * len(table))]


def cents(amount):
    return f"{amount // 100}.{amount % 100:02d}"


class _Ids:
    """Ids made at given moments, random below the millisecond like new_id; sort a collection by id
    and it is in creation order."""

    def __init__(self, rng):
        self.bits = rng.getrandbits

    def at(self, seconds):
        return ulid(int(seconds * 1000), self.bits(79))


# ---- the shop --------------------------------------------------------------

def _products(rng, ids, count, start, staff_id):
    """The catalog: half books with ISBN-13 barcodes, half general goods; every product opens with stock."""
    books = count // 2
    isbn_bodies = rng.sample(range(10 ** 8, 10 ** 9), books)
    ean_bodies = rng.sample(range(10 ** 9, 10 ** 10), count - books)
    products, opening_moves = [], []
    created = sorted(start + rng.random() * 60 * DAY for _ in range(count))
    kinds = ["book"] * books + ["general"] * (count - books)
    rng.shuffle(kinds)
    book_no = general_no = 0
    for i in range(count):
        at = created[i]
        pid, made = ids.at(at), stamp(at)
        kind = kinds[i]
        if kind == "book":
            body = "978" + str(isbn_bodies[book_no])
            isbn = body + ean_check_digit(body)
            author = AUTHORS[book_no % len(AUTHORS)]
            title = f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
            if rng.random() < 0.5:
                title += f" and the {rng.choice(NOUNS)}"
            price = rng.choice(range(599, 3500, 50)) + rng.choice((0, 49, 0))
            sku, barcode, category = f"BK-{book_no + 1:05d}", isbn, rng.choice(BOOK_CATEGORIES)
            description = f"{title} by {author}." if rng.random() < 0.7 else None
            book_no += 1
        else:
            isbn, author = None, None
            title = f"{rng.choice(GOODS)}, {rng.choice(ADJECTIVES).lower()} edition"
            price = rng.choice(range(150, 6000, 25))
            sku, category = f"GEN-{general_no + 1:05d}", rng.choice(GENERAL_CATEGORIES)
            roll = rng.random()
            if roll < 0.7:  # the maker's EAN-13 (prefix 40: Germany; never 0, so no clash with a UPC-A)
                body = "40" + str(ean_bodies[general_no])
                barcode = body + ean_check_digit(body)
            elif roll < 0.8:  # the maker's UPC-A
                body = "7" + str(ean_bodies[general_no])
                barcode = body + ean_check_digit(body)
            else:
                barcode = None
            description = None
            general_no += 1
        products.append({
            "id": pid, "sku": sku, "title": title, "kind": kind, "author": author, "isbn": isbn,
            "barcode": barcode, "description": description, "category": category,
            "price": cents(price), "cost": cents(price * rng.randint(35, 60) // 100),
            "stock": rng.randint(400, 2000),  # what remains after the history; opening = this + net sales
            "low_stock_threshold": rng.choice((3, 5, 5, 5, 10)),
            "on_order": 0, "reorder_quantity": None,  # section 10: nothing on order yet
            "status": "archived" if rng.random() < 0.02 else "active",
            "created_at": made, "updated_at": made, "version": 1,
        })
        opening_moves.append({"id": ids.at(at), "product_id": pid, "delta": 0, "stock_after": 0,
                              "reason": "opening", "ref": None, "note": None, "user_id": staff_id,
                              "created_at": made})
    return products, opening_moves


METHODS = _table(("card", "cash", "transfer", "other"), (60, 25, 10, 5))
DELIVERY_NEW = _table(("pending", "in_transit", "out_for_delivery", "failed"), (50, 35, 10, 5))
DELIVERY_WEEK = _table(("in_transit", "out_for_delivery", "delivered", "failed", "cancelled"),
                       (30, 10, 50, 5, 5))
DELIVERY_OLD = _table(("delivered", "failed", "cancelled"), (90, 5, 5))
LINES = _table((1, 2, 3), (60, 28, 12))
QUANTITIES = _table((1, 2, 3), (80, 15, 5))
SHOP_NEW = _table(("pending", "paid", "completed"), (40, 30, 30))
SHOP_OLD = _table(("completed", "cancelled", "paid", "pending"), (90, 6, 2, 2))
def _customer(rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    customer = {"name": f"{first} {last}",
                "email": f"{first}.{last}{rng.randint(1, 999)}@example.com".lower()}
    if rng.random() < 0.3:
        customer["phone"] = f"+31 6 {rng.randint(10000000, 99999999)}"
    return customer


def _payment(rng, total, at):
    method = pick(rng, METHODS)
    reference = {"card": f"ch_{rng.getrandbits(48):012x}", "transfer": f"TR{rng.randint(10 ** 7, 10 ** 8)}"}
    return {"method": method, "amount": total, "reference": reference.get(method), "paid_at": stamp(at)}


def _delivery_plan(rng, age_days):
    """A delivery status and the path of statuses that led there, likely for an order of that age."""
    if age_days < 2:
        status = pick(rng, DELIVERY_NEW)
    elif age_days < 7:
        status = pick(rng, DELIVERY_WEEK)
    else:
        status = pick(rng, DELIVERY_OLD)
    path = {
        "pending": ["pending"],
        "in_transit": ["pending", "in_transit"],
        "out_for_delivery": ["pending", "in_transit", "out_for_delivery"],
        "delivered": (["pending", "in_transit", "out_for_delivery", "delivered"] if rng.random() < 0.5
                      else ["pending", "in_transit", "delivered"]),
        "failed": ["pending", "in_transit", "failed"],
        "cancelled": ["pending", "cancelled"],
    }[status]
    return status, path


STEP_SECONDS = {"pending": 600, "in_transit": DAY, "out_for_delivery": 2 * DAY,
                "delivered": 2.5 * DAY, "failed": 2 * DAY, "cancelled": 4 * 3600}


def _history(rng, ids, products, count, start, end, staff_id, currency):
    """Orders over the years, with their sale / order_cancelled movements and deliveries."""
    sellable = [i for i, p in enumerate(products) if p["status"] == "active"]
    rng.shuffle(sellable)  # popularity: a long tail, as in any shop
    cum, total = [], 0.0
    for rank in range(len(sellable)):
        total += 1.0 / (rank + 10) ** 0.9
        cum.append(total)
    top, last = (cum[-1] if cum else 0.0), len(sellable) - 1
    moments = sorted(start + rng.random() * (end - start) for _ in range(count))
    orders, moves, deliveries = [], [], []
    for n, at in enumerate(moments):
        age_days = (end - at) / DAY
        lines = pick(rng, LINES)
        picked = []
        while len(picked) < lines:
            idx = sellable[min(bisect.bisect(cum, rng.random() * top), last)] if sellable else None
            if idx is None:
                break
            if idx not in picked:
                picked.append(idx)
        if not picked:
            break
        order_id, made = ids.at(at), stamp(at)
        items, subtotal = [], 0
        for idx in picked:
            product = products[idx]
            quantity = pick(rng, QUANTITIES)
            unit = int(product["price"].replace(".", ""))
            subtotal += unit * quantity
            items.append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                          "quantity": quantity, "unit_price": product["price"],
                          "line_total": cents(unit * quantity)})
            moves.append({"id": ids.at(at), "product_id": product["id"], "delta": -quantity,
                          "stock_after": 0, "reason": "sale", "ref": order_id, "note": None,
                          "user_id": staff_id, "created_at": made})
        total = cents(subtotal)
        changes = []  # moments at which the order was updated after it was placed
        delivery = None
        status, payment_status, payment, cancel = "pending", "unpaid", None, None
        if rng.random() < 0.30:
            paid_upfront = rng.random() < 0.85
            if paid_upfront:
                status, payment_status, payment = "paid", "paid", _payment(rng, total, at)
            d_status, path = _delivery_plan(rng, age_days)
            d_at = min(at + STEP_SECONDS["pending"], end)
            events = []
            for step in path:
                e_at = min(at + STEP_SECONDS[step], end)
                events.append({"status": step, "at": stamp(e_at), "note": None, "user_id": staff_id})
                if step == "in_transit":
                    status = "shipped"
                    changes.append(e_at)
                elif step == "delivered":
                    status = "delivered"
                    changes.append(e_at)
                    if payment_status == "unpaid":  # cash on delivery
                        payment_status, payment = "paid", _payment(rng, total, e_at)
                        payment["method"], payment["reference"] = "cash", None
                        changes.append(e_at)
                elif step == "failed":
                    status = "paid" if payment_status == "paid" else "pending"
                    changes.append(e_at)
                    events[-1]["note"] = "nobody home"
            city, country, postal = rng.choice(CITIES)
            customer = _customer(rng)
            delivery = {
                "id": ids.at(d_at), "order_id": order_id, "status": d_status,
                "address": {"name": customer["name"],
                            "line1": f"{rng.choice(STREETS)} {rng.randint(1, 240)}",
                            "city": city, "postal_code": postal, "country": country},
                "carrier": rng.choice(CARRIERS),
                "tracking_number": f"3S{rng.getrandbits(40):010X}",
                "estimated_date": add_working_days(time_to_date(at), 3).isoformat(),
                "events": events, "created_by": staff_id, "created_at": stamp(d_at),
                "updated_at": events[-1]["at"], "version": len(events),
            }
            deliveries.append(delivery)
        else:
            customer = _customer(rng) if rng.random() < 0.6 else None
            if age_days < 1:
                status = pick(rng, SHOP_NEW)
            else:
                status = pick(rng, SHOP_OLD)
            if status in ("paid", "completed") or (status == "cancelled" and rng.random() < 0.5):
                payment_status, payment = "paid", _payment(rng, total, at)
            if status == "completed":
                changes.append(min(at + rng.random() * 600, end))
            elif status == "cancelled":
                cancel_at = min(at + rng.random() * DAY, end)
                changes.append(cancel_at)
                cancel = (rng.choice(CANCEL_REASONS), cancel_at)
                if payment_status == "paid":
                    payment_status = "refunded"
                for item in items:
                    moves.append({"id": ids.at(cancel_at), "product_id": item["product_id"],
                                  "delta": item["quantity"], "stock_after": 0, "reason": "order_cancelled",
                                  "ref": order_id, "note": cancel[0], "user_id": staff_id,
                                  "created_at": stamp(cancel_at)})
        order = {
            "id": order_id, "number": 1001 + n, "status": status, "payment_status": payment_status,
            "items": items, "subtotal": total, "total": total, "currency": currency,
            "customer": customer, "customer_id": None, "payment": payment,
            "notes": rng.choice(NOTES) if rng.random() < 0.05 else None,
            "cancel_reason": cancel[0] if cancel else None, "created_by": staff_id,
            "created_at": made, "updated_at": stamp(changes[-1]) if changes else made,
            "version": 1 + len(changes),
        }
        if cancel:
            order["cancelled_at"] = stamp(cancel[1])
        orders.append(order)
    return orders, moves, deliveries


def _settle_ledger(products, moves):
    """Opening stock = what remains + net sales; every movement's stock_after follows in time order."""
    by_id = {p["id"]: p for p in products}
    net = {p["id"]: 0 for p in products}
    for m in moves:
        if m["reason"] != "opening":
            net[m["product_id"]] += m["delta"]
    running = {}
    for m in moves:  # sorted by id, that is by time
        product = by_id[m["product_id"]]
        if m["reason"] == "opening":
            m["delta"] = product["stock"] - net[product["id"]]
            running[product["id"]] = m["delta"]
        else:
            running[product["id"]] += m["delta"]
            product["version"] += 1
            product["updated_at"] = m["created_at"]
        m["stock_after"] = running[product["id"]]
    for product in products:
        assert running[product["id"]] == product["stock"], product["id"]
        if product["status"] == "archived":
            product["version"] += 1


def _at_one_location(ids, start, products, moves, orders):
    """Everything at the default location, as the start-up step would leave the shop: the
    location, each product's level there, location_id on every movement and order."""
    made = stamp(start)
    shop = {"id": ids.at(start), "name": "Shop", "code": "MAIN", "kind": "store", "address": None,
            "is_default": True, "status": "active", "created_at": made, "updated_at": made, "version": 1}
    levels = [{"id": f"{p['id']}:{shop['id']}", "product_id": p["id"], "location_id": shop["id"],
               "quantity": p["stock"], "created_at": p["created_at"], "updated_at": p["updated_at"],
               "version": 1} for p in products if p["stock"]]
    placed_moves = []
    for m in moves:
        placed = {"id": m["id"], "product_id": m["product_id"], "location_id": shop["id"]}
        for key, value in m.items():
            placed.setdefault(key, value)
            if key == "stock_after":
                placed["location_stock_after"] = value
        placed_moves.append(placed)
    placed_orders = []
    for order in orders:
        placed = {}
        for key, value in order.items():
            placed[key] = value
            if key == "created_by":
                placed["location_id"] = shop["id"]
        placed_orders.append(placed)
    return shop, levels, placed_moves, placed_orders


# ---- snapshot files ----------------------------------------------------------

def _write_collections(folder, tx, tables):
    """Each collection's snapshot file, written by the store's own encoder (as compaction does)."""
    for collection, records in tables.items():
        path = os.path.join(folder, f"{collection}.json")
        tmp = path + ".build.tmp"
        with open(tmp, "wb") as fh:
            for chunk in snapshot_chunks(collection, tx, records):
                fh.write(chunk)
        os.replace(tmp, path)


# ---- the entry point ---------------------------------------------------------

def fingerprint(products, orders, seed):
    """What a built shop depends on: its parameters, this module, and the snapshot format.

    The journal is not part of it: the store starts its own when it first opens the folder.
    """
    import inspect
    from app.storage import memory
    digest = hashlib.sha256(f"{FORMAT}|{products}|{orders}|{seed}|{COLLECTIONS}".encode())
    digest.update(inspect.getsource(snapshot_chunks).encode())
    digest.update(repr(sorted((c, sorted(f)) for c, f in memory.UNIQUE.items())).encode())
    with open(os.path.abspath(__file__), "rb") as fh:
        digest.update(fh.read())
    return digest.hexdigest()[:16]


def read_info(data_dir):
    try:
        with open(os.path.join(data_dir, INFO_FILE)) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def build_shop(data_dir, products=5000, orders=100_000, seed=5, end=None, password=None,
               currency="EUR", check=False, out=sys.stderr):
    """Write a shop with history into data_dir (replacing it); returns its info (see INFO_FILE).

    The same seed and end give the same products (ids, codes, prices, remaining stock) whatever
    the number of orders, so a store with no orders is the big store's catalog before its history.
    """
    started = time.monotonic()
    end = end if end is not None else (int(time.time()) // DAY - 1) * DAY
    start = end - YEARS * 365 * DAY
    password = password or base64.urlsafe_b64encode(os.urandom(12)).decode()
    staff = _make_manager(password)
    ids = _Ids(random.Random(seed))
    catalog, opening = _products(random.Random(seed), ids, products, start, staff["id"])
    history_ids = _Ids(random.Random(seed + 1))
    sold, moves, deliveries = _history(random.Random(seed + 1), history_ids, catalog, orders,
                                       start + 60 * DAY, end, staff["id"], currency)
    moves = sorted(opening + moves, key=lambda m: m["id"])
    _settle_ledger(catalog, moves)
    deliveries.sort(key=lambda d: d["id"])
    shop, levels, moves, sold = _at_one_location(ids, start, catalog, moves, sold)
    tx = len(catalog) + len(sold) + len(deliveries)
    tables = {name: [] for name in COLLECTIONS}
    tables.update(products=catalog, stock_movements=moves, orders=sold, deliveries=deliveries,
                  users=[staff], counters=[{"id": "order_number", "value": 1000 + len(sold)}],
                  locations=[shop], stock_levels=levels)
    generated = time.monotonic()

    folder = os.path.abspath(data_dir)
    building = folder + ".building"
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building)
    _write_collections(building, tx, tables)
    written = time.monotonic()
    if check:  # the store starts its own journal and proves the files load (slow: the app's start-up)
        JsonFileStore(building).close()
    info = {
        "format": FORMAT, "products": products, "orders": len(sold), "seed": seed, "end": end,
        "fingerprint": fingerprint(products, orders, seed),
        "manager": {"username": MANAGER, "password": password},
        "movements": len(moves), "deliveries": len(deliveries), "tx": tx,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    with open(os.path.join(building, INFO_FILE), "w") as fh:
        json.dump(info, fh, indent=2)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(building, folder)
    print(f"bench_shop: {products} products, {len(sold)} orders, {len(moves)} movements, "
          f"{len(deliveries)} deliveries in {folder}: generated in {generated - started:.1f}s, "
          f"written in {written - generated:.1f}s"
          + (f", loaded by the store in {time.monotonic() - written:.1f}s" if check else ""), file=out)
    return info


def _make_manager(password):
    """The manager, made by the real service (scrypt hash and all) in a throw-away unit of work."""
    from app.services.users import create_user
    store = MemoryStore()
    with store.unit_of_work() as uow:
        user = create_user(uow, {"username": MANAGER, "password": password, "role": "manager",
                                 "email": "manager@backroom.example"})
        uow.commit()
    return store.tables.records["users"][user["id"]]


def ensure_shop(data_dir, products=5000, orders=100_000, seed=5, end=None, out=sys.stderr):
    """The shop in data_dir if it was built with these parameters by this code, else a new one."""
    info = read_info(data_dir)
    if (info and info.get("fingerprint") == fingerprint(products, orders, seed)
            and (end is None or info.get("end") == end)):
        return info
    return build_shop(data_dir, products, orders, seed, end, out=out)


def write_json_server_db(data_dir, path):
    """json-server's db.json with the store's products and orders (ids and fields as they are)."""
    db = {}
    for collection in ("products", "orders"):
        with open(os.path.join(data_dir, f"{collection}.json"), "rb") as fh:
            db[collection] = json.load(fh)["records"]
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(db, fh, ensure_ascii=False, separators=(",", ":"))
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="open the result with JsonFileStore")
    args = parser.parse_args(argv)
    info = build_shop(args.data_dir, args.products, args.orders, args.seed, check=args.check)
    print(f"manager password: {info['manager']['password']}")


if __name__ == "__main__":
    main()
