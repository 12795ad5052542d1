"""The generated audit trail: events collected compactly, then chained in time order.

Events are produced patient by patient, not in time order, so each is packed into one int
(time, action, object, patient, actor) and dropped into its day's bucket. At the end the
buckets are sorted day by day, and every event gets the next id and the SHA-256 link exactly
as casemgr.audit.chain computes it (chain.canonical over the hashed fields, plus the previous
hash); the chain head moves past the last one, so `flask audit verify` passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from sqlalchemy.orm import Session

from casemgr.audit import chain
from casemgr.datagen.bulk import BulkWriter, Clock

#: (action, object_type) by code; the code orders events that share a second, so an event
#: that follows another in the app (create → sign, raise after create) has a larger code.
ACTIONS: tuple[tuple[str, str | None], ...] = (
    ("", None),
    ("staff.create", "staff"),
    ("education_module.create", "education_modules"),
    ("auth.login", "staff"),
    ("patient.create", "patients"),
    ("episode.create", "episodes"),
    ("patient.view", "patients"),
    ("episode.stage", "stage_changes"),
    ("diagnosis.create", "diagnostic_assessments"),
    ("diagnosis.sign", "diagnostic_assessments"),
    ("level_of_care.decide", "level_of_care_decisions"),
    ("withdrawal_score.create", "withdrawal_scores"),
    ("withdrawal_alert.raise", "withdrawal_scores"),
    ("withdrawal_alert.acknowledge", "withdrawal_scores"),
    ("taper_plan.create", "taper_plans"),
    ("taper_plan.guideline_override", "taper_plans"),
    ("taper_waiver.create", "taper_waivers"),
    ("dose.record", "dose_records"),
    ("treatment_plan.create", "treatment_plans"),
    ("treatment_plan.sign", "treatment_plans"),
    ("education.deliver", "education_deliveries"),
    ("group_session.create", "group_sessions"),
    ("session.plan", "therapy_sessions"),
    ("session.create", "therapy_sessions"),
    ("note.create", "notes"),
    ("note.sign", "notes"),
    ("note.cosign", "notes"),
    ("episode.discharge", "episodes"),
)
CODE = {action: code for code, (action, _type) in enumerate(ACTIONS)}
#: The chain's hashed fields, then its links (the order the rows are written in).
COLUMNS = (*chain.HASHED_FIELDS, "prev_hash", "hash")
_M20 = (1 << 20) - 1
_M32 = (1 << 32) - 1
#: Events hashed and written per batch.
BATCH = 50_000


def workstation_ip(staff_id: int) -> str:
    """Give a staff member's workstation a stable private address."""
    return f"10.{20 + staff_id // 65_536 % 200}.{staff_id // 256 % 256}.{staff_id % 256}"


class Trail:
    """Collect audit events in day buckets; write them as a valid chain at the end."""

    def __init__(self, days: int, since: int, until: int) -> None:
        """Keep events at ``since`` ≤ time < ``until`` (seconds); drop the rest."""
        self.buckets: list[list[int]] = [[] for _ in range(days)]
        self.since = since
        self.until = until
        self.count = 0

    def add(self, seconds: int, action: int, obj: int, patient: int, actor: int) -> None:
        """Record one event (ids 0 mean none) at a time in seconds."""
        if self.since <= seconds < self.until:
            self.buckets[seconds // 86_400].append(
                (seconds << 90) | (action << 84) | (obj << 52) | (patient << 20) | actor
            )
            self.count += 1

    def events(self) -> Iterator[tuple[int, int, int, int, int]]:
        """Yield (seconds, action, object, patient, actor) in time order, freeing buckets."""
        for day, bucket in enumerate(self.buckets):
            bucket.sort()
            self.buckets[day] = []
            for packed in bucket:
                yield (
                    packed >> 90,
                    (packed >> 84) & 63,
                    (packed >> 52) & _M32,
                    (packed >> 20) & _M32,
                    packed & _M20,
                )

    def write(self, session: Session, writer: BulkWriter, clock: Clock) -> int:
        """Append the events to the chain after its current head; return how many."""
        writer.sync()  # the session's connection is the writer thread's until now
        session.flush()
        head = chain.chain_head(session)  # takes the append lock on PostgreSQL
        next_id, prev = head.last_id + 1, head.last_hash
        first_id = next_id
        sha256 = hashlib.sha256
        both = clock.both
        names = [(f'"{a}"', "null" if t is None else f'"{t}"') for a, t in ACTIONS]
        ips: dict[int, tuple[str | None, str]] = {0: (None, "null")}
        batch: list[tuple[object, ...]] = []
        for seconds, code, obj, patient, actor in self.events():
            ip = ips.get(actor)
            if ip is None:
                address = workstation_ip(actor)
                ip = ips[actor] = (address, f'"{address}"')
            action_json, type_json = names[code]
            at, at_text = both(seconds)
            # Byte for byte chain.canonical: compact JSON with sorted keys.
            text = (
                f'{{"action":{action_json},"actor_id":{actor or "null"},'
                f'"at":"{at_text}","id":{next_id},"ip":{ip[1]},'
                f'"object_id":{obj or "null"},"object_type":{type_json},'
                f'"outcome":"success","patient_id":{patient or "null"}}}'
            )
            digest = sha256((text + prev).encode()).hexdigest()
            action, object_type = ACTIONS[code]
            batch.append(
                (
                    next_id,
                    at,
                    actor or None,
                    action,
                    object_type,
                    obj or None,
                    patient or None,
                    "success",
                    ip[0],
                    prev,
                    digest,
                )
            )
            prev = digest
            next_id += 1
            if len(batch) >= BATCH:
                writer.write("audit_events", COLUMNS, batch)
                batch = []
        writer.write("audit_events", COLUMNS, batch)
        writer.sync()
        written = next_id - first_id
        head.last_id = next_id - 1
        head.last_hash = prev
        head.length = head.length + written
        session.flush()
        return written
