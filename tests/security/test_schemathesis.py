"""Schemathesis against /api/v1/openapi.json, in-process and authenticated (bounded).

Runs where ``CASEMGR_SCHEMATHESIS=1`` (``.ci/run`` sets it): zero server errors, and every
response's status, content type and body must match the published schema. Each case gets
fresh tokens, and the accounts the fuzzer may have changed (roles, activation) are restored,
so one case cannot lock the next out.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CASEMGR_SCHEMATHESIS") != "1":
    pytest.skip("schemathesis runs in .ci/run (CASEMGR_SCHEMATHESIS=1)", allow_module_level=True)

import schemathesis
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from casemgr.extensions import db
from casemgr.staff.models import Staff, StaffRole
from casemgr.staff.services import issue_token
from tests.conftest import make_app
from tests.factories import admit, make_consent, make_patient, make_staff

EXAMPLES = int(os.environ.get("CASEMGR_SCHEMATHESIS_EXAMPLES", "50"))
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis.txt"
CALLS: dict[str, int] = {}
_DB = Path(tempfile.mkdtemp(prefix="casemgr-schemathesis-")) / "fuzz.db"
APP = make_app(f"sqlite:///{_DB}", RATELIMIT_ENABLED=False)
ROLES = {"admin": ["admin"], "supervisor": ["supervisor"], "counselor": ["counselor"]}

with APP.app_context():
    upgrade()
    ACCOUNTS = {
        name: make_staff(*roles, username=f"fuzz-{name}").id for name, roles in ROLES.items()
    }
    _patient = make_patient()
    admit(_patient, db.session.get(Staff, ACCOUNTS["counselor"]))
    make_consent(_patient)
    db.session.commit()
    db.session.remove()

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Who calls each path: administration as admin, break-the-glass as a counselor.
ADMIN_PATHS = ("/api/v1/staff", "/api/v1/audit-events")


def _restore_accounts() -> None:
    """Undo what the fuzzer may have done to the test accounts (roles, activation)."""
    for name, staff_id in ACCOUNTS.items():
        staff = db.session.get(Staff, staff_id)
        staff.active = True
        staff.locked_until = None
        staff.failed_logins = 0
        if staff.role_names != set(ROLES[name]):
            staff.roles = [StaffRole(role=r) for r in ROLES[name]]
    db.session.commit()


def _headers_for(path: str, method: str) -> dict[str, str]:
    """Issue a fresh bearer token for the role that would call this operation."""
    if path == "/api/v1/auth/tokens":
        return {}
    if path.startswith(ADMIN_PATHS):
        role = "admin"
    elif path == "/api/v1/emergency-access" and method == "POST":
        role = "counselor"
    else:
        role = "supervisor"
    token, _ = issue_token(db.session.get(Staff, ACCOUNTS[role]))
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_matches_its_schema_without_server_errors(case: Any) -> None:
    with APP.app_context():
        _restore_accounts()
        headers = _headers_for(case.path, case.method)
        db.session.remove()
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    key = f"{case.method} {case.path}"
    CALLS[key] = CALLS.get(key, 0) + 1
    assert response.status_code < 500


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    """Write how many examples ran per operation (the issue asks for the numbers)."""
    yield
    ARTIFACT.parent.mkdir(exist_ok=True)
    lines = [f"{n:5d}  {op}" for op, n in sorted(CALLS.items())]
    total = sum(CALLS.values())
    ARTIFACT.write_text(
        f"schemathesis: {total} examples over {len(CALLS)} operations, checks: "
        f"{', '.join(c.__name__ for c in CHECKS)}\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
