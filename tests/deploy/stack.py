"""Run the shipped deployment for tests: two gunicorn instances behind nginx, over TLS.

What runs is what ships. gunicorn is started with the command line of
``deploy/systemd/casemgr@.service`` (its ExecStart, with ``%i`` as the port) and the settings of
``deploy/casemgr.env.example`` (only the secret, database, Redis and a small login limit
replaced). nginx loads ``deploy/nginx/casemgr.conf`` itself, in which :func:`render_site`
substitutes only ports, the certificate, the log directory and install paths, each of which
must be found in the file, inside a main ``nginx.conf`` with the settings of Debian's own
``http {}`` block that the site relies on. A throwaway self-signed certificate for the site's
name lets the TLS server block, the HTTP redirect and secure cookies run as in production.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE_CONF = DEPLOY / "nginx" / "casemgr.conf"
UNIT = DEPLOY / "systemd" / "casemgr@.service"
ENV_EXAMPLE = DEPLOY / "casemgr.env.example"
#: The placeholder name the shipped site answers to; the test's certificate is made for it.
SITE_NAME = "casemgr.example.org"
#: Where the shipped files expect the app (the README installs it there).
INSTALL_DIR = "/srv/casemgr"
SHIPPED_SITE_PACKAGES = f"{INSTALL_DIR}/.venv/lib/python3.11/site-packages/"
SHIPPED_APP_PORTS = (8001, 8002)
MIME_TYPES = Path("/etc/nginx/mime.types")


def find_nginx() -> str | None:
    """Return Debian's nginx binary (in /usr/sbin, often not on a user's PATH), if installed."""
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def render_site(
    text: str,
    *,
    http_port: int,
    https_port: int,
    app_ports: tuple[int, int],
    cert: Path,
    key: Path,
    logs: Path,
    site_packages: Path,
) -> str:
    """Turn the shipped site file into the test's: same directives, test ports and paths.

    Every substituted string must occur in the shipped file, so a change there that the test
    would silently miss fails the test instead.
    """
    replacements = [
        (f"server 127.0.0.1:{SHIPPED_APP_PORTS[0]} ", f"server 127.0.0.1:{app_ports[0]} "),
        (f"server 127.0.0.1:{SHIPPED_APP_PORTS[1]} ", f"server 127.0.0.1:{app_ports[1]} "),
        (f"/etc/letsencrypt/live/{SITE_NAME}/fullchain.pem", str(cert)),
        (f"/etc/letsencrypt/live/{SITE_NAME}/privkey.pem", str(key)),
        (SHIPPED_SITE_PACKAGES, f"{site_packages}/"),
        (f"{INSTALL_DIR}/", f"{ROOT}/"),
        ("/var/log/nginx/", f"{logs}/"),
    ]
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"{SITE_CONF.name} no longer contains {old!r}: update render_site")
        text = text.replace(old, new)
    # Loopback IPv4 only: the test machine may have no IPv6.
    text = re.sub(r"^\s*listen \[::\]:\S+.*\n", "", text, flags=re.MULTILINE)
    text, plain = re.subn(r"\blisten 80\b", f"listen 127.0.0.1:{http_port}", text)
    text, tls = re.subn(r"\blisten 443\b", f"listen 127.0.0.1:{https_port}", text)
    if (plain, tls) != (2, 2):
        raise AssertionError(f"expected two listen 80 and two listen 443, got {plain} and {tls}")
    return text


def main_conf(site: Path, prefix: Path, logs: Path) -> str:
    """Write the harness's nginx.conf: what Debian's /etc/nginx/nginx.conf gives a site file.

    As in Debian's file, gzip, ssl_protocols and ssl_prefer_server_ciphers are set in http {},
    so a site file that set them there too would fail here as it would in production. pid and
    error_log come from the command line (-g); temp paths move into the prefix.
    """
    # Workers run as nobody when started by root; they could not read a checkout or temp files
    # under a private home or pytest's 0700 directory, so a root-run test keeps them as root.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include {MIME_TYPES};
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {logs}/access.log;
    gzip on;
{temp}
    include {site};
}}
"""


def unit_command(port: int) -> list[str]:
    """Return the ExecStart of the shipped systemd unit for one instance, paths made local."""
    lines = UNIT.read_text().splitlines()
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    args = shlex.split(exec_start.removeprefix("ExecStart=").replace("%i", str(port)))
    venv_bin = f"{Path(sys.executable).parent}/"
    return [
        arg.replace(f"{INSTALL_DIR}/.venv/bin/", venv_bin).replace(INSTALL_DIR, str(ROOT))
        for arg in args
    ]


def unit_environment() -> dict[str, str]:
    """Return the unit's own Environment= settings."""
    env = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines the way systemd's EnvironmentFile= does (quotes stripped)."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[name.strip()] = value
    return env


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Create a throwaway self-signed certificate for SITE_NAME (valid one day)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        *shlex.split("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"),
        *("-days", "1", "-subj", f"/CN={SITE_NAME}", "-addext", f"subjectAltName=DNS:{SITE_NAME}"),
        *("-keyout", str(key), "-out", str(cert)),
    ]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    return cert, key


@dataclass
class Process:
    """A started server process and the files its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    files: list[IO[bytes]] = field(default_factory=list)

    def output(self) -> str:
        """Return what it wrote so far (for failure messages)."""
        return f"{self.stdout.read_text(errors='replace')}{self.stderr.read_text(errors='replace')}"


def stop_all(processes: list[Process]) -> None:
    """Kill each server with its workers (its process group) and close its log files.

    The test has read what it needs from the logs; a graceful stop would only cost seconds.
    """
    for process in processes:
        if process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGKILL)
    for process in processes:
        process.popen.wait(timeout=10)
        for handle in process.files:
            handle.close()


def start(name: str, args: list[str], env: Mapping[str, str], logs: Path) -> Process:
    """Start a server in its own process group, stdout and stderr to files under ``logs``."""
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    out_file, err_file = out.open("wb"), err.open("wb")
    popen = subprocess.Popen(  # noqa: S603
        args,
        env=dict(env),
        cwd=ROOT,
        stdout=out_file,
        stderr=err_file,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stop_all can kill its workers too
    )
    return Process(name, popen, out, err, [out_file, err_file])


def wait_for_health(processes: list[Process], ports: list[int], timeout: float = 30) -> None:
    """Wait until every app server answers GET /healthz with 200 on its own port."""
    deadline = time.monotonic() + timeout
    pending = dict(zip(ports, processes, strict=True))
    while pending:
        for port, process in list(pending.items()):
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.output()}")
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310
                    if reply.status == 200:
                        del pending[port]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if pending and time.monotonic() > deadline:
            names = ", ".join(p.name for p in pending.values())
            raise RuntimeError(f"not healthy after {timeout} s: {names}")
        if pending:
            time.sleep(0.1)


def wait_for_port(process: Process, port: int, timeout: float = 10) -> None:
    """Wait until a process accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.output()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Reply:
    """One HTTP answer as the test sees it."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def request_id(self) -> str:
        """nginx's id for the request (X-Request-ID), also in the gunicorn access log."""
        return self.headers.get("X-Request-ID", "")


class SiteConnection(http.client.HTTPSConnection):
    """HTTPS to the site's name, sent to 127.0.0.1: SNI and certificate checks as in production."""

    def __init__(self, port: int, context: ssl.SSLContext, source: str) -> None:
        super().__init__(SITE_NAME, port, timeout=15, context=context, source_address=(source, 0))
        self.tls_context = context

    def connect(self) -> None:
        """Open the TCP connection to loopback, then TLS for the site's name."""
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout, self.source_address)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=SITE_NAME)


class Browser:
    """A client with its own source address (127.x.y.z), cookies and connection to nginx."""

    def __init__(self, https_port: int, context: ssl.SSLContext, source: str) -> None:
        self.source = source
        self.origin = f"https://{SITE_NAME}:{https_port}"
        self.connection = SiteConnection(https_port, context, source)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request on the kept-alive connection, keeping cookies like a browser."""
        sent = {"User-Agent": "casemgr-deploy-test", **(headers or {})}
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json_body
            sent["Content-Type"] = "application/json"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        reply = Reply(response.status, response.headers, response.read())
        for header in reply.headers.get_all("Set-Cookie") or []:
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return reply

    def get(self, path: str, **kwargs: Any) -> Reply:
        """GET a path."""
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, form: Mapping[str, str], *, referer: str | None) -> Reply:
        """POST a form as a browser does from the page at ``referer`` (a path)."""
        headers = {"Referer": f"{self.origin}{referer}"} if referer else {}
        return self.request("POST", path, form=form, headers=headers)

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: Reply) -> str:
    """Return the CSRF token of the (first) form on a page."""
    match = CSRF_FIELD.search(page.text)
    if match is None:
        raise AssertionError(f"no CSRF token on the page (status {page.status})")
    return match.group(1)
