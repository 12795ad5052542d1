"""JSON (and CSV) reports: GET /api/v1/reports/<name>?from=&to=&format=csv."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_login import current_user
from marshmallow import Schema, fields, validate

from casemgr.audit.services import record
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import CSV, CSV_SCHEMA, Blueprint
from casemgr.core.schema import MAX_ID, ApiSchema
from casemgr.extensions import db
from casemgr.reports.filters import SETTINGS, parse_filters
from casemgr.reports.registry import REPORTS, Report, jsonable
from casemgr.reports.tables import to_csv
from casemgr.reports.views import csv_response, teds_response

blp = Blueprint("api_reports", __name__, url_prefix="/api/v1/reports", description="Reports")


class ReportArgs(ApiSchema):
    """Report filters: dates are inclusive; ``format=csv`` answers text/csv."""

    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    counselor_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    setting = fields.String(validate=validate.OneOf(list(SETTINGS)))
    level = fields.String(validate=validate.Length(max=10))
    format = fields.String(validate=validate.OneOf(["json", "csv"]))


class ReportOut(Schema):
    """A report's figures; each report documents its own fields in API.md."""

    class Meta:
        unknown = "include"


def _answer(report: Report, args: dict[str, Any]) -> Any:
    """Compute a report for validated filters and answer JSON or CSV."""
    raw = {
        "from": args.get("start"),
        "to": args.get("end"),
        "counselor_id": args.get("counselor_id"),
        "setting": args.get("setting"),
        "level": args.get("level"),
    }
    filters, _ = parse_filters(
        {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in raw.items()
            if v is not None
        }
    )
    data = report.compute(filters)
    if args.get("format") == "csv":
        record(current_user, "report.export")
        db.session.commit()
        return csv_response(report, to_csv(report.tables(data)))
    record(current_user, "report.view")
    db.session.commit()
    return Response(_json(jsonable(data)), mimetype="application/json")


def _json(data: Any) -> str:
    """Serialise with the app's JSON provider (keeps key order)."""
    from flask import current_app

    return current_app.json.dumps(data)


def _make_endpoint(report: Report) -> None:
    """Register GET /api/v1/reports/<slug>."""

    def view(args: dict[str, Any]) -> Any:
        return _answer(report, args)

    view.__name__ = f"report_{report.endpoint}"
    view.__doc__ = f"{report.title}: {report.summary}"
    endpoint = requires(Action.REPORT_VIEW)(view)
    endpoint = blp.alt_response(200, schema=CSV_SCHEMA, content_type=CSV, success=True)(endpoint)
    endpoint = blp.response(200, ReportOut)(endpoint)
    endpoint = blp.arguments(ReportArgs, location="query")(endpoint)
    blp.route(f"/{report.slug}", methods=["GET"], endpoint=view.__name__)(endpoint)


for _report in REPORTS.values():
    _make_endpoint(_report)


exports_blp = Blueprint(
    "api_exports", __name__, url_prefix="/api/v1/exports", description="Exports"
)
blueprints = (blp, exports_blp)


class TedsArgs(ApiSchema):
    """GET /api/v1/exports/teds."""

    kind = fields.String(required=True, validate=validate.OneOf(["admissions", "discharges"]))
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")


@exports_blp.route("/teds", methods=["GET"])
@exports_blp.arguments(TedsArgs, location="query")
@exports_blp.response(200, CSV_SCHEMA, content_type=CSV)
@requires(Action.REPORT_VIEW)
def teds_extract(args: dict[str, Any]) -> Response:
    """TEDS admission or discharge records as CSV (a Part 2 disclosure, audited)."""
    raw = {"from": args.get("start"), "to": args.get("end")}
    filters, _ = parse_filters({k: v.isoformat() for k, v in raw.items() if v is not None})
    return teds_response(args["kind"], filters)
