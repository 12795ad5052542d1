"""Pages: log a session with its note, plan sessions, group sessions, the note lifecycle.

Every form keeps what was typed on an error (422) and says what to fix per field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.errors import CasemgrError, Conflict
from casemgr.core.paging import count_rows, paged
from casemgr.core.permissions import Action, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import local, program_zone
from casemgr.episodes.access import get_episode, visible_episodes_clause
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import Patient
from casemgr.staff.services import counselors
from casemgr.therapy import queries, services
from casemgr.therapy.access import get_note, get_session
from casemgr.therapy.models import (
    ATTENDANCE,
    ATTENDANCE_LABELS,
    FORMAT_FIELDS,
    FORMAT_LABELS,
    MODALITIES,
    MODALITY_LABELS,
    NOTE_FORMATS,
    NOTE_KINDS,
    STATUS_LABELS,
)
from casemgr.therapy.schemas import AddendumForm, SessionForm

bp = Blueprint("therapy", __name__)
blueprints = (bp,)

TIMELINE_PAGE = 20
#: Patients offered on the group form before a name search narrows them.
GROUP_CANDIDATES = 100
#: Sessions are entered to the nearest 5 minutes; "now" rounds down so it is never future.
ROUND_MINUTES = 5


def _choices() -> dict[str, Any]:
    """Return the option lists every therapy form uses."""
    return {
        "modality_options": [(m, MODALITY_LABELS[m]) for m in MODALITIES],
        "attendance_options": [(a, ATTENDANCE_LABELS[a]) for a in ATTENDANCE],
        "format_options": [(f, FORMAT_LABELS[f]) for f in NOTE_FORMATS],
        "format_fields": FORMAT_FIELDS,
        "kind_options": [(k, k.capitalize()) for k in NOTE_KINDS],
    }


def now_rounded() -> str:
    """Return now in program time, rounded down to 5 minutes, as a datetime-local value."""
    moment = local(utcnow())
    moment = moment.replace(second=0, microsecond=0)
    moment -= timedelta(minutes=moment.minute % ROUND_MINUTES)
    return moment.strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str) -> datetime:
    """Read a datetime-local value as program time and return it in UTC."""
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=program_zone())
    return moment.astimezone(UTC)


def _read_note(form: dict[str, str], note_format: str, prefix: str) -> dict[str, str]:
    """Collect a note's fields of one format from a form (``prefix`` + field name)."""
    return {name: form.get(f"{prefix}{name}", "") for name, _ in FORMAT_FIELDS[note_format]}


def _blank(body: dict[str, str]) -> bool:
    """Tell whether every field of a note is empty."""
    return not any(v.strip() for v in body.values())


def _flatten(fields: dict[str, list[str]], mapping: dict[str, str]) -> dict[str, list[str]]:
    """Rename service field paths (note.body.data) to form field names (DAP-data)."""
    out: dict[str, list[str]] = {}
    for key, messages in fields.items():
        out.setdefault(mapping.get(key, key), []).extend(messages)
    return out


def _session_form_errors(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate the session fields; return (parsed values, errors)."""
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {}
    try:
        data = SessionForm().load(form)
    except ValidationError as err:
        errors = form_errors(err)
    try:
        data["started_at"] = parse_local(form.get("started_at", ""))
    except ValueError:
        errors["started_at"] = ["Give the date and time the session started."]
    if "duration_minutes" not in errors and str(form.get("duration_minutes", "")).isdigit():
        data["duration_minutes"] = int(form["duration_minutes"])
    return data, errors


# --- individual sessions ----------------------------------------------------------------


@bp.route("/episodes/<int:episode_id>/sessions/new", methods=["GET", "POST"])
@requires(Action.SESSION_LOG)
def new_session(episode_id: int) -> Any:
    """Log a session and its note on one page (or plan one ahead)."""
    episode = get_episode(current_user, episode_id, action="episode.view")
    patient = episode.patient
    last = queries.last_choices(current_user.id)
    form: dict[str, Any] = {
        "kind": "individual",
        "modality": last.get("modality", ""),
        "started_at": now_rounded(),
        "duration_minutes": "50",
        "attendance": request.args.get("attendance", "attended"),
        "format": last.get("format", "DAP"),
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        data, errors = _session_form_errors(form)
        note_format = form.get("format") if form.get("format") in FORMAT_FIELDS else "DAP"
        body = _read_note(form, note_format, f"{note_format}-")
        sign = form.get("action") == "sign"
        note = None
        if not _blank(body):
            note = services.NoteInput(note_format, body)
        elif sign:
            errors[f"{note_format}-{FORMAT_FIELDS[note_format][0][0]}"] = [
                "Write the note to sign it, or save the session without signing."
            ]
        if not errors:
            try:
                services.log_session(
                    current_user,
                    episode,
                    kind=data["kind"],
                    modality=data["modality"],
                    started_at=data["started_at"],
                    duration_minutes=data["duration_minutes"],
                    attendance=data["attendance"],
                    note=note,
                    sign=sign and note is not None,
                )
                db.session.commit()
            except CasemgrError as err:
                db.session.rollback()
                mapping = {f"note.body.{n}": f"{note_format}-{n}" for n in body}
                errors = _flatten(err.fields, mapping) or {"_form": [err.message]}
            else:
                if data["attendance"] == "scheduled":
                    flash("Session planned.", "success")
                elif note is None:
                    flash("Session saved without a note.", "success")
                else:
                    flash(
                        "Session saved; note signed." if sign else "Session and draft note saved.",
                        "success",
                    )
                return redirect(url_for("patients.chart", patient_id=patient.id))
    else:
        db.session.commit()  # the audited read of the episode
    return render_template(
        "therapy/session_form.html",
        episode=episode,
        patient=patient,
        form=form,
        errors=errors,
        **_choices(),
    ), (422 if errors else 200)


@bp.route("/sessions/<int:session_id>/attendance", methods=["GET", "POST"])
@requires(Action.SESSION_LOG)
def record_attendance(session_id: int) -> Any:
    """Record what happened at a planned session, with its note."""
    session = get_session(current_user, session_id)
    patient = session.episode.patient
    last = queries.last_choices(current_user.id)
    form: dict[str, Any] = {
        "attendance": "attended",
        "duration_minutes": str(session.duration_minutes),
        "format": last.get("format", "DAP"),
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        note_format = form.get("format") if form.get("format") in FORMAT_FIELDS else "DAP"
        body = _read_note(form, note_format, f"{note_format}-")
        sign = form.get("action") == "sign"
        duration = form.get("duration_minutes", "").strip()
        if not duration.isdigit():
            errors["duration_minutes"] = ["Give the duration in whole minutes."]
        if form.get("attendance") not in ATTENDANCE:
            errors["attendance"] = ["Choose the attendance."]
        if _blank(body) and sign:
            errors[f"{note_format}-{FORMAT_FIELDS[note_format][0][0]}"] = [
                "Write the note to sign it."
            ]
        if not errors:
            try:
                services.record_attendance(
                    current_user,
                    session,
                    attendance=form["attendance"],
                    duration_minutes=int(duration),
                    note=None if _blank(body) else services.NoteInput(note_format, body),
                    sign=sign,
                )
                db.session.commit()
            except CasemgrError as err:
                db.session.rollback()
                mapping = {f"note.body.{n}": f"{note_format}-{n}" for n in body}
                mapping["started_at"] = "_form"  # the planned time is not on this form
                errors = _flatten(err.fields, mapping) or {"_form": [err.message]}
            else:
                flash("Attendance recorded.", "success")
                return redirect(url_for("patients.chart", patient_id=patient.id))
    else:
        db.session.commit()
    return render_template(
        "therapy/attendance_form.html",
        session=session,
        patient=patient,
        form=form,
        errors=errors,
        **_choices(),
    ), (422 if errors else 200)


# --- group sessions ---------------------------------------------------------------------


@bp.route("/groups/new", methods=["GET", "POST"])
@requires(Action.SESSION_LOG)
def new_group() -> Any:
    """Log a group session: attendees, attendance and every note, in one submit.

    The form offers the first patients by name (``?q=`` narrows them) and every chosen one.
    """
    scope = visible_episodes_clause(current_user)
    q = request.args.get("q", "").strip()[:100] or None
    roster = queries.last_roster(current_user.id, scope)
    last = queries.last_choices(current_user.id)
    form: dict[str, Any] = {
        "modality": last.get("modality", ""),
        "started_at": now_rounded(),
        "duration_minutes": "60",
        "format": last.get("format", "DAP"),
        "facilitator_id": str(current_user.id),
    }
    chosen: set[int] = set(roster) if request.args.get("roster") == "last" else set()
    if request.method == "POST":
        chosen = {int(v) for v in request.form.getlist("attendee") if v.isdigit()}
    candidates = queries.group_candidates(scope, q, limit=GROUP_CANDIDATES, include=chosen)
    offered = count_rows(queries.group_candidates_query(scope, q))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        errors = _save_group(form, chosen, candidates)
        if not errors:
            flash(f"Group session saved for {len(chosen)} patients.", "success")
            return redirect(url_for("episodes.caseload"))
    record(current_user, "group_session.form_view")
    db.session.commit()
    return render_template(
        "therapy/group_form.html",
        form=form,
        errors=errors,
        candidates=candidates,
        offered=offered,
        q=q or "",
        chosen=chosen,
        roster=roster,
        facilitators=[(str(c.id), c.full_name) for c in counselors()],
        **_choices(),
    ), (422 if errors else 200)


def _save_group(form: dict[str, str], chosen: set[int], candidates: list[Any]) -> dict[str, Any]:
    """Validate and save the group form; return the errors (none when saved)."""
    errors: dict[str, list[str]] = {}
    note_format = form.get("format") if form.get("format") in FORMAT_FIELDS else "DAP"
    try:
        started_at = parse_local(form.get("started_at", ""))
    except ValueError:
        errors["started_at"] = ["Give the date and time the group started."]
    duration = form.get("duration_minutes", "").strip()
    if not duration.isdigit():
        errors["duration_minutes"] = ["Give the duration in whole minutes."]
    if form.get("modality") not in MODALITIES:
        errors["modality"] = ["Choose a modality."]
    facilitator = form.get("facilitator_id", "")
    if not facilitator.isdigit():
        errors["facilitator_id"] = ["Choose the facilitator."]
    if not chosen:
        errors["attendees"] = ["Choose at least one attendee."]
    shared = _read_note(form, note_format, "shared-")
    order = [row.Episode.id for row in candidates if row.Episode.id in chosen]
    order += sorted(chosen - set(order))  # ids not offered (e.g. discharged meanwhile)
    attendees = []
    mapping: dict[str, str] = {}
    for index, episode_id in enumerate(order):
        own = _read_note(form, note_format, f"a{episode_id}-")
        body = {k: (v if v.strip() else shared[k]) for k, v in own.items()}
        attendance = form.get(f"a{episode_id}-attendance", "attended")
        attendees.append(
            services.AttendeeInput(
                episode_id,
                attendance,
                None if _blank(body) else services.NoteInput(note_format, body),
            )
        )
        mapping[f"attendees.{index}.episode_id"] = "attendees"
        mapping[f"attendees.{index}.attendance"] = f"a{episode_id}-attendance"
        for name in body:
            mapping[f"attendees.{index}.note.body.{name}"] = f"a{episode_id}-{name}"
    if errors:
        return errors
    summary = "\n\n".join(
        f"{label}: {shared[name].strip()}"
        for name, label in FORMAT_FIELDS[note_format]
        if shared[name].strip()
    )
    try:
        services.log_group_session(
            current_user,
            topic=form.get("topic", ""),
            modality=form["modality"],
            started_at=started_at,
            duration_minutes=int(duration),
            attendees=attendees,
            facilitator_id=int(facilitator),
            summary=summary or None,
            sign=form.get("action") == "sign",
        )
        db.session.commit()
    except CasemgrError as err:
        db.session.rollback()
        errors = _flatten(err.fields, mapping) or {"_form": [err.message]}
        discharged = [k for k, v in err.fields.items() if "discharged" in " ".join(v)]
        if discharged:
            errors.setdefault("_form", []).append(
                "A chosen patient is discharged; untick them to save the others."
            )
    return errors


# --- notes ------------------------------------------------------------------------------


@bp.route("/episodes/<int:episode_id>/notes/new", methods=["GET", "POST"])
@requires(Action.NOTE_WRITE)
def new_note(episode_id: int) -> Any:
    """Write a note that belongs to no session (medical, discharge, other...)."""
    episode = get_episode(current_user, episode_id, action="episode.view")
    last = queries.last_choices(current_user.id)
    form: dict[str, Any] = {"kind": "progress", "format": last.get("format", "DAP")}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        note_format = form.get("format") if form.get("format") in FORMAT_FIELDS else "DAP"
        body = _read_note(form, note_format, f"{note_format}-")
        try:
            note = services.write_note(
                current_user,
                episode,
                kind=form.get("kind", ""),
                format=note_format,
                body=body,
                sign=form.get("action") == "sign",
            )
            db.session.commit()
        except CasemgrError as err:
            db.session.rollback()
            mapping = {f"body.{n}": f"{note_format}-{n}" for n in body}
            errors = _flatten(err.fields, mapping) or {"_form": [err.message]}
        else:
            flash("Note signed." if note.is_signed else "Draft note saved.", "success")
            return redirect(url_for("therapy.note", note_id=note.id))
    else:
        db.session.commit()
    return render_template(
        "therapy/note_new.html",
        episode=episode,
        patient=episode.patient,
        form=form,
        errors=errors,
        **_choices(),
    ), (422 if errors else 200)


@bp.get("/notes/<int:note_id>")
@requires(Action.CLINICAL_VIEW)
def note(note_id: int) -> Any:
    """Show a note, its addenda and what the viewer may do with it."""
    found = get_note(current_user, note_id)
    db.session.commit()
    return render_template(
        "therapy/note.html",
        note=found,
        errors={},
        form={},
        status_labels=STATUS_LABELS,
        **_choices(),
    )


@bp.route("/notes/<int:note_id>/edit", methods=["GET", "POST"])
@requires(Action.NOTE_WRITE)
def edit_note(note_id: int) -> Any:
    """Edit a draft (author only); a stale save shows both versions and keeps the typing."""
    found = get_note(current_user, note_id)
    prefix = f"{found.format}-"
    form: dict[str, Any] = {f"{prefix}{k}": v for k, v in found.body.items()}
    form["version"] = str(found.version)
    errors: dict[str, list[str]] = {}
    theirs = None
    if request.method == "POST":
        form = request.form.to_dict()
        body = _read_note(form, found.format, prefix)
        version = form.get("version", "")
        try:
            services.update_note(
                current_user, found, body=body, version=int(version) if version.isdigit() else 0
            )
            if form.get("action") == "sign":
                services.sign_note(current_user, found)
            db.session.commit()
        except Conflict as err:
            db.session.rollback()
            db.session.refresh(found)
            errors = {"_form": [err.message]}
            if not found.is_signed:
                theirs = found  # both versions on screen; saving again takes the user's
                form["version"] = str(found.version)
        except CasemgrError as err:
            db.session.rollback()
            mapping = {f"body.{n}": f"{prefix}{n}" for n in body}
            errors = _flatten(err.fields, mapping) or {"_form": [err.message]}
        else:
            flash("Note signed." if found.is_signed else "Draft saved.", "success")
            return redirect(url_for("therapy.note", note_id=found.id))
    elif found.is_signed or found.author_id != current_user.id:
        db.session.commit()
        flash(
            "A signed note cannot be edited; add an addendum instead."
            if found.is_signed
            else "Only the author may edit a draft.",
            "warning",
        )
        return redirect(url_for("therapy.note", note_id=found.id))
    else:
        db.session.commit()
    status = 409 if theirs is not None or found.is_signed and errors else 422 if errors else 200
    return render_template(
        "therapy/note_edit.html",
        note=found,
        form=form,
        errors=errors,
        theirs=theirs,
        **_choices(),
    ), status


@bp.post("/notes/<int:note_id>/sign")
@requires(Action.NOTE_WRITE)
def sign(note_id: int) -> Any:
    """Sign a draft (it is locked from now on)."""
    found = get_note(current_user, note_id, action="")
    services.sign_note(current_user, found)
    db.session.commit()
    flash(
        "Signed; it now waits for a supervisor's co-signature."
        if found.status == "awaiting_cosign"
        else "Signed.",
        "success",
    )
    return redirect(url_for("therapy.note", note_id=found.id))


@bp.post("/notes/<int:note_id>/cosign")
@requires(Action.NOTE_COSIGN)
def cosign(note_id: int) -> Any:
    """Co-sign a note awaiting a supervisor's signature."""
    found = get_note(current_user, note_id, action="")
    services.cosign_note(current_user, found)
    db.session.commit()
    flash("Co-signed.", "success")
    if request.form.get("back") == "queue":
        return redirect(url_for("therapy.cosign_queue"))
    return redirect(url_for("therapy.note", note_id=found.id))


@bp.post("/notes/<int:note_id>/addenda")
@requires(Action.NOTE_WRITE)
def add_addendum(note_id: int) -> Any:
    """Add an addendum to a signed note; the text is kept if something is wrong."""
    found = get_note(current_user, note_id, action="")
    form = request.form.to_dict()
    errors: dict[str, list[str]] = {}
    try:
        data = AddendumForm().load(form)
        services.add_addendum(current_user, found, text=data["text"])
        db.session.commit()
    except ValidationError as err:
        errors = form_errors(err)
    except CasemgrError as err:
        db.session.rollback()
        errors = err.fields or {"_form": [err.message]}
    else:
        flash("Addendum added.", "success")
        return redirect(url_for("therapy.note", note_id=found.id))
    found = get_note(current_user, note_id)
    db.session.commit()
    return render_template(
        "therapy/note.html",
        note=found,
        errors=errors,
        form=form,
        status_labels=STATUS_LABELS,
        **_choices(),
    ), 422


# --- work lists -------------------------------------------------------------------------


@bp.get("/notes/unsigned")
@requires(Action.NOTE_WRITE)
def unsigned() -> Any:
    """List unsigned notes: one's own, or everyone's for a supervisor; > 72 h highlighted."""
    everyone = current_user.has_role("supervisor")
    author_id = request.args.get("author", type=int) if everyone else None
    scope = visible_episodes_clause(current_user)
    rows, paging = paged(
        queries.unsigned_notes_query(current_user, scope, everyone=everyone, author_id=author_id)
    )
    late, late_paging = paged(
        queries.needs_attendance_query(current_user, scope, everyone=everyone), "late_page"
    )
    record(current_user, "note.list_unsigned")
    db.session.commit()
    return render_template(
        "therapy/unsigned.html",
        rows=rows,
        paging=paging,
        late=late,
        late_paging=late_paging,
        everyone=everyone,
        author_id=author_id,
        authors=counselors() if everyone else [],
        cutoff=queries.overdue_cutoff(),
        status_labels=STATUS_LABELS,
        modality_labels=MODALITY_LABELS,
    )


@bp.get("/notes/cosign")
@requires(Action.NOTE_COSIGN)
def cosign_queue() -> Any:
    """List notes waiting for a supervisor's co-signature."""
    rows, paging = paged(queries.cosign_queue_query(visible_episodes_clause(current_user)))
    record(current_user, "note.list_cosign")
    db.session.commit()
    return render_template(
        "therapy/cosign.html", rows=rows, paging=paging, cutoff=queries.overdue_cutoff()
    )


# --- the chart's therapy section --------------------------------------------------------


def _timeline_section(actor: Any, patient: Patient, episodes: list[Episode]) -> dict[str, Any]:
    """Provide the chart's timeline of sessions, notes and stage moves (newest first)."""
    page = max(request.args.get("tl", 1, type=int) or 1, 1)
    entries, total = queries.timeline([e.id for e in episodes], page, TIMELINE_PAGE)
    active = next((e for e in episodes if e.is_active), None)
    return {
        "entries": entries,
        "total": total,
        "page": page,
        "pages": max((total + TIMELINE_PAGE - 1) // TIMELINE_PAGE, 1),
        "active": active,
        "now": utcnow(),
        "modality_labels": MODALITY_LABELS,
        "attendance_labels": ATTENDANCE_LABELS,
        "status_labels": STATUS_LABELS,
        "format_labels": FORMAT_LABELS,
    }


register_chart_section("therapy", "therapy/_chart_timeline.html", _timeline_section, order=20)
