"""Browser tests: the app served on 127.0.0.1 by a real HTTP server, driven by Chromium.

The live server runs on its own database per leg (a file for SQLite; a sibling database of
TEST_DATABASE_URL for PostgreSQL, created and dropped here), with data really committed,
because the server's threads cannot share the per-test transaction. Tables are emptied after
each test. Debian's Chromium is used (Playwright cannot download browsers here); without it,
these tests are skipped with a message saying so.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

from casemgr.extensions import db, limiter
from tests.conftest import DATABASES, make_app, pg_url

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip browser tests, saying why, where no Chromium is installed."""
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium with the flags this machine needs."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _browser_database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield a database URL of our own for the live server, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('browser') / 'live.db'}"
        return
    base = sa.engine.make_url(pg_url())
    name = f"{base.database}_browser"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')  # ours, left by a crash
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def live_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """A migrated app on the live server's own database, one per database leg."""
    databases = _browser_database(request.param, tmp_path_factory)
    url = next(databases)
    application = make_app(url, WTF_CSRF_ENABLED=True)
    application.config["TEST_DATABASE_KIND"] = request.param
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    next(databases, None)


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[str]:
    """Serve the live app on 127.0.0.1 on a free port, in a daemon thread."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    """Point Playwright's relative URLs at the live server."""
    return live_server


@pytest.fixture
def live_db(live_app: Flask) -> Iterator[Callable[..., Any]]:
    """Run setup code in the live app's context (committing), then empty every table."""
    context = live_app.app_context()
    context.push()
    limiter.reset()

    def run(build: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = build(*args, **kwargs)
        db.session.commit()
        return result

    try:
        yield run
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # audit_events is append-only (a trigger refuses DELETE); the test database's
                # superuser may switch triggers off for this cleanup transaction only.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.session.remove()
        context.pop()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under test-artifacts/ (kept by CI, looked at by people)."""

    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        leg = (
            request.node.callspec.params.get("live_app", "db")
            if hasattr(request.node, "callspec")
            else "db"
        )
        path = ARTIFACTS / f"{name}-{leg}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
