"""Therapy reads in SQL: at-risk flags, caseload figures, timelines, note lists, work queues.

Every function runs a fixed number of SQL statements whatever the history's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from casemgr.core.db import utcnow
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff
from casemgr.therapy.models import (
    PRESENT,
    GroupSession,
    Note,
    NoteAddendum,
    TherapySession,
)

#: DESIGN.md §2: at risk once past the first 14 days ...
AT_RISK_AFTER_DAYS = 14
#: ... with 2 or more missed sessions in the last 14 days ...
MISSED_WINDOW_DAYS = 14
MISSED_LIMIT = 2
#: ... or no attended session in the last 7 days.
GAP_DAYS = 7


def at_risk_expr(today: date, now: datetime) -> sa.ColumnElement[bool]:
    """Return a SQL boolean telling whether an episode is at risk (API.md definition).

    Missed = a no-show, or a scheduled session whose time has passed without attendance.
    """
    missed = (
        sa.select(sa.func.count())
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.started_at >= now - timedelta(days=MISSED_WINDOW_DAYS),
            TherapySession.started_at < now,
            TherapySession.attendance.in_(("no_show", "scheduled")),
        )
        .correlate(Episode)
        .scalar_subquery()
    )
    attended_recently = (
        sa.select(TherapySession.id)
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.started_at >= now - timedelta(days=GAP_DAYS),
            TherapySession.started_at <= now,
            TherapySession.attendance.in_(PRESENT),
        )
        .correlate(Episode)
        .exists()
    )
    past_first_days = Episode.admitted_on <= today - timedelta(days=AT_RISK_AFTER_DAYS)
    return sa.and_(
        Episode.status == "active",
        past_first_days,
        sa.or_(missed >= MISSED_LIMIT, sa.not_(attended_recently)),
    )


def last_session_expr() -> sa.ScalarSelect[datetime]:
    """Return a SQL scalar: the start of the episode's last attended session."""
    return (
        sa.select(sa.func.max(TherapySession.started_at))
        .where(TherapySession.episode_id == Episode.id, TherapySession.attendance.in_(PRESENT))
        .correlate(Episode)
        .scalar_subquery()
    )


#: Unsigned notes older than this are highlighted on the author's and supervisor's lists.
OVERDUE_HOURS = 72
UNSIGNED = ("draft", "awaiting_cosign")


def unsigned_notes_expr() -> sa.ScalarSelect[int]:
    """Return a SQL scalar: how many of the episode's notes are not yet fully signed."""
    return (
        sa.select(sa.func.count(Note.id))
        .where(Note.episode_id == Episode.id, Note.status.in_(UNSIGNED))
        .correlate(Episode)
        .scalar_subquery()
    )


def needs_attendance_expr(now: datetime) -> sa.ScalarSelect[int]:
    """Return a SQL scalar: planned sessions of the episode whose time passed unrecorded."""
    return (
        sa.select(sa.func.count(TherapySession.id))
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.attendance == "scheduled",
            TherapySession.started_at <= now,
        )
        .correlate(Episode)
        .scalar_subquery()
    )


def next_planned_expr(now: datetime) -> sa.ScalarSelect[datetime]:
    """Return a SQL scalar: the start of the episode's next planned session."""
    return (
        sa.select(sa.func.min(TherapySession.started_at))
        .where(
            TherapySession.episode_id == Episode.id,
            TherapySession.attendance == "scheduled",
            TherapySession.started_at > now,
        )
        .correlate(Episode)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One row of the chart's timeline: a session, a note or a stage move."""

    kind: str  #: "session", "note" or "stage"
    at: datetime
    item: Any


def timeline(episode_ids: list[int], page: int, per_page: int) -> tuple[list[TimelineEntry], int]:
    """Return one page of sessions, notes and stage moves, newest first, and the total.

    A UNION picks the page's (kind, id) pairs in SQL; each kind is then loaded with one
    query, so the page costs the same whatever the history's length.
    """
    if not episode_ids:
        return [], 0
    # A session's note is shown with the session; only notes without a session stand alone.
    parts = sa.union_all(
        sa.select(
            sa.literal("session").label("kind"),
            TherapySession.id.label("id"),
            TherapySession.started_at.label("at"),
        ).where(TherapySession.episode_id.in_(episode_ids)),
        sa.select(sa.literal("note"), Note.id, Note.created_at).where(
            Note.episode_id.in_(episode_ids), Note.session_id.is_(None)
        ),
        sa.select(sa.literal("stage"), StageChange.id, StageChange.at).where(
            StageChange.episode_id.in_(episode_ids)
        ),
    ).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(parts)) or 0
    rows = db.session.execute(
        sa.select(parts.c.kind, parts.c.id, parts.c.at)
        .order_by(parts.c.at.desc(), parts.c.kind, parts.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    wanted: dict[str, list[int]] = {"session": [], "note": [], "stage": []}
    for row in rows:
        wanted[row.kind].append(row.id)
    # Each kind is loaded even when the page holds none of it, and staff come without their
    # roles (names only are shown): a constant query count.
    loaded: dict[tuple[str, int], Any] = {}
    for s in db.session.scalars(
        sa.select(TherapySession)
        .where(TherapySession.id.in_(wanted["session"]))
        .options(
            joinedload(TherapySession.note).joinedload(Note.author).lazyload(Staff.roles),
            joinedload(TherapySession.counselor).lazyload(Staff.roles),
            joinedload(TherapySession.group_session),
        )
    ).unique():
        loaded[("session", s.id)] = s
    for n in db.session.scalars(
        sa.select(Note)
        .where(Note.id.in_(wanted["note"]))
        .options(joinedload(Note.author).lazyload(Staff.roles))
    ):
        loaded[("note", n.id)] = n
    for c in db.session.scalars(
        sa.select(StageChange)
        .where(StageChange.id.in_(wanted["stage"]))
        .options(joinedload(StageChange.by).lazyload(Staff.roles))
    ):
        loaded[("stage", c.id)] = c
    entries = [
        TimelineEntry(row.kind, row.at, loaded[(row.kind, row.id)])
        for row in rows
        if (row.kind, row.id) in loaded
    ]
    return entries, total


def note_with_everything(note_id: int) -> Note | None:
    """Load a note with its author, co-signer, addenda and session in one round of queries."""
    return db.session.scalar(
        sa.select(Note)
        .where(Note.id == note_id)
        .options(
            joinedload(Note.author),
            joinedload(Note.cosigned_by),
            joinedload(Note.session),
            joinedload(Note.episode).joinedload(Episode.patient),
            selectinload(Note.addenda).joinedload(NoteAddendum.author),
        )
    )


def unsigned_notes_query(
    actor: Any, scope: sa.ColumnElement[bool], *, everyone: bool, author_id: int | None = None
) -> sa.Select[Any]:
    """Select unsigned notes, oldest first: the actor's own, or (supervisors) everyone's."""
    query = (
        sa.select(Note, Patient, Staff.full_name.label("author_name"))
        .join(Episode, Episode.id == Note.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .join(Staff, Staff.id == Note.author_id)
        .where(Note.status.in_(UNSIGNED), scope)
        .order_by(Note.created_at, Note.id)
    )
    if not everyone:
        query = query.where(Note.author_id == actor.id)
    elif author_id:
        query = query.where(Note.author_id == author_id)
    return query


def cosign_queue_query(scope: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Select notes awaiting a supervisor's co-signature, oldest first."""
    return (
        sa.select(Note, Patient, Staff.full_name.label("author_name"))
        .join(Episode, Episode.id == Note.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .join(Staff, Staff.id == Note.author_id)
        .where(Note.status == "awaiting_cosign", scope)
        .order_by(Note.signed_at, Note.id)
    )


def overdue_cutoff() -> datetime:
    """Return the moment before which an unsigned note counts as overdue."""
    return utcnow() - timedelta(hours=OVERDUE_HOURS)


def work_counts(actor: Any, scope: sa.ColumnElement[bool], supervisor: bool) -> dict[str, int]:
    """Count the actor's open work in one query: unsigned notes, overdue, co-sign queue."""
    cutoff = overdue_cutoff()

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        # Each count starts from its own index (author and status, or status): one count
        # over every note in scope read all the notes of a counselor's past patients.
        return (
            sa.select(sa.func.count(Note.id))
            .join(Episode, Episode.id == Note.episode_id)
            .where(scope, *conditions)
            .scalar_subquery()
        )

    mine = (Note.author_id == actor.id, Note.status.in_(UNSIGNED))
    cosign = count(Note.status == "awaiting_cosign") if supervisor else sa.literal(0)
    row = db.session.execute(
        sa.select(
            count(*mine).label("unsigned"),
            count(*mine, Note.created_at < cutoff).label("overdue"),
            cosign.label("cosign"),
        )
    ).one()
    return {"unsigned": row.unsigned, "overdue": row.overdue, "cosign": row.cosign}


def needs_attendance_query(
    actor: Any, scope: sa.ColumnElement[bool], everyone: bool
) -> sa.Select[Any]:
    """Select planned sessions whose time has passed without attendance, oldest first."""
    query = (
        sa.select(TherapySession, Patient)
        .join(Episode, Episode.id == TherapySession.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(
            TherapySession.attendance == "scheduled",
            TherapySession.started_at <= utcnow(),
            scope,
        )
        .order_by(TherapySession.started_at, TherapySession.id)
    )
    if not everyone:
        query = query.where(TherapySession.counselor_id == actor.id)
    return query


def last_choices(staff_id: int) -> dict[str, str]:
    """Return the counselor's last modality and note format, read from what they logged.

    Kept server-side by deriving them from the records, so they follow the person across
    devices and need no settings table.
    """
    modality = db.session.scalar(
        sa.select(TherapySession.modality)
        .where(TherapySession.counselor_id == staff_id)
        .order_by(TherapySession.created_at.desc(), TherapySession.id.desc())
        .limit(1)
    )
    note_format = db.session.scalar(
        sa.select(Note.format)
        .where(Note.author_id == staff_id)
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(1)
    )
    out = {}
    if modality:
        out["modality"] = modality
    if note_format:
        out["format"] = note_format
    return out


def last_roster(staff_id: int, scope: sa.ColumnElement[bool]) -> list[int]:
    """Return the still-active episodes of the staff member's last group session."""
    last_group = (
        sa.select(GroupSession.id)
        .where(
            sa.or_(GroupSession.facilitator_id == staff_id, GroupSession.created_by_id == staff_id)
        )
        .order_by(GroupSession.started_at.desc(), GroupSession.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            sa.select(TherapySession.episode_id)
            .join(Episode, Episode.id == TherapySession.episode_id)
            .where(TherapySession.group_session_id == last_group, Episode.status == "active", scope)
        )
    )


def group_candidates_query(scope: sa.ColumnElement[bool], q: str | None = None) -> sa.Select[Any]:
    """Select active episodes the actor may add to a group, by patient name."""
    from casemgr.patients.services import search_filter

    query = (
        sa.select(Episode, Patient)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(Episode.status == "active", scope)
        .order_by(Patient.last_name, Patient.first_name, Patient.id)
    )
    if q:
        query = query.where(search_filter(q))
    return query


def group_candidates(
    scope: sa.ColumnElement[bool],
    q: str | None = None,
    *,
    limit: int | None = None,
    include: set[int] | frozenset[int] = frozenset(),
) -> list[Any]:
    """List active episodes the actor may add to a group, by patient name.

    With ``limit``, the first ``limit`` by name, then any episode of ``include`` (the chosen
    attendees) beyond them, so a long program never puts every patient on the form.
    """
    query = group_candidates_query(scope, q)
    if limit is None:
        return list(db.session.execute(query).all())
    rows = list(db.session.execute(query.limit(limit)).all())
    missing = sorted(set(include) - {row.Episode.id for row in rows})
    extra = db.session.execute(group_candidates_query(scope).where(Episode.id.in_(missing)))
    return rows + list(extra.all())
