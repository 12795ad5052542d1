"""JSON API: the audit trail and its chain check (admin), emergency access (shared/API.md)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from casemgr.audit import chain, queries, services
from casemgr.audit.models import EmergencyAccess
from casemgr.audit.schemas import (
    AuditListOut,
    AuditQuery,
    EmergencyAccessListOut,
    EmergencyAccessOut,
    EmergencyAccessQuery,
    EmergencyAccessRequest,
    ReviewIn,
    VerifyOut,
)
from casemgr.audit.services import record
from casemgr.core.errors import NotFound
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.extensions import db
from casemgr.patients.models import Patient

audit_blp = Blueprint(
    "api_audit", __name__, url_prefix="/api/v1/audit-events", description="Audit trail"
)
emergency_blp = Blueprint(
    "api_emergency", __name__, url_prefix="/api/v1/emergency-access", description="Break the glass"
)
blueprints = (audit_blp, emergency_blp)


@audit_blp.route("", methods=["GET"])
@audit_blp.arguments(AuditQuery, location="query")
@audit_blp.response(200, AuditListOut)
@requires(Action.AUDIT_VIEW)
def list_events(args: dict[str, Any]) -> dict[str, Any]:
    """List audit events by date range, staff, patient and action, sorted by any column."""
    where = queries.filter_clause(
        from_=args["from_"],
        to=args["to"],
        actor_id=args["actor_id"],
        patient_id=args["patient_id"],
        action=args["action"],
    )
    page = paginate(queries.ordered(where, args["sort"]), args["page"], args["per_page"])
    record(current_user, "audit.view")
    db.session.commit()
    return page


@audit_blp.route("/verify", methods=["GET"])
@audit_blp.response(200, VerifyOut)
@requires(Action.AUDIT_VIEW)
def verify() -> dict[str, Any]:
    """Check the hash chain: ok, rows checked, and the first altered, inserted or deleted row."""
    record(current_user, "audit.verify")
    db.session.commit()
    result = chain.verify(db.session.connection(execution_options={"casemgr_read_only": True}))
    db.session.commit()
    return result.as_dict()


@emergency_blp.route("", methods=["POST"])
@emergency_blp.arguments(EmergencyAccessRequest)
@emergency_blp.response(201, EmergencyAccessOut)
@requires(Action.EMERGENCY_ACCESS)
def request_access(data: dict[str, Any]) -> EmergencyAccess:
    """Open a chart outside the care team for 4 hours, with a reason (audited, reviewed)."""
    patient = db.session.get(Patient, data["patient_id"])
    if patient is None:
        raise NotFound("No such patient.")
    grant = services.grant_emergency_access(current_user, patient, data["reason"])
    db.session.commit()
    return grant


@emergency_blp.route("", methods=["GET"])
@emergency_blp.arguments(EmergencyAccessQuery, location="query")
@emergency_blp.response(200, EmergencyAccessListOut)
@requires(Action.EMERGENCY_ACCESS_REVIEW)
def list_access(args: dict[str, Any]) -> dict[str, Any]:
    """List emergency accesses, unreviewed by default, newest first."""
    reviewed = EmergencyAccess.reviewed_at.is_not(None)
    query = (
        sa.select(EmergencyAccess)
        .where(reviewed if args["reviewed"] else sa.not_(reviewed))
        .order_by(EmergencyAccess.granted_at.desc(), EmergencyAccess.id.desc())
    )
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "emergency_access.list")
    db.session.commit()
    return page


@emergency_blp.route("/<int:grant_id>/review", methods=["POST"])
@emergency_blp.arguments(ReviewIn)
@emergency_blp.response(200, EmergencyAccessOut)
@requires(Action.EMERGENCY_ACCESS_REVIEW)
def review(data: dict[str, Any], grant_id: int) -> EmergencyAccess:
    """Mark an emergency access reviewed (409 when already reviewed or your own)."""
    grant = db.session.get(EmergencyAccess, grant_id)
    if grant is None:
        raise NotFound("No such emergency access.")
    services.review_emergency_access(current_user, grant, data["review_note"])
    db.session.commit()
    return grant
