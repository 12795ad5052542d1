"""An episode is one admission; its stage history and care team hang off it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.clinical import teds
from casemgr.core.db import TimestampMixin, UTCDateTime, int_enum_check, utcnow
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff


class Stage(StrEnum):
    """The treatment stages, in program order, then discharged."""

    DIAGNOSIS = "diagnosis"
    DETOX = "detox"
    TAPER = "taper"
    PLAN = "plan"
    EDUCATION = "education"
    THERAPY = "therapy"
    DISCHARGED = "discharged"

    @property
    def label(self) -> str:
        """Return the name staff read on screens."""
        return STAGE_LABELS[self]

    @property
    def position(self) -> int:
        """Return the stage's place in the program order."""
        return STAGE_ORDER.index(self)


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
TREATMENT_STAGES: tuple[Stage, ...] = STAGE_ORDER[:-1]
STAGE_LABELS = {
    Stage.DIAGNOSIS: "Diagnosis",
    Stage.DETOX: "Detox",
    Stage.TAPER: "Taper",
    Stage.PLAN: "Personalised plan",
    Stage.EDUCATION: "Education",
    Stage.THERAPY: "Therapy",
    Stage.DISCHARGED: "Discharged",
}
STAGE_VALUES = tuple(s.value for s in Stage)


def _codes(table: dict[int, str], allow_unknown: bool) -> set[int]:
    """Return the allowed codes of a TEDS table, with -9 where TEDS allows it."""
    return set(table) | ({teds.UNKNOWN} if allow_unknown else set())


class Episode(TimestampMixin, db.Model):
    """One admission, from admission day to discharge; never deleted."""

    __tablename__ = "episodes"
    __table_args__ = (
        # One active episode per patient, enforced by the database on both engines.
        sa.Index(
            "uq_episodes_one_active_per_patient",
            "patient_id",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
        sa.Index("ix_episodes_status_stage", "status", "stage"),
        sa.Index("ix_episodes_counselor_status", "primary_counselor_id", "status"),
        sa.Index("ix_episodes_discharged_on", "discharged_on"),
        sa.Index("ix_episodes_admitted_on", "admitted_on"),
        sa.CheckConstraint("status IN ('active', 'discharged')", name="known_status"),
        sa.CheckConstraint(f"stage IN {STAGE_VALUES!r}", name="known_stage"),
        sa.CheckConstraint(
            "(status = 'active' AND discharged_on IS NULL AND discharge_reason IS NULL)"
            " OR (status = 'discharged' AND discharged_on IS NOT NULL"
            " AND discharge_reason IS NOT NULL)",
            name="discharge_complete",
        ),
        sa.CheckConstraint(
            "discharged_on IS NULL OR discharged_on >= admitted_on", name="dates_ordered"
        ),
        sa.CheckConstraint("los_target_days BETWEEN 1 AND 730", name="target_range"),
        sa.CheckConstraint(
            int_enum_check("primary_substance", _codes(teds.SUBSTANCES, False)),
            name="teds_substance",
        ),
        sa.CheckConstraint(
            int_enum_check("service_setting", _codes(teds.SERVICE_SETTINGS, False)),
            name="teds_setting",
        ),
        sa.CheckConstraint(
            int_enum_check("referral_source", _codes(teds.REFERRAL_SOURCES, False)),
            name="teds_referral",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="active")
    #: Cached current stage; the stage history is the record, this is kept equal to its
    #: latest row by episodes.services (the only writer) so census queries need no join.
    stage: Mapped[str] = mapped_column(sa.String(12), default=Stage.DIAGNOSIS.value)
    admitted_on: Mapped[date]
    discharged_on: Mapped[date | None]
    primary_counselor_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    los_target_days: Mapped[int] = mapped_column(default=90)
    # TEDS admission fields (codes; -9 = unknown where TEDS allows it).
    primary_substance: Mapped[int]
    secondary_substance: Mapped[int | None]
    tertiary_substance: Mapped[int | None]
    route: Mapped[int | None]
    frequency: Mapped[int | None]
    age_at_first_use: Mapped[int | None]
    referral_source: Mapped[int]
    prior_treatment_episodes: Mapped[int | None]
    service_setting: Mapped[int]
    #: Days from first contact to admission (TEDS DAYWAIT), set when admitted from an inquiry.
    days_waiting: Mapped[int | None]
    # TEDS discharge fields.
    discharge_reason: Mapped[int | None]
    discharge_service_setting: Mapped[int | None]
    discharge_frequency: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Optimistic lock, so two people discharging or moving stage at once cannot both win.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    primary_counselor: Mapped[Staff] = relationship(foreign_keys=[primary_counselor_id])
    stage_changes: Mapped[list[StageChange]] = relationship(
        back_populates="episode", order_by="StageChange.id"
    )
    care_team: Mapped[list[CareTeamMember]] = relationship(back_populates="episode")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def is_active(self) -> bool:
        """Tell whether the episode is still open."""
        return self.status == "active"

    @property
    def stage_enum(self) -> Stage:
        """Return the current stage as an enum member."""
        return Stage(self.stage)

    def __repr__(self) -> str:
        return f"<Episode {self.id}>"


class StageChange(db.Model):
    """One move between stages: from, to, when, who, why, and whether it overrode a rule."""

    __tablename__ = "stage_changes"
    __table_args__ = (
        sa.CheckConstraint(f"to_stage IN {STAGE_VALUES!r}", name="known_to_stage"),
        sa.Index("ix_stage_changes_episode_at", "episode_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    #: Null for the first row, written at admission.
    from_stage: Mapped[str | None] = mapped_column(sa.String(12))
    to_stage: Mapped[str] = mapped_column(sa.String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    override: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    episode: Mapped[Episode] = relationship(back_populates="stage_changes")
    by: Mapped[Staff | None] = relationship()


class CareTeamMember(db.Model):
    """A staff member added to an episode's care team beside the primary counselor."""

    __tablename__ = "care_team_members"

    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))

    episode: Mapped[Episode] = relationship(back_populates="care_team")
    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id])
