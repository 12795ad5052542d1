"""Staff accounts, their roles and their API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.core.db import TimestampMixin, UTCDateTime
from casemgr.core.permissions import Role
from casemgr.extensions import db

ROLE_VALUES = tuple(r.value for r in Role)


class Staff(UserMixin, TimestampMixin, db.Model):
    """A person who signs in; never deleted, only deactivated, so records keep their author."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case so "JSmith" and "jsmith" cannot both exist.
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: Notes by this person wait for a supervisor's co-signature (trainees, interns).
    needs_cosign: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Base32 TOTP secret once the second factor is enrolled.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    #: The last TOTP time step accepted, so a code seen once can never be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger())
    #: Consecutive wrong passwords since ``first_failed_at`` (lockout window).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_names(self) -> frozenset[str]:
        """Return the role names held, for permission checks."""
        return frozenset(r.role for r in self.roles)

    def has_role(self, *names: str) -> bool:
        """Tell whether the person holds any of the named roles."""
        return bool(self.role_names & set(names))

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Deactivated accounts cannot sign in or use tokens (Flask-Login reads this)."""
        return self.active

    def __repr__(self) -> str:
        return f"<Staff {self.id}>"


class StaffRole(db.Model):
    """One role held by one staff member."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        sa.CheckConstraint(f"role IN {ROLE_VALUES!r}".replace(",)", ")"), name="known_role"),
    )

    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(20), primary_key=True)

    staff: Mapped[Staff] = relationship(back_populates="roles")


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff: Mapped[Staff] = relationship(lazy="joined")


class RecoveryCode(db.Model):
    """A single-use second-factor recovery code; only its SHA-256 is stored."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
