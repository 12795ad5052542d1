"""The program's local "today": length of stay counts calendar days where the program is."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from casemgr.core.db import utcnow


def program_zone() -> ZoneInfo:
    """Return the program's time zone (CASEMGR_TIMEZONE)."""
    return ZoneInfo(current_app.config.get("CASEMGR_TIMEZONE", "UTC"))


def today() -> date:
    """Return today's date in the program's time zone."""
    return utcnow().astimezone(program_zone()).date()


def local(moment: datetime) -> datetime:
    """Convert a stored UTC datetime to the program's zone for display."""
    return moment.astimezone(program_zone())
