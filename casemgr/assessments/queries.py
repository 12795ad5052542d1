"""Reads for assessment pages and lists: scores per episode, open alerts, chart data."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from casemgr.assessments.models import DiagnosticAssessment, WithdrawalScore
from casemgr.episodes.models import Episode
from casemgr.extensions import db


def diagnoses_query(episode_ids: list[int]) -> sa.Select[Any]:
    """Select the diagnostic assessments of some episodes, newest first."""
    return (
        sa.select(DiagnosticAssessment)
        .where(DiagnosticAssessment.episode_id.in_(episode_ids))
        .order_by(DiagnosticAssessment.created_at.desc(), DiagnosticAssessment.id.desc())
    )


def scores_query(episode_ids: list[int]) -> sa.Select[Any]:
    """Select the withdrawal scores of some episodes, newest first."""
    return (
        sa.select(WithdrawalScore)
        .where(WithdrawalScore.episode_id.in_(episode_ids))
        .order_by(WithdrawalScore.assessed_at.desc(), WithdrawalScore.id.desc())
    )


def open_alerts_query(scope: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Select unacknowledged severe scores on active episodes, most severe and oldest first."""
    return (
        sa.select(WithdrawalScore)
        .join(Episode, Episode.id == WithdrawalScore.episode_id)
        .where(
            WithdrawalScore.is_severe.is_(True),
            WithdrawalScore.acknowledged_at.is_(None),
            Episode.status == "active",
            scope,
        )
        .options(sa.orm.contains_eager(WithdrawalScore.episode))
        .order_by(WithdrawalScore.rank.desc(), WithdrawalScore.assessed_at, WithdrawalScore.id)
    )


def open_alert_count(scope: sa.ColumnElement[bool]) -> int:
    """Count open alerts (for the navigation badge)."""
    query = open_alerts_query(scope).with_only_columns(sa.func.count(WithdrawalScore.id))
    return db.session.scalar(query.order_by(None)) or 0


def chart_points(
    scores: list[WithdrawalScore], width: int = 600, height: int = 180
) -> dict[str, Any]:
    """Lay out one SVG polyline per instrument (x by time, y by share of the scale's maximum).

    Rendered as SVG on the server: the CSP allows no inline script, and a line chart of a few
    dozen points needs none.
    """
    from casemgr.clinical import withdrawal

    ordered = sorted(scores, key=lambda s: (s.assessed_at, s.id))
    if not ordered:
        return {"lines": [], "width": width, "height": height}
    start = ordered[0].assessed_at.timestamp()
    span = max(ordered[-1].assessed_at.timestamp() - start, 1.0)
    pad = 20
    lines = []
    for name in withdrawal.INSTRUMENTS:
        own = [s for s in ordered if s.instrument == name]
        if not own:
            continue
        top = withdrawal.instrument(name).max_total
        points = []
        for s in own:
            x = pad + (s.assessed_at.timestamp() - start) / span * (width - 2 * pad)
            y = height - pad - s.total / top * (height - 2 * pad)
            points.append({"x": round(x, 1), "y": round(y, 1), "score": s})
        lines.append(
            {
                "instrument": name,
                "css": name.lower().replace("-", ""),
                "points": points,
                "path": " ".join(f"{p['x']},{p['y']}" for p in points),
                "max": top,
            }
        )
    return {"lines": lines, "width": width, "height": height}
