"""Re-authentication before sensitive changes (signing a note, changing roles, the second factor).

A browser login older than ``REAUTH_MINUTES`` (15 by default) must confirm the password, and
the second factor where enrolled, before such a change; API bearer tokens are short-lived and
count as recent. Other domains decorate their routes with :func:`require_recent_auth`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for

F = TypeVar("F", bound=Callable[..., Any])
#: Methods that change state; reading a form never needs re-authentication.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def auth_age_seconds() -> float:
    """Return how long ago this browser session last proved who it is."""
    proved = max(float(session.get("login_at") or 0), float(session.get("reauth_at") or 0))
    return time.time() - proved


def is_recent_auth() -> bool:
    """Tell whether the current request counts as recently authenticated."""
    if request.path.startswith("/api/"):
        return True  # bearer tokens are short-lived (API_TOKEN_HOURS) and never idle in a tab
    return auth_age_seconds() <= current_app.config.get("REAUTH_MINUTES", 15) * 60


def mark_reauthenticated() -> None:
    """Record in the session that the user just confirmed their password (and code)."""
    session["reauth_at"] = time.time()


def _return_to() -> str:
    """Choose where to come back after re-authenticating: the page with the form."""
    if request.method == "GET":
        return request.full_path
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if referrer and parts.netloc == request.host and parts.path.startswith("/"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("home.index")


def require_recent_auth(view: F) -> F:
    """Send a browser whose login is older than 15 minutes to confirm it before a change."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method in UNSAFE_METHODS and not is_recent_auth():
            flash("For your security, confirm your password to make this change.", "warning")
            return redirect(url_for("auth.reauth", next=_return_to()))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
