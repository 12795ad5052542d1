"""JSON API for admissions and insurance (shared/API.md "Admissions and insurance")."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.core.errors import field_error
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import CSV, CSV_SCHEMA, Blueprint, paginate, paginate_rows
from casemgr.core.schema import PageArgs
from casemgr.core.timeutil import today
from casemgr.episodes import queries as episode_queries
from casemgr.episodes.access import get_episode, get_patient
from casemgr.episodes.schemas import EpisodeOut
from casemgr.extensions import db
from casemgr.intake import queries, services
from casemgr.intake.access import get_coverage, get_inquiry
from casemgr.intake.models import CATEGORIES, Authorization, Inquiry, Verification
from casemgr.intake.schemas import (
    AdmitIn,
    AuthorizationCreate,
    AuthorizationListOut,
    AuthorizationOut,
    CoverageCreate,
    CoverageListOut,
    CoverageOut,
    CoverageStatusListOut,
    CoverageUpdate,
    FunnelOut,
    FunnelQuery,
    InquiryCreate,
    InquiryListOut,
    InquiryOut,
    InquiryQuery,
    InquiryUpdate,
    PlaceIn,
    PlaceListOut,
    PlaceOut,
    ReviewListOut,
    ReviewQuery,
    ScreeningIn,
    StatusIn,
    UnverifiedListOut,
    VerificationCreate,
    VerificationListOut,
    VerificationOut,
)

blp = Blueprint(
    "api_intake", __name__, url_prefix="/api/v1", description="Admissions and insurance"
)
blueprints = (blp,)


# ---- inquiries ----


@blp.route("/inquiries", methods=["POST"])
@blp.arguments(InquiryCreate)
@blp.response(201, InquiryOut)
@requires(Action.INQUIRY_MANAGE)
def create_inquiry(data: dict[str, Any]) -> Inquiry:
    """Take an inquiry (with screening answers when the call gave them)."""
    inquiry = services.take_inquiry(current_user, **data)
    db.session.commit()
    return inquiry


@blp.route("/inquiries", methods=["GET"])
@blp.arguments(InquiryQuery, location="query")
@blp.response(200, InquiryListOut)
@requires(Action.INQUIRY_MANAGE)
def list_inquiries(args: dict[str, Any]) -> dict[str, Any]:
    """List inquiries by status (``overdue=true``: follow-ups past due), most urgent first."""
    where = queries.inquiry_filter(
        status=args.get("status"), overdue=args.get("overdue"), q=args.get("q")
    )
    query = (
        sa.select(Inquiry)
        .where(where)
        .order_by(*queries.pipeline_order())
        .options(sa.orm.selectinload(Inquiry.episode))  # days waiting of the admitted
    )
    result = paginate(query, args["page"], args["per_page"])
    record(current_user, "inquiry.list")
    db.session.commit()
    return result


@blp.route("/waitlist", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, InquiryListOut)
@requires(Action.INQUIRY_MANAGE)
def waitlist(args: dict[str, Any]) -> dict[str, Any]:
    """Return the waitlist, most urgent first, then the longest wait."""
    query = (
        sa.select(Inquiry).where(Inquiry.status == "waitlist").order_by(*queries.pipeline_order())
    )
    result = paginate(query, args["page"], args["per_page"])
    record(current_user, "inquiry.waitlist_view")
    db.session.commit()
    return result


@blp.route("/inquiries/<int:inquiry_id>", methods=["GET"])
@blp.response(200, InquiryOut)
@requires(Action.INQUIRY_MANAGE)
def get_inquiry_view(inquiry_id: int) -> Inquiry:
    """Return one inquiry with its screening and status history."""
    inquiry = get_inquiry(current_user, inquiry_id)
    db.session.commit()
    return inquiry


@blp.route("/inquiries/<int:inquiry_id>", methods=["PATCH"])
@blp.arguments(InquiryUpdate)
@blp.response(200, InquiryOut)
@requires(Action.INQUIRY_MANAGE)
def update_inquiry(data: dict[str, Any], inquiry_id: int) -> Inquiry:
    """Correct contact details, urgency or the follow-up date."""
    inquiry = get_inquiry(current_user, inquiry_id, action="")
    services.update_inquiry(current_user, inquiry, data)
    db.session.commit()
    return inquiry


@blp.route("/inquiries/<int:inquiry_id>/screening", methods=["POST"])
@blp.arguments(ScreeningIn)
@blp.response(200, InquiryOut)
@requires(Action.INQUIRY_MANAGE)
def screen(data: dict[str, Any], inquiry_id: int) -> Inquiry:
    """Record (or correct) the screening answers; the detox suggestion is recomputed."""
    inquiry = get_inquiry(current_user, inquiry_id, action="")
    services.record_screening(current_user, inquiry, data)
    db.session.commit()
    return inquiry


@blp.route("/inquiries/<int:inquiry_id>/status", methods=["POST"])
@blp.arguments(StatusIn)
@blp.response(200, InquiryOut)
@requires(Action.INQUIRY_MANAGE)
def change_status(data: dict[str, Any], inquiry_id: int) -> Inquiry:
    """Move an inquiry in the pipeline (409 for a move the pipeline does not allow)."""
    inquiry = get_inquiry(current_user, inquiry_id, action="")
    services.change_status(current_user, inquiry, data["status"], data.get("reason"))
    db.session.commit()
    return inquiry


@blp.route("/inquiries/<int:inquiry_id>/admit", methods=["POST"])
@blp.arguments(AdmitIn)
@blp.response(201, EpisodeOut)
@requires(Action.EPISODE_ADMIT)
def admit(data: dict[str, Any], inquiry_id: int) -> dict[str, Any]:
    """Admit from an inquiry: 409 with ``candidates`` when a likely duplicate patient exists."""
    inquiry = get_inquiry(current_user, inquiry_id, action="")
    episode = services.admit_inquiry(current_user, inquiry, **data)
    db.session.commit()
    return episode_queries.present(episode, False)


# ---- places ----


def _place_rows() -> dict[str, Any]:
    """Return every category's places and occupancy."""
    return {
        "items": [
            {
                "category": o.category,
                "capacity": o.capacity,
                "occupied": o.occupied,
                "free": o.free,
                "waiting": o.waiting,
                "full": o.full,
            }
            for o in queries.occupancy()
        ]
    }


@blp.route("/places", methods=["GET"])
@blp.response(200, PlaceListOut)
@requires(Action.INQUIRY_MANAGE)
def places() -> dict[str, Any]:
    """Return places, occupancy (active episodes by service setting) and the waitlist."""
    return _place_rows()


@blp.route("/places/<category>", methods=["PUT"])
@blp.arguments(PlaceIn)
@blp.response(200, PlaceOut)
@requires(Action.PLACES_MANAGE)
def set_places(data: dict[str, Any], category: str) -> dict[str, Any]:
    """Set the beds (inpatient) or slots (outpatient) of a category."""
    if category not in CATEGORIES:
        raise field_error("category", "Use inpatient or outpatient.")
    services.set_places(current_user, category, data["capacity"])
    db.session.commit()
    return next(row for row in _place_rows()["items"] if row["category"] == category)


# ---- coverages ----


def present_coverage(coverage: Any, latest: Verification | None) -> dict[str, Any]:
    """Build a coverage's full representation with its latest verification."""
    out = {
        name: getattr(coverage, name) for name in CoverageOut().fields if hasattr(coverage, name)
    }
    out["status"] = latest.status if latest else "unverified"
    out["latest_verification"] = latest
    return out


@blp.route("/patients/<int:patient_id>/coverages", methods=["POST"])
@blp.arguments(CoverageCreate)
@blp.response(201, CoverageOut)
@requires(Action.COVERAGE_MANAGE)
def add_coverage(data: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Record a coverage (409 for a second active primary)."""
    patient = get_patient(current_user, patient_id, action="")
    coverage = services.add_coverage(current_user, patient, **data)
    db.session.commit()
    return present_coverage(coverage, None)


@blp.route("/patients/<int:patient_id>/coverages", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, CoverageListOut)
@requires(Action.COVERAGE_MANAGE)
def list_coverages(args: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Return a patient's coverages with their latest verification (financial detail)."""
    patient = get_patient(current_user, patient_id, action="coverage.list")
    rows = queries.coverages_with_status([patient.id])
    db.session.commit()
    return _page([present_coverage(c, v) for c, v in rows], args)


@blp.route("/patients/<int:patient_id>/coverage-status", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, CoverageStatusListOut)
@requires(Action.COVERAGE_STATUS_VIEW)
def coverage_status(args: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Return who pays and whether it is verified, without money or member ids."""
    patient = get_patient(current_user, patient_id, action="coverage.status_view")
    rows = queries.coverages_with_status([patient.id], active_only=True)
    db.session.commit()
    items = [
        {
            "payer": c.payer,
            "priority": c.priority,
            "status": v.status if v else "unverified",
            "verified_on": v.verified_on if v else None,
        }
        for c, v in rows
    ]
    return _page(items, args)


def _page(items: list[Any], args: dict[str, Any]) -> dict[str, Any]:
    """Wrap an already loaded (small, per-patient) list in the list envelope."""
    start = (args["page"] - 1) * args["per_page"]
    return {
        "items": items[start : start + args["per_page"]],
        "page": args["page"],
        "per_page": args["per_page"],
        "total": len(items),
    }


@blp.route("/coverages/<int:coverage_id>", methods=["PATCH"])
@blp.arguments(CoverageUpdate)
@blp.response(200, CoverageOut)
@requires(Action.COVERAGE_MANAGE)
def update_coverage(data: dict[str, Any], coverage_id: int) -> dict[str, Any]:
    """Correct a coverage or end it (``active: false``)."""
    coverage = get_coverage(current_user, coverage_id, action="")
    services.update_coverage(current_user, coverage, data)
    db.session.commit()
    rows = queries.coverages_with_status([coverage.patient_id])
    latest = next((v for c, v in rows if c.id == coverage.id), None)
    return present_coverage(coverage, latest)


@blp.route("/coverages/<int:coverage_id>/verifications", methods=["POST"])
@blp.arguments(VerificationCreate)
@blp.response(201, VerificationOut)
@requires(Action.COVERAGE_MANAGE)
def verify(data: dict[str, Any], coverage_id: int) -> Verification:
    """Record a verification and its benefits summary."""
    coverage = get_coverage(current_user, coverage_id, action="")
    verification = services.verify_coverage(current_user, coverage, **data)
    db.session.commit()
    return verification


@blp.route("/coverages/<int:coverage_id>/verifications", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, VerificationListOut)
@requires(Action.COVERAGE_MANAGE)
def list_verifications(args: dict[str, Any], coverage_id: int) -> dict[str, Any]:
    """Return a coverage's verifications, newest first."""
    coverage = get_coverage(current_user, coverage_id, action="coverage.verifications_view")
    query = (
        sa.select(Verification)
        .where(Verification.coverage_id == coverage.id)
        .order_by(Verification.id.desc())
    )
    result = paginate(query, args["page"], args["per_page"])
    db.session.commit()
    return result


# ---- authorizations ----


@blp.route("/episodes/<int:episode_id>/authorizations", methods=["POST"])
@blp.arguments(AuthorizationCreate)
@blp.response(201, AuthorizationOut)
@requires(Action.COVERAGE_MANAGE)
def add_authorization(data: dict[str, Any], episode_id: int) -> Authorization:
    """Record a payer's authorization of care at one level."""
    episode = get_episode(current_user, episode_id, action="")
    authorization = services.add_authorization(current_user, episode, **data)
    db.session.commit()
    return authorization


@blp.route("/episodes/<int:episode_id>/authorizations", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, AuthorizationListOut)
@requires(Action.COVERAGE_MANAGE)
def list_authorizations(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """Return an episode's authorizations, latest end first."""
    episode = get_episode(current_user, episode_id, action="authorization.list")
    query = (
        sa.select(Authorization)
        .where(Authorization.episode_id == episode.id)
        .order_by(Authorization.ends_on.desc(), Authorization.id.desc())
    )
    result = paginate(query, args["page"], args["per_page"])
    db.session.commit()
    return result


@blp.route("/authorizations", methods=["GET"])
@blp.arguments(ReviewQuery, location="query")
@blp.response(200, ReviewListOut)
@requires(Action.COVERAGE_MANAGE)
def utilization_review(args: dict[str, Any]) -> dict[str, Any]:
    """List authorizations ending within N days or exceeded by the days used (UR list)."""
    day = today()
    rows, total = paginate_rows(
        queries.utilization_review_query(args["ending_within_days"], day),
        args["page"],
        args["per_page"],
    )
    items = [
        {
            **{name: getattr(i.authorization, name) for name in AuthorizationOut().fields},
            "patient_id": i.patient.id,
            "days_used": i.days_used,
            "days_left": i.days_left,
            "exceeded": i.exceeded,
        }
        for i in queries.review_items(rows, day)
    ]
    record(current_user, "authorization.review_list")
    db.session.commit()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/unverified-coverage", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, UnverifiedListOut)
@requires(Action.COVERAGE_MANAGE)
def unverified(args: dict[str, Any]) -> dict[str, Any]:
    """List active episodes whose patient has no verified (or self-pay) active coverage."""
    rows, total = paginate_rows(queries.unverified_query(), args["page"], args["per_page"])
    statuses = queries.coverages_with_status([p.id for _, p in rows], active_only=True)
    by_patient: dict[int, list[str]] = {}
    for c, v in statuses:
        by_patient.setdefault(c.patient_id, []).append(v.status if v else "unverified")
    items = [
        {
            "episode_id": e.id,
            "patient_id": p.id,
            "admitted_on": e.admitted_on,
            "service_setting": e.service_setting,
            "coverage_statuses": by_patient.get(p.id, []),
        }
        for e, p in rows
    ]
    record(current_user, "coverage.unverified_list")
    db.session.commit()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


# ---- report ----


def funnel_table(f: queries.Funnel) -> list[tuple[str, int | None, str]]:
    """Return the funnel's table rows (label, count, rate), the page's and the CSV's."""

    def pct(value: float | None) -> str:
        return "" if value is None else f"{value * 100:.1f}%"

    return [
        ("Inquiries", f.inquiries, ""),
        ("Screened", f.screened, pct(f.screened_rate)),
        ("Waitlisted", f.waitlisted, pct(f.rate(f.waitlisted, f.inquiries))),
        ("Admitted", f.admitted, pct(f.admitted_rate)),
        ("Referred out", f.lost["referred_out"], pct(f.rate(f.lost["referred_out"], f.inquiries))),
        ("Declined", f.lost["declined"], pct(f.rate(f.lost["declined"], f.inquiries))),
        ("Lost contact", f.lost["lost_contact"], pct(f.rate(f.lost["lost_contact"], f.inquiries))),
        ("Still open", f.still_open, pct(f.rate(f.still_open, f.inquiries))),
    ]


def funnel_csv(f: queries.Funnel) -> Response:
    """Render the funnel table as CSV (exactly the page's table, plus the median wait)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["stage", "count", "share of inquiries"])
    for label, count, rate in funnel_table(f):
        writer.writerow([label, count, rate])
    writer.writerow(
        ["Median days waiting", "" if f.median_days_waiting is None else f.median_days_waiting, ""]
    )
    filename = f"inquiry-funnel-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def funnel_range(start: Any, end: Any) -> tuple[Any, Any]:
    """Default to the last 90 days; refuse a range that ends before it starts."""
    end = end or today()
    start = start or end - timedelta(days=89)
    if end < start:
        raise field_error("to", "The end of the range is before its start.")
    return start, end


@blp.route("/reports/inquiry-funnel", methods=["GET"])
@blp.arguments(FunnelQuery, location="query")
@blp.response(200, FunnelOut)
@blp.alt_response(200, schema=CSV_SCHEMA, content_type=CSV, success=True)
@requires(Action.REPORT_VIEW)
def inquiry_funnel(args: dict[str, Any]) -> Any:
    """Return the inquiry funnel of first contacts in a date range (``?format=csv``)."""
    start, end = funnel_range(args.get("start"), args.get("end"))
    result = queries.funnel(start, end)
    if args["format"] == "csv":
        record(current_user, "report.export")
        db.session.commit()
        return funnel_csv(result)
    record(current_user, "report.view")
    db.session.commit()
    return result
