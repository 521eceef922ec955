"""The memory of a server's processes, from /proc: PSS, RSS and Private_Dirty of each, summed.

A server here is the process the benchmark launched (for Backroom the gunicorn master, which
`python -m scripts.serve` became by exec) and every process that came from it: each descendant,
found by parent pid over all of /proc, and each process left in the session the launch created
(the benchmark starts servers with start_new_session, so a process that daemonized itself away
from its parent still counts). Figures come from /proc/<pid>/smaps_rollup, in kB:

- Pss: the process's private pages plus its share of each page it shares (a page mapped by n
  processes counts 1/n in each), so the Pss of all the processes adds up to the memory they hold
  together; copy-on-write pages the workers still share with the master are counted once overall.
  Shared library pages are also shared with any other process mapping the same files, so a few MiB
  move with what else runs on the machine.
- Rss: every resident page the process maps, shared or not (a sum of Rss counts shared pages once
  per process, so it overstates what the processes hold together).
- Private_Dirty: pages only this process maps that it has written: for a forked worker, what it
  allocated itself or copied from the master by writing (reference counts included).
"""
import os
import re

FIELDS = ("Pss", "Rss", "Private_Dirty", "Pss_Anon", "SwapPss")
_BOOTING = re.compile(rb"Booting worker with pid: (\d+)")


def parse_rollup(text):
    """{field: kB} of a /proc/<pid>/smaps_rollup (or smaps) text; the header line is skipped."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        parts = value.split()
        if sep and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[key.strip()] = out.get(key.strip(), 0) + int(parts[0])
    return out


def parse_stat(text):
    """(parent pid, session id) from a /proc/<pid>/stat text (the name may hold spaces and ')')."""
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[3])


def related(root, stats):
    """Pids that belong to the server started as `root`: root, its descendants and, when root
    leads a session of its own, every process in that session; root first, then by pid.
    `stats` is {pid: (parent pid, session id)} of every process."""
    children = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    if stats.get(root, (None, None))[1] == root:  # root leads its own session: its members too
        found.update(pid for pid, (_, sid) in stats.items() if sid == root)
    return [root] + sorted(found - {root})


def worker_pids(log_bytes):
    """The pids gunicorn said it booted as workers ("Booting worker with pid: N") in its log."""
    return {int(m.group(1)) for m in _BOOTING.finditer(log_bytes or b"")}


def _read(path, mode="r"):
    with open(path, mode) as fh:
        return fh.read()


def _stats(proc):
    out = {}
    for name in os.listdir(proc):
        if name.isdigit():
            try:
                out[int(name)] = parse_stat(_read(f"{proc}/{name}/stat"))
            except (OSError, IndexError, ValueError):
                pass  # gone meanwhile
    return out


def snapshot(root, booted=None, proc="/proc"):
    """[{pid, parent, role, name, Pss, Rss, Private_Dirty, ...kB}] of every process of the server
    started as `root`. role: "master" for root; "worker" for a child of root that gunicorn booted
    as one (`booted`, from its log; when that names none, every child of root); else "other"."""
    stats = _stats(proc)
    if root not in stats:
        return []
    children = {pid for pid, (parent, _) in stats.items() if parent == root}
    workers = (set(booted) & children) if booted and set(booted) & children else children
    out = []
    for pid in related(root, stats):
        try:
            rollup = parse_rollup(_read(f"{proc}/{pid}/smaps_rollup"))
            cmdline = _read(f"{proc}/{pid}/cmdline", "rb").replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        if not rollup:
            continue  # a zombie, or a kernel thread: no memory of its own
        role = "master" if pid == root else ("worker" if pid in workers else "other")
        entry = {"pid": pid, "parent": stats[pid][0], "role": role, "name": cmdline.strip()[:120]}
        entry.update({field: rollup.get(field, 0) for field in FIELDS})
        out.append(entry)
    return out


def summarise(processes):
    """Totals and per-role figures of a snapshot, in kB:
    {"processes": n, "workers": n, "others": n,
     "all": {field: sum}, "master": {field: kB} or None,
     "per_worker": {field: {"mean", "min", "max"}} or None, "other": {field: sum} or None}."""
    def total(entries):
        return {field: sum(e.get(field, 0) for e in entries) for field in FIELDS}

    by_role = {}
    for entry in processes:
        by_role.setdefault(entry["role"], []).append(entry)
    workers = by_role.get("worker", [])
    per_worker = None
    if workers:
        per_worker = {field: {"mean": round(sum(w[field] for w in workers) / len(workers)),
                              "min": min(w[field] for w in workers),
                              "max": max(w[field] for w in workers)} for field in FIELDS}
    return {
        "processes": len(processes),
        "workers": len(workers),
        "others": len(by_role.get("other", [])),
        "all": total(processes),
        "master": total(by_role["master"]) if "master" in by_role else None,
        "per_worker": per_worker,
        "other": total(by_role["other"]) if "other" in by_role else None,
    }
