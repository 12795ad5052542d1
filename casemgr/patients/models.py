"""The patient: a person, identified by an MRN that is never reused or changed."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin
from casemgr.extensions import db

if TYPE_CHECKING:
    from casemgr.episodes.models import Episode

SEXES = {"F": "Female", "M": "Male", "X": "Another", "U": "Unknown"}


class Patient(TimestampMixin, db.Model):
    """A person in (or once in) treatment; never deleted."""

    __tablename__ = "patients"
    __table_args__ = (
        sa.CheckConstraint("sex IN ('F', 'M', 'X', 'U')", name="known_sex"),
        sa.Index("ix_patients_last_first", "last_name", "first_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 8 digits, the last a Luhn check digit, so a mistyped MRN is caught at once.
    mrn: Mapped[str] = mapped_column(sa.String(12), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    date_of_birth: Mapped[date]
    sex: Mapped[str] = mapped_column(sa.String(1))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    #: Optimistic lock: a stale PATCH is refused instead of overwriting.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    episodes: Mapped[list[Episode]] = relationship(
        back_populates="patient", order_by="Episode.admitted_on.desc()"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def display_name(self) -> str:
        """Return "Last, First" as staff read it on lists."""
        return f"{self.last_name}, {self.first_name}"

    def age_on(self, day: date) -> int:
        """Return the age in whole years on a given day."""
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years

    def __repr__(self) -> str:
        return f"<Patient {self.id}>"
