"""The stage requirements table, move by move and role by role, and a full walk by API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from casemgr.core.timeutil import today
from casemgr.episodes import pathway
from casemgr.episodes.models import Stage, StageChange
from casemgr.extensions import db
from tests.factories import (
    admit,
    make_diagnosis,
    make_level_of_care,
    make_module,
    make_patient,
    make_score,
    make_staff,
    make_taper_plan,
    make_treatment_plan,
)
from tests.pathway.helpers import error, headers_of, items_for

pytestmark = pytest.mark.usefixtures("app")

#: DESIGN.md §2 as a table: stage → (codes needed to leave it, roles that may leave it).
EXPECTED = {
    Stage.DIAGNOSIS: (["signed_diagnosis", "level_of_care"], set()),
    Stage.DETOX: (["withdrawal_score"], {"physician", "nurse"}),
    Stage.TAPER: (["taper_plan"], {"physician", "nurse"}),
    Stage.PLAN: (["signed_treatment_plan"], set()),
    Stage.EDUCATION: (["core_education"], set()),
    Stage.THERAPY: ([], set()),
}


def test_requirement_table_matches_design() -> None:
    for stage, (codes, roles) in EXPECTED.items():
        rule = pathway.EXIT_RULES[stage]
        assert [r.code for r in rule.requirements] == codes, stage
        assert {r.value for r in rule.roles} == roles, stage
        assert all(r.where for r in rule.requirements)


def _meet(stage: Stage, episode: Any, staff: dict[str, Any]) -> None:
    """Create the records that leaving ``stage`` needs."""
    if stage is Stage.DIAGNOSIS:
        make_diagnosis(episode, staff["physician"])
        make_level_of_care(episode, staff["physician"])
    elif stage is Stage.DETOX:
        make_score(episode, staff["nurse"])
    elif stage is Stage.TAPER:
        make_taper_plan(episode, staff["physician"])
    elif stage is Stage.PLAN:
        make_treatment_plan(episode, staff["counselor"])
    elif stage is Stage.EDUCATION:
        module = make_module(core=True)
        from casemgr.education import services

        services.record_delivery(
            staff["counselor"], episode, module_id=module.id, delivered_on=today()
        )
        db.session.commit()


def _put_in(episode: Any, stage: Stage) -> None:
    """Place an episode in a stage directly (a historical row), to test one move at a time."""
    db.session.add(StageChange(episode=episode, from_stage=episode.stage, to_stage=stage.value))
    episode.stage = stage.value
    db.session.commit()


ROLES = ["supervisor", "physician", "nurse", "counselor", "intake"]
MOVES = [s for s in EXPECTED if s is not Stage.THERAPY]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("stage", MOVES, ids=[s.value for s in MOVES])
def test_each_forward_move_for_each_role(client: Any, stage: Stage, role: str) -> None:
    staff = {r: make_staff(r) for r in ("physician", "nurse", "counselor", "supervisor", "intake")}
    episode = admit(make_patient(), staff["counselor"], days_ago=5)
    _put_in(episode, stage)
    nxt = Stage(list(Stage)[stage.position + 1])
    h = headers_of(client, staff[role])
    url = f"/api/v1/episodes/{episode.id}/stage"
    codes, roles = EXPECTED[stage]
    if role == "intake":
        assert error(client.post(url, json={"to_stage": nxt.value}, headers=h), 403)
        return
    if roles and role not in roles and role != "supervisor":
        assert error(client.post(url, json={"to_stage": nxt.value}, headers=h), 403)
        _meet(stage, episode, staff)
        assert error(client.post(url, json={"to_stage": nxt.value}, headers=h), 403)
        return
    if stage is Stage.EDUCATION:
        make_module(core=True)  # a core module not delivered yet
    refused = error(client.post(url, json={"to_stage": nxt.value}, headers=h), 409)
    assert refused["missing"] == codes
    _meet(stage, episode, staff)
    if stage is Stage.EDUCATION:
        from casemgr.education import services

        for module in services.missing_core_modules(episode.id):
            services.record_delivery(
                staff["counselor"], episode, module_id=module.id, delivered_on=today()
            )
        db.session.commit()
    moved = client.post(url, json={"to_stage": nxt.value}, headers=h)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["stage"] == nxt.value
    history = client.get(f"/api/v1/episodes/{episode.id}/stages", headers=h).get_json()["items"]
    last = history[-1]
    assert (last["from_stage"], last["to_stage"], last["override"]) == (
        stage.value,
        nxt.value,
        False,
    )
    assert last["by_id"] == staff[role].id


def test_supervisor_override_needs_reason_and_shows_in_history(client: Any) -> None:
    counselor, supervisor = make_staff("counselor"), make_staff("supervisor")
    episode = admit(make_patient(), counselor)
    h = headers_of(client, supervisor)
    url = f"/api/v1/episodes/{episode.id}/stage"
    fields = error(client.post(url, json={"to_stage": "detox", "override": True}, headers=h), 422)
    assert "reason" in fields["fields"]
    ok = client.post(
        url, json={"to_stage": "detox", "override": True, "reason": "Signed on paper"}, headers=h
    )
    assert ok.status_code == 200
    last = client.get(f"/api/v1/episodes/{episode.id}/stages", headers=h).get_json()["items"][-1]
    assert (last["override"], last["reason"]) == (True, "Signed on paper")
    counselor_h = headers_of(client, counselor)
    assert error(
        client.post(
            url, json={"to_stage": "plan", "override": True, "reason": "x"}, headers=counselor_h
        ),
        403,
    )


def test_going_back_needs_a_reason_and_severe_last_score_keeps_detox(client: Any) -> None:
    staff = {r: make_staff(r) for r in ("physician", "nurse", "counselor")}
    episode = admit(make_patient(), staff["counselor"], days_ago=2)
    _put_in(episode, Stage.DETOX)
    h = headers_of(client, staff["nurse"])
    url = f"/api/v1/episodes/{episode.id}/stage"
    make_score(episode, staff["nurse"])
    make_score(episode, staff["nurse"], items=items_for("CIWA-B", 45))
    assert error(client.post(url, json={"to_stage": "taper"}, headers=h), 409)["missing"] == [
        "withdrawal_score"
    ]
    assert (
        "reason"
        in error(client.post(url, json={"to_stage": "diagnosis"}, headers=h), 422)["fields"]
    )
    back = client.post(url, json={"to_stage": "diagnosis", "reason": "Re-assess"}, headers=h)
    assert back.status_code == 200


def test_a_discharged_episode_cannot_move(client: Any) -> None:
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor, days_ago=4)
    from casemgr.episodes import services

    services.discharge(counselor, episode, discharged_on=today(), reason=1)
    db.session.commit()
    h = headers_of(client, counselor)
    assert error(
        client.post(f"/api/v1/episodes/{episode.id}/stage", json={"to_stage": "detox"}, headers=h),
        409,
    )


def test_walk_from_admission_to_therapy_through_the_api(client: Any) -> None:
    """Each stage refused first (with what is missing), then recorded and moved on."""
    admin = make_staff("admin")
    intake, counselor = make_staff("intake"), make_staff("counselor")
    physician, nurse = make_staff("physician"), make_staff("nurse")
    h = {s: headers_of(client, s) for s in (admin, intake, counselor, physician, nurse)}
    for title in ("How addiction develops", "Relapse prevention"):
        r = client.post(
            "/api/v1/education-modules",
            json={"title": title, "topic": "Recovery", "minutes": 45, "core": True},
            headers=h[admin],
        )
        assert r.status_code == 201, r.get_json()
    patient = client.post(
        "/api/v1/patients",
        json={
            "first_name": "Walk",
            "last_name": "Through",
            "date_of_birth": "1985-02-03",
            "sex": "F",
        },
        headers=h[intake],
    ).get_json()
    episode = client.post(
        f"/api/v1/patients/{patient['id']}/episodes",
        json={
            "admitted_on": (today() - timedelta(days=1)).isoformat(),
            "primary_counselor_id": counselor.id,
            "primary_substance": 13,
            "referral_source": 1,
            "service_setting": 5,
        },
        headers=h[intake],
    ).get_json()
    eid = episode["id"]

    def move(who: Any, to: str, missing: list[str] | None = None) -> None:
        r = client.post(f"/api/v1/episodes/{eid}/stage", json={"to_stage": to}, headers=h[who])
        if missing is None:
            assert r.status_code == 200, r.get_json()
            assert r.get_json()["stage"] == to
        else:
            assert error(r, 409)["missing"] == missing

    move(counselor, "detox", ["signed_diagnosis", "level_of_care"])
    r = client.post(
        f"/api/v1/episodes/{eid}/diagnoses",
        json={
            "criteria": [1, 2, 3, 4, 10, 11],
            "medical_supervision": False,
            "physical_evaluation": "Tremor",
            "psychological_evaluation": "Anxious",
            "co_occurring": ["f41.1"],
            "sign": False,
        },
        headers=h[physician],
    )
    assert (r.status_code, r.get_json()["severity"], r.get_json()["co_occurring"]) == (
        201,
        "severe",
        ["F41.1"],
    )
    move(counselor, "detox", ["signed_diagnosis", "level_of_care"])  # a draft is not enough
    assert (
        client.post(
            f"/api/v1/diagnoses/{r.get_json()['id']}/sign", headers=h[physician]
        ).status_code
        == 200
    )
    move(counselor, "detox", ["level_of_care"])
    r = client.post(
        f"/api/v1/episodes/{eid}/level-of-care",
        json={
            "asam_edition": 3,
            "dimensions": {"1": 3, "2": 1, "3": 2, "4": 2, "5": 3, "6": 2},
            "level": "3.7-wm",
            "rationale": "Benzodiazepine withdrawal needs monitoring",
            "effective_on": today().isoformat(),
        },
        headers=h[physician],
    )
    assert r.get_json()["level"] == "3.7-WM"
    move(counselor, "detox")
    r = client.post(
        f"/api/v1/episodes/{eid}/stage", json={"to_stage": "taper"}, headers=h[counselor]
    )
    assert error(r, 403)["code"] == "forbidden"  # leaving detox is for medical staff
    move(nurse, "taper", ["withdrawal_score"])
    severe = client.post(
        f"/api/v1/episodes/{eid}/withdrawal-scores",
        json={"instrument": "CIWA-B", "items": items_for("CIWA-B", 50)},
        headers=h[nurse],
    ).get_json()
    assert severe["alert"] is True
    move(nurse, "taper", ["withdrawal_score"])  # the last score is severe
    alerts = client.get("/api/v1/withdrawal-alerts", headers=h[physician]).get_json()["items"]
    assert [a["id"] for a in alerts] == [severe["id"]]
    ack = client.post(f"/api/v1/withdrawal-scores/{severe['id']}/acknowledge", headers=h[physician])
    assert ack.status_code == 200
    assert ack.get_json()["alert_open"] is False
    client.post(
        f"/api/v1/episodes/{eid}/withdrawal-scores",
        json={"instrument": "CIWA-B", "items": items_for("CIWA-B", 12)},
        headers=h[nurse],
    )
    move(nurse, "taper")
    move(physician, "plan", ["taper_plan"])
    body = {
        "medication": "clonazepam",
        "start_dose_mg": 2,
        "reduction_percent": 25,
        "interval_days": 7,
        "dose_increment_mg": 0.125,
        "start_on": today().isoformat(),
    }
    too_fast = client.post(f"/api/v1/episodes/{eid}/taper-plans", json=body, headers=h[physician])
    assert "override_reason" in error(too_fast, 422)["fields"]
    plan = client.post(
        f"/api/v1/episodes/{eid}/taper-plans",
        json={**body, "reduction_percent": 10, "interval_days": 14},
        headers=h[physician],
    ).get_json()
    assert plan["steps"][0]["daily_dose_mg"] == 2
    assert plan["steps"][-1]["daily_dose_mg"] == 0
    assert plan["steps"][0]["diazepam_equivalent_mg"] == 20  # VA/DoD: clonazepam 1 mg = 10 mg
    move(physician, "plan")
    move(counselor, "education", ["signed_treatment_plan"])
    written = client.post(
        f"/api/v1/episodes/{eid}/treatment-plans",
        json={
            "problems": [
                {
                    "description": "Dependence",
                    "goals": [
                        {
                            "description": "Abstinence",
                            "objectives": [
                                {
                                    "description": "Attend groups",
                                    "target_date": (today() + timedelta(days=30)).isoformat(),
                                    "interventions": ["CBT"],
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        headers=h[counselor],
    ).get_json()
    move(counselor, "education", ["signed_treatment_plan"])  # a draft is not enough
    signed = client.post(f"/api/v1/treatment-plans/{written['id']}/sign", headers=h[counselor])
    assert signed.get_json()["review_due_on"] == (today() + timedelta(days=30)).isoformat()
    move(counselor, "education")
    move(counselor, "therapy", ["core_education"])
    modules = client.get("/api/v1/education-modules", headers=h[counselor]).get_json()["items"]
    for module in modules:
        r = client.post(
            f"/api/v1/episodes/{eid}/education",
            json={"module_id": module["id"], "delivered_on": today().isoformat()},
            headers=h[counselor],
        )
        assert r.status_code == 201, r.get_json()
    move(counselor, "therapy")
    final = client.get(f"/api/v1/episodes/{eid}", headers=h[counselor]).get_json()
    assert (final["stage"], final["level_of_care"]) == ("therapy", "3.7-WM")
    history = client.get(f"/api/v1/episodes/{eid}/stages", headers=h[counselor]).get_json()
    assert [i["to_stage"] for i in history["items"]] == [
        "diagnosis",
        "detox",
        "taper",
        "plan",
        "education",
        "therapy",
    ]
