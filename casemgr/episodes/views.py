"""Pages: the caseload, admission and discharge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.clinical import teds
from casemgr.core.db import utcnow
from casemgr.core.errors import CasemgrError, PermissionDenied
from casemgr.core.forms import blank_to_none, run_form
from casemgr.core.paging import paged
from casemgr.core.permissions import Action, can, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import today
from casemgr.episodes import pathway, queries, services
from casemgr.episodes.access import (
    caseload_clause,
    get_episode,
    get_patient,
    visible_episodes_clause,
    works_across_patients,
)
from casemgr.episodes.los import stay_figures
from casemgr.episodes.models import STAGE_ORDER, TREATMENT_STAGES, Episode
from casemgr.episodes.schemas import PRIOR_EPISODES, AdmitForm, DischargeForm, StageMoveForm
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.staff.services import counselors

bp = Blueprint("episodes", __name__)
TREATMENT_STAGE_VALUES = frozenset(s.value for s in TREATMENT_STAGES)
blueprints = (bp,)


@bp.get("/caseload")
@requires(Action.CASELOAD_VIEW)
def caseload() -> Any:
    """Show the counselor's home: active patients, day N of target, sessions, notes, risk.

    A counselor sees their care team; supervisors (and medical staff) see every counselor's
    caseload and may pick one.
    """
    from casemgr.therapy.queries import work_counts

    across = works_across_patients(current_user)
    counselor_id = request.args.get("counselor", type=int) if across else None
    stage = request.args.get("stage") or None
    if stage not in TREATMENT_STAGE_VALUES:
        stage = None
    at_risk_only = request.args.get("at_risk") == "1"
    scope = visible_episodes_clause(current_user)
    query = queries.caseload_query(
        caseload_clause(current_user), counselor_id, stage=stage, at_risk_only=at_risk_only
    )
    summary = queries.caseload_summary(query)
    rows, paging = paged(query, total=summary.total)
    stays = {
        row.Episode.id: stay_figures(
            row.Episode.admitted_on, None, row.Episode.los_target_days, today()
        )
        for row in rows
    }
    work = work_counts(current_user, scope, current_user.has_role("supervisor"))
    record(current_user, "caseload.view")
    db.session.commit()
    return render_template(
        "episodes/caseload.html",
        rows=rows,
        paging=paging,
        summary=summary,
        stays=stays,
        counselors=counselors() if across else [],
        counselor_id=counselor_id,
        stage=stage,
        at_risk_only=at_risk_only,
        stages=[(s.value, s.label) for s in TREATMENT_STAGES],
        work=work,
        now=utcnow(),
    )


@bp.route("/patients/<int:patient_id>/admit", methods=["GET", "POST"])
@requires(Action.EPISODE_ADMIT)
def admit(patient_id: int) -> Any:
    """Admit a patient: the TEDS admission fields and the primary counselor."""
    patient = get_patient(current_user, patient_id, action="episode.admit_form")
    db.session.commit()  # the read is audited even if the admission below fails
    form: dict[str, Any] = {"admitted_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        episode, errors, _status = run_form(
            AdmitForm(),
            blank_to_none(form),
            lambda data: services.admit(current_user, patient, **data),
        )
        if episode is not None:
            flash(f"Admitted; episode {episode.id} is open in the diagnosis stage.", "success")
            return redirect(url_for("patients.chart", patient_id=patient_id))
    return render_template(
        "episodes/admit.html",
        patient=patient,
        form=form,
        errors=errors,
        counselor_options=[(c.id, c.full_name) for c in counselors()],
        teds=teds,
        prior_episodes=PRIOR_EPISODES,
    ), (422 if errors else 200)


@bp.route("/episodes/<int:episode_id>/discharge", methods=["GET", "POST"])
@requires(Action.EPISODE_DISCHARGE)
def discharge(episode_id: int) -> Any:
    """Discharge an episode with its TEDS reason and settings."""
    episode = get_episode(current_user, episode_id, action="episode.discharge_form")
    db.session.commit()  # the read is audited even if the discharge below fails
    form: dict[str, Any] = {"discharged_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        done, errors, _status = run_form(
            DischargeForm(),
            blank_to_none(form),
            lambda data: services.discharge(current_user, episode, **data),
        )
        if done is not None:
            flash("Discharged.", "success")
            return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    return render_template(
        "episodes/discharge.html", episode=episode, form=form, errors=errors, teds=teds
    ), (422 if errors else 200)


def _pathway(episode: Episode) -> dict[str, Any]:
    """Describe the current stage's exit requirements, met or not, with where to record each."""
    stage = episode.stage_enum
    rule = pathway.EXIT_RULES[stage]
    items = [
        {
            "code": r.code,
            "label": r.label,
            "met": r.check(episode),
            "url": url_for(r.where, episode_id=episode.id) if r.where else None,
        }
        for r in rule.requirements
    ]
    return {
        "episode": episode,
        "stage": stage,
        "requirements": items,
        "roles": sorted(r.value for r in rule.roles),
        "stages": [s for s in TREATMENT_STAGES if s is not stage],
        "next": STAGE_ORDER[stage.position + 1] if stage in TREATMENT_STAGES[:-1] else None,
    }


def _pathway_section(actor: Any, patient: Any, episodes: list[Episode]) -> dict[str, Any] | None:
    """Build the stage panel of the chart: requirements and the move form (a query per check)."""
    active = next((e for e in episodes if e.is_active), None)
    if active is None or not can(actor, Action.EPISODE_MOVE_STAGE):
        return None
    return {**_pathway(active), "form": {}, "errors": {}, "missing": []}


register_chart_section("pathway", "episodes/_chart_pathway.html", _pathway_section, 0)


@bp.post("/episodes/<int:episode_id>/stage")
@requires(Action.EPISODE_MOVE_STAGE)
def move_stage(episode_id: int) -> Any:
    """Move the episode to another stage; a refusal lists what is missing, with links."""
    episode = get_episode(current_user, episode_id, action="")
    form = request.form.to_dict()
    raw = {
        "to_stage": form.get("to_stage", ""),
        "reason": form.get("reason") or None,
        "override": form.get("override") == "on",
    }
    missing: list[str] = []
    try:
        data = StageMoveForm().load(raw)
        services.move_stage(current_user, episode, **data)
        db.session.commit()
    except ValidationError as err:
        errors, status = form_errors(err), 422
    except PermissionDenied:
        db.session.rollback()
        raise
    except CasemgrError as err:
        db.session.rollback()
        errors, status = dict(err.fields), err.status
        missing = list(err.extra.get("missing", []))
        if not missing:  # a refusal for missing records is shown as their list instead
            errors.setdefault("_form", []).append(err.message)
    else:
        flash(f"Moved to {episode.stage_enum.label}.", "success")
        return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    section = {**_pathway(episode), "form": form, "errors": errors, "missing": missing}
    return render_template("episodes/stage.html", section=section, episode=episode), status
