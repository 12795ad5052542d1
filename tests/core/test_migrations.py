"""Migrations: up from empty, down to base, up again, on each database; models match them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from casemgr.extensions import db
from tests.conftest import make_app, pg_url

KINDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(params=KINDS)
def scratch_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a brand-new empty database of each kind, dropped afterwards (ours)."""
    if request.param == "sqlite":
        yield make_app(f"sqlite:///{tmp_path / 'scratch.db'}")
        return
    base = sa.engine.make_url(pg_url())
    name = f"casemgr_scratch_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    application = make_app(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def _tables(application: Flask) -> set[str]:
    with application.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_from_empty_downgrade_to_base_and_up_again(scratch_app: Flask) -> None:
    model_tables = set(db.metadata.tables)
    with scratch_app.app_context():
        upgrade()
    assert _tables(scratch_app) == model_tables | {"alembic_version"}
    with scratch_app.app_context():
        downgrade(revision="base")
    assert _tables(scratch_app) == {"alembic_version"}
    with scratch_app.app_context():
        upgrade()
    assert _tables(scratch_app) == model_tables | {"alembic_version"}


def test_models_match_migrations(scratch_app: Flask) -> None:
    with scratch_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_sqlite_connection_uses_wal_foreign_keys_and_busy_timeout(scratch_app: Flask) -> None:
    with scratch_app.app_context():
        if db.engine.dialect.name != "sqlite":
            assert db.engine.dialect.name == "postgresql"
            return
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
