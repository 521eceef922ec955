"""The JSON store's append-only logs (events, audit entries, ...): segment files read from the end, never held in memory.

Layout: SHOP_DATA_DIR/logs/<log>/<segment>.jsonl, segments numbered from 000001, one compact
JSON entry per line, a new segment once one passes SEGMENT_BYTES. How far a log is committed
lives in the store itself, as the record `log:<log>` of the `counters` collection ({segment,
size, value: entries}), written in the same journal line as the transaction whose entries it
covers: that line is the commit point. So:

- a writer (under the write lock) appends its entries to the segment before it writes its
  journal line; the line carries the entries too, so the journal's fsync (before the client is
  answered) makes them durable, and the segment itself is fsynced when it is full and before a
  compaction drops the journal lines that hold its newest entries;
- bytes past the committed size are an unacknowledged writer's, who crashed: readers never
  read them and the next writer cuts them off;
- replay skips a line's entries (logs are not kept in memory); a crash that lost segment bytes
  whose journal line survived is repaired from the journal when the store opens
  (JsonFileStore._repair_log).
"""
import os
from collections import deque

from . import codec

SEGMENT_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024


def position_id(log):
    return f"log:{log}"


def empty_position(log):
    return {"id": position_id(log), "value": 0, "segment": 1, "size": 0}


class LogFiles:
    """The segment files of every log under one folder; descriptors kept open per process."""

    def __init__(self, folder):
        self.folder = folder
        self._fds = {}  # (log, segment) -> descriptor opened for writing

    def path(self, log, segment):
        return os.path.join(self.folder, log, f"{segment:06d}.jsonl")

    def writer(self, log, segment):
        key = (log, segment)
        fd = self._fds.get(key)
        if fd is None:
            os.makedirs(os.path.join(self.folder, log), exist_ok=True)
            fd = os.open(self.path(log, segment), os.O_RDWR | os.O_CREAT, 0o644)
            self._fds[key] = fd
        return fd

    def forget(self):
        """Close every descriptor (before a fork, and on close)."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def _read(self, log, segment, start, end):
        try:
            fd = os.open(self.path(log, segment), os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            return os.pread(fd, end - start, start)
        finally:
            os.close(fd)

    def newest_first(self, log, position, single=False):
        """Every committed entry of a log, newest first, reading each segment from its end
        (single: that one segment alone)."""
        if position is None:
            return
        segment, end = position["segment"], position["size"]
        last = segment if single else 1
        while segment >= last:
            if end is None:
                try:
                    end = os.path.getsize(self.path(log, segment))
                except FileNotFoundError:
                    end = 0
            tail = b""
            while end > 0:
                start = max(0, end - CHUNK)
                data = self._read(log, segment, start, end) + tail
                end = start
                lines = data.split(b"\n")
                tail = lines[0] if start > 0 else b""
                for line in reversed(lines if start == 0 else lines[1:]):
                    if line:
                        yield codec.loads(line)
            segment, end = segment - 1, None

    def oldest_first(self, log, position):
        if position is None:
            return
        for segment in range(1, position["segment"] + 1):
            end = position["size"] if segment == position["segment"] else None
            with _open_or_empty(self.path(log, segment)) as fh:
                read = 0
                for line in fh:
                    read += len(line)
                    if end is not None and read > end:
                        break
                    if line.strip():
                        yield codec.loads(line)

    def after(self, log, position, entry_id, limit):
        """Up to `limit` committed entries right after entry_id, oldest first; [] when entry_id is
        not in the log. Walks back from the end (consumers follow close behind), keeping only
        the `limit` entries met last."""
        kept = deque(maxlen=limit)
        for entry in self.newest_first(log, position):
            if entry["id"] == entry_id:
                return list(reversed(kept))
            kept.append(entry)
        return None

    def find(self, log, position, entry_id):
        """The committed entry with this id, or None. Ids begin with the millisecond they were
        made in, and entries are written in commit order, so only the segments from the newest
        one begun at or before that millisecond back to the first one begun before it are read;
        an id not met there (or a log whose ids carry no time) is looked for in them all."""
        if position is None or not isinstance(entry_id, str):
            return None
        wanted = entry_id[:10]
        for segment in range(position["segment"], 0, -1):
            if segment == position["segment"] and not position["size"]:
                continue  # begun, but nothing in it committed yet
            first = self._first_line(log, segment)
            if first is None:
                continue
            begun = first.get("id", "")[:10] if isinstance(first, dict) else ""
            if begun > wanted:
                continue  # begun after that millisecond
            end = position["size"] if segment == position["segment"] else None
            for entry in self.newest_first(log, {"segment": segment, "size": end}, single=True):
                if entry["id"] == entry_id:
                    return entry
            if begun < wanted:
                break  # every older segment ended before that millisecond
        for entry in self.newest_first(log, position):
            if entry["id"] == entry_id:
                return entry
        return None

    def _first_line(self, log, segment):
        data = self._read(log, segment, 0, 4096)
        while data and b"\n" not in data and len(data) % 4096 == 0:
            more = self._read(log, segment, len(data), len(data) + 65536)
            if not more:
                break
            data += more
        line = data.split(b"\n", 1)[0]
        try:
            return codec.loads(line) if line else None
        except ValueError:
            return None

    def segments(self, log):
        folder = os.path.join(self.folder, log)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(int(n[:-6]) for n in names if n.endswith(".jsonl") and n[:-6].isdigit())


class _Empty:
    def __enter__(self):
        return iter(())

    def __exit__(self, *exc):
        return False


def _open_or_empty(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return _Empty()


class JsonLogs:
    """What a transaction of the JSON store reads its logs through: the files, up to the
    positions committed in the state that transaction sees."""

    def __init__(self, files, tables):
        self.files, self.tables = files, tables

    def position(self, log):
        return self.tables.records["counters"].get(position_id(log))

    def newest_first(self, log):
        return self.files.newest_first(log, self.position(log))

    def oldest_first(self, log):
        return self.files.oldest_first(log, self.position(log))

    def count(self, log):
        position = self.position(log)
        return position["value"] if position else 0

    def find(self, log, entry_id):
        return self.files.find(log, self.position(log), entry_id)

    def after(self, log, entry_id, limit):
        return self.files.after(log, self.position(log), entry_id, limit)
