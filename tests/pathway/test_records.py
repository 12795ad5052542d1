"""Bad input, locks, versions, alerts, tapers and audit of the clinical records."""

from __future__ import annotations

import bisect
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from casemgr.audit.models import AuditEvent
from casemgr.clinical import taper
from casemgr.core.errors import RuleViolation
from casemgr.core.timeutil import today
from casemgr.episodes import services as episode_services
from casemgr.extensions import db
from casemgr.medication import services as medication
from tests.factories import (
    admit,
    make_diagnosis,
    make_patient,
    make_staff,
    make_taper_plan,
    make_treatment_plan,
)
from tests.pathway.helpers import error, headers_of

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def w(client: Any) -> dict[str, Any]:
    """Staff of the medical and counseling roles and one active episode."""
    staff = {r: make_staff(r) for r in ("physician", "nurse", "counselor", "supervisor")}
    episode = admit(make_patient(), staff["counselor"], days_ago=5)
    return {
        "staff": staff,
        "episode": episode,
        "h": {r: headers_of(client, s) for r, s in staff.items()},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"instrument": "CIWA-Ar", "items": [0] * 9}, "items"),
        ({"instrument": "CIWA-Ar", "items": [8] + [0] * 9}, "items.0"),
        ({"instrument": "CIWA-Ar", "items": [0] * 9 + [5]}, "items.9"),
        ({"instrument": "COWS", "items": [3] + [0] * 10}, "items.0"),
        ({"instrument": "CIWA-B", "items": [-1] + [0] * 21}, "items.0"),
        ({"instrument": "PAWS", "items": [0]}, "instrument"),
        ({"instrument": "COWS", "items": ["x"] * 11}, "items"),
    ],
)
def test_bad_withdrawal_items_name_the_field(
    client: Any, w: dict[str, Any], body: dict, field: str
) -> None:
    r = client.post(
        f"/api/v1/episodes/{w['episode'].id}/withdrawal-scores", json=body, headers=w["h"]["nurse"]
    )
    assert field in error(r, 422)["fields"]


@pytest.mark.parametrize(
    ("criteria", "codes"),
    [([12], []), ([0], []), ([1, 1], []), ([1], ["F4"]), ([1], ["not a code"])],
)
def test_bad_diagnosis_input_is_422(
    client: Any, w: dict[str, Any], criteria: list, codes: list
) -> None:
    r = client.post(
        f"/api/v1/episodes/{w['episode'].id}/diagnoses",
        json={
            "criteria": criteria,
            "medical_supervision": False,
            "physical_evaluation": "x",
            "psychological_evaluation": "y",
            "co_occurring": codes,
        },
        headers=w["h"]["physician"],
    )
    fields = error(r, 422)["fields"]
    assert ("co_occurring" if codes else "criteria") in fields


def test_signed_diagnosis_never_changes(client: Any, w: dict[str, Any]) -> None:
    signed = make_diagnosis(w["episode"], w["staff"]["physician"])
    body = {
        "criteria": [1],
        "medical_supervision": False,
        "physical_evaluation": "x",
        "psychological_evaluation": "y",
        "co_occurring": [],
        "version": signed.version,
    }
    assert error(
        client.patch(f"/api/v1/diagnoses/{signed.id}", json=body, headers=w["h"]["physician"]), 409
    )
    assert error(
        client.post(f"/api/v1/diagnoses/{signed.id}/sign", headers=w["h"]["physician"]), 409
    )
    draft = make_diagnosis(w["episode"], w["staff"]["physician"], sign=False)
    other = client.post(f"/api/v1/diagnoses/{draft.id}/sign", headers=w["h"]["nurse"])
    assert error(other, 403)
    stale = client.patch(
        f"/api/v1/diagnoses/{draft.id}",
        json={**body, "version": draft.version + 5},
        headers=w["h"]["physician"],
    )
    assert error(stale, 409)
    ok = client.patch(
        f"/api/v1/diagnoses/{draft.id}",
        json={**body, "version": draft.version},
        headers=w["h"]["physician"],
    )
    assert ok.get_json()["criteria_counted"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"level": "3.3"}, "level"),  # a 3rd-edition level under edition 4
        ({"level": "3.7-WM"}, "level"),
        ({"asam_edition": 5}, "asam_edition"),
        ({"dimensions": {"1": 5, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0}}, "dimensions"),
        ({"dimensions": {"1": 0}}, "dimensions"),
        ({"rationale": ""}, "rationale"),
        ({"level": "1.5"}, "discrepancy_reason"),  # high risk rated, outpatient chosen
    ],
)
def test_bad_level_of_care_is_422(client: Any, w: dict[str, Any], change: dict, field: str) -> None:
    body = {
        "asam_edition": 4,
        "dimensions": {str(n): 3 for n in range(1, 7)},
        "level": "3.5",
        "rationale": "r",
        "effective_on": today().isoformat(),
        **change,
    }
    r = client.post(
        f"/api/v1/episodes/{w['episode'].id}/level-of-care", json=body, headers=w["h"]["physician"]
    )
    assert field in error(r, 422)["fields"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_dose_mg": 0}, "start_dose_mg"),
        ({"start_dose_mg": -2}, "start_dose_mg"),
        ({"interval_days": 0}, "interval_days"),
        ({"interval_days": -14}, "interval_days"),
        ({"dose_increment_mg": 0}, "dose_increment_mg"),
        ({"reduction_percent": 0}, "reduction_percent"),
        ({"start_dose_mg": 2.1}, "start_dose_mg"),  # not a multiple of the increment
        ({"start_dose_mg": 0.0001}, "start_dose_mg"),
    ],
)
def test_bad_taper_is_422(client: Any, w: dict[str, Any], change: dict, field: str) -> None:
    body = {
        "medication": "clonazepam",
        "start_dose_mg": 2,
        "reduction_percent": 10,
        "interval_days": 14,
        "dose_increment_mg": 0.25,
        "start_on": today().isoformat(),
        **change,
    }
    r = client.post(
        f"/api/v1/episodes/{w['episode'].id}/taper-plans", json=body, headers=w["h"]["physician"]
    )
    assert field in error(r, 422)["fields"]


def test_doses_only_on_an_active_plan_and_pause_resume_replan(
    client: Any, w: dict[str, Any]
) -> None:
    plan = make_taper_plan(w["episode"], w["staff"]["physician"])
    dose = {"given_at": "2020-01-01T08:00:00+00:00", "dose_mg": 2, "status": "given"}
    url = f"/api/v1/taper-plans/{plan.id}"
    assert (
        "given_at"
        in error(client.post(url + "/doses", json=dose, headers=w["h"]["nurse"]), 422)["fields"]
    )
    from casemgr.core.db import utcnow

    dose["given_at"] = utcnow().isoformat()
    assert client.post(url + "/doses", json=dose, headers=w["h"]["nurse"]).status_code == 201
    assert error(client.post(url + "/doses", json=dose, headers=w["h"]["counselor"]), 403)
    assert (
        client.post(url + "/pause", json={}, headers=w["h"]["nurse"]).get_json()["status"]
        == "paused"
    )
    assert error(client.post(url + "/doses", json=dose, headers=w["h"]["nurse"]), 409)
    assert error(client.post(url + "/pause", json={}, headers=w["h"]["nurse"]), 409)
    assert client.post(url + "/resume", headers=w["h"]["nurse"]).get_json()["status"] == "active"
    new = client.post(
        url + "/replan",
        json={"start_on": today().isoformat(), "current_dose_mg": 1.5},
        headers=w["h"]["physician"],
    )
    assert new.status_code == 201, new.get_json()
    assert (new.get_json()["steps"][0]["daily_dose_mg"], new.get_json()["replaces_id"]) == (
        1.5,
        plan.id,
    )
    assert error(client.post(url + "/doses", json=dose, headers=w["h"]["nurse"]), 409)  # replaced
    assert error(client.post(url + "/resume", headers=w["h"]["nurse"]), 409)


def test_faster_taper_needs_a_physicians_reason(client: Any, w: dict[str, Any]) -> None:
    body = {
        "medication": "lorazepam",
        "start_dose_mg": 4,
        "reduction_percent": 25,
        "interval_days": 7,
        "dose_increment_mg": 0.5,
        "start_on": today().isoformat(),
    }
    url = f"/api/v1/episodes/{w['episode'].id}/taper-plans"
    assert (
        "override_reason"
        in error(client.post(url, json=body, headers=w["h"]["physician"]), 422)["fields"]
    )
    assert error(
        client.post(url, json={**body, "override_reason": "x"}, headers=w["h"]["nurse"]), 403
    )
    r = client.post(
        url, json={**body, "override_reason": "Short-term use only"}, headers=w["h"]["physician"]
    )
    assert r.status_code == 201
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "taper_plan.guideline_override" in actions


@example(start=66, increment=Decimal("0.125"), percent=1, interval=28)  # refused: over 5 years
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.integers(min_value=1, max_value=160),
    increment=st.sampled_from([Decimal("0.125"), Decimal("0.25"), Decimal("0.5"), Decimal("1")]),
    percent=st.integers(min_value=1, max_value=50),
    interval=st.integers(min_value=1, max_value=28),
)
def test_stored_schedule_keeps_the_taper_invariants(
    w: dict[str, Any], start: int, increment: Decimal, percent: int, interval: int
) -> None:
    params = {
        "medication": "diazepam",
        "start_dose_mg": increment * start,
        "reduction_percent": Decimal(percent),
        "interval_days": interval,
        "dose_increment_mg": increment,
        "start_on": today(),
        "override_reason": "property test",
    }
    physician, episode = w["staff"]["physician"], w["episode"]
    pure = {k: v for k, v in params.items() if k != "override_reason"}
    try:
        taper.generate(taper.TaperParams(**pure))
    except ValueError:
        # Implausibly long schedules (over 5 years or 300 steps) are refused, never stored.
        with pytest.raises(RuleViolation, match="more than"):
            medication.create_plan(physician, episode, **params)
        db.session.rollback()
        return
    with db.session.begin_nested() as nested:
        plan = medication.create_plan(physician, episode, **params)
        db.session.flush()
        db.session.expire(plan)
        doses = [s.daily_dose_mg for s in plan.steps]
        days = [s.starts_on for s in plan.steps]
        assert doses[0] == params["start_dose_mg"]
        assert doses[-1] == 0
        assert all(a >= b for a, b in zip(doses, doses[1:], strict=False))
        assert all(d % increment == 0 for d in doses)
        offsets = [(d - days[0]).days for d in days]

        def dose_on(t: int) -> Decimal:
            return doses[max(bisect.bisect_right(offsets, t) - 1, 0)]

        for t in range(-1, offsets[-1] + 1):  # every window, on every day
            before, after = dose_on(t), dose_on(t + 14)
            assert before - after <= max(before * Decimal("0.25"), increment)
        nested.rollback()


def test_treatment_plan_versions_and_overdue_review(client: Any, w: dict[str, Any]) -> None:
    plan = make_treatment_plan(w["episode"], w["staff"]["counselor"])
    url = f"/api/v1/treatment-plans/{plan.id}"
    tree = {
        "problems": [
            {"description": "New problem", "goals": [{"description": "g", "objectives": []}]}
        ]
    }
    revised = client.patch(url, json=tree, headers=w["h"]["counselor"]).get_json()
    assert (revised["number"], revised["status"], revised["previous_id"]) == (2, "draft", plan.id)
    assert (
        client.get(url, headers=w["h"]["counselor"]).get_json()["problems"][0]["description"]
        != "New problem"
    )
    assert error(
        client.patch(url, json=tree, headers=w["h"]["counselor"]), 409
    )  # revise the newest
    assert error(client.post(url + "/sign", headers=w["h"]["counselor"]), 409)
    plan.review_due_on = today() - timedelta(days=3)
    db.session.commit()
    due = client.get("/api/v1/treatment-plans/reviews-due", headers=w["h"]["supervisor"]).get_json()
    assert [p["id"] for p in due["items"]] == [plan.id]
    client.post(f"/api/v1/treatment-plans/{revised['id']}/sign", headers=w["h"]["counselor"])
    due = client.get("/api/v1/treatment-plans/reviews-due", headers=w["h"]["supervisor"]).get_json()
    assert due["items"] == []
    empty = {"problems": [{"description": "No goals yet", "goals": []}]}
    draft = client.patch(
        f"/api/v1/treatment-plans/{revised['id']}", json=empty, headers=w["h"]["counselor"]
    )
    assert (
        "problems"
        in error(
            client.post(
                f"/api/v1/treatment-plans/{draft.get_json()['id']}/sign",
                headers=w["h"]["counselor"],
            ),
            422,
        )["fields"]
    )


def test_records_on_a_discharged_episode_are_409(client: Any, w: dict[str, Any]) -> None:
    episode_services.discharge(
        w["staff"]["counselor"], w["episode"], discharged_on=today(), reason=1
    )
    db.session.commit()
    r = client.post(
        f"/api/v1/episodes/{w['episode'].id}/withdrawal-scores",
        json={"instrument": "COWS", "items": [0] * 11},
        headers=w["h"]["nurse"],
    )
    assert error(r, 409)


def test_another_care_teams_records_are_403_for_a_counselor(client: Any, w: dict[str, Any]) -> None:
    stranger = admit(make_patient(), make_staff("counselor"))
    plan = make_treatment_plan(stranger, make_staff("counselor"))
    diagnosis = make_diagnosis(stranger, w["staff"]["physician"])
    h = w["h"]["counselor"]
    assert error(client.get(f"/api/v1/treatment-plans/{plan.id}", headers=h), 403)
    assert error(client.get(f"/api/v1/diagnoses/{diagnosis.id}", headers=h), 403)
    assert client.get(f"/treatment-plans/{plan.id}").status_code in (302, 401)


def test_education_catalogue_is_admin_managed(client: Any, w: dict[str, Any]) -> None:
    body = {"title": "Triggers and coping", "topic": "Skills", "minutes": 60, "core": True}
    assert error(
        client.post("/api/v1/education-modules", json=body, headers=w["h"]["counselor"]), 403
    )
    admin = headers_of(client, make_staff("admin"))
    assert client.post("/api/v1/education-modules", json=body, headers=admin).status_code == 201
    assert error(client.post("/api/v1/education-modules", json=body, headers=admin), 409)
    assert (
        "minutes"
        in error(
            client.post(
                "/api/v1/education-modules",
                json={**body, "title": "x", "minutes": 0},
                headers=admin,
            ),
            422,
        )["fields"]
    )
