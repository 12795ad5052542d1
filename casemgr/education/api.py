"""JSON API for education (shared/API.md "Plans and education")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_login import current_user

from casemgr.core.permissions import Action, requires
from casemgr.core.rest import Blueprint, paginate
from casemgr.core.schema import PageArgs
from casemgr.education import services
from casemgr.education.models import EducationDelivery, EducationModule
from casemgr.education.schemas import (
    DeliveryIn,
    DeliveryListOut,
    DeliveryOut,
    ModuleIn,
    ModuleListOut,
    ModuleOut,
    ModuleQuery,
    ModuleUpdate,
)
from casemgr.episodes.access import get_episode
from casemgr.extensions import db

blp = Blueprint("api_education", __name__, url_prefix="/api/v1", description="Education")
blueprints = (blp,)


@blp.route("/education-modules", methods=["GET"])
@blp.arguments(ModuleQuery, location="query")
@blp.response(200, ModuleListOut)
@requires(Action.SIGNED_IN)
def list_modules(args: dict[str, Any]) -> dict[str, Any]:
    """List the catalogue (program data, no patient data), core modules first."""
    query = sa.select(EducationModule).order_by(EducationModule.core.desc(), EducationModule.title)
    if not args["include_retired"]:
        query = query.where(EducationModule.active.is_(True))
    return paginate(query, args["page"], args["per_page"])


@blp.route("/education-modules", methods=["POST"])
@blp.arguments(ModuleIn)
@blp.response(201, ModuleOut)
@requires(Action.EDUCATION_MANAGE)
def create_module(data: dict[str, Any]) -> EducationModule:
    """Add a module to the catalogue (409 for a title already used)."""
    module = services.create_module(current_user, **data)
    db.session.commit()
    return module


@blp.route("/education-modules/<int:module_id>", methods=["PATCH"])
@blp.arguments(ModuleUpdate)
@blp.response(200, ModuleOut)
@requires(Action.EDUCATION_MANAGE)
def update_module(data: dict[str, Any], module_id: int) -> EducationModule:
    """Change a module's details or core flag, or retire it."""
    module = db.session.get_one(EducationModule, module_id)
    services.update_module(current_user, module, **data)
    db.session.commit()
    return module


@blp.route("/episodes/<int:episode_id>/education", methods=["POST"])
@blp.arguments(DeliveryIn)
@blp.response(201, DeliveryOut)
@requires(Action.EDUCATION_RECORD)
def deliver(data: dict[str, Any], episode_id: int) -> EducationDelivery:
    """Record a module delivered to the episode."""
    episode = get_episode(current_user, episode_id, action="")
    delivery = services.record_delivery(current_user, episode, **data)
    db.session.commit()
    return delivery


@blp.route("/episodes/<int:episode_id>/education", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, DeliveryListOut)
@requires(Action.CLINICAL_VIEW)
def list_deliveries(args: dict[str, Any], episode_id: int) -> dict[str, Any]:
    """List the modules delivered to the episode, newest first."""
    episode = get_episode(current_user, episode_id, action="education.list")
    query = (
        sa.select(EducationDelivery)
        .where(EducationDelivery.episode_id == episode.id)
        .order_by(EducationDelivery.delivered_on.desc(), EducationDelivery.id.desc())
        .options(sa.orm.joinedload(EducationDelivery.module))
    )
    page = paginate(query, args["page"], args["per_page"])
    db.session.commit()
    return page
