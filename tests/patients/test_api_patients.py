"""Patients through the JSON API: registration, search, care-team access, edits, audit."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.extensions import db
from casemgr.patients import mrn as mrn_rules
from casemgr.patients.models import Patient
from tests.conftest import api_headers
from tests.factories import PASSWORD, admit, make_patient, make_staff


def headers_for(client: Any, *roles: str) -> dict[str, str]:
    """Create a staff member with the roles and return bearer headers for them."""
    staff = make_staff(*roles)
    db.session.commit()
    return api_headers(client, staff.username, PASSWORD)


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


def events(action: str) -> list[AuditEvent]:
    """Return the audit events with an action, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def new_patient(**changes: Any) -> dict[str, Any]:
    """A valid POST /api/v1/patients body."""
    body = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": "1985-12-10",
        "sex": "F",
        "phone": "+1 (555) 010-0199",
        "email": "ada@example.org",
    }
    body.update(changes)
    return body


def search(client: Any, headers: dict[str, str], q: str | None = None) -> list[int]:
    """Search patients and return the ids found (checking the envelope)."""
    response = client.get("/api/v1/patients", query_string={"q": q} if q else {}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert body["total"] == len(body["items"])
    return sorted(item["id"] for item in body["items"])


@pytest.fixture
def intake(client):
    """Bearer headers of an intake worker."""
    return headers_for(client, "intake")


# --- registration ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["intake", "supervisor"])
def test_intake_and_supervisor_register_a_patient(client, role):
    headers = headers_for(client, role)
    response = client.post("/api/v1/patients", json=new_patient(), headers=headers)
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert len(body["mrn"]) == 8
    assert body["mrn"].isdigit()
    assert mrn_rules.is_valid(body["mrn"])
    assert {k: body[k] for k in new_patient()} == new_patient()
    assert body["version"] == 1
    assert db.session.get(Patient, body["id"]).mrn == body["mrn"]


def test_registration_trims_names_and_accepts_missing_contacts(client, intake):
    body = new_patient(first_name="  Ada ", last_name=" Lovelace")
    del body["phone"], body["email"]
    response = client.post("/api/v1/patients", json=body, headers=intake)
    assert response.status_code == 201
    created = response.get_json()
    assert (created["first_name"], created["last_name"]) == ("Ada", "Lovelace")
    assert (created["phone"], created["email"]) == (None, None)


def test_mrns_are_unique_across_many_registrations(client, intake):
    mrns = []
    for n in range(30):
        body = new_patient(first_name=f"Ada{n}", email=None, phone=None)
        response = client.post("/api/v1/patients", json=body, headers=intake)
        assert response.status_code == 201
        mrns.append(response.get_json()["mrn"])
    assert len(set(mrns)) == len(mrns)
    assert all(mrn_rules.is_valid(m) for m in mrns)


@pytest.mark.parametrize("role", ["counselor", "nurse", "physician", "admin"])
def test_roles_without_patient_create_get_403(client, role):
    headers = headers_for(client, role)
    response = client.post("/api/v1/patients", json=new_patient(), headers=headers)
    assert error_code(response, 403) == "forbidden"
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"date_of_birth": (date.today() + timedelta(days=400)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "1899-12-31"}, "date_of_birth"),
        ({"date_of_birth": "10/12/1985"}, "date_of_birth"),
        ({"sex": "female"}, "sex"),
        ({"sex": None}, "sex"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"last_name": "L" * 101}, "last_name"),
        ({"first_name": "A\x00da"}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"phone": "call me maybe"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"mrn": "12345678"}, "mrn"),
        ({"version": 3}, "version"),
    ],
)
def test_invalid_registration_is_422(client, intake, changes, field):
    response = client.post("/api/v1/patients", json=new_patient(**changes), headers=intake)
    assert field in field_errors(response)
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == 0


def test_future_date_of_birth_is_422(client, intake):
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.post(
        "/api/v1/patients", json=new_patient(date_of_birth=tomorrow), headers=intake
    )
    assert "date_of_birth" in field_errors(response)


def test_names_of_exactly_100_characters_are_accepted(client, intake):
    body = new_patient(first_name="A" * 100, last_name="L" * 100)
    response = client.post("/api/v1/patients", json=body, headers=intake)
    assert response.status_code == 201
    assert response.get_json()["last_name"] == "L" * 100


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["ada", "ADA", "dA", "lace", "LOVE", "ovel", "Ada"])
def test_search_matches_a_case_insensitive_part_of_first_or_last_name(client, intake, q):
    ada = make_patient(first_name="Ada", last_name="Lovelace")
    make_patient(first_name="Grace", last_name="Hopper")
    db.session.commit()
    assert search(client, intake, q) == [ada.id]


def test_search_matches_the_exact_mrn_only(client, intake):
    patient = make_patient()
    make_patient()
    db.session.commit()
    assert search(client, intake, patient.mrn) == [patient.id]
    assert search(client, intake, patient.mrn[:6]) == []
    assert search(client, intake, patient.mrn + "0") == []


def test_search_without_q_lists_everyone_for_all_patient_roles(client, intake):
    ids = sorted(make_patient().id for _ in range(3))
    db.session.commit()
    assert search(client, intake) == ids


@pytest.mark.parametrize(
    ("q", "expected"),
    [("%", "percent"), ("_", "underscore"), ("0%", "percent"), ("r_s", "underscore")],
)
def test_percent_and_underscore_in_q_are_literal(client, intake, q, expected):
    patients = {
        "percent": make_patient(first_name="Ann", last_name="Top10%"),
        "underscore": make_patient(first_name="Bob", last_name="Bar_sky"),
        "plain": make_patient(first_name="Cy", last_name="Barrsky"),
    }
    db.session.commit()
    assert search(client, intake, q) == [patients[expected].id]


def test_search_backslash_is_literal(client, intake):
    make_patient(first_name="Dee", last_name="Plain")
    slash = make_patient(first_name="Eve", last_name="Back\\slash")
    db.session.commit()
    assert search(client, intake, "\\") == [slash.id]


@pytest.mark.parametrize(
    ("name", "q"),
    [("JOSÉ", "josé"), ("Ölmez", "ölm"), ("Łukasz", "ŁUK")],
    ids=["e-acute", "o-umlaut", "l-stroke"],
)
def test_search_ignores_case_of_non_ascii_letters(client, intake, name, q):
    patient = make_patient(first_name=name, last_name="Nowak")
    db.session.commit()
    assert search(client, intake, q) == [patient.id]


def test_search_pages(client, intake):
    for n in range(5):
        make_patient(first_name=f"Pager{n}")
    db.session.commit()
    body = client.get("/api/v1/patients?q=pager&per_page=2&page=3", headers=intake).get_json()
    assert (body["page"], body["per_page"], body["total"], len(body["items"])) == (3, 2, 5, 1)


def test_counselor_search_finds_only_care_team_patients(client):
    counselor = make_staff("counselor", username="cora")
    other = make_staff("counselor")
    mine = admit(make_patient(last_name="Smith"), counselor).patient_id
    shared_episode = admit(make_patient(last_name="Smithers"), other)
    episode_services.add_to_care_team(other, shared_episode, counselor)
    theirs = admit(make_patient(last_name="Smithson"), other).patient_id
    unadmitted = make_patient(last_name="Smithy").id
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    assert search(client, headers) == sorted([mine, shared_episode.patient_id])
    assert search(client, headers, "smith") == sorted([mine, shared_episode.patient_id])
    theirs_mrn = db.session.get(Patient, theirs).mrn
    assert search(client, headers, theirs_mrn) == []
    assert unadmitted not in search(client, headers, "smithy")


def test_search_is_audited(client, intake):
    make_patient()
    db.session.commit()
    search(client, intake, "pat")
    assert len(events("patient.search")) == 1


def test_admin_cannot_search_patients(client):
    headers = headers_for(client, "admin")
    assert error_code(client.get("/api/v1/patients", headers=headers), 403) == "forbidden"


# --- reading one patient --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "physician", "nurse", "intake"])
def test_all_patient_roles_open_any_patient(client, role):
    patient = make_patient(first_name="Ada")
    headers = headers_for(client, role)
    response = client.get(f"/api/v1/patients/{patient.id}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["mrn"], body["first_name"]) == (patient.id, patient.mrn, "Ada")


def test_counselor_opens_patients_on_their_care_team(client):
    counselor = make_staff("counselor", username="cora")
    other = make_staff("counselor")
    mine = admit(make_patient(), counselor)
    shared = admit(make_patient(), other)
    episode_services.add_to_care_team(other, shared, counselor)
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    for episode in (mine, shared):
        response = client.get(f"/api/v1/patients/{episode.patient_id}", headers=headers)
        assert response.status_code == 200


def test_counselor_gets_403_on_another_counselors_patient_and_it_is_audited(client):
    counselor = make_staff("counselor", username="cora")
    other = make_staff("counselor")
    patient_id = admit(make_patient(), other).patient_id
    db.session.commit()
    headers = api_headers(client, "cora", PASSWORD)
    response = client.get(f"/api/v1/patients/{patient_id}", headers=headers)
    assert error_code(response, 403) == "forbidden"
    (denied,) = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.actor_id == counselor.id, AuditEvent.outcome == "denied"
        )
    ).all()
    assert denied.patient_id == patient_id
    assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", denied.action), repr(denied.action)


def test_admin_cannot_open_a_patient(client):
    patient = make_patient()
    headers = headers_for(client, "admin")
    response = client.get(f"/api/v1/patients/{patient.id}", headers=headers)
    assert error_code(response, 403) == "forbidden"


def test_unknown_patient_is_404(client, intake):
    assert error_code(client.get("/api/v1/patients/424242", headers=intake), 404) == "not_found"


# --- editing --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["intake", "supervisor"])
def test_intake_and_supervisor_edit_demographics_and_version_advances(client, role):
    patient = make_patient(first_name="Ada", phone="555-0100")
    headers = headers_for(client, role)
    url = f"/api/v1/patients/{patient.id}"
    response = client.patch(
        url, json={"last_name": "Byron", "phone": None, "version": 1}, headers=headers
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Ada", "Byron", None)
    assert body["version"] == 2
    assert body["mrn"] == patient.mrn
    assert client.get(url, headers=headers).get_json()["last_name"] == "Byron"


def test_edit_without_version_is_accepted(client, intake):
    patient = make_patient()
    db.session.commit()
    response = client.patch(f"/api/v1/patients/{patient.id}", json={"sex": "X"}, headers=intake)
    assert response.status_code == 200
    assert response.get_json()["sex"] == "X"


def test_stale_version_is_409_and_changes_nothing(client, intake):
    patient = make_patient(first_name="Ada")
    db.session.commit()
    url = f"/api/v1/patients/{patient.id}"
    first = client.patch(url, json={"first_name": "Augusta", "version": 1}, headers=intake)
    assert first.status_code == 200
    response = client.patch(url, json={"first_name": "Countess", "version": 1}, headers=intake)
    assert error_code(response, 409) == "conflict"
    body = client.get(url, headers=intake).get_json()
    assert (body["first_name"], body["version"]) == ("Augusta", 2)


def test_stale_version_with_an_invalid_field_is_422_not_409(client, intake):
    patient = make_patient()
    db.session.commit()
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={"first_name": "A" * 101, "version": 7},
        headers=intake,
    )
    assert "first_name" in field_errors(response)


def test_stale_version_with_a_future_date_of_birth_is_422_not_409(client, intake):
    patient = make_patient()
    db.session.commit()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.patch(
        f"/api/v1/patients/{patient.id}",
        json={"date_of_birth": tomorrow, "version": 7},
        headers=intake,
    )
    assert "date_of_birth" in field_errors(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date_of_birth": (date.today() + timedelta(days=400)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
        ({"mrn": "12345678"}, "mrn"),
        ({"first_name": None}, "first_name"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"last_name": "Nul\x00"}, "last_name"),
        ({"version": 2.5}, "version"),
        ({"version": True}, "version"),
        ({"version": 0}, "version"),
        ({"version": "1"}, "version"),
    ],
)
def test_invalid_edit_is_422(client, intake, body, field):
    patient = make_patient()
    db.session.commit()
    response = client.patch(f"/api/v1/patients/{patient.id}", json=body, headers=intake)
    assert field in field_errors(response)
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).version == 1


def test_future_date_of_birth_edit_is_422(client, intake):
    patient = make_patient()
    db.session.commit()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.patch(
        f"/api/v1/patients/{patient.id}", json={"date_of_birth": tomorrow}, headers=intake
    )
    assert "date_of_birth" in field_errors(response)


@pytest.mark.parametrize("role", ["counselor", "nurse", "physician", "admin"])
def test_roles_without_patient_edit_get_403_even_on_their_own_patients(client, role):
    staff = make_staff(role)
    patient = make_patient(first_name="Ada")
    if role == "counselor":
        admit(patient, staff)
    db.session.commit()
    headers = api_headers(client, staff.username, PASSWORD)
    response = client.patch(
        f"/api/v1/patients/{patient.id}", json={"first_name": "Eve"}, headers=headers
    )
    assert error_code(response, 403) == "forbidden"
    db.session.expire_all()
    assert db.session.get(Patient, patient.id).first_name == "Ada"


def test_editing_an_unknown_patient_is_404(client, intake):
    response = client.patch("/api/v1/patients/424242", json={"sex": "U"}, headers=intake)
    assert error_code(response, 404) == "not_found"


# --- audit ----------------------------------------------------------------------------------


def test_create_view_and_update_each_write_an_audit_event_for_the_patient(client):
    staff = make_staff("intake", username="ivy")
    db.session.commit()
    headers = api_headers(client, "ivy", PASSWORD)
    created = client.post("/api/v1/patients", json=new_patient(), headers=headers).get_json()
    url = f"/api/v1/patients/{created['id']}"
    assert client.get(url, headers=headers).status_code == 200
    assert client.patch(url, json={"sex": "U"}, headers=headers).status_code == 200
    for action in ("patient.create", "patient.view", "patient.update"):
        (event,) = events(action)
        assert event.patient_id == created["id"], action
        assert event.actor_id == staff.id, action
        assert event.outcome == "success", action
        assert event.object_type == "patients", action
        assert event.object_id == created["id"], action


def test_refused_registration_writes_no_patient_event(client, intake):
    client.post("/api/v1/patients", json=new_patient(sex="?"), headers=intake)
    assert events("patient.create") == []
