"""Withdrawal scales: items, totals and the published bands (CLINICAL.md §4)."""

from __future__ import annotations

import pytest

from casemgr.clinical import withdrawal
from casemgr.clinical.withdrawal import Band, ItemError

COWS_ALLOWED = [
    (0, 1, 2, 4),  # resting pulse
    (0, 1, 2, 3, 4),  # sweating
    (0, 1, 3, 5),  # restlessness
    (0, 1, 2, 5),  # pupil size
    (0, 1, 2, 4),  # bone or joint aches
    (0, 1, 2, 4),  # runny nose or tearing
    (0, 1, 2, 3, 5),  # GI upset
    (0, 1, 2, 4),  # tremor
    (0, 1, 2, 4),  # yawning
    (0, 1, 2, 4),  # anxiety or irritability
    (0, 3, 5),  # gooseflesh skin
]
CIWA_AR_ALLOWED = [tuple(range(8))] * 9 + [tuple(range(5))]
CIWA_B_ALLOWED = [tuple(range(5))] * 22


def items_for_total(
    allowed: list[tuple[int, ...]], total: int, counted: int | None = None
) -> list[int]:
    """Fill items greedily (form order) to reach ``total`` with allowed values."""
    counted = len(allowed) if counted is None else counted
    values = [0] * len(allowed)
    left = total
    for index in range(counted):
        best = max(v for v in allowed[index] if v <= left)
        values[index] = best
        left -= best
    assert left == 0, f"cannot reach {total}"
    return values


# (total, band, rank, severe) on both sides of every published band edge.
CIWA_AR_EDGES = [
    (0, "minimal", 1, False),
    (9, "minimal", 1, False),
    (10, "moderate", 2, False),
    (18, "moderate", 2, False),
    (19, "severe", 4, True),
    (67, "severe", 4, True),
]
COWS_EDGES = [
    (0, "none", 0, False),
    (4, "none", 0, False),
    (5, "mild", 1, False),
    (12, "mild", 1, False),
    (13, "moderate", 2, False),
    (24, "moderate", 2, False),
    (25, "moderately severe", 3, False),
    (36, "moderately severe", 3, False),
    (37, "severe", 4, True),
    (48, "severe", 4, True),
]
CIWA_B_EDGES = [
    (0, "none", 0, False),
    (1, "mild", 1, False),
    (20, "mild", 1, False),
    (21, "moderate", 2, False),
    (40, "moderate", 2, False),
    (41, "severe", 4, True),
    (60, "severe", 4, True),
    (61, "very severe", 5, True),
    (80, "very severe", 5, True),
]


@pytest.mark.parametrize(("total", "band", "rank", "severe"), CIWA_AR_EDGES)
def test_ciwa_ar_band_edges(total: int, band: str, rank: int, severe: bool) -> None:
    result = withdrawal.score("CIWA-Ar", items_for_total(CIWA_AR_ALLOWED, total))
    assert (result.total, result.band, result.rank, result.is_severe) == (total, band, rank, severe)


@pytest.mark.parametrize(("total", "band", "rank", "severe"), COWS_EDGES)
def test_cows_band_edges(total: int, band: str, rank: int, severe: bool) -> None:
    result = withdrawal.score("COWS", items_for_total(COWS_ALLOWED, total))
    assert (result.total, result.band, result.rank, result.is_severe) == (total, band, rank, severe)


@pytest.mark.parametrize(("total", "band", "rank", "severe"), CIWA_B_EDGES)
def test_ciwa_b_band_edges(total: int, band: str, rank: int, severe: bool) -> None:
    result = withdrawal.score("CIWA-B", items_for_total(CIWA_B_ALLOWED, total, counted=20))
    assert (result.total, result.band, result.rank, result.is_severe) == (total, band, rank, severe)


def test_cows_moderately_severe_does_not_alert() -> None:
    result = withdrawal.score("COWS", items_for_total(COWS_ALLOWED, 36))
    assert result.band == "moderately severe"
    assert not result.is_severe


def test_ciwa_b_observation_items_are_recorded_but_not_added() -> None:
    result = withdrawal.score("CIWA-B", [0] * 20 + [4, 4])
    assert result.total == 0
    assert result.band == "none"


def test_ciwa_b_maximum_is_eighty() -> None:
    assert withdrawal.score("CIWA-B", [4] * 22).total == 80


@pytest.mark.parametrize(
    ("name", "maximum", "count"), [("CIWA-B", 80, 22), ("CIWA-Ar", 67, 10), ("COWS", 48, 11)]
)
def test_instrument_sizes_match_published_forms(name: str, maximum: int, count: int) -> None:
    inst = withdrawal.instrument(name)
    assert inst.max_total == maximum
    assert len(inst.items) == count


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("COWS", COWS_ALLOWED), ("CIWA-Ar", CIWA_AR_ALLOWED), ("CIWA-B", CIWA_B_ALLOWED)],
)
def test_item_value_sets_match_published_forms(name: str, allowed: list[tuple[int, ...]]) -> None:
    assert [item.allowed for item in withdrawal.instrument(name).items] == allowed


@pytest.mark.parametrize(("name", "count"), [("CIWA-B", 22), ("CIWA-Ar", 10), ("COWS", 11)])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_item_count_is_refused(name: str, count: int, delta: int) -> None:
    with pytest.raises(ItemError, match=f"{name} has {count} items, got {count + delta}") as info:
        withdrawal.score(name, [0] * (count + delta))
    assert info.value.item_messages == {}


def test_ciwa_b_with_only_the_twenty_rated_items_is_refused() -> None:
    with pytest.raises(ItemError, match="has 22 items, got 20"):
        withdrawal.score("CIWA-B", [0] * 20)


@pytest.mark.parametrize("items", ["0" * 11, None, {0: 1}, 5])
def test_items_must_be_a_list(items: object) -> None:
    with pytest.raises(ItemError, match="must be a list"):
        withdrawal.score("COWS", items)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "value"),
    [(0, 3), (2, 2), (2, 4), (3, 3), (3, 4), (6, 4), (10, 1), (10, 2), (10, 4), (1, 5), (0, -1)],
)
def test_cows_value_in_a_gap_is_refused(index: int, value: int) -> None:
    items = [0] * 11
    items[index] = value
    with pytest.raises(ItemError) as info:
        withdrawal.score("COWS", items)
    assert list(info.value.item_messages) == [index]
    assert f"got {value}" in info.value.item_messages[index]


def test_item_error_reports_every_bad_item_by_index() -> None:
    items = [0] * 10
    items[0], items[9], items[4] = 8, 5, -1
    with pytest.raises(ItemError) as info:
        withdrawal.score("CIWA-Ar", items)
    error = info.value
    assert error.item_messages == {
        0: "nausea and vomiting: must be 0–7, got 8",
        4: "agitation: must be 0–7, got -1",
        9: "orientation and clouding of sensorium: must be 0–4, got 5",
    }
    assert error.message == "3 CIWA-Ar item(s) out of range"
    assert isinstance(error, ValueError)


def test_gapped_item_message_lists_the_allowed_values() -> None:
    items = [0] * 11
    items[10] = 4
    with pytest.raises(ItemError) as info:
        withdrawal.score("COWS", items)
    assert info.value.item_messages == {10: "gooseflesh skin: must be one of 0, 3, 5, got 4"}


@pytest.mark.parametrize("value", [1.0, "1", True, None])
def test_non_integer_item_is_refused(value: object) -> None:
    items: list[object] = [0] * 11
    items[5] = value
    with pytest.raises(ItemError) as info:
        withdrawal.score("COWS", items)  # type: ignore[arg-type]
    assert info.value.item_messages == {5: "runny nose or tearing: must be a whole number"}


def test_ciwa_b_observation_items_are_range_checked() -> None:
    with pytest.raises(ItemError) as info:
        withdrawal.score("CIWA-B", [0] * 21 + [5])
    assert list(info.value.item_messages) == [21]


@pytest.mark.parametrize("name", ["CIWA", "ciwa-ar", "", None])
def test_unknown_instrument_is_refused(name: object) -> None:
    with pytest.raises(ValueError, match="unknown instrument"):
        withdrawal.score(name, [0] * 10)  # type: ignore[arg-type]


def test_program_bands_override_the_defaults() -> None:
    # A program that treats CIWA-Ar ≥ 16 as severe (a common alternative cut-off).
    bands = [Band("mild", 0, 8, 1), Band("moderate", 9, 15, 2), Band("severe", 16, 67, 4)]
    result = withdrawal.score("CIWA-Ar", items_for_total(CIWA_AR_ALLOWED, 16), bands=bands)
    assert (result.band, result.is_severe) == ("severe", True)
    default = withdrawal.score("CIWA-Ar", items_for_total(CIWA_AR_ALLOWED, 16))
    assert (default.band, default.is_severe) == ("moderate", False)


def test_default_bands_validate_against_their_own_instrument() -> None:
    for name in withdrawal.INSTRUMENTS:
        assert withdrawal.validate_bands(name, withdrawal.default_bands(name)) == (
            withdrawal.default_bands(name)
        )


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([], "non-empty"),
        ([Band("a", 0, 9, 1), Band("b", 11, 67, 4)], "without gaps"),
        ([Band("a", 0, 10, 1), Band("b", 10, 67, 4)], "without gaps"),
        ([Band("a", 1, 67, 1)], "without gaps"),
        ([Band("a", 0, 60, 1)], "must end at the maximum total 67"),
        ([Band("a", 0, 70, 1)], "must end at the maximum total 67"),
        ([Band("a", 0, 9, 4), Band("b", 10, 67, 1)], "never decrease"),
        ([Band("a", 0, 9, 1), Band("b", 10, 67, 9)], "never decrease"),
        ([Band("a", 0, 9, 1), Band("a", 10, 67, 4)], "unique"),
        ([("a", 0, 67, 1)], "sequence of Band"),
    ],
)
def test_bad_band_override_is_refused(bands: list[Band], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        withdrawal.score("CIWA-Ar", [0] * 10, bands=bands)


def test_severe_rank_is_the_alert_threshold() -> None:
    assert withdrawal.RANKS[withdrawal.SEVERE_RANK] == "severe"
    assert Band("x", 0, 1, 4).is_severe
    assert not Band("x", 0, 1, 3).is_severe
