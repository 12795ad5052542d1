"""Admissions pages: forms keep what was typed, refusals explain themselves, clinicians see
coverage status only, the report renders as page, chart and CSV."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from casemgr.core.timeutil import today
from casemgr.extensions import db
from casemgr.intake import services
from casemgr.intake.models import Inquiry
from tests.conftest import post_form
from tests.factories import admit, make_patient, make_staff
from tests.intake.builders import make_coverage, make_inquiry
from tests.pages_helpers import count_queries, sign_in

CALL = {
    "first_name": "Alex",
    "last_name": "Moreno",
    "phone": "(555) 010-4455",
    "referral_source": "1",
    "urgency": "urgent",
}


def test_intake_lands_on_the_pipeline(client) -> None:
    sign_in(client, make_staff("intake"))
    assert client.get("/").headers["Location"].endswith("/intake")
    make_inquiry(first_name="Wes", last_name="Board", status="screening")
    body = client.get("/intake").get_data(as_text=True)
    assert "Board, Wes" in body
    assert "Admissions pipeline" in body


def test_phone_form_takes_an_inquiry_with_screening(client) -> None:
    sign_in(client, make_staff("intake"))
    response = post_form(
        client,
        "/intake/inquiries/new",
        {**CALL, "primary_substance": "13", "frequency": "3", "withdrawal_seizures": "true"},
    )
    assert response.status_code == 302
    inquiry = db.session.scalars(sa.select(Inquiry)).one()
    assert (inquiry.withdrawal_seizures, inquiry.daily_alcohol) == (True, False)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Needs medically supervised detox" in page
    assert "History of withdrawal seizures" in page


def test_phone_form_keeps_input_and_names_each_field(client) -> None:
    sign_in(client, make_staff("intake"))
    response = post_form(
        client,
        "/intake/inquiries/new",
        {
            **CALL,
            "first_name": "Al <b>",
            "phone": "call later",
            "referral_source": "",
            "date_of_birth": "2199-01-01",
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'value="Al &lt;b&gt;"' in body
    assert 'value="call later"' in body
    assert "7 to 20 digits" in body
    assert 'value="urgent" selected' in body
    assert db.session.scalar(sa.select(sa.func.count(Inquiry.id))) == 0


def test_refused_move_is_explained_on_the_page(client) -> None:
    sign_in(client, make_staff("intake"))
    inquiry = make_inquiry()
    url = f"/intake/inquiries/{inquiry.id}"
    response = post_form(client, url, {"status": "declined", "reason": ""}, action=f"{url}/status")
    assert response.status_code == 422
    assert "Give a reason" in response.get_data(as_text=True)
    response = post_form(client, url, {"status": "screening"}, action=f"{url}/status")
    assert response.status_code == 302
    assert db.session.get(Inquiry, inquiry.id).status == "screening"
    response = post_form(client, url, {"status": "waitlist"}, action=f"{url}/status")
    assert response.status_code == 422
    assert "Record the screening answers" in response.get_data(as_text=True)


def test_admit_page_offers_the_match_and_admits_the_chosen_patient(client) -> None:
    sign_in(client, make_staff("intake"))
    counselor = make_staff("counselor", full_name="Casey Counselor")
    dob = today().replace(year=1979)
    existing = make_patient(first_name="Robin", last_name="Okafor", date_of_birth=dob)
    inquiry = make_inquiry(
        status="waitlist",
        first_name="Robin",
        last_name="Okafor",
        date_of_birth=dob,
        primary_substance=5,
        days_ago=4,
    )
    url = f"/intake/inquiries/{inquiry.id}/admit"
    page = client.get(url).get_data(as_text=True)
    assert existing.mrn in page
    assert 'value="5" selected' in page  # prefilled substance
    form = {
        "admitted_on": today().isoformat(),
        "primary_counselor_id": counselor.id,
        "service_setting": "5",
        "primary_substance": "5",
    }
    response = post_form(client, url, form)
    assert response.status_code == 422
    assert "Choose the existing patient" in response.get_data(as_text=True)
    response = post_form(client, url, {**form, "patient_choice": str(existing.id)})
    assert response.status_code == 302
    assert db.session.get(Inquiry, inquiry.id).patient_id == existing.id
    chart = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Days waiting" in chart


def test_admit_page_refuses_a_declined_inquiry(client) -> None:
    sign_in(client, make_staff("intake"))
    inquiry = make_inquiry(
        status="declined", primary_substance=2, date_of_birth=today().replace(year=1980)
    )
    url = f"/intake/inquiries/{inquiry.id}/admit"
    assert "only a screened or waitlisted" in client.get(url).get_data(as_text=True)
    form = {
        "admitted_on": today().isoformat(),
        "primary_counselor_id": make_staff("counselor").id,
        "service_setting": "5",
    }
    response = post_form(client, url, form)
    assert response.status_code == 422
    assert "closed" in response.get_data(as_text=True)


def test_waitlist_page_orders_and_shows_places(client) -> None:
    admin = make_staff("admin")
    services.set_places(admin, "inpatient", 1)
    admit(make_patient(), make_staff("counselor"), service_setting=5)
    make_inquiry(status="waitlist", first_name="Later", last_name="Routine", days_ago=9)
    make_inquiry(status="waitlist", first_name="First", last_name="Emergency", urgency="emergency")
    db.session.commit()
    sign_in(client, make_staff("intake"))
    body = client.get("/intake/waitlist").get_data(as_text=True)
    assert body.index("Emergency, First") < body.index("Routine, Later")
    assert "full" in body


def test_places_page_for_admins(client) -> None:
    sign_in(client, make_staff("admin"))
    response = post_form(client, "/intake/places", {"inpatient": "x", "outpatient": "40"})
    assert response.status_code == 422
    assert 'value="40"' in response.get_data(as_text=True)
    response = post_form(client, "/intake/places", {"inpatient": "12", "outpatient": "40"})
    assert response.status_code == 302
    assert "12" in client.get("/intake/places").get_data(as_text=True)


def test_chart_shows_money_to_intake_and_status_only_to_the_counselor(client) -> None:
    counselor = make_staff("counselor")
    patient = make_patient()
    admit(patient, counselor)
    coverage = make_coverage(patient, payer="Blue Ridge", member_id="MEM-99123")
    services.verify_coverage(
        None, coverage, status="verified", verified_on=today(), deductible_cents=1234_00
    )
    db.session.commit()
    sign_in(client, make_staff("intake"))
    intake_view = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "MEM-99123" in intake_view
    assert "$1234.00" in intake_view
    sign_in(client, counselor)
    with count_queries() as statements:
        counselor_view = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Blue Ridge" in counselor_view
    assert "Verified" in counselor_view
    assert "MEM-99123" not in counselor_view
    assert "1234" not in counselor_view
    # Every chart section (pathway, timeline, coverage, consents...) reads a fixed number of
    # rows; the whole chart stays bounded (growth is tested in tests/therapy/test_pages.py).
    assert len(statements) < 40


def test_coverage_form_refuses_a_second_primary_with_a_message(client) -> None:
    sign_in(client, make_staff("intake"))
    patient = make_patient()
    make_coverage(patient)
    url = f"/patients/{patient.id}/coverages/new"
    response = post_form(
        client, url, {"payer": "Second", "member_id": "AB123456", "priority": "primary"}
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "already has an active primary coverage" in body
    assert 'value="AB123456"' in body


def test_verify_and_authorization_forms_explain_bad_input(client) -> None:
    sign_in(client, make_staff("intake"))
    patient = make_patient()
    episode = admit(patient, make_staff("counselor"))
    coverage = make_coverage(patient)
    future = (today() + timedelta(days=3)).isoformat()
    response = post_form(
        client,
        f"/coverages/{coverage.id}/verify",
        {"status": "verified", "verified_on": future, "deductible": "$1,500.00"},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "cannot be in the future" in body
    assert 'value="$1,500.00"' in body
    response = post_form(
        client,
        f"/episodes/{episode.id}/authorizations/new",
        {
            "level": "5",
            "number": "A-1",
            "approved_days": "14",
            "starts_on": today().isoformat(),
            "ends_on": (today() - timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 422
    assert "cannot end before it starts" in response.get_data(as_text=True)


def test_review_page_lists_unverified_admissions(client) -> None:
    patient = make_patient(first_name="Una", last_name="Verified")
    admit(patient, make_staff("counselor"))
    sign_in(client, make_staff("intake"))
    body = client.get("/intake/review").get_data(as_text=True)
    assert "Verified, Una" in body
    assert "none recorded" in body


def test_funnel_page_chart_and_csv(client) -> None:
    make_inquiry(status="waitlist", days_ago=3)
    make_inquiry(status="referred_out", days_ago=2)
    sign_in(client, make_staff("supervisor"))
    body = client.get("/intake/reports/funnel").get_data(as_text=True)
    assert "<svg" in body
    assert "funnel-bar" in body
    assert "<td>Referred out</td>" in body
    assert " style=" not in body  # CSP: no inline styles
    csv_body = client.get("/intake/reports/funnel?format=csv").get_data(as_text=True)
    assert csv_body.splitlines()[1] == "Inquiries,2,"
    bad = client.get("/intake/reports/funnel?from=2026-13-01")
    assert bad.status_code == 422
