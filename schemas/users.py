"""Staff accounts and auth requests."""
from marshmallow import fields, validate

from .common import InputSchema

ROLES = ("admin", "manager", "clerk", "editor", "viewer")
USERNAME = validate.Regexp(r"^[A-Za-z0-9_.@-]{1,64}$",
                           error="1 to 64 letters, digits, or . _ @ -")


class LoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class RefreshSchema(InputSchema):
    refresh_token = fields.String(required=True)


class PasswordChangeSchema(InputSchema):
    current_password = fields.String(required=True)
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=1024))


class UserCreateSchema(InputSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=validate.Length(min=8, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    email = fields.Email(allow_none=True)
    active = fields.Boolean()


class UserUpdateSchema(InputSchema):
    username = fields.String(validate=USERNAME)
    role = fields.String(validate=validate.OneOf(ROLES))
    email = fields.Email(allow_none=True)
    active = fields.Boolean()


def user_out(user):
    """A user without anything secret."""
    return {k: user.get(k) for k in ("id", "username", "email", "role", "active",
                                     "created_at", "updated_at", "version")}
