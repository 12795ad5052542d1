"""Soak and fault run: counselors log sessions and sign notes through gunicorn; every write counted.

For each scenario a fresh database is migrated and 20 counselors, each with their own admitted
patients, are created through the app's services. gunicorn serves the app (2 workers) and one
client thread per counselor signs in (the browser form and an API token), then loops for a
fixed time: log a session with a DAP note carrying a unique marker, alternately through the
JSON API and through the browser form with its CSRF token, sign the note (or sign at once), and
now and then read the caseload back. The client records every status and every acknowledged
write. Afterwards the database is counted and must match exactly: every acknowledged write
present once, nothing duplicated, nothing written that no request asked for, one audit event
per write, the audit chain intact, and no 5xx (in the fault run: 503 in the API's error shape
only while PostgreSQL is down, then recovery without restarting gunicorn).

Scenarios: ``sqlite`` (a file in a temporary folder), ``postgresql`` (database
``casemgr_soak_load``, recreated, on the server of SOAK_DATABASE_URL or TEST_DATABASE_URL),
``pg-restart`` (a private, throw-away PostgreSQL cluster restarted mid-load, so that nobody
else's database is disturbed; needs root or the postgres account).

Usage: python benchmarks/soak.py [--seconds 120] [--counselors 20]
                                 [--scenarios sqlite,postgresql,pg-restart]
Exit status 0 when every scenario reconciles, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402  (the project root is on the path from here)

SCENARIOS = ("sqlite", "postgresql", "pg-restart")
#: Shared by the generated counselors: long, not common, not containing a username.
PASSWORD = "soak-run-passphrase-2026"  # noqa: S105
PG_BIN = Path(os.environ.get("SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))
MODALITIES = ("cbt", "dbt", "motivational_interviewing", "contingency_management")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
STARTED_RE = re.compile(r'name="started_at" type="datetime-local"\s+value="([^"]*)"')
NOTE_LINK_RE = re.compile(r'href="/notes/(\d+)"')
MARKER_RE = re.compile(r"SOAK-[0-9a-f]+-\d+-\d+")
SIGNED_BADGE = ">Signed</span>"
#: A client pauses this long after a 503 or a dropped connection (a person would wait too).
BACKOFF_SECONDS = 1.0
REQUEST_TIMEOUT = 60.0
LATENCY_LABELS = (
    "session.create.api",
    "session.create.form",
    "note.sign.api",
    "note.sign.form",
    "caseload.api",
    "caseload.page",
)


@dataclass(frozen=True)
class Options:
    """How big and how long one scenario runs."""

    seconds: float = 120.0
    counselors: int = 20
    #: Episodes per counselor: half are written through the API, half through the form.
    episodes_each: int = 4
    workers: int = 2
    #: Threads per gunicorn worker (1: the default sync worker; more: gthread).
    threads: int = 1
    #: pg-restart: when to stop PostgreSQL (fraction of the run) and for how long.
    restart_at: float = 0.4
    outage_seconds: float = 3.0
    stop_mode: str = "fast"
    #: Keep the working folder (gunicorn's logs, the SQLite file) and print where it is.
    keep: bool = False


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caseload:
    """One generated counselor and the (episode id, patient id) pairs on their caseload."""

    index: int
    username: str
    staff_id: int
    api_episodes: tuple[tuple[int, int], ...]
    form_episodes: tuple[tuple[int, int], ...]

    @property
    def episodes(self) -> tuple[tuple[int, int], ...]:
        """Return every episode on the caseload."""
        return self.api_episodes + self.form_episodes


def setup_app(url: str) -> Any:
    """Build an app on a database for setup and counting (it never serves requests)."""
    from casemgr import create_app

    return create_app(
        {
            "CASEMGR_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SQLALCHEMY_DATABASE_URI": url,
            "REQUIRE_ADMIN_MFA": False,
        }
    )


def prepare(url: str, options: Options) -> list[Caseload]:
    """Migrate a fresh database and create counselors and their admitted patients."""
    from flask_migrate import upgrade

    from casemgr.core.timeutil import today
    from casemgr.episodes import services as episode_services
    from casemgr.extensions import db
    from casemgr.patients import services as patient_services
    from casemgr.staff import services as staff_services

    app = setup_app(url)
    # The accounts share one password: hash it once, not per account (argon2 is slow on
    # purpose, and 21 hashes would dominate the setup). Logins still verify it for real.
    hashed = staff_services.hash_password(PASSWORD)
    one_hash = mock.patch.object(staff_services, "hash_password", return_value=hashed)
    with app.app_context(), one_hash:
        upgrade()
        intake = staff_services.create_staff(
            None,
            username="soak.intake",
            full_name="Soak Intake",
            password=PASSWORD,
            roles=["intake"],
        )
        caseloads = []
        for i in range(options.counselors):
            counselor = staff_services.create_staff(
                None,
                username=f"soak.counselor{i:02d}",
                full_name=f"Soak Counselor {i:02d}",
                password=PASSWORD,
                roles=["counselor"],
            )
            pairs = []
            for j in range(options.episodes_each):
                patient = patient_services.create_patient(
                    intake,
                    first_name=f"Soak{i:02d}",
                    last_name=f"Patient{j}",
                    date_of_birth=date(1980, 1, 1) + timedelta(days=37 * i + j),
                    sex="X",
                )
                episode = episode_services.admit(
                    intake,
                    patient,
                    admitted_on=today() - timedelta(days=20),
                    primary_counselor_id=counselor.id,
                    primary_substance=13,
                    referral_source=1,
                    service_setting=5,
                )
                pairs.append((episode.id, patient.id))
            caseloads.append(
                Caseload(
                    i, counselor.username, counselor.id, tuple(pairs[0::2]), tuple(pairs[1::2])
                )
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return caseloads


def recreate_postgres_database(url: str) -> None:
    """Drop and create a soak database (only one whose name says it is a soak database)."""
    try:
        harness.recreate_postgres_database(url, "soak")
    except sa.exc.OperationalError as exc:
        target = sa.engine.make_url(url)
        raise SystemExit(
            f"PostgreSQL at {target.host}:{target.port or 5432} is unreachable; set "
            "SOAK_DATABASE_URL, or run --scenarios sqlite,pg-restart"
        ) from exc


def drop_postgres_database(url: str) -> None:
    """Drop a soak database after its run (only one whose name says it is one)."""
    if "soak" in (sa.engine.make_url(url).database or ""):
        harness.drop_postgres_database(url, "soak")


free_port = harness.free_port


# --- a private PostgreSQL cluster -----------------------------------------------------------


class PrivateCluster:
    """A throw-away PostgreSQL cluster on a free port, so restarting it disturbs nobody."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="casemgr-soak-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.running = False

    @staticmethod
    def unavailable() -> str | None:
        """Say why no private cluster can be made here, or None when one can."""
        if not (PG_BIN / "initdb").exists():
            return f"no PostgreSQL server binaries in {PG_BIN} (set SOAK_PG_BIN)"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser: initdb refuses root"
        return None

    def _command(self, *args: str) -> list[str]:
        """Run a server binary as postgres when we are root (PostgreSQL refuses root)."""
        command = [str(PG_BIN / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _run(self, *args: str) -> None:
        """Run a server command, failing loudly with its output."""
        result = subprocess.run(  # noqa: S603
            self._command(*args), capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        """Create the cluster (trust authentication: it listens on 127.0.0.1 only)."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions, close every connection)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of a database on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs and delete the cluster."""
        if self.running:
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- the app server -----------------------------------------------------------------------


@dataclass
class AppServer:
    """A running gunicorn master and where its logs go."""

    base: str
    process: subprocess.Popen[bytes]
    error_log: Path
    access_log: Path
    env: dict[str, str]
    workers: int


def server_env(url: str) -> dict[str, str]:
    """Return the production settings the app server runs with (see docs/decisions/0009)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RATELIMIT_")}
    env.update(
        {
            "CASEMGR_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
            "DATABASE_URL": url,
            # Plain HTTP on 127.0.0.1 here: a Secure cookie would never be sent back.
            "SESSION_COOKIE_SECURE": "0",
            # All simulated counselors share one client address; the per-address login budget
            # (30 a minute, per worker with memory://) would refuse 40 logins in a few seconds
            # that in a clinic come from 20 machines. The limiter stays on, with a high ceiling.
            "RATELIMIT_ENABLED": "1",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_RATE_LIMIT": "100000 per minute",
            "WTF_CSRF_ENABLED": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@contextlib.contextmanager
def serve(url: str, workdir: Path, workers: int, threads: int = 1) -> Iterator[AppServer]:
    """Run gunicorn on a free port and wait until /healthz answers."""
    port = free_port()
    env = server_env(url)
    error_log, access_log = workdir / "gunicorn.log", workdir / "access.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--no-control-socket",
        # The app's own log lines (errors by type, "database unavailable") go to stderr.
        "--capture-output",
        "--bind",
        f"127.0.0.1:{port}",
        "--error-logfile",
        str(error_log),
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(m)s %(U)s %(s)s",
        *(["--threads", str(threads)] if threads > 1 else []),
        "wsgi:app",
    ]
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = AppServer(f"http://127.0.0.1:{port}", process, error_log, access_log, env, workers)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = error_log.read_text() if error_log.exists() else ""
                raise RuntimeError(f"gunicorn did not start:\n{tail[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(port: int) -> bool:
    """Tell whether /healthz answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# --- the client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it."""

    counselor: int
    label: str
    status: int  #: 0: no HTTP answer (connection refused, reset, timed out)
    ok: bool  #: the status this request expects
    api: bool
    t0: float
    t1: float
    shape_ok: bool | None = None  #: for a 503: in the API's error shape (or the 503 page)
    error: str | None = None


@dataclass
class Write:
    """One session-with-note write, found again in the database by its marker."""

    marker: str
    via: str  #: "api" or "form"
    sign_at_once: bool
    #: The write request's status (0: no answer); None while it was never sent (the form
    #: page before it failed).
    status: int | None = None
    acked: bool = False
    session_id: int | None = None
    note_id: int | None = None
    #: None: no sign attempted; True: a sign was acknowledged; False: attempted, unanswered.
    sign_acked: bool | None = None


@dataclass
class Ledger:
    """What one counselor's client did: every request, every write, every surprise."""

    sent: list[Sent] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reads_checked: int = 0


@dataclass
class Reply:
    """An HTTP answer (status 0: none)."""

    status: int
    headers: dict[str, str]
    body: str
    cookies: list[str]

    @property
    def location(self) -> str:
        """Return the path of a redirect's Location."""
        return urlsplit(self.headers.get("location", "")).path


def well_formed_503(reply: Reply, api: bool) -> bool:
    """Tell whether a 503 is the clean answer: the API's error shape, or the HTML 503 page."""
    if "retry-after" not in reply.headers:
        return False
    if api:
        try:
            error = json.loads(reply.body)["error"]
        except (ValueError, KeyError, TypeError):
            return False
        return (
            error.get("status") == 503
            and error.get("code") == "unavailable"
            and isinstance(error.get("message"), str)
            and error.get("fields") == {}
        )
    content_type = reply.headers.get("content-type", "")
    return content_type.startswith("text/html") and "temporarily unavailable" in reply.body


class Client:
    """A counselor's browser and API client: cookies, CSRF tokens, a bearer token."""

    def __init__(self, base: str, caseload: Caseload, ledger: Ledger) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = base
        self.caseload = caseload
        self.ledger = ledger
        self.cookies: dict[str, str] = {}
        self.token: str | None = None

    def send(
        self,
        label: str,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        form: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        api: bool = False,
        referer: str | None = None,
    ) -> Reply:
        """Send one request, record it, and return the answer."""
        headers = {"Accept": "application/json" if api else "text/html"}
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if api and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if not api and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if referer:
            headers["Referer"] = self.base + referer
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        error = None
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            reply = Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read().decode("utf-8", "replace"),
                response.headers.get_all("Set-Cookie") or [],
            )
        except (OSError, http.client.HTTPException) as exc:
            reply, error = Reply(0, {}, "", []), type(exc).__name__
        finally:
            conn.close()
        t1 = time.monotonic()
        for raw in reply.cookies:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        shape = well_formed_503(reply, api) if reply.status == 503 else None
        self.ledger.sent.append(
            Sent(
                self.caseload.index,
                label,
                reply.status,
                reply.status in expect,
                api,
                t0,
                t1,
                shape,
                error,
            )
        )
        return reply

    # --- steps -----------------------------------------------------------------------------

    def sign_in(self) -> bool:
        """Sign in through the login form and obtain an API token through the API."""
        page = self.send("login.page", "GET", "/login", expect=(200,))
        match = CSRF_RE.search(page.body)
        if not match:
            self.ledger.problems.append(f"counselor {self.caseload.index}: no login form")
            return False
        form = {"username": self.caseload.username, "password": PASSWORD, "csrf_token": match[1]}
        done = self.send("login.submit", "POST", "/login", expect=(302,), form=form)
        if done.status != 302 or done.location.startswith("/login"):
            self.ledger.problems.append(f"counselor {self.caseload.index}: login refused")
            return False
        creds = {"username": self.caseload.username, "password": PASSWORD}
        issued = self.send(
            "token.create", "POST", "/api/v1/auth/tokens", expect=(201,), payload=creds, api=True
        )
        if issued.status != 201:
            self.ledger.problems.append(f"counselor {self.caseload.index}: no API token")
            return False
        self.token = json.loads(issued.body)["token"]
        return True

    def api_cycle(self, write: Write, episode_id: int) -> Reply:
        """Log a session with its note through the JSON API, then sign the note."""
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        payload = {
            "kind": "individual",
            "modality": MODALITIES[len(self.ledger.writes) % len(MODALITIES)],
            "started_at": started.isoformat(),
            "duration_minutes": 50,
            "attendance": "attended",
            "note": {"format": "DAP", "body": note_body(write.marker)},
            "sign": write.sign_at_once,
        }
        path = f"/api/v1/episodes/{episode_id}/sessions"
        reply = self.send(
            "session.create.api", "POST", path, expect=(201,), payload=payload, api=True
        )
        write.status = reply.status
        if reply.status != 201:
            if write.sign_at_once:
                write.sign_acked = False
            return reply
        data = json.loads(reply.body)
        write.acked, write.session_id, write.note_id = True, data["id"], data["note_id"]
        if write.sign_at_once:
            write.sign_acked = True
            return reply
        signed = self.send(
            "note.sign.api", "POST", f"/api/v1/notes/{write.note_id}/sign", expect=(200,), api=True
        )
        write.sign_acked = (
            signed.status == 200 and json.loads(signed.body).get("status") == "signed"
        )
        return signed

    def form_cycle(self, write: Write, episode_id: int, patient_id: int) -> Reply:
        """Log a session through the browser form, find the note on the chart, sign it there."""
        form_path = f"/episodes/{episode_id}/sessions/new"
        page = self.send("session.form", "GET", form_path, expect=(200,))
        csrf, started = CSRF_RE.search(page.body), STARTED_RE.search(page.body)
        if page.status != 200:
            return page
        if not (csrf and started):
            self.ledger.problems.append(f"{write.marker}: session form without CSRF or start")
            return page
        body = note_body(write.marker)
        form = {
            "csrf_token": csrf[1],
            "kind": "individual",
            "modality": MODALITIES[len(self.ledger.writes) % len(MODALITIES)],
            "started_at": started[1],
            "duration_minutes": "50",
            "attendance": "attended",
            "format": "DAP",
            **{f"DAP-{name}": text for name, text in body.items()},
            "action": "sign" if write.sign_at_once else "draft",
        }
        saved = self.send(
            "session.create.form", "POST", form_path, expect=(302,), form=form, referer=form_path
        )
        write.status = saved.status
        if saved.status != 302 or saved.location != f"/patients/{patient_id}":
            if write.sign_at_once:
                write.sign_acked = False
            return saved
        write.acked = True
        if write.sign_at_once:
            write.sign_acked = True
        # Follow the redirect as a browser does; the newest note on the timeline is this one.
        chart = self.send("chart", "GET", saved.location, expect=(200,))
        timeline = chart.body.partition('id="timeline"')[2]
        link = NOTE_LINK_RE.search(timeline)
        if chart.status != 200:
            return chart
        if not link:
            self.ledger.problems.append(f"{write.marker}: the chart shows no note")
            return chart
        note_id = int(link[1])
        note = self.send("note.view", "GET", f"/notes/{note_id}", expect=(200,))
        if note.status != 200:
            return note
        if write.marker not in note.body:
            self.ledger.problems.append(f"{write.marker}: newest note {note_id} is another one")
            return note
        write.note_id = note_id
        self.ledger.reads_checked += 1
        if write.sign_at_once:
            if SIGNED_BADGE not in note.body:
                self.ledger.problems.append(f"{write.marker}: saved and signed, shown unsigned")
            return note
        sign_form = CSRF_RE.search(note.body)
        if not sign_form:
            self.ledger.problems.append(f"{write.marker}: no sign button on a draft")
            return note
        path = f"/notes/{note_id}/sign"
        signed = self.send(
            "note.sign.form",
            "POST",
            path,
            expect=(302,),
            form={"csrf_token": sign_form[1]},
            referer=f"/notes/{note_id}",
        )
        write.sign_acked = signed.status == 302 and signed.location == f"/notes/{note_id}"
        if not write.sign_acked:
            return signed
        shown = self.send("note.view", "GET", f"/notes/{note_id}", expect=(200,))
        if shown.status == 200:
            self.ledger.reads_checked += 1
            if SIGNED_BADGE not in shown.body:
                self.ledger.problems.append(f"{write.marker}: signed, shown unsigned")
        return shown

    def read_caseload(self, api: bool) -> Reply:
        """Read the caseload back (page or API) and check every patient of ours is on it."""
        if api:
            query = urlencode(
                {"counselor_id": self.caseload.staff_id, "status": "active", "per_page": 200}
            )
            reply = self.send(
                "caseload.api", "GET", f"/api/v1/episodes?{query}", expect=(200,), api=True
            )
            if reply.status == 200:
                found = {item["id"] for item in json.loads(reply.body)["items"]}
                self._check_read(found == {e for e, _ in self.caseload.episodes}, "API caseload")
            return reply
        reply = self.send("caseload.page", "GET", "/caseload", expect=(200,))
        if reply.status == 200:
            shown = all(f'href="/patients/{p}"' in reply.body for _, p in self.caseload.episodes)
            self._check_read(shown, "caseload page")
        return reply

    def _check_read(self, ok: bool, what: str) -> None:
        """Count a read-back, or note that it did not show what it should."""
        self.ledger.reads_checked += 1
        if not ok:
            self.ledger.problems.append(f"counselor {self.caseload.index}: {what} incomplete")


def note_body(marker: str) -> dict[str, str]:
    """Return a DAP note whose data field carries the write's marker."""
    return {
        "data": f"{marker} Client attended and reviewed the week; cravings reported as lower.",
        "assessment": "Engaged; motivation steady.",
        "plan": "Continue weekly sessions; practise the coping plan.",
    }


def counselor_loop(
    base: str,
    caseload: Caseload,
    run_tag: str,
    start: threading.Barrier,
    stop_at: list[float],
    ledger: Ledger,
) -> None:
    """Sign in, wait for the others, then log, sign and read until the time is up."""
    client = Client(base, caseload, ledger)
    signed_in = False
    try:
        signed_in = client.sign_in()
    except (ValueError, KeyError, TypeError) as exc:  # an answer we could not read
        ledger.problems.append(f"counselor {caseload.index}: sign-in ({type(exc).__name__})")
    finally:
        start.wait()
    seq = 0
    while signed_in and time.monotonic() < stop_at[0]:
        seq += 1
        use_api = seq % 2 == 1
        episodes = caseload.api_episodes if use_api else caseload.form_episodes
        episode_id, patient_id = episodes[(seq // 2) % len(episodes)]
        write = Write(
            marker=f"SOAK-{run_tag}-{caseload.index}-{seq}",
            via="api" if use_api else "form",
            sign_at_once=(seq // 2) % 4 == 0,
        )
        ledger.writes.append(write)
        try:
            if use_api:
                last = client.api_cycle(write, episode_id)
            else:
                last = client.form_cycle(write, episode_id, patient_id)
            if last.status not in (0, 503) and seq % 6 == 0:
                last = client.read_caseload(api=seq % 12 == 0)
        except (ValueError, KeyError, TypeError) as exc:  # an answer we could not read
            ledger.problems.append(f"{write.marker}: unreadable answer ({type(exc).__name__})")
            continue
        if last.status in (0, 503):
            time.sleep(BACKOFF_SECONDS)


# --- the fault ----------------------------------------------------------------------------


@dataclass
class Outage:
    """When PostgreSQL was stopped and started again (monotonic seconds)."""

    stop_called: float = 0.0
    stopped: float = 0.0
    start_called: float = 0.0
    started: float = 0.0
    error: str | None = None


def restart_midway(cluster: PrivateCluster, at: float, *, options: Options, outage: Outage) -> None:
    """Stop PostgreSQL at a moment of the run, keep it down a few seconds, start it again."""
    time.sleep(max(at - time.monotonic(), 0))
    try:
        outage.stop_called = time.monotonic()
        cluster.stop(options.stop_mode)
        outage.stopped = time.monotonic()
        time.sleep(options.outage_seconds)
        outage.start_called = time.monotonic()
        cluster.start()
        outage.started = time.monotonic()
    except RuntimeError as exc:
        outage.error = str(exc)


# --- counting -----------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the summary: a count, what it must be, whether it is."""

    name: str
    value: Any
    expected: str
    ok: bool


@dataclass
class Summary:
    """A scenario's outcome: the checks and some figures."""

    scenario: str
    #: When the load started and ended (monotonic seconds).
    window: tuple[float, float] = (0.0, 0.0)
    checks: list[Check] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every check passed."""
        return all(c.ok for c in self.checks)

    def add(self, name: str, value: Any, expected: str, ok: bool) -> None:
        """Add a check."""
        self.checks.append(Check(name, value, expected, bool(ok)))

    def equal(self, name: str, value: Any, expected: Any) -> None:
        """Add a check that a count equals what it must."""
        self.add(name, value, f"= {expected}", value == expected)

    def table(self) -> str:
        """Render the summary as a plain-text table."""
        width = max([len(c.name) for c in self.checks] + [len(k) for k, _ in self.figures] + [10])
        lines = [f"== {self.scenario}: {'RECONCILED' if self.ok else 'FAILED'} =="]
        lines += [f"  {name:<{width}}  {value}" for name, value in self.figures]
        lines.append(f"  {'check':<{width}}  {'value':>9}  {'must be':<12} ok")
        for c in self.checks:
            lines.append(
                f"  {c.name:<{width}}  {c.value!s:>9}  {c.expected:<12} {'yes' if c.ok else 'NO'}"
            )
        return "\n".join(lines)


@dataclass
class Found:
    """What the database holds for the soak's episodes."""

    notes: list[tuple[int, int | None, str, str]]  #: (note id, session id, status, marker)
    sessions: set[int]
    audit: Counter[tuple[str, int]]  #: (action, object id) -> events
    chain_ok: bool
    chain_checked: int
    chain_line: str


def count_database(url: str, episode_ids: list[int]) -> Found:
    """Read back the soak's notes, sessions and audit events, and verify the audit chain."""
    from casemgr.audit.models import AuditEvent
    from casemgr.extensions import db
    from casemgr.therapy.models import Note, TherapySession

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(Note.id, Note.session_id, Note.status, Note.body).where(
                    Note.episode_id.in_(episode_ids)
                )
            ).all()
            notes = []
            for note_id, session_id, status, body in rows:
                match = MARKER_RE.search((body or {}).get("data", ""))
                notes.append((note_id, session_id, status, match[0] if match else ""))
            sessions = set(
                conn.execute(
                    sa.select(TherapySession.id).where(TherapySession.episode_id.in_(episode_ids))
                ).scalars()
            )
            audit_rows = conn.execute(
                sa.select(AuditEvent.action, AuditEvent.object_id, sa.func.count())
                .where(AuditEvent.action.in_(["session.create", "note.create", "note.sign"]))
                .group_by(AuditEvent.action, AuditEvent.object_id)
            ).all()
    finally:
        engine.dispose()
    audit: Counter[tuple[str, int]] = Counter({(a, o): n for a, o, n in audit_rows})
    # The operator's command (`flask audit verify`), run through the app's own CLI.
    app = setup_app(url)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    with app.app_context():
        db.engine.dispose()
    line = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    checked = re.search(r"intact: (\d+) events", line)
    return Found(
        notes, sessions, audit, result.exit_code == 0, int(checked[1]) if checked else 0, line
    )


def percentile(values: list[float], share: float) -> float:
    """Return a percentile of a list (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _figures(summary: Summary, sent: list[Sent], writes: list[Write], options: Options) -> None:
    """Add the run's size, statuses and latencies (figures, not checks)."""
    begin, end = summary.window
    statuses = Counter(s.status for s in sent)
    seconds = max(end - begin, 1e-9)
    workers = f"{options.workers} gunicorn workers"
    if options.threads > 1:
        workers += f" x {options.threads} threads"
    via = Counter(w.via for w in writes if w.status is not None)
    unsent = sum(1 for w in writes if w.status is None)
    summary.figures += [
        ("duration", f"{end - begin:.1f} s, {options.counselors} counselors, {workers}"),
        ("requests", f"{len(sent)} ({sum(s.t0 >= begin for s in sent) / seconds:.1f}/s)"),
        ("statuses", " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))),
        (
            "writes sent",
            f"{via.total()} (api {via['api']}, form {via['form']}); "
            f"{unsent} not sent (their form page unanswered)",
        ),
    ]
    for label in LATENCY_LABELS:
        times = [s.t1 - s.t0 for s in sent if s.label == label and s.ok]
        if times:
            summary.figures.append(
                (
                    f"latency {label}",
                    f"n={len(times)} median {statistics.median(times) * 1000:.0f} ms, "
                    f"p95 {percentile(times, 0.95) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
                )
            )


def _ids_differ(write: Write, stored: tuple[int, int | None]) -> bool:
    """Tell whether the ids a write was acknowledged with differ from the stored ones."""
    note_id, session_id = stored
    return (write.note_id is not None and write.note_id != note_id) or (
        write.session_id is not None and write.session_id != session_id
    )


def _check_writes(summary: Summary, writes: list[Write], found: Found) -> None:
    """Every acknowledged write is there once; nothing is there that no request asked for.

    A write whose request went unanswered (a 503, a dropped connection) may have committed
    before the failure: it may be there or not, and is counted apart.
    """
    acked = {w.marker: w for w in writes if w.acked}
    unanswered = {w.marker for w in writes if not w.acked and w.status in (0, 503)}
    by_marker = Counter(marker for _, _, _, marker in found.notes)
    in_db = set(by_marker) - {""}
    ids = {marker: (note_id, session_id) for note_id, session_id, _, marker in found.notes}
    summary.add("sessions+notes acknowledged", len(acked), "> 0", len(acked) > 0)
    summary.equal("acknowledged, found in database", len(set(acked) & in_db), len(acked))
    summary.equal("acknowledged, missing (lost)", len(set(acked) - in_db), 0)
    summary.equal("duplicated (marker twice)", sum(n - 1 for m, n in by_marker.items() if m), 0)
    summary.equal("notes without a marker", by_marker.get("", 0), 0)
    summary.equal("in database, never requested", len(in_db - set(acked) - unanswered), 0)
    wrong = [w for w in acked.values() if w.marker in ids and _ids_differ(w, ids[w.marker])]
    summary.equal("acknowledged ids not matching", len(wrong), 0)
    summary.equal("sessions in database = notes", len(found.sessions), len(found.notes))
    loose = sum(1 for _, session, _, _ in found.notes if session not in found.sessions)
    summary.equal("notes not tied to a soak session", loose, 0)
    committed = len(unanswered & in_db)
    summary.figures.append(
        (
            "unanswered writes",
            f"{len(unanswered)}: {committed} committed, {len(unanswered) - committed} not",
        )
    )


def _check_signs(summary: Summary, writes: list[Write], found: Found) -> None:
    """Every acknowledged signature holds; no note is signed that no request asked to sign."""
    status_of = {marker: status for _, _, status, marker in found.notes}
    signed = {marker for marker, status in status_of.items() if status == "signed"}
    acked = {w.marker for w in writes if w.sign_acked}
    attempted = {w.marker for w in writes if w.sign_acked is not None}
    unanswered = attempted - acked
    summary.add("signs acknowledged", len(acked), "> 0", len(acked) > 0)
    summary.equal("acknowledged signs, note signed", len(acked & signed), len(acked))
    summary.equal("acknowledged signs, not signed (lost)", len(acked - signed), 0)
    summary.equal("signed in database, never requested", len(signed - attempted), 0)
    committed = len(unanswered & signed)
    summary.figures += [
        (
            "unanswered signs",
            f"{len(unanswered)}: {committed} committed, {len(unanswered) - committed} not",
        ),
        ("drafts left", f"{len(set(status_of) - signed)} (sign unanswered, or not reached)"),
    ]


def _check_audit(summary: Summary, found: Found) -> None:
    """One audit event per session created, note created and note signed; the chain holds."""
    notes = {note_id for note_id, _, _, _ in found.notes}
    signed = {note_id for note_id, _, status, _ in found.notes if status == "signed"}
    for action, objects in (
        ("session.create", found.sessions),
        ("note.create", notes),
        ("note.sign", signed),
    ):
        events = {o: n for (a, o), n in found.audit.items() if a == action and o in objects}
        summary.equal(f"audit {action} events = rows", sum(events.values()), len(objects))
        summary.equal(f"audit {action}: rows without one", len(objects - set(events)), 0)
    summary.add("audit chain verifies", found.chain_checked, "intact", found.chain_ok)
    summary.figures.append(("flask audit verify", found.chain_line))


def _check_statuses(summary: Summary, ledgers: list[Ledger], server: AppServer) -> None:
    """No 5xx but a clean 503; the server's access log tells the same story as the clients."""
    sent = [s for ledger in ledgers for s in ledger.sent]
    problems = [p for ledger in ledgers for p in ledger.problems]
    unavailable = [s for s in sent if s.status == 503]
    summary.equal(
        "5xx other than 503", sum(1 for s in sent if s.status >= 500 and s.status != 503), 0
    )
    summary.equal("503 not in the error shape", sum(1 for s in unavailable if not s.shape_ok), 0)
    summary.equal("no answer (refused, reset, timed out)", sum(1 for s in sent if not s.status), 0)
    unexpected = [s for s in sent if not s.ok and 0 < s.status < 500]
    summary.equal("unexpected 2xx/3xx/4xx", len(unexpected), 0)
    summary.equal("client read-back problems", len(problems), 0)
    summary.figures += [(s.label, f"answered {s.status}") for s in unexpected[:5]]
    summary.figures += [("problem", p) for p in problems[:5]]
    summary.figures.append(("read-backs checked", str(sum(x.reads_checked for x in ledgers))))
    served: Counter[int] = Counter()
    for line in server.access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "/healthz":
            served[int(parts[2])] += 1
    answered = Counter(s.status for s in sent if s.status)
    summary.add(
        "access log = client, status by status",
        sum(served.values()),
        f"= {sum(answered.values())}",
        served == answered,
    )
    log = server.error_log.read_text()
    summary.equal("server log: unhandled errors", log.count("unhandled "), 0)
    summary.equal("server log: tracebacks", log.count("Traceback"), 0)
    summary.equal(
        "server log: 'database unavailable'", log.count("database unavailable"), len(unavailable)
    )
    summary.equal("gunicorn workers booted", log.count("Booting worker"), server.workers)


def _check_outage(summary: Summary, sent: list[Sent], outage: Outage, counselors: int) -> None:
    """503 while PostgreSQL is down, none once it is back; everyone writes again after."""
    begin = summary.window[0]
    unavailable = [s for s in sent if s.status == 503]
    down = [s for s in sent if s.t0 >= outage.stopped and s.t1 <= outage.start_called]
    summary.figures.append(
        (
            "outage",
            f"stop called at +{outage.stop_called - begin:.1f} s; down "
            f"+{outage.stopped - begin:.1f} to +{outage.start_called - begin:.1f} s; "
            f"accepting again at +{outage.started - begin:.1f} s",
        )
    )
    summary.add("restart done", outage.error or "yes", "yes", outage.error is None)
    summary.add("503 answers", len(unavailable), "> 0", len(unavailable) > 0)
    summary.equal("requests while down answered 503", sum(s.status == 503 for s in down), len(down))
    summary.equal(
        "503 to requests sent after restart", sum(s.t0 > outage.started for s in unavailable), 0
    )
    after = [s for s in sent if s.t0 > outage.started and s.ok]
    first = min((s.t1 for s in after), default=None)
    summary.add(
        "first success after restart",
        f"{first - outage.started:.2f} s" if first else "never",
        "exists",
        first is not None,
    )
    writers = {s.counselor for s in after if s.label.startswith(("session.create", "note.sign"))}
    summary.equal("counselors writing after restart", len(writers), counselors)
    creates = sum(1 for s in after if s.label.startswith("session.create"))
    summary.figures.append(("writes acknowledged after restart", str(creates)))


def reconcile(
    scenario: str,
    ledgers: list[Ledger],
    found: Found,
    server: AppServer,
    options: Options,
    window: tuple[float, float],
    outage: Outage | None,
) -> Summary:
    """Compare what the clients were told with what the database holds, exactly."""
    summary = Summary(scenario, window)
    sent = [s for ledger in ledgers for s in ledger.sent]
    writes = [w for ledger in ledgers for w in ledger.writes]
    _figures(summary, sent, writes, options)
    _check_writes(summary, writes, found)
    _check_signs(summary, writes, found)
    _check_audit(summary, found)
    _check_statuses(summary, ledgers, server)
    if outage is None:
        summary.equal("503 answers", sum(s.status == 503 for s in sent), 0)
        summary.equal("writes not acknowledged", sum(not w.acked for w in writes), 0)
    else:
        _check_outage(summary, sent, outage, options.counselors)
    return summary


# --- one scenario -------------------------------------------------------------------------


def run_load(
    base: str,
    caseloads: list[Caseload],
    options: Options,
    restart: Callable[[float], None] | None = None,
) -> tuple[list[Ledger], tuple[float, float]]:
    """Sign every counselor in, then run one client thread each for the configured time."""
    run_tag = secrets.token_hex(3)
    ledgers = [Ledger() for _ in caseloads]
    stop_at = [float("inf")]
    window = [0.0]

    def go() -> None:
        window[0] = time.monotonic()
        stop_at[0] = window[0] + options.seconds
        if restart is not None:
            threading.Thread(
                target=restart,
                args=(window[0] + options.restart_at * options.seconds,),
                daemon=True,
            ).start()

    start = threading.Barrier(len(caseloads) + 1, action=go)
    threads = [
        threading.Thread(
            target=counselor_loop, args=(base, c, run_tag, start, stop_at, ledger), daemon=True
        )
        for c, ledger in zip(caseloads, ledgers, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    return ledgers, (window[0], time.monotonic())


def run_scenario(scenario: str, options: Options, pg_url: str | None = None) -> Summary:
    """Prepare a fresh database, serve it, load it, count it; return the summary."""
    workdir = Path(tempfile.mkdtemp(prefix=f"casemgr-soak-{scenario}-"))
    cluster: PrivateCluster | None = None
    try:
        if scenario == "sqlite":
            url = f"sqlite:///{workdir / 'soak.db'}"
        elif scenario == "postgresql":
            if not pg_url:
                raise SystemExit("postgresql scenario: no database URL")
            url = pg_url
            recreate_postgres_database(url)
        else:
            reason = PrivateCluster.unavailable()
            if reason:
                raise SystemExit(f"pg-restart scenario: {reason}")
            cluster = PrivateCluster()
            cluster.init()
            url = cluster.create_database("casemgr_soak_fault")
        clock = [time.monotonic()]

        def lap() -> str:
            clock.append(time.monotonic())
            return f"{clock[-1] - clock[-2]:.1f} s"

        caseloads = prepare(url, options)
        phases = [f"database and data {lap()}"]
        outage = Outage() if cluster else None
        restart = None
        if cluster is not None and outage is not None:
            restart = functools.partial(restart_midway, cluster, options=options, outage=outage)
        with serve(url, workdir, options.workers, options.threads) as server:
            phases.append(f"gunicorn up {lap()}")
            ledgers, window = run_load(server.base, caseloads, options, restart)
            phases.append(f"sign-ins {window[0] - clock[-1]:.1f} s")
            lap()
        episode_ids = [e for c in caseloads for e, _ in c.episodes]
        found = count_database(url, episode_ids)
        phases.append(f"counting {lap()}")
        summary = reconcile(scenario, ledgers, found, server, options, window, outage)
        summary.figures.insert(0, ("set-up and counting", ", ".join(phases)))
        if scenario == "postgresql":
            drop_postgres_database(url)
        return summary
    finally:
        if cluster is not None:
            cluster.destroy()
        if options.keep:
            print(f"{scenario}: logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def default_pg_url() -> str:
    """Return casemgr_soak_load on the server of SOAK_DATABASE_URL or TEST_DATABASE_URL."""
    explicit = os.environ.get("SOAK_DATABASE_URL")
    if explicit:
        return explicit
    server = os.environ.get(
        "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/casemgr_test"
    )
    return (
        sa.engine.make_url(server)
        .set(database="casemgr_soak_load")
        .render_as_string(hide_password=False)
    )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios one after another and print each summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="load time per scenario")
    parser.add_argument("--counselors", type=int, default=20)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--pg-url", default=None, help="database for the postgresql scenario")
    parser.add_argument("--stop-mode", default="fast", choices=["fast", "immediate"])
    parser.add_argument("--keep", action="store_true", help="keep logs and the SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    args = parser.parse_args(argv)
    options = Options(
        seconds=args.seconds,
        counselors=args.counselors,
        workers=args.workers,
        threads=args.threads,
        stop_mode=args.stop_mode,
        keep=args.keep,
    )
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in chosen:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    failed = False
    for name in chosen:
        summary = run_scenario(name, options, args.pg_url or default_pg_url())
        print(summary.table(), flush=True)
        failed = failed or not summary.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
