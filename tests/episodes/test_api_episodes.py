"""Episodes through the JSON API: admission, length-of-stay figures, lists, history, discharge."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.db import utcnow
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff
from casemgr.therapy.models import TherapySession
from tests.conftest import api_headers
from tests.factories import PASSWORD, admit, make_patient, make_staff

#: Every field shared/API.md lists for an episode.
CONTRACT_FIELDS = {
    "id",
    "patient_id",
    "status",
    "stage",
    "admitted_on",
    "discharged_on",
    "discharge_reason",
    "primary_counselor_id",
    "los_target_days",
    "day_of_stay",
    "target_date",
    "days_remaining",
    "los_days",
    "met_target",
    "level_of_care",
    "at_risk",
    "days_waiting",
}


def headers_of(client: Any, staff: Staff) -> dict[str, str]:
    """Commit pending test data and return bearer headers for a staff member."""
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


def days_ago(n: int) -> date:
    """Return the program date ``n`` days before today."""
    return today() - timedelta(days=n)


def admission(counselor_id: int, **changes: Any) -> dict[str, Any]:
    """A valid POST /api/v1/patients/{id}/episodes body."""
    body = {
        "admitted_on": today().isoformat(),
        "primary_counselor_id": counselor_id,
        "primary_substance": 5,
        "referral_source": 7,
        "service_setting": 4,
    }
    body.update(changes)
    return body


def discharge_body(on: date | None = None, **changes: Any) -> dict[str, Any]:
    """A valid POST /api/v1/episodes/{id}/discharge body."""
    body: dict[str, Any] = {"discharged_on": (on or today()).isoformat(), "reason": 1}
    body.update(changes)
    return body


def add_session(episode: Episode, hours_ago: float, attendance: str) -> None:
    """Record one individual therapy session for an episode."""
    db.session.add(
        TherapySession(
            episode_id=episode.id,
            kind="individual",
            modality="cbt",
            started_at=utcnow() - timedelta(hours=hours_ago),
            duration_minutes=50,
            attendance=attendance,
            counselor_id=episode.primary_counselor_id,
        )
    )
    db.session.flush()


def listed(client: Any, headers: dict[str, str], query: str = "") -> list[int]:
    """GET /api/v1/episodes and return the ids (checking the envelope)."""
    response = client.get(f"/api/v1/episodes{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert body["total"] == len(body["items"])
    return sorted(item["id"] for item in body["items"])


def events(action: str) -> list[AuditEvent]:
    """Return the audit events with an action, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def supervisor(client):
    """A supervisor and their bearer headers."""
    staff = make_staff("supervisor", username="sam")
    return staff, headers_of(client, staff)


@pytest.fixture
def counselor():
    """An active counselor who can be a primary counselor."""
    return make_staff("counselor")


# --- admission ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ago", "target"),
    [(0, None), (10, None), (10, 30), (0, 1)],
    ids=["today-default-target", "10-days-ago", "custom-target", "one-day-target"],
)
def test_admission_returns_every_contract_field(client, supervisor, counselor, ago, target):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    body = admission(counselor.id, admitted_on=days_ago(ago).isoformat(), route=4, frequency=3)
    if target is not None:
        body["los_target_days"] = target
    response = client.post(f"/api/v1/patients/{patient.id}/episodes", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    episode = response.get_json()
    assert set(episode) >= CONTRACT_FIELDS
    goal = target or 90
    target_date = days_ago(ago) + timedelta(days=goal - 1)
    assert isinstance(episode["id"], int)
    assert {k: episode[k] for k in CONTRACT_FIELDS - {"id"}} == {
        "patient_id": patient.id,
        "status": "active",
        "stage": "diagnosis",
        "admitted_on": days_ago(ago).isoformat(),
        "discharged_on": None,
        "discharge_reason": None,
        "primary_counselor_id": counselor.id,
        "los_target_days": goal,
        "day_of_stay": ago + 1,
        "los_days": ago + 1,
        "target_date": target_date.isoformat(),
        "days_remaining": (target_date - today()).days,
        "met_target": None,
        "level_of_care": None,
        "at_risk": False,
        "days_waiting": None,
    }
    assert (episode["primary_substance"], episode["referral_source"]) == (5, 7)
    assert (episode["service_setting"], episode["route"], episode["frequency"]) == (4, 4, 3)


def test_episode_past_its_target_has_negative_days_remaining(client, supervisor, counselor):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    body = admission(counselor.id, admitted_on=days_ago(100).isoformat())
    episode = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=body, headers=headers
    ).get_json()
    assert (episode["day_of_stay"], episode["los_days"]) == (101, 101)
    assert episode["target_date"] == days_ago(11).isoformat()
    assert episode["days_remaining"] == -11
    assert episode["met_target"] is None


def test_admission_writes_history_and_audit(client, supervisor, counselor):
    staff, headers = supervisor
    patient = make_patient()
    db.session.commit()
    episode = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(counselor.id), headers=headers
    ).get_json()
    (event,) = events("episode.create")
    assert (event.actor_id, event.patient_id, event.object_id) == (
        staff.id,
        patient.id,
        episode["id"],
    )
    history = client.get(f"/api/v1/episodes/{episode['id']}/stages", headers=headers).get_json()
    assert history["total"] == 1
    (first,) = history["items"]
    assert set(first) == {"from_stage", "to_stage", "at", "by_id", "reason", "override"}
    assert (first["from_stage"], first["to_stage"], first["by_id"], first["override"]) == (
        None,
        "diagnosis",
        staff.id,
        False,
    )
    assert datetime.fromisoformat(first["at"]).tzinfo is not None


def test_intake_admits(client, counselor):
    intake = make_staff("intake")
    patient = make_patient()
    headers = headers_of(client, intake)
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(counselor.id), headers=headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize("role", ["counselor", "nurse", "physician", "admin"])
def test_roles_without_admission_rights_get_403(client, counselor, role):
    caller = make_staff(role)
    patient = make_patient()
    headers = headers_of(client, caller)
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(counselor.id), headers=headers
    )
    assert error_code(response, 403) == "forbidden"
    assert db.session.scalar(sa.select(sa.func.count(Episode.id))) == 0


def test_admitting_an_unknown_patient_is_404(client, supervisor, counselor):
    _, headers = supervisor
    db.session.commit()
    response = client.post(
        "/api/v1/patients/424242/episodes", json=admission(counselor.id), headers=headers
    )
    assert error_code(response, 404) == "not_found"


def test_admission_in_the_future_is_422(client, supervisor, counselor):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, admitted_on=tomorrow),
        headers=headers,
    )
    assert "admitted_on" in field_errors(response)


def test_admission_before_birth_is_422(client, supervisor, counselor):
    _, headers = supervisor
    patient = make_patient(date_of_birth=date(2000, 6, 1))
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, admitted_on="2000-05-31"),
        headers=headers,
    )
    assert "admitted_on" in field_errors(response)


@pytest.mark.parametrize(
    ("roles", "fields"),
    [
        (("nurse",), {}),
        (("physician",), {}),
        (("intake",), {}),
        (("admin",), {}),
        (("counselor",), {"active": False}),
        (("supervisor",), {"active": False}),
        (None, {}),
    ],
    ids=["nurse", "physician", "intake", "admin", "inactive-counselor", "inactive-sup", "nobody"],
)
def test_primary_counselor_must_be_an_active_counselor_or_supervisor(
    client, supervisor, roles, fields
):
    _, headers = supervisor
    counselor_id = make_staff(*roles, **fields).id if roles else 999_999
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(counselor_id), headers=headers
    )
    assert "primary_counselor_id" in field_errors(response)
    assert db.session.scalar(sa.select(sa.func.count(Episode.id))) == 0


@pytest.mark.parametrize("roles", [("supervisor",), ("counselor", "nurse")])
def test_supervisor_or_counselor_with_other_roles_may_be_primary(client, supervisor, roles):
    _, headers = supervisor
    primary = make_staff(*roles)
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(primary.id), headers=headers
    )
    assert response.status_code == 201
    assert response.get_json()["primary_counselor_id"] == primary.id


@pytest.mark.parametrize("counselor_id", [2_147_483_648, 9_223_372_036_854_775_808])
def test_primary_counselor_id_beyond_32_bits_is_422_not_500(client, supervisor, counselor_id):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes", json=admission(counselor_id), headers=headers
    )
    assert "primary_counselor_id" in field_errors(response)


@pytest.mark.parametrize(
    "changes",
    [
        {"route": -9},
        {"frequency": -9},
        {"age_at_first_use": -9},
        {"secondary_substance": -9},
        {"tertiary_substance": -9},
        {"prior_treatment_episodes": -9},
        {"route": None, "frequency": None},
    ],
    ids=lambda changes: ",".join(changes),
)
def test_optional_teds_fields_accept_unknown(client, supervisor, counselor, changes):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, **changes),
        headers=headers,
    )
    assert response.status_code == 201
    episode = response.get_json()
    assert {k: episode[k] for k in changes} == changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"primary_substance": -9}, "primary_substance"),
        ({"referral_source": -9}, "referral_source"),
        ({"service_setting": -9}, "service_setting"),
        ({"primary_substance": 20}, "primary_substance"),
        ({"service_setting": 0}, "service_setting"),
        ({"frequency": 4}, "frequency"),
        ({"prior_treatment_episodes": 6}, "prior_treatment_episodes"),
        ({"route": 2.5}, "route"),
        ({"route": True}, "route"),
        ({"primary_counselor_id": True}, "primary_counselor_id"),
        ({"primary_counselor_id": 1.0}, "primary_counselor_id"),
        ({"los_target_days": 0}, "los_target_days"),
        ({"los_target_days": 731}, "los_target_days"),
        ({"los_target_days": 90.5}, "los_target_days"),
        ({"admitted_on": "2024-13-01"}, "admitted_on"),
        ({"days_waiting": 3}, "days_waiting"),
        ({"stage": "therapy"}, "stage"),
    ],
)
def test_invalid_admission_is_422_naming_the_field(client, supervisor, counselor, changes, field):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, **changes),
        headers=headers,
    )
    assert field in field_errors(response)


@pytest.mark.parametrize(
    "missing", ["admitted_on", "primary_counselor_id", "primary_substance", "referral_source"]
)
def test_admission_missing_a_required_field_is_422(client, supervisor, counselor, missing):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    body = admission(counselor.id)
    del body[missing]
    response = client.post(f"/api/v1/patients/{patient.id}/episodes", json=body, headers=headers)
    assert missing in field_errors(response)


@pytest.mark.parametrize("target", [1, 730])
def test_target_limits_are_inclusive(client, supervisor, counselor, target):
    _, headers = supervisor
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, los_target_days=target),
        headers=headers,
    )
    assert response.status_code == 201
    assert response.get_json()["los_target_days"] == target


def test_second_active_episode_is_409(client, supervisor, counselor):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=3)
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{episode.patient_id}/episodes",
        json=admission(counselor.id),
        headers=headers,
    )
    assert error_code(response, 409) == "conflict"
    count = sa.select(sa.func.count(Episode.id)).where(Episode.patient_id == episode.patient_id)
    assert db.session.scalar(count) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"primary_substance": -9}, "primary_substance"),
        ({"los_target_days": 0}, "los_target_days"),
        ({"admitted_on": "2999-01-01"}, "admitted_on"),
        ({"primary_counselor_id": 999_999}, "primary_counselor_id"),
    ],
)
def test_second_admission_with_a_bad_field_is_422_before_409(
    client, supervisor, counselor, changes, field
):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=3)
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{episode.patient_id}/episodes",
        json=admission(counselor.id, **changes),
        headers=headers,
    )
    assert field in field_errors(response)


def test_patient_can_be_readmitted_after_discharge(client, supervisor, counselor):
    _, headers = supervisor
    first = admit(make_patient(), counselor, days_ago=40)
    db.session.commit()
    discharged = client.post(
        f"/api/v1/episodes/{first.id}/discharge",
        json=discharge_body(days_ago(10), reason=2),
        headers=headers,
    )
    assert discharged.status_code == 200
    response = client.post(
        f"/api/v1/patients/{first.patient_id}/episodes",
        json=admission(counselor.id, admitted_on=days_ago(2).isoformat()),
        headers=headers,
    )
    assert response.status_code == 201
    second = response.get_json()
    assert second["id"] != first.id
    assert (second["status"], second["stage"], second["day_of_stay"]) == ("active", "diagnosis", 3)
    statuses = db.session.scalars(
        sa.select(Episode.status).where(Episode.patient_id == first.patient_id)
    ).all()
    assert sorted(statuses) == ["active", "discharged"]


# --- reading --------------------------------------------------------------------------------


def test_get_episode_matches_the_admission_answer_and_is_audited(client, supervisor, counselor):
    staff, headers = supervisor
    patient = make_patient()
    db.session.commit()
    created = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, admitted_on=days_ago(6).isoformat()),
        headers=headers,
    ).get_json()
    response = client.get(f"/api/v1/episodes/{created['id']}", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == created
    (event,) = events("episode.view")
    assert (event.actor_id, event.patient_id) == (staff.id, patient.id)


@pytest.mark.parametrize("role", ["supervisor", "physician", "nurse", "intake"])
def test_all_patient_roles_read_any_episode(client, counselor, role):
    episode = admit(make_patient(), counselor)
    headers = headers_of(client, make_staff(role))
    assert client.get(f"/api/v1/episodes/{episode.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/episodes/{episode.id}/stages", headers=headers).status_code == 200


def test_counselor_reads_own_and_care_team_episodes_but_not_others(client, counselor):
    other = make_staff("counselor")
    mine = admit(make_patient(), counselor)
    shared = admit(make_patient(), other)
    episode_services.add_to_care_team(other, shared, counselor)
    theirs = admit(make_patient(), other)
    headers = headers_of(client, counselor)
    for episode in (mine, shared):
        assert client.get(f"/api/v1/episodes/{episode.id}", headers=headers).status_code == 200
    for path in (f"/api/v1/episodes/{theirs.id}", f"/api/v1/episodes/{theirs.id}/stages"):
        assert error_code(client.get(path, headers=headers), 403) == "forbidden"


def test_admin_cannot_read_episodes(client, counselor):
    episode = admit(make_patient(), counselor)
    headers = headers_of(client, make_staff("admin"))
    response = client.get(f"/api/v1/episodes/{episode.id}", headers=headers)
    assert error_code(response, 403) == "forbidden"
    assert error_code(client.get("/api/v1/episodes", headers=headers), 403) == "forbidden"


def test_unknown_episode_is_404(client, supervisor):
    _, headers = supervisor
    for path in ("/api/v1/episodes/424242", "/api/v1/episodes/424242/stages"):
        assert error_code(client.get(path, headers=headers), 404) == "not_found"


# --- lists and filters ----------------------------------------------------------------------


def test_list_filters_by_status_stage_and_counselor(client, supervisor, counselor):
    staff, headers = supervisor
    other = make_staff("counselor")
    active = admit(make_patient(), counselor, days_ago=3)
    others = admit(make_patient(), other, days_ago=2)
    closed = admit(make_patient(), counselor, days_ago=9)
    episode_services.discharge(staff, closed, discharged_on=days_ago(1), reason=1)
    db.session.commit()
    assert listed(client, headers) == sorted([active.id, others.id, closed.id])
    assert listed(client, headers, "?status=active") == sorted([active.id, others.id])
    assert listed(client, headers, "?status=discharged") == [closed.id]
    assert listed(client, headers, "?stage=diagnosis") == sorted([active.id, others.id])
    assert listed(client, headers, "?stage=discharged") == [closed.id]
    assert listed(client, headers, "?stage=therapy") == []
    assert listed(client, headers, f"?counselor_id={counselor.id}") == sorted(
        [active.id, closed.id]
    )
    assert listed(client, headers, f"?counselor_id={counselor.id}&status=active") == [active.id]


def test_at_risk_filter(client, supervisor, counselor):
    _, headers = supervisor
    neglected = admit(make_patient(), counselor, days_ago=20)
    engaged = admit(make_patient(), counselor, days_ago=20)
    add_session(engaged, hours_ago=48, attendance="attended")
    newcomer = admit(make_patient(), counselor, days_ago=5)
    db.session.commit()
    assert listed(client, headers, "?at_risk=true") == [neglected.id]
    assert listed(client, headers, "?at_risk=false") == sorted([engaged.id, newcomer.id])
    items = client.get("/api/v1/episodes", headers=headers).get_json()["items"]
    assert {item["id"]: item["at_risk"] for item in items} == {
        neglected.id: True,
        engaged.id: False,
        newcomer.id: False,
    }


@pytest.mark.parametrize(
    ("admitted_days_ago", "sessions", "expected"),
    [
        (20, [], True),
        (20, [(48, "attended")], False),
        (5, [], False),
        (14, [], True),  # day 15 of the stay
        (13, [], False),  # day 14
        (20, [(8 * 24, "attended")], True),
        (20, [(6 * 24, "attended")], False),
        (20, [(24, "late")], False),
        (20, [(24, "cancelled"), (48, "excused")], True),
        (20, [(24, "attended"), (72, "no_show"), (120, "no_show")], True),
        (20, [(24, "attended"), (72, "no_show"), (96, "scheduled")], True),
        (20, [(24, "attended"), (72, "no_show"), (96, "cancelled")], False),
        (20, [(24, "attended"), (15 * 24, "no_show"), (16 * 24, "no_show")], False),
        (20, [(24, "attended"), (-48, "scheduled"), (-72, "scheduled")], False),
        (20, [(-24, "attended")], True),
    ],
    ids=[
        "no-sessions",
        "attended-2-days-ago",
        "first-days",
        "day-15-no-sessions",
        "day-14-no-sessions",
        "last-attended-8-days-ago",
        "last-attended-6-days-ago",
        "late-counts-as-present",
        "cancelled-and-excused-are-not-attendance",
        "two-no-shows",
        "no-show-and-past-scheduled",
        "one-no-show-one-cancelled",
        "no-shows-older-than-14-days",
        "future-scheduled-not-missed",
        "future-attended-does-not-count",
    ],
)
def test_at_risk_rule(client, supervisor, counselor, admitted_days_ago, sessions, expected):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=admitted_days_ago)
    for hours_ago, attendance in sessions:
        add_session(episode, hours_ago, attendance)
    db.session.commit()
    assert (
        client.get(f"/api/v1/episodes/{episode.id}", headers=headers).get_json()["at_risk"]
        is expected
    )
    assert (episode.id in listed(client, headers, "?at_risk=true")) is expected


def test_discharged_episode_is_never_at_risk(client, supervisor, counselor):
    staff, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=30)
    episode_services.discharge(staff, episode, discharged_on=today(), reason=2)
    db.session.commit()
    assert listed(client, headers, "?at_risk=true") == []
    assert (
        client.get(f"/api/v1/episodes/{episode.id}", headers=headers).get_json()["at_risk"] is False
    )


def test_counselor_lists_only_care_team_episodes(client, counselor):
    other = make_staff("counselor")
    mine = admit(make_patient(), counselor, days_ago=20)
    shared = admit(make_patient(), other, days_ago=20)
    episode_services.add_to_care_team(other, shared, counselor)
    theirs = admit(make_patient(), other, days_ago=20)
    headers = headers_of(client, counselor)
    assert listed(client, headers) == sorted([mine.id, shared.id])
    assert listed(client, headers, "?at_risk=true") == sorted([mine.id, shared.id])
    assert listed(client, headers, f"?counselor_id={other.id}") == [shared.id]
    assert theirs.id not in listed(client, headers, "?status=active")


def test_list_pages(client, supervisor, counselor):
    _, headers = supervisor
    for n in range(5):
        admit(make_patient(), counselor, days_ago=n)
    db.session.commit()
    body = client.get("/api/v1/episodes?per_page=2&page=2", headers=headers).get_json()
    assert (body["page"], body["per_page"], body["total"], len(body["items"])) == (2, 2, 5, 2)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=open", "status"),
        ("stage=detoxing", "stage"),
        ("counselor_id=abc", "counselor_id"),
        ("counselor_id=0", "counselor_id"),
        ("counselor_id=2147483648", "counselor_id"),
        ("at_risk=perhaps", "at_risk"),
        ("page=0", "page"),
        ("per_page=201", "per_page"),
    ],
)
def test_bad_list_filter_is_422(client, supervisor, query, field):
    _, headers = supervisor
    assert field in field_errors(client.get(f"/api/v1/episodes?{query}", headers=headers))


def test_misspelt_list_filter_is_422_not_ignored(client, supervisor, counselor):
    _, headers = supervisor
    admit(make_patient(), counselor)
    db.session.commit()
    response = client.get(f"/api/v1/episodes?councelor_id={counselor.id + 1}", headers=headers)
    assert "councelor_id" in field_errors(response)


# --- discharge ------------------------------------------------------------------------------


def test_same_day_discharge(client, supervisor, counselor):
    staff, headers = supervisor
    episode = admit(make_patient(), counselor)
    db.session.commit()
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge",
        json=discharge_body(today(), reason=2, service_setting=-9, frequency_at_discharge=3),
        headers=headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= CONTRACT_FIELDS
    assert {
        k: body[k]
        for k in (
            "status",
            "stage",
            "discharged_on",
            "discharge_reason",
            "los_days",
            "day_of_stay",
            "days_remaining",
            "met_target",
            "at_risk",
            "target_date",
        )
    } == {
        "status": "discharged",
        "stage": "discharged",
        "discharged_on": today().isoformat(),
        "discharge_reason": 2,
        "los_days": 1,
        "day_of_stay": None,
        "days_remaining": None,
        "met_target": False,
        "at_risk": False,
        "target_date": (today() + timedelta(days=89)).isoformat(),
    }
    assert (body["discharge_service_setting"], body["discharge_frequency"]) == (-9, 3)
    assert client.get(f"/api/v1/episodes/{episode.id}", headers=headers).get_json() == body
    (event,) = events("episode.discharge")
    assert (event.actor_id, event.patient_id) == (staff.id, episode.patient_id)


@pytest.mark.parametrize(
    ("target", "stay_days", "met"),
    [(90, 90, True), (90, 89, False), (90, 91, True), (30, 30, True), (30, 29, False)],
)
def test_met_target_on_discharge(client, supervisor, counselor, target, stay_days, met):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=100, los_target_days=target)
    db.session.commit()
    discharged_on = episode.admitted_on + timedelta(days=stay_days - 1)
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge",
        json=discharge_body(discharged_on),
        headers=headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["los_days"], body["met_target"]) == (stay_days, met)


def test_discharge_history_row(client, supervisor, counselor):
    staff, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=4)
    db.session.commit()
    client.post(f"/api/v1/episodes/{episode.id}/discharge", json=discharge_body(), headers=headers)
    history = client.get(f"/api/v1/episodes/{episode.id}/stages", headers=headers).get_json()
    assert history["total"] == 2
    assert [(i["from_stage"], i["to_stage"]) for i in history["items"]] == [
        (None, "diagnosis"),
        ("diagnosis", "discharged"),
    ]
    last = history["items"][-1]
    assert (last["by_id"], last["override"]) == (staff.id, False)


@pytest.mark.parametrize(
    ("offset", "from_admission"),
    [(-1, True), (1, False), (365, False)],
    ids=["before-admission", "tomorrow", "next-year"],
)
def test_discharge_date_before_admission_or_in_future_is_422(
    client, supervisor, counselor, offset, from_admission
):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=10)
    db.session.commit()
    base = episode.admitted_on if from_admission else today()
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge",
        json=discharge_body(base + timedelta(days=offset)),
        headers=headers,
    )
    assert "discharged_on" in field_errors(response)
    db.session.expire_all()
    assert db.session.get(Episode, episode.id).status == "active"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": -9}, "reason"),
        ({"reason": 0}, "reason"),
        ({"reason": 8}, "reason"),
        ({"reason": None}, "reason"),
        ({"reason": "1"}, "reason"),
        ({"reason": True}, "reason"),
        ({"service_setting": 9}, "service_setting"),
        ({"frequency_at_discharge": 2.5}, "frequency_at_discharge"),
        ({"discharged_on": "today"}, "discharged_on"),
        ({"summary": "went home"}, "summary"),
    ],
)
def test_invalid_discharge_is_422(client, supervisor, counselor, changes, field):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=10)
    db.session.commit()
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge", json=discharge_body(**changes), headers=headers
    )
    assert field in field_errors(response)


@pytest.mark.parametrize("missing", ["discharged_on", "reason"])
def test_discharge_missing_a_required_field_is_422(client, supervisor, counselor, missing):
    _, headers = supervisor
    episode = admit(make_patient(), counselor)
    db.session.commit()
    body = discharge_body()
    del body[missing]
    response = client.post(f"/api/v1/episodes/{episode.id}/discharge", json=body, headers=headers)
    assert missing in field_errors(response)


DISCHARGERS = {
    "primary-counselor": 200,
    "supervisor": 200,
    "physician": 200,
    "care-team-counselor": 403,
    "other-counselor": 403,
    "nurse": 403,
    "intake": 403,
    "admin": 403,
}


@pytest.mark.parametrize(("who", "status"), DISCHARGERS.items(), ids=list(DISCHARGERS))
def test_who_may_discharge(client, counselor, who, status):
    episode = admit(make_patient(), counselor, days_ago=5)
    if who == "primary-counselor":
        caller = counselor
    elif who == "care-team-counselor":
        caller = make_staff("counselor")
        episode_services.add_to_care_team(counselor, episode, caller)
    elif who == "other-counselor":
        caller = make_staff("counselor")
    else:
        caller = make_staff(who)
    headers = headers_of(client, caller)
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge", json=discharge_body(), headers=headers
    )
    db.session.expire_all()
    stored = db.session.get(Episode, episode.id)
    if status == 200:
        assert response.status_code == 200
        assert response.get_json()["status"] == "discharged"
        assert stored.status == "discharged"
    else:
        assert error_code(response, 403) == "forbidden"
        assert (stored.status, stored.stage) == ("active", "diagnosis")


def test_discharge_refused_to_an_outsider_is_audited_as_denied(client, counselor):
    outsider = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=5)
    headers = headers_of(client, outsider)
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge", json=discharge_body(), headers=headers
    )
    assert response.status_code == 403
    (denied,) = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.outcome == "denied", AuditEvent.actor_id == outsider.id
        )
    ).all()
    assert denied.patient_id == episode.patient_id
    assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", denied.action), repr(denied.action)


def test_second_discharge_is_409(client, supervisor, counselor):
    _, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=5)
    db.session.commit()
    url = f"/api/v1/episodes/{episode.id}/discharge"
    assert client.post(url, json=discharge_body(days_ago(1)), headers=headers).status_code == 200
    response = client.post(url, json=discharge_body(today(), reason=2), headers=headers)
    assert error_code(response, 409) == "conflict"
    body = client.get(f"/api/v1/episodes/{episode.id}", headers=headers).get_json()
    assert (body["discharged_on"], body["discharge_reason"]) == (days_ago(1).isoformat(), 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"discharged_on": "2999-01-01"}, "discharged_on"),
        ({"discharged_on": "2000-01-01"}, "discharged_on"),
        ({"reason": -9}, "reason"),
    ],
)
def test_second_discharge_with_a_bad_field_is_422_before_409(
    client, supervisor, counselor, changes, field
):
    staff, headers = supervisor
    episode = admit(make_patient(), counselor, days_ago=5)
    episode_services.discharge(staff, episode, discharged_on=days_ago(1), reason=1)
    db.session.commit()
    response = client.post(
        f"/api/v1/episodes/{episode.id}/discharge", json=discharge_body(**changes), headers=headers
    )
    assert field in field_errors(response)


def test_discharging_an_unknown_episode_is_404(client, supervisor):
    _, headers = supervisor
    response = client.post(
        "/api/v1/episodes/424242/discharge", json=discharge_body(), headers=headers
    )
    assert error_code(response, 404) == "not_found"
