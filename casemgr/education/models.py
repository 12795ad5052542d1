"""The education module catalogue and deliveries of modules to episodes."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff


class EducationModule(TimestampMixin, db.Model):
    """A module of the program's curriculum; core modules must be completed to leave education."""

    __tablename__ = "education_modules"
    __table_args__ = (sa.CheckConstraint("minutes BETWEEN 1 AND 600", name="minutes_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(100), unique=True)
    topic: Mapped[str] = mapped_column(sa.String(100))
    minutes: Mapped[int]
    core: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Retired modules stay for the records that name them but are no longer offered.
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class EducationDelivery(TimestampMixin, db.Model):
    """One module delivered to one episode on a day, by a staff member."""

    __tablename__ = "education_deliveries"
    __table_args__ = (
        sa.Index("ix_education_deliveries_episode_module", "episode_id", "module_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id"))
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("education_modules.id"))
    delivered_on: Mapped[date]
    delivered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))

    episode: Mapped[Episode] = relationship()
    module: Mapped[EducationModule] = relationship()
    delivered_by: Mapped[Staff] = relationship()
