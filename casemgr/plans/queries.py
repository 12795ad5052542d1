"""Reads for plans: the current level of care (in SQL, for lists) and overdue reviews."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from casemgr.episodes.models import Episode
from casemgr.episodes.queries import install_level_of_care
from casemgr.plans.models import LevelOfCareDecision, TreatmentPlan


def current_level_expr(on: date) -> sa.ScalarSelect[Any]:
    """Correlated subquery: the level of the latest decision in effect on a day."""
    return (
        sa.select(LevelOfCareDecision.level)
        .where(
            LevelOfCareDecision.episode_id == Episode.id,
            LevelOfCareDecision.effective_on <= on,
        )
        .order_by(LevelOfCareDecision.effective_on.desc(), LevelOfCareDecision.id.desc())
        .limit(1)
        .correlate(Episode)
        .scalar_subquery()
    )


def decisions_query(episode_ids: list[int]) -> sa.Select[Any]:
    """Select the level-of-care decisions of some episodes, latest effective first."""
    return (
        sa.select(LevelOfCareDecision)
        .where(LevelOfCareDecision.episode_id.in_(episode_ids))
        .order_by(LevelOfCareDecision.effective_on.desc(), LevelOfCareDecision.id.desc())
    )


def plans_query(episode_ids: list[int]) -> sa.Select[Any]:
    """Select the treatment-plan versions of some episodes, newest first."""
    return (
        sa.select(TreatmentPlan)
        .where(TreatmentPlan.episode_id.in_(episode_ids))
        .order_by(TreatmentPlan.episode_id, TreatmentPlan.number.desc())
    )


def reviews_due_query(scope: sa.ColumnElement[bool], on: date) -> sa.Select[Any]:
    """Select the plans in force (newest signed version) of active episodes past review."""
    newer = sa.orm.aliased(TreatmentPlan)
    newer_signed = sa.select(newer.id).where(
        newer.episode_id == TreatmentPlan.episode_id,
        newer.status == "signed",
        newer.number > TreatmentPlan.number,
    )
    return (
        sa.select(TreatmentPlan)
        .join(Episode, Episode.id == TreatmentPlan.episode_id)
        .where(
            TreatmentPlan.status == "signed",
            TreatmentPlan.review_due_on < on,
            ~sa.exists(newer_signed),
            Episode.status == "active",
            scope,
        )
        .options(sa.orm.contains_eager(TreatmentPlan.episode))
        .order_by(TreatmentPlan.review_due_on, TreatmentPlan.id)
    )


install_level_of_care(current_level_expr)
