"""Settings routes: the shop's name, contact, currency, low-stock default, delivery days, time zone, catalog switches."""
from flask import Blueprint, current_app

from ..auth import requires
from ..services import settings
from ..services.errors import ValidationFailed
from .preconditions import if_match
from .request_body import raw_body
from .responses import record_response
from .store import read, write

bp = Blueprint("settings", __name__, url_prefix="/api/settings")
IGNORED = ("version", "updated_at", "sources")


@bp.get("")
@requires("settings.read")
def get_settings():
    """The settings in effect, and where each comes from."""
    return record_response(read(settings.effective, current_app.config["SETTINGS_DEFAULTS"]))


@bp.patch("")
@requires("settings.write")
def update_settings():
    """Set the fields sent; null puts a field back to its variable or default."""
    body = raw_body()
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", errors={"_body": ["Must be an object."]})
    unknown = {k: ["Unknown field."] for k in body if k not in settings.FIELDS and k not in IGNORED}
    if unknown:
        raise ValidationFailed("The request is not valid.", errors=unknown)
    changes = {k: v for k, v in body.items() if k in settings.FIELDS}
    return record_response(write(settings.update, changes, current_app.config["SETTINGS_DEFAULTS"], if_match()))
