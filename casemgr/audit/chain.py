"""The hash chain over audit events: canonical serialisation, the serialised append, verify.

Every event stores ``hash = SHA-256(canonical(event) + prev_hash)``. Events are linked when
their transaction commits (:func:`defer`, :func:`link_pending`), and appends are serialised
so two transactions can never link to the same predecessor: PostgreSQL locks the chain-head
row (``SELECT ... FOR UPDATE``) as it reads it; SQLite transactions start with
``BEGIN IMMEDIATE`` (casemgr/__init__.py), so the write lock is held before the head is read
and a concurrent writer waits (busy timeout) instead of failing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casemgr.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent

#: Key of the PostgreSQL advisory lock that serialises re-creating a missing chain head.
ADVISORY_LOCK_KEY = 0x63A5_A0D1
#: The fields the hash covers, in this order; changing them breaks every existing chain.
HASHED_FIELDS = (
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
VERIFY_BATCH = 5000


def canonical_time(moment: datetime) -> str:
    """Render a time the same way on every database (UTC, microseconds, Z)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(values: dict[str, Any]) -> bytes:
    """Serialise an event's hashed fields as compact, key-sorted JSON."""
    data = {name: values[name] for name in HASHED_FIELDS}
    data["at"] = canonical_time(data["at"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(values: dict[str, Any], prev_hash: str) -> str:
    """Return the SHA-256 (hex) linking an event to its predecessor."""
    return hashlib.sha256(canonical(values) + prev_hash.encode("ascii")).hexdigest()


def _values(event: AuditEvent) -> dict[str, Any]:
    """Read the hashed fields of an event."""
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def _lock_and_read_head(session: Session) -> AuditChainHead:
    """Lock and load the chain head in one statement, creating it if missing.

    On PostgreSQL ``FOR UPDATE`` waits for a concurrent append to commit and then returns
    the head it left (READ COMMITTED re-reads a locked row), so no two transactions link to
    the same predecessor. SQLite has no row locks; its transactions already hold the write
    lock (BEGIN IMMEDIATE).
    """
    postgresql = session.get_bind().dialect.name == "postgresql"
    query = (
        sa.select(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .execution_options(populate_existing=True)
    )
    if postgresql:
        query = query.with_for_update()
    head = session.scalar(query)
    if head is None:  # only after the table was emptied by hand (tests, a fresh restore)
        if postgresql:
            # no row to lock yet: serialise the re-creation on a transaction-level lock
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            head = session.scalar(query)
        if head is None:
            head = AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH, length=0)
            session.add(head)
    return head


def chain_head(session: Session) -> AuditChainHead:
    """Return the chain head for this transaction, locking it on first use."""
    session.connection()  # begin the transaction, so it can key the cache
    transaction = session.get_transaction()
    cached = session.info.get("audit_chain")
    if cached is not None and cached[0] is transaction:
        return cached[1]
    head = _lock_and_read_head(session)
    session.info["audit_chain"] = (transaction, head)
    return head


def link(session: Session, event: AuditEvent) -> None:
    """Give a new event its id and hashes and move the head past it."""
    head = chain_head(session)
    if event.at is None:
        from casemgr.core.db import utcnow

        event.at = utcnow()
    event.id = head.last_id + 1
    event.prev_hash = head.last_hash
    event.hash = event_hash(_values(event), head.last_hash)
    head.last_id = event.id
    head.last_hash = event.hash
    head.length = head.length + 1


PENDING = "audit_pending"


def defer(session: Session, event: AuditEvent) -> None:
    """Queue an event to be linked when its transaction commits (see :func:`link_pending`).

    Linking at record time took the chain's lock at the first audited read of a request and
    held it until the request committed, so every audited page queued behind every other.
    """
    # Begin the transaction now if none has (no SQL is sent), so a rollback before the commit
    # finds the events it must discard.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(PENDING, []).append((event, transaction))


def link_pending(session: Session, *args: Any) -> None:
    """Lock the chain head and link the transaction's queued events, in recorded order."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    for event, _transaction in pending:
        link(session, event)
        session.add(event)


def _within(transaction: Any, ended: Any) -> bool:
    """Tell whether ``transaction`` is ``ended`` or nested inside it."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def discard_pending(session: Session, ended: Any) -> None:
    """Forget events queued in a transaction or savepoint that rolled back: they never happened."""
    pending = session.info.get(PENDING)
    if pending:
        kept = [(e, t) for e, t in pending if not _within(t, ended)]
        session.info[PENDING] = kept


def link_before_reading_events(state: Any) -> None:
    """Link queued events before a query reads audit events, so a transaction sees its own."""
    if (
        state.is_select
        and state.session.info.get(PENDING)
        and any(m.class_ is AuditEvent for m in state.all_mappers)
    ):
        link_pending(state.session)


def install() -> None:
    """Link queued events just before every session's commit (once per process)."""
    if not sa.event.contains(Session, "before_commit", link_pending):
        sa.event.listen(Session, "before_commit", link_pending)
        sa.event.listen(Session, "after_soft_rollback", discard_pending)
        sa.event.listen(Session, "do_orm_execute", link_before_reading_events)


@dataclass(frozen=True)
class VerifyResult:
    """What verification found: intact or not, rows checked, the first bad row's id."""

    ok: bool
    checked: int
    first_bad_id: int | None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the API's shape (shared/API.md "Audit")."""
        return {"ok": self.ok, "checked": self.checked, "first_bad_id": self.first_bad_id}


def _rows(connection: sa.Connection) -> Iterator[sa.Row[Any]]:
    """Yield every event in chain order, in keyset batches (constant memory, no OFFSET)."""
    table = AuditEvent.__table__
    columns = [table.c[name] for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    after = 0
    while True:
        batch = connection.execute(
            sa.select(*columns).where(table.c.id > after).order_by(table.c.id).limit(VERIFY_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def verify(connection: sa.Connection) -> VerifyResult:
    """Walk the chain and report the first altered, inserted or deleted row."""
    head = connection.execute(
        sa.select(AuditChainHead.last_id, AuditChainHead.last_hash, AuditChainHead.length).where(
            AuditChainHead.id == 1
        )
    ).first()
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    for row in _rows(connection):
        values = row._asdict()
        if head is not None and row.id > head.last_id:
            return VerifyResult(False, checked, row.id, "row after the recorded end of the chain")
        if row.prev_hash != expected_prev:
            return VerifyResult(False, checked, row.id, "link broken: a row before it is missing")
        if event_hash(values, row.prev_hash) != row.hash:
            return VerifyResult(False, checked, row.id, "content altered")
        checked += 1
        expected_prev = row.hash
        last_id = row.id
    if head is None:
        if checked:
            return VerifyResult(False, checked, 1, "chain head missing")
        return VerifyResult(True, 0, None)
    if head.last_hash != expected_prev or head.last_id != last_id or head.length != checked:
        return VerifyResult(False, checked, last_id + 1, "newest rows missing")
    return VerifyResult(True, checked, None)
