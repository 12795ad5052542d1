"""Server faults: a 500 in our shape, rolled back, logged without patient data; outages are 503."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from casemgr.episodes import queries
from tests.conftest import api_headers
from tests.factories import PASSWORD, make_staff


@pytest.fixture
def headers(client):
    make_staff("supervisor", username="sup")
    return api_headers(client, "sup", PASSWORD)


def test_unexpected_error_is_500_json_and_logged_without_its_message(
    client, headers, monkeypatch, caplog
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Patient Jane Doe MRN 12345678")

    monkeypatch.setattr(queries, "list_episodes", boom)
    with caplog.at_level(logging.ERROR, logger="casemgr"):
        response = client.get("/api/v1/episodes", headers=headers)
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "Jane" not in response.get_data(as_text=True)
    assert "unhandled RuntimeError" in caplog.text
    assert "Jane" not in caplog.text
    assert "12345678" not in caplog.text


def test_lost_database_connection_is_503(client, headers, monkeypatch) -> None:
    def outage(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "SELECT 1", {}, Exception("server closed"), connection_invalidated=True
        )

    monkeypatch.setattr(queries, "list_episodes", outage)
    response = client.get("/api/v1/episodes", headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "5"


def test_unknown_page_is_an_html_404_for_browsers(client) -> None:
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_wrong_method_on_a_page_is_405_with_allow(client) -> None:
    response = client.put("/login")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
