"""Configuration comes from the environment; production refuses unsafe settings."""

from __future__ import annotations

import pytest

from casemgr import create_app
from casemgr.config import DEVELOPMENT_SECRET_KEY, ConfigError, build_config, check_config


def test_production_is_the_default_and_needs_a_secret() -> None:
    config = build_config({})
    assert config["CASEMGR_ENV"] == "production"
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_config(config)


def test_production_refuses_the_development_secret() -> None:
    config = build_config({"SECRET_KEY": DEVELOPMENT_SECRET_KEY})
    with pytest.raises(ConfigError):
        check_config(config)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigError, match="32"):
        check_config(build_config({"SECRET_KEY": "short"}))


def test_create_app_refuses_to_start_in_production_without_secret(monkeypatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("CASEMGR_ENV", "production")
    with pytest.raises(ConfigError):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_settings_are_safe() -> None:
    config = build_config({"SECRET_KEY": "x" * 40})
    check_config(config)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["REQUIRE_ADMIN_MFA"] is True
    assert config["BOOTSTRAP_SERVE_LOCAL"] is True


def test_development_uses_sqlite_under_instance_and_its_own_key() -> None:
    config = build_config({"CASEMGR_ENV": "development"})
    assert config["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/casemgr.db")
    assert config["REQUIRE_ADMIN_MFA"] is False
    assert config["SESSION_COOKIE_SECURE"] is False


def test_database_url_and_settings_come_from_environment() -> None:
    config = build_config(
        {
            "CASEMGR_ENV": "development",
            "DATABASE_URL": "postgresql+psycopg://u@h/db",
            "SESSION_IDLE_MINUTES": "5",
            "REQUIRE_ADMIN_MFA": "1",
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        }
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert config["SESSION_IDLE_MINUTES"] == 5
    assert config["REQUIRE_ADMIN_MFA"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379"


@pytest.mark.parametrize(
    ("name", "value"), [("CASEMGR_ENV", "staging"), ("SESSION_IDLE_MINUTES", "ten")]
)
def test_bad_settings_fail_at_start(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        build_config({"CASEMGR_ENV": "development", name: value})
