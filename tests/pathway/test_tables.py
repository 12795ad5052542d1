"""The published tables, pinned through the API: DSM-5, withdrawal bands, ASAM settings."""

from __future__ import annotations

from typing import Any

import pytest

from casemgr.clinical import asam
from casemgr.core.timeutil import today
from tests.factories import admit, make_patient, make_staff
from tests.pathway.helpers import headers_of, items_for

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def setup(client: Any) -> dict[str, Any]:
    """A physician and an active benzodiazepine episode."""
    physician = make_staff("physician")
    episode = admit(make_patient(), make_staff("counselor"), days_ago=3, primary_substance=13)
    return {"h": headers_of(client, physician), "episode": episode}


def _expected_severity(count: int) -> str:
    """DSM-5 (CLINICAL.md §1), written out independently of the code under test."""
    return {0: "none", 1: "none", 2: "mild", 3: "mild", 4: "moderate", 5: "moderate"}.get(
        count, "severe"
    )


@pytest.mark.parametrize("supervised", [False, True], ids=["unsupervised", "supervised"])
@pytest.mark.parametrize("met", range(12))
def test_dsm5_severity_at_every_count(
    client: Any, setup: dict[str, Any], met: int, supervised: bool
) -> None:
    # Criteria 11, 10, 9, ... so the physiological ones are among the first met.
    criteria = list(range(11, 11 - met, -1))
    counted = len([c for c in criteria if not (supervised and c in (10, 11))])
    response = client.post(
        f"/api/v1/episodes/{setup['episode'].id}/diagnoses",
        json={
            "criteria": criteria,
            "medical_supervision": supervised,
            "physical_evaluation": "Exam",
            "psychological_evaluation": "Interview",
            "co_occurring": [],
            "sign": True,
        },
        headers=setup["h"],
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    severity = _expected_severity(counted)
    assert (body["criteria_counted"], body["severity"]) == (counted, severity)
    assert body["icd10"] == {"none": None, "mild": "F13.10"}.get(severity, "F13.20")
    assert body["signed_at"] is not None


BAND_EDGES = [
    ("CIWA-B", 0, "none", False),
    ("CIWA-B", 1, "mild", False),
    ("CIWA-B", 20, "mild", False),
    ("CIWA-B", 21, "moderate", False),
    ("CIWA-B", 40, "moderate", False),
    ("CIWA-B", 41, "severe", True),
    ("CIWA-B", 60, "severe", True),
    ("CIWA-B", 61, "very severe", True),
    ("CIWA-B", 80, "very severe", True),
    ("CIWA-Ar", 0, "minimal", False),
    ("CIWA-Ar", 9, "minimal", False),
    ("CIWA-Ar", 10, "moderate", False),
    ("CIWA-Ar", 18, "moderate", False),
    ("CIWA-Ar", 19, "severe", True),
    ("CIWA-Ar", 67, "severe", True),
    ("COWS", 0, "none", False),
    ("COWS", 4, "none", False),
    ("COWS", 5, "mild", False),
    ("COWS", 12, "mild", False),
    ("COWS", 13, "moderate", False),
    ("COWS", 24, "moderate", False),
    ("COWS", 25, "moderately severe", False),
    ("COWS", 36, "moderately severe", False),
    ("COWS", 37, "severe", True),
    ("COWS", 48, "severe", True),
]


@pytest.mark.parametrize(("instrument", "total", "band", "alert"), BAND_EDGES)
def test_withdrawal_band_edges(
    client: Any, setup: dict[str, Any], instrument: str, total: int, band: str, alert: bool
) -> None:
    items = items_for(instrument, total)
    response = client.post(
        f"/api/v1/episodes/{setup['episode'].id}/withdrawal-scores",
        json={"instrument": instrument, "items": items},
        headers=setup["h"],
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["total"], body["band"], body["alert"]) == (total, band, alert)
    alerts = client.get("/api/v1/withdrawal-alerts", headers=setup["h"]).get_json()
    assert (body["id"] in [a["id"] for a in alerts["items"]]) is alert


#: CLINICAL.md §2, written out: level → (inpatient/outpatient, TEDS setting for a 90-day target).
ASAM_TABLE = {
    3: {
        "0.5": ("outpatient", 7),
        "1": ("outpatient", 7),
        "2.1": ("outpatient", 6),
        "2.5": ("outpatient", 6),
        "3.1": ("inpatient", 5),
        "3.3": ("inpatient", 5),
        "3.5": ("inpatient", 5),
        "3.7": ("inpatient", 5),
        "4": ("inpatient", 3),
        "1-WM": ("outpatient", 8),
        "2-WM": ("outpatient", 8),
        "3.2-WM": ("inpatient", 2),
        "3.7-WM": ("inpatient", 2),
        "4-WM": ("inpatient", 1),
    },
    4: {
        "1.0": ("outpatient", 7),
        "1.5": ("outpatient", 7),
        "1.7": ("outpatient", 7),
        "2.1": ("outpatient", 6),
        "2.5": ("outpatient", 6),
        "2.7": ("outpatient", 6),
        "3.1": ("inpatient", 5),
        "3.5": ("inpatient", 5),
        "3.7": ("inpatient", 5),
        "4": ("inpatient", 3),
    },
}
LEVELS = [(e, level) for e, table in ASAM_TABLE.items() for level in table]


def test_table_lists_every_level_of_both_editions() -> None:
    assert {e: set(t) for e, t in ASAM_TABLE.items()} == {e: set(t) for e, t in asam.LEVELS.items()}


@pytest.mark.parametrize(("edition", "level"), LEVELS)
def test_every_asam_level_maps_to_its_setting(
    client: Any, setup: dict[str, Any], edition: int, level: str
) -> None:
    where, code = ASAM_TABLE[edition][level]
    high = where == "inpatient"
    response = client.post(
        f"/api/v1/episodes/{setup['episode'].id}/level-of-care",
        json={
            "asam_edition": edition,
            "dimensions": {str(n): (3 if high else 1) for n in range(1, 7)},
            "level": level,
            "rationale": "Clinical judgement",
            "effective_on": today().isoformat(),
        },
        headers=setup["h"],
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["level"], body["setting"], body["teds_service_setting"]) == (level, where, code)
    episode = client.get(f"/api/v1/episodes/{setup['episode'].id}", headers=setup["h"]).get_json()
    assert episode["level_of_care"] == level


def test_short_target_residential_is_teds_short_term(client: Any) -> None:
    physician = make_staff("physician")
    episode = admit(make_patient(), make_staff("counselor"), los_target_days=28)
    response = client.post(
        f"/api/v1/episodes/{episode.id}/level-of-care",
        json={
            "asam_edition": 3,
            "dimensions": {str(n): 3 for n in range(1, 7)},
            "level": "3.5",
            "rationale": "r",
            "effective_on": today().isoformat(),
        },
        headers=headers_of(client, physician),
    )
    assert response.get_json()["teds_service_setting"] == 4
