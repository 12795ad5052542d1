"""The demo program's patients have the records of every stage they have left."""

from __future__ import annotations

import sqlalchemy as sa

from casemgr.education.models import EducationModule
from casemgr.episodes import pathway
from casemgr.episodes.models import TREATMENT_STAGES, Episode, Stage
from casemgr.extensions import db


def test_demo_episodes_meet_the_requirements_of_stages_they_left(app) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    titles = set(db.session.scalars(sa.select(EducationModule.title).where(EducationModule.core)))
    assert {"How addiction develops", "Relapse prevention", "Family and support"} <= titles
    checked = 0
    for episode in db.session.scalars(sa.select(Episode)):
        reached = Stage(episode.stage)
        if reached is Stage.DISCHARGED:
            reached = Stage(episode.stage_changes[-1].from_stage)
        for stage in TREATMENT_STAGES[: reached.position]:
            assert pathway.missing_requirements(episode, stage) == [], (episode.id, stage)
            checked += 1
    assert checked > 30
