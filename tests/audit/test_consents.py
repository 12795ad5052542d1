"""42 CFR Part 2: consents with the §2.31 elements; disclosures need one (or a legal basis)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from casemgr.audit import services
from casemgr.audit.models import AuditEvent, Consent, Disclosure
from casemgr.audit.services import REDISCLOSURE_NOTICE
from casemgr.core.errors import RuleViolation
from casemgr.core.timeutil import today
from casemgr.extensions import db
from tests.conftest import post_form
from tests.factories import admit, make_consent, make_patient, make_staff
from tests.pages_helpers import sign_in

CONSENT = {
    "discloser": "Riverside Recovery Center",
    "recipient": "Dr. Alvarez, County Health",
    "purpose": "Coordination of care after discharge",
    "information": "Diagnosis, medications, discharge summary",
    "expires_on": "",
    "expiry_event": "One year after discharge",
    "signed_on": "",
    "signed_by": "The patient",
}


def _patient_and_staff():
    counselor = make_staff("counselor")
    patient = make_patient()
    admit(patient, counselor, days_ago=20)
    return patient, counselor


def test_intake_records_a_consent_with_every_element(client) -> None:
    patient, _ = _patient_and_staff()
    sign_in(client, make_staff("intake"))
    url = f"/patients/{patient.id}/consents/new"
    response = post_form(client, url, {**CONSENT, "signed_on": today().isoformat()})
    assert response.status_code == 302
    consent = db.session.scalars(sa.select(Consent)).one()
    assert (consent.recipient, consent.expiry_event, consent.signed_by) == (
        CONSENT["recipient"],
        CONSENT["expiry_event"],
        "The patient",
    )
    chart = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Dr. Alvarez, County Health" in chart
    assert "valid" in chart


def test_consent_without_expiry_or_signature_date_is_refused_field_by_field(client) -> None:
    patient, _ = _patient_and_staff()
    sign_in(client, make_staff("intake"))
    url = f"/patients/{patient.id}/consents/new"
    response = post_form(client, url, {**CONSENT, "expiry_event": "", "recipient": "Dr. <b>X</b>"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Give an expiry date or an expiry event" in body
    assert 'id="signed_on-error"' in body
    assert 'value="Dr. &lt;b&gt;X&lt;/b&gt;"' in body
    assert db.session.scalar(sa.select(sa.func.count(Consent.id))) == 0


def test_future_signature_is_refused(app) -> None:
    patient, counselor = _patient_and_staff()
    data = {k: v for k, v in CONSENT.items() if v}
    with pytest.raises(RuleViolation):
        services.record_consent(counselor, patient, **data, signed_on=today() + timedelta(days=1))


def test_disclosure_without_consent_or_legal_basis_is_refused(client) -> None:
    patient, counselor = _patient_and_staff()
    sign_in(client, counselor)
    response = post_form(client, f"/patients/{patient.id}/disclose", {"format": "print"})
    assert response.status_code == 422
    assert "valid consent or a recorded legal basis" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 0


def test_print_under_consent_carries_the_notice_and_is_accounted(client) -> None:
    patient, counselor = _patient_and_staff()
    consent = make_consent(patient)
    sign_in(client, counselor)
    response = post_form(
        client, f"/patients/{patient.id}/disclose", {"consent_id": consent.id, "format": "print"}
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert REDISCLOSURE_NOTICE[:120] in body
    assert patient.mrn in body
    disclosure = db.session.scalars(sa.select(Disclosure)).one()
    assert (disclosure.consent_id, disclosure.kind, disclosure.recipient) == (
        consent.id,
        "chart_print",
        consent.recipient,
    )
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"disclosure.create", "patient.print"} <= actions
    chart = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Accounting of disclosures" in chart
    assert "chart print to <strong>Dr. Referral, County Clinic</strong>" in chart


def test_csv_export_under_legal_basis_starts_with_the_notice(client) -> None:
    patient, counselor = _patient_and_staff()
    sign_in(client, counselor)
    response = post_form(
        client,
        f"/patients/{patient.id}/disclose",
        {
            "legal_basis": "medical_emergency",
            "recipient": "St. Mary ED",
            "purpose": "Overdose treatment",
            "format": "csv",
        },
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["notice", REDISCLOSURE_NOTICE]
    assert patient.mrn in rows[3]
    disclosure = db.session.scalars(sa.select(Disclosure)).one()
    assert (disclosure.legal_basis, disclosure.consent_id) == ("medical_emergency", None)
    assert "patient.export" in set(db.session.scalars(sa.select(AuditEvent.action)))


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_on": "today"},
        {"expires_on": "yesterday", "signed_on": "last_month"},
        {"signed_on": "tomorrow", "expires_on": "next_year"},
    ],
    ids=["revoked", "expired", "not-yet-signed"],
)
def test_revoked_expired_or_future_consent_does_not_cover_a_disclosure(client, change) -> None:
    days = {
        "today": today(),
        "yesterday": today() - timedelta(days=1),
        "last_month": today() - timedelta(days=30),
        "tomorrow": today() + timedelta(days=1),
        "next_year": today() + timedelta(days=365),
    }
    patient, counselor = _patient_and_staff()
    consent = make_consent(patient, **{k: days[v] for k, v in change.items()})
    sign_in(client, counselor)
    response = post_form(
        client, f"/patients/{patient.id}/disclose", {"consent_id": consent.id, "format": "print"}
    )
    assert response.status_code == 422
    assert "expired, revoked or not yet signed" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 0


def test_another_patients_consent_cannot_be_used(client) -> None:
    patient, counselor = _patient_and_staff()
    stranger_consent = make_consent(make_patient())
    sign_in(client, counselor)
    response = post_form(
        client,
        f"/patients/{patient.id}/disclose",
        {"consent_id": stranger_consent.id, "format": "print"},
    )
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 0


def test_revoking_keeps_the_consent_and_past_disclosures(client) -> None:
    patient, counselor = _patient_and_staff()
    consent = make_consent(patient)
    services.disclose(counselor, patient, kind="chart_print", consent_id=consent.id)
    db.session.commit()
    sign_in(client, make_staff("intake"))
    response = post_form(
        client, f"/patients/{patient.id}/consents/new", {}, action=f"/consents/{consent.id}/revoke"
    )
    assert response.status_code == 302
    db.session.refresh(consent)
    assert consent.revoked_on == today()
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 1
    chart = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "revoked" in chart


def test_counselor_cannot_record_consents_or_disclose_another_care_teams_record(client) -> None:
    patient, _ = _patient_and_staff()
    outsider = make_staff("counselor")
    sign_in(client, outsider)
    assert client.get(f"/patients/{patient.id}/consents/new").status_code == 403
    assert client.get(f"/patients/{patient.id}/disclose").status_code == 403


def test_extract_with_many_patients_is_accounted_for_each(app) -> None:
    """The service the TEDS extract will call: one disclosure per patient, legal basis needed."""
    patients = [make_patient() for _ in range(3)]
    staff = make_staff("admin")
    count = services.disclose_many(
        staff,
        [p.id for p in patients] + [patients[0].id],
        kind="teds_extract",
        legal_basis="state_reporting",
        recipient="State TEDS office",
        purpose="Quarterly TEDS admissions",
    )
    db.session.commit()
    assert count == 3
    rows = db.session.scalars(sa.select(Disclosure).order_by(Disclosure.patient_id)).all()
    assert [r.patient_id for r in rows] == sorted(p.id for p in patients)
    with pytest.raises(RuleViolation):
        services.disclose_many(
            staff,
            [patients[0].id],
            kind="teds_extract",
            legal_basis="because",
            recipient="Anyone",
            purpose="Curiosity",
        )


def test_database_refuses_a_disclosure_without_consent_or_basis(app) -> None:
    patient = make_patient()
    db.session.add(
        Disclosure(patient_id=patient.id, kind="chart_print", recipient="X", purpose="Y")
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
