"""The default backend: an fsynced append-only journal of committed transactions plus
pretty-printed snapshot files per collection, shared safely by any number of processes.

Layout of SHOP_DATA_DIR:
  journal.jsonl      line 1 {"journal": 1, "base_tx": B}; then one line per committed
                     transaction {"tx": N, "at": ts, "ops": [[collection, id, record|null], ...]}
  <collection>.json  {"collection", "tx": T, "count", "records": [...]}: state after tx T
  .store.lock        the write lock (filelock)

A commit appends one line and fsyncs it under the lock, so it costs the same with
100 or 100,000 past orders.  When the journal grows past a threshold, the snapshot
files are rewritten (temp file, fsync, os.replace, fsync folder) and the journal is
replaced by one that starts after them.  Opening replays, per collection, the
journal's transactions newer than that collection's snapshot, so a crash in the
middle of compaction loses nothing.  A torn last line (a crash mid-append, never
acknowledged) is ignored and cut off by the next writer.

Every process keeps the parsed state in memory and, before each read or
transaction, checks the journal's identity (inode, size, and its header line, which
carries a random id: ext4 hands a freed inode number to the next new file, so a
journal replaced by compaction may come back with the inode of one this process
still remembers) and reads only the lines appended since; transaction numbers must
follow on, else it reloads from scratch.  A complete line that does not parse is
damage, not a torn tail: the store refuses to open rather than cut off what follows.
"""
import glob
import json
import os
import secrets
from contextlib import contextmanager

from filelock import FileLock, Timeout

from .base import COLLECTIONS, LockTimeout, StoreError, timestamp
from .memory import Tables, Transaction
from . import repositories

JOURNAL = "journal.jsonl"
DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path, data: bytes, mode=None):
    """Temp file in the same folder (never ending in .json), fsync, os.replace, fsync the folder."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode or 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(folder)


def encode_snapshot(collection, tx, records):
    """Pretty-printed, one record per indented block, readable in any editor."""
    parts = [json.dumps(r, indent=2, ensure_ascii=False, sort_keys=False) for r in records]
    body = ",\n".join("    " + p.replace("\n", "\n    ") for p in parts)
    head = json.dumps({"collection": collection, "tx": tx, "count": len(records)}, ensure_ascii=False)[:-1]
    text = head + ', "records": [\n' + body + ("\n" if parts else "") + "  ]\n}\n"
    return text.encode("utf-8")


class JsonFileStore:
    name = "json"

    def __init__(self, data_dir, lock_timeout=10.0, compact_bytes=DEFAULT_COMPACT_BYTES):
        self.dir = os.path.abspath(data_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.journal_path = os.path.join(self.dir, JOURNAL)
        self.lock = FileLock(os.path.join(self.dir, ".store.lock"), timeout=lock_timeout)
        self.lock_timeout = lock_timeout
        self.compact_bytes = compact_bytes
        self.tables = None
        self._ino = None
        self._header = b""
        self._offset = 0
        self._snapshot_tx = {}
        with self._locked():
            self._remove_stale_temp_files()
            if not os.path.exists(self.journal_path):
                self._load()
                self._start_journal(max(self._snapshot_tx.values(), default=0))
            self._load()

    # ---- locking -------------------------------------------------------
    @contextmanager
    def _locked(self):
        try:
            self.lock.acquire(timeout=self.lock_timeout, poll_interval=0.001)
        except Timeout as exc:
            raise LockTimeout("the store is busy; try again") from exc
        try:
            yield
        finally:
            self.lock.release()

    def _remove_stale_temp_files(self):
        """Temp files of snapshots or journals whose writer died; only written under the lock we hold."""
        names = [JOURNAL] + [f"{c}.json" for c in COLLECTIONS]
        for name in names:
            for path in glob.glob(os.path.join(glob.escape(self.dir), glob.escape(name) + ".*.tmp")):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    # ---- loading -------------------------------------------------------
    def _read_snapshot(self, collection):
        path = os.path.join(self.dir, f"{collection}.json")
        try:
            with open(path, "rb") as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            return 0, []
        return int(doc.get("tx", 0)), doc.get("records", [])

    def _load(self):
        """Rebuild everything from the snapshot files and the journal (rare: start-up, after compaction)."""
        tables = Tables()
        snap_tx = {}
        for collection in COLLECTIONS:
            tx, records = self._read_snapshot(collection)
            snap_tx[collection] = tx
            for rec in records:
                tables.apply(collection, rec["id"], rec)
        tables.tx = max(snap_tx.values(), default=0)
        self._snapshot_tx = snap_tx
        try:
            fd = os.open(self.journal_path, os.O_RDONLY)
        except FileNotFoundError:
            self.tables, self._ino, self._header, self._offset = tables, None, b"", 0
            return
        try:
            st = os.fstat(fd)
            data = _read_all(fd)
        finally:
            os.close(fd)
        end = data.find(b"\n")
        if end < 0:
            raise StoreError("journal header is missing")
        header = json.loads(data[:end])
        offset = end + 1
        tables.tx = max(tables.tx, header.get("base_tx", 0))
        offset = self._replay(tables, data, offset, snap_tx)
        self.tables, self._ino, self._header, self._offset = tables, st.st_ino, data[:end + 1], offset

    def _replay(self, tables, data, offset, snap_tx=None):
        """Apply whole journal lines from offset on; returns the offset after the last good line."""
        while True:
            end = data.find(b"\n", offset)
            if end < 0:
                return offset
            try:
                entry = json.loads(data[offset:end])
            except ValueError:
                # A torn append never reaches its newline (JSON escapes newlines inside a line),
                # so a whole line that does not parse is damage; cutting it off would also cut
                # every acknowledged transaction after it.
                if snap_tx is None:
                    raise _Reload()
                raise StoreError(f"{self.journal_path} is damaged at byte {offset}; "
                                 "restore it from a backup") from None
            tx = entry["tx"]
            if tx <= tables.tx and snap_tx is None:
                raise _Reload()
            if snap_tx is None and tx != tables.tx + 1:
                raise _Reload()
            for collection, record_id, record in entry["ops"]:
                if snap_tx is not None and tx <= snap_tx.get(collection, 0):
                    continue
                tables.apply(collection, record_id, record)
            tables.tx = max(tables.tx, tx)
            offset = end + 1

    def refresh(self, locked=False):
        """Bring this process's state up to date with every committed transaction."""
        try:
            fd = os.open(self.journal_path, os.O_RDONLY)
        except FileNotFoundError:
            fd = None
        if fd is None:
            self._reload(locked)
            return
        try:
            st = os.fstat(fd)
            if (st.st_ino != self._ino or st.st_size < self._offset
                    or os.pread(fd, len(self._header), 0) != self._header):
                os.close(fd)
                fd = None
                self._reload(locked)
                return
            if st.st_size == self._offset:
                return
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = _read_all(fd)
        finally:
            if fd is not None:
                os.close(fd)
        try:
            consumed = self._replay(self.tables, data, 0)
        except _Reload:
            self._reload(locked)
            return
        self._offset += consumed

    def _reload(self, locked):
        if locked:
            self._load()
        else:
            with self._locked():
                self._load()

    # ---- transactions --------------------------------------------------
    @contextmanager
    def transaction(self):
        with self._locked():
            self.refresh(locked=True)
            yield Transaction(self.tables)

    @contextmanager
    def snapshot(self):
        self.refresh()
        yield Transaction(self.tables)

    def unit_of_work(self):
        return repositories.UnitOfWork(self)

    def reader(self):
        return repositories.UnitOfWork(self, readonly=True)

    def commit(self, tx):
        """Append the transaction to the journal and fsync it; only then is it applied and acknowledged."""
        ops = tx.ops()
        if not ops:
            return
        number = self.tables.tx + 1
        line = (json.dumps({"tx": number, "at": timestamp(), "ops": ops},
                           ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        try:
            st = os.fstat(fd)
            size = st.st_size
            if st.st_ino != self._ino or size < self._offset:
                raise StoreError("the journal changed under the lock; nothing was written")
            if size != self._offset:
                os.ftruncate(fd, self._offset)  # cut a torn line left by a crashed writer
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, self._offset)
                raise StoreError(f"could not write the journal: {exc}") from exc
        finally:
            os.close(fd)
        for collection, record_id, record in ops:
            self.tables.apply(collection, record_id, record)
        self.tables.tx = number
        self._offset += len(line)
        tx.writes = {}
        if self._offset > self.compact_bytes:
            self.compact()

    def compact(self):
        """Rewrite the snapshot files from memory and start a fresh journal (caller holds the lock)."""
        tx = self.tables.tx
        for collection in COLLECTIONS:
            records = list(self.tables.records[collection].values())
            if self._snapshot_tx.get(collection) == tx:
                continue
            write_file_atomically(os.path.join(self.dir, f"{collection}.json"),
                                  encode_snapshot(collection, tx, records))
            self._snapshot_tx[collection] = tx
        header = self._start_journal(tx)
        st = os.stat(self.journal_path)
        self._ino, self._header, self._offset = st.st_ino, header, st.st_size

    def _start_journal(self, base_tx):
        header = (json.dumps({"journal": 1, "base_tx": base_tx, "started_at": timestamp(),
                              "id": secrets.token_hex(8)}) + "\n").encode()
        write_file_atomically(self.journal_path, header)
        return header

    def checkpoint(self):
        """Compact now (used by scripts and backups)."""
        with self._locked():
            self.refresh(locked=True)
            self.compact()

    def check(self):
        """Readiness: the journal can be read and the folder written."""
        self.refresh()
        probe = os.path.join(self.dir, f".ready.{os.getpid()}.tmp")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
        return True

    def close(self):
        pass


class _Reload(Exception):
    """The journal does not follow on from what this process has: reload from scratch."""


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
