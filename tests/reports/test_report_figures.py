"""Every report figure against hand-computed expectations, on each database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from marshmallow import ValidationError

from casemgr.core.timeutil import today
from casemgr.episodes import services
from casemgr.episodes.models import StageChange
from casemgr.extensions import db
from casemgr.reports import queries
from casemgr.reports.filters import ReportFilters, parse_filters
from casemgr.therapy.models import TherapySession
from tests.factories import admit, make_patient, make_staff

pytestmark = pytest.mark.usefixtures("app")

RANGE_2025 = ReportFilters(date(2025, 1, 1), date(2025, 4, 30))


@pytest.fixture
def counselors():
    return make_staff("counselor", full_name="Alex A"), make_staff("counselor", full_name="Blair B")


def _discharged(
    counselor, admitted: date, discharged: date, reason: int, setting: int = 5, target: int = 90
):
    episode = services.admit(
        counselor,
        make_patient(),
        admitted_on=admitted,
        primary_counselor_id=counselor.id,
        primary_substance=13,
        referral_source=1,
        service_setting=setting,
        los_target_days=target,
    )
    services.discharge(counselor, episode, discharged_on=discharged, reason=reason)
    db.session.commit()
    return episode


@pytest.fixture
def known_discharges(counselors):
    """Five discharges: LOS 1, 90, 30, 91, 30 (hand-computed below)."""
    a, b = counselors
    return [
        _discharged(a, date(2025, 1, 1), date(2025, 1, 1), reason=2),  # LOS 1
        _discharged(a, date(2025, 1, 1), date(2025, 3, 31), reason=1),  # LOS 90, met
        _discharged(
            b, date(2025, 1, 10), date(2025, 2, 8), reason=1, setting=7, target=28
        ),  # LOS 30, met
        _discharged(b, date(2025, 1, 15), date(2025, 4, 15), reason=4, setting=6),  # LOS 91, met
        _discharged(a, date(2025, 2, 1), date(2025, 3, 2), reason=3),  # LOS 30
    ]


@pytest.mark.usefixtures("known_discharges")
def test_length_of_stay_figures() -> None:
    data = queries.length_of_stay(RANGE_2025)
    assert data["discharges"] == 5
    assert data["median_los_days"] == 30  # 1, 30, 30, 90, 91
    assert data["mean_los_days"] == 48.4  # 242 / 5
    assert data["met_target"] == 3
    assert data["met_target_rate"] == 0.6
    assert data["by_reason"] == {"1": 2, "2": 1, "3": 1, "4": 1, "5": 0, "6": 0, "7": 0}
    assert data["by_reason_detail"]["1"] == {"discharges": 2, "met_target": 2}
    assert data["by_setting"] == {
        "inpatient": {"discharges": 3, "met_target": 1},
        "outpatient": {"discharges": 2, "met_target": 2},
    }
    by_counselor = {r["name"]: (r["discharges"], r["met_target"]) for r in data["by_counselor"]}
    assert by_counselor == {"Alex A": (3, 1), "Blair B": (2, 2)}
    bands = {row["band"]: row["discharges"] for row in data["distribution"]}
    assert bands["1–7"] == 1
    assert bands["15–30"] == 2
    assert bands["61–90"] == 1
    assert bands["91–120"] == 1
    assert sum(bands.values()) == 5


@pytest.mark.usefixtures("known_discharges")
def test_range_edges_are_inclusive_and_exclusive_as_dates() -> None:
    data = queries.length_of_stay(ReportFilters(date(2025, 1, 1), date(2025, 4, 14)))
    assert data["discharges"] == 4  # the 2025-04-15 discharge is out
    assert data["median_los_days"] == 30.0  # 1, 30, 30, 90 -> (30 + 30) / 2
    assert data["mean_los_days"] == 37.75


def test_even_count_median_interpolates(counselors) -> None:
    a, _ = counselors
    _discharged(a, date(2025, 1, 1), date(2025, 1, 10), reason=1)  # 10
    _discharged(a, date(2025, 1, 1), date(2025, 1, 21), reason=1)  # 21
    assert queries.length_of_stay(RANGE_2025)["median_los_days"] == 15.5


@pytest.mark.usefixtures("known_discharges")
def test_counselor_and_setting_filters(counselors) -> None:
    _, b = counselors
    only_b = ReportFilters(RANGE_2025.start, RANGE_2025.end, counselor_id=b.id)
    assert queries.length_of_stay(only_b)["discharges"] == 2
    outpatient = ReportFilters(RANGE_2025.start, RANGE_2025.end, setting="outpatient")
    data = queries.length_of_stay(outpatient)
    assert (data["discharges"], data["met_target"]) == (2, 2)


@pytest.mark.usefixtures("known_discharges")
def test_discharges_by_reason_and_positive_rate() -> None:
    data = queries.discharges(RANGE_2025)
    counts = {r["reason"]: r["discharges"] for r in data["by_reason"]}
    assert counts == {1: 2, 2: 1, 3: 1, 4: 1, 5: 0, 6: 0, 7: 0}
    assert data["completed_or_transferred"] == 3
    assert data["completed_or_transferred_rate"] == 0.6
    assert {r["reason"]: r["share"] for r in data["by_reason"]}[1] == 0.4


def test_empty_range_gives_zeros_not_errors() -> None:
    empty = ReportFilters(date(2020, 1, 1), date(2020, 12, 31))
    los = queries.length_of_stay(empty)
    assert (los["discharges"], los["median_los_days"], los["mean_los_days"]) == (0, None, None)
    assert los["met_target_rate"] is None
    assert queries.discharges(empty)["completed_or_transferred_rate"] is None
    retention = queries.retention(empty)
    assert (retention["admissions"], retention["points"], retention["at_day_90"]) == (0, [], None)
    assert all(row["stays"] == 0 for row in queries.stage_durations(empty)["stages"])
    assert queries.caseload(empty)["counselors"] == []
    assert queries.census(empty)["total_active"] == 0


@pytest.mark.usefixtures("known_discharges")
def test_retention_kaplan_meier_without_censoring() -> None:
    # times 1, 30, 30, 90, 91 (all events): S = 1 - 1/5 = .8 after day 1; .8 * (1 - 2/4) = .4
    # after day 30; .4 * (1 - 1/2) = .2 after day 90; 0 after day 91.
    data = queries.retention(ReportFilters(date(2025, 1, 1), date(2025, 2, 28)))
    at = {p["day"]: p["retained"] for p in data["points"]}
    assert data["admissions"] == 5
    assert (at[1], at[2], at[30], at[31], at[90], at[91], at[92]) == (
        1.0,
        0.8,
        0.8,
        0.4,
        0.4,
        0.2,
        0.0,
    )
    assert data["at_day_90"] == 0.4


def test_retention_kaplan_meier_censors_active_episodes(counselors) -> None:
    a, _ = counselors
    now = today()
    _discharged(a, now - timedelta(days=40), now - timedelta(days=36), reason=2)  # LOS 5
    _discharged(a, now - timedelta(days=50), now - timedelta(days=31), reason=2)  # LOS 20
    admit(make_patient(), a, days_ago=9)  # active, censored at day 10
    admit(make_patient(), a, days_ago=29)  # active, censored at day 30
    # t=5: 1 event of 4 at risk -> .75; t=10 censored (2 left); t=20: 1 of 2 -> .375
    data = queries.retention(ReportFilters(now - timedelta(days=60), now))
    at = {p["day"]: p["retained"] for p in data["points"]}
    assert (at[5], at[6], at[20], at[21], at[90]) == (1.0, 0.75, 0.75, 0.375, 0.375)
    assert data["at_day_28"] == 0.375


def test_stage_durations_median_and_quartiles(counselors) -> None:
    a, _ = counselors
    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def episode(moves: list[tuple[str, int]], discharged: date):
        ep = services.admit(
            a,
            make_patient(),
            admitted_on=date(2025, 1, 1),
            primary_counselor_id=a.id,
            primary_substance=13,
            referral_source=1,
            service_setting=5,
        )
        previous = "diagnosis"
        for stage, days in moves:
            db.session.add(
                StageChange(
                    episode=ep,
                    from_stage=previous,
                    to_stage=stage,
                    at=t0 + timedelta(days=days),
                    by_id=a.id,
                )
            )
            previous = stage
            ep.stage = stage
        db.session.flush()
        services.discharge(a, ep, discharged_on=discharged, reason=1)
        db.session.commit()

    episode([("detox", 2), ("taper", 5)], date(2025, 1, 11))  # diagnosis 2, detox 3, taper 5
    episode([("detox", 4)], date(2025, 1, 7))  # diagnosis 4, detox 2
    rows = {r["stage"]: r for r in queries.stage_durations(RANGE_2025)["stages"]}
    assert (rows["diagnosis"]["stays"], rows["diagnosis"]["median_days"]) == (2, 3.0)
    assert (rows["diagnosis"]["q1_days"], rows["diagnosis"]["q3_days"]) == (2.5, 3.5)
    assert (rows["detox"]["median_days"], rows["detox"]["q1_days"]) == (2.5, 2.25)
    assert (rows["taper"]["stays"], rows["taper"]["median_days"]) == (1, 5.0)
    assert rows["plan"]["stays"] == 0
    assert rows["plan"]["median_days"] is None


def test_census_counts_active_by_stage_setting_and_counselor(counselors) -> None:
    a, b = counselors
    e1 = admit(make_patient(), a, days_ago=3)
    admit(make_patient(), a, days_ago=5, service_setting=7)
    admit(make_patient(), b, days_ago=8)
    services.move_stage(make_staff("supervisor"), e1, "detox", reason="census test", override=True)
    closed = admit(make_patient(), b, days_ago=20)
    services.discharge(b, closed, discharged_on=today(), reason=1)
    db.session.commit()
    data = queries.census(RANGE_2025)
    assert data["total_active"] == 3
    assert data["by_stage"]["diagnosis"] == 2
    assert data["by_stage"]["detox"] == 1
    assert data["by_stage"]["therapy"] == 0
    assert data["by_setting"] == {"inpatient": 2, "outpatient": 1}
    assert [(r["name"], r["active"]) for r in data["by_counselor"]] == [
        ("Alex A", 2),
        ("Blair B", 1),
    ]


def test_active_progress_on_track_at_risk_past_target(counselors) -> None:
    a, _ = counselors
    admit(make_patient(), a, days_ago=3)  # on track (first 14 days)
    admit(make_patient(), a, days_ago=30)  # at risk: no session in 7 days
    past = admit(make_patient(), a, days_ago=95)  # past target (day 96 of 90)
    db.session.add(
        TherapySession(
            episode_id=past.id,
            kind="individual",
            modality="cbt",
            started_at=datetime.now(UTC) - timedelta(days=1),
            duration_minutes=50,
            attendance="attended",
            counselor_id=a.id,
        )
    )
    db.session.commit()
    progress = queries.active_progress(RANGE_2025)
    assert progress == {"active": 3, "at_risk": 1, "past_target": 1, "on_track": 1}


def test_caseload_sessions_hours_and_no_show_rate(counselors) -> None:
    a, b = counselors
    episode = admit(make_patient(), a, days_ago=30)
    admit(make_patient(), b, days_ago=3)
    start = today() - timedelta(days=13)
    base = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for day, attendance, minutes in [
        (0, "attended", 60),
        (2, "late", 30),
        (4, "no_show", 50),
        (6, "attended", 90),
        (20, "attended", 60),
    ]:
        db.session.add(
            TherapySession(
                episode_id=episode.id,
                kind="individual",
                modality="cbt",
                started_at=base
                + timedelta(days=day)
                - (timedelta(days=30) if day == 20 else timedelta()),
                duration_minutes=minutes,
                attendance=attendance,
                counselor_id=a.id,
            )
        )
    db.session.commit()
    data = queries.caseload(ReportFilters(start, today()))
    rows = {r["name"]: r for r in data["counselors"]}
    assert data["weeks"] == 2.0
    assert rows["Alex A"]["sessions"] == 3  # attended + late, inside the range
    assert rows["Alex A"]["sessions_per_week"] == 1.5
    assert rows["Alex A"]["hours"] == 3.0  # 60 + 30 + 90 minutes
    assert rows["Alex A"]["no_shows"] == 1
    assert rows["Alex A"]["no_show_rate"] == 0.25
    assert (rows["Blair B"]["active"], rows["Blair B"]["sessions"]) == (1, 0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"from": "2025-05-01", "to": "2025-01-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"counselor_id": "999999"}, "counselor_id"),
        ({"setting": "moon"}, "setting"),
    ],
)
def test_bad_filters_name_the_field(args: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_filters(args)
    assert field in err.value.messages


def test_census_shows_places_in_use_against_capacity(counselors) -> None:
    from casemgr.intake.models import Place

    a, _ = counselors
    db.session.add(Place(category="inpatient", capacity=10))
    db.session.commit()
    admit(make_patient(), a, days_ago=2)  # setting 5: inpatient
    admit(make_patient(), a, days_ago=2, service_setting=7)  # outpatient
    places = {p["category"]: p for p in queries.census(RANGE_2025)["places"]}
    assert (places["inpatient"]["capacity"], places["inpatient"]["occupied"]) == (10, 1)
    assert places["inpatient"]["free"] == 9
    assert (places["outpatient"]["capacity"], places["outpatient"]["occupied"]) == (None, 1)


def test_documentation_timeliness_per_author(counselors) -> None:
    from casemgr.therapy.models import Note

    a, b = counselors
    episode = admit(make_patient(), a, days_ago=20)
    base = datetime.combine(today() - timedelta(days=10), datetime.min.time(), tzinfo=UTC)
    body = {"data": "d", "assessment": "a", "plan": "p"}
    # (author, hours after creation when signed or None, created days after base)
    for author, signed_after, status in [
        (a, 2, "signed"),
        (a, 30, "signed"),
        (a, 100, "signed"),
        (a, None, "draft"),
        (b, 10, "awaiting_cosign"),
        (b, None, "draft"),
    ]:
        db.session.add(
            Note(
                episode_id=episode.id,
                kind="progress",
                format="DAP",
                body=body,
                status=status,
                author_id=author.id,
                created_at=base,
                updated_at=base,
                signed_at=None if signed_after is None else base + timedelta(hours=signed_after),
            )
        )
    db.session.commit()
    data = queries.documentation(ReportFilters(today() - timedelta(days=30), today()))
    rows = {r["name"]: r for r in data["authors"]}
    alex = rows["Alex A"]
    assert (alex["notes"], alex["signed_within_24h"], alex["signed_24_to_72h"]) == (4, 1, 1)
    assert (alex["signed_after_72h"], alex["unsigned"], alex["unsigned_over_72h"]) == (1, 1, 1)
    assert alex["on_time_rate"] == 0.5
    blair = rows["Blair B"]
    assert (blair["notes"], blair["signed_within_24h"], blair["unsigned"]) == (2, 1, 1)
    assert data["totals"]["notes"] == 6
    assert data["totals"]["on_time_rate"] == 0.5


def test_level_of_care_splits_use_the_level_in_effect(counselors) -> None:
    from tests.factories import make_level_of_care

    a, _ = counselors
    physician = make_staff("physician")
    active = admit(make_patient(), a, days_ago=20)
    make_level_of_care(active, physician, level="3.5", effective_on=today() - timedelta(days=19))
    make_level_of_care(
        active,
        physician,
        level="2.1",
        effective_on=today() - timedelta(days=2),
        discrepancy_reason="Stepping down after a stable residential stay",
    )
    admit(make_patient(), a, days_ago=4)  # no decision yet
    closed = services.admit(
        a,
        make_patient(),
        admitted_on=date(2025, 1, 1),
        primary_counselor_id=a.id,
        primary_substance=13,
        referral_source=1,
        service_setting=5,
    )
    make_level_of_care(closed, physician, level="3.7", effective_on=date(2025, 1, 1))
    make_level_of_care(
        closed,
        physician,
        level="1.0",
        effective_on=date(2025, 3, 1),
        discrepancy_reason="Aftercare only",
    )  # takes effect after the discharge below
    services.discharge(a, closed, discharged_on=date(2025, 2, 14), reason=1)
    db.session.commit()
    census = queries.census(RANGE_2025)
    assert census["by_level_of_care"] == {"2.1": 1, "none": 1}
    los = queries.length_of_stay(RANGE_2025)
    assert los["by_level_of_care"] == {"3.7": 1}
    only = ReportFilters(RANGE_2025.start, RANGE_2025.end, level="2.1")
    assert queries.census(only)["total_active"] == 1


def test_education_completion_active_and_at_discharge(counselors) -> None:
    from casemgr.education.models import EducationDelivery
    from tests.factories import make_module

    a, _ = counselors
    core1, core2 = make_module(title="How addiction develops"), make_module(title="Relapse")
    optional = make_module(core=False, title="Family")

    def deliver(episode, module, on):
        db.session.add(
            EducationDelivery(
                episode_id=episode.id, module_id=module.id, delivered_on=on, delivered_by_id=a.id
            )
        )
        db.session.commit()

    full = admit(make_patient(), a, days_ago=20)
    half = admit(make_patient(), a, days_ago=20)
    admit(make_patient(), a, days_ago=2)  # nothing yet
    deliver(full, core1, today() - timedelta(days=10))
    deliver(full, core2, today() - timedelta(days=9))
    deliver(full, core2, today() - timedelta(days=8))  # a repeat counts once
    deliver(half, core1, today() - timedelta(days=5))
    deliver(half, optional, today() - timedelta(days=5))  # not core
    gone = services.admit(
        a,
        make_patient(),
        admitted_on=date(2025, 1, 1),
        primary_counselor_id=a.id,
        primary_substance=13,
        referral_source=1,
        service_setting=5,
    )
    deliver(gone, core1, date(2025, 1, 5))
    deliver(gone, core2, date(2025, 1, 7))
    services.discharge(a, gone, discharged_on=date(2025, 1, 6), reason=2)  # core2 came after
    db.session.commit()
    data = queries.education(RANGE_2025)
    assert data["core_modules"] == 2
    assert data["active"] == {
        "episodes": 3,
        "all_core_complete": 1,
        "completion_rate": 0.3333,
        "mean_core_modules": 1.0,
    }
    assert data["discharged"] == {
        "episodes": 1,
        "all_core_complete": 0,
        "completion_rate": 0.0,
        "mean_core_modules": 1.0,
    }
    reached = {m["title"]: m["active_episodes_reached"] for m in data["modules"]}
    assert reached == {"How addiction develops": 2, "Relapse": 1}
