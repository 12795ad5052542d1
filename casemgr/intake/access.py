"""Loading admissions records for a request: 404 when absent, the read audited.

Inquiries are open to everyone holding inquiry.manage (intake and supervisors, who work
across all patients); coverages belong to a patient's chart, so the request guard checks the
care team through the ``coverage_id`` resolver registered here.
"""

from __future__ import annotations

from typing import Any

from casemgr.audit.services import record
from casemgr.core.errors import NotFound
from casemgr.core.guard import register_audited
from casemgr.episodes.access import register_patient_record
from casemgr.extensions import db
from casemgr.intake.models import Coverage, Inquiry


def get_inquiry(actor: Any, inquiry_id: int, action: str = "inquiry.view") -> Inquiry:
    """Load an inquiry and audit the read (``action`` "" for writes, audited by the service)."""
    inquiry = db.session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound("No such inquiry.")
    if action:
        record(actor, action, inquiry, patient_id=inquiry.patient_id)
    return inquiry


def get_coverage(actor: Any, coverage_id: int, action: str = "coverage.view") -> Coverage:
    """Load a coverage (the guard has checked the chart access) and audit the read."""
    coverage = db.session.get(Coverage, coverage_id)
    if coverage is None:
        raise NotFound("No such coverage.")
    if action:
        record(actor, action, coverage, patient_id=coverage.patient_id)
    return coverage


register_patient_record("coverage_id", Coverage)
register_audited("inquiry_id", "inquiries")
