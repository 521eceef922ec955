"""`python -m scripts.background`: run a background process (jobs and tasks, see app/background.py) on its own.

`make serve` needs none of this: gunicorn's master forks one beside its workers (start_beside,
called from scripts/gunicorn_conf.py), restarts it if it dies and stops it on the way out. Run
this to add one on another machine sharing the database, or to run them apart from the API.
"""
import ctypes
import logging
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
BACKGROUND_NICENESS = 10
RESTART_PAUSE = 1.0
log = logging.getLogger("backroom.background")


def _die_with_parent():
    """Linux: SIGTERM to this process when the one that forked it dies (even by kill -9)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: an orphan is stopped with the process group
        pass


def _default_signals():
    for number in (signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGTERM, signal.SIGTTIN,
                   signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)


def _run_background(app):
    from app.background import serve_forever
    _default_signals()
    _die_with_parent()
    # Background work (snapshot files, mail, ...) may wait; requests may not: on a busy machine
    # the workers get the CPU first.
    os.nice(BACKGROUND_NICENESS)
    serve_forever(app)


def supervise(app, run=None, what="background process"):
    """In a process of its own: run the background process (or `run(app)`) as a child, again
    after it dies (kill -9, a crash), until SIGTERM; then stop it and wait for it."""
    run = run or _run_background
    _default_signals()
    _die_with_parent()
    state = {"stopping": False, "child": None}

    def stop(*_):
        state["stopping"] = True
        if state["child"]:
            try:
                os.kill(state["child"], signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not state["stopping"]:
        child = os.fork()
        if child == 0:
            try:
                _default_signals()
                _die_with_parent()
                run(app)
            finally:
                os._exit(0)
        state["child"] = child
        _, status = os.waitpid(child, 0)
        state["child"] = None
        if not state["stopping"]:
            log.warning("the %s %d ended (%s); starting another", what, child,
                        f"signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status)
                        else f"exit {os.waitstatus_to_exitcode(status)}")
            time.sleep(RESTART_PAUSE)


def start_beside(app, close_fds=(), run=None, what="background process"):
    """Fork the supervisor from a server's master (after the app is loaded, so it shares the
    loaded store copy-on-write, as the workers do); its pid. run(app): what the supervised
    child runs (the background process by default; the stream server, the webhook sender)."""
    import gc
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        for fd in close_fds:  # the master's listening sockets and pipes are not ours
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            supervise(app, run, what)
        finally:
            os._exit(0)
    return pid


def stop(pid, timeout=15.0):
    """Ask the supervisor (and so the background process) to stop, and wait a while for it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # reaped by someone else (gunicorn's master reaps every child)
        if done:
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    from app import create_app
    from app.background import serve_forever
    serve_forever(create_app())


if __name__ == "__main__":
    main()
