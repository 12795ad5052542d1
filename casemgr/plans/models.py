"""Level-of-care decisions (a history per episode) and treatment plans (signed versions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin, UTCDateTime, utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff


class LevelOfCareDecision(TimestampMixin, db.Model):
    """An ASAM placement a clinician chose; the latest effective one is the current level."""

    __tablename__ = "level_of_care_decisions"
    __table_args__ = (
        sa.Index("ix_level_of_care_decisions_episode_effective", "episode_id", "effective_on"),
        sa.CheckConstraint("asam_edition IN (3, 4)", name="known_edition"),
        sa.CheckConstraint("setting IN ('inpatient', 'outpatient')", name="known_setting"),
        sa.CheckConstraint("teds_service_setting BETWEEN 1 AND 8", name="teds_setting"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    asam_edition: Mapped[int]
    #: The six dimension ratings, {"1": 0-4, ..., "6": 0-4}.
    dimensions: Mapped[dict[str, int]] = mapped_column(sa.JSON)
    #: Canonical spelling from casemgr.clinical.asam ("3.5", "1.0", "3.7-WM").
    level: Mapped[str] = mapped_column(sa.String(10))
    setting: Mapped[str] = mapped_column(sa.String(10))
    teds_service_setting: Mapped[int]
    rationale: Mapped[str] = mapped_column(sa.Text)
    effective_on: Mapped[date]
    #: Why the level differs from what the highest-risk dimensions suggest, where it does.
    discrepancy_reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    episode: Mapped[Episode] = relationship()
    decided_by: Mapped[Staff] = relationship()


class TreatmentPlan(TimestampMixin, db.Model):
    """One version of an episode's treatment plan; signed versions never change.

    The problems → goals → objectives → interventions tree is one JSON document per version:
    a version is an immutable snapshot, and a change after signing writes a new version.
    """

    __tablename__ = "treatment_plans"
    __table_args__ = (
        sa.UniqueConstraint("episode_id", "number", name="uq_treatment_plans_episode_number"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
        sa.CheckConstraint("status IN ('draft', 'signed')", name="known_status"),
        sa.CheckConstraint(
            "(status = 'draft' AND signed_at IS NULL)"
            " OR (status <> 'draft' AND signed_at IS NOT NULL AND review_due_on IS NOT NULL)",
            name="signature_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"), index=True)
    #: Version number within the episode, 1, 2, ...
    number: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(12), default="draft")
    #: [{description, goals: [{description, objectives: [{description, target_date,
    #: interventions: [str]}]}]}], dates as ISO text.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Signing date + 30 days; the newest signed version past it is overdue for review.
    review_due_on: Mapped[date | None] = mapped_column(index=True)
    #: The version this one revises (None for the first).
    previous_id: Mapped[int | None] = mapped_column(sa.ForeignKey("treatment_plans.id"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    episode: Mapped[Episode] = relationship()
    author: Mapped[Staff] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def goal_count(self) -> int:
        """Count the goals across problems (signing needs at least one)."""
        return sum(len(p.get("goals", [])) for p in self.problems)
