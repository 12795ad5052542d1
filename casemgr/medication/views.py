"""Pages: taper orders with their schedule, pause/resume/re-plan, doses, and waivers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.clinical import taper
from casemgr.core.forms import blank_to_none, run_form
from casemgr.core.paging import paged_scalars
from casemgr.core.permissions import Action, can, requires
from casemgr.core.timeutil import program_zone, today
from casemgr.episodes.access import get_episode
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.medication import services
from casemgr.medication.models import DoseRecord, TaperPlan, TaperWaiver
from casemgr.medication.schemas import DoseForm, ReplanForm, TaperPlanForm, WaiverForm
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import Patient

bp = Blueprint("medication", __name__)
blueprints = (bp,)


def _plan_url(plan: TaperPlan) -> str:
    """Return a plan's page."""
    return url_for("medication.plan", plan_id=plan.id)


@bp.route("/episodes/<int:episode_id>/taper-plans/new", methods=["GET", "POST"])
@requires(Action.TAPER_PLAN)
def new_plan(episode_id: int) -> Any:
    """Order a taper (physician); or record that none is needed."""
    episode = get_episode(current_user, episode_id, action="")
    form: dict[str, Any] = {
        "start_on": today().isoformat(),
        "reduction_percent": "10",
        "interval_days": "14",
        "equivalence_source": taper.DEFAULT_SOURCE,
    }
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = request.form.to_dict()
        result, errors, status = run_form(
            TaperPlanForm(),
            blank_to_none(form),
            lambda d: services.create_plan(current_user, episode, **d),
        )
        if result is not None:
            flash(f"Taper ordered: {len(result.steps)} steps, ending {result.ends_on}.", "success")
            return redirect(_plan_url(result))
    return render_template(
        "medication/plan_form.html",
        episode=episode,
        form=form,
        errors=errors,
        sources=taper.EQUIVALENCE_TABLES,
        guideline=taper.GUIDELINE,
        waiver_errors={},
    ), status


@bp.post("/episodes/<int:episode_id>/taper-waiver")
@requires(Action.TAPER_PLAN)
def waive(episode_id: int) -> Any:
    """Record a physician's decision that no taper is needed."""
    episode = get_episode(current_user, episode_id, action="")
    result, errors, status = run_form(
        WaiverForm(),
        request.form.to_dict(),
        lambda d: services.waive_taper(current_user, episode, d["reason"]),
    )
    if result is not None:
        flash("Recorded: no taper needed.", "success")
        return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    return render_template(
        "medication/plan_form.html",
        episode=episode,
        form={},
        errors={},
        sources=taper.EQUIVALENCE_TABLES,
        guideline=taper.GUIDELINE,
        waiver_errors=errors,
        waiver_form=request.form.to_dict(),
    ), status


@bp.get("/taper-plans/<int:plan_id>")
@requires(Action.CLINICAL_VIEW)
def plan(plan_id: int) -> Any:
    """Show the schedule, the doses recorded and the actions the viewer may take."""
    order = db.session.get_one(TaperPlan, plan_id)
    record(current_user, "taper_plan.view", order, patient_id=order.episode.patient_id)
    db.session.commit()
    return _render_plan(order, {}, {}, 200)


def _render_plan(
    order: TaperPlan, form: dict[str, Any], errors: dict[str, Any], status: int
) -> Any:
    """Render the plan page with the form that failed, if any (doses a page at a time)."""
    table = taper.equivalence_table(order.equivalence_source)
    doses, dose_paging = paged_scalars(
        sa.select(DoseRecord)
        .where(DoseRecord.plan_id == order.id)
        .order_by(DoseRecord.given_at.desc(), DoseRecord.id.desc())
        .options(sa.orm.joinedload(DoseRecord.recorded_by)),
        "doses_page",
    )
    return render_template(
        "medication/plan.html",
        plan=order,
        doses=doses,
        dose_paging=dose_paging,
        episode=order.episode,
        table=table,
        form=form,
        errors=errors,
        today=today(),
        current_dose=order.dose_on(today()),
        now_local=datetime.now(program_zone()).strftime("%Y-%m-%dT%H:%M"),
    ), status


@bp.post("/taper-plans/<int:plan_id>/pause")
@requires(Action.TAPER_MANAGE)
def pause(plan_id: int) -> Any:
    """Pause a taper."""
    order = db.session.get_one(TaperPlan, plan_id)
    services.pause(current_user, order, request.form.get("reason") or None)
    db.session.commit()
    flash("Taper paused; the current dose continues.", "warning")
    return redirect(_plan_url(order))


@bp.post("/taper-plans/<int:plan_id>/resume")
@requires(Action.TAPER_MANAGE)
def resume(plan_id: int) -> Any:
    """Resume a paused taper."""
    order = db.session.get_one(TaperPlan, plan_id)
    services.resume(current_user, order)
    db.session.commit()
    flash("Taper resumed.", "success")
    return redirect(_plan_url(order))


@bp.post("/taper-plans/<int:plan_id>/replan")
@requires(Action.TAPER_PLAN)
def replan(plan_id: int) -> Any:
    """Re-plan from the current dose."""
    order = db.session.get_one(TaperPlan, plan_id)
    form = request.form.to_dict()
    result, errors, status = run_form(
        ReplanForm(), blank_to_none(form), lambda d: services.replan(current_user, order, **d)
    )
    if result is not None:
        flash("Re-planned from the current dose.", "success")
        return redirect(_plan_url(result))
    return _render_plan(order, {"replan": form}, {"replan": errors}, status)


@bp.post("/taper-plans/<int:plan_id>/doses")
@requires(Action.DOSE_RECORD)
def record_dose(plan_id: int) -> Any:
    """Record a dose given, refused or held."""
    order = db.session.get_one(TaperPlan, plan_id)
    form = request.form.to_dict()

    def act(data: dict[str, Any]) -> Any:
        data["given_at"] = data["given_at"].replace(tzinfo=program_zone())
        return services.record_dose(current_user, order, **data)

    result, errors, status = run_form(DoseForm(), blank_to_none(form), act)
    if result is not None:
        flash(f"Dose recorded ({result.status}).", "success")
        return redirect(_plan_url(order))
    return _render_plan(order, {"dose": form}, {"dose": errors}, status)


def _chart_section(actor: Any, patient: Patient, episodes: list[Episode]) -> dict[str, Any] | None:
    """Load the taper plans of the current episode and any waiver (two queries)."""
    if not can(actor, Action.CLINICAL_VIEW) or not episodes:
        return None
    episode = episodes[0]
    plans = list(
        db.session.scalars(
            sa.select(TaperPlan)
            .where(TaperPlan.episode_id == episode.id)
            .order_by(TaperPlan.id.desc())
            .options(sa.orm.selectinload(TaperPlan.steps))
        )
    )
    waivers = list(
        db.session.scalars(sa.select(TaperWaiver).where(TaperWaiver.episode_id == episode.id))
    )
    return {"episode": episode, "plans": plans, "waivers": waivers, "today": today()}


register_chart_section(
    "taper",
    "medication/_chart_taper.html",
    _chart_section,
    lambda actor: 20 if actor.has_role("physician", "nurse") else 35,
)
