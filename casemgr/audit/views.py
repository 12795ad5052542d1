"""Pages: the audit report and chain check, emergency access, Part 2 consents and disclosures."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit import chain, queries, services
from casemgr.audit.models import AuditEvent, Consent, Disclosure, EmergencyAccess
from casemgr.audit.schemas import (
    AuditReportForm,
    ConsentForm,
    DisclosureForm,
    EmergencyAccessForm,
    ReviewForm,
)
from casemgr.audit.services import LEGAL_BASES, REDISCLOSURE_NOTICE, record
from casemgr.core.errors import CasemgrError, NotFound
from casemgr.core.paging import paged
from casemgr.core.permissions import Action, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import today
from casemgr.episodes.access import get_patient
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import SEXES, Patient

audit_bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
emergency_bp = Blueprint("emergency", __name__, url_prefix="/emergency-access")
privacy_bp = Blueprint("privacy", __name__)
blueprints = (audit_bp, emergency_bp, privacy_bp)
REPORT_PAGE = 100


def _blank_to_none(form: dict[str, str]) -> dict[str, Any]:
    """Treat empty form fields as not given."""
    return {k: (v if v != "" else None) for k, v in form.items()}


# --- The audit report -------------------------------------------------------------------


@audit_bp.get("")
@requires(Action.AUDIT_VIEW)
def report() -> Any:
    """Filter, sort and page the audit trail (keyset paging), or download it as CSV."""
    raw = _blank_to_none(request.args.to_dict())
    form = {k: v for k, v in request.args.items() if k not in ("after", "format")}
    try:
        args = AuditReportForm().load(raw)
    except ValidationError as err:
        return render_template(
            "audit/report.html", form=form, errors=form_errors(err), events=[], sorts=queries
        ), 422
    filters = {k: args[k] for k in ("from_", "to", "actor_id", "patient_id", "action")}
    where = queries.filter_clause(**filters)
    sort = args["sort"]
    if args["format"] == "csv":
        return _csv_download(where, sort)
    query = queries.ordered(where, sort)
    if args["after"] is not None:
        after = db.session.get(AuditEvent, args["after"])
        if after is not None:
            query = query.where(queries.after_clause(sort, after))
    events = list(
        db.session.scalars(
            query.limit(REPORT_PAGE + 1).options(sa.orm.selectinload(AuditEvent.actor))
        )
    )
    more = len(events) > REPORT_PAGE
    events = events[:REPORT_PAGE]
    record(current_user, "audit.view")
    db.session.commit()
    return render_template(
        "audit/report.html",
        form=form,
        errors={},
        events=events,
        next_after=events[-1].id if more else None,
        sorts=queries,
        sort=sort,
    )


def _csv_download(where: sa.ColumnElement[bool], sort: str) -> Response:
    """Stream the matching events as CSV (constant memory, any number of rows)."""
    record(current_user, "audit.export")
    db.session.commit()

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(queries.CSV_COLUMNS)
        for row in queries.csv_rows(db.session, where, sort):
            writer.writerow(row)
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
    )


@audit_bp.get("/verify")
@requires(Action.AUDIT_VIEW)
def verify() -> Any:
    """Check the hash chain and say whether it is intact, or where it was broken."""
    record(current_user, "audit.verify")
    db.session.commit()
    result = chain.verify(db.session.connection(execution_options={"casemgr_read_only": True}))
    db.session.commit()
    return render_template("audit/verify.html", result=result)


# --- Emergency access (break the glass) ---------------------------------------------------


# ``chart_id`` is deliberately not a registered object argument: this is the way in for
# staff outside the care team, so the guard must not refuse it before the view runs.
@emergency_bp.route("/request/<int:chart_id>", methods=["GET", "POST"])
@requires(Action.EMERGENCY_ACCESS)
def request_access(chart_id: int) -> Any:
    """Ask for a chart outside the care team: a reason, 4 hours of access, a review."""
    patient = db.session.get(Patient, chart_id)
    if patient is None:
        raise NotFound("No such patient.")
    record(current_user, "emergency_access.form", patient, patient)
    db.session.commit()
    form: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = EmergencyAccessForm().load(form)
            services.grant_emergency_access(current_user, patient, data["reason"])
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
            flash(
                f"Emergency access granted for {services.EMERGENCY_ACCESS_HOURS} hours; "
                "a supervisor will review it.",
                "warning",
            )
            return redirect(url_for("patients.chart", patient_id=patient.id))
    return render_template(
        "audit/emergency_request.html",
        patient=patient,
        form=form,
        errors=errors,
        hours=services.EMERGENCY_ACCESS_HOURS,
    ), (422 if errors else 200)


@emergency_bp.get("")
@requires(Action.EMERGENCY_ACCESS_REVIEW)
def review_list() -> Any:
    """List emergency accesses for supervisors, unreviewed first."""
    show_all = request.args.get("all") == "1"
    query = (
        sa.select(EmergencyAccess, Patient)
        .join(Patient, Patient.id == EmergencyAccess.patient_id)
        .options(
            sa.orm.joinedload(EmergencyAccess.staff), sa.orm.joinedload(EmergencyAccess.reviewed_by)
        )
        .order_by(
            EmergencyAccess.reviewed_at.is_not(None),
            EmergencyAccess.granted_at.desc(),
            EmergencyAccess.id.desc(),
        )
    )
    if not show_all:
        query = query.where(EmergencyAccess.reviewed_at.is_(None))
    rows, paging = paged(query)
    record(current_user, "emergency_access.list")
    db.session.commit()
    return render_template(
        "audit/emergency_list.html", rows=rows, paging=paging, show_all=show_all, errors={}
    )


@emergency_bp.post("/<int:grant_id>/review")
@requires(Action.EMERGENCY_ACCESS_REVIEW)
def review(grant_id: int) -> Any:
    """Mark one emergency access reviewed."""
    grant = db.session.get(EmergencyAccess, grant_id)
    if grant is None:
        raise NotFound("No such emergency access.")
    try:
        data = ReviewForm().load(request.form.to_dict())
        services.review_emergency_access(current_user, grant, data["review_note"])
        db.session.commit()
    except ValidationError as err:
        flash("; ".join(m for msgs in form_errors(err).values() for m in msgs), "danger")
    except CasemgrError as err:
        db.session.rollback()
        flash(err.message, "danger")
    else:
        flash("Marked reviewed.", "success")
    return redirect(url_for("emergency.review_list"))


# --- Part 2 consents and disclosures --------------------------------------------------------


@privacy_bp.route("/patients/<int:patient_id>/consents/new", methods=["GET", "POST"])
@requires(Action.PATIENT_EDIT)
def consent_new(patient_id: int) -> Any:
    """Record a patient's signed consent to disclose (42 CFR §2.31 elements)."""
    patient = get_patient(current_user, patient_id, action="consent.form")
    db.session.commit()
    form: dict[str, Any] = {"discloser": "This program", "signed_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = ConsentForm().load(_blank_to_none(form))
            services.record_consent(current_user, patient, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
            flash("Consent recorded.", "success")
            return redirect(url_for("patients.chart", patient_id=patient.id))
    return render_template("audit/consent_form.html", patient=patient, form=form, errors=errors), (
        422 if errors else 200
    )


@privacy_bp.post("/consents/<int:consent_id>/revoke")
@requires(Action.PATIENT_EDIT)
def consent_revoke(consent_id: int) -> Any:
    """Revoke a consent (the patient may revoke at any time, §2.31(a)(6))."""
    consent = db.session.get(Consent, consent_id)
    if consent is None:
        raise NotFound("No such consent.")
    try:
        services.revoke_consent(current_user, consent)
        db.session.commit()
    except CasemgrError as err:
        db.session.rollback()
        flash(err.message, "danger")
    else:
        flash("Consent revoked.", "success")
    return redirect(url_for("patients.chart", patient_id=consent.patient_id))


def _record_contents(patient: Patient) -> dict[str, Any]:
    """Load what a printed or exported record holds: demographics, episodes, stage history."""
    episodes = list(
        db.session.scalars(
            sa.select(Episode)
            .where(Episode.patient_id == patient.id)
            .order_by(Episode.admitted_on, Episode.id)
            .options(sa.orm.selectinload(Episode.primary_counselor))
        )
    )
    history = list(
        db.session.scalars(
            sa.select(StageChange)
            .join(Episode, Episode.id == StageChange.episode_id)
            .where(Episode.patient_id == patient.id)
            .order_by(StageChange.at, StageChange.id)
        )
    )
    return {"episodes": episodes, "history": history}


def _record_csv(patient: Patient, contents: dict[str, Any], disclosure: Disclosure) -> Response:
    """Render the record as CSV, the redisclosure notice first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["notice", REDISCLOSURE_NOTICE])
    writer.writerow(["disclosure", disclosure.id, disclosure.recipient, disclosure.purpose])
    writer.writerow(["mrn", "last_name", "first_name", "date_of_birth", "sex"])
    writer.writerow(
        [patient.mrn, patient.last_name, patient.first_name, patient.date_of_birth, patient.sex]
    )
    writer.writerow(["episode_id", "admitted_on", "discharged_on", "stage", "discharge_reason"])
    for e in contents["episodes"]:
        writer.writerow([e.id, e.admitted_on, e.discharged_on or "", e.stage, e.discharge_reason])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="record-{patient.mrn}.csv"'},
    )


@privacy_bp.route("/patients/<int:patient_id>/disclose", methods=["GET", "POST"])
@requires(Action.PATIENT_VIEW)
def disclose(patient_id: int) -> Any:
    """Print or export a patient's record: only under a consent or legal basis, with notice."""
    patient = get_patient(current_user, patient_id, action="disclosure.form")
    db.session.commit()
    consents = list(
        db.session.scalars(
            sa.select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.id.desc())
        )
    )
    valid = [c for c in consents if c.valid_on(today())]
    form: dict[str, Any] = {"format": "print"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = DisclosureForm().load(_blank_to_none(form))
            fmt = data.pop("format")
            disclosure = services.disclose(
                current_user,
                patient,
                kind="chart_csv" if fmt == "csv" else "chart_print",
                **data,
            )
            record(
                current_user,
                "patient.export" if fmt == "csv" else "patient.print",
                patient,
                patient,
            )
            contents = _record_contents(patient)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
            if fmt == "csv":
                return _record_csv(patient, contents, disclosure)
            return render_template(
                "audit/record_print.html",
                patient=patient,
                disclosure=disclosure,
                notice=REDISCLOSURE_NOTICE,
                sexes=SEXES,
                **contents,
            )
    return render_template(
        "audit/disclose.html",
        patient=patient,
        consents=valid,
        legal_bases=LEGAL_BASES,
        form=form,
        errors=errors,
    ), (422 if errors else 200)


def _privacy_section(actor: Any, patient: Patient, _episodes: list[Episode]) -> dict[str, Any]:
    """Load the chart's consents and accounting of disclosures (two queries)."""
    consents = list(
        db.session.scalars(
            sa.select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.id.desc())
        )
    )
    disclosures = list(
        db.session.scalars(
            sa.select(Disclosure)
            .where(Disclosure.patient_id == patient.id)
            .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc())
            .options(sa.orm.joinedload(Disclosure.disclosed_by))
            .limit(100)
        )
    )
    return {
        "patient": patient,
        "consents": consents,
        "disclosures": disclosures,
        "legal_bases": LEGAL_BASES,
        "today": today(),
    }


register_chart_section("privacy", "audit/_chart_privacy.html", _privacy_section, order=90)
