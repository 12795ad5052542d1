"""JSON API for episodes (shared/API.md "Episodes")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from casemgr.audit.services import record
from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint
from casemgr.core.schema import PageArgs
from casemgr.episodes import queries, services
from casemgr.episodes.access import get_episode, get_patient, visible_episodes_clause
from casemgr.episodes.models import StageChange
from casemgr.episodes.schemas import (
    DischargeIn,
    EpisodeCreate,
    EpisodeListOut,
    EpisodeOut,
    EpisodeQuery,
    StageHistoryOut,
    StageMoveIn,
)
from casemgr.extensions import db

blp = Blueprint("api_episodes", __name__, url_prefix="/api/v1", description="Episodes")
blueprints = (blp,)


@blp.route("/patients/<int:patient_id>/episodes", methods=["POST"])
@blp.arguments(EpisodeCreate)
@blp.response(201, EpisodeOut)
@requires(Action.EPISODE_ADMIT)
def admit(data: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Admit a patient: open an episode (409 when one is already active)."""
    patient = get_patient(current_user, patient_id, action="")
    episode = services.admit(current_user, patient, **data)
    db.session.commit()
    return queries.present(episode, queries.is_at_risk(episode))


@blp.route("/episodes", methods=["GET"])
@blp.arguments(EpisodeQuery, location="query")
@blp.response(200, EpisodeListOut)
@requires(Action.EPISODE_VIEW)
def list_episodes(args: dict[str, Any]) -> dict[str, Any]:
    """List episodes the caller may see, with filters."""
    result = queries.list_episodes(visible_episodes_clause(current_user), **args)
    record(current_user, "episode.list")
    db.session.commit()
    return result


@blp.route("/episodes/<int:episode_id>", methods=["GET"])
@blp.response(200, EpisodeOut)
@requires(Action.EPISODE_VIEW)
def get_episode_view(episode_id: int) -> dict[str, Any]:
    """Return one episode with its length-of-stay figures."""
    episode = get_episode(current_user, episode_id)
    db.session.commit()
    return queries.present(episode, queries.is_at_risk(episode))


@blp.route("/episodes/<int:episode_id>/stages", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, StageHistoryOut)
@requires(Action.EPISODE_VIEW)
def stage_history(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """Return the episode's stage history, oldest first."""
    episode = get_episode(current_user, episode_id, action="episode.stages_view")
    query = sa.select(StageChange).where(StageChange.episode_id == episode.id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.order_by(StageChange.id)
        .limit(args["per_page"])
        .offset((args["page"] - 1) * args["per_page"])
    ).all()
    db.session.commit()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.route("/episodes/<int:episode_id>/discharge", methods=["POST"])
@blp.arguments(DischargeIn)
@blp.response(200, EpisodeOut)
@requires(Action.EPISODE_DISCHARGE)
def discharge(data: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """Discharge an episode with its TEDS reason."""
    episode = get_episode(current_user, episode_id, action="")
    services.discharge(current_user, episode, **data)
    db.session.commit()
    return queries.present(episode, False)


@blp.route("/episodes/<int:episode_id>/stage", methods=["POST"])
@blp.arguments(StageMoveIn)
@blp.response(200, EpisodeOut)
@requires(Action.EPISODE_MOVE_STAGE)
def move_stage(data: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """Move the episode to another stage (409 with ``missing`` when requirements are unmet)."""
    episode = get_episode(current_user, episode_id, action="")
    services.move_stage(current_user, episode, **data)
    db.session.commit()
    return queries.present(episode, queries.is_at_risk(episode))
