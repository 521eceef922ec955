"""`make serve`: prepare the store (admin, demo data), say where to look, then run gunicorn."""
import os
import shutil
import sys

from app import create_app


def main():
    app = create_app()  # creates the admin and demo data once, printing the demo passwords
    cfg = app.config
    app.extensions["backroom.store"].close()
    host = cfg["BIND"]
    url = f"http://{host}" if not host.startswith(("unix:", "http")) else host
    storage = "PostgreSQL" if cfg["DATABASE_URL"] else f"JSON files in {cfg['DATA_DIR']}"
    print(f"""
Backroom is starting on {url} with {cfg['WORKERS']} workers ({storage}).
  Swagger UI:  {url}/apidocs/
  Spec:        {url}/openapi.yaml
  Log in:      curl -s -X POST {url}/api/auth/login -H 'Content-Type: application/json' \\
                 -d '{{"username": "manager", "password": "<printed above>"}}'
               then send 'Authorization: Bearer <access_token>' (in Swagger UI: Authorize).
  Live stream: curl -N {url}/api/events/stream -H 'Authorization: Bearer <access_token>'
               (served by the stream server beside the workers; the webhook sender runs beside them too)
""", file=sys.stderr, flush=True)
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    # the worker class (gunicorn's sync worker, see SyncWorker) and the rest are in gunicorn_conf.py
    args = [gunicorn, "--bind", host, "--workers", str(cfg["WORKERS"]),
            "--timeout", "60", "--graceful-timeout", "10", "--access-logfile", "-",
            "--no-control-socket",
            "--config", os.path.join(os.path.dirname(__file__), "gunicorn_conf.py"), "wsgi:app"]
    os.execv(gunicorn, args)


if __name__ == "__main__":
    main()
