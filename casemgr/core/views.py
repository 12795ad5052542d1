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
def expected_revisions() -> frozenset[str]:
    """Return the migration heads this code needs (read once: the files do not change)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


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
    """Tell a rolling deploy whether this server may take traffic: its schema is migrated."""
    try:
        applied = frozenset(
            db.session.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
        )
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "unavailable", "schema": "unknown"}), 503
    if applied != expected_revisions():
        return jsonify({"status": "unavailable", "schema": "pending migrations"}), 503
    return jsonify({"status": "ok", "schema": "current"}), 200
