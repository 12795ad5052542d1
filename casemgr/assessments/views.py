"""Pages: diagnostic assessments, withdrawal scores with their chart, the alert list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casemgr.assessments import queries, services
from casemgr.assessments.models import DiagnosticAssessment, WithdrawalScore
from casemgr.assessments.schemas import DiagnosisIn, WithdrawalScoreIn
from casemgr.audit.services import record
from casemgr.clinical import dsm5, withdrawal
from casemgr.core.forms import run_form
from casemgr.core.paging import paged
from casemgr.core.permissions import Action, can, requires
from casemgr.core.timeutil import program_zone
from casemgr.episodes.access import get_episode, visible_episodes_clause
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import Patient

bp = Blueprint("assessments", __name__)
blueprints = (bp,)


def _chart_url(episode: Episode) -> str:
    """Return the chart address of an episode's patient."""
    return url_for("patients.chart", patient_id=episode.patient_id)


def _diagnosis_raw(form: Any) -> dict[str, Any]:
    """Turn the checklist form into the API's shape (bad values stay, to be refused)."""
    criteria = [int(v) if v.isdigit() else v for v in form.getlist("criteria")]
    codes = [c.strip() for c in form.get("co_occurring", "").replace(";", ",").split(",")]
    return {
        "criteria": criteria,
        "medical_supervision": form.get("medical_supervision") == "on",
        "physical_evaluation": form.get("physical_evaluation", ""),
        "psychological_evaluation": form.get("psychological_evaluation", ""),
        "co_occurring": [c for c in codes if c],
        "sign": form.get("submit") == "sign",
    }


@bp.route("/episodes/<int:episode_id>/diagnoses/new", methods=["GET", "POST"])
@requires(Action.DIAGNOSIS_RECORD)
def new_diagnosis(episode_id: int) -> Any:
    """Fill in the DSM-5 checklist and evaluations; save as a draft or sign at once."""
    episode = get_episode(current_user, episode_id, action="")
    form: dict[str, Any] = {"criteria": []}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = request.form.to_dict()
        form["criteria"] = request.form.getlist("criteria")
        raw = _diagnosis_raw(request.form)
        result, errors, status = run_form(
            DiagnosisIn(), raw, lambda d: services.record_diagnosis(current_user, episode, **d)
        )
        if result is not None:
            flash("Assessment signed." if result.is_signed else "Draft saved.", "success")
            return redirect(_chart_url(episode))
    return render_template(
        "assessments/diagnosis_form.html",
        episode=episode,
        form=form,
        errors=errors,
        criteria=dsm5.CRITERIA,
    ), status


@bp.get("/diagnoses/<int:diagnosis_id>")
@requires(Action.CLINICAL_VIEW)
def diagnosis(diagnosis_id: int) -> Any:
    """Show one assessment in full."""
    assessment = db.session.get_one(DiagnosticAssessment, diagnosis_id)
    record(current_user, "diagnosis.view", assessment, patient_id=assessment.episode.patient_id)
    db.session.commit()
    return render_template(
        "assessments/diagnosis.html",
        a=assessment,
        episode=assessment.episode,
        criteria=dsm5.CRITERIA,
    )


@bp.post("/diagnoses/<int:diagnosis_id>/sign")
@requires(Action.DIAGNOSIS_RECORD)
def sign_diagnosis(diagnosis_id: int) -> Any:
    """Sign a draft assessment (its author)."""
    assessment = db.session.get_one(DiagnosticAssessment, diagnosis_id)
    services.sign_diagnosis(current_user, assessment)
    db.session.commit()
    flash("Assessment signed; it can no longer change.", "success")
    return redirect(_chart_url(assessment.episode))


def _parse_local(value: str | None) -> datetime | None:
    """Read a datetime-local field as program time (None when empty; ValueError when bad)."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=program_zone())


@bp.route("/episodes/<int:episode_id>/withdrawal-scores/new", methods=["GET", "POST"])
@requires(Action.WITHDRAWAL_RECORD)
def new_withdrawal_score(episode_id: int) -> Any:
    """Score CIWA-B, CIWA-Ar or COWS item by item."""
    episode = get_episode(current_user, episode_id, action="")
    name = request.values.get("instrument", "CIWA-B")
    if name not in withdrawal.INSTRUMENTS:
        name = "CIWA-B"
    inst = withdrawal.instrument(name)
    form: dict[str, Any] = request.form.to_dict() if request.method == "POST" else {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        items: list[Any] = []
        for index in range(len(inst.items)):
            value = request.form.get(f"item_{index}", "")
            items.append(int(value) if value.lstrip("-").isdigit() else value)
        raw: dict[str, Any] = {"instrument": name, "items": items}
        try:
            raw["assessed_at"] = _parse_local(request.form.get("assessed_at"))
        except ValueError:
            errors, status = {"assessed_at": ["Not a valid date and time."]}, 422
        if not errors:
            result, errors, status = run_form(
                WithdrawalScoreIn(),
                raw,
                lambda d: services.record_withdrawal_score(current_user, episode, **d),
            )
            if result is not None:
                message = f"{result.instrument} {result.total}: {result.band}."
                if result.is_severe:
                    flash(message + " Severe: medical staff have been alerted.", "danger")
                else:
                    flash(message, "success")
                return redirect(url_for("assessments.withdrawal_chart", episode_id=episode.id))
    return render_template(
        "assessments/withdrawal_form.html",
        episode=episode,
        inst=inst,
        instruments=withdrawal.INSTRUMENTS,
        form=form,
        errors=errors,
        bands=services.bands_for(name, None)[0],
    ), status


@bp.get("/episodes/<int:episode_id>/withdrawal")
@requires(Action.CLINICAL_VIEW)
def withdrawal_chart(episode_id: int) -> Any:
    """Show an episode's withdrawal scores as a table and a line chart over time."""
    episode = get_episode(current_user, episode_id, action="withdrawal_score.list")
    scores = list(
        db.session.scalars(
            queries.scores_query([episode.id]).options(
                sa.orm.joinedload(WithdrawalScore.recorded_by),
                sa.orm.joinedload(WithdrawalScore.acknowledged_by),
            )
        )
    )
    db.session.commit()
    return render_template(
        "assessments/withdrawal_chart.html",
        episode=episode,
        scores=scores,
        chart=queries.chart_points(scores),
        instruments=withdrawal.INSTRUMENTS,
        ranks=withdrawal.RANKS,
        default_source=services.DEFAULT_BANDS_SOURCE,
    )


@bp.get("/withdrawal-alerts")
@requires(Action.CLINICAL_VIEW)
def alerts() -> Any:
    """List open severe-score alerts for medical staff, most severe first."""
    rows, paging = paged(
        queries.open_alerts_query(visible_episodes_clause(current_user))
        .add_columns(Patient)
        .join(Patient, Patient.id == Episode.patient_id)
    )
    record(current_user, "withdrawal_alert.list")
    db.session.commit()
    return render_template("assessments/alerts.html", rows=rows, paging=paging)


@bp.post("/withdrawal-scores/<int:score_id>/acknowledge")
@requires(Action.ALERT_ACKNOWLEDGE)
def acknowledge(score_id: int) -> Any:
    """Acknowledge a severe-score alert (nurse or physician)."""
    score = db.session.get_one(WithdrawalScore, score_id)
    services.acknowledge_alert(current_user, score)
    db.session.commit()
    flash("Alert acknowledged.", "success")
    return redirect(request.referrer or url_for("assessments.alerts"))


def _medical_first(actor: Any, medical: int, other: int) -> int:
    """Order a section for the viewer: medical staff see withdrawal and taper first."""
    return medical if actor.has_role("physician", "nurse") else other


def _chart_section(actor: Any, patient: Patient, episodes: list[Episode]) -> dict[str, Any] | None:
    """Diagnosis and withdrawal summary for the chart (two queries)."""
    if not can(actor, Action.CLINICAL_VIEW) or not episodes:
        return None
    episode = episodes[0]
    diagnoses = list(db.session.scalars(queries.diagnoses_query([episode.id]).limit(5)))
    scores = list(db.session.scalars(queries.scores_query([episode.id]).limit(5)))
    return {"episode": episode, "diagnoses": diagnoses, "scores": scores}


register_chart_section(
    "withdrawal",
    "assessments/_chart_withdrawal.html",
    _chart_section,
    lambda actor: _medical_first(actor, 10, 30),
)
register_chart_section(
    "diagnosis",
    "assessments/_chart_diagnosis.html",
    _chart_section,
    lambda actor: _medical_first(actor, 30, 10),
)
