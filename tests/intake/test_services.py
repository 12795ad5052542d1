"""Admissions rules: every pipeline move and its refusal, admission with the patient match,
occupancy against places, utilization review, insurance checks, the funnel on known data."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from casemgr.core.errors import Conflict, RuleViolation
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.extensions import db
from casemgr.intake import queries, services
from casemgr.intake.models import CLOSED_STATUSES, InquiryStatusChange
from casemgr.patients.models import Patient
from tests.factories import admit, make_patient, make_staff
from tests.intake.builders import (
    make_authorization,
    make_coverage,
    make_inquiry,
)

pytestmark = pytest.mark.usefixtures("app")

ALLOWED = [
    ("inquiry", "screening"),
    ("inquiry", "referred_out"),
    ("inquiry", "declined"),
    ("inquiry", "lost_contact"),
    ("screening", "waitlist"),
    ("screening", "referred_out"),
    ("screening", "declined"),
    ("screening", "lost_contact"),
    ("waitlist", "screening"),
    ("waitlist", "referred_out"),
    ("waitlist", "declined"),
    ("waitlist", "lost_contact"),
    ("lost_contact", "inquiry"),
    ("lost_contact", "screening"),
    ("lost_contact", "waitlist"),
]
REFUSED = [
    ("inquiry", "waitlist"),
    ("screening", "inquiry"),
    ("waitlist", "inquiry"),
    ("referred_out", "screening"),
    ("referred_out", "inquiry"),
    ("declined", "screening"),
    ("declined", "waitlist"),
    ("lost_contact", "declined"),
    ("referred_out", "declined"),
]


def inquiry_at(status: str, **fields):
    """An inquiry at a status; screened, so the waitlist rule does not interfere."""
    return make_inquiry(status=status, screening={"frequency": 2}, **fields)


@pytest.mark.parametrize(("start", "target"), ALLOWED)
def test_allowed_move_is_recorded_with_who_when_why(start: str, target: str) -> None:
    actor = make_staff("intake")
    inquiry = inquiry_at(start)
    change = services.change_status(actor, inquiry, target, reason="called back")
    db.session.commit()
    assert inquiry.status == target
    assert (change.from_status, change.to_status, change.by_id) == (start, target, actor.id)
    assert change.reason == "called back"
    assert change.at is not None
    assert inquiry.status_changes[-1].id == change.id


@pytest.mark.parametrize(("start", "target"), REFUSED)
def test_move_the_pipeline_does_not_allow_is_a_conflict(start: str, target: str) -> None:
    inquiry = inquiry_at(start)
    with pytest.raises(Conflict):
        services.change_status(make_staff("intake"), inquiry, target, reason="try")
    assert inquiry.status == start


@pytest.mark.parametrize("target", CLOSED_STATUSES)
def test_closing_needs_a_reason(target: str) -> None:
    inquiry = inquiry_at("screening")
    with pytest.raises(RuleViolation) as err:
        services.change_status(make_staff("intake"), inquiry, target, reason="  ")
    assert "reason" in err.value.fields


def test_going_back_and_reopening_need_a_reason() -> None:
    actor = make_staff("intake")
    with pytest.raises(RuleViolation):
        services.change_status(actor, inquiry_at("waitlist"), "screening")
    with pytest.raises(RuleViolation):
        services.change_status(actor, inquiry_at("lost_contact"), "screening")


def test_forward_moves_need_no_reason() -> None:
    actor = make_staff("intake")
    inquiry = inquiry_at("inquiry")
    services.change_status(actor, inquiry, "screening")
    services.change_status(actor, inquiry, "waitlist")
    assert inquiry.status == "waitlist"


def test_waitlist_needs_screening_answers() -> None:
    inquiry = make_inquiry(status="screening")
    assert inquiry.screened_at is None
    with pytest.raises(Conflict) as err:
        services.change_status(make_staff("intake"), inquiry, "waitlist")
    assert err.value.extra["missing"] == ["screening"]


def test_admitted_is_reached_only_through_admission() -> None:
    with pytest.raises(RuleViolation):
        services.change_status(make_staff("intake"), inquiry_at("waitlist"), "admitted")


def test_screening_sets_the_detox_suggestion_and_can_be_corrected() -> None:
    actor = make_staff("intake")
    inquiry = make_inquiry(primary_substance=13)
    services.record_screening(actor, inquiry, {"frequency": 3})
    assert inquiry.suggests_medical_detox
    assert services.detox_reasons_of(inquiry) == ["daily_sedative"]
    services.record_screening(actor, inquiry, {"frequency": 2})
    assert not inquiry.suggests_medical_detox


def test_future_last_use_and_birth_date_are_field_errors() -> None:
    actor = make_staff("intake")
    tomorrow = today() + timedelta(days=1)
    with pytest.raises(RuleViolation) as err:
        make_inquiry(actor=actor, date_of_birth=tomorrow)
    assert "date_of_birth" in err.value.fields
    with pytest.raises(RuleViolation):
        services.record_screening(actor, make_inquiry(), {"last_use_on": tomorrow})


def test_overdue_follow_ups_list_only_open_inquiries_past_their_date() -> None:
    yesterday = today() - timedelta(days=1)
    due = make_inquiry(status="screening", follow_up_on=yesterday, days_ago=3)
    make_inquiry(follow_up_on=today(), days_ago=3)
    make_inquiry(status="declined", follow_up_on=yesterday, days_ago=3)
    assert [i.id for i in queries.overdue_follow_ups()] == [due.id]
    assert services.is_overdue(due)


def test_waitlist_orders_by_urgency_then_wait() -> None:
    routine_old = inquiry_at("waitlist", urgency="routine", days_ago=20)
    urgent_new = inquiry_at("waitlist", urgency="urgent", days_ago=1)
    emergency = inquiry_at("waitlist", urgency="emergency", days_ago=0)
    urgent_old = inquiry_at("waitlist", urgency="urgent", days_ago=5)
    routine_new = inquiry_at("waitlist", urgency="routine", days_ago=2)
    assert [i.id for i in queries.waitlist()] == [
        emergency.id,
        urgent_old.id,
        urgent_new.id,
        routine_old.id,
        routine_new.id,
    ]


# ---- admission ----


def admission(counselor, **changes):
    """Admission fields for admit_inquiry."""
    return {
        "admitted_on": today(),
        "primary_counselor_id": counselor.id,
        "service_setting": 4,
        **changes,
    }


def test_admission_prefills_the_episode_and_stores_days_waiting() -> None:
    actor = make_staff("intake")
    counselor = make_staff("counselor")
    inquiry = make_inquiry(
        status="waitlist",
        days_ago=12,
        primary_substance=13,
        referral_source=7,
        date_of_birth=today().replace(year=1984),
        sex="M",
        screening={"frequency": 3},
    )
    episode = services.admit_inquiry(actor, inquiry, **admission(counselor))
    db.session.commit()
    assert episode.days_waiting == 12
    assert (episode.primary_substance, episode.referral_source, episode.frequency) == (13, 7, 3)
    assert inquiry.status == "admitted"
    assert (inquiry.episode_id, inquiry.patient_id) == (episode.id, episode.patient_id)
    patient = db.session.get(Patient, episode.patient_id)
    assert (patient.first_name, patient.sex, patient.phone) == (
        inquiry.first_name,
        "M",
        "(555) 010-2000",
    )
    last = inquiry.status_changes[-1]
    assert (last.from_status, last.to_status, last.by_id) == ("waitlist", "admitted", actor.id)


def test_admission_the_same_day_waited_zero_days() -> None:
    inquiry = inquiry_at("screening", primary_substance=2, date_of_birth=today().replace(year=1990))
    episode = services.admit_inquiry(
        make_staff("intake"), inquiry, **admission(make_staff("counselor"))
    )
    assert episode.days_waiting == 0


@pytest.mark.parametrize("status", ["declined", "referred_out", "lost_contact"])
def test_admission_from_a_closed_inquiry_is_refused(status: str) -> None:
    inquiry = inquiry_at(status, primary_substance=2, date_of_birth=today().replace(year=1990))
    with pytest.raises(Conflict) as err:
        services.admit_inquiry(make_staff("intake"), inquiry, **admission(make_staff("counselor")))
    assert "closed" in err.value.message
    assert inquiry.status == status


def test_admission_of_an_unscreened_inquiry_is_refused() -> None:
    inquiry = make_inquiry(primary_substance=2, date_of_birth=today().replace(year=1990))
    with pytest.raises(Conflict) as err:
        services.admit_inquiry(make_staff("intake"), inquiry, **admission(make_staff("counselor")))
    assert err.value.extra["missing"] == ["screening"]


def test_admission_field_problems_come_before_the_state_conflict() -> None:
    inquiry = inquiry_at("declined", days_ago=3)
    with pytest.raises(RuleViolation) as err:
        services.admit_inquiry(
            make_staff("intake"),
            inquiry,
            **admission(make_staff("counselor"), admitted_on=today() - timedelta(days=5)),
        )
    assert set(err.value.fields) == {"admitted_on", "primary_substance", "date_of_birth"}


def test_likely_duplicate_is_offered_never_merged() -> None:
    existing = make_patient(
        first_name="Robin", last_name="Okafor", date_of_birth=today().replace(year=1979)
    )
    inquiry = inquiry_at(
        "waitlist",
        first_name="ROBIN",
        last_name="okafor",
        date_of_birth=existing.date_of_birth,
        primary_substance=5,
    )
    actor, counselor = make_staff("intake"), make_staff("counselor")
    patients_before = db.session.scalar(sa.select(sa.func.count(Patient.id)))
    with pytest.raises(Conflict) as err:
        services.admit_inquiry(actor, inquiry, **admission(counselor))
    assert [c["id"] for c in err.value.extra["candidates"]] == [existing.id]
    assert err.value.extra["candidates"][0]["mrn"] == existing.mrn
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == patients_before
    assert inquiry.status == "waitlist"
    episode = services.admit_inquiry(actor, inquiry, **admission(counselor, patient_id=existing.id))
    assert episode.patient_id == existing.id
    assert db.session.scalar(sa.select(sa.func.count(Patient.id))) == patients_before


def test_a_confirmed_different_person_gets_a_new_patient() -> None:
    existing = make_patient(
        first_name="Sam", last_name="Lee", date_of_birth=today().replace(year=1979)
    )
    inquiry = inquiry_at(
        "waitlist",
        first_name="Sam",
        last_name="Lee",
        date_of_birth=existing.date_of_birth,
        primary_substance=5,
    )
    episode = services.admit_inquiry(
        make_staff("intake"), inquiry, **admission(make_staff("counselor"), new_patient=True)
    )
    assert episode.patient_id != existing.id


def test_different_birth_date_is_not_a_match() -> None:
    make_patient(first_name="Kim", last_name="Ng", date_of_birth=today().replace(year=1979))
    assert services.find_candidates("Kim", "Ng", today().replace(year=1980)) == []
    assert services.find_candidates("kim", "NG", today().replace(year=1979)) != []


def test_matched_patient_with_an_active_episode_is_a_conflict() -> None:
    counselor = make_staff("counselor")
    existing = make_patient()
    admit(existing, counselor)
    inquiry = inquiry_at("waitlist", primary_substance=5)
    with pytest.raises(Conflict):
        services.admit_inquiry(
            make_staff("intake"), inquiry, **admission(counselor, patient_id=existing.id)
        )


# ---- places and occupancy ----


def test_occupancy_counts_active_episodes_by_setting_against_places() -> None:
    admin, counselor = make_staff("admin"), make_staff("counselor")
    services.set_places(admin, "inpatient", 2)
    services.set_places(admin, "outpatient", 10)
    for setting in (1, 5):
        admit(make_patient(), counselor, service_setting=setting)
    admit(make_patient(), counselor, service_setting=7)
    gone = admit(make_patient(), counselor, service_setting=4, days_ago=5)
    episode_services.discharge(counselor, gone, discharged_on=today(), reason=1)
    inquiry_at("waitlist", requested_category="inpatient")
    inquiry_at("waitlist", requested_category="outpatient")
    inquiry_at("waitlist", requested_category="inpatient")
    by_category = {o.category: o for o in queries.occupancy()}
    inpatient, outpatient = by_category["inpatient"], by_category["outpatient"]
    assert (inpatient.capacity, inpatient.occupied, inpatient.free, inpatient.waiting) == (
        2,
        2,
        0,
        2,
    )
    assert inpatient.full
    assert (outpatient.capacity, outpatient.occupied, outpatient.free) == (10, 1, 9)
    assert not outpatient.full
    admit(make_patient(), counselor, service_setting=2)
    over = {o.category: o for o in queries.occupancy()}["inpatient"]
    assert (over.occupied, over.free) == (3, -1)


def test_places_unset_mean_no_capacity() -> None:
    admit(make_patient(), make_staff("counselor"), service_setting=6)
    outpatient = {o.category: o for o in queries.occupancy()}["outpatient"]
    assert (outpatient.capacity, outpatient.free, outpatient.full) == (None, None, False)


def test_places_refuse_negative_capacity() -> None:
    with pytest.raises(RuleViolation):
        services.set_places(make_staff("admin"), "inpatient", -1)


# ---- insurance ----


def test_second_active_primary_coverage_is_refused_secondary_is_fine() -> None:
    patient = make_patient()
    first = make_coverage(patient)
    with pytest.raises(Conflict) as err:
        make_coverage(patient, member_id="ZZ-1")
    assert "priority" in err.value.fields
    make_coverage(patient, member_id="ZZ-2", priority="secondary")
    services.update_coverage(make_staff("intake"), first, {"active": False})
    make_coverage(patient, member_id="ZZ-3")  # the old primary has ended


def test_verification_rules() -> None:
    coverage = make_coverage(make_patient())
    actor = make_staff("intake")
    with pytest.raises(RuleViolation) as err:
        services.verify_coverage(
            actor, coverage, status="verified", verified_on=today() + timedelta(days=1)
        )
    assert "verified_on" in err.value.fields
    with pytest.raises(RuleViolation) as err:
        services.verify_coverage(
            actor,
            coverage,
            status="verified",
            verified_on=today(),
            deductible_cents=100_00,
            deductible_met_cents=200_00,
        )
    assert "deductible_met" in err.value.fields
    verification = services.verify_coverage(
        actor, coverage, status="verified", verified_on=today(), deductible_cents=1500_00
    )
    assert verification.by_id == actor.id


def test_authorization_that_ends_before_it_starts_is_refused() -> None:
    episode = admit(make_patient(), make_staff("counselor"))
    with pytest.raises(RuleViolation) as err:
        make_authorization(episode, starts_on=today(), ends_on=today() - timedelta(days=1))
    assert "ends_on" in err.value.fields


def test_authorization_coverage_must_be_the_patients() -> None:
    episode = admit(make_patient(), make_staff("counselor"))
    other = make_coverage(make_patient())
    with pytest.raises(RuleViolation) as err:
        make_authorization(episode, coverage_id=other.id)
    assert "coverage_id" in err.value.fields


def test_utilization_review_lists_ending_and_exceeded_authorizations() -> None:
    counselor = make_staff("counselor")
    # Ends in 2 days: listed.
    ending = admit(make_patient(), counselor, days_ago=10)
    a_ending = make_authorization(
        ending, approved_days=30, starts_on=ending.admitted_on, ends_on=today() + timedelta(days=2)
    )
    # Ends in 10 days, days used 6 of 30: not listed.
    fine = admit(make_patient(), counselor, days_ago=5)
    make_authorization(
        fine, approved_days=30, starts_on=fine.admitted_on, ends_on=today() + timedelta(days=10)
    )
    # Approved 7 days but 9 days used, end date still ahead: exceeded.
    over = admit(make_patient(), counselor, days_ago=8)
    a_over = make_authorization(
        over, approved_days=7, starts_on=over.admitted_on, ends_on=today() + timedelta(days=20)
    )
    # Ended yesterday, still in treatment: exceeded.
    lapsed = admit(make_patient(), counselor, days_ago=20)
    a_lapsed = make_authorization(
        lapsed, approved_days=30, starts_on=lapsed.admitted_on, ends_on=today() - timedelta(days=1)
    )
    # Replaced by a renewal: only the renewal counts (and it is fine).
    renewed = admit(make_patient(), counselor, days_ago=12)
    make_authorization(
        renewed,
        approved_days=14,
        starts_on=renewed.admitted_on,
        ends_on=today() + timedelta(days=1),
    )
    make_authorization(
        renewed, approved_days=30, starts_on=today(), ends_on=today() + timedelta(days=29)
    )
    # Discharged episode: never listed.
    done = admit(make_patient(), counselor, days_ago=9)
    make_authorization(done, approved_days=5, starts_on=done.admitted_on, ends_on=today())
    episode_services.discharge(counselor, done, discharged_on=today(), reason=1)
    items = queries.utilization_review(3)
    assert [i.authorization.id for i in items] == [a_lapsed.id, a_ending.id, a_over.id]
    by_id = {i.authorization.id: i for i in items}
    assert (by_id[a_ending.id].days_left, by_id[a_ending.id].exceeded) == (2, False)
    assert (by_id[a_over.id].days_used, by_id[a_over.id].exceeded) == (9, True)
    assert (by_id[a_lapsed.id].days_left, by_id[a_lapsed.id].exceeded) == (-1, True)
    assert [i.authorization.id for i in queries.utilization_review(0)] == [a_lapsed.id, a_over.id]


def test_unverified_admissions_lists_patients_without_settled_coverage() -> None:
    actor, counselor = make_staff("intake"), make_staff("counselor")
    none_recorded = admit(make_patient(), counselor)
    pending = admit(make_patient(), counselor)
    services.verify_coverage(
        actor, make_coverage(pending.patient), status="pending", verified_on=today()
    )
    verified = admit(make_patient(), counselor)
    services.verify_coverage(
        actor, make_coverage(verified.patient), status="verified", verified_on=today()
    )
    self_pay = admit(make_patient(), counselor)
    services.verify_coverage(
        actor, make_coverage(self_pay.patient), status="self_pay", verified_on=today()
    )
    # Verified once, then denied: the latest verification counts.
    denied = admit(make_patient(), counselor)
    coverage = make_coverage(denied.patient)
    services.verify_coverage(actor, coverage, status="verified", verified_on=today())
    services.verify_coverage(actor, coverage, status="denied", verified_on=today())
    db.session.commit()
    listed = {e.id for e, _ in queries.unverified_admissions()}
    assert listed == {none_recorded.id, pending.id, denied.id}


# ---- the funnel on a known dataset ----


def test_funnel_figures_on_a_known_dataset() -> None:
    actor, counselor = make_staff("intake"), make_staff("counselor")
    dob = today().replace(year=1988)

    def admitted(days_ago: int, waited: int) -> None:
        inquiry = inquiry_at("waitlist", days_ago=days_ago, primary_substance=2, date_of_birth=dob)
        services.admit_inquiry(
            actor,
            inquiry,
            **admission(
                counselor, admitted_on=today() - timedelta(days=days_ago - waited), new_patient=True
            ),
        )

    # 10 inquiries in range (first contact 20..29 days ago), 2 outside it.
    admitted(29, 3)
    admitted(28, 5)
    admitted(27, 10)
    inquiry_at("waitlist", days_ago=26)  # waitlisted, still open
    inquiry_at("screening", days_ago=25)  # screened, still open
    make_inquiry(days_ago=24)  # never screened, open
    inquiry_at("referred_out", days_ago=23)  # never screened, referred out
    lost = inquiry_at("screening", days_ago=22)
    services.change_status(actor, lost, "lost_contact", reason="no answer")
    declined = inquiry_at("waitlist", days_ago=21)
    services.change_status(actor, declined, "declined", reason="chose another program")
    make_inquiry(status="declined", days_ago=20)
    make_inquiry(days_ago=35)
    make_inquiry(days_ago=5)
    db.session.commit()
    f = queries.funnel(today() - timedelta(days=29), today() - timedelta(days=20))
    # screened: 3 admitted + open waitlist + open screening + lost + declined-from-waitlist
    assert (f.inquiries, f.screened, f.waitlisted, f.admitted) == (10, 7, 5, 3)
    assert f.lost == {"referred_out": 1, "declined": 2, "lost_contact": 1}
    assert f.still_open == 3
    assert (f.screened_rate, f.admitted_of_screened, f.admitted_rate) == (0.7, 0.4286, 0.3)
    assert f.median_days_waiting == 5
    admitted(20, 8)  # a fourth admission: the median is the mean of the middle two
    f = queries.funnel(today() - timedelta(days=29), today() - timedelta(days=20))
    assert f.median_days_waiting == 6.5
    empty = queries.funnel(today() - timedelta(days=400), today() - timedelta(days=300))
    assert (empty.inquiries, empty.screened_rate, empty.median_days_waiting) == (0, None, None)


def test_status_history_keeps_every_move() -> None:
    inquiry = inquiry_at("waitlist")
    rows = db.session.scalars(
        sa.select(InquiryStatusChange.to_status)
        .where(InquiryStatusChange.inquiry_id == inquiry.id)
        .order_by(InquiryStatusChange.id)
    ).all()
    assert rows == ["inquiry", "screening", "waitlist"]
