"""Report figures, each computed by SQL aggregates whose cost grows with the rows read.

No report loops over episodes in Python: the database groups, counts and ranks; Python only
arranges the handful of aggregate rows it gets back (and multiplies the Kaplan–Meier factors,
one per distinct length of stay).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.clinical import teds
from casemgr.core.db import utcnow
from casemgr.core.sqlfuncs import days_between, hours_between, percentiles
from casemgr.core.timeutil import today
from casemgr.episodes.models import TREATMENT_STAGES, Episode, StageChange
from casemgr.extensions import db
from casemgr.intake.queries import occupancy
from casemgr.reports.filters import (
    INPATIENT_SETTINGS,
    SETTINGS,
    ReportFilters,
    level_of_care_expr,
)
from casemgr.staff.models import Staff
from casemgr.therapy.models import PRESENT, TherapySession
from casemgr.therapy.queries import at_risk_expr

#: TEDS-D length-of-stay bands beyond 30 days (CLINICAL.md §3), as (code, first day, last day).
LOS_BANDS = (
    (31, 31, 45),
    (32, 46, 60),
    (33, 61, 90),
    (34, 91, 120),
    (35, 121, 180),
    (36, 181, 365),
    (37, 366, None),
)
#: Days marked on the retention chart.
RETENTION_MARKS = (28, 60, 90)


def _los() -> sa.ColumnElement[int]:
    """Length of stay of a discharged episode: discharge − admission + 1 (day 1 counts)."""
    return days_between(Episode.discharged_on, Episode.admitted_on) + 1


def _setting_label() -> sa.ColumnElement[str]:
    """Classify an episode's TEDS service setting as inpatient or outpatient."""
    return sa.case(
        (Episode.service_setting.in_(INPATIENT_SETTINGS), "inpatient"), else_="outpatient"
    )


def _rate(part: int, whole: int) -> float | None:
    """Return a fraction 0–1, or None when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


# --- census ----------------------------------------------------------------------------------


def census(filters: ReportFilters) -> dict[str, Any]:
    """Active episodes today by stage, by setting and by counselor."""
    active = [Episode.status == "active", *filters.episode_conditions()]
    by_stage = dict.fromkeys((s.value for s in TREATMENT_STAGES), 0)
    for stage, n in db.session.execute(
        sa.select(Episode.stage, sa.func.count()).where(*active).group_by(Episode.stage)
    ):
        by_stage[stage] = n
    by_setting = {"inpatient": 0, "outpatient": 0}
    setting = _setting_label()
    for label, n in db.session.execute(
        sa.select(setting, sa.func.count()).where(*active).group_by(setting)
    ):
        by_setting[label] = n
    by_counselor = [
        {"counselor_id": row.id, "name": row.full_name, "active": row.n}
        for row in db.session.execute(
            sa.select(Staff.id, Staff.full_name, sa.func.count(Episode.id).label("n"))
            .join(Episode, Episode.primary_counselor_id == Staff.id)
            .where(*active)
            .group_by(Staff.id, Staff.full_name)
            .order_by(sa.desc("n"), Staff.full_name)
        )
    ]
    level = sa.func.coalesce(level_of_care_expr(), "none").label("level")
    by_level = dict(
        db.session.execute(sa.select(level, sa.func.count()).where(*active).group_by(level)).all()
    )
    places = [
        {
            "category": o.category,
            "capacity": o.capacity,
            "occupied": o.occupied,
            "free": o.free,
            "waiting": o.waiting,
        }
        for o in occupancy()
    ]
    return {
        "as_of": today(),
        "total_active": sum(by_stage.values()),
        "places": places,
        "by_stage": by_stage,
        "by_setting": by_setting,
        "by_level_of_care": by_level,
        "by_counselor": by_counselor,
    }


# --- length of stay and the target -----------------------------------------------------------


def length_of_stay(filters: ReportFilters) -> dict[str, Any]:
    """Discharges in the range: LOS median/mean, target attainment, splits; active progress."""
    discharged = [
        Episode.status == "discharged",
        Episode.discharged_on.between(filters.start, filters.end),
        *filters.episode_conditions(),
    ]
    los = _los().label("los")
    met = sa.case((_los() >= Episode.los_target_days, 1), else_=0)
    totals = db.session.execute(
        sa.select(
            sa.func.count(), sa.func.avg(_los()), sa.func.coalesce(sa.func.sum(met), 0)
        ).where(*discharged)
    ).one()
    count, mean, met_total = totals[0], totals[1], int(totals[2])
    median = None
    if count:
        values = sa.select(los).where(*discharged).subquery()
        median = percentiles(db.session, values, "los", None, (0.5,))[0][0.5]
    by_reason = {str(code): {"discharges": 0, "met_target": 0} for code in teds.DISCHARGE_REASONS}
    for reason, n, m in db.session.execute(
        sa.select(Episode.discharge_reason, sa.func.count(), sa.func.sum(met))
        .where(*discharged)
        .group_by(Episode.discharge_reason)
    ):
        by_reason[str(reason)] = {"discharges": n, "met_target": int(m or 0)}
    setting = _setting_label()
    by_setting = {
        "inpatient": {"discharges": 0, "met_target": 0},
        "outpatient": {"discharges": 0, "met_target": 0},
    }
    for label, n, m in db.session.execute(
        sa.select(setting, sa.func.count(), sa.func.sum(met)).where(*discharged).group_by(setting)
    ):
        by_setting[label] = {"discharges": n, "met_target": int(m or 0)}
    level = sa.func.coalesce(level_of_care_expr(), "none").label("level")
    by_level = {
        lvl: {"discharges": n, "met_target": int(m or 0)}
        for lvl, n, m in db.session.execute(
            sa.select(level, sa.func.count(), sa.func.sum(met)).where(*discharged).group_by(level)
        )
    }
    by_counselor = [
        {
            "counselor_id": row.id,
            "name": row.full_name,
            "discharges": row.n,
            "met_target": int(row.m or 0),
            "met_target_rate": _rate(int(row.m or 0), row.n),
        }
        for row in db.session.execute(
            sa.select(
                Staff.id,
                Staff.full_name,
                sa.func.count(Episode.id).label("n"),
                sa.func.sum(met).label("m"),
            )
            .join(Episode, Episode.primary_counselor_id == Staff.id)
            .where(*discharged)
            .group_by(Staff.id, Staff.full_name)
            .order_by(Staff.full_name)
        )
    ]
    return {
        "from": filters.start,
        "to": filters.end,
        "discharges": count,
        "median_los_days": median,
        "mean_los_days": round(float(mean), 2) if mean is not None else None,
        "met_target": met_total,
        "met_target_rate": _rate(met_total, count),
        "by_reason": {k: v["discharges"] for k, v in by_reason.items()},
        "by_reason_detail": by_reason,
        "by_setting": by_setting,
        "by_level_of_care": {k: v["discharges"] for k, v in by_level.items()},
        "by_level_of_care_detail": by_level,
        "by_counselor": by_counselor,
        "distribution": los_distribution(discharged),
        "active": active_progress(filters),
    }


def los_distribution(conditions: list[sa.ColumnElement[bool]]) -> list[dict[str, Any]]:
    """Count discharges per TEDS-D length-of-stay band (1–30 as ranges of ten days here)."""
    bands: list[tuple[str, int, int | None]] = [("1–7", 1, 7), ("8–14", 8, 14), ("15–30", 15, 30)]
    bands += [(f"{lo}–{hi}" if hi else f"{lo}+", lo, hi) for _, lo, hi in LOS_BANDS]
    los = _los()
    whens = [(sa.and_(los >= lo, los <= hi) if hi else los >= lo, label) for label, lo, hi in bands]
    band = sa.case(*whens).label("band")
    counts = dict(
        db.session.execute(sa.select(band, sa.func.count()).where(*conditions).group_by(band)).all()
    )
    return [{"band": label, "discharges": counts.get(label, 0)} for label, _, _ in bands]


def active_progress(filters: ReportFilters) -> dict[str, int]:
    """Active episodes on track, at risk, and past their target today."""
    now_day = today()
    risk = at_risk_expr(now_day, utcnow())
    past = days_between(sa.literal(now_day, sa.Date), Episode.admitted_on) + 1 >= (
        Episode.los_target_days
    )
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((risk, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((past, 1), else_=0)), 0),
            sa.func.coalesce(
                sa.func.sum(sa.case((sa.and_(sa.not_(risk), sa.not_(past)), 1), else_=0)), 0
            ),
        ).where(Episode.status == "active", *filters.episode_conditions())
    ).one()
    return {
        "active": row[0],
        "at_risk": int(row[1]),
        "past_target": int(row[2]),
        "on_track": int(row[3]),
    }


# --- retention (Kaplan–Meier) ------------------------------------------------------------------


def retention(filters: ReportFilters, horizon: int = 120) -> dict[str, Any]:
    """Share of admitted patients still in treatment by day since admission (Kaplan–Meier).

    Each episode admitted in the range is observed for ``t`` days: its length of stay when
    discharged (an event after day t), or its current day of stay when active (censored).
    retained(d) = Π over event times t < d of (1 − events(t) / observed ≥ t).
    """
    now_day = today()
    time = sa.case(
        (Episode.status == "discharged", _los()),
        else_=days_between(sa.literal(now_day, sa.Date), Episode.admitted_on) + 1,
    ).label("t")
    event = sa.case((Episode.status == "discharged", 1), else_=0).label("event")
    cohort = (
        sa.select(time, event)
        .where(
            Episode.admitted_on.between(filters.start, filters.end), *filters.episode_conditions()
        )
        .subquery()
    )
    rows = db.session.execute(
        sa.select(cohort.c.t, sa.func.count(), sa.func.sum(cohort.c.event))
        .group_by(cohort.c.t)
        .order_by(cohort.c.t)
    ).all()
    total = sum(n for _, n, _ in rows)
    at_risk = total
    survival = 1.0
    steps: dict[int, float] = {}  # survival just after each day t with events
    for t, n, events in rows:
        events = int(events or 0)
        if at_risk and events:
            survival *= 1 - events / at_risk
            steps[int(t)] = survival
        at_risk -= n
    points = []
    current = 1.0
    for day in range(1, horizon + 1):
        # retained on day d: still in on day d = survived every event time before d
        if day - 1 in steps:
            current = steps[day - 1]
        points.append({"day": day, "retained": round(current, 4)})
    at = {p["day"]: p["retained"] for p in points}
    return {
        "from": filters.start,
        "to": filters.end,
        "admissions": total,
        "points": points if total else [],
        "at_day_28": at.get(28) if total else None,
        "at_day_60": at.get(60) if total else None,
        "at_day_90": at.get(90) if total else None,
    }


# --- time in each stage --------------------------------------------------------------------------


def stage_durations(filters: ReportFilters) -> dict[str, Any]:
    """Median and interquartile range of days spent in each stage (completed stays only).

    A stay in a stage runs from its stage-history row to the episode's next row; the
    current, unfinished stay of an active episode is not counted.
    """
    next_at = sa.func.lead(StageChange.at).over(
        partition_by=StageChange.episode_id, order_by=(StageChange.at, StageChange.id)
    )
    stays = (
        sa.select(
            StageChange.to_stage.label("stage"),
            hours_between(next_at, StageChange.at).label("hours"),
        )
        .join(Episode, Episode.id == StageChange.episode_id)
        .where(
            Episode.admitted_on.between(filters.start, filters.end), *filters.episode_conditions()
        )
        .subquery()
    )
    completed = (
        sa.select(stays.c.stage, (stays.c.hours / 24.0).label("days"))
        .where(stays.c.hours.is_not(None), stays.c.stage != "discharged")
        .subquery()
    )
    counts: dict[str, int] = {}
    quantiles = percentiles(db.session, completed, "days", "stage", (0.25, 0.5, 0.75), counts)
    rows = []
    for stage in TREATMENT_STAGES:
        q = quantiles.get(stage.value)
        rows.append(
            {
                "stage": stage.value,
                "label": stage.label,
                "stays": counts.get(stage.value, 0),
                "median_days": round(q[0.5], 2) if q else None,
                "q1_days": round(q[0.25], 2) if q else None,
                "q3_days": round(q[0.75], 2) if q else None,
            }
        )
    return {"from": filters.start, "to": filters.end, "stages": rows}


# --- discharges by reason ------------------------------------------------------------------------


def discharges(filters: ReportFilters) -> dict[str, Any]:
    """Discharges in the range by TEDS reason, and the completed-or-transferred rate."""
    counts = dict(
        db.session.execute(
            sa.select(Episode.discharge_reason, sa.func.count())
            .where(
                Episode.status == "discharged",
                Episode.discharged_on.between(filters.start, filters.end),
                *filters.episode_conditions(),
            )
            .group_by(Episode.discharge_reason)
        ).all()
    )
    total = sum(counts.values())
    positive = sum(counts.get(code, 0) for code in teds.POSITIVE_DISCHARGE_REASONS)
    return {
        "from": filters.start,
        "to": filters.end,
        "discharges": total,
        "by_reason": [
            {
                "reason": code,
                "label": label,
                "discharges": counts.get(code, 0),
                "share": _rate(counts.get(code, 0), total),
            }
            for code, label in teds.DISCHARGE_REASONS.items()
        ],
        "completed_or_transferred": positive,
        "completed_or_transferred_rate": _rate(positive, total),
    }


# --- caseload and activity -----------------------------------------------------------------------


def caseload(filters: ReportFilters) -> dict[str, Any]:
    """Per counselor: active patients, sessions and hours per week, no-show rate."""
    weeks = max((filters.end - filters.start).days + 1, 1) / 7
    window_start = _midnight(filters.start)
    window_end = _midnight(filters.end + timedelta(days=1))
    held = TherapySession.attendance.in_(PRESENT)
    sessions = (
        sa.select(
            TherapySession.counselor_id.label("cid"),
            sa.func.sum(sa.case((held, 1), else_=0)).label("held"),
            sa.func.sum(sa.case((held, TherapySession.duration_minutes), else_=0)).label("mins"),
            sa.func.sum(sa.case((TherapySession.attendance == "no_show", 1), else_=0)).label(
                "no_shows"
            ),
        )
        .where(TherapySession.started_at >= window_start, TherapySession.started_at < window_end)
        .group_by(TherapySession.counselor_id)
        .subquery()
    )
    active = (
        sa.select(Episode.primary_counselor_id.label("cid"), sa.func.count().label("active"))
        .where(Episode.status == "active", *filters.episode_conditions())
        .group_by(Episode.primary_counselor_id)
        .subquery()
    )
    query = (
        sa.select(
            Staff.id,
            Staff.full_name,
            active.c.active,
            sessions.c.held,
            sessions.c.mins,
            sessions.c.no_shows,
        )
        .outerjoin(active, active.c.cid == Staff.id)
        .outerjoin(sessions, sessions.c.cid == Staff.id)
        .where(sa.or_(active.c.active.is_not(None), sessions.c.held.is_not(None)))
        .order_by(Staff.full_name)
    )
    if filters.counselor_id:
        query = query.where(Staff.id == filters.counselor_id)
    rows = []
    for row in db.session.execute(query):
        held_n, no_shows = int(row.held or 0), int(row.no_shows or 0)
        rows.append(
            {
                "counselor_id": row.id,
                "name": row.full_name,
                "active": int(row.active or 0),
                "sessions": held_n,
                "sessions_per_week": round(held_n / weeks, 2),
                "hours": round(int(row.mins or 0) / 60, 2),
                "hours_per_week": round(int(row.mins or 0) / 60 / weeks, 2),
                "no_shows": no_shows,
                "no_show_rate": _rate(no_shows, held_n + no_shows),
            }
        )
    return {"from": filters.start, "to": filters.end, "weeks": round(weeks, 2), "counselors": rows}


def _midnight(day: date) -> Any:
    """Return the program-local start of a day as an aware UTC datetime."""
    from datetime import UTC, datetime, time

    from casemgr.core.timeutil import program_zone

    return datetime.combine(day, time(0, 0), tzinfo=program_zone()).astimezone(UTC)


# --- documentation timeliness --------------------------------------------------------------


def documentation(filters: ReportFilters) -> dict[str, Any]:
    """Per author: notes unsigned (and over 72 h), signed within 24 h, within 72 h, or later.

    The clock starts at the session's start for a session's note, else at the note's
    creation; it stops when the author signs (a co-signature does not reset it).
    """
    from casemgr.therapy.models import Note

    started = sa.func.coalesce(TherapySession.started_at, Note.created_at)
    hours = hours_between(Note.signed_at, started)
    now = utcnow()
    unsigned = Note.signed_at.is_(None)

    def count(condition: sa.ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    conditions = [
        Note.created_at >= _midnight(filters.start),
        Note.created_at < _midnight(filters.end + timedelta(days=1)),
    ]
    if filters.counselor_id:
        conditions.append(Note.author_id == filters.counselor_id)
    if filters.setting:
        conditions.append(Episode.service_setting.in_(SETTINGS[filters.setting]))
    rows = db.session.execute(
        sa.select(
            Staff.id,
            Staff.full_name,
            sa.func.count(Note.id).label("notes"),
            count(unsigned).label("unsigned"),
            count(sa.and_(unsigned, Note.created_at < now - timedelta(hours=72))).label("overdue"),
            count(sa.and_(~unsigned, hours <= 24)).label("within_24h"),
            count(sa.and_(~unsigned, hours > 24, hours <= 72)).label("within_72h"),
            count(sa.and_(~unsigned, hours > 72)).label("later"),
        )
        .join(Note, Note.author_id == Staff.id)
        .join(Episode, Episode.id == Note.episode_id)
        .outerjoin(TherapySession, TherapySession.id == Note.session_id)
        .where(*conditions)
        .group_by(Staff.id, Staff.full_name)
        .order_by(Staff.full_name)
    ).all()
    authors = [
        {
            "author_id": r.id,
            "name": r.full_name,
            "notes": r.notes,
            "unsigned": int(r.unsigned),
            "unsigned_over_72h": int(r.overdue),
            "signed_within_24h": int(r.within_24h),
            "signed_24_to_72h": int(r.within_72h),
            "signed_after_72h": int(r.later),
            "on_time_rate": _rate(int(r.within_24h) + int(r.within_72h), r.notes),
        }
        for r in rows
    ]
    totals = {
        key: sum(a[key] for a in authors)
        for key in (
            "notes",
            "unsigned",
            "unsigned_over_72h",
            "signed_within_24h",
            "signed_24_to_72h",
            "signed_after_72h",
        )
    }
    totals["on_time_rate"] = _rate(
        totals["signed_within_24h"] + totals["signed_24_to_72h"], totals["notes"]
    )
    return {"from": filters.start, "to": filters.end, "authors": authors, "totals": totals}


# --- education ------------------------------------------------------------------------------


def education(filters: ReportFilters) -> dict[str, Any]:
    """Core-module completion: active episodes today, and discharged episodes at discharge.

    A module counts for a discharged episode only when delivered on or before discharge.
    """
    from casemgr.education.models import EducationDelivery, EducationModule

    core = sa.and_(EducationModule.core.is_(True), EducationModule.active.is_(True))
    core_total = db.session.scalar(sa.select(sa.func.count()).where(core)) or 0
    delivered = (
        sa.select(
            EducationDelivery.episode_id.label("episode_id"),
            sa.func.count(sa.distinct(EducationDelivery.module_id)).label("done"),
        )
        .join(EducationModule, EducationModule.id == EducationDelivery.module_id)
        .join(Episode, Episode.id == EducationDelivery.episode_id)
        .where(
            core,
            sa.or_(
                Episode.discharged_on.is_(None),
                EducationDelivery.delivered_on <= Episode.discharged_on,
            ),
        )
        .group_by(EducationDelivery.episode_id)
        .subquery()
    )
    done = sa.func.coalesce(delivered.c.done, 0)

    def cohort(*conditions: sa.ColumnElement[bool]) -> dict[str, Any]:
        row = db.session.execute(
            sa.select(
                sa.func.count(Episode.id),
                sa.func.coalesce(sa.func.sum(sa.case((done >= core_total, 1), else_=0)), 0),
                sa.func.avg(sa.cast(done, sa.Float)),
            )
            .outerjoin(delivered, delivered.c.episode_id == Episode.id)
            .where(*conditions, *filters.episode_conditions())
        ).one()
        episodes, complete, mean_done = row[0], int(row[1]), row[2]
        return {
            "episodes": episodes,
            "all_core_complete": complete if core_total else 0,
            "completion_rate": _rate(complete, episodes) if core_total else None,
            "mean_core_modules": round(float(mean_done), 2) if mean_done is not None else None,
        }

    active = cohort(Episode.status == "active")
    discharged = cohort(
        Episode.status == "discharged", Episode.discharged_on.between(filters.start, filters.end)
    )
    modules = [
        {"module_id": r.id, "title": r.title, "active_episodes_reached": int(r.n or 0)}
        for r in db.session.execute(
            sa.select(
                EducationModule.id,
                EducationModule.title,
                sa.func.count(sa.distinct(EducationDelivery.episode_id)).label("n"),
            )
            .outerjoin(
                EducationDelivery,
                sa.and_(
                    EducationDelivery.module_id == EducationModule.id,
                    EducationDelivery.episode_id.in_(
                        sa.select(Episode.id).where(
                            Episode.status == "active", *filters.episode_conditions()
                        )
                    ),
                ),
            )
            .where(core)
            .group_by(EducationModule.id, EducationModule.title)
            .order_by(EducationModule.title)
        )
    ]
    return {
        "from": filters.start,
        "to": filters.end,
        "core_modules": core_total,
        "active": active,
        "discharged": discharged,
        "modules": modules,
    }
