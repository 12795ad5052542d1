"""JSON API for sessions, group sessions and notes (shared/API.md "Therapy and notes")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint
from casemgr.core.schema import PageArgs
from casemgr.episodes.access import get_episode
from casemgr.extensions import db
from casemgr.therapy import services
from casemgr.therapy.access import get_note, get_session
from casemgr.therapy.models import GroupSession, Note, NoteAddendum, TherapySession
from casemgr.therapy.schemas import (
    AddendumCreate,
    AddendumOut,
    GroupSessionCreate,
    GroupSessionOut,
    NoteCreate,
    NoteListOut,
    NoteOut,
    NoteUpdate,
    SessionCreate,
    SessionListOut,
    SessionOut,
    SessionUpdate,
)

blp = Blueprint("api_therapy", __name__, url_prefix="/api/v1", description="Therapy and notes")
blueprints = (blp,)


def _note_input(data: dict[str, Any] | None) -> services.NoteInput | None:
    """Turn a parsed ``note`` object into the service's input."""
    return services.NoteInput(data["format"], data["body"]) if data else None


@blp.route("/episodes/<int:episode_id>/sessions", methods=["POST"])
@blp.arguments(SessionCreate)
@blp.response(201, SessionOut)
@requires(Action.SESSION_LOG)
def create_session(data: dict[str, Any], episode_id: int) -> TherapySession:
    """Log (or plan, with attendance "scheduled") an individual or family session."""
    episode = get_episode(current_user, episode_id, action="")
    session = services.log_session(
        current_user,
        episode,
        kind=data["kind"],
        modality=data["modality"],
        started_at=data["started_at"],
        duration_minutes=data["duration_minutes"],
        attendance=data["attendance"],
        note=_note_input(data["note"]),
        sign=data["sign"],
    )
    db.session.commit()
    return session


@blp.route("/sessions/<int:session_id>", methods=["PATCH"])
@blp.arguments(SessionUpdate)
@blp.response(200, SessionOut)
@requires(Action.SESSION_LOG)
def update_session(data: dict[str, Any], session_id: int) -> TherapySession:
    """Record what happened at a session: attendance, duration, note."""
    session = get_session(current_user, session_id, action="")
    services.record_attendance(
        current_user,
        session,
        attendance=data["attendance"],
        duration_minutes=data["duration_minutes"],
        note=_note_input(data["note"]),
        sign=data["sign"],
    )
    db.session.commit()
    return session


@blp.route("/sessions/<int:session_id>", methods=["GET"])
@blp.response(200, SessionOut)
@requires(Action.CLINICAL_VIEW)
def read_session(session_id: int) -> TherapySession:
    """Return one session."""
    session = get_session(current_user, session_id)
    db.session.commit()
    return session


@blp.route("/group-sessions", methods=["POST"])
@blp.arguments(GroupSessionCreate)
@blp.response(201, GroupSessionOut)
@requires(Action.SESSION_LOG)
def create_group_session(data: dict[str, Any]) -> GroupSession:
    """Log a group session with every attendee's attendance and note in one transaction."""
    attendees = [
        services.AttendeeInput(a["episode_id"], a["attendance"], _note_input(a["note"]))
        for a in data["attendees"]
    ]
    group = services.log_group_session(
        current_user,
        topic=data["topic"],
        modality=data["modality"],
        started_at=data["started_at"],
        duration_minutes=data["duration_minutes"],
        attendees=attendees,
        facilitator_id=data["facilitator_id"],
        summary=data["summary"],
        sign=data["sign"],
    )
    db.session.commit()
    return group


@blp.route("/episodes/<int:episode_id>/sessions", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, SessionListOut)
@requires(Action.CLINICAL_VIEW)
def list_sessions(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List an episode's sessions, newest first."""
    episode = get_episode(current_user, episode_id, action="session.list")
    where = TherapySession.episode_id == episode.id
    total = db.session.scalar(sa.select(sa.func.count(TherapySession.id)).where(where)) or 0
    items = list(
        db.session.scalars(
            sa.select(TherapySession)
            .where(where)
            .options(joinedload(TherapySession.note))
            .order_by(TherapySession.started_at.desc(), TherapySession.id.desc())
            .limit(args["per_page"])
            .offset((args["page"] - 1) * args["per_page"])
        ).unique()
    )
    db.session.commit()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/episodes/<int:episode_id>/notes", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, NoteListOut)
@requires(Action.CLINICAL_VIEW)
def list_notes(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List an episode's notes with their addenda, newest first."""
    episode = get_episode(current_user, episode_id, action="note.list")
    where = Note.episode_id == episode.id
    total = db.session.scalar(sa.select(sa.func.count(Note.id)).where(where)) or 0
    items = list(
        db.session.scalars(
            sa.select(Note)
            .where(where)
            .options(selectinload(Note.addenda))
            .order_by(Note.created_at.desc(), Note.id.desc())
            .limit(args["per_page"])
            .offset((args["page"] - 1) * args["per_page"])
        )
    )
    db.session.commit()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/episodes/<int:episode_id>/notes", methods=["POST"])
@blp.arguments(NoteCreate)
@blp.response(201, NoteOut)
@requires(Action.NOTE_WRITE)
def create_note(data: dict[str, Any], episode_id: int) -> Note:
    """Write a draft note on an episode."""
    episode = get_episode(current_user, episode_id, action="")
    note = services.write_note(current_user, episode, **data)
    db.session.commit()
    return note


@blp.route("/notes/<int:note_id>", methods=["GET"])
@blp.response(200, NoteOut)
@requires(Action.CLINICAL_VIEW)
def read_note(note_id: int) -> Note:
    """Return one note with its addenda."""
    note = get_note(current_user, note_id)
    db.session.commit()
    return note


@blp.route("/notes/<int:note_id>", methods=["PATCH"])
@blp.arguments(NoteUpdate)
@blp.response(200, NoteOut)
@requires(Action.NOTE_WRITE)
def update_note(data: dict[str, Any], note_id: int) -> Note:
    """Save a draft's new body (author only; 409 when signed or stale)."""
    note = get_note(current_user, note_id, action="")
    services.update_note(current_user, note, body=data["body"], version=data["version"])
    db.session.commit()
    return note


@blp.route("/notes/<int:note_id>/sign", methods=["POST"])
@blp.response(200, NoteOut)
@requires(Action.NOTE_WRITE)
def sign_note(note_id: int) -> Note:
    """Sign a draft: signed, or awaiting co-signature for staff who need it."""
    note = get_note(current_user, note_id, action="")
    services.sign_note(current_user, note)
    db.session.commit()
    return note


@blp.route("/notes/<int:note_id>/cosign", methods=["POST"])
@blp.response(200, NoteOut)
@requires(Action.NOTE_COSIGN)
def cosign_note(note_id: int) -> Note:
    """Co-sign a note awaiting it (supervisor)."""
    note = get_note(current_user, note_id, action="")
    services.cosign_note(current_user, note)
    db.session.commit()
    return note


@blp.route("/notes/<int:note_id>/addenda", methods=["POST"])
@blp.arguments(AddendumCreate)
@blp.response(201, AddendumOut)
@requires(Action.NOTE_WRITE)
def add_addendum(data: dict[str, Any], note_id: int) -> NoteAddendum:
    """Add an addendum to a signed note."""
    note = get_note(current_user, note_id, action="")
    addendum = services.add_addendum(current_user, note, text=data["text"])
    db.session.commit()
    return addendum
