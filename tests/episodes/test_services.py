"""Episode rules: one active episode, admission checks, stage moves, discharge, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from casemgr.audit.models import AuditEvent
from casemgr.core.errors import Conflict, PermissionDenied, RuleViolation
from casemgr.core.permissions import Role
from casemgr.core.timeutil import today
from casemgr.episodes import pathway, services
from casemgr.episodes.models import Episode, Stage, StageChange
from casemgr.extensions import db
from tests.factories import (
    admit,
    make_diagnosis,
    make_level_of_care,
    make_patient,
    make_score,
    make_staff,
)

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def counselor():
    return make_staff("counselor")


@pytest.fixture
def supervisor():
    return make_staff("supervisor")


def test_admission_opens_diagnosis_with_history_row_and_audit(counselor) -> None:
    patient = make_patient()
    episode = admit(patient, counselor, days_ago=3)
    assert (episode.status, episode.stage) == ("active", "diagnosis")
    history = db.session.scalars(
        sa.select(StageChange).where(StageChange.episode_id == episode.id)
    ).all()
    assert [(h.from_stage, h.to_stage) for h in history] == [(None, "diagnosis")]
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "episode.create")
    ).one()
    assert (event.object_id, event.patient_id) == (episode.id, patient.id)


def test_second_active_episode_is_refused(counselor) -> None:
    patient = make_patient()
    admit(patient, counselor)
    with pytest.raises(Conflict, match="already has an active episode"):
        admit(patient, counselor)


def test_database_refuses_second_active_episode_even_bypassing_the_service(counselor) -> None:
    patient = make_patient()
    first = admit(patient, counselor)
    duplicate = Episode(
        patient_id=patient.id,
        status="active",
        stage="diagnosis",
        admitted_on=first.admitted_on,
        primary_counselor_id=counselor.id,
        los_target_days=90,
        primary_substance=13,
        referral_source=1,
        service_setting=5,
    )
    db.session.begin_nested()
    db.session.add(duplicate)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_readmission_after_discharge_is_a_new_episode(counselor) -> None:
    patient = make_patient()
    first = admit(patient, counselor, days_ago=40)
    services.discharge(counselor, first, discharged_on=today() - timedelta(days=5), reason=1)
    second = admit(patient, counselor)
    assert second.id != first.id
    assert second.status == "active"


def test_admission_in_the_future_is_refused(counselor) -> None:
    with pytest.raises(RuleViolation) as err:
        admit(make_patient(), counselor, days_ago=-1)
    assert "admitted_on" in err.value.fields


@pytest.mark.parametrize("role", ["nurse", "intake", "admin", "physician"])
def test_primary_counselor_must_be_counselor_or_supervisor(role: str, counselor) -> None:
    other = make_staff(role)
    with pytest.raises(RuleViolation) as err:
        admit(make_patient(), counselor, primary_counselor_id=other.id)
    assert "primary_counselor_id" in err.value.fields


def test_inactive_counselor_cannot_be_primary(counselor) -> None:
    inactive = make_staff("counselor", active=False)
    with pytest.raises(RuleViolation):
        admit(make_patient(), counselor, primary_counselor_id=inactive.id)


def test_discharge_before_admission_is_refused(counselor) -> None:
    episode = admit(make_patient(), counselor, days_ago=5)
    with pytest.raises(RuleViolation) as err:
        services.discharge(
            counselor, episode, discharged_on=episode.admitted_on - timedelta(days=1), reason=1
        )
    assert "discharged_on" in err.value.fields


def test_discharge_in_the_future_is_refused(counselor) -> None:
    episode = admit(make_patient(), counselor, days_ago=5)
    with pytest.raises(RuleViolation):
        services.discharge(counselor, episode, discharged_on=today() + timedelta(days=1), reason=1)


def test_only_primary_counselor_supervisor_or_physician_discharge(counselor) -> None:
    episode = admit(make_patient(), counselor, days_ago=5)
    with pytest.raises(PermissionDenied):
        services.discharge(make_staff("counselor"), episode, discharged_on=today(), reason=1)
    services.discharge(make_staff("physician"), episode, discharged_on=today(), reason=2)
    assert episode.stage == "discharged"


def test_discharge_closes_episode_and_records_history(counselor) -> None:
    episode = admit(make_patient(), counselor, days_ago=5)
    services.discharge(counselor, episode, discharged_on=today(), reason=1, service_setting=5)
    assert (episode.status, episode.discharge_reason) == ("discharged", 1)
    last = episode.stage_changes[-1]
    assert (last.from_stage, last.to_stage) == ("diagnosis", "discharged")
    with pytest.raises(Conflict):
        services.discharge(counselor, episode, discharged_on=today(), reason=1)


def _diagnosed(episode: Episode) -> Episode:
    """Give an episode what leaving diagnosis needs: a signed assessment and a level of care."""
    physician = make_staff("physician")
    make_diagnosis(episode, physician)
    make_level_of_care(episode, physician)
    return episode


def test_forward_move_by_one_stage_needs_no_reason(counselor) -> None:
    episode = _diagnosed(admit(make_patient(), counselor))
    change = services.move_stage(counselor, episode, "detox")
    assert (change.from_stage, change.to_stage, change.override) == ("diagnosis", "detox", False)
    assert episode.stage == "detox"


@pytest.mark.parametrize("target", ["taper", "therapy"])
def test_skipping_a_stage_needs_a_reason(counselor, target: str) -> None:
    # Skipping detox (and taper) is a medical decision, so a physician makes it here.
    physician = make_staff("physician")
    episode = _diagnosed(admit(make_patient(), counselor))
    with pytest.raises(RuleViolation) as err:
        services.move_stage(physician, episode, target)
    assert "reason" in err.value.fields
    services.move_stage(physician, episode, target, reason="No physical dependence")
    assert episode.stage == target


@pytest.mark.parametrize("target", ["taper", "plan", "therapy"])
def test_counselor_cannot_skip_over_a_medical_stage(counselor, target: str) -> None:
    episode = _diagnosed(admit(make_patient(), counselor))
    with pytest.raises(PermissionDenied):
        services.move_stage(counselor, episode, target, reason="No physical dependence")
    assert episode.stage == "diagnosis"


def test_going_back_needs_a_reason(counselor) -> None:
    episode = _diagnosed(admit(make_patient(), counselor))
    services.move_stage(counselor, episode, "detox")
    with pytest.raises(RuleViolation):
        services.move_stage(counselor, episode, "diagnosis")
    services.move_stage(counselor, episode, "diagnosis", reason="Relapse; re-assess")
    assert [c.to_stage for c in episode.stage_changes] == ["diagnosis", "detox", "diagnosis"]


@pytest.mark.parametrize("target", ["discharged", "nowhere", "diagnosis"])
def test_invalid_targets_are_field_errors(counselor, target: str) -> None:
    episode = admit(make_patient(), counselor)
    with pytest.raises(RuleViolation) as err:
        services.move_stage(counselor, episode, target, reason="x")
    assert "to_stage" in err.value.fields


def test_moving_a_discharged_episode_is_a_conflict(counselor) -> None:
    episode = admit(make_patient(), counselor, days_ago=3)
    services.discharge(counselor, episode, discharged_on=today(), reason=1)
    with pytest.raises(Conflict):
        services.move_stage(counselor, episode, "detox")


@pytest.fixture
def detox_requirement():
    """Register a temporary requirement on leaving diagnosis, restored afterwards."""
    saved = dict(pathway.EXIT_RULES)
    pathway.register_requirement(
        Stage.DIAGNOSIS,
        pathway.Requirement("signed_diagnosis", "A signed diagnostic assessment", lambda e: False),
    )
    pathway.restrict_exit(Stage.DETOX, frozenset({Role.PHYSICIAN, Role.NURSE}))
    yield
    pathway.EXIT_RULES.clear()
    pathway.EXIT_RULES.update(saved)


@pytest.mark.usefixtures("detox_requirement")
def test_unmet_requirements_refuse_with_their_codes(counselor) -> None:
    episode = admit(make_patient(), counselor)
    with pytest.raises(Conflict) as err:
        services.move_stage(counselor, episode, "detox")
    assert err.value.extra["missing"] == ["signed_diagnosis", "level_of_care"]
    assert episode.stage == "diagnosis"


@pytest.mark.usefixtures("detox_requirement")
def test_supervisor_override_needs_reason_and_is_recorded(counselor, supervisor) -> None:
    episode = admit(make_patient(), counselor)
    with pytest.raises(PermissionDenied):
        services.move_stage(counselor, episode, "detox", reason="urgent", override=True)
    with pytest.raises(RuleViolation):
        services.move_stage(supervisor, episode, "detox", override=True)
    change = services.move_stage(
        supervisor, episode, "detox", reason="Assessment signed on paper", override=True
    )
    assert change.override is True
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "episode.stage_override" in actions


@pytest.mark.usefixtures("detox_requirement")
def test_medical_only_exit_refuses_counselor(counselor) -> None:
    episode = admit(make_patient(), counselor)
    services.move_stage(make_staff("supervisor"), episode, "detox", reason="r", override=True)
    with pytest.raises(PermissionDenied):
        services.move_stage(counselor, episode, "taper")
    nurse = make_staff("nurse")
    make_score(episode, nurse)
    services.move_stage(nurse, episode, "taper")
    assert episode.stage == "taper"


def test_readmission_cannot_start_before_the_previous_discharge(counselor) -> None:
    patient = make_patient()
    first = admit(patient, counselor, days_ago=40)
    services.discharge(counselor, first, discharged_on=today() - timedelta(days=10), reason=1)
    with pytest.raises(RuleViolation) as err:
        admit(patient, counselor, days_ago=20)
    assert "admitted_on" in err.value.fields
    assert admit(patient, counselor, days_ago=10).status == "active"  # same day is allowed


def test_backdated_admission_and_discharge_rows_carry_their_own_days(counselor) -> None:
    from casemgr.core.timeutil import local

    episode = admit(make_patient(), counselor, days_ago=30)
    services.discharge(counselor, episode, discharged_on=today() - timedelta(days=5), reason=1)
    first, last = episode.stage_changes[0], episode.stage_changes[-1]
    assert local(first.at).date() == episode.admitted_on
    assert local(last.at).date() == episode.discharged_on
