"""Education rules: the catalogue (admins) and deliveries; the core_education requirement."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from casemgr.audit.services import record
from casemgr.core.errors import Conflict, field_error
from casemgr.core.timeutil import today
from casemgr.education.models import EducationDelivery, EducationModule
from casemgr.episodes import pathway
from casemgr.episodes.models import Episode, Stage
from casemgr.extensions import db


def create_module(
    actor: Any, *, title: str, topic: str, minutes: int, core: bool = False
) -> EducationModule:
    """Add a module to the catalogue (titles are unique)."""
    title = title.strip()
    exists = db.session.scalar(
        sa.select(EducationModule.id).where(sa.func.lower(EducationModule.title) == title.lower())
    )
    if exists is not None:
        raise Conflict("A module with this title exists.", fields={"title": ["Already used."]})
    module = EducationModule(title=title, topic=topic.strip(), minutes=minutes, core=core)
    try:
        with db.session.begin_nested():
            db.session.add(module)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict("A module with this title exists.") from exc
    record(actor, "education_module.create", module)
    return module


def update_module(actor: Any, module: EducationModule, **fields: Any) -> EducationModule:
    """Change a module's core flag or retire it (records that name it stay)."""
    for name in ("core", "active", "topic", "minutes"):
        if name in fields and fields[name] is not None:
            setattr(module, name, fields[name])
    db.session.flush()
    record(actor, "education_module.update", module)
    return module


def modules(active_only: bool = True) -> list[EducationModule]:
    """List the catalogue, core modules first."""
    query = sa.select(EducationModule).order_by(EducationModule.core.desc(), EducationModule.title)
    if active_only:
        query = query.where(EducationModule.active.is_(True))
    return list(db.session.scalars(query))


def record_delivery(
    actor: Any, episode: Episode, *, module_id: int, delivered_on: date
) -> EducationDelivery:
    """Record that a module was delivered to an episode on a day."""
    module = db.session.get(EducationModule, module_id)
    if module is None or not module.active:
        raise field_error("module_id", "Choose a module from the catalogue.")
    if delivered_on > today():
        raise field_error("delivered_on", "The delivery date cannot be in the future.")
    if delivered_on < episode.admitted_on:
        raise field_error("delivered_on", "The delivery date is before the admission.")
    if not episode.is_active:
        raise Conflict("This episode is discharged; no new records can be added.")
    delivery = EducationDelivery(
        episode_id=episode.id,
        module_id=module.id,
        delivered_on=delivered_on,
        delivered_by_id=actor.id,
    )
    db.session.add(delivery)
    db.session.flush()
    record(actor, "education.deliver", delivery, patient_id=episode.patient_id)
    return delivery


def missing_core_modules(episode_id: int) -> list[EducationModule]:
    """Return the active core modules not yet delivered to the episode."""
    delivered = sa.select(EducationDelivery.module_id).where(
        EducationDelivery.episode_id == episode_id
    )
    return list(
        db.session.scalars(
            sa.select(EducationModule)
            .where(
                EducationModule.core.is_(True),
                EducationModule.active.is_(True),
                EducationModule.id.not_in(delivered),
            )
            .order_by(EducationModule.title)
        )
    )


def core_education_done(episode: Episode) -> bool:
    """Tell whether every core module has been delivered (exit from education)."""
    return not missing_core_modules(episode.id)


pathway.register_requirement(
    Stage.EDUCATION,
    pathway.Requirement(
        "core_education",
        "Every core education module delivered",
        core_education_done,
        "education.episode_education",
    ),
)
