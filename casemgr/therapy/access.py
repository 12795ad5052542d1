"""Object-level access for therapy records: sessions and notes belong to one patient's chart."""

from __future__ import annotations

from typing import Any

from casemgr.audit.services import record
from casemgr.core.errors import NotFound, PermissionDenied
from casemgr.episodes.access import MAX_ID, can_open_patient, register_episode_record
from casemgr.extensions import db
from casemgr.therapy.models import Note, TherapySession
from casemgr.therapy.queries import note_with_everything

register_episode_record("note_id", Note)
register_episode_record("session_id", TherapySession)


def _check(actor: Any, action: str, obj: Any, patient_id: int) -> None:
    """Refuse (and audit) access outside the actor's charts."""
    if not can_open_patient(actor, patient_id):
        record(actor, action, obj, patient_id=patient_id, outcome="denied")
        db.session.commit()
        raise PermissionDenied("This patient is not on your care team.")


def get_note(actor: Any, note_id: int, action: str = "note.view") -> Note:
    """Load a note (with author, addenda, session) the actor may open; audit the read."""
    note = note_with_everything(note_id) if 0 < note_id <= MAX_ID else None
    if note is None:
        raise NotFound("No such note.")
    _check(actor, action, note, note.episode.patient_id)
    if action:
        record(actor, action, note, patient_id=note.episode.patient_id)
    return note


def get_session(actor: Any, session_id: int, action: str = "session.view") -> TherapySession:
    """Load a session the actor may open; audit the read."""
    session = db.session.get(TherapySession, session_id) if 0 < session_id <= MAX_ID else None
    if session is None:
        raise NotFound("No such session.")
    _check(actor, action, session, session.episode.patient_id)
    if action:
        record(actor, action, session, patient_id=session.episode.patient_id)
    return session
