"""Browser login: success, wrong password, lockout, idle time-out, CSRF, logout."""

from __future__ import annotations

import time

import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, make_staff


def actions() -> list[str]:
    """Return the audit actions written so far, oldest first."""
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_login_page_renders_with_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_login_with_right_password_reaches_role_start_page(client):
    make_staff("counselor", username="cora")
    response = login(client, "cora", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    assert client.get("/").headers["Location"].endswith("/caseload")
    assert client.get("/caseload").status_code == 200
    assert "auth.login" in actions()


def test_login_username_is_case_insensitive(client):
    make_staff("intake", username="ivy")
    assert login(client, "IVY", PASSWORD).status_code == 302


def test_wrong_password_rerenders_form_with_username_kept(client):
    make_staff("counselor", username="cora")
    response = login(client, "cora", "wrong-password-123")
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "Wrong username or password" in body
    assert 'value="cora"' in body
    assert "auth.login_failed" in actions()


def test_unknown_user_gets_same_message_and_is_audited(client):
    response = login(client, "nobody", "whatever-password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.actor_id, event.outcome) == ("auth.login_failed", None, "failure")


def test_five_failures_lock_the_account_even_for_the_right_password(client):
    make_staff("counselor", username="cora")
    for _ in range(5):
        assert login(client, "cora", "wrong-password-123").status_code == 401
    response = login(client, "cora", PASSWORD)
    assert response.status_code == 429
    assert "locked" in response.get_data(as_text=True)
    assert "auth.lockout" in actions()


def test_four_failures_then_success_resets_the_count(client):
    staff = make_staff("counselor", username="cora")
    for _ in range(4):
        login(client, "cora", "wrong-password-123")
    assert login(client, "cora", PASSWORD).status_code == 302
    db.session.refresh(staff)
    assert staff.failed_logins == 0
    assert staff.locked_until is None


def test_deactivated_account_cannot_sign_in(client):
    make_staff("counselor", username="gone", active=False)
    assert login(client, "gone", PASSWORD).status_code == 401


def test_login_post_without_csrf_token_is_refused(client):
    make_staff("counselor", username="cora")
    response = client.post("/login", data={"username": "cora", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/caseload").status_code == 302  # still signed out


def test_form_post_with_wrong_csrf_token_is_refused(client):
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    response = client.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/caseload").status_code == 200  # not signed out


def test_logout_ends_the_session(client):
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    token = csrf_from(client, "/caseload")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/caseload").status_code == 302
    assert "auth.logout" in actions()


def test_idle_session_times_out(client, app):
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session["seen"] = time.time() - idle - 1
    response = client.get("/caseload")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.get("/caseload").status_code == 302
    assert "auth.timeout" in actions()


def test_activity_within_idle_limit_keeps_session(client, app):
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    with client.session_transaction() as session:
        session["seen"] = time.time() - idle + 30
    assert client.get("/caseload").status_code == 200


def test_absolute_session_lifetime_ends_session(client, app):
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    with client.session_transaction() as session:
        session["login_at"] = time.time() - app.config["SESSION_MAX_HOURS"] * 3600 - 1
    assert client.get("/caseload").status_code == 302


def test_login_redirects_only_to_local_paths(client):
    make_staff("counselor", username="cora")
    token = csrf_from(client, "/login")
    response = client.post(
        "/login",
        data={
            "username": "cora",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert response.headers["Location"] == "/"


def test_session_cookie_is_httponly_and_samesite(client):
    make_staff("counselor", username="cora")
    response = login(client, "cora", PASSWORD)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_login_rate_limit_per_address(client):
    token = csrf_from(client, "/login")
    data = {"username": "nobody", "password": "guess-123", "csrf_token": token}
    for _ in range(30):
        assert client.post("/login", data=data).status_code == 401
    assert client.post("/login", data=data).status_code == 429


def test_login_page_and_api_share_one_attempt_budget(client):
    token = csrf_from(client, "/login")
    data = {"username": "nobody", "password": "guess-123", "csrf_token": token}
    for _ in range(20):
        assert client.post("/login", data=data).status_code == 401
    body = {"username": "nobody", "password": "guess-123"}
    for _ in range(10):
        assert client.post("/api/v1/auth/tokens", json=body).status_code == 401
    assert client.post("/api/v1/auth/tokens", json=body).status_code == 429
    assert client.post("/login", data=data).status_code == 429


def test_login_upgrades_a_hash_made_with_older_argon2_parameters(client):
    from argon2 import PasswordHasher

    staff = make_staff("counselor", username="olga")
    staff.password_hash = PasswordHasher(time_cost=3, memory_cost=65_536, parallelism=4).hash(
        PASSWORD
    )
    db.session.commit()
    assert login(client, "olga", PASSWORD).status_code == 302
    db.session.refresh(staff)
    assert staff.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHasher().verify(staff.password_hash, PASSWORD)
