"""SAMHSA TEDS code tables (reference/CLINICAL.md §3): stored as codes, shown with labels."""

from __future__ import annotations

#: TEDS code for a missing or unknown value.
UNKNOWN = -9

SERVICE_SETTINGS: dict[int, str] = {
    1: "Detox, 24-hour, hospital inpatient",
    2: "Detox, 24-hour, free-standing residential",
    3: "Rehab/residential, hospital (non-detox)",
    4: "Rehab/residential, short term (30 days or fewer)",
    5: "Rehab/residential, long term (more than 30 days)",
    6: "Ambulatory, intensive outpatient",
    7: "Ambulatory, non-intensive outpatient",
    8: "Ambulatory, detoxification",
}

DISCHARGE_REASONS: dict[int, str] = {
    1: "Treatment completed",
    2: "Dropped out",
    3: "Terminated by facility",
    4: "Transferred to another program or facility",
    5: "Incarcerated",
    6: "Death",
    7: "Other",
}

#: Discharge reasons TEDS counts as a positive outcome.
POSITIVE_DISCHARGE_REASONS: frozenset[int] = frozenset({1, 4})

SUBSTANCES: dict[int, str] = {
    1: "None",
    2: "Alcohol",
    3: "Cocaine/crack",
    4: "Marijuana/hashish",
    5: "Heroin",
    6: "Non-prescription methadone",
    7: "Other opiates and synthetics",
    8: "PCP",
    9: "Hallucinogens",
    10: "Methamphetamine",
    11: "Other amphetamines",
    12: "Other stimulants",
    13: "Benzodiazepines",
    14: "Other tranquilizers",
    15: "Barbiturates",
    16: "Other sedatives or hypnotics",
    17: "Inhalants",
    18: "Over-the-counter medications",
    19: "Other",
}

ROUTES: dict[int, str] = {1: "Oral", 2: "Smoking", 3: "Inhalation", 4: "Injection", 5: "Other"}

FREQUENCIES: dict[int, str] = {1: "No use in the past month", 2: "Some use", 3: "Daily use"}

AGE_AT_FIRST_USE: dict[int, str] = {
    1: "11 and under",
    2: "12–14",
    3: "15–17",
    4: "18–20",
    5: "21–24",
    6: "25–29",
    7: "30 and older",
}

REFERRAL_SOURCES: dict[int, str] = {
    1: "Individual (includes self-referral)",
    2: "Alcohol/drug use care provider",
    3: "Other health care provider",
    4: "School (educational)",
    5: "Employer/EAP",
    6: "Other community referral",
    7: "Court/criminal justice referral/DUI/DWI",
}


def los_band(los_days: int) -> int:
    """Return the TEDS-D length-of-stay code for a stay of ``los_days`` (day 1 = admission day)."""
    if los_days < 1:
        raise ValueError("length of stay starts at 1")
    if los_days <= 30:
        return los_days
    for upper, code in ((45, 31), (60, 32), (90, 33), (120, 34), (180, 35), (365, 36)):
        if los_days <= upper:
            return code
    return 37


def label(table: dict[int, str], code: int | None) -> str:
    """Show a TEDS code with its label, so screens never show a bare number."""
    if code is None or code == UNKNOWN:
        return "Unknown"
    return table.get(code, f"Code {code}")
