"""The synthetic data generator: deterministic, consistent with the model's rules."""

from __future__ import annotations

import sqlalchemy as sa

from casemgr import datagen
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.therapy.models import TherapySession


def _fingerprint() -> tuple:
    episodes = db.session.execute(
        sa.select(
            Episode.admitted_on, Episode.discharged_on, Episode.discharge_reason, Episode.stage
        ).order_by(Episode.id)
    ).all()
    return tuple(episodes), db.session.scalar(sa.select(sa.func.count(TherapySession.id)))


def test_generation_is_deterministic_for_a_seed(app) -> None:
    counts = datagen.generate(40, years=2, seed=5)
    first = _fingerprint()
    assert counts.patients == 40
    assert counts.episodes >= 40
    db.session.rollback()
    datagen.generate(40, years=2, seed=5)
    assert _fingerprint() == first


def test_generated_episodes_keep_the_rules(app) -> None:
    datagen.generate(60, years=2, seed=9)
    # at most one active episode per patient (the partial unique index would refuse it too)
    per_patient = db.session.execute(
        sa.select(Episode.patient_id, sa.func.count())
        .where(Episode.status == "active")
        .group_by(Episode.patient_id)
    ).all()
    assert all(n == 1 for _, n in per_patient)
    # discharged episodes end with a "discharged" stage row and have a reason
    discharged = db.session.scalars(sa.select(Episode).where(Episode.status == "discharged")).all()
    assert discharged
    for episode in discharged[:20]:
        assert episode.discharge_reason is not None
        last = db.session.scalars(
            sa.select(StageChange)
            .where(StageChange.episode_id == episode.id)
            .order_by(StageChange.at.desc())
        ).first()
        assert last.to_stage == "discharged"
