"""GET /healthz: is the app up and can it reach its database."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from casemgr.core.permissions import public
from casemgr.extensions import db

bp = Blueprint("health", __name__)
blueprints = (bp,)


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
