"""The medically supervised detox suggestion: each reason, and answers that do not suggest it."""

from __future__ import annotations

from typing import Any

import pytest

from casemgr.intake.screening import detox_reasons


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, []),
        ({"withdrawal_seizures": True}, ["withdrawal_seizures"]),
        ({"withdrawal_delirium": True}, ["withdrawal_delirium"]),
        ({"daily_alcohol": True}, ["daily_alcohol"]),
        ({"primary_substance": 2, "frequency": 3}, ["daily_alcohol"]),
        ({"primary_substance": 2, "frequency": 2}, []),
        ({"daily_sedative": True}, ["daily_sedative"]),
        ({"primary_substance": 13, "frequency": 3}, ["daily_sedative"]),
        ({"primary_substance": 16, "frequency": 3}, ["daily_sedative"]),
        ({"primary_substance": 13, "frequency": 1}, []),
        ({"primary_substance": 5, "frequency": 3}, []),  # opioid withdrawal alone: ambulatory
        ({"primary_substance": 5, "frequency": 2, "pregnant": True}, ["pregnancy_opioid"]),
        ({"daily_opioid": True, "pregnant": True}, ["pregnancy_opioid"]),
        ({"primary_substance": 7, "frequency": 1, "pregnant": True}, []),
        ({"primary_substance": 4, "frequency": 3, "pregnant": True}, []),
        ({"withdrawal_history": True, "co_occurring": True}, []),
        (
            {"withdrawal_seizures": True, "daily_alcohol": True, "daily_sedative": True},
            ["withdrawal_seizures", "daily_alcohol", "daily_sedative"],
        ),
    ],
)
def test_detox_reasons(answers: dict[str, Any], expected: list[str]) -> None:
    assert detox_reasons(answers) == expected
