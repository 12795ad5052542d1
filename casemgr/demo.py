"""The demo program for `flask seed-demo`: staff of every role and ~30 patients in varied stages.

Deterministic (a fixed seed), idempotent (keyed on the demo admin's username), and refused in
production, because its passwords are printed.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app

from casemgr.assessments import services as assessments
from casemgr.core.timeutil import today
from casemgr.education import services as education
from casemgr.episodes import services as episodes
from casemgr.episodes.models import STAGE_ORDER, Episode, Stage, StageChange
from casemgr.extensions import db
from casemgr.medication import services as medication
from casemgr.patients import services as patients
from casemgr.plans import services as plans
from casemgr.staff import services as staff_services
from casemgr.staff.models import Staff
from casemgr.therapy.models import TherapySession

DEMO_PASSWORD = "casemgr-demo-2026"  # noqa: S105  (printed on purpose: demo only)

#: username, full name, roles
DEMO_STAFF: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("admin", "Alex Admin", ("admin",)),
    ("supervisor", "Sam Rivera", ("supervisor",)),
    ("dr.patel", "Dr. Priya Patel", ("physician",)),
    ("nurse.kim", "Jordan Kim", ("nurse",)),
    ("counselor.jones", "Casey Jones", ("counselor",)),
    ("counselor.smith", "Morgan Smith", ("counselor",)),
    ("intake.lee", "Taylor Lee", ("intake",)),
)

FIRST = (
    "Avery",
    "Blake",
    "Cameron",
    "Dana",
    "Eli",
    "Frankie",
    "Gray",
    "Harper",
    "Indy",
    "Jamie",
    "Kai",
    "Logan",
    "Marley",
    "Noel",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
    "Uri",
    "Val",
    "Wren",
    "Xan",
    "Yael",
    "Zion",
    "Rowan",
    "Emery",
    "Finley",
    "Hayden",
)
LAST = (
    "Anderson",
    "Brooks",
    "Carter",
    "Diaz",
    "Ellis",
    "Foster",
    "Garcia",
    "Hughes",
    "Ibarra",
    "Jensen",
    "Khan",
    "Lopez",
    "Moreno",
    "Nguyen",
    "Ortiz",
    "Price",
    "Quintero",
    "Reyes",
    "Singh",
    "Turner",
    "Usman",
    "Vega",
    "Walsh",
    "Xu",
    "Young",
    "Zimmer",
    "Bennett",
    "Cruz",
    "Dalton",
    "Evans",
)


def is_seeded() -> bool:
    """Tell whether the demo has been loaded already."""
    return staff_services.find_by_username("supervisor") is not None


def logins_text() -> str:
    """Return the demo logins as printed by `make run` and `flask seed-demo`."""
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, name, roles in DEMO_STAFF:
        lines.append(f"  {username:<16} {', '.join(roles):<11} {name}")
    return "\n".join(lines)


def _at(day: date, hour: int) -> datetime:
    """Return a UTC datetime on a day at an hour."""
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


def seed() -> bool:
    """Load the demo program; return False (and change nothing) when it is already there."""
    if current_app.config["CASEMGR_ENV"] == "production":
        raise RuntimeError("seed-demo is refused in production: its passwords are public")
    if is_seeded():
        return False
    rng = random.Random(2026)  # noqa: S311  (reproducible demo data, not security)
    staff: dict[str, Staff] = {}
    for username, name, roles in DEMO_STAFF:
        existing = staff_services.find_by_username(username)
        staff[username] = existing or staff_services.create_staff(
            None,
            username=username,
            full_name=name,
            password=DEMO_PASSWORD,
            roles=roles,
            email=f"{username}@demo.casemgr.invalid",
        )
    supervisor = staff["supervisor"]
    for title, topic, minutes in EDUCATION_CATALOGUE:
        education.create_module(
            staff["admin"], title=title, topic=topic, minutes=minutes, core=True
        )
    education.create_module(
        staff["admin"], title="Sleep without pills", topic="Wellbeing", minutes=45, core=False
    )
    counselor_pool = [staff["counselor.jones"], staff["counselor.smith"]]
    now_day = today()
    for i in range(30):
        patient = patients.create_patient(
            staff["intake.lee"],
            first_name=FIRST[i],
            last_name=LAST[i],
            date_of_birth=date(
                1965 + rng.randrange(0, 40), rng.randrange(1, 13), rng.randrange(1, 29)
            ),
            sex=rng.choice("FMFMXU"[:5]),
            phone=f"555-01{i:02d}",
        )
        discharged = i >= 24
        days_in = rng.randrange(1, 100) if not discharged else rng.randrange(40, 150)
        admitted = now_day - timedelta(days=days_in - 1)
        counselor = counselor_pool[i % 2]
        episode = episodes.admit(
            staff["intake.lee"],
            patient,
            admitted_on=admitted,
            primary_counselor_id=counselor.id,
            primary_substance=rng.choice((13, 13, 13, 2, 7, 5, 10)),
            referral_source=rng.choice((1, 1, 2, 3, 7)),
            service_setting=rng.choice((5, 5, 6, 7)),
            route=1,
            frequency=3,
            age_at_first_use=rng.choice((3, 4, 5)),
            secondary_substance=rng.choice((None, 2, 4)),
            prior_treatment_episodes=rng.choice((0, 1, 2)),
        )
        db.session.flush()
        episode.stage_changes[0].at = _at(admitted, 9)  # the admission row, dated as it happened
        los = min(rng.choice((28, 45, 60, 90, 92, 100)), days_in) if discharged else days_in
        _walk_stages(episode, supervisor, min(los, 90), rng)
        _clinical_records(episode, staff, counselor, rng)
        _sessions(episode, counselor, los, rng, at_risk=i in (3, 7))
        if discharged:
            episodes.discharge(
                supervisor,
                episode,
                discharged_on=admitted + timedelta(days=los - 1),
                reason=rng.choice((1, 1, 1, 2, 4, 3)),
                service_setting=episode.service_setting,
                frequency_at_discharge=1,
            )
    db.session.flush()
    return True


#: The demo program's core curriculum (title, topic, minutes).
EDUCATION_CATALOGUE: tuple[tuple[str, str, int], ...] = (
    ("How addiction develops", "Addiction", 60),
    ("How benzodiazepines act on the body", "Pharmacology", 45),
    ("Withdrawal and tapering", "Medical", 45),
    ("Triggers and coping", "Skills", 60),
    ("Relapse prevention", "Skills", 60),
    ("Family and support", "Family", 60),
)


def _clinical_records(
    episode: Episode, staff: dict[str, Staff], counselor: Staff, rng: random.Random
) -> None:
    """Give an episode the records each stage it has left requires (DESIGN.md §2)."""
    reached = Stage(episode.stage).position
    physician, nurse = staff["dr.patel"], staff["nurse.kim"]
    start = episode.admitted_on
    if reached > Stage.DIAGNOSIS.position:
        assessments.record_diagnosis(
            physician,
            episode,
            criteria=sorted(rng.sample(range(1, 12), rng.randrange(4, 9))),
            medical_supervision=False,
            physical_evaluation="Vital signs stable; mild tremor; no seizure history.",
            psychological_evaluation="Anxious mood, oriented, no suicidal ideation.",
            co_occurring=rng.choice(([], ["F41.1"], ["F32.1"])),
            sign=True,
        )
        plans.decide_level_of_care(
            physician,
            episode,
            asam_edition=4,
            dimensions={"1": 2, "2": 1, "3": 2, "4": 3, "5": 3, "6": 2},
            level="3.5",
            rationale="High relapse risk and an unsupportive home environment.",
            effective_on=start,
        )
    if reached > Stage.DETOX.position:
        assessments.record_withdrawal_score(
            nurse,
            episode,
            instrument="CIWA-B" if episode.primary_substance == 13 else "COWS",
            items=[1] * 8 + [0] * 14 if episode.primary_substance == 13 else [1] * 6 + [0] * 5,
            assessed_at=_at(start, 10),
        )
    if reached > Stage.TAPER.position:
        if episode.primary_substance == 13:
            medication.create_plan(
                physician,
                episode,
                medication="clonazepam",
                start_dose_mg=Decimal(2),
                reduction_percent=Decimal(10),
                interval_days=14,
                dose_increment_mg=Decimal("0.125"),
                start_on=start + timedelta(days=3),
            )
        else:
            medication.waive_taper(physician, episode, "No benzodiazepine dependence.")
    if reached > Stage.PLAN.position:
        plan = plans.write_plan(
            counselor,
            episode,
            [
                {
                    "description": "Substance use disorder",
                    "goals": [
                        {
                            "description": "Sustain abstinence",
                            "objectives": [
                                {
                                    "description": "Attend every group session",
                                    "target_date": start + timedelta(days=60),
                                    "interventions": ["CBT", "Relapse-prevention group"],
                                }
                            ],
                        }
                    ],
                }
            ],
        )
        plans.sign_plan(counselor, plan)
    if reached > Stage.EDUCATION.position:
        for module in education.modules():
            if module.core:
                education.record_delivery(
                    counselor,
                    episode,
                    module_id=module.id,
                    delivered_on=min(start + timedelta(days=20), today()),
                )


def _walk_stages(episode: Episode, by: Staff, days_in: int, rng: random.Random) -> None:
    """Write a plausible stage history (historical data load, so rows are written directly)."""
    stages = list(STAGE_ORDER[: 1 + min(5, days_in // 12)])
    day = episode.admitted_on
    for previous, nxt in zip(stages, stages[1:], strict=False):
        day = day + timedelta(days=rng.randrange(3, 12))
        if day > today():
            break
        db.session.add(
            StageChange(
                episode=episode,
                from_stage=previous.value,
                to_stage=nxt.value,
                at=_at(day, 15),
                by_id=by.id,
            )
        )
        episode.stage = nxt.value


def _sessions(
    episode: Episode, counselor: Staff, days: int, rng: random.Random, at_risk: bool
) -> None:
    """Write twice-weekly sessions (a few missed); at-risk patients stop coming 10 days ago."""
    start = episode.admitted_on
    for offset in range(1, days, 3):
        day = start + timedelta(days=offset)
        if day >= today():
            break
        if at_risk and (today() - day).days < 10:
            attendance = "no_show"
        else:
            attendance = rng.choice(("attended",) * 8 + ("late", "no_show"))
        db.session.add(
            TherapySession(
                episode_id=episode.id,
                kind="individual",
                modality=rng.choice(("cbt", "motivational_interviewing", "dbt")),
                started_at=_at(day, 14),
                duration_minutes=50,
                attendance=attendance,
                counselor_id=counselor.id,
            )
        )
