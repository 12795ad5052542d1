"""Benzodiazepine taper generator and diazepam equivalents (DESIGN.md §3, CLINICAL.md §5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casemgr.clinical import taper
from casemgr.clinical.taper import TaperParams, TaperStep

D = Decimal
START = date(2026, 3, 2)

# No example database: the tests must not write outside their own folder.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def params(
    dose: str = "2",
    percent: str = "10",
    interval: int = 14,
    increment: str = "0.125",
    medication: str = "clonazepam",
    start_on: date = START,
) -> TaperParams:
    """Build plan parameters from short literals."""
    return TaperParams(medication, D(dose), D(percent), interval, D(increment), start_on)


def doses(steps: list[TaperStep]) -> list[Decimal]:
    """List the daily doses of a schedule."""
    return [s.daily_dose_mg for s in steps]


def day_offsets(steps: list[TaperStep]) -> list[int]:
    """List each step's start as days after the first step."""
    return [(s.starts_on - steps[0].starts_on).days for s in steps]


def window_violations(steps: list[TaperStep], increment: Decimal) -> list[str]:
    """Check D(d) − D(d+14) ≤ max(D(d)/4, increment) for every day d, independently."""
    offsets = day_offsets(steps)
    horizon = offsets[-1] + 15
    by_day: list[Decimal] = []
    index = 0
    for day in range(-1, horizon + 15):
        while index + 1 < len(offsets) and offsets[index + 1] <= day:
            index += 1
        by_day.append(steps[index].daily_dose_mg)  # day −1 still has the start dose
    problems = []
    for d in range(horizon):
        before, after = by_day[d], by_day[d + 14]
        if before - after > max(before / 4, increment):
            problems.append(f"day {d - 1}: {before} → {after} within 14 days")
    return problems


@st.composite
def valid_params(draw: st.DrawFn) -> TaperParams:
    """Draw plausible, valid plans whose schedules stay within the generator's length caps."""
    increment = D(draw(st.integers(1, 4000))) / 1000  # 0.001 … 4 mg
    interval = draw(st.integers(1, 42))
    # Every step removes at least one increment and waits at most max(interval, 14) days,
    # so this many increments always fits in MAX_DURATION_DAYS and MAX_STEPS.
    most = min(taper.MAX_STEPS - 1, taper.MAX_DURATION_DAYS // max(interval, 14))
    multiple = draw(st.integers(1, most))
    percent = D(draw(st.integers(1, 5000))) / 100  # 0.01 … 50 %
    return TaperParams(
        medication=draw(st.sampled_from(["clonazepam", "alprazolam", "diazepam", "zolpidem"])),
        start_dose_mg=increment * multiple,
        reduction_percent=percent,
        interval_days=interval,
        dose_increment_mg=increment,
        start_on=draw(st.dates(date(2020, 1, 1), date(2035, 12, 31))),
    )


# --- Properties: the invariants of DESIGN.md §3, over random valid plans --------------------


@PROPERTY
@given(valid_params())
def test_taper_doses_never_increase(p: TaperParams) -> None:
    schedule = doses(taper.generate(p))
    assert all(a >= b for a, b in zip(schedule, schedule[1:], strict=False))


@PROPERTY
@given(valid_params())
def test_taper_doses_are_multiples_of_the_increment(p: TaperParams) -> None:
    assert all(dose % p.dose_increment_mg == 0 for dose in doses(taper.generate(p)))


@PROPERTY
@given(valid_params())
def test_taper_starts_at_the_start_dose_and_ends_at_zero(p: TaperParams) -> None:
    steps = taper.generate(p)
    assert steps[0].daily_dose_mg == p.start_dose_mg
    assert steps[0].starts_on == p.start_on
    assert steps[-1].daily_dose_mg == 0
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))


@PROPERTY
@given(valid_params())
def test_taper_never_reduces_more_than_quarter_in_two_weeks(p: TaperParams) -> None:
    assert window_violations(taper.generate(p), p.dose_increment_mg) == []


@PROPERTY
@given(valid_params())
def test_taper_steps_never_come_sooner_than_the_interval(p: TaperParams) -> None:
    offsets = day_offsets(taper.generate(p))
    assert all(b - a >= p.interval_days for a, b in zip(offsets, offsets[1:], strict=False))


@PROPERTY
@given(valid_params())
def test_taper_step_is_at_most_nominal_and_at_least_one_increment(p: TaperParams) -> None:
    schedule = doses(taper.generate(p))
    for before, after in zip(schedule, schedule[1:], strict=False):
        nominal = max((before * p.reduction_percent / 100) // p.dose_increment_mg, 1)
        assert p.dose_increment_mg <= before - after <= nominal * p.dose_increment_mg


@PROPERTY
@given(valid_params())
def test_taper_within_guideline_pace_is_never_delayed(p: TaperParams) -> None:
    p = replace(p, reduction_percent=min(p.reduction_percent, D(10)), interval_days=14)
    offsets = day_offsets(taper.generate(p))
    assert offsets == [14 * n for n in range(len(offsets))]


@settings(max_examples=100, deadline=None, database=None)
@given(valid_params(), st.data())
def test_taper_replanned_from_any_step_keeps_every_invariant(
    p: TaperParams, data: st.DataObject
) -> None:
    steps = taper.generate(p)
    current = data.draw(st.sampled_from(steps[:-1])).daily_dose_mg
    again = taper.generate(taper.replan_from(p, current, p.start_on + timedelta(days=3)))
    assert again[0].daily_dose_mg == current
    assert again[-1].daily_dose_mg == 0
    assert window_violations(again, p.dose_increment_mg) == []


def test_window_check_catches_a_schedule_that_breaks_the_limit() -> None:
    # Guards the property tests: 100 → 80 → 64 mg a week apart is 36% within 14 days.
    bad = [
        TaperStep(1, START, D(100), None),
        TaperStep(2, START + timedelta(days=7), D(80), None),
        TaperStep(3, START + timedelta(days=14), D(64), None),
    ]
    assert window_violations(bad, D(1)) != []
    ok = [bad[0], bad[1], replace(bad[2], starts_on=START + timedelta(days=21))]
    assert window_violations(ok, D(1)) == []
    # Two one-increment steps 13 days apart share a window; 14 days apart they do not.
    tail = [
        TaperStep(1, START, D(2), None),
        TaperStep(2, START + timedelta(days=1), D(1), None),
        TaperStep(3, START + timedelta(days=14), D(0), None),
    ]
    assert window_violations(tail, D(1)) != []
    assert (
        window_violations(
            [tail[0], tail[1], replace(tail[2], starts_on=START + timedelta(days=15))], D(1)
        )
        == []
    )


# --- Worked examples ----------------------------------------------------------------------


def test_clonazepam_two_mg_tapers_one_increment_every_two_weeks() -> None:
    steps = taper.generate(params("2", "10", 14, "0.125"))
    # 10% of 2 mg is 0.2 mg, below two increments: every step is one 0.125 mg increment.
    assert doses(steps) == [D("2") - D("0.125") * n for n in range(17)]
    assert day_offsets(steps) == [14 * n for n in range(17)]
    assert steps[-1].daily_dose_mg == 0
    assert steps[-1].starts_on == START + timedelta(days=16 * 14)
    assert [str(s.daily_dose_mg) for s in steps[:2]] == ["2.000", "1.875"]


def test_diazepam_forty_mg_reduces_ten_percent_then_by_increments() -> None:
    steps = taper.generate(params("40", "10", 14, "1", medication="diazepam"))
    assert doses(steps)[:10] == [40, 36, 33, 30, 27, 25, 23, 21, 19, 18]
    # Below 20 mg, 10% is under 2 mg, so the tail is one-milligram steps two weeks apart.
    assert doses(steps)[9:] == list(range(18, -1, -1))
    assert day_offsets(steps) == [14 * n for n in range(len(steps))]


def test_weekly_twenty_percent_is_slowed_to_keep_a_quarter_per_fortnight() -> None:
    steps = taper.generate(params("100", "20", 7, "1", medication="diazepam"))
    assert doses(steps)[:5] == [100, 80, 64, 52, 42]
    # The second 20% step would make 36% in two weeks: it waits until day 21.
    assert day_offsets(steps)[:5] == [0, 7, 21, 35, 49]
    assert window_violations(steps, D(1)) == []


def test_forty_percent_step_is_shrunk_to_a_quarter() -> None:
    steps = taper.generate(params("100", "40", 14, "1", medication="diazepam"))
    assert doses(steps)[:4] == [100, 75, 57, 43]
    assert day_offsets(steps)[:4] == [0, 14, 28, 42]


def test_daily_steps_pause_once_a_quarter_is_used() -> None:
    steps = taper.generate(params("100", "5", 1, "1", medication="diazepam"))
    assert doses(steps)[:8] == [100, 95, 91, 87, 83, 79, 76, 73]
    # Day 7 would bring the fortnight's reduction to 27 mg: the step waits for day 15.
    assert day_offsets(steps)[:8] == [0, 1, 2, 3, 4, 5, 6, 15]


def test_tail_steps_are_one_increment_at_least_fourteen_days_apart() -> None:
    # Asked for 50% a day; 25% of 1 mg is a single 0.25 mg increment, so that is the most.
    steps = taper.generate(params("1", "50", 1, "0.25", medication="lorazepam"))
    assert doses(steps) == [D("1"), D("0.75"), D("0.5"), D("0.25"), D("0")]
    assert day_offsets(steps) == [0, 1, 15, 29, 43]


def test_single_increment_dose_stops_after_one_interval() -> None:
    steps = taper.generate(params("0.5", "10", 21, "0.5", medication="alprazolam"))
    assert [(s.step, s.daily_dose_mg, (s.starts_on - START).days) for s in steps] == [
        (1, D("0.5"), 0),
        (2, D("0"), 21),
    ]


def test_schedule_has_no_float_rounding() -> None:
    steps = taper.generate(params("0.3", "10", 14, "0.1", medication="alprazolam"))
    assert [str(d) for d in doses(steps)] == ["0.3", "0.2", "0.1", "0.0"]
    assert all(isinstance(d, Decimal) for d in doses(steps))


def test_steps_carry_diazepam_equivalents() -> None:
    steps = taper.generate(params("2", "10", 14, "0.125"))
    assert steps[0].diazepam_equivalent_mg == D("20.00")
    assert steps[1].diazepam_equivalent_mg == D("18.75")
    assert steps[-1].diazepam_equivalent_mg == 0
    ashton = taper.generate(params("2", "10", 14, "0.125"), equivalents="Ashton Manual")
    assert ashton[0].diazepam_equivalent_mg == D("40.00")


def test_unknown_medication_has_no_diazepam_equivalent() -> None:
    steps = taper.generate(params("10", "10", 14, "5", medication="zolpidem"))
    assert {s.diazepam_equivalent_mg for s in steps} == {None}


def test_replan_starts_from_the_current_dose_with_the_same_pace() -> None:
    original = params("2", "10", 14, "0.125")
    again = taper.replan_from(original, D("1.25"), date(2026, 9, 1))
    assert again == replace(original, start_dose_mg=D("1.25"), start_on=date(2026, 9, 1))
    steps = taper.generate(again)
    assert steps[0].daily_dose_mg == D("1.25")
    assert steps[0].starts_on == date(2026, 9, 1)
    assert doses(steps) == [D("1.25") - D("0.125") * n for n in range(11)]


def test_replan_from_a_dose_off_the_increment_is_refused() -> None:
    with pytest.raises(ValueError, match="not a multiple"):
        taper.replan_from(params(), D("1.3"), START)


def test_replan_from_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="start_dose_mg must be more than 0"):
        taper.replan_from(params(), D("0"), START)


# --- Guards ---------------------------------------------------------------------------------


def test_absurdly_long_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match=f"more than {taper.MAX_STEPS} steps"):
        taper.generate(params("1000", "1", 1, "0.001", medication="diazepam"))


def test_schedule_over_five_years_is_refused() -> None:
    with pytest.raises(ValueError, match=f"more than {taper.MAX_DURATION_DAYS} days"):
        taper.generate(params("40", "5", 90, "1", medication="diazepam"))


def test_start_too_close_to_the_end_of_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="end of the calendar"):
        taper.generate(params(start_on=date(9998, 1, 1)))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"medication": " "}, ValueError, "medication is required"),
        ({"start_dose_mg": D("0")}, ValueError, "start_dose_mg must be more than 0"),
        ({"start_dose_mg": D("-2")}, ValueError, "start_dose_mg must be more than 0"),
        ({"start_dose_mg": D("20000")}, ValueError, "at most 10000 mg"),
        ({"start_dose_mg": D("2.1")}, ValueError, "not a multiple of the dose increment"),
        ({"start_dose_mg": D("NaN")}, ValueError, "finite"),
        ({"start_dose_mg": D("Infinity")}, ValueError, "finite"),
        ({"start_dose_mg": 2.0}, TypeError, "must be a Decimal"),
        ({"start_dose_mg": "2"}, TypeError, "must be a Decimal"),
        ({"dose_increment_mg": D("0")}, ValueError, "dose_increment_mg must be more than 0"),
        ({"dose_increment_mg": D("0.0000001")}, ValueError, "more than 6 decimal places"),
        ({"reduction_percent": D("0")}, ValueError, "reduction_percent"),
        ({"reduction_percent": D("50.01")}, ValueError, "reduction_percent"),
        ({"reduction_percent": True}, TypeError, "must be a Decimal"),
        ({"interval_days": 0}, ValueError, "interval_days must be at least 1"),
        ({"interval_days": 14.0}, TypeError, "interval_days must be an int"),
        ({"start_on": "2026-03-02"}, TypeError, "start_on must be a date"),
    ],
)
def test_invalid_params_are_refused(
    changes: dict[str, object], error: type[Exception], message: str
) -> None:
    fields = {
        "medication": "clonazepam",
        "start_dose_mg": D("2"),
        "reduction_percent": D("10"),
        "interval_days": 14,
        "dose_increment_mg": D("0.125"),
        "start_on": START,
    }
    with pytest.raises(error, match=message):
        TaperParams(**{**fields, **changes})  # type: ignore[arg-type]


def test_integer_figures_become_decimals() -> None:
    p = TaperParams("diazepam", 20, 10, 14, 1, START)  # type: ignore[arg-type]
    assert isinstance(p.start_dose_mg, Decimal)
    assert p.reduction_percent == D(10)


def test_fifty_percent_is_the_largest_reduction_accepted() -> None:
    assert taper.generate(params("2", "50", 14, "0.125"))[-1].daily_dose_mg == 0


# --- Guideline pace -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "interval", "problems"),
    [
        ("10", 14, []),
        ("5", 28, []),
        ("5", 14, []),
        ("2", 56, []),  # slower than usual is allowed
        ("10.01", 14, ["faster_than_guideline"]),
        ("25", 14, ["faster_than_guideline"]),
        ("10", 13, ["faster_than_guideline"]),
        ("5", 7, ["faster_than_guideline"]),
        ("20", 7, ["faster_than_guideline"]),
    ],
)
def test_guideline_problems_flag_only_faster_than_usual_pace(
    percent: str, interval: int, problems: list[str]
) -> None:
    assert taper.guideline_problems(params("2", percent, interval)) == problems


# --- Diazepam equivalents -----------------------------------------------------------------

TABLE_7 = [
    ("alprazolam", "1", "0.5"),
    ("chlordiazepoxide", "25", "25"),
    ("clonazepam", "1", "0.5"),
    ("clorazepate", "15", "15"),
    ("diazepam", "10", "10"),
    ("lorazepam", "2", "1"),
    ("oxazepam", "30", "20"),
    ("temazepam", "15", "20"),
    ("triazolam", "0.25", "0.5"),
]


@pytest.mark.parametrize(("drug", "va_dod", "ashton"), TABLE_7)
def test_table_seven_dose_equals_diazepam_ten_mg_in_both_sources(
    drug: str, va_dod: str, ashton: str
) -> None:
    assert taper.diazepam_equivalent(drug, D(va_dod)) == D(10)
    assert taper.diazepam_equivalent(drug, D(va_dod), "VA/DoD 2021") == D(10)
    assert taper.diazepam_equivalent(drug, D(ashton), "Ashton Manual") == D(10)


@pytest.mark.parametrize(("drug", "va_dod", "ashton"), TABLE_7)
def test_equivalence_tables_hold_table_seven(drug: str, va_dod: str, ashton: str) -> None:
    assert taper.EQUIVALENCE_TABLES["VA/DoD 2021"].doses_mg[drug] == D(va_dod)
    assert taper.EQUIVALENCE_TABLES["Ashton Manual"].doses_mg[drug] == D(ashton)


def test_equivalence_tables_hold_exactly_table_seven() -> None:
    for table in taper.EQUIVALENCE_TABLES.values():
        assert set(table.doses_mg) == {drug for drug, *_ in TABLE_7}


def test_equivalence_sources_are_named_for_pages() -> None:
    assert taper.DEFAULT_SOURCE == "VA/DoD 2021"
    table = taper.equivalence_table()
    assert table.source == "VA/DoD 2021"
    assert "10.1007/s11606-025-09499-2" in table.citation
    assert table.version


def test_equivalent_is_rounded_to_a_hundredth_of_a_milligram() -> None:
    assert taper.diazepam_equivalent("oxazepam", D("10")) == D("3.33")
    assert taper.diazepam_equivalent("oxazepam", D("20")) == D("6.67")
    assert taper.diazepam_equivalent("triazolam", D("0.125")) == D("5.00")


def test_equivalent_accepts_case_spacing_and_brand_names() -> None:
    assert taper.diazepam_equivalent("  Clonazepam ", D("1")) == D(10)
    assert taper.diazepam_equivalent("Klonopin", D("1")) == D(10)
    assert taper.diazepam_equivalent("XANAX", D("0.5"), "Ashton Manual") == D(10)


@pytest.mark.parametrize("drug", ["zolpidem", "", "clonazepam 1 mg tablets"])
def test_unknown_drug_has_no_equivalent(drug: str) -> None:
    assert taper.diazepam_equivalent(drug, D("1")) is None


def test_program_edited_table_is_used_as_given() -> None:
    edited = taper.EquivalenceTable(
        source="Program 2026", version="1", citation="local", doses_mg={"clonazepam": D("0.25")}
    )
    assert taper.diazepam_equivalent("clonazepam", D("1"), edited) == D(40)


def test_unknown_equivalence_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown equivalence source"):
        taper.diazepam_equivalent("clonazepam", D("1"), "Wikipedia")


def test_float_dose_is_refused_for_equivalents() -> None:
    with pytest.raises(TypeError, match="must be a Decimal"):
        taper.diazepam_equivalent("clonazepam", 0.1)  # type: ignore[arg-type]


def test_negative_dose_has_no_equivalent() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        taper.diazepam_equivalent("clonazepam", D("-1"))
