"""Tokens, the caller, and staff administration through the JSON API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.db import utcnow
from casemgr.extensions import db
from casemgr.staff.models import ApiToken, Staff
from tests.conftest import api_headers, login
from tests.factories import PASSWORD, make_staff

NEW_PASSWORD = "a-long-enough-password"
SECRET_KEYS = {"password", "password_hash", "totp_secret", "token_hash"}


def error_code(response: Any, status: int) -> str:
    """Check the status and the error shape; return the error code."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == status
    return error["code"]


def field_errors(response: Any) -> dict[str, list[str]]:
    """Return the ``fields`` of a 422 answer."""
    assert error_code(response, 422) == "invalid"
    return response.get_json()["error"]["fields"]


def audit_actions(**filters: Any) -> list[str]:
    """Return the audit actions written so far (optionally filtered), oldest first."""
    query = sa.select(AuditEvent.action).order_by(AuditEvent.id)
    for name, value in filters.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return list(db.session.scalars(query))


def new_staff_body(**changes: Any) -> dict[str, Any]:
    """A valid POST /api/v1/staff body."""
    body = {
        "username": "nadia",
        "full_name": "Nadia Nurse",
        "email": "nadia@example.org",
        "roles": ["nurse"],
        "password": NEW_PASSWORD,
    }
    body.update(changes)
    return body


@pytest.fixture
def admin(client):
    """An admin and their bearer headers."""
    staff = make_staff("admin", username="root")
    db.session.commit()
    return staff, api_headers(client, "root", PASSWORD)


def request_token(client: Any, username: str, password: str = PASSWORD) -> Any:
    """POST /api/v1/auth/tokens."""
    return client.post("/api/v1/auth/tokens", json={"username": username, "password": password})


# --- tokens ---------------------------------------------------------------------------------


def test_token_request_returns_201_with_token_and_expiry(client, app):
    staff = make_staff("counselor", username="cora")
    db.session.commit()
    before = utcnow()
    response = request_token(client, "cora")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "expires_at"}
    assert isinstance(body["token"], str)
    assert len(body["token"]) >= 32
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.tzinfo is not None
    lifetime = timedelta(hours=app.config["API_TOKEN_HOURS"])
    assert before + lifetime - timedelta(minutes=1) <= expires <= utcnow() + lifetime
    assert "auth.token_issue" in audit_actions(actor_id=staff.id)


def test_token_is_stored_only_as_a_hash(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    token = request_token(client, "cora").get_json()["token"]
    stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert len(stored) == 1
    assert token not in stored


def test_token_request_username_is_case_insensitive(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    assert request_token(client, "CoRa").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "cora"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "cora", "password": PASSWORD, "remember": True}, "remember"),
        ({"username": "c" * 101, "password": PASSWORD}, "username"),
        ({"username": "cora\x00", "password": PASSWORD}, "username"),
        ({"username": 5, "password": PASSWORD}, "username"),
    ],
)
def test_malformed_token_request_is_422(client, body, field):
    assert field in field_errors(client.post("/api/v1/auth/tokens", json=body))


def test_deactivated_account_cannot_get_a_token(client):
    make_staff("counselor", username="gone", active=False)
    db.session.commit()
    assert error_code(request_token(client, "gone"), 401) == "unauthorized"


def test_four_wrong_passwords_then_the_right_one_still_gets_a_token(client):
    staff = make_staff("counselor", username="cora")
    db.session.commit()
    for _ in range(4):
        assert request_token(client, "cora", "wrong-password-123").status_code == 401
    assert request_token(client, "cora").status_code == 201
    db.session.refresh(staff)
    assert staff.failed_logins == 0


def test_lockout_is_shared_between_browser_login_and_api(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    for _ in range(3):
        assert login(client, "cora", "wrong-password-123").status_code == 401
    for _ in range(2):
        assert request_token(client, "cora", "wrong-password-123").status_code == 401
    assert error_code(request_token(client, "cora"), 429) == "rate_limited"
    assert "auth.lockout" in audit_actions()


# --- the caller -----------------------------------------------------------------------------


def test_me_returns_the_caller(client):
    staff = make_staff("nurse", "counselor", username="nico", full_name="Nico Nurse")
    db.session.commit()
    response = client.get("/api/v1/me", headers=api_headers(client, "nico", PASSWORD))
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("id", "username", "full_name", "roles")} == {
        "id": staff.id,
        "username": "nico",
        "full_name": "Nico Nurse",
        "roles": ["counselor", "nurse"],
    }
    assert not SECRET_KEYS & set(body)


def test_revoked_token_is_refused_and_other_tokens_keep_working(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    first = api_headers(client, "cora", PASSWORD)
    second = api_headers(client, "cora", PASSWORD)
    response = client.delete("/api/v1/auth/tokens/current", headers=first)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert error_code(client.get("/api/v1/me", headers=first), 401) == "unauthorized"
    assert error_code(client.delete("/api/v1/auth/tokens/current", headers=first), 401)
    assert client.get("/api/v1/me", headers=second).status_code == 200
    assert "auth.token_revoke" in audit_actions()


def test_revoking_without_a_token_is_401(client):
    assert error_code(client.delete("/api/v1/auth/tokens/current"), 401) == "unauthorized"


def test_expired_token_is_refused(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    token = db.session.scalars(sa.select(ApiToken)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert error_code(client.get("/api/v1/me", headers=headers), 401) == "unauthorized"


def test_browser_session_cookie_alone_does_not_authenticate_the_api(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    assert login(client, "cora", PASSWORD).status_code == 302
    assert client.get("/caseload").status_code == 200  # the browser session is live
    assert error_code(client.get("/api/v1/me"), 401) == "unauthorized"
    assert error_code(client.get("/api/v1/episodes"), 401) == "unauthorized"


def test_token_of_a_staff_member_deactivated_directly_stops_working(client):
    staff = make_staff("counselor", username="cora")
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    staff.active = False
    db.session.commit()
    assert error_code(client.get("/api/v1/me", headers=headers), 401) == "unauthorized"


def test_deactivation_revokes_tokens_and_reactivation_does_not_restore_them(client, admin):
    _, admin_headers = admin
    staff = make_staff("counselor", username="cora")
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    url = f"/api/v1/staff/{staff.id}"
    response = client.patch(url, json={"active": False}, headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert error_code(client.get("/api/v1/me", headers=headers), 401) == "unauthorized"
    assert "staff.deactivate" in audit_actions(object_id=staff.id)
    assert client.patch(url, json={"active": True}, headers=admin_headers).status_code == 200
    assert error_code(client.get("/api/v1/me", headers=headers), 401) == "unauthorized"
    fresh = api_headers(client, "cora", PASSWORD)
    assert client.get("/api/v1/me", headers=fresh).status_code == 200


# --- staff administration -------------------------------------------------------------------


def test_staff_list_answers_the_envelope(client, admin):
    _, headers = admin
    for _ in range(3):
        make_staff("counselor")
    db.session.commit()
    response = client.get("/api/v1/staff", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert (body["page"], body["per_page"], body["total"]) == (1, 50, 4)
    assert len(body["items"]) == 4
    for item in body["items"]:
        assert not SECRET_KEYS & set(item)
        assert item["roles"] == sorted(item["roles"])


def test_staff_list_pages(client, admin):
    _, headers = admin
    for _ in range(4):
        make_staff("counselor")
    db.session.commit()
    first = client.get("/api/v1/staff?per_page=2", headers=headers).get_json()
    third = client.get("/api/v1/staff?per_page=2&page=3", headers=headers).get_json()
    assert (first["total"], len(first["items"])) == (5, 2)
    assert (third["page"], third["per_page"], len(third["items"])) == (3, 2, 1)


def test_admin_creates_staff(client, admin):
    admin_staff, headers = admin
    body = new_staff_body(username="Nadia.Nurse", roles=["nurse", "counselor", "nurse"])
    response = client.post("/api/v1/staff", json=body, headers=headers)
    assert response.status_code == 201
    created = response.get_json()
    assert not SECRET_KEYS & set(created)
    assert NEW_PASSWORD not in response.get_data(as_text=True)
    assert created["username"] == "nadia.nurse"
    assert created["full_name"] == "Nadia Nurse"
    assert created["email"] == "nadia@example.org"
    assert created["roles"] == ["counselor", "nurse"]
    assert created["active"] is True
    assert isinstance(created["id"], int)
    row = db.session.get(Staff, created["id"])
    assert row.password_hash != NEW_PASSWORD
    assert "staff.create" in audit_actions(actor_id=admin_staff.id, object_id=created["id"])
    assert request_token(client, "nadia.nurse", NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize("username", ["cora", "CORA", "Cora"])
def test_duplicate_username_is_409_ignoring_case(client, admin, username):
    _, headers = admin
    make_staff("counselor", username="cora")
    db.session.commit()
    response = client.post("/api/v1/staff", json=new_staff_body(username=username), headers=headers)
    assert error_code(response, 409) == "conflict"
    assert "username" in response.get_json()["error"]["fields"]


def test_duplicate_username_with_a_short_password_is_422_not_409(client, admin):
    _, headers = admin
    make_staff("counselor", username="cora")
    db.session.commit()
    body = new_staff_body(username="cora", password="short")
    response = client.post("/api/v1/staff", json=body, headers=headers)
    assert "password" in field_errors(response)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"roles": ["wizard"]}, "roles"),
        ({"roles": ["nurse", "superuser"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"roles": "nurse"}, "roles"),
        ({"password": "short-pw"}, "password"),
        ({"password": "x" * 11}, "password"),
        ({"password": "my-nadia-password"}, "password"),
        ({"username": "na"}, "username"),
        ({"username": "nadia nurse"}, "username"),
        ({"full_name": "N" * 101}, "full_name"),
        ({"full_name": "Nadia\x00"}, "full_name"),
        ({"email": "not-an-email"}, "email"),
        ({"is_superuser": True}, "is_superuser"),
    ],
)
def test_invalid_new_staff_is_422(client, admin, changes, field):
    _, headers = admin
    response = client.post("/api/v1/staff", json=new_staff_body(**changes), headers=headers)
    assert field in field_errors(response)
    assert db.session.scalar(sa.select(Staff).where(Staff.username == "nadia")) is None


@pytest.mark.parametrize("missing", ["username", "full_name", "roles", "password"])
def test_new_staff_missing_a_required_field_is_422(client, admin, missing):
    _, headers = admin
    body = new_staff_body()
    del body[missing]
    assert missing in field_errors(client.post("/api/v1/staff", json=body, headers=headers))


def test_admin_changes_roles(client, admin):
    _, headers = admin
    staff = make_staff("counselor")
    db.session.commit()
    response = client.patch(
        f"/api/v1/staff/{staff.id}", json={"roles": ["supervisor", "counselor"]}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["counselor", "supervisor"]
    db.session.expire_all()
    assert db.session.get(Staff, staff.id).role_names == {"counselor", "supervisor"}
    assert "staff.roles_change" in audit_actions(object_id=staff.id)


def test_role_change_applies_to_the_next_request(client, admin):
    _, admin_headers = admin
    staff = make_staff("counselor", username="cora")
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    assert client.get("/api/v1/staff", headers=headers).status_code == 403
    client.patch(f"/api/v1/staff/{staff.id}", json={"roles": ["admin"]}, headers=admin_headers)
    assert client.get("/api/v1/staff", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"roles": ["wizard"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"active": "maybe"}, "active"),
        ({"username": "renamed"}, "username"),
        ({"password": NEW_PASSWORD}, "password"),
    ],
)
def test_invalid_staff_update_is_422(client, admin, body, field):
    _, headers = admin
    staff = make_staff("counselor")
    db.session.commit()
    response = client.patch(f"/api/v1/staff/{staff.id}", json=body, headers=headers)
    assert field in field_errors(response)


def test_admin_cannot_remove_own_admin_role(client, admin):
    admin_staff, headers = admin
    response = client.patch(
        f"/api/v1/staff/{admin_staff.id}", json={"roles": ["supervisor"]}, headers=headers
    )
    assert "roles" in field_errors(response)
    db.session.expire_all()
    assert "admin" in db.session.get(Staff, admin_staff.id).role_names


def test_admin_may_add_roles_to_own_account(client, admin):
    admin_staff, headers = admin
    response = client.patch(
        f"/api/v1/staff/{admin_staff.id}", json={"roles": ["admin", "supervisor"]}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["admin", "supervisor"]


def test_admin_cannot_deactivate_own_account(client, admin):
    admin_staff, headers = admin
    response = client.patch(
        f"/api/v1/staff/{admin_staff.id}", json={"active": False}, headers=headers
    )
    assert "active" in field_errors(response)
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_updating_unknown_staff_is_404(client, admin):
    _, headers = admin
    response = client.patch("/api/v1/staff/999999", json={"active": False}, headers=headers)
    assert error_code(response, 404) == "not_found"


@pytest.mark.parametrize("role", ["supervisor", "physician", "nurse", "counselor", "intake"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/staff", None),
        ("POST", "/api/v1/staff", new_staff_body()),
        ("PATCH", "/api/v1/staff/{id}", {"active": False}),
    ],
    ids=["list", "create", "update"],
)
def test_non_admins_cannot_manage_staff(client, role, method, path, body):
    caller = make_staff(role)
    target = make_staff("counselor")
    db.session.commit()
    headers = api_headers(client, caller.username, PASSWORD)
    response = client.open(path.format(id=target.id), method=method, json=body, headers=headers)
    assert error_code(response, 403) == "forbidden"
    db.session.expire_all()
    assert db.session.get(Staff, target.id).active is True
    assert db.session.scalar(sa.select(Staff).where(Staff.username == "nadia")) is None
