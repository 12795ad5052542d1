"""Bulk writing for the generator: COPY on PostgreSQL, executemany on SQLite, in one transaction.

Rows are tuples of values already in the form the database stores (dates and times as text in
each dialect's format, JSON as text), so the writer does no per-value conversion: psycopg's
COPY takes them as they are, and sqlite3's executemany binds them directly. Both write on the
session's own connection, inside its transaction, so a test's rollback undoes them too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

_HHMM = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]
_SS = [f"{s:02d}" for s in range(60)]
#: Rows per COPY statement: bounds PostgreSQL's queue of foreign-key checks per statement.
COPY_CHUNK = 100_000
SQLITE_CHUNK = 50_000
#: Batches waiting for the writer thread (bounds the memory held by generated rows).
QUEUED_BATCHES = 4

#: One queued batch: table, columns, rows.
_Job = tuple[str, tuple[str, ...], Sequence[tuple[Any, ...]]]


class Clock:
    """Times as whole seconds since a UTC base, rendered as each database stores them.

    The generator works in integer seconds (cheap arithmetic) and in local day numbers
    (0 = the base date); wall-clock times are the program's local time, converted with the
    zone's offset at noon of that day, as a program's staff would see them.
    """

    def __init__(self, base: date, days: int, zone: ZoneInfo, dialect: str) -> None:
        """Precompute each day's local midnight and date text for ``days`` days from ``base``."""
        self.base = base
        base_utc = datetime.combine(base, time(0), tzinfo=UTC)
        self.dates = [(base + timedelta(days=i)).isoformat() for i in range(days)]
        self.midnight = [
            int(
                (
                    datetime.combine(base + timedelta(days=i), time(12), tzinfo=zone) - base_utc
                ).total_seconds()
            )
            - 43_200
            for i in range(days)
        ]
        # SQLAlchemy's SQLite DATETIME text (naive UTC, microseconds); PostgreSQL timestamptz.
        self.suffix = ".000000" if dialect == "sqlite" else "+00"

    def day(self, value: date) -> int:
        """Return a date's day number."""
        return (value - self.base).days

    def date_of(self, day: int) -> date:
        """Return the date of a day number."""
        return self.base + timedelta(days=day)

    def at(self, day: int, hour: int, minute: int = 0) -> int:
        """Return the seconds of a local wall-clock time on a day."""
        return self.midnight[day] + hour * 3600 + minute * 60

    def ts(self, seconds: int) -> str:
        """Render a time for the database."""
        day, rest = divmod(seconds, 86_400)
        minute, second = divmod(rest, 60)
        return f"{self.dates[day]} {_HHMM[minute]}:{_SS[second]}{self.suffix}"

    def both(self, seconds: int) -> tuple[str, str]:
        """Render a time for the database and as the audit chain hashes it.

        The second form is casemgr.audit.chain.canonical_time's: ISO, microseconds, Z.
        """
        day, rest = divmod(seconds, 86_400)
        minute, second = divmod(rest, 60)
        clock = f"{_HHMM[minute]}:{_SS[second]}"
        text = self.dates[day]
        return f"{text} {clock}{self.suffix}", f"{text}T{clock}.000000Z"


class BulkWriter:
    """Append rows to tables on the session's connection, in a background thread.

    The generator is CPU-bound Python and the database ingests on its own core, so the rows of
    one batch are written while the next batch is generated. Only the writer thread touches the
    connection between ``write`` and ``sync``: call ``sync`` before any other use of the session.
    """

    def __init__(self, session: Session) -> None:
        """Use the DBAPI connection under the session's current transaction."""
        connection = session.connection()
        self.dialect = connection.dialect.name
        self.raw: Any = connection.connection.driver_connection
        self.counts: dict[str, int] = {}
        self.queue: queue.Queue[_Job | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def write(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue rows (tuples in ``columns`` order) for insertion into a table."""
        self._raise()
        if not rows:
            return
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="datagen-writer", daemon=True)
            self.thread.start()
        self.queue.put((table, tuple(columns), rows))

    def sync(self) -> None:
        """Wait until every queued row is written (re-raising the writer's error)."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        self._raise()

    def close(self) -> None:
        """Stop the writer thread after a failure elsewhere, dropping the batches still queued."""
        if self.thread is not None:
            if self.error is None:
                self.error = RuntimeError("generation stopped")  # the thread now only drains
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        self.error = None

    def _raise(self) -> None:
        """Re-raise, in the caller's thread, an error the writer met."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _run(self) -> None:
        """Write queued batches until told to stop; after an error, only drain the queue."""
        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is None:
                try:
                    self._insert(*job)
                except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
                    self.error = exc

    def _insert(
        self, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert one batch: COPY on PostgreSQL, executemany on SQLite."""
        names = ", ".join(f'"{c}"' for c in columns)
        cursor = self.raw.cursor()
        try:
            if self.dialect == "postgresql":
                for start in range(0, len(rows), COPY_CHUNK):
                    with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                        write_row = copy.write_row
                        for row in rows[start : start + COPY_CHUNK]:
                            write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'  # noqa: S608  (ours)
                for start in range(0, len(rows), SQLITE_CHUNK):
                    cursor.executemany(sql, rows[start : start + SQLITE_CHUNK])
        finally:
            cursor.close()


@contextmanager
def sqlite_page_cache(session: Session, kibibytes: int) -> Iterator[None]:
    """Give SQLite a larger page cache for the run (indexes outgrow the 2 MB default)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{int(kibibytes)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def next_id(session: Session, table: str) -> int:
    """Return the first free id of a table (generated rows follow existing ones)."""
    column = sa.column("id")
    query = sa.select(sa.func.max(column)).select_from(sa.table(table))
    return (session.scalar(query) or 0) + 1


def reset_sequences(session: Session, tables: Sequence[str]) -> None:
    """Move PostgreSQL id sequences past the ids assigned here."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )
