"""The only place that reads the environment: SHOP_* variables with safe defaults."""
import os

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULTS = {
    "DATA_DIR": os.path.join(PROJECT_ROOT, "data"),
    "DATABASE_URL": None,
    "DATABASE_SCHEMA": None,
    "SECRET_KEY": None,
    "ADMIN_USERNAME": None,
    "ADMIN_PASSWORD": None,
    "DEMO_DATA": False,
    "PUBLIC_CATALOG": True,
    "ACCESS_TOKEN_TTL": 900,
    "REFRESH_TOKEN_TTL": 604800,
    "CORS_ORIGINS": "",
    "BIND": "127.0.0.1:8000",
    "WORKERS": 2 * (os.cpu_count() or 1) + 1,
    "CURRENCY": "EUR",
    "DELIVERY_DAYS": 3,
    "TIMEZONE": "UTC",
    "MAX_BODY_BYTES": 5 * 1024 * 1024,
    "LOCK_TIMEOUT": 10.0,
    "JOURNAL_COMPACT_BYTES": 64 * 1024 * 1024,
    "LOGIN_MAX_FAILURES": 10,
    "MAX_IMAGE_PIXELS": 40_000_000,
    "SNAPSHOT_SETTLE_SECONDS": 2.0,
    "SNAPSHOT_MAX_LAG_SECONDS": 30.0,
    "BACKGROUND": True,
    "NAME": "Backroom",
    "SMTP_URL": None,
    "MAIL_FROM": "noreply@localhost",
    "RESET_TOKEN_TTL": 1800,
}

_BOOLS = {"DEMO_DATA", "PUBLIC_CATALOG", "BACKGROUND"}
_INTS = {"ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "WORKERS", "DELIVERY_DAYS", "MAX_BODY_BYTES",
         "JOURNAL_COMPACT_BYTES", "LOGIN_MAX_FAILURES", "MAX_IMAGE_PIXELS", "RESET_TOKEN_TTL"}


def as_bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load_config(app, overrides=None):
    """Defaults, then SHOP_* from the environment, then the caller's overrides (tests)."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.from_prefixed_env(prefix="SHOP")
    if overrides:
        app.config.update(overrides)
    for key in _BOOLS:
        app.config[key] = as_bool(app.config[key])
    for key in _INTS:
        app.config[key] = int(app.config[key])
    for key in ("LOCK_TIMEOUT", "SNAPSHOT_SETTLE_SECONDS", "SNAPSHOT_MAX_LAG_SECONDS"):
        app.config[key] = float(app.config[key])
    for key in ("DATABASE_URL", "DATABASE_SCHEMA", "ADMIN_USERNAME", "ADMIN_PASSWORD", "SECRET_KEY",
                "SMTP_URL"):
        if app.config.get(key) in ("", None):
            app.config[key] = None
        else:
            app.config[key] = str(app.config[key])
    origins = app.config["CORS_ORIGINS"]
    if isinstance(origins, str):
        origins = [o.strip() for o in origins.split(",") if o.strip()]
    app.config["CORS_ORIGINS"] = list(origins)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.config["DATA_DIR"] = str(app.config["DATA_DIR"])
    if app.config["SMTP_URL"]:
        from .mail import smtp_settings
        app.config["SMTP"] = smtp_settings(app.config["SMTP_URL"])  # a bad URL stops the start-up
    return app.config
