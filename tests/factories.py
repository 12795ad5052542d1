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
