"""Product images' bytes (originals and variants), named by the original's sha256: files in a folder,
a bytea table in PostgreSQL, or a dict in memory.

Every kind answers the same five calls: put (durable before it returns: a temporary name, fsync,
rename; or a committed row), get, exists, remove (every name of one sha256) and names (each with
its age in seconds, for the orphan sweep). Names are `<sha256>-<variant>[-<format>]`.
"""
import os
import threading
import time

from .base import StoreError
from .jsonfile import write_file_atomically

IMAGE_FOLDER = "images"  # under SHOP_DATA_DIR, for the JSON store


def blob_name(sha256, variant, fmt=None):
    """The stored name of an image's original or of one of its variants (in one format)."""
    return f"{sha256}-{variant}" + (f"-{fmt}" if fmt else "")


class FileImageBytes:
    """A folder of files, one per name (SHOP_DATA_DIR/images/, or SHOP_IMAGE_DIR shared by servers)."""

    kind = "files"

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)

    def _path(self, name):
        return os.path.join(self.folder, name)

    def put(self, name, data):
        os.makedirs(self.folder, exist_ok=True)
        write_file_atomically(self._path(name), bytes(data))  # temp name, fsync, rename, fsync the folder

    def get(self, name):
        try:
            with open(self._path(name), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def exists(self, name):
        return os.path.exists(self._path(name))

    def remove(self, sha256):
        """Every name of this sha256 (the original and its variants); how many went."""
        gone = 0
        for name, _ in self.names(prefix=sha256):
            try:
                os.unlink(self._path(name))
                gone += 1
            except FileNotFoundError:
                pass
        return gone

    def names(self, prefix=""):
        """[(name, age in seconds)]; temporary files a crash left are listed too (they end .tmp)."""
        now = time.time()
        out = []
        try:
            entries = os.scandir(self.folder)
        except FileNotFoundError:
            return out
        with entries:
            for entry in entries:
                if entry.name.startswith(prefix) and not entry.name.startswith("."):
                    try:
                        out.append((entry.name, now - entry.stat().st_mtime))
                    except FileNotFoundError:
                        pass
        return out

    def discard(self, name):
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            pass

    def check(self):
        """Readiness: the folder can be written."""
        os.makedirs(self.folder, exist_ok=True)
        probe = self._path(f".ready.{os.getpid()}.tmp")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
        return True


class PgImageBytes:
    """The image_bytes table of the shop's schema (migration 0016): one committed row per name,
    so every app server on the database serves the same bytes."""

    kind = "postgres"

    def __init__(self, store):
        self.store = store

    def _run(self, sql, params=(), fetch=False, readonly=False):
        import psycopg
        conn = self.store.checkout(readonly)
        try:
            rows = conn.execute(sql, params).fetchall() if fetch else conn.execute(sql, params)
            if not readonly:
                conn.commit()
            return rows
        except psycopg.Error as exc:
            raise StoreError(f"image bytes: {exc}") from exc
        finally:
            self.store.checkin(conn)

    def put(self, name, data):
        self._run("INSERT INTO image_bytes (name, data) VALUES (%s, %s) "
                  "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, created_at = now()",
                  (name, bytes(data)))

    def get(self, name):
        rows = self._run("SELECT data FROM image_bytes WHERE name = %s", (name,), fetch=True, readonly=True)
        return bytes(rows[0][0]) if rows else None

    def exists(self, name):
        return bool(self._run("SELECT 1 FROM image_bytes WHERE name = %s", (name,), fetch=True,
                              readonly=True))

    def remove(self, sha256):
        self._run("DELETE FROM image_bytes WHERE name LIKE %s", (sha256 + "-%",))

    def names(self, prefix=""):
        rows = self._run("SELECT name, extract(epoch FROM now() - created_at) FROM image_bytes "
                         "WHERE name LIKE %s", (prefix + "%",), fetch=True, readonly=True)
        return [(name, float(age)) for name, age in rows]

    def discard(self, name):
        self._run("DELETE FROM image_bytes WHERE name = %s", (name,))

    def check(self):
        self._run("SELECT 1 FROM image_bytes LIMIT 0", fetch=True)
        return True


class MemoryImageBytes:
    """A dict: the unit tests' fake."""

    kind = "memory"

    def __init__(self):
        self.blobs = {}  # name -> (bytes, written at)
        self._lock = threading.Lock()

    def put(self, name, data):
        with self._lock:
            self.blobs[name] = (bytes(data), time.time())

    def get(self, name):
        hit = self.blobs.get(name)
        return hit[0] if hit else None

    def exists(self, name):
        return name in self.blobs

    def remove(self, sha256):
        with self._lock:
            for name in [n for n in self.blobs if n.startswith(sha256 + "-")]:
                del self.blobs[name]

    def names(self, prefix=""):
        now = time.time()
        return [(n, now - at) for n, (_, at) in list(self.blobs.items()) if n.startswith(prefix)]

    def discard(self, name):
        self.blobs.pop(name, None)

    def check(self):
        return True


def image_bytes_for(store, image_dir=None, schema=None):
    """Where a store keeps its images' bytes: image_dir when given (a folder per schema, so shops
    sharing one folder never sweep each other's), else beside the store itself."""
    if image_dir:
        return FileImageBytes(os.path.join(image_dir, schema) if schema else image_dir)
    if store.name == "json":
        return FileImageBytes(os.path.join(store.dir, IMAGE_FOLDER))
    if store.name == "postgres":
        return PgImageBytes(store)
    return MemoryImageBytes()


def image_bytes(store):
    """The store's image bytes (open_store sets them from the configuration; a store made
    another way, a test's memory store, gets its default once)."""
    found = getattr(store, "image_bytes", None)
    if found is None:
        found = store.image_bytes = image_bytes_for(store, schema=getattr(store, "schema", None))
    return found
