"""Test processes forked as gunicorn forks its workers (each opens its own store), the one way
to run several of them and collect what each reports, and the JSON store's write lock held as
another process would hold it."""
import fcntl
import multiprocessing
import os
import threading

CTX = multiprocessing.get_context("fork")  # starts in milliseconds with the app already imported
TIMEOUT = 60


def run_processes(target, argument_lists):
    """Start one process per argument list (each gets a result queue first); their results."""
    results = CTX.Queue()
    procs = [CTX.Process(target=target, args=(results, *args)) for args in argument_lists]
    for proc in procs:
        proc.start()
    try:
        out = [results.get(timeout=TIMEOUT) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=TIMEOUT)
            if proc.is_alive():
                proc.kill()
                proc.join()
    assert all(proc.exitcode == 0 for proc in procs), [proc.exitcode for proc in procs]
    return out


class LockHolder:
    """The JSON store's write lock (.store.lock in data_dir), held through a descriptor of its own:
    flock locks belong to open file descriptions, so it conflicts with the store's own exactly
    as another process's would."""

    def __init__(self, data_dir):
        self.fd = os.open(os.path.join(str(data_dir), ".store.lock"), os.O_RDWR)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def release_after(self, seconds):
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer
