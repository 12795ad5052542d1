"""Staff account rules: creation, roles, password checks, lockout and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, RateLimited, RuleViolation, Unauthorized, field_error
from casemgr.core.permissions import Role
from casemgr.extensions import db
from casemgr.staff.models import ApiToken, Staff, StaffRole

#: argon2id at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane; Password Storage
#: Cheat Sheet): ~30 ms a login here, against ~210 ms for argon2-cffi's RFC 9106 default,
#: which made sign-in the slowest page under load. Older hashes are upgraded at login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
#: Verified against when the username is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("casemgr-timing-equaliser")
MIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


@cache
def common_passwords() -> frozenset[str]:
    """Load the shipped list of common passwords (lower-case), once per process."""
    text = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def is_common_password(password: str) -> bool:
    """Tell whether a password is a well-known one, ignoring case and trailing punctuation."""
    lowered = password.strip().lower()
    return lowered in common_passwords() or lowered.rstrip("!.?*#$") in common_passwords()


def password_problems(password: str, username: str) -> list[str]:
    """List what is wrong with a new password (empty when it is acceptable).

    OWASP ASVS 2.1: at least 12 characters, no composition rules, not a known common
    password, not the account's own name.
    """
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > 200:
        problems.append("Use at most 200 characters.")
    if username and username.lower() in password.lower():
        problems.append("The password must not contain the username.")
    if is_common_password(password):
        problems.append("This password is too common; choose another.")
    elif password and len(set(password)) < 4:
        problems.append("Use more than a few distinct characters.")
    return problems


def _normalise_roles(roles: Iterable[str]) -> list[str]:
    """Validate role names and drop duplicates, keeping a stable order."""
    names: list[str] = []
    for role in roles:
        try:
            value = Role(role).value
        except ValueError as exc:
            raise field_error("roles", f"Unknown role {role!r}.") from exc
        if value not in names:
            names.append(value)
    if not names:
        raise field_error("roles", "Give at least one role.")
    return names


def find_by_username(username: str) -> Staff | None:
    """Look a staff member up by username, ignoring case."""
    return db.session.scalar(sa.select(Staff).where(Staff.username == username.strip().lower()))


def create_staff(
    actor: Any,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: Iterable[str],
    email: str | None = None,
    needs_cosign: bool = False,
) -> Staff:
    """Create an account; the username must be new (409 otherwise)."""
    username = username.strip().lower()
    role_names = _normalise_roles(roles)
    problems = password_problems(password, username)
    if problems:
        raise RuleViolation("The password is not acceptable.", fields={"password": problems})
    if find_by_username(username) is not None:
        raise Conflict(
            f"The username {username!r} is taken.", fields={"username": ["Already taken."]}
        )
    staff = Staff(
        username=username,
        full_name=full_name.strip(),
        email=(email or None),
        password_hash=hash_password(password),
        needs_cosign=needs_cosign,
        roles=[StaffRole(role=r) for r in role_names],
    )
    db.session.add(staff)
    db.session.flush()
    record(actor, "staff.create", staff)
    return staff


def update_staff(
    actor: Any,
    staff: Staff,
    *,
    roles: Iterable[str] | None = None,
    active: bool | None = None,
    full_name: str | None = None,
    email: str | None = None,
    needs_cosign: bool | None = None,
) -> Staff:
    """Change roles or activation; an admin cannot lock themselves out of administration."""
    if roles is not None:
        names = _normalise_roles(roles)
        if staff.id == getattr(actor, "id", None) and Role.ADMIN.value not in names:
            raise field_error("roles", "You cannot remove your own admin role.")
        if set(names) != set(staff.role_names):
            staff.roles = [r for r in staff.roles if r.role in names] + [
                StaffRole(role=r) for r in names if r not in staff.role_names
            ]
            record(actor, "staff.roles_change", staff)
    if active is not None and active != staff.active:
        if staff.id == getattr(actor, "id", None) and not active:
            raise field_error("active", "You cannot deactivate your own account.")
        staff.active = active
        if not active:
            revoke_all_tokens(staff)
        record(actor, "staff.activate" if active else "staff.deactivate", staff)
    if full_name is not None:
        staff.full_name = full_name.strip()
    if email is not None:
        staff.email = email or None
    if needs_cosign is not None:
        staff.needs_cosign = needs_cosign
    record(actor, "staff.update", staff)
    db.session.flush()
    return staff


def _verify(password_hash: str, password: str) -> bool:
    """Check a password against its hash without raising."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def is_locked(staff: Staff, now: datetime | None = None) -> bool:
    """Tell whether the account is inside a lockout period."""
    now = now or utcnow()
    return staff.locked_until is not None and staff.locked_until > now


def record_failed_login(staff: Staff, now: datetime | None = None) -> None:
    """Count a wrong password or second factor; lock the account after too many in a row."""
    config = current_app.config
    now = now or utcnow()
    window = timedelta(minutes=config["LOCKOUT_MINUTES"])
    if staff.first_failed_at is None or now - staff.first_failed_at > window:
        staff.first_failed_at = now
        staff.failed_logins = 0
    staff.failed_logins += 1
    record(staff, "auth.login_failed", staff, outcome="failure")
    if staff.failed_logins >= config["LOCKOUT_ATTEMPTS"]:
        staff.locked_until = now + window
        staff.failed_logins = 0
        staff.first_failed_at = None
        record(staff, "auth.lockout", staff, outcome="denied")


def authenticate(username: str, password: str) -> Staff:
    """Check a username and password, applying lockout; raise on any failure.

    The caller checks the second factor next, then calls :func:`record_successful_login`;
    it commits even on failure, so failed attempts and lockouts are kept.
    """
    now = utcnow()
    staff = find_by_username(username) if username else None
    if staff is None:
        _verify(_DUMMY_HASH, password)
        record(None, "auth.login_failed", outcome="failure")
        raise Unauthorized("Wrong username or password.")
    if is_locked(staff, now):
        record(staff, "auth.login_locked", staff, outcome="denied")
        raise RateLimited("This account is locked after repeated failed sign-ins; try later.")
    if not _verify(staff.password_hash, password):
        record_failed_login(staff, now)
        raise Unauthorized("Wrong username or password.")
    if not staff.active:
        record(staff, "auth.login_failed", staff, outcome="denied")
        raise Unauthorized("Wrong username or password.")
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    return staff


def record_successful_login(staff: Staff) -> None:
    """Clear the failure count once every factor passed (not after the password alone).

    Resetting after the password alone would let someone who knows it guess second-factor
    codes for ever, four at a time.
    """
    staff.failed_logins = 0
    staff.first_failed_at = None
    staff.locked_until = None
    staff.last_login_at = utcnow()


def _token_digest(token: str) -> str:
    """Hash a bearer token for storage and lookup."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(staff: Staff) -> tuple[str, ApiToken]:
    """Create a short-lived bearer token; the clear text is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        staff_id=staff.id,
        token_hash=_token_digest(token),
        created_at=now,
        expires_at=now + timedelta(hours=current_app.config["API_TOKEN_HOURS"]),
    )
    db.session.add(row)
    db.session.flush()
    record(staff, "auth.token_issue", row)
    return token, row


def token_from_header(header: str | None) -> ApiToken | None:
    """Find the live token named by an ``Authorization: Bearer`` header."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    if not row.staff.active:
        return None
    return row


def revoke_token(actor: Staff, token: ApiToken) -> None:
    """Revoke one token (logout for API clients)."""
    token.revoked_at = utcnow()
    record(actor, "auth.token_revoke", token)


def revoke_all_tokens(staff: Staff) -> None:
    """Revoke every live token of an account, e.g. when it is deactivated."""
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.staff_id == staff.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def counselors() -> list[sa.Row[Any]]:
    """Return (id, full_name) of active staff who may be a primary counselor, for pickers.

    Plain rows, not Staff objects: a state program has hundreds of counselors, and loading
    each as an entity (with its roles) cost more than the rest of a report page.
    """
    may_counsel = sa.select(StaffRole.staff_id).where(
        StaffRole.role.in_(["counselor", "supervisor"])
    )
    return list(
        db.session.execute(
            sa.select(Staff.id, Staff.full_name)
            .where(Staff.active.is_(True), Staff.id.in_(may_counsel))
            .order_by(Staff.full_name, Staff.id)
        ).all()
    )
