"""The soak and fault run, short: counselors write through gunicorn and every write reconciles.

Runs where ``CASEMGR_LOAD_TESTS=1`` (``.ci/run`` sets it): the machinery of
``benchmarks/soak.py`` (``make soak`` runs it for 2 minutes with 20 counselors) with 8
counselors for 6 to 9 seconds on SQLite, on PostgreSQL (a sibling of the test database) and on a
private PostgreSQL cluster stopped and started again mid-run. Each summary is written to
``test-artifacts/soak-<scenario>.txt``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("CASEMGR_LOAD_TESTS") != "1":
    pytest.skip("the soak runs in .ci/run (CASEMGR_LOAD_TESTS=1)", allow_module_level=True)

import sqlalchemy as sa

from benchmarks import soak
from tests.conftest import pg_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHORT = soak.Options(seconds=6, counselors=8)
#: Longer, so that every counselor has time to write again after the restart.
RESTART = soak.Options(seconds=9, counselors=8, restart_at=0.2, outage_seconds=2.0)


def _run(scenario: str, options: soak.Options, url: str | None = None) -> soak.Summary:
    """Run one scenario and keep its summary as a test artifact."""
    summary = soak.run_scenario(scenario, options, url)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"soak-{scenario}.txt").write_text(summary.table() + "\n")
    return summary


def test_soak_on_sqlite_reconciles_exactly() -> None:
    summary = _run("sqlite", SHORT)
    assert summary.ok, summary.table()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL")
def test_soak_on_postgresql_reconciles_exactly() -> None:
    base = sa.engine.make_url(pg_url())
    url = base.set(database=f"{base.database}_soak").render_as_string(hide_password=False)
    summary = _run("postgresql", SHORT, url)
    assert summary.ok, summary.table()


def test_postgresql_restart_mid_load_is_503_then_recovers_with_no_write_lost() -> None:
    reason = soak.PrivateCluster.unavailable()
    if reason:
        pytest.skip(reason)
    summary = _run("pg-restart", RESTART)
    assert summary.ok, summary.table()
    unavailable = next(c for c in summary.checks if c.name == "503 answers")
    assert unavailable.value > 0  # the outage was really met, not slept through
