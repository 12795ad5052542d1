"""Therapy rules: logging sessions (individual and group), and the note lifecycle.

Services check every rule, write the audit event in the caller's transaction and never commit.
Field problems (422) are raised before state conflicts (409). Ownership (only its author signs
or edits a note) is a clash with the record, 409; 403 stays for roles and care teams (API.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation, field_error
from casemgr.core.schema import LONG
from casemgr.core.timeutil import local
from casemgr.episodes.access import can_open_patient
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff
from casemgr.therapy.models import (
    ATTENDANCE,
    FORMAT_FIELDS,
    MODALITIES,
    NOTE_KINDS,
    GroupSession,
    Note,
    NoteAddendum,
    TherapySession,
)

#: Clock skew we forgive when a session "started now" reaches the server a moment later.
FUTURE_TOLERANCE = timedelta(minutes=2)
MIN_DURATION, MAX_DURATION = 1, 720


@dataclass
class NoteInput:
    """A note to write with a session: its format and the format's fields."""

    format: str
    body: Mapping[str, Any]
    kind: str | None = None


@dataclass
class AttendeeInput:
    """One group attendee: the episode, attendance and (optionally) an individual note."""

    episode_id: int
    attendance: str
    note: NoteInput | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- validation -------------------------------------------------------------------------


def check_body(note_format: str, body: Any, prefix: str = "body") -> dict[str, str]:
    """Return the body with exactly its format's fields, each non-blank (422 otherwise)."""
    if note_format not in FORMAT_FIELDS:
        raise field_error("format", "Choose DAP, SOAP, BIRP or free text.")
    if not isinstance(body, Mapping):
        raise field_error(prefix, "Give the note's fields as an object.")
    names = [name for name, _ in FORMAT_FIELDS[note_format]]
    problems: dict[str, list[str]] = {}
    for key in body:
        if key not in names:
            problems[f"{prefix}.{key}"] = [f"Not a field of a {note_format} note."]
    clean: dict[str, str] = {}
    for name, label in FORMAT_FIELDS[note_format]:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[f"{prefix}.{name}"] = [f"{label} is required for a {note_format} note."]
        elif not isinstance(value, str):
            problems[f"{prefix}.{name}"] = ["Not a valid string."]
        elif "\x00" in value:
            problems[f"{prefix}.{name}"] = ["Must not contain a NUL character."]
        elif len(value) > LONG:
            problems[f"{prefix}.{name}"] = [f"Use at most {LONG} characters."]
        else:
            clean[name] = value
    if problems:
        raise RuleViolation("The note is missing required fields.", fields=problems)
    return clean


def _check_session_fields(
    *, modality: str, started_at: datetime, duration_minutes: int, attendance: str
) -> dict[str, list[str]]:
    """Return field problems of a session's time, length and attendance."""
    problems: dict[str, list[str]] = {}
    if modality not in MODALITIES:
        problems["modality"] = ["Unknown modality."]
    if attendance not in ATTENDANCE:
        problems["attendance"] = ["Unknown attendance."]
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        problems["duration_minutes"] = ["Give a duration from 1 minute to 12 hours (720)."]
    if started_at.tzinfo is None:
        problems["started_at"] = ["Give the time with its offset."]
    elif attendance != "scheduled" and started_at > utcnow() + FUTURE_TOLERANCE:
        problems["started_at"] = [
            "A session that took place cannot start in the future; plan it as scheduled."
        ]
    return problems


def _raise(problems: dict[str, list[str]]) -> None:
    """Raise one 422 naming every problem field."""
    if problems:
        first = next(iter(problems.values()))[0]
        raise RuleViolation(first, fields=problems)


def _late_entry(episode: Episode, started_at: datetime) -> bool:
    """Allow a session on a discharged episode only as a late entry for before discharge."""
    if episode.is_active:
        return False
    assert episode.discharged_on is not None  # noqa: S101  (the check constraint ensures it)
    if local(started_at).date() > episode.discharged_on:
        raise Conflict("This episode is discharged; only sessions held before discharge.")
    return True


# --- sessions ---------------------------------------------------------------------------


def log_session(
    actor: Any,
    episode: Episode,
    *,
    kind: str,
    modality: str,
    started_at: datetime,
    duration_minutes: int,
    attendance: str,
    note: NoteInput | None = None,
    sign: bool = False,
) -> TherapySession:
    """Record an individual or family session (or plan one), with its note if given."""
    problems = _check_session_fields(
        modality=modality,
        started_at=started_at,
        duration_minutes=duration_minutes,
        attendance=attendance,
    )
    if kind not in ("individual", "family"):
        problems["kind"] = ["Individual or family; log groups as a group session."]
    body: dict[str, str] | None = None
    if note is not None:
        if attendance == "scheduled":
            problems["note"] = ["Record what happened before writing the note."]
        else:
            try:
                body = check_body(note.format, note.body, "note.body")
            except RuleViolation as err:
                problems.update(err.fields)
    _raise(problems)
    late = _late_entry(episode, started_at)
    session = TherapySession(
        episode=episode,
        kind=kind,
        modality=modality,
        started_at=started_at,
        duration_minutes=duration_minutes,
        attendance=attendance,
        counselor_id=actor.id,
        late_entry=late,
    )
    db.session.add(session)
    db.session.flush()
    record(
        actor,
        "session.plan" if attendance == "scheduled" else "session.create",
        session,
        patient_id=episode.patient_id,
    )
    if note is not None and body is not None:
        written = _new_note(actor, episode, "progress", note.format, body, session=session)
        if sign:
            sign_note(actor, written)
    return session


def record_attendance(
    actor: Any,
    session: TherapySession,
    *,
    attendance: str,
    duration_minutes: int | None = None,
    note: NoteInput | None = None,
    sign: bool = False,
) -> TherapySession:
    """Record what happened at a session (typically a planned one): attendance and note."""
    duration = duration_minutes if duration_minutes is not None else session.duration_minutes
    problems = _check_session_fields(
        modality=session.modality,
        started_at=session.started_at,
        duration_minutes=duration,
        attendance=attendance,
    )
    body: dict[str, str] | None = None
    if note is not None:
        if attendance == "scheduled":
            problems["note"] = ["Record what happened before writing the note."]
        else:
            try:
                body = check_body(note.format, note.body, "note.body")
            except RuleViolation as err:
                problems.update(err.fields)
    _raise(problems)
    if session.counselor_id != actor.id and not actor.has_role("supervisor"):
        raise Conflict("This session belongs to another counselor; they or a supervisor record it.")
    if note is not None and session.note is not None:
        raise Conflict("This session already has a note; edit that note instead.")
    if session.note is not None and session.note.is_signed:
        raise Conflict("This session's note is signed; the session can no longer change.")
    _late_entry(session.episode, session.started_at)
    session.attendance = attendance
    session.duration_minutes = duration
    db.session.flush()
    record(actor, "session.update", session, patient_id=session.episode.patient_id)
    if note is not None and body is not None:
        kind = "group" if session.kind == "group" else "progress"
        written = _new_note(actor, session.episode, kind, note.format, body, session=session)
        if sign:
            sign_note(actor, written)
    return session


def log_group_session(
    actor: Any,
    *,
    topic: str,
    modality: str,
    started_at: datetime,
    duration_minutes: int,
    attendees: Sequence[AttendeeInput],
    facilitator_id: int | None = None,
    summary: str | None = None,
    sign: bool = False,
) -> GroupSession:
    """Record a group session: one session row and note per attendee, all or nothing.

    Each attendee's note starts from the shared summary: an individual field left blank is
    filled with the summary, so every note is complete yet can be individualised later.
    """
    problems = _check_session_fields(
        modality=modality,
        started_at=started_at,
        duration_minutes=duration_minutes,
        attendance="attended",
    )
    if not topic or not topic.strip():
        problems["topic"] = ["Give the group's topic."]
    if not attendees:
        problems["attendees"] = ["Choose at least one attendee."]
    facilitator = db.session.get(Staff, facilitator_id) if facilitator_id else actor
    if (
        facilitator is None
        or not facilitator.active
        or not facilitator.has_role("counselor", "supervisor")
    ):
        problems["facilitator_id"] = ["Choose an active counselor or supervisor."]
    ids = [a.episode_id for a in attendees]
    if len(set(ids)) != len(ids):
        problems["attendees"] = ["A patient is listed twice."]
    episodes = {e.id: e for e in db.session.scalars(sa.select(Episode).where(Episode.id.in_(ids)))}
    bodies: dict[int, dict[str, str]] = {}
    for index, attendee in enumerate(attendees):
        key = f"attendees.{index}"
        episode = episodes.get(attendee.episode_id)
        if episode is None:
            problems[f"{key}.episode_id"] = ["No such episode."]
            continue
        if not episode.is_active:
            problems[f"{key}.episode_id"] = ["This patient is discharged."]
        if attendee.attendance not in ATTENDANCE or attendee.attendance == "scheduled":
            problems[f"{key}.attendance"] = ["Attended, late, no-show, cancelled or excused."]
        if attendee.note is not None:
            filled = fill_from_summary(attendee.note.format, attendee.note.body, summary)
            try:
                bodies[index] = check_body(attendee.note.format, filled, f"{key}.note.body")
            except RuleViolation as err:
                problems.update(err.fields)
    _raise(problems)
    for episode in episodes.values():
        if not can_open_patient(actor, episode.patient_id):
            record(
                actor,
                "chart.access_denied",
                episode,
                patient_id=episode.patient_id,
                outcome="denied",
            )
            raise PermissionDenied("A chosen patient is not on your care team.")
    assert facilitator is not None  # noqa: S101  (checked above)
    group = GroupSession(
        topic=topic.strip(),
        modality=modality,
        started_at=started_at,
        duration_minutes=duration_minutes,
        facilitator_id=facilitator.id,
        summary=(summary or "").strip() or None,
        created_by_id=actor.id,
    )
    db.session.add(group)
    db.session.flush()
    record(actor, "group_session.create", group)
    for index, attendee in enumerate(attendees):
        episode = episodes[attendee.episode_id]
        session = TherapySession(
            episode=episode,
            kind="group",
            modality=modality,
            started_at=started_at,
            duration_minutes=duration_minutes,
            attendance=attendee.attendance,
            counselor_id=facilitator.id,
            group_session=group,
        )
        db.session.add(session)
        db.session.flush()
        record(actor, "session.create", session, patient_id=episode.patient_id)
        if attendee.note is not None:
            note = _new_note(
                actor, episode, "group", attendee.note.format, bodies[index], session=session
            )
            if sign:
                sign_note(actor, note)
    return group


def fill_from_summary(
    note_format: str, body: Mapping[str, Any] | None, summary: str | None
) -> dict[str, Any]:
    """Copy the group summary into the note's first field, and into any field left blank."""
    out = dict(body or {})
    shared = (summary or "").strip()
    if not shared or note_format not in FORMAT_FIELDS:
        return out
    for name, _label in FORMAT_FIELDS[note_format]:
        value = out.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            out[name] = shared
    return out


# --- notes ------------------------------------------------------------------------------


def _new_note(
    actor: Any,
    episode: Episode,
    kind: str,
    note_format: str,
    body: dict[str, str],
    *,
    session: TherapySession | None = None,
) -> Note:
    """Add a draft note (already validated) and audit it."""
    note = Note(
        episode=episode,
        session=session,
        kind=kind,
        format=note_format,
        body=body,
        status="draft",
        author_id=actor.id,
        late_entry=not episode.is_active,
    )
    db.session.add(note)
    db.session.flush()
    record(actor, "note.create", note, patient_id=episode.patient_id)
    return note


def write_note(
    actor: Any, episode: Episode, *, kind: str, format: str, body: Any, sign: bool = False
) -> Note:
    """Write a note outside a session; on a discharged episode it is marked a late entry."""
    problems: dict[str, list[str]] = {}
    if kind not in NOTE_KINDS:
        problems["kind"] = ["Progress, medical, group, discharge or other."]
    try:
        clean = check_body(format, body)
    except RuleViolation as err:
        problems.update(err.fields)
    _raise(problems)
    note = _new_note(actor, episode, kind, format, clean)
    if sign:
        sign_note(actor, note)
    return note


def update_note(actor: Any, note: Note, *, body: Any, version: int) -> Note:
    """Save a new body for a draft by its author; a stale version is refused (409)."""
    clean = check_body(note.format, body)
    if note.author_id != actor.id:
        raise Conflict("Only the note's author may edit this draft.")
    if note.is_signed:
        raise Conflict("This note is signed; add an addendum instead.")
    if version != note.version:
        raise Conflict(
            "Someone saved this note after you opened it; review their version.",
            current_version=note.version,
        )
    if clean == note.body:
        return note
    note.body = clean
    db.session.flush()
    record(actor, "note.update", note, patient_id=note.episode.patient_id)
    return note


def sign_note(actor: Any, note: Note) -> Note:
    """Sign a draft as its author: locked forever; awaits co-signature where required."""
    if note.author_id != actor.id:
        raise Conflict("Only the note's author may sign it.")
    if note.is_signed:
        raise Conflict("This note is already signed.")
    note.signed_at = utcnow()
    author = note.author if note.author is not None else db.session.get(Staff, note.author_id)
    note.status = "awaiting_cosign" if author is not None and author.needs_cosign else "signed"
    db.session.flush()
    record(actor, "note.sign", note, patient_id=note.episode.patient_id)
    return note


def cosign_note(actor: Any, note: Note) -> Note:
    """Co-sign a note awaiting it; a supervisor other than the author."""
    if not actor.has_role("supervisor"):
        raise PermissionDenied("Only a supervisor may co-sign.")
    if note.author_id == actor.id:
        raise Conflict("A note cannot be co-signed by its own author.")
    if note.status != "awaiting_cosign":
        raise Conflict("This note is not awaiting co-signature.")
    note.status = "signed"
    note.cosigned_by_id = actor.id
    note.cosigned_at = utcnow()
    db.session.flush()
    record(actor, "note.cosign", note, patient_id=note.episode.patient_id)
    return note


def add_addendum(actor: Any, note: Note, *, text: str) -> NoteAddendum:
    """Append a correction to a signed note (drafts are edited instead)."""
    if not isinstance(text, str) or not text.strip():
        raise field_error("text", "Write the addendum.")
    if len(text) > LONG or "\x00" in text:
        raise field_error("text", f"Use at most {LONG} characters, without NUL.")
    if not note.is_signed:
        raise Conflict("This note is still a draft; edit it instead of adding an addendum.")
    addendum = NoteAddendum(note=note, text=text, author_id=actor.id)
    db.session.add(addendum)
    db.session.flush()
    record(actor, "note.addendum", addendum, patient_id=note.episode.patient_id)
    return addendum
