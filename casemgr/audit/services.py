"""Write audit events inside the caller's transaction, so an event exists iff the action does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, g, has_request_context, request

from casemgr.audit import chain
from casemgr.audit.models import AuditEvent
from casemgr.core.db import utcnow
from casemgr.extensions import db

OUTCOMES = ("success", "denied", "failure")


def _object_identity(obj: Any) -> tuple[str | None, int | None]:
    """Return (type, id) for a model instance, flushing first if it has no id yet."""
    if obj is None:
        return None, None
    if getattr(obj, "id", None) is None:
        db.session.flush()
    return getattr(obj, "__tablename__", type(obj).__name__.lower()), obj.id


def client_ip() -> str | None:
    """Return the client address of the current request (ProxyFix sets it behind nginx)."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:45] or None


def record(
    actor: Any,
    action: str,
    obj: Any = None,
    patient: Any = None,
    *,
    outcome: str = "success",
    patient_id: int | None = None,
) -> AuditEvent:
    """Append one audit event to the chain in the current transaction; the caller commits.

    The event is linked into the chain when the transaction commits (chain.defer), so the
    chain's lock is held for the commit only, not for the rest of the request.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    object_type, object_id = _object_identity(obj)
    if patient is not None:
        patient_id = patient.id
    actor_id = getattr(actor, "id", None) if getattr(actor, "is_authenticated", True) else None
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        outcome=outcome,
        ip=client_ip(),
    )
    chain.defer(db.session(), event)
    if has_request_context():
        g.setdefault("audit_events", []).append(event)
    return event


class _Reference:
    """Names a record by table and id for an audit event, without loading it."""

    def __init__(self, table: str, record_id: int) -> None:
        self.__tablename__ = table
        self.id = record_id


def audit_untracked_access(response: Response) -> Response:
    """Leave an audit event for a request that reached a patient's record but wrote none.

    The request guard notes the patient whose record a URL names; views and services write
    the precise event (``note.sign``, ``patient.view``...). When none survived (a page that
    only displayed the record, or a form re-rendered after its save was rolled back), this
    safety net writes ``record.access`` so that no read or attempted write goes unaudited.
    """
    patient_id = g.get("guard_patient_id")
    record_ref = g.get("guard_record")
    if patient_id is None and record_ref is None:
        return response
    if not (response.status_code < 400 or response.status_code == 422):
        return response
    if any(sa.inspect(e).persistent for e in g.get("audit_events", [])):
        return response
    from flask_login import current_user

    db.session.rollback()
    outcome = "success" if response.status_code < 400 else "failure"
    obj = _Reference(*record_ref) if record_ref else None
    record(current_user, "record.access", obj, patient_id=patient_id, outcome=outcome)
    db.session.commit()
    return response


# --- Emergency access (break the glass) -------------------------------------------------

#: How long an emergency access grant lasts (DESIGN.md §4: "access for a limited time").
EMERGENCY_ACCESS_HOURS = 4


def grant_emergency_access(actor: Any, patient: Any, reason: str) -> Any:
    """Open a chart outside the actor's care team for a few hours, with a stated reason."""
    from datetime import timedelta

    from casemgr.audit.models import EmergencyAccess
    from casemgr.core.db import utcnow
    from casemgr.core.errors import Conflict, field_error
    from casemgr.core.guard import chart_access_allowed

    reason = reason.strip()
    if len(reason) < 10:
        raise field_error("reason", "Say why you need this chart (at least 10 characters).")
    if chart_access_allowed(actor, patient.id):
        raise Conflict("You can already open this chart; emergency access is not needed.")
    now = utcnow()
    grant = EmergencyAccess(
        staff_id=actor.id,
        patient_id=patient.id,
        reason=reason,
        granted_at=now,
        expires_at=now + timedelta(hours=EMERGENCY_ACCESS_HOURS),
    )
    db.session.add(grant)
    db.session.flush()
    record(actor, "emergency_access.grant", grant, patient)
    return grant


def review_emergency_access(actor: Any, grant: Any, note: str | None) -> Any:
    """Mark a grant reviewed by a supervisor (not the person who used it)."""
    from casemgr.core.db import utcnow
    from casemgr.core.errors import Conflict

    if grant.reviewed_at is not None:
        raise Conflict("This emergency access was already reviewed.")
    if grant.staff_id == getattr(actor, "id", None):
        raise Conflict("Someone else must review your own emergency access.")
    grant.reviewed_by_id = actor.id
    grant.reviewed_at = utcnow()
    grant.review_note = (note or "").strip() or None
    record(actor, "emergency_access.review", grant, patient_id=grant.patient_id)
    db.session.flush()
    return grant


# --- 42 CFR Part 2: consents and disclosures ---------------------------------------------

#: The notice every disclosure carries (42 CFR §2.32(a)(1), 2024 final rule); one constant,
#: used by every export, print and extract.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, or "
    "testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: (A) Further use "
    "or disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part "
    "2. (B) You are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations, or (C) You have received the record from "
    "a covered entity or business associate as permitted by 45 CFR part 164, subparts A and "
    "E. A general authorization for the release of medical or other information is NOT "
    "sufficient to meet the required elements of written consent to further use or redisclose "
    "the record (see 42 CFR 2.31)."
)

#: Disclosures Part 2 allows without the patient's consent, and the section allowing each.
LEGAL_BASES: dict[str, str] = {
    "medical_emergency": "Medical emergency (42 CFR 2.51)",
    "research": "Research (42 CFR 2.52)",
    "audit_evaluation": "Audit and evaluation (42 CFR 2.53)",
    "qualified_service_organization": "Qualified service organization (42 CFR 2.11, 2.12(c)(4))",
    "court_order": "Court order (42 CFR 2.64, 2.65)",
    "state_reporting": "Mandated state or federal reporting, e.g. TEDS (42 CFR 2.53)",
}
DISCLOSURE_KINDS = ("chart_print", "chart_csv", "teds_extract", "report_csv")


def record_consent(actor: Any, patient: Any, **data: Any) -> Any:
    """Record a signed §2.31 consent for a patient."""
    from casemgr.audit.models import Consent
    from casemgr.core.errors import field_error
    from casemgr.core.timeutil import today

    if data["signed_on"] > today():
        raise field_error("signed_on", "Cannot be in the future.")
    consent = Consent(patient_id=patient.id, created_by_id=getattr(actor, "id", None), **data)
    db.session.add(consent)
    db.session.flush()
    record(actor, "consent.create", consent, patient)
    return consent


def revoke_consent(actor: Any, consent: Any) -> Any:
    """Revoke a consent from today on; disclosures already made stay in the accounting."""
    from casemgr.core.errors import Conflict
    from casemgr.core.timeutil import today

    if consent.revoked_on is not None:
        raise Conflict("This consent is already revoked.")
    consent.revoked_on = max(today(), consent.signed_on)
    consent.revoked_by_id = actor.id
    record(actor, "consent.revoke", consent, patient_id=consent.patient_id)
    db.session.flush()
    return consent


def _disclosure_terms(
    patient_id: int,
    consent_id: int | None,
    legal_basis: str | None,
    recipient: str | None,
    purpose: str | None,
) -> tuple[Any, str, str]:
    """Check the consent or legal basis of a disclosure and return (consent, recipient, why)."""
    from casemgr.audit.models import Consent
    from casemgr.core.errors import field_error
    from casemgr.core.timeutil import today

    if consent_id is not None:
        consent = db.session.get(Consent, consent_id)
        if consent is None or consent.patient_id != patient_id:
            raise field_error("consent_id", "Choose one of this patient's consents.")
        if not consent.valid_on(today()):
            raise field_error("consent_id", "This consent is expired, revoked or not yet signed.")
        return consent, consent.recipient, consent.purpose
    if legal_basis not in LEGAL_BASES:
        raise field_error(
            "consent_id", "A disclosure needs a valid consent or a recorded legal basis."
        )
    if not recipient or not recipient.strip():
        raise field_error("recipient", "Name the recipient.")
    if not purpose or not purpose.strip():
        raise field_error("purpose", "State the purpose.")
    return None, recipient.strip(), purpose.strip()


def disclose(
    actor: Any,
    patient: Any,
    *,
    kind: str,
    consent_id: int | None = None,
    legal_basis: str | None = None,
    recipient: str | None = None,
    purpose: str | None = None,
) -> Any:
    """Record one disclosure of a patient's record (refused without consent or legal basis)."""
    from casemgr.audit.models import Disclosure

    if kind not in DISCLOSURE_KINDS:
        raise ValueError(f"unknown disclosure kind {kind!r}")
    consent, recipient, purpose = _disclosure_terms(
        patient.id, consent_id, legal_basis, recipient, purpose
    )
    disclosure = Disclosure(
        patient_id=patient.id,
        consent_id=consent.id if consent is not None else None,
        legal_basis=None if consent is not None else legal_basis,
        kind=kind,
        recipient=recipient,
        purpose=purpose,
        disclosed_by_id=getattr(actor, "id", None),
    )
    db.session.add(disclosure)
    db.session.flush()
    record(actor, "disclosure.create", disclosure, patient)
    return disclosure


def disclose_many(
    actor: Any,
    patient_ids: list[int],
    *,
    kind: str,
    legal_basis: str,
    recipient: str,
    purpose: str,
) -> int:
    """Record a disclosure for every patient in an extract (a TEDS file, a CSV with patients).

    Extracts with rows for many patients go out under a legal basis (consents are per
    patient); each patient's accounting of disclosures still lists it.
    """
    from casemgr.audit.models import Disclosure

    if kind not in DISCLOSURE_KINDS:
        raise ValueError(f"unknown disclosure kind {kind!r}")
    _disclosure_terms(0, None, legal_basis, recipient, purpose)
    unique_ids = sorted(set(patient_ids))
    rows = [
        {
            "patient_id": patient_id,
            "legal_basis": legal_basis,
            "kind": kind,
            "recipient": recipient.strip(),
            "purpose": purpose.strip(),
            "disclosed_by_id": getattr(actor, "id", None),
        }
        for patient_id in unique_ids
    ]
    # One multi-row INSERT per batch, not a round trip per patient (extracts hold thousands).
    inserted = (
        db.session.execute(
            sa.insert(Disclosure).returning(Disclosure.id, Disclosure.patient_id), rows
        ).all()
        if rows
        else []
    )
    for disclosure_id, patient_id in sorted(inserted, key=lambda row: row[1]):
        record(
            actor,
            "disclosure.create",
            _Reference(Disclosure.__tablename__, disclosure_id),
            patient_id=patient_id,
        )
    return len(unique_ids)
