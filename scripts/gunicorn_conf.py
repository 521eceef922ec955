"""Gunicorn settings shared by `make serve`, the system tests and the benchmark."""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
worker_class = "sync"
keepalive = 5
# Load the app (and the parsed store) once in the master: workers start at once and share its
# memory copy-on-write instead of each parsing a big store again.
preload_app = True


def pre_fork(server, worker):
    # Objects loaded so far live as long as the process: keep the collector from walking (and
    # so copying and pausing on) the whole store in every worker.
    gc.freeze()
