"""Therapy input and output schemas (shared/API.md "Therapy and notes") and form schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from casemgr.core.schema import LINE, ApiSchema, FormSchema, Int, PageArgs, Text, id_field
from casemgr.therapy.models import ATTENDANCE, MODALITIES, NOTE_FORMATS, NOTE_KINDS

DURATION = validate.Range(min=1, max=720, error="Give a duration from 1 minute to 12 hours (720).")


class AwareDateTime(fields.AwareDateTime):
    """An ISO 8601 time that must carry its offset (API.md: times with offset)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)


class NoteBodyIn(ApiSchema):
    """A note attached to a session: its format and the format's fields (checked per format)."""

    format = fields.String(required=True, validate=validate.OneOf(NOTE_FORMATS))
    body = fields.Dict(keys=fields.String(), required=True)


class SessionCreate(ApiSchema):
    """POST /api/v1/episodes/{id}/sessions."""

    kind = fields.String(required=True, validate=validate.OneOf(["individual", "family"]))
    modality = fields.String(required=True, validate=validate.OneOf(MODALITIES))
    started_at = AwareDateTime(required=True)
    duration_minutes = Int(required=True, validate=DURATION)
    attendance = fields.String(required=True, validate=validate.OneOf(ATTENDANCE))
    note = fields.Nested(NoteBodyIn, load_default=None, allow_none=True)
    sign = fields.Boolean(load_default=False)


class SessionUpdate(ApiSchema):
    """PATCH /api/v1/sessions/{id}: what happened at a (planned) session."""

    attendance = fields.String(required=True, validate=validate.OneOf(ATTENDANCE))
    duration_minutes = Int(load_default=None, allow_none=True, validate=DURATION)
    note = fields.Nested(NoteBodyIn, load_default=None, allow_none=True)
    sign = fields.Boolean(load_default=False)


class AttendeeIn(ApiSchema):
    """One attendee of a group session."""

    episode_id = id_field(required=True)
    attendance = fields.String(
        required=True, validate=validate.OneOf([a for a in ATTENDANCE if a != "scheduled"])
    )
    note = fields.Nested(NoteBodyIn, load_default=None, allow_none=True)


class GroupSessionCreate(ApiSchema):
    """POST /api/v1/group-sessions."""

    topic = Text(LINE, required=True)
    modality = fields.String(required=True, validate=validate.OneOf(MODALITIES))
    started_at = AwareDateTime(required=True)
    duration_minutes = Int(required=True, validate=DURATION)
    attendees = fields.List(
        fields.Nested(AttendeeIn),
        required=True,
        validate=validate.Length(min=1, max=60, error="Choose 1 to 60 attendees."),
    )
    facilitator_id = id_field(load_default=None, allow_none=True)
    summary = Text(20_000, load_default=None, allow_none=True, allow_blank=True)
    sign = fields.Boolean(load_default=False)


class NoteCreate(ApiSchema):
    """POST /api/v1/episodes/{id}/notes."""

    kind = fields.String(required=True, validate=validate.OneOf(NOTE_KINDS))
    format = fields.String(required=True, validate=validate.OneOf(NOTE_FORMATS))
    body = fields.Dict(keys=fields.String(), required=True)


class NoteUpdate(ApiSchema):
    """PATCH /api/v1/notes/{id}: a new body for a draft, from the version it was read at."""

    body = fields.Dict(keys=fields.String(), required=True)
    version = Int(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class AddendumCreate(ApiSchema):
    """POST /api/v1/notes/{id}/addenda."""

    text = Text(20_000, required=True)


class AddendumOut(Schema):
    """An addendum as the API returns it."""

    id = fields.Integer()
    text = fields.String()
    author_id = fields.Integer()
    created_at = fields.DateTime()


class NoteOut(Schema):
    """A note as the API returns it."""

    id = fields.Integer()
    episode_id = fields.Integer()
    session_id = fields.Integer(allow_none=True)
    kind = fields.String()
    format = fields.String()
    body = fields.Dict()
    status = fields.String()
    version = fields.Integer()
    author_id = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    signed_at = fields.DateTime(allow_none=True)
    cosigned_by_id = fields.Integer(allow_none=True)
    cosigned_at = fields.DateTime(allow_none=True)
    late_entry = fields.Boolean()
    addenda = fields.List(fields.Nested(AddendumOut))


class SessionOut(Schema):
    """A session as the API returns it, with its note's id."""

    id = fields.Integer()
    episode_id = fields.Integer()
    kind = fields.String()
    modality = fields.String()
    started_at = fields.DateTime()
    duration_minutes = fields.Integer()
    attendance = fields.String()
    counselor_id = fields.Integer()
    group_session_id = fields.Integer(allow_none=True)
    late_entry = fields.Boolean()
    needs_attendance = fields.Boolean()
    note_id = fields.Method("get_note_id", allow_none=True)

    def get_note_id(self, obj: Any) -> int | None:
        """Return the id of the session's note, if written."""
        return obj.note.id if obj.note is not None else None


class GroupSessionOut(Schema):
    """A group session with its attendees' session rows."""

    id = fields.Integer()
    topic = fields.String()
    modality = fields.String()
    started_at = fields.DateTime()
    duration_minutes = fields.Integer()
    facilitator_id = fields.Integer()
    summary = fields.String(allow_none=True)
    sessions = fields.List(fields.Nested(SessionOut))


class SessionListOut(Schema):
    """The list envelope of sessions."""

    items = fields.List(fields.Nested(SessionOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class NoteListOut(Schema):
    """The list envelope of notes."""

    items = fields.List(fields.Nested(NoteOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class SessionListArgs(PageArgs):
    """GET /api/v1/episodes/{id}/sessions paging."""


# --- forms ------------------------------------------------------------------------------


class SessionForm(FormSchema):
    """The session page: the session's fields (the note's fields are read per format)."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf(["individual", "family"], error="Individual or family."),
    )
    modality = fields.String(
        required=True, validate=validate.OneOf(MODALITIES, error="Choose a modality.")
    )
    started_at = fields.String(required=True)
    duration_minutes = fields.String(required=True)
    attendance = fields.String(
        required=True, validate=validate.OneOf(ATTENDANCE, error="Choose the attendance.")
    )
    format = fields.String(
        load_default="DAP", validate=validate.OneOf(NOTE_FORMATS, error="Choose a note format.")
    )

    @validates_schema
    def _duration_is_number(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """Give a clear message for a duration that is not a whole number of minutes."""
        raw = str(data.get("duration_minutes", "")).strip()
        if not raw.isdigit():
            raise ValidationError("Give the duration in whole minutes.", "duration_minutes")


class AddendumForm(FormSchema):
    """The addendum box under a signed note."""

    text = Text(20_000, required=True)
