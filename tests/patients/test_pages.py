"""Patient and episode pages: forms keep what was typed and say what to fix."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casemgr.core.timeutil import today
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.models import Patient
from tests.conftest import post_form
from tests.factories import admit, make_patient, make_staff
from tests.pages_helpers import count_queries, sign_in

VALID = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10", "sex": "F"}


def test_intake_registers_a_patient_and_lands_on_the_chart(client) -> None:
    sign_in(client, make_staff("intake"))
    response = post_form(client, "/patients/new", {**VALID, "phone": "(555) 010-2000"})
    assert response.status_code == 302
    patient = db.session.scalars(sa.select(Patient).where(Patient.last_name == "Lovelace")).one()
    chart = client.get(response.headers["Location"]).get_data(as_text=True)
    assert patient.mrn in chart
    assert "Lovelace, Ada" in chart


def test_bad_registration_keeps_input_and_names_each_field(client) -> None:
    sign_in(client, make_staff("intake"))
    future = (today() + timedelta(days=2)).isoformat()
    response = post_form(
        client,
        "/patients/new",
        {
            "first_name": "Ada <b>",
            "last_name": "",
            "date_of_birth": future,
            "sex": "Q",
            "phone": "call me",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'value="Ada &lt;b&gt;"' in body  # kept, and escaped
    assert 'value="call me"' in body
    assert "Must not be blank" in body or "Missing data" in body
    assert "Use F, M, X" in body
    assert "digits" in body
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == 0


def test_future_birth_date_is_a_field_message(client) -> None:
    sign_in(client, make_staff("intake"))
    future = (today() + timedelta(days=2)).isoformat()
    response = post_form(client, "/patients/new", {**VALID, "date_of_birth": future})
    assert response.status_code == 422
    assert "cannot be in the future" in response.get_data(as_text=True)


def test_search_finds_by_name_part_and_mrn(client) -> None:
    sign_in(client, make_staff("intake"))
    patient = make_patient(first_name="Grace", last_name="Hopper")
    assert "Hopper, Grace" in client.get("/patients?q=opp").get_data(as_text=True)
    assert "Hopper, Grace" in client.get(f"/patients?q={patient.mrn}").get_data(as_text=True)
    assert "Hopper" not in client.get("/patients?q=zzz").get_data(as_text=True)


def test_counselor_search_shows_only_care_team(client) -> None:
    counselor = make_staff("counselor")
    mine = make_patient(last_name="Mineperson")
    admit(mine, counselor)
    make_patient(last_name="Otherperson")
    sign_in(client, counselor)
    body = client.get("/patients?q=person").get_data(as_text=True)
    assert "Mineperson" in body
    assert "Otherperson" not in body


def test_admit_form_opens_an_episode(client) -> None:
    intake = make_staff("intake")
    counselor = make_staff("counselor", full_name="Casey Counselor")
    patient = make_patient()
    sign_in(client, intake)
    form_url = f"/patients/{patient.id}/admit"
    assert "Casey Counselor" in client.get(form_url).get_data(as_text=True)
    response = post_form(
        client,
        form_url,
        {
            "admitted_on": today().isoformat(),
            "primary_counselor_id": counselor.id,
            "primary_substance": "13",
            "referral_source": "1",
            "service_setting": "5",
            "route": "1",
            "frequency": "3",
            "age_at_first_use": "-9",
            "secondary_substance": "",
        },
    )
    assert response.status_code == 302
    episode = db.session.scalars(sa.select(Episode).where(Episode.patient_id == patient.id)).one()
    assert (episode.age_at_first_use, episode.secondary_substance) == (-9, None)


def test_admit_form_errors_keep_choices(client) -> None:
    intake = make_staff("intake")
    counselor = make_staff("counselor")
    patient = make_patient()
    sign_in(client, intake)
    future = (today() + timedelta(days=1)).isoformat()
    response = post_form(
        client,
        f"/patients/{patient.id}/admit",
        {
            "admitted_on": future,
            "primary_counselor_id": counselor.id,
            "primary_substance": "99",
            "referral_source": "1",
            "service_setting": "5",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Not a valid code" in body
    assert f'value="{counselor.id}" selected' in body
    assert f'value="{future}"' in body


def test_second_admission_explains_itself(client) -> None:
    intake = make_staff("intake")
    counselor = make_staff("counselor")
    patient = make_patient()
    admit(patient, counselor)
    sign_in(client, intake)
    response = post_form(
        client,
        f"/patients/{patient.id}/admit",
        {
            "admitted_on": today().isoformat(),
            "primary_counselor_id": counselor.id,
            "primary_substance": "13",
            "referral_source": "1",
            "service_setting": "5",
        },
    )
    assert response.status_code == 422
    assert "already has an active episode" in response.get_data(as_text=True)


def test_discharge_form_refuses_date_before_admission(client) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=3)
    sign_in(client, counselor)
    url = f"/episodes/{episode.id}/discharge"
    before = (episode.admitted_on - timedelta(days=1)).isoformat()
    response = post_form(client, url, {"discharged_on": before, "reason": "1"})
    assert response.status_code == 422
    assert "before the admission date" in response.get_data(as_text=True)
    response = post_form(client, url, {"discharged_on": today().isoformat(), "reason": "1"})
    assert response.status_code == 302
    assert episode.status == "discharged"


def test_chart_shows_day_n_of_target(client) -> None:
    counselor = make_staff("counselor")
    patient = make_patient()
    admit(patient, counselor, days_ago=9)
    sign_in(client, counselor)
    body = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Day 10 of 90" in body
    assert "80 days left" in body


def test_stale_patient_edit_is_refused_not_overwritten(client) -> None:
    patient = make_patient(first_name="Original")
    sign_in(client, make_staff("intake"))
    form = {**VALID, "first_name": "Mine", "version": str(patient.version)}
    patient.first_name = "Theirs"  # someone else saves first
    db.session.commit()
    response = post_form(client, f"/patients/{patient.id}/edit", form)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Someone else changed this patient" in body
    assert 'value="Mine"' in body  # what the user typed is kept
    db.session.refresh(patient)
    assert patient.first_name == "Theirs"


def _caseload_queries(client, counselor, n: int) -> int:
    for i in range(n):
        admit(make_patient(), counselor, days_ago=i % 30)
    with count_queries() as statements:
        assert client.get("/caseload").status_code == 200
    return len(statements)


def test_caseload_query_count_does_not_grow_with_caseload(client) -> None:
    counselor = make_staff("counselor")
    sign_in(client, counselor)
    small = _caseload_queries(client, counselor, 2)
    large = _caseload_queries(client, counselor, 25)
    assert small == large
    # The caseload's totals (tiles and pager), its page, the work counts, and the audit event
    # (chain head read and moved, the insert; PostgreSQL adds the append lock).
    assert large <= 7


def test_chart_query_count_does_not_grow_with_history(client) -> None:
    from casemgr.episodes import services

    counselor = make_staff("counselor")
    patient = make_patient()
    sign_in(client, counselor)
    episode = admit(patient, counselor, days_ago=200)
    with count_queries() as few:
        client.get(f"/patients/{patient.id}")
    services.discharge(counselor, episode, discharged_on=today() - timedelta(days=150), reason=1)
    supervisor = make_staff("supervisor")
    for days in (100, 50):
        ep = admit(patient, counselor, days_ago=days)
        services.move_stage(supervisor, ep, "detox", reason="Assessed elsewhere", override=True)
        services.discharge(
            counselor, ep, discharged_on=today() - timedelta(days=days - 10), reason=2
        )
    admit(patient, counselor, days_ago=5)  # an active episode again, as in the first read
    db.session.commit()
    with count_queries() as many:
        client.get(f"/patients/{patient.id}")
    assert len(few) == len(many), (few, many)
