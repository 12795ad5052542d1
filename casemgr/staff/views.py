"""Pages: sign in and out, second-factor enrolment, the home page, staff administration."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.core.errors import CasemgrError, NotFound, RateLimited
from casemgr.core.forms import run_form
from casemgr.core.paging import paged_scalars
from casemgr.core.permissions import Action, Role, public, requires
from casemgr.core.schema import form_errors
from casemgr.extensions import db, login_rate_limit
from casemgr.staff import mfa, services
from casemgr.staff.models import Staff
from casemgr.staff.reauth import mark_reauthenticated, require_recent_auth
from casemgr.staff.schemas import (
    ROLE_CHOICES,
    LoginForm,
    ReauthForm,
    StaffCreateForm,
    StaffUpdateForm,
)

auth_bp = Blueprint("auth", __name__)
home_bp = Blueprint("home", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")
blueprints = (auth_bp, home_bp, admin_bp)


def _safe_next(target: str | None) -> str | None:
    """Accept only a local path as the post-login destination (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@auth_bp.route("/login", methods=["GET", "POST"])
@login_rate_limit
@public
def login() -> Any:
    """Sign in with username, password and, when enrolled, a one-time code."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("home.index"))
    form: dict[str, Any] = {"username": "", "next": request.args.get("next", "")}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = {**form, **request.form.to_dict()}
        form.pop("password", None)
        try:
            data = LoginForm().load(request.form)
            staff = services.authenticate(data["username"], data["password"])
            if not mfa.check_second_factor(staff, data["otp"]):
                services.record_failed_login(staff)  # code guesses count towards lockout
                raise CasemgrError(
                    "Enter the current code from your authenticator app (or a recovery code)."
                )
        except ValidationError as err:
            errors = form_errors(err)
            status = 422
        except CasemgrError as err:
            db.session.commit()  # keep the failed attempt and its audit event
            errors = {"_form": [err.message]}
            status = 429 if isinstance(err, RateLimited) else 401
        else:
            services.record_successful_login(staff)
            session.clear()  # a fresh session at login: no fixation
            login_user(staff)
            now = time.time()
            session["login_at"] = now
            session["seen"] = now
            if mfa.mfa_required(staff) and staff.totp_secret is None:
                session["mfa_enrolment_required"] = True
            record(staff, "auth.login", staff)
            db.session.commit()
            if session.get("mfa_enrolment_required"):
                return redirect(url_for("auth.mfa_enrol"))
            return redirect(_safe_next(data.get("next")) or url_for("home.index"))
    return render_template("auth/login.html", form=form, errors=errors), status


@auth_bp.post("/logout")
@requires(Action.SIGNED_IN)
def logout() -> Any:
    """Sign out and forget the session."""
    record(current_user, "auth.logout", current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _pending_secret() -> str:
    """Return the secret being enrolled in this session, drawing one the first time."""
    secret = session.get("mfa_pending_secret") or mfa.new_secret()
    session["mfa_pending_secret"] = secret
    return secret


@auth_bp.route("/account/mfa", methods=["GET", "POST"])
@requires(Action.SIGNED_IN)
@require_recent_auth
def mfa_enrol() -> Any:
    """Turn on the second factor: scan a QR code, confirm a first code, keep recovery codes."""
    staff: Staff = current_user._get_current_object()
    secret = _pending_secret()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        codes = mfa.enrol(staff, secret, request.form.get("otp"))
        if codes is not None:
            record(staff, "auth.mfa_enrol", staff)
            db.session.commit()
            session.pop("mfa_pending_secret", None)
            session.pop("mfa_enrolment_required", None)
            flash("Two-step sign-in is on. Keep your recovery codes somewhere safe.", "success")
            return render_template("auth/recovery_codes.html", codes=codes)
        errors = {"otp": ["That code does not match; check the clock on your device."]}
    return render_template(
        "auth/mfa.html",
        secret=secret,
        uri=mfa.provisioning_uri(staff, secret),
        enrolled=staff.totp_secret is not None,
        codes_left=mfa.recovery_codes_left(staff) if staff.totp_secret else 0,
        required=bool(session.get("mfa_enrolment_required")),
        errors=errors,
    ), (422 if errors else 200)


@auth_bp.get("/account/mfa/qr.svg")
@requires(Action.SIGNED_IN)
def mfa_qr() -> Any:
    """Serve the QR code of the secret being enrolled (an image: CSP allows no inline data)."""
    staff: Staff = current_user._get_current_object()
    svg = mfa.qr_svg(mfa.provisioning_uri(staff, _pending_secret()))
    return Response(svg, mimetype="image/svg+xml")


@auth_bp.post("/account/mfa/recovery-codes")
@requires(Action.SIGNED_IN)
@require_recent_auth
def mfa_recovery_codes() -> Any:
    """Replace the recovery codes (the old ones stop working) and show the new ones once."""
    staff: Staff = current_user._get_current_object()
    if staff.totp_secret is None:
        flash("Turn on two-step sign-in first.", "warning")
        return redirect(url_for("auth.mfa_enrol"))
    codes = mfa.new_recovery_codes(staff)
    record(staff, "auth.mfa_recovery_codes", staff)
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


@auth_bp.route("/account/reauth", methods=["GET", "POST"])
@requires(Action.SIGNED_IN)
def reauth() -> Any:
    """Confirm the password (and second factor) before a sensitive change."""
    staff: Staff = current_user._get_current_object()
    target = _safe_next(request.values.get("next")) or url_for("home.index")
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            data = ReauthForm().load(request.form)
            services.authenticate(staff.username, data["password"])
            if not mfa.check_second_factor(staff, data["otp"]):
                services.record_failed_login(staff)
                raise CasemgrError("Enter the current code from your authenticator app.")
        except ValidationError as err:
            errors, status = form_errors(err), 422
        except CasemgrError as err:
            db.session.commit()  # keep the failed attempt, its lockout count and audit event
            errors = {"_form": [err.message]}
            status = 429 if isinstance(err, RateLimited) else 401
        else:
            services.record_successful_login(staff)
            mark_reauthenticated()
            record(staff, "auth.reauth", staff)
            db.session.commit()
            return redirect(target)
    return render_template(
        "auth/reauth.html", next=target, needs_otp=staff.totp_secret is not None, errors=errors
    ), status


@home_bp.get("/")
@requires(Action.SIGNED_IN)
def index() -> Any:
    """Send each person to the start page of their main role."""
    roles = current_user.role_names
    if roles & {
        Role.COUNSELOR.value,
        Role.SUPERVISOR.value,
        Role.PHYSICIAN.value,
        Role.NURSE.value,
    }:
        return redirect(url_for("episodes.caseload"))
    if Role.INTAKE.value in roles:
        return redirect(url_for("intake.board"))
    if Role.ADMIN.value in roles:
        return redirect(url_for("admin.staff_list"))
    return render_template("home.html")


@admin_bp.get("/staff")
@requires(Action.STAFF_MANAGE)
def staff_list() -> Any:
    """List every staff account, active first, a page at a time."""
    staff, paging = paged_scalars(
        sa.select(Staff).order_by(Staff.active.desc(), Staff.full_name, Staff.id)
    )
    record(current_user, "staff.list")
    db.session.commit()
    return render_template("admin/staff_list.html", staff=staff, paging=paging)


@admin_bp.route("/staff/new", methods=["GET", "POST"])
@requires(Action.STAFF_MANAGE)
@require_recent_auth
def staff_new() -> Any:
    """Create a staff account."""
    form: dict[str, Any] = {"roles": []}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        form["roles"] = request.form.getlist("roles")
        form.pop("password", None)
        raw = {**request.form.to_dict(), "roles": request.form.getlist("roles")}
        raw["needs_cosign"] = "needs_cosign" in request.form
        raw["email"] = raw.get("email") or None
        staff, errors, _status = run_form(
            StaffCreateForm(), raw, lambda data: services.create_staff(current_user, **data)
        )
        if staff is not None:
            flash(f"Account {staff.username} created.", "success")
            return redirect(url_for("admin.staff_list"))
    return render_template(
        "admin/staff_form.html", form=form, errors=errors, roles=ROLE_CHOICES, staff=None
    ), (422 if errors else 200)


@admin_bp.route("/staff/<int:staff_id>", methods=["GET", "POST"])
@requires(Action.STAFF_MANAGE)
@require_recent_auth
def staff_edit(staff_id: int) -> Any:
    """Change roles, details or activation of an account (never delete it)."""
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("No such staff member.")
    record(current_user, "staff.view", staff)
    db.session.commit()  # the read is audited even if the change below fails
    form: dict[str, Any] = {
        "full_name": staff.full_name,
        "email": staff.email or "",
        "roles": sorted(staff.role_names),
        "active": staff.active,
        "needs_cosign": staff.needs_cosign,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        raw = {
            "full_name": request.form.get("full_name", ""),
            "email": request.form.get("email") or None,
            "roles": request.form.getlist("roles"),
            "active": "active" in request.form,
            "needs_cosign": "needs_cosign" in request.form,
        }
        form = {**raw, "email": raw["email"] or ""}
        saved, errors, _status = run_form(
            StaffUpdateForm(), raw, lambda data: services.update_staff(current_user, staff, **data)
        )
        if saved is not None:
            flash(f"Account {staff.username} saved.", "success")
            return redirect(url_for("admin.staff_list"))
    return render_template(
        "admin/staff_form.html", form=form, errors=errors, roles=ROLE_CHOICES, staff=staff
    ), (422 if errors else 200)
