"""Assessment input (API and forms) and output schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from casemgr.clinical import withdrawal
from casemgr.core.schema import LONG, SHORT, ApiSchema, Int, PageArgs, Text

INSTRUMENTS = list(withdrawal.INSTRUMENTS)


class _DiagnosisFields(ApiSchema):
    """The checklist and evaluations (criteria are checked by the DSM-5 rules)."""

    criteria = fields.List(Int(), required=True, validate=validate.Length(max=11))
    medical_supervision = fields.Boolean(required=True, truthy={True}, falsy={False})
    physical_evaluation = Text(LONG, required=True)
    psychological_evaluation = Text(LONG, required=True)
    co_occurring = fields.List(Text(SHORT), load_default=list, validate=validate.Length(max=30))


class DiagnosisIn(_DiagnosisFields):
    """POST /api/v1/episodes/{id}/diagnoses."""

    sign = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class DiagnosisUpdate(_DiagnosisFields):
    """PATCH /api/v1/diagnoses/{id}: the whole draft again, with the version it was read at."""

    version = Int(required=True)


class DiagnosisOut(Schema):
    """A diagnostic assessment as stored, with its computed figures."""

    id = fields.Integer()
    episode_id = fields.Integer()
    criteria = fields.List(fields.Integer())
    medical_supervision = fields.Boolean()
    criteria_counted = fields.Integer()
    severity = fields.String()
    icd10 = fields.String(allow_none=True)
    physical_evaluation = fields.String()
    psychological_evaluation = fields.String()
    co_occurring = fields.List(fields.String())
    author_id = fields.Integer()
    signed_at = fields.DateTime(allow_none=True)
    signed_by_id = fields.Integer(allow_none=True)
    status = fields.Function(lambda a: "signed" if a.is_signed else "draft")
    version = fields.Integer()
    created_at = fields.DateTime()


class DiagnosisListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(DiagnosisOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class WithdrawalScoreIn(ApiSchema):
    """POST /api/v1/episodes/{id}/withdrawal-scores (items checked per instrument)."""

    instrument = fields.String(required=True, validate=validate.OneOf(INSTRUMENTS))
    items = fields.List(Int(), required=True, validate=validate.Length(max=40))
    assessed_at = fields.AwareDateTime(load_default=None, allow_none=True)


class WithdrawalScoreOut(Schema):
    """A withdrawal score with its band and alert state."""

    id = fields.Integer()
    episode_id = fields.Integer()
    instrument = fields.String()
    items = fields.List(fields.Integer())
    total = fields.Integer()
    band = fields.String()
    rank = fields.Integer()
    bands_source = fields.String()
    alert = fields.Boolean(attribute="is_severe")
    alert_open = fields.Boolean()
    assessed_at = fields.DateTime()
    recorded_by_id = fields.Integer()
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by_id = fields.Integer(allow_none=True)


class WithdrawalScoreListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(WithdrawalScoreOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AlertOut(WithdrawalScoreOut):
    """An open alert on the medical dashboard, with its patient."""

    patient_id = fields.Integer(attribute="episode.patient_id")


class AlertListOut(Schema):
    """The alert list envelope."""

    items = fields.List(fields.Nested(AlertOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AlertQuery(PageArgs):
    """GET /api/v1/withdrawal-alerts."""
