"""The phone screening's one clinical rule: when to suggest medically supervised withdrawal.

A suggestion for the intake worker and the admitting clinician, never a placement decision
(ASAM placement is the clinician's, reference/CLINICAL.md §2). Each reason has a source:

- ``withdrawal_seizures``, ``withdrawal_delirium``: a history of withdrawal seizures or
  delirium (tremens) is the strongest predictor of complicated withdrawal and calls for
  medically managed withdrawal (ASAM Clinical Practice Guideline on Alcohol Withdrawal
  Management, 2020, "risk of severe or complicated withdrawal").
- ``daily_alcohol``: daily drinking means physical dependence is likely, and unsupervised
  alcohol withdrawal can progress to seizures and delirium (same guideline).
- ``daily_sedative``: daily benzodiazepine, barbiturate or other sedative use means physical
  dependence is likely; stopping abruptly is unsafe and needs a supervised taper (Joint
  Clinical Practice Guideline on Benzodiazepine Tapering, 2025; reference/CLINICAL.md §5).
- ``pregnancy_opioid``: opioid use in pregnancy needs medical care (medication for opioid use
  disorder), not unsupervised withdrawal (ACOG Committee Opinion 711, 2017; SAMHSA TIP 63).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: TEDS substance codes by class (reference/CLINICAL.md §3).
ALCOHOL = frozenset({2})
SEDATIVES = frozenset({13, 14, 15, 16})
OPIOIDS = frozenset({5, 6, 7})
#: TEDS frequency code for daily use.
DAILY = 3
#: TEDS frequency code for no use in the past month.
NO_USE = 1

REASON_LABELS = {
    "withdrawal_seizures": "History of withdrawal seizures",
    "withdrawal_delirium": "History of withdrawal delirium (DTs)",
    "daily_alcohol": "Daily alcohol use: dependence likely",
    "daily_sedative": "Daily benzodiazepine or sedative use: do not stop abruptly",
    "pregnancy_opioid": "Pregnant and using opioids",
}

#: The answers the rule reads; a screening is "recorded" once any is given.
SCREENING_FIELDS = (
    "frequency",
    "last_use_on",
    "daily_alcohol",
    "daily_sedative",
    "daily_opioid",
    "withdrawal_history",
    "withdrawal_seizures",
    "withdrawal_delirium",
    "co_occurring",
    "co_occurring_notes",
    "pregnant",
    "legal_status",
)


def uses_daily(answers: Mapping[str, Any], flag: str, codes: frozenset[int]) -> bool:
    """Tell whether a class of substance is used daily, by its flag or the primary substance."""
    if answers.get(flag):
        return True
    return answers.get("primary_substance") in codes and answers.get("frequency") == DAILY


def detox_reasons(answers: Mapping[str, Any]) -> list[str]:
    """Return the reasons (codes of REASON_LABELS) to suggest medically supervised withdrawal."""
    reasons = []
    if answers.get("withdrawal_seizures"):
        reasons.append("withdrawal_seizures")
    if answers.get("withdrawal_delirium"):
        reasons.append("withdrawal_delirium")
    if uses_daily(answers, "daily_alcohol", ALCOHOL):
        reasons.append("daily_alcohol")
    if uses_daily(answers, "daily_sedative", SEDATIVES):
        reasons.append("daily_sedative")
    opioid_use = answers.get("daily_opioid") or (
        answers.get("primary_substance") in OPIOIDS and answers.get("frequency") != NO_USE
    )
    if answers.get("pregnant") and opioid_use:
        reasons.append("pregnancy_opioid")
    return reasons
