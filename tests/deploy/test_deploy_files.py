"""The shipped deployment files agree with the app: settings, body limit, log redaction."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config

from casemgr.config import ConfigError, build_config, check_config
from tests.conftest import TEST_SECRET
from tests.deploy.stack import DEPLOY, ENV_EXAMPLE, ROOT, SITE_CONF, UNIT, read_env_file

CONFIG_SOURCE = (ROOT / "casemgr" / "config.py").read_text()


def settings_read_by_the_app() -> set[str]:
    """Every environment variable casemgr/config.py reads."""
    return set(re.findall(r'env\.get\(\s*"([A-Z0-9_]+)"', CONFIG_SOURCE)) | set(
        re.findall(r'_int\(\s*env,\s*"([A-Z0-9_]+)"', CONFIG_SOURCE)
    )


def test_env_example_names_every_setting_the_app_reads() -> None:
    names = settings_read_by_the_app()
    assert {"SECRET_KEY", "DATABASE_URL", "RATELIMIT_STORAGE_URI"} <= names  # the parse works
    missing = names - read_env_file(ENV_EXAMPLE).keys()
    assert not missing, f"add to deploy/casemgr.env.example: {sorted(missing)}"


def test_env_example_is_production_and_refused_until_the_secret_is_set() -> None:
    example = read_env_file(ENV_EXAMPLE)
    assert example["SECRET_KEY"] == ""  # no secret is shipped
    with pytest.raises(ConfigError):
        check_config(build_config(example))
    config = build_config({**example, "SECRET_KEY": TEST_SECRET})
    check_config(config)
    assert config["CASEMGR_ENV"] == "production"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REQUIRE_ADMIN_MFA"] is True
    assert config["WTF_CSRF_ENABLED"] is True
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_nginx_body_limit_matches_the_app() -> None:
    match = re.search(r"client_max_body_size (\d+)([km]?);", SITE_CONF.read_text())
    assert match is not None
    size = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]
    assert size == build_config({"CASEMGR_ENV": "testing"})["MAX_CONTENT_LENGTH"]


def test_unit_runs_the_shipped_gunicorn_config_without_control_socket() -> None:
    exec_start = next(
        line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")
    )
    assert "--config /srv/casemgr/deploy/gunicorn.conf.py" in exec_start
    assert "--bind 127.0.0.1:%i" in exec_start
    assert "--no-control-socket" in exec_start


@pytest.fixture
def gunicorn_conf() -> dict[str, Any]:
    """The names deploy/gunicorn.conf.py defines, as gunicorn reads them."""
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_access_log_has_no_query_string_or_referrer(gunicorn_conf: dict[str, Any]) -> None:
    log_format = gunicorn_conf["access_log_format"]
    assert "%(U)s" in log_format
    for atom in ("%(r)s", "%(q)s", "%(f)s"):  # request line, query string, referrer
        assert atom not in log_format


def test_error_log_keeps_neither_query_strings_nor_exception_messages(
    gunicorn_conf: dict[str, Any], tmp_path: Path
) -> None:
    cfg = Config()
    cfg.set("logger_class", gunicorn_conf["logger_class"])
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = cfg.logger_class(cfg)
    try:
        try:
            raise ValueError("patient Jane Roe, MRN 12345678")
        except ValueError:
            logger.exception("Error handling request %s %s", "GET", "/patients?q=Jane+Roe")
        logger.warning("Invalid request from ip=1.2.3.4: Invalid Request Line 'GET /x?q=Roe'")
        replaced = list(logger.error_log.handlers)
        logger.setup(cfg)  # gunicorn calls setup again on HUP: still one filter
        for handler in replaced:
            handler.close()  # gunicorn drops it without closing it
        assert len(logger.error_log.filters) == 1
    finally:
        for handler in list(logger.error_log.handlers):
            handler.close()
            logger.error_log.removeHandler(handler)
        for log_filter in list(logger.error_log.filters):
            logger.error_log.removeFilter(log_filter)
    written = (tmp_path / "error.log").read_text()
    assert "Roe" not in written
    assert "12345678" not in written
    assert "Error handling request GET /patients?[query removed]" in written
    assert "Invalid Request Line 'GET /x?[query removed]'" in written
    assert "?[query removed]: ValueError" in written
    assert "test_deploy_files.py:" in written  # where it happened is kept
