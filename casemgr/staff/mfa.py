"""TOTP second factor (RFC 6238): enrolment, QR code, replay protection, recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from datetime import UTC, datetime

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app

from casemgr.core.db import utcnow
from casemgr.extensions import db
from casemgr.staff.models import RecoveryCode, Staff

#: Steps of clock drift accepted either way (30 s each).
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
#: Unambiguous letters and digits (no 0/O, 1/I/L) for codes people copy from paper.
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_secret() -> str:
    """Draw a new base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(staff: Staff, secret: str) -> str:
    """Return the otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=staff.username, issuer_name="casemgr")


def qr_svg(uri: str) -> str:
    """Draw the provisioning URI as an SVG QR code (served from a route: no inline data)."""
    buffer = io.BytesIO()
    # A standalone document (with its namespace): browsers load it as an <img>.
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False)
    return buffer.getvalue().decode()


def _clean(code: str | None) -> str:
    """Drop spaces and dashes people type into codes."""
    return (code or "").strip().replace(" ", "").replace("-", "")


def matching_step(secret: str, code: str | None, now: float | None = None) -> int | None:
    """Return the time step a 6-digit code belongs to (within drift), or None."""
    code = _clean(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now or time.time(), UTC))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(secret: str, code: str | None) -> bool:
    """Check a code against a secret without replay state (enrolment confirmation)."""
    return matching_step(secret, code) is not None


def _recovery_digest(code: str) -> str:
    """Hash a recovery code (high entropy, so a fast hash suffices)."""
    return hashlib.sha256(_clean(code).upper().encode()).hexdigest()


def use_recovery_code(staff: Staff, code: str | None) -> bool:
    """Accept an unused recovery code once; it can never be used again."""
    cleaned = _clean(code).upper()
    if len(cleaned) != 10 or any(c not in _RECOVERY_ALPHABET for c in cleaned):
        return False
    row = db.session.scalar(
        sa.select(RecoveryCode).where(
            RecoveryCode.staff_id == staff.id,
            RecoveryCode.code_hash == _recovery_digest(cleaned),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def check_second_factor(staff: Staff, code: str | None) -> bool:
    """Check a TOTP code (each time step accepted once: no replay) or a recovery code."""
    if staff.totp_secret is None:
        return True
    step = matching_step(staff.totp_secret, code)
    if step is not None:
        if staff.totp_last_step is not None and step <= staff.totp_last_step:
            return False  # this code (or an older one) was already used
        staff.totp_last_step = step
        return True
    return use_recovery_code(staff, code)


def new_recovery_codes(staff: Staff) -> list[str]:
    """Replace the account's recovery codes; the clear codes are shown once, never stored."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
    now = utcnow()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        code = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{code[:5]}-{code[5:]}")
        db.session.add(
            RecoveryCode(staff_id=staff.id, code_hash=_recovery_digest(code), created_at=now)
        )
    return codes


def recovery_codes_left(staff: Staff) -> int:
    """Count the account's unused recovery codes."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(RecoveryCode.id)).where(
                RecoveryCode.staff_id == staff.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def enrol(staff: Staff, secret: str, code: str | None) -> list[str] | None:
    """Turn the second factor on once a first code matches; return new recovery codes."""
    step = matching_step(secret, code)
    if step is None:
        return None
    staff.totp_secret = secret
    staff.totp_last_step = step  # the confirming code cannot be replayed at login
    return new_recovery_codes(staff)


def mfa_required(staff: Staff) -> bool:
    """Tell whether this account must have a second factor (admins, where configured)."""
    return bool(current_app.config["REQUIRE_ADMIN_MFA"]) and staff.has_role("admin")
