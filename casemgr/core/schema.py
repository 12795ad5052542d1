"""marshmallow fields and base schemas shared by the API and the HTML forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

#: Text limits of shared/API.md.
SHORT = 100
LINE = 500
LONG = 20_000


class Text(fields.String):
    """A string with a length limit that refuses NUL (PostgreSQL cannot store it)."""

    def __init__(self, max_length: int = LINE, *, allow_blank: bool = False, **kwargs: Any):
        self.max_length = max_length
        self.allow_blank = allow_blank
        super().__init__(**kwargs)
        self.metadata.setdefault("maxLength", max_length)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain a NUL character.")
        if len(text) > self.max_length:
            raise ValidationError(f"Use at most {self.max_length} characters.")
        if not self.allow_blank and not text.strip():
            raise ValidationError("Must not be blank.")
        return text


class Int(fields.Integer):
    """A strict integer (marshmallow 4 truncates 2.5 to 2 otherwise) that refuses booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class FormInt(fields.Integer):
    """An integer read from an HTML form, where every value arrives as a string."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


#: The largest id the database's integer columns hold on both engines.
MAX_ID = 2**31 - 1


def id_field(form: bool = False, **kwargs: Any) -> fields.Integer:
    """Build a field for a row id (1 to 2^31-1): larger ids would overflow the database."""
    field_class = FormInt if form else Int
    return field_class(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def code_field(
    table: Mapping[int, str], *, allow_unknown: bool, form: bool = False, **kwargs: Any
) -> fields.Integer:
    """Build a field accepting the codes of a TEDS table (and -9 where TEDS allows it)."""
    allowed = sorted(table) + ([-9] if allow_unknown else [])
    field_class = FormInt if form else Int
    return field_class(
        validate=validate.OneOf(allowed, error="Not a valid code."),
        metadata={"enum": allowed},
        **kwargs,
    )


class ApiSchema(Schema):
    """API input: unknown fields are refused (422)."""

    class Meta:
        unknown = RAISE


class FormSchema(Schema):
    """HTML form input: extra fields (CSRF token, buttons) are ignored."""

    class Meta:
        unknown = EXCLUDE


class PageArgs(ApiSchema):
    """Paging for every list: ?page=1&per_page=50."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=2**31 - 1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def form_errors(error: ValidationError) -> dict[str, list[str]]:
    """Flatten marshmallow messages into ``{field: [message]}`` for templates and JSON."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        out[str(key)] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out
