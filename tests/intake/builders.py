"""Builders for admissions test data; they go through the real services (rules and audit)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from casemgr.core.timeutil import today
from casemgr.extensions import db
from casemgr.intake import services
from casemgr.intake.models import Authorization, Coverage, Inquiry, InquiryStatusChange
from casemgr.patients.models import Patient

_counter = itertools.count(1)


def make_inquiry(
    *, status: str = "inquiry", days_ago: int = 0, actor: Any = None, **fields: Any
) -> Inquiry:
    """Take an inquiry ``days_ago`` days back and walk it to ``status`` through the service."""
    n = next(_counter)
    values: dict[str, Any] = {
        "first_name": f"Caller{n}",
        "last_name": f"Prospect{n}",
        "phone": "(555) 010-2000",
        "referral_source": 1,
        "urgency": "routine",
        "first_contact_on": today() - timedelta(days=days_ago),
    }
    screening = fields.pop("screening", None)
    values.update(fields)
    inquiry = services.take_inquiry(actor, screening=screening, **values)
    path = {
        "inquiry": [],
        "screening": ["screening"],
        "waitlist": ["screening", "waitlist"],
        "referred_out": ["referred_out"],
        "declined": ["declined"],
        "lost_contact": ["lost_contact"],
    }[status]
    if status == "waitlist" and inquiry.screened_at is None:
        services.record_screening(actor, inquiry, {"frequency": 2})
    for step in path:
        services.change_status(actor, inquiry, step, reason=f"test move to {step}")
    db.session.commit()
    return inquiry


def backdate_history(inquiry: Inquiry, day: date) -> None:
    """Move an inquiry's first contact (and its history rows) to an earlier day."""
    inquiry.first_contact_on = day
    for change in db.session.query(InquiryStatusChange).filter_by(inquiry_id=inquiry.id):
        change.at = change.at - timedelta(days=(today() - day).days)
    db.session.commit()


def make_coverage(patient: Patient, actor: Any = None, **fields: Any) -> Coverage:
    """Record a primary coverage for a patient."""
    values: dict[str, Any] = {
        "payer": "Acme Health",
        "member_id": "XJ-4410-221",
        "priority": "primary",
    }
    values.update(fields)
    coverage = services.add_coverage(actor, patient, **values)
    db.session.commit()
    return coverage


def make_authorization(episode: Any, actor: Any = None, **fields: Any) -> Authorization:
    """Record an authorization for an episode's level of care."""
    values: dict[str, Any] = {
        "level": episode.service_setting,
        "number": f"AUTH-{next(_counter)}",
        "approved_days": 14,
        "starts_on": episode.admitted_on,
        "ends_on": episode.admitted_on + timedelta(days=13),
    }
    values.update(fields)
    authorization = services.add_authorization(actor, episode, **values)
    db.session.commit()
    return authorization
