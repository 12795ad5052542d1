"""The flask commands: create-admin, seed-demo."""

from __future__ import annotations

import sqlalchemy as sa

from casemgr.demo import DEMO_PASSWORD, DEMO_STAFF
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff
from casemgr.staff.services import find_by_username
from tests.conftest import login


def test_create_admin_reads_password_from_stdin(app) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-admin", "root", "--full-name", "Root Admin", "--password-stdin"],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    staff = find_by_username("root")
    assert staff.role_names == {"admin"}
    assert staff.full_name == "Root Admin"


def test_create_admin_prompts_twice(app) -> None:
    result = app.test_cli_runner().invoke(
        args=["create-admin", "root2"], input="a-long-enough-password\na-long-enough-password\n"
    )
    assert result.exit_code == 0, result.output
    assert find_by_username("root2") is not None


def test_create_admin_refuses_weak_password_and_duplicate(app) -> None:
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-admin", "root", "--password-stdin"], input="short\n")
    assert weak.exit_code != 0
    assert "at least 12" in weak.output
    runner.invoke(
        args=["create-admin", "root", "--password-stdin"], input="a-long-enough-password\n"
    )
    dup = runner.invoke(
        args=["create-admin", "root", "--password-stdin"], input="a-long-enough-password\n"
    )
    assert dup.exit_code != 0
    assert "taken" in dup.output


def test_seed_demo_is_idempotent_and_prints_logins(app) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    counts = (
        db.session.scalar(sa.select(sa.func.count(Patient.id))),
        db.session.scalar(sa.select(sa.func.count(Episode.id))),
        db.session.scalar(sa.select(sa.func.count(Staff.id))),
    )
    assert counts[0] == 30
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "nothing changed" in second.output
    assert counts == (
        db.session.scalar(sa.select(sa.func.count(Patient.id))),
        db.session.scalar(sa.select(sa.func.count(Episode.id))),
        db.session.scalar(sa.select(sa.func.count(Staff.id))),
    )


def test_seed_demo_has_every_role_varied_stages_and_at_risk_patients(app, client) -> None:
    app.test_cli_runner().invoke(args=["seed-demo"])
    roles = {role for _, _, staff_roles in DEMO_STAFF for role in staff_roles}
    assert roles == {"admin", "supervisor", "physician", "nurse", "counselor", "intake"}
    stages = set(db.session.scalars(sa.select(Episode.stage).distinct()))
    assert len(stages) >= 4
    assert "discharged" in stages
    assert login(client, "counselor.jones", DEMO_PASSWORD).status_code == 302
    page = client.get("/caseload").get_data(as_text=True)
    assert "at risk" in page


def test_healthz_reports_database(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_reports_a_current_schema(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "schema": "current"}


def test_readyz_refuses_traffic_while_migrations_are_pending(app, client) -> None:
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'ab9b9aff3aa5'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "schema": "pending migrations"}


def test_readyz_keeps_taking_traffic_when_a_newer_release_migrated(app, client) -> None:
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "schema": "newer than this code"}


def test_pages_carry_security_headers(client) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_bootstrap_is_served_locally(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "cdn" not in page.lower()
    response = client.get("/bootstrap/static/css/bootstrap.min.css")
    assert response.status_code == 200
    response.close()  # a file response: close it, or the open file warns
