"""TOTP second factor (RFC 6238) with pyotp."""

from __future__ import annotations

import pyotp
from flask import current_app

from casemgr.staff.models import Staff


def new_secret() -> str:
    """Draw a new base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(staff: Staff, secret: str) -> str:
    """Return the otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=staff.username, issuer_name="casemgr")


def verify(secret: str, code: str | None) -> bool:
    """Check a 6-digit code, allowing one step of clock drift either way."""
    if not code:
        return False
    code = code.strip().replace(" ", "")
    return code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


def mfa_required(staff: Staff) -> bool:
    """Tell whether this account must have a second factor (admins, where configured)."""
    return bool(current_app.config["REQUIRE_ADMIN_MFA"]) and staff.has_role("admin")
