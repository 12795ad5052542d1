"""TEDS extracts: codes only, -9 for missing, the Part 2 notice, audited as a disclosure."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.audit.services import REDISCLOSURE_NOTICE
from casemgr.episodes import services
from casemgr.extensions import db
from tests.conftest import api_headers
from tests.factories import PASSWORD, make_patient, make_staff
from tests.pages_helpers import sign_in


@pytest.fixture
def episodes():
    counselor = make_staff("counselor")
    young = make_patient(date_of_birth=date(2008, 6, 1), sex="M", first_name="Secret")
    older = make_patient(date_of_birth=date(1960, 1, 15), sex="X")
    first = services.admit(
        counselor,
        young,
        admitted_on=date(2025, 3, 10),
        primary_counselor_id=counselor.id,
        primary_substance=13,
        referral_source=7,
        service_setting=5,
        route=1,
        frequency=3,
        days_waiting=12,
        secondary_substance=-9,
    )
    second = services.admit(
        counselor,
        older,
        admitted_on=date(2025, 4, 2),
        primary_counselor_id=counselor.id,
        primary_substance=2,
        referral_source=1,
        service_setting=7,
    )
    services.discharge(
        counselor,
        first,
        discharged_on=date(2025, 6, 20),
        reason=1,
        service_setting=7,
        frequency_at_discharge=1,
    )
    db.session.commit()
    return first, second


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_admissions_extract_codes_and_missing_values(client, episodes) -> None:
    first, second = episodes
    make_staff("supervisor", username="sup")
    response = client.get(
        "/api/v1/exports/teds?kind=admissions&from=2025-01-01&to=2025-12-31",
        headers=api_headers(client, "sup", PASSWORD),
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = _rows(response.get_data(as_text=True))
    assert rows[0] == [f"# {REDISCLOSURE_NOTICE}"]
    header, data = rows[2], rows[3:]
    record = dict(zip(header, data[0], strict=True))
    assert record["CASEID"] == str(first.id)
    assert (record["ADMYR"], record["ADMMONTH"]) == ("2025", "3")
    assert record["AGE"] == "2"  # 16 on admission -> 15–17
    assert record["GENDER"] == "1"
    assert (record["SERVICES"], record["PSOURCE"], record["SUB1"]) == ("5", "7", "13")
    assert (record["SUB2"], record["SUB3"], record["NOPRIOR"]) == ("-9", "-9", "-9")
    assert record["DAYWAIT"] == "2"  # 12 days -> 8–14
    second_record = dict(zip(header, data[1], strict=True))
    assert second_record["GENDER"] == "-9"  # X has no TEDS code
    assert second_record["AGE"] == "12"  # 65 on admission -> 65 and over
    assert "Secret" not in response.get_data(as_text=True)


def test_discharges_extract_has_reason_and_los_band(client, episodes) -> None:
    first, _ = episodes
    sign_in(client, make_staff("admin"))
    response = client.get("/reports/teds?kind=discharges&from=2025-06-01&to=2025-06-30")
    rows = _rows(response.get_data(as_text=True))
    record = dict(zip(rows[2], rows[3], strict=True))
    assert len(rows) == 4
    assert record["REASON"] == "1"
    assert record["LOS"] == "34"  # 103 days -> 91–120
    assert (record["SERVICES_D"], record["FREQ1_D"]) == ("7", "1")


def test_extract_is_audited_as_a_disclosure(client, episodes) -> None:
    sign_in(client, make_staff("admin"))
    client.get("/reports/teds?kind=admissions&from=2025-01-01&to=2025-12-31")
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "export.teds_admissions" in actions
    from casemgr.audit.models import Disclosure

    disclosures = db.session.scalars(sa.select(Disclosure)).all()
    assert sorted(d.patient_id for d in disclosures) == sorted(e.patient_id for e in episodes)
    assert {d.kind for d in disclosures} == {"teds_extract"}
    assert {d.legal_basis for d in disclosures} == {"state_reporting"}


def test_bad_kind_or_range_is_explained(client) -> None:
    sign_in(client, make_staff("admin"))
    response = client.get("/reports/teds?kind=everything&from=2025-01-01")
    assert response.status_code == 422
    assert "Choose admissions or discharges" in response.get_data(as_text=True)
    response = client.get("/reports/teds?kind=admissions&from=2025-05-01&to=2025-01-01")
    assert response.status_code == 422
