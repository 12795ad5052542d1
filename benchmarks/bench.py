"""`make bench`: the pages people use, timed under load on a state-wide dataset.

For each database (SQLite and PostgreSQL) this script
1. generates (or reuses) a database of ``--patients`` synthetic patients (`flask generate-data`);
2. gives three of its accounts (a counselor, a supervisor, an admin) a known password;
3. serves the app with gunicorn (2 workers, production settings) on 127.0.0.1;
4. drives each page with wrk for a fixed time, after a short warm-up, and records the median
   and 95th percentile latency, the throughput and every response that was not the expected
   one (a failed login or a refused form counts as an error, not as a fast answer);
5. writes `benchmarks/RESULTS.md`: one table per database, with each page's throughput as a
   share of the same server's one-indexed-query ceiling (`GET /readyz`).

It is a benchmark, not a test: run it on a quiet machine. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the package and harness are the project's
    sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
BIN = Path(sys.executable).parent
#: Targets from the issue: 95th percentile per page and database, reports, share of ceiling.
PAGE_P95_MS = {"postgresql": 100.0, "sqlite": 150.0}
REPORT_P95_MS = 500.0
CEILING_SHARE = 0.25


@dataclass
class Scenario:
    """One request shape driven by wrk."""

    name: str
    path: str
    role: str | None  # whose session or token; None = anonymous
    method: str = "GET"
    expect: int = 200
    body: str = ""
    kind: str = "page"  # page | report | ceiling
    api: bool = False
    vary_body: bool = False  # give each request its own note text
    key: str = ""  # a short handle (profile_page.py --page)


@dataclass
class Result:
    """What wrk measured for one scenario."""

    scenario: Scenario
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    unexpected: int
    last_bad: int  # one of the unexpected statuses, to say what went wrong
    server_errors: int
    socket_errors: int

    @property
    def throughput(self) -> float:
        """Requests per second over the measured run."""
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Target:
    """A database to benchmark and the facts gathered about it."""

    name: str
    url: str
    rows: dict[str, int] = field(default_factory=dict)
    version: str = ""
    ids: dict[str, int] = field(default_factory=dict)


def log(message: str) -> None:
    """Print progress to stderr, so the results on stdout stay clean."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_for(url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a production-configured process on ``url``."""
    env = {
        **os.environ,
        "CASEMGR_ENV": "production",
        "SECRET_KEY": BENCH_SECRET,
        "DATABASE_URL": url,
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on 127.0.0.1; nginx adds TLS in production
        "REQUIRE_ADMIN_MFA": "0",  # the audit page's cost is the same after a second factor
        # The login scenario signs in hundreds of times a second from one address: the
        # per-address limit would answer 429 after 30, so it is raised (not disabled).
        "LOGIN_RATE_LIMIT": "1000000 per minute",
        "FLASK_APP": "wsgi",
    }
    env.update(extra)
    return env


BENCH_SECRET = secrets.token_urlsafe(48)


def flask(url: str, *args: str, stdin: str | None = None) -> str:
    """Run a `flask` command against ``url`` and return its output."""
    done = subprocess.run(  # noqa: S603
        [str(BIN / "flask"), *args],
        cwd=ROOT,
        env=env_for(url),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- databases ------------------------------------------------------------------------------


def pg_connect(url: str) -> Any:
    """Open an autocommit psycopg connection from a SQLAlchemy URL."""
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def generated_patients(target: Target) -> int | None:
    """Return how many patients the database holds, or None when it has no schema."""
    try:
        if target.name == "sqlite":
            path = target.url.removeprefix("sqlite:///")
            if not Path(path).exists():
                return None
            with sqlite3.connect(path) as conn:
                return conn.execute("SELECT count(*) FROM patients").fetchone()[0]
        with pg_connect(target.url) as conn:
            return conn.execute("SELECT count(*) FROM patients").fetchone()[0]
    except Exception:  # noqa: BLE001  (no database, or no schema yet)
        return None


def recreate(target: Target) -> None:
    """Start from an empty database of our own (the bench owns these names)."""
    if target.name == "sqlite":
        path = Path(target.url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = target.url.rsplit("/", 1)[1]
    if not name.startswith("casemgr_bench"):
        raise SystemExit(f"refusing to recreate {name}: the bench only owns casemgr_bench*")
    harness.recreate_postgres_database(target.url, "casemgr_bench")


def ensure_data(target: Target, patients: int, years: int, seed: int, fresh: bool) -> None:
    """Generate the dataset unless an earlier run left exactly this one."""
    found = None if fresh else generated_patients(target)
    if found == patients:
        log(f"{target.name}: reusing the generated database ({found} patients)")
        return
    log(f"{target.name}: generating {patients} patients over {years} years (seed {seed})")
    recreate(target)
    started = time.monotonic()
    flask(target.url, "db", "upgrade")
    output = flask(
        target.url,
        "generate-data",
        "--patients",
        str(patients),
        "--years",
        str(years),
        "--seed",
        str(seed),
    )
    log(f"{target.name}: generated in {time.monotonic() - started:.0f} s\n{output.strip()}")
    if target.name == "postgresql":
        with pg_connect(target.url) as conn:
            conn.execute("VACUUM ANALYZE")
    else:
        with sqlite3.connect(target.url.removeprefix("sqlite:///")) as conn:
            conn.execute("ANALYZE")


def describe(target: Target) -> None:
    """Count the rows the pages read, and read the server's version."""
    tables = (
        "patients",
        "episodes",
        "stage_changes",
        "therapy_sessions",
        "therapy_notes",
        "diagnoses",
        "withdrawal_scores",
        "level_of_care_decisions",
        "taper_doses",
        "audit_events",
    )
    if target.name == "sqlite":
        conn: Any = sqlite3.connect(target.url.removeprefix("sqlite:///"))
        target.version = "SQLite " + sqlite3.sqlite_version
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    else:
        conn = pg_connect(target.url)
        target.version = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
    with conn:
        for table in tables:
            if table in existing:
                target.rows[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


# --- accounts -------------------------------------------------------------------------------


PASSWORD = "Bench-" + secrets.token_urlsafe(12)


def prepare_accounts(target: Target) -> None:
    """Pick the chart patient and its counselor, and give the bench accounts a password."""
    os.environ.update({k: v for k, v in env_for(target.url).items() if k not in os.environ})
    from casemgr import create_app
    from casemgr.config import engine_options

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": target.url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(target.url),
        }
    )
    import sqlalchemy as sa

    from casemgr.episodes.models import Episode
    from casemgr.extensions import db
    from casemgr.staff.models import Staff, StaffRole
    from casemgr.staff.services import hash_password
    from casemgr.therapy.models import TherapySession

    with app.app_context():
        if db.session.scalar(sa.select(Staff.id).where(Staff.username == "bench-admin")) is None:
            db.session.rollback()  # SQLite has one writer: end this transaction first
            # the product's own path for the first admin
            flask(target.url, "create-admin", "bench-admin", "--password-stdin", stdin=PASSWORD)
        db.session.rollback()
        # The chart scenario's fallback: the active episode with the most sessions.
        per_episode = (
            sa.select(TherapySession.episode_id, sa.func.count().label("n"))
            .join(Episode, Episode.id == TherapySession.episode_id)
            .where(Episode.status == "active")
            .group_by(TherapySession.episode_id)
            .order_by(sa.desc("n"), TherapySession.episode_id)
            .limit(1)
        )
        # The generator's showcase patient (500 sessions) by its MRN; else the busiest chart.
        from casemgr.datagen import SHOWCASE_MRN
        from casemgr.patients.models import Patient

        showcase = (
            sa.select(TherapySession.episode_id, sa.func.count().label("n"))
            .join(Episode, Episode.id == TherapySession.episode_id)
            .join(Patient, Patient.id == Episode.patient_id)
            .where(Patient.mrn == SHOWCASE_MRN, Episode.status == "active")
            .group_by(TherapySession.episode_id)
        )
        found = db.session.execute(showcase).first() or db.session.execute(per_episode).one()
        chart_episode_id, sessions = found
        chart = db.session.get_one(Episode, chart_episode_id)
        counselor = db.session.get_one(Staff, chart.primary_counselor_id)
        # The log-session scenario writes to another of the same counselor's patients, so
        # the chart being timed keeps its size.
        other = db.session.scalar(
            sa.select(Episode.id)
            .where(
                Episode.primary_counselor_id == counselor.id,
                Episode.status == "active",
                Episode.id != chart.id,
            )
            .order_by(Episode.id)
            .limit(1)
        )
        supervisor = db.session.scalar(
            sa.select(Staff)
            .join(StaffRole)
            .where(StaffRole.role == "supervisor", Staff.active.is_(True))
            .order_by(Staff.id)
            .limit(1)
        )
        admin = db.session.scalar(sa.select(Staff).where(Staff.username == "bench-admin"))
        if supervisor is None or other is None or admin is None:
            raise SystemExit("the generated data has no supervisor or no second patient")
        caseload = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Episode)
            .where(Episode.primary_counselor_id == counselor.id, Episode.status == "active")
        )
        hashed = hash_password(PASSWORD)
        for person in (counselor, supervisor, admin):
            person.password_hash = hashed
            person.failed_logins = 0
            person.locked_until = None
            person.needs_cosign = False
        db.session.commit()
        target.ids = {
            "chart_patient": chart.patient_id,
            "chart_sessions": sessions,
            "write_episode": other,
            "caseload": caseload or 0,
        }
        accounts = {
            "counselor": counselor.username,
            "supervisor": supervisor.username,
            "admin": admin.username,
        }
        db.engine.dispose()
    ACCOUNTS[target.name] = accounts


ACCOUNTS: dict[str, dict[str, str]] = {}


# --- the server -----------------------------------------------------------------------------


@contextmanager
def gunicorn(target: Target, workers: int) -> Iterator[str]:
    """Serve the app with gunicorn on a free port for the duration of the block."""
    port = harness.free_port()
    logfile = OUT / f"gunicorn-{target.name}.log"
    with logfile.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603
            [
                str(BIN / "gunicorn"),
                "--config",
                str(ROOT / "deploy" / "gunicorn.conf.py"),  # what ships (gthread workers)
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",
                # The shipped config recycles a worker every ~2,000 requests; at benchmark
                # rates that is every few seconds, and each restart's pause would be timed.
                "--max-requests",
                "0",
                "--access-logfile",
                str(OUT / f"access-{target.name}.log"),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env_for(target.url),
            stdout=err,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:  # noqa: S310
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"gunicorn did not start; see {logfile}")
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# --- signing in -----------------------------------------------------------------------------


#: Flask-Login's strong session protection ties a session to the client's address and
#: User-Agent, so the sign-in and wrk must present the same one.
USER_AGENT = "casemgr-bench"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep 302s visible: a login's success is its redirect."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Refuse to follow."""
        return None


def _opener() -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    """Return a cookie-keeping opener that does not follow redirects."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    return opener, jar


def _fetch(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> str:
    """GET or POST and return the body, treating 3xx as an answer."""
    try:
        with opener.open(url, data=data, timeout=30) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as err:
        if 300 <= err.code < 400:
            return ""
        raise


def csrf_token(page: str) -> str:
    """Read the CSRF token a form carries."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if not found:
        raise SystemExit("no CSRF token on the page")
    return html.unescape(found.group(1))


def cookie_header(jar: http.cookiejar.CookieJar) -> str:
    """Render a jar as one Cookie header."""
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def sign_in(base: str, username: str) -> tuple[str, str]:
    """Sign in through the login form; return the session cookie and a CSRF token."""
    opener, jar = _opener()
    token = csrf_token(_fetch(opener, f"{base}/login"))
    form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD})
    _fetch(opener, f"{base}/login", form.encode())
    page = _fetch(opener, f"{base}/caseload" if "counsel" in username else f"{base}/reports")
    if "Sign out" not in page and "logout" not in page.lower():
        raise SystemExit(f"could not sign in as {username}")
    return cookie_header(jar), csrf_token(page) if "csrf_token" in page else token


def anonymous_login_form(base: str, username: str) -> tuple[str, str]:
    """Return an anonymous session cookie and the login body a browser would post."""
    opener, jar = _opener()
    token = csrf_token(_fetch(opener, f"{base}/login"))
    body = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD})
    return cookie_header(jar), body


def api_token(base: str, username: str) -> str:
    """Get a bearer token from the API."""
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/v1/auth/tokens",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())["token"]


# --- wrk ------------------------------------------------------------------------------------

LUA = r"""
wrk.method = {method}
wrk.body = {body}
{headers}
local expect = {expect}
local vary = {vary}
local counter = 0
unexpected = 0
server_errors = 0
last_bad = 0
request = function()
  if vary then
    counter = counter + 1
    local mark = tostring(counter) .. "-" .. tostring(math.random(1, 1e9))
    local body = string.gsub(wrk.body, "BENCHSEQ", mark)
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format()
end
response = function(status, headers, body)
  if status ~= expect then
    unexpected = unexpected + 1
    last_bad = status
  end
  if status >= 500 then server_errors = server_errors + 1 end
end
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local bad, fivexx, code = 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("unexpected")
    fivexx = fivexx + t:get("server_errors")
    if t:get("last_bad") ~= 0 then code = t:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHRESULT {{"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d, ' ..
    '"unexpected": %d, "last_bad": %d, "server_errors": %d, "socket_errors": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), bad, code, fivexx, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(value: str) -> str:
    """Quote a Python string as a Lua long string."""
    return "[==[" + value + "]==]"


def run_wrk(
    base: str, scenario: Scenario, headers: dict[str, str], seconds: int, connections: int
) -> Result:
    """Drive one scenario with wrk and parse its result line."""
    header_lines = "\n".join(
        f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()
    )
    script = LUA.format(
        method=lua_string(scenario.method),
        body=lua_string(scenario.body),
        headers=header_lines,
        expect=scenario.expect,
        vary="true" if scenario.vary_body else "false",
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        done = subprocess.run(  # noqa: S603
            [
                shutil.which("wrk") or "wrk",
                "--threads",
                "1",
                "--connections",
                str(connections),
                "--duration",
                f"{seconds}s",
                "--timeout",
                "10s",
                "--script",
                path,
                base + scenario.path,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(path)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHRESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result for {scenario.name}:\n{done.stdout}{done.stderr}")
    data = json.loads(line.removeprefix("BENCHRESULT "))
    return Result(
        scenario=scenario,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        unexpected=data["unexpected"],
        last_bad=data["last_bad"],
        server_errors=data["server_errors"],
        socket_errors=data["socket_errors"],
    )


def scenarios(target: Target) -> list[Scenario]:
    """The pages of the issue, the ceiling probes first."""
    ids = target.ids
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    session_body = urllib.parse.urlencode(
        {
            "kind": "individual",
            "modality": "cbt",
            "started_at": f"{yesterday}T10:00",
            "duration_minutes": "50",
            "attendance": "attended",
            "format": "DAP",
            "DAP-data": "Bench session BENCHSEQ: reviewed triggers and the week's cravings.",
            "DAP-assessment": "Engaged; cravings lower than last week.",
            "DAP-plan": "Continue CBT; practise urge surfing daily.",
            "action": "sign",
            "csrf_token": "CSRF",
        }
    )
    return [
        Scenario("GET /healthz (bare)", "/healthz", None, kind="ceiling", key="healthz"),
        Scenario("GET /readyz (one indexed query)", "/readyz", None, kind="ceiling", key="readyz"),
        Scenario(
            "Login (POST /login)", "/login", "anonymous", "POST", 302, kind="login", key="login"
        ),
        Scenario("Caseload dashboard", "/caseload", "counselor", key="caseload"),
        Scenario(
            f"Patient chart ({ids['chart_sessions']} sessions)",
            f"/patients/{ids['chart_patient']}",
            "counselor",
            key="chart",
        ),
        Scenario(
            "Log session + signed note (POST)",
            f"/episodes/{ids['write_episode']}/sessions/new",
            "counselor",
            "POST",
            302,
            session_body,
            vary_body=True,
            key="log-session",
        ),
        Scenario("Census report", "/reports/census", "supervisor", kind="report", key="census"),
        Scenario(
            "Length-of-stay report",
            "/reports/length-of-stay",
            "supervisor",
            kind="report",
            key="los",
        ),
        Scenario(
            "Retention report", "/reports/retention", "supervisor", kind="report", key="retention"
        ),
        Scenario("Audit report page", "/admin/audit", "admin", key="audit"),
        Scenario(
            "API episode list", "/api/v1/episodes", "supervisor", api=True, key="api-episodes"
        ),
    ]


def bench_target(
    target: Target, seconds: int, warmup: int, connections: int, workers: int
) -> list[Result]:
    """Serve one database and drive every scenario against it."""
    results: list[Result] = []
    accounts = ACCOUNTS[target.name]
    with gunicorn(target, workers) as base:
        sessions = {role: sign_in(base, accounts[role]) for role in accounts}
        tokens = {"supervisor": api_token(base, accounts["supervisor"])}
        for scenario in scenarios(target):
            headers: dict[str, str] = {"User-Agent": USER_AGENT}
            if scenario.role == "anonymous":
                cookie, body = anonymous_login_form(base, accounts["counselor"])
                headers["Cookie"] = cookie
                scenario.body = body
            elif scenario.api and scenario.role:
                headers["Authorization"] = f"Bearer {tokens[scenario.role]}"
            elif scenario.role:
                cookie, token = sessions[scenario.role]
                headers["Cookie"] = cookie
                scenario.body = scenario.body.replace("CSRF", urllib.parse.quote(token))
            if scenario.method == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            if warmup:
                run_wrk(base, scenario, headers, warmup, connections)
            result = run_wrk(base, scenario, headers, seconds, connections)
            log(
                f"{target.name:10} {scenario.name:38} p50 {result.p50_ms:7.1f} ms  "
                f"p95 {result.p95_ms:7.1f} ms  {result.throughput:7.1f} req/s  "
                f"unexpected {result.unexpected}"
                + (f" (e.g. {result.last_bad})" if result.unexpected else "")
            )
            results.append(result)
    return results


# --- the report -----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """Describe the machine the numbers came from."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    os_name = "Linux"
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)  # noqa: S607
    import flask as flask_module
    import gunicorn as gunicorn_module
    import sqlalchemy

    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "OS": f"{os_name}, kernel {platform.release()}",
        "Python": platform.python_version(),
        "Stack": (
            f"Flask {flask_module.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
            f"gunicorn {gunicorn_module.__version__}"
        ),
        "Load tool": (wrk.stdout or wrk.stderr).splitlines()[0]
        if wrk.stdout or wrk.stderr
        else "wrk",
    }


def verdict(result: Result, database: str, ceiling: float) -> str:
    """Say which of the issue's targets a scenario meets."""
    kind = result.scenario.kind
    if kind == "ceiling":
        return "ceiling"
    misses = []
    limit = REPORT_P95_MS if kind == "report" else PAGE_P95_MS[database]
    if result.p95_ms >= limit:
        misses.append(f"p95 ≥ {limit:.0f} ms")
    if ceiling and result.throughput / ceiling < CEILING_SHARE:
        misses.append(f"< {CEILING_SHARE:.0%} of ceiling")
    if result.unexpected or result.server_errors or result.socket_errors:
        misses.append("errors")
    return "met" if not misses else "missed: " + ", ".join(misses)


def render(
    targets: list[Target],
    results: dict[str, list[Result]],
    args: argparse.Namespace,
    started: dt.datetime,
) -> str:
    """Render RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`benchmarks/bench.py`) on {started:%Y-%m-%d %H:%M} UTC.",
        "Do not edit by hand; re-run the benchmark.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in machine().items()]
    lines += [
        "",
        "## Method",
        "",
        f"- Data: `flask generate-data --patients {args.patients} --years {args.years} "
        f"--seed {args.seed}`, then the benchmark's own writes (logins, logged sessions).",
        f"- Server: gunicorn with the shipped `deploy/gunicorn.conf.py` ({args.workers} gthread "
        "workers × 4 threads, access log on, worker recycling off), production settings, on "
        "127.0.0.1 (no nginx, no TLS).",
        f"- Load: wrk, 1 thread, {args.connections} connections kept busy (closed loop), "
        f"{args.warmup} s warm-up then {args.seconds} s measured per row; wrk runs on the "
        "same 2 cores as the server and the database.",
        "- Every response is checked against the status it should have (200, or 302 for a "
        "successful login or saved session): a failed login or a refused form counts in "
        "*unexpected*, not as a fast answer.",
        "- *Ceiling*: the same server's `GET /readyz`, which runs one indexed query (the "
        "migration head, by primary key) through the whole stack (guard, session, headers). "
        "*Share* is a row's throughput divided by that ceiling's.",
        f"- Targets: 95th percentile under {PAGE_P95_MS['postgresql']:.0f} ms on PostgreSQL and "
        f"{PAGE_P95_MS['sqlite']:.0f} ms on SQLite for pages, {REPORT_P95_MS:.0f} ms for "
        f"reports; throughput at least {CEILING_SHARE:.0%} of the ceiling.",
        "",
    ]
    for target in targets:
        rows = results[target.name]
        ceiling = next(
            (r.throughput for r in rows if r.scenario.path == "/readyz"),
            0.0,
        )
        lines += [
            f"## {target.version}",
            "",
            "Rows: " + ", ".join(f"{k} {v:,}" for k, v in target.rows.items()) + ".",
            f"Counselor's caseload: {target.ids['caseload']} active patients.",
            "",
            "| Scenario | p50 (ms) | p95 (ms) | p99 (ms) | req/s | share of ceiling "
            "| unexpected | target |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            share = f"{r.throughput / ceiling:.0%}" if ceiling else "n/a"
            lines.append(
                f"| {r.scenario.name} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} "
                f"| {r.throughput:.1f} | {share} | {r.unexpected + r.socket_errors} "
                f"| {verdict(r, target.name, ceiling)} |"
            )
        lines.append("")
    notes = ROOT / "benchmarks" / "NOTES.md"
    if notes.exists():
        lines += [
            "## Notes",
            "",
            f"Analysis of misses and profiles: `{notes.relative_to(ROOT)}`.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=15, help="measured time per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up time per scenario")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--fresh", action="store_true", help="regenerate even if data exists")
    parser.add_argument(
        "--sqlite-path",
        type=Path,
        default=None,
        help="SQLite file (default benchmarks/out/bench-<patients>-s<seed>.db)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="PostgreSQL database the bench owns (default casemgr_bench_<patients>)",
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    OUT.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    targets = []
    for name in args.databases.split(","):
        if name == "sqlite":
            path = args.sqlite_path or OUT / f"bench-{args.patients}-s{args.seed}.db"
            url = f"sqlite:///{path.resolve()}"
        elif name == "postgresql":
            url = args.pg_url or (
                f"postgresql+psycopg://postgres@127.0.0.1/casemgr_bench_{args.patients}_s{args.seed}"
            )
        else:
            raise SystemExit(f"unknown database {name}")
        targets.append(Target(name, url))
    results: dict[str, list[Result]] = {}
    for target in targets:
        ensure_data(target, args.patients, args.years, args.seed, args.fresh)
        prepare_accounts(target)
        results[target.name] = bench_target(
            target, args.seconds, args.warmup, args.connections, args.workers
        )
        describe(target)
    args.out.write_text(render(targets, results, args, started))
    log(f"wrote {args.out}")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
