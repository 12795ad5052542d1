"""DSM-5 substance use disorder criteria, severity and ICD-10-CM codes (CLINICAL.md §1).

Severity follows the DSM-5 count of criteria met within 12 months: 0–1 none, 2–3 mild,
4–5 moderate, 6 or more severe. Criteria 10 (tolerance) and 11 (withdrawal) are not counted
when the drug is taken solely under appropriate medical supervision.

ICD-10-CM codes follow the DSM-5 → ICD-10-CM crosswalk printed with each substance use
disorder in DSM-5 (APA 2013, coding update of October 2017) and kept unchanged in DSM-5-TR
(2022): a mild disorder is coded as "abuse, uncomplicated" (F1x.10), a moderate or severe one
as "dependence, uncomplicated" (F1x.20). casemgr records only these uncomplicated codes;
intoxication, withdrawal and induced-disorder codes are a clinician's choice, entered as
co-occurring ICD-10 codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from casemgr.clinical import teds

#: The 11 criteria, numbered as in DSM-5 (short wording of CLINICAL.md §1).
CRITERIA: Mapping[int, str] = MappingProxyType(
    {
        1: "taken in larger amounts or over a longer period than intended",
        2: "persistent desire or unsuccessful efforts to cut down",
        3: "much time spent obtaining, using or recovering",
        4: "craving",
        5: "failure to fulfil major role obligations",
        6: "continued use despite social or interpersonal problems",
        7: "important activities given up or reduced",
        8: "recurrent use in physically hazardous situations",
        9: "continued use despite a physical or psychological problem it causes",
        10: "tolerance",
        11: "withdrawal",
    }
)

#: Tolerance and withdrawal: expected, so not counted, under appropriate medical supervision.
PHYSIOLOGICAL_CRITERIA: frozenset[int] = frozenset({10, 11})

#: Severity names, mildest first; the API returns exactly these strings.
SEVERITIES: tuple[str, ...] = ("none", "mild", "moderate", "severe")

#: ICD-10-CM category of each TEDS primary substance code (teds.SUBSTANCES).
ICD10_FAMILY_BY_SUBSTANCE: Mapping[int, str] = MappingProxyType(
    {
        2: "F10",  # alcohol
        3: "F14",  # cocaine/crack
        4: "F12",  # marijuana/hashish → cannabis
        5: "F11",  # heroin → opioid
        6: "F11",  # non-prescription methadone → opioid
        7: "F11",  # other opiates and synthetics → opioid
        8: "F16",  # PCP → phencyclidine use disorder is coded with hallucinogens
        9: "F16",  # hallucinogens
        10: "F15",  # methamphetamine → other stimulant
        11: "F15",  # other amphetamines → other stimulant
        12: "F15",  # other stimulants
        13: "F13",  # benzodiazepines → sedative, hypnotic or anxiolytic
        14: "F13",  # other tranquilizers
        15: "F13",  # barbiturates
        16: "F13",  # other sedatives or hypnotics
        17: "F18",  # inhalants
        18: "F19",  # over-the-counter → other (or unknown) substance
        19: "F19",  # other
    }
)

#: The program treats benzodiazepine dependence first, so an unspecified substance means F13.
DEFAULT_ICD10_FAMILY = "F13"

# Letter, digit, then a digit or letter (real categories such as M1A and Z3A exist), then an
# optional dot and 1–4 more characters.
_ICD10_RE = re.compile(r"([A-Z][0-9][0-9A-Z])(?:\.?([0-9A-Z]{1,4}))?")


@dataclass(frozen=True)
class Dsm5Result:
    """Hold the computed part of a diagnostic assessment, so it is stored as computed."""

    criteria_counted: int
    severity: str
    icd10: str | None


def severity_for_count(count: int) -> str:
    """Name the DSM-5 severity for a count of criteria, so the bands live in one place."""
    if count < 0 or count > len(CRITERIA):
        raise ValueError(f"criteria count must be 0–{len(CRITERIA)}, got {count}")
    if count <= 1:
        return "none"
    if count <= 3:
        return "mild"
    if count <= 5:
        return "moderate"
    return "severe"


def icd10_for(severity: str, substance: int | None = None) -> str | None:
    """Give the uncomplicated ICD-10-CM code for a severity and TEDS primary substance."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    if substance is not None and (isinstance(substance, bool) or substance not in teds.SUBSTANCES):
        raise ValueError(f"unknown TEDS substance code {substance!r}")
    if severity == "none":
        return None
    if substance is None:
        family = DEFAULT_ICD10_FAMILY
    else:
        family = ICD10_FAMILY_BY_SUBSTANCE.get(substance)
        if family is None:
            # TEDS code 1 means "no substance": a use disorder needs one.
            raise ValueError(
                f"a {severity} use disorder needs a substance; TEDS code {substance} "
                f"({teds.SUBSTANCES[substance]}) has no ICD-10-CM substance category"
            )
    return f"{family}.10" if severity == "mild" else f"{family}.20"


def assess(
    criteria: Iterable[int], medical_supervision: bool, substance: int | None = None
) -> Dsm5Result:
    """Count the criteria met and derive severity and ICD-10-CM code, as DSM-5 defines them."""
    if not isinstance(medical_supervision, bool):
        # A truthy string such as "false" must not silently drop criteria 10 and 11.
        raise TypeError("medical_supervision must be a bool")
    seen: set[int] = set()
    for criterion in criteria:
        if isinstance(criterion, bool) or not isinstance(criterion, int):
            raise ValueError(f"criterion {criterion!r} is not a criterion number (1–11)")
        if criterion not in CRITERIA:
            raise ValueError(f"unknown DSM-5 criterion {criterion}; criteria are numbered 1–11")
        if criterion in seen:
            raise ValueError(f"criterion {criterion} is listed twice")
        seen.add(criterion)
    counted = seen - PHYSIOLOGICAL_CRITERIA if medical_supervision else seen
    severity = severity_for_count(len(counted))
    return Dsm5Result(
        criteria_counted=len(counted), severity=severity, icd10=icd10_for(severity, substance)
    )


def validate_icd10(code: str) -> str:
    """Normalise an ICD-10 code (upper case, dotted) so co-occurring codes compare equal."""
    if not isinstance(code, str):
        raise ValueError("an ICD-10 code must be text")
    match = _ICD10_RE.fullmatch(code.strip().upper())
    if match is None:
        raise ValueError(
            f"{code!r} is not an ICD-10 code (a letter and two digits, then optionally a dot "
            "and 1–4 letters or digits, e.g. I10, F41.1 or F13.20)"
        )
    category, subcode = match.groups()
    return f"{category}.{subcode}" if subcode else category
