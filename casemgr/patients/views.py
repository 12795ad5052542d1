"""Pages: patient search, registration, demographics and the chart."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.clinical import teds
from casemgr.core.errors import CasemgrError, Conflict
from casemgr.core.forms import run_form
from casemgr.core.permissions import Action, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import today
from casemgr.episodes import queries as episode_queries
from casemgr.episodes.access import get_patient, visible_patients_clause
from casemgr.episodes.los import stay_figures
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.patients import services
from casemgr.patients.chart import build_sections
from casemgr.patients.models import SEXES, Patient
from casemgr.patients.schemas import PatientForm

bp = Blueprint("patients", __name__, url_prefix="/patients")
blueprints = (bp,)
PAGE_SIZE = 25


@bp.get("")
@requires(Action.PATIENT_SEARCH)
def search() -> Any:
    """Find patients by name part or exact MRN."""
    q = request.args.get("q", "").strip()[:100]
    page = max(request.args.get("page", 1, type=int), 1)
    patients: list[Patient] = []
    total = 0
    if q:
        where = sa.and_(visible_patients_clause(current_user), services.search_filter(q))
        total = db.session.scalar(sa.select(sa.func.count(Patient.id)).where(where)) or 0
        patients = list(
            db.session.scalars(
                sa.select(Patient)
                .where(where)
                .order_by(Patient.last_name, Patient.first_name, Patient.id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        record(current_user, "patient.search")
        db.session.commit()
    return render_template(
        "patients/search.html",
        q=q,
        patients=patients,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
    )


def _form_data() -> dict[str, Any]:
    """Read the patient form, treating empty optional fields as not given."""
    raw = request.form.to_dict()
    for key in ("phone", "email"):
        if not raw.get(key):
            raw[key] = None
    return raw


@bp.route("/new", methods=["GET", "POST"])
@requires(Action.PATIENT_CREATE)
def new() -> Any:
    """Register a patient."""
    form: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        patient, errors, _status = run_form(
            PatientForm(),
            _form_data(),
            lambda data: services.create_patient(current_user, **data),
        )
        if patient is not None:
            flash(f"Registered with MRN {patient.mrn}.", "success")
            return redirect(url_for("patients.chart", patient_id=patient.id))
    return render_template(
        "patients/form.html", form=form, errors=errors, sexes=SEXES, patient=None
    ), (422 if errors else 200)


@bp.route("/<int:patient_id>/edit", methods=["GET", "POST"])
@requires(Action.PATIENT_EDIT)
def edit(patient_id: int) -> Any:
    """Correct a patient's demographics (the MRN never changes)."""
    patient = get_patient(current_user, patient_id, action="patient.edit_form")
    db.session.commit()  # the read is audited even if the change below fails
    form: dict[str, Any] = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "phone": patient.phone or "",
        "email": patient.email or "",
        "version": patient.version,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = PatientForm().load(_form_data())
            version = int(form["version"]) if str(form.get("version", "")).isdigit() else 0
            services.update_patient(current_user, patient, data, expected_version=version)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except Conflict:
            db.session.rollback()
            errors = {
                "_form": [
                    "Someone else changed this patient while you were editing; "
                    "their version is saved. Review it and save again."
                ]
            }
            form["version"] = patient.version
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
            flash("Saved.", "success")
            return redirect(url_for("patients.chart", patient_id=patient.id))
    return render_template(
        "patients/form.html", form=form, errors=errors, sexes=SEXES, patient=patient
    ), (422 if errors else 200)


@bp.get("/<int:patient_id>")
@requires(Action.PATIENT_VIEW)
def chart(patient_id: int) -> Any:
    """Show the chart: demographics, episodes with length of stay, stage history."""
    patient = get_patient(current_user, patient_id)
    episodes = list(
        db.session.scalars(
            sa.select(Episode)
            .where(Episode.patient_id == patient.id)
            .order_by(Episode.admitted_on.desc(), Episode.id.desc())
            .options(sa.orm.selectinload(Episode.primary_counselor))
        )
    )
    history = (
        list(
            db.session.scalars(
                sa.select(StageChange)
                .where(StageChange.episode_id.in_([e.id for e in episodes]))
                .order_by(StageChange.at.desc(), StageChange.id.desc())
                .options(sa.orm.joinedload(StageChange.by))
            )
        )
        if episodes
        else []
    )
    stays = {
        e.id: stay_figures(e.admitted_on, e.discharged_on, e.los_target_days, today())
        for e in episodes
    }
    active = next((e for e in episodes if e.is_active), None)
    at_risk = episode_queries.patient_at_risk(patient.id)
    sections = build_sections(current_user, patient, episodes)
    db.session.commit()
    return render_template(
        "patients/chart.html",
        sections=sections,
        patient=patient,
        episodes=episodes,
        active=active,
        at_risk=at_risk,
        history=history,
        stays=stays,
        teds=teds,
        sexes=SEXES,
        today=today(),
    )
