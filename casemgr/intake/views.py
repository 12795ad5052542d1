"""Pages for intake staff: pipeline, phone inquiry form, screening, waitlist and admission.

Also places, insurance, utilization review and the inquiry funnel report.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.clinical import teds
from casemgr.core.errors import CasemgrError
from casemgr.core.paging import count_rows, paged, paged_scalars, paging_for
from casemgr.core.permissions import Action, can, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import today
from casemgr.episodes.access import get_episode, get_patient
from casemgr.episodes.models import Episode
from casemgr.episodes.schemas import PRIOR_EPISODES
from casemgr.extensions import db
from casemgr.intake import models as m
from casemgr.intake import queries, services
from casemgr.intake.access import get_coverage, get_inquiry
from casemgr.intake.api import funnel_csv, funnel_range, funnel_table
from casemgr.intake.chart_svg import funnel_svg
from casemgr.intake.models import Authorization
from casemgr.intake.schemas import (
    AdmitForm,
    AuthorizationForm,
    CoverageForm,
    FollowUpForm,
    InquiryForm,
    ScreeningForm,
    StatusForm,
    VerificationForm,
)
from casemgr.intake.screening import REASON_LABELS, SCREENING_FIELDS
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import SEXES, Patient
from casemgr.staff.services import counselors

bp = Blueprint("intake", __name__)
blueprints = (bp,)

#: Choices shared by the templates.
CHOICES = {
    "urgencies": [(u, m.URGENCY_LABELS[u]) for u in m.URGENCIES],
    "categories": list(m.CATEGORY_LABELS.items()),
    "legal": list(m.LEGAL_STATUSES.items()),
    "sexes": list(SEXES.items()),
    "priorities": [("primary", "Primary"), ("secondary", "Secondary")],
    "relationships": [(r, r.capitalize()) for r in m.SUBSCRIBER_RELATIONSHIPS],
    "verification": list(m.VERIFICATION_LABELS.items()),
    "yes_no": [("true", "Yes"), ("false", "No")],
}
#: Overdue follow-ups named on the board (the rest are counted, and flagged in the columns).
OVERDUE_NAMED = 20
#: Form fields whose empty value means "not given".
BOOL_FIELDS = (
    "daily_alcohol",
    "daily_sedative",
    "daily_opioid",
    "withdrawal_history",
    "withdrawal_seizures",
    "withdrawal_delirium",
    "co_occurring",
)


def _blank_to_none(form: dict[str, str]) -> dict[str, Any]:
    """Treat empty optional form fields as not given."""
    return {k: (v if v != "" else None) for k, v in form.items()}


def _screening_from(form: dict[str, str]) -> dict[str, Any]:
    """Read the screening part of a form: unchecked boxes mean "no" once any answer is given."""
    raw = {k: form.get(k, "") for k in SCREENING_FIELDS}
    for name in BOOL_FIELDS:
        raw[name] = "true" if form.get(name) else "false"
    return _blank_to_none(raw)


def _has_screening(form: dict[str, str]) -> bool:
    """Tell whether any screening question was answered on the inquiry form."""
    return any(form.get(k) for k in SCREENING_FIELDS)


def _render(template: str, status: int = 200, **context: Any) -> Any:
    """Render an intake page with the shared choices and TEDS tables."""
    return render_template(
        template, choices=CHOICES, teds=teds, labels=m, reason_labels=REASON_LABELS, **context
    ), status


@bp.get("/intake")
@requires(Action.INQUIRY_MANAGE)
def board() -> Any:
    """Show the pipeline by status, overdue follow-ups first, with places left.

    Each column shows a page of its inquiries; the pager walks the longest column.
    """
    counts = queries.open_counts()
    paging = paging_for(max(counts.values()))
    columns = queries.board(paging.per_page, paging.offset)
    overdue_query = queries.overdue_query()
    overdue = list(db.session.scalars(overdue_query.limit(OVERDUE_NAMED)))
    places = queries.occupancy()
    closed = queries.closed_counts()
    record(current_user, "inquiry.list")
    db.session.commit()
    return _render(
        "intake/board.html",
        columns=columns,
        counts=counts,
        paging=paging,
        overdue=overdue,
        overdue_total=count_rows(overdue_query),
        places=places,
        closed=closed,
    )


@bp.route("/intake/inquiries/new", methods=["GET", "POST"])
@requires(Action.INQUIRY_MANAGE)
def new_inquiry() -> Any:
    """Take an inquiry on the phone: contact, referral, urgency, and the screening if given."""
    form: dict[str, Any] = {"urgency": "routine", "first_contact_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = InquiryForm().load(_blank_to_none(form))
            screening = None
            if _has_screening(form):
                try:
                    screening = ScreeningForm().load(_screening_from(form))
                except ValidationError as err:
                    raise ValidationError(form_errors(err)) from err
            inquiry = services.take_inquiry(current_user, screening=screening, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = _field_names(err.fields) or {"_form": [err.message]}
        else:
            flash(f"Inquiry taken for {inquiry.display_name}.", "success")
            return redirect(url_for("intake.inquiry", inquiry_id=inquiry.id))
    return _render("intake/inquiry_form.html", 422 if errors else 200, form=form, errors=errors)


def _field_names(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Map service field names ("screening.last_use_on") to the form's input names."""
    return {k.split(".")[-1]: v for k, v in fields.items()}


def _inquiry_page(inquiry: m.Inquiry, errors: dict[str, list[str]] | None = None) -> Any:
    """Render an inquiry's page (with errors from a refused action)."""
    history = list(
        db.session.scalars(
            sa.select(m.InquiryStatusChange)
            .where(m.InquiryStatusChange.inquiry_id == inquiry.id)
            .order_by(m.InquiryStatusChange.id.desc())
            .options(sa.orm.joinedload(m.InquiryStatusChange.by))
        )
    )
    moves = sorted(services.TRANSITIONS[inquiry.status])
    return _render(
        "intake/inquiry.html",
        422 if errors else 200,
        inquiry=inquiry,
        history=history,
        moves=moves,
        reasons=services.detox_reasons_of(inquiry),
        days_waiting=services.days_waiting_of(inquiry),
        overdue=services.is_overdue(inquiry),
        admittable=inquiry.status in services.ADMITTABLE,
        errors=errors or {},
        form=request.form.to_dict() if errors else {},
    )


@bp.get("/intake/inquiries/<int:inquiry_id>")
@requires(Action.INQUIRY_MANAGE)
def inquiry(inquiry_id: int) -> Any:
    """Show an inquiry: contact, screening and detox suggestion, history, next steps."""
    found = get_inquiry(current_user, inquiry_id)
    db.session.commit()
    return _inquiry_page(found)


@bp.post("/intake/inquiries/<int:inquiry_id>/status")
@requires(Action.INQUIRY_MANAGE)
def change_status(inquiry_id: int) -> Any:
    """Move an inquiry in the pipeline; a refused move is explained on the page."""
    found = get_inquiry(current_user, inquiry_id, action="")
    try:
        data = StatusForm().load(_blank_to_none(request.form.to_dict()))
        services.change_status(current_user, found, data["status"], data.get("reason"))
        db.session.commit()
    except ValidationError as err:
        return _inquiry_page(found, form_errors(err))
    except CasemgrError as err:
        db.session.rollback()
        return _inquiry_page(found, {**err.fields, "_form": [err.message]})
    flash(f"Moved to {m.STATUS_LABELS[found.status].lower()}.", "success")
    return redirect(url_for("intake.inquiry", inquiry_id=found.id))


@bp.post("/intake/inquiries/<int:inquiry_id>/follow-up")
@requires(Action.INQUIRY_MANAGE)
def follow_up(inquiry_id: int) -> Any:
    """Set or clear the follow-up date."""
    found = get_inquiry(current_user, inquiry_id, action="")
    try:
        data = FollowUpForm().load(_blank_to_none(request.form.to_dict()))
        services.update_inquiry(current_user, found, data)
        db.session.commit()
    except ValidationError as err:
        return _inquiry_page(found, form_errors(err))
    except CasemgrError as err:
        db.session.rollback()
        return _inquiry_page(found, {**err.fields, "_form": [err.message]})
    flash("Follow-up saved.", "success")
    return redirect(url_for("intake.inquiry", inquiry_id=found.id))


@bp.route("/intake/inquiries/<int:inquiry_id>/screening", methods=["GET", "POST"])
@requires(Action.INQUIRY_MANAGE)
def screening(inquiry_id: int) -> Any:
    """Record the screening answers; the detox suggestion is shown on the inquiry page."""
    found = get_inquiry(current_user, inquiry_id, action="")
    form: dict[str, Any] = {
        k: ("" if getattr(found, k) is None else getattr(found, k)) for k in SCREENING_FIELDS
    }
    for k in ("pregnant",):
        form[k] = "" if getattr(found, k) is None else str(getattr(found, k)).lower()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = ScreeningForm().load(_screening_from(form))
            services.record_screening(current_user, found, data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = _field_names(err.fields) or {"_form": [err.message]}
        else:
            flash("Screening saved.", "success")
            return redirect(url_for("intake.inquiry", inquiry_id=found.id))
    else:
        record(current_user, "inquiry.view", found, patient_id=found.patient_id)
        db.session.commit()
    return _render(
        "intake/screening.html", 422 if errors else 200, inquiry=found, form=form, errors=errors
    )


@bp.route("/intake/inquiries/<int:inquiry_id>/admit", methods=["GET", "POST"])
@requires(Action.EPISODE_ADMIT)
def admit(inquiry_id: int) -> Any:
    """Admit from an inquiry: prefilled TEDS fields, and any likely duplicate patient offered."""
    found = get_inquiry(current_user, inquiry_id, action="")
    prefill = services.admission_prefill(found)
    form: dict[str, Any] = {
        "admitted_on": today().isoformat(),
        **{k: ("" if v is None else v) for k, v in prefill.items()},
    }
    errors: dict[str, list[str]] = {}
    candidates: list[Any] = services.find_candidates(
        found.first_name, found.last_name, found.date_of_birth
    )
    if request.method == "POST":
        form = request.form.to_dict()
        raw = _blank_to_none(form)
        choice = raw.pop("patient_choice", None)
        if choice == "new":
            raw["new_patient"] = "true"
        elif choice:
            raw["patient_id"] = choice
        try:
            data = AdmitForm().load(raw)
            episode = services.admit_inquiry(current_user, found, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
            if "candidates" in err.extra:
                ids = [c["id"] for c in err.extra["candidates"]]
                candidates = list(db.session.scalars(sa.select(Patient).where(Patient.id.in_(ids))))
                errors["patient_choice"] = ["Choose the existing patient or confirm a new one."]
        else:
            flash(
                f"Admitted after {episode.days_waiting} days waiting; "
                f"episode {episode.id} is open.",
                "success",
            )
            return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    else:
        record(current_user, "inquiry.view", found, patient_id=found.patient_id)
        db.session.commit()
    return _render(
        "intake/admit.html",
        422 if errors else 200,
        inquiry=found,
        form=form,
        errors=errors,
        candidates=candidates,
        counselor_options=[(c.id, c.full_name) for c in counselors()],
        places={o.category: o for o in queries.occupancy()},
        prior_episodes=PRIOR_EPISODES,
        admittable=found.status in services.ADMITTABLE,
    )


@bp.get("/intake/waitlist")
@requires(Action.INQUIRY_MANAGE)
def waitlist() -> Any:
    """Show the waitlist (most urgent, then longest wait) beside the places left."""
    rows, paging = paged_scalars(queries.waitlist_query())
    places = queries.occupancy()
    record(current_user, "inquiry.waitlist_view")
    db.session.commit()
    return _render("intake/waitlist.html", rows=rows, paging=paging, places=places, today_=today())


@bp.route("/intake/places", methods=["GET", "POST"])
@requires(Action.PLACES_MANAGE)
def places() -> Any:
    """Set the program's beds and outpatient slots; occupancy comes from active episodes."""
    errors: dict[str, list[str]] = {}
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        values: dict[str, int] = {}
        for category in m.CATEGORIES:
            raw = form.get(category, "").strip()
            if not raw.isdigit() or int(raw) > 100_000:
                errors[category] = ["Give a whole number from 0 to 100000."]
            else:
                values[category] = int(raw)
        if not errors:
            for category, capacity in values.items():
                services.set_places(current_user, category, capacity)
            db.session.commit()
            flash("Places saved.", "success")
            return redirect(url_for("intake.places"))
    rows = queries.occupancy()
    if not form:
        form = {o.category: "" if o.capacity is None else o.capacity for o in rows}
    return _render(
        "intake/places.html", 422 if errors else 200, rows=rows, form=form, errors=errors
    )


@bp.get("/intake/review")
@requires(Action.COVERAGE_MANAGE)
def review() -> Any:
    """Utilization review: unverified coverage of admitted patients and authorizations ending."""
    unverified, paging = paged(queries.unverified_query())
    statuses = queries.coverages_with_status([p.id for _, p in unverified], active_only=True)
    by_patient: dict[int, list[Any]] = {}
    for c, v in statuses:
        by_patient.setdefault(c.patient_id, []).append((c, v))
    day = today()
    rows, ending_paging = paged(queries.utilization_review_query(3, day), "ending_page")
    ending = queries.review_items(rows, day)
    record(current_user, "authorization.review_list")
    db.session.commit()
    return _render(
        "intake/review.html",
        unverified=unverified,
        paging=paging,
        by_patient=by_patient,
        ending=ending,
        ending_paging=ending_paging,
    )


# ---- insurance pages ----


@bp.route("/patients/<int:patient_id>/coverages/new", methods=["GET", "POST"])
@requires(Action.COVERAGE_MANAGE)
def new_coverage(patient_id: int) -> Any:
    """Record a patient's insurance coverage."""
    patient = get_patient(current_user, patient_id, action="")
    form: dict[str, Any] = {"priority": "primary", "subscriber_relationship": "self"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = CoverageForm().load(_blank_to_none(form))
            services.add_coverage(current_user, patient, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = {**err.fields, "_form": [err.message]}
        else:
            flash("Coverage saved; verify it with the payer.", "success")
            return redirect(url_for("patients.chart", patient_id=patient.id))
    return _render(
        "intake/coverage_form.html",
        422 if errors else 200,
        patient=patient,
        form=form,
        errors=errors,
    )


@bp.route("/coverages/<int:coverage_id>/verify", methods=["GET", "POST"])
@requires(Action.COVERAGE_MANAGE)
def verify(coverage_id: int) -> Any:
    """Record a verification with the payer and the benefits summary."""
    coverage = get_coverage(current_user, coverage_id, action="")
    patient = db.session.get(Patient, coverage.patient_id)
    form: dict[str, Any] = {"verified_on": today().isoformat(), "status": "verified"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        raw = _blank_to_none(form)
        try:
            data = VerificationForm().load(raw)
            services.verify_coverage(current_user, coverage, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = {**err.fields, "_form": [err.message]}
        else:
            flash("Verification saved.", "success")
            return redirect(url_for("patients.chart", patient_id=coverage.patient_id))
    else:
        record(current_user, "coverage.view", coverage, patient_id=coverage.patient_id)
        db.session.commit()
    return _render(
        "intake/verify.html",
        422 if errors else 200,
        coverage=coverage,
        patient=patient,
        form=form,
        errors=errors,
    )


@bp.post("/coverages/<int:coverage_id>/end")
@requires(Action.COVERAGE_MANAGE)
def end_coverage(coverage_id: int) -> Any:
    """End a coverage (kept on record, no longer active)."""
    coverage = get_coverage(current_user, coverage_id, action="")
    services.update_coverage(current_user, coverage, {"active": False})
    db.session.commit()
    flash("Coverage ended.", "success")
    return redirect(url_for("patients.chart", patient_id=coverage.patient_id))


@bp.route("/episodes/<int:episode_id>/authorizations/new", methods=["GET", "POST"])
@requires(Action.COVERAGE_MANAGE)
def new_authorization(episode_id: int) -> Any:
    """Record a payer's authorization for a level of care."""
    episode = get_episode(current_user, episode_id, action="")
    patient = db.session.get(Patient, episode.patient_id)
    coverages = queries.coverages_with_status([episode.patient_id], active_only=True)
    form: dict[str, Any] = {
        "level": episode.service_setting,
        "starts_on": episode.admitted_on.isoformat(),
        "coverage_id": coverages[0][0].id if coverages else "",
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = AuthorizationForm().load(_blank_to_none(form))
            services.add_authorization(current_user, episode, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = {**err.fields, "_form": [err.message]}
        else:
            flash("Authorization saved.", "success")
            return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    return _render(
        "intake/authorization_form.html",
        422 if errors else 200,
        episode=episode,
        patient=patient,
        coverage_options=[(c.id, f"{c.payer} ({c.priority})") for c, _ in coverages],
        form=form,
        errors=errors,
    )


# ---- report ----


@bp.get("/intake/reports/funnel")
@requires(Action.REPORT_VIEW)
def funnel_report() -> Any:
    """Show the inquiry funnel for a date range as a chart and a table (CSV: the same table)."""
    errors: dict[str, list[str]] = {}
    args = request.args
    try:
        start = date.fromisoformat(args["from"]) if args.get("from") else None
        end = date.fromisoformat(args["to"]) if args.get("to") else None
        start, end = funnel_range(start, end)
    except ValueError:
        errors["from"] = ["Give dates as YYYY-MM-DD."]
        start, end = funnel_range(None, None)
    except CasemgrError as err:
        errors = err.fields
        start, end = funnel_range(None, None)
    result = queries.funnel(start, end)
    if args.get("format") == "csv" and not errors:
        record(current_user, "report.export")
        db.session.commit()
        return funnel_csv(result)
    record(current_user, "report.view")
    db.session.commit()
    return _render(
        "intake/funnel.html",
        422 if errors else 200,
        funnel=result,
        table=funnel_table(result),
        svg=funnel_svg(result),
        errors=errors,
        form={"from": args.get("from", start.isoformat()), "to": args.get("to", end.isoformat())},
    )


# ---- the chart's insurance section ----


def coverage_section(
    actor: Any, patient: Patient, episodes: list[Episode]
) -> dict[str, Any] | None:
    """Give the chart its insurance block: full detail for intake, status only for clinicians."""
    detail = can(actor, Action.COVERAGE_MANAGE)
    if not detail and not can(actor, Action.COVERAGE_STATUS_VIEW):
        return None
    rows = queries.coverages_with_status([patient.id], active_only=not detail)
    active = next((e for e in episodes if e.is_active), None)
    authorizations: list[Authorization] = []
    if detail and active is not None:
        authorizations = list(
            db.session.scalars(
                sa.select(Authorization)
                .where(Authorization.episode_id == active.id)
                .order_by(Authorization.ends_on.desc(), Authorization.id.desc())
            )
        )
    record(actor, "coverage.view" if detail else "coverage.status_view", patient_id=patient.id)
    return {
        "coverage_rows": rows,
        "coverage_detail": detail,
        "coverage_episode": active,
        "authorizations": authorizations,
        "verification_labels": m.VERIFICATION_LABELS,
        "patient": patient,
    }


register_chart_section("coverage", "intake/_coverage_section.html", coverage_section, order=20)
