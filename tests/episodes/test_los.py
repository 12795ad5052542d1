"""Length-of-stay arithmetic at its edges (DESIGN.md §2): day 1 is the admission day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from casemgr.clinical.teds import los_band
from casemgr.episodes.los import los_days, stay_figures, target_date

ADMITTED = date(2026, 1, 1)


def test_same_day_discharge_is_one_day() -> None:
    figures = stay_figures(ADMITTED, ADMITTED, 90, today=date(2026, 6, 1))
    assert figures.los_days == 1
    assert figures.met_target is False
    assert figures.day_of_stay is None
    assert figures.days_remaining is None


def test_admission_day_is_day_one() -> None:
    figures = stay_figures(ADMITTED, None, 90, today=ADMITTED)
    assert figures.day_of_stay == 1
    assert figures.los_days == 1
    assert figures.days_remaining == 89
    assert figures.met_target is None


def test_day_ninety_falls_on_admission_plus_89_days() -> None:
    assert target_date(ADMITTED, 90) == ADMITTED + timedelta(days=89)
    figures = stay_figures(ADMITTED, None, 90, today=ADMITTED + timedelta(days=89))
    assert figures.day_of_stay == 90
    assert figures.days_remaining == 0


@pytest.mark.parametrize(("extra_days", "met"), [(88, False), (89, True), (120, True)])
def test_target_met_from_day_ninety(extra_days: int, met: bool) -> None:
    figures = stay_figures(
        ADMITTED, ADMITTED + timedelta(days=extra_days), 90, today=date(2027, 1, 1)
    )
    assert figures.los_days == extra_days + 1
    assert figures.met_target is met


def test_days_remaining_goes_negative_past_target() -> None:
    figures = stay_figures(ADMITTED, None, 90, today=ADMITTED + timedelta(days=99))
    assert figures.day_of_stay == 100
    assert figures.days_remaining == -10


def test_custom_target_is_respected() -> None:
    figures = stay_figures(ADMITTED, ADMITTED + timedelta(days=27), 28, today=date(2026, 6, 1))
    assert figures.target_date == date(2026, 1, 28)
    assert figures.met_target is True


def test_los_counts_across_a_leap_day() -> None:
    assert los_days(date(2028, 2, 28), date(2028, 3, 1)) == 3


@pytest.mark.parametrize(
    ("days", "band"),
    [
        (1, 1),
        (30, 30),
        (31, 31),
        (45, 31),
        (46, 32),
        (60, 32),
        (61, 33),
        (90, 33),
        (91, 34),
        (120, 34),
        (121, 35),
        (180, 35),
        (181, 36),
        (365, 36),
        (366, 37),
    ],
)
def test_teds_los_band_edges(days: int, band: int) -> None:
    assert los_band(days) == band


def test_teds_los_band_has_no_zero() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        los_band(0)
