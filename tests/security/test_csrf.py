"""Every browser form (each POST route outside the API) refuses a missing or wrong CSRF token."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from casemgr.audit.models import AuditEvent
from casemgr.core.permissions import Action, declared_action
from casemgr.extensions import db
from tests.core.test_route_permissions import (
    _ROUTE_APP,
    ROUTES,
    _csrf,
    _sign_in,
    _url,
    world,  # noqa: F401  (fixture)
)
from tests.security.test_audit_coverage import _role_for

FORM_ROUTES = [
    (endpoint, rule)
    for endpoint, rule, method in ROUTES
    if method == "POST" and not rule.startswith("/api/")
]


def _events() -> int:
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) or 0


def test_every_form_route_is_walked() -> None:
    rules = {rule for _, rule in FORM_ROUTES}
    assert {
        "/login",
        "/logout",
        "/patients/new",
        "/emergency-access/<int:grant_id>/review",
    } <= rules


def _login_token(client: FlaskClient) -> str:
    import re

    body = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)


@pytest.mark.parametrize("token", ["missing", "wrong", "other-session", "valid"])
@pytest.mark.parametrize(("endpoint", "rule"), FORM_ROUTES, ids=[r for _, r in FORM_ROUTES])
def test_form_post_without_a_valid_csrf_token_is_refused(
    app: Flask,
    client: FlaskClient,
    world: dict[str, Any],  # noqa: F811
    endpoint: str,
    rule: str,
    token: str,
) -> None:
    action = declared_action(_ROUTE_APP.view_functions[endpoint])
    url = _url(rule, world)  # creates the record it names (and its audit events) first
    if action is not Action.PUBLIC:
        role = "admin" if action is Action.SIGNED_IN else _role_for(action)
        _sign_in(client, world["staff"][role])
        own = _csrf(client)  # the session now holds its own CSRF secret, as after any page
    else:
        own = client.get("/login").status_code
    assert own
    data: dict[str, str] = {"username": "x", "password": "y", "reason": "a" * 20}
    if token == "valid":  # the control: the same request with the right token gets through
        data["csrf_token"] = own if isinstance(own, str) else _login_token(client)
        response = client.post(url, data=data)
        assert response.status_code != 400, (rule, response.data[:200])
        return
    if token == "wrong":
        data["csrf_token"] = "IjFhMmIzYyI.forged.signature"
    elif token == "other-session":
        other = app.test_client()
        _sign_in(other, world["staff"]["nurse"])
        data["csrf_token"] = _csrf(other)
    before = _events()
    response = client.post(url, data=data)
    assert response.status_code == 400, (rule, response.status_code)
    assert "CSRF" in response.get_data(as_text=True) or "could not be understood" in (
        response.get_data(as_text=True)
    )
    assert _events() == before  # nothing was done, so nothing was recorded
