"""The synthetic data generator: deterministic, and every row keeps the app's rules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from casemgr import datagen
from casemgr.assessments.models import DiagnosticAssessment, WithdrawalScore
from casemgr.audit import chain
from casemgr.audit.models import AuditChainHead, AuditEvent
from casemgr.clinical import asam, dsm5, taper, withdrawal
from casemgr.core.db import utcnow
from casemgr.core.timeutil import today
from casemgr.datagen.history import ID_TABLES, SHOWCASE_SESSIONS
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.medication.models import DoseRecord, TaperPlan, TaperStep
from casemgr.patients import mrn as mrn_rules
from casemgr.patients.models import Patient
from casemgr.plans.models import LevelOfCareDecision, TreatmentPlan
from casemgr.staff.models import StaffRole
from casemgr.therapy.models import Note, TherapySession
from casemgr.therapy.services import check_body

PATIENTS = 25
YEARS = 1


@pytest.fixture
def counts(app: Flask) -> datagen.Counts:
    """A small generated history in the test's transaction."""
    return datagen.generate(PATIENTS, years=YEARS, seed=9, audit_days=None)


def _snapshot(tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of the given tables, in primary-key order."""
    result = {}
    for name in tables:
        table = db.metadata.tables[name]
        query = sa.select(table).order_by(*table.primary_key.columns)
        result[name] = [tuple(row) for row in db.session.execute(query)]
    return result


def test_generation_is_deterministic_for_a_seed(app: Flask) -> None:
    first_counts = datagen.generate(PATIENTS, years=YEARS, seed=5)
    first = _snapshot(list(first_counts.tables))
    db.session.rollback()
    second_counts = datagen.generate(PATIENTS, years=YEARS, seed=5)
    assert second_counts == first_counts
    assert _snapshot(list(second_counts.tables)) == first
    assert first_counts.patients == PATIENTS
    assert first_counts.episodes >= PATIENTS
    assert first_counts.notes > 0
    assert first_counts.audit_events == len(first["audit_events"])


def test_a_different_seed_writes_a_different_history(app: Flask) -> None:
    datagen.generate(PATIENTS, years=YEARS, seed=5)
    first = _snapshot(["episodes", "notes"])
    db.session.rollback()
    datagen.generate(PATIENTS, years=YEARS, seed=6)
    assert _snapshot(["episodes", "notes"]) != first


def test_staff_hold_every_role_at_caseload_ratios(counts: datagen.Counts) -> None:
    roles = Counter(db.session.scalars(sa.select(StaffRole.role)))
    assert set(roles) == {"admin", "supervisor", "physician", "nurse", "counselor", "intake"}
    active = db.session.scalar(
        sa.select(sa.func.count()).select_from(Episode).where(Episode.status == "active")
    )
    assert roles["counselor"] >= 4
    assert active / roles["counselor"] < 40  # no counselor pool far beyond outpatient 1:35


def test_episodes_keep_the_stage_rules(counts: datagen.Counts) -> None:
    # at most one active episode per patient (the partial unique index would refuse it too)
    per_patient = db.session.execute(
        sa.select(Episode.patient_id, sa.func.count())
        .where(Episode.status == "active")
        .group_by(Episode.patient_id)
    ).all()
    assert per_patient
    assert all(n == 1 for _, n in per_patient)
    changes: dict[int, list[StageChange]] = {}
    for change in db.session.scalars(sa.select(StageChange).order_by(StageChange.id)):
        changes.setdefault(change.episode_id, []).append(change)
    episodes = db.session.scalars(sa.select(Episode)).all()
    assert any(e.status == "discharged" for e in episodes)
    for episode in episodes:
        history = changes[episode.id]
        # the history walks forward, and its last row is the episode's stage
        assert history[0].from_stage is None
        assert history[0].to_stage == "diagnosis"
        for before, after in zip(history, history[1:], strict=False):
            assert after.from_stage == before.to_stage
            assert after.at >= before.at
        assert history[-1].to_stage == episode.stage
        if episode.status == "discharged":
            assert episode.stage == "discharged"
            assert episode.discharge_reason is not None
            assert episode.discharged_on < today()
        else:
            assert episode.discharged_on is None


def test_each_stage_exit_has_its_records(counts: datagen.Counts) -> None:
    exits = {
        (c.episode_id, c.from_stage): c
        for c in db.session.scalars(sa.select(StageChange).where(StageChange.reason.is_(None)))
    }
    for (episode_id, stage), change in exits.items():
        if stage == "diagnosis":
            signed = db.session.scalar(
                sa.select(DiagnosticAssessment.signed_at).where(
                    DiagnosticAssessment.episode_id == episode_id
                )
            )
            assert signed is not None
            assert signed < change.at
            assert db.session.scalar(
                sa.select(sa.func.count()).where(LevelOfCareDecision.episode_id == episode_id)
            )
        if stage == "detox":
            latest = db.session.scalars(
                sa.select(WithdrawalScore)
                .where(
                    WithdrawalScore.episode_id == episode_id,
                    WithdrawalScore.assessed_at < change.at,
                )
                .order_by(WithdrawalScore.assessed_at.desc())
            ).first()
            assert latest is not None
            assert not latest.is_severe
        if stage == "plan":
            assert db.session.scalar(
                sa.select(sa.func.count()).where(
                    TreatmentPlan.episode_id == episode_id,
                    TreatmentPlan.status == "signed",
                    TreatmentPlan.signed_at < change.at,
                )
            )


def test_dsm5_severity_matches_the_criteria_count(counts: datagen.Counts) -> None:
    rows = db.session.execute(
        sa.select(DiagnosticAssessment, Episode.primary_substance).join(Episode)
    ).all()
    assert len(rows) >= PATIENTS
    for assessment, substance in rows:
        expected = dsm5.assess(assessment.criteria, assessment.medical_supervision, substance)
        assert (assessment.criteria_counted, assessment.severity, assessment.icd10) == (
            expected.criteria_counted,
            expected.severity,
            expected.icd10,
        )
        assert (assessment.signed_at is None) == (assessment.signed_by_id is None)


def test_withdrawal_bands_match_the_clinical_banding(counts: datagen.Counts) -> None:
    scores = db.session.scalars(sa.select(WithdrawalScore)).all()
    assert {s.instrument for s in scores} >= {"CIWA-Ar"}
    for score in scores:
        result = withdrawal.score(score.instrument, score.items)
        assert (score.total, score.band, score.rank, score.is_severe) == (
            result.total,
            result.band,
            result.rank,
            result.is_severe,
        )
        if score.acknowledged_at is not None:
            assert score.is_severe
            assert score.acknowledged_at > score.assessed_at


def test_levels_of_care_map_as_the_asam_module_says(counts: datagen.Counts) -> None:
    rows = db.session.execute(
        sa.select(LevelOfCareDecision, Episode.los_target_days).join(Episode)
    ).all()
    assert rows
    for decision, target in rows:
        level, edition = decision.level, decision.asam_edition
        assert asam.validate_level(level, edition) == level
        assert decision.setting == asam.setting(level, edition)
        assert decision.teds_service_setting == asam.teds_service_setting(level, edition, target)
        needs = asam.needs_discrepancy_reason(decision.dimensions, level, edition)
        assert needs == (decision.discrepancy_reason is not None)


def test_taper_schedules_are_the_clinical_generators(counts: datagen.Counts) -> None:
    plans = db.session.scalars(sa.select(TaperPlan)).all()
    for plan in plans:
        params = taper.TaperParams(
            plan.medication,
            plan.start_dose_mg,
            plan.reduction_percent,
            plan.interval_days,
            plan.dose_increment_mg,
            plan.start_on,
        )
        expected = [
            (s.step, s.starts_on, s.daily_dose_mg, s.diazepam_equivalent_mg)
            for s in taper.generate(params, plan.equivalence_source)
        ]
        steps = db.session.scalars(
            sa.select(TaperStep).where(TaperStep.plan_id == plan.id).order_by(TaperStep.step)
        ).all()
        assert [
            (s.step, s.starts_on, s.daily_dose_mg, s.diazepam_equivalent_mg) for s in steps
        ] == expected
        assert plan.ends_on == expected[-1][1]
        for dose in db.session.scalars(sa.select(DoseRecord).where(DoseRecord.plan_id == plan.id)):
            assert dose.dose_mg == plan.dose_on(dose.given_at.date())
            assert dose.dose_mg > Decimal(0)


def test_attended_sessions_have_notes_and_signed_notes_are_locked(
    counts: datagen.Counts,
) -> None:
    sessions = db.session.scalars(sa.select(TherapySession)).all()
    notes = {n.session_id: n for n in db.session.scalars(sa.select(Note))}
    assert len(notes) == counts.notes
    now = utcnow()
    for session in sessions:
        note = notes.get(session.id)
        if session.attendance in ("attended", "late"):
            assert note is not None
            assert note.episode_id == session.episode_id
            assert note.author_id == session.counselor_id
            assert note.created_at > session.started_at
            assert check_body(note.format, note.body) == note.body
            if note.signed_at is None:
                assert note.status == "draft"
            else:
                assert note.status in ("signed", "awaiting_cosign")
                assert note.created_at <= note.signed_at < now
        else:
            assert note is None
        if session.attendance == "scheduled":
            assert session.started_at.date() >= today() - timedelta(days=1)
        else:
            assert session.started_at < now
    statuses = Counter(n.status for n in notes.values())
    assert statuses["signed"] > 0.9 * len(notes)
    signed = next(n for n in notes.values() if n.status == "signed")
    # inserted already signed: the database's lock trigger refuses to change the body
    with pytest.raises(sa.exc.DBAPIError), db.session.begin_nested():
        db.session.execute(
            sa.update(Note).where(Note.id == signed.id).values(body={"text": "changed"})
        )


def test_the_audit_chain_verifies(counts: datagen.Counts) -> None:
    result = chain.verify(db.session.connection())
    assert result.ok, result
    assert result.checked == counts.audit_events
    head = db.session.get(AuditChainHead, 1)
    assert head.length == counts.audit_events
    actions = Counter(db.session.scalars(sa.select(AuditEvent.action)))
    # one create event per session and note written
    assert actions["session.create"] + actions["session.plan"] == counts.sessions
    assert actions["note.create"] == counts.notes
    assert actions["note.sign"] > 0
    assert actions["patient.view"] > 0
    assert actions["auth.login"] > 0
    # ids follow time, as the app appends them
    times = db.session.scalars(sa.select(AuditEvent.at).order_by(AuditEvent.id)).all()
    assert times == sorted(times)
    assert times[-1] < utcnow()


def test_a_bounded_audit_trail_follows_the_existing_chain(app: Flask) -> None:
    from casemgr.audit.services import record

    record(None, "auth.login_failed")  # an event the generated trail must link to
    before = db.session.get(AuditChainHead, 1).length
    counts = datagen.generate(PATIENTS, years=YEARS, seed=9, audit_days=30)
    assert counts.audit_since == today() - timedelta(days=30)
    result = chain.verify(db.session.connection())
    assert result.ok, result
    assert result.checked == before + counts.audit_events
    oldest = db.session.scalar(
        sa.select(sa.func.min(AuditEvent.at)).where(AuditEvent.action != "auth.login_failed")
    )
    assert oldest.date() >= counts.audit_since - timedelta(days=1)


def test_the_showcase_patient_has_an_active_episode_with_500_sessions(
    counts: datagen.Counts,
) -> None:
    patient = db.session.get(Patient, counts.showcase_patient_id)
    assert patient is not None
    assert patient.mrn == counts.showcase_mrn
    assert mrn_rules.is_valid(patient.mrn)
    episode = db.session.get(Episode, counts.showcase_episode_id)
    assert episode.patient_id == patient.id
    assert episode.status == "active"
    sessions = db.session.scalar(
        sa.select(sa.func.count()).where(TherapySession.episode_id == episode.id)
    )
    notes = db.session.scalar(sa.select(sa.func.count()).where(Note.episode_id == episode.id))
    assert sessions == notes == SHOWCASE_SESSIONS


def test_postgresql_sequences_move_past_generated_ids(app: Flask, counts: datagen.Counts) -> None:
    if app.config["TEST_DATABASE_KIND"] != "postgresql":
        pytest.skip("sequences are PostgreSQL's")
    for table in ID_TABLES:
        last = db.session.scalar(
            sa.text(f"SELECT last_value FROM {table}_id_seq")  # noqa: S608  (our table names)
        )
        highest = db.session.scalar(sa.text(f"SELECT COALESCE(MAX(id), 1) FROM {table}"))  # noqa: S608
        assert last >= highest, table


def test_generate_data_command_prints_counts_and_the_showcase(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["generate-data", "--patients", "12", "--years", "1", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    showcase = db.session.scalar(sa.select(Patient).where(Patient.mrn == datagen.SHOWCASE_MRN))
    assert showcase is not None
    assert f"Showcase patient: id {showcase.id}, MRN {datagen.SHOWCASE_MRN}" in result.output
    printed = {
        parts[0]: int(parts[1].replace(",", ""))
        for parts in (line.split() for line in result.output.splitlines())
        if len(parts) == 2 and parts[1].replace(",", "").isdigit()
    }
    assert printed["notes"] == db.session.scalar(sa.select(sa.func.count()).select_from(Note))
    assert printed["audit_events"] > 0
    assert "audit trail: since" in result.output
