"""Test data builders; they write through the patched session, so each test rolls back."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from functools import cache
from typing import Any

from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients import mrn
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff, StaffRole
from casemgr.staff.services import hash_password

PASSWORD = "correct-horse-battery-staple"
_counter = itertools.count(1)


@cache
def password_hash() -> str:
    """Hash the shared test password once: argon2 is deliberately slow."""
    return hash_password(PASSWORD)


def make_staff(*roles: str, username: str | None = None, **fields: Any) -> Staff:
    """Create a staff member holding the given roles."""
    n = next(_counter)
    staff = Staff(
        username=username or f"{'-'.join(roles) or 'none'}{n}",
        full_name=fields.pop("full_name", f"Staff {n}"),
        password_hash=password_hash(),
        roles=[StaffRole(role=r) for r in roles],
        **fields,
    )
    db.session.add(staff)
    db.session.commit()  # a released savepoint: a view's rollback cannot undo test data
    return staff


def make_patient(**fields: Any) -> Patient:
    """Create a patient with plausible defaults."""
    n = next(_counter)
    values: dict[str, Any] = {
        "mrn": mrn.new_mrn(),
        "first_name": f"Pat{n}",
        "last_name": f"Testcase{n}",
        "date_of_birth": date(1980, 1, 1),
        "sex": "F",
    }
    values.update(fields)
    patient = Patient(**values)
    db.session.add(patient)
    db.session.commit()
    return patient


def admit(
    patient: Patient,
    counselor: Staff,
    *,
    days_ago: int = 0,
    actor: Staff | None = None,
    **fields: Any,
) -> Episode:
    """Admit a patient through the real service, ``days_ago`` days before today."""
    values: dict[str, Any] = {
        "admitted_on": today() - timedelta(days=days_ago),
        "primary_counselor_id": counselor.id,
        "primary_substance": 13,
        "referral_source": 1,
        "service_setting": 5,
    }
    values.update(fields)
    episode = episode_services.admit(actor or counselor, patient, **values)
    db.session.commit()
    return episode


def therapy_record(episode: Episode, counselor: Staff) -> tuple[Any, Any]:
    """Log an attended session with a draft DAP note through the real service."""
    from casemgr.core.db import utcnow
    from casemgr.therapy import services as therapy_services

    session = therapy_services.log_session(
        counselor,
        episode,
        kind="individual",
        modality="cbt",
        started_at=utcnow() - timedelta(hours=1),
        duration_minutes=50,
        attendance="attended",
        note=therapy_services.NoteInput("DAP", {"data": "d", "assessment": "a", "plan": "p"}),
    )
    db.session.commit()
    return session, session.note


# --- Clinical pathway records (issue 3), built through the real services ------------------


def make_diagnosis(episode: Episode, author: Staff, *, sign: bool = True, **fields: Any) -> Any:
    """Record a DSM-5 assessment (moderate, signed unless told otherwise)."""
    from casemgr.assessments import services

    values: dict[str, Any] = {
        "criteria": [1, 2, 4, 10, 11],
        "medical_supervision": False,
        "physical_evaluation": "Tremor, BP 150/95.",
        "psychological_evaluation": "Anxious, oriented.",
        "co_occurring": ["F41.1"],
        "sign": sign,
    }
    values.update(fields)
    assessment = services.record_diagnosis(author, episode, **values)
    db.session.commit()
    return assessment


def make_score(episode: Episode, by: Staff, items: list[int] | None = None, **fields: Any) -> Any:
    """Record a withdrawal score (a mild CIWA-B unless items are given)."""
    from casemgr.assessments import services

    score = services.record_withdrawal_score(
        by,
        episode,
        instrument=fields.pop("instrument", "CIWA-B"),
        items=items if items is not None else [1] * 10 + [0] * 12,
        **fields,
    )
    db.session.commit()
    return score


def make_level_of_care(episode: Episode, by: Staff, **fields: Any) -> Any:
    """Record a level-of-care decision (ASAM 4th edition 3.5, residential)."""
    from casemgr.plans import services

    values: dict[str, Any] = {
        "asam_edition": 4,
        "dimensions": {"1": 2, "2": 1, "3": 2, "4": 3, "5": 3, "6": 2},
        "level": "3.5",
        "rationale": "Relapse risk and home environment.",
        "effective_on": episode.admitted_on,
    }
    values.update(fields)
    decision = services.decide_level_of_care(by, episode, **values)
    db.session.commit()
    return decision


def make_taper_plan(episode: Episode, physician: Staff, **fields: Any) -> Any:
    """Order a guideline-paced clonazepam taper."""
    from decimal import Decimal

    from casemgr.medication import services

    values: dict[str, Any] = {
        "medication": "clonazepam",
        "start_dose_mg": Decimal("2"),
        "reduction_percent": Decimal("10"),
        "interval_days": 14,
        "dose_increment_mg": Decimal("0.125"),
        "start_on": today(),
    }
    values.update(fields)
    plan = services.create_plan(physician, episode, **values)
    db.session.commit()
    return plan


def plan_tree(target: date | None = None) -> list[dict[str, Any]]:
    """Return a one-problem, one-goal treatment plan body (as the schema loads it)."""
    return [
        {
            "description": "Benzodiazepine dependence",
            "goals": [
                {
                    "description": "Stay abstinent",
                    "objectives": [
                        {
                            "description": "Attend every group",
                            "target_date": target or today() + timedelta(days=30),
                            "interventions": ["CBT twice a week"],
                        }
                    ],
                }
            ],
        }
    ]


def make_treatment_plan(episode: Episode, author: Staff, *, sign: bool = True) -> Any:
    """Write (and sign) a treatment plan."""
    from casemgr.plans import services

    plan = services.write_plan(author, episode, plan_tree())
    if sign:
        services.sign_plan(author, plan)
    db.session.commit()
    return plan


def make_module(*, core: bool = True, **fields: Any) -> Any:
    """Add an education module."""
    from casemgr.education.models import EducationModule

    n = next(_counter)
    module = EducationModule(
        title=fields.pop("title", f"Module {n}"),
        topic=fields.pop("topic", "Recovery"),
        minutes=fields.pop("minutes", 45),
        core=core,
        **fields,
    )
    db.session.add(module)
    db.session.commit()
    return module


def make_emergency_grant(staff: Staff, patient: Patient, *, hours_ago: int = 0) -> Any:
    """Record an emergency access grant (granted ``hours_ago`` hours ago, lasting 4 hours)."""
    from datetime import timedelta

    from casemgr.audit.models import EmergencyAccess
    from casemgr.core.db import utcnow

    granted = utcnow() - timedelta(hours=hours_ago)
    grant = EmergencyAccess(
        staff_id=staff.id,
        patient_id=patient.id,
        reason="Covering the evening group; patient in crisis",
        granted_at=granted,
        expires_at=granted + timedelta(hours=4),
    )
    db.session.add(grant)
    db.session.commit()
    return grant


def make_consent(patient: Patient, **fields: Any) -> Any:
    """Record a valid Part 2 consent for a patient."""
    from casemgr.audit.models import Consent

    values: dict[str, Any] = {
        "discloser": "This program",
        "recipient": "Dr. Referral, County Clinic",
        "purpose": "Continuity of care",
        "information": "Diagnosis, admission and discharge dates",
        "expires_on": today() + timedelta(days=365),
        "signed_on": today(),
        "signed_by": "The patient",
    }
    values.update(fields)
    consent = Consent(patient_id=patient.id, **values)
    db.session.add(consent)
    db.session.commit()
    return consent
