"""Diagnostic assessments and withdrawal scores, stored with what was computed at the time."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.clinical import dsm5, withdrawal
from casemgr.core.db import TimestampMixin, UTCDateTime, utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff

INSTRUMENT_NAMES = tuple(withdrawal.INSTRUMENTS)


class DiagnosticAssessment(TimestampMixin, db.Model):
    """A DSM-5 checklist with evaluations; a draft until signed, then locked forever."""

    __tablename__ = "diagnostic_assessments"
    __table_args__ = (
        sa.CheckConstraint(f"severity IN {dsm5.SEVERITIES!r}", name="known_severity"),
        sa.CheckConstraint("criteria_counted BETWEEN 0 AND 11", name="count_range"),
        sa.CheckConstraint(
            "(signed_at IS NULL AND signed_by_id IS NULL)"
            " OR (signed_at IS NOT NULL AND signed_by_id IS NOT NULL)",
            name="signature_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"), index=True)
    #: DSM-5 criterion numbers met (1–11), sorted.
    criteria: Mapped[list[int]] = mapped_column(sa.JSON)
    medical_supervision: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Computed by casemgr.clinical.dsm5 when saved; stored so the record shows what was seen.
    criteria_counted: Mapped[int]
    severity: Mapped[str] = mapped_column(sa.String(10))
    icd10: Mapped[str | None] = mapped_column(sa.String(10))
    physical_evaluation: Mapped[str] = mapped_column(sa.Text)
    psychological_evaluation: Mapped[str] = mapped_column(sa.Text)
    #: Normalised ICD-10 codes of co-occurring conditions.
    co_occurring: Mapped[list[str]] = mapped_column(sa.JSON)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Optimistic lock: two people editing one draft cannot both win.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    episode: Mapped[Episode] = relationship()
    author: Mapped[Staff] = relationship(foreign_keys=[author_id])
    signed_by: Mapped[Staff | None] = relationship(foreign_keys=[signed_by_id])

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def is_signed(self) -> bool:
        """Tell whether the assessment is locked."""
        return self.signed_at is not None


class WithdrawalScore(TimestampMixin, db.Model):
    """One withdrawal scale filled in: items, computed total and band, and its alert state."""

    __tablename__ = "withdrawal_scores"
    __table_args__ = (
        sa.Index("ix_withdrawal_scores_episode_assessed", "episode_id", "assessed_at"),
        sa.Index("ix_withdrawal_scores_open_alerts", "is_severe", "acknowledged_at"),
        sa.CheckConstraint(f"instrument IN {INSTRUMENT_NAMES!r}", name="known_instrument"),
        sa.CheckConstraint("total >= 0", name="total_positive"),
        sa.CheckConstraint("rank BETWEEN 0 AND 5", name="rank_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    instrument: Mapped[str] = mapped_column(sa.String(10))
    items: Mapped[list[int]] = mapped_column(sa.JSON)
    total: Mapped[int]
    band: Mapped[str] = mapped_column(sa.String(30))
    #: The band's rank on the shared scale (0 none … 5 very severe), for sorting and alerts.
    rank: Mapped[int]
    is_severe: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Where the bands came from ("default: ..." or the program's setting), shown with the band.
    bands_source: Mapped[str] = mapped_column(sa.String(200))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))

    episode: Mapped[Episode] = relationship()
    recorded_by: Mapped[Staff] = relationship(foreign_keys=[recorded_by_id])
    acknowledged_by: Mapped[Staff | None] = relationship(foreign_keys=[acknowledged_by_id])

    @property
    def alert_open(self) -> bool:
        """Tell whether this score's severe alert still waits for medical staff."""
        return self.is_severe and self.acknowledged_at is None
