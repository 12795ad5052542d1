"""Shared helpers for the clinical-pathway API tests."""

from __future__ import annotations

from typing import Any

from casemgr.clinical import withdrawal
from casemgr.extensions import db
from casemgr.staff.models import Staff
from tests.conftest import api_headers
from tests.factories import PASSWORD


def headers_of(client: Any, staff: Staff) -> dict[str, str]:
    """Commit pending test data and return bearer headers for a staff member."""
    db.session.commit()
    return api_headers(client, staff.username, PASSWORD)


def items_for(instrument: str, total: int) -> list[int]:
    """Build item ratings allowed by the form that add up to ``total`` (greedy, then exact)."""
    inst = withdrawal.instrument(instrument)
    remaining = total
    values = []
    for item in inst.items:
        if not item.counted:
            values.append(0)
            continue
        fitting = [v for v in item.allowed if v <= remaining]
        choice = max(fitting)
        values.append(choice)
        remaining -= choice
    if remaining:
        # Greedy can overshoot on gappy scales (COWS): repair by trying each item's choices.
        return _search(inst, total)
    return values


def _search(inst: withdrawal.Instrument, total: int) -> list[int]:
    """Find ratings summing to total by depth-first search (small forms, tiny search)."""
    counted = [i for i in inst.items]

    def go(index: int, left: int) -> list[int] | None:
        if index == len(counted):
            return [] if left == 0 else None
        item = counted[index]
        options = [0] if not item.counted else sorted(item.allowed, reverse=True)
        rest_max = sum(max(i.allowed) for i in counted[index + 1 :] if i.counted)
        for v in options:
            if v <= left and left - v <= rest_max:
                tail = go(index + 1, left - v)
                if tail is not None:
                    return [v, *tail]
        return None

    found = go(0, total)
    assert found is not None, (inst.name, total)
    return found


def error(response: Any, status: int) -> dict[str, Any]:
    """Check status and error shape; return the error object."""
    assert response.status_code == status, response.get_data(as_text=True)[:600]
    body = response.get_json()["error"]
    assert body["status"] == status
    return body
