"""Second factor: QR enrolment, recovery codes, no replay, admins required; re-authentication."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.extensions import db
from casemgr.staff import mfa
from casemgr.staff.models import RecoveryCode
from casemgr.staff.services import password_problems
from tests.conftest import csrf_from, login, post_form
from tests.factories import PASSWORD, make_staff

CODE_RE = re.compile(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>")


def _enrol(client, staff) -> tuple[str, list[str]]:
    """Enrol through the page; return the secret and the recovery codes shown once."""
    login(client, staff.username, PASSWORD)
    page = client.get("/account/mfa").get_data(as_text=True)
    secret = re.search(r'<code class="user-select-all">([A-Z2-7]+)</code>', page).group(1)
    code = pyotp.TOTP(secret).now()
    response = post_form(client, "/account/mfa", {"otp": code})
    assert response.status_code == 200
    codes = CODE_RE.findall(response.get_data(as_text=True))
    client.post("/logout", data={"csrf_token": csrf_from(client, "/account/mfa")})
    return secret, codes


def _login(client, username: str, otp: str | None) -> object:
    token = csrf_from(client, "/login")
    data = {"username": username, "password": PASSWORD, "csrf_token": token}
    if otp is not None:
        data["otp"] = otp
    return client.post("/login", data=data)


def test_enrol_page_shows_a_qr_code_served_as_svg(client) -> None:
    login(client, make_staff("nurse", username="nia").username, PASSWORD)
    page = client.get("/account/mfa").get_data(as_text=True)
    assert 'src="/account/mfa/qr.svg"' in page
    response = client.get("/account/mfa/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).lstrip().startswith("<svg")


def test_enrolment_gives_ten_hashed_single_use_recovery_codes(client) -> None:
    staff = make_staff("nurse", username="nia")
    _secret, codes = _enrol(client, staff)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert _login(client, "nia", codes[0]).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from(client, "/account/mfa")})
    assert _login(client, "nia", codes[0]).status_code == 401  # used once, never again
    assert _login(client, "nia", codes[1].lower().replace("-", " ")).status_code == 302


def test_login_needs_the_code_once_enrolled(client) -> None:
    staff = make_staff("nurse", username="nia")
    _enrol(client, staff)
    response = _login(client, "nia", None)
    assert response.status_code == 401
    assert "authenticator" in response.get_data(as_text=True)
    assert _login(client, "nia", "000000").status_code == 401


def test_a_code_cannot_be_replayed(client) -> None:
    staff = make_staff("nurse", username="nia")
    secret, _ = _enrol(client, staff)
    totp = pyotp.TOTP(secret)
    next_code = totp.at(time.time() + 30)  # the enrolment used the current step
    assert _login(client, "nia", next_code).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from(client, "/account/mfa")})
    assert _login(client, "nia", next_code).status_code == 401
    assert "auth.login_failed" in set(db.session.scalars(sa.select(AuditEvent.action)))


def test_api_token_needs_a_fresh_code_too(client) -> None:
    staff = make_staff("nurse", username="nia")
    secret, codes = _enrol(client, staff)
    body = {"username": "nia", "password": PASSWORD}
    assert client.post("/api/v1/auth/tokens", json=body).status_code == 401
    code = pyotp.TOTP(secret).at(time.time() + 30)
    assert client.post("/api/v1/auth/tokens", json={**body, "otp": code}).status_code == 201
    assert client.post("/api/v1/auth/tokens", json={**body, "otp": code}).status_code == 401
    assert client.post("/api/v1/auth/tokens", json={**body, "otp": codes[3]}).status_code == 201


def test_admins_must_enrol_where_required(client, app) -> None:
    make_staff("admin", username="ada")
    app.config["REQUIRE_ADMIN_MFA"] = True
    try:
        response = _login(client, "ada", None)
        assert response.headers["Location"].endswith("/account/mfa")
        assert client.get("/admin/staff").headers["Location"].endswith("/account/mfa")
        assert client.get("/account/mfa/qr.svg").status_code == 200
        api = client.post("/api/v1/auth/tokens", json={"username": "ada", "password": PASSWORD})
        assert api.status_code == 401
        assert "Enrol a second factor" in api.get_json()["error"]["message"]
    finally:
        app.config["REQUIRE_ADMIN_MFA"] = False


def test_new_recovery_codes_replace_the_old_ones(client) -> None:
    staff = make_staff("nurse", username="nia")
    secret, old_codes = _enrol(client, staff)
    assert _login(client, "nia", old_codes[0]).status_code == 302
    response = post_form(client, "/account/mfa", {}, action="/account/mfa/recovery-codes")
    new_codes = CODE_RE.findall(response.get_data(as_text=True))
    assert len(new_codes) == 10
    assert mfa.use_recovery_code(staff, old_codes[1]) is False
    assert mfa.use_recovery_code(staff, new_codes[0]) is True


def _age_login(client, minutes: int) -> None:
    with client.session_transaction() as session:
        session["login_at"] = time.time() - minutes * 60
        session["seen"] = time.time()


def test_role_change_needs_reauthentication_after_15_minutes(client) -> None:
    make_staff("admin", username="ada")
    nurse = make_staff("nurse", username="nia")
    login(client, "ada", PASSWORD)
    form_url = f"/admin/staff/{nurse.id}"
    token = csrf_from(client, form_url)
    _age_login(client, 16)
    data = {
        "full_name": "Nia",
        "roles": ["nurse", "supervisor"],
        "active": "y",
        "csrf_token": token,
    }
    response = client.post(form_url, data=data, headers={"Referer": f"http://localhost{form_url}"})
    assert response.status_code == 302
    assert "/account/reauth" in response.headers["Location"]
    db.session.refresh(nurse)
    assert nurse.role_names == {"nurse"}
    reauth = client.get(response.headers["Location"])
    assert "Confirm it is you" in reauth.get_data(as_text=True)
    wrong = post_form(client, response.headers["Location"], {"password": "not-it-at-all"})
    assert wrong.status_code == 401
    ok = post_form(client, "/account/reauth", {"password": PASSWORD, "next": form_url})
    assert ok.headers["Location"] == form_url
    assert client.post(form_url, data=data).status_code == 302
    db.session.refresh(nurse)
    assert nurse.role_names == {"nurse", "supervisor"}
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"auth.reauth", "staff.roles_change"} <= actions


def test_fresh_login_needs_no_reauthentication(client) -> None:
    make_staff("admin", username="ada")
    nurse = make_staff("nurse", username="nia")
    login(client, "ada", PASSWORD)
    _age_login(client, 14)
    response = post_form(
        client,
        f"/admin/staff/{nurse.id}",
        {"full_name": "Nia N", "roles": ["nurse"], "active": "y"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/staff")


def test_reauthentication_asks_for_the_code_where_enrolled(client) -> None:
    staff = make_staff("admin", username="ada")
    secret, codes = _enrol(client, staff)
    assert _login(client, "ada", codes[0]).status_code == 302
    _age_login(client, 20)
    page = client.get("/account/reauth?next=/admin/staff").get_data(as_text=True)
    assert 'name="otp"' in page
    no_code = post_form(client, "/account/reauth", {"password": PASSWORD})
    assert no_code.status_code == 401
    with_code = post_form(
        client,
        "/account/reauth",
        {"password": PASSWORD, "otp": pyotp.TOTP(secret).at(time.time() + 30)},
    )
    assert with_code.status_code == 302


def test_api_tokens_count_as_recent(client) -> None:
    make_staff("admin", username="ada")
    nurse = make_staff("nurse", username="nia")
    body = {"username": "ada", "password": PASSWORD}
    token = client.post("/api/v1/auth/tokens", json=body).get_json()["token"]
    response = client.patch(
        f"/api/v1/staff/{nurse.id}",
        json={"roles": ["nurse", "counselor"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("password1234", "too common"),
        ("Qwertyuiop123!", "too common"),
        ("iloveyou1234", "too common"),
        ("ada-the-admin-2026", "username"),
        ("aaaaaaaaaaaaaaaa", "distinct"),
        ("short", "at least 12"),
    ],
)
def test_password_rules(password: str, problem: str) -> None:
    problems = " ".join(password_problems(password, "ada-the-admin"))
    assert problem in problems


def test_a_good_password_passes() -> None:
    assert password_problems("violet-harbour-lantern-92", "ada") == []


def test_common_password_is_refused_by_the_api(client) -> None:
    make_staff("admin", username="ada")
    token = client.post(
        "/api/v1/auth/tokens", json={"username": "ada", "password": PASSWORD}
    ).get_json()["token"]
    response = client.post(
        "/api/v1/staff",
        json={
            "username": "newbie",
            "full_name": "New Bie",
            "roles": ["nurse"],
            "password": "Password1234",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert "too common" in " ".join(response.get_json()["error"]["fields"]["password"])
