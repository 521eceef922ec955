"""Test processes forked as gunicorn forks its workers (each opens its own store), and the
one way to run several of them and collect what each reports."""
import multiprocessing

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
