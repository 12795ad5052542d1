"""JSON API for patients (shared/API.md "Patients")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.episodes.access import get_patient, visible_patients_clause
from casemgr.extensions import db
from casemgr.patients import services
from casemgr.patients.models import Patient
from casemgr.patients.schemas import (
    PatientCreate,
    PatientListOut,
    PatientOut,
    PatientQuery,
    PatientUpdate,
)

blp = Blueprint("api_patients", __name__, url_prefix="/api/v1/patients", description="Patients")
blueprints = (blp,)


@blp.route("", methods=["POST"])
@blp.arguments(PatientCreate)
@blp.response(201, PatientOut)
@requires(Action.PATIENT_CREATE)
def create_patient(data: dict[str, Any]) -> Patient:
    """Register a patient; the MRN is generated."""
    patient = services.create_patient(current_user, **data)
    db.session.commit()
    return patient


@blp.route("", methods=["GET"])
@blp.arguments(PatientQuery, location="query")
@blp.response(200, PatientListOut)
@requires(Action.PATIENT_SEARCH)
def list_patients(args: dict[str, Any]) -> dict[str, Any]:
    """Search patients by name part or exact MRN (counselors: their care team only)."""
    query = sa.select(Patient).where(visible_patients_clause(current_user))
    if args.get("q"):
        query = query.where(services.search_filter(args["q"]))
    query = query.order_by(Patient.last_name, Patient.first_name, Patient.id)
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "patient.search", outcome="success")
    db.session.commit()
    return page


@blp.route("/<int:patient_id>", methods=["GET"])
@blp.response(200, PatientOut)
@requires(Action.PATIENT_VIEW)
def get_patient_view(patient_id: int) -> Patient:
    """Return one patient."""
    patient = get_patient(current_user, patient_id)
    db.session.commit()
    return patient


@blp.route("/<int:patient_id>", methods=["PATCH"])
@blp.arguments(PatientUpdate)
@blp.response(200, PatientOut)
@requires(Action.PATIENT_EDIT)
def update_patient(data: dict[str, Any], patient_id: int) -> Patient:
    """Change a patient's demographics (409 when ``version`` is stale)."""
    patient = get_patient(current_user, patient_id, action="")
    version = data.pop("version", None)
    services.update_patient(current_user, patient, data, expected_version=version)
    db.session.commit()
    return patient
