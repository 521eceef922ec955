"""`python -m scripts.migrate`: bring a PostgreSQL database up to date with app/storage/migrations/.

The app does the same at start-up (under an advisory lock, so many workers may start at once);
run this before a deploy to see what changes, or with --list to see what has been applied.

    SHOP_DATABASE_URL=postgresql://shop@db/backroom python -m scripts.migrate
    python -m scripts.migrate --database-url postgresql://... --schema shop_eu --list
"""
import argparse
import sys
import types

from flask import Config

from app.config import PROJECT_ROOT, load_config
from app.storage.base import StoreError
from app.storage.postgres import check_schema_name, connect, migrate, migration_files, where


def shop_settings():
    """The app's configuration (defaults, then SHOP_* variables), without building an app."""
    return load_config(types.SimpleNamespace(config=Config(PROJECT_ROOT)))


def database_arguments(parser):
    settings = shop_settings()
    parser.add_argument("--database-url", default=settings["DATABASE_URL"],
                        help="postgresql://user:password@host:port/dbname (default: SHOP_DATABASE_URL)")
    parser.add_argument("--schema", default=settings["DATABASE_SCHEMA"],
                        help="the schema to use inside that database (default: SHOP_DATABASE_SCHEMA, "
                             "else the usual search_path, normally public)")


def no_database(args):
    """True, having said so on stderr, when neither --database-url nor SHOP_DATABASE_URL names one."""
    if args.database_url:
        return False
    print("No database: set SHOP_DATABASE_URL or pass --database-url.", file=sys.stderr)
    return True


def applied_migrations(url, schema):
    """[(name, applied_at)] already recorded, oldest first."""
    conn = connect(url, schema, autocommit=True)
    try:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        if not exists:
            return []
        return [(name, at.strftime("%Y-%m-%dT%H:%M:%SZ")) for name, at in conn.execute(
            "SELECT name, applied_at AT TIME ZONE 'UTC' FROM schema_migrations ORDER BY version")]
    finally:
        conn.close()


def main(argv=None, out=None):
    out = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(prog="python -m scripts.migrate", description=__doc__.splitlines()[0])
    database_arguments(parser)
    parser.add_argument("--list", action="store_true", help="show applied and pending migrations; change nothing")
    args = parser.parse_args(argv)
    if no_database(args):
        return 2
    try:
        schema = check_schema_name(args.schema)
        place = f"{where(args.database_url)}" + (f" schema {schema}" if schema else "")
        if args.list:
            done = dict(applied_migrations(args.database_url, schema))
            for _, name, _ in migration_files():
                state = f"applied {done[name]}" if name in done else "pending"
                print(f"{name:40} {state}", file=out)
            return 0
        applied = migrate(args.database_url, schema, out=out)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{place}: " + (f"{len(applied)} migration(s) applied" if applied else "already up to date"), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
