"""Helpers for page tests: sign in quickly and count SQL statements."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier

from casemgr.extensions import db


def sign_in(client: FlaskClient, staff: Any) -> None:
    """Start a browser session for a staff member (the login form is tested separately)."""
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session["_id"] = identifier
        session["_user_id"] = str(staff.id)
        session["_fresh"] = True
        session["login_at"] = session["seen"] = time.time()


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run on the test connection inside the block."""
    statements: list[str] = []
    connection = db.session.connection()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sa.event.listen(connection, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(connection, "before_cursor_execute", before)
