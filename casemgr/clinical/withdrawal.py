"""Withdrawal scales CIWA-B, CIWA-Ar and COWS: item checks, totals and bands (CLINICAL.md §4).

Every band carries a rank on one scale shared by all instruments, so the medical dashboard can
sort scores of different instruments by severity:

    0 none · 1 minimal or mild · 2 moderate · 3 moderately severe · 4 severe · 5 very severe

A score is "severe" (it raises the alert medical staff see at once) when its band's rank is
``SEVERE_RANK`` or more. COWS "moderately severe" (rank 3) therefore does not alert; CIWA-B
"very severe" (rank 5) does.

Decisions where the published tables are silent:

- CIWA-B's bands start at 1 (1–20 mild), so a total of 0 gets its own band, "none" (rank 0).
- CIWA-Ar's "minimal" band (0–9) includes 0 and has rank 1, like "mild": it is the published
  band name, and ASAM does not split off "none".
- CIWA-B has 22 items: items 1–20 are rated 0–4 and summed; items 21 and 22 are observation
  items that are recorded (also 0–4) but not added, as in Busto et al. 1989. The item wording is
  not transcribed here because the form could not be checked; items are named by number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

#: Rank from which a band is "severe or worse" and must alert medical staff.
SEVERE_RANK = 4

#: The shared severity ranks, with a name for each, for labels and sorting.
RANKS: Mapping[int, str] = MappingProxyType(
    {
        0: "none",
        1: "minimal or mild",
        2: "moderate",
        3: "moderately severe",
        4: "severe",
        5: "very severe",
    }
)


class ItemError(ValueError):
    """Report which items are wrong, so a form can mark each bad field."""

    def __init__(self, message: str, item_messages: Mapping[int, str] | None = None) -> None:
        """Keep a general message and a ``{0-based item index: message}`` dict."""
        super().__init__(message)
        self.message = message
        self.item_messages: dict[int, str] = dict(item_messages or {})


@dataclass(frozen=True)
class Item:
    """Describe one item of a form, so ratings outside its printed choices are refused."""

    name: str
    allowed: tuple[int, ...]
    counted: bool = True


@dataclass(frozen=True)
class Band:
    """Name a range of totals (inclusive at both ends) and its rank on the shared scale."""

    name: str
    low: int
    high: int
    rank: int

    @property
    def is_severe(self) -> bool:
        """Tell whether a score in this band must alert medical staff."""
        return self.rank >= SEVERE_RANK


@dataclass(frozen=True)
class Instrument:
    """Describe a withdrawal scale: its items in form order and its default bands."""

    name: str
    title: str
    items: tuple[Item, ...]
    default_bands: tuple[Band, ...]

    @property
    def max_total(self) -> int:
        """Give the highest possible total, so bands can be checked to cover every total."""
        return sum(max(item.allowed) for item in self.items if item.counted)


@dataclass(frozen=True)
class WithdrawalResult:
    """Hold a computed score, so it is stored exactly as computed."""

    instrument: str
    total: int
    band: str
    rank: int
    is_severe: bool


_0_4 = (0, 1, 2, 3, 4)
_0_7 = (0, 1, 2, 3, 4, 5, 6, 7)
_0_1_2_4 = (0, 1, 2, 4)

CIWA_B = Instrument(
    name="CIWA-B",
    title="Clinical Institute Withdrawal Assessment for Benzodiazepines (Busto et al. 1989)",
    items=tuple(Item(f"item {n}", _0_4) for n in range(1, 21))
    + (
        Item("observation item 21", _0_4, counted=False),
        Item("observation item 22", _0_4, counted=False),
    ),
    default_bands=(
        Band("none", 0, 0, 0),
        Band("mild", 1, 20, 1),
        Band("moderate", 21, 40, 2),
        Band("severe", 41, 60, 4),
        Band("very severe", 61, 80, 5),
    ),
)

CIWA_AR = Instrument(
    name="CIWA-Ar",
    title="Clinical Institute Withdrawal Assessment for Alcohol, revised",
    items=(
        Item("nausea and vomiting", _0_7),
        Item("tremor", _0_7),
        Item("paroxysmal sweats", _0_7),
        Item("anxiety", _0_7),
        Item("agitation", _0_7),
        Item("tactile disturbances", _0_7),
        Item("auditory disturbances", _0_7),
        Item("visual disturbances", _0_7),
        Item("headache, fullness in head", _0_7),
        Item("orientation and clouding of sensorium", _0_4),
    ),
    # ASAM's bands; other sources differ, hence configurable.
    default_bands=(
        Band("minimal", 0, 9, 1),
        Band("moderate", 10, 18, 2),
        Band("severe", 19, 67, 4),
    ),
)

COWS = Instrument(
    name="COWS",
    title="Clinical Opiate Withdrawal Scale",
    items=(
        Item("resting pulse rate", _0_1_2_4),
        Item("sweating", _0_4),
        Item("restlessness", (0, 1, 3, 5)),
        Item("pupil size", (0, 1, 2, 5)),
        Item("bone or joint aches", _0_1_2_4),
        Item("runny nose or tearing", _0_1_2_4),
        Item("GI upset", (0, 1, 2, 3, 5)),
        Item("tremor", _0_1_2_4),
        Item("yawning", _0_1_2_4),
        Item("anxiety or irritability", _0_1_2_4),
        Item("gooseflesh skin", (0, 3, 5)),
    ),
    default_bands=(
        Band("none", 0, 4, 0),
        Band("mild", 5, 12, 1),
        Band("moderate", 13, 24, 2),
        Band("moderately severe", 25, 36, 3),
        Band("severe", 37, 48, 4),
    ),
)

#: The instruments by the names the API uses.
INSTRUMENTS: Mapping[str, Instrument] = MappingProxyType(
    {i.name: i for i in (CIWA_B, CIWA_AR, COWS)}
)


def instrument(name: str) -> Instrument:
    """Look up an instrument by its API name, refusing unknown names with the valid ones."""
    try:
        return INSTRUMENTS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown instrument {name!r}; expected one of {', '.join(INSTRUMENTS)}"
        ) from None


def validate_bands(name: str, bands: Sequence[Band]) -> tuple[Band, ...]:
    """Check a program's band override, so every possible total falls in exactly one band."""
    inst = instrument(name)
    result = tuple(bands)
    if not result or not all(isinstance(b, Band) for b in result):
        raise ValueError("bands must be a non-empty sequence of Band")
    if len({b.name for b in result}) != len(result):
        raise ValueError("band names must be unique")
    expected_low = 0
    for band in result:
        if band.low != expected_low or band.high < band.low:
            raise ValueError(
                f"{inst.name} bands must run without gaps or overlaps from 0 to "
                f"{inst.max_total}; band {band.name!r} should start at {expected_low}"
            )
        expected_low = band.high + 1
    if expected_low != inst.max_total + 1:
        raise ValueError(f"{inst.name} bands must end at the maximum total {inst.max_total}")
    ranks = [b.rank for b in result]
    if any(r not in RANKS for r in ranks) or ranks != sorted(ranks):
        # A higher total must never be a less severe band, or an alert could be missed.
        raise ValueError(f"band ranks must be {min(RANKS)}–{max(RANKS)} and never decrease")
    return result


def default_bands(name: str) -> tuple[Band, ...]:
    """Give an instrument's published bands, the seed for a program's own settings."""
    return instrument(name).default_bands


def check_items(name: str, items: Sequence[int]) -> tuple[int, ...]:
    """Refuse item ratings the printed form does not offer, reporting each bad item."""
    inst = instrument(name)
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ItemError(f"{inst.name} items must be a list of {len(inst.items)} whole numbers")
    if len(items) != len(inst.items):
        raise ItemError(f"{inst.name} has {len(inst.items)} items, got {len(items)}")
    problems: dict[int, str] = {}
    for index, (value, item) in enumerate(zip(items, inst.items, strict=True)):
        if isinstance(value, bool) or not isinstance(value, int):
            problems[index] = f"{item.name}: must be a whole number"
        elif value not in item.allowed:
            problems[index] = f"{item.name}: must be {_choices(item.allowed)}, got {value}"
    if problems:
        raise ItemError(f"{len(problems)} {inst.name} item(s) out of range", problems)
    return tuple(items)


def score(name: str, items: Sequence[int], bands: Sequence[Band] | None = None) -> WithdrawalResult:
    """Total a form and band it (program bands if given), so alerts follow one rule."""
    inst = instrument(name)
    values = check_items(name, items)
    chosen = inst.default_bands if bands is None else validate_bands(name, bands)
    total = sum(v for v, item in zip(values, inst.items, strict=True) if item.counted)
    band = next(b for b in chosen if b.low <= total <= b.high)
    return WithdrawalResult(
        instrument=inst.name, total=total, band=band.name, rank=band.rank, is_severe=band.is_severe
    )


def _choices(allowed: tuple[int, ...]) -> str:
    """Word the allowed values: a range when contiguous, a list when the form has gaps."""
    if allowed == tuple(range(allowed[0], allowed[-1] + 1)):
        return f"{allowed[0]}–{allowed[-1]}"
    return "one of " + ", ".join(str(v) for v in allowed)
