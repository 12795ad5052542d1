"""Unbound extension singletons, bound to the app in create_app()."""

from __future__ import annotations

from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from casemgr.core.db import Base

#: Objects stay loaded after commit: views commit (audit events included) before rendering,
#: and expiring would make every row lazy-load again in the template (an N+1).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
bootstrap = Bootstrap5()


def _login_limit() -> str:
    """Return the per-address login limit from config (read per request)."""
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


#: One budget of login attempts per client address, shared by the page and the API.
login_rate_limit = limiter.shared_limit(_login_limit, scope="login", methods=["POST"])
