"""JSON API for assessments (shared/API.md "Assessments")."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from casemgr.assessments import queries, services
from casemgr.assessments.models import DiagnosticAssessment, WithdrawalScore
from casemgr.assessments.schemas import (
    AlertListOut,
    AlertQuery,
    DiagnosisIn,
    DiagnosisListOut,
    DiagnosisOut,
    DiagnosisUpdate,
    WithdrawalScoreIn,
    WithdrawalScoreListOut,
    WithdrawalScoreOut,
)
from casemgr.audit.services import record
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.core.schema import PageArgs
from casemgr.episodes.access import get_episode, register_episode_record, visible_episodes_clause
from casemgr.extensions import db

blp = Blueprint("api_assessments", __name__, url_prefix="/api/v1", description="Assessments")
blueprints = (blp,)


register_episode_record("diagnosis_id", DiagnosticAssessment)
register_episode_record("score_id", WithdrawalScore)


@blp.route("/episodes/<int:episode_id>/diagnoses", methods=["POST"])
@blp.arguments(DiagnosisIn)
@blp.response(201, DiagnosisOut)
@requires(Action.DIAGNOSIS_RECORD)
def create_diagnosis(data: dict[str, Any], episode_id: int) -> DiagnosticAssessment:
    """Record a DSM-5 diagnostic assessment (signed at once when ``sign`` is true)."""
    episode = get_episode(current_user, episode_id, action="")
    assessment = services.record_diagnosis(current_user, episode, **data)
    db.session.commit()
    return assessment


@blp.route("/episodes/<int:episode_id>/diagnoses", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, DiagnosisListOut)
@requires(Action.CLINICAL_VIEW)
def list_diagnoses(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List an episode's diagnostic assessments, newest first."""
    episode = get_episode(current_user, episode_id, action="diagnosis.list")
    page = paginate(queries.diagnoses_query([episode.id]), args["page"], args["per_page"])
    db.session.commit()
    return page


@blp.route("/diagnoses/<int:diagnosis_id>", methods=["GET"])
@blp.response(200, DiagnosisOut)
@requires(Action.CLINICAL_VIEW)
def get_diagnosis(diagnosis_id: int) -> DiagnosticAssessment:
    """Return one diagnostic assessment."""
    assessment = db.session.get_one(DiagnosticAssessment, diagnosis_id)
    record(current_user, "diagnosis.view", assessment, patient_id=assessment.episode.patient_id)
    db.session.commit()
    return assessment


@blp.route("/diagnoses/<int:diagnosis_id>", methods=["PATCH"])
@blp.arguments(DiagnosisUpdate)
@blp.response(200, DiagnosisOut)
@requires(Action.DIAGNOSIS_RECORD)
def update_diagnosis(data: dict[str, Any], diagnosis_id: int) -> DiagnosticAssessment:
    """Change a draft (author only; 409 when signed or when ``version`` is stale)."""
    assessment = db.session.get_one(DiagnosticAssessment, diagnosis_id)
    version = data.pop("version")
    services.update_diagnosis(current_user, assessment, version, **data)
    db.session.commit()
    return assessment


@blp.route("/diagnoses/<int:diagnosis_id>/sign", methods=["POST"])
@blp.response(200, DiagnosisOut)
@requires(Action.DIAGNOSIS_RECORD)
def sign_diagnosis(diagnosis_id: int) -> DiagnosticAssessment:
    """Sign (lock) a draft assessment; only its author signs."""
    assessment = db.session.get_one(DiagnosticAssessment, diagnosis_id)
    services.sign_diagnosis(current_user, assessment)
    db.session.commit()
    return assessment


@blp.route("/episodes/<int:episode_id>/withdrawal-scores", methods=["POST"])
@blp.arguments(WithdrawalScoreIn)
@blp.response(201, WithdrawalScoreOut)
@requires(Action.WITHDRAWAL_RECORD)
def create_score(data: dict[str, Any], episode_id: int) -> WithdrawalScore:
    """Score CIWA-B, CIWA-Ar or COWS; ``alert`` is true for a severe band."""
    episode = get_episode(current_user, episode_id, action="")
    score = services.record_withdrawal_score(current_user, episode, **data)
    db.session.commit()
    return score


@blp.route("/episodes/<int:episode_id>/withdrawal-scores", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, WithdrawalScoreListOut)
@requires(Action.CLINICAL_VIEW)
def list_scores(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List an episode's withdrawal scores, newest first."""
    episode = get_episode(current_user, episode_id, action="withdrawal_score.list")
    page = paginate(queries.scores_query([episode.id]), args["page"], args["per_page"])
    db.session.commit()
    return page


@blp.route("/withdrawal-alerts", methods=["GET"])
@blp.arguments(AlertQuery, location="query")
@blp.response(200, AlertListOut)
@requires(Action.CLINICAL_VIEW)
def list_alerts(args: dict[str, Any]) -> dict[str, Any]:
    """List open severe-score alerts the caller may see, most severe first."""
    query = queries.open_alerts_query(visible_episodes_clause(current_user))
    page = paginate(query, args["page"], args["per_page"])
    record(current_user, "withdrawal_alert.list")
    db.session.commit()
    return page


@blp.route("/withdrawal-scores/<int:score_id>/acknowledge", methods=["POST"])
@blp.response(200, WithdrawalScoreOut)
@requires(Action.ALERT_ACKNOWLEDGE)
def acknowledge(score_id: int) -> WithdrawalScore:
    """Acknowledge a severe-score alert (nurse or physician)."""
    score = db.session.get_one(WithdrawalScore, score_id)
    services.acknowledge_alert(current_user, score)
    db.session.commit()
    return score
