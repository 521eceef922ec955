"""Shared marshmallow fields and base schema: exact money, strict integers, read-only fields ignored."""
from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load

READ_ONLY = ("id", "created_at", "updated_at", "version")


class Money(fields.Field):
    """A decimal string or number with at most two places; loads as Decimal, never float."""

    def __init__(self, *args, minimum=Decimal("0"), **kwargs):
        self.minimum = minimum
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValidationError("Must be a decimal amount such as \"12.50\".")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("Must be a decimal amount such as \"12.50\".") from None
        if not amount.is_finite():
            raise ValidationError("Must be a finite amount.")
        if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            raise ValidationError("At most two decimal places.")
        if self.minimum is not None and amount < self.minimum:
            raise ValidationError(f"Must be at least {self.minimum}.")
        if abs(amount) >= Decimal("10000000000"):
            raise ValidationError("Too large.")
        return amount.quantize(Decimal("0.01"))

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


class StrictInteger(fields.Integer):
    """An integer, not a float, a boolean or a numeric string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, (float, Decimal)) and value == int(value):
                value = int(value)
            else:
                raise ValidationError("Must be an integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class Text(fields.String):
    """A string; blank-only is kept as given, services decide what is empty."""


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class InputSchema(Schema):
    """Unknown fields are errors; the read-only record fields are ignored."""

    class Meta:
        unknown = RAISE

    @pre_load
    def drop_read_only(self, data, **kwargs):
        if isinstance(data, dict):
            bad = [k for k, v in data.items() if _has_nul(v)]
            if bad:
                # PostgreSQL text cannot hold NUL, and no shop field needs one
                raise ValidationError({k: ["Must not contain NUL characters."] for k in bad})
            return {k: v for k, v in data.items() if k not in READ_ONLY}
        return data


class EmptySchema(InputSchema):
    """An action that takes no fields (an empty body, or {})."""


__all__ = ["EmptySchema", "Money", "StrictInteger", "Text", "InputSchema", "EXCLUDE", "RAISE", "fields",
           "ValidationError"]
