"""Therapy rules: session fields, note formats, the note lifecycle, groups, the at-risk flag."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from casemgr.audit.models import AuditEvent
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation
from casemgr.core.timeutil import today
from casemgr.episodes import queries as episode_queries
from casemgr.episodes import services as episode_services
from casemgr.extensions import db
from casemgr.therapy import services
from casemgr.therapy.models import GroupSession, Note, NoteAddendum, TherapySession
from tests.factories import admit, make_patient, make_staff
from tests.therapy.builders import DAP, note, session


@pytest.fixture
def team(app):
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=20)
    return counselor, episode


def log(counselor, episode, **changes):
    values = {
        "kind": "individual",
        "modality": "cbt",
        "started_at": utcnow() - timedelta(hours=1),
        "duration_minutes": 50,
        "attendance": "attended",
    }
    values.update(changes)
    return services.log_session(counselor, episode, **values)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 721}, "duration_minutes"),
        ({"started_at": utcnow() + timedelta(hours=2)}, "started_at"),
        ({"started_at": utcnow() + timedelta(hours=2), "attendance": "late"}, "started_at"),
        ({"modality": "hypnosis"}, "modality"),
        ({"kind": "group"}, "kind"),
    ],
)
def test_session_refuses_bad_fields(team, changes, field) -> None:
    counselor, episode = team
    with pytest.raises(RuleViolation) as err:
        log(counselor, episode, **changes)
    assert field in err.value.fields


def test_planned_session_may_be_in_the_future_and_counts_when_missed(team) -> None:
    counselor, episode = team
    planned = log(
        counselor, episode, attendance="scheduled", started_at=utcnow() + timedelta(days=2)
    )
    assert not planned.needs_attendance
    past = log(counselor, episode, attendance="scheduled", started_at=utcnow() - timedelta(hours=3))
    assert past.needs_attendance


@pytest.mark.parametrize(
    ("fmt", "body", "missing"),
    [
        ("DAP", {"data": "x", "assessment": "y"}, "plan"),
        (
            "SOAP",
            {"subjective": "s", "objective": "o", "assessment": " ", "plan": "p"},
            "assessment",
        ),
        ("BIRP", {"behavior": "b", "intervention": "i", "response": "r"}, "plan"),
        ("free", {}, "text"),
    ],
)
def test_note_needs_every_field_of_its_format(team, fmt, body, missing) -> None:
    counselor, episode = team
    with pytest.raises(RuleViolation) as err:
        services.write_note(counselor, episode, kind="progress", format=fmt, body=body)
    assert f"body.{missing}" in err.value.fields


def test_note_refuses_fields_of_another_format(team) -> None:
    counselor, episode = team
    with pytest.raises(RuleViolation) as err:
        services.write_note(
            counselor, episode, kind="progress", format="DAP", body={**DAP, "subjective": "s"}
        )
    assert "body.subjective" in err.value.fields


def test_session_with_note_and_sign(team) -> None:
    counselor, episode = team
    logged = session(episode, counselor, note=DAP, sign=True)
    assert logged.note.status == "signed"
    assert logged.note.signed_at is not None
    assert logged.note.kind == "progress"
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"session.create", "note.create", "note.sign"} <= actions


def test_draft_edit_checks_the_version(team) -> None:
    counselor, episode = team
    draft = note(episode, counselor)
    services.update_note(counselor, draft, body={**DAP, "plan": "v2"}, version=1)
    db.session.commit()
    assert draft.version == 2
    with pytest.raises(Conflict):
        services.update_note(counselor, draft, body={**DAP, "plan": "stale"}, version=1)
    assert draft.body["plan"] == "v2"


def test_validation_comes_before_the_stale_version(team) -> None:
    counselor, episode = team
    draft = note(episode, counselor)
    with pytest.raises(RuleViolation):
        services.update_note(counselor, draft, body={"data": "x"}, version=99)


def test_only_the_author_edits_or_signs(team) -> None:
    counselor, episode = team
    draft = note(episode, counselor)
    other = make_staff("supervisor")
    with pytest.raises(Conflict):
        services.update_note(other, draft, body=dict(DAP), version=draft.version)
    with pytest.raises(Conflict):
        services.sign_note(other, draft)


def test_signed_note_is_locked_and_takes_addenda(team) -> None:
    counselor, episode = team
    draft = note(episode, counselor, sign=True)
    with pytest.raises(Conflict):
        services.update_note(counselor, draft, body={**DAP, "plan": "new"}, version=draft.version)
    with pytest.raises(Conflict):
        services.sign_note(counselor, draft)
    addendum = services.add_addendum(counselor, draft, text="Correction: met for 45 minutes.")
    db.session.commit()
    assert draft.addenda == [addendum]
    with pytest.raises(Conflict):
        services.add_addendum(counselor, note(episode, counselor), text="on a draft")


def test_database_refuses_to_change_a_signed_note(team) -> None:
    counselor, episode = team
    signed = note(episode, counselor, sign=True)
    services.add_addendum(counselor, signed, text="first")
    db.session.commit()
    with pytest.raises(DatabaseError), db.session.begin_nested():
        db.session.execute(
            sa.update(Note).where(Note.id == signed.id).values(body={"data": "forged"})
        )
    with pytest.raises(DatabaseError), db.session.begin_nested():
        db.session.execute(sa.update(NoteAddendum).values(text="forged"))
    # Co-signature and status still move on.
    db.session.execute(sa.update(Note).where(Note.id == signed.id).values(status="signed"))


def test_cosign_flow_for_staff_who_need_it(app) -> None:
    trainee = make_staff("counselor", needs_cosign=True)
    episode = admit(make_patient(), trainee, days_ago=3)
    written = note(episode, trainee, sign=True)
    assert written.status == "awaiting_cosign"
    with pytest.raises(PermissionDenied):
        services.cosign_note(make_staff("counselor"), written)
    supervisor = make_staff("supervisor")
    services.cosign_note(supervisor, written)
    assert (written.status, written.cosigned_by_id) == ("signed", supervisor.id)
    with pytest.raises(Conflict):
        services.cosign_note(supervisor, written)


def test_discharged_episode_takes_only_late_entries(team) -> None:
    counselor, episode = team
    episode_services.discharge(
        counselor, episode, discharged_on=today() - timedelta(days=2), reason=1
    )
    db.session.commit()
    with pytest.raises(Conflict):
        log(counselor, episode)
    late = log(counselor, episode, started_at=utcnow() - timedelta(days=4))
    assert late.late_entry
    assert note(episode, counselor).late_entry


def test_group_session_creates_everything_in_one_go(app) -> None:
    counselor = make_staff("counselor")
    episodes = [admit(make_patient(), counselor, days_ago=5) for _ in range(3)]
    group = services.log_group_session(
        counselor,
        topic="Relapse prevention",
        modality="cbt",
        started_at=utcnow() - timedelta(hours=2),
        duration_minutes=90,
        summary="Group discussed triggers.",
        attendees=[
            services.AttendeeInput(episodes[0].id, "attended", services.NoteInput("DAP", {})),
            services.AttendeeInput(
                episodes[1].id, "late", services.NoteInput("DAP", {"assessment": "Quiet."})
            ),
            services.AttendeeInput(episodes[2].id, "no_show"),
        ],
    )
    db.session.commit()
    rows = db.session.scalars(
        sa.select(TherapySession).where(TherapySession.group_session_id == group.id)
    ).all()
    assert sorted(r.attendance for r in rows) == ["attended", "late", "no_show"]
    notes = {n.episode_id: n for n in db.session.scalars(sa.select(Note))}
    assert notes[episodes[0].id].body["data"] == "Group discussed triggers."
    assert notes[episodes[1].id].body["assessment"] == "Quiet."
    assert notes[episodes[1].id].kind == "group"
    assert episodes[2].id not in notes


def test_group_with_a_discharged_patient_writes_nothing(app) -> None:
    counselor = make_staff("counselor")
    active = admit(make_patient(), counselor, days_ago=5)
    gone = admit(make_patient(), counselor, days_ago=10)
    episode_services.discharge(counselor, gone, discharged_on=today(), reason=1)
    db.session.commit()
    with pytest.raises(RuleViolation) as err:
        services.log_group_session(
            counselor,
            topic="Coping",
            modality="dbt",
            started_at=utcnow() - timedelta(hours=1),
            duration_minutes=60,
            attendees=[
                services.AttendeeInput(active.id, "attended"),
                services.AttendeeInput(gone.id, "attended"),
            ],
        )
    assert "attendees.1.episode_id" in err.value.fields
    assert db.session.scalar(sa.select(sa.func.count(GroupSession.id))) == 0
    with pytest.raises(RuleViolation) as err:
        services.log_group_session(
            counselor,
            topic="Coping",
            modality="dbt",
            started_at=utcnow(),
            duration_minutes=60,
            attendees=[],
        )
    assert "attendees" in err.value.fields


def test_group_refuses_patients_outside_the_care_team(app) -> None:
    counselor = make_staff("counselor")
    stranger = admit(make_patient(), make_staff("counselor"), days_ago=5)
    with pytest.raises(PermissionDenied):
        services.log_group_session(
            counselor,
            topic="Coping",
            modality="dbt",
            started_at=utcnow() - timedelta(hours=1),
            duration_minutes=60,
            attendees=[services.AttendeeInput(stranger.id, "attended")],
        )


def test_at_risk_follows_missed_sessions_and_gaps(app) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=30)
    session(episode, counselor, hours_ago=24)
    assert not episode_queries.is_at_risk(episode)
    session(episode, counselor, hours_ago=48, attendance="no_show")
    log(counselor, episode, attendance="scheduled", started_at=utcnow() - timedelta(hours=5))
    db.session.commit()
    assert episode_queries.is_at_risk(episode)  # two missed in 14 days
    young = admit(make_patient(), counselor, days_ago=3)
    assert not episode_queries.is_at_risk(young)  # first 14 days
