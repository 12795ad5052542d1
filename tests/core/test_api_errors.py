"""The API's error contract: every status it uses answers the one shape of shared/API.md."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from casemgr.core.timeutil import today
from casemgr.extensions import db
from tests.conftest import api_headers
from tests.factories import PASSWORD, admit, make_patient, make_staff

ONE_MIB = 1024 * 1024


def assert_error(response: Any, status: int, code: str, *fields: str) -> dict[str, Any]:
    """Check the exact error shape and return its inner object."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == status
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    assert isinstance(error["fields"], dict)
    for messages in error["fields"].values():
        assert isinstance(messages, list)
        assert all(isinstance(m, str) and m for m in messages)
    for name in fields:
        assert name in error["fields"], error["fields"]
    return error


def headers_for(client: Any, *roles: str) -> dict[str, str]:
    """Create a staff member with the roles and return bearer headers for them."""
    staff = make_staff(*roles)
    db.session.commit()
    return api_headers(client, staff.username, PASSWORD)


@pytest.fixture
def supervisor(client):
    """Bearer headers of a supervisor (clinical read and write, no staff admin)."""
    return headers_for(client, "supervisor")


def admission(counselor_id: int, **changes: Any) -> dict[str, Any]:
    """A valid admission body."""
    body = {
        "admitted_on": today().isoformat(),
        "primary_counselor_id": counselor_id,
        "primary_substance": 2,
        "referral_source": 1,
        "service_setting": 5,
    }
    body.update(changes)
    return body


def patient_body(**changes: Any) -> dict[str, Any]:
    """A valid new-patient body."""
    body = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10", "sex": "F"}
    body.update(changes)
    return body


# --- 400 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"first_name": "Ada",', id="truncated"),
        pytest.param(b"{bad json}", id="malformed"),
        pytest.param(b'{"first_name": "\xff"}', id="invalid-utf8"),
        pytest.param(b"[1, 2, 3]", id="array"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
    ],
)
def test_body_that_is_not_a_json_object_is_400(client, supervisor, raw):
    response = client.post(
        "/api/v1/patients", data=raw, content_type="application/json", headers=supervisor
    )
    assert_error(response, 400, "bad_request")


def test_json_array_body_on_patch_is_400(client, supervisor):
    patient = make_patient()
    db.session.commit()
    response = client.patch(f"/api/v1/patients/{patient.id}", json=[{}], headers=supervisor)
    assert_error(response, 400, "bad_request")


def test_malformed_json_on_the_public_token_endpoint_is_400(client):
    response = client.post("/api/v1/auth/tokens", data="{", content_type="application/json")
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_400_not_a_server_error(client, app, supervisor, monkeypatch, opener):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    closer = "]" if opener == "[" else "}"
    raw = opener * 100_000 + "1" + closer * 100_000
    assert len(raw) < ONE_MIB
    response = client.post(
        "/api/v1/patients", data=raw, content_type="application/json", headers=supervisor
    )
    assert_error(response, 400, "bad_request")


# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer not-a-real-token", id="unknown-token"),
        pytest.param("Bearer ", id="empty-token"),
        pytest.param("Bearer " + "x" * 300, id="overlong-token"),
        pytest.param("Basic Y29yYTpwYXNzd29yZA==", id="basic-scheme"),
        pytest.param("bearer lower-case-scheme", id="lower-case-scheme"),
    ],
)
def test_missing_or_bad_token_is_401(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    assert_error(client.get("/api/v1/me", headers=headers), 401, "unauthorized")
    assert_error(client.get("/api/v1/patients", headers=headers), 401, "unauthorized")


def test_wrong_password_at_token_endpoint_is_401(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    response = client.post(
        "/api/v1/auth/tokens", json={"username": "cora", "password": "wrong-password-123"}
    )
    assert_error(response, 401, "unauthorized")


def test_unknown_username_gets_the_same_401_as_a_wrong_password(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    wrong = client.post("/api/v1/auth/tokens", json={"username": "cora", "password": "nope-nope"})
    unknown = client.post("/api/v1/auth/tokens", json={"username": "nobody", "password": "nope"})
    assert assert_error(unknown, 401, "unauthorized") == assert_error(wrong, 401, "unauthorized")


# --- 403 ------------------------------------------------------------------------------------


def test_counselor_creating_staff_is_403(client):
    headers = headers_for(client, "counselor")
    body = {
        "username": "newbie",
        "full_name": "New Person",
        "roles": ["counselor"],
        "password": "a-long-enough-password",
    }
    assert_error(client.post("/api/v1/staff", json=body, headers=headers), 403, "forbidden")


def test_counselor_opening_a_patient_outside_their_care_team_is_403(client):
    other = make_staff("counselor")
    episode = admit(make_patient(), other)
    headers = headers_for(client, "counselor")
    response = client.get(f"/api/v1/patients/{episode.patient_id}", headers=headers)
    assert_error(response, 403, "forbidden")


# --- 404 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/api/v1/patients/1/nothing-here"),
        ("POST", "/api/v1/nothing-here"),
        ("GET", "/api/v1/patients/999999"),
        ("GET", "/api/v1/patients/0"),
        ("GET", "/api/v1/patients/-1"),
        ("GET", "/api/v1/patients/abc"),
        ("GET", "/api/v1/patients/2147483648"),
        ("GET", "/api/v1/patients/9223372036854775808"),
        pytest.param("PATCH", "/api/v1/patients/2147483648", id="PATCH-patient-2147483648"),
        ("GET", "/api/v1/episodes/999999"),
        ("GET", "/api/v1/episodes/2147483648"),
        ("GET", "/api/v1/episodes/9223372036854775808"),
        ("GET", "/api/v1/episodes/9223372036854775808/stages"),
        ("POST", "/api/v1/episodes/2147483648/discharge"),
        ("POST", "/api/v1/patients/9223372036854775808/episodes"),
        ("PATCH", "/api/v1/patients/9223372036854775808"),
    ],
)
def test_unknown_path_or_id_is_404(client, supervisor, method, path):
    kwargs: dict[str, Any] = {"headers": supervisor}
    if method in ("POST", "PATCH"):
        kwargs["json"] = {}
    assert_error(client.open(path, method=method, **kwargs), 404, "not_found")


def test_path_id_just_below_the_32_bit_limit_is_a_plain_404(client, supervisor):
    response = client.get("/api/v1/patients/2147483647", headers=supervisor)
    assert_error(response, 404, "not_found")


# --- 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/patients", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("PUT", "/api/v1/patients/1", {"GET", "HEAD", "OPTIONS", "PATCH"}),
        ("GET", "/api/v1/auth/tokens", {"OPTIONS", "POST"}),
        ("POST", "/api/v1/auth/tokens/current", {"DELETE", "OPTIONS"}),
        ("GET", "/api/v1/staff/1", {"OPTIONS", "PATCH"}),
        ("DELETE", "/api/v1/episodes/1", {"GET", "HEAD", "OPTIONS"}),
        ("GET", "/api/v1/episodes/1/discharge", {"OPTIONS", "POST"}),
        ("POST", "/api/v1/me", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_on_existing_path_is_405_with_allow_header(
    client, supervisor, method, path, allowed
):
    response = client.open(path, method=method, headers=supervisor)
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == allowed


# --- 409 ------------------------------------------------------------------------------------


def test_second_active_episode_is_409(client, supervisor):
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor)
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{episode.patient_id}/episodes",
        json=admission(counselor.id),
        headers=supervisor,
    )
    assert_error(response, 409, "conflict")


def test_duplicate_username_is_409(client):
    make_staff("nurse", username="nora")
    headers = headers_for(client, "admin")
    body = {
        "username": "nora",
        "full_name": "Another Nora",
        "roles": ["nurse"],
        "password": "a-long-enough-password",
    }
    response = client.post("/api/v1/staff", json=body, headers=headers)
    assert_error(response, 409, "conflict", "username")


def test_stale_patient_version_is_409(client, supervisor):
    patient = make_patient()
    db.session.commit()
    url = f"/api/v1/patients/{patient.id}"
    assert (
        client.patch(url, json={"phone": "555-0100", "version": 1}, headers=supervisor).status_code
        == 200
    )
    response = client.patch(url, json={"phone": "555-0199", "version": 1}, headers=supervisor)
    assert_error(response, 409, "conflict")


def test_discharging_a_discharged_episode_is_409(client, supervisor):
    episode = admit(make_patient(), make_staff("counselor"), days_ago=3)
    db.session.commit()
    url = f"/api/v1/episodes/{episode.id}/discharge"
    body = {"discharged_on": today().isoformat(), "reason": 1}
    assert client.post(url, json=body, headers=supervisor).status_code == 200
    assert_error(client.post(url, json=body, headers=supervisor), 409, "conflict")


# --- 413 / 415 ------------------------------------------------------------------------------


def json_of_size(size: int) -> str:
    """A JSON object body of exactly ``size`` bytes."""
    frame = len(json.dumps({"padding": ""}))
    raw = json.dumps({"padding": "x" * (size - frame)})
    assert len(raw) == size
    return raw


def test_body_over_one_mib_is_413(client, supervisor):
    response = client.post(
        "/api/v1/patients",
        data=json_of_size(ONE_MIB + 1),
        content_type="application/json",
        headers=supervisor,
    )
    assert_error(response, 413, "too_large")


def test_body_of_exactly_one_mib_is_read(client, supervisor):
    response = client.post(
        "/api/v1/patients",
        data=json_of_size(ONE_MIB),
        content_type="application/json",
        headers=supervisor,
    )
    assert_error(response, 422, "invalid", "padding", "first_name")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", "first_name=Ada"),
        ("application/x-www-form-urlencoded", "first_name=Ada&last_name=Lovelace"),
        ("application/xml", "<patient/>"),
        ("text/json", '{"first_name": "Ada"}'),
    ],
)
def test_non_json_body_is_415(client, supervisor, content_type, data):
    response = client.post(
        "/api/v1/patients", data=data, content_type=content_type, headers=supervisor
    )
    assert_error(response, 415, "unsupported_media_type")


def test_form_post_is_415(client, supervisor):
    response = client.post(
        "/api/v1/patients", data={"first_name": "Ada", "last_name": "L"}, headers=supervisor
    )
    assert_error(response, 415, "unsupported_media_type")


# --- 422 ------------------------------------------------------------------------------------

PATIENT_422 = [
    pytest.param(patient_body(last_name=None), "last_name", id="null-name"),
    pytest.param({k: v for k, v in patient_body().items() if k != "sex"}, "sex", id="missing"),
    pytest.param(patient_body(nickname="Addie"), "nickname", id="unknown-field"),
    pytest.param(patient_body(first_name=123), "first_name", id="wrong-type"),
    pytest.param(patient_body(first_name="A" * 101), "first_name", id="over-100-chars"),
    pytest.param(patient_body(last_name="Love\x00lace"), "last_name", id="nul-character"),
    pytest.param(patient_body(first_name="   "), "first_name", id="blank"),
    pytest.param(patient_body(date_of_birth="1985-02-30"), "date_of_birth", id="bad-date"),
    pytest.param(patient_body(sex="Q"), "sex", id="unknown-sex"),
]


@pytest.mark.parametrize(("body", "field"), PATIENT_422)
def test_invalid_patient_field_is_422_naming_the_field(client, supervisor, body, field):
    response = client.post("/api/v1/patients", json=body, headers=supervisor)
    assert_error(response, 422, "invalid", field)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=2.5", "page"),
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("per_page=true", "per_page"),
        ("q=" + "a" * 101, "q"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_list_parameter_is_422_naming_it(client, supervisor, query, field):
    response = client.get(f"/api/v1/patients?{query}", headers=supervisor)
    assert_error(response, 422, "invalid", field)


@pytest.mark.parametrize("per_page", [1, 200])
def test_per_page_limits_are_inclusive(client, supervisor, per_page):
    response = client.get(f"/api/v1/patients?per_page={per_page}", headers=supervisor)
    assert response.status_code == 200
    assert response.get_json()["per_page"] == per_page


ADMISSION_422 = [
    pytest.param({"primary_counselor_id": 2.5}, "primary_counselor_id", id="float-for-int"),
    pytest.param({"los_target_days": 2.5}, "los_target_days", id="float-for-int-optional"),
    pytest.param({"primary_substance": True}, "primary_substance", id="true-for-int"),
    pytest.param({"los_target_days": True}, "los_target_days", id="true-for-int-optional"),
    pytest.param({"primary_substance": "2"}, "primary_substance", id="string-for-int"),
    pytest.param({"primary_substance": 99}, "primary_substance", id="unknown-teds-code"),
    pytest.param({"referral_source": 0}, "referral_source", id="unknown-referral-code"),
    pytest.param({"route": 6}, "route", id="unknown-route-code"),
    pytest.param({"primary_substance": -9}, "primary_substance", id="unknown-substance"),
    pytest.param({"referral_source": -9}, "referral_source", id="unknown-referral"),
    pytest.param({"service_setting": -9}, "service_setting", id="unknown-setting"),
    pytest.param({"admitted_on": "yesterday"}, "admitted_on", id="bad-date"),
    pytest.param({"ward": 3}, "ward", id="unknown-field"),
]


@pytest.mark.parametrize(("changes", "field"), ADMISSION_422)
def test_invalid_admission_field_is_422_naming_the_field(client, supervisor, changes, field):
    counselor = make_staff("counselor")
    patient = make_patient()
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{patient.id}/episodes",
        json=admission(counselor.id, **changes),
        headers=supervisor,
    )
    assert_error(response, 422, "invalid", field)


def test_minus_nine_is_accepted_for_route_but_not_primary_substance(client, supervisor):
    counselor = make_staff("counselor")
    patient = make_patient()
    db.session.commit()
    url = f"/api/v1/patients/{patient.id}/episodes"
    refused = client.post(
        url, json=admission(counselor.id, primary_substance=-9, route=-9), headers=supervisor
    )
    error = assert_error(refused, 422, "invalid", "primary_substance")
    assert "route" not in error["fields"]
    accepted = client.post(url, json=admission(counselor.id, route=-9), headers=supervisor)
    assert accepted.status_code == 201
    assert accepted.get_json()["route"] == -9


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"primary_substance": -9}, id="bad-code"),
        pytest.param({"referral_source": None}, id="null-required"),
        pytest.param({"admitted_on": None}, id="null-date"),
        pytest.param({"extra": 1}, id="unknown-field"),
    ],
)
def test_second_admission_with_a_bad_field_is_422_not_409(client, supervisor, changes):
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor)
    db.session.commit()
    response = client.post(
        f"/api/v1/patients/{episode.patient_id}/episodes",
        json=admission(counselor.id, **changes),
        headers=supervisor,
    )
    assert_error(response, 422, "invalid")


def test_second_admission_dated_in_the_future_is_422_not_409(client, supervisor):
    counselor = make_staff("counselor")
    episode = admit(make_patient(), counselor)
    db.session.commit()
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = client.post(
        f"/api/v1/patients/{episode.patient_id}/episodes",
        json=admission(counselor.id, admitted_on=tomorrow),
        headers=supervisor,
    )
    assert_error(response, 422, "invalid", "admitted_on")


# --- 429 ------------------------------------------------------------------------------------


def test_sixth_token_request_after_five_wrong_passwords_is_429_even_when_right(client):
    make_staff("counselor", username="cora")
    db.session.commit()
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/tokens", json={"username": "cora", "password": "wrong-password-123"}
        )
        assert_error(response, 401, "unauthorized")
    response = client.post("/api/v1/auth/tokens", json={"username": "cora", "password": PASSWORD})
    assert_error(response, 429, "rate_limited")


def test_per_address_login_rate_limit_answers_429_in_the_error_shape(client, app, monkeypatch):
    # LOGIN_RATE_LIMIT is the documented knob ("30 per minute"); 3 keeps argon2 work small.
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # answer as in production
    body = {"username": "nobody", "password": "guess-123"}
    for _ in range(3):
        assert_error(client.post("/api/v1/auth/tokens", json=body), 401, "unauthorized")
    response = client.post("/api/v1/auth/tokens", json=body)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


# --- OpenAPI --------------------------------------------------------------------------------

RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def test_openapi_document_is_public_json(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    assert spec["paths"]


def test_openapi_document_lists_every_api_route_and_method(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method.upper())
        for path, operations in spec["paths"].items()
        for method in operations
        if method != "parameters"
    }
    registered = {
        (RULE_VARIABLE.sub(r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api-docs.openapi_json"
        for method in rule.methods - IGNORED_METHODS
    }
    assert registered, "no API routes found"
    assert registered <= documented, sorted(registered - documented)
    assert {path for path, _ in documented} == {path for path, _ in registered}
