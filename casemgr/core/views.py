"""Probes for load balancers: /healthz (is it up) and /readyz (is its schema current)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, jsonify

from casemgr.core.permissions import public
from casemgr.extensions import db

bp = Blueprint("health", __name__)
blueprints = (bp,)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cache
def _migrations() -> ScriptDirectory:
    """Read the shipped migrations once: the files do not change while the server runs."""
    return ScriptDirectory(str(MIGRATIONS))


@cache
def expected_revisions() -> frozenset[str]:
    """Return the migration heads this code needs."""
    return frozenset(_migrations().get_heads())


@cache
def known_revisions() -> frozenset[str]:
    """Return every migration this code ships, to tell a lagging schema from a newer one."""
    return frozenset(r.revision for r in _migrations().walk_revisions())


@bp.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Answer for load balancers: 200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "degraded", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Tell a rolling deploy whether this server may take traffic: its schema is migrated.

    503 while the database lacks migrations this code needs; 200 when it is at this code's
    head or ahead of it (a newer release migrated it during a rolling upgrade).
    """
    try:
        applied = frozenset(
            db.session.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
        )
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "unavailable", "schema": "unknown"}), 503
    if applied == expected_revisions():
        return jsonify({"status": "ok", "schema": "current"}), 200
    if applied and not applied <= known_revisions():
        # Migrated by a newer release during a rolling upgrade: migrations must suit the code
        # still running (README, Upgrades), so this server keeps taking traffic.
        return jsonify({"status": "ok", "schema": "newer than this code"}), 200
    return jsonify({"status": "unavailable", "schema": "pending migrations"}), 503
