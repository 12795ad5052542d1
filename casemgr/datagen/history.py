"""Write a program's synthetic history: staff, patients, episodes and every clinical record.

Shapes follow shared/reference/CLINICAL.md §8 and the rules of the real models:

- admissions spread over the years, a realistic discharge-reason mix and length of stay
  (many early drop-outs, peaks at 28, 60 and 90 days), readmissions for one patient in five;
- staff at caseload ratios: counselors (blended 1:15), physicians (1:60 active patients),
  nurses (1:20), intake staff, supervisors (1 per 8 counselors) and admins;
- the stage pathway in order, each exit backed by its records: a signed DSM-5 assessment and a
  level-of-care decision, daily withdrawal scores through detox (the last one below severe),
  a taper plan with its schedule and the doses given (benzodiazepines; a physician's waiver
  otherwise), a signed treatment plan (a new version at each 30-day review), the core
  education modules; then therapy until discharge;
- individual and group sessions two or three times a week, with a note for each attended or
  late one, nearly all signed (a few late, a few trainees' notes co-signed, recent ones
  sometimes still drafts), none for no-shows;
- one audit event per write and some reads (chart views, logins), chained as the app does;
- a showcase patient whose active episode has exactly 500 sessions, each with its note.

Everything comes from one seeded generator, so a seed always writes the same rows.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import argon2
import sqlalchemy as sa
from flask import current_app

from casemgr.assessments.services import bands_for
from casemgr.clinical import asam, dsm5, taper, withdrawal
from casemgr.core.timeutil import program_zone, today
from casemgr.datagen import trail as T  # noqa: N812  (action codes read as T.CODE[...])
from casemgr.datagen import vocab
from casemgr.datagen.bulk import BulkWriter, Clock, next_id, reset_sequences, sqlite_page_cache
from casemgr.demo import EDUCATION_CATALOGUE, FIRST, LAST
from casemgr.extensions import db
from casemgr.patients import mrn as mrn_rules

#: (reason code, weight): completed, dropped out, terminated, transferred, jail, death, other.
REASONS = ((1, 45), (2, 30), (3, 8), (4, 10), (5, 2), (6, 1), (7, 4))
STAGES = ("diagnosis", "detox", "taper", "plan", "education", "therapy")
#: Days of audit trail written by default: a year at state scale is ~3 million events (100,000
#: patients), which PostgreSQL ingests within the 10-minute budget; the whole 3-year history
#: (~8 million, each checked against two foreign keys and five indexes) would not fit it.
AUDIT_DAYS = 365
#: SQLite page cache for the run (KiB); the default 2 MB thrashes once indexes grow.
SQLITE_CACHE_KIB = 256 * 1024
#: Sessions written before the buffers are flushed to the database.
FLUSH_SESSIONS = 60_000
#: The showcase patient's active episode: this many sessions over this many days.
SHOWCASE_SESSIONS = 500
SHOWCASE_DAYS = 720
#: A stable MRN for the showcase patient (when free), so benchmarks can find it by number.
SHOWCASE_MRN = "5005005" + mrn_rules.luhn_digit("5005005")
#: The 4th ASAM edition replaced the 3rd this many days before today (states adopt at will).
ASAM4_DAYS_AGO = 540

BENZODIAZEPINES = frozenset({13, 14, 15, 16})
#: Withdrawal scale per TEDS primary substance; other substances get one baseline CIWA-Ar.
INSTRUMENT_BY_SUBSTANCE = {
    13: "CIWA-B",
    14: "CIWA-B",
    15: "CIWA-B",
    16: "CIWA-B",
    2: "CIWA-Ar",
    5: "COWS",
    6: "COWS",
    7: "COWS",
}
#: (medication, start doses in mg, tablet increment in mg); every dose a multiple.
TAPER_MEDS = (
    ("clonazepam", ("1", "1.5", "2", "3"), "0.125"),
    ("alprazolam", ("1", "2", "3", "4"), "0.25"),
    ("lorazepam", ("2", "3", "4", "6"), "0.5"),
    ("diazepam", ("10", "20", "30", "40"), "1"),
)
#: Levels of care per TEDS admission setting and ASAM edition.
LEVELS = {
    (5, 3): ("3.5", "3.5", "3.7", "3.1"),
    (5, 4): ("3.5", "3.5", "3.7", "3.1"),
    (4, 3): ("3.5", "3.7"),
    (4, 4): ("3.5", "3.7"),
    (6, 3): ("2.1", "2.1", "2.5"),
    (6, 4): ("2.1", "2.1", "2.5"),
    (7, 3): ("1",),
    (7, 4): ("1.5", "1.5", "1.7"),
}
#: Share of a setting's sessions held in groups (residential programs run daily groups).
GROUP_SHARE = {4: 0.4, 5: 0.4, 6: 0.5, 7: 0.2}
INDIVIDUAL_MODALITIES = (
    "cbt",
    "cbt",
    "motivational_interviewing",
    "motivational_interviewing",
    "dbt",
    "contingency_management",
    "trauma_focused",
    "other",
)
GROUP_MODALITIES = ("cbt", "dbt", "twelve_step_facilitation", "contingency_management")
NOTE_FORMATS = ("DAP", "SOAP", "BIRP", "free")
DURATIONS = (45, 50, 50, 60)
#: Attendance of past sessions by percentile: 82% attended, 6% late, 8% no-show, 3% cancelled.
ATTENDANCE_BY_PERCENT = (
    ("attended",) * 82 + ("late",) * 6 + ("no_show",) * 8 + ("cancelled",) * 3 + ("excused",)
)
_PATIENT_VIEW = T.CODE["patient.view"]
_SESSION_CREATE = T.CODE["session.create"]
_NOTE_CREATE = T.CODE["note.create"]
_NOTE_SIGN = T.CODE["note.sign"]
FIRST_FIELD = {"DAP": "data", "SOAP": "subjective", "BIRP": "behavior", "free": "text"}
DSM_COUNTS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
DSM_WEIGHTS = (4, 6, 10, 12, 14, 14, 12, 10, 10, 8)


def _columns(names: str) -> tuple[str, ...]:
    """Split a space-separated list of column names."""
    return tuple(names.split())


#: Columns written per table, in row-tuple order (the rest take their defaults).
COLUMNS: dict[str, tuple[str, ...]] = {
    "staff": _columns(
        "id username full_name email password_hash active needs_cosign failed_logins "
        "last_login_at created_at updated_at"
    ),
    "staff_roles": _columns("staff_id role"),
    "education_modules": _columns("id title topic minutes core active created_at updated_at"),
    "patients": _columns(
        "id mrn first_name last_name date_of_birth sex created_by_id version created_at updated_at"
    ),
    "episodes": _columns(
        "id patient_id status stage admitted_on discharged_on primary_counselor_id "
        "los_target_days primary_substance secondary_substance route frequency "
        "age_at_first_use referral_source prior_treatment_episodes service_setting "
        "days_waiting discharge_reason discharge_service_setting discharge_frequency "
        "created_by_id version created_at updated_at"
    ),
    "stage_changes": _columns("id episode_id from_stage to_stage at by_id reason"),
    "diagnostic_assessments": _columns(
        "id episode_id criteria medical_supervision criteria_counted severity icd10 "
        "physical_evaluation psychological_evaluation co_occurring author_id signed_at "
        "signed_by_id version created_at updated_at"
    ),
    "level_of_care_decisions": _columns(
        "id episode_id asam_edition dimensions level setting teds_service_setting "
        "rationale effective_on discrepancy_reason decided_by_id decided_at created_at "
        "updated_at"
    ),
    "withdrawal_scores": _columns(
        "id episode_id instrument items total band rank is_severe bands_source "
        "assessed_at recorded_by_id acknowledged_at acknowledged_by_id created_at "
        "updated_at"
    ),
    "taper_plans": _columns(
        "id episode_id medication start_dose_mg reduction_percent interval_days "
        "dose_increment_mg start_on ends_on status equivalence_source override_reason "
        "prescribed_by_id version created_at updated_at"
    ),
    "taper_steps": _columns("id plan_id step starts_on daily_dose_mg diazepam_equivalent_mg"),
    "dose_records": _columns(
        "id plan_id given_at dose_mg status note recorded_by_id created_at updated_at"
    ),
    "taper_waivers": _columns(
        "id episode_id reason decided_by_id decided_at created_at updated_at"
    ),
    "treatment_plans": _columns(
        "id episode_id number status problems author_id signed_at review_due_on "
        "previous_id version created_at updated_at"
    ),
    "education_deliveries": _columns(
        "id episode_id module_id delivered_on delivered_by_id created_at updated_at"
    ),
    "group_sessions": _columns(
        "id topic modality started_at duration_minutes facilitator_id summary "
        "created_by_id created_at updated_at"
    ),
    "therapy_sessions": _columns(
        "id episode_id kind modality started_at duration_minutes attendance counselor_id "
        "group_session_id late_entry created_at updated_at"
    ),
    "notes": _columns(
        "id episode_id session_id kind format body status author_id signed_at "
        "cosigned_by_id cosigned_at late_entry version created_at updated_at"
    ),
}
#: Tables in foreign-key order: a flush writes them in this order.
FLUSH_ORDER = (
    "patients",
    "episodes",
    "stage_changes",
    "diagnostic_assessments",
    "level_of_care_decisions",
    "withdrawal_scores",
    "taper_plans",
    "taper_steps",
    "dose_records",
    "taper_waivers",
    "treatment_plans",
    "education_deliveries",
    "group_sessions",
    "therapy_sessions",
    "notes",
)
#: Tables whose ids are assigned here (their PostgreSQL sequences are moved afterwards).
ID_TABLES = (*FLUSH_ORDER, "staff", "education_modules", "audit_events")


@dataclass
class Counts:
    """What was written: rows per table, and the showcase patient to benchmark a chart with."""

    staff: int = 0
    patients: int = 0
    episodes: int = 0
    stage_changes: int = 0
    sessions: int = 0
    notes: int = 0
    audit_events: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    showcase_patient_id: int | None = None
    showcase_mrn: str | None = None
    showcase_episode_id: int | None = None
    #: First day of the audit trail written (None when it covers the whole history).
    audit_since: date | None = None


@dataclass
class _Staffing:
    """Staff ids by role, and who supervises and co-signs for whom."""

    admins: list[int]
    supervisors: list[int]
    physicians: list[int]
    nurses: list[int]
    counselors: list[int]
    intake: list[int]
    trainees: frozenset[int]
    #: Counselor → the counselor who leads their groups (three counselors share groups).
    leader: dict[int, int]
    #: Counselor → their supervisor (co-signs trainees' notes).
    supervisor_of: dict[int, int]
    #: Counselor → the note format they mostly use.
    note_format: dict[int, str]


class _History:
    """One generation run: the generator, the clock, id counters, row buffers, the trail."""

    def __init__(self, seed: int, years: int, audit_days: int | None) -> None:
        """Set up the clock (days from before the window to a week after today)."""
        self.rng = random.Random(seed)  # noqa: S311  (reproducible synthetic data)
        self.seed = seed
        session = db.session
        self.writer = BulkWriter(session)
        end = today()
        self.window_start = end - timedelta(days=365 * years)
        base = min(self.window_start, end - timedelta(days=SHOWCASE_DAYS)) - timedelta(days=3)
        days = (end - base).days + 14
        self.clock = Clock(base, days, program_zone(), self.writer.dialect)
        self.end = self.clock.day(end)
        self.start = self.clock.day(self.window_start)
        #: Every generated moment is before the start of today, so never in the future.
        self.cutoff = self.clock.midnight[self.end]
        since = 0
        self.audit_since: date | None = None
        if audit_days is not None:
            self.audit_since = end - timedelta(days=audit_days)
            since = self.clock.midnight[self.clock.day(self.audit_since)]
        self.trail = T.Trail(days, since, self.cutoff)
        self.ids = {table: next_id(session, table) for table in (*FLUSH_ORDER, "staff")}
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in FLUSH_ORDER}
        self.groups: dict[int, tuple[int, int, str, str]] = {}
        self.asam4_from = self.end - ASAM4_DAYS_AGO
        self.weekday = [self.clock.date_of(d).weekday() < 5 for d in range(days)]
        self.los_target = int(current_app.config.get("LOS_TARGET_DAYS", 90))
        self.taper_cache: dict[tuple[Any, ...], list[tuple[int, str, str | None]]] = {}
        self.bands = self._band_tables()
        self.counts = Counts()
        self.core: list[int] = []
        self.optional: list[int] = []

    # --- helpers ------------------------------------------------------------------------

    def _band_tables(self) -> dict[str, tuple[str, list[tuple[str, int, bool]]]]:
        """Band every possible total of each scale once, with the program's bands."""
        config = current_app.config.get("WITHDRAWAL_BANDS")
        tables = {}
        for name, instrument in withdrawal.INSTRUMENTS.items():
            bands, source = bands_for(name, config)
            by_total = []
            for total in range(instrument.max_total + 1):
                band = next(b for b in bands if b.low <= total <= b.high)
                by_total.append((band.name, band.rank, band.is_severe))
            tables[name] = (source, by_total)
        return tables

    def _take(self, table: str) -> int:
        """Return the next id of a table."""
        value = self.ids[table]
        self.ids[table] = value + 1
        return value

    def flush(self) -> None:
        """Write the buffered rows, parents before children."""
        for table in FLUSH_ORDER:
            self.writer.write(table, COLUMNS[table], self.rows[table])
            self.rows[table] = []

    # --- staff and catalogue ------------------------------------------------------------

    def staff(self, patients: int, years: int) -> _Staffing:
        """Write staff at caseload ratios for the expected active census, with their logins."""
        rng, clock, ts = self.rng, self.clock, self.clock.ts
        # Active census ≈ admissions per day × mean stay (~45 days).
        census = patients * 1.2 / (365 * years) * 45
        sizes = (
            ("admin", max(1, round(census / 2500))),
            ("supervisor", max(1, round(census / 15 / 8))),
            ("physician", max(1, round(census / 60))),
            ("nurse", max(2, round(census / 20))),
            ("counselor", max(4, round(census / 15))),
            ("intake", max(1, round(patients * 1.2 / years / 1200))),
        )
        created = clock.at(self.start, 8)
        password_hash = _unusable_password_hash()
        by_role: dict[str, list[int]] = {}
        rows, roles = [], []
        for role, size in sizes:
            for _ in range(size):
                sid = self._take("staff")
                by_role.setdefault(role, []).append(sid)
                roles.append((sid, role))
                rows.append([sid, f"{rng.choice(FIRST)} {rng.choice(LAST)}"])
        counselors = by_role["counselor"]
        trainees = frozenset(c for c in counselors if rng.random() < 0.05)
        last_login: dict[int, int] = {}
        staff_ids = [row[0] for row in rows]
        for day in range(self.start, self.end):
            if not self.weekday[day]:  # staff work weekdays
                continue
            morning = clock.midnight[day] + 7 * 3600 + 30 * 60
            for sid in staff_ids:
                if rng.random() < 0.9:
                    moment = morning + rng.randrange(5400)
                    self.trail.add(moment, T.CODE["auth.login"], sid, 0, sid)
                    last_login[sid] = moment
        table = []
        admin = by_role["admin"][0]
        for index, (sid, name) in enumerate(rows):
            role = roles[index][1]
            seen = last_login.get(sid)
            table.append(
                (
                    sid,
                    f"gen{self.seed}-{role}-{sid}",
                    name,
                    f"{role}.{sid}@generated.casemgr.invalid",
                    password_hash,
                    True,
                    sid in trainees,
                    0,
                    None if seen is None else ts(seen),
                    ts(created),
                    ts(created),
                )
            )
            self.trail.add(created, T.CODE["staff.create"], sid, 0, 0 if sid == admin else admin)
        self.writer.write("staff", COLUMNS["staff"], table)
        self.writer.write("staff_roles", COLUMNS["staff_roles"], roles)
        supervisors = by_role["supervisor"]
        return _Staffing(
            admins=by_role["admin"],
            supervisors=supervisors,
            physicians=by_role["physician"],
            nurses=by_role["nurse"],
            counselors=counselors,
            intake=by_role["intake"],
            trainees=trainees,
            leader={c: counselors[i - i % 3] for i, c in enumerate(counselors)},
            supervisor_of={c: supervisors[i % len(supervisors)] for i, c in enumerate(counselors)},
            note_format={c: rng.choices(NOTE_FORMATS, (45, 20, 25, 10))[0] for c in counselors},
        )

    def modules(self, admin: int) -> tuple[list[int], list[int]]:
        """Make sure the education catalogue exists; return (core, optional) module ids."""
        self.writer.sync()
        session = db.session
        table = sa.table(
            "education_modules",
            sa.column("id"),
            sa.column("title"),
            sa.column("core"),
            sa.column("active"),
        )
        existing = {title.lower() for title in session.scalars(sa.select(table.c.title)).all()}
        moment = self.clock.at(self.start, 8, 30)
        first = next_id(session, "education_modules")
        rows = []
        catalogue = [(t, topic, m, True) for t, topic, m in EDUCATION_CATALOGUE]
        catalogue.append(("Sleep without pills", "Wellbeing", 45, False))
        for title, topic, minutes, core in catalogue:
            if title.lower() in existing:
                continue
            mid = first + len(rows)
            rows.append(
                (
                    mid,
                    title,
                    topic,
                    minutes,
                    core,
                    True,
                    self.clock.ts(moment),
                    self.clock.ts(moment),
                )
            )
            self.trail.add(moment, T.CODE["education_module.create"], mid, 0, admin)
        self.writer.write("education_modules", COLUMNS["education_modules"], rows)
        self.writer.sync()
        found = session.execute(
            sa.select(table.c.id, table.c.core).where(table.c.active.is_(True)).order_by(table.c.id)
        ).all()
        return [m for m, core in found if core], [m for m, core in found if not core]

    # --- patients and episodes ----------------------------------------------------------

    def patient(
        self, staffing: _Staffing, used: set[str], showcase: bool = False
    ) -> tuple[int, str, int | None]:
        """Write one patient and their episodes; return (patient id, MRN, active episode)."""
        rng, clock = self.rng, self.clock
        if showcase and SHOWCASE_MRN not in used:
            mrn = SHOWCASE_MRN
        else:
            mrn = mrn_rules.new_mrn_from(rng)
            while mrn in used:
                mrn = mrn_rules.new_mrn_from(rng)
        used.add(mrn)
        pid = self._take("patients")
        span = self.end - self.start
        admitted = self.end - SHOWCASE_DAYS if showcase else self.start + rng.randrange(span)
        intake = rng.choice(staffing.intake)
        created = clock.at(admitted, 8, rng.randrange(60))
        self.trail.add(created, T.CODE["patient.create"], pid, pid, intake)
        self.rows["patients"].append(
            (
                pid,
                mrn,
                rng.choice(FIRST),
                f"{rng.choice(LAST)}{pid}",
                date(1950 + rng.randrange(55), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
                rng.choice("FMFMXU"),
                intake,
                1,
                clock.ts(created),
                clock.ts(created),
            )
        )
        active_episode = None
        for _ in range(1 if showcase or rng.random() < 0.8 else 2):
            if admitted >= self.end:
                break
            los = None if showcase else _los(rng)
            if los is not None and admitted + los - 1 >= self.end:
                los = None  # still in treatment today
            eid = self.episode(pid, admitted, los, staffing, intake, showcase)
            if los is None:
                active_episode = eid
                break
            admitted = admitted + los - 1 + rng.randint(30, 400)
            intake = rng.choice(staffing.intake)
        return pid, mrn, active_episode

    def episode(
        self,
        pid: int,
        admitted: int,
        los: int | None,
        staffing: _Staffing,
        intake: int,
        showcase: bool,
    ) -> int:
        """Write one episode with its stage history, clinical records and sessions."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        eid = self._take("episodes")
        active = los is None
        discharged = None if active else admitted + los - 1
        counselor = staffing.counselors[0] if showcase else rng.choice(staffing.counselors)
        physician = rng.choice(staffing.physicians)
        setting = 5 if showcase else rng.choice((5, 5, 4, 6, 7, 7))
        substance = 13 if showcase else rng.choice((13, 13, 2, 2, 7, 5, 10, 4))
        target = min(28, self.los_target) if setting == 4 else self.los_target
        if showcase:
            target = 730
        created = clock.at(admitted, 9, rng.randrange(60))
        add(created, T.CODE["episode.create"], eid, pid, intake)
        # Stage exits: diagnosis 1–3 days, detox 1–7, taper 1–21, plan 2–6, education 7–14.
        instrument = INSTRUMENT_BY_SUBSTANCE.get(substance)
        benzo = substance in BENZODIAZEPINES
        durations = (
            rng.randint(1, 3),
            rng.randint(3, 7) if instrument else rng.randint(1, 2),
            rng.randint(7, 21) if benzo else rng.randint(1, 2),
            rng.randint(2, 6),
            rng.randint(7, 14),
        )
        limit = self.end - 1 if active else discharged - 1
        exits = []
        day = admitted
        for length in durations:
            day += length
            if day > limit:
                break
            exits.append(day)
        reached = len(exits)
        changes = self.rows["stage_changes"]
        change_id = self._take("stage_changes")
        changes.append(
            (change_id, eid, None, "diagnosis", ts(clock.at(admitted, 12)), intake, "Admission")
        )
        last_change = clock.at(admitted, 12)
        for index, day in enumerate(exits):
            by = physician if index < 3 else counselor
            moment = clock.at(day, 15, rng.randrange(60))
            change_id = self._take("stage_changes")
            changes.append((change_id, eid, STAGES[index], STAGES[index + 1], ts(moment), by, None))
            add(moment, T.CODE["episode.stage"], change_id, pid, by)
            last_change = moment
        ctx = _Episode(
            eid, pid, admitted, limit, exits, counselor, physician, substance, setting, target
        )
        step_down = self.diagnosis_and_level(ctx, staffing)
        if instrument:
            self.withdrawal(ctx, staffing, instrument)
        else:
            self.withdrawal(ctx, staffing, "CIWA-Ar", single=True)
        if reached >= 2:
            self.taper(ctx, staffing, benzo)
        if reached >= 3:
            self.treatment_plan(ctx)
        if reached >= 4:
            self.education(ctx)
        self.sessions(ctx, staffing, discharged, showcase)
        version = 1 + reached
        stage = STAGES[reached]
        discharge_setting = None
        reason = None
        updated = last_change
        if not active:
            reason = _reason(rng, los)
            by = counselor if rng.random() < 0.7 else rng.choice(staffing.supervisors)
            moment = max(clock.at(discharged, 16, rng.randrange(60)), last_change + 60)
            change_id = self._take("stage_changes")
            changes.append((change_id, eid, stage, "discharged", ts(moment), by, "Discharge"))
            add(moment, T.CODE["episode.discharge"], eid, pid, by)
            discharge_setting = 6 if step_down is not None and step_down <= discharged else setting
            version += 1
            stage = "discharged"
            updated = moment
        self.rows["episodes"].append(
            (
                eid,
                pid,
                "active" if active else "discharged",
                stage,
                clock.dates[admitted],
                None if active else clock.dates[discharged],
                counselor,
                target,
                substance,
                rng.choice((None, -9, 2, 4)),
                rng.choice((1, 2, 4, -9)),
                rng.choice((2, 3)),
                rng.randint(2, 6),
                rng.choice((1, 1, 2, 3, 7)),
                rng.choice((0, 1, 2, -9)),
                setting,
                rng.randint(0, 30),
                reason,
                discharge_setting,
                None if active else rng.choice((1, 2, -9)),
                intake,
                version,
                ts(created),
                ts(updated),
            )
        )
        return eid

    # --- clinical records ---------------------------------------------------------------

    def diagnosis_and_level(self, ctx: _Episode, staffing: _Staffing) -> int | None:
        """Write the DSM-5 assessment and level-of-care decision(s); return a step-down day."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        left_diagnosis = bool(ctx.exits)
        created = clock.at(ctx.admitted, 10, rng.randrange(60))
        count = rng.choices(DSM_COUNTS, DSM_WEIGHTS)[0]
        criteria = sorted(rng.sample(range(1, 12), count))
        supervised = ctx.substance in BENZODIAZEPINES and rng.random() < 0.15
        result = dsm5.assess(criteria, supervised, ctx.substance)
        signed = None
        if left_diagnosis or rng.random() < 0.6:
            signed = created + rng.randint(20, 180) * 60
        aid = self._take("diagnostic_assessments")
        co_occurring = rng.sample(vocab.CO_OCCURRING, rng.choice((0, 0, 1, 1, 2)))
        self.rows["diagnostic_assessments"].append(
            (
                aid,
                ctx.eid,
                json.dumps(criteria),
                supervised,
                result.criteria_counted,
                result.severity,
                result.icd10,
                rng.choice(vocab.PHYSICAL),
                rng.choice(vocab.PSYCHOLOGICAL),
                json.dumps(co_occurring),
                ctx.physician,
                None if signed is None else ts(signed),
                None if signed is None else ctx.physician,
                1 if signed is None else 2,
                ts(created),
                ts(created if signed is None else signed),
            )
        )
        add(created, T.CODE["diagnosis.create"], aid, ctx.pid, ctx.physician)
        if signed is not None:
            add(signed, T.CODE["diagnosis.sign"], aid, ctx.pid, ctx.physician)
        if not left_diagnosis and rng.random() < 0.5:
            return None
        decided = created + rng.randint(200, 240) * 60
        self.level_of_care(ctx, ctx.admitted, decided, ctx.setting)
        # Some residential stays step down to intensive outpatient after about a month.
        if ctx.setting in (4, 5) and ctx.limit - ctx.admitted >= 35 and rng.random() < 0.3:
            day = ctx.admitted + rng.randint(28, 35)
            self.level_of_care(ctx, day, clock.at(day, 11, rng.randrange(60)), 6)
            return day
        return None

    def level_of_care(self, ctx: _Episode, day: int, decided: int, setting: int) -> None:
        """Write one ASAM decision consistent with its setting (reason when it departs)."""
        rng, ts = self.rng, self.clock.ts
        edition = 4 if day >= self.asam4_from else 3
        level = rng.choice(LEVELS[(setting, edition)])
        where = asam.setting(level, edition)
        if where == "inpatient":
            ratings = [rng.randint(1, 3) for _ in range(6)]
            ratings[rng.randrange(6)] = rng.randint(3, 4)
        else:
            ratings = [rng.randint(0, 2) for _ in range(6)]
            if rng.random() < 0.03:
                ratings[rng.randrange(6)] = 3  # chosen below what the ratings suggest
        dimensions = {str(n + 1): r for n, r in enumerate(ratings)}
        reason = (
            vocab.DISCREPANCY if asam.needs_discrepancy_reason(dimensions, level, edition) else None
        )
        rationale = (
            vocab.RATIONALE_INPATIENT if where == "inpatient" else vocab.RATIONALE_OUTPATIENT
        )
        lid = self._take("level_of_care_decisions")
        self.rows["level_of_care_decisions"].append(
            (
                lid,
                ctx.eid,
                edition,
                json.dumps(dimensions),
                level,
                where,
                asam.teds_service_setting(level, edition, ctx.target),
                rng.choice(rationale),
                self.clock.dates[day],
                reason,
                ctx.physician,
                ts(decided),
                ts(decided),
                ts(decided),
            )
        )
        self.trail.add(decided, T.CODE["level_of_care.decide"], lid, ctx.pid, ctx.physician)

    def withdrawal(
        self, ctx: _Episode, staffing: _Staffing, instrument: str, single: bool = False
    ) -> None:
        """Score withdrawal daily from admission through detox; the exit score is below severe."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        source, by_total = self.bands[instrument]
        items_spec = [
            (item.allowed, item.counted) for item in withdrawal.INSTRUMENTS[instrument].items
        ]
        detox_exit = ctx.exits[1] if len(ctx.exits) >= 2 else None
        # The admission day (after the episode is opened), then each morning through detox.
        if single:
            last_day = ctx.admitted
        elif detox_exit is not None:
            last_day = detox_exit
        else:
            last_day = max(ctx.admitted, ctx.limit)
        peak = 0.1 if single else 0.15 + 0.55 * rng.random() ** 1.5
        rows = self.rows["withdrawal_scores"]
        for k, day in enumerate(range(ctx.admitted, last_day + 1)):
            intensity = peak * 0.75**k
            exit_score = day == detox_exit
            while True:
                items = []
                total = 0
                for allowed, counted in items_spec:
                    index = int(rng.random() * len(allowed) * 2 * intensity)
                    value = allowed[min(index, len(allowed) - 1)]
                    items.append(value)
                    if counted:
                        total += value
                band, rank, severe = by_total[total]
                if not (severe and exit_score):
                    break
                intensity = 0.1  # detox ends only once the patient has settled
            nurse = rng.choice(staffing.nurses)
            assessed = clock.at(day, 11 if k == 0 else 8, rng.randrange(90))
            acknowledged = None
            acknowledger = None
            if severe and not (day >= self.end - 1 and rng.random() < 0.5):
                acknowledged = assessed + rng.randint(10, 50) * 60
                acknowledger = rng.choice(staffing.nurses)
            sid = self._take("withdrawal_scores")
            rows.append(
                (
                    sid,
                    ctx.eid,
                    instrument,
                    json.dumps(items),
                    total,
                    band,
                    rank,
                    severe,
                    source,
                    ts(assessed),
                    nurse,
                    None if acknowledged is None else ts(acknowledged),
                    acknowledger,
                    ts(assessed),
                    ts(assessed if acknowledged is None else acknowledged),
                )
            )
            add(assessed, T.CODE["withdrawal_score.create"], sid, ctx.pid, nurse)
            if severe:
                add(assessed, T.CODE["withdrawal_alert.raise"], sid, ctx.pid, nurse)
            if acknowledged is not None:
                add(
                    acknowledged, T.CODE["withdrawal_alert.acknowledge"], sid, ctx.pid, acknowledger
                )

    def taper(self, ctx: _Episode, staffing: _Staffing, benzo: bool) -> None:
        """Order a taper (with its schedule and the doses given in the taper stage) or waive it."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        start = ctx.exits[1]
        ordered = clock.at(start, 16, rng.randrange(60))
        if not benzo:
            wid = self._take("taper_waivers")
            self.rows["taper_waivers"].append(
                (wid, ctx.eid, vocab.WAIVER, ctx.physician, ts(ordered), ts(ordered), ts(ordered))
            )
            add(ordered, T.CODE["taper_waiver.create"], wid, ctx.pid, ctx.physician)
            return
        medication, doses, increment = rng.choice(TAPER_MEDS)
        dose = rng.choice(doses)
        roll = rng.random()
        percent, interval = (10, 14) if roll < 0.8 else (5, 21) if roll < 0.97 else (25, 7)
        override = vocab.TAPER_OVERRIDE if percent == 25 else None
        schedule = self._schedule(medication, dose, percent, interval, increment)
        plan_id = self._take("taper_plans")
        ends_on = start + schedule[-1][0]
        self.rows["taper_plans"].append(
            (
                plan_id,
                ctx.eid,
                medication,
                dose,
                str(percent),
                interval,
                increment,
                clock.dates[start],
                _iso(clock, ends_on),
                "completed" if ends_on <= self.end else "active",
                taper.DEFAULT_SOURCE,
                override,
                ctx.physician,
                1,
                ts(ordered),
                ts(ordered),
            )
        )
        add(ordered, T.CODE["taper_plan.create"], plan_id, ctx.pid, ctx.physician)
        if override:
            add(ordered, T.CODE["taper_plan.guideline_override"], plan_id, ctx.pid, ctx.physician)
        steps = self.rows["taper_steps"]
        for number, (offset, daily, equivalent) in enumerate(schedule, start=1):
            day = start + offset
            steps.append(
                (
                    self._take("taper_steps"),
                    plan_id,
                    number,
                    _iso(clock, day),
                    daily,
                    equivalent,
                )
            )
        # Nurses give the morning dose while the episode is in the taper stage.
        last = min(ctx.exits[2] - 1 if len(ctx.exits) >= 3 else ctx.limit, ctx.limit)
        doses_rows = self.rows["dose_records"]
        current = 0
        for day in range(start + 1, last + 1):
            while current + 1 < len(schedule) and start + schedule[current + 1][0] <= day:
                current += 1
            roll = rng.random()
            status = "given" if roll < 0.95 else "refused" if roll < 0.98 else "held"
            nurse = rng.choice(staffing.nurses)
            moment = clock.at(day, 8, rng.randrange(45))
            did = self._take("dose_records")
            doses_rows.append(
                (
                    did,
                    plan_id,
                    ts(moment),
                    schedule[current][1],
                    status,
                    vocab.DOSE_NOTES.get(status),
                    nurse,
                    ts(moment),
                    ts(moment),
                )
            )
            add(moment, T.CODE["dose.record"], did, ctx.pid, nurse)

    def _schedule(
        self, medication: str, dose: str, percent: int, interval: int, increment: str
    ) -> list[tuple[int, str, str | None]]:
        """Generate (day offset, daily dose, diazepam equivalent) with casemgr.clinical.taper."""
        key = (medication, dose, percent, interval, increment)
        cached = self.taper_cache.get(key)
        if cached is None:
            origin = date(2000, 1, 3)
            params = taper.TaperParams(
                medication, Decimal(dose), Decimal(percent), interval, Decimal(increment), origin
            )
            cached = [
                (
                    (s.starts_on - origin).days,
                    str(s.daily_dose_mg),
                    None if s.diazepam_equivalent_mg is None else str(s.diazepam_equivalent_mg),
                )
                for s in taper.generate(params)
            ]
            self.taper_cache[key] = cached
        return cached

    def treatment_plan(self, ctx: _Episode) -> None:
        """Write the signed treatment plan and a new version at each 30-day review."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        day = ctx.exits[2]
        created = clock.at(day, 16, rng.randrange(60))
        sign_day = day + 1
        previous = None
        number = 1
        rows = self.rows["treatment_plans"]
        while True:
            signed = clock.at(sign_day, 10, rng.randrange(120)) if sign_day <= ctx.limit else None
            pid = self._take("treatment_plans")
            targets = [_iso(clock, sign_day + d) for d in (30, 60, 90)]
            review = None if signed is None else _iso(clock, sign_day + 30)
            rows.append(
                (
                    pid,
                    ctx.eid,
                    number,
                    "draft" if signed is None else "signed",
                    json.dumps(vocab.plan_problems(rng, targets)),
                    ctx.counselor,
                    None if signed is None else ts(signed),
                    review,
                    previous,
                    1 if signed is None else 2,
                    ts(created),
                    ts(created if signed is None else signed),
                )
            )
            add(created, T.CODE["treatment_plan.create"], pid, ctx.pid, ctx.counselor)
            if signed is None:
                return
            add(signed, T.CODE["treatment_plan.sign"], pid, ctx.pid, ctx.counselor)
            # Reviewed on the due day mostly; sometimes late (the plan shows as overdue).
            due = sign_day + 30 + (0 if rng.random() < 0.85 else rng.randint(3, 20))
            if due > ctx.limit or number >= 24:
                return
            previous, number = pid, number + 1
            created = clock.at(due, 9, rng.randrange(60))
            sign_day = due

    def education(self, ctx: _Episode) -> None:
        """Deliver the core modules across the education stage (and an optional one to some)."""
        rng, clock, ts, add = self.rng, self.clock, self.clock.ts, self.trail.add
        start = ctx.exits[3]
        end = ctx.exits[4] if len(ctx.exits) >= 5 else None
        # From the day after the move to education; all core modules before it ends.
        days = (end - start - 1) if end is not None else 13
        rows = self.rows["education_deliveries"]
        plan = [(start + 1 + (k * days) // len(self.core), m) for k, m in enumerate(self.core)]
        if self.optional and rng.random() < 0.3:
            plan.append((start + 1 + rng.randrange(days), rng.choice(self.optional)))
        for day, module in plan:
            if day > ctx.limit or (end is not None and day >= end):
                continue
            moment = clock.at(day, 13, rng.randrange(120))
            did = self._take("education_deliveries")
            rows.append(
                (did, ctx.eid, module, clock.dates[day], ctx.counselor, ts(moment), ts(moment))
            )
            add(moment, T.CODE["education.deliver"], did, ctx.pid, ctx.counselor)

    # --- sessions and notes -------------------------------------------------------------

    def sessions(
        self, ctx: _Episode, staffing: _Staffing, discharged: int | None, showcase: bool
    ) -> None:
        """Write the episode's sessions (and notes); plan the next ones of an active episode."""
        rng = self.rng
        weekday = self.weekday
        if showcase:
            days = sorted(rng.sample(range(ctx.admitted + 1, self.end), SHOWCASE_SESSIONS))
        else:
            # Every second day in residential care, every third outpatient; weekdays only.
            step = 3 if ctx.setting in (6, 7) else 2
            last = self.end - 1 if discharged is None else discharged
            days = [d for d in range(ctx.admitted + 1, last + 1, step) if weekday[d]]
        share = GROUP_SHARE[ctx.setting]
        for day in days:
            self.session(ctx, staffing, day, rng.random() < share, showcase)
        if discharged is None and not showcase:
            step = 3 if ctx.setting in (6, 7) else 2
            planned_at = self.clock.at(days[-1], 17) if days else self.clock.at(ctx.admitted, 17)
            upcoming = [d for d in range(self.end, self.end + 10) if weekday[d]]
            for day in upcoming[:: max(1, step - 1)][:2]:
                self.scheduled(ctx, day, planned_at)

    def scheduled(self, ctx: _Episode, day: int, planned_at: int) -> None:
        """Plan a future session (attendance "scheduled", no note yet)."""
        rng, clock, ts = self.rng, self.clock, self.clock.ts
        sid = self._take("therapy_sessions")
        start = clock.at(day, rng.randint(9, 15), rng.choice((0, 30)))
        self.rows["therapy_sessions"].append(
            (
                sid,
                ctx.eid,
                "individual",
                rng.choice(INDIVIDUAL_MODALITIES),
                ts(start),
                50,
                "scheduled",
                ctx.counselor,
                None,
                False,
                ts(planned_at),
                ts(planned_at),
            )
        )
        self.trail.add(planned_at, T.CODE["session.plan"], sid, ctx.pid, ctx.counselor)

    def session(
        self, ctx: _Episode, staffing: _Staffing, day: int, group: bool, showcase: bool
    ) -> None:
        """Write one past session, its note when the patient came, and their audit events."""
        clock, ts, add = self.clock, self.clock.ts, self.trail.add
        random = self.rng.random
        roll = random()
        if showcase:
            attendance = "attended" if roll < 0.93 else "late"
        else:
            attendance = ATTENDANCE_BY_PERCENT[int(roll * 100)]
        sid = self._take("therapy_sessions")
        if group:
            leader = staffing.leader[ctx.counselor]
            key = leader * 100_000 + day
            found = self.groups.get(key)
            if found is None:
                found = self.groups[key] = self.group(leader, day)
            gid, logged, modality, summary = found
            start = clock.at(day, 10, 30)
            author = leader
            duration = 90
            kind = "group"
        else:
            gid = None
            summary = None
            start = clock.midnight[day] + 28_800 + 1800 * int(random() * 18)  # 08:00–16:30
            modality = INDIVIDUAL_MODALITIES[int(random() * len(INDIVIDUAL_MODALITIES))]
            duration = DURATIONS[int(random() * len(DURATIONS))]
            logged = start + duration * 60 + 120 + 60 * int(random() * 19)
            author = ctx.counselor
            kind = "individual"
            if random() < 0.5:  # the counselor opens the chart first
                add(start - 300, _PATIENT_VIEW, ctx.pid, ctx.pid, author)
        logged_text = ts(logged)
        self.rows["therapy_sessions"].append(
            (
                sid,
                ctx.eid,
                kind,
                modality,
                ts(start),
                duration,
                attendance,
                author,
                gid,
                False,
                logged_text,
                logged_text,
            )
        )
        add(logged, _SESSION_CREATE, sid, ctx.pid, author)
        if attendance in ("attended", "late"):
            self.note(ctx, staffing, sid, author, kind, modality, summary, logged)

    def group(self, leader: int, day: int) -> tuple[int, int, str, str]:
        """Write a leader's group session of a day; return (id, logged, modality, summary)."""
        rng, clock, ts = self.rng, self.clock, self.clock.ts
        gid = self._take("group_sessions")
        start = clock.at(day, 10, 30)
        modality = rng.choice(GROUP_MODALITIES)
        topic = rng.choice(vocab.GROUP_TOPICS)
        summary = vocab.group_summary(rng, topic)
        logged = start + 90 * 60 + rng.randint(5, 30) * 60
        self.rows["group_sessions"].append(
            (gid, topic, modality, ts(start), 90, leader, summary, leader, ts(logged), ts(logged))
        )
        self.trail.add(logged, T.CODE["group_session.create"], gid, 0, leader)
        return gid, logged, modality, summary

    def note(
        self,
        ctx: _Episode,
        staffing: _Staffing,
        session_id: int,
        author: int,
        kind: str,
        modality: str,
        summary: str | None,
        logged: int,
    ) -> None:
        """Write a session's note: signed soon (mostly), late, co-signed, or still a draft."""
        rng, ts, add = self.rng, self.clock.ts, self.trail.add
        random = rng.random
        if random() < 0.85:
            note_format = staffing.note_format.get(author, "DAP")
        else:
            note_format = NOTE_FORMATS[int(random() * 4)]
        body = vocab.note_body(rng, note_format, vocab.MODALITY_WORDS[modality])
        if summary is not None:
            body[FIRST_FIELD[note_format]] = summary
        created = logged + 60 + 60 * int(random() * 25)
        roll = random()
        signed: int | None
        if roll < 0.80:
            signed = created + 120 + 60 * int(random() * 39)
        elif roll < 0.93:
            signed = created + 3600 + int(random() * 7 * 3600)
        elif roll < 0.975:
            signed = created + 20 * 3600 + int(random() * 50 * 3600)
        elif roll < 0.995:
            signed = created + 73 * 3600 + int(random() * 167 * 3600)  # after 72 hours
        else:
            signed = None  # a forgotten draft, on the unsigned-notes list
        if signed is not None and signed >= self.cutoff:
            signed = None  # not signed yet
        created_text = ts(created)
        signed_text = cosigned_text = None
        cosigned = cosigner = None
        status = "draft"
        version = 1
        if signed is not None:
            signed_text = ts(signed)
            status, version = "signed", 2
            if author in staffing.trainees:
                status = "awaiting_cosign"
                moment = signed + 4 * 3600 + int(random() * 68 * 3600)
                if moment < self.cutoff:
                    cosigned, cosigner = moment, staffing.supervisor_of[author]
                    cosigned_text = ts(moment)
                    status, version = "signed", 3
        nid = self._take("notes")
        self.rows["notes"].append(
            (
                nid,
                ctx.eid,
                session_id,
                "group" if kind == "group" else "progress",
                note_format,
                json.dumps(body),
                status,
                author,
                signed_text,
                cosigner,
                cosigned_text,
                False,
                version,
                created_text,
                cosigned_text or signed_text or created_text,
            )
        )
        add(created, _NOTE_CREATE, nid, ctx.pid, author)
        if signed is not None:
            add(signed, _NOTE_SIGN, nid, ctx.pid, author)
        if cosigned is not None:
            add(cosigned, T.CODE["note.cosign"], nid, ctx.pid, cosigner)

    # --- the run ------------------------------------------------------------------------

    def run(self, patients: int, years: int) -> Counts:
        """Write the whole history and the audit trail; return the counts."""
        staffing = self.staff(patients, years)
        self.core, self.optional = self.modules(staffing.admins[0])
        used = set(
            db.session.scalars(sa.select(sa.column("mrn")).select_from(sa.table("patients")))
        )
        counts = self.counts
        for index in range(patients):
            pid, mrn, active = self.patient(staffing, used, showcase=index == 0)
            if index == 0:
                counts.showcase_patient_id, counts.showcase_mrn = pid, mrn
                counts.showcase_episode_id = active
            if len(self.rows["therapy_sessions"]) >= FLUSH_SESSIONS:
                self.flush()
        self.flush()
        self.groups.clear()
        counts.audit_events = self.trail.write(db.session(), self.writer, self.clock)
        self.writer.sync()
        reset_sequences(db.session, ID_TABLES)
        tables = self.writer.counts
        counts.tables = dict(tables)
        counts.staff = tables.get("staff", 0)
        counts.patients = tables.get("patients", 0)
        counts.episodes = tables.get("episodes", 0)
        counts.stage_changes = tables.get("stage_changes", 0)
        counts.sessions = tables.get("therapy_sessions", 0)
        counts.notes = tables.get("notes", 0)
        counts.audit_since = self.audit_since
        return counts


@dataclass
class _Episode:
    """What the record writers need to know about the episode being written."""

    eid: int
    pid: int
    admitted: int
    #: The last day on which records may be dated (the day before discharge, or yesterday).
    limit: int
    #: Days on which the episode left diagnosis, detox, taper, plan, education (as reached).
    exits: list[int]
    counselor: int
    physician: int
    substance: int
    setting: int
    target: int


def generate(
    patients: int, years: int = 3, seed: int = 1, audit_days: int | None = AUDIT_DAYS
) -> Counts:
    """Write a synthetic history of ``patients`` people over ``years`` years ending today.

    The audit trail covers the last ``audit_days`` days (None: the whole history). The caller
    commits.
    """
    if patients < 1:
        raise ValueError("generate at least one patient (the showcase)")
    with sqlite_page_cache(db.session(), SQLITE_CACHE_KIB):
        history = _History(seed, years, audit_days)
        try:
            return history.run(patients, years)
        except BaseException:
            history.writer.close()
            raise


@cache
def _unusable_password_hash() -> str:
    """Return a valid argon2id hash that no typed password can match, always the same.

    The hashed secret starts with byte 0xFF, which never occurs in UTF-8, and login hashes the
    UTF-8 of what is typed: generated accounts cannot sign in (benchmarks add their own admin
    with `flask create-admin`). A fixed salt keeps the rows identical for a seed.
    """
    hasher = argon2.PasswordHasher()
    secret = b"\xff" + hashlib.sha256(b"casemgr-generated-account").digest()
    return argon2.low_level.hash_secret(
        secret,
        hashlib.sha256(b"casemgr-generated-salt").digest()[: hasher.salt_len],
        time_cost=hasher.time_cost,
        memory_cost=hasher.memory_cost,
        parallelism=hasher.parallelism,
        hash_len=hasher.hash_len,
        type=hasher.type,
    ).decode()


def _iso(clock: Clock, day: int) -> str:
    """Return the ISO date of a day number, also beyond the precomputed range."""
    return clock.dates[day] if day < len(clock.dates) else clock.date_of(day).isoformat()


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


def _reason(rng: random.Random, los: int) -> int:
    """Draw a discharge reason; long stays are mostly completions."""
    if los >= 85:
        return rng.choice((1, 1, 1, 1, 4, 7))
    codes, weights = zip(*REASONS, strict=True)
    return rng.choices(codes, weights)[0]
