"""Staff input and output schemas (API and admin forms)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from casemgr.core.permissions import Role
from casemgr.core.schema import SHORT, ApiSchema, FormSchema, Text

ROLE_CHOICES = [r.value for r in Role]


class TokenRequest(ApiSchema):
    """POST /api/v1/auth/tokens."""

    username = Text(SHORT, required=True)
    password = Text(200, required=True, allow_blank=True)
    otp = Text(20, load_default=None, allow_none=True)


class TokenOut(Schema):
    """A freshly issued token (shown once)."""

    token = fields.String()
    expires_at = fields.DateTime()


class StaffOut(Schema):
    """A staff account as admins see it; never the hash or the TOTP secret."""

    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    roles = fields.Function(lambda s: sorted(s.role_names))
    active = fields.Boolean()
    needs_cosign = fields.Boolean()
    mfa_enabled = fields.Function(lambda s: s.totp_secret is not None)
    last_login_at = fields.DateTime(allow_none=True)


class MeOut(Schema):
    """GET /api/v1/me."""

    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    roles = fields.Function(lambda s: sorted(s.role_names))


class StaffListOut(Schema):
    """The list envelope of staff accounts."""

    items = fields.List(fields.Nested(StaffOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class StaffCreate(ApiSchema):
    """POST /api/v1/staff."""

    username = Text(
        SHORT,
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9._-]{3,100}$", error="Use 3+ letters, digits, dots, dashes, underscores."
        ),
    )
    full_name = Text(SHORT, required=True)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_CHOICES)),
        required=True,
        validate=validate.Length(min=1, error="Give at least one role."),
    )
    password = Text(200, required=True)
    needs_cosign = fields.Boolean(load_default=False)


class StaffUpdate(ApiSchema):
    """PATCH /api/v1/staff/{id}."""

    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_CHOICES)),
        validate=validate.Length(min=1, error="Give at least one role."),
    )
    active = fields.Boolean()
    full_name = Text(SHORT)
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    needs_cosign = fields.Boolean()


class StaffCreateForm(FormSchema, StaffCreate):
    """The admin page's new-account form."""

    class Meta:
        unknown = "exclude"


class StaffUpdateForm(FormSchema):
    """The admin page's edit form (checkboxes arrive as lists of strings)."""

    full_name = Text(SHORT, required=True)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_CHOICES)),
        required=True,
        validate=validate.Length(min=1, error="Give at least one role."),
    )
    active = fields.Boolean(load_default=False)
    needs_cosign = fields.Boolean(load_default=False)


class LoginForm(FormSchema):
    """The sign-in form."""

    username = Text(SHORT, required=True)
    password = Text(200, required=True, allow_blank=True)
    otp = Text(20, load_default=None, allow_none=True, allow_blank=True)
    next = fields.String(load_default=None, allow_none=True)


class ReauthForm(FormSchema):
    """Confirm the password (and code) before a sensitive change."""

    password = Text(200, required=True, allow_blank=True)
    otp = Text(20, load_default=None, allow_none=True, allow_blank=True)
