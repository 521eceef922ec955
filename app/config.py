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
    "IMAGE_DIR": None,  # section 16: a folder every app server shares for images' bytes
    "SNAPSHOT_SETTLE_SECONDS": 2.0,
    "SNAPSHOT_MAX_LAG_SECONDS": 30.0,
    "BACKGROUND": True,
    "NAME": "Backroom",
    "SMTP_URL": None,
    "MAIL_FROM": "noreply@localhost",
    "RESET_TOKEN_TTL": 1800,
    "EMAIL": None,
    "PHONE": None,
    "ADDRESS": None,
    "LOW_STOCK_THRESHOLD": 5,
    "PRODUCT_APPROVAL": False,
    # section 14: the assistant
    "ASSISTANT_LLM_URL": None,
    "ASSISTANT_LLM_MODEL": "gpt-4o-mini",
    "ASSISTANT_LLM_KEY": None,
    "ASSISTANT_LLM_TIMEOUT": 10.0,
    "ASSISTANT_PER_MINUTE": 20,
    "IMPORT_MAX_ROWS": 10000,
    # section 11: the storefront
    "STOREFRONT_PAGE": True,
    "STOREFRONT_HOLD_SECONDS": 3600,
    "STOREFRONT_MAX_QUANTITY": 20,
    "STOREFRONT_ORDERS_PER_MINUTE": 10,
    # issue 18: each worker's memory of the list answers it sent (off: every list is worked out)
    "ANSWER_CACHE": True,
    # the anonymous GETs of a product and of an image's bytes answered before Flask (app/quick_reads.py)
    "QUICK_READS": True,
    # section 13: webhooks (the SSRF guard, the retry schedule's multiplier), the stream, the sender
    "WEBHOOK_ALLOW_PRIVATE": False,
    "WEBHOOK_RETRY_SCALE": 1.0,
    "STREAM": True,
    "STREAM_INLINE_SECONDS": 1.0,
    "WEBHOOK_SENDER": True,
}

# the shop's settings (section 12) and the variables that give their defaults: a value stored
# through PATCH /api/settings wins over the variable, which wins over the default above
SETTINGS = {"shop_name": "NAME", "email": "EMAIL", "phone": "PHONE", "address": "ADDRESS",
            "currency": "CURRENCY", "default_low_stock_threshold": "LOW_STOCK_THRESHOLD",
            "delivery_days": "DELIVERY_DAYS", "timezone": "TIMEZONE",
            "public_catalog": "PUBLIC_CATALOG", "product_approval": "PRODUCT_APPROVAL"}

_BOOLS = {"DEMO_DATA", "PUBLIC_CATALOG", "BACKGROUND", "PRODUCT_APPROVAL", "STOREFRONT_PAGE",
          "ANSWER_CACHE", "QUICK_READS", "WEBHOOK_ALLOW_PRIVATE", "STREAM", "WEBHOOK_SENDER"}
_INTS = {"ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "WORKERS", "DELIVERY_DAYS", "MAX_BODY_BYTES",
         "JOURNAL_COMPACT_BYTES", "LOGIN_MAX_FAILURES", "MAX_IMAGE_PIXELS", "RESET_TOKEN_TTL",
         "LOW_STOCK_THRESHOLD", "ASSISTANT_PER_MINUTE", "IMPORT_MAX_ROWS",
         "STOREFRONT_HOLD_SECONDS", "STOREFRONT_MAX_QUANTITY", "STOREFRONT_ORDERS_PER_MINUTE"}


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
    configured = {k for k in os.environ if k.startswith("SHOP_")} | {f"SHOP_{k}" for k in (overrides or {})}
    for key in _BOOLS:
        app.config[key] = as_bool(app.config[key])
    for key in _INTS:
        app.config[key] = int(app.config[key])
    for key in ("LOCK_TIMEOUT", "SNAPSHOT_SETTLE_SECONDS", "SNAPSHOT_MAX_LAG_SECONDS",
                "ASSISTANT_LLM_TIMEOUT", "WEBHOOK_RETRY_SCALE", "STREAM_INLINE_SECONDS"):
        app.config[key] = float(app.config[key])
    for key in ("DATABASE_URL", "DATABASE_SCHEMA", "ADMIN_USERNAME", "ADMIN_PASSWORD", "SECRET_KEY",
                "SMTP_URL", "ASSISTANT_LLM_URL", "ASSISTANT_LLM_KEY", "IMAGE_DIR"):
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
    for key in ("EMAIL", "PHONE", "ADDRESS"):
        if app.config.get(key) in ("", None):
            app.config[key] = None
    # each setting's value before anything is stored, and where it comes from
    app.config["SETTINGS_DEFAULTS"] = {
        name: (app.config[key], "environment" if f"SHOP_{key}" in configured else "default")
        for name, key in SETTINGS.items()}
    if app.config["SMTP_URL"]:
        from .mail import smtp_settings
        app.config["SMTP"] = smtp_settings(app.config["SMTP_URL"])  # a bad URL stops the start-up
    return app.config
