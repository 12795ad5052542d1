"""Object-level access: who may open which chart (DESIGN.md §4).

Supervisors, physicians, nurses and intake work across all patients; counselors open the
charts of patients whose care team they are on (primary counselor or added member).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from casemgr.audit.models import Consent, EmergencyAccess
from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import NotFound, PermissionDenied
from casemgr.core.guard import install_chart_access, register_object
from casemgr.core.permissions import ALL_PATIENT_ROLES
from casemgr.episodes.models import CareTeamMember, Episode
from casemgr.extensions import db
from casemgr.patients.models import Patient

#: Ids beyond a 32-bit integer are simply not found (shared/API.md).
MAX_ID = 2**31 - 1


def works_across_patients(actor: Any) -> bool:
    """Tell whether the actor's roles cover every patient rather than a care team."""
    return bool(actor.role_names & {r.value for r in ALL_PATIENT_ROLES})


def care_team_patient_ids(staff_id: int) -> sa.Select[tuple[int]]:
    """Select the ids of patients whose care team (any episode) includes a staff member."""
    primary = sa.select(Episode.patient_id).where(Episode.primary_counselor_id == staff_id)
    member = (
        sa.select(Episode.patient_id)
        .join(CareTeamMember, CareTeamMember.episode_id == Episode.id)
        .where(CareTeamMember.staff_id == staff_id)
    )
    return sa.union(primary, member)  # type: ignore[return-value]


def visible_patients_clause(actor: Any) -> sa.ColumnElement[bool]:
    """Return a WHERE clause limiting patients to those the actor may see."""
    if works_across_patients(actor):
        return sa.true()
    return Patient.id.in_(care_team_patient_ids(actor.id))


def visible_episodes_clause(actor: Any) -> sa.ColumnElement[bool]:
    """Return a WHERE clause limiting episodes to those the actor may see."""
    if works_across_patients(actor):
        return sa.true()
    return Episode.patient_id.in_(care_team_patient_ids(actor.id))


def caseload_clause(actor: Any) -> sa.ColumnElement[bool]:
    """Return a WHERE clause for the episodes on the actor's caseload.

    A counselor's caseload is the episodes they treat: primary counselor or a member of that
    episode's care team. (Their chart access is wider, every patient they ever treated; as a
    caseload filter that made the page scan the whole census for a counselor's history.)
    """
    if works_across_patients(actor):
        return sa.true()
    primary = sa.select(Episode.id).where(
        Episode.primary_counselor_id == actor.id, Episode.status == "active"
    )
    members = sa.select(CareTeamMember.episode_id).where(CareTeamMember.staff_id == actor.id)
    # A union of ids (not an OR) lets the planner start from the two small index lookups.
    return Episode.id.in_(sa.union(primary, members))


def can_open_patient(actor: Any, patient_id: int) -> bool:
    """Tell whether the actor may open a patient's chart.

    Besides the care team, a live emergency access grant (break the glass) opens it for
    reading: a request that changes something (POST, PATCH, ...) still needs the care team,
    so emergency access never lets anyone write into a chart they were not assigned to.
    """
    if works_across_patients(actor):
        return True
    write = _is_write_request()
    memo = _request_memo()
    key = (actor.id, patient_id, write)
    if memo is not None and key in memo:
        return memo[key]
    allowed = _query_can_open(actor, patient_id, write)
    if memo is not None:
        memo[key] = allowed
    return allowed


def _request_memo() -> dict[tuple[int, int, bool], bool] | None:
    """Return this request's answers, so the guard's check and the view's cost one query."""
    from flask import g, has_request_context

    if not has_request_context():
        return None
    if "chart_access_memo" not in g:
        g.chart_access_memo = {}
    return g.chart_access_memo


def _query_can_open(actor: Any, patient_id: int, write: bool) -> bool:
    """Ask the database whether the actor is on the care team or holds a live grant."""
    as_primary = sa.select(Episode.id).where(
        Episode.patient_id == patient_id, Episode.primary_counselor_id == actor.id
    )
    as_member = (
        sa.select(CareTeamMember.episode_id)
        .join(Episode, Episode.id == CareTeamMember.episode_id)
        .where(Episode.patient_id == patient_id, CareTeamMember.staff_id == actor.id)
    )
    by_emergency = sa.select(EmergencyAccess.id).where(
        EmergencyAccess.staff_id == actor.id,
        EmergencyAccess.patient_id == patient_id,
        EmergencyAccess.expires_at > utcnow(),
    )
    clauses = [sa.exists(as_primary), sa.exists(as_member)]
    if not write:
        clauses.append(sa.exists(by_emergency))
    return bool(db.session.scalar(sa.select(sa.or_(*clauses))))


def _is_write_request() -> bool:
    """Tell whether the current request changes state (emergency access is read-only)."""
    from flask import has_request_context, request

    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")


def _deny(actor: Any, action: str, obj: Any, patient_id: int) -> PermissionDenied:
    """Record a refused chart access and build the error (403: it exists, but not for you)."""
    from flask import g

    record(actor, action or "chart.access_denied", obj, patient_id=patient_id, outcome="denied")
    db.session.commit()
    g.denied_patient_id = patient_id  # the 403 page offers emergency access
    return PermissionDenied("This patient is not on your care team.")


def get_patient(actor: Any, patient_id: int, action: str = "patient.view") -> Patient:
    """Load a patient the actor may open and audit the access; 404 or 403 otherwise."""
    patient = db.session.get(Patient, patient_id) if 0 < patient_id <= MAX_ID else None
    if patient is None:
        raise NotFound("No such patient.")
    if not can_open_patient(actor, patient.id):
        raise _deny(actor, action, patient, patient.id)
    if action:
        record(actor, action, patient, patient)
    return patient


def get_episode(actor: Any, episode_id: int, action: str = "episode.view") -> Episode:
    """Load an episode the actor may open and audit the access; 404 or 403 otherwise."""
    episode = db.session.get(Episode, episode_id) if 0 < episode_id <= MAX_ID else None
    if episode is None:
        raise NotFound("No such episode.")
    if not can_open_patient(actor, episode.patient_id):
        raise _deny(actor, action, episode, episode.patient_id)
    if action:
        record(actor, action, episode, patient_id=episode.patient_id)
    return episode


def register_patient_record(arg_name: str, model: Any) -> None:
    """Guard a URL argument naming a row that has a ``patient_id`` column."""

    def resolve(record_id: int) -> int | None:
        # A primary-key get: the view's own get() then finds the row in the identity map.
        row = db.session.get(model, record_id)
        return None if row is None else row.patient_id

    register_object(arg_name, resolve)


def register_episode_record(arg_name: str, model: Any) -> None:
    """Guard a URL argument naming a row that belongs to an episode (``episode_id``)."""

    def resolve(record_id: int) -> int | None:
        return db.session.scalar(
            sa.select(Episode.patient_id)
            .join(model, model.episode_id == Episode.id)
            .where(model.id == record_id)
        )

    register_object(arg_name, resolve)


def _patient_of_patient(patient_id: int) -> int | None:
    """Resolve a patient id to itself when the patient exists (loaded once for the view)."""
    patient = db.session.get(Patient, patient_id)
    return None if patient is None else patient.id


install_chart_access(can_open_patient)
register_object("patient_id", _patient_of_patient)
register_patient_record("episode_id", Episode)
register_patient_record("grant_id", EmergencyAccess)
register_patient_record("consent_id", Consent)
