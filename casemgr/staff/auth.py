"""Who is signed in: session users for pages, bearer tokens for the API (never both)."""

from __future__ import annotations

from flask import Request, g

from casemgr.core.guard import is_api_request
from casemgr.extensions import db, login_manager
from casemgr.staff.models import Staff
from casemgr.staff.services import token_from_header


@login_manager.user_loader
def load_session_user(user_id: str) -> Staff | None:
    """Load the browser session's user; API requests ignore cookies (no CSRF there)."""
    if is_api_request() or not user_id.isdigit():
        return None
    staff = db.session.get(Staff, int(user_id))
    return staff if staff is not None and staff.active else None


@login_manager.request_loader
def load_token_user(request: Request) -> Staff | None:
    """Load the API caller from its bearer token."""
    if not is_api_request():
        return None
    token = token_from_header(request.headers.get("Authorization"))
    if token is None:
        return None
    g.api_token = token
    return token.staff
