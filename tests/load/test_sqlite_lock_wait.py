"""Two writers contend for SQLite's one write lock: the second waits and both succeed.

Every transaction starts ``BEGIN IMMEDIATE`` (casemgr/__init__.py) on connections with a 15 s
busy timeout (casemgr/config.py), so a writer that finds the lock taken waits for it instead
of failing with "database is locked". The soak run shows the same under 20 counselors
(benchmarks/soak.py); this test shows it in a second, on every run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from casemgr.audit import chain
from casemgr.extensions import db
from casemgr.patients import services
from casemgr.patients.models import Patient
from tests.conftest import make_app

HOLD_SECONDS = 1.0


def test_second_sqlite_writer_waits_for_the_lock_then_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "contended.db"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        upgrade()
    holding = threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        """Take the write lock with a real write, hold it a moment, then commit."""
        try:
            with app.app_context():
                services.create_patient(
                    None,
                    first_name="Ann",
                    last_name="First",
                    date_of_birth=date(1980, 1, 1),
                    sex="F",
                )
                holding.set()
                time.sleep(HOLD_SECONDS)
                db.session.commit()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
            holding.set()

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert holding.wait(10)
    # The lock is really taken: a connection without a busy timeout is refused at once.
    control = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            control.execute("BEGIN IMMEDIATE")
    finally:
        control.close()
    started = time.monotonic()
    with app.app_context():
        services.create_patient(
            None, first_name="Bo", last_name="Second", date_of_birth=date(1981, 2, 2), sex="M"
        )
        db.session.commit()
    waited = time.monotonic() - started
    thread.join(10)
    assert not errors, errors
    assert waited >= HOLD_SECONDS / 2  # it waited for the first writer's commit
    with app.app_context(), db.engine.connect() as conn:
        names = list(conn.execute(sa.select(Patient.last_name).order_by(Patient.id)).scalars())
        result = chain.verify(conn)
    assert names == ["First", "Second"]
    assert result.ok, result
    assert result.checked == 2  # one patient.create event each, the second after the first
    with app.app_context():
        db.engine.dispose()
