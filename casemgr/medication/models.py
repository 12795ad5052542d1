"""Taper plans with their generated steps, the doses recorded against them, and waivers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin, UTCDateTime, utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff

#: Milligrams to three decimals (0.125 mg alprazolam); exact on both databases.
Mg = sa.Numeric(12, 3)
PLAN_STATUSES = ("active", "paused", "completed", "replaced")
DOSE_STATUSES = ("given", "refused", "held")


class TaperPlan(TimestampMixin, db.Model):
    """A physician's taper order and its generated schedule; re-planning makes a new plan."""

    __tablename__ = "taper_plans"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {PLAN_STATUSES!r}", name="known_status"),
        sa.CheckConstraint("start_dose_mg > 0", name="dose_positive"),
        sa.CheckConstraint("dose_increment_mg > 0", name="increment_positive"),
        sa.CheckConstraint("interval_days >= 1", name="interval_positive"),
        sa.CheckConstraint(
            "reduction_percent > 0 AND reduction_percent <= 50", name="reduction_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"), index=True)
    medication: Mapped[str] = mapped_column(sa.String(100))
    start_dose_mg: Mapped[Decimal] = mapped_column(Mg)
    reduction_percent: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3))
    interval_days: Mapped[int]
    dose_increment_mg: Mapped[Decimal] = mapped_column(Mg)
    start_on: Mapped[date]
    ends_on: Mapped[date]
    status: Mapped[str] = mapped_column(sa.String(12), default="active")
    #: Diazepam-equivalence source used for the schedule (shown on the page).
    equivalence_source: Mapped[str] = mapped_column(sa.String(100))
    #: Why a physician ordered a plan outside the guideline's usual pace.
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    prescribed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    #: The plan this one re-plans from its current dose.
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("taper_plans.id"))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    episode: Mapped[Episode] = relationship()
    prescribed_by: Mapped[Staff] = relationship()
    steps: Mapped[list[TaperStep]] = relationship(
        back_populates="plan", order_by="TaperStep.step", cascade="all, delete-orphan"
    )
    doses: Mapped[list[DoseRecord]] = relationship(
        back_populates="plan", order_by="DoseRecord.given_at"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def dose_on(self, day: date) -> Decimal:
        """Return the scheduled daily dose in force on a day (the start dose before step 1)."""
        current = self.start_dose_mg
        for step in self.steps:
            if step.starts_on <= day:
                current = step.daily_dose_mg
        return current


class TaperStep(db.Model):
    """One row of a schedule: from ``starts_on`` the daily dose is ``daily_dose_mg``."""

    __tablename__ = "taper_steps"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "step", name="uq_taper_steps_plan_step"),
        sa.CheckConstraint("daily_dose_mg >= 0", name="dose_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("taper_plans.id"))
    step: Mapped[int]
    starts_on: Mapped[date]
    daily_dose_mg: Mapped[Decimal] = mapped_column(Mg)
    diazepam_equivalent_mg: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))

    plan: Mapped[TaperPlan] = relationship(back_populates="steps")


class DoseRecord(TimestampMixin, db.Model):
    """A dose given, refused or held, recorded by a nurse or physician."""

    __tablename__ = "dose_records"
    __table_args__ = (
        sa.Index("ix_dose_records_plan_given", "plan_id", "given_at"),
        sa.CheckConstraint(f"status IN {DOSE_STATUSES!r}", name="known_status"),
        sa.CheckConstraint("dose_mg >= 0", name="dose_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("taper_plans.id"))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dose_mg: Mapped[Decimal] = mapped_column(Mg)
    status: Mapped[str] = mapped_column(sa.String(8))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))

    plan: Mapped[TaperPlan] = relationship(back_populates="doses")
    recorded_by: Mapped[Staff] = relationship()


class TaperWaiver(TimestampMixin, db.Model):
    """A physician's recorded decision that an episode needs no taper, with the reason."""

    __tablename__ = "taper_waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    decided_by: Mapped[Staff] = relationship()
