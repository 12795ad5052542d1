"""The JSON API's shared plumbing: the flask-smorest Api, body checks, list envelopes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, request
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from casemgr.core.errors import handle_http_exception, json_error
from casemgr.extensions import db

API_PREFIX = "/api/v1"


class ErrorDetail(Schema):
    """The inside of every error body (shared/API.md "Errors")."""

    status = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields", keys=fields.String(), values=fields.List(fields.String())
    )
    missing = fields.List(fields.String())


class ErrorOut(Schema):
    """Every error response: ``{"error": {...}}``, documented as each operation's default."""

    error = fields.Nested(ErrorDetail, required=True)


#: The OpenAPI schema of a CSV download (a text body, not JSON).
CSV_SCHEMA: dict[str, Any] = {"type": "string"}
CSV = "text/csv"


class Api(SmorestApi):
    """flask-smorest with our error shape (and the Allow header it drops on 405)."""

    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error: HTTPException) -> Any:  # type: ignore[override]
        """Render every HTTP error the same way, JSON or page."""
        return handle_http_exception(error)


class StrictParser(FlaskParser):
    """Let each schema's ``unknown = RAISE`` apply to query strings too (webargs excludes)."""

    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {}  # noqa: RUF012


class Blueprint(SmorestBlueprint):
    """The API blueprint: unknown query parameters are refused (422), like unknown fields."""

    ARGUMENTS_PARSER = StrictParser()


def check_json_body() -> Response | None:
    """Refuse non-JSON bodies (415) and malformed or non-object JSON (400) on the API."""
    if not request.path.startswith(API_PREFIX + "/"):
        return None
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    has_body = bool(request.content_length) or bool(request.get_data(cache=True))
    if not has_body:
        return None
    if request.mimetype != "application/json":
        return json_error(415)
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # deeply nested arrays: still under 1 MiB, still not ours to parse
        payload = None
    if payload is None:
        return json_error(400, "The request body is not valid JSON.")
    if not isinstance(payload, dict):
        return json_error(400, "The request body must be a JSON object.")
    return None


def paginate(query: sa.Select[Any], page: int, per_page: int) -> dict[str, Any]:
    """Run a select for one page and wrap it in the list envelope of shared/API.md."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total or 0}


def paginate_rows(query: sa.Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """Run a select of several entities for one page; return its rows and the list's total."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = list(db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return rows, total or 0


def register_api(app: Flask, api: Api) -> None:
    """Bind the Api and its body guard to the app."""
    api.init_app(app)
    app.before_request(check_json_body)
