"""Every route that shows or changes patient data leaves an audit event (walks the URL map).

The walk sends each route the request a real client would (a role allowed to use it, the
CSRF token for forms, a bearer token for the API) and fails when a response that showed
or changed data (2xx/3xx, or a page form re-rendered with 422) wrote nothing to the trail.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from casemgr.audit.models import AuditEvent
from casemgr.core.permissions import Action, can, declared_action
from casemgr.extensions import db
from casemgr.staff.services import issue_token
from tests.core.test_route_permissions import (
    _ROUTE_APP,
    ROUTES,
    _csrf,
    _sign_in,
    _url,
    sample_body,
    world,  # noqa: F401  (fixture)
)

#: Actions that neither show nor change patient data: account pages, staff administration
#: reads and program catalogues. Everything else is patient data (or its audit trail).
NOT_PATIENT_DATA = {
    Action.PUBLIC,
    Action.SIGNED_IN,
    Action.EDUCATION_MANAGE,  # the module catalogue
    Action.PLACES_MANAGE,  # bed and slot capacities
}
#: Pages that show nothing stored until something is typed (blank forms for new records)
#: or only list what can be opened (menus), and aggregate counts without anyone in them.
BLANK_FORMS = {
    ("patients.new", "GET"),
    ("admin.staff_new", "GET"),
    ("intake.new_inquiry", "GET"),
    ("reports.index", "GET"),
    ("reports.teds_extract", "GET"),
    ("api_intake.places", "GET"),
}
#: Query strings a real client would send (the search page without a term shows nobody).
QUERIES = {"patients.search": {"q": "Pat"}}
#: Who walks each route: the first role in this order that may use it.
ROLE_ORDER = ["supervisor", "physician", "nurse", "counselor", "intake", "admin"]

DATA_ROUTES = [
    (endpoint, rule, method)
    for endpoint, rule, method in ROUTES
    if declared_action(_ROUTE_APP.view_functions[endpoint]) not in NOT_PATIENT_DATA
    and (endpoint, method) not in BLANK_FORMS
]


def _role_for(action: Action) -> str:
    for role in ROLE_ORDER:
        user = type("U", (), {"is_authenticated": True, "role_names": frozenset({role})})()
        if can(user, action):
            return role
    raise AssertionError(f"no role may {action}")


def _events() -> int:
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) or 0


def test_walk_covers_patient_data_routes() -> None:
    rules = {rule for _, rule, _ in DATA_ROUTES}
    assert "/patients/<int:patient_id>" in rules
    assert "/api/v1/audit-events" in rules
    assert len(DATA_ROUTES) >= 30


@pytest.mark.parametrize(
    ("endpoint", "rule", "method"), DATA_ROUTES, ids=[f"{m} {r}" for _, r, m in DATA_ROUTES]
)
def test_route_that_shows_or_changes_data_is_audited(
    app: Flask,
    client: FlaskClient,
    world: dict[str, Any],  # noqa: F811
    endpoint: str,
    rule: str,
    method: str,
) -> None:
    action = declared_action(app.view_functions[endpoint])
    role = _role_for(action)
    url = _url(rule, world)
    kwargs: dict[str, Any] = {"method": method, "query_string": QUERIES.get(endpoint)}
    if url.startswith("/api/"):
        token, _ = issue_token(world["staff"][role])
        db.session.commit()
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
        if method in ("POST", "PATCH", "PUT"):
            kwargs["json"] = sample_body(endpoint)
    else:
        _sign_in(client, world["staff"][role])
        if method == "POST":
            kwargs["data"] = {"csrf_token": _csrf(client)}
    before = _events()
    response = client.open(url, **kwargs)
    status = response.status_code
    assert status < 500, response.data[:300]
    # A page re-rendered with 422 shows the record when the URL names one; a blank form
    # re-rendered shows only what was typed.
    names_a_record = "<" in rule
    showed_or_changed = status < 400 or (
        status == 422 and names_a_record and not url.startswith("/api/")
    )
    if showed_or_changed:
        assert _events() > before, f"{method} {url} as {role} answered {status}, audited nothing"
