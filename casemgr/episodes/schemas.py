"""Episode input and output schemas (TEDS fields as integer codes)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from casemgr.clinical import teds
from casemgr.core.schema import (
    ApiSchema,
    FormSchema,
    Int,
    PageArgs,
    Text,
    code_field,
    id_field,
)
from casemgr.episodes.models import STAGE_VALUES

#: TEDS NOPRIOR: 0 to 5 (5 = five or more) prior treatment episodes.
PRIOR_EPISODES = {0: "None", 1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five or more"}


def admission_fields(form: bool = False) -> dict[str, Any]:
    """Build the admission fields once for the API schema and the HTML form schema."""
    opt = {"load_default": None, "allow_none": True, "form": form}
    return {
        "admitted_on": fields.Date(required=True),
        "primary_counselor_id": id_field(form=form, required=True),
        "primary_substance": code_field(
            teds.SUBSTANCES, allow_unknown=False, required=True, form=form
        ),
        "secondary_substance": code_field(teds.SUBSTANCES, allow_unknown=True, **opt),
        "tertiary_substance": code_field(teds.SUBSTANCES, allow_unknown=True, **opt),
        "route": code_field(teds.ROUTES, allow_unknown=True, **opt),
        "frequency": code_field(teds.FREQUENCIES, allow_unknown=True, **opt),
        "age_at_first_use": code_field(teds.AGE_AT_FIRST_USE, allow_unknown=True, **opt),
        "referral_source": code_field(
            teds.REFERRAL_SOURCES, allow_unknown=False, required=True, form=form
        ),
        "prior_treatment_episodes": code_field(PRIOR_EPISODES, allow_unknown=True, **opt),
        "service_setting": code_field(
            teds.SERVICE_SETTINGS, allow_unknown=False, required=True, form=form
        ),
        "los_target_days": (fields.Integer if form else Int)(
            load_default=None, allow_none=True, validate=validate.Range(min=1, max=730)
        ),
    }


EpisodeCreate = ApiSchema.from_dict(admission_fields(), name="EpisodeCreate")
AdmitForm = FormSchema.from_dict(admission_fields(form=True), name="AdmitForm")


def discharge_fields(form: bool = False) -> dict[str, Any]:
    """Build the discharge fields for the API and the form."""
    opt = {"load_default": None, "allow_none": True, "form": form}
    return {
        "discharged_on": fields.Date(required=True),
        "reason": code_field(teds.DISCHARGE_REASONS, allow_unknown=False, required=True, form=form),
        "service_setting": code_field(teds.SERVICE_SETTINGS, allow_unknown=True, **opt),
        "frequency_at_discharge": code_field(teds.FREQUENCIES, allow_unknown=True, **opt),
    }


DischargeIn = ApiSchema.from_dict(discharge_fields(), name="DischargeIn")
DischargeForm = FormSchema.from_dict(discharge_fields(form=True), name="DischargeForm")


def stage_move_fields(form: bool = False) -> dict[str, Any]:
    """Build the stage-move fields for the API and the chart's form."""
    return {
        "to_stage": fields.String(required=True, validate=validate.OneOf(list(STAGE_VALUES))),
        "reason": Text(500, load_default=None, allow_none=True),
        "override": fields.Boolean(
            load_default=False, **({} if form else {"truthy": {True}, "falsy": {False}})
        ),
    }


StageMoveIn = ApiSchema.from_dict(stage_move_fields(), name="StageMoveIn")
StageMoveForm = FormSchema.from_dict(stage_move_fields(form=True), name="StageMoveForm")


class EpisodeQuery(PageArgs):
    """GET /api/v1/episodes filters."""

    status = fields.String(validate=validate.OneOf(["active", "discharged"]))
    stage = fields.String(validate=validate.OneOf(list(STAGE_VALUES)))
    counselor_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    at_risk = fields.Boolean()


class EpisodeOut(Schema):
    """An episode with its length-of-stay figures (computed by episodes.queries)."""

    id = fields.Integer()
    patient_id = fields.Integer()
    status = fields.String()
    stage = fields.String()
    admitted_on = fields.Date()
    discharged_on = fields.Date(allow_none=True)
    discharge_reason = fields.Integer(allow_none=True)
    primary_counselor_id = fields.Integer()
    los_target_days = fields.Integer()
    day_of_stay = fields.Integer(allow_none=True)
    target_date = fields.Date()
    days_remaining = fields.Integer(allow_none=True)
    los_days = fields.Integer()
    met_target = fields.Boolean(allow_none=True)
    level_of_care = fields.String(allow_none=True)
    at_risk = fields.Boolean()
    days_waiting = fields.Integer(allow_none=True)
    primary_substance = fields.Integer()
    secondary_substance = fields.Integer(allow_none=True)
    tertiary_substance = fields.Integer(allow_none=True)
    route = fields.Integer(allow_none=True)
    frequency = fields.Integer(allow_none=True)
    age_at_first_use = fields.Integer(allow_none=True)
    referral_source = fields.Integer()
    prior_treatment_episodes = fields.Integer(allow_none=True)
    service_setting = fields.Integer()
    discharge_service_setting = fields.Integer(allow_none=True)
    discharge_frequency = fields.Integer(allow_none=True)
    version = fields.Integer()


class EpisodeListOut(Schema):
    """The list envelope of episodes."""

    items = fields.List(fields.Nested(EpisodeOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class StageChangeOut(Schema):
    """One row of the stage history."""

    from_stage = fields.String(allow_none=True)
    to_stage = fields.String()
    at = fields.DateTime()
    by_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    override = fields.Boolean()


class StageHistoryOut(Schema):
    """The stage history envelope."""

    items = fields.List(fields.Nested(StageChangeOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
