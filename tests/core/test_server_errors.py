"""Server faults: a 500 in our shape, rolled back, logged without patient data; outages are 503."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from casemgr.episodes import queries
from casemgr.extensions import db
from tests.conftest import api_headers, login
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


def _connect_error(url: str) -> OperationalError:
    """Return the error a real failed connection attempt raises (no statement ran yet)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"connecting to {url} unexpectedly worked")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/none",  # nothing listens: refused
        "sqlite:////nonexistent-folder/casemgr.db",  # cannot be opened
    ],
    ids=["postgresql-refused", "sqlite-unopenable"],
)
def test_database_that_refuses_connections_is_503_not_500(
    client, headers, monkeypatch, url
) -> None:
    # While PostgreSQL is down or restarting, connecting fails before any statement: SQLAlchemy
    # does not mark that as an invalidated connection, yet it is an outage, not a bug.
    error = _connect_error(url)

    def outage(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(queries, "list_episodes", outage)
    response = client.get("/api/v1/episodes", headers=headers)
    assert response.status_code == 503
    assert response.get_json() == {
        "error": {
            "status": 503,
            "code": "unavailable",
            "message": "The service is temporarily unavailable; try again shortly.",
            "fields": {},
        }
    }
    assert response.headers["Retry-After"] == "5"


def test_failing_statement_is_still_a_500(client, headers, monkeypatch) -> None:
    # An OperationalError from a statement on a live connection (a lock wait that gave up) is a
    # fault to fix, not an outage to wait out.
    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("UPDATE audit_chain_head ...", {}, Exception("database is locked"))

    monkeypatch.setattr(queries, "list_episodes", locked)
    response = client.get("/api/v1/episodes", headers=headers)
    assert response.status_code == 500


class _DatabaseDown:
    """Stands in for ``db.session`` once the database is gone: every use fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def rollback(self) -> None:
        """Roll back nothing (rolling back a dead connection succeeds)."""

    def remove(self) -> None:
        """End the request's session (teardown)."""

    def __call__(self) -> None:
        raise self.error

    def __getattr__(self, name: str) -> object:
        raise self.error


def test_outage_page_for_browsers_is_503_without_asking_the_database(client, monkeypatch) -> None:
    # The signed-in user cannot be loaded, and the page must not try again to show who is
    # signed in (that turned the 503 into a 500 with the failing SQL in the server log).
    make_staff("counselor", username="cara")
    assert login(client, "cara", PASSWORD).status_code == 302
    lost = OperationalError("SELECT 1", {}, Exception("server closed"), connection_invalidated=True)
    monkeypatch.setattr(db, "session", _DatabaseDown(lost))
    response = client.get("/caseload", headers={"Accept": "text/html"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Temporarily unavailable" in page
    assert "The service is temporarily unavailable; try again shortly." in page
