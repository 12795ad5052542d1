"""JSON API: tokens, the caller, staff accounts (shared/API.md "Auth", "Staff")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.core.errors import CasemgrError, NotFound, Unauthorized
from casemgr.core.permissions import Action, public, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.core.schema import PageArgs
from casemgr.extensions import db, login_rate_limit
from casemgr.staff import mfa, services
from casemgr.staff.models import Staff
from casemgr.staff.schemas import (
    MeOut,
    StaffCreate,
    StaffListOut,
    StaffOut,
    StaffUpdate,
    TokenOut,
    TokenRequest,
)

auth_blp = Blueprint("api_auth", __name__, url_prefix="/api/v1/auth", description="Tokens")
me_blp = Blueprint("api_me", __name__, url_prefix="/api/v1/me", description="The caller")
staff_blp = Blueprint("api_staff", __name__, url_prefix="/api/v1/staff", description="Staff")
blueprints = (auth_blp, me_blp, staff_blp)


@auth_blp.route("/tokens", methods=["POST"])
@auth_blp.arguments(TokenRequest)
@auth_blp.response(201, TokenOut)
@login_rate_limit
@public
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Exchange a username and password (and OTP) for a bearer token."""
    try:
        staff = services.authenticate(data["username"], data["password"])
        if staff.totp_secret is not None:
            if not mfa.check_second_factor(staff, data.get("otp")):
                services.record_failed_login(staff)  # code guesses count towards lockout
                raise Unauthorized("A valid one-time code (otp) is required.")
        elif mfa.mfa_required(staff):
            raise Unauthorized("Enrol a second factor in the browser before using the API.")
    except CasemgrError:
        db.session.commit()  # keep failed-attempt counters and audit events
        raise
    services.record_successful_login(staff)
    token, row = services.issue_token(staff)
    db.session.commit()
    return {"token": token, "expires_at": row.expires_at}


@auth_blp.route("/tokens/current", methods=["DELETE"])
@auth_blp.response(204)
@requires(Action.SIGNED_IN)
def revoke_current_token() -> None:
    """Revoke the token this request came with."""
    services.revoke_token(current_user, g.api_token)
    db.session.commit()


@me_blp.route("", methods=["GET"])
@me_blp.response(200, MeOut)
@requires(Action.SIGNED_IN)
def me() -> Staff:
    """Return the caller's account."""
    return current_user


@staff_blp.route("", methods=["GET"])
@staff_blp.arguments(PageArgs, location="query")
@staff_blp.response(200, StaffListOut)
@requires(Action.STAFF_MANAGE)
def list_staff(args: dict[str, Any]) -> dict[str, Any]:
    """List staff accounts."""
    query = sa.select(Staff).order_by(Staff.full_name, Staff.id)
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "staff.list")
    db.session.commit()
    return page


@staff_blp.route("", methods=["POST"])
@staff_blp.arguments(StaffCreate)
@staff_blp.response(201, StaffOut)
@requires(Action.STAFF_MANAGE)
def create_staff(data: dict[str, Any]) -> Staff:
    """Create a staff account (409 when the username is taken)."""
    staff = services.create_staff(current_user, **data)
    db.session.commit()
    return staff


@staff_blp.route("/<int:staff_id>", methods=["PATCH"])
@staff_blp.arguments(StaffUpdate)
@staff_blp.response(200, StaffOut)
@requires(Action.STAFF_MANAGE)
def update_staff(data: dict[str, Any], staff_id: int) -> Staff:
    """Change a staff account's roles or activation."""
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("No such staff member.")
    services.update_staff(current_user, staff, **data)
    db.session.commit()
    return staff
