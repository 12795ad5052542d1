"""ASAM levels, settings, TEDS service settings and dimension checks (CLINICAL.md §2)."""

from __future__ import annotations

import pytest

from casemgr.clinical import asam, teds

# The full mapping table of CLINICAL.md §2: (edition, level, setting, TEDS code at target
# ≤ 30 days, TEDS code at target > 30 days).
TABLE = [
    (3, "0.5", "outpatient", 7, 7),
    (3, "1", "outpatient", 7, 7),
    (3, "2.1", "outpatient", 6, 6),
    (3, "2.5", "outpatient", 6, 6),
    (3, "3.1", "inpatient", 4, 5),
    (3, "3.3", "inpatient", 4, 5),
    (3, "3.5", "inpatient", 4, 5),
    (3, "3.7", "inpatient", 4, 5),
    (3, "4", "inpatient", 3, 3),
    (3, "1-WM", "outpatient", 8, 8),
    (3, "2-WM", "outpatient", 8, 8),
    (3, "3.2-WM", "inpatient", 2, 2),
    (3, "3.7-WM", "inpatient", 2, 2),
    (3, "4-WM", "inpatient", 1, 1),
    (4, "1.0", "outpatient", 7, 7),
    (4, "1.5", "outpatient", 7, 7),
    (4, "1.7", "outpatient", 7, 7),
    (4, "2.1", "outpatient", 6, 6),
    (4, "2.5", "outpatient", 6, 6),
    (4, "2.7", "outpatient", 6, 6),
    (4, "3.1", "inpatient", 4, 5),
    (4, "3.5", "inpatient", 4, 5),
    (4, "3.7", "inpatient", 4, 5),
    (4, "4", "inpatient", 3, 3),
]

ALL_LOW = {str(n): 1 for n in range(1, 7)}


def test_table_covers_every_level_of_both_editions() -> None:
    for edition in asam.EDITIONS:
        assert [lvl for ed, lvl, *_ in TABLE if ed == edition] == list(asam.LEVELS[edition])


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_level_maps_to_setting(edition: int, level: str, where: str, short: int, long: int) -> None:
    assert asam.setting(level, edition) == where


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_level_maps_to_teds_service_setting_by_target(
    edition: int, level: str, where: str, short: int, long: int
) -> None:
    assert asam.teds_service_setting(level, edition, target_days=30) == short
    assert asam.teds_service_setting(level, edition, target_days=31) == long
    assert asam.teds_service_setting(level, edition, target_days=1) == short
    assert asam.teds_service_setting(level, edition, target_days=90) == long
    assert short in teds.SERVICE_SETTINGS


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_inpatient_levels_map_to_24_hour_teds_settings(
    edition: int, level: str, where: str, short: int, long: int
) -> None:
    # TEDS codes 1–5 are 24-hour settings, 6–8 ambulatory: the two mappings must agree.
    assert (where == "inpatient") == (long <= 5)


@pytest.mark.parametrize("level", ["1-WM", "2-WM", "3.2-WM", "3.7-WM", "4-WM", "0.5", "3.3"])
def test_third_edition_only_levels_are_refused_in_fourth(level: str) -> None:
    with pytest.raises(ValueError, match="unknown level .* for ASAM edition 4"):
        asam.validate_level(level, 4)


@pytest.mark.parametrize("level", ["1.5", "1.7", "2.7"])
def test_fourth_edition_only_levels_are_refused_in_third(level: str) -> None:
    with pytest.raises(ValueError, match="for ASAM edition 3"):
        asam.setting(level, 3)


@pytest.mark.parametrize(
    ("level", "edition", "canonical"),
    [
        ("1.0", 3, "1"),
        ("1", 4, "1.0"),
        ("4.0", 3, "4"),
        ("4.0", 4, "4"),
        ("3.7-wm", 3, "3.7-WM"),
        (" 4.0-WM ", 3, "4-WM"),
        ("1.0-WM", 3, "1-WM"),
        ("3.5", 4, "3.5"),
    ],
)
def test_level_spelling_variants_are_normalised(level: str, edition: int, canonical: str) -> None:
    assert asam.validate_level(level, edition) == canonical


@pytest.mark.parametrize("level", ["", "5", "3.6", "2", "3", "0.50", "3.10", "WM", 3.5, None])
def test_unknown_level_is_refused(level: object) -> None:
    with pytest.raises(ValueError, match="level"):
        asam.validate_level(level, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("edition", [2, 5, "3", True, None])
def test_unknown_edition_is_refused(edition: object) -> None:
    with pytest.raises(ValueError, match="unknown ASAM edition"):
        asam.validate_level("1", edition)  # type: ignore[arg-type]


@pytest.mark.parametrize("target_days", [0, -5, True, 30.5, "31"])
def test_bad_target_days_is_refused(target_days: object) -> None:
    with pytest.raises(ValueError, match="target_days"):
        asam.teds_service_setting("3.5", 3, target_days)  # type: ignore[arg-type]


def test_level_names_come_from_their_edition() -> None:
    assert asam.level_name("3.7", 3) == "Medically monitored intensive inpatient"
    assert asam.level_name("3.7", 4) == "Medically managed residential"
    assert asam.level_name("1", 4) == "Long-term remission monitoring"


@pytest.mark.parametrize("edition", [3, 4])
def test_each_edition_has_six_named_dimensions(edition: int) -> None:
    assert list(asam.DIMENSIONS[edition]) == ["1", "2", "3", "4", "5", "6"]
    assert all(asam.DIMENSIONS[edition].values())


def test_valid_dimensions_come_back_in_order() -> None:
    ratings = {"6": 4, "5": 3, "4": 2, "3": 1, "2": 0, "1": 0}
    assert list(asam.validate_dimensions(ratings).items()) == [
        ("1", 0),
        ("2", 0),
        ("3", 1),
        ("4", 2),
        ("5", 3),
        ("6", 4),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"1": 5}, "dimension 1 must be 0–4, got 5"),
        ({"6": -1}, "dimension 6 must be 0–4, got -1"),
        ({"2": 2.0}, "dimension 2 must be a whole number"),
        ({"3": "2"}, "dimension 3 must be a whole number"),
        ({"4": True}, "dimension 4 must be a whole number"),
        ({"7": 1}, "unknown dimension"),
        ({1: 1}, "unknown dimension"),
    ],
)
def test_bad_dimension_rating_is_refused(changes: dict[object, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        asam.validate_dimensions({**ALL_LOW, **changes})  # type: ignore[dict-item]


def test_missing_dimension_is_refused() -> None:
    ratings = dict(ALL_LOW)
    del ratings["5"]
    with pytest.raises(ValueError, match="missing dimension"):
        asam.validate_dimensions(ratings)


def test_every_dimension_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match="missing dimension.*; dimension 1 must be 0–4"):
        asam.validate_dimensions({"1": 9})


def test_dimensions_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        asam.validate_dimensions([1, 1, 1, 1, 1, 1])  # type: ignore[arg-type]


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_high_risk_dimension_with_outpatient_level_needs_a_reason(
    edition: int, level: str, where: str, short: int, long: int
) -> None:
    ratings = {**ALL_LOW, "3": 3}
    assert asam.needs_discrepancy_reason(ratings, level, edition) == (where == "outpatient")


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_all_low_risk_with_inpatient_level_needs_a_reason(
    edition: int, level: str, where: str, short: int, long: int
) -> None:
    assert asam.needs_discrepancy_reason(ALL_LOW, level, edition) == (where == "inpatient")


@pytest.mark.parametrize(("edition", "level", "where", "short", "long"), TABLE)
def test_moderate_risk_never_needs_a_reason(
    edition: int, level: str, where: str, short: int, long: int
) -> None:
    ratings = {**ALL_LOW, "2": 2}
    assert not asam.needs_discrepancy_reason(ratings, level, edition)


def test_severe_risk_with_inpatient_level_needs_no_reason() -> None:
    ratings = {**ALL_LOW, "1": 4}
    assert not asam.needs_discrepancy_reason(ratings, "4-WM", 3)


def test_discrepancy_check_validates_its_inputs() -> None:
    with pytest.raises(ValueError, match="missing dimension"):
        asam.needs_discrepancy_reason({"1": 4}, "1", 3)
    with pytest.raises(ValueError, match="unknown level"):
        asam.needs_discrepancy_reason(ALL_LOW, "3.3", 4)
