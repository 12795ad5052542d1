"""Pages: the caseload, admission and discharge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.clinical import teds
from casemgr.core.db import utcnow
from casemgr.core.forms import submit
from casemgr.core.permissions import Action, requires
from casemgr.core.timeutil import today
from casemgr.episodes import queries, services
from casemgr.episodes.access import (
    get_episode,
    get_patient,
    visible_episodes_clause,
    works_across_patients,
)
from casemgr.episodes.los import stay_figures
from casemgr.episodes.models import TREATMENT_STAGES
from casemgr.episodes.schemas import PRIOR_EPISODES, AdmitForm, DischargeForm
from casemgr.extensions import db
from casemgr.staff.services import counselors

bp = Blueprint("episodes", __name__)
TREATMENT_STAGE_VALUES = frozenset(s.value for s in TREATMENT_STAGES)
blueprints = (bp,)


def _blank_to_none(form: dict[str, str]) -> dict[str, Any]:
    """Treat empty optional form fields as not given."""
    return {k: (v if v != "" else None) for k, v in form.items()}


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
    rows = queries.caseload(scope, counselor_id, stage=stage, at_risk_only=at_risk_only)
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
    patient = get_patient(current_user, patient_id, action="")
    form: dict[str, Any] = {"admitted_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        episode, errors = submit(
            AdmitForm(),
            _blank_to_none(form),
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
    episode = get_episode(current_user, episode_id, action="")
    form: dict[str, Any] = {"discharged_on": today().isoformat()}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        done, errors = submit(
            DischargeForm(),
            _blank_to_none(form),
            lambda data: services.discharge(current_user, episode, **data),
        )
        if done is not None:
            flash("Discharged.", "success")
            return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    return render_template(
        "episodes/discharge.html", episode=episode, form=form, errors=errors, teds=teds
    ), (422 if errors else 200)
