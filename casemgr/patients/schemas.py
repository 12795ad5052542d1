"""Patient input and output schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from casemgr.core.schema import SHORT, ApiSchema, FormSchema, PageArgs, Text
from casemgr.patients.models import SEXES

_sex = validate.OneOf(list(SEXES), error="Use F, M, X (another) or U (unknown).")
_phone = validate.Regexp(
    r"^[0-9+().\-\s/x]{3,40}$", error="Use digits and + ( ) - . x only (3 to 40 characters)."
)


class PatientCreate(ApiSchema):
    """POST /api/v1/patients."""

    first_name = Text(SHORT, required=True)
    last_name = Text(SHORT, required=True)
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True, validate=_sex)
    phone = Text(40, load_default=None, allow_none=True, validate=_phone)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


class PatientUpdate(ApiSchema):
    """PATCH /api/v1/patients/{id}; ``version`` (optional) refuses a stale edit."""

    first_name = Text(SHORT)
    last_name = Text(SHORT)
    date_of_birth = fields.Date()
    sex = fields.String(validate=_sex)
    phone = Text(40, allow_none=True, validate=_phone)
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    version = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1))


class PatientForm(FormSchema):
    """The register/edit patient page (empty optional fields arrive as "")."""

    first_name = Text(SHORT, required=True)
    last_name = Text(SHORT, required=True)
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True, validate=_sex)
    phone = Text(40, load_default=None, allow_none=True, validate=_phone)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


class PatientOut(Schema):
    """A patient as the API returns it."""

    id = fields.Integer()
    mrn = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    date_of_birth = fields.Date()
    sex = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()


class PatientListOut(Schema):
    """The list envelope of patients."""

    items = fields.List(fields.Nested(PatientOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class PatientQuery(PageArgs):
    """GET /api/v1/patients?q=."""

    q = Text(SHORT, load_default=None, allow_blank=True)
