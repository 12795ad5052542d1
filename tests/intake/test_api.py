"""Admissions and insurance through the JSON API: the whole path from call to episode."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.timeutil import today
from casemgr.extensions import db
from casemgr.intake.models import Inquiry
from tests.conftest import api_headers
from tests.factories import PASSWORD, admit, make_patient, make_staff
from tests.intake.builders import make_authorization, make_coverage, make_inquiry


def headers(client: Any, *roles: str) -> tuple[Any, dict[str, str]]:
    """Create a staff member and return them with bearer headers."""
    staff = make_staff(*roles)
    db.session.commit()
    return staff, api_headers(client, staff.username, PASSWORD)


def error(response: Any, status: int) -> dict[str, Any]:
    """Check the status and error shape; return the error object."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()["error"]


CALL = {
    "first_name": "Jordan",
    "last_name": "Reyes",
    "phone": "+1 (555) 010-7788 x12",
    "date_of_birth": "1986-04-02",
    "referral_source": 3,
    "primary_substance": 2,
    "urgency": "urgent",
}


def test_inquiry_to_episode_through_the_api(client) -> None:
    intake, h = headers(client, "intake")
    counselor = make_staff("counselor")
    body = {**CALL, "first_contact_on": (today() - timedelta(days=6)).isoformat()}
    created = client.post("/api/v1/inquiries", json=body, headers=h)
    assert created.status_code == 201, created.get_json()
    inquiry = created.get_json()
    assert (inquiry["status"], inquiry["suggests_medical_detox"]) == ("inquiry", False)
    assert inquiry["phone"] == CALL["phone"]  # kept as typed
    url = f"/api/v1/inquiries/{inquiry['id']}"
    assert client.post(f"{url}/status", json={"status": "screening"}, headers=h).status_code == 200
    screened = client.post(
        f"{url}/screening",
        json={"frequency": 3, "withdrawal_history": True, "withdrawal_seizures": True},
        headers=h,
    )
    assert screened.status_code == 200
    answer = screened.get_json()
    assert answer["suggests_medical_detox"] is True
    assert [r["code"] for r in answer["detox_reasons"]] == ["withdrawal_seizures", "daily_alcohol"]
    waitlisted = client.post(f"{url}/status", json={"status": "waitlist"}, headers=h)
    assert waitlisted.get_json()["status"] == "waitlist"
    waitlist = client.get("/api/v1/waitlist", headers=h).get_json()
    assert [i["id"] for i in waitlist["items"]] == [inquiry["id"]]
    admitted = client.post(
        f"{url}/admit",
        json={
            "admitted_on": today().isoformat(),
            "primary_counselor_id": counselor.id,
            "service_setting": 2,
        },
        headers=h,
    )
    assert admitted.status_code == 201, admitted.get_json()
    episode = admitted.get_json()
    assert episode["days_waiting"] == 6
    assert (episode["primary_substance"], episode["referral_source"], episode["frequency"]) == (
        2,
        3,
        3,
    )
    assert episode["service_setting"] == 2
    final = client.get(url, headers=h).get_json()
    assert (final["status"], final["episode_id"], final["patient_id"]) == (
        "admitted",
        episode["id"],
        episode["patient_id"],
    )
    assert [row["to_status"] for row in final["history"]] == [
        "inquiry",
        "screening",
        "waitlist",
        "admitted",
    ]
    assert all(row["by_id"] == intake.id for row in final["history"])
    actions = set(
        db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_id == intake.id))
    )
    assert {"inquiry.create", "inquiry.status", "inquiry.screen", "inquiry.admit"} <= actions
    assert {"patient.create", "episode.create", "inquiry.view"} <= actions


def test_screening_given_on_the_first_call(client) -> None:
    _, h = headers(client, "intake")
    body = {
        **CALL,
        "primary_substance": 5,
        "screening": {"pregnant": True, "frequency": 2, "legal_status": "probation"},
    }
    response = client.post("/api/v1/inquiries", json=body, headers=h)
    assert response.status_code == 201
    data = response.get_json()
    assert data["status"] == "inquiry"
    assert data["screening"]["legal_status"] == "probation"
    assert [r["code"] for r in data["detox_reasons"]] == ["pregnancy_opioid"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "12-34"}, "phone"),
        ({"urgency": "whenever"}, "urgency"),
        ({"referral_source": -9}, "referral_source"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"date_of_birth": "1986-02-30"}, "date_of_birth"),
        ({"screening": {"frequency": 7}}, "screening"),
        ({"screening": {"seizures": True}}, "screening"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_inquiry_input_is_a_field_error(client, changes: dict[str, Any], field: str) -> None:
    _, h = headers(client, "intake")
    response = client.post("/api/v1/inquiries", json={**CALL, **changes}, headers=h)
    assert field in error(response, 422)["fields"]


@pytest.mark.parametrize(
    "phone", ["555-0100-22", "(555) 010 2000", "+44 20 7946 0958", "555.010.2000 ext. 4"]
)
def test_odd_phone_formats_are_kept_as_typed(client, phone: str) -> None:
    _, h = headers(client, "intake")
    response = client.post("/api/v1/inquiries", json={**CALL, "phone": phone}, headers=h)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone"] == phone


def test_future_dates_are_field_errors(client) -> None:
    _, h = headers(client, "intake")
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.post("/api/v1/inquiries", json={**CALL, "date_of_birth": tomorrow}, headers=h)
    assert "date_of_birth" in error(response, 422)["fields"]
    response = client.post(
        "/api/v1/inquiries", json={**CALL, "screening": {"last_use_on": tomorrow}}, headers=h
    )
    assert "screening.last_use_on" in error(response, 422)["fields"]


def test_move_the_pipeline_refuses_is_409_and_missing_reason_is_422(client) -> None:
    _, h = headers(client, "intake")
    inquiry = make_inquiry()
    url = f"/api/v1/inquiries/{inquiry.id}/status"
    response = client.post(url, json={"status": "waitlist"}, headers=h)
    assert error(response, 409)["code"] == "conflict"
    response = client.post(url, json={"status": "declined"}, headers=h)
    assert "reason" in error(response, 422)["fields"]
    response = client.post(url, json={"status": "admitted"}, headers=h)
    assert "status" in error(response, 422)["fields"]
    ok = client.post(url, json={"status": "declined", "reason": "not ready"}, headers=h)
    assert ok.status_code == 200
    response = client.post(url, json={"status": "screening", "reason": "changed mind"}, headers=h)
    error(response, 409)


def test_admission_from_a_declined_inquiry_is_409(client) -> None:
    _, h = headers(client, "intake")
    inquiry = make_inquiry(
        status="declined", primary_substance=2, date_of_birth=today().replace(year=1980)
    )
    response = client.post(
        f"/api/v1/inquiries/{inquiry.id}/admit",
        json={
            "admitted_on": today().isoformat(),
            "primary_counselor_id": make_staff("counselor").id,
            "service_setting": 5,
        },
        headers=h,
    )
    assert "closed" in error(response, 409)["message"]


def test_duplicate_patient_is_offered_with_candidates(client) -> None:
    _, h = headers(client, "intake")
    counselor = make_staff("counselor")
    existing = make_patient(
        first_name="Jordan",
        last_name="Reyes",
        date_of_birth=today().replace(year=1986, month=4, day=2),
    )
    inquiry = make_inquiry(
        status="waitlist",
        first_name="jordan",
        last_name="REYES",
        date_of_birth=existing.date_of_birth,
        primary_substance=2,
    )
    body = {
        "admitted_on": today().isoformat(),
        "primary_counselor_id": counselor.id,
        "service_setting": 5,
    }
    url = f"/api/v1/inquiries/{inquiry.id}/admit"
    response = client.post(url, json=body, headers=h)
    err = error(response, 409)
    assert err["candidates"] == [
        {
            "id": existing.id,
            "mrn": existing.mrn,
            "first_name": "Jordan",
            "last_name": "Reyes",
            "date_of_birth": existing.date_of_birth.isoformat(),
        }
    ]
    response = client.post(url, json={**body, "patient_id": existing.id}, headers=h)
    assert response.status_code == 201
    assert response.get_json()["patient_id"] == existing.id


def test_admission_with_an_unknown_patient_id_is_422(client) -> None:
    _, h = headers(client, "intake")
    inquiry = make_inquiry(status="waitlist", primary_substance=2)
    response = client.post(
        f"/api/v1/inquiries/{inquiry.id}/admit",
        json={
            "admitted_on": today().isoformat(),
            "primary_counselor_id": make_staff("counselor").id,
            "service_setting": 5,
            "patient_id": 2_000_000_000,
        },
        headers=h,
    )
    assert "patient_id" in error(response, 422)["fields"]


def test_list_filters_by_status_and_overdue(client) -> None:
    _, h = headers(client, "intake")
    due = make_inquiry(follow_up_on=today() - timedelta(days=1), days_ago=4)
    waiting = make_inquiry(status="waitlist")
    listed = client.get("/api/v1/inquiries?status=waitlist", headers=h).get_json()
    assert [i["id"] for i in listed["items"]] == [waiting.id]
    overdue = client.get("/api/v1/inquiries?overdue=true", headers=h).get_json()
    assert [i["id"] for i in overdue["items"]] == [due.id]
    assert overdue["items"][0]["overdue"] is True
    assert error(client.get("/api/v1/inquiries?status=nope", headers=h), 422)


def test_places_set_by_admin_and_read_by_intake(client) -> None:
    _, admin_h = headers(client, "admin")
    _, intake_h = headers(client, "intake")
    admit(make_patient(), make_staff("counselor"), service_setting=4)
    response = client.put("/api/v1/places/inpatient", json={"capacity": 1}, headers=admin_h)
    assert response.get_json() == {
        "category": "inpatient",
        "capacity": 1,
        "occupied": 1,
        "free": 0,
        "waiting": 0,
        "full": True,
    }
    assert error(
        client.put("/api/v1/places/inpatient", json={"capacity": -2}, headers=admin_h), 422
    )
    assert error(client.put("/api/v1/places/attic", json={"capacity": 2}, headers=admin_h), 422)
    assert error(
        client.put("/api/v1/places/inpatient", json={"capacity": 2}, headers=intake_h), 403
    )
    items = client.get("/api/v1/places", headers=intake_h).get_json()["items"]
    assert [i["category"] for i in items] == ["inpatient", "outpatient"]


def test_coverage_verification_and_status_views(client) -> None:
    _, h = headers(client, "intake")
    counselor = make_staff("counselor")
    patient = make_patient()
    episode = admit(patient, counselor)
    response = client.post(
        f"/api/v1/patients/{patient.id}/coverages",
        json={
            "payer": "Blue Ridge",
            "member_id": "w1234 5678-01",
            "group_id": "G-77",
            "priority": "primary",
        },
        headers=h,
    )
    assert response.status_code == 201, response.get_json()
    coverage = response.get_json()
    assert (coverage["member_id"], coverage["status"]) == ("w1234 5678-01", "unverified")
    second = client.post(
        f"/api/v1/patients/{patient.id}/coverages",
        json={"payer": "Other", "member_id": "99887766", "priority": "primary"},
        headers=h,
    )
    assert "priority" in error(second, 409)["fields"]
    bad_member = client.post(
        f"/api/v1/patients/{patient.id}/coverages",
        json={"payer": "Other", "member_id": "???", "priority": "secondary"},
        headers=h,
    )
    assert "member_id" in error(bad_member, 422)["fields"]
    url = f"/api/v1/coverages/{coverage['id']}/verifications"
    future = client.post(
        url,
        json={"status": "verified", "verified_on": (today() + timedelta(days=1)).isoformat()},
        headers=h,
    )
    assert "verified_on" in error(future, 422)["fields"]
    cents = client.post(
        url,
        json={"status": "verified", "verified_on": today().isoformat(), "copay": 10.555},
        headers=h,
    )
    assert "copay" in error(cents, 422)["fields"]
    verified = client.post(
        url,
        json={
            "status": "verified",
            "verified_on": today().isoformat(),
            "deductible": 1500,
            "deductible_met": 250.5,
            "out_of_pocket_max": 6000,
            "copay": 30,
            "covers_residential": True,
            "covers_outpatient": True,
            "prior_auth_required": True,
        },
        headers=h,
    )
    assert verified.status_code == 201, verified.get_json()
    assert (verified.get_json()["deductible"], verified.get_json()["deductible_met"]) == (
        1500,
        250.5,
    )
    detail = client.get(f"/api/v1/patients/{patient.id}/coverages", headers=h).get_json()
    assert detail["items"][0]["status"] == "verified"
    assert detail["items"][0]["latest_verification"]["out_of_pocket_max"] == 6000
    # The counselor sees the status, never the money or the member id.
    counselor_h = api_headers(client, counselor.username, PASSWORD)
    status = client.get(f"/api/v1/patients/{patient.id}/coverage-status", headers=counselor_h)
    assert status.get_json()["items"] == [
        {
            "payer": "Blue Ridge",
            "priority": "primary",
            "status": "verified",
            "verified_on": today().isoformat(),
        }
    ]
    assert "1500" not in status.get_data(as_text=True)
    assert error(client.get(f"/api/v1/patients/{patient.id}/coverages", headers=counselor_h), 403)
    assert error(
        client.post(
            url, json={"status": "pending", "verified_on": today().isoformat()}, headers=counselor_h
        ),
        403,
    )
    # Authorizations
    auth_url = f"/api/v1/episodes/{episode.id}/authorizations"
    backwards = client.post(
        auth_url,
        json={
            "level": 5,
            "number": "A1",
            "approved_days": 10,
            "starts_on": today().isoformat(),
            "ends_on": (today() - timedelta(days=1)).isoformat(),
        },
        headers=h,
    )
    assert "ends_on" in error(backwards, 422)["fields"]
    created = client.post(
        auth_url,
        json={
            "level": 5,
            "number": "A1",
            "approved_days": 3,
            "starts_on": today().isoformat(),
            "ends_on": (today() + timedelta(days=2)).isoformat(),
        },
        headers=h,
    )
    assert created.status_code == 201
    review = client.get("/api/v1/authorizations?ending_within_days=3", headers=h).get_json()
    assert [(i["id"], i["days_left"], i["days_used"], i["exceeded"]) for i in review["items"]] == [
        (created.get_json()["id"], 2, 1, False)
    ]
    assert (
        client.get("/api/v1/authorizations?ending_within_days=1", headers=h).get_json()["total"]
        == 0
    )
    assert error(client.get("/api/v1/authorizations?ending_within_days=-1", headers=h), 422)


def test_unverified_coverage_list(client) -> None:
    _, h = headers(client, "intake")
    counselor = make_staff("counselor")
    pending = admit(make_patient(), counselor)
    make_coverage(pending.patient)
    listed = client.get("/api/v1/unverified-coverage", headers=h).get_json()
    assert [(i["episode_id"], i["coverage_statuses"]) for i in listed["items"]] == [
        (pending.id, ["unverified"])
    ]


def test_authorizations_of_a_discharged_episode_are_refused(client) -> None:
    from casemgr.episodes import services as episode_services

    _, h = headers(client, "intake")
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=3)
    make_authorization(episode)
    episode_services.discharge(counselor, episode, discharged_on=today(), reason=1)
    db.session.commit()
    response = client.post(
        f"/api/v1/episodes/{episode.id}/authorizations",
        json={
            "level": 5,
            "number": "A2",
            "approved_days": 3,
            "starts_on": today().isoformat(),
            "ends_on": today().isoformat(),
        },
        headers=h,
    )
    error(response, 409)


def test_funnel_report_json_and_csv(client) -> None:
    _, h = headers(client, "supervisor")
    make_inquiry(days_ago=2)
    make_inquiry(status="waitlist", days_ago=1)
    make_inquiry(status="lost_contact", days_ago=1)
    frm, to = (today() - timedelta(days=7)).isoformat(), today().isoformat()
    data = client.get(f"/api/v1/reports/inquiry-funnel?from={frm}&to={to}", headers=h).get_json()
    assert (data["inquiries"], data["screened"], data["waitlisted"], data["admitted"]) == (
        3,
        1,
        1,
        0,
    )
    assert data["lost"] == {"referred_out": 0, "declined": 0, "lost_contact": 1}
    assert data["screened_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert (data["from"], data["to"]) == (frm, to)
    response = client.get(
        f"/api/v1/reports/inquiry-funnel?from={frm}&to={to}&format=csv", headers=h
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["stage", "count", "share of inquiries"]
    assert rows[1:5] == [
        ["Inquiries", "3", ""],
        ["Screened", "1", "33.3%"],
        ["Waitlisted", "1", "33.3%"],
        ["Admitted", "0", "0.0%"],
    ]
    assert error(client.get(f"/api/v1/reports/inquiry-funnel?from={to}&to={frm}", headers=h), 422)
    _, intake_h = headers(client, "intake")
    assert error(client.get("/api/v1/reports/inquiry-funnel", headers=intake_h), 403)
    exported = db.session.scalar(
        sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "report.export")
    )
    assert exported == 1


def test_openapi_describes_the_admissions_endpoints(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/inquiries",
        "/api/v1/inquiries/{inquiry_id}/status",
        "/api/v1/inquiries/{inquiry_id}/admit",
        "/api/v1/patients/{patient_id}/coverages",
        "/api/v1/coverages/{coverage_id}/verifications",
        "/api/v1/episodes/{episode_id}/authorizations",
        "/api/v1/authorizations",
        "/api/v1/reports/inquiry-funnel",
    ):
        assert path in paths


def test_inquiry_unknown_id_is_404(client) -> None:
    _, h = headers(client, "intake")
    assert error(client.get("/api/v1/inquiries/999999", headers=h), 404)
    assert error(client.get("/api/v1/inquiries/9999999999", headers=h), 404)
    assert db.session.scalar(sa.select(sa.func.count(Inquiry.id))) == 0
