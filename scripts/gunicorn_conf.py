"""Gunicorn settings shared by `make serve`, the system tests and the benchmark."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
worker_class = "sync"
keepalive = 5
