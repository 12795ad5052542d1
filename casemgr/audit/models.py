"""Audit events (hash-chained, append-only), emergency access, Part 2 consents, disclosures."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import UTCDateTime, utcnow
from casemgr.extensions import db
from casemgr.staff.models import Staff

#: The hash the first event of the chain points back to.
GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    """One auditable event; ids and codes only, so the trail itself holds no clinical content.

    Rows are never updated or deleted (a PostgreSQL trigger refuses it); each holds the
    SHA-256 of its own content and of the previous row, so a change anywhere is detectable.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_patient_at", "patient_id", "at"),
        sa.Index("ix_audit_events_actor_at", "actor_id", "at"),
        sa.CheckConstraint("outcome IN ('success', 'denied', 'failure')", name="known_outcome"),
    )

    #: Assigned by the chain (head + 1) under the append lock, so ids are the chain order.
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
    #: SHA-256 (hex) of the previous event; the genesis hash for the first.
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 (hex) over this event's canonical serialisation, prev_hash included.
    hash: Mapped[str] = mapped_column(sa.String(64))

    actor: Mapped[Staff | None] = relationship(lazy="raise")


class AuditChainHead(db.Model):
    """The end of the chain (one row): where the next event links, and how long the chain is.

    Kept in the same transaction as the events, so deleting the newest events (which leaves
    an intact but shorter chain) is still detected.
    """

    __tablename__ = "audit_chain_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(default=0, server_default="0")
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    length: Mapped[int] = mapped_column(default=0, server_default="0")


class EmergencyAccess(db.Model):
    """A counselor's break-the-glass access to a chart outside their care team, time-limited."""

    __tablename__ = "emergency_access"
    __table_args__ = (
        sa.Index("ix_emergency_access_staff_patient", "staff_id", "patient_id", "expires_at"),
        sa.Index("ix_emergency_access_reviewed_at", "reviewed_at"),
        sa.CheckConstraint("expires_at > granted_at", name="expires_after_grant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: Why the chart was needed; reviewed by a supervisor (no clinical detail expected).
    reason: Mapped[str] = mapped_column(sa.String(500))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(sa.String(500))

    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id])
    reviewed_by: Mapped[Staff | None] = relationship(foreign_keys=[reviewed_by_id])


class Consent(db.Model):
    """A 42 CFR §2.31 written consent to disclose a patient's records; revoked, never deleted."""

    __tablename__ = "consents"
    __table_args__ = (
        sa.Index("ix_consents_patient", "patient_id"),
        sa.CheckConstraint("expires_on IS NOT NULL OR expiry_event IS NOT NULL", name="has_expiry"),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on >= signed_on", name="expires_after_signature"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    #: Who may disclose (the program, or a named part of it).
    discloser: Mapped[str] = mapped_column(sa.String(100))
    #: The recipients, by name or a general designation (§2.31(a)(4)).
    recipient: Mapped[str] = mapped_column(sa.String(100))
    purpose: Mapped[str] = mapped_column(sa.String(500))
    #: How much and what kind of information may be disclosed.
    information: Mapped[str] = mapped_column(sa.String(500))
    expires_on: Mapped[date | None]
    #: An event that ends the consent instead of (or besides) a date.
    expiry_event: Mapped[str | None] = mapped_column(sa.String(500))
    signed_on: Mapped[date]
    #: The patient, or the name and authority of a representative who signed.
    signed_by: Mapped[str] = mapped_column(sa.String(100))
    revoked_on: Mapped[date | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def valid_on(self, day: date) -> bool:
        """Tell whether the consent covers a disclosure made on a day."""
        if self.signed_on > day:
            return False
        if self.revoked_on is not None and self.revoked_on <= day:
            return False
        return self.expires_on is None or self.expires_on >= day


class Disclosure(db.Model):
    """One release of a patient's records outside the program: the accounting of disclosures."""

    __tablename__ = "disclosures"
    __table_args__ = (
        sa.Index("ix_disclosures_patient_at", "patient_id", "disclosed_at"),
        sa.CheckConstraint(
            "consent_id IS NOT NULL OR legal_basis IS NOT NULL", name="consent_or_legal_basis"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    consent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consents.id"))
    #: The regulation allowing a disclosure without consent (e.g. medical emergency, §2.51).
    legal_basis: Mapped[str | None] = mapped_column(sa.String(100))
    #: What left: ``chart_print``, ``chart_csv``, ``teds_extract``, ``report_csv``.
    kind: Mapped[str] = mapped_column(sa.String(30))
    recipient: Mapped[str] = mapped_column(sa.String(100))
    purpose: Mapped[str] = mapped_column(sa.String(500))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disclosed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))

    disclosed_by: Mapped[Staff | None] = relationship()
    consent: Mapped[Consent | None] = relationship()
