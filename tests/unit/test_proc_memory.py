"""scripts/proc_memory.py: which processes make a server, and what their smaps_rollup says."""
import os
import subprocess
import sys

from scripts import proc_memory

ROLLUP = """56180c7c4000-7ffea4009000 ---p 00000000 00:00 0                          [rollup]
Rss:                1612 kB
Pss:                 206 kB
Pss_Anon:            112 kB
Shared_Clean:       1460 kB
Private_Dirty:       112 kB
SwapPss:               0 kB
"""


def test_rollup_fields_in_kb_and_the_header_line_skipped():
    fields = proc_memory.parse_rollup(ROLLUP)
    assert fields == {"Rss": 1612, "Pss": 206, "Pss_Anon": 112, "Shared_Clean": 1460,
                      "Private_Dirty": 112, "SwapPss": 0}


def test_stat_of_a_process_whose_name_holds_spaces_and_a_parenthesis():
    assert proc_memory.parse_stat("4242 (gunicorn: a) b) S 17 4242 4242 0 -1 4194560") == (17, 4242)


def test_a_server_is_its_root_every_descendant_and_whatever_stayed_in_its_session():
    stats = {
        1: (0, 1),
        100: (1, 100),     # the launched server, leading its own session
        101: (100, 100),   # workers
        102: (100, 100),
        150: (102, 100),   # a worker's child
        160: (150, 160),   # ... and its child in a session of its own: still a descendant
        170: (1, 100),     # daemonized away from its parent, left in the server's session
        200: (1, 200),     # someone else
        201: (200, 200),
    }
    assert proc_memory.related(100, stats) == [100, 101, 102, 150, 160, 170]


def test_a_root_that_does_not_lead_its_session_does_not_bring_the_session_along():
    stats = {1: (0, 1), 50: (1, 50), 100: (50, 50), 101: (100, 50), 60: (50, 50)}
    assert proc_memory.related(100, stats) == [100, 101]


def test_worker_pids_are_the_ones_gunicorn_says_it_booted():
    log = (b"[2026-12-02 07:10:01 +0000] [100] [INFO] Starting gunicorn 27.0.1\n"
           b"[2026-12-02 07:10:01 +0000] [101] [INFO] Booting worker with pid: 101\n"
           b"[2026-12-02 07:10:01 +0000] [102] [INFO] Booting worker with pid: 102\n")
    assert proc_memory.worker_pids(log) == {101, 102}
    assert proc_memory.worker_pids(b"") == set()


def _entry(pid, role, pss, rss=0, dirty=0):
    return {"pid": pid, "parent": 1, "role": role, "name": "x", "Pss": pss, "Rss": rss,
            "Private_Dirty": dirty, "Pss_Anon": 0, "SwapPss": 0}


def test_summary_sums_every_process_and_spreads_the_workers():
    summary = proc_memory.summarise([_entry(100, "master", 50, 500, 10), _entry(101, "worker", 30, 480, 4),
                                     _entry(102, "worker", 40, 490, 8), _entry(150, "other", 7, 20, 7)])
    assert (summary["processes"], summary["workers"], summary["others"]) == (4, 2, 1)
    assert summary["all"]["Pss"] == 127 and summary["all"]["Private_Dirty"] == 29
    assert summary["master"]["Pss"] == 50 and summary["other"]["Pss"] == 7
    assert summary["per_worker"]["Pss"] == {"mean": 35, "min": 30, "max": 40}
    assert summary["per_worker"]["Rss"] == {"mean": 485, "min": 480, "max": 490}


def test_summary_of_no_workers():
    summary = proc_memory.summarise([_entry(100, "master", 50)])
    assert summary["per_worker"] is None and summary["other"] is None and summary["all"]["Pss"] == 50


def test_snapshot_of_a_live_process_and_its_child():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        processes = proc_memory.snapshot(os.getpid())
        roles = {p["pid"]: p["role"] for p in processes}
        assert processes[0]["pid"] == os.getpid() and roles[os.getpid()] == "master"
        assert roles[child.pid] == "worker"  # no gunicorn log: every child of the root is a worker
        assert all(p["Pss"] > 0 and p["Rss"] >= p["Pss"] for p in processes)
        unknown = proc_memory.snapshot(os.getpid(), booted={-1})  # a log naming none of them
        assert {p["pid"]: p["role"] for p in unknown}[child.pid] == "worker"
    finally:
        child.communicate(b"")
