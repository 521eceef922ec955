"""`python -m scripts.move_shop`: copy a shop from its JSON store into PostgreSQL, or back.

Everything is copied as it is: ids, timestamps, versions, the stock ledger, users with their
password hashes, sessions (signed-in users stay signed in if the servers keep the same secret
key), login throttling, idempotency keys, the order-number counter, and product images with
their bytes (originals and variants, written before the records that name them).  The copy is one
transaction; afterwards both sides are read again and their counts, stock totals, ledger totals
and each product's stock compared.  A target that already holds records is refused unless
--force is given, and then replaced.  Stop the app servers while you move a shop.

    python -m scripts.move_shop to-postgres --data-dir data/ --database-url postgresql://shop@db/backroom
    python -m scripts.move_shop to-json --database-url postgresql://... --data-dir /backups/shop-json
"""
import argparse
import os
import sys

from app.storage.base import COLLECTIONS, FILE_LOGS, LOGS, RETIRED_LOGS, StoreError
from app.storage.declarations import COLLECTIONS as DECLARED
from app.storage.repositories import RetiringRepository
from app.storage.images import IMAGE_FOLDER, FileImageBytes, PgImageBytes, blob_name
from app.storage.logfiles import position_id
from app.storage.jsonfile import JOURNAL, JsonFileStore
from app.storage.postgres import SHAPES, PostgresStore, check_schema_name, where
from app.storage.repositories import clone

from .migrate import database_arguments, no_database, shop_settings


class MoveRefused(Exception):
    """The target already has records and --force was not given, or there is nothing to copy."""


# ---- reading and writing whole stores ------------------------------------------------------------

def read_json_store(data_dir):
    """{collection: [records]} of a JSON store, read under its write lock so nothing moves meanwhile."""
    if not os.path.exists(os.path.join(data_dir, JOURNAL)) and not any(
            os.path.exists(os.path.join(data_dir, f"{c}.json")) for c in COLLECTIONS):
        raise MoveRefused(f"there is no JSON store in {data_dir}")
    store = JsonFileStore(data_dir)
    # where the store's log files end, and how many records a retiring collection's look-ups have:
    # the store's own, not the shop's (the JSON store that receives a copy makes its own)
    internal = {position_id(log) for log in FILE_LOGS}
    with store.transaction() as tx:
        records = {c: [clone(r) for r in tx.scan(c)
                       if c != "counters" or (r["id"] not in internal and not r["id"].startswith("count:"))]
                   for c in COLLECTIONS}
        for collection in RETIRED_LOGS:  # its live records and its retired ones, in id order
            records[collection] = [clone(r) for r in reversed(list(RetiringRepository(
                tx, decl=DECLARED[collection]).newest_first()))]
        records.update({log: list(tx.log_oldest_first(log)) for log in LOGS})
        return records


def read_postgres_store(store):
    with store.reader() as uow:
        records = {c: uow.dump(c) for c in SHAPES}
    # the events' numbering counter is the database's own (the copy numbers them anew)
    records["counters"] = [r for r in records["counters"] if r["id"] != "event_seq"]
    return records


def write_postgres_store(store, records, force=False):
    with store.unit_of_work() as uow:
        held = {c: n for c, n in uow.counts().items() if n}
        if held and not force:
            raise MoveRefused(f"the database already holds records ({_held(held)}); "
                              "pass --force to replace them")
        if held:
            uow.wipe()
        for collection in SHAPES:  # in foreign-key order; logs in the order they were written
            uow.load(collection, records.get(collection, []))
        uow.commit()


def write_json_store(data_dir, records, force=False):
    store = JsonFileStore(data_dir)
    with store.transaction() as tx:
        held = {c: tx.count(c) for c in COLLECTIONS if tx.count(c)}
        if held and not force:
            raise MoveRefused(f"{data_dir} already holds records ({_held(held)}); pass --force to replace them")
        for collection in COLLECTIONS:
            for record in list(tx.scan(collection)):
                tx.delete(collection, record["id"])
        for collection in COLLECTIONS:
            if collection in RETIRED_LOGS:
                continue
            for record in records.get(collection, []):
                tx.put(collection, clone(record))
        for collection, retired_log in RETIRED_LOGS.items():  # done ones into their log
            repository = RetiringRepository(tx, decl=DECLARED[collection])
            for record in records.get(collection, []):
                if repository.is_retired(record):
                    tx.append(retired_log, clone(record))
                else:
                    tx.put(collection, clone(record))
            repository.recount()
        for log in LOGS:
            for record in records.get(log, []):
                tx.append(log, clone(record))
        store.commit(tx)
    store.checkpoint()  # pretty-printed snapshot files, a short journal


def copy_image_bytes(source, target, records):
    """Every stored name (original, variants) of the sha256s the image records name, from one
    image store to the other; how many."""
    wanted = {i["sha256"] for i in records.get("images", [])}
    copied = 0
    for name, _ in source.names():
        if not name.endswith(".tmp") and name.split("-", 1)[0] in wanted:
            data = source.get(name)
            if data is not None:
                target.put(name, data)
                copied += 1
    return copied


def images_without_bytes(blobs, records):
    """The ids of image records whose original is missing from blobs."""
    return [i["id"] for i in records.get("images", []) if not blobs.exists(blob_name(i["sha256"], "original"))]


def _held(held):
    return ", ".join(f"{n} {c}" for c, n in held.items())


# ---- checking ----------------------------------------------------------------------------------------

def summary(records):
    """What must be equal on both sides: counts, stock total, ledger total, each product's stock."""
    products = records.get("products", [])
    return {
        "counts": {c: len(records.get(c, [])) for c in COLLECTIONS + LOGS},
        "stock total": sum(p.get("stock") or 0 for p in products),
        "ledger total": sum(m.get("delta") or 0 for m in records.get("stock_movements", [])),
        "stock by product": {p["id"]: p.get("stock") for p in products},
    }


def compare(source, target, out):
    """Print the two summaries side by side; True when they agree."""
    a, b = summary(source), summary(target)
    print(f"{'':24} {'source':>10} {'copy':>10}", file=out)
    for collection in COLLECTIONS + LOGS:
        x, y = a["counts"][collection], b["counts"][collection]
        print(f"{collection:24} {x:>10} {y:>10}{'' if x == y else '   <- differs'}", file=out)
    for key in ("stock total", "ledger total"):
        print(f"{key:24} {a[key]:>10} {b[key]:>10}{'' if a[key] == b[key] else '   <- differs'}", file=out)
    differing = [pid for pid in a["stock by product"] if a["stock by product"][pid] != b["stock by product"].get(pid)]
    if differing:
        print(f"products whose stock differs: {', '.join(differing[:10])}", file=out)
    return a == b


# ---- the two moves -----------------------------------------------------------------------------------

def json_to_postgres(data_dir, url, schema=None, force=False, out=sys.stdout):
    """Copy the JSON store in data_dir into PostgreSQL (migrated first); True when the check agrees."""
    source = read_json_store(data_dir)
    store = PostgresStore(url, check_schema_name(schema))
    try:
        held = _counts_held(store)
        if held and not force:
            raise MoveRefused(f"the database already holds records ({_held(held)}); "
                              "pass --force to replace them")
        target_bytes = PgImageBytes(store)
        pictures = copy_image_bytes(FileImageBytes(os.path.join(data_dir, IMAGE_FOLDER)), target_bytes, source)
        write_postgres_store(store, source, force)
        copied = read_postgres_store(store)
        missing = images_without_bytes(target_bytes, copied)
    finally:
        store.close()
    print(f"copied {data_dir} to PostgreSQL at {where(url)}" + (f" schema {schema}" if schema else ""),
          file=out)
    ok = compare(source, copied, out) and _bytes_report(pictures, missing, out)
    secret = os.path.join(data_dir, "secret.key")
    if os.path.exists(secret):
        print(f"Tokens were signed with {secret}: give every app server that key as SHOP_SECRET_KEY "
              "and signed-in users stay signed in.", file=out)
    return ok


def postgres_to_json(url, data_dir, schema=None, force=False, out=sys.stdout):
    """Copy the PostgreSQL store into a JSON store in data_dir; True when the check agrees."""
    store = PostgresStore(url, check_schema_name(schema))
    target_bytes = FileImageBytes(os.path.join(data_dir, IMAGE_FOLDER))
    try:
        source = read_postgres_store(store)
        if not force:
            _refuse_held_json(data_dir)
        pictures = copy_image_bytes(PgImageBytes(store), target_bytes, source)
    finally:
        store.close()
    write_json_store(data_dir, source, force)
    copied = read_json_store(data_dir)
    print(f"copied PostgreSQL at {where(url)}" + (f" schema {schema}" if schema else "") + f" to {data_dir}",
          file=out)
    return compare(source, copied, out) and _bytes_report(pictures, images_without_bytes(target_bytes, copied), out)


def _counts_held(store):
    with store.reader() as uow:
        return {c: n for c, n in uow.counts().items() if n}


def _refuse_held_json(data_dir):
    """The JSON target's refusal, made before any image bytes are written into it."""
    if not os.path.exists(os.path.join(data_dir, JOURNAL)):
        return
    store = JsonFileStore(data_dir)
    with store.reader() as uow:
        held = {c: uow.tx.count(c) for c in COLLECTIONS if uow.tx.count(c)}
    if held:
        raise MoveRefused(f"{data_dir} already holds records ({_held(held)}); pass --force to replace them")


def _bytes_report(pictures, missing, out):
    """Print how many image files were carried; True when every image record has its bytes."""
    print(f"{'image bytes':24} {pictures:>10} copied", file=out)
    if missing:
        print(f"images without their bytes in the copy: {', '.join(missing[:10])}", file=out)
    return not missing


def main(argv=None, out=None):
    out = out if out is not None else sys.stdout
    settings = shop_settings()
    parser = argparse.ArgumentParser(prog="python -m scripts.move_shop", description=__doc__.splitlines()[0])
    parser.add_argument("direction", choices=("to-postgres", "to-json"))
    parser.add_argument("--data-dir", default=settings["DATA_DIR"],
                        help="the JSON store (default: SHOP_DATA_DIR, else data/)")
    database_arguments(parser)
    parser.add_argument("--force", action="store_true", help="replace whatever the target holds")
    args = parser.parse_args(argv)
    if no_database(args):
        return 2
    data_dir = os.path.abspath(args.data_dir)
    try:
        if args.direction == "to-postgres":
            ok = json_to_postgres(data_dir, args.database_url, args.schema, args.force, out)
        else:
            ok = postgres_to_json(args.database_url, data_dir, args.schema, args.force, out)
    except MoveRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 3
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not ok:
        print("The copy does not match its source; see above.", file=sys.stderr)
        return 1
    print("The copy matches its source.", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
