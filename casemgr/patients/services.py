"""Patient rules: registration with a fresh MRN, demographic edits, search."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from casemgr.audit.services import record
from casemgr.core.errors import Conflict, field_error
from casemgr.core.timeutil import today
from casemgr.extensions import db
from casemgr.patients import mrn as mrn_rules
from casemgr.patients.models import Patient

EDITABLE = ("first_name", "last_name", "date_of_birth", "sex", "phone", "email")


def _check_birth_date(value: date) -> None:
    """Refuse birth dates in the future or implausibly far back."""
    if value > today():
        raise field_error("date_of_birth", "The date of birth cannot be in the future.")
    if value.year < 1900:
        raise field_error("date_of_birth", "The date of birth must be after 1900.")


def create_patient(
    actor: Any,
    *,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    sex: str,
    phone: str | None = None,
    email: str | None = None,
) -> Patient:
    """Register a patient under a new, never-reused MRN."""
    _check_birth_date(date_of_birth)
    for _attempt in range(5):
        patient = Patient(
            mrn=mrn_rules.new_mrn(),
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            date_of_birth=date_of_birth,
            sex=sex,
            phone=phone or None,
            email=email or None,
            created_by_id=getattr(actor, "id", None),
        )
        try:
            with db.session.begin_nested():
                db.session.add(patient)
                db.session.flush()
        except IntegrityError:
            continue  # an MRN collision: draw again (one in millions)
        record(actor, "patient.create", patient, patient)
        return patient
    raise RuntimeError("could not allocate a unique MRN")


def update_patient(
    actor: Any, patient: Patient, changes: dict[str, Any], expected_version: int | None = None
) -> Patient:
    """Change demographics; the MRN never changes; a stale ``expected_version`` is refused.

    Field problems (422) are reported before a stale version (409).
    """
    if "date_of_birth" in changes:
        _check_birth_date(changes["date_of_birth"])
    if expected_version is not None and expected_version != patient.version:
        raise Conflict("This patient was changed by someone else; reload and try again.")
    for key in EDITABLE:
        if key in changes:
            value = changes[key]
            if isinstance(value, str):
                value = value.strip() or (None if key in ("phone", "email") else value)
            setattr(patient, key, value)
    db.session.flush()
    record(actor, "patient.update", patient, patient)
    return patient


def search_filter(q: str) -> sa.ColumnElement[bool]:
    """Match a case-insensitive part of the first or last name, or the exact MRN."""
    q = q.strip()
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(
        Patient.mrn == q,
        sa.func.lower(Patient.first_name).like(pattern, escape="\\"),
        sa.func.lower(Patient.last_name).like(pattern, escape="\\"),
    )
