"""Domain errors raised by services, and the one place that turns any error into a response."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

#: The machine-readable code for each status (shared/API.md "Errors").
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "The request body is not valid JSON.",
    401: "Authentication is required.",
    403: "You are not allowed to do that.",
    404: "Not found.",
    405: "That method is not allowed here.",
    409: "That clashes with the record's current state.",
    413: "The request body is larger than 1 MiB.",
    415: "Request bodies must be application/json.",
    422: "Some fields are invalid.",
    429: "Too many attempts; try again later.",
    500: "Something went wrong on our side; it has been logged.",
    503: "The service is temporarily unavailable; try again shortly.",
}


class CasemgrError(Exception):
    """Base of the errors services raise; each maps to one HTTP status."""

    status = 400

    def __init__(
        self,
        message: str | None = None,
        fields: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or DEFAULT_MESSAGES.get(self.status, "Error.")
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)


class BadRequest(CasemgrError):
    """The request could not be read at all."""

    status = 400


class Unauthorized(CasemgrError):
    """No valid credentials were given."""

    status = 401


class PermissionDenied(CasemgrError):
    """The role or care team does not allow the action."""

    status = 403


class NotFound(CasemgrError):
    """No such object (or the caller may not know it exists)."""

    status = 404


class Conflict(CasemgrError):
    """The action clashes with the record's state (signed, stale, already active...)."""

    status = 409


class RuleViolation(CasemgrError):
    """Input breaks a field rule; ``fields`` names each field and what to fix."""

    status = 422


class RateLimited(CasemgrError):
    """Too many attempts, or a locked account."""

    status = 429


def field_error(field: str, message: str) -> RuleViolation:
    """Build a one-field validation error, the common case in services."""
    return RuleViolation(f"{field}: {message}", fields={field: [message]})


def wants_json() -> bool:
    """Answer in JSON for the API and machine clients, HTML for browsers."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_body(
    status: int,
    message: str | None = None,
    fields: dict[str, list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build the error shape of shared/API.md."""
    return {
        "error": {
            "status": status,
            "code": STATUS_CODES.get(status, "error"),
            "message": message or DEFAULT_MESSAGES.get(status, "Error."),
            "fields": fields or {},
            **extra,
        }
    }


def json_error(
    status: int,
    message: str | None = None,
    fields: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Render an API error response."""
    response = jsonify(error_body(status, message, fields, **extra))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _flatten_webargs(messages: Any) -> dict[str, list[str]]:
    """Turn webargs' ``{location: {field: [msg]}}`` into ``{field: [msg]}``."""
    fields: dict[str, list[str]] = {}
    if not isinstance(messages, dict):
        return fields
    for location_errors in messages.values():
        if not isinstance(location_errors, dict):
            continue
        for name, errors in location_errors.items():
            fields[str(name)] = _as_messages(errors)
    return fields


def _as_messages(errors: Any) -> list[str]:
    """Flatten nested marshmallow messages into readable strings."""
    if isinstance(errors, list):
        out: list[str] = []
        for item in errors:
            out.extend(_as_messages(item))
        return out
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            out.extend(f"{key}: {msg}" for msg in _as_messages(value))
        return out
    return [str(errors)]


def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    """Render werkzeug/flask-smorest HTTP errors in our shape (JSON or page)."""
    status = error.code or 500
    headers: dict[str, str] = {}
    if status == 405:
        methods = getattr(error, "valid_methods", None)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    data = getattr(error, "data", None) or {}
    fields = _flatten_webargs(data.get("messages")) if isinstance(data, dict) else {}
    if status == 422 and not fields:
        fields = {"_schema": ["Invalid input."]}
    message = DEFAULT_MESSAGES.get(status) if status in (422, 404, 405) else None
    if status == 400 and error.description and "JSON" not in str(error.description):
        message = "The request could not be understood."
    if wants_json():
        return json_error(status, message, fields, headers=headers)
    return _html_error(status, message, headers)


def _html_error(status: int, message: str | None, headers: dict[str, str] | None = None) -> Any:
    """Render the error page for browsers."""
    if status == 401:
        return redirect(url_for("auth.login", next=request.full_path))
    from flask import g

    body = render_template(
        "errors/error.html",
        status=status,
        message=message or DEFAULT_MESSAGES.get(status, "Error."),
        # A chart outside the care team: counselors may ask for emergency access.
        emergency_patient_id=g.get("denied_patient_id") if status == 403 else None,
    )
    return body, status, headers or {}


def handle_casemgr_error(error: CasemgrError) -> Any:
    """Render a domain error raised by a service that the view did not handle itself."""
    from casemgr.extensions import db

    db.session.rollback()
    if wants_json():
        return json_error(error.status, error.message, error.fields, **error.extra)
    if error.status in (409, 422) and request.referrer:
        flash(error.message, "danger")
        return redirect(request.referrer)
    return _html_error(error.status, error.message)


def handle_unexpected(error: Exception) -> Any:
    """Log a server fault by type only (no patient data), roll back, answer 500."""
    from casemgr.extensions import db

    db.session.rollback()
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if _is_database_outage(error):
        log.warning("database unavailable: %s", type(error).__name__)
        if wants_json():
            return json_error(503, headers={"Retry-After": "5"})
        return _unavailable_page()
    # Where it happened, not what it said: messages can quote SQL parameters (patient data).
    frames = "\n".join(
        f"  {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(error.__traceback__)
    )
    log.error(
        "unhandled %s on %s %s\n%s", type(error).__name__, request.method, request.url_rule, frames
    )
    if wants_json():
        return json_error(500)
    return _html_error(500, None)


def _unavailable_page() -> tuple[str, int, dict[str, str]]:
    """Render the 503 page without touching the database.

    Not errors/error.html through render_template: the context processors and the layout ask
    the database who is signed in, which fails again and turns the 503 into a 500 (with the
    failing SQL and its parameters in the server's log). The bare Jinja template skips them.
    """
    template = current_app.jinja_env.get_template("errors/unavailable.html")
    return template.render(message=DEFAULT_MESSAGES[503]), 503, {"Retry-After": "5"}


def _is_database_outage(error: Exception) -> bool:
    """Tell a lost or unreachable database (a 503) from a bug (a 500).

    SQLAlchemy flags a connection that dropped mid-request (``connection_invalidated``). A
    failed attempt to connect (server down, shutting down, starting up) is not flagged: it is
    an OperationalError raised before any statement ran, with no SQLSTATE (refused) or one of
    class 08 (connection exception) or 57P (operator intervention).
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError) or error.statement is not None:
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(("08", "57P"))


def handle_validation_error(error: Any) -> Any:
    """Answer a marshmallow ValidationError that escaped a view as a 422 field error."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    fields = {str(k): _as_messages(v) for k, v in messages.items()}
    return handle_casemgr_error(RuleViolation(fields=fields))


def register_error_handlers(app: Flask) -> None:
    """Register the handlers that give every error the same shape."""
    from marshmallow import ValidationError

    app.register_error_handler(CasemgrError, handle_casemgr_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
