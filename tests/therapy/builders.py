"""Builders for therapy tests: sessions and notes through the real services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from casemgr.core.db import utcnow
from casemgr.episodes.models import Episode
from casemgr.extensions import db
from casemgr.staff.models import Staff
from casemgr.therapy import services
from casemgr.therapy.models import Note, TherapySession

DAP = {"data": "Came on time; discussed cravings.", "assessment": "Engaged.", "plan": "Weekly CBT."}


def session(
    episode: Episode,
    counselor: Staff,
    *,
    hours_ago: float = 1,
    attendance: str = "attended",
    note: dict[str, str] | None = None,
    sign: bool = False,
    started_at: datetime | None = None,
) -> TherapySession:
    """Log one individual session (with a DAP note when given) and commit it."""
    logged = services.log_session(
        counselor,
        episode,
        kind="individual",
        modality="cbt",
        started_at=started_at or utcnow() - timedelta(hours=hours_ago),
        duration_minutes=50,
        attendance=attendance,
        note=services.NoteInput("DAP", note) if note else None,
        sign=sign,
    )
    db.session.commit()
    return logged


def note(episode: Episode, author: Staff, **kwargs: Any) -> Note:
    """Write one draft DAP progress note and commit it."""
    written = services.write_note(
        author, episode, kind="progress", format="DAP", body=dict(DAP), **kwargs
    )
    db.session.commit()
    return written
