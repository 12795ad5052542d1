"""TEDS admission (TEDS-A) and discharge (TEDS-D) extracts: one row per episode, codes only.

Columns follow the TEDS public-use codebooks (CLINICAL.md §3); a missing value is -9. The
extract holds no names or MRNs: the case id is the episode id. Every extract is a disclosure
of Part 2 records, so it carries the redisclosure notice and is audited.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import sqlalchemy as sa

from casemgr.audit.services import REDISCLOSURE_NOTICE
from casemgr.clinical import teds
from casemgr.core.sqlfuncs import days_between
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.patients.models import Patient
from casemgr.reports.filters import ReportFilters

#: TEDS-A AGE codes (public-use file, 2015 onwards): (code, first year, last year).
AGE_BANDS = (
    (1, 12, 14),
    (2, 15, 17),
    (3, 18, 20),
    (4, 21, 24),
    (5, 25, 29),
    (6, 30, 34),
    (7, 35, 39),
    (8, 40, 44),
    (9, 45, 49),
    (10, 50, 54),
    (11, 55, 64),
    (12, 65, 200),
)
#: TEDS-A DAYWAIT codes (public-use file): 0 no wait, 1: 1–7, 2: 8–14, 3: 15–30, 4: 31+.
DAYWAIT_BANDS = ((0, 0, 0), (1, 1, 7), (2, 8, 14), (3, 15, 30), (4, 31, 100_000))
#: TEDS GENDER: 1 male, 2 female; casemgr's X (another) and U (unknown) have no TEDS code.
GENDER = {"M": 1, "F": 2}

ADMISSION_COLUMNS = [
    "CASEID",
    "ADMYR",
    "ADMMONTH",
    "AGE",
    "GENDER",
    "SERVICES",
    "PSOURCE",
    "NOPRIOR",
    "SUB1",
    "SUB2",
    "SUB3",
    "ROUTE1",
    "FREQ1",
    "FRSTUSE1",
    "DAYWAIT",
]
DISCHARGE_COLUMNS = ADMISSION_COLUMNS + [
    "DISYR",
    "DISMONTH",
    "REASON",
    "LOS",
    "SERVICES_D",
    "FREQ1_D",
]


def _age_code(born: date, on: date) -> int:
    """Return the TEDS AGE code for a person's age on a day (-9 below 12)."""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return next((code for code, low, high in AGE_BANDS if low <= years <= high), teds.UNKNOWN)


def _daywait_code(days: int | None) -> int:
    """Return the TEDS DAYWAIT code for days waited (-9 when unknown)."""
    if days is None:
        return teds.UNKNOWN
    return next((code for code, low, high in DAYWAIT_BANDS if low <= days <= high), teds.UNKNOWN)


def _code(value: int | None) -> int:
    """Return a TEDS code, -9 when missing."""
    return teds.UNKNOWN if value is None else value


def extract(kind: str, filters: ReportFilters) -> tuple[list[str], list[list[int]], list[int]]:
    """Return the header, the rows, and the patients in a TEDS extract for the range."""
    by_date = Episode.admitted_on if kind == "admissions" else Episode.discharged_on
    los = (days_between(Episode.discharged_on, Episode.admitted_on) + 1).label("los")
    query = (
        sa.select(Episode, Patient.date_of_birth, Patient.sex, los)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(by_date.between(filters.start, filters.end), *filters.episode_conditions())
        .order_by(by_date, Episode.id)
    )
    rows = []
    patient_ids = []
    for episode, born, sex, length in db.session.execute(query):
        patient_ids.append(episode.patient_id)
        row = [
            episode.id,
            episode.admitted_on.year,
            episode.admitted_on.month,
            _age_code(born, episode.admitted_on),
            GENDER.get(sex, teds.UNKNOWN),
            episode.service_setting,
            episode.referral_source,
            _code(episode.prior_treatment_episodes),
            episode.primary_substance,
            _code(episode.secondary_substance),
            _code(episode.tertiary_substance),
            _code(episode.route),
            _code(episode.frequency),
            _code(episode.age_at_first_use),
            _daywait_code(episode.days_waiting),
        ]
        if kind == "discharges":
            row += [
                episode.discharged_on.year,
                episode.discharged_on.month,
                episode.discharge_reason,
                teds.los_band(length),
                _code(episode.discharge_service_setting),
                _code(episode.discharge_frequency),
            ]
        rows.append(row)
    header = DISCHARGE_COLUMNS if kind == "discharges" else ADMISSION_COLUMNS
    return header, rows, patient_ids


def to_csv(kind: str, filters: ReportFilters, header: list[str], rows: list[list[Any]]) -> str:
    """Write the extract with the Part 2 notice and what it covers as leading comment lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {REDISCLOSURE_NOTICE}"])
    writer.writerow(
        [
            f"# TEDS {kind} extract, {filters.start.isoformat()} to "
            f"{filters.end.isoformat()}; -9 = missing or unknown"
        ]
    )
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
