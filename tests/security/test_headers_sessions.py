"""Headers (CSP, frames, referrer, caching, HSTS in production) and session handling."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET, csrf_from, login, make_app
from tests.factories import PASSWORD, admit, make_patient, make_staff
from tests.pages_helpers import sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_pages_send_a_strict_csp_and_anti_framing_headers(client) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # not over plain HTTP in tests


@pytest.mark.parametrize("path", ["/patients/{id}", "/api/v1/patients/{id}", "/caseload"])
def test_patient_data_is_never_cached(client, path) -> None:
    nurse = make_staff("nurse", username="nia")
    patient = make_patient()
    admit(patient, make_staff("counselor"))
    headers = {}
    if path.startswith("/api/"):
        token = client.post(
            "/api/v1/auth/tokens", json={"username": "nia", "password": PASSWORD}
        ).get_json()["token"]
        headers["Authorization"] = f"Bearer {token}"
    else:
        sign_in(client, nurse)
    response = client.get(path.format(id=patient.id), headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_hsts_is_sent_in_production_only(tmp_path) -> None:
    production = make_app(
        f"sqlite:///{tmp_path / 'prod.db'}", CASEMGR_ENV="production", SECRET_KEY=TEST_SECRET
    )
    response = production.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_templates_have_no_inline_script_style_or_event_handlers() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offenders.append(f"{path.name}: {match.group(0)}")
        for match in re.finditer(r"\s(style|on[a-z]+)=", text):
            offenders.append(f"{path.name}: {match.group(0).strip()}")
    assert offenders == []


def test_login_starts_a_new_session_no_fixation(client) -> None:
    make_staff("counselor", username="cora")
    client.get("/login")
    with client.session_transaction() as session:
        session["planted_by_attacker"] = "x"
        before = dict(session)
    login(client, "cora", PASSWORD)
    with client.session_transaction() as session:
        after = dict(session)
    assert "planted_by_attacker" not in after
    assert after["_user_id"]
    assert after.get("csrf_token") != before.get("csrf_token")


def test_logout_clears_the_whole_session(client) -> None:
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    client.post("/logout", data={"csrf_token": csrf_from(client, "/caseload")})
    with client.session_transaction() as session:
        assert "_user_id" not in session
        assert "login_at" not in session


def test_idle_timeout_then_lifetime_end_sessions(client, app) -> None:
    make_staff("counselor", username="cora")
    login(client, "cora", PASSWORD)
    with client.session_transaction() as session:
        session["seen"] = time.time() - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
    assert client.get("/caseload").status_code == 302
    login(client, "cora", PASSWORD)
    with client.session_transaction() as session:
        session["login_at"] = time.time() - app.config["SESSION_MAX_HOURS"] * 3600 - 5
    assert client.get("/caseload").status_code == 302
