"""Report pages: filters, a chart, tables, and a CSV of exactly those tables."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import disclose_many, record
from casemgr.core.permissions import Action, requires
from casemgr.core.schema import form_errors
from casemgr.extensions import db
from casemgr.reports import teds
from casemgr.reports.filters import SETTINGS, parse_filters
from casemgr.reports.registry import REPORTS, Report
from casemgr.reports.tables import to_csv
from casemgr.staff.services import counselors

bp = Blueprint("reports", __name__, url_prefix="/reports")
blueprints = (bp,)


@bp.get("")
@requires(Action.REPORT_VIEW)
def index() -> Any:
    """List the reports."""
    return render_template("reports/index.html", reports=REPORTS.values())


def csv_response(report: Report, body: str) -> Response:
    """Send a report's CSV as a download."""
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{report.slug}.csv"'},
    )


def _page(report: Report) -> Any:
    """Render one report (or its CSV) for the filters in the query string."""
    try:
        filters, fmt = parse_filters(request.args.to_dict())
    except ValidationError as err:
        return render_template(
            "reports/report.html",
            report=report,
            errors=form_errors(err),
            form=request.args.to_dict(),
            data=None,
            tables=[],
            chart=None,
            counselors=counselors(),
            settings=list(SETTINGS),
            query={},
        ), 422
    data = report.compute(filters)
    report_tables = report.tables(data)
    if fmt == "csv":
        record(current_user, "report.export")
        db.session.commit()
        return csv_response(report, to_csv(report_tables))
    record(current_user, "report.view")
    db.session.commit()
    return render_template(
        "reports/report.html",
        report=report,
        errors={},
        data=data,
        tables=report_tables,
        chart=report.chart(data),
        counselors=counselors(),
        settings=list(SETTINGS),
        form={
            "from": filters.start.isoformat(),
            "to": filters.end.isoformat(),
            "counselor_id": filters.counselor_id or "",
            "setting": filters.setting or "",
            "level": filters.level or "",
        },
        query=filters.as_query(),
    )


def _make_view(report: Report) -> Any:
    """Build the page view of one report."""

    def view() -> Any:
        return _page(report)

    view.__name__ = report.endpoint
    view.__doc__ = f"Show the {report.title.lower()} report."
    return requires(Action.REPORT_VIEW)(view)


@bp.get("/teds")
@requires(Action.REPORT_VIEW)
def teds_extract() -> Any:
    """Offer the TEDS extracts, and send one (a disclosure: noticed and audited)."""
    kind = request.args.get("kind")
    errors: dict[str, list[str]] = {}
    form = request.args.to_dict()
    if kind is not None:
        try:
            filters, _ = parse_filters({k: v for k, v in form.items() if k in ("from", "to")})
            if kind not in ("admissions", "discharges"):
                raise ValidationError({"kind": ["Choose admissions or discharges."]})
        except ValidationError as err:
            errors = form_errors(err)
        else:
            return teds_response(kind, filters)
    return render_template("reports/teds.html", errors=errors, form=form), (422 if errors else 200)


def teds_response(kind: str, filters: Any) -> Response:
    """Build the extract, audit it as a disclosure, and send it as a download."""
    header, rows, patient_ids = teds.extract(kind, filters)
    record(current_user, f"export.teds_{kind}")
    disclose_many(
        current_user,
        patient_ids,
        kind="teds_extract",
        legal_basis="state_reporting",
        recipient="State TEDS reporting agency",
        purpose=f"TEDS {kind} records {filters.start.isoformat()} to {filters.end.isoformat()}",
    )
    db.session.commit()
    return Response(
        teds.to_csv(kind, filters, header, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="teds-{kind}.csv"'},
    )


for _report in REPORTS.values():
    bp.add_url_rule(f"/{_report.slug}", endpoint=_report.endpoint, view_func=_make_view(_report))
