"""Synthetic program history for benchmarks (`flask generate-data`): deterministic, bulk-inserted.

Shapes follow shared/reference/CLINICAL.md §8: admissions spread over the years, a realistic
discharge-reason mix and length-of-stay distribution (many early drop-outs, peaks at 28, 60
and 90 days), counselors at residential/outpatient caseload ratios, twice-weekly sessions
with a few no-shows. Rows are written with Core executemany in chunks, ids assigned here, so
no row-by-row round trips.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.core.timeutil import today
from casemgr.demo import FIRST, LAST
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.patients import mrn as mrn_rules
from casemgr.patients.models import Patient
from casemgr.staff.models import Staff, StaffRole
from casemgr.staff.services import hash_password
from casemgr.therapy.models import TherapySession

CHUNK = 5_000
#: (reason code, weight): completed, dropped out, terminated, transferred, jail, death, other.
REASONS = ((1, 45), (2, 30), (3, 8), (4, 10), (5, 2), (6, 1), (7, 4))
STAGES = ("diagnosis", "detox", "taper", "plan", "education", "therapy")


@dataclass
class Counts:
    """How many rows of each kind were written."""

    staff: int = 0
    patients: int = 0
    episodes: int = 0
    stage_changes: int = 0
    sessions: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _next_id(model: Any) -> int:
    """Return the first free id of a table (generated rows follow existing ones)."""
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows with executemany in chunks."""
    for start in range(0, len(rows), CHUNK):
        db.session.execute(sa.insert(model), rows[start : start + CHUNK])


def _los(rng: random.Random) -> int:
    """Draw a length of stay: early drop-outs, and completions around 28, 60 or 90 days."""
    roll = rng.random()
    if roll < 0.30:
        return rng.randint(1, 14)
    if roll < 0.45:
        return rng.randint(15, 27)
    if roll < 0.62:
        return rng.randint(28, 32)
    if roll < 0.75:
        return rng.randint(45, 62)
    if roll < 0.93:
        return rng.randint(85, 95)
    return rng.randint(96, 200)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """Return a UTC datetime on a day."""
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def generate(patients: int, years: int = 3, seed: int = 1) -> Counts:
    """Write a synthetic history of ``patients`` people over ``years`` years ending today."""
    rng = random.Random(seed)  # noqa: S311  (reproducible synthetic data, not security)
    counts = Counts()
    end = today()
    start = end - timedelta(days=365 * years)
    span = (end - start).days
    password_hash = hash_password(f"generated-{seed}-not-for-login")

    # Active census ≈ admissions per day × mean stay (~45 days); counselors at a blended
    # caseload of 1:15 (residential 1:8–12, outpatient about 1:35).
    expected_active = patients * 1.2 / (365 * years) * 45
    n_counselors = max(4, round(expected_active / 15))
    staff_id = _next_id(Staff)
    staff_rows, role_rows, counselor_ids = [], [], []
    for i in range(n_counselors + 2):
        sid = staff_id + i
        role = "supervisor" if i < 2 else "counselor"
        staff_rows.append(
            {
                "id": sid,
                "username": f"gen{seed}-{role}-{sid}",
                "full_name": f"{role.title()} {sid}",
                "password_hash": password_hash,
                "active": True,
                "needs_cosign": False,
                "failed_logins": 0,
                "created_at": _at(start, 8),
                "updated_at": _at(start, 8),
            }
        )
        role_rows.append({"staff_id": sid, "role": role})
        if role == "counselor":
            counselor_ids.append(sid)
    _insert(Staff, staff_rows)
    _insert(StaffRole, role_rows)
    counts.staff = len(staff_rows)
    by = staff_id  # a supervisor records the stage history

    patient_id, episode_id = _next_id(Patient), _next_id(Episode)
    change_id, session_id = _next_id(StageChange), _next_id(TherapySession)
    used_mrns: set[str] = set(db.session.scalars(sa.select(Patient.mrn)))
    patient_rows: list[dict[str, Any]] = []
    episode_rows: list[dict[str, Any]] = []
    change_rows: list[dict[str, Any]] = []
    session_rows: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal patient_rows, episode_rows, change_rows, session_rows
        _insert(Patient, patient_rows)
        _insert(Episode, episode_rows)
        _insert(StageChange, change_rows)
        _insert(TherapySession, session_rows)
        counts.patients += len(patient_rows)
        counts.episodes += len(episode_rows)
        counts.stage_changes += len(change_rows)
        counts.sessions += len(session_rows)
        patient_rows, episode_rows, change_rows, session_rows = [], [], [], []

    for p in range(patients):
        mrn = mrn_rules.new_mrn_from(rng)
        while mrn in used_mrns:
            mrn = mrn_rules.new_mrn_from(rng)
        used_mrns.add(mrn)
        pid = patient_id + p
        created = _at(start, 9)
        patient_rows.append(
            {
                "id": pid,
                "mrn": mrn,
                "first_name": rng.choice(FIRST),
                "last_name": f"{rng.choice(LAST)}{pid}",
                "date_of_birth": date(
                    1950 + rng.randrange(55), rng.randint(1, 12), rng.randint(1, 28)
                ),
                "sex": rng.choice("FMFMXU"),
                "phone": None,
                "email": None,
                "created_by_id": None,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }
        )
        admitted = start + timedelta(days=rng.randrange(span))
        for _ in range(1 if rng.random() < 0.8 else 2):
            if admitted > end:
                break
            los = _los(rng)
            discharged = admitted + timedelta(days=los - 1)
            active = discharged >= end
            counselor = rng.choice(counselor_ids)
            setting = rng.choice((5, 5, 4, 6, 7, 7))
            eid = episode_id
            episode_id += 1
            stay_days = ((end - admitted).days + 1) if active else los
            reached = min(5, stay_days // 10)
            stage = STAGES[reached]
            episode_rows.append(
                {
                    "id": eid,
                    "patient_id": pid,
                    "status": "active" if active else "discharged",
                    "stage": stage if active else "discharged",
                    "admitted_on": admitted,
                    "discharged_on": None if active else discharged,
                    "primary_counselor_id": counselor,
                    "los_target_days": 90,
                    "primary_substance": rng.choice((13, 13, 2, 2, 7, 5, 10, 4)),
                    "secondary_substance": rng.choice((None, -9, 2, 4)),
                    "tertiary_substance": None,
                    "route": rng.choice((1, 2, 4, -9)),
                    "frequency": rng.choice((2, 3)),
                    "age_at_first_use": rng.randint(2, 6),
                    "referral_source": rng.choice((1, 1, 2, 3, 7)),
                    "prior_treatment_episodes": rng.choice((0, 1, 2, -9)),
                    "service_setting": setting,
                    "days_waiting": rng.randint(0, 30),
                    "discharge_reason": None if active else _reason(rng, los),
                    "discharge_service_setting": None if active else setting,
                    "discharge_frequency": None if active else rng.choice((1, 2, -9)),
                    "created_by_id": None,
                    "version": 1,
                    "created_at": _at(admitted, 9),
                    "updated_at": _at(admitted, 9),
                }
            )
            previous = None
            for index in range(reached + 1):
                day = admitted + timedelta(days=index * 10)
                change_rows.append(
                    {
                        "id": change_id,
                        "episode_id": eid,
                        "from_stage": previous,
                        "to_stage": STAGES[index],
                        "at": _at(day, 12),
                        "by_id": by,
                        "reason": "Admission" if index == 0 else None,
                        "override": False,
                    }
                )
                change_id += 1
                previous = STAGES[index]
            if not active:
                change_rows.append(
                    {
                        "id": change_id,
                        "episode_id": eid,
                        "from_stage": previous,
                        "to_stage": "discharged",
                        "at": _at(discharged, 16),
                        "by_id": by,
                        "reason": "Discharge",
                        "override": False,
                    }
                )
                change_id += 1
            for offset in range(1, stay_days, 3 if setting in (6, 7) else 2):
                day = admitted + timedelta(days=offset)
                if day > end:
                    break
                roll = rng.random()
                attendance = (
                    "attended"
                    if roll < 0.82
                    else "late"
                    if roll < 0.88
                    else ("no_show" if roll < 0.96 else "cancelled")
                )
                started = _at(day, rng.randint(8, 16), rng.choice((0, 30)))
                session_rows.append(
                    {
                        "id": session_id,
                        "episode_id": eid,
                        "kind": "individual",
                        "modality": rng.choice(
                            ("cbt", "dbt", "motivational_interviewing", "contingency_management")
                        ),
                        "started_at": started,
                        "duration_minutes": rng.choice((30, 45, 50, 60)),
                        "attendance": attendance,
                        "counselor_id": counselor,
                        "created_at": started,
                        "updated_at": started,
                    }
                )
                session_id += 1
            admitted = discharged + timedelta(days=rng.randint(30, 400))
        if len(session_rows) > 50_000:
            flush()
    flush()
    _reset_sequences()
    return counts


def _reason(rng: random.Random, los: int) -> int:
    """Draw a discharge reason; long stays are mostly completions."""
    if los >= 85:
        return rng.choice((1, 1, 1, 1, 4, 7))
    codes, weights = zip(*REASONS, strict=True)
    return rng.choices(codes, weights)[0]


def _reset_sequences() -> None:
    """Move PostgreSQL id sequences past the ids assigned here."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("staff", "patients", "episodes", "stage_changes", "therapy_sessions"):
        db.session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )
