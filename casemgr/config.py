"""Settings, read from the environment only; production refuses to start without real secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The key `make run` uses; production refuses it so a copied dev setup cannot go live.
DEVELOPMENT_SECRET_KEY = "casemgr-development-only-secret-key"  # noqa: S105

ENVIRONMENTS = ("production", "development", "testing")
#: How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_SECONDS = 15
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration is unsafe or incomplete."""


def _flag(value: str | None, default: bool) -> bool:
    """Read an on/off environment value, so `0`, `false`, `no` and `off` all mean off."""
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read an integer setting, failing at start-up rather than at the first request."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number") from exc


def default_database_url() -> str:
    """Return the embedded SQLite file under instance/, the zero-setup default."""
    return f"sqlite:///{INSTANCE_DIR / 'casemgr.db'}"


def build_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables for the chosen CASEMGR_ENV."""
    env = os.environ if environ is None else environ
    name = env.get("CASEMGR_ENV", "production").strip().lower() or "production"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"CASEMGR_ENV must be one of {', '.join(ENVIRONMENTS)}")
    production = name == "production"
    testing = name == "testing"
    secret = env.get("SECRET_KEY") or (None if production else DEVELOPMENT_SECRET_KEY)
    database_url = env.get("DATABASE_URL") or default_database_url()
    config: dict[str, Any] = {
        "CASEMGR_ENV": name,
        "TESTING": testing,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        # Sessions: cookie flags per OWASP ASVS; Secure needs TLS, so only in production.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 15),
        "SESSION_MAX_HOURS": _int(env, "SESSION_MAX_HOURS", 12),
        "API_TOKEN_HOURS": _int(env, "API_TOKEN_HOURS", 8),
        "LOCKOUT_ATTEMPTS": 5,
        "LOCKOUT_MINUTES": 15,
        "REQUIRE_ADMIN_MFA": _flag(env.get("REQUIRE_ADMIN_MFA"), production),
        # Sensitive changes (roles, signing, the second factor) need a login this recent.
        "REAUTH_MINUTES": _int(env, "REAUTH_MINUTES", 15),
        "CASEMGR_TIMEZONE": env.get("CASEMGR_TIMEZONE", "UTC"),
        "LOS_TARGET_DAYS": _int(env, "LOS_TARGET_DAYS", 90),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # CSRF tokens last as long as a working session, not Flask-WTF's default hour.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_ENABLED": _flag(env.get("WTF_CSRF_ENABLED"), True),
        # Every RATELIMIT_* key in every environment: the module-level Limiter keeps the
        # first app's values (shared/TOOLCHAIN.md).
        "RATELIMIT_ENABLED": _flag(env.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_STRATEGY": "fixed-window",
        # Redis down: count in memory (per worker) rather than failing every sign-in with 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "30 per minute"),
        # Bootstrap from the package, never a CDN: the machines have no internet.
        "BOOTSTRAP_SERVE_LOCAL": True,
        # flask-smorest / OpenAPI
        "API_TITLE": "casemgr",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "JSON_SORT_KEYS": False,
    }
    return config


def engine_options(database_url: str) -> dict[str, Any]:
    """Choose pool settings per database: pre-ping survives PostgreSQL restarts."""
    if database_url.startswith("sqlite"):
        # Writers wait for the lock (busy timeout) instead of failing at once.
        return {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 10,
        # PostgreSQL's JIT compiles any query its planner thinks costly: on the reports'
        # per-episode subqueries it spent 140 ms compiling to save a few (benchmarks/NOTES.md).
        "connect_args": {"options": "-c jit=off"},
    }


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse unsafe settings before the app serves a single request."""
    secret = config.get("SECRET_KEY")
    if config.get("CASEMGR_ENV") == "production":
        if not secret or secret == DEVELOPMENT_SECRET_KEY:
            raise ConfigError("production needs a real SECRET_KEY in the environment")
        if len(str(secret)) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    elif not secret:
        raise ConfigError("SECRET_KEY is required")
