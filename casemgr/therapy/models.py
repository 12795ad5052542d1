"""Therapy sessions (individual, family, group), their notes and addenda.

A planned session is a row with attendance "scheduled", so no-shows and gaps can be counted.
A note's body is locked once signed (the service refuses; a database trigger refuses too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin, UTCDateTime, utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff

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
MODALITY_LABELS = {
    "cbt": "CBT",
    "dbt": "DBT",
    "motivational_interviewing": "Motivational interviewing",
    "contingency_management": "Contingency management",
    "twelve_step_facilitation": "12-step facilitation",
    "trauma_focused": "Trauma-focused",
    "other": "Other",
}
ATTENDANCE = ("attended", "late", "no_show", "cancelled", "excused", "scheduled")
ATTENDANCE_LABELS = {
    "attended": "Attended",
    "late": "Late",
    "no_show": "No-show",
    "cancelled": "Cancelled",
    "excused": "Excused",
    "scheduled": "Scheduled (planned)",
}
#: Attendance values that count as the patient having come.
PRESENT = ("attended", "late")

NOTE_KINDS = ("progress", "medical", "group", "discharge", "other")
NOTE_FORMATS = ("DAP", "SOAP", "BIRP", "free")
#: The fields of each note format, in reading order, with the label staff see (DESIGN.md §3).
FORMAT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "DAP": (("data", "Data"), ("assessment", "Assessment"), ("plan", "Plan")),
    "SOAP": (
        ("subjective", "Subjective"),
        ("objective", "Objective"),
        ("assessment", "Assessment"),
        ("plan", "Plan"),
    ),
    "BIRP": (
        ("behavior", "Behavior"),
        ("intervention", "Intervention"),
        ("response", "Response"),
        ("plan", "Plan"),
    ),
    "free": (("text", "Note"),),
}
FORMAT_LABELS = {"DAP": "DAP", "SOAP": "SOAP", "BIRP": "BIRP", "free": "Free text"}
NOTE_STATUSES = ("draft", "awaiting_cosign", "signed")
STATUS_LABELS = {"draft": "Draft", "awaiting_cosign": "Awaiting co-signature", "signed": "Signed"}


class GroupSession(TimestampMixin, db.Model):
    """A group meeting: one facilitator, a topic, and one TherapySession row per attendee."""

    __tablename__ = "group_sessions"
    __table_args__ = (
        sa.CheckConstraint(f"modality IN {MODALITIES!r}", name="known_modality"),
        sa.CheckConstraint("duration_minutes BETWEEN 1 AND 720", name="duration_range"),
        sa.Index("ix_group_sessions_facilitator_started", "facilitator_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(500))
    modality: Mapped[str] = mapped_column(sa.String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int]
    facilitator_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    #: The shared summary copied into each attendee's note as a starting point.
    summary: Mapped[str | None] = mapped_column(sa.Text())
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))

    facilitator: Mapped[Staff] = relationship(foreign_keys=[facilitator_id])
    sessions: Mapped[list[TherapySession]] = relationship(back_populates="group_session")


class TherapySession(TimestampMixin, db.Model):
    """One patient's session (a group session has one row per attendee)."""

    __tablename__ = "therapy_sessions"
    __table_args__ = (
        sa.Index("ix_therapy_sessions_episode_started", "episode_id", "started_at"),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name="known_kind"),
        sa.CheckConstraint(f"modality IN {MODALITIES!r}", name="known_modality"),
        sa.CheckConstraint(f"attendance IN {ATTENDANCE!r}", name="known_attendance"),
        sa.CheckConstraint("duration_minutes BETWEEN 1 AND 720", name="duration_range"),
        sa.CheckConstraint(
            "(kind = 'group') = (group_session_id IS NOT NULL)", name="group_has_group"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    modality: Mapped[str] = mapped_column(sa.String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int]
    attendance: Mapped[str] = mapped_column(sa.String(12))
    counselor_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), index=True)
    group_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("group_sessions.id"), index=True
    )
    #: Logged after the episode was discharged, for a session held before (DESIGN.md §2).
    late_entry: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    episode: Mapped[Episode] = relationship()
    counselor: Mapped[Staff] = relationship(foreign_keys=[counselor_id])
    group_session: Mapped[GroupSession | None] = relationship(back_populates="sessions")
    note: Mapped[Note | None] = relationship(back_populates="session", uselist=False)

    @property
    def needs_attendance(self) -> bool:
        """Tell whether a planned session's time has passed without attendance recorded."""
        return self.attendance == "scheduled" and self.started_at <= utcnow()


class Note(TimestampMixin, db.Model):
    """A clinical note; drafts change by version, signing locks the body forever."""

    __tablename__ = "notes"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {NOTE_KINDS!r}", name="known_kind"),
        sa.CheckConstraint(f"format IN {NOTE_FORMATS!r}", name="known_format"),
        sa.CheckConstraint(f"status IN {NOTE_STATUSES!r}", name="known_status"),
        sa.CheckConstraint("(status = 'draft') = (signed_at IS NULL)", name="signed_iff_not_draft"),
        sa.CheckConstraint(
            "(cosigned_at IS NULL) = (cosigned_by_id IS NULL)", name="cosign_complete"
        ),
        sa.Index("ix_notes_episode_created", "episode_id", "created_at"),
        sa.Index("ix_notes_author_status", "author_id", "status"),
        sa.Index("ix_notes_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    #: The session this note documents (at most one note per session); None for other notes.
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("therapy_sessions.id"), unique=True
    )
    kind: Mapped[str] = mapped_column(sa.String(12))
    format: Mapped[str] = mapped_column(sa.String(4))
    #: The format's fields, e.g. {"data": ..., "assessment": ..., "plan": ...} for DAP.
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cosigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Written after the episode was discharged (DESIGN.md §2 allows late entries, marked).
    late_entry: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Optimistic lock: a save made from an older version is refused, never overwrites.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    episode: Mapped[Episode] = relationship()
    session: Mapped[TherapySession | None] = relationship(back_populates="note")
    author: Mapped[Staff] = relationship(foreign_keys=[author_id])
    cosigned_by: Mapped[Staff | None] = relationship(foreign_keys=[cosigned_by_id])
    addenda: Mapped[list[NoteAddendum]] = relationship(
        back_populates="note", order_by="NoteAddendum.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def is_signed(self) -> bool:
        """Tell whether the author has signed (the body can no longer change)."""
        return self.signed_at is not None

    def fields(self) -> list[tuple[str, str, str]]:
        """Return (name, label, text) for each field of the note's format, in order."""
        return [
            (name, label, self.body.get(name, "")) for name, label in FORMAT_FIELDS[self.format]
        ]


class NoteAddendum(db.Model):
    """A correction or later addition to a signed note; itself never changed."""

    __tablename__ = "note_addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(sa.ForeignKey("notes.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text())
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    note: Mapped[Note] = relationship(back_populates="addenda")
    author: Mapped[Staff] = relationship()
