"""The audit hash chain: appends link up, and any altered, inserted or deleted row is found."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from casemgr.audit import chain
from casemgr.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from casemgr.audit.services import record
from casemgr.extensions import db
from tests.conftest import api_headers
from tests.core.test_migrations import scratch_app  # noqa: F401  (fixture)
from tests.factories import PASSWORD, make_patient, make_staff


def _verify() -> chain.VerifyResult:
    return chain.verify(db.session.connection())


def _events(n: int) -> list[AuditEvent]:
    staff = make_staff("supervisor")
    patient = make_patient()
    events = [record(staff, "patient.view", patient, patient) for _ in range(n)]
    db.session.commit()
    return events


@contextmanager
def tampering() -> Iterator[sa.Connection]:
    """Write to audit_events behind the app's back, as an attacker with database access would.

    On PostgreSQL the append-only trigger refuses it, so the test (as superuser) switches
    triggers off for its own transaction, which is rolled back after the test.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    yield connection
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
    db.session.expire_all()


def test_events_link_to_their_predecessor_with_contiguous_ids(app: Flask) -> None:
    events = _events(5)
    assert [e.id for e in events] == list(range(events[0].id, events[0].id + 5))
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    first = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).first()
    assert first is not None
    assert first.prev_hash == GENESIS_HASH
    head = db.session.get(AuditChainHead, 1)
    assert (head.last_id, head.last_hash) == (events[-1].id, events[-1].hash)


def test_hash_covers_every_field_and_the_previous_hash(app: Flask) -> None:
    event = _events(1)[0]
    values = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    assert chain.event_hash(values, event.prev_hash) == event.hash
    for name, other in [("action", "patient.edit"), ("patient_id", 999), ("ip", "10.0.0.9")]:
        assert chain.event_hash({**values, name: other}, event.prev_hash) != event.hash
    assert chain.event_hash(values, "f" * 64) != event.hash


def test_intact_chain_verifies(app: Flask) -> None:
    _events(7)
    result = _verify()
    assert result.ok
    assert result.first_bad_id is None
    assert result.checked == db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))


def test_altered_row_is_found(app: Flask) -> None:
    target_id = _events(6)[3].id
    with tampering() as conn:
        conn.execute(
            sa.update(AuditEvent).where(AuditEvent.id == target_id).values(action="patient.search")
        )
    result = _verify()
    assert not result.ok
    assert result.first_bad_id == target_id
    assert result.problem == "content altered"


def test_altered_row_with_recomputed_hash_breaks_the_next_link(app: Flask) -> None:
    events = _events(5)
    target = events[1]
    next_id = events[2].id
    values = {name: getattr(target, name) for name in chain.HASHED_FIELDS}
    forged = chain.event_hash({**values, "actor_id": None}, target.prev_hash)
    with tampering() as conn:
        conn.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.id == target.id)
            .values(actor_id=None, hash=forged)
        )
    result = _verify()
    assert result.first_bad_id == next_id


def test_deleted_row_is_found(app: Flask) -> None:
    ids = [e.id for e in _events(5)]
    with tampering() as conn:
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[2]))
    result = _verify()
    assert not result.ok
    assert result.first_bad_id == ids[3]


def test_deleted_newest_rows_are_found(app: Flask) -> None:
    ids = [e.id for e in _events(4)]
    with tampering() as conn:
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.id >= ids[2]))
    result = _verify()
    assert not result.ok
    assert result.first_bad_id == ids[2]
    assert result.problem == "newest rows missing"


def test_inserted_row_is_found(app: Flask) -> None:
    events = _events(3)
    last = events[-1]
    forged = {
        "id": last.id + 1,
        "at": last.at,
        "actor_id": None,
        "action": "patient.view",
        "object_type": None,
        "object_id": None,
        "patient_id": None,
        "outcome": "success",
        "ip": None,
    }
    with tampering() as conn:
        conn.execute(
            sa.insert(AuditEvent).values(
                **forged, prev_hash=last.hash, hash=chain.event_hash(forged, last.hash)
            )
        )
    result = _verify()
    assert not result.ok
    assert result.first_bad_id == last.id + 1
    assert result.problem == "row after the recorded end of the chain"


def test_application_has_no_update_or_delete_path() -> None:
    """No service, view or API changes or removes an audit event: only record() adds."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "casemgr"
    offenders = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("update(AuditEvent", "delete(AuditEvent", "AuditEvent.__table__.update"):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert offenders == []


def test_postgresql_trigger_refuses_update_delete_and_truncate(app: Flask) -> None:
    if app.config["TEST_DATABASE_KIND"] != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    event = _events(1)[0]
    connection = db.session.connection()
    statements = [
        sa.update(AuditEvent).where(AuditEvent.id == event.id).values(outcome="denied"),
        sa.delete(AuditEvent).where(AuditEvent.id == event.id),
        sa.text("TRUNCATE audit_events"),
    ]
    for statement in statements:
        savepoint = connection.begin_nested()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            connection.execute(statement)
        savepoint.rollback()
    assert _verify().ok


def test_verify_api_reports_ok_and_first_bad_row(app: Flask, client) -> None:
    make_staff("admin", username="ada")
    headers = api_headers(client, "ada", PASSWORD)
    body = client.get("/api/v1/audit-events/verify", headers=headers).get_json()
    assert body["ok"] is True
    assert body["first_bad_id"] is None
    assert body["checked"] >= 2
    victim = db.session.scalar(sa.select(sa.func.min(AuditEvent.id)))
    with tampering() as conn:
        conn.execute(sa.update(AuditEvent).where(AuditEvent.id == victim).values(ip="6.6.6.6"))
    body = client.get("/api/v1/audit-events/verify", headers=headers).get_json()
    assert body == {"ok": False, "checked": 0, "first_bad_id": victim}


def test_verify_api_is_for_admins_only(app: Flask, client) -> None:
    make_staff("supervisor", username="sue")
    headers = api_headers(client, "sue", PASSWORD)
    assert client.get("/api/v1/audit-events/verify", headers=headers).status_code == 403


def test_verify_page_says_intact_or_where_broken(app: Flask, client) -> None:
    from tests.pages_helpers import sign_in

    sign_in(client, make_staff("admin"))
    assert "The chain is intact" in client.get("/admin/audit/verify").get_data(as_text=True)
    victim = db.session.scalar(sa.select(sa.func.min(AuditEvent.id)))
    with tampering() as conn:
        conn.execute(sa.update(AuditEvent).where(AuditEvent.id == victim).values(ip="6.6.6.6"))
    body = client.get("/admin/audit/verify").get_data(as_text=True)
    assert f"broken at event <strong>#{victim}</strong>" in body


def _scratch_events(application: Flask, n: int) -> None:
    """Write n committed events on a scratch database."""
    with application.app_context():
        for i in range(n):
            record(None, "auth.login_failed", outcome="failure", patient_id=None)
            if i % 2:
                db.session.commit()
        db.session.commit()


def test_flask_audit_verify_exits_0_when_intact_and_1_when_tampered(
    scratch_app: Flask,  # noqa: F811
) -> None:
    with scratch_app.app_context():
        upgrade()
    _scratch_events(scratch_app, 5)
    runner = scratch_app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 5 events" in result.output
    with scratch_app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == 3))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at event 4" in result.output


def test_migration_hashes_events_written_before_the_chain_existed(
    scratch_app: Flask,  # noqa: F811
) -> None:
    with scratch_app.app_context():
        upgrade(revision="ab9b9aff3aa5")
        with db.engine.begin() as conn:
            for i in range(4):
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_events (id, at, action, outcome) "
                        "VALUES (:id, :at, 'auth.login_failed', 'failure')"
                    ),
                    {"id": i * 3 + 1, "at": f"2026-01-0{i + 1} 10:00:00.12345{i}"},
                )
        upgrade()
        with db.engine.connect() as conn:
            result = chain.verify(conn)
    assert result.ok
    assert result.checked == 4
    _scratch_events(scratch_app, 2)  # new events continue the backfilled chain
    with scratch_app.app_context(), db.engine.connect() as conn:
        result = chain.verify(conn)
        ids = list(conn.execute(sa.select(AuditEvent.id).order_by(AuditEvent.id)).scalars())
    assert result.ok
    assert result.checked == 6
    assert ids == [1, 4, 7, 10, 11, 12]


def test_events_are_linked_at_commit_not_when_recorded(app: Flask) -> None:
    staff = make_staff("supervisor")
    patient = make_patient()
    db.session.commit()
    event = record(staff, "patient.view", patient, patient)
    # Nothing is linked (and, on PostgreSQL, no chain lock is held) until the commit.
    assert event.hash is None
    assert event.id is None
    if app.config["TEST_DATABASE_KIND"] == "postgresql":
        # another connection can lock the chain head at once: this transaction holds no lock
        with db.engine.connect() as other:
            other.execute(
                sa.text("SELECT last_id FROM audit_chain_head WHERE id = 1 FOR UPDATE NOWAIT")
            )
            other.rollback()
    db.session.commit()
    assert event.id is not None
    assert event.hash is not None
    assert _verify().ok


def test_a_rolled_back_savepoint_drops_only_its_own_events(app: Flask) -> None:
    staff = make_staff("supervisor")
    patient = make_patient()
    db.session.commit()
    kept = record(staff, "patient.view", patient, patient)
    savepoint = db.session.begin_nested()
    record(staff, "patient.edit", patient, patient)
    savepoint.rollback()
    db.session.commit()
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.patient_id == patient.id)
    ).all()
    assert actions == ["patient.view"]
    assert kept.hash is not None
    assert _verify().ok


def test_a_rolled_back_transaction_leaves_no_event(app: Flask) -> None:
    staff = make_staff("supervisor")
    patient = make_patient()
    db.session.commit()
    record(staff, "patient.view", patient, patient)
    db.session.rollback()
    db.session.commit()
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.patient_id == patient.id)
    )
    assert count == 0


def test_a_transaction_reads_its_own_queued_events(app: Flask) -> None:
    staff = make_staff("supervisor")
    patient = make_patient()
    db.session.commit()
    record(staff, "patient.view", patient, patient)
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.patient_id == patient.id)
    ).all()
    assert actions == ["patient.view"]
    db.session.commit()
    assert _verify().ok
