"""Audit, emergency access and consent schemas (API and pages)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from casemgr.audit.queries import SORT_CHOICES
from casemgr.core.schema import (
    LINE,
    MAX_ID,
    SHORT,
    ApiSchema,
    FormSchema,
    PageArgs,
    Text,
    id_field,
)

ACTION_PATTERN = validate.Regexp(
    r"^[a-z_]+(\.[a-z_]+)*(\.\*)?$", error="Use a dotted action name such as patient.view."
)


class AuditQuery(PageArgs):
    """GET /api/v1/audit-events filters (shared/API.md "Audit")."""

    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)
    actor_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    patient_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    action = Text(64, load_default=None, validate=ACTION_PATTERN)
    sort = fields.String(load_default="-at", validate=validate.OneOf(SORT_CHOICES))

    @validates_schema
    def _dates_ordered(self, data: dict, **_kwargs: object) -> None:
        """Refuse a range that ends before it starts."""
        if data.get("from_") and data.get("to") and data["to"] < data["from_"]:
            raise ValidationError("Must not be before from.", "to")


class AuditReportForm(FormSchema):
    """The audit report page's filters (query string; empty fields mean no filter)."""

    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)
    actor_id = id_field(form=True, load_default=None)
    patient_id = id_field(form=True, load_default=None)
    action = Text(64, load_default=None, validate=ACTION_PATTERN)
    sort = fields.String(load_default="-at", validate=validate.OneOf(SORT_CHOICES))
    after = id_field(form=True, load_default=None)
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "csv"]))


class AuditEventOut(Schema):
    """One audit event as the API lists it."""

    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.Integer(allow_none=True)
    patient_id = fields.Integer(allow_none=True)
    outcome = fields.String()
    ip = fields.String(allow_none=True)


class AuditListOut(Schema):
    """The list envelope of audit events."""

    items = fields.List(fields.Nested(AuditEventOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class VerifyOut(Schema):
    """GET /api/v1/audit-events/verify."""

    ok = fields.Boolean()
    checked = fields.Integer()
    first_bad_id = fields.Integer(allow_none=True)


class EmergencyAccessForm(FormSchema):
    """A counselor's request to open a chart outside the care team."""

    reason = Text(LINE, required=True, validate=validate.Length(min=10, max=LINE))


class EmergencyAccessRequest(ApiSchema):
    """POST /api/v1/emergency-access."""

    patient_id = id_field(required=True)
    reason = Text(LINE, required=True, validate=validate.Length(min=10, max=LINE))


class EmergencyAccessOut(Schema):
    """A grant of emergency access."""

    id = fields.Integer()
    staff_id = fields.Integer()
    patient_id = fields.Integer()
    reason = fields.String()
    granted_at = fields.DateTime()
    expires_at = fields.DateTime()
    reviewed_by_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_note = fields.String(allow_none=True)


class EmergencyAccessListOut(Schema):
    """The list envelope of grants."""

    items = fields.List(fields.Nested(EmergencyAccessOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class EmergencyAccessQuery(PageArgs):
    """Filter grants: the review list shows unreviewed ones by default."""

    reviewed = fields.Boolean(load_default=False)


class ReviewForm(FormSchema):
    """A supervisor marks a grant reviewed, with an optional note."""

    review_note = Text(LINE, load_default=None, allow_none=True, allow_blank=True)


class ReviewIn(ApiSchema):
    """POST /api/v1/emergency-access/{id}/review."""

    review_note = Text(LINE, load_default=None, allow_none=True)


class ConsentForm(FormSchema):
    """A §2.31 consent as staff record it from the signed form."""

    discloser = Text(SHORT, required=True)
    recipient = Text(SHORT, required=True)
    purpose = Text(LINE, required=True)
    information = Text(LINE, required=True)
    expires_on = fields.Date(load_default=None, allow_none=True)
    expiry_event = Text(LINE, load_default=None, allow_none=True)
    signed_on = fields.Date(required=True)
    signed_by = Text(SHORT, required=True)

    @validates_schema(skip_on_field_errors=False)
    def _has_expiry(self, data: dict, **_kwargs: object) -> None:
        """Part 2 needs an expiry: a date, an event, or both."""
        if not data.get("expires_on") and not data.get("expiry_event"):
            raise ValidationError("Give an expiry date or an expiry event.", "expires_on")
        if (
            data.get("expires_on")
            and data.get("signed_on")
            and data["expires_on"] < data["signed_on"]
        ):
            raise ValidationError("Must not be before the signature date.", "expires_on")


class DisclosureForm(FormSchema):
    """A release of the patient's record: under a consent or a recorded legal basis."""

    consent_id = id_field(form=True, load_default=None)
    legal_basis = fields.String(load_default=None, allow_none=True)
    recipient = Text(SHORT, load_default=None, allow_none=True)
    purpose = Text(LINE, load_default=None, allow_none=True)
    format = fields.String(load_default="print", validate=validate.OneOf(["print", "csv"]))
