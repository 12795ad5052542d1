"""Security headers on every response (CSP without inline script, no caching of charts)."""

from __future__ import annotations

from flask import Response, current_app, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def set_security_headers(response: Response) -> Response:
    """Add the headers OWASP ASVS asks for; patient pages are never cached."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith(("/static/", "/bootstrap/")):
        headers["Cache-Control"] = "no-store"
    if current_app.config.get("CASEMGR_ENV") == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
