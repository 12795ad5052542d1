"""Pieces the load scripts share (bench.py, soak.py): ports and databases they own."""

from __future__ import annotations

import socket

import sqlalchemy as sa


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owned(url: str, marker: str) -> sa.URL:
    """Parse a database URL, refusing a database whose name does not say it is ours."""
    target = sa.engine.make_url(url)
    if marker not in (target.database or ""):
        raise SystemExit(f"refusing to touch {target.database!r}: its name lacks {marker!r}")
    return target


def _as_admin(target: sa.URL, *statements: str) -> None:
    """Run statements on the server's `postgres` database, outside a transaction."""
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


def recreate_postgres_database(url: str, marker: str) -> None:
    """Drop and create a PostgreSQL database the script owns (its name contains ``marker``)."""
    target = _owned(url, marker)
    _as_admin(
        target,
        f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)',
        f'CREATE DATABASE "{target.database}"',
    )


def drop_postgres_database(url: str, marker: str) -> None:
    """Drop a PostgreSQL database the script owns (its name contains ``marker``)."""
    target = _owned(url, marker)
    _as_admin(target, f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
