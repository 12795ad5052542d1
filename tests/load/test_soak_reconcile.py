"""The soak's reconciliation catches what it claims to: lost, duplicated and unasked writes.

The counting in benchmarks/soak.py is what the soak's "zero lost, zero duplicated" rests on,
so it is tested here on made-up ledgers, without any server (always on, fast).
"""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks import soak


def _write(marker: str, *, acked: bool = True, status: int = 201, signed: bool | None = True):
    """Return a client's record of one write."""
    return soak.Write(marker, "api", False, status, acked, sign_acked=signed)


def _found(notes: list[tuple[int, int, str, str]], events: int = 1) -> soak.Found:
    """Return a database holding ``notes`` (id, session id, status, marker) and their events."""
    audit: Counter[tuple[str, int]] = Counter()
    for note_id, session_id, status, _ in notes:
        audit[("session.create", session_id)] += events
        audit[("note.create", note_id)] += events
        if status == "signed":
            audit[("note.sign", note_id)] += events
    sessions = {session_id for _, session_id, _, _ in notes}
    return soak.Found(notes, sessions, audit, True, 10, "Audit chain intact: 10 events")


def _failed(writes: list[soak.Write], found: soak.Found) -> list[str]:
    """Run the write, signature and audit checks; return the names of those that failed."""
    summary = soak.Summary("test")
    soak._check_writes(summary, writes, found)
    soak._check_signs(summary, writes, found)
    soak._check_audit(summary, found)
    return [c.name for c in summary.checks if not c.ok]


def test_exact_match_reconciles() -> None:
    writes = [_write("SOAK-a-1-1"), _write("SOAK-a-1-2")]
    found = _found([(1, 1, "signed", "SOAK-a-1-1"), (2, 2, "signed", "SOAK-a-1-2")])
    assert _failed(writes, found) == []


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        ([(1, 1, "signed", "SOAK-a-1-1")], "acknowledged, missing (lost)"),
        (
            [
                (1, 1, "signed", "SOAK-a-1-1"),
                (2, 2, "signed", "SOAK-a-1-2"),
                (3, 3, "signed", "SOAK-a-1-2"),
            ],
            "duplicated (marker twice)",
        ),
        (
            [
                (1, 1, "signed", "SOAK-a-1-1"),
                (2, 2, "signed", "SOAK-a-1-2"),
                (3, 3, "draft", "SOAK-a-1-9"),
            ],
            "in database, never requested",
        ),
        (
            [(1, 1, "signed", "SOAK-a-1-1"), (2, 2, "draft", "SOAK-a-1-2")],
            "acknowledged signs, not signed (lost)",
        ),
    ],
    ids=["lost", "duplicated", "unasked", "signature-lost"],
)
def test_each_kind_of_mismatch_fails(notes: list[tuple[int, int, str, str]], expected: str) -> None:
    writes = [_write("SOAK-a-1-1"), _write("SOAK-a-1-2")]
    assert expected in _failed(writes, _found(notes))


def test_unanswered_write_may_have_committed_and_is_counted_apart() -> None:
    # A 503 can come after the commit: present or absent, it is no loss and no phantom.
    writes = [_write("SOAK-a-1-1"), _write("SOAK-a-1-2", acked=False, status=503, signed=False)]
    found = _found([(1, 1, "signed", "SOAK-a-1-1"), (2, 2, "draft", "SOAK-a-1-2")])
    summary = soak.Summary("test")
    soak._check_writes(summary, writes, found)
    assert all(c.ok for c in summary.checks)
    assert ("unanswered writes", "1: 1 committed, 0 not") in summary.figures


def test_an_acknowledged_id_that_names_another_row_fails() -> None:
    write = _write("SOAK-a-1-1")
    write.note_id, write.session_id = 1, 7  # the API said session 7; the note hangs off 1
    assert "acknowledged ids not matching" in _failed(
        [write], _found([(1, 1, "signed", "SOAK-a-1-1")])
    )


def test_a_missing_or_doubled_audit_event_fails() -> None:
    writes = [_write("SOAK-a-1-1")]
    assert "audit note.sign events = rows" in _failed(
        writes, _found([(1, 1, "signed", "SOAK-a-1-1")], events=2)
    )
    found = _found([(1, 1, "signed", "SOAK-a-1-1")])
    del found.audit[("note.create", 1)]
    assert "audit note.create: rows without one" in _failed(writes, found)
