"""JSON API for taper plans and doses (shared/API.md "Medication")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.core.schema import PageArgs
from casemgr.episodes.access import get_episode, register_episode_record
from casemgr.extensions import db
from casemgr.medication import services
from casemgr.medication.models import DoseRecord, TaperPlan, TaperWaiver
from casemgr.medication.schemas import (
    DoseIn,
    DoseListOut,
    DoseOut,
    PauseIn,
    ReplanIn,
    TaperPlanIn,
    TaperPlanListOut,
    TaperPlanOut,
    WaiverIn,
    WaiverOut,
)

blp = Blueprint("api_medication", __name__, url_prefix="/api/v1", description="Medication")
blueprints = (blp,)


register_episode_record("plan_id", TaperPlan)


@blp.route("/episodes/<int:episode_id>/taper-plans", methods=["POST"])
@blp.arguments(TaperPlanIn)
@blp.response(201, TaperPlanOut)
@requires(Action.TAPER_PLAN)
def create_plan(data: dict[str, Any], episode_id: int) -> TaperPlan:
    """Order a taper; faster than the guideline needs ``override_reason`` (422 otherwise)."""
    episode = get_episode(current_user, episode_id, action="")
    plan = services.create_plan(current_user, episode, **data)
    db.session.commit()
    return plan


@blp.route("/episodes/<int:episode_id>/taper-plans", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, TaperPlanListOut)
@requires(Action.CLINICAL_VIEW)
def list_plans(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List an episode's taper plans, newest first."""
    episode = get_episode(current_user, episode_id, action="taper_plan.list")
    query = (
        sa.select(TaperPlan)
        .where(TaperPlan.episode_id == episode.id)
        .order_by(TaperPlan.id.desc())
        .options(sa.orm.selectinload(TaperPlan.steps))
    )
    page = paginate(query, args["page"], args["per_page"])
    db.session.commit()
    return page


@blp.route("/taper-plans/<int:plan_id>", methods=["GET"])
@blp.response(200, TaperPlanOut)
@requires(Action.CLINICAL_VIEW)
def get_plan(plan_id: int) -> TaperPlan:
    """Return one taper plan with its schedule."""
    plan = db.session.get_one(TaperPlan, plan_id)
    record(current_user, "taper_plan.view", plan, patient_id=plan.episode.patient_id)
    db.session.commit()
    return plan


@blp.route("/taper-plans/<int:plan_id>/pause", methods=["POST"])
@blp.arguments(PauseIn)
@blp.response(200, TaperPlanOut)
@requires(Action.TAPER_MANAGE)
def pause(data: dict[str, Any], plan_id: int) -> TaperPlan:
    """Pause a taper (409 when it is not active)."""
    plan = db.session.get_one(TaperPlan, plan_id)
    services.pause(current_user, plan, data.get("reason"))
    db.session.commit()
    return plan


@blp.route("/taper-plans/<int:plan_id>/resume", methods=["POST"])
@blp.response(200, TaperPlanOut)
@requires(Action.TAPER_MANAGE)
def resume(plan_id: int) -> TaperPlan:
    """Resume a paused taper (409 when it is not paused)."""
    plan = db.session.get_one(TaperPlan, plan_id)
    services.resume(current_user, plan)
    db.session.commit()
    return plan


@blp.route("/taper-plans/<int:plan_id>/replan", methods=["POST"])
@blp.arguments(ReplanIn)
@blp.response(201, TaperPlanOut)
@requires(Action.TAPER_PLAN)
def replan(data: dict[str, Any], plan_id: int) -> TaperPlan:
    """Re-plan from the current dose; the old plan is kept as replaced."""
    plan = db.session.get_one(TaperPlan, plan_id)
    new = services.replan(current_user, plan, **data)
    db.session.commit()
    return new


@blp.route("/taper-plans/<int:plan_id>/doses", methods=["POST"])
@blp.arguments(DoseIn)
@blp.response(201, DoseOut)
@requires(Action.DOSE_RECORD)
def record_dose(data: dict[str, Any], plan_id: int) -> DoseRecord:
    """Record a dose given, refused or held (409 on a paused or finished plan)."""
    plan = db.session.get_one(TaperPlan, plan_id)
    dose = services.record_dose(current_user, plan, **data)
    db.session.commit()
    return dose


@blp.route("/taper-plans/<int:plan_id>/doses", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, DoseListOut)
@requires(Action.CLINICAL_VIEW)
def list_doses(args: dict[str, Any], plan_id: int) -> dict[str, Any]:
    """List the doses recorded against a plan, newest first."""
    plan = db.session.get_one(TaperPlan, plan_id)
    query = (
        sa.select(DoseRecord)
        .where(DoseRecord.plan_id == plan.id)
        .order_by(DoseRecord.given_at.desc(), DoseRecord.id.desc())
    )
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "dose.list", plan, patient_id=plan.episode.patient_id)
    db.session.commit()
    return page


@blp.route("/episodes/<int:episode_id>/taper-waiver", methods=["POST"])
@blp.arguments(WaiverIn)
@blp.response(201, WaiverOut)
@requires(Action.TAPER_PLAN)
def waive(data: dict[str, Any], episode_id: int) -> TaperWaiver:
    """Record a physician's decision that no taper is needed."""
    episode = get_episode(current_user, episode_id, action="")
    waiver = services.waive_taper(current_user, episode, data["reason"])
    db.session.commit()
    return waiver
