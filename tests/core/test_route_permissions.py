"""Every registered route under every role: the permission table decides, nothing else.

Routes are read from the app's URL map at collection time, so a new route is walked as
soon as it exists; one that declares no action fails ``test_every_route_declares_an_action``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier

from casemgr.core.guard import EXTENSION_ENDPOINTS, OBJECT_RESOLVERS
from casemgr.core.permissions import Action, Role, can, declared_action
from casemgr.extensions import db
from casemgr.staff.services import issue_token
from tests.conftest import TEST_SECRET, make_app
from tests.factories import (
    admit,
    make_consent,
    make_diagnosis,
    make_emergency_grant,
    make_module,
    make_patient,
    make_score,
    make_staff,
    make_taper_plan,
    make_treatment_plan,
    therapy_record,
)
from tests.intake.builders import make_coverage, make_inquiry

#: Built once, without touching a database, only to enumerate the routes.
_ROUTE_APP = make_app("sqlite://", SECRET_KEY=TEST_SECRET)
ROUTES: list[tuple[str, str, str]] = sorted(
    (rule.endpoint, rule.rule, method)
    for rule in _ROUTE_APP.url_map.iter_rules()
    if rule.endpoint not in EXTENSION_ENDPOINTS
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
)
ROLES = [r.value for r in Role]
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def sample_body(endpoint: str) -> dict[str, Any]:
    """Return a valid body for write endpoints, so object checks are reached past validation."""
    from casemgr.core.timeutil import today

    bodies: dict[str, dict[str, Any]] = {
        "api_episodes.discharge": {"discharged_on": today().isoformat(), "reason": 1},
    }
    return bodies.get(endpoint, {})


def test_every_route_declares_an_action() -> None:
    undeclared = [
        endpoint
        for endpoint, view in _ROUTE_APP.view_functions.items()
        if endpoint not in EXTENSION_ENDPOINTS and declared_action(view) is None
    ]
    assert undeclared == []


def test_every_object_kind_has_an_id_in_the_walk() -> None:
    """A new register_object() name must get an object in the walk's world, or this fails."""
    url_args = {name for _, rule, _ in ROUTES for name in OBJECT_RESOLVERS if f"{name}>" in rule}
    covered = {
        "patient_id",
        "episode_id",
        "session_id",
        "note_id",
        "coverage_id",
        "diagnosis_id",
        "score_id",
        "plan_id",
        "treatment_plan_id",
        "grant_id",
        "consent_id",
    }
    assert url_args <= covered


def test_walk_covers_the_api_and_the_pages() -> None:
    rules = {rule for _, rule, _ in ROUTES}
    assert any(r.startswith("/api/v1/") for r in rules)
    assert "/caseload" in rules
    assert len(ROUTES) >= 30


class LazyWorld(dict):  # type: ignore[type-arg]
    """The walk's objects, each created the first time a route's URL names it.

    Most routes name one or two objects; building every record kind for each of the
    walk's cases made the walk the slowest part of the suite.
    """

    def __init__(self, builders: dict[str, Any], **ready: Any) -> None:
        super().__init__(**ready)
        self._builders = builders

    def __missing__(self, key: str) -> Any:
        value = self._builders[key](self)
        self[key] = value
        return value


def _record_builders(counselor_key: str = "counselor") -> dict[str, Any]:
    """Builders for every record kind that belongs to the world's patient."""

    def therapy(w: LazyWorld) -> Any:
        return therapy_record(w["episode"], w["staff"][counselor_key])

    return {
        "inquiry": lambda w: make_inquiry(),
        "module": lambda w: make_module(),
        "coverage": lambda w: make_coverage(w["patient"]),
        "therapy": therapy,
        "session": lambda w: w["therapy"][0],
        "note": lambda w: w["therapy"][1],
        # Signed already: signing again is a 409 for every role allowed to sign.
        "diagnosis": lambda w: make_diagnosis(w["episode"], w["staff"]["physician"]),
        "score": lambda w: make_score(w["episode"], w["staff"]["nurse"]),
        "plan": lambda w: make_taper_plan(w["episode"], w["staff"]["physician"]),
        "treatment_plan": lambda w: make_treatment_plan(w["episode"], w["staff"][counselor_key]),
        # An emergency grant to some other counselor, and a Part 2 consent.
        "grant": lambda w: make_emergency_grant(make_staff("counselor"), w["patient"]),
        "consent": lambda w: make_consent(w["patient"]),
    }


@pytest.fixture
def world() -> LazyWorld:
    """One staff member per role, a patient on the counselor's care team, objects on demand."""
    staff = {role: make_staff(role) for role in ROLES}
    patient = make_patient()
    episode = admit(patient, staff["counselor"], days_ago=10)
    return LazyWorld(_record_builders(), staff=staff, patient=patient, episode=episode)


#: Where each URL placeholder's value comes from in the walk's world.
PLACEHOLDERS: dict[str, Any] = {
    "patient_id": lambda w: w["patient"].id,
    "chart_id": lambda w: w["patient"].id,
    "episode_id": lambda w: w["episode"].id,
    "staff_id": lambda w: w["staff"]["nurse"].id,
    "category": lambda w: "inpatient",
    **{
        f"{name}_id": (lambda key: lambda w: w[key].id)(name)
        for name in (
            "inquiry",
            "coverage",
            "session",
            "note",
            "diagnosis",
            "score",
            "plan",
            "treatment_plan",
            "module",
            "grant",
            "consent",
        )
    },
}


def _url(rule: str, world: dict[str, Any]) -> str:
    """Fill a rule's placeholders with ids of objects the role could reach."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        return str(PLACEHOLDERS[name](world))

    return re.sub(r"<([^>]+)>", fill, rule)


def _sign_in(client: FlaskClient, staff: Any) -> None:
    """Start a browser session directly (login itself is tested in tests/staff)."""
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # Flask-Login's "strong" session protection
    with client.session_transaction() as session:
        session["_id"] = identifier
        session["_user_id"] = str(staff.id)
        session["_fresh"] = True
        session["login_at"] = session["seen"] = time.time()


def _csrf(client: FlaskClient) -> str:
    """Read a CSRF token from a page every signed-in user may open."""
    body = client.get("/account/mfa").get_data(as_text=True)
    match = CSRF_RE.search(body)
    assert match
    return match.group(1)


def _request(
    client: FlaskClient,
    method: str,
    url: str,
    role: str | None,
    world: dict[str, Any],
    endpoint: str = "",
) -> Any:
    """Send one request as a role (None: anonymous), the way real clients would."""
    if url.startswith("/api/"):
        headers = {}
        if role is not None:
            token, _ = issue_token(world["staff"][role])
            db.session.commit()
            headers["Authorization"] = f"Bearer {token}"
        body = sample_body(endpoint) if method in ("POST", "PATCH", "PUT") else None
        return client.open(url, method=method, json=body, headers=headers)
    if role is not None:
        _sign_in(client, world["staff"][role])
    data = {"csrf_token": _csrf(client)} if method == "POST" and role is not None else None
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
@pytest.mark.parametrize(
    ("endpoint", "rule", "method"), ROUTES, ids=[f"{m} {r}" for _, r, m in ROUTES]
)
def test_route_obeys_permission_table(
    app: Flask,
    client: FlaskClient,
    world: dict[str, Any],
    endpoint: str,
    rule: str,
    method: str,
    role: str | None,
) -> None:
    action = declared_action(app.view_functions[endpoint])
    assert action is not None
    user = world["staff"][role] if role else None
    allowed = action is Action.PUBLIC or (user is not None and can(user, action))
    response = _request(client, method, _url(rule, world), role, world, endpoint)
    if allowed:
        assert response.status_code not in (401, 403), (response.status_code, response.data[:300])
    elif role is None:
        if rule.startswith("/api/"):
            assert response.status_code == 401
            assert response.get_json()["error"]["code"] == "unauthorized"
        else:
            assert response.status_code == 302
            assert "/login" in response.headers["Location"]
    else:
        assert response.status_code == 403, (response.status_code, response.data[:300])
        if rule.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "forbidden"


#: The policy of DESIGN.md §4 / API.md, stated independently of the table it checks.
POLICY = [
    ("admin", Action.STAFF_MANAGE, True),
    ("admin", Action.PATIENT_VIEW, False),
    ("admin", Action.REPORT_VIEW, True),
    ("supervisor", Action.STAFF_MANAGE, False),
    ("supervisor", Action.EPISODE_ADMIT, True),
    ("supervisor", Action.EPISODE_DISCHARGE, True),
    ("physician", Action.EPISODE_DISCHARGE, True),
    ("physician", Action.PATIENT_CREATE, False),
    ("nurse", Action.EPISODE_DISCHARGE, False),
    ("nurse", Action.PATIENT_VIEW, True),
    ("counselor", Action.PATIENT_CREATE, False),
    ("counselor", Action.EPISODE_ADMIT, False),
    ("counselor", Action.EPISODE_DISCHARGE, True),
    ("counselor", Action.REPORT_VIEW, False),
    ("intake", Action.PATIENT_CREATE, True),
    ("intake", Action.EPISODE_ADMIT, True),
    ("intake", Action.CASELOAD_VIEW, False),
    ("intake", Action.EPISODE_DISCHARGE, False),
    ("intake", Action.REPORT_VIEW, False),
    ("intake", Action.CLINICAL_VIEW, False),
    ("intake", Action.NOTE_WRITE, False),
    ("counselor", Action.TAPER_PLAN, False),
    ("counselor", Action.DOSE_RECORD, False),
    ("counselor", Action.COVERAGE_MANAGE, False),
    ("counselor", Action.COVERAGE_STATUS_VIEW, True),
    ("nurse", Action.LEVEL_OF_CARE_DECIDE, False),
    ("nurse", Action.DOSE_RECORD, True),
    ("physician", Action.TAPER_PLAN, True),
    ("physician", Action.LEVEL_OF_CARE_DECIDE, True),
    ("supervisor", Action.TAPER_PLAN, False),
    ("supervisor", Action.NOTE_COSIGN, True),
    ("counselor", Action.NOTE_COSIGN, False),
    ("admin", Action.CLINICAL_VIEW, False),
    ("admin", Action.EDUCATION_MANAGE, True),
]


@pytest.mark.parametrize(("role", "action", "expected"), POLICY)
def test_permission_table_matches_design(role: str, action: Action, expected: bool) -> None:
    user = type("User", (), {"is_authenticated": True, "role_names": frozenset({role})})()
    assert can(user, action) is expected


class _Counselor:
    is_authenticated = True
    role_names = frozenset({"counselor"})


#: Routes on one patient's records that the counselor role may use at all.
OBJECT_ROUTES = [
    (endpoint, rule, method)
    for endpoint, rule, method in ROUTES
    if any(f"{name}>" in rule for name in OBJECT_RESOLVERS)
    and can(_Counselor(), declared_action(_ROUTE_APP.view_functions[endpoint]))
]


@pytest.mark.parametrize(
    ("endpoint", "rule", "method"), OBJECT_ROUTES, ids=[f"{m} {r}" for _, r, m in OBJECT_ROUTES]
)
def test_counselor_cannot_reach_another_care_team_by_changing_the_id(
    app: Flask,
    client: FlaskClient,
    world: dict[str, Any],
    endpoint: str,
    rule: str,
    method: str,
) -> None:
    other_counselor = make_staff("counselor")
    stranger = make_patient()
    other_episode = admit(stranger, other_counselor, days_ago=3)
    staff = {**world["staff"], "other_counselor": other_counselor}
    world = LazyWorld(
        _record_builders("other_counselor"), staff=staff, patient=stranger, episode=other_episode
    )
    response = _request(client, method, _url(rule, world), "counselor", world, endpoint)
    assert response.status_code == 403
