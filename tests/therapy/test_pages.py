"""Therapy pages: forms keep every typed character, lifecycle pages, fixed query counts."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casemgr.core.db import utcnow
from casemgr.core.timeutil import local
from casemgr.extensions import db
from casemgr.therapy import services
from casemgr.therapy.models import Note, TherapySession
from tests.conftest import post_form
from tests.factories import admit, make_patient, make_staff
from tests.pages_helpers import count_queries, sign_in
from tests.therapy.builders import DAP, note, session


def local_input(hours_ago: float) -> str:
    return local(utcnow() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def session_form(**changes):
    form = {
        "kind": "individual",
        "modality": "cbt",
        "started_at": local_input(1),
        "duration_minutes": "50",
        "attendance": "attended",
        "format": "DAP",
        "DAP-data": "Talked about <work> & sleep.",
        "DAP-assessment": "Motivated.",
        "DAP-plan": "Next week.",
        "action": "sign",
    }
    form.update(changes)
    return form


def test_session_form_saves_and_signs_and_remembers_choices(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    sign_in(client, counselor)
    url = f"/episodes/{episode.id}/sessions/new"
    page = client.get(url).get_data(as_text=True)
    assert 'id="DAP-data" name="DAP-data"' in page
    assert "autofocus" in page
    response = post_form(
        client,
        url,
        session_form(
            modality="dbt",
            format="SOAP",
            **{
                "SOAP-subjective": "s",
                "SOAP-objective": "o",
                "SOAP-assessment": "a",
                "SOAP-plan": "p",
            },
        ),
    )
    assert response.status_code == 302
    logged = db.session.scalars(sa.select(TherapySession)).one()
    assert logged.note.status == "signed"
    assert logged.note.body == {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"}
    again = client.get(url).get_data(as_text=True)
    assert '<option value="dbt" selected>' in again
    assert '<option value="SOAP" selected>' in again


def test_bad_session_form_keeps_everything_typed(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    sign_in(client, counselor)
    url = f"/episodes/{episode.id}/sessions/new"
    future = local(utcnow() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    for changes, message in [
        ({"duration_minutes": "0"}, "Give a duration from 1 minute to 12 hours"),
        ({"duration_minutes": "721"}, "Give a duration from 1 minute to 12 hours"),
        ({"started_at": future}, "cannot start in the future"),
        ({"DAP-plan": "  "}, "Plan is required for a DAP note"),
    ]:
        response = post_form(client, url, session_form(**changes))
        assert response.status_code == 422, changes
        body = response.get_data(as_text=True)
        assert message in body
        assert "Talked about &lt;work&gt; &amp; sleep." in body
        assert "Motivated." in body
    assert db.session.scalar(sa.select(sa.func.count(TherapySession.id))) == 0


def test_stale_edit_shows_both_versions_and_keeps_the_typing(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    draft = note(episode, counselor)
    sign_in(client, counselor)
    url = f"/notes/{draft.id}/edit"
    token_page = client.get(url)
    assert token_page.status_code == 200
    services.update_note(counselor, draft, body={**DAP, "plan": "Saved elsewhere."}, version=1)
    db.session.commit()
    response = post_form(
        client,
        url,
        {
            "DAP-data": "Mine",
            "DAP-assessment": "Mine too",
            "DAP-plan": "My plan",
            "version": "1",
            "action": "draft",
        },
    )
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Saved elsewhere." in body
    assert "My plan" in body
    assert 'name="version" value="2"' in body
    db.session.refresh(draft)
    assert draft.body["plan"] == "Saved elsewhere."


def test_signed_note_cannot_be_edited_but_takes_an_addendum(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    signed = note(episode, counselor, sign=True)
    sign_in(client, counselor)
    assert client.get(f"/notes/{signed.id}/edit").status_code == 302
    response = post_form(
        client,
        f"/notes/{signed.id}",
        {"DAP-data": "x", "DAP-assessment": "y", "DAP-plan": "z", "version": "2"},
        f"/notes/{signed.id}/edit",
    )
    assert response.status_code == 409
    assert 'name="DAP-data" rows="5"' in response.get_data(as_text=True)
    empty = post_form(client, f"/notes/{signed.id}", {"text": " "}, f"/notes/{signed.id}/addenda")
    assert empty.status_code == 422
    ok = post_form(
        client, f"/notes/{signed.id}", {"text": "Correction."}, f"/notes/{signed.id}/addenda"
    )
    assert ok.status_code == 302
    assert "Correction." in client.get(f"/notes/{signed.id}").get_data(as_text=True)
    db.session.refresh(signed)
    assert signed.body == DAP


def test_group_form_logs_twelve_patients_in_one_submit(client) -> None:
    counselor = make_staff("counselor")
    episodes = [admit(make_patient(), counselor, days_ago=3) for _ in range(12)]
    sign_in(client, counselor)
    form = {
        "topic": "Relapse prevention",
        "modality": "cbt",
        "started_at": local_input(2),
        "duration_minutes": "90",
        "facilitator_id": str(counselor.id),
        "format": "DAP",
        "shared-data": "Group talked about triggers.",
        "shared-assessment": "Engaged group.",
        "shared-plan": "Same time next week.",
        "action": "draft",
    }
    data = {**form, "attendee": [str(e.id) for e in episodes]}
    data[f"a{episodes[0].id}-attendance"] = "late"
    data[f"a{episodes[1].id}-assessment"] = "Withdrawn today."
    response = post_form(client, "/groups/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    notes = {n.episode_id: n for n in db.session.scalars(sa.select(Note))}
    assert len(notes) == 12
    assert notes[episodes[1].id].body["assessment"] == "Withdrawn today."
    assert notes[episodes[2].id].body["data"] == "Group talked about triggers."
    roster = client.get("/groups/new?roster=last").get_data(as_text=True)
    assert roster.count("checked") >= 12


def test_group_form_offers_a_bounded_list_searchable_with_chosen_kept(client, monkeypatch) -> None:
    """A program-wide list of patients is cut to the first ones; chosen ones stay on the form."""
    from casemgr.therapy import views

    monkeypatch.setattr(views, "GROUP_CANDIDATES", 2)
    counselor = make_staff("counselor")
    names = ["Adams", "Baker", "Clark", "Young"]
    episodes = [admit(make_patient(last_name=n), counselor, days_ago=3) for n in names]
    sign_in(client, counselor)
    page = client.get("/groups/new").get_data(as_text=True)
    offered = [e for e in episodes if f'id="attendee-{e.id}"' in page]
    assert offered == episodes[:2]
    assert "4 active patients; the first 2 by name are listed" in page
    found = client.get("/groups/new?q=young").get_data(as_text=True)
    assert f'id="attendee-{episodes[3].id}"' in found
    assert f'id="attendee-{episodes[0].id}"' not in found
    base = {
        "topic": "Coping skills",
        "modality": "cbt",
        "started_at": local_input(1),
        "duration_minutes": "0",
        "facilitator_id": str(counselor.id),
        "format": "DAP",
        "attendee": [str(episodes[3].id)],
    }
    refused = post_form(client, "/groups/new", base).get_data(as_text=True)
    assert f'value="{episodes[3].id}" id="attendee-{episodes[3].id}" checked' in refused


def test_group_form_errors_keep_choices(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=3)
    sign_in(client, counselor)
    base = {
        "topic": "Coping skills",
        "modality": "cbt",
        "started_at": local_input(1),
        "duration_minutes": "60",
        "facilitator_id": str(counselor.id),
        "format": "DAP",
        "shared-data": "Shared words",
    }
    none = post_form(client, "/groups/new", base)
    assert none.status_code == 422
    assert "Choose at least one attendee" in none.get_data(as_text=True)
    assert "Shared words" in none.get_data(as_text=True)
    bad = post_form(
        client, "/groups/new", {**base, "duration_minutes": "0", "attendee": [str(episode.id)]}
    )
    assert bad.status_code == 422
    assert f'value="{episode.id}" id="attendee-{episode.id}" checked' in bad.get_data(as_text=True)


def test_unsigned_list_highlights_old_notes_for_author_and_supervisor(client) -> None:
    counselor = make_staff("counselor", full_name="Nora Notes")
    episode = admit(make_patient(), counselor, days_ago=9)
    old = note(episode, counselor)
    old.created_at = utcnow() - timedelta(hours=80)
    note(episode, counselor)
    db.session.commit()
    sign_in(client, counselor)
    body = client.get("/notes/unsigned").get_data(as_text=True)
    assert body.count("over 72 h") == 1
    assert body.count("/notes/") >= 2
    sign_in(client, make_staff("supervisor"))
    body = client.get("/notes/unsigned").get_data(as_text=True)
    assert "Nora Notes" in body
    assert body.count("over 72 h") == 1


def _caseload_count(client, counselor, n: int) -> int:
    for i in range(n):
        episode = admit(make_patient(), counselor, days_ago=20 + i)
        session(episode, counselor, hours_ago=30, note=DAP)
        session(episode, counselor, hours_ago=3, attendance="scheduled")
        note(episode, counselor)
    with count_queries() as statements:
        assert client.get("/caseload").status_code == 200
    return len(statements)


def test_caseload_query_count_is_fixed_with_therapy_data(client) -> None:
    counselor = make_staff("counselor")
    sign_in(client, counselor)
    small = _caseload_count(client, counselor, 2)
    large = _caseload_count(client, counselor, 20)
    assert small == large
    body = client.get("/caseload").get_data(as_text=True)
    assert "need attendance" in body
    assert "at risk" in body


def test_chart_query_count_is_fixed_whatever_the_history(client) -> None:
    counselor = make_staff("counselor")
    patient = make_patient()
    episode = admit(patient, counselor, days_ago=60)
    sign_in(client, counselor)
    session(episode, counselor, hours_ago=2, note=DAP)
    with count_queries() as few:
        assert client.get(f"/patients/{patient.id}").status_code == 200
    for day in range(40):
        session(episode, counselor, hours_ago=24 * day + 5, note=DAP, sign=day % 2 == 0)
        note(episode, counselor)
    with count_queries() as many:
        page = client.get(f"/patients/{patient.id}?tl=2")
    assert page.status_code == 200
    assert len(few) == len(many), (len(few), len(many))
    assert "Page 2 of" in page.get_data(as_text=True)


def test_attendance_form_for_a_planned_session(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    due = session(episode, counselor, hours_ago=3, attendance="scheduled")
    ahead = session(episode, counselor, hours_ago=-30, attendance="scheduled")
    sign_in(client, counselor)
    chart = client.get(f"/patients/{episode.patient_id}").get_data(as_text=True)
    assert chart.count("needs attendance") == 1
    early = post_form(
        client,
        f"/sessions/{ahead.id}/attendance",
        {"attendance": "attended", "duration_minutes": "50", "format": "free", "free-text": "Kept"},
    )
    assert early.status_code == 422
    assert "cannot start in the future" in early.get_data(as_text=True)
    assert "Kept" in early.get_data(as_text=True)
    done = post_form(
        client,
        f"/sessions/{due.id}/attendance",
        {
            "attendance": "attended",
            "duration_minutes": "45",
            "format": "free",
            "free-text": "Ok",
            "action": "sign",
        },
    )
    assert done.status_code == 302
    db.session.refresh(due)
    assert (due.attendance, due.duration_minutes, due.note.status) == ("attended", 45, "signed")


def test_caseload_shows_the_current_level_of_care(client) -> None:
    from casemgr.core.timeutil import today
    from tests.factories import admit, make_level_of_care, make_patient, make_staff
    from tests.pages_helpers import sign_in

    counselor = make_staff("counselor")
    episode = admit(make_patient(last_name="Levelled"), counselor, days_ago=5)
    make_level_of_care(episode, make_staff("physician"), level="3.7", effective_on=today())
    sign_in(client, counselor)
    body = client.get("/caseload").get_data(as_text=True)
    assert ">3.7</td>" in body
