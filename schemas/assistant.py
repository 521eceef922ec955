"""The assistant: what a client may ask, and the conversations sent back."""
from marshmallow import ValidationError, fields, validates

from .common import InputSchema


class MessageSchema(InputSchema):
    message = fields.String(required=True)
    conversation_id = fields.String(allow_none=True, load_default=None)

    @validates("message")
    def _message(self, value, **kwargs):
        if not 1 <= len(value.strip()) <= 500:
            raise ValidationError("Must be 1 to 500 characters (trimmed).")


def conversation_out(conversation):
    """A conversation in one readable order."""
    keys = ("id", "user_id", "messages", "created_at", "updated_at", "version")
    return {k: conversation.get(k) for k in keys}
