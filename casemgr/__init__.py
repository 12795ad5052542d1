"""casemgr: case management for an addiction-treatment program."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from casemgr.config import INSTANCE_DIR, SQLITE_BUSY_SECONDS, build_config, check_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: config from the environment, then explicit overrides."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(build_config())
    if overrides:
        app.config.update(overrides)
        if "SQLALCHEMY_DATABASE_URI" in overrides and "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
            from casemgr.config import engine_options

            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
                overrides["SQLALCHEMY_DATABASE_URI"]
            )
    check_config(app.config)
    if app.config["CASEMGR_ENV"] == "production":
        # One trusted reverse proxy (deploy/nginx) sets X-Forwarded-For/-Proto.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    register_guards(app)  # first: authorization answers before CSRF or rate limits
    register_extensions(app)
    register_blueprints(app)
    register_templates(app)
    register_commands(app)
    register_logging(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the extension singletons and the SQLite pragmas."""
    from casemgr.extensions import bootstrap, csrf, db, limiter, login_manager, migrate

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    from casemgr.audit import chain

    chain.install()
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
            sa.event.listen(db.engine, "begin", _sqlite_begin)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on WAL, foreign keys and a busy timeout for every SQLite connection.

    The driver's own transaction handling is switched off so that SQLAlchemy's BEGIN and
    SAVEPOINTs work as documented (SQLAlchemy's pysqlite "serializable isolation" recipe).
    """
    dbapi_connection.isolation_level = None
    # SQLite's lower() folds ASCII only; PostgreSQL's folds every letter ("JOSÉ" ~ "josé").
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _unicode_lower(value: Any) -> Any:
    """Lower-case any text like PostgreSQL does (used as SQLite's lower())."""
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin(connection: Any) -> None:
    """Emit BEGIN ourselves, since the driver no longer does (see _sqlite_pragmas).

    Almost every transaction appends to the audit chain, so it starts IMMEDIATE: the write
    lock is taken before the chain head is read, and a concurrent writer waits (busy
    timeout) instead of failing with SQLITE_BUSY when it upgrades a stale read snapshot.
    Read-only work (``casemgr_read_only`` execution option, e.g. verifying the chain) keeps a
    deferred BEGIN so it never blocks writers.
    """
    if connection.get_execution_options().get("casemgr_read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is None or _begin_immediate_polling(dbapi):
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # waited long: the busy timeout's last try


def _begin_immediate_polling(dbapi: Any) -> bool:
    """Take SQLite's write lock, polling every millisecond or two; False if still busy.

    SQLite's own busy handler sleeps 50-100 ms between tries once it has waited a while, so a
    writer competing with a busy one kept missing the moments the lock was free: under load
    some requests waited seconds (benchmarks/NOTES.md). Polling finely, with the busy
    timeout off for this statement only, gives the lock to waiters as soon as it is free.
    """
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    delay = 0.0002
    dbapi.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 0.002)
            else:
                return True
    finally:
        dbapi.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")


def register_guards(app: Flask) -> None:
    """Install the request guard first, then the API's body checks."""
    from casemgr.core.errors import register_error_handlers
    from casemgr.core.guard import guard_request
    from casemgr.core.rest import check_json_body
    from casemgr.core.security import set_security_headers

    app.before_request(guard_request)
    app.before_request(check_json_body)
    from casemgr.audit.services import audit_untracked_access

    app.after_request(set_security_headers)
    app.after_request(audit_untracked_access)
    register_error_handlers(app)


#: Domain packages, in dependency order. Each may have ``views.py`` (pages) and ``api.py``
#: (JSON), each exposing ``blueprints``: the explicit list of what gets registered.
DOMAINS = (
    "core",
    "staff",
    "patients",
    "episodes",
    "intake",
    "assessments",
    "medication",
    "plans",
    "education",
    "therapy",
    "reports",
    "audit",
)


def _domain_modules(kind: str) -> list[Any]:
    """Import each domain's ``views`` or ``api`` module where it exists."""
    modules = []
    for domain in DOMAINS:
        name = f"casemgr.{domain}.{kind}"
        package_exists = importlib.util.find_spec(f"casemgr.{domain}") is not None
        if package_exists and importlib.util.find_spec(name) is not None:
            modules.append(importlib.import_module(name))
    return modules


def register_blueprints(app: Flask) -> None:
    """Register every domain's page blueprints, then its API blueprints."""
    from casemgr.core.rest import Api
    from casemgr.extensions import csrf
    from casemgr.staff import auth as _auth  # noqa: F401  (registers the user loaders)

    for module in _domain_modules("views"):
        for bp in module.blueprints:
            app.register_blueprint(bp)
    api = Api()
    api.init_app(app)
    for module in _domain_modules("api"):
        for blp in module.blueprints:
            api.register_blueprint(blp)
            csrf.exempt(blp)  # bearer tokens, no cookies: CSRF cannot apply
    app.extensions["casemgr_api"] = api


def register_templates(app: Flask) -> None:
    """Expose helpers every template needs."""
    from casemgr.core import template_helpers

    template_helpers.register(app)


def register_commands(app: Flask) -> None:
    """Add the `flask` commands (create-admin, seed-demo, ...)."""
    from casemgr.cli import register

    register(app)


class _NoQueryString(logging.Filter):
    """Strip query strings from access-log lines: a search term can be a patient's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the request line in werkzeug's access log."""
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


def register_logging(app: Flask) -> None:
    """Keep patient data out of logs, including the development server's access log."""
    logging.getLogger("werkzeug").addFilter(_NoQueryString())
