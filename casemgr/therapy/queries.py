"""Session-derived figures the episode pages and lists need, computed in SQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from casemgr.episodes.models import Episode
from casemgr.therapy.models import PRESENT, TherapySession

#: DESIGN.md §2: at risk once past the first 14 days ...
AT_RISK_AFTER_DAYS = 14
#: ... with 2 or more missed sessions in the last 14 days ...
MISSED_WINDOW_DAYS = 14
MISSED_LIMIT = 2
#: ... or no attended session in the last 7 days.
GAP_DAYS = 7


def at_risk_expr(today: date, now: datetime) -> sa.ColumnElement[bool]:
    """Return a SQL boolean telling whether an episode is at risk (API.md definition).

    Missed = a no-show, or a scheduled session whose time has passed without attendance.
    """
    missed = (
        sa.select(sa.func.count())
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.started_at >= now - timedelta(days=MISSED_WINDOW_DAYS),
            TherapySession.started_at < now,
            TherapySession.attendance.in_(("no_show", "scheduled")),
        )
        .correlate(Episode)
        .scalar_subquery()
    )
    attended_recently = (
        sa.select(TherapySession.id)
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.started_at >= now - timedelta(days=GAP_DAYS),
            TherapySession.started_at <= now,
            TherapySession.attendance.in_(PRESENT),
        )
        .correlate(Episode)
        .exists()
    )
    past_first_days = Episode.admitted_on <= today - timedelta(days=AT_RISK_AFTER_DAYS)
    return sa.and_(
        Episode.status == "active",
        past_first_days,
        sa.or_(missed >= MISSED_LIMIT, sa.not_(attended_recently)),
    )


def last_session_expr() -> sa.ScalarSelect[datetime]:
    """Return a SQL scalar: the start of the episode's last attended session."""
    return (
        sa.select(sa.func.max(TherapySession.started_at))
        .where(TherapySession.episode_id == Episode.id, TherapySession.attendance.in_(PRESENT))
        .correlate(Episode)
        .scalar_subquery()
    )
