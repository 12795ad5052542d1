"""Benzodiazepine taper schedules and diazepam equivalents (DESIGN.md §3, CLINICAL.md §5).

Guideline: Joint Clinical Practice Guideline on Benzodiazepine Tapering (ASAM and nine other
societies), J Gen Intern Med 2025, doi 10.1007/s11606-025-09499-2. Usual pace 5–10% every 2–4
weeks; never more than 25% in any 2 weeks.

The schedule
------------
Step 1 is the start dose from ``start_on`` (the dose in force when the plan starts); every
later step is a reduction, and the last step is 0 mg. All arithmetic is ``Decimal``.

Day ``t`` counts from ``start_on`` (day 0); ``D(t)`` is the dose in force on day t (the start
dose before day 0). The invariant, checked for every day ``d``:

    D(d) − D(d + 14) ≤ max(25% of D(d), one increment)

i.e. the dose two weeks later is never more than 25% lower, except that a single increment is
always allowed (the tail, where tablets cannot be split finer). Two reductions 14 days apart
are thus in different windows; 13 days apart they share one.

Each reduction is built like this, from the current dose ``c``:

1. Nominal step: ``reduction_percent`` of ``c``, rounded DOWN to the increment, but at least
   one increment.
2. SHRINK, only if the step breaks the limit even on its own (over 25% of ``c`` and over one
   increment, i.e. reduction_percent over 25): it becomes the largest multiple of the
   increment within 25% of ``c``.
3. DELAY: the step is planned ``interval_days`` after the previous one; if earlier reductions
   within the last 14 days leave no room for it there, it keeps its size and moves day by day
   to the first day on which it fits. That is never more than 14 days after the previous step,
   since from then on the step is alone in its window.

So a too-fast plan is slowed down (steps spaced out) rather than cut into irregular steps, and a
plan within the guideline's pace is never changed. In the tail, where 25% is less than one
increment, this gives one-increment steps at least 14 days apart. Schedules longer than
``MAX_STEPS`` steps or ``MAX_DURATION_DAYS`` days are refused as implausible, as are doses over
``MAX_DOSE_MG`` or figures with more than ``MAX_DECIMAL_PLACES`` decimals (typing errors).
"""

from __future__ import annotations

import bisect
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

GUIDELINE = (
    "Joint Clinical Practice Guideline on Benzodiazepine Tapering, "
    "J Gen Intern Med 2025, doi 10.1007/s11606-025-09499-2"
)

#: Most a dose may fall within any 14 days, as a fraction of the dose at the window's start.
MAX_FRACTION_PER_WINDOW = Decimal("0.25")
WINDOW_DAYS = 14

#: The guideline's usual pace: at most this many percent per step, at least this many days apart.
GUIDELINE_MAX_PERCENT = Decimal(10)
GUIDELINE_MIN_INTERVAL_DAYS = 14

#: Limits on reduction_percent: above 50% a single step would halve the dose.
MAX_REDUCTION_PERCENT = Decimal(50)

#: Guards against absurd plans (a taper "may take more than a year", not a decade).
MAX_STEPS = 300
MAX_DURATION_DAYS = 5 * 365

#: Sanity bounds on figures (no benzodiazepine is taken at 10 g a day); they keep every
#: Decimal operation of the generator exact.
MAX_DOSE_MG = Decimal(10_000)
MAX_DECIMAL_PLACES = 6

#: Code returned by guideline_problems when the plan is faster than the usual pace.
FASTER_THAN_GUIDELINE = "faster_than_guideline"

# Decimal context for the schedule: generous precision, and Inexact trapped so that a silent
# rounding can never slip into a dose (every schedule operation is exact by construction).
_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])
_CENT = Decimal("0.01")


# --- Diazepam equivalents -------------------------------------------------------------------


@dataclass(frozen=True)
class EquivalenceTable:
    """Versioned reference data: doses equivalent to diazepam 10 mg, with their source."""

    source: str
    version: str
    citation: str
    doses_mg: Mapping[str, Decimal]


#: Diazepam dose the table's doses are equivalent to.
DIAZEPAM_REFERENCE_MG = Decimal(10)

_TABLE_7 = "Guideline Table 7 (J Gen Intern Med 2025, doi 10.1007/s11606-025-09499-2)"


def _table(source: str, doses: dict[str, str]) -> EquivalenceTable:
    """Build a seeded table from CLINICAL.md §5, diazepam itself included."""
    return EquivalenceTable(
        source=source,
        version="2025-table-7",
        citation=f"{source}, as given in {_TABLE_7}",
        doses_mg=MappingProxyType(
            {"diazepam": Decimal(10)} | {k: Decimal(v) for k, v in doses.items()}
        ),
    )


#: Seed values, both columns of the guideline's Table 7 (CLINICAL.md §5).
EQUIVALENCE_TABLES: Mapping[str, EquivalenceTable] = MappingProxyType(
    {
        t.source: t
        for t in (
            _table(
                "VA/DoD 2021",
                {
                    "alprazolam": "1",
                    "chlordiazepoxide": "25",
                    "clonazepam": "1",
                    "clorazepate": "15",
                    "lorazepam": "2",
                    "oxazepam": "30",
                    "temazepam": "15",
                    "triazolam": "0.25",
                },
            ),
            _table(
                "Ashton Manual",
                {
                    "alprazolam": "0.5",
                    "chlordiazepoxide": "25",
                    "clonazepam": "0.5",
                    "clorazepate": "15",
                    "lorazepam": "1",
                    "oxazepam": "20",
                    "temazepam": "20",
                    "triazolam": "0.5",
                },
            ),
        )
    }
)

#: The source shown by default; sources disagree, so pages must name the one used.
DEFAULT_SOURCE = "VA/DoD 2021"

# US brand names, so a plan written as "Klonopin" still gets its equivalent.
_BRANDS = MappingProxyType(
    {
        "xanax": "alprazolam",
        "librium": "chlordiazepoxide",
        "klonopin": "clonazepam",
        "tranxene": "clorazepate",
        "ativan": "lorazepam",
        "serax": "oxazepam",
        "restoril": "temazepam",
        "halcion": "triazolam",
        "valium": "diazepam",
    }
)


def equivalence_table(source: str | EquivalenceTable = DEFAULT_SOURCE) -> EquivalenceTable:
    """Resolve a source name (or a program's edited table) to the table to use."""
    if isinstance(source, EquivalenceTable):
        return source
    try:
        return EQUIVALENCE_TABLES[source]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown equivalence source {source!r}; "
            f"expected one of {', '.join(EQUIVALENCE_TABLES)}"
        ) from None


def diazepam_equivalent(
    medication: str, dose_mg: Decimal, source: str | EquivalenceTable = DEFAULT_SOURCE
) -> Decimal | None:
    """Convert a dose to diazepam mg (to 0.01 mg) as guidance; None for drugs not in the table."""
    table = equivalence_table(source)
    dose = _as_decimal("dose_mg", dose_mg)
    if dose < 0:
        raise ValueError("dose_mg must not be negative")
    key = medication.strip().lower() if isinstance(medication, str) else ""
    key = _BRANDS.get(key, key)
    equivalent = table.doses_mg.get(key)
    if equivalent is None:
        return None
    if dose > MAX_DOSE_MG:
        raise ValueError(f"dose_mg must be at most {MAX_DOSE_MG} mg")
    # Division may not be exact (10 mg oxazepam is 3.33… mg diazepam): round once, at the end.
    with decimal.localcontext(decimal.Context(prec=60)):
        value = dose * DIAZEPAM_REFERENCE_MG / equivalent
        return value.quantize(_CENT, rounding=decimal.ROUND_HALF_UP)


# --- Taper plans ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaperParams:
    """Describe a taper as the physician sets it; checked on creation so plans are sane.

    Wrong types raise TypeError (floats included: use Decimal); out-of-range values raise
    ValueError.
    """

    medication: str
    start_dose_mg: Decimal
    reduction_percent: Decimal
    interval_days: int
    dose_increment_mg: Decimal
    start_on: date

    def __post_init__(self) -> None:
        """Refuse parameters the generator cannot honour; ints become Decimals."""
        if not isinstance(self.medication, str) or not self.medication.strip():
            raise ValueError("medication is required")
        for name in ("start_dose_mg", "reduction_percent", "dose_increment_mg"):
            object.__setattr__(self, name, _as_decimal(name, getattr(self, name)))
        for name in ("start_dose_mg", "dose_increment_mg"):
            value = getattr(self, name)
            if not 0 < value <= MAX_DOSE_MG:
                raise ValueError(f"{name} must be more than 0 and at most {MAX_DOSE_MG} mg")
        for name in ("start_dose_mg", "reduction_percent", "dose_increment_mg"):
            if _exponent(getattr(self, name).normalize()) < -MAX_DECIMAL_PLACES:
                raise ValueError(f"{name} has more than {MAX_DECIMAL_PLACES} decimal places")
        if not 0 < self.reduction_percent <= MAX_REDUCTION_PERCENT:
            raise ValueError(
                f"reduction_percent must be more than 0 and at most {MAX_REDUCTION_PERCENT}"
            )
        if isinstance(self.interval_days, bool) or not isinstance(self.interval_days, int):
            raise TypeError("interval_days must be an int")
        if self.interval_days < 1:
            raise ValueError("interval_days must be at least 1")
        if isinstance(self.start_on, datetime) or not isinstance(self.start_on, date):
            raise TypeError("start_on must be a date")
        with decimal.localcontext(_EXACT):
            multiple = self.start_dose_mg % self.dose_increment_mg == 0
        if not multiple:
            raise ValueError(
                f"start_dose_mg {self.start_dose_mg} is not a multiple of the dose increment "
                f"{self.dose_increment_mg}"
            )


@dataclass(frozen=True)
class TaperStep:
    """One row of a schedule: from ``starts_on`` the patient takes ``daily_dose_mg`` a day."""

    step: int
    starts_on: date
    daily_dose_mg: Decimal
    diazepam_equivalent_mg: Decimal | None


def guideline_problems(params: TaperParams) -> list[str]:
    """List why a plan is outside the guideline's usual pace, so the API can ask for an override.

    Slower than usual (under 5%, or more than 4 weeks apart) is allowed and not reported.
    """
    problems: list[str] = []
    if (
        params.reduction_percent > GUIDELINE_MAX_PERCENT
        or params.interval_days < GUIDELINE_MIN_INTERVAL_DAYS
    ):
        problems.append(FASTER_THAN_GUIDELINE)
    return problems


def replan_from(params: TaperParams, current_dose_mg: Decimal, start_on: date) -> TaperParams:
    """Restart a plan from the current dose on a new date, keeping its pace and increment.

    Generate the new schedule with ``generate``. Its first reduction comes ``interval_days``
    after ``start_on`` and is checked against the current dose only: the generator does not see
    the old plan's reductions. For the 14-day limit to hold across both plans, start the
    re-plan no earlier than ``14 − interval_days`` days after the old plan's last reduction
    (any re-plan after a two-week pause is safe).
    """
    return replace(params, start_dose_mg=current_dose_mg, start_on=start_on)


def generate(
    params: TaperParams, equivalents: str | EquivalenceTable = DEFAULT_SOURCE
) -> list[TaperStep]:
    """Build the schedule down to 0 mg, keeping every dose within the 25%-in-14-days limit."""
    table = equivalence_table(equivalents)
    with decimal.localcontext(_EXACT):
        days_doses = _schedule(params)
    # Show every dose with the same number of decimals as the plan's own figures.
    exponent = min(0, _exponent(params.start_dose_mg), _exponent(params.dose_increment_mg))
    quantum = Decimal((0, (1,), exponent))
    steps: list[TaperStep] = []
    for number, (day, dose) in enumerate(days_doses, start=1):
        shown = dose.quantize(quantum)
        steps.append(
            TaperStep(
                step=number,
                starts_on=params.start_on + timedelta(days=day),
                daily_dose_mg=shown,
                diazepam_equivalent_mg=diazepam_equivalent(params.medication, shown, table),
            )
        )
    return steps


def _schedule(params: TaperParams) -> list[tuple[int, Decimal]]:
    """Compute (day offset, dose) pairs; see the module docstring for the rules."""
    increment = params.dose_increment_mg
    fraction = params.reduction_percent / 100
    days: list[int] = [0]
    doses: list[Decimal] = [params.start_dose_mg]
    try:
        params.start_on + timedelta(days=MAX_DURATION_DAYS)
    except OverflowError:
        raise ValueError("start_on is too close to the end of the calendar") from None

    def dose_on(day: int) -> Decimal:
        # The start dose is taken as in force before day 0 too.
        return doses[max(bisect.bisect_right(days, day) - 1, 0)]

    def fits(day: int, new_dose: Decimal) -> bool:
        # The window ending on `day` that starts furthest back binds hardest (its starting
        # dose is the highest, and the allowance grows more slowly than the dose does).
        before = dose_on(day - WINDOW_DAYS)
        return before - new_dose <= _allowance(before, increment)

    while doses[-1] > 0:
        if len(doses) >= MAX_STEPS:
            raise ValueError(
                f"the schedule would need more than {MAX_STEPS} steps; "
                "use a larger dose increment or reduction"
            )
        current = doses[-1]
        # Nominal step, shrunk only if it is over the limit even alone in its window.
        step = max(_floor(current * fraction, increment), increment)
        step = min(step, _allowance(current, increment))
        # Delay day by day until it fits. This ends at the latest 14 days after the previous
        # step: from then on only this step is in its window, and it is within the allowance.
        day = days[-1] + params.interval_days
        while not fits(day, current - step):
            day += 1
        if day > MAX_DURATION_DAYS:
            raise ValueError(
                f"the schedule would last more than {MAX_DURATION_DAYS} days; "
                "use a larger dose increment, a larger reduction or a shorter interval"
            )
        days.append(day)
        doses.append(current - step)
    return list(zip(days, doses, strict=True))


def _allowance(dose: Decimal, increment: Decimal) -> Decimal:
    """Give the largest reduction (a multiple of the increment) allowed from ``dose`` in 14 days."""
    return _floor(max(dose * MAX_FRACTION_PER_WINDOW, increment), increment)


def _floor(amount: Decimal, increment: Decimal) -> Decimal:
    """Round a non-negative amount down to a multiple of the increment."""
    return (amount // increment) * increment


def _exponent(value: Decimal) -> int:
    """Give a Decimal's exponent (inputs are checked to be finite, so it is an int)."""
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _as_decimal(name: str, value: object) -> Decimal:
    """Accept a finite Decimal or an int; refuse floats, whose binary rounding surprises."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (not {type(value).__name__})")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return result
