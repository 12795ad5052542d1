"""Report pages and API: who may see them, CSV equals the tables, bad filters explained."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from casemgr.episodes import services
from casemgr.extensions import db
from casemgr.reports.registry import REPORTS
from tests.conftest import api_headers
from tests.factories import PASSWORD, make_patient, make_staff
from tests.pages_helpers import sign_in

SLUGS = list(REPORTS)


@pytest.fixture
def dataset():
    counselor = make_staff("counselor", full_name="Alex A")
    for admitted, discharged, reason in [
        (date(2025, 1, 1), date(2025, 3, 31), 1),
        (date(2025, 2, 1), date(2025, 2, 10), 2),
    ]:
        episode = services.admit(
            counselor,
            make_patient(),
            admitted_on=admitted,
            primary_counselor_id=counselor.id,
            primary_substance=13,
            referral_source=1,
            service_setting=5,
        )
        services.discharge(counselor, episode, discharged_on=discharged, reason=reason)
    db.session.commit()


@pytest.mark.usefixtures("dataset")
@pytest.mark.parametrize("slug", SLUGS)
def test_report_page_renders_chart_tables_and_csv_link(client, slug: str) -> None:
    sign_in(client, make_staff("supervisor"))
    response = client.get(f"/reports/{slug}?from=2025-01-01&to=2025-12-31")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'class="table table-sm mb-0 report-table"' in body
    assert "Download CSV" in body
    if slug != "retention" or "svg" in body:
        assert "<svg" in body


@pytest.mark.usefixtures("dataset")
def test_csv_holds_exactly_the_tables(client) -> None:
    from casemgr.reports import queries, tables
    from casemgr.reports.filters import ReportFilters

    sign_in(client, make_staff("admin"))
    response = client.get("/reports/length-of-stay?from=2025-01-01&to=2025-12-31&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    expected = tables.los_tables(
        queries.length_of_stay(ReportFilters(date(2025, 1, 1), date(2025, 12, 31)))
    )
    assert rows[0] == [expected[0].title]
    assert rows[1] == expected[0].headers
    assert rows[2:7] == expected[0].rows
    assert ["Discharges", "2"] in rows
    assert ["Median length of stay (days)", "50.0"] in rows  # LOS 90 and 10


@pytest.mark.parametrize("role", ["counselor", "nurse", "physician", "intake"])
def test_clinical_and_intake_roles_are_refused(client, role: str) -> None:
    sign_in(client, make_staff(role))
    assert client.get("/reports/census").status_code == 403


def test_from_after_to_is_a_message_not_a_500(client) -> None:
    sign_in(client, make_staff("supervisor"))
    response = client.get("/reports/length-of-stay?from=2025-05-01&to=2025-01-01")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "The start date is after the end date." in body
    assert 'value="2025-05-01"' in body


def test_malformed_date_is_a_message(client) -> None:
    sign_in(client, make_staff("supervisor"))
    response = client.get("/reports/discharges?from=31/12/2025")
    assert response.status_code == 422
    assert "Not a valid date" in response.get_data(as_text=True)


@pytest.mark.usefixtures("dataset")
def test_api_length_of_stay_fields_and_csv(client) -> None:
    make_staff("supervisor", username="sup")
    headers = api_headers(client, "sup", PASSWORD)
    body = client.get(
        "/api/v1/reports/length-of-stay?from=2025-01-01&to=2025-12-31", headers=headers
    ).get_json()
    for key in (
        "discharges",
        "median_los_days",
        "mean_los_days",
        "met_target",
        "met_target_rate",
        "by_reason",
        "by_setting",
    ):
        assert key in body
    assert (body["discharges"], body["met_target"], body["met_target_rate"]) == (2, 1, 0.5)
    assert body["by_reason"]["1"] == 1
    response = client.get(
        "/api/v1/reports/discharges?from=2025-01-01&to=2025-12-31&format=csv", headers=headers
    )
    assert response.mimetype == "text/csv"
    assert "Treatment completed,1," in response.get_data(as_text=True)


def test_api_census_shape(client) -> None:
    make_staff("admin", username="boss")
    body = client.get(
        "/api/v1/reports/census", headers=api_headers(client, "boss", PASSWORD)
    ).get_json()
    assert set(body) >= {"total_active", "by_stage", "by_counselor"}
    assert body["by_stage"]["diagnosis"] == 0


def test_api_retention_points_are_fractions(client, dataset) -> None:
    make_staff("admin", username="boss")
    body = client.get(
        "/api/v1/reports/retention?from=2025-01-01&to=2025-12-31",
        headers=api_headers(client, "boss", PASSWORD),
    ).get_json()
    assert body["points"][0] == {"day": 1, "retained": 1.0}
    assert all(0 <= p["retained"] <= 1 for p in body["points"])
    assert body["at_day_90"] == 0.5  # LOS 10 leaves after day 10; LOS 90 is in on day 90


def test_api_bad_range_is_422_in_the_error_shape(client) -> None:
    make_staff("admin", username="boss")
    response = client.get(
        "/api/v1/reports/discharges?from=2025-05-01&to=2025-01-01",
        headers=api_headers(client, "boss", PASSWORD),
    )
    assert response.status_code == 422
    assert "from" in response.get_json()["error"]["fields"]


def test_api_reports_refuse_counselors(client) -> None:
    make_staff("counselor", username="cora")
    response = client.get("/api/v1/reports/census", headers=api_headers(client, "cora", PASSWORD))
    assert response.status_code == 403


def test_report_views_and_exports_are_audited(client) -> None:
    import sqlalchemy as sa

    from casemgr.audit.models import AuditEvent

    sign_in(client, make_staff("admin"))
    client.get("/reports/census")
    client.get("/reports/census?format=csv")
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "report.view" in actions
    assert "report.export" in actions


def test_every_report_of_the_issue_has_a_page_and_an_api() -> None:
    """Guard against a report whose queries exist but which nobody can open."""
    assert set(REPORTS) == {
        "census",
        "length-of-stay",
        "retention",
        "stage-durations",
        "discharges",
        "caseload",
        "documentation",
        "education",
    }
