"""The chain stays intact under concurrent writers: parallel requests on a live threaded server.

Each request appends audit events in its own transaction; appends are serialised (PostgreSQL:
the chain-head row lock taken at commit; SQLite: BEGIN IMMEDIATE and the busy timeout), so
no two events may link to the same predecessor and no writer may fail with "database is locked".
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

from casemgr.audit import chain
from casemgr.audit.models import AuditEvent
from casemgr.extensions import db
from casemgr.staff.services import issue_token
from tests.conftest import DATABASES, make_app, pg_url
from tests.factories import make_patient, make_staff

THREADS = 8
REQUESTS_PER_THREAD = 12


def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield a database of our own for the live server (PostgreSQL: a sibling database)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'concurrency.db'}"
        return
    base = sa.engine.make_url(pg_url())
    name = f"{base.database}_concurrency"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=DATABASES)
def live_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """A migrated app on its own database, served by a threaded HTTP server."""
    databases = _database(request.param, tmp_path)
    application = make_app(next(databases), RATELIMIT_ENABLED=False)
    with application.app_context():
        upgrade()
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield application, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        next(databases, None)


def _get(url: str, token: str) -> int:
    """Send one GET with a bearer token and return the status."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310
        json.loads(response.read())
        return response.status


def test_parallel_requests_keep_the_chain_intact(live_app: tuple[Flask, str]) -> None:
    application, base = live_app
    with application.app_context():
        staff = [make_staff("supervisor") for _ in range(THREADS)]
        patient = make_patient()
        tokens = [issue_token(s)[0] for s in staff]
        db.session.commit()
        patient_id = patient.id
        before = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
        db.session.remove()
    # Alternate a chart read and a search: each request appends in its own transaction.
    urls = [f"{base}/api/v1/patients/{patient_id}", f"{base}/api/v1/patients?q=Pat"]

    def worker(i: int) -> list[int]:
        return [_get(urls[n % 2], tokens[i]) for n in range(REQUESTS_PER_THREAD)]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for result in pool.map(worker, range(THREADS)) for s in result]
    assert statuses == [200] * (THREADS * REQUESTS_PER_THREAD)
    with application.app_context(), db.engine.connect() as conn:
        result = chain.verify(conn)
        count = conn.execute(sa.select(sa.func.count(AuditEvent.id))).scalar_one()
        ids = list(conn.execute(sa.select(AuditEvent.id).order_by(AuditEvent.id)).scalars())
        links = conn.execute(sa.select(sa.func.count(sa.distinct(AuditEvent.prev_hash)))).scalar()
    assert count == before + THREADS * REQUESTS_PER_THREAD
    assert result.ok, result
    assert result.checked == count
    assert ids == list(range(1, count + 1))
    assert links == count  # no two events share a predecessor
