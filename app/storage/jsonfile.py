"""The default backend: an fsynced append-only journal of committed transactions plus
pretty-printed snapshot files per collection, shared safely by any number of processes.

Layout of SHOP_DATA_DIR:
  journal.jsonl      line 1 {"journal": 1, "base_tx": B, "started_at", "id", "files": {collection:
                     the tx its snapshot file held then}}; then one line per
                     committed transaction {"tx": N, "at": ts, "ops": [[collection, id, record|null], ...]},
                     then, when it appended to logs, a TAB and [[log, id, entry], ...]: the entries
                     themselves live in logs/<log>/; the journal carries them only to repair a
                     segment's lost tail, so following processes never parse them (compact JSON
                     never holds a raw TAB: inside strings it is escaped)
  <collection>.json  {"collection", "tx": T, "count", "records": [...]}: state after tx T
  .store.lock        the write lock (flock, see WriteLock), held for a whole read-modify-write
  .compact.lock      held by the one process that is compacting

A commit appends one line under the write lock and fsyncs it as soon as it has let go of the
lock, before its client is answered; so it costs the same with 100 or 100,000 past orders,
and the next writer computes while this one waits for the disk (several writers waiting at
once share one flush: an fsync writes out the whole file, every earlier line with it). A
line is visible to other processes from the moment it is written, as in InnoDB or SQLite's
WAL: a writer that builds on it is acknowledged only after an fsync that covers both. When
the journal grows past a threshold, the committing process compacts in a background thread
after it has let go of the write lock, so neither its client nor the other processes wait
(rewriting 100,000 orders takes seconds): it writes the snapshot file of every collection
changed since its file was last written, as of the transaction T it had just committed (temp
file, fsync, os.replace, fsync folder; the other files already hold their collection, and the
new journal's header names the transaction each file holds), then,
briefly under the write lock, replaces the journal with one based on T that keeps the lines
committed since, plus an overlap of lines before T. Committed records are never changed in
place (a change stores a new dict), so a list of a collection's records taken at T stays the
state at T. Opening replays, per collection, the journal's transactions newer than that
collection's snapshot, so a crash at any point of compaction loses nothing. A torn last line
(a crash mid-append, never acknowledged) is ignored and cut off by the next writer.

Every process keeps the parsed state in memory and, before each read or transaction,
checks the journal's identity (inode, size, and its header line, which carries a random
id: ext4 hands a freed inode number to the next new file, so a replaced journal may come
back with the inode of one this process still remembers) and reads only the lines
appended since; transaction numbers must follow on.  When the journal was replaced, a
process picks up in the overlap where it left off; only one further behind re-reads the
snapshot files.  A complete line that does not parse is damage, not a torn tail: the
store refuses to open rather than cut off what follows.

A JsonFileStore object serves one thread at a time (gunicorn's sync workers); it is
processes that share a data directory safely.
"""
import fcntl
import functools
import glob
import json
import logging
import os
import re
import secrets
import signal
import threading
import time
import weakref
from contextlib import contextmanager

from filelock import FileLock, Timeout

from .base import COLLECTIONS, FILE_LOGS, LEGACY_TABLES, LockTimeout, StoreError, ids_after, timestamp
from .logfiles import SEGMENT_BYTES, JsonLogs, LogFiles, empty_position, position_id
from .memory import Tables, Transaction
from . import codec, repositories

JOURNAL = "journal.jsonl"
DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024
MAX_OVERLAP_BYTES = 16 * 1024 * 1024
CHECKPOINT_WAIT = 600.0
log = logging.getLogger("backroom.storage")


_PID = [os.getpid()]  # this process's id, kept current across forks (a syscall per call saved)
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _pid():
    return _PID[0]


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path, data, mode=None):
    """Temp file in the same folder (never ending in .json), fsync, os.replace, fsync the folder.

    data: bytes, or an iterable of bytes chunks (written as they come, so a big snapshot is never
    whole in memory)."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode or 0o644)
    try:
        for chunk in (data,) if isinstance(data, (bytes, bytearray)) else data:
            _write_all(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(folder)


_SNAPSHOT_TX = re.compile(rb'"tx": (\d+)')
SNAPSHOT_BATCH = 2000  # records encoded per chunk of a snapshot file


def snapshot_chunks(collection, tx, records):
    """A snapshot file as bytes chunks: pretty-printed, one record per indented block, readable
    in any editor."""
    head = json.dumps({"collection": collection, "tx": tx, "count": len(records)}, ensure_ascii=False)[:-1]
    yield (head + ', "records": [\n').encode("utf-8")
    for start in range(0, len(records), SNAPSHOT_BATCH):
        body = b",\n".join(b"    " + codec.dumps_pretty(r).replace(b"\n", b"\n    ")
                           for r in records[start:start + SNAPSHOT_BATCH])
        yield b",\n" + body if start else body
    yield (b"\n" if records else b"") + b"  ]\n}\n"


def encode_snapshot(collection, tx, records):
    """A whole snapshot file's bytes (see snapshot_chunks)."""
    return b"".join(snapshot_chunks(collection, tx, records))


class JsonFileStore:
    name = "json"
    on_commit = None  # called with each writing unit of work just before it commits (the audit log)

    def __init__(self, data_dir, lock_timeout=10.0, compact_bytes=DEFAULT_COMPACT_BYTES):
        self.dir = os.path.abspath(data_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.journal_path = os.path.join(self.dir, JOURNAL)
        self._locks_pid, self._lock, self._compact_lock = None, None, None  # see _own_locks
        self.lock_timeout = lock_timeout
        self.compact_bytes = compact_bytes
        # a committing process compacts once the journal passes compact_bytes times this; with a
        # background process in charge (make serve sets 4), that one compacts at compact_bytes
        # (compact_if_due), away from the requests, and a worker only if it has fallen far behind
        self.commit_compact_factor = 1
        # while the request thread waits for the write lock, a helper thread replays what the
        # writers ahead of it commit (see _CatchUp); make serve turns it on in its workers, whose
        # one request thread is the only one that reads the store
        self.catch_up_while_waiting = False
        self._catch_up, self._catch_up_pid = None, None
        self.caught_up = 0  # transactions the helper replayed (this process)
        # lines before a compaction's T kept in the new journal, so processes a little behind follow on
        self.overlap_bytes = min(compact_bytes // 4, MAX_OVERLAP_BYTES)
        self.tables = None
        self._ino = None
        self._header = b""
        self._offset = 0
        self._compact_due = False
        self._unsynced = None  # descriptor of the journal a commit wrote to, until it is fsynced
        self.log_files = LogFiles(os.path.join(self.dir, "logs"))
        self.segment_bytes = SEGMENT_BYTES
        # the journal this process follows, kept open: while it is open its inode cannot be
        # reused, so one stat of the path tells whether it is still the journal (see _kept_journal)
        self._jfd, self._jfd_pid, self._jfd_id = None, None, None
        os.register_at_fork(before=functools.partial(_close_journal_before_fork, weakref.ref(self)))
        self._compactor = None
        self._next_compaction_try = 0.0
        self._pending_since = None  # when refresh_snapshots first saw a change it has not written
        if not os.path.exists(self.journal_path) or self._stale_temp_files():
            with self._locked():
                self._remove_stale_temp_files()
                self._load()
                if self._ino is None:  # a new store, or snapshot files without a journal
                    for collection in COLLECTIONS:  # every snapshot file exists from the start
                        path = os.path.join(self.dir, f"{collection}.json")
                        if not os.path.exists(path):
                            write_file_atomically(path, encode_snapshot(collection, self.tables.tx, []))
                    header = self._start_journal(self.tables.tx)
                    fd = self._open_journal()
                    st = os.fstat(fd)
                    self._keep_open(fd, st)
                    self._ino, self._header, self._offset = st.st_ino, header, len(header)
        else:
            # Many workers start at once on a big store: parsing it takes seconds, so they load
            # side by side without the write lock and check afterwards that what they read fits.
            self._reload(locked=False)
        if self._logs_need_repair():
            with self._locked():
                self.refresh(locked=True)
                for log_name in FILE_LOGS:
                    self._repair_log(log_name)

    # ---- locking -------------------------------------------------------
    def _own_locks(self):
        """Lock objects must not cross a fork (gunicorn preloads, then forks workers): each
        process makes its own."""
        if self._locks_pid != _pid():
            self._lock = WriteLock(os.path.join(self.dir, ".store.lock"))
            # thread_local: the compaction thread and the request thread exclude each other too
            self._compact_lock = FileLock(os.path.join(self.dir, ".compact.lock"), thread_local=True)
            self._locks_pid = _pid()
            self._compactor = None  # a compaction thread of the parent does not run here

    @property
    def lock(self):
        self._own_locks()
        return self._lock

    @property
    def compact_lock(self):
        self._own_locks()
        return self._compact_lock

    @contextmanager
    def _locked(self):
        lock = self.lock
        lock.acquire(self.lock_timeout, self._waiting_helper())
        try:
            yield
        finally:
            lock.release()

    def _waiting_helper(self):
        """This process's _CatchUp when it is on and this is the main thread, else None."""
        if not self.catch_up_while_waiting or threading.current_thread() is not threading.main_thread():
            return None
        if self._catch_up_pid != _pid():
            self._catch_up, self._catch_up_pid = _CatchUp(self), _pid()
        return self._catch_up

    def _catch_up_lines(self):
        """refresh()'s usual case alone, without the lock and never waiting for it: replay the
        whole lines others appended to the kept journal. Anything else (a compaction's new
        journal, a line that does not follow on) is left to the next refresh, which reloads."""
        fd, size = self._kept_journal()
        if fd is None or size <= self._offset:
            return
        data = _read_from(fd, self._offset, size)
        before = self.tables.tx
        try:
            consumed = self._replay(self.tables, data, 0)
        except _Reload:
            # lines applied before the one that did not follow on leave the tables ahead of the
            # offset: the next refresh reads them again, finds them not newer, and reloads
            return
        self._offset += consumed
        self.caught_up += self.tables.tx - before

    def _stale_temp_files(self):
        """Temp files of snapshots or journals (write_file_atomically's `<name>.<pid>.tmp`)."""
        return [path for name in [JOURNAL] + [f"{c}.json" for c in COLLECTIONS]
                for path in glob.glob(os.path.join(glob.escape(self.dir), glob.escape(name) + ".*.tmp"))]

    def _remove_stale_temp_files(self):
        """Temp files of snapshots or journals whose writer died (caller holds the write lock).

        They are written only under the write lock or the compaction lock, so with both held
        every one left is an orphan; when another process is compacting, leave them for later."""
        try:
            self.compact_lock.acquire(timeout=0)
        except Timeout:
            return
        try:
            for path in self._stale_temp_files():
                try:
                    os.unlink(path)
                except OSError:
                    pass
        finally:
            self.compact_lock.release()

    # ---- loading -------------------------------------------------------
    def _read_snapshot(self, collection):
        path = os.path.join(self.dir, f"{collection}.json")
        try:
            with open(path, "rb") as fh:
                doc = codec.loads(fh.read())
        except FileNotFoundError:
            return 0, []
        return int(doc.get("tx", 0)), doc.get("records", [])

    # ---- collections an earlier release kept that are logs now --------------------------
    def _legacy_path(self, name):
        return os.path.join(self.dir, f"{name}.json")

    def legacy_records(self, name):
        """The records of a collection an earlier release kept whose file is still here
        (base.LEGACY_TABLES): its snapshot file's, with the journal's later ops over them,
        in id order; None when there is no such file. Compaction waits while one is left (it
        would drop the journal lines that hold the newest of them)."""
        path = self._legacy_path(name)
        if name not in LEGACY_TABLES or not os.path.exists(path):
            return None
        with self._locked():
            tx, records = self._read_snapshot(name)
            kept = {r["id"]: r for r in records}
            try:
                with open(self.journal_path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                data = b""
            for line in data.split(b"\n")[1:]:
                tab = line.find(b"\t")
                try:
                    entry = codec.loads(line if tab < 0 else line[:tab]) if line else None
                except ValueError:
                    break  # a torn tail
                if not entry or entry.get("tx", 0) <= tx:
                    continue
                for collection, record_id, record in entry.get("ops", ()):
                    if collection == name:
                        if record is None:
                            kept.pop(record_id, None)
                        else:
                            kept[record_id] = record
        return [kept[k] for k in sorted(kept)]

    def forget_legacy(self, name):
        """After the commit that moved them: the old file goes (the journal's old ops on it are
        skipped by replay, as any op on a log is)."""
        try:
            os.unlink(self._legacy_path(name))
        except FileNotFoundError:
            pass

    def _legacy_left(self):
        return any(os.path.exists(self._legacy_path(n)) for n in LEGACY_TABLES)

    def _load(self, check=False):
        """Rebuild everything from the snapshot files and the journal (rare: start-up, after compaction).

        With check=True (no lock held) it returns False, changing nothing, when the files read
        do not fit together because a compaction replaced some of them meanwhile."""
        tables = Tables()
        snap_tx = {}
        for collection in COLLECTIONS:
            tx, records = self._read_snapshot(collection)
            snap_tx[collection] = tx
            for rec in records:
                tables.apply(collection, rec["id"], rec)
        tables.tx = max(snap_tx.values(), default=0)
        tables.changed_tx.update(snap_tx)
        try:
            fd = self._open_journal()
        except FileNotFoundError:
            self.tables, self._ino, self._header, self._offset = tables, None, b"", 0
            return
        try:
            st = os.fstat(fd)
            data = _read_from(fd, 0)
            loaded = self._load_journal(tables, snap_tx, data, st, check)
        except BaseException:
            os.close(fd)
            raise
        if loaded:
            self._keep_open(fd, st)
        else:
            os.close(fd)
        return loaded

    def _load_journal(self, tables, snap_tx, data, st, check):
        """_load's second half: replay the journal's bytes over the snapshots' tables."""
        end = data.find(b"\n")
        if end < 0:
            raise StoreError("journal header is missing")
        header = json.loads(data[:end])
        offset = end + 1
        tables.tx = max(tables.tx, header.get("base_tx", 0))
        if check:
            # read without the lock: every snapshot must be followed on by the journal we read,
            # or a compaction swapped files in between and this load must be done again
            files = header.get("files")
            if files is not None:  # each file at least as new as when this journal began
                if any(snap_tx.get(c, 0) < files.get(c, 0) for c in COLLECTIONS):
                    return False
            else:
                line_end = data.find(b"\n", offset)
                first_tx = _line_tx(data, offset, line_end) if line_end > 0 else None
                for tx in snap_tx.values():
                    if (first_tx is None and tx < header.get("base_tx", 0)) or (
                            first_tx is not None and tx + 1 < first_tx):
                        return False
        offset = self._replay(tables, data, offset, snap_tx)
        self.tables, self._ino, self._header, self._offset = tables, st.st_ino, data[:end + 1], offset
        return True

    def _replay(self, tables, data, offset, snap_tx=None):
        """Apply whole journal lines from offset on; returns the offset after the last good line."""
        while True:
            end = data.find(b"\n", offset)
            if end < 0:
                return offset
            tab = data.find(b"\t", offset, end)  # the line's log entries, not replayed
            try:
                entry = codec.loads(data[offset:end if tab < 0 else tab])
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
            changed = tables.changed_tx
            for collection, record_id, record in entry["ops"]:
                if snap_tx is not None and tx <= snap_tx.get(collection, 0):
                    continue
                tables.apply(collection, record_id, record)
                changed[collection] = tx
            tables.tx = max(tables.tx, tx)
            offset = end + 1

    def refresh(self, locked=False):
        """Bring this process's state up to date with every committed transaction."""
        replaced = None
        fd, size = self._kept_journal()
        if fd is not None:  # the usual case: one stat, and a read only when others appended
            if size == self._offset:
                return
            if size < self._offset:  # cut below what this process read: nothing to follow on
                self._reload(locked)
                return
            data = _read_from(fd, self._offset, size)
        else:
            try:
                fd = self._open_journal()
            except FileNotFoundError:
                self._reload(locked)
                return
            try:
                st = os.fstat(fd)
                if (st.st_ino == self._ino and st.st_size >= self._offset
                        and os.pread(fd, len(self._header), 0) == self._header):
                    data = _read_from(fd, self._offset)
                else:  # compaction replaced the journal: follow on in its overlap, or reload
                    data = _read_from(fd, 0)
                    found = self._follow_on(data)
                    if found is None:
                        os.close(fd)
                        self._reload(locked)
                        return
                    header_end, start = found
                    replaced = (st.st_ino, data[:header_end], start)
                    data = data[start:]
            except BaseException:
                os.close(fd)
                raise
            self._keep_open(fd, st)
        try:
            consumed = self._replay(self.tables, data, 0)
        except _Reload:
            self._reload(locked)
            return
        if replaced is not None:
            self._ino, self._header, self._offset = replaced
        self._offset += consumed

    def _open_journal(self):
        """A descriptor of the journal as every process keeps it: commits append through it."""
        return os.open(self.journal_path, os.O_RDWR | os.O_APPEND)

    def _kept_journal(self):
        """(descriptor, size) of the journal file this process keeps open, while the journal's path
        still names it; else (None, None). An inode cannot be reused while a descriptor holds it,
        so the same inode number is the same file."""
        if self._jfd is None or self._jfd_pid != _pid():
            return None, None
        try:
            st = os.stat(self.journal_path)
        except FileNotFoundError:
            return None, None
        if (st.st_dev, st.st_ino) != self._jfd_id:
            return None, None
        return self._jfd, st.st_size

    def _keep_open(self, fd, st):
        """Follow the journal through fd from now on; let go of the one kept before."""
        old = self._jfd if self._jfd_pid == _pid() else None
        self._jfd, self._jfd_pid, self._jfd_id = fd, _pid(), (st.st_dev, st.st_ino)
        if old is not None and old != fd and old != self._unsynced:
            os.close(old)

    def _close_journal(self):
        """Let go of the kept journal descriptor (reopened when next needed)."""
        fd = self._jfd if self._jfd_pid == _pid() else None
        self._jfd, self._jfd_pid, self._jfd_id = None, None, None
        if fd is not None and fd != self._unsynced:
            os.close(fd)

    def _follow_on(self, data):
        """In a replaced journal, (end of its header, offset of this process's next transaction);
        None when it no longer reaches back that far (or does not parse)."""
        header_end = data.find(b"\n") + 1
        if header_end <= 0 or self.tables is None:
            return None
        try:
            last = json.loads(data[:header_end])["base_tx"]
        except (ValueError, KeyError, TypeError):
            return None
        wanted = self.tables.tx + 1
        offset = header_end
        while True:
            end = data.find(b"\n", offset)
            if end < 0:  # nothing newer than what this process has: current only if it saw the last one
                return (header_end, offset) if last == self.tables.tx else None
            tx = _line_tx(data, offset, end)
            if tx is None:
                return None
            if tx >= wanted:
                return (header_end, offset) if tx == wanted else None
            last = max(last, tx)
            offset = end + 1

    def _reload(self, locked):
        if locked:
            self._load()
            return
        for _ in range(3):
            try:
                if self._load(check=True):
                    return
            except (StoreError, FileNotFoundError):
                pass  # a file replaced under our feet; the locked load below settles it
        with self._locked():
            self._load()

    # ---- transactions --------------------------------------------------
    @contextmanager
    def transaction(self):
        try:
            with self._locked():
                self.refresh(locked=True)
                ids_after(self.tables.newest_id)
                yield Transaction(self.tables, JsonLogs(self.log_files, self.tables))
        finally:
            # The commit's line was written under the lock; it is fsynced after the lock is let go,
            # so the next writer works while this one waits for the disk (and the kernel makes one
            # flush of several waiting writers). Only then does the caller answer its client.
            self._sync_committed()
        if self._compact_due:  # committed and unlocked: compact without making anyone wait
            self._compact_due = False
            self._compact_in_background()

    def snapshot(self):
        """Read the committed state, brought up to date (a plain context manager: readers are
        the commonest request, and a generator-based one costs more than the stat)."""
        self.refresh()
        return _Snapshot(Transaction(self.tables, JsonLogs(self.log_files, self.tables)))

    def unit_of_work(self):
        return repositories.UnitOfWork(self)

    def reader(self):
        return repositories.UnitOfWork(self, readonly=True)

    def commit(self, tx):
        """Append the transaction to the journal and fsync it; only then is it applied and acknowledged."""
        ops = tx.ops()
        entries = []
        if tx.appends:
            entries, positions = self._append_logs(tx.appends)
            ops += positions
        if not ops:
            return
        number = self.tables.tx + 1
        line = codec.dumps_line({"tx": number, "at": timestamp(), "ops": ops})
        line += (b"\t" + codec.dumps_line(entries) if entries else b"") + b"\n"
        # transaction() refreshed under this lock, so the kept descriptor is the journal's file
        fd, size = self._kept_journal()
        if fd is None or self._jfd_id[1] != self._ino or size < self._offset:
            raise StoreError("the journal changed under the lock; nothing was written")
        if size != self._offset:
            os.ftruncate(fd, self._offset)  # cut a torn line left by a crashed writer
        try:
            _write_all(fd, line)
        except OSError as exc:
            os.ftruncate(fd, self._offset)
            raise StoreError(f"could not write the journal: {exc}") from exc
        self._unsynced = fd  # fsynced by transaction() once the lock is let go
        changed = self.tables.changed_tx
        for collection, record_id, record in ops:
            self.tables.apply(collection, record_id, record)
            changed[collection] = number
        self.tables.tx = number
        self._offset += len(line)
        tx.writes, tx.appends = {}, []
        if self._offset > self.compact_bytes * self.commit_compact_factor:
            self._compact_due = True

    # ---- logs ----------------------------------------------------------
    def _append_logs(self, appends):
        """Under the write lock: append each log's new entries to its segment file (cutting off
        what a crashed writer left past the committed size, starting a new segment when this one
        is full); (the entries as [log, id, entry] for the journal line's tail, which repairs a
        segment; the journal ops that commit each log's new position)."""
        by_log = {}
        for log_name, record in appends:
            by_log.setdefault(log_name, []).append(record)
        entries, ops = [], []
        for log_name, records in by_log.items():
            position = dict(self.tables.records["counters"].get(position_id(log_name))
                            or empty_position(log_name))
            data = b"".join(codec.dumps_line(r) + b"\n" for r in records)
            fd = self.log_files.writer(log_name, position["segment"])
            size = os.fstat(fd).st_size
            if size < position["size"]:  # a crash lost committed bytes: put them back first
                self._repair_log(log_name)
                size = os.fstat(fd).st_size
            if position["size"] and position["size"] + len(data) > self.segment_bytes:
                os.fsync(fd)  # a full segment is complete and durable before the next one starts
                position["segment"] += 1
                position["size"] = 0
                fd = self.log_files.writer(log_name, position["segment"])
                size = os.fstat(fd).st_size
            if size != position["size"]:
                os.ftruncate(fd, position["size"])
            try:
                _pwrite_all(fd, data, position["size"])
            except OSError as exc:
                os.ftruncate(fd, position["size"])
                raise StoreError(f"could not write the {log_name} log: {exc}") from exc
            entries += [[log_name, r["id"], r] for r in records]
            position["size"] += len(data)
            position["value"] += len(records)
            ops.append(["counters", position["id"], position])
        return entries, ops

    def _logs_need_repair(self):
        for log_name in FILE_LOGS:
            position = self.tables.records["counters"].get(position_id(log_name))
            if position is None:
                continue
            try:
                size = os.path.getsize(self.log_files.path(log_name, position["segment"]))
            except FileNotFoundError:
                size = 0
            if size != position["size"]:
                return True
        return False

    def _repair_log(self, log_name):
        """Under the write lock: make a log's current segment hold exactly what is committed. Bytes
        past the committed size (a writer crashed before its journal line) are cut off; bytes
        missing (a crash before the segment's fsync, though its journal line survived) are put
        back from the journal lines, which carry every entry since the last compaction (and a
        compaction fsyncs every segment before it drops lines)."""
        position = self.tables.records["counters"].get(position_id(log_name))
        if position is None:
            return
        fd = self.log_files.writer(log_name, position["segment"])
        size = os.fstat(fd).st_size
        if size > position["size"]:
            os.ftruncate(fd, position["size"])
        elif size < position["size"]:
            missing = self._journal_log_lines(log_name, position["segment"], size)
            if missing is None:
                raise StoreError(f"the {log_name} log lost committed entries the journal no longer "
                                 "holds; restore it from a backup")
            start, data = missing
            os.ftruncate(fd, start)
            _pwrite_all(fd, data, start)
        os.fsync(fd)

    def _journal_log_lines(self, log_name, segment, size):
        """(offset, bytes) of the log entries the journal committed to this segment from the
        transaction whose entries end past `size` on; None when the journal does not reach back."""
        fd = self._open_journal()
        try:
            data = _read_from(fd, 0)
        finally:
            os.close(fd)
        wanted = position_id(log_name)
        chunks, start = [], None
        for line in data.split(b"\n")[1:]:
            if not line:
                continue
            head, _, tail = line.partition(b"\t")
            try:
                entry = codec.loads(head)
                ops = entry["ops"] + (codec.loads(tail) if tail else [])
            except ValueError:
                break
            records = [rec for coll, _, rec in ops if coll == log_name]
            ends = [rec for coll, rid, rec in ops if coll == "counters" and rid == wanted]
            if not ends or ends[-1]["segment"] != segment:
                continue
            data_here = b"".join(codec.dumps_line(r) + b"\n" for r in records)
            begins = ends[-1]["size"] - len(data_here)
            if start is None:
                if ends[-1]["size"] <= size:
                    continue
                if begins > size:
                    return None  # the entries between are in no line the journal still has
                start = begins
            chunks.append(data_here)
        if start is None:
            return None
        return start, b"".join(chunks)

    def _sync_all_logs(self):
        """Every log's current segment made durable (a compaction does this before it drops
        journal lines, which are what a lost segment tail is repaired from)."""
        for log_name in FILE_LOGS:
            for segment in self.log_files.segments(log_name)[-1:]:
                fd = os.open(self.log_files.path(log_name, segment), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def events_after(self, event_id, limit=100):
        """Committed events after event_id (None: from the first), in commit order; None when
        event_id is not in the log."""
        self.refresh()
        logs = JsonLogs(self.log_files, self.tables)
        if event_id is None:
            return repositories.entries_after(logs.oldest_first("events"), None, limit)
        return logs.after("events", event_id, limit)

    def wait_for_events(self, timeout):
        """Block until another commit lands in the journal (any process), or timeout; True if one did.
        (A stat every 50 ms: the journal's size moves with every commit.)"""
        deadline = time.monotonic() + timeout
        try:
            start = os.stat(self.journal_path).st_size
        except FileNotFoundError:
            start = None
        while True:
            try:
                if os.stat(self.journal_path).st_size != start:
                    return True
            except FileNotFoundError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))

    def _sync_committed(self):
        """fsync the journal a commit of this transaction wrote to (its descriptor stays open, so
        this reaches the lines even if a compaction has replaced the journal since). An fsync
        flushes the whole file, so it also covers every line written before this one."""
        fd, self._unsynced = self._unsynced, None
        if fd is None:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            # Other writers may already have appended after this line, so it cannot be cut off:
            # the client is told the change failed, and the operator must look at the disk.
            log.critical("fsync of %s failed after a commit: %s", self.journal_path, exc)
            raise StoreError(f"could not make the journal durable: {exc}") from exc
        finally:
            if fd != self._jfd:  # no longer the kept one (it was let go meanwhile)
                os.close(fd)

    def _compact_in_background(self):
        """Start compacting as of the state just committed, unless this process already is, or
        another process was compacting a moment ago."""
        if self.compacting or time.monotonic() < self._next_compaction_try:
            return
        state = self._compaction_state()
        self._compactor = threading.Thread(target=self._compact_quietly, args=(state,),
                                           name="backroom-compaction", daemon=True)
        self._compactor.start()

    def _compact_quietly(self, state):
        try:
            if not self._compact_from(state, wait=False):
                self._next_compaction_try = time.monotonic() + 1.0
        except Exception:  # noqa: BLE001 - the commit is durable; a later one tries again
            self._next_compaction_try = time.monotonic() + 1.0
            log.warning("compacting the journal failed; a later commit will try again", exc_info=True)

    def _compaction_state(self):
        """What a compaction needs, taken at once: tx, where it ends in which journal, and the
        records of each collection whose snapshot file is older than its last change (the
        others' files already hold them: the background process keeps them fresh), with the
        transaction every other file holds."""
        behind, files = self._files_behind()
        records = {c: list(self.tables.records[c].values()) for c in behind}
        return self.tables.tx, self._offset, self._ino, self._header, (records, files)

    @property
    def compacting(self):
        """True while this process compacts in the background."""
        return self._compactor is not None and self._compactor.is_alive()

    def compact_if_due(self):
        """Compact now when the journal has passed compact_bytes (the background process's task);
        True when it did. Another process compacting at the moment: False, nothing waits."""
        self.refresh()
        if self._offset <= self.compact_bytes:
            return False
        return self._compact_from(None, wait=False)

    def compact(self, wait=True):
        """Write every snapshot file as of the newest transaction, then start the journal after it.

        Holds the write lock only to swap the journal. One process compacts at a time; with
        wait=False this returns False at once when another one is at it."""
        return self._compact_from(None, wait)

    def _compact_from(self, state, wait):
        timeout = CHECKPOINT_WAIT if wait else 0
        try:
            self.compact_lock.acquire(timeout=timeout, poll_interval=0.005)
        except Timeout as exc:
            if wait:
                raise LockTimeout("another process is compacting the store; try again") from exc
            return False
        try:
            in_caller_thread = state is None  # only the caller's thread may touch this process's state
            if in_caller_thread:
                self.refresh()
                state = self._compaction_state()
            tx, position, ino, header, (records, files) = state
            if json.loads(header)["base_tx"] == tx:
                return True  # nothing committed since the last compaction finished
            if self._legacy_left():
                return False  # the start-up step has yet to move an earlier release's records
            if not self._journal_is(ino, header):
                return True  # another process compacted after this state was taken: nothing to add
            self._sync_all_logs()  # the journal lines about to go are what repairs a log
            for collection, kept in records.items():
                write_file_atomically(os.path.join(self.dir, f"{collection}.json"),
                                      snapshot_chunks(collection, tx, kept))
                files[collection] = tx
            with self._locked():
                new_ino, new_header, new_position = self._swap_journal(tx, ino, header, position, files)
            self._pending_since = None  # every file is as fresh as the journal's base now
            if in_caller_thread:  # else its next refresh follows on in the new journal's overlap
                self._ino, self._header, self._offset = new_ino, new_header, new_position
            return True
        finally:
            self.compact_lock.release()

    def _journal_is(self, ino, header):
        try:
            fd = os.open(self.journal_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            return os.fstat(fd).st_ino == ino and os.pread(fd, len(header), 0) == header
        finally:
            os.close(fd)

    def _swap_journal(self, tx, ino, header, position, files=None):
        """Under the write lock: a journal based on tx with every line after it (committed while the
        snapshots were written) and an overlap before it; a torn tail stays behind."""
        fd = os.open(self.journal_path, os.O_RDONLY)
        try:
            if os.fstat(fd).st_ino != ino or os.pread(fd, len(header), 0) != header:
                raise StoreError("the journal was replaced during compaction")  # one compactor at a time
            data = _read_from(fd, 0)
        finally:
            os.close(fd)
        keep = max(len(header), position - self.overlap_bytes)
        if keep > len(header):
            keep = data.index(b"\n", keep - 1) + 1  # from the start of a whole line
        end = data.rfind(b"\n") + 1
        if end < position:
            raise StoreError("the journal is shorter than what was compacted")
        new_header = self._journal_header(tx, files)
        write_file_atomically(self.journal_path, new_header + data[keep:end])
        return os.stat(self.journal_path).st_ino, new_header, len(new_header) + (position - keep)

    @staticmethod
    def _journal_header(base_tx, files=None):
        """The journal's first line. `files`: the transaction each snapshot file held when this
        journal replaced the last (a file left as it was, its collection unchanged since, may
        be older than base_tx; files are only ever replaced by newer ones)."""
        head = {"journal": 1, "base_tx": base_tx, "started_at": timestamp(), "id": secrets.token_hex(8)}
        if files is not None:
            head["files"] = dict(sorted(files.items()))
        return (json.dumps(head) + "\n").encode()

    def _start_journal(self, base_tx):
        header = self._journal_header(base_tx)
        write_file_atomically(self.journal_path, header)
        return header

    def backup(self, dest):
        """Copy a consistent store into dest: no compaction and no commit can run while copying."""
        import shutil
        os.makedirs(dest, exist_ok=True)
        try:
            self.compact_lock.acquire(timeout=CHECKPOINT_WAIT, poll_interval=0.005)
        except Timeout as exc:
            raise LockTimeout("another process is compacting the store; try again") from exc
        try:
            with self._locked():
                names = [f"{c}.json" for c in COLLECTIONS] + [JOURNAL, "secret.key"]
                names += [os.path.join("logs", log_name, f"{n:06d}.jsonl") for log_name in FILE_LOGS
                          for n in self.log_files.segments(log_name)]
                # section 16: images' bytes never change under their name, so a plain copy is consistent
                from .images import IMAGE_FOLDER, FileImageBytes
                names += [os.path.join(IMAGE_FOLDER, name) for name, _ in
                          FileImageBytes(os.path.join(self.dir, IMAGE_FOLDER)).names() if not name.endswith(".tmp")]
                copied = []
                for name in names:
                    os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
                    path = os.path.join(self.dir, name)
                    if os.path.exists(path):
                        shutil.copy2(path, os.path.join(dest, name))
                        copied.append(name)
                _fsync_dir(dest)
                return copied
        finally:
            self.compact_lock.release()

    def refresh_snapshots(self, settle=2.0, max_lag=30.0):
        """Rewrite the snapshot files of the collections changed since their file was written,
        once writes have settled (no commit for `settle` seconds) or, under steady writes, once
        the oldest unwritten change is `max_lag` seconds old; a missing file at once. Run by the
        background process; the journal stays as it is (each file says the transaction it holds,
        and opening replays only what is newer). The collections written (none: nothing due)."""
        self.refresh()
        due, _ = self._files_behind()
        if not due:
            self._pending_since = None
            return []
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        missing = any(not os.path.exists(os.path.join(self.dir, f"{c}.json")) for c in due)
        try:
            quiet = time.time() - os.stat(self.journal_path).st_mtime >= settle
        except FileNotFoundError:
            quiet = True
        if not (missing or quiet or now - self._pending_since >= max_lag):
            return []
        try:  # a compaction writes every file: never both at once
            self.compact_lock.acquire(timeout=0)
        except Timeout:
            return []
        try:
            self.refresh()
            tx = self.tables.tx
            for collection in due:
                write_file_atomically(os.path.join(self.dir, f"{collection}.json"),
                                      snapshot_chunks(collection, tx,
                                                      list(self.tables.records[collection].values())))
        finally:
            self.compact_lock.release()
        self._pending_since = None
        return due

    def _files_behind(self):
        """([collections whose snapshot file is missing or older than their last change known to
        this process], {every other collection: the transaction its file holds})."""
        behind, fresh = [], {}
        for collection in COLLECTIONS:
            file_tx = self._snapshot_file_tx(collection)
            if file_tx is None or file_tx < self.tables.changed_tx.get(collection, 0):
                behind.append(collection)
            else:
                fresh[collection] = file_tx
        return behind, fresh

    def _snapshot_file_tx(self, collection):
        """The transaction a snapshot file holds (from its first line), or None without one."""
        try:
            with open(os.path.join(self.dir, f"{collection}.json"), "rb") as fh:
                head = fh.read(256)
        except FileNotFoundError:
            return None
        match = _SNAPSHOT_TX.search(head)
        return int(match.group(1)) if match else None

    def checkpoint(self):
        """Compact now (used by scripts and backups): afterwards the snapshot files hold everything."""
        self.compact(wait=True)

    def check(self):
        """Readiness: the journal can be read and the folder written."""
        self.refresh()
        probe = os.path.join(self.dir, f".ready.{os.getpid()}.tmp")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)
        return True

    def close(self, timeout=CHECKPOINT_WAIT):
        """Let a compaction under way finish (a process that exits mid-way only wastes its work),
        and let go of the journal's descriptor (and of the catch-up helper)."""
        if self._catch_up is not None and self._catch_up_pid == _pid():
            self._catch_up.close()
        if self._compactor is not None:
            self._compactor.join(timeout)
        self._close_journal()
        self.log_files.forget()


class _Snapshot:
    __slots__ = ("tx",)

    def __init__(self, tx):
        self.tx = tx

    def __enter__(self):
        return self.tx

    def __exit__(self, exc_type, exc, tb):
        return False


class _LockWaitOver(Exception):
    pass


def _lock_wait_over(signum, frame):
    raise _LockWaitOver()


class WriteLock:
    """The store's write lock: flock on .store.lock through a descriptor this process keeps open.

    filelock opens the file and polls every poll_interval; under a rush of orders that costs
    more than the fsync the lock protects. Here a waiter blocks in the kernel and gets the lock
    the moment it is free; the deadline (a 503, never a hang) comes from an interval timer in
    the main thread (an interval timer the process already had is put back afterwards), and
    other threads poll briefly instead. A thread lock keeps this process's
    threads apart (flock alone would let them share the lock). Reentrant per thread."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.thread_lock = threading.RLock()
        self.depth = 0

    def acquire(self, timeout, helper=None):
        """helper: a _CatchUp, busy while this thread waits for another process's commit."""
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=timeout):
            raise LockTimeout("the store is busy; try again")
        if self.depth:
            self.depth += 1
            return
        try:
            self._flock(deadline, helper)
        except BaseException:
            self.thread_lock.release()
            raise
        self.depth = 1

    def _flock(self, deadline, helper=None):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if helper is not None:
            helper.start()
            try:
                self._wait(deadline)
            finally:
                helper.stop()
            return
        self._wait(deadline)

    def _wait(self, deadline):
        remaining = deadline - time.monotonic()
        if threading.current_thread() is threading.main_thread() and remaining > 0:
            previous = signal.signal(signal.SIGALRM, _lock_wait_over)
            started = time.monotonic()
            other = (0.0, 0.0)
            try:
                other = signal.setitimer(signal.ITIMER_REAL, remaining)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                return
            except _LockWaitOver:
                raise LockTimeout("the store is busy; try again") from None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                if other[0]:  # the process had a timer of its own (pytest-timeout's, say): put it
                    # back, less the wait; one due meanwhile fires at once, late by the wait at most
                    left = other[0] - (time.monotonic() - started)
                    signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), other[1])
        pause = 0.0002
        while time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        raise LockTimeout("the store is busy; try again")

    def release(self):
        self.depth -= 1
        if self.depth == 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()


class _CatchUp:
    """While a process's request thread waits in flock for another process's commit, this
    helper thread replays the journal lines the writers ahead of it append (every INTERVAL), so
    that once it has the lock little is left to replay under it: the lock is what every writer
    queues for, and replaying others' lines was a fifth of its holding time under load.

    Only the request thread reads the store meanwhile, and it is blocked: the two never touch
    the tables at once (stop() returns once a replay under way has ended, and none starts after).
    The helper never takes the lock; what needs it (a reload) is left to the request thread."""

    INTERVAL = 0.001

    def __init__(self, store):
        self.store = weakref.ref(store)
        self.wanted = threading.Event()
        self.busy = threading.Lock()  # held while the helper replays
        self.closed = False
        threading.Thread(target=self._run, name="backroom-catch-up", daemon=True).start()

    def start(self):
        self.wanted.set()

    def stop(self):
        self.wanted.clear()
        with self.busy:
            pass

    def close(self):
        self.closed = True
        self.wanted.set()

    def _run(self):
        while True:
            self.wanted.wait()
            if self.closed:
                return
            time.sleep(self.INTERVAL)
            with self.busy:
                store = self.store()
                if store is None or self.closed:
                    return
                if self.wanted.is_set():
                    try:
                        store._catch_up_lines()
                    except Exception:  # noqa: BLE001 - the request thread's own refresh settles it
                        log.debug("catching up with the journal failed", exc_info=True)
                del store


class _Reload(Exception):
    """The journal does not follow on from what this process has: reload from scratch."""


def _line_tx(data, start, end):
    """The transaction number of the journal line data[start:end], or None if it does not parse."""
    if data.startswith(b'{"tx":', start):  # how commit writes it
        comma = data.find(b",", start + 6, end)
        if comma > 0 and data[start + 6:comma].isdigit():
            return int(data[start + 6:comma])
    try:
        return int(json.loads(data[start:end])["tx"])
    except (ValueError, KeyError, TypeError):
        return None


def _close_journal_before_fork(store_ref):
    """A child must not inherit the kept journal descriptor (it opens its own, and an inherited
    one would pin an old journal's disk space after compaction); the parent reopens on use."""
    store = store_ref()
    if store is not None:
        store._close_journal()
        store.log_files.forget()


def _read_from(fd, offset, size=None):
    """The file's bytes from offset on (up to size when known), with pread: descriptors may be
    shared, so the file position is never used."""
    if size is not None:
        data = os.pread(fd, size - offset, offset)
        if len(data) == size - offset:
            return data
        offset, chunks = offset + len(data), [data]
    else:
        chunks = []
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _pwrite_all(fd, data, offset):
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
