"""Pages: the module catalogue (admins manage it) and an episode's education record."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import fields

from casemgr.core.forms import run_form
from casemgr.core.permissions import Action, can, requires
from casemgr.core.schema import SHORT, FormInt, FormSchema, Text, id_field
from casemgr.core.timeutil import today
from casemgr.education import services
from casemgr.education.models import EducationDelivery, EducationModule
from casemgr.episodes.access import get_episode
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.chart import register_chart_section
from casemgr.patients.models import Patient

bp = Blueprint("education", __name__)
blueprints = (bp,)

ModuleForm = FormSchema.from_dict(
    {
        "title": Text(SHORT, required=True),
        "topic": Text(SHORT, required=True),
        "minutes": FormInt(required=True, validate=lambda v: 1 <= v <= 600),
        "core": fields.Boolean(load_default=False),
    },
    name="ModuleForm",
)
DeliveryForm = FormSchema.from_dict(
    {"module_id": id_field(form=True, required=True), "delivered_on": fields.Date(required=True)},
    name="DeliveryForm",
)


@bp.get("/education/modules")
@requires(Action.EDUCATION_MANAGE)
def catalogue() -> Any:
    """List the catalogue with the form to add a module."""
    return render_template(
        "education/catalogue.html", modules=services.modules(active_only=False), form={}, errors={}
    )


@bp.post("/education/modules")
@requires(Action.EDUCATION_MANAGE)
def create_module() -> Any:
    """Add a module."""
    form = request.form.to_dict()
    raw = {**form, "core": form.get("core") == "on"}
    result, errors, status = run_form(
        ModuleForm(), raw, lambda d: services.create_module(current_user, **d)
    )
    if result is not None:
        flash(f"Module “{result.title}” added.", "success")
        return redirect(url_for("education.catalogue"))
    return render_template(
        "education/catalogue.html",
        modules=services.modules(active_only=False),
        form=form,
        errors=errors,
    ), status


@bp.post("/education/modules/<int:module_id>")
@requires(Action.EDUCATION_MANAGE)
def update_module(module_id: int) -> Any:
    """Mark a module core or not, or retire or restore it."""
    module = db.session.get_one(EducationModule, module_id)
    change = request.form.get("change")
    updates = {
        "core": {"core": True},
        "optional": {"core": False},
        "retire": {"active": False},
        "restore": {"active": True},
    }.get(change or "")
    if updates is None:
        flash("Unknown change.", "danger")
    else:
        services.update_module(current_user, module, **updates)
        db.session.commit()
        flash("Module updated.", "success")
    return redirect(url_for("education.catalogue"))


def _episode_page(
    episode: Episode, form: dict[str, Any], errors: dict[str, Any], status: int
) -> Any:
    """Render an episode's education record."""
    deliveries = list(
        db.session.scalars(
            sa.select(EducationDelivery)
            .where(EducationDelivery.episode_id == episode.id)
            .order_by(EducationDelivery.delivered_on.desc(), EducationDelivery.id.desc())
            .options(
                sa.orm.joinedload(EducationDelivery.module),
                sa.orm.joinedload(EducationDelivery.delivered_by),
            )
        )
    )
    return render_template(
        "education/episode.html",
        episode=episode,
        deliveries=deliveries,
        modules=services.modules(),
        missing=services.missing_core_modules(episode.id),
        form=form or {"delivered_on": today().isoformat()},
        errors=errors,
    ), status


@bp.get("/episodes/<int:episode_id>/education")
@requires(Action.CLINICAL_VIEW)
def episode_education(episode_id: int) -> Any:
    """Show what the episode has been taught and which core modules remain."""
    episode = get_episode(current_user, episode_id, action="education.list")
    db.session.commit()
    return _episode_page(episode, {}, {}, 200)


@bp.post("/episodes/<int:episode_id>/education")
@requires(Action.EDUCATION_RECORD)
def deliver(episode_id: int) -> Any:
    """Record a module delivered."""
    episode = get_episode(current_user, episode_id, action="")
    form = request.form.to_dict()
    result, errors, status = run_form(
        DeliveryForm(), form, lambda d: services.record_delivery(current_user, episode, **d)
    )
    if result is not None:
        flash(f"Recorded: {result.module.title}.", "success")
        return redirect(url_for("education.episode_education", episode_id=episode.id))
    return _episode_page(episode, form, errors, status)


def _chart_section(actor: Any, patient: Patient, episodes: list[Episode]) -> dict[str, Any] | None:
    """Core modules done and remaining for the current episode (two queries)."""
    if not can(actor, Action.CLINICAL_VIEW) or not episodes:
        return None
    episode = episodes[0]
    delivered = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(EducationDelivery.module_id))).where(
            EducationDelivery.episode_id == episode.id
        )
    )
    return {
        "episode": episode,
        "delivered": delivered or 0,
        "missing": services.missing_core_modules(episode.id),
    }


register_chart_section("education", "education/_chart_education.html", _chart_section, 60)
