"""Report filters: a date range and optional counselor and program setting, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError, fields, validate, validates_schema

from casemgr.core.schema import MAX_ID, FormSchema
from casemgr.core.timeutil import today
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff

#: TEDS service settings 1–5 are 24-hour care (detox, residential, hospital); 6–8 ambulatory.
INPATIENT_SETTINGS = (1, 2, 3, 4, 5)
OUTPATIENT_SETTINGS = (6, 7, 8)
SETTINGS = {"inpatient": INPATIENT_SETTINGS, "outpatient": OUTPATIENT_SETTINGS}
DEFAULT_RANGE_DAYS = 365


@dataclass(frozen=True)
class ReportFilters:
    """What a report covers: dates (inclusive), and optionally one counselor or setting."""

    start: date
    end: date
    counselor_id: int | None = None
    setting: str | None = None
    level: str | None = None

    def episode_conditions(self) -> list[sa.ColumnElement[bool]]:
        """Return the WHERE conditions on episodes for counselor and setting."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.counselor_id:
            conditions.append(Episode.primary_counselor_id == self.counselor_id)
        if self.setting:
            conditions.append(Episode.service_setting.in_(SETTINGS[self.setting]))
        if self.level:
            conditions.append(level_of_care_expr() == self.level)
        return conditions

    def as_query(self) -> dict[str, Any]:
        """Return the filters as query-string values (for links and CSV downloads)."""
        out: dict[str, Any] = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.counselor_id:
            out["counselor_id"] = self.counselor_id
        if self.setting:
            out["setting"] = self.setting
        if self.level:
            out["level"] = self.level
        return out


class FilterArgs(FormSchema):
    """Query-string filters shared by report pages and the API (``from``/``to``)."""

    start = fields.Date(data_key="from", load_default=None)
    end = fields.Date(data_key="to", load_default=None)
    counselor_id = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_ID)
    )
    setting = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(list(SETTINGS))
    )
    level = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10))
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "csv", "json"]))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse a range that ends before it starts."""
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("The start date is after the end date.", "from")


def parse_filters(args: dict[str, Any]) -> tuple[ReportFilters, str]:
    """Validate query-string filters; default to the last year up to today."""
    raw = {k: v for k, v in args.items() if v not in ("", None)}
    data = FilterArgs().load(raw)
    end = data["end"] or today()
    start = data["start"] or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise ValidationError({"from": ["The start date is after the end date."]})
    counselor_id = data["counselor_id"]
    if counselor_id and db.session.get(Staff, counselor_id) is None:
        raise ValidationError({"counselor_id": ["No such counselor."]})
    return ReportFilters(start, end, counselor_id, data["setting"], data["level"]), data["format"]


def level_of_care_expr() -> sa.ScalarSelect[str]:
    """Return the episode's level of care in SQL: at discharge if discharged, else today's."""
    from casemgr.plans.models import LevelOfCareDecision

    on = sa.func.coalesce(Episode.discharged_on, sa.literal(today(), sa.Date))
    return (
        sa.select(LevelOfCareDecision.level)
        .where(LevelOfCareDecision.episode_id == Episode.id, LevelOfCareDecision.effective_on <= on)
        .order_by(LevelOfCareDecision.effective_on.desc(), LevelOfCareDecision.id.desc())
        .limit(1)
        .correlate(Episode)
        .scalar_subquery()
    )
