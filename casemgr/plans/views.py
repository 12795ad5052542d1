"""Pages: level-of-care decisions and the treatment plan (write, sign, versions, reviews)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.clinical import asam
from casemgr.core.errors import CasemgrError, PermissionDenied
from casemgr.core.forms import run_form
from casemgr.core.paging import paged
from casemgr.core.permissions import Action, can, requires
from casemgr.core.timeutil import today
from casemgr.episodes.access import get_episode, visible_episodes_clause
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import Patient
from casemgr.plans import queries, services
from casemgr.plans.models import TreatmentPlan
from casemgr.plans.schemas import LevelOfCareIn, TreatmentPlanIn

bp = Blueprint("plans", __name__)
blueprints = (bp,)

#: Slots on the plan form: problems, goals per problem, objectives per goal.
PROBLEM_SLOTS, GOAL_SLOTS, OBJECTIVE_SLOTS = 3, 2, 2


def _chart_url(episode: Episode) -> str:
    """Return the chart address of an episode's patient."""
    return url_for("patients.chart", patient_id=episode.patient_id)


@bp.route("/episodes/<int:episode_id>/level-of-care/new", methods=["GET", "POST"])
@requires(Action.LEVEL_OF_CARE_DECIDE)
def new_level_of_care(episode_id: int) -> Any:
    """Record the ASAM dimension ratings, the chosen level and the rationale."""
    episode = get_episode(current_user, episode_id, action="")
    form: dict[str, Any] = {"asam_edition": "4", "effective_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = request.form.to_dict()
        edition = form.get("asam_edition", "")
        raw = {
            "asam_edition": int(edition) if edition.isdigit() else edition,
            "dimensions": {
                str(n): int(v) if (v := form.get(f"d{n}", "")).isdigit() else v for n in range(1, 7)
            },
            "level": form.get("level", ""),
            "rationale": form.get("rationale", ""),
            "effective_on": form.get("effective_on", ""),
            "discrepancy_reason": form.get("discrepancy_reason") or None,
        }
        result, errors, status = run_form(
            LevelOfCareIn(),
            raw,
            lambda d: services.decide_level_of_care(current_user, episode, **d),
        )
        if result is not None:
            flash(f"Level of care {result.level} recorded ({result.setting}).", "success")
            return redirect(_chart_url(episode))
        if "dimensions" in errors:
            for message in errors["dimensions"]:
                errors.setdefault("_form", []).append(f"Dimensions: {message}")
    return render_template(
        "plans/level_of_care_form.html",
        episode=episode,
        form=form,
        errors=errors,
        editions=asam.EDITIONS,
        levels=asam.LEVELS,
        dimensions=asam.DIMENSIONS,
    ), status


def _plan_form_from(plan: TreatmentPlan | None) -> dict[str, str]:
    """Prefill the slots from a plan version."""
    form: dict[str, str] = {}
    if plan is None:
        return form
    for i, problem in enumerate(plan.problems[:PROBLEM_SLOTS]):
        form[f"p{i}_desc"] = problem["description"]
        for j, goal in enumerate(problem["goals"][:GOAL_SLOTS]):
            form[f"p{i}_g{j}_desc"] = goal["description"]
            for k, objective in enumerate(goal["objectives"][:OBJECTIVE_SLOTS]):
                key = f"p{i}_g{j}_o{k}"
                form[f"{key}_desc"] = objective["description"]
                form[f"{key}_date"] = objective["target_date"]
                form[f"{key}_int"] = "\n".join(objective["interventions"])
    return form


def _plan_raw(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Build the API's tree from the filled slots, and a map from tree path to form field."""
    problems: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    for i in range(PROBLEM_SLOTS):
        goals: list[dict[str, Any]] = []
        for j in range(GOAL_SLOTS):
            objectives: list[dict[str, Any]] = []
            for k in range(OBJECTIVE_SLOTS):
                key = f"p{i}_g{j}_o{k}"
                if not any(
                    form.get(f"{key}_{part}", "").strip() for part in ("desc", "date", "int")
                ):
                    continue
                path = f"problems.{len(problems)}.goals.{len(goals)}.objectives.{len(objectives)}"
                where[f"{path}.description"] = f"{key}_desc"
                where[f"{path}.target_date"] = f"{key}_date"
                lines = form.get(f"{key}_int", "").splitlines()
                objectives.append(
                    {
                        "description": form.get(f"{key}_desc", ""),
                        "target_date": form.get(f"{key}_date", ""),
                        "interventions": [line for line in lines if line.strip()],
                    }
                )
            goal_text = form.get(f"p{i}_g{j}_desc", "")
            if goal_text.strip() or objectives:
                where[f"problems.{len(problems)}.goals.{len(goals)}.description"] = (
                    f"p{i}_g{j}_desc"
                )
                goals.append({"description": goal_text, "objectives": objectives})
        text = form.get(f"p{i}_desc", "")
        if text.strip() or goals:
            where[f"problems.{len(problems)}.description"] = f"p{i}_desc"
            problems.append({"description": text, "goals": goals})
    return {"problems": problems}, where


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten nested marshmallow messages to dotted paths."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}.{index}"))
    else:
        out[prefix] = [str(messages)]
    return out


@bp.route("/episodes/<int:episode_id>/treatment-plan", methods=["GET", "POST"])
@requires(Action.TREATMENT_PLAN_WRITE)
def edit_plan(episode_id: int) -> Any:
    """Write the treatment plan; after signing, saving starts the next version."""
    episode = get_episode(current_user, episode_id, action="")
    latest = services.latest_plan(episode)
    form: dict[str, Any] = _plan_form_from(latest)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = request.form.to_dict()
        raw, where = _plan_raw(form)
        try:
            data = TreatmentPlanIn().load(raw)
            plan = services.write_plan(current_user, episode, data["problems"])
            if form.get("submit") == "sign":
                services.sign_plan(current_user, plan)
            db.session.commit()
        except ValidationError as err:
            db.session.rollback()
            errors, status = _flatten(err.messages), 422
        except PermissionDenied:
            db.session.rollback()
            raise
        except CasemgrError as err:
            db.session.rollback()
            errors, status = dict(err.fields), err.status
            errors.setdefault("_form", []).append(err.message)
        else:
            flash(f"Treatment plan version {plan.number} {plan.status}.", "success")
            return redirect(_chart_url(episode))
        errors = {where.get(k, k): v for k, v in errors.items()}
        if "problems" in errors:
            errors.setdefault("_form", []).extend(errors["problems"])
    return render_template(
        "plans/plan_form.html",
        episode=episode,
        latest=latest,
        form=form,
        errors=errors,
        slots=(PROBLEM_SLOTS, GOAL_SLOTS, OBJECTIVE_SLOTS),
    ), status


@bp.get("/treatment-plans/<int:treatment_plan_id>")
@requires(Action.CLINICAL_VIEW)
def plan(treatment_plan_id: int) -> Any:
    """Show one version of a treatment plan."""
    version = db.session.get_one(TreatmentPlan, treatment_plan_id)
    record(current_user, "treatment_plan.view", version, patient_id=version.episode.patient_id)
    db.session.commit()
    return render_template("plans/plan.html", plan=version, episode=version.episode)


@bp.post("/treatment-plans/<int:treatment_plan_id>/sign")
@requires(Action.TREATMENT_PLAN_WRITE)
def sign_plan(treatment_plan_id: int) -> Any:
    """Sign a draft version (its author)."""
    version = db.session.get_one(TreatmentPlan, treatment_plan_id)
    services.sign_plan(current_user, version)
    db.session.commit()
    flash(f"Version {version.number} signed; review due {version.review_due_on}.", "success")
    return redirect(_chart_url(version.episode))


@bp.get("/treatment-plans/reviews-due")
@requires(Action.CLINICAL_VIEW)
def reviews_due() -> Any:
    """List plans in force whose 30-day review is overdue."""
    rows, paging = paged(
        queries.reviews_due_query(visible_episodes_clause(current_user), today())
        .add_columns(Patient)
        .join(Patient, Patient.id == Episode.patient_id)
    )
    record(current_user, "treatment_plan.reviews_due")
    db.session.commit()
    return render_template("plans/reviews_due.html", rows=rows, paging=paging, today=today())


def _chart_section(actor: Any, patient: Patient, episodes: list[Episode]) -> dict[str, Any] | None:
    """Level of care and treatment plan for the chart (two queries)."""
    if not can(actor, Action.CLINICAL_VIEW) or not episodes:
        return None
    episode = episodes[0]
    decisions = list(db.session.scalars(queries.decisions_query([episode.id])))
    current = next((d for d in decisions if d.effective_on <= today()), None)
    plans = list(db.session.scalars(queries.plans_query([episode.id])))
    return {
        "episode": episode,
        "decisions": decisions[:5],
        "current": current,
        "level_name": asam.level_name(current.level, current.asam_edition) if current else None,
        "plans": plans,
        "today": today(),
    }


def _order(actor: Any) -> int:
    """Plans come after the medical sections for medical staff."""
    return 40 if actor.has_role("physician", "nurse") else 20


register_chart_section("plans", "plans/_chart_plans.html", _chart_section, _order)
