"""Admissions rules: the inquiry pipeline, screening, admission from an inquiry, places, insurance.

Services check the rules, write the audit event in the same transaction and never commit.
Field problems (422) are raised before state conflicts (409), as shared/API.md asks.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, RuleViolation, field_error
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.intake.models import (
    CATEGORIES,
    CLOSED_STATUSES,
    STATUS_LABELS,
    Authorization,
    Coverage,
    Inquiry,
    InquiryStatusChange,
    Place,
    Verification,
)
from casemgr.intake.screening import SCREENING_FIELDS, detox_reasons
from casemgr.patients import services as patient_services
from casemgr.patients.models import Patient

#: The pipeline: which status may follow which (admission goes through admit_inquiry).
#: A lost contact may be reopened when the person calls back; a referral out or a decline is
#: final, and a later call starts a new inquiry (so days waiting count from that call).
TRANSITIONS: dict[str, frozenset[str]] = {
    "inquiry": frozenset({"screening", *CLOSED_STATUSES}),
    "screening": frozenset({"waitlist", *CLOSED_STATUSES}),
    "waitlist": frozenset({"screening", *CLOSED_STATUSES}),
    "lost_contact": frozenset({"inquiry", "screening", "waitlist"}),
    "referred_out": frozenset(),
    "declined": frozenset(),
    "admitted": frozenset(),
}
#: Statuses an inquiry may be admitted from (screened at least).
ADMITTABLE = frozenset({"screening", "waitlist"})
#: Contact fields an intake worker may correct on an open inquiry.
EDITABLE = (
    "first_name",
    "last_name",
    "phone",
    "date_of_birth",
    "sex",
    "caller_name",
    "caller_relationship",
    "referral_source",
    "primary_substance",
    "urgency",
    "requested_category",
    "follow_up_on",
)


def _patient_of(inquiry: Inquiry) -> int | None:
    """Return the patient an inquiry became, for the audit trail (None before admission)."""
    return inquiry.patient_id


def _check_dates(
    *, date_of_birth: date | None = None, first_contact_on: date | None = None
) -> None:
    """Refuse a birth date or first contact in the future."""
    problems: dict[str, list[str]] = {}
    if date_of_birth is not None and (date_of_birth > today() or date_of_birth.year < 1900):
        problems["date_of_birth"] = ["Give a date of birth after 1900 and not in the future."]
    if first_contact_on is not None and first_contact_on > today():
        problems["first_contact_on"] = ["The first contact cannot be in the future."]
    if problems:
        raise RuleViolation("Some dates are not valid.", fields=problems)


def _check_screening_dates(answers: dict[str, Any]) -> None:
    """Refuse a last use in the future."""
    last_use = answers.get("last_use_on")
    if last_use is not None and last_use > today():
        raise field_error("screening.last_use_on", "The last use cannot be in the future.")


def _apply_screening(actor: Any, inquiry: Inquiry, answers: dict[str, Any]) -> None:
    """Store the screening answers and recompute the medically supervised detox suggestion."""
    for name in SCREENING_FIELDS:
        if name in answers:
            setattr(inquiry, name, answers[name])
    inquiry.screened_at = utcnow()
    inquiry.screened_by_id = getattr(actor, "id", None)
    inquiry.suggests_medical_detox = bool(detox_reasons(_answers_of(inquiry)))


def _answers_of(inquiry: Inquiry) -> dict[str, Any]:
    """Return what the detox rule reads from an inquiry."""
    out = {name: getattr(inquiry, name) for name in SCREENING_FIELDS}
    out["primary_substance"] = inquiry.primary_substance
    return out


def take_inquiry(
    actor: Any,
    *,
    first_name: str,
    last_name: str,
    phone: str,
    referral_source: int,
    urgency: str = "routine",
    first_contact_on: date | None = None,
    screening: dict[str, Any] | None = None,
    **fields: Any,
) -> Inquiry:
    """Record a first contact; screening answers given on the same call are stored too."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    _check_dates(date_of_birth=fields.get("date_of_birth"), first_contact_on=first_contact_on)
    if screening:
        _check_screening_dates(screening)
    inquiry = Inquiry(
        status="inquiry",
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=phone.strip(),
        referral_source=referral_source,
        urgency=urgency,
        first_contact_on=first_contact_on or today(),
        created_by_id=getattr(actor, "id", None),
        **{k: (v.strip() or None) if isinstance(v, str) else v for k, v in fields.items()},
    )
    if screening:
        _apply_screening(actor, inquiry, screening)
    db.session.add(inquiry)
    db.session.add(
        InquiryStatusChange(
            inquiry=inquiry,
            from_status=None,
            to_status="inquiry",
            by_id=getattr(actor, "id", None),
            reason="First contact",
        )
    )
    db.session.flush()
    record(actor, "inquiry.create", inquiry)
    if screening:
        record(actor, "inquiry.screen", inquiry)
    return inquiry


def _require_open(inquiry: Inquiry) -> None:
    """Refuse changes to an inquiry that has left the pipeline."""
    if not inquiry.is_open:
        raise Conflict(
            f"This inquiry is closed ({STATUS_LABELS[inquiry.status].lower()}); "
            "it can no longer change."
        )


def record_screening(actor: Any, inquiry: Inquiry, answers: dict[str, Any]) -> Inquiry:
    """Store (or correct) the screening answers of an open inquiry."""
    _check_screening_dates(answers)
    _require_open(inquiry)
    _apply_screening(actor, inquiry, answers)
    db.session.flush()
    record(actor, "inquiry.screen", inquiry, patient_id=_patient_of(inquiry))
    return inquiry


def update_inquiry(actor: Any, inquiry: Inquiry, changes: dict[str, Any]) -> Inquiry:
    """Correct contact details, urgency or the follow-up date of an open inquiry."""
    _check_dates(date_of_birth=changes.get("date_of_birth"))
    follow_up = changes.get("follow_up_on")
    if follow_up is not None and follow_up < inquiry.first_contact_on:
        raise field_error("follow_up_on", "The follow-up cannot be before the first contact.")
    _require_open(inquiry)
    for key in EDITABLE:
        if key in changes:
            value = changes[key]
            if isinstance(value, str):
                value = value.strip() or None
            if value is None and key in ("first_name", "last_name", "phone", "urgency"):
                raise field_error(key, "Must not be blank.")
            if value is None and key == "referral_source":
                raise field_error(key, "Choose a referral source.")
            setattr(inquiry, key, value)
    if "primary_substance" in changes and inquiry.screened_at is not None:
        inquiry.suggests_medical_detox = bool(detox_reasons(_answers_of(inquiry)))
    db.session.flush()
    record(actor, "inquiry.update", inquiry, patient_id=_patient_of(inquiry))
    return inquiry


def change_status(
    actor: Any, inquiry: Inquiry, to_status: str, reason: str | None = None
) -> InquiryStatusChange:
    """Move an inquiry along the pipeline; closing, reopening and going back need a reason."""
    current = inquiry.status
    reason = (reason or "").strip() or None
    if to_status == "admitted":
        raise field_error("status", "Admit through the admission form, which opens the episode.")
    if to_status not in TRANSITIONS:
        raise field_error("status", "Unknown status.")
    needs_reason = (
        to_status in CLOSED_STATUSES
        or current in CLOSED_STATUSES
        or (current, to_status) == ("waitlist", "screening")
    )
    if needs_reason and not reason:
        raise field_error("reason", "Give a reason to close, reopen or move an inquiry back.")
    if to_status == current:
        raise Conflict(f"The inquiry is already at {STATUS_LABELS[current].lower()}.")
    if to_status not in TRANSITIONS[current]:
        raise Conflict(
            f"An inquiry cannot go from {STATUS_LABELS[current].lower()} to "
            f"{STATUS_LABELS[to_status].lower()}."
        )
    if to_status == "waitlist" and inquiry.screened_at is None:
        raise Conflict("Record the screening answers before waitlisting.", missing=["screening"])
    change = InquiryStatusChange(
        inquiry=inquiry,
        from_status=current,
        to_status=to_status,
        by_id=getattr(actor, "id", None),
        reason=reason,
    )
    inquiry.status = to_status
    db.session.add(change)
    db.session.flush()
    record(actor, "inquiry.status", inquiry, patient_id=_patient_of(inquiry))
    return change


def find_candidates(first_name: str, last_name: str, date_of_birth: date | None) -> list[Patient]:
    """Return patients who are likely the same person: same name (any case), same birth date."""
    if date_of_birth is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Patient)
            .where(
                sa.func.lower(Patient.first_name) == first_name.strip().lower(),
                sa.func.lower(Patient.last_name) == last_name.strip().lower(),
                Patient.date_of_birth == date_of_birth,
            )
            .order_by(Patient.id)
        )
    )


def candidate_summary(patient: Patient) -> dict[str, Any]:
    """Describe a possible match for the 409 answer (identifiers only, what staff need)."""
    return {
        "id": patient.id,
        "mrn": patient.mrn,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
    }


#: TEDS fields the admission may take from the inquiry or from the admission form.
PREFILLED = ("primary_substance", "frequency")
OPTIONAL_ADMISSION = (
    "route",
    "age_at_first_use",
    "secondary_substance",
    "tertiary_substance",
    "prior_treatment_episodes",
)


def admission_prefill(inquiry: Inquiry) -> dict[str, Any]:
    """Return the episode fields the inquiry already answers (for the form and the API)."""
    return {
        "primary_substance": inquiry.primary_substance,
        "frequency": inquiry.frequency,
        "referral_source": inquiry.referral_source,
        "date_of_birth": inquiry.date_of_birth,
        "sex": inquiry.sex,
        "service_setting": None,
    }


def admit_inquiry(
    actor: Any,
    inquiry: Inquiry,
    *,
    admitted_on: date,
    primary_counselor_id: int,
    service_setting: int,
    patient_id: int | None = None,
    new_patient: bool = False,
    date_of_birth: date | None = None,
    sex: str | None = None,
    primary_substance: int | None = None,
    frequency: int | None = None,
    los_target_days: int | None = None,
    **teds_fields: int | None,
) -> Episode:
    """Admit the person an inquiry is about: match or register the patient, open the episode.

    A likely duplicate patient (same name and birth date) is offered, never merged silently:
    without ``patient_id`` (use that patient) or ``new_patient`` (a different person), the
    admission is refused with the candidates. Days waiting (TEDS DAYWAIT) are stored.
    """
    unknown = set(teds_fields) - set(OPTIONAL_ADMISSION)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    problems: dict[str, list[str]] = {}
    substance = primary_substance or inquiry.primary_substance
    if substance is None:
        problems["primary_substance"] = ["Give the primary substance."]
    if admitted_on > today():
        problems["admitted_on"] = ["The admission date cannot be in the future."]
    elif admitted_on < inquiry.first_contact_on:
        problems["admitted_on"] = ["The admission date is before the first contact."]
    patient = None
    if patient_id is not None:
        patient = db.session.get(Patient, patient_id)
        if patient is None:
            problems["patient_id"] = ["No such patient."]
    birth = date_of_birth or inquiry.date_of_birth
    if patient is None and patient_id is None and birth is None:
        problems["date_of_birth"] = ["Give the date of birth to register the patient."]
    if problems:
        raise RuleViolation("The admission is not complete.", fields=problems)
    if inquiry.status not in ADMITTABLE:
        if inquiry.status == "inquiry":
            raise Conflict("Screen the inquiry before admitting.", missing=["screening"])
        _require_open(inquiry)
        raise Conflict("This inquiry cannot be admitted.")
    if patient is None:
        assert birth is not None  # noqa: S101  (checked above)
        candidates = (
            [] if new_patient else find_candidates(inquiry.first_name, inquiry.last_name, birth)
        )
        if candidates:
            raise Conflict(
                "A patient with the same name and date of birth exists: choose that patient "
                "or confirm a new one.",
                candidates=[candidate_summary(p) for p in candidates],
            )
        patient = patient_services.create_patient(
            actor,
            first_name=inquiry.first_name,
            last_name=inquiry.last_name,
            date_of_birth=birth,
            sex=sex or inquiry.sex or "U",
            phone=inquiry.phone,
        )
    days_waiting = (admitted_on - inquiry.first_contact_on).days
    episode = episode_services.admit(
        actor,
        patient,
        admitted_on=admitted_on,
        primary_counselor_id=primary_counselor_id,
        primary_substance=substance,
        referral_source=inquiry.referral_source,
        service_setting=service_setting,
        los_target_days=los_target_days,
        days_waiting=days_waiting,
        frequency=frequency if frequency is not None else inquiry.frequency,
        **teds_fields,
    )
    db.session.add(
        InquiryStatusChange(
            inquiry=inquiry,
            from_status=inquiry.status,
            to_status="admitted",
            by_id=getattr(actor, "id", None),
            reason=f"Admitted as episode {episode.id}",
        )
    )
    inquiry.status = "admitted"
    inquiry.patient_id = patient.id
    inquiry.episode_id = episode.id
    db.session.flush()
    record(actor, "inquiry.admit", inquiry, patient)
    return episode


def set_places(actor: Any, category: str, capacity: int) -> Place:
    """Set the number of beds or slots in one category."""
    if category not in CATEGORIES:
        raise field_error("category", "Unknown category.")
    if not 0 <= capacity <= 100_000:
        raise field_error("capacity", "Give a number from 0 to 100000.")
    place = db.session.get(Place, category)
    if place is None:
        place = Place(category=category, capacity=capacity)
        db.session.add(place)
    place.capacity = capacity
    place.updated_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor, "places.update")
    return place


def _check_one_primary(patient_id: int, exclude_id: int | None = None) -> None:
    """Refuse a second active primary coverage (the database refuses it too)."""
    query = sa.select(Coverage.id).where(
        Coverage.patient_id == patient_id, Coverage.priority == "primary", Coverage.active
    )
    if exclude_id is not None:
        query = query.where(Coverage.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise Conflict(
            "This patient already has an active primary coverage; end it or add this one "
            "as secondary.",
            fields={"priority": ["A primary coverage already exists."]},
        )


def add_coverage(actor: Any, patient: Patient, **data: Any) -> Coverage:
    """Record an insurance coverage of a patient."""
    if data.get("priority") == "primary":
        _check_one_primary(patient.id)
    coverage = Coverage(
        patient_id=patient.id,
        created_by_id=getattr(actor, "id", None),
        **{k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()},
    )
    try:
        with db.session.begin_nested():
            db.session.add(coverage)
            db.session.flush()
    except IntegrityError as exc:
        # Two primaries raced: the partial unique index let only one through.
        raise Conflict(
            "This patient already has an active primary coverage.",
            fields={"priority": ["A primary coverage already exists."]},
        ) from exc
    record(actor, "coverage.create", coverage, patient)
    return coverage


def update_coverage(actor: Any, coverage: Coverage, changes: dict[str, Any]) -> Coverage:
    """Correct a coverage, or end it (``active`` false); coverages are never deleted."""
    becomes_primary = changes.get("priority", coverage.priority) == "primary"
    stays_active = changes.get("active", coverage.active)
    if becomes_primary and stays_active:
        _check_one_primary(coverage.patient_id, exclude_id=coverage.id)
    for key, value in changes.items():
        setattr(coverage, key, value.strip() or None if isinstance(value, str) else value)
    if coverage.payer is None or coverage.member_id is None:
        raise field_error("payer" if coverage.payer is None else "member_id", "Must not be blank.")
    db.session.flush()
    record(actor, "coverage.update", coverage, patient_id=coverage.patient_id)
    return coverage


def verify_coverage(actor: Any, coverage: Coverage, **data: Any) -> Verification:
    """Record a verification of a coverage with the payer and its benefits summary."""
    problems: dict[str, list[str]] = {}
    if data["verified_on"] > today():
        problems["verified_on"] = ["The verification date cannot be in the future."]
    deductible, met = data.get("deductible_cents"), data.get("deductible_met_cents")
    if deductible is not None and met is not None and met > deductible:
        problems["deductible_met"] = ["The amount met cannot exceed the deductible."]
    if problems:
        raise RuleViolation("The verification is not valid.", fields=problems)
    if not coverage.active:
        raise Conflict("This coverage has ended; verify an active coverage.")
    verification = Verification(coverage=coverage, by_id=getattr(actor, "id", None), **data)
    db.session.add(verification)
    db.session.flush()
    record(actor, "coverage.verify", verification, patient_id=coverage.patient_id)
    return verification


def add_authorization(actor: Any, episode: Episode, **data: Any) -> Authorization:
    """Record a payer's authorization of an episode's care at one level."""
    problems: dict[str, list[str]] = {}
    if data["ends_on"] < data["starts_on"]:
        problems["ends_on"] = ["The authorization cannot end before it starts."]
    coverage_id = data.get("coverage_id")
    if coverage_id is not None:
        owner = db.session.scalar(sa.select(Coverage.patient_id).where(Coverage.id == coverage_id))
        if owner != episode.patient_id:
            problems["coverage_id"] = ["Choose one of this patient's coverages."]
    if problems:
        raise RuleViolation("The authorization is not valid.", fields=problems)
    if not episode.is_active:
        raise Conflict("This episode is discharged; it can no longer change.")
    authorization = Authorization(
        episode_id=episode.id, created_by_id=getattr(actor, "id", None), **data
    )
    authorization.number = authorization.number.strip()
    db.session.add(authorization)
    db.session.flush()
    record(actor, "authorization.create", authorization, patient_id=episode.patient_id)
    return authorization


def detox_reasons_of(inquiry: Inquiry) -> list[str]:
    """Return why medically supervised withdrawal is suggested (empty before screening)."""
    if inquiry.screened_at is None:
        return []
    return detox_reasons(_answers_of(inquiry))


def days_waiting_of(inquiry: Inquiry) -> int:
    """Return the days from first contact to admission, or to today while still open."""
    episode = inquiry.episode if inquiry.status == "admitted" else None
    if episode is not None and episode.days_waiting is not None:
        return episode.days_waiting
    return (today() - inquiry.first_contact_on).days


def is_overdue(inquiry: Inquiry) -> bool:
    """Tell whether an open inquiry's follow-up date has passed."""
    return inquiry.is_open and inquiry.follow_up_on is not None and inquiry.follow_up_on < today()
