"""Pages: the caseload, admission and discharge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from casemgr.audit.services import record
from casemgr.clinical import teds
from casemgr.core.errors import CasemgrError
from casemgr.core.permissions import Action, requires
from casemgr.core.schema import form_errors
from casemgr.core.timeutil import today
from casemgr.episodes import queries, services
from casemgr.episodes.access import (
    get_episode,
    get_patient,
    visible_episodes_clause,
    works_across_patients,
)
from casemgr.episodes.los import stay_figures
from casemgr.episodes.schemas import PRIOR_EPISODES, AdmitForm, DischargeForm
from casemgr.extensions import db
from casemgr.staff.services import counselors

bp = Blueprint("episodes", __name__)
blueprints = (bp,)


def _blank_to_none(form: dict[str, str]) -> dict[str, Any]:
    """Treat empty optional form fields as not given."""
    return {k: (v if v != "" else None) for k, v in form.items()}


@bp.get("/caseload")
@requires(Action.CASELOAD_VIEW)
def caseload() -> Any:
    """Show active patients with day N of target, last session and risk, most in need first."""
    counselor_id = request.args.get("counselor", type=int)
    if not works_across_patients(current_user):
        counselor_id = None
    rows = queries.caseload(visible_episodes_clause(current_user), counselor_id)
    record(current_user, "caseload.view")
    stays = {
        row.Episode.id: stay_figures(
            row.Episode.admitted_on, None, row.Episode.los_target_days, today()
        )
        for row in rows
    }
    db.session.commit()
    return render_template(
        "episodes/caseload.html",
        rows=rows,
        stays=stays,
        counselors=counselors() if works_across_patients(current_user) else [],
        counselor_id=counselor_id,
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
        try:
            data = AdmitForm().load(_blank_to_none(form))
            episode = services.admit(current_user, patient, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
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
        try:
            data = DischargeForm().load(_blank_to_none(form))
            services.discharge(current_user, episode, **data)
            db.session.commit()
        except ValidationError as err:
            errors = form_errors(err)
        except CasemgrError as err:
            db.session.rollback()
            errors = err.fields or {"_form": [err.message]}
        else:
            flash("Discharged.", "success")
            return redirect(url_for("patients.chart", patient_id=episode.patient_id))
    return render_template(
        "episodes/discharge.html", episode=episode, form=form, errors=errors, teds=teds
    ), (422 if errors else 200)
