"""Therapy sessions: planned or held, with attendance, so no-shows and gaps can be counted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin, UTCDateTime
from casemgr.episodes.models import Episode
from casemgr.extensions import db

KINDS = ("individual", "family", "group")
MODALITIES = (
    "cbt",
    "dbt",
    "motivational_interviewing",
    "contingency_management",
    "twelve_step_facilitation",
    "trauma_focused",
    "other",
)
ATTENDANCE = ("attended", "late", "no_show", "cancelled", "excused", "scheduled")
#: Attendance values that count as the patient having come.
PRESENT = ("attended", "late")


class TherapySession(TimestampMixin, db.Model):
    """One patient's session (a group session has one row per attendee)."""

    __tablename__ = "therapy_sessions"
    __table_args__ = (
        sa.Index("ix_therapy_sessions_episode_started", "episode_id", "started_at"),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="known_kind"),
        sa.CheckConstraint(f"modality IN {MODALITIES!r}", name="known_modality"),
        sa.CheckConstraint(f"attendance IN {ATTENDANCE!r}", name="known_attendance"),
        sa.CheckConstraint("duration_minutes BETWEEN 1 AND 720", name="duration_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    modality: Mapped[str] = mapped_column(sa.String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int]
    attendance: Mapped[str] = mapped_column(sa.String(12))
    counselor_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), index=True)

    episode: Mapped[Episode] = relationship()
