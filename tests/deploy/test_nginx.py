"""The shipped deployment, running: nginx (TLS) in front of two gunicorn instances.

Two gunicorn instances start with the systemd unit's command line and the example env file
(production settings) on one migrated PostgreSQL database and Redis; nginx runs the shipped
site file (tests/deploy/stack.py says exactly what is substituted). Each client request goes
out from its own loopback address (127.x.y.z), so the address the app records can be told
from nginx's (127.0.0.1). Which instance answered a request is read from the gunicorn access
logs, which carry nginx's request id. Needs nginx, openssl, Redis and PostgreSQL
(TEST_DATABASE_URL); skipped with the reason otherwise. The run's evidence is written to
test-artifacts/nginx.txt.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import flask_bootstrap
import pytest
import sqlalchemy as sa

from tests.deploy.stack import (
    ENV_EXAMPLE,
    MIME_TYPES,
    ROOT,
    SITE_NAME,
    Browser,
    Process,
    Reply,
    csrf_token,
    find_nginx,
    free_ports,
    main_conf,
    make_certificate,
    read_env_file,
    render_site,
    start,
    stop_all,
    unit_command,
    unit_environment,
    wait_for_health,
    wait_for_port,
)

NGINX = find_nginx()
if NGINX is None:
    pytest.skip("nginx is not installed (Debian: apt-get install nginx)", allow_module_level=True)
if not MIME_TYPES.exists():
    pytest.skip(f"{MIME_TYPES} is missing (Debian's nginx-common)", allow_module_level=True)
if shutil.which("openssl") is None:
    pytest.skip("openssl is not installed (the test makes a certificate)", allow_module_level=True)
if not os.environ.get("TEST_DATABASE_URL"):
    pytest.skip("the app servers share PostgreSQL: set TEST_DATABASE_URL", allow_module_level=True)

import redis  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from tests.conftest import TEST_SECRET, ensure_database, make_app  # noqa: E402

#: A database of its own (Redis too): the app servers commit for real.
REDIS_URL = os.environ.get("CASEMGR_NGINX_TEST_REDIS_URL", "redis://127.0.0.1:6379/10")
LOGIN_LIMIT = 3
USERNAME = "deploy.counselor"
FULL_NAME = "Deploy Test Counselor"
PASSWORD = "Proxy-check-pass-2026"  # noqa: S105
SPOOFED = "198.51.100.23"
ARTIFACT = ROOT / "test-artifacts" / "nginx.txt"
BOOTSTRAP_PACKAGE = Path(flask_bootstrap.__file__).resolve().parent


@dataclass
class Stack:
    """The running deployment and what the test learns from it."""

    https_port: int
    http_port: int
    app_ports: list[int]
    gunicorns: list[Process]
    logs: Path
    context: ssl.SSLContext
    evidence: list[str] = field(default_factory=list)
    _next_host: int = 0
    _net: tuple[int, int] = field(
        default_factory=lambda: (random.randint(1, 254), random.randrange(256))
    )

    def address(self) -> str:
        """Return a fresh client address: its own rate-limit budget and session identity."""
        self._next_host += 1
        return f"127.{self._net[0]}.{self._net[1]}.{self._next_host}"

    def browser(self, source: str | None = None) -> Browser:
        """Open a client from a fresh (or the given) loopback address."""
        return Browser(self.https_port, self.context, source or self.address())

    def served_by(self, reply: Reply) -> str:
        """Name the gunicorn instance whose access log has this request's id."""
        assert reply.request_id, f"no X-Request-ID on a {reply.status} reply"
        deadline = time.monotonic() + 5
        while True:  # gunicorn writes the line just after the response
            found = [
                g.name for g in self.gunicorns if f" {reply.request_id} " in g.stdout.read_text()
            ]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, f"request {reply.request_id} in the logs of {found}"
                return found[0]
            time.sleep(0.02)

    def logged_by_gunicorn(self, request_id: str) -> bool:
        """Tell whether any app server logged a request id (i.e. the request reached one)."""
        return any(f" {request_id} " in g.stdout.read_text() for g in self.gunicorns)

    def upstreams_tried(self, request_id: str) -> list[str]:
        """The app servers nginx tried for a request, in order (its access log's upstream=)."""
        deadline = time.monotonic() + 5
        while True:  # nginx writes the line once the response is sent, after the client has it
            for line in (self.logs / "casemgr.access.log").read_text().splitlines():
                if line.endswith(f" id={request_id}"):
                    tried = line.split(" upstream=", 1)[1].split(" upstream_status=", 1)[0]
                    return tried.split(", ")
            if time.monotonic() > deadline:
                raise AssertionError(f"request {request_id} is not in nginx's access log")
            time.sleep(0.02)

    def note(self, line: str) -> None:
        """Keep a line of evidence for test-artifacts/nginx.txt."""
        self.evidence.append(line)


@pytest.fixture
def database() -> str:
    """A PostgreSQL database of its own beside TEST_DATABASE_URL's, emptied for this run.

    Created on first use and kept (like the per-worker test databases); emptying its schema
    is much cheaper than dropping and creating a database.
    """
    base = sa.engine.make_url(os.environ["TEST_DATABASE_URL"])
    url = ensure_database(base.set(database="postgres"), f"{base.database}_nginx")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


def migrate_and_seed(url: str) -> None:
    """Migrate the database (the deploy's `flask db upgrade`) and add one counselor."""
    from casemgr.extensions import db
    from casemgr.staff import services

    app = make_app(url)
    with app.app_context():
        upgrade()
        services.create_staff(
            None, username=USERNAME, full_name=FULL_NAME, password=PASSWORD, roles=["counselor"]
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def redis_url() -> str:
    """The Redis database for the rate-limit counters; skip when Redis does not answer."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1) as client:
            client.ping()
    except redis.RedisError as err:
        pytest.skip(f"Redis is not answering at {REDIS_URL}: {err}")
    return REDIS_URL


@pytest.fixture
def stack(redis_url: str, database: str, tmp_path: Path) -> Iterator[Stack]:
    """Start both app servers and nginx on the migrated database; stop them whatever happens."""
    began = time.monotonic()
    logs = tmp_path / "logs"
    logs.mkdir()
    *app_ports, http_port, https_port = free_ports(4)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        **unit_environment(),
        **read_env_file(ENV_EXAMPLE),
        # What an operator fills in, plus a small login budget to reach quickly.
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database,
        "RATELIMIT_STORAGE_URI": redis_url,
        "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    assert env["CASEMGR_ENV"] == "production"
    cert, key = make_certificate(tmp_path)
    site = tmp_path / "casemgr.conf"
    site.write_text(
        render_site(
            (ROOT / "deploy" / "nginx" / "casemgr.conf").read_text(),
            http_port=http_port,
            https_port=https_port,
            app_ports=(app_ports[0], app_ports[1]),
            cert=cert,
            key=key,
            logs=logs,
            site_packages=BOOTSTRAP_PACKAGE.parent,
        )
    )
    main = tmp_path / "nginx.conf"
    main.write_text(main_conf(site, tmp_path, logs))
    nginx_args = [
        str(NGINX),
        *("-p", f"{tmp_path}/", "-c", str(main)),
        *("-g", f"daemon off; pid {tmp_path}/nginx.pid; error_log {logs}/error.log;"),
    ]
    processes: list[Process] = []
    stack: Stack | None = None
    try:
        for number, port in enumerate(app_ports, start=1):
            processes.append(start(f"gunicorn-{number}", unit_command(port), env, logs))
        processes.append(start("nginx", nginx_args, {"PATH": env["PATH"]}, logs))
        migrate_and_seed(database)  # while the app servers boot
        wait_for_health(processes[:2], app_ports)
        wait_for_port(processes[2], https_port)
        context = ssl.create_default_context(cafile=str(cert))
        stack = Stack(https_port, http_port, app_ports, processes[:2], logs, context)
        stack.note(f"stack up in {time.monotonic() - began:.1f} s (two gunicorn instances, nginx)")
        yield stack
    finally:
        stop_all(processes)
        if stack is not None:  # what the run showed, or how far it got; the logs stay in logs/
            stack.note(f"log directory: {logs}")
            ARTIFACT.parent.mkdir(exist_ok=True)
            ARTIFACT.write_text("\n".join(stack.evidence) + "\n")


def login(browser: Browser, **headers: str) -> tuple[Reply, Reply]:
    """Sign in through the login form (GET for the token, POST); return both replies."""
    page = browser.get("/login", headers=headers)
    assert page.status == 200
    form = {"csrf_token": csrf_token(page), "next": "", "otp": ""}
    reply = browser.request(
        "POST",
        "/login",
        form={**form, "username": USERNAME, "password": PASSWORD},
        headers={"Referer": f"{browser.origin}/login", **headers},
    )
    assert reply.status == 302, reply.text[:500]
    return page, reply


def api_login_attempt(browser: Browser) -> Reply:
    """Try a wrong password at the API's token endpoint (same login budget as the page)."""
    body = json.dumps({"username": "nobody", "password": "wrong-password-1"}).encode()
    return browser.request("POST", "/api/v1/auth/tokens", json_body=body)


def check_health(stack: Stack) -> None:
    """/healthz answers through nginx from both instances; HTTP redirects; strangers get nothing."""
    browser = stack.browser()
    answers = [browser.get("/healthz") for _ in range(2)]
    for reply in answers:
        assert reply.status == 200
        assert json.loads(reply.body) == {"status": "ok", "database": "ok"}
        assert reply.headers["Server"] == "nginx"  # server_tokens off: no version
    instances = sorted(stack.served_by(reply) for reply in answers)
    assert instances == ["gunicorn-1", "gunicorn-2"]
    browser.close()

    plain = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    plain.request("GET", "/healthz?probe=1", headers={"Host": SITE_NAME})
    redirect = plain.getresponse()
    redirect.read()
    plain.close()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{SITE_NAME}/healthz?probe=1"

    stranger = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    stranger.request("GET", "/healthz", headers={"Host": "unknown.example"})
    with pytest.raises(http.client.RemoteDisconnected):
        stranger.getresponse()  # 444: connection closed, no answer
    stranger.close()
    raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=10)
    with pytest.raises(ssl.SSLError):
        stack.context.wrap_socket(raw, server_hostname="unknown.example")
    raw.close()
    stack.note(
        f"healthz: 200 {{'status': 'ok', 'database': 'ok'}} from {' and '.join(instances)};"
        f" http:// -> 301 https://{SITE_NAME}/...; unknown Host: no answer;"
        " unknown SNI: TLS refused"
    )


def check_session_shared(stack: Stack) -> None:
    """A session cookie issued by one instance is accepted by the other."""
    browser = stack.browser()
    page, reply = login(browser)
    issued_by = stack.served_by(reply)
    session_cookie = next(h for h in browser.set_cookie_headers if h.startswith("session="))
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in session_cookie
    accepted_by: list[str] = []
    for _ in range(4):
        caseload = browser.get("/caseload")
        assert caseload.status == 200, caseload.status
        assert FULL_NAME in caseload.text  # signed in, not the login page
        accepted_by.append(stack.served_by(caseload))
        if len(set(accepted_by)) == 2:
            break
    assert set(accepted_by) == {"gunicorn-1", "gunicorn-2"}
    assert any(name != issued_by for name in accepted_by)
    browser.close()

    stranger = stack.browser()  # the control: without the cookie, the page is refused
    refused = stranger.get("/caseload")
    assert refused.status == 302
    assert refused.headers["Location"].startswith("/login")
    stranger.close()
    stack.note(
        f"session: login form from {stack.served_by(page)}, POST /login 302 with a Secure"
        f" HttpOnly cookie from {issued_by}; GET /caseload 200 as {FULL_NAME!r} from"
        f" {', '.join(accepted_by)}; without the cookie 302 to /login"
    )


def check_rate_limit_shared(stack: Stack) -> None:
    """The login budget of one address is counted in Redis, across both instances."""
    attacker = stack.browser()
    answers = [api_login_attempt(attacker) for _ in range(LOGIN_LIMIT + 4)]
    statuses = [reply.status for reply in answers]
    instances = [stack.served_by(reply) for reply in answers]
    assert statuses == [401] * LOGIN_LIMIT + [429] * 4
    assert set(instances[:LOGIN_LIMIT]) == {"gunicorn-1", "gunicorn-2"}
    assert set(instances[LOGIN_LIMIT:]) == {"gunicorn-1", "gunicorn-2"}
    attacker.close()
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"*{attacker.source}*"))
    assert keys, "no rate-limit counter for the address in Redis"
    neighbour = stack.browser()  # another address still has its own budget
    assert api_login_attempt(neighbour).status == 401
    neighbour.close()
    pairs = ", ".join(f"{s}@{i[-1]}" for s, i in zip(statuses, instances, strict=True))
    stack.note(
        f"rate limit {LOGIN_LIMIT}/min from {attacker.source}: {pairs} (status@instance);"
        f" counter in Redis: {keys[0].decode()}; another address: 401"
    )


def check_client_address(stack: Stack, database: str) -> None:
    """The app records the client's address from nginx's X-Forwarded-For, not nginx's own."""
    browser = stack.browser()
    login(browser, **{"X-Forwarded-For": SPOOFED})  # a client's own header is not believed
    browser.close()
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            staff_id = conn.execute(
                sa.text("SELECT id FROM staff WHERE username = :u"), {"u": USERNAME}
            ).scalar_one()
            last_login_ip = conn.execute(
                sa.text(
                    "SELECT ip FROM audit_events WHERE action = 'auth.login' AND actor_id = :a"
                    " ORDER BY id DESC LIMIT 1"
                ),
                {"a": staff_id},
            ).scalar_one()
            all_ips = set(conn.execute(sa.text("SELECT DISTINCT ip FROM audit_events")).scalars())
    finally:
        engine.dispose()
    assert last_login_ip == browser.source
    assert "127.0.0.1" not in all_ips  # nginx's address is never taken for the client's
    assert SPOOFED not in all_ips
    stack.note(
        f"client address: login from {browser.source} with X-Forwarded-For: {SPOOFED} ->"
        f" audit ip {last_login_ip}; audit ips of the run {sorted(i for i in all_ips if i)}"
    )


def check_csrf_form_post(stack: Stack) -> None:
    """CSRF-protected forms work through the proxy, and the app knows the request is HTTPS."""
    browser = stack.browser()
    page = browser.get("/login")
    token = csrf_token(page)
    fields = {"next": "", "otp": "", "username": USERNAME, "password": PASSWORD}
    no_token = browser.post_form("/login", fields, referer="/login")
    assert no_token.status == 400
    # Flask-WTF checks the Referer only on HTTPS requests: the app sees https (X-Forwarded-Proto).
    no_referer = browser.post_form("/login", {**fields, "csrf_token": token}, referer=None)
    assert no_referer.status == 400
    signed_in = browser.post_form("/login", {**fields, "csrf_token": token}, referer="/login")
    assert signed_in.status == 302
    caseload = browser.get("/caseload")
    assert caseload.status == 200
    logout = browser.post_form("/logout", {"csrf_token": csrf_token(caseload)}, referer="/caseload")
    assert logout.status == 302
    after = browser.get("/caseload")
    assert after.status == 302  # signed out: the POST took effect
    browser.close()
    pairs = [
        (stack.served_by(page), stack.served_by(signed_in)),
        (stack.served_by(caseload), stack.served_by(logout)),
    ]
    assert any(rendered != accepted for rendered, accepted in pairs)
    stack.note(
        f"CSRF: POST /login without token 400, without Referer 400 (app sees HTTPS), with both"
        f" 302; form rendered -> accepted by: login {pairs[0][0]} -> {pairs[0][1]},"
        f" logout {pairs[1][0]} -> {pairs[1][1]}; signed out afterwards"
    )


def check_static_and_limits(stack: Stack) -> None:
    """nginx serves static files itself (gzip), leaves pages uncompressed, caps bodies at 1 MiB."""
    browser = stack.browser()
    page = browser.get("/login", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in page.headers  # pages are never compressed (BREACH)
    bootstrap = BOOTSTRAP_PACKAGE / "static" / "bootstrap5"
    assets = {
        "/static/app.css": ROOT / "static" / "app.css",
        "/bootstrap/static/css/bootstrap.min.css": bootstrap / "css" / "bootstrap.min.css",
        "/bootstrap/static/js/bootstrap.min.js": bootstrap / "js" / "bootstrap.min.js",
    }
    for url, path in assets.items():
        assert f'"{url}"' in page.text  # the app links exactly what nginx serves
        reply = browser.get(url, headers={"Accept-Encoding": "gzip"})
        assert reply.status == 200, url
        assert reply.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(reply.body) == path.read_bytes()
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Cache-Control"] == "max-age=3600"
        assert reply.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    openapi = browser.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert openapi.headers["Content-Encoding"] == "gzip"  # bearer-token API: compressed
    assert "paths" in json.loads(gzip.decompress(openapi.body))
    browser.close()
    for name in ("gunicorn-1", "gunicorn-2"):
        log = stack.logs.joinpath(f"{name}.out").read_text()
        assert "/static/" not in log
        assert "/bootstrap/" not in log

    limit = 1024 * 1024
    at_limit = stack.browser()
    exact = at_limit.request("POST", "/login", form={"x": "a" * (limit - 2)})
    at_limit.close()
    stack.served_by(exact)
    assert exact.status == 400  # reached the app (no CSRF token), not refused by nginx
    over = stack.browser()
    too_big = over.request("POST", "/login", form={"x": "a" * (limit - 1)})
    over.close()
    assert too_big.status == 413
    assert too_big.request_id
    time.sleep(0.2)
    assert not stack.logged_by_gunicorn(too_big.request_id)
    stack.note(
        "static: /static/app.css, Bootstrap's css and js served by nginx (gzip, nosniff,"
        " max-age=3600; bytes equal to the files; absent from the gunicorn logs); /login page"
        " not compressed; /api/v1/openapi.json gzip; a 1 MiB body reaches the app, 1 MiB + 1"
        " gets 413 from nginx"
    )


def check_logs_have_no_query_strings(stack: Stack) -> None:
    """Neither nginx's nor gunicorn's logs keep a query string (a search can be a name)."""
    probe = f"Probe{random.randint(10**6, 10**7)}"
    browser = stack.browser()
    reply = browser.get(f"/caseload?q={probe}")
    browser.close()
    stack.served_by(reply)
    access = (stack.logs / "casemgr.access.log").read_text()
    assert f"id={reply.request_id}" in access
    assert '"GET /caseload HTTP/1.1" 302' in access
    for log in sorted(stack.logs.iterdir()):
        assert probe not in log.read_text(errors="replace"), log.name
    stack.note(
        f"logs: GET /caseload?q={probe} logged as 'GET /caseload' by nginx and gunicorn; the"
        f" probe is in none of {', '.join(sorted(p.name for p in stack.logs.iterdir()))}"
    )


def check_failover(stack: Stack) -> None:
    """With one instance down (a crash, a restart), nginx sends everything to the other."""
    stopped = stack.gunicorns[1]
    os.killpg(stopped.popen.pid, signal.SIGKILL)  # master and worker gone at once, as in a crash
    stopped.popen.wait(timeout=10)
    browser = stack.browser()
    health = [browser.get("/healthz") for _ in range(3)]
    page, signed_in = login(browser)
    caseload = browser.get("/caseload")
    browser.close()
    replies = [*health, page, signed_in, caseload]
    assert [r.status for r in replies] == [200, 200, 200, 200, 302, 200]
    assert {stack.served_by(r) for r in replies} == {stack.gunicorns[0].name}
    tried = [stack.upstreams_tried(r.request_id) for r in replies]
    stopped_address = f"127.0.0.1:{stack.app_ports[1]}"
    moved = sum(1 for upstreams in tried if upstreams[0] == stopped_address)
    assert all(upstreams[-1] == f"127.0.0.1:{stack.app_ports[0]}" for upstreams in tried)
    stack.note(
        f"failover: {stopped.name} killed (SIGKILL); 3 x GET /healthz 200, login 302,"
        f" /caseload 200, all from {stack.gunicorns[0].name}; nginx's log shows {moved} of"
        f" them first tried on the killed instance (refused) and passed to the other"
    )


def test_two_app_servers_behind_nginx(stack: Stack, database: str) -> None:
    """Health, shared sessions and rate limits, client address, CSRF, static, logs, failover."""
    checks = [
        lambda: check_health(stack),
        lambda: check_session_shared(stack),
        lambda: check_rate_limit_shared(stack),
        lambda: check_client_address(stack, database),
        lambda: check_csrf_form_post(stack),
        lambda: check_static_and_limits(stack),
        lambda: check_logs_have_no_query_strings(stack),
        lambda: check_failover(stack),
    ]
    began = time.monotonic()
    for check in checks:
        step = time.monotonic()
        check()
        stack.evidence[-1] += f" [{time.monotonic() - step:.2f} s]"
    stack.note(f"checks took {time.monotonic() - began:.1f} s; python {sys.version.split()[0]}")
