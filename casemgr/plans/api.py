"""JSON API for level-of-care decisions and treatment plans (shared/API.md)."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from casemgr.audit.services import record
from casemgr.clinical import asam
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.core.schema import PageArgs
from casemgr.core.timeutil import today
from casemgr.episodes.access import get_episode, register_episode_record, visible_episodes_clause
from casemgr.extensions import db
from casemgr.plans import queries, services
from casemgr.plans.models import LevelOfCareDecision, TreatmentPlan
from casemgr.plans.schemas import (
    LevelOfCareIn,
    LevelOfCareListOut,
    LevelOfCareOut,
    ReviewQuery,
    TreatmentPlanIn,
    TreatmentPlanListOut,
    TreatmentPlanOut,
)

blp = Blueprint("api_plans", __name__, url_prefix="/api/v1", description="Plans")
blueprints = (blp,)


def present_decision(decision: LevelOfCareDecision) -> dict[str, Any]:
    """Add the level's name as its edition prints it."""
    out = {c: getattr(decision, c) for c in LevelOfCareOut().fields if c != "level_name"}
    out["level_name"] = asam.level_name(decision.level, decision.asam_edition)
    return out


register_episode_record("treatment_plan_id", TreatmentPlan)


@blp.route("/episodes/<int:episode_id>/level-of-care", methods=["POST"])
@blp.arguments(LevelOfCareIn)
@blp.response(201, LevelOfCareOut)
@requires(Action.LEVEL_OF_CARE_DECIDE)
def decide(data: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """Record a level-of-care decision (422 for a level the edition does not have)."""
    episode = get_episode(current_user, episode_id, action="")
    decision = services.decide_level_of_care(current_user, episode, **data)
    db.session.commit()
    return present_decision(decision)


@blp.route("/episodes/<int:episode_id>/level-of-care", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, LevelOfCareListOut)
@requires(Action.CLINICAL_VIEW)
def list_decisions(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List the episode's level-of-care history, latest effective first."""
    episode = get_episode(current_user, episode_id, action="level_of_care.list")
    page = paginate(queries.decisions_query([episode.id]), args["page"], args["per_page"])
    page["items"] = [present_decision(d) for d in page["items"]]
    db.session.commit()
    return page


@blp.route("/episodes/<int:episode_id>/treatment-plans", methods=["POST"])
@blp.arguments(TreatmentPlanIn)
@blp.response(201, TreatmentPlanOut)
@requires(Action.TREATMENT_PLAN_WRITE)
def create_plan(data: dict[str, Any], episode_id: int) -> TreatmentPlan:
    """Write the plan: a new draft version (or the open draft, edited)."""
    episode = get_episode(current_user, episode_id, action="")
    plan = services.write_plan(current_user, episode, data["problems"])
    db.session.commit()
    return plan


@blp.route("/episodes/<int:episode_id>/treatment-plans", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, TreatmentPlanListOut)
@requires(Action.CLINICAL_VIEW)
def list_plans(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List every version of the episode's plan, newest first."""
    episode = get_episode(current_user, episode_id, action="treatment_plan.list")
    page = paginate(queries.plans_query([episode.id]), args["page"], args["per_page"])
    db.session.commit()
    return page


@blp.route("/treatment-plans/reviews-due", methods=["GET"])
@blp.arguments(ReviewQuery, location="query")
@blp.response(200, TreatmentPlanListOut)
@requires(Action.CLINICAL_VIEW)
def reviews_due(args: dict[str, Any]) -> dict[str, Any]:
    """List plans in force whose 30-day review is overdue (care team scope for counselors)."""
    query = queries.reviews_due_query(visible_episodes_clause(current_user), today())
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "treatment_plan.reviews_due")
    db.session.commit()
    return page


@blp.route("/treatment-plans/<int:treatment_plan_id>", methods=["GET"])
@blp.response(200, TreatmentPlanOut)
@requires(Action.CLINICAL_VIEW)
def get_plan(treatment_plan_id: int) -> TreatmentPlan:
    """Return one version of a treatment plan."""
    plan = db.session.get_one(TreatmentPlan, treatment_plan_id)
    record(current_user, "treatment_plan.view", plan, patient_id=plan.episode.patient_id)
    db.session.commit()
    return plan


@blp.route("/treatment-plans/<int:treatment_plan_id>", methods=["PATCH"])
@blp.arguments(TreatmentPlanIn)
@blp.response(200, TreatmentPlanOut)
@requires(Action.TREATMENT_PLAN_WRITE)
def revise(data: dict[str, Any], treatment_plan_id: int) -> TreatmentPlan:
    """Change a plan: a draft in place, a signed version by writing the next version."""
    plan = db.session.get_one(TreatmentPlan, treatment_plan_id)
    result = services.revise_plan(current_user, plan, data["problems"])
    db.session.commit()
    return result


@blp.route("/treatment-plans/<int:treatment_plan_id>/sign", methods=["POST"])
@blp.response(200, TreatmentPlanOut)
@requires(Action.TREATMENT_PLAN_WRITE)
def sign(treatment_plan_id: int) -> TreatmentPlan:
    """Sign a draft version (its author); review falls due 30 days later."""
    plan = db.session.get_one(TreatmentPlan, treatment_plan_id)
    services.sign_plan(current_user, plan)
    db.session.commit()
    return plan
