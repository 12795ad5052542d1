"""The request guard: every request passes here before its view runs.

One mechanism for authorization: the view's declared action (core.permissions), checked
against the permission table. Undeclared routes are refused, so a forgotten declaration
fails closed. Browser sessions also get the idle time-out and absolute lifetime here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from casemgr.core.errors import (
    NotFound,
    PermissionDenied,
    Unauthorized,
    json_error,
    wants_json,
)
from casemgr.core.permissions import Action, can, declared_action

log = logging.getLogger(__name__)

#: Endpoints served by extensions, open to all: static files and the OpenAPI document (it
#: describes the API and holds no data). Everything else must declare an action.
EXTENSION_ENDPOINTS = frozenset({"static", "bootstrap.static", "api-docs.openapi_json"})
#: Where a signed-in admin without a second factor may still go while MFA is required.
MFA_ENROL_ENDPOINTS = frozenset(
    {"auth.mfa_enrol", "auth.mfa_qr", "auth.reauth", "auth.logout", "static", "bootstrap.static"}
)


MAX_ID = 2**31 - 1

#: URL argument name -> resolver from that object's id to its patient's id (None: no such
#: object). Domains register their objects (episode_id, note_id, ...), so object-level access
#: is checked here, for every route, before any body is read.
OBJECT_RESOLVERS: dict[str, Callable[[int], int | None]] = {}
#: The chart-access rule (care teams), installed by casemgr.episodes.access.
_chart_access: list[Callable[[Any, int], bool]] = []


#: URL argument name -> table, for records about a person who is not (yet) a patient, such as
#: an inquiry: no care-team rule applies, but every access is still audited.
AUDITED_OBJECTS: dict[str, str] = {}


def register_audited(arg_name: str, table: str) -> None:
    """Declare that a URL argument names a personal record whose every access is audited."""
    AUDITED_OBJECTS[arg_name] = table


def register_object(arg_name: str, resolver: Callable[[int], int | None]) -> None:
    """Declare that a URL argument names an object belonging to one patient's chart."""
    OBJECT_RESOLVERS[arg_name] = resolver


def install_chart_access(check: Callable[[Any, int], bool]) -> None:
    """Install the rule deciding whether a user may open a patient's chart."""
    _chart_access[:] = [check]


def chart_access_allowed(user: Any, patient_id: int) -> bool:
    """Tell whether the installed chart-access rule lets a user open a patient's chart."""
    return all(check(user, patient_id) for check in _chart_access)


def _check_objects(view_args: dict[str, Any]) -> None:
    """Refuse access to another care team's records whatever the route (404 if absent)."""
    for name, value in view_args.items():
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            raise NotFound()  # ids beyond a 32-bit integer are simply not found (API.md)
        if name in AUDITED_OBJECTS and isinstance(value, int):
            g.guard_record = (AUDITED_OBJECTS[name], value)
        resolver = OBJECT_RESOLVERS.get(name)
        if resolver is None or not isinstance(value, int):
            continue
        patient_id = resolver(value)
        if patient_id is None:
            raise NotFound()
        if not chart_access_allowed(current_user, patient_id):
            from casemgr.audit.services import record
            from casemgr.extensions import db

            record(current_user, "chart.access_denied", patient_id=patient_id, outcome="denied")
            db.session.commit()
            g.denied_patient_id = patient_id  # the 403 page offers emergency access
            raise PermissionDenied("This patient is not on your care team.")
        g.guard_patient_id = patient_id  # audit.services.audit_untracked_access reads it


def is_api_request() -> bool:
    """Tell whether this request is for the JSON API (bearer tokens, no cookies)."""
    return request.path.startswith("/api/")


def _session_expired() -> str | None:
    """Return why a browser session has expired, or None while it is live."""
    now = time.time()
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    lifetime = current_app.config["SESSION_MAX_HOURS"] * 3600
    seen = session.get("seen")
    started = session.get("login_at")
    if seen is None or started is None:
        return "missing"
    if now - float(seen) > idle:
        return "idle"
    if now - float(started) > lifetime:
        return "lifetime"
    return None


def _end_browser_session(reason: str) -> Any:
    """Sign the user out after a time-out and send them to the login page."""
    from casemgr.audit.services import record
    from casemgr.extensions import db

    record(current_user._get_current_object(), "auth.timeout", outcome="success")
    db.session.commit()
    logout_user()
    session.clear()
    flash(
        "You were signed out after a period of inactivity."
        if reason == "idle"
        else "Your session has ended; please sign in again.",
        "warning",
    )
    if wants_json():
        return json_error(401, "Your session has expired.")
    return redirect(url_for("auth.login", next=request.full_path))


def guard_request() -> Any:
    """Authorize the request against the declared action of its view."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in EXTENSION_ENDPOINTS:
        return None  # routing will answer 404/405
    view = current_app.view_functions.get(endpoint)
    action = declared_action(view)
    if action is None:
        log.error("route %s declares no action; refused", endpoint)
        raise PermissionDenied("This page is not available.")
    authenticated = current_user.is_authenticated
    if authenticated and not is_api_request():
        reason = _session_expired()
        if reason is not None:
            return _end_browser_session(reason)
        session["seen"] = time.time()
        if session.get("mfa_enrolment_required") and endpoint not in MFA_ENROL_ENDPOINTS:
            return redirect(url_for("auth.mfa_enrol"))
    if action is Action.PUBLIC:
        return None
    if not authenticated:
        raise Unauthorized()
    if not can(current_user, action):
        raise PermissionDenied()
    _check_objects(request.view_args or {})
    return None
