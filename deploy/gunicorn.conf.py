"""gunicorn settings for one casemgr app server behind nginx (deploy/nginx/casemgr.conf).

systemd starts one instance per port (deploy/systemd/casemgr@.service):
    gunicorn --config deploy/gunicorn.conf.py --bind 127.0.0.1:PORT --no-control-socket wsgi:app
tests/deploy/test_nginx.py starts two instances exactly so.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from typing import Any

from gunicorn import glogging


def _env_int(name: str, default: int) -> int:
    """Read a whole-number tuning knob from the environment (the unit's EnvironmentFile)."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# Loopback only: the app believes X-Forwarded-For from its peer (ProxyFix, one hop), so only
# nginx may reach it. systemd passes --bind 127.0.0.1:%i; this is the fallback.
bind = ["127.0.0.1:8001"]

# Processes per instance. gunicorn's rule of thumb is 2 x cores + 1 per host; two instances
# share the host, so each takes cores + 1. WEB_CONCURRENCY overrides it (gunicorn's own name).
workers = _env_int("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1)
# gthread, not sync: the sync worker closes every connection after one response, which would
# defeat nginx's upstream keepalive. The app is thread-safe (scoped sessions; the live-server
# tests run it threaded). Each thread holds at most one database connection at a time.
worker_class = "gthread"
threads = _env_int("GUNICORN_THREADS", 4)
# Longer than nginx's upstream keepalive_timeout (60 s): nginx closes idle connections first,
# so it never sends a request on one gunicorn is about to close.
keepalive = 75
# A worker whose main loop is silent this long is killed and replaced (gthread threads may run
# longer requests; nginx's proxy_read_timeout bounds those).
timeout = 30
# On restart or stop, requests in flight get this long to finish (systemd waits 45 s).
graceful_timeout = 30
# Recycle workers now and then so slow memory growth cannot accumulate.
max_requests = 2000
max_requests_jitter = 200
# X-Forwarded-Proto is believed only from nginx: on this host by default; set
# FORWARDED_ALLOW_IPS (gunicorn's own variable) to nginx's address when it runs elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# No control socket in ~/.gunicorn (the service user has no home); the unit passes the flag too.
control_socket_disable = True

# Logs go to stdout/stderr, i.e. the journal. The access log has the path without its query
# string (%(U)s, never %(r)s) and no Referer: a search term can be a patient's name. The id is
# nginx's X-Request-ID, also in nginx's access log.
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(t)s %({x-request-id}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms pid=%(p)s'

#: A query string in a log message: from "?" to the next space or quote.
QUERY_STRING = re.compile(r"\?[^\s'\"]*")


class NoPatientData(logging.Filter):
    """Keep query strings and exception messages out of gunicorn's error log, as the app does.

    gunicorn logs "Error handling request GET /patients?q=..." with the exception for errors
    that escape the app (a streamed CSV failing half-way), and the request line of malformed
    requests. A query string can hold a name and an exception message can quote SQL
    parameters, so only the exception's type and where it was raised are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        text = QUERY_STRING.sub("?[query removed]", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            frames = "".join(
                f"\n  {frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(error.__traceback__)
            )
            text = f"{text}: {type(error).__name__}{frames}"
        record.msg = text
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


class CasemgrLogger(glogging.Logger):
    """gunicorn's logger with the NoPatientData filter on its error log."""

    def setup(self, cfg: Any) -> None:
        """Configure handlers as gunicorn does, then add the filter once (setup reruns on HUP)."""
        super().setup(cfg)
        if not any(isinstance(f, NoPatientData) for f in self.error_log.filters):
            self.error_log.addFilter(NoPatientData())


logger_class = CasemgrLogger
