"""Episode rules: admission, the one-active-episode rule, stage moves and discharge."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation, field_error
from casemgr.core.timeutil import program_zone, today
from casemgr.episodes import pathway
from casemgr.episodes.models import STAGE_ORDER, CareTeamMember, Episode, Stage, StageChange
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff

#: TEDS admission fields that are optional (None or -9 when unknown).
OPTIONAL_TEDS_FIELDS = (
    "secondary_substance",
    "tertiary_substance",
    "route",
    "frequency",
    "age_at_first_use",
    "prior_treatment_episodes",
)


def moment_of(day: date) -> datetime:
    """Date a stage row recorded later for an earlier day: noon that day, program time.

    A row for today is stamped now, so time in stage derived from the history stays true.
    """
    if day >= today():
        return utcnow()
    noon = datetime.combine(day, time(12, 0), tzinfo=program_zone())
    return noon.astimezone(UTC)


def active_episode(patient: Patient) -> Episode | None:
    """Return the patient's open episode, if any."""
    return db.session.scalar(
        sa.select(Episode).where(Episode.patient_id == patient.id, Episode.status == "active")
    )


def check_counselor(staff_id: int) -> Staff:
    """Return the staff member if they may be a primary counselor, else a field error."""
    staff = db.session.get(Staff, staff_id)
    if staff is None or not staff.active or not staff.has_role("counselor", "supervisor"):
        raise field_error("primary_counselor_id", "Choose an active counselor or supervisor.")
    return staff


def admit(
    actor: Any,
    patient: Patient,
    *,
    admitted_on: date,
    primary_counselor_id: int,
    primary_substance: int,
    referral_source: int,
    service_setting: int,
    los_target_days: int | None = None,
    days_waiting: int | None = None,
    **teds_fields: int | None,
) -> Episode:
    """Open an episode in the diagnosis stage; refuse a second active episode (409)."""
    unknown = set(teds_fields) - set(OPTIONAL_TEDS_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    if admitted_on > today():
        raise field_error("admitted_on", "The admission date cannot be in the future.")
    if admitted_on < patient.date_of_birth:
        raise field_error("admitted_on", "The admission date is before the date of birth.")
    check_counselor(primary_counselor_id)
    last_discharge = db.session.scalar(
        sa.select(sa.func.max(Episode.discharged_on)).where(Episode.patient_id == patient.id)
    )
    if last_discharge is not None and admitted_on < last_discharge:
        raise field_error(
            "admitted_on", f"The patient was in treatment until {last_discharge.isoformat()}."
        )
    if active_episode(patient) is not None:
        raise Conflict("This patient already has an active episode; discharge it first.")
    episode = Episode(
        patient_id=patient.id,
        status="active",
        stage=Stage.DIAGNOSIS.value,
        admitted_on=admitted_on,
        primary_counselor_id=primary_counselor_id,
        los_target_days=los_target_days or current_app.config["LOS_TARGET_DAYS"],
        primary_substance=primary_substance,
        referral_source=referral_source,
        service_setting=service_setting,
        days_waiting=days_waiting,
        created_by_id=getattr(actor, "id", None),
        **teds_fields,
    )
    try:
        with db.session.begin_nested():
            db.session.add(episode)
            db.session.flush()
    except IntegrityError as exc:
        # Two admissions raced: the partial unique index let only one through.
        raise Conflict("This patient already has an active episode; discharge it first.") from exc
    db.session.add(
        StageChange(
            episode=episode,
            from_stage=None,
            to_stage=Stage.DIAGNOSIS.value,
            at=moment_of(admitted_on),
            by_id=getattr(actor, "id", None),
            reason="Admission",
        )
    )
    record(actor, "episode.create", episode, patient)
    return episode


def _require_active(episode: Episode) -> None:
    """Refuse changes to a closed episode."""
    if not episode.is_active:
        raise Conflict("This episode is discharged; it can no longer change.")


def move_stage(
    actor: Any,
    episode: Episode,
    to_stage: str,
    *,
    reason: str | None = None,
    override: bool = False,
) -> StageChange:
    """Move an episode to another treatment stage, enforcing the pathway table.

    Forward by one stage needs the current stage's exit requirements; skipping ahead or
    going back needs a written reason; a supervisor may override unmet requirements.
    """
    try:
        target = Stage(to_stage)
    except ValueError as exc:
        raise field_error("to_stage", "Unknown stage.") from exc
    if target is Stage.DISCHARGED:
        raise field_error("to_stage", "Use discharge to close an episode.")
    _require_active(episode)
    reason = (reason or "").strip() or None
    current = episode.stage_enum
    if target is current:
        raise field_error("to_stage", "The episode is already in that stage.")
    forward_one = target.position == current.position + 1
    if (not forward_one or override) and not reason:
        raise field_error("reason", "Give a reason to skip a stage, go back, or override.")
    is_supervisor = actor.has_role("supervisor")
    if override and not is_supervisor:
        raise PermissionDenied("Only a supervisor may override stage requirements.")
    moving_forward = target.position > current.position
    # Leaving a medical stage forward, or skipping over one, is for its allowed roles only.
    exited = STAGE_ORDER[current.position : target.position] if moving_forward else ()
    for stage in exited:
        allowed_roles = {r.value for r in pathway.EXIT_RULES[stage].roles}
        if allowed_roles and not (actor.role_names & allowed_roles or is_supervisor):
            raise PermissionDenied(f"Only medical staff may move a patient out of {stage.label}.")
    if moving_forward and not override:
        missing = pathway.missing_requirements(episode, current)
        if missing:
            raise Conflict(
                f"{current.label} is not complete.",
                missing=[r.code for r in missing],
            )
    change = StageChange(
        episode=episode,
        from_stage=current.value,
        to_stage=target.value,
        by_id=actor.id,
        reason=reason,
        override=override,
    )
    episode.stage = target.value
    db.session.add(change)
    db.session.flush()
    record(
        actor, "episode.stage_override" if override else "episode.stage", change, episode.patient
    )
    return change


def discharge(
    actor: Any,
    episode: Episode,
    *,
    discharged_on: date,
    reason: int,
    service_setting: int | None = None,
    frequency_at_discharge: int | None = None,
) -> Episode:
    """Close an episode with its TEDS discharge fields."""
    problems: dict[str, list[str]] = {}
    if discharged_on > today():
        problems["discharged_on"] = ["The discharge date cannot be in the future."]
    elif discharged_on < episode.admitted_on:
        problems["discharged_on"] = ["The discharge date is before the admission date."]
    if problems:
        raise RuleViolation("The discharge date is not valid.", fields=problems)
    _require_active(episode)
    if not (actor.has_role("supervisor", "physician") or episode.primary_counselor_id == actor.id):
        raise PermissionDenied(
            "Only a supervisor, a physician or the primary counselor may discharge."
        )
    previous = episode.stage
    episode.status = "discharged"
    episode.stage = Stage.DISCHARGED.value
    episode.discharged_on = discharged_on
    episode.discharge_reason = reason
    episode.discharge_service_setting = service_setting
    episode.discharge_frequency = frequency_at_discharge
    db.session.add(
        StageChange(
            episode=episode,
            from_stage=previous,
            to_stage=Stage.DISCHARGED.value,
            at=max(moment_of(discharged_on), episode.stage_changes[-1].at),
            by_id=actor.id,
            reason="Discharge",
        )
    )
    db.session.flush()
    record(actor, "episode.discharge", episode, episode.patient)
    return episode


def add_to_care_team(actor: Any, episode: Episode, staff: Staff) -> CareTeamMember:
    """Add a staff member to an episode's care team (idempotent)."""
    existing = db.session.get(CareTeamMember, (episode.id, staff.id))
    if existing is not None:
        return existing
    member = CareTeamMember(episode=episode, staff_id=staff.id, added_by_id=actor.id)
    db.session.add(member)
    db.session.flush()
    record(actor, "episode.care_team_add", episode, episode.patient)
    return member
