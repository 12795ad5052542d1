"""Every GET page and API read runs as many SQL statements on a big world as on a small one.

The walk reads the routes of ``app.url_map`` (like the role × route walk, whose world and
placeholders it reuses). Each GET endpoint is requested twice, signed in as a role allowed to
see it: on a small world, and again after the world has grown (more patients on the caseload,
more sessions, notes, assessments, withdrawal scores, doses, plans and stage moves on the
chart, more staff, inquiries, episodes, disclosures and audit events). The statement counts
must be equal: a count that follows the data is an N+1 (DESIGN.md §6, and the scale issue).

Every GET endpoint must be in ``PAGES`` (saying what grows on it; endpoints without GET are in
``NOT_COUNTED`` with the reason), so a new page fails ``test_every_endpoint_is_walked_or_excused``
until it is added. Lists that grow with the program must also show one page at a time.
The world is built once per database leg; each request starts with an empty identity map, as
a real request does, so a lazy load per row shows up as a statement per row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from casemgr.assessments import services as assessment_services
from casemgr.audit import services as audit_services
from casemgr.core.db import utcnow
from casemgr.core.permissions import Action, can, declared_action
from casemgr.core.timeutil import today
from casemgr.education import services as education_services
from casemgr.episodes import services as episode_services
from casemgr.episodes.models import Episode, StageChange
from casemgr.extensions import db
from casemgr.intake import services as intake_services
from casemgr.medication import services as medication_services
from casemgr.plans import services as plan_services
from casemgr.staff.services import issue_token
from casemgr.therapy import services as therapy_services
from tests.conftest import rolled_back_session
from tests.core.test_route_permissions import (
    _ROUTE_APP,
    ROLES,
    ROUTES,
    LazyWorld,
    _record_builders,
    _url,
)
from tests.factories import (
    admit,
    make_consent,
    make_diagnosis,
    make_emergency_grant,
    make_level_of_care,
    make_module,
    make_patient,
    make_score,
    make_staff,
    plan_tree,
)
from tests.intake.builders import make_authorization, make_coverage, make_inquiry
from tests.pages_helpers import count_queries, sign_in
from tests.pathway.helpers import items_for

#: The first of these roles allowed to use an endpoint is the one that reads it: supervisors
#: see every active chart and every counselor's work, so their pages show the most rows.
ROLE_PREFERENCE = ("supervisor", "physician", "nurse", "counselor", "intake", "admin")
GET_ENDPOINTS: dict[str, str] = {endpoint: rule for endpoint, rule, m in ROUTES if m == "GET"}
#: Endpoints without GET: writes, whose cost is per record written (their forms are GET pages).
WRITES: frozenset[str] = frozenset({endpoint for endpoint, _, _ in ROUTES} - set(GET_ENDPOINTS))


@dataclass(frozen=True)
class Page:
    """How to read one GET endpoint, and what grows on it between the two readings.

    ``grows`` starting with "nothing" (a form, one record) or "counts" (aggregates) marks a
    page whose answer need not get longer on the big world; every other one must.
    """

    grows: str
    query: str = ""
    #: Roles to read it as (empty: the first allowed one in ROLE_PREFERENCE).
    roles: tuple[str, ...] = ()
    status: int = 200
    #: URL placeholders filled from another world object (placeholder key -> world key).
    objects: dict[str, str] = field(default_factory=dict)
    #: Extra query strings read the same way (a CSV download of the same report, a filter).
    variants: tuple[str, ...] = ()
    #: An HTML list whose rows come from many charts or people: it grows with the program,
    #: so it must show one bounded page at a time (PAGED_LISTS, or OTHER_BOUNDS says how).
    unbounded: bool = False

    @property
    def shows_more(self) -> bool:
        """Tell whether the page's answer must be longer on the big world."""
        return not self.grows.startswith(("nothing", "counts"))


CHART = "sessions, notes, stage moves, diagnoses, scores, decisions, plans, doses, deliveries"
REPORT_NAMES = (
    "census",
    "caseload",
    "discharges",
    "documentation",
    "education",
    "length_of_stay",
    "retention",
    "stage_durations",
)
REPORT = "counts over episodes, sessions, notes and deliveries in the range (SQL aggregates)"
ONE_EPISODE = "nothing on the episode itself (a form)"

PAGES: dict[str, Page] = {
    # --- signing in and the account --------------------------------------------------------
    "auth.login": Page("nothing (a form)", roles=("anonymous",)),
    "auth.reauth": Page("nothing (a form)"),
    "auth.mfa_enrol": Page("nothing (the enrolment form)"),
    "auth.mfa_qr": Page("nothing (a QR code of the pending secret)"),
    "home.index": Page("nothing (a redirect to the role's start page)", status=302),
    "health.healthz": Page("nothing (one SELECT 1)", roles=("anonymous",)),
    "health.readyz": Page("nothing (the migration head, one row)", roles=("anonymous",)),
    "api_me.me": Page("nothing (the caller and their roles)"),
    # --- staff -------------------------------------------------------------------------
    "admin.staff_list": Page("staff accounts and their roles", unbounded=True),
    "admin.staff_edit": Page("nothing on one account (its roles)"),
    "admin.staff_new": Page("nothing (a form)"),
    "api_staff.list_staff": Page("staff accounts and their roles"),
    # --- patients and the chart ----------------------------------------------------------
    "patients.search": Page("patients matching the name", query="q=testcase", unbounded=True),
    "api_patients.list_patients": Page(
        "patients matching the name", query="q=testcase", variants=("",)
    ),
    "patients.new": Page("nothing (a form)"),
    "patients.edit": Page("nothing on one patient (a form)"),
    "api_patients.get_patient_view": Page("nothing on one patient"),
    "patients.chart": Page(
        f"past episodes, {CHART}, coverages, authorizations, consents, disclosures",
        roles=("supervisor", "counselor", "physician", "intake"),
        variants=("tl=2",),
        unbounded=True,
    ),
    "episodes.caseload": Page(
        "active episodes (patients) of the counselor and of others, their sessions and notes",
        roles=("supervisor", "counselor"),
        variants=("at_risk=1",),
        unbounded=True,
    ),
    "episodes.admit": Page("counselors to choose from"),
    "episodes.discharge": Page(ONE_EPISODE),
    "api_episodes.list_episodes": Page(
        "active and discharged episodes of many counselors", variants=("status=active",)
    ),
    "api_episodes.get_episode_view": Page(
        "counts: the episode's figures are SQL aggregates over its sessions and decisions"
    ),
    "api_episodes.stage_history": Page("stage moves of the episode"),
    "privacy.consent_new": Page("nothing (a form)"),
    "privacy.disclose": Page("the patient's consents"),
    "emergency.request_access": Page("nothing (a form)", roles=("counselor",)),
    "emergency.review_list": Page(
        "emergency accesses of many counselors to many charts, reviewed by many supervisors",
        variants=("all=1",),
        unbounded=True,
    ),
    "api_emergency.list_access": Page(
        "emergency accesses of many counselors to many charts", variants=("reviewed=true",)
    ),
    # --- assessments ---------------------------------------------------------------------
    "assessments.new_diagnosis": Page("nothing (the checklist)"),
    "assessments.diagnosis": Page("nothing on one assessment"),
    "api_assessments.get_diagnosis": Page("nothing on one assessment"),
    "api_assessments.list_diagnoses": Page("diagnoses of the episode, by several authors"),
    "assessments.new_withdrawal_score": Page("nothing (the instrument form)"),
    "assessments.withdrawal_chart": Page("withdrawal scores of the episode, by many nurses"),
    "api_assessments.list_scores": Page("withdrawal scores of the episode, by many nurses"),
    "assessments.alerts": Page("severe scores of many patients", unbounded=True),
    "api_assessments.list_alerts": Page("severe scores of many patients"),
    # --- medication --------------------------------------------------------------------
    "medication.new_plan": Page("nothing (the order form)"),
    "medication.plan": Page("doses recorded by many nurses (a page at a time)"),
    "api_medication.get_plan": Page("nothing on one plan (its schedule)"),
    "api_medication.list_plans": Page("nothing: the episode's one plan, with its schedule"),
    "api_medication.list_doses": Page("doses recorded by many nurses"),
    # --- plans ---------------------------------------------------------------------------
    "plans.new_level_of_care": Page("nothing (the ASAM form)"),
    "api_plans.list_decisions": Page("level-of-care decisions by many physicians"),
    "plans.edit_plan": Page("nothing: the latest version of the plan, as a form"),
    "plans.plan": Page("nothing on one version"),
    "api_plans.get_plan": Page("nothing on one version"),
    "api_plans.list_plans": Page("versions of the treatment plan by many authors"),
    "plans.reviews_due": Page("plans overdue for review on many charts", unbounded=True),
    "api_plans.reviews_due": Page("plans overdue for review on many charts"),
    # --- education ---------------------------------------------------------------------
    "education.catalogue": Page("modules in the catalogue"),
    "api_education.list_modules": Page("modules in the catalogue"),
    "education.episode_education": Page("deliveries of many modules by many staff"),
    "api_education.list_deliveries": Page("deliveries of many modules by many staff"),
    # --- therapy -----------------------------------------------------------------------
    "therapy.new_session": Page("nothing (a form; the reader's last choices are one query)"),
    "therapy.record_attendance": Page("nothing (a form on one planned session)"),
    "therapy.new_note": Page("nothing (a form; the reader's last choices are one query)"),
    "therapy.new_group": Page(
        "active episodes to choose from, the last group's roster, counselors",
        variants=("roster=last", "q=testcase"),
        unbounded=True,
    ),
    "therapy.note": Page("addenda by many authors"),
    "therapy.edit_note": Page(
        "nothing on one draft", roles=("counselor",), objects={"note": "draft_note"}
    ),
    "api_therapy.read_note": Page("addenda by many authors"),
    "api_therapy.read_session": Page("nothing on one session"),
    "api_therapy.list_sessions": Page("sessions of the episode, by many counselors, with notes"),
    "api_therapy.list_notes": Page("notes of the episode, by many authors, with addenda"),
    "therapy.unsigned": Page(
        "unsigned notes and unrecorded planned sessions on many charts",
        roles=("supervisor", "counselor"),
        unbounded=True,
    ),
    "therapy.cosign_queue": Page("notes awaiting co-signature on many charts", unbounded=True),
    # --- admissions --------------------------------------------------------------------
    "intake.board": Page("open inquiries, overdue follow-ups, closed inquiries", unbounded=True),
    "intake.new_inquiry": Page("nothing (a form)"),
    "intake.inquiry": Page("status changes of the inquiry, by many intake staff"),
    "intake.screening": Page("nothing on one inquiry (a form)"),
    "intake.admit": Page("patients with the inquiry's name and birth date, counselors"),
    "intake.waitlist": Page("inquiries on the waitlist", unbounded=True),
    "intake.places": Page("counts of active episodes and waitlisted inquiries"),
    "intake.review": Page(
        "active episodes without verified coverage; authorizations ending", unbounded=True
    ),
    "intake.new_coverage": Page("nothing (a form)"),
    "intake.verify": Page("nothing on one coverage (a form)"),
    "intake.new_authorization": Page("coverages of the patient"),
    "intake.funnel_report": Page("counts of inquiries in the range", variants=("format=csv",)),
    "api_intake.list_inquiries": Page("inquiries in every status", variants=("status=waitlist",)),
    "api_intake.get_inquiry_view": Page("status changes of the inquiry"),
    "api_intake.waitlist": Page("inquiries on the waitlist"),
    "api_intake.places": Page("counts of active episodes and waitlisted inquiries"),
    "api_intake.list_coverages": Page("coverages of the patient with verifications"),
    "api_intake.list_verifications": Page("verifications of the coverage by many staff"),
    "api_intake.coverage_status": Page("coverages of the patient with verifications"),
    "api_intake.list_authorizations": Page("authorizations of the episode"),
    "api_intake.utilization_review": Page("authorizations ending on many charts"),
    "api_intake.unverified": Page("active episodes without verified coverage"),
    "api_intake.inquiry_funnel": Page("counts of inquiries in the range", variants=("format=csv",)),
    # --- reports -----------------------------------------------------------------------
    "reports.index": Page("nothing (the list of reports)"),
    **{f"reports.{name}": Page(REPORT, variants=("format=csv",)) for name in REPORT_NAMES},
    **{
        f"api_reports.report_{name}": Page(REPORT, variants=("format=csv",))
        for name in REPORT_NAMES
    },
    "reports.teds_extract": Page("nothing (the extract form)"),
    "api_exports.teds_extract": Page(
        "admissions in the range, each one a disclosure (a batched INSERT)",
        query="kind=admissions",
    ),
    # --- audit -------------------------------------------------------------------------
    "audit.report": Page(
        "audit events (every write above is one); the CSV streams keyset batches of 2,000",
        variants=("format=csv",),
        unbounded=True,
    ),
    "api_audit.list_events": Page("audit events (every write above is one)"),
    "audit.verify": Page(
        "counts: the chain is read in keyset batches of 5,000 (a statement per batch)"
    ),
    "api_audit.verify": Page(
        "counts: the chain is read in keyset batches of 5,000 (a statement per batch)"
    ),
}

#: Endpoints deliberately not counted, with the reason. Every GET endpoint is counted today
#: (CSV downloads too, as ``format=csv`` variants and the TEDS extract).
NOT_COUNTED: dict[str, str] = dict.fromkeys(
    WRITES, "POST/PATCH/PUT/DELETE only: a write of one record (its form is a counted GET page)"
)

#: API answers with ``items`` that are not lists of records, so take no paging arguments.
FIXED_API_LISTS: dict[str, str] = {
    "api_intake.places": "one item per place category (inpatient, outpatient): a fixed list",
}

#: Unbounded list pages bounded otherwise than by the shared pager, and how.
OTHER_BOUNDS: dict[str, str] = {
    "audit.report": "keyset pages of 100 events (?after=), cheap at any depth of the trail",
    "patients.search": "25 patients a page (?page=), after a name or MRN is typed",
    "patients.chart": "the timeline shows 20 entries a page (?tl=); the rest is one patient's",
    "therapy.new_group": "a form: the first 100 patients by name and every chosen one (?q=)",
}


@dataclass(frozen=True)
class Case:
    """One request of the walk: an endpoint, a role, a query string."""

    endpoint: str
    rule: str
    role: str | None
    query: str
    page: Page

    @property
    def id(self) -> str:
        """Name the case in test ids."""
        query = f"?{self.query}" if self.query else ""
        return f"{self.endpoint}[{self.role or 'anonymous'}]{query}"


class _Viewer:
    """A stand-in user holding one role, to ask the permission table."""

    is_authenticated = True

    def __init__(self, role: str) -> None:
        self.role_names = frozenset({role})


def _roles_for(endpoint: str, page: Page) -> tuple[str | None, ...]:
    """Return the roles that read an endpoint: the page's own, or the first one allowed."""
    action = declared_action(_ROUTE_APP.view_functions[endpoint])
    if page.roles:
        return tuple(None if r == "anonymous" else r for r in page.roles)
    if action is Action.PUBLIC:
        return (None,)
    return (next(r for r in ROLE_PREFERENCE if can(_Viewer(r), action)),)


def _cases() -> list[Case]:
    """Expand PAGES into requests."""
    cases = []
    for endpoint, page in sorted(PAGES.items()):
        if endpoint not in GET_ENDPOINTS:
            continue  # reported by test_every_page_entry_names_a_get_endpoint
        for role in _roles_for(endpoint, page):
            for query in (page.query, *page.variants):
                cases.append(Case(endpoint, GET_ENDPOINTS[endpoint], role, query, page))
    return cases


CASES = _cases()


def test_every_endpoint_is_walked_or_excused() -> None:
    """A new GET route must say what grows on it (PAGES) or why it is not counted."""
    endpoints = {endpoint for endpoint, _, _ in ROUTES}
    missing = sorted(endpoints - set(PAGES) - set(NOT_COUNTED))
    assert missing == []
    assert set(GET_ENDPOINTS) <= set(PAGES)


def test_every_page_entry_names_a_get_endpoint() -> None:
    stale = sorted(set(PAGES) - set(GET_ENDPOINTS))
    assert stale == []
    assert not set(PAGES) & set(NOT_COUNTED)


def test_walk_reads_pages_and_api() -> None:
    rules = {case.rule for case in CASES}
    assert "/caseload" in rules
    assert "/patients/<int:patient_id>" in rules
    assert any(r.startswith("/api/v1/") for r in rules)
    assert {c.endpoint for c in CASES} == set(GET_ENDPOINTS)


# --- the world ---------------------------------------------------------------------------

DAP = {"data": "Reports cravings.", "assessment": "Engaged.", "plan": "Continue CBT."}
SOAP = {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"}
TWIN = {"first_name": "Robin", "last_name": "Samename"}
TWIN_BIRTH = date(1985, 5, 5)


def _build_world() -> LazyWorld:
    """The route walk's world, every object built, plus the records only reads need."""
    staff = {role: make_staff(role) for role in ROLES}
    patient = make_patient()
    episode = admit(patient, staff["counselor"], days_ago=40)
    builders = _record_builders()
    builders["plan"] = _taper_plan
    # An inquiry from someone who may already be a patient (admission offers the matches).
    builders["inquiry"] = lambda w: make_inquiry(date_of_birth=TWIN_BIRTH, **TWIN)
    world = LazyWorld(builders, staff=staff, patient=patient, episode=episode)
    for key in builders:
        world[key]  # noqa: B018 (build it now: reads must not write)
    counselor = staff["counselor"]
    note = world["note"]
    therapy_services.sign_note(counselor, note)
    world["draft_note"] = therapy_services.write_note(
        counselor, episode, kind="other", format="DAP", body=DAP
    )
    world["session"] = therapy_services.log_session(
        counselor,
        episode,
        kind="individual",
        modality="cbt",
        started_at=utcnow() - timedelta(hours=2),
        duration_minutes=50,
        attendance="scheduled",
    )
    inquiry = world["inquiry"]
    intake_services.record_screening(staff["intake"], inquiry, {"frequency": 2})
    intake_services.change_status(staff["intake"], inquiry, "screening")
    db.session.commit()
    return world


def _taper_plan(w: LazyWorld) -> Any:
    """Order the chart's taper, started yesterday so doses can be recorded today."""
    plan = medication_services.create_plan(
        w["staff"]["physician"],
        w["episode"],
        medication="clonazepam",
        start_dose_mg=Decimal("2"),
        reduction_percent=Decimal("10"),
        interval_days=14,
        dose_increment_mg=Decimal("0.125"),
        start_on=today() - timedelta(days=1),
    )
    db.session.commit()
    return plan


def _past_episode(patient: Any, counselor: Any, by: Any, ends_days_ago: int) -> Episode:
    """Write a discharged episode of the chart's patient, before the active one."""
    admitted = today() - timedelta(days=ends_days_ago + 30)
    episode = Episode(
        patient_id=patient.id,
        status="discharged",
        stage="discharged",
        admitted_on=admitted,
        discharged_on=admitted + timedelta(days=29),
        discharge_reason=2,
        primary_counselor_id=counselor.id,
        primary_substance=13,
        referral_source=1,
        service_setting=5,
    )
    db.session.add(episode)
    db.session.flush()
    for to_stage in ("diagnosis", "detox", "discharged"):
        db.session.add(StageChange(episode_id=episode.id, to_stage=to_stage, by_id=by.id))
    return episode


def _grow(w: LazyWorld, n: int) -> None:
    """Add ``n`` of every kind of record, each by a different staff member where it has one.

    Distinct authors matter: rows sharing one author would be served from the identity map
    and hide a lazy load per row.
    """
    episode, patient, counselor = w["episode"], w["patient"], w["staff"]["counselor"]
    now = utcnow()
    for _ in range(n):
        w["round"] = round_ = w.get("round", 0) + 1
        supervisor = make_staff("supervisor")
        nurse = make_staff("nurse")
        physician = make_staff("physician")
        other_counselor = make_staff("counselor")
        trainee = make_staff("counselor", needs_cosign=True)
        intake = make_staff("intake")
        minutes = timedelta(minutes=round_)

        # The chart's episode: sessions with notes, a standalone note, stage moves there and
        # back, assessments, decisions, a plan version, doses, deliveries, authorizations.
        therapy_services.log_session(
            supervisor,
            episode,
            kind="individual",
            modality="dbt",
            started_at=now - timedelta(hours=3) - minutes,
            duration_minutes=45,
            attendance="attended",
            note=therapy_services.NoteInput("DAP", DAP),
            sign=True,
        )
        therapy_services.write_note(supervisor, episode, kind="medical", format="SOAP", body=SOAP)
        therapy_services.add_addendum(supervisor, w["note"], text=f"Correction {round_}.")
        episode_services.move_stage(supervisor, episode, "detox", reason="Assessed", override=True)
        episode_services.move_stage(supervisor, episode, "diagnosis", reason="Back for review")
        make_diagnosis(episode, physician)
        make_score(episode, nurse)
        severe = make_score(episode, nurse, items=items_for("CIWA-B", 45))
        assessment_services.acknowledge_alert(make_staff("nurse"), severe)
        cosigned = therapy_services.write_note(
            trainee, episode, kind="progress", format="DAP", body=DAP, sign=True
        )
        therapy_services.cosign_note(supervisor, cosigned)
        make_level_of_care(episode, physician)
        plan = plan_services.write_plan(supervisor, episode, plan_tree())
        plan_services.sign_plan(supervisor, plan)
        medication_services.record_dose(
            nurse, w["plan"], given_at=now - minutes, dose_mg=Decimal("2"), status="given"
        )
        module = make_module()
        education_services.record_delivery(
            supervisor, episode, module_id=module.id, delivered_on=today()
        )
        make_authorization(episode, intake)
        intake_services.verify_coverage(
            intake, w["coverage"], status="verified", verified_on=today()
        )
        make_coverage(patient, intake, priority="secondary", member_id=f"SEC-{round_}")
        consent = make_consent(patient)
        audit_services.disclose(supervisor, patient, kind="chart_print", consent_id=consent.id)
        _past_episode(patient, other_counselor, supervisor, ends_days_ago=100 + 40 * round_)

        # Other charts: the counselor's caseload (one at risk: no session for weeks, one on
        # the care team only) and everyone else's; a patient with the inquiry's name.
        mine = admit(make_patient(), counselor, days_ago=20 + round_)
        admit(make_patient(), counselor, days_ago=25 + round_)
        make_patient(date_of_birth=TWIN_BIRTH, **TWIN)
        therapy_services.log_session(
            counselor,
            mine,
            kind="individual",
            modality="cbt",
            started_at=now - timedelta(days=1) - minutes,
            duration_minutes=50,
            attendance="attended",
            note=therapy_services.NoteInput("DAP", DAP),
        )
        therapy_services.log_session(
            counselor,
            mine,
            kind="individual",
            modality="cbt",
            started_at=now - timedelta(hours=5) - minutes,
            duration_minutes=50,
            attendance="scheduled",
        )
        theirs = admit(make_patient(), other_counselor, days_ago=30 + round_)
        episode_services.add_to_care_team(supervisor, theirs, counselor)
        therapy_services.write_note(
            trainee, theirs, kind="progress", format="DAP", body=DAP, sign=True
        )
        therapy_services.write_note(other_counselor, theirs, kind="other", format="DAP", body=DAP)
        make_score(theirs, nurse, items=items_for("CIWA-B", 45))
        old_plan = plan_services.write_plan(other_counselor, theirs, plan_tree())
        plan_services.sign_plan(other_counselor, old_plan)
        old_plan.review_due_on = today() - timedelta(days=round_)
        make_authorization(theirs, intake, ends_on=today() + timedelta(days=1))
        make_emergency_grant(make_staff("counselor"), theirs.patient)
        reviewed = make_emergency_grant(make_staff("counselor"), mine.patient, hours_ago=6)
        audit_services.review_emergency_access(supervisor, reviewed, "Covered the group.")
        therapy_services.log_group_session(
            supervisor,
            topic=f"Relapse prevention {round_}",
            modality="cbt",
            started_at=now - timedelta(hours=1) - minutes,
            duration_minutes=60,
            attendees=[
                therapy_services.AttendeeInput(
                    e.id, "attended", therapy_services.NoteInput("DAP", DAP)
                )
                for e in (episode, mine, theirs)
            ],
        )
        gone = admit(make_patient(), other_counselor, days_ago=60 + round_)
        episode_services.discharge(
            other_counselor, gone, discharged_on=today() - timedelta(days=round_), reason=1
        )

        # Admissions: the chart's inquiry moves back and forth; more inquiries everywhere.
        inquiry = w["inquiry"]
        intake_services.change_status(intake, inquiry, "waitlist")
        intake_services.change_status(intake, inquiry, "screening", reason="Needs a second screen")
        make_inquiry(status="waitlist", actor=intake, days_ago=round_)
        make_inquiry(status="screening", actor=intake, urgency="urgent")
        late = make_inquiry(actor=intake, days_ago=10)
        intake_services.update_inquiry(intake, late, {"follow_up_on": today() - timedelta(days=2)})
        make_inquiry(status="declined", actor=intake)
        admitted = make_inquiry(status="waitlist", actor=intake, days_ago=5 + round_)
        intake_services.admit_inquiry(
            intake,
            admitted,
            admitted_on=today(),
            primary_counselor_id=other_counselor.id,
            service_setting=5,
            new_patient=True,
            date_of_birth=date(1990, 1, round_),
            sex="M",
            primary_substance=13,
        )
        db.session.commit()


# --- reading ----------------------------------------------------------------------------


@dataclass
class Reading:
    """What one request cost and answered."""

    status: int | None
    statements: list[str]
    body: str = ""
    error: str | None = None


@contextmanager
def _fresh_identity_map() -> Iterator[None]:
    """Start the request with an empty identity map (as a new request would), then restore."""
    session = db.session
    kept = list(session.identity_map.values())
    session.expunge_all()
    try:
        yield
    finally:
        session.expunge_all()
        for obj in kept:
            session.add(obj)


def _url_of(case: Case, world: LazyWorld, query: str | None = None) -> str:
    """Fill the rule's placeholders from the world (some pages read another object)."""
    objects = dict(world)
    for key, source in case.page.objects.items():
        objects[key] = world[source]
    url = _url(case.rule, objects)
    query = case.query if query is None else query
    return f"{url}?{query}" if query else url


def _read(client: FlaskClient, case: Case, world: LazyWorld, query: str | None = None) -> Reading:
    """Send the case's request as its role and count the statements it runs."""
    url = _url_of(case, world, query)
    headers: dict[str, str] = {}
    if case.role is not None:
        staff = world["staff"][case.role]
        if url.startswith("/api/"):
            token, _ = issue_token(staff)
            db.session.commit()
            headers["Authorization"] = f"Bearer {token}"
        else:
            sign_in(client, staff)
    else:
        client.delete_cookie("session")
    try:
        with _fresh_identity_map(), count_queries() as statements:
            response = client.get(url, headers=headers)
            body = response.get_data(as_text=True)  # a streamed body queries while read
    except Exception as exc:  # noqa: BLE001 (reported per case, the walk goes on)
        db.session.rollback()
        return Reading(None, [], error=repr(exc)[:500])
    return Reading(response.status_code, list(statements), body)


#: Pages that show one page of a list at a time (casemgr.core.paging), and their page arguments:
#: every unbounded list, and a plan's doses.
PAGED_LISTS: dict[str, tuple[str, ...]] = {
    "episodes.caseload": ("page",),
    "therapy.unsigned": ("page", "late_page"),
    "therapy.cosign_queue": ("page",),
    "admin.staff_list": ("page",),
    "assessments.alerts": ("page",),
    "plans.reviews_due": ("page",),
    "intake.board": ("page",),
    "intake.waitlist": ("page",),
    "intake.review": ("page", "ending_page"),
    "emergency.review_list": ("page",),
    "medication.plan": ("doses_page",),
}
#: Rows per page while the paged lists are read (the world has more than this in each).
SMALL_PAGE = 2


@dataclass
class Walk:
    """Everything read on one database: each case small and big, and the paged lists."""

    readings: dict[str, tuple[Reading, Reading]]
    #: (endpoint, page argument) -> (page 1, page 2, the same list on one default-sized page)
    pages: dict[tuple[str, str], tuple[Reading, Reading, Reading]]
    #: API list endpoint -> (per_page=1, per_page=201)
    api_limits: dict[str, tuple[Reading, Reading]]


def _with_per_page(client: FlaskClient, case: Case, world: LazyWorld, per_page: int) -> Reading:
    """Read an API list case asking for ``per_page`` items a page."""
    query = "&".join(filter(None, [case.query, f"per_page={per_page}"]))
    return _read(client, case, world, query)


def _first_case(endpoint: str) -> Case:
    """Return the walk's first case of an endpoint (its preferred role, no query)."""
    return next(c for c in CASES if c.endpoint == endpoint and not c.query)


@pytest.fixture(scope="module")
def walk(app: Flask) -> Walk:
    """Read every case on a small world, grow it, read every case again (once per leg)."""
    with rolled_back_session(app):
        client = app.test_client()
        world = _build_world()
        _grow(world, 1)
        small = {case.id: _read(client, case, world) for case in CASES}
        _grow(world, 3)
        large = {case.id: _read(client, case, world) for case in CASES}
        api_limits = {
            case.endpoint: (
                _with_per_page(client, case, world, 1),
                _with_per_page(client, case, world, 201),
            )
            for case in CASES
            if case.rule.startswith("/api/")
            and '"items"' in large[case.id].body
            and case.endpoint not in FIXED_API_LISTS
        }
        pages = {}
        app.config["LIST_PAGE_SIZE"] = SMALL_PAGE
        try:
            for endpoint, args in PAGED_LISTS.items():
                case = _first_case(endpoint)
                for arg in args:
                    first, second = (_read(client, case, world, f"{arg}={n}") for n in (1, 2))
                    pages[(endpoint, arg)] = (first, second, large[case.id])
        finally:
            del app.config["LIST_PAGE_SIZE"]
    readings = {key: (small[key], large[key]) for key in small}
    return Walk(readings, pages, api_limits)


def _shape(statement: str) -> str:
    """Reduce a statement to its shape (no literals, no IN lists), to compare two readings."""
    text = re.sub(r"\s+", " ", statement)
    text = re.sub(r"\(([?%s(),\s_\w\[\]]*)\)", "(…)", text)
    return text[:160]


def _difference(small: Reading, large: Reading) -> str:
    """Say which statement shapes ran more often on the big world."""
    grew = Counter(map(_shape, large.statements)) - Counter(map(_shape, small.statements))
    return "\n".join(f"+{n} × {shape}" for shape, n in grew.most_common(8))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_query_count_does_not_grow_with_the_data(walk: Walk, case: Case) -> None:
    small, large = walk.readings[case.id]
    assert small.error is None, small.error
    assert large.error is None, large.error
    assert (small.status, large.status) == (case.page.status, case.page.status)
    few, many = len(small.statements), len(large.statements)
    assert many == few, f"{few} statements on the small world, {many} on the big one:\n" + (
        _difference(small, large)
    )


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.page.shows_more],
    ids=[c.id for c in CASES if c.page.shows_more],
)
def test_the_grown_data_reaches_the_page(walk: Walk, case: Case) -> None:
    """Each page said to grow answers more on the big world (or the walk proves nothing)."""
    small, large = walk.readings[case.id]
    assert len(large.body) > len(small.body)


@pytest.mark.parametrize(
    ("endpoint", "arg"),
    [(e, a) for e, args in PAGED_LISTS.items() for a in args],
    ids=[f"{e}?{a}" for e, args in PAGED_LISTS.items() for a in args],
)
def test_long_lists_show_one_page_at_a_time(walk: Walk, endpoint: str, arg: str) -> None:
    """A list that grows without bound shows a bounded page and links to the next one."""
    first, second, whole = walk.pages[(endpoint, arg)]
    assert (first.status, second.status) == (200, 200)
    assert re.search(rf'href="[^"]*[?&]{arg}=2[^"]*" rel="next"', first.body), "no next link"
    assert re.search(rf'href="[^"]*[?&]{arg}=1[^"]*" rel="prev"', second.body), "no prev link"
    pages, total = map(int, re.findall(r"Page 1 of (\d+) · (\d+) in all", first.body)[0])
    assert total > SMALL_PAGE
    assert pages == -(-total // SMALL_PAGE)
    assert "Page 1 of" not in whole.body  # the default page holds the whole list here
    assert first.body != second.body
    assert len(second.statements) == len(first.statements)


def test_every_growing_list_page_is_paged() -> None:
    """The pages that list rows of many charts or people are paged (or say how they are bounded)."""
    unbounded = {e for e, p in PAGES.items() if p.unbounded}
    assert unbounded <= set(PAGED_LISTS) | set(OTHER_BOUNDS)
    assert set(OTHER_BOUNDS) <= unbounded
    assert set(PAGED_LISTS) <= set(PAGES)
    assert not set(PAGED_LISTS) & set(OTHER_BOUNDS)


def test_api_lists_bound_their_page_size(walk: Walk) -> None:
    """Every API list answers the envelope, at most ``per_page`` items, and refuses > 200."""
    assert len(walk.api_limits) >= 25
    for endpoint, (one, too_many) in walk.api_limits.items():
        body = json.loads(one.body)
        assert one.status == 200, endpoint
        assert set(body) >= {"items", "page", "per_page", "total"}, endpoint
        assert len(body["items"]) <= 1, endpoint
        assert body["per_page"] == 1, endpoint
        assert too_many.status == 422, endpoint
