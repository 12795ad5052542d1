"""ASAM Criteria dimensions and levels of care, 3rd (2013) and 4th (2023) editions (CLINICAL.md §2).

casemgr does NOT compute ASAM placement: ASAM's placement algorithm is licensed software. This
module records what a clinician decides (edition, six dimension ratings, level) and maps the
level to inpatient/outpatient and to the TEDS service setting.

Withdrawal-management levels (1-WM, 2-WM, 3.2-WM, 3.7-WM, 4-WM) exist in the 3rd edition only.
The 4th edition retired the separate WM levels and folded withdrawal management into the
medically managed levels (1.7, 2.7, 3.7 and 4), so "3.7-WM" under edition 4 is refused.

Levels are text, spelled as in CLINICAL.md ("1" in the 3rd edition, "1.0" in the 4th).
``validate_level`` accepts the obvious variants ("1.0" for "1", "4.0" for "4", "3.7-wm") and
returns the canonical spelling, so stored levels always compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: Supported editions and the year each was published.
EDITIONS: Mapping[int, int] = MappingProxyType({3: 2013, 4: 2023})

#: Dimension names by edition; keys are the strings the API uses.
DIMENSIONS: Mapping[int, Mapping[str, str]] = MappingProxyType(
    {
        3: MappingProxyType(
            {
                "1": "Acute intoxication and/or withdrawal potential",
                "2": "Biomedical conditions and complications",
                "3": "Emotional, behavioral or cognitive conditions and complications",
                "4": "Readiness to change",
                "5": "Relapse, continued use or continued problem potential",
                "6": "Recovery/living environment",
            }
        ),
        4: MappingProxyType(
            {
                "1": "Intoxication, withdrawal and addiction medications",
                "2": "Biomedical conditions",
                "3": "Psychiatric and cognitive conditions",
                "4": "Substance use-related risks",
                "5": "Recovery environment interactions",
                "6": "Person-centered considerations",
            }
        ),
    }
)

#: Dimension ratings: 0 no risk … 4 severe risk.
RATING_MIN, RATING_MAX = 0, 4

#: Levels by edition, lowest intensity first, with their names.
LEVELS: Mapping[int, Mapping[str, str]] = MappingProxyType(
    {
        3: MappingProxyType(
            {
                "0.5": "Early intervention",
                "1": "Outpatient services (adults under 9 hours a week)",
                "2.1": "Intensive outpatient (9–19 hours a week)",
                "2.5": "Partial hospitalization (20 hours a week or more)",
                "3.1": "Clinically managed low-intensity residential",
                "3.3": "Clinically managed population-specific high-intensity residential",
                "3.5": "Clinically managed high-intensity residential",
                "3.7": "Medically monitored intensive inpatient",
                "4": "Medically managed intensive inpatient",
                "1-WM": "Ambulatory withdrawal management without extended on-site monitoring",
                "2-WM": "Ambulatory withdrawal management with extended on-site monitoring",
                "3.2-WM": "Clinically managed residential withdrawal management",
                "3.7-WM": "Medically monitored inpatient withdrawal management",
                "4-WM": "Medically managed intensive inpatient withdrawal management",
            }
        ),
        4: MappingProxyType(
            {
                "1.0": "Long-term remission monitoring",
                "1.5": "Outpatient therapy",
                "1.7": "Medically managed outpatient",
                "2.1": "Intensive outpatient",
                "2.5": "High-intensity outpatient",
                "2.7": "Medically managed intensive outpatient",
                "3.1": "Clinically managed low-intensity residential",
                "3.5": "Clinically managed high-intensity residential",
                "3.7": "Medically managed residential",
                "4": "Medically managed inpatient",
            }
        ),
    }
)

# CLINICAL.md §2: "Levels from 3.1 up (and 3.2-WM, 3.7-WM, 4-WM) are inpatient/residential".
_INPATIENT = frozenset({"3.1", "3.3", "3.5", "3.7", "4", "3.2-WM", "3.7-WM", "4-WM"})

# CLINICAL.md §2, casemgr's level → TEDS service setting table; residential 3.x is resolved
# against the episode's target length in teds_service_setting.
_RESIDENTIAL = frozenset({"3.1", "3.3", "3.5", "3.7"})
_TEDS_SETTING: Mapping[str, int] = MappingProxyType(
    {
        "1-WM": 8,
        "2-WM": 8,
        "3.2-WM": 2,
        "3.7-WM": 2,
        "4-WM": 1,
        "0.5": 7,
        "1": 7,
        "1.0": 7,
        "1.5": 7,
        "1.7": 7,
        "2.1": 6,
        "2.5": 6,
        "2.7": 6,
        "4": 3,
    }
)

#: TEDS "long term" residential means a stay of more than this many days.
TEDS_SHORT_TERM_MAX_DAYS = 30


def validate_edition(edition: int) -> int:
    """Refuse an edition casemgr does not know, so every decision names a real edition."""
    if isinstance(edition, bool) or edition not in EDITIONS:
        raise ValueError(f"unknown ASAM edition {edition!r}; expected one of 3, 4")
    return edition


def validate_level(level: str, edition: int) -> str:
    """Return the canonical spelling of a level, refusing levels the edition does not have."""
    validate_edition(edition)
    if not isinstance(level, str):
        raise ValueError(f"an ASAM level is text such as '3.5', got {level!r}")
    levels = LEVELS[edition]
    text = level.strip().upper()
    # "1" and "1.0" (and "4" and "4.0") name the same level; each edition prints one of them.
    number, dash, suffix = text.partition("-")
    number = number.removesuffix(".0") if number.endswith(".0") else number + ".0"
    alias = number + dash + suffix
    for candidate in (text, alias):
        if candidate in levels:
            return candidate
    raise ValueError(
        f"unknown level {level!r} for ASAM edition {edition}; expected one of {', '.join(levels)}"
    )


def level_name(level: str, edition: int) -> str:
    """Name a level as its edition does, so screens never show a bare number."""
    return LEVELS[edition][validate_level(level, edition)]


def setting(level: str, edition: int) -> str:
    """Say whether a level is "inpatient" (residential included) or "outpatient"."""
    return "inpatient" if validate_level(level, edition) in _INPATIENT else "outpatient"


def teds_service_setting(level: str, edition: int, target_days: int) -> int:
    """Map a level to the TEDS service setting code, using the episode's target for 3.x."""
    canonical = validate_level(level, edition)
    if isinstance(target_days, bool) or not isinstance(target_days, int) or target_days < 1:
        raise ValueError(f"target_days must be a whole number of days ≥ 1, got {target_days!r}")
    if canonical in _RESIDENTIAL:
        return 5 if target_days > TEDS_SHORT_TERM_MAX_DAYS else 4
    return _TEDS_SETTING[canonical]


def validate_dimensions(dimensions: Mapping[str, int]) -> dict[str, int]:
    """Require exactly the six dimensions "1".."6", each rated 0–4, listing every problem."""
    if not isinstance(dimensions, Mapping):
        raise ValueError('dimensions must be an object with keys "1" to "6"')
    expected = [str(n) for n in range(1, 7)]
    problems: list[str] = []
    missing = [key for key in expected if key not in dimensions]
    unknown = [repr(key) for key in dimensions if key not in expected]
    if missing:
        problems.append(f"missing dimension(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown dimension(s) {', '.join(unknown)}")
    for key in expected:
        if key not in dimensions:
            continue
        value = dimensions[key]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"dimension {key} must be a whole number {RATING_MIN}–{RATING_MAX}")
        elif not RATING_MIN <= value <= RATING_MAX:
            problems.append(f"dimension {key} must be {RATING_MIN}–{RATING_MAX}, got {value}")
    if problems:
        raise ValueError("; ".join(problems))
    return {key: dimensions[key] for key in expected}


def needs_discrepancy_reason(dimensions: Mapping[str, int], level: str, edition: int) -> bool:
    """Flag an obvious mismatch between ratings and level, so the clinician records why.

    This is deliberately coarse and is NOT ASAM placement (that algorithm is licensed; casemgr
    does not compute it). It flags only two plain contradictions:

    - some dimension rated 3 or 4 (high or severe risk) with an outpatient level;
    - every dimension rated 0 or 1 (no or low risk) with an inpatient/residential level.

    Anything else is left to clinical judgement and the required rationale.
    """
    ratings = validate_dimensions(dimensions)
    where = setting(level, edition)
    highest = max(ratings.values())
    if where == "outpatient":
        return highest >= 3
    return highest <= 1
