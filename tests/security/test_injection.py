"""SQL and script injection into every free-text field: stored verbatim, shown escaped, no effect.

Fields: patient names and search (API and page), staff full name, the six consent text
fields, the emergency access reason and review note, the disclosure recipient and purpose.
Structured fields (phone, e-mail, dates, codes, audit filters) refuse these strings (422).
"""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from markupsafe import escape

from casemgr.audit.models import Consent, Disclosure, EmergencyAccess
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff
from tests.conftest import api_headers, post_form
from tests.factories import PASSWORD, admit, make_emergency_grant, make_patient, make_staff
from tests.pages_helpers import sign_in

SQL = [
    "' OR '1'='1",
    "'; DROP TABLE patients; --",
    '" OR ""="',
    "Robert'); DROP TABLE staff;--",
    "' UNION SELECT username, password_hash FROM staff --",
    "1; SELECT pg_sleep(5); --",
    "%' AND 1=1 --",
    "\\'; DELETE FROM audit_events; --",
]
SCRIPT = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(document.cookie)>",
    "javascript:alert(1)",
    "'-alert(1)-'",
    "{{ 7*7 }}{% raw %}",
    "<iframe src=//evil.example></iframe>",
    "</textarea><script>fetch('/api/v1/staff')</script>",
]
STRINGS = SQL + SCRIPT


def _assert_shown_escaped(body: str, text: str) -> None:
    """The text appears HTML-escaped and never raw where it could act as markup."""
    assert str(escape(text)) in body or html.escape(text, quote=False) in body
    if "<" in text:
        assert text not in body


def _tables_intact() -> None:
    for model in (Patient, Staff, Consent):
        db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("text", STRINGS)
def test_patient_names_via_api_are_stored_verbatim_and_charted_escaped(client, text) -> None:
    make_staff("intake", username="ivy")
    headers = api_headers(client, "ivy", PASSWORD)
    body = {
        "first_name": text,
        "last_name": text[:90] + "x",
        "date_of_birth": "1990-01-01",
        "sex": "U",
    }
    response = client.post("/api/v1/patients", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["first_name"] == text
    patient = db.session.get(Patient, created["id"])
    assert patient.first_name == text
    sign_in(client, make_staff("supervisor"))
    chart = client.get(f"/patients/{patient.id}")
    assert chart.status_code == 200
    _assert_shown_escaped(chart.get_data(as_text=True), text)
    _tables_intact()


@pytest.mark.parametrize("text", STRINGS)
def test_search_treats_the_query_as_text(client, text) -> None:
    decoy = make_patient(first_name="Decoy", last_name="Person")
    target = make_patient(first_name=text, last_name="Target")
    sign_in(client, make_staff("supervisor"))
    page = client.get("/patients", query_string={"q": text})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f"/patients/{target.id}" in body
    assert f"/patients/{decoy.id}" not in body  # "' OR '1'='1" must not match everyone
    make_staff("nurse", username="nia")
    headers = api_headers(client, "nia", PASSWORD)
    found = client.get("/api/v1/patients", query_string={"q": text}, headers=headers).get_json()
    assert [p["id"] for p in found["items"]] == [target.id]


@pytest.mark.parametrize("text", STRINGS)
def test_patient_form_keeps_and_escapes_input(client, text) -> None:
    sign_in(client, make_staff("intake"))
    form = {"first_name": text, "last_name": "Form", "date_of_birth": "1990-01-01", "sex": "F"}
    response = post_form(client, "/patients/new", {**form, "phone": text, "email": text})
    assert response.status_code == 422  # phone and e-mail refuse free text
    body = response.get_data(as_text=True)
    _assert_shown_escaped(body, text)
    ok = post_form(client, "/patients/new", form)
    assert ok.status_code == 302
    assert db.session.scalars(sa.select(Patient.first_name)).all() == [text]


@pytest.mark.parametrize("text", STRINGS)
def test_staff_full_name_is_escaped_on_admin_pages_and_the_navbar(client, text) -> None:
    make_staff("admin", username="ada")
    headers = api_headers(client, "ada", PASSWORD)
    response = client.post(
        "/api/v1/staff",
        json={
            "username": "newbie",
            "full_name": text,
            "roles": ["nurse"],
            "password": "violet-harbour-lantern-92",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    staff = db.session.scalars(sa.select(Staff).where(Staff.username == "newbie")).one()
    assert staff.full_name == text.strip()
    sign_in(client, db.session.scalars(sa.select(Staff).where(Staff.username == "ada")).one())
    _assert_shown_escaped(client.get("/admin/staff").get_data(as_text=True), text.strip())
    sign_in(client, staff)
    _assert_shown_escaped(client.get("/account/mfa").get_data(as_text=True), text.strip())


@pytest.mark.parametrize("text", STRINGS)
def test_consent_fields_are_stored_verbatim_and_shown_escaped(client, text) -> None:
    patient = make_patient()
    admit(patient, make_staff("counselor"))
    sign_in(client, make_staff("intake"))
    fields = ("discloser", "recipient", "purpose", "information", "expiry_event", "signed_by")
    form = {name: text for name in fields}
    response = post_form(
        client, f"/patients/{patient.id}/consents/new", {**form, "signed_on": "2026-01-01"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    consent = db.session.scalars(sa.select(Consent)).one()
    assert {getattr(consent, name) for name in fields} == {text}
    chart = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    _assert_shown_escaped(chart, text)


@pytest.mark.parametrize("text", STRINGS)
def test_emergency_reason_and_review_note_are_escaped(client, text) -> None:
    owner, outsider = make_staff("counselor"), make_staff("counselor")
    patient = make_patient()
    admit(patient, owner)
    sign_in(client, outsider)
    reason = f"Crisis call: {text}"
    response = post_form(client, f"/emergency-access/request/{patient.id}", {"reason": reason})
    assert response.status_code == 302
    grant = db.session.scalars(sa.select(EmergencyAccess)).one()
    assert grant.reason == reason
    sign_in(client, make_staff("supervisor"))
    listing = client.get("/emergency-access").get_data(as_text=True)
    _assert_shown_escaped(listing, reason)
    post_form(
        client,
        "/emergency-access",
        {"review_note": text},
        action=f"/emergency-access/{grant.id}/review",
    )
    db.session.refresh(grant)
    assert grant.review_note == text.strip()
    _assert_shown_escaped(
        client.get("/emergency-access?all=1").get_data(as_text=True), text.strip()
    )


@pytest.mark.parametrize("text", STRINGS)
def test_disclosure_recipient_and_purpose_are_escaped_in_the_accounting(client, text) -> None:
    counselor = make_staff("counselor")
    patient = make_patient()
    admit(patient, counselor)
    sign_in(client, counselor)
    response = post_form(
        client,
        f"/patients/{patient.id}/disclose",
        {"legal_basis": "medical_emergency", "recipient": text, "purpose": text, "format": "print"},
    )
    assert response.status_code == 200
    _assert_shown_escaped(response.get_data(as_text=True), text.strip())
    assert db.session.scalars(sa.select(Disclosure.recipient)).one() == text.strip()
    _assert_shown_escaped(
        client.get(f"/patients/{patient.id}").get_data(as_text=True), text.strip()
    )


@pytest.mark.parametrize("text", STRINGS)
def test_structured_filters_refuse_injection(client, text) -> None:
    sign_in(client, make_staff("admin"))
    for params in ({"action": text}, {"actor_id": text}, {"from": text}, {"sort": text}):
        response = client.get("/admin/audit", query_string=params)
        assert response.status_code == 422
        if "<" in text:
            assert text not in response.get_data(as_text=True)


def test_a_grant_made_by_a_factory_renders_too(client) -> None:
    """Guard against a template that only escapes on the form path."""
    grant = make_emergency_grant(make_staff("counselor"), make_patient())
    sign_in(client, make_staff("supervisor"))
    assert grant.reason in client.get("/emergency-access").get_data(as_text=True)
