"""Rules for level-of-care decisions and treatment plans (DESIGN.md §2 and §3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.audit.services import record
from casemgr.clinical import asam
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation
from casemgr.core.timeutil import today
from casemgr.episodes import pathway
from casemgr.episodes.models import Episode, Stage
from casemgr.extensions import db
from casemgr.plans.models import LevelOfCareDecision, TreatmentPlan

#: DESIGN.md §3: a signed plan is reviewed every 30 days.
REVIEW_DAYS = 30


def _require_active(episode: Episode) -> None:
    """Refuse new records on a discharged episode."""
    if not episode.is_active:
        raise Conflict("This episode is discharged; no new clinical records can be added.")


def decide_level_of_care(
    actor: Any,
    episode: Episode,
    *,
    asam_edition: int,
    dimensions: dict[str, int],
    level: str,
    rationale: str,
    effective_on: date,
    discrepancy_reason: str | None = None,
) -> LevelOfCareDecision:
    """Record a level-of-care decision; the setting and TEDS code come from one mapping."""
    problems: dict[str, list[str]] = {}
    canonical = None
    try:
        asam.validate_edition(asam_edition)
    except ValueError as exc:
        problems["asam_edition"] = [str(exc)]
    else:
        try:
            canonical = asam.validate_level(level, asam_edition)
        except ValueError as exc:
            problems["level"] = [str(exc)]
    try:
        ratings = asam.validate_dimensions(dimensions)
    except ValueError as exc:
        problems["dimensions"] = [str(exc)]
        ratings = None
    discrepancy_reason = (discrepancy_reason or "").strip() or None
    if (
        canonical
        and ratings
        and not discrepancy_reason
        and asam.needs_discrepancy_reason(ratings, canonical, asam_edition)
    ):
        problems["discrepancy_reason"] = [
            "The chosen level differs from what the highest-risk dimensions suggest; record why."
        ]
    if effective_on < episode.admitted_on:
        problems["effective_on"] = ["The decision cannot take effect before the admission."]
    if effective_on > today() + timedelta(days=90):
        problems["effective_on"] = ["Choose a date within the next 90 days."]
    if problems or canonical is None or ratings is None:
        raise RuleViolation("The level-of-care decision has invalid fields.", fields=problems)
    _require_active(episode)
    decision = LevelOfCareDecision(
        episode_id=episode.id,
        asam_edition=asam_edition,
        dimensions=ratings,
        level=canonical,
        setting=asam.setting(canonical, asam_edition),
        teds_service_setting=asam.teds_service_setting(
            canonical, asam_edition, episode.los_target_days
        ),
        rationale=rationale,
        effective_on=effective_on,
        discrepancy_reason=discrepancy_reason,
        decided_by_id=actor.id,
    )
    db.session.add(decision)
    db.session.flush()
    record(actor, "level_of_care.decide", decision, patient_id=episode.patient_id)
    return decision


def has_level_of_care(episode: Episode) -> bool:
    """Tell whether a level of care has been decided for the episode (exit from diagnosis)."""
    query = sa.select(LevelOfCareDecision.id).where(LevelOfCareDecision.episode_id == episode.id)
    return bool(db.session.scalar(sa.select(sa.exists(query))))


# --- Treatment plans ------------------------------------------------------------------------


def _normalise(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store the tree with ISO dates and stripped text, in a fixed shape."""
    out = []
    for problem in problems:
        goals = []
        for goal in problem.get("goals", []):
            objectives = [
                {
                    "description": o["description"].strip(),
                    "target_date": o["target_date"].isoformat(),
                    "interventions": [i.strip() for i in o.get("interventions", []) if i.strip()],
                }
                for o in goal.get("objectives", [])
            ]
            goals.append({"description": goal["description"].strip(), "objectives": objectives})
        out.append({"description": problem["description"].strip(), "goals": goals})
    return out


def _check_tree(problems: list[dict[str, Any]], start: date) -> None:
    """Require at least one problem, and target dates on or after the admission."""
    fields: dict[str, list[str]] = {}
    if not problems:
        fields["problems"] = ["List at least one problem."]
    for p, problem in enumerate(problems):
        for g, goal in enumerate(problem.get("goals", [])):
            for o, objective in enumerate(goal.get("objectives", [])):
                if objective["target_date"] < start:
                    fields[f"problems.{p}.goals.{g}.objectives.{o}.target_date"] = [
                        "The target date is before the admission."
                    ]
    if fields:
        raise RuleViolation("The treatment plan has invalid fields.", fields=fields)


def latest_plan(episode: Episode) -> TreatmentPlan | None:
    """Return the newest version of the episode's plan."""
    return db.session.scalar(
        sa.select(TreatmentPlan)
        .where(TreatmentPlan.episode_id == episode.id)
        .order_by(TreatmentPlan.number.desc())
        .limit(1)
    )


def write_plan(actor: Any, episode: Episode, problems: list[dict[str, Any]]) -> TreatmentPlan:
    """Write the plan: edit the open draft, or start a new version after a signed one."""
    _check_tree(problems, episode.admitted_on)
    _require_active(episode)
    latest = latest_plan(episode)
    if latest is not None and latest.status == "draft":
        if latest.author_id != actor.id:
            raise Conflict("Another author's draft is open; it must be signed first.")
        latest.problems = _normalise(problems)
        db.session.flush()
        record(actor, "treatment_plan.update", latest, patient_id=episode.patient_id)
        return latest
    plan = TreatmentPlan(
        episode_id=episode.id,
        number=(latest.number + 1) if latest else 1,
        status="draft",
        problems=_normalise(problems),
        author_id=actor.id,
        previous_id=latest.id if latest else None,
    )
    db.session.add(plan)
    db.session.flush()
    record(actor, "treatment_plan.create", plan, patient_id=episode.patient_id)
    return plan


def revise_plan(actor: Any, plan: TreatmentPlan, problems: list[dict[str, Any]]) -> TreatmentPlan:
    """Change a plan: a draft is edited in place, a signed plan gets a new version."""
    latest = latest_plan(plan.episode)
    if latest is not None and latest.id != plan.id:
        raise Conflict("A newer version of this plan exists; revise that one.")
    return write_plan(actor, plan.episode, problems)


def sign_plan(actor: Any, plan: TreatmentPlan) -> TreatmentPlan:
    """Sign a draft (its author only); the newest signed version is the plan in force."""
    if plan.status != "draft":
        raise Conflict("This version is already signed.")
    if plan.author_id != actor.id:
        raise PermissionDenied("A treatment plan is signed by its author.")
    if plan.goal_count < 1:
        raise RuleViolation(
            "A plan needs at least one goal before it is signed.",
            fields={"problems": ["Add at least one goal."]},
        )
    _require_active(plan.episode)
    signed_on = today()
    plan.status = "signed"
    plan.signed_at = utcnow()
    plan.review_due_on = signed_on + timedelta(days=REVIEW_DAYS)
    db.session.flush()
    record(actor, "treatment_plan.sign", plan, patient_id=plan.episode.patient_id)
    return plan


def has_signed_plan(episode: Episode) -> bool:
    """Tell whether the episode has a signed plan with at least one goal (exit from plan)."""
    plans = db.session.scalars(
        sa.select(TreatmentPlan).where(
            TreatmentPlan.episode_id == episode.id,
            TreatmentPlan.status == "signed",
        )
    ).all()
    return any(p.goal_count >= 1 for p in plans)


pathway.register_requirement(
    Stage.DIAGNOSIS,
    pathway.Requirement(
        "level_of_care",
        "A level-of-care decision (ASAM dimensions, level and rationale)",
        has_level_of_care,
        "plans.new_level_of_care",
    ),
)
pathway.register_requirement(
    Stage.PLAN,
    pathway.Requirement(
        "signed_treatment_plan",
        "A signed treatment plan with at least one goal",
        has_signed_plan,
        "plans.edit_plan",
    ),
)
