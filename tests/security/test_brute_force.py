"""Brute force on login is stopped: per account (lockout), per address (rate limit), per code."""

from __future__ import annotations

import pyotp
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.extensions import db
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_staff

#: A dictionary attack: wrong passwords, then the right one.
GUESSES = [f"guess-number-{n:03d}" for n in range(40)]


def _post_login(client, username: str, password: str, address: str, otp: str = "") -> int:
    client.environ_base["REMOTE_ADDR"] = address
    token = csrf_from(client, "/login")
    data = {"username": username, "password": password, "otp": otp, "csrf_token": token}
    return client.post("/login", data=data).status_code


def test_dictionary_attack_from_many_addresses_locks_the_account(client) -> None:
    make_staff("counselor", username="cora")
    statuses = [
        _post_login(client, "cora", guess, f"203.0.113.{n}") for n, guess in enumerate(GUESSES)
    ]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}  # locked: the rest are refused without checking
    assert _post_login(client, "cora", PASSWORD, "198.51.100.7") == 429
    events = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert events.count("auth.lockout") == 1
    assert events.count("auth.login_locked") == len(GUESSES) - 5 + 1


def test_one_address_spraying_many_accounts_is_rate_limited(client) -> None:
    for n in range(12):
        make_staff("nurse", username=f"nurse{n}")
    statuses = [
        _post_login(client, f"nurse{n % 12}", guess, "192.0.2.50")
        for n, guess in enumerate(GUESSES)
    ]
    assert statuses[:30] == [401] * 30
    assert set(statuses[30:]) == {429}
    client.environ_base["REMOTE_ADDR"] = "192.0.2.51"  # another address still gets its budget
    assert _post_login(client, "nurse0", PASSWORD, "192.0.2.51") in (302, 429)


def test_guessing_the_second_factor_locks_the_account(client) -> None:
    staff = make_staff("admin", username="ada", totp_secret=pyotp.random_base32())
    wrong = [f"{n:06d}" for n in range(5)]
    current = pyotp.TOTP(staff.totp_secret).now()
    wrong = [code for code in wrong if code != current][:5]
    for n, code in enumerate(wrong):
        assert _post_login(client, "ada", PASSWORD, f"203.0.113.{n}", otp=code) == 401
    assert _post_login(client, "ada", PASSWORD, "203.0.113.99", otp=current) == 429
    body = {"username": "ada", "password": PASSWORD, "otp": current}
    assert client.post("/api/v1/auth/tokens", json=body).status_code == 429
