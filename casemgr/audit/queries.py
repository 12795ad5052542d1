"""Reads of the audit trail: filters, sort by any column, keyset paging, CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from casemgr.audit.models import AuditEvent
from casemgr.core.timeutil import program_zone

#: Columns the report sorts by; nullable ones sort through a stand-in value for NULL.
SORT_COLUMNS: dict[str, Any] = {
    "id": AuditEvent.id,
    "at": AuditEvent.at,
    "actor_id": sa.func.coalesce(AuditEvent.actor_id, 0),
    "action": AuditEvent.action,
    "object_type": sa.func.coalesce(AuditEvent.object_type, ""),
    "object_id": sa.func.coalesce(AuditEvent.object_id, 0),
    "patient_id": sa.func.coalesce(AuditEvent.patient_id, 0),
    "outcome": AuditEvent.outcome,
    "ip": sa.func.coalesce(AuditEvent.ip, ""),
}
SORT_CHOICES = [*SORT_COLUMNS, *(f"-{name}" for name in SORT_COLUMNS)]
CSV_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "ip",
)
CSV_BATCH = 2000


def _day_start(day: date) -> datetime:
    """Return the UTC moment a program-local day starts."""
    return datetime.combine(day, time(0, 0), tzinfo=program_zone()).astimezone(UTC)


def filter_clause(
    *,
    from_: date | None = None,
    to: date | None = None,
    actor_id: int | None = None,
    patient_id: int | None = None,
    action: str | None = None,
) -> sa.ColumnElement[bool]:
    """Build the WHERE clause of the report's filters (dates are program-local, inclusive)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if from_ is not None:
        conditions.append(AuditEvent.at >= _day_start(from_))
    if to is not None:
        conditions.append(AuditEvent.at < _day_start(to + timedelta(days=1)))
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == actor_id)
    if patient_id is not None:
        conditions.append(AuditEvent.patient_id == patient_id)
    if action:
        if action.endswith(".*"):  # a family of actions: "patient.*"
            conditions.append(AuditEvent.action.startswith(action[:-1], autoescape=True))
        else:
            conditions.append(AuditEvent.action == action)
    return sa.and_(sa.true(), *conditions)


def _order(sort: str) -> tuple[Any, bool]:
    """Return the sort expression and whether it is descending."""
    descending = sort.startswith("-")
    return SORT_COLUMNS[sort.lstrip("-")], descending


def ordered(where: sa.ColumnElement[bool], sort: str) -> sa.Select[tuple[AuditEvent]]:
    """Select events matching a filter in the chosen order (id breaks ties)."""
    column, descending = _order(sort)
    query = sa.select(AuditEvent).where(where)
    if descending:
        return query.order_by(column.desc(), AuditEvent.id.desc())
    return query.order_by(column.asc(), AuditEvent.id.asc())


def after_clause(sort: str, after: AuditEvent) -> sa.ColumnElement[bool]:
    """Keyset condition: rows that come after a given row in the chosen order.

    Paging by the last row seen (not OFFSET) keeps every page as cheap as the first on a
    trail of millions of rows: the database seeks into the index instead of counting.
    """
    column, descending = _order(sort)
    name = sort.lstrip("-")
    value = getattr(after, name)
    if value is None:
        value = "" if name in ("object_type", "ip") else 0
    if descending:
        return sa.or_(column < value, sa.and_(column == value, AuditEvent.id < after.id))
    return sa.or_(column > value, sa.and_(column == value, AuditEvent.id > after.id))


def csv_rows(session: Any, where: sa.ColumnElement[bool], sort: str) -> Iterator[list[Any]]:
    """Yield CSV rows of every matching event in keyset batches (constant memory)."""
    query = ordered(where, sort)
    last: AuditEvent | None = None
    while True:
        page = query if last is None else query.where(after_clause(sort, last))
        batch = list(session.scalars(page.limit(CSV_BATCH)))
        if not batch:
            return
        for event in batch:
            yield [
                getattr(event, name).isoformat() if name == "at" else getattr(event, name)
                for name in CSV_COLUMNS
            ]
        last = batch[-1]
