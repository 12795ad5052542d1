"""Taper plan and dose schemas (doses in mg, at most three decimals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from casemgr.clinical import taper
from casemgr.core.schema import LINE, LONG, SHORT, ApiSchema, FormInt, FormSchema, Int, Text
from casemgr.medication.models import DOSE_STATUSES

SOURCES = list(taper.EQUIVALENCE_TABLES)


def _three_places(value: Decimal) -> None:
    """Refuse figures finer than a microgram: a typing error, not a dose."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        raise ValidationError("Use at most 3 decimal places.")


def decimal_field(
    minimum: Decimal, maximum: Decimal, inclusive: bool = True, **kwargs: Any
) -> fields.Decimal:
    """Build a bounded decimal field (at most 3 places) whose OpenAPI bounds are numbers.

    apispec serialises a ``Range`` bound with the field itself, so a Decimal bound would be
    published as the string ``"10000"``; the metadata restates the bounds as JSON numbers.
    """
    bounds: dict[str, Any] = {"type": "number", "minimum": int(minimum), "maximum": int(maximum)}
    if not inclusive:
        bounds["exclusiveMinimum"] = True
    return fields.Decimal(
        validate=[
            validate.Range(min=minimum, max=maximum, min_inclusive=inclusive),
            _three_places,
        ],
        metadata=bounds,
        **kwargs,
    )


def mg_field(
    minimum: Decimal = Decimal(0), inclusive: bool = False, **kwargs: Any
) -> fields.Decimal:
    """Build a milligram field: positive (or zero where allowed), at most 10 g, 3 decimals."""
    return decimal_field(minimum, taper.MAX_DOSE_MG, inclusive, **kwargs)


def percent_field(**kwargs: Any) -> fields.Decimal:
    """Build a reduction percentage: above 0, at most 50, 3 decimals."""
    return decimal_field(Decimal(0), Decimal(50), inclusive=False, **kwargs)


def plan_fields(form: bool = False) -> dict[str, Any]:
    """Build the taper order's fields for the API and the form."""
    integer = FormInt if form else Int
    return {
        "medication": Text(SHORT, required=True),
        "start_dose_mg": mg_field(required=True),
        "reduction_percent": percent_field(required=True),
        "interval_days": integer(required=True, validate=validate.Range(min=1, max=365)),
        "dose_increment_mg": mg_field(required=True),
        "start_on": fields.Date(required=True),
        "override_reason": Text(LONG, load_default=None, allow_none=True),
        "equivalence_source": fields.String(
            load_default=taper.DEFAULT_SOURCE, validate=validate.OneOf(SOURCES)
        ),
    }


TaperPlanIn = ApiSchema.from_dict(plan_fields(), name="TaperPlanIn")
TaperPlanForm = FormSchema.from_dict(plan_fields(form=True), name="TaperPlanForm")


def replan_fields(form: bool = False) -> dict[str, Any]:
    """Build the re-plan fields: new start, optionally a new pace or an observed dose."""
    integer = FormInt if form else Int
    opt = {"load_default": None, "allow_none": True}
    return {
        "start_on": fields.Date(required=True),
        "current_dose_mg": mg_field(**opt),
        "reduction_percent": percent_field(**opt),
        "interval_days": integer(validate=validate.Range(min=1, max=365), **opt),
        "override_reason": Text(LONG, **opt),
    }


ReplanIn = ApiSchema.from_dict(replan_fields(), name="ReplanIn")
ReplanForm = FormSchema.from_dict(replan_fields(form=True), name="ReplanForm")


def dose_fields() -> dict[str, Any]:
    """Build the dose record's fields."""
    return {
        "given_at": fields.AwareDateTime(required=True),
        "dose_mg": mg_field(inclusive=True, required=True),
        "status": fields.String(required=True, validate=validate.OneOf(DOSE_STATUSES)),
        "note": Text(LINE, load_default=None, allow_none=True),
    }


DoseIn = ApiSchema.from_dict(dose_fields(), name="DoseIn")
DoseForm = FormSchema.from_dict(
    {**dose_fields(), "given_at": fields.NaiveDateTime(required=True)}, name="DoseForm"
)


class PauseIn(ApiSchema):
    """POST /api/v1/taper-plans/{id}/pause: an optional reason."""

    reason = Text(LINE, load_default=None, allow_none=True)


class WaiverIn(ApiSchema):
    """POST /api/v1/episodes/{id}/taper-waiver: why no taper is needed."""

    reason = Text(LONG, required=True)


WaiverForm = FormSchema.from_dict({"reason": Text(LONG, required=True)}, name="WaiverForm")


class StepOut(Schema):
    """One row of the schedule."""

    step = fields.Integer()
    starts_on = fields.Date()
    daily_dose_mg = fields.Float()
    diazepam_equivalent_mg = fields.Float(allow_none=True)


class DoseOut(Schema):
    """A recorded dose."""

    id = fields.Integer()
    plan_id = fields.Integer()
    given_at = fields.DateTime()
    dose_mg = fields.Float()
    status = fields.String()
    note = fields.String(allow_none=True)
    recorded_by_id = fields.Integer()


class DoseListOut(Schema):
    """The list envelope of doses."""

    items = fields.List(fields.Nested(DoseOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class TaperPlanOut(Schema):
    """A taper plan with its schedule."""

    id = fields.Integer()
    episode_id = fields.Integer()
    medication = fields.String()
    start_dose_mg = fields.Float()
    reduction_percent = fields.Float()
    interval_days = fields.Integer()
    dose_increment_mg = fields.Float()
    start_on = fields.Date()
    ends_on = fields.Date()
    status = fields.String()
    equivalence_source = fields.String()
    override_reason = fields.String(allow_none=True)
    prescribed_by_id = fields.Integer()
    replaces_id = fields.Integer(allow_none=True)
    steps = fields.List(fields.Nested(StepOut))


class TaperPlanListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(TaperPlanOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class WaiverOut(Schema):
    """A physician's decision that no taper is needed."""

    id = fields.Integer()
    episode_id = fields.Integer()
    reason = fields.String()
    decided_by_id = fields.Integer()
    decided_at = fields.DateTime()
