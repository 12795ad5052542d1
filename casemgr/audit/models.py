"""Audit events: append-only rows, one per read, write, export or security event."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from casemgr.core.db import UTCDateTime, utcnow
from casemgr.extensions import db


class AuditEvent(db.Model):
    """One auditable event; ids and codes only, so the trail itself holds no clinical content."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_patient_at", "patient_id", "at"),
        sa.Index("ix_audit_events_actor_at", "actor_id", "at"),
        sa.CheckConstraint("outcome IN ('success', 'denied', 'failure')", name="known_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: Null for events without a signed-in actor (a failed login for an unknown name).
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Dotted name, e.g. ``patient.view``, ``episode.create``, ``auth.login_failed``.
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[int | None]
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"))
    outcome: Mapped[str] = mapped_column(sa.String(10), default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(45))
