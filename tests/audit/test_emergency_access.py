"""Break the glass: a counselor outside the care team states a reason and gets 4 hours."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casemgr.audit.models import AuditEvent, EmergencyAccess
from casemgr.core.db import utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from tests.conftest import api_headers, post_form
from tests.factories import PASSWORD, admit, make_emergency_grant, make_patient, make_staff
from tests.pages_helpers import sign_in

REASON = "On call tonight; patient called the crisis line and asked for her counselor"


def _outsider_and_patient() -> tuple:
    own = make_staff("counselor")
    outsider = make_staff("counselor")
    patient = make_patient()
    admit(patient, own, days_ago=5)
    return outsider, patient


def _actions(patient_id: int) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.id)
        )
    )


def test_refused_chart_offers_emergency_access_to_counselors(client) -> None:
    outsider, patient = _outsider_and_patient()
    sign_in(client, outsider)
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert f"/emergency-access/request/{patient.id}" in body
    assert patient.last_name not in body  # the refusal itself shows nothing of the chart
    assert "chart.access_denied" in _actions(patient.id)


def test_counselor_gets_four_hours_with_a_reason_and_it_is_audited(client) -> None:
    outsider, patient = _outsider_and_patient()
    sign_in(client, outsider)
    url = f"/emergency-access/request/{patient.id}"
    response = post_form(client, url, {"reason": REASON})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/patients/{patient.id}")
    grant = db.session.scalars(sa.select(EmergencyAccess)).one()
    assert grant.staff_id == outsider.id
    assert grant.reason == REASON
    assert (
        timedelta(hours=3, minutes=59) < grant.expires_at - grant.granted_at <= timedelta(hours=4)
    )
    assert client.get(f"/patients/{patient.id}").status_code == 200
    assert {"emergency_access.grant", "patient.view"} <= set(_actions(patient.id))


def test_short_reason_is_refused_with_a_field_message(client) -> None:
    outsider, patient = _outsider_and_patient()
    sign_in(client, outsider)
    response = post_form(client, f"/emergency-access/request/{patient.id}", {"reason": "need"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "at least 10" in body or "Length must be between" in body
    assert ">need</textarea>" in body
    assert db.session.scalar(sa.select(sa.func.count(EmergencyAccess.id))) == 0


def test_grant_expires_after_four_hours(client) -> None:
    outsider, patient = _outsider_and_patient()
    make_emergency_grant(outsider, patient, hours_ago=5)
    sign_in(client, outsider)
    assert client.get(f"/patients/{patient.id}").status_code == 403


def test_grant_covers_only_its_own_patient_and_person(client) -> None:
    outsider, patient = _outsider_and_patient()
    other_outsider, other_patient = _outsider_and_patient()
    make_emergency_grant(outsider, patient)
    sign_in(client, outsider)
    assert client.get(f"/patients/{other_patient.id}").status_code == 403
    sign_in(client, other_outsider)
    assert client.get(f"/patients/{patient.id}").status_code == 403


def test_own_care_team_needs_no_emergency_access(client) -> None:
    own = make_staff("counselor")
    patient = make_patient()
    admit(patient, own)
    sign_in(client, own)
    response = post_form(client, f"/emergency-access/request/{patient.id}", {"reason": REASON})
    assert response.status_code == 422
    assert "already open this chart" in response.get_data(as_text=True)


def test_supervisor_reviews_grants_once_and_not_their_own(client) -> None:
    outsider, patient = _outsider_and_patient()
    grant = make_emergency_grant(outsider, patient)
    supervisor = make_staff("supervisor")
    sign_in(client, supervisor)
    listing = client.get("/emergency-access").get_data(as_text=True)
    assert grant.reason in listing
    assert patient.display_name in listing
    response = post_form(
        client,
        "/emergency-access",
        {"review_note": "Appropriate"},
        action=f"/emergency-access/{grant.id}/review",
    )
    assert response.status_code == 302
    db.session.refresh(grant)
    assert grant.reviewed_by_id == supervisor.id
    assert grant.review_note == "Appropriate"
    assert "emergency_access.review" in _actions(patient.id)
    assert grant.reason not in client.get("/emergency-access").get_data(as_text=True)
    assert grant.reason in client.get("/emergency-access?all=1").get_data(as_text=True)
    again = post_form(
        client, "/emergency-access", {}, action=f"/emergency-access/{grant.id}/review"
    )
    assert again.status_code == 302
    assert "already reviewed" in client.get("/emergency-access").get_data(as_text=True)


def test_counselors_cannot_review(client) -> None:
    outsider, patient = _outsider_and_patient()
    grant = make_emergency_grant(outsider, patient)
    sign_in(client, outsider)
    assert client.get("/emergency-access").status_code == 403
    token_page = client.get(f"/emergency-access/request/{patient.id}")
    assert token_page.status_code == 200
    response = post_form(
        client,
        f"/emergency-access/request/{patient.id}",
        {},
        action=f"/emergency-access/{grant.id}/review",
    )
    assert response.status_code == 403


def test_api_grant_and_review(client) -> None:
    outsider, patient = _outsider_and_patient()
    make_staff("supervisor", username="sue")
    outsider_headers = api_headers(client, outsider.username, PASSWORD)
    assert client.get(f"/api/v1/patients/{patient.id}", headers=outsider_headers).status_code == 403
    response = client.post(
        "/api/v1/emergency-access",
        json={"patient_id": patient.id, "reason": REASON},
        headers=outsider_headers,
    )
    assert response.status_code == 201, response.get_json()
    grant = response.get_json()
    assert client.get(f"/api/v1/patients/{patient.id}", headers=outsider_headers).status_code == 200
    sue = api_headers(client, "sue", PASSWORD)
    listed = client.get("/api/v1/emergency-access", headers=sue).get_json()
    assert [g["id"] for g in listed["items"]] == [grant["id"]]
    reviewed = client.post(
        f"/api/v1/emergency-access/{grant['id']}/review", json={"review_note": "ok"}, headers=sue
    )
    assert reviewed.status_code == 200
    assert reviewed.get_json()["reviewed_at"] is not None
    twice = client.post(f"/api/v1/emergency-access/{grant['id']}/review", json={}, headers=sue)
    assert twice.status_code == 409


def test_api_refuses_missing_reason_and_unknown_patient(client) -> None:
    outsider, patient = _outsider_and_patient()
    headers = api_headers(client, outsider.username, PASSWORD)
    bad = client.post("/api/v1/emergency-access", json={"patient_id": patient.id}, headers=headers)
    assert bad.status_code == 422
    assert "reason" in bad.get_json()["error"]["fields"]
    missing = client.post(
        "/api/v1/emergency-access",
        json={"patient_id": 2**31 - 1, "reason": REASON},
        headers=headers,
    )
    assert missing.status_code == 404


def test_expired_grant_still_listed_for_review(client) -> None:
    outsider, patient = _outsider_and_patient()
    grant = make_emergency_grant(outsider, patient, hours_ago=30)
    assert grant.expires_at < utcnow()
    sign_in(client, make_staff("supervisor"))
    assert grant.reason in client.get("/emergency-access").get_data(as_text=True)


def test_emergency_access_reads_but_never_writes(client) -> None:
    outsider, patient = _outsider_and_patient()
    make_emergency_grant(outsider, patient)
    episode = db.session.scalars(sa.select(Episode).where(Episode.patient_id == patient.id)).one()
    headers = api_headers(client, outsider.username, PASSWORD)
    assert client.get(f"/api/v1/episodes/{episode.id}", headers=headers).status_code == 200
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge",
        json={"discharged_on": episode.admitted_on.isoformat(), "reason": 1},
        headers=headers,
    )
    assert response.status_code == 403
    db.session.refresh(episode)
    assert episode.status == "active"
