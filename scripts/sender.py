"""`python -m scripts.sender`: run a webhook sender (see app/sender.py) on its own.

`make serve` needs none of this: gunicorn's master forks one beside its workers (see
scripts/gunicorn_conf.py), restarts it if it dies and stops it on the way out. Run this to add
senders (on PostgreSQL any number share the queue with FOR UPDATE SKIP LOCKED).
"""
import logging
import sys


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] [%(levelname)s] %(message)s")
    from app import create_app
    from app.sender import serve_forever
    serve_forever(create_app())


if __name__ == "__main__":
    main()
