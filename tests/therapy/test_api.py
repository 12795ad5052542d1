"""Therapy through the JSON API: sessions, group sessions and the note lifecycle."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.db import utcnow
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.extensions import db
from tests.conftest import api_headers
from tests.factories import PASSWORD, admit, make_patient, make_staff
from tests.therapy.builders import DAP


def headers_of(client, staff):
    db.session.commit()
    return api_headers(client, staff.username, PASSWORD)


def iso(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).isoformat()


def session_body(**changes):
    body = {
        "kind": "individual",
        "modality": "cbt",
        "started_at": iso(1),
        "duration_minutes": 50,
        "attendance": "attended",
        "note": {"format": "DAP", "body": dict(DAP)},
    }
    body.update(changes)
    return body


def error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    return response.get_json()["error"]


def test_session_with_note_then_note_lifecycle(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=8)
    h = headers_of(client, counselor)
    created = client.post(f"/api/v1/episodes/{episode.id}/sessions", json=session_body(), headers=h)
    assert created.status_code == 201, created.get_json()
    note_id = created.get_json()["note_id"]
    note = client.get(f"/api/v1/notes/{note_id}", headers=h).get_json()
    assert {
        "id",
        "episode_id",
        "kind",
        "format",
        "body",
        "status",
        "version",
        "author_id",
        "created_at",
        "signed_at",
        "addenda",
    } <= set(note)
    assert (note["status"], note["version"], note["format"]) == ("draft", 1, "DAP")
    patched = client.patch(
        f"/api/v1/notes/{note_id}", json={"body": {**DAP, "plan": "v2"}, "version": 1}, headers=h
    )
    assert patched.status_code == 200
    assert patched.get_json()["version"] == 2
    stale = client.patch(
        f"/api/v1/notes/{note_id}", json={"body": {**DAP, "plan": "v3"}, "version": 1}, headers=h
    )
    assert error(stale, 409)["code"] == "conflict"
    invalid_and_stale = client.patch(
        f"/api/v1/notes/{note_id}", json={"body": {"data": "x"}, "version": 1}, headers=h
    )
    assert "body.plan" in error(invalid_and_stale, 422)["fields"]
    signed = client.post(f"/api/v1/notes/{note_id}/sign", headers=h)
    assert signed.get_json()["status"] == "signed"
    locked = client.patch(
        f"/api/v1/notes/{note_id}", json={"body": dict(DAP), "version": 3}, headers=h
    )
    error(locked, 409)
    added = client.post(f"/api/v1/notes/{note_id}/addenda", json={"text": "Late fix."}, headers=h)
    assert added.status_code == 201
    listed = client.get(f"/api/v1/episodes/{episode.id}/notes", headers=h).get_json()
    assert listed["total"] == 1
    assert listed["items"][0]["addenda"][0]["text"] == "Late fix."
    sessions = client.get(f"/api/v1/episodes/{episode.id}/sessions", headers=h).get_json()
    assert sessions["items"][0]["note_id"] == note_id
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {
        "session.create",
        "note.update",
        "note.sign",
        "note.addendum",
        "note.list",
        "session.list",
        "note.view",
    } <= actions


def test_bad_sessions_are_422(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=8)
    h = headers_of(client, counselor)
    url = f"/api/v1/episodes/{episode.id}/sessions"
    cases = [
        (session_body(duration_minutes=0), "duration_minutes"),
        (session_body(duration_minutes=721), "duration_minutes"),
        (session_body(started_at=(utcnow() + timedelta(hours=3)).isoformat()), "started_at"),
        (session_body(started_at="2026-01-01T10:00:00"), "started_at"),
        (session_body(note={"format": "SOAP", "body": dict(DAP)}), "note.body.subjective"),
        (session_body(attendance="maybe"), "attendance"),
        (session_body(extra=1), "extra"),
    ]
    for body, field in cases:
        fields = error(client.post(url, json=body, headers=h), 422)["fields"]
        assert field in fields, (field, fields)


def test_planned_session_then_attendance(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=8)
    h = headers_of(client, counselor)
    planned = client.post(
        f"/api/v1/episodes/{episode.id}/sessions",
        json=session_body(attendance="scheduled", started_at=iso(-48), note=None),
        headers=h,
    ).get_json()
    assert planned["attendance"] == "scheduled"
    assert planned["note_id"] is None
    done = client.patch(
        f"/api/v1/sessions/{planned['id']}",
        json={"attendance": "no_show"},
        headers=h,
    )
    assert done.status_code == 422  # a no-show cannot be in the future either
    past = client.post(
        f"/api/v1/episodes/{episode.id}/sessions",
        json=session_body(attendance="scheduled", started_at=iso(2), note=None),
        headers=h,
    ).get_json()
    assert past["needs_attendance"] is True
    recorded = client.patch(
        f"/api/v1/sessions/{past['id']}",
        json={
            "attendance": "attended",
            "duration_minutes": 45,
            "note": {"format": "free", "body": {"text": "ok"}},
        },
        headers=h,
    ).get_json()
    assert (recorded["attendance"], recorded["duration_minutes"]) == ("attended", 45)
    assert recorded["note_id"] is not None


def test_group_session_api(client) -> None:
    counselor = make_staff("counselor")
    episodes = [admit(make_patient(), counselor, days_ago=8) for _ in range(3)]
    h = headers_of(client, counselor)
    body = {
        "topic": "Coping with cravings",
        "modality": "cbt",
        "started_at": iso(2),
        "duration_minutes": 60,
        "attendees": [
            {
                "episode_id": e.id,
                "attendance": "attended",
                "note": {"format": "DAP", "body": dict(DAP)},
            }
            for e in episodes
        ],
    }
    created = client.post("/api/v1/group-sessions", json=body, headers=h)
    assert created.status_code == 201, created.get_json()
    assert len(created.get_json()["sessions"]) == 3
    assert all(s["note_id"] for s in created.get_json()["sessions"])
    empty = client.post("/api/v1/group-sessions", json={**body, "attendees": []}, headers=h)
    assert "attendees" in error(empty, 422)["fields"]
    episode_services.discharge(counselor, episodes[0], discharged_on=today(), reason=1)
    db.session.commit()
    discharged = client.post("/api/v1/group-sessions", json=body, headers=h)
    assert "attendees.0.episode_id" in error(discharged, 422)["fields"]


def test_cosign_and_other_care_teams(client) -> None:
    trainee = make_staff("counselor", needs_cosign=True)
    supervisor = make_staff("supervisor")
    episode = admit(make_patient(), trainee, days_ago=8)
    h = headers_of(client, trainee)
    note = client.post(
        f"/api/v1/episodes/{episode.id}/notes",
        json={"kind": "progress", "format": "DAP", "body": dict(DAP)},
        headers=h,
    ).get_json()
    signed = client.post(f"/api/v1/notes/{note['id']}/sign", headers=h).get_json()
    assert signed["status"] == "awaiting_cosign"
    error(client.post(f"/api/v1/notes/{note['id']}/cosign", headers=h), 403)
    hs = headers_of(client, supervisor)
    cosigned = client.post(f"/api/v1/notes/{note['id']}/cosign", headers=hs).get_json()
    assert cosigned["status"] == "signed"
    assert cosigned["cosigned_by_id"] == supervisor.id
    outsider = headers_of(client, make_staff("counselor"))
    error(client.get(f"/api/v1/notes/{note['id']}", headers=outsider), 403)
    error(client.get("/api/v1/notes/2147483648", headers=outsider), 404)
