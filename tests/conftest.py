"""Fixtures: the app on each test database, per-test rollback, clients that log in."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from casemgr import create_app
from casemgr.extensions import db, limiter

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


class FreshContextClient(FlaskClient):
    """A test client whose requests each start with an empty ``g``, as in production.

    Tests keep an app context pushed (for factories), and Flask reuses it for the client's
    requests; without this, ``g`` (Flask-Login's user, Flask-WTF's token) would leak
    from one request to the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Clear ``g`` and send the request."""
        if has_app_context():
            for name in list(vars(g)):
                delattr(g, name)
        return super().open(*args, **kwargs)


def make_app(url: str, **overrides: object) -> Flask:
    """Build a testing app on a database URL."""
    application = create_app(
        {
            "CASEMGR_ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET,
            "SQLALCHEMY_DATABASE_URI": url,
            "REQUIRE_ADMIN_MFA": False,
            **overrides,
        }
    )
    application.test_client_class = FreshContextClient
    return application


def reset_schema(app: Flask) -> None:
    """Bring the test database to an empty schema, then migrate it up (testing migrations)."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        if "alembic_version" in inspector.get_table_names():
            downgrade(revision="base")
        with db.engine.begin() as conn:
            leftovers = sa.inspect(conn).get_table_names()
            if leftovers:  # a crashed run without alembic_version: clear our tables only
                db.metadata.drop_all(conn)
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()


def pg_url() -> str:
    """Return this test process's PostgreSQL database: TEST_DATABASE_URL's, or under
    pytest-xdist a sibling per worker (created here once, kept for the next run)."""
    base = sa.engine.make_url(os.environ["TEST_DATABASE_URL"])
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return base.render_as_string(hide_password=False)
    return ensure_database(base, f"{base.database}_{worker}").render_as_string(hide_password=False)


def ensure_database(server: sa.URL, name: str) -> sa.URL:
    """Create a sibling database of ours on the same server if missing; return its URL."""
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.set(database=name)


def database_url(kind: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of the test database of a kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    return pg_url()


@pytest.fixture(scope="session", params=DATABASES)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The app on one test database, migrated from empty (runs once per database)."""
    application = make_app(database_url(request.param, tmp_path_factory))
    reset_schema(application)
    application.config["TEST_DATABASE_KIND"] = request.param
    yield application
    with application.app_context():
        db.engine.dispose()


@contextmanager
def rolled_back_session(app: Flask) -> Iterator[scoped_session[Any]]:
    """Point ``db.session`` at one transaction that is rolled back when the block ends.

    Services and views commit as usual; with ``create_savepoint`` their commits release
    savepoints inside the outer transaction. Also used by module-scoped worlds.
    """
    with app.app_context(), pytest.MonkeyPatch.context() as patch:
        connection = db.engine.connect()
        outer = connection.begin()
        session = scoped_session(
            sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
        )
        patch.setattr(db, "session", session)
        limiter.reset()
        try:
            yield session
        finally:
            session.remove()
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def db_session(request: pytest.FixtureRequest) -> Iterator[object]:
    """Run each test inside a transaction that is rolled back afterwards."""
    if "app" not in request.fixturenames:
        yield None
        return
    with rolled_back_session(request.getfixturevalue("app")) as session:
        yield session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client."""
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client: FlaskClient, url: str) -> str:
    """GET a page and return the CSRF token in its form, as a browser would submit it."""
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} (status {response.status_code})"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str) -> object:
    """Sign in through the real login form."""
    token = csrf_from(client, "/login")
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def post_form(
    client: FlaskClient, form_url: str, data: dict[str, object], action: str | None = None
) -> object:
    """Submit a page's form with its CSRF token."""
    token = csrf_from(client, form_url)
    return client.post(action or form_url, data={**data, "csrf_token": token})


def api_headers(client: FlaskClient, username: str, password: str) -> dict[str, str]:
    """Obtain a bearer token through the API and return the headers that use it."""
    response = client.post("/api/v1/auth/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


LEG_COUNTS: dict[str, int] = dict.fromkeys(DATABASES, 0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Tag each report with its database leg (the app fixtures' parameter)."""
    report = yield
    callspec = getattr(item, "callspec", None)
    if report.when == "call" and callspec:
        for fixture in ("app", "live_app"):
            if fixture in callspec.params:
                report.user_properties.append(("leg", callspec.params[fixture]))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count passed tests per leg (runs in the controller when tests run in parallel)."""
    if report.when == "call" and report.passed:
        for key, value in report.user_properties:
            if key == "leg" and value in LEG_COUNTS:
                LEG_COUNTS[value] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how many tests passed on each database, so CI can insist on both legs."""
    legs = " ".join(f"{kind}={n}" for kind, n in LEG_COUNTS.items())
    terminalreporter.write_line(f"database legs: {legs}")
