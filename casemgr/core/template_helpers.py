"""Functions and filters every template can use."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask
from flask_login import current_user

from casemgr.clinical import teds
from casemgr.core.paging import page_url
from casemgr.core.permissions import Action, can
from casemgr.core.timeutil import local, today


def _can(action: str) -> bool:
    """Let templates show only what the signed-in user may use."""
    return can(current_user, Action(action))


def _datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show a stored UTC time in the program's zone."""
    return local(value).strftime(fmt) if value else ""


def _date(value: date | None) -> str:
    """Show a date the same way everywhere."""
    return value.isoformat() if value else ""


def register(app: Flask) -> None:
    """Install the globals and filters."""
    app.jinja_env.globals.update(can=_can, today=today, teds=teds, page_url=page_url)
    app.jinja_env.filters["dt"] = _datetime
    app.jinja_env.filters["d"] = _date

    @app.context_processor
    def _stage_labels() -> dict[str, Any]:
        from casemgr.episodes.models import STAGE_LABELS, Stage

        return {"stage_label": lambda s: STAGE_LABELS[Stage(s)] if s else ""}
