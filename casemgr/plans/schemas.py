"""Level-of-care and treatment-plan schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from casemgr.core.schema import LINE, LONG, SHORT, ApiSchema, Int, PageArgs, Text


class LevelOfCareIn(ApiSchema):
    """POST /api/v1/episodes/{id}/level-of-care (level checked against the edition)."""

    asam_edition = Int(required=True, validate=validate.OneOf([3, 4]))
    dimensions = fields.Dict(keys=fields.String(), values=Int(), required=True)
    level = Text(SHORT, required=True)
    rationale = Text(LONG, required=True)
    effective_on = fields.Date(required=True)
    discrepancy_reason = Text(LONG, load_default=None, allow_none=True)


class LevelOfCareOut(Schema):
    """A level-of-care decision with its derived setting and TEDS code."""

    id = fields.Integer()
    episode_id = fields.Integer()
    asam_edition = fields.Integer()
    dimensions = fields.Dict(keys=fields.String(), values=fields.Integer())
    level = fields.String()
    level_name = fields.String()
    setting = fields.String()
    teds_service_setting = fields.Integer()
    rationale = fields.String()
    effective_on = fields.Date()
    discrepancy_reason = fields.String(allow_none=True)
    decided_by_id = fields.Integer()
    decided_at = fields.DateTime()


class LevelOfCareListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(LevelOfCareOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ObjectiveIn(ApiSchema):
    """An objective: what, by when, and how (interventions)."""

    description = Text(LINE, required=True)
    target_date = fields.Date(required=True)
    interventions = fields.List(Text(LINE), load_default=list, validate=validate.Length(max=20))


class GoalIn(ApiSchema):
    """A goal and its objectives."""

    description = Text(LINE, required=True)
    objectives = fields.List(
        fields.Nested(ObjectiveIn), load_default=list, validate=validate.Length(max=20)
    )


class ProblemIn(ApiSchema):
    """A problem and its goals."""

    description = Text(LINE, required=True)
    goals = fields.List(fields.Nested(GoalIn), load_default=list, validate=validate.Length(max=20))


class TreatmentPlanIn(ApiSchema):
    """POST /api/v1/episodes/{id}/treatment-plans and PATCH /api/v1/treatment-plans/{id}."""

    problems = fields.List(
        fields.Nested(ProblemIn), required=True, validate=validate.Length(min=1, max=20)
    )


class TreatmentPlanOut(Schema):
    """One version of a treatment plan."""

    id = fields.Integer()
    episode_id = fields.Integer()
    number = fields.Integer()
    status = fields.String()
    problems = fields.Raw()
    author_id = fields.Integer()
    signed_at = fields.DateTime(allow_none=True)
    review_due_on = fields.Date(allow_none=True)
    previous_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class TreatmentPlanListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(TreatmentPlanOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ReviewQuery(PageArgs):
    """GET /api/v1/treatment-plans/reviews-due."""
