"""Rules for diagnostic assessments and withdrawal scores (DESIGN.md §3, CLINICAL.md §1, §4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from casemgr.assessments.models import DiagnosticAssessment, WithdrawalScore
from casemgr.audit.services import record
from casemgr.clinical import dsm5, withdrawal
from casemgr.core.db import utcnow
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation, field_error
from casemgr.core.permissions import Role
from casemgr.core.timeutil import local
from casemgr.episodes import pathway
from casemgr.episodes.models import Episode, Stage
from casemgr.extensions import db

#: Roles that may acknowledge a severe-score alert (DESIGN.md §3: medical staff).
MEDICAL_ROLES = ("physician", "nurse")
#: Shown beside every band: where the band limits come from.
DEFAULT_BANDS_SOURCE = "Published defaults (CLINICAL.md §4)"


def _require_active(episode: Episode) -> None:
    """Refuse new records on a discharged episode."""
    if not episode.is_active:
        raise Conflict("This episode is discharged; no new clinical records can be added.")


def _evaluate(
    episode: Episode,
    criteria: Sequence[int],
    medical_supervision: bool,
    co_occurring: Sequence[str],
) -> tuple[dsm5.Dsm5Result, list[str]]:
    """Compute count, severity and code, and normalise the co-occurring codes (422 per field)."""
    problems: dict[str, list[str]] = {}
    result = None
    try:
        result = dsm5.assess(criteria, medical_supervision, episode.primary_substance)
    except (ValueError, TypeError) as exc:
        problems["criteria"] = [str(exc)]
    codes: list[str] = []
    for index, code in enumerate(co_occurring):
        try:
            normalised = dsm5.validate_icd10(code)
        except ValueError as exc:
            problems.setdefault("co_occurring", []).append(f"{index}: {exc}")
            continue
        if normalised not in codes:
            codes.append(normalised)
    if problems or result is None:
        raise RuleViolation("The assessment has invalid fields.", fields=problems)
    return result, codes


def record_diagnosis(
    actor: Any,
    episode: Episode,
    *,
    criteria: Sequence[int],
    medical_supervision: bool,
    physical_evaluation: str,
    psychological_evaluation: str,
    co_occurring: Sequence[str] = (),
    sign: bool = False,
) -> DiagnosticAssessment:
    """Record a DSM-5 assessment as computed now; signing at once locks it."""
    result, codes = _evaluate(episode, criteria, medical_supervision, co_occurring)
    _require_active(episode)
    assessment = DiagnosticAssessment(
        episode_id=episode.id,
        criteria=sorted(set(criteria)),
        medical_supervision=medical_supervision,
        criteria_counted=result.criteria_counted,
        severity=result.severity,
        icd10=result.icd10,
        physical_evaluation=physical_evaluation,
        psychological_evaluation=psychological_evaluation,
        co_occurring=codes,
        author_id=actor.id,
    )
    db.session.add(assessment)
    db.session.flush()
    record(actor, "diagnosis.create", assessment, patient_id=episode.patient_id)
    if sign:
        sign_diagnosis(actor, assessment)
    return assessment


def update_diagnosis(
    actor: Any, assessment: DiagnosticAssessment, expected_version: int, **fields: Any
) -> DiagnosticAssessment:
    """Change a draft (author only, optimistic version check); signed ones never change."""
    result, codes = _evaluate(
        assessment.episode,
        fields["criteria"],
        fields["medical_supervision"],
        fields["co_occurring"],
    )
    if assessment.is_signed:
        raise Conflict("This assessment is signed; it can no longer change.")
    if assessment.author_id != actor.id:
        raise PermissionDenied("Only the author may edit a draft assessment.")
    if expected_version != assessment.version:
        raise Conflict("Someone else saved this draft since you opened it; reload it.")
    _require_active(assessment.episode)
    assessment.criteria = sorted(set(fields["criteria"]))
    assessment.medical_supervision = fields["medical_supervision"]
    assessment.criteria_counted = result.criteria_counted
    assessment.severity = result.severity
    assessment.icd10 = result.icd10
    assessment.physical_evaluation = fields["physical_evaluation"]
    assessment.psychological_evaluation = fields["psychological_evaluation"]
    assessment.co_occurring = codes
    db.session.flush()
    record(actor, "diagnosis.update", assessment, patient_id=assessment.episode.patient_id)
    return assessment


def sign_diagnosis(actor: Any, assessment: DiagnosticAssessment) -> DiagnosticAssessment:
    """Sign (lock) a draft: only its author signs, and only once."""
    if assessment.is_signed:
        raise Conflict("This assessment is already signed.")
    if assessment.author_id != actor.id:
        raise PermissionDenied("Only the author may sign an assessment.")
    _require_active(assessment.episode)
    assessment.signed_at = utcnow()
    assessment.signed_by_id = actor.id
    db.session.flush()
    record(actor, "diagnosis.sign", assessment, patient_id=assessment.episode.patient_id)
    return assessment


def has_signed_diagnosis(episode: Episode) -> bool:
    """Tell whether the episode has a signed diagnostic assessment (exit from diagnosis)."""
    query = sa.select(DiagnosticAssessment.id).where(
        DiagnosticAssessment.episode_id == episode.id, DiagnosticAssessment.signed_at.is_not(None)
    )
    return bool(db.session.scalar(sa.select(sa.exists(query))))


# --- Withdrawal scores ----------------------------------------------------------------------


def bands_for(instrument: str, config: dict[str, Any] | None) -> tuple[Any, str]:
    """Return the program's bands for an instrument (or the defaults) and their source."""
    override = (config or {}).get(instrument)
    if override:
        bands = tuple(
            withdrawal.Band(b["name"], int(b["low"]), int(b["high"]), int(b["rank"]))
            for b in override["bands"]
        )
        return withdrawal.validate_bands(instrument, bands), str(override["source"])[:200]
    return withdrawal.default_bands(instrument), DEFAULT_BANDS_SOURCE


def record_withdrawal_score(
    actor: Any,
    episode: Episode,
    *,
    instrument: str,
    items: Sequence[int],
    assessed_at: datetime | None = None,
    band_config: dict[str, Any] | None = None,
) -> WithdrawalScore:
    """Score a withdrawal scale; a severe band raises an alert until medical staff acknowledge."""
    now = utcnow()
    try:
        withdrawal.instrument(instrument)
    except ValueError as exc:
        raise field_error("instrument", str(exc)) from exc
    if band_config is None:
        band_config = current_app.config.get("WITHDRAWAL_BANDS")
    bands, source = bands_for(instrument, band_config)
    try:
        result = withdrawal.score(instrument, items, bands)
    except withdrawal.ItemError as exc:
        fields = {"items": [exc.message]}
        for index, message in sorted(exc.item_messages.items()):
            fields[f"items.{index}"] = [message]
            fields["items"].append(f"item {index + 1}: {message}")
        raise RuleViolation(exc.message, fields=fields) from exc
    when = assessed_at or now
    if when > now:
        raise field_error("assessed_at", "A score cannot be recorded for a future time.")
    if local(when).date() < episode.admitted_on:
        raise field_error("assessed_at", "The score is dated before the admission.")
    _require_active(episode)
    score = WithdrawalScore(
        episode_id=episode.id,
        instrument=result.instrument,
        items=list(items),
        total=result.total,
        band=result.band,
        rank=result.rank,
        is_severe=result.is_severe,
        bands_source=source,
        assessed_at=when,
        recorded_by_id=actor.id,
    )
    db.session.add(score)
    db.session.flush()
    record(actor, "withdrawal_score.create", score, patient_id=episode.patient_id)
    if score.is_severe:
        record(actor, "withdrawal_alert.raise", score, patient_id=episode.patient_id)
    return score


def acknowledge_alert(actor: Any, score: WithdrawalScore) -> WithdrawalScore:
    """Close a severe-score alert: a nurse or physician has seen it and is acting on it."""
    if not actor.has_role(*MEDICAL_ROLES):
        raise PermissionDenied("Only a nurse or physician may acknowledge a withdrawal alert.")
    if not score.is_severe:
        raise Conflict("This score raised no alert.")
    if score.acknowledged_at is not None:
        raise Conflict("This alert has already been acknowledged.")
    score.acknowledged_at = utcnow()
    score.acknowledged_by_id = actor.id
    db.session.flush()
    record(actor, "withdrawal_alert.acknowledge", score, patient_id=score.episode.patient_id)
    return score


def latest_score(episode: Episode) -> WithdrawalScore | None:
    """Return the episode's most recent withdrawal score."""
    return db.session.scalar(
        sa.select(WithdrawalScore)
        .where(WithdrawalScore.episode_id == episode.id)
        .order_by(WithdrawalScore.assessed_at.desc(), WithdrawalScore.id.desc())
        .limit(1)
    )


def withdrawal_settled(episode: Episode) -> bool:
    """Tell whether detox may end: at least one score, and the latest below severe."""
    latest = latest_score(episode)
    return latest is not None and not latest.is_severe


pathway.register_requirement(
    Stage.DIAGNOSIS,
    pathway.Requirement(
        "signed_diagnosis",
        "A signed diagnostic assessment (DSM-5 checklist, physical and psychological evaluation)",
        has_signed_diagnosis,
        "assessments.new_diagnosis",
    ),
)
pathway.register_requirement(
    Stage.DETOX,
    pathway.Requirement(
        "withdrawal_score",
        "At least one withdrawal score, the latest below severe",
        withdrawal_settled,
        "assessments.new_withdrawal_score",
    ),
)
pathway.restrict_exit(Stage.DETOX, frozenset({Role.PHYSICIAN, Role.NURSE}))
