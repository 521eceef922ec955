"""Storage: pick the backend from configuration; only this package touches files or SQL."""
import os
import secrets

from .base import Query, StoreError, LockTimeout, UniqueViolation, new_id, timestamp, utcnow  # noqa: F401


def open_store(config):
    """The JSON-file store under SHOP_DATA_DIR, or PostgreSQL when SHOP_DATABASE_URL is set."""
    url = config.get("DATABASE_URL")
    if url:
        from .postgres import PostgresStore
        store = PostgresStore(url, schema=config.get("DATABASE_SCHEMA"))
    else:
        from .jsonfile import JsonFileStore
        store = JsonFileStore(config["DATA_DIR"], lock_timeout=float(config["LOCK_TIMEOUT"]),
                              compact_bytes=int(config["JOURNAL_COMPACT_BYTES"]))
    # section 16: the images' bytes, beside the store unless SHOP_IMAGE_DIR names a shared folder
    from .images import image_bytes_for
    store.image_bytes = image_bytes_for(store, config.get("IMAGE_DIR"), getattr(store, "schema", None))
    return store


def read_or_create_secret(data_dir):
    """The token-signing key, made once and kept in SHOP_DATA_DIR/secret.key (mode 0600)."""
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, "secret.key")
    try:
        with open(path) as fh:
            key = fh.read().strip()
            if key:
                return key
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # first writer wins when several workers start at once
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path) as fh:
        return fh.read().strip()
