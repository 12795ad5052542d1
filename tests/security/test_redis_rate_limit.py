"""Login rate limits are shared by app servers through Redis (RATELIMIT_STORAGE_URI).

Two separate app server processes share one budget of login attempts per client address
when their limiter stores counters in the local Redis; with in-memory counters (the control)
each process counts alone, so an attacker spreading attempts over servers gets double. Runs
where ``CASEMGR_REDIS_TESTS=1`` (``.ci/run`` sets it when Redis answers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

if os.environ.get("CASEMGR_REDIS_TESTS") != "1":
    pytest.skip("the Redis test runs in .ci/run (CASEMGR_REDIS_TESTS=1)", allow_module_level=True)

import redis
from flask_migrate import upgrade

from tests.conftest import TEST_SECRET, make_app

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CASEMGR_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
LIMIT = 6


@contextmanager
def app_servers(database: str, storage: str, count: int = 2) -> Iterator[list[str]]:
    """Start ``count`` app server processes on one database with one rate-limit storage."""
    env = {
        **os.environ,
        "CASEMGR_ENV": "development",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database,
        "RATELIMIT_STORAGE_URI": storage,
        "LOGIN_RATE_LIMIT": f"{LIMIT} per minute",
        "PYTHONPATH": str(ROOT),
    }
    processes = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "tests" / "security" / "serve_app.py")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    try:
        yield [f"http://127.0.0.1:{p.stdout.readline().strip()}" for p in processes]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
            process.stdout.close()


def _attempt(base: str) -> int:
    """Try a wrong password through the API and return the status."""
    body = json.dumps({"username": "nobody", "password": "wrong-password-1"}).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/v1/auth/tokens", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    app = make_app(url)
    with app.app_context():
        upgrade()
        from casemgr.extensions import db

        db.engine.dispose()
    return url


def _spread_attempts(servers: list[str], attempts: int) -> list[int]:
    return [_attempt(servers[n % len(servers)]) for n in range(attempts)]


def test_two_app_servers_share_one_budget_through_redis(database: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    with app_servers(database, REDIS_URL) as servers:
        statuses = _spread_attempts(servers, 3 * LIMIT)
    assert statuses[:LIMIT] == [401] * LIMIT
    assert set(statuses[LIMIT:]) == {429}
    assert client.dbsize() > 0  # the counters really live in Redis
    client.flushdb()


def test_control_in_memory_counters_are_per_server(database: str) -> None:
    with app_servers(database, "memory://") as servers:
        statuses = _spread_attempts(servers, 3 * LIMIT)
    assert statuses.count(401) == 2 * LIMIT  # each server let LIMIT through on its own


def test_redis_down_falls_back_to_per_server_counting_not_errors(database: str) -> None:
    # Nothing listens on port 1: every storage call fails, as when Redis goes down.
    with app_servers(database, "redis://127.0.0.1:1/0", count=1) as servers:
        statuses = _spread_attempts(servers, 2 * LIMIT)
        with urllib.request.urlopen(f"{servers[0]}/healthz", timeout=30) as health:  # noqa: S310
            assert health.status == 200
    assert 500 not in statuses
    assert statuses[:LIMIT] == [401] * LIMIT  # sign-in still answers
    assert set(statuses[LIMIT:]) == {429}  # and is still limited, in memory
