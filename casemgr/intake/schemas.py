"""Admissions input and output schemas, shared by the API and the pages (``form=True``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from casemgr.clinical import teds
from casemgr.core.schema import (
    LINE,
    SHORT,
    ApiSchema,
    FormInt,
    FormSchema,
    Int,
    PageArgs,
    Text,
    code_field,
    id_field,
)
from casemgr.intake.models import (
    CATEGORIES,
    CLOSED_STATUSES,
    LEGAL_STATUSES,
    PRIORITIES,
    SEXES,
    STATUSES,
    SUBSCRIBER_RELATIONSHIPS,
    URGENCIES,
    VERIFICATION_STATUSES,
)
from casemgr.intake.screening import REASON_LABELS

_PHONE = re.compile(r"[0-9+().\-\s/#]*(?:(?:x|ext\.?)\s*[0-9]{1,6})?", re.IGNORECASE)
_MEMBER = re.compile(r"[A-Za-z0-9 \-./]+")
#: The largest amount of money a benefits field takes, in dollars.
MAX_AMOUNT = 10_000_000


def plausible_phone(value: str) -> None:
    """Accept phone numbers as typed ("(555) 010-2000 x12", "+44 20 7946 0958") if plausible."""
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.fullmatch(value.strip()) or not 7 <= digits <= 20:
        raise ValidationError(
            "Give a phone number with 7 to 20 digits (+ ( ) - . and x12 allowed)."
        )


def plausible_identifier(value: str) -> None:
    """Accept member and group ids as typed if they look like one (letters, digits, - . /)."""
    text = value.strip()
    alnum = sum(ch.isalnum() for ch in text)
    if not _MEMBER.fullmatch(text) or alnum < 3 or not any(ch.isdigit() for ch in text):
        raise ValidationError(
            "Use letters, digits, spaces, - . / only, with at least 3 and a digit."
        )


class Money(fields.Field):
    """A dollar amount with at most cents, stored as integer cents (no float drift)."""

    def __init__(self, *, form: bool = False, **kwargs: Any) -> None:
        self.form = form
        super().__init__(**kwargs)
        self.metadata.setdefault("type", "number")

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool):
            raise ValidationError("Give an amount in dollars, such as 1500 or 1500.50.")
        if self.form and isinstance(value, str):
            value = value.strip().replace("$", "").replace(",", "")
            if not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", value):
                raise ValidationError("Give an amount in dollars, such as 1500 or 1500.50.")
            cents = round(float(value) * 100)
        elif isinstance(value, int | float):
            cents = round(value * 100)
            if abs(cents - value * 100) > 1e-6:
                raise ValidationError("Give at most two decimals (cents).")
        else:
            raise ValidationError("Give an amount in dollars, such as 1500 or 1500.50.")
        if not 0 <= cents <= MAX_AMOUNT * 100:
            raise ValidationError(f"Give an amount from 0 to {MAX_AMOUNT}.")
        return cents

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> float | None:
        return None if value is None else value / 100


def _opt(form: bool) -> dict[str, Any]:
    """Options of an optional field."""
    return {"load_default": None, "allow_none": True}


def _int(form: bool, **kwargs: Any) -> fields.Integer:
    """Build an integer field for the API (strict) or a form (from text)."""
    return (FormInt if form else Int)(**kwargs)


def screening_fields(form: bool = False) -> dict[str, Any]:
    """Build the screening questions (all optional: a call may not get every answer)."""
    opt = {"load_default": None, "allow_none": True}
    return {
        "frequency": code_field(teds.FREQUENCIES, allow_unknown=True, form=form, **opt),
        "last_use_on": fields.Date(**opt),
        "daily_alcohol": fields.Boolean(**opt),
        "daily_sedative": fields.Boolean(**opt),
        "daily_opioid": fields.Boolean(**opt),
        "withdrawal_history": fields.Boolean(**opt),
        "withdrawal_seizures": fields.Boolean(**opt),
        "withdrawal_delirium": fields.Boolean(**opt),
        "co_occurring": fields.Boolean(**opt),
        "co_occurring_notes": Text(LINE, **opt),
        "pregnant": fields.Boolean(**opt),
        "legal_status": fields.String(validate=validate.OneOf(list(LEGAL_STATUSES)), **opt),
    }


ScreeningIn = ApiSchema.from_dict(screening_fields(), name="ScreeningIn")
ScreeningForm = FormSchema.from_dict(screening_fields(form=True), name="ScreeningForm")


def inquiry_fields(form: bool = False, partial: bool = False) -> dict[str, Any]:
    """Build the inquiry's contact fields (all optional for a PATCH)."""
    req = {} if partial else {"required": True}
    opt = {"allow_none": True} if partial else {"load_default": None, "allow_none": True}
    out = {
        "first_name": Text(SHORT, **req),
        "last_name": Text(SHORT, **req),
        "phone": Text(40, validate=plausible_phone, **req),
        "date_of_birth": fields.Date(**opt),
        "sex": fields.String(validate=validate.OneOf(SEXES), **opt),
        "caller_name": Text(SHORT, **opt),
        "caller_relationship": Text(SHORT, **opt),
        "referral_source": code_field(teds.REFERRAL_SOURCES, allow_unknown=False, form=form, **req),
        "primary_substance": code_field(teds.SUBSTANCES, allow_unknown=False, form=form, **opt),
        "urgency": fields.String(validate=validate.OneOf(URGENCIES), **req),
        "requested_category": fields.String(validate=validate.OneOf(CATEGORIES), **opt),
        "follow_up_on": fields.Date(**opt),
    }
    if not partial:
        out["first_contact_on"] = fields.Date(load_default=None, allow_none=True)
    return out


InquiryCreate = ApiSchema.from_dict(
    {**inquiry_fields(), "screening": fields.Nested(ScreeningIn, load_default=None)},
    name="InquiryCreate",
)
InquiryUpdate = ApiSchema.from_dict(inquiry_fields(partial=True), name="InquiryUpdate")
InquiryForm = FormSchema.from_dict(inquiry_fields(form=True), name="InquiryForm")


class StatusIn(ApiSchema):
    """POST /api/v1/inquiries/{id}/status."""

    status = fields.String(
        required=True,
        validate=validate.OneOf(["screening", "waitlist", "inquiry", *CLOSED_STATUSES]),
    )
    reason = Text(LINE, load_default=None, allow_none=True)


class StatusForm(StatusIn, FormSchema):
    """The status buttons on the inquiry page."""

    class Meta(FormSchema.Meta):
        pass


class FollowUpForm(FormSchema):
    """The follow-up date on the inquiry page (blank clears it)."""

    follow_up_on = fields.Date(load_default=None, allow_none=True)


def admit_fields(form: bool = False) -> dict[str, Any]:
    """Build the admission-from-inquiry fields; the inquiry prefills the TEDS answers."""
    opt = {"load_default": None, "allow_none": True, "form": form}
    return {
        "admitted_on": fields.Date(required=True),
        "primary_counselor_id": id_field(form=form, required=True),
        "service_setting": code_field(
            teds.SERVICE_SETTINGS, allow_unknown=False, required=True, form=form
        ),
        "patient_id": id_field(form=form, load_default=None, allow_none=True),
        "new_patient": fields.Boolean(load_default=False),
        "date_of_birth": fields.Date(load_default=None, allow_none=True),
        "sex": fields.String(validate=validate.OneOf(SEXES), load_default=None, allow_none=True),
        "primary_substance": code_field(teds.SUBSTANCES, allow_unknown=False, **opt),
        "frequency": code_field(teds.FREQUENCIES, allow_unknown=True, **opt),
        "route": code_field(teds.ROUTES, allow_unknown=True, **opt),
        "age_at_first_use": code_field(teds.AGE_AT_FIRST_USE, allow_unknown=True, **opt),
        "los_target_days": _int(
            form, load_default=None, allow_none=True, validate=validate.Range(min=1, max=730)
        ),
    }


AdmitIn = ApiSchema.from_dict(admit_fields(), name="InquiryAdmitIn")
AdmitForm = FormSchema.from_dict(admit_fields(form=True), name="InquiryAdmitForm")


class InquiryQuery(PageArgs):
    """GET /api/v1/inquiries filters."""

    status = fields.String(validate=validate.OneOf(list(STATUSES)))
    overdue = fields.Boolean()
    q = Text(SHORT, allow_blank=True)


class PlaceIn(ApiSchema):
    """PUT /api/v1/places/{category}."""

    capacity = Int(required=True, validate=validate.Range(min=0, max=100_000))


def coverage_fields(form: bool = False, partial: bool = False) -> dict[str, Any]:
    """Build a coverage's fields (all optional for a PATCH)."""
    req = {} if partial else {"required": True}
    opt = {"allow_none": True} if partial else {"load_default": None, "allow_none": True}
    out: dict[str, Any] = {
        "payer": Text(SHORT, **req),
        "plan": Text(SHORT, **opt),
        "member_id": Text(40, validate=plausible_identifier, **req),
        "group_id": Text(40, validate=plausible_identifier, **opt),
        "subscriber_name": Text(SHORT, **opt),
        "subscriber_relationship": fields.String(
            validate=validate.OneOf(SUBSCRIBER_RELATIONSHIPS), **opt
        ),
        "priority": fields.String(validate=validate.OneOf(PRIORITIES), **req),
    }
    if partial:
        out["active"] = fields.Boolean()
    return out


CoverageCreate = ApiSchema.from_dict(coverage_fields(), name="CoverageCreate")
CoverageUpdate = ApiSchema.from_dict(coverage_fields(partial=True), name="CoverageUpdate")
CoverageForm = FormSchema.from_dict(coverage_fields(form=True), name="CoverageForm")


def verification_fields(form: bool = False) -> dict[str, Any]:
    """Build a verification's fields; money in dollars (stored as cents)."""
    opt = {"load_default": None, "allow_none": True}
    money = {"form": form, **opt}
    return {
        "status": fields.String(required=True, validate=validate.OneOf(VERIFICATION_STATUSES)),
        "verified_on": fields.Date(required=True),
        "reference": Text(SHORT, **opt),
        "deductible": Money(attribute="deductible_cents", **money),
        "deductible_met": Money(attribute="deductible_met_cents", **money),
        "out_of_pocket_max": Money(attribute="out_of_pocket_max_cents", **money),
        "copay": Money(attribute="copay_cents", **money),
        "coinsurance_percent": _int(form, validate=validate.Range(min=0, max=100), **opt),
        "covers_residential": fields.Boolean(**opt),
        "covers_outpatient": fields.Boolean(**opt),
        "prior_auth_required": fields.Boolean(**opt),
    }


VerificationCreate = ApiSchema.from_dict(verification_fields(), name="VerificationCreate")
VerificationForm = FormSchema.from_dict(verification_fields(form=True), name="VerificationForm")


def authorization_fields(form: bool = False) -> dict[str, Any]:
    """Build an authorization's fields; the level is a TEDS service setting code."""
    return {
        "level": code_field(teds.SERVICE_SETTINGS, allow_unknown=False, required=True, form=form),
        "number": Text(40, required=True),
        "approved_days": _int(form, required=True, validate=validate.Range(min=1, max=3650)),
        "starts_on": fields.Date(required=True),
        "ends_on": fields.Date(required=True),
        "coverage_id": id_field(form=form, load_default=None, allow_none=True),
    }


AuthorizationCreate = ApiSchema.from_dict(authorization_fields(), name="AuthorizationCreate")
AuthorizationForm = FormSchema.from_dict(authorization_fields(form=True), name="AuthorizationForm")


class ReviewQuery(PageArgs):
    """GET /api/v1/authorizations?ending_within_days=3."""

    ending_within_days = fields.Integer(load_default=3, validate=validate.Range(min=0, max=365))


class FunnelQuery(ApiSchema):
    """GET /api/v1/reports/inquiry-funnel?from=&to=&format=."""

    start = fields.Date(data_key="from", load_default=None)
    end = fields.Date(data_key="to", load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


# ---- output ----


class StatusChangeOut(Schema):
    """One row of an inquiry's status history."""

    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    at = fields.DateTime()
    by_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


class InquirySummaryOut(Schema):
    """An inquiry with its screening and detox suggestion (lists)."""

    id = fields.Integer()
    status = fields.String()
    urgency = fields.String()
    first_contact_on = fields.Date()
    follow_up_on = fields.Date(allow_none=True)
    caller_name = fields.String(allow_none=True)
    caller_relationship = fields.String(allow_none=True)
    first_name = fields.String()
    last_name = fields.String()
    phone = fields.String()
    date_of_birth = fields.Date(allow_none=True)
    sex = fields.String(allow_none=True)
    referral_source = fields.Integer()
    primary_substance = fields.Integer(allow_none=True)
    requested_category = fields.String(allow_none=True)
    screening = fields.Method("_screening")
    screened_at = fields.DateTime(allow_none=True)
    suggests_medical_detox = fields.Boolean()
    detox_reasons = fields.Method("_reasons")
    days_waiting = fields.Method("_days_waiting")
    overdue = fields.Method("_overdue")
    patient_id = fields.Integer(allow_none=True)
    episode_id = fields.Integer(allow_none=True)
    version = fields.Integer()

    def _screening(self, obj: Any) -> dict[str, Any] | None:
        from casemgr.intake.screening import SCREENING_FIELDS

        if obj.screened_at is None:
            return None
        out = {name: getattr(obj, name) for name in SCREENING_FIELDS}
        if out["last_use_on"] is not None:
            out["last_use_on"] = out["last_use_on"].isoformat()
        return out

    def _reasons(self, obj: Any) -> list[dict[str, str]]:
        from casemgr.intake.services import detox_reasons_of

        return [{"code": c, "label": REASON_LABELS[c]} for c in detox_reasons_of(obj)]

    def _days_waiting(self, obj: Any) -> int:
        from casemgr.intake.services import days_waiting_of

        return days_waiting_of(obj)

    def _overdue(self, obj: Any) -> bool:
        from casemgr.intake.services import is_overdue

        return is_overdue(obj)


class InquiryOut(InquirySummaryOut):
    """One inquiry with its status history."""

    history = fields.List(fields.Nested(StatusChangeOut), attribute="status_changes")


class InquiryListOut(Schema):
    """The list envelope of inquiries."""

    items = fields.List(fields.Nested(InquirySummaryOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class PlaceOut(Schema):
    """Places, occupancy and waitlist of one category."""

    category = fields.String()
    capacity = fields.Integer(allow_none=True)
    occupied = fields.Integer()
    free = fields.Integer(allow_none=True)
    waiting = fields.Integer()
    full = fields.Boolean()


class PlaceListOut(Schema):
    """Every category."""

    items = fields.List(fields.Nested(PlaceOut))


class VerificationOut(Schema):
    """A verification with its benefits summary (money in dollars)."""

    id = fields.Integer()
    coverage_id = fields.Integer()
    status = fields.String()
    verified_on = fields.Date()
    by_id = fields.Integer(allow_none=True)
    at = fields.DateTime()
    reference = fields.String(allow_none=True)
    deductible = Money(attribute="deductible_cents", allow_none=True)
    deductible_met = Money(attribute="deductible_met_cents", allow_none=True)
    out_of_pocket_max = Money(attribute="out_of_pocket_max_cents", allow_none=True)
    copay = Money(attribute="copay_cents", allow_none=True)
    coinsurance_percent = fields.Integer(allow_none=True)
    covers_residential = fields.Boolean(allow_none=True)
    covers_outpatient = fields.Boolean(allow_none=True)
    prior_auth_required = fields.Boolean(allow_none=True)


class CoverageOut(Schema):
    """A coverage with its full detail (intake staff and supervisors)."""

    id = fields.Integer()
    patient_id = fields.Integer()
    payer = fields.String()
    plan = fields.String(allow_none=True)
    member_id = fields.String()
    group_id = fields.String(allow_none=True)
    subscriber_name = fields.String(allow_none=True)
    subscriber_relationship = fields.String(allow_none=True)
    priority = fields.String()
    active = fields.Boolean()
    status = fields.String()
    latest_verification = fields.Nested(VerificationOut, allow_none=True)


class CoverageListOut(Schema):
    """The list envelope of coverages."""

    items = fields.List(fields.Nested(CoverageOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class CoverageStatusOut(Schema):
    """What clinical staff see of a coverage: who pays and whether it is verified, no money."""

    payer = fields.String()
    priority = fields.String()
    status = fields.String()
    verified_on = fields.Date(allow_none=True)


class CoverageStatusListOut(Schema):
    """The coverage status of one patient."""

    items = fields.List(fields.Nested(CoverageStatusOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class VerificationListOut(Schema):
    """The verifications of a coverage, newest first."""

    items = fields.List(fields.Nested(VerificationOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AuthorizationOut(Schema):
    """An authorization of care at one level."""

    id = fields.Integer()
    episode_id = fields.Integer()
    coverage_id = fields.Integer(allow_none=True)
    level = fields.Integer()
    number = fields.String()
    approved_days = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date()


class AuthorizationListOut(Schema):
    """The authorizations of an episode."""

    items = fields.List(fields.Nested(AuthorizationOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ReviewItemOut(AuthorizationOut):
    """An authorization due for utilization review."""

    patient_id = fields.Integer()
    days_used = fields.Integer()
    days_left = fields.Integer()
    exceeded = fields.Boolean()


class ReviewListOut(Schema):
    """The utilization-review list."""

    items = fields.List(fields.Nested(ReviewItemOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class UnverifiedOut(Schema):
    """An active episode whose coverage is not verified."""

    episode_id = fields.Integer()
    patient_id = fields.Integer()
    admitted_on = fields.Date()
    service_setting = fields.Integer()
    coverage_statuses = fields.List(fields.String())


class UnverifiedListOut(Schema):
    """The unverified-coverage list."""

    items = fields.List(fields.Nested(UnverifiedOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class FunnelOut(Schema):
    """The inquiry funnel of a date range (rates are fractions 0-1)."""

    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    inquiries = fields.Integer()
    screened = fields.Integer()
    waitlisted = fields.Integer()
    admitted = fields.Integer()
    screened_rate = fields.Float(allow_none=True)
    admitted_of_screened = fields.Float(allow_none=True)
    admitted_rate = fields.Float(allow_none=True)
    lost = fields.Dict(keys=fields.String(), values=fields.Integer())
    still_open = fields.Integer()
    median_days_waiting = fields.Float(allow_none=True)
