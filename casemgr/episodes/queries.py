"""Episode reads for pages and the API: filters, at-risk flags and length-of-stay figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import Any

import sqlalchemy as sa

from casemgr.core.db import utcnow
from casemgr.core.timeutil import today
from casemgr.episodes.los import stay_figures
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.therapy.queries import at_risk_expr

#: Columns copied as they are into the API's episode representation.
PLAIN_FIELDS = (
    "id",
    "patient_id",
    "status",
    "stage",
    "admitted_on",
    "discharged_on",
    "discharge_reason",
    "primary_counselor_id",
    "los_target_days",
    "days_waiting",
    "primary_substance",
    "secondary_substance",
    "tertiary_substance",
    "route",
    "frequency",
    "age_at_first_use",
    "referral_source",
    "prior_treatment_episodes",
    "service_setting",
    "discharge_service_setting",
    "discharge_frequency",
    "version",
)


#: SQL expression factory for an episode's current level of care on a day, installed by the
#: plans domain (which owns level-of-care decisions; episodes must not import it).
_level_of_care: list[Callable[[date], sa.ColumnElement[Any]]] = []
_UNSET: Any = object()


def install_level_of_care(expr: Callable[[date], sa.ColumnElement[Any]]) -> None:
    """Let the plans domain supply the current-level expression (latest effective decision)."""
    _level_of_care[:] = [expr]


def level_of_care_column() -> sa.ColumnElement[Any]:
    """Return the current level of care as a labelled column (NULL before any decision)."""
    if not _level_of_care:
        return sa.null().label("level_of_care")
    return _level_of_care[0](today()).label("level_of_care")


def current_level_of_care(episode: Episode) -> str | None:
    """Return one episode's current level of care (one query)."""
    if not _level_of_care:
        return None
    return db.session.scalar(sa.select(level_of_care_column()).where(Episode.id == episode.id))


def present(episode: Episode, at_risk: bool, level_of_care: Any = _UNSET) -> dict[str, Any]:
    """Build the episode representation of shared/API.md with its derived figures."""
    figures = stay_figures(
        episode.admitted_on, episode.discharged_on, episode.los_target_days, today()
    )
    out = {name: getattr(episode, name) for name in PLAIN_FIELDS}
    out.update(asdict(figures))
    out["at_risk"] = bool(at_risk)
    if level_of_care is _UNSET:
        level_of_care = current_level_of_care(episode)
    out["level_of_care"] = level_of_care
    return out


def risk_column() -> sa.ColumnElement[bool]:
    """Return the at-risk SQL expression for today, labelled for selects."""
    return at_risk_expr(today(), utcnow()).label("at_risk")


def list_episodes(
    scope: sa.ColumnElement[bool],
    *,
    status: str | None = None,
    stage: str | None = None,
    counselor_id: int | None = None,
    at_risk: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """Return one page of episodes with their at-risk flag, newest admission first."""
    risk = at_risk_expr(today(), utcnow())
    conditions = [scope]
    if status:
        conditions.append(Episode.status == status)
    if stage:
        conditions.append(Episode.stage == stage)
    if counselor_id:
        conditions.append(Episode.primary_counselor_id == counselor_id)
    if at_risk is not None:
        conditions.append(risk if at_risk else sa.not_(risk))
    where = sa.and_(*conditions)
    total = db.session.scalar(sa.select(sa.func.count(Episode.id)).where(where)) or 0
    rows = db.session.execute(
        sa.select(Episode, risk.label("at_risk"), level_of_care_column())
        .where(where)
        .order_by(Episode.admitted_on.desc(), Episode.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [present(row.Episode, row.at_risk, row.level_of_care) for row in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def is_at_risk(episode: Episode) -> bool:
    """Evaluate the at-risk rule for one episode in SQL (the same rule as lists)."""
    risk = at_risk_expr(today(), utcnow())
    return bool(db.session.scalar(sa.select(risk).where(Episode.id == episode.id)))


def patient_at_risk(patient_id: int) -> bool:
    """Evaluate the at-risk rule for a patient's active episode (False when none), one query."""
    risk = at_risk_expr(today(), utcnow())
    return bool(
        db.session.scalar(
            sa.select(risk).where(Episode.patient_id == patient_id, Episode.status == "active")
        )
    )


def caseload_query(
    actor_scope: sa.ColumnElement[bool],
    counselor_id: int | None = None,
    *,
    stage: str | None = None,
    at_risk_only: bool = False,
) -> sa.Select[Any]:
    """Select active episodes for the caseload page (one query), most in need first.

    Need: at risk first, then planned sessions left without attendance, then unsigned
    notes, then the longest since a session.
    """
    from casemgr.patients.models import Patient
    from casemgr.staff.models import Staff
    from casemgr.therapy.queries import (
        last_session_expr,
        needs_attendance_expr,
        next_planned_expr,
        unsigned_notes_expr,
    )

    now = utcnow()
    risk = at_risk_expr(today(), now)
    last_session = last_session_expr()
    needs_attendance = needs_attendance_expr(now)
    unsigned = unsigned_notes_expr()
    query = (
        sa.select(
            Episode,
            Patient,
            Staff.full_name.label("counselor_name"),
            risk.label("at_risk"),
            last_session.label("last_session_at"),
            needs_attendance.label("needs_attendance"),
            unsigned.label("unsigned_notes"),
            next_planned_expr(now).label("next_planned_at"),
            level_of_care_column(),
        )
        .join(Patient, Patient.id == Episode.patient_id)
        .join(Staff, Staff.id == Episode.primary_counselor_id)
        .where(Episode.status == "active", actor_scope)
        .order_by(
            risk.desc(),
            needs_attendance.desc(),
            unsigned.desc(),
            sa.case((last_session.is_(None), 0), else_=1),
            last_session,
            Episode.admitted_on,
            Episode.id,
        )
    )
    if counselor_id:
        query = query.where(Episode.primary_counselor_id == counselor_id)
    if stage:
        query = query.where(Episode.stage == stage)
    if at_risk_only:
        query = query.where(risk)
    return query


def caseload_summary(query: sa.Select[Any]) -> Any:
    """Count a whole caseload, its at-risk episodes and its sessions needing attendance.

    One aggregate over every row, for the tiles and the pager, while the page shows 50.
    """
    rows = query.order_by(None).subquery()
    return db.session.execute(
        sa.select(
            sa.func.count().label("total"),
            sa.func.coalesce(sa.func.sum(sa.case((rows.c.at_risk, 1), else_=0)), 0).label(
                "at_risk"
            ),
            sa.func.coalesce(sa.func.sum(rows.c.needs_attendance), 0).label("needs_attendance"),
        ).select_from(rows)
    ).one()
