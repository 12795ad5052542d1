"""Length-of-stay arithmetic (DESIGN.md §2): day 1 is the admission day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class StayFigures:
    """The length-of-stay numbers every page and the API show for an episode."""

    day_of_stay: int | None  #: day N while active, None once discharged
    los_days: int  #: length of stay so far (final once discharged)
    target_date: date  #: the day the target is reached
    days_remaining: int | None  #: negative once past the target; None once discharged
    met_target: bool | None  #: None while active


def target_date(admitted_on: date, target_days: int) -> date:
    """Return the date on which day ``target_days`` of the stay falls."""
    return admitted_on + timedelta(days=target_days - 1)


def los_days(admitted_on: date, end: date) -> int:
    """Return the stay's length in days, counting both the first and the last day."""
    return (end - admitted_on).days + 1


def stay_figures(
    admitted_on: date, discharged_on: date | None, target_days: int, today: date
) -> StayFigures:
    """Compute the figures for an active (``discharged_on`` None) or discharged episode."""
    goal = target_date(admitted_on, target_days)
    if discharged_on is None:
        length = los_days(admitted_on, today)
        return StayFigures(length, length, goal, (goal - today).days, None)
    length = los_days(admitted_on, discharged_on)
    return StayFigures(None, length, goal, None, length >= target_days)
