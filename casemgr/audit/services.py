"""Write audit events inside the caller's transaction, so an event exists iff the action does."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from casemgr.audit import chain
from casemgr.audit.models import AuditEvent
from casemgr.extensions import db

OUTCOMES = ("success", "denied", "failure")


def _object_identity(obj: Any) -> tuple[str | None, int | None]:
    """Return (type, id) for a model instance, flushing first if it has no id yet."""
    if obj is None:
        return None, None
    if getattr(obj, "id", None) is None:
        db.session.flush()
    return getattr(obj, "__tablename__", type(obj).__name__.lower()), obj.id


def client_ip() -> str | None:
    """Return the client address of the current request (ProxyFix sets it behind nginx)."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:45] or None


def record(
    actor: Any,
    action: str,
    obj: Any = None,
    patient: Any = None,
    *,
    outcome: str = "success",
    patient_id: int | None = None,
) -> AuditEvent:
    """Append one audit event to the chain in the current transaction; the caller commits."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    object_type, object_id = _object_identity(obj)
    if patient is not None:
        patient_id = patient.id
    actor_id = getattr(actor, "id", None) if getattr(actor, "is_authenticated", True) else None
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        patient_id=patient_id,
        outcome=outcome,
        ip=client_ip(),
    )
    chain.link(db.session(), event)
    db.session.add(event)
    return event
