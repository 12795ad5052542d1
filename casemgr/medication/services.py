"""Taper rules: generate, order (physician), pause, resume, re-plan, record doses (DESIGN.md §3)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from casemgr.audit.services import record
from casemgr.clinical import taper
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation, field_error
from casemgr.core.permissions import Role
from casemgr.core.timeutil import local, today
from casemgr.episodes import pathway
from casemgr.episodes.models import Episode, Stage
from casemgr.extensions import db
from casemgr.medication.models import DoseRecord, TaperPlan, TaperStep, TaperWaiver

#: TaperParams field → the API field named in a 422.
_PARAM_FIELDS = (
    "medication",
    "start_dose_mg",
    "reduction_percent",
    "interval_days",
    "dose_increment_mg",
    "start_on",
)


def _require_active(episode: Episode) -> None:
    """Refuse new medical orders on a discharged episode."""
    if not episode.is_active:
        raise Conflict("This episode is discharged; no new orders can be written.")


def _require_physician(actor: Any, what: str) -> None:
    """Taper orders are medical orders: physicians only (the permission table agrees)."""
    if not actor.has_role("physician"):
        raise PermissionDenied(f"Only a physician may {what}.")


def build_params(**fields: Any) -> taper.TaperParams:
    """Build checked taper parameters, turning the generator's refusals into field errors."""
    try:
        return taper.TaperParams(**fields)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        name = next((f for f in _PARAM_FIELDS if message.startswith(f)), "_schema")
        raise field_error(name, message) from exc


def preview(params: taper.TaperParams, source: str = taper.DEFAULT_SOURCE) -> list[taper.TaperStep]:
    """Generate a schedule without saving it (422 when it cannot be generated)."""
    try:
        return taper.generate(params, source)
    except ValueError as exc:
        raise field_error("_schema", str(exc)) from exc


def _check_guideline(actor: Any, params: taper.TaperParams, override_reason: str | None) -> None:
    """Refuse a plan faster than the guideline unless a physician gives a reason (422)."""
    problems = taper.guideline_problems(params)
    if not problems:
        return
    if not override_reason:
        raise RuleViolation(
            "This plan is faster than the guideline's usual pace (5–10% every 2–4 weeks); "
            "a physician may order it with a reason.",
            fields={
                "override_reason": [
                    "Faster than the guideline (over 10% per step or under 14 days apart): "
                    "give the clinical reason to order it anyway."
                ]
            },
            problems=problems,
        )
    _require_physician(actor, "order a taper outside the guideline")


def _save_plan(
    actor: Any,
    episode: Episode,
    params: taper.TaperParams,
    source: str,
    override_reason: str | None,
    replaces: TaperPlan | None = None,
) -> TaperPlan:
    """Store a plan and its generated steps."""
    steps = preview(params, source)
    plan = TaperPlan(
        episode_id=episode.id,
        medication=params.medication.strip(),
        start_dose_mg=params.start_dose_mg,
        reduction_percent=params.reduction_percent,
        interval_days=params.interval_days,
        dose_increment_mg=params.dose_increment_mg,
        start_on=params.start_on,
        ends_on=steps[-1].starts_on,
        status="active",
        equivalence_source=source,
        override_reason=override_reason,
        prescribed_by_id=actor.id,
        replaces_id=replaces.id if replaces else None,
        steps=[
            TaperStep(
                step=s.step,
                starts_on=s.starts_on,
                daily_dose_mg=s.daily_dose_mg,
                diazepam_equivalent_mg=s.diazepam_equivalent_mg,
            )
            for s in steps
        ],
    )
    db.session.add(plan)
    db.session.flush()
    return plan


def current_plan(episode: Episode) -> TaperPlan | None:
    """Return the episode's live plan (active or paused), if any."""
    return db.session.scalar(
        sa.select(TaperPlan)
        .where(TaperPlan.episode_id == episode.id, TaperPlan.status.in_(("active", "paused")))
        .order_by(TaperPlan.id.desc())
        .limit(1)
    )


def create_plan(
    actor: Any,
    episode: Episode,
    *,
    medication: str,
    start_dose_mg: Decimal,
    reduction_percent: Decimal,
    interval_days: int,
    dose_increment_mg: Decimal,
    start_on: date,
    override_reason: str | None = None,
    equivalence_source: str = taper.DEFAULT_SOURCE,
) -> TaperPlan:
    """Order a taper: one live plan per episode; faster than the guideline needs a reason."""
    params = build_params(
        medication=medication,
        start_dose_mg=start_dose_mg,
        reduction_percent=reduction_percent,
        interval_days=interval_days,
        dose_increment_mg=dose_increment_mg,
        start_on=start_on,
    )
    if equivalence_source not in taper.EQUIVALENCE_TABLES:
        raise field_error("equivalence_source", "Unknown equivalence source.")
    preview(params, equivalence_source)
    override_reason = (override_reason or "").strip() or None
    _check_guideline(actor, params, override_reason)
    _require_physician(actor, "order a taper")
    _require_active(episode)
    if current_plan(episode) is not None:
        raise Conflict("This episode already has a taper plan; re-plan it instead.")
    plan = _save_plan(actor, episode, params, equivalence_source, override_reason)
    record(actor, "taper_plan.create", plan, patient_id=episode.patient_id)
    if override_reason:
        record(actor, "taper_plan.guideline_override", plan, patient_id=episode.patient_id)
    return plan


def _finish_if_done(plan: TaperPlan, on: date) -> None:
    """Mark an active plan completed once its last (zero) step has started."""
    if plan.status == "active" and plan.ends_on <= on:
        plan.status = "completed"


def _require_live(plan: TaperPlan) -> None:
    """Refuse changes to a completed or replaced plan, or on a discharged episode."""
    _finish_if_done(plan, today())
    if plan.status in ("completed", "replaced"):
        raise Conflict(f"This taper plan is {plan.status}; it can no longer change.")
    _require_active(plan.episode)


def pause(actor: Any, plan: TaperPlan, reason: str | None = None) -> TaperPlan:
    """Pause a taper (significant withdrawal): the dose stays where it is until resumed."""
    _require_live(plan)
    if plan.status == "paused":
        raise Conflict("This taper plan is already paused.")
    plan.status = "paused"
    plan.paused_at = utcnow()
    db.session.flush()
    record(actor, "taper_plan.pause", plan, patient_id=plan.episode.patient_id)
    return plan


def resume(actor: Any, plan: TaperPlan) -> TaperPlan:
    """Resume a paused taper on its remaining schedule.

    A long pause usually calls for a re-plan from the current dose instead; resuming keeps the
    schedule as ordered, so the page offers both.
    """
    _require_live(plan)
    if plan.status != "paused":
        raise Conflict("This taper plan is not paused.")
    plan.status = "active"
    plan.paused_at = None
    db.session.flush()
    record(actor, "taper_plan.resume", plan, patient_id=plan.episode.patient_id)
    return plan


def replan(
    actor: Any,
    plan: TaperPlan,
    *,
    start_on: date,
    reduction_percent: Decimal | None = None,
    interval_days: int | None = None,
    current_dose_mg: Decimal | None = None,
    override_reason: str | None = None,
) -> TaperPlan:
    """Re-plan from the current dose: the old plan is kept as replaced, a new one starts."""
    dose = current_dose_mg if current_dose_mg is not None else plan.dose_on(start_on)
    if dose <= 0:
        raise field_error(
            "current_dose_mg", "The taper has reached zero; there is nothing to re-plan."
        )
    old = build_params(
        medication=plan.medication,
        start_dose_mg=plan.start_dose_mg,
        reduction_percent=reduction_percent
        if reduction_percent is not None
        else plan.reduction_percent,
        interval_days=interval_days if interval_days is not None else plan.interval_days,
        dose_increment_mg=plan.dose_increment_mg,
        start_on=plan.start_on,
    )
    try:
        params = taper.replan_from(old, dose, start_on)
        params = build_params(**{f: getattr(params, f) for f in _PARAM_FIELDS})
    except ValueError as exc:
        raise field_error("current_dose_mg", str(exc)) from exc
    if start_on < today():
        raise field_error("start_on", "A re-plan starts today or later.")
    preview(params, plan.equivalence_source)
    override_reason = (override_reason or "").strip() or None
    _check_guideline(actor, params, override_reason)
    _require_physician(actor, "re-plan a taper")
    _require_live(plan)
    plan.status = "replaced"
    db.session.flush()
    new = _save_plan(actor, plan.episode, params, plan.equivalence_source, override_reason, plan)
    record(actor, "taper_plan.replan", new, patient_id=plan.episode.patient_id)
    return new


def record_dose(
    actor: Any,
    plan: TaperPlan,
    *,
    given_at: datetime,
    dose_mg: Decimal,
    status: str,
    note: str | None = None,
) -> DoseRecord:
    """Record a dose given, refused or held; only on an active plan (not paused or finished)."""
    if given_at > utcnow():
        raise field_error("given_at", "A dose cannot be recorded for a future time.")
    if local(given_at).date() < plan.start_on:
        raise field_error("given_at", "The dose is dated before the plan starts.")
    if status == "given" and dose_mg <= 0:
        raise field_error("dose_mg", "A given dose must be more than 0 mg.")
    if not actor.has_role("nurse", "physician"):
        raise PermissionDenied("Only a nurse or physician may record doses.")
    _finish_if_done(plan, local(given_at).date())
    if plan.status != "active":
        raise Conflict(f"This taper plan is {plan.status}; doses are recorded on active plans.")
    _require_active(plan.episode)
    dose = DoseRecord(
        plan_id=plan.id,
        given_at=given_at,
        dose_mg=dose_mg,
        status=status,
        note=note,
        recorded_by_id=actor.id,
    )
    db.session.add(dose)
    db.session.flush()
    record(actor, "dose.record", dose, patient_id=plan.episode.patient_id)
    return dose


def waive_taper(actor: Any, episode: Episode, reason: str) -> TaperWaiver:
    """Record a physician's decision that this episode needs no taper (with the reason)."""
    _require_physician(actor, "decide that no taper is needed")
    _require_active(episode)
    waiver = TaperWaiver(episode_id=episode.id, reason=reason, decided_by_id=actor.id)
    db.session.add(waiver)
    db.session.flush()
    record(actor, "taper_waiver.create", waiver, patient_id=episode.patient_id)
    return waiver


def taper_settled(episode: Episode) -> bool:
    """Tell whether the taper stage may end: a taper plan, or a physician's waiver."""
    plan = sa.select(TaperPlan.id).where(TaperPlan.episode_id == episode.id)
    waiver = sa.select(TaperWaiver.id).where(TaperWaiver.episode_id == episode.id)
    return bool(db.session.scalar(sa.select(sa.or_(sa.exists(plan), sa.exists(waiver)))))


pathway.register_requirement(
    Stage.TAPER,
    pathway.Requirement(
        "taper_plan",
        "A taper plan, or a physician's recorded decision that none is needed",
        taper_settled,
        "medication.new_plan",
    ),
)
pathway.restrict_exit(Stage.TAPER, frozenset({Role.PHYSICIAN, Role.NURSE}))
