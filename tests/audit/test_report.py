"""The audit report: filter by date, staff, patient and action; sort; page; CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from casemgr.audit import chain
from casemgr.audit.models import AuditEvent
from casemgr.audit.queries import SORT_CHOICES
from casemgr.audit.services import record
from casemgr.core.db import utcnow
from casemgr.core.timeutil import today
from casemgr.extensions import db
from tests.conftest import api_headers
from tests.factories import PASSWORD, make_patient, make_staff
from tests.pages_helpers import count_queries, sign_in


@pytest.fixture
def trail(app: Flask) -> dict:
    """Events by two staff about two patients, one dated last week."""
    sue, nick = make_staff("supervisor"), make_staff("nurse")
    p1, p2 = make_patient(), make_patient()
    old = AuditEvent(
        at=utcnow() - timedelta(days=7),
        actor_id=sue.id,
        action="patient.view",
        object_type="patients",
        object_id=p1.id,
        patient_id=p1.id,
        outcome="success",
    )
    chain.link(db.session(), old)  # an event written last week, linked like any other
    db.session.add(old)
    record(sue, "patient.edit", p1, p1)
    record(nick, "patient.view", p2, p2)
    record(nick, "auth.login_failed", outcome="failure")
    db.session.commit()
    return {"sue": sue, "nick": nick, "p1": p1, "p2": p2}


def _admin_headers(client) -> dict[str, str]:
    make_staff("admin", username="ada")
    return api_headers(client, "ada", PASSWORD)


def _items(client, headers, **params) -> list[dict]:
    response = client.get("/api/v1/audit-events", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_filters_by_staff_patient_action_and_dates(client, trail) -> None:
    headers = _admin_headers(client)
    by_sue = _items(client, headers, actor_id=trail["sue"].id)
    assert {e["action"] for e in by_sue} == {"patient.view", "patient.edit"}
    about_p2 = _items(client, headers, patient_id=trail["p2"].id)
    assert [(e["actor_id"], e["action"]) for e in about_p2] == [(trail["nick"].id, "patient.view")]
    assert {e["action"] for e in _items(client, headers, action="patient.*")} == {
        "patient.view",
        "patient.edit",
    }
    failed = _items(client, headers, action="auth.login_failed")
    assert [e["outcome"] for e in failed] == ["failure"]
    recent = _items(client, headers, actor_id=trail["sue"].id, **{"from": today().isoformat()})
    assert [e["action"] for e in recent] == ["patient.edit"]
    week_ago = (today() - timedelta(days=7)).isoformat()
    old = _items(client, headers, actor_id=trail["sue"].id, **{"from": week_ago, "to": week_ago})
    assert [e["action"] for e in old] == ["patient.view"]


def test_every_column_sorts_both_ways(client, trail) -> None:
    headers = _admin_headers(client)
    for sort in SORT_CHOICES:
        items = _items(client, headers, sort=sort, per_page=200)
        name = sort.lstrip("-")
        fill = "" if name in ("object_type", "ip", "action", "outcome", "at") else 0
        keys = [(e[name] if e[name] is not None else fill, e["id"]) for e in items]
        assert keys == sorted(keys, reverse=sort.startswith("-")), sort


def test_list_answers_the_envelope_and_pages(client, trail) -> None:
    headers = _admin_headers(client)
    response = client.get(
        "/api/v1/audit-events", headers=headers, query_string={"per_page": 2, "sort": "id"}
    )
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert len(body["items"]) == 2
    assert set(body["items"][0]) == {
        "id",
        "at",
        "actor_id",
        "action",
        "object_type",
        "object_id",
        "patient_id",
        "outcome",
        "ip",
    }
    page2 = client.get(
        "/api/v1/audit-events",
        headers=headers,
        query_string={"per_page": 2, "page": 2, "sort": "id"},
    ).get_json()
    assert page2["items"][0]["id"] == body["items"][1]["id"] + 1


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "password"},
        {"action": "x'; DROP TABLE audit_events;--"},
        {"from": "2026-13-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"actor_id": 0},
        {"nope": 1},
    ],
)
def test_bad_filters_are_422(client, trail, params) -> None:
    headers = _admin_headers(client)
    response = client.get("/api/v1/audit-events", headers=headers, query_string=params)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("role", ["supervisor", "counselor", "physician", "nurse", "intake"])
def test_only_admins_read_the_trail(client, trail, role) -> None:
    make_staff(role, username="someone")
    headers = api_headers(client, "someone", PASSWORD)
    assert client.get("/api/v1/audit-events", headers=headers).status_code == 403


def test_reading_the_trail_is_itself_audited(client, trail) -> None:
    headers = _admin_headers(client)
    _items(client, headers)
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.view")) == 1
    )


def test_page_filters_sorts_and_pages_by_keyset(client, trail) -> None:
    sign_in(client, make_staff("admin"))
    for _ in range(120):
        record(trail["sue"], "patient.search")
    db.session.commit()
    page = client.get("/admin/audit", query_string={"action": "patient.search", "sort": "id"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert body.count("<code>patient.search</code>") == 100
    assert "Next 100 events" in body
    first_ids = sorted(
        db.session.scalars(
            sa.select(AuditEvent.id).where(AuditEvent.action == "patient.search").order_by("id")
        )
    )
    after = first_ids[99]
    page2 = client.get(
        "/admin/audit", query_string={"action": "patient.search", "sort": "id", "after": after}
    ).get_data(as_text=True)
    assert page2.count("<code>patient.search</code>") == 20
    assert "Next 100 events" not in page2


def test_page_cost_does_not_grow_with_the_trail(client, trail) -> None:
    """Keyset paging: a later page runs the same statements as the first, without COUNT."""
    sign_in(client, make_staff("admin"))
    for _ in range(250):
        record(trail["nick"], "patient.search")
    db.session.commit()
    with count_queries() as first:
        client.get("/admin/audit", query_string={"sort": "-at"})
    last_id = db.session.scalar(sa.select(sa.func.min(AuditEvent.id)))
    with count_queries() as later:
        client.get("/admin/audit", query_string={"sort": "-at", "after": last_id + 200})
    assert not any("count(" in s.lower() for s in first + later), first + later
    assert len(later) <= len(first) + 1


def test_page_rerenders_bad_filters_with_messages(client, trail) -> None:
    sign_in(client, make_staff("admin"))
    response = client.get("/admin/audit", query_string={"from": "yesterday", "actor_id": "abc"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'value="yesterday"' in body
    assert "Not a valid date" in body


def test_csv_export_has_every_matching_row_and_is_audited(client, trail) -> None:
    sign_in(client, make_staff("admin"))
    for _ in range(2500):  # more than one CSV batch
        record(trail["nick"], "patient.search")
    db.session.commit()
    response = client.get("/admin/audit", query_string={"format": "csv", "sort": "id"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "at", "actor_id", "action"]
    expected = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    assert len(rows) - 1 == expected - 0  # the export's own event was committed first
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == sorted(ids)
    assert "audit.export" in {r[3] for r in rows[1:]}


def test_page_is_refused_to_non_admins(client, trail) -> None:
    sign_in(client, make_staff("supervisor"))
    assert client.get("/admin/audit").status_code == 403
