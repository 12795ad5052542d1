"""Admissions records: inquiries and their history, places, coverages, verifications, auths."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.clinical import teds
from casemgr.core.db import TimestampMixin, UTCDateTime, int_enum_check, utcnow
from casemgr.extensions import db
from casemgr.staff.models import Staff

if TYPE_CHECKING:
    from casemgr.episodes.models import Episode

#: The pipeline (DESIGN.md §2): open statuses, then the ways an inquiry ends.
OPEN_STATUSES = ("inquiry", "screening", "waitlist")
CLOSED_STATUSES = ("referred_out", "declined", "lost_contact")
STATUSES = (*OPEN_STATUSES, "admitted", *CLOSED_STATUSES)
STATUS_LABELS = {
    "inquiry": "New inquiry",
    "screening": "Screening",
    "waitlist": "Waitlist",
    "admitted": "Admitted",
    "referred_out": "Referred out",
    "declined": "Declined",
    "lost_contact": "Lost contact",
}
#: Most urgent first: the waitlist is ordered by this rank, then by time waited.
URGENCIES = ("emergency", "urgent", "routine")
URGENCY_LABELS = {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine"}
LEGAL_STATUSES = {
    "none": "No legal involvement",
    "pending_charges": "Charges pending",
    "probation": "Probation",
    "parole": "Parole",
    "court_ordered": "Court-ordered treatment",
    "other": "Other",
}
SEXES = ("F", "M", "X", "U")
#: Place categories, from the TEDS service setting (1-5 inpatient/residential, 6-8 outpatient).
CATEGORIES = ("inpatient", "outpatient")
CATEGORY_LABELS = {"inpatient": "Inpatient / residential beds", "outpatient": "Outpatient slots"}
CATEGORY_SETTINGS = {"inpatient": (1, 2, 3, 4, 5), "outpatient": (6, 7, 8)}
PRIORITIES = ("primary", "secondary")
VERIFICATION_STATUSES = ("pending", "verified", "denied", "self_pay")
VERIFICATION_LABELS = {
    "pending": "Pending",
    "verified": "Verified",
    "denied": "Denied",
    "self_pay": "Self-pay",
}
SUBSCRIBER_RELATIONSHIPS = ("self", "spouse", "parent", "child", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    """Build a CHECK expression allowing only the given strings."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Inquiry(TimestampMixin, db.Model):
    """A person's way in: first call, screening, waitlist, then admission or referral."""

    __tablename__ = "inquiries"
    __table_args__ = (
        sa.Index("ix_inquiries_status_urgency", "status", "urgency"),
        sa.Index("ix_inquiries_first_contact_on", "first_contact_on"),
        sa.Index("ix_inquiries_follow_up_on", "follow_up_on"),
        sa.CheckConstraint(_in("status", STATUSES), name="known_status"),
        sa.CheckConstraint(_in("urgency", URGENCIES), name="known_urgency"),
        sa.CheckConstraint(
            int_enum_check("referral_source", teds.REFERRAL_SOURCES), name="teds_referral"
        ),
        sa.CheckConstraint(
            "primary_substance IS NULL OR " + int_enum_check("primary_substance", teds.SUBSTANCES),
            name="teds_substance",
        ),
        sa.CheckConstraint(
            "frequency IS NULL OR "
            + int_enum_check("frequency", (*teds.FREQUENCIES, teds.UNKNOWN)),
            name="teds_frequency",
        ),
        sa.CheckConstraint(
            "sex IS NULL OR " + _in("sex", SEXES),
            name="known_sex",
        ),
        sa.CheckConstraint(
            "legal_status IS NULL OR " + _in("legal_status", tuple(LEGAL_STATUSES)),
            name="known_legal_status",
        ),
        sa.CheckConstraint(
            "requested_category IS NULL OR " + _in("requested_category", CATEGORIES),
            name="known_category",
        ),
        sa.CheckConstraint(
            "(status = 'admitted') = (episode_id IS NOT NULL)", name="admitted_has_episode"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="inquiry")
    urgency: Mapped[str] = mapped_column(sa.String(10), default="routine")
    #: The day of first contact; days waiting (TEDS DAYWAIT) count from here.
    first_contact_on: Mapped[date]
    follow_up_on: Mapped[date | None]
    # The caller, when someone calls for the prospective patient.
    caller_name: Mapped[str | None] = mapped_column(sa.String(100))
    caller_relationship: Mapped[str | None] = mapped_column(sa.String(100))
    # The prospective patient.
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    #: Kept as typed (odd formats are fine), checked for plausibility by the schema.
    phone: Mapped[str] = mapped_column(sa.String(40))
    date_of_birth: Mapped[date | None]
    sex: Mapped[str | None] = mapped_column(sa.String(1))
    referral_source: Mapped[int]
    primary_substance: Mapped[int | None]
    requested_category: Mapped[str | None] = mapped_column(sa.String(12))
    # Screening answers (null until screened).
    frequency: Mapped[int | None]
    last_use_on: Mapped[date | None]
    daily_alcohol: Mapped[bool | None]
    daily_sedative: Mapped[bool | None]
    daily_opioid: Mapped[bool | None]
    withdrawal_history: Mapped[bool | None]
    withdrawal_seizures: Mapped[bool | None]
    withdrawal_delirium: Mapped[bool | None]
    co_occurring: Mapped[bool | None]
    co_occurring_notes: Mapped[str | None] = mapped_column(sa.String(500))
    #: None: unknown or not applicable.
    pregnant: Mapped[bool | None]
    legal_status: Mapped[str | None] = mapped_column(sa.String(20))
    screened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    screened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Computed from the answers by intake.screening.detox_reasons (stored for lists).
    suggests_medical_detox: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Admission.
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(sa.ForeignKey("episodes.id"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Optimistic lock: two people moving the same inquiry cannot both win.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    status_changes: Mapped[list[InquiryStatusChange]] = relationship(
        back_populates="inquiry", order_by="InquiryStatusChange.id"
    )
    #: The episode it was admitted to, for reading (admission sets ``episode_id``).
    episode: Mapped[Episode | None] = relationship(viewonly=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def display_name(self) -> str:
        """Return "Last, First" as staff read it on lists."""
        return f"{self.last_name}, {self.first_name}"

    @property
    def is_open(self) -> bool:
        """Tell whether the inquiry is still in the pipeline."""
        return self.status in OPEN_STATUSES


class InquiryStatusChange(db.Model):
    """One move in the pipeline: from, to, when, who and why."""

    __tablename__ = "inquiry_status_changes"
    __table_args__ = (
        sa.CheckConstraint(_in("to_status", STATUSES), name="known_to_status"),
        sa.Index("ix_inquiry_status_changes_inquiry", "inquiry_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(sa.ForeignKey("inquiries.id"))
    #: Null for the first row, written when the inquiry is taken.
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))

    inquiry: Mapped[Inquiry] = relationship(back_populates="status_changes")
    by: Mapped[Staff | None] = relationship()


class Place(db.Model):
    """How many beds or slots the program has in one category (set by admins)."""

    __tablename__ = "places"
    __table_args__ = (
        sa.CheckConstraint(_in("category", CATEGORIES), name="known_category"),
        sa.CheckConstraint("capacity BETWEEN 0 AND 100000", name="capacity_range"),
    )

    category: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    capacity: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))


class Coverage(TimestampMixin, db.Model):
    """An insurance coverage of a patient; ended, never deleted."""

    __tablename__ = "coverages"
    __table_args__ = (
        # One active primary coverage per patient, enforced by the database on both engines.
        sa.Index(
            "uq_coverages_one_active_primary",
            "patient_id",
            unique=True,
            sqlite_where=sa.text("priority = 'primary' AND active"),
            postgresql_where=sa.text("priority = 'primary' AND active"),
        ),
        sa.CheckConstraint(_in("priority", PRIORITIES), name="known_priority"),
        sa.CheckConstraint(
            "subscriber_relationship IS NULL OR "
            + _in("subscriber_relationship", SUBSCRIBER_RELATIONSHIPS),
            name="known_relationship",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    payer: Mapped[str] = mapped_column(sa.String(100))
    plan: Mapped[str | None] = mapped_column(sa.String(100))
    #: Kept as typed; the schema checks it is plausible (letters, digits, a few separators).
    member_id: Mapped[str] = mapped_column(sa.String(40))
    group_id: Mapped[str | None] = mapped_column(sa.String(40))
    subscriber_name: Mapped[str | None] = mapped_column(sa.String(100))
    subscriber_relationship: Mapped[str | None] = mapped_column(sa.String(10))
    priority: Mapped[str] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))

    verifications: Mapped[list[Verification]] = relationship(
        back_populates="coverage", order_by="Verification.id"
    )


class Verification(db.Model):
    """One check of a coverage with the payer, and the benefits it found (money in cents)."""

    __tablename__ = "coverage_verifications"
    __table_args__ = (
        sa.Index("ix_coverage_verifications_coverage", "coverage_id", "id"),
        sa.CheckConstraint(_in("status", VERIFICATION_STATUSES), name="known_status"),
        sa.CheckConstraint(
            "deductible_met_cents IS NULL OR deductible_cents IS NULL"
            " OR deductible_met_cents <= deductible_cents",
            name="deductible_met_within",
        ),
        sa.CheckConstraint(
            "coinsurance_percent IS NULL OR coinsurance_percent BETWEEN 0 AND 100",
            name="coinsurance_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coverage_id: Mapped[int] = mapped_column(sa.ForeignKey("coverages.id"))
    status: Mapped[str] = mapped_column(sa.String(10))
    verified_on: Mapped[date]
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The payer's call or portal reference, so a verification can be traced back.
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    deductible_cents: Mapped[int | None]
    deductible_met_cents: Mapped[int | None]
    out_of_pocket_max_cents: Mapped[int | None]
    copay_cents: Mapped[int | None]
    coinsurance_percent: Mapped[int | None]
    covers_residential: Mapped[bool | None]
    covers_outpatient: Mapped[bool | None]
    prior_auth_required: Mapped[bool | None]

    coverage: Mapped[Coverage] = relationship(back_populates="verifications")
    by: Mapped[Staff | None] = relationship()


class Authorization(TimestampMixin, db.Model):
    """A payer's authorization of an episode's care at one level (TEDS service setting)."""

    __tablename__ = "authorizations"
    __table_args__ = (
        sa.Index("ix_authorizations_episode_level", "episode_id", "level"),
        sa.Index("ix_authorizations_ends_on", "ends_on"),
        sa.CheckConstraint("ends_on >= starts_on", name="dates_ordered"),
        sa.CheckConstraint("approved_days BETWEEN 1 AND 3650", name="approved_days_range"),
        sa.CheckConstraint(int_enum_check("level", teds.SERVICE_SETTINGS), name="teds_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    coverage_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coverages.id"))
    #: The level of care authorized, as its TEDS service setting code (1-8).
    level: Mapped[int]
    number: Mapped[str] = mapped_column(sa.String(40))
    #: Approved days (or units: one unit per day of treatment at this level).
    approved_days: Mapped[int]
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
