"""Invites and the password reset requests: what staff send to join, and to get back in."""
from marshmallow import ValidationError, fields, validate, validates_schema

from .common import InputSchema
from .users import ROLES, USERNAME


class InviteCreateSchema(InputSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    email = fields.Email(allow_none=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=500))
    expires_in_hours = fields.Integer(strict=True, validate=validate.Range(min=1, max=720))
    expires_at = fields.AwareDateTime()


class AcceptInviteSchema(InputSchema):
    code = fields.String(required=True)
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=validate.Length(min=8, max=1024))
    email = fields.Email(allow_none=True)


class PasswordResetRequestSchema(InputSchema):
    email = fields.Email()
    username = fields.String(validate=validate.Length(min=1, max=64))

    @validates_schema
    def exactly_one(self, data, **kwargs):
        if ("email" in data) == ("username" in data):
            raise ValidationError("Send your email or your username (one of them).", "email")


class PasswordResetConfirmSchema(InputSchema):
    token = fields.String(required=True)
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=1024))
