"""The one permission table (role -> actions) and the one decorator every route declares.

A route without a declared action is refused: new code fails closed, never open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, Protocol, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Attribute set on view functions by @requires / @public.
ACTION_ATTR = "casemgr_action"


class Role(StrEnum):
    """Staff roles (DESIGN.md §4); a person may hold several."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    PHYSICIAN = "physician"
    NURSE = "nurse"
    COUNSELOR = "counselor"
    INTAKE = "intake"


class Action(StrEnum):
    """Everything a route can do; routes declare one, roles grant sets of them."""

    PUBLIC = "public"  #: no login needed (login page, health check, API spec)
    SIGNED_IN = "signed_in"  #: any signed-in staff member (home, own account, logout)
    STAFF_MANAGE = "staff.manage"
    PATIENT_SEARCH = "patient.search"
    PATIENT_VIEW = "patient.view"
    PATIENT_CREATE = "patient.create"
    PATIENT_EDIT = "patient.edit"
    EPISODE_VIEW = "episode.view"
    EPISODE_ADMIT = "episode.admit"
    EPISODE_DISCHARGE = "episode.discharge"
    EPISODE_MOVE_STAGE = "episode.move_stage"
    CASELOAD_VIEW = "caseload.view"
    # Clinical records (DESIGN.md §3)
    CLINICAL_VIEW = "clinical.view"  #: read assessments, plans, sessions and notes
    DIAGNOSIS_RECORD = "diagnosis.record"
    LEVEL_OF_CARE_DECIDE = "level_of_care.decide"
    WITHDRAWAL_RECORD = "withdrawal.record"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    TAPER_PLAN = "taper.plan"  #: create or re-plan a taper (a medical order)
    TAPER_MANAGE = "taper.manage"  #: pause or resume a taper
    DOSE_RECORD = "dose.record"
    TREATMENT_PLAN_WRITE = "treatment_plan.write"
    EDUCATION_RECORD = "education.record"
    EDUCATION_MANAGE = "education.manage"  #: the module catalogue
    SESSION_LOG = "session.log"
    NOTE_WRITE = "note.write"
    NOTE_COSIGN = "note.cosign"
    # Admissions (DESIGN.md §2)
    INQUIRY_MANAGE = "inquiry.manage"
    COVERAGE_MANAGE = "coverage.manage"  #: insurance detail, verifications, authorizations
    COVERAGE_STATUS_VIEW = "coverage.status_view"  #: verified or not, without the money
    PLACES_MANAGE = "places.manage"
    # Oversight
    EMERGENCY_ACCESS = "emergency_access.request"
    EMERGENCY_ACCESS_REVIEW = "emergency_access.review"
    REPORT_VIEW = "report.view"
    AUDIT_VIEW = "audit.view"
    SETTINGS_MANAGE = "settings.manage"


_CLINICAL_READ = {
    Action.PATIENT_SEARCH,
    Action.PATIENT_VIEW,
    Action.EPISODE_VIEW,
    Action.CASELOAD_VIEW,
    Action.CLINICAL_VIEW,
    Action.COVERAGE_STATUS_VIEW,
    Action.NOTE_WRITE,
}

#: The permission table. Object-level rules (care team, primary counselor) are checked by the
#: request guard and services; they narrow these grants, never widen them.
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(
        {
            Action.STAFF_MANAGE,
            Action.REPORT_VIEW,
            Action.AUDIT_VIEW,
            Action.SETTINGS_MANAGE,
            Action.EDUCATION_MANAGE,
            Action.PLACES_MANAGE,
        }
    ),
    # Supervisors: everything clinical except medical orders (taper plans, doses).
    Role.SUPERVISOR: frozenset(
        _CLINICAL_READ
        | {
            Action.PATIENT_CREATE,
            Action.PATIENT_EDIT,
            Action.EPISODE_ADMIT,
            Action.EPISODE_DISCHARGE,
            Action.EPISODE_MOVE_STAGE,
            Action.DIAGNOSIS_RECORD,
            Action.LEVEL_OF_CARE_DECIDE,
            Action.WITHDRAWAL_RECORD,
            Action.TREATMENT_PLAN_WRITE,
            Action.EDUCATION_RECORD,
            Action.SESSION_LOG,
            Action.NOTE_COSIGN,
            Action.INQUIRY_MANAGE,
            Action.COVERAGE_MANAGE,
            Action.EMERGENCY_ACCESS_REVIEW,
            Action.REPORT_VIEW,
        }
    ),
    Role.PHYSICIAN: frozenset(
        _CLINICAL_READ
        | {
            Action.EPISODE_DISCHARGE,
            Action.EPISODE_MOVE_STAGE,
            Action.DIAGNOSIS_RECORD,
            Action.LEVEL_OF_CARE_DECIDE,
            Action.WITHDRAWAL_RECORD,
            Action.ALERT_ACKNOWLEDGE,
            Action.TAPER_PLAN,
            Action.TAPER_MANAGE,
            Action.DOSE_RECORD,
            Action.TREATMENT_PLAN_WRITE,
        }
    ),
    Role.NURSE: frozenset(
        _CLINICAL_READ
        | {
            Action.EPISODE_MOVE_STAGE,
            Action.DIAGNOSIS_RECORD,
            Action.WITHDRAWAL_RECORD,
            Action.ALERT_ACKNOWLEDGE,
            Action.TAPER_MANAGE,
            Action.DOSE_RECORD,
            Action.EDUCATION_RECORD,
        }
    ),
    Role.COUNSELOR: frozenset(
        _CLINICAL_READ
        | {
            Action.EPISODE_DISCHARGE,
            Action.EPISODE_MOVE_STAGE,
            Action.TREATMENT_PLAN_WRITE,
            Action.EDUCATION_RECORD,
            Action.SESSION_LOG,
            Action.EMERGENCY_ACCESS,
        }
    ),
    Role.INTAKE: frozenset(
        {
            Action.PATIENT_SEARCH,
            Action.PATIENT_VIEW,
            Action.PATIENT_CREATE,
            Action.PATIENT_EDIT,
            Action.EPISODE_VIEW,
            Action.EPISODE_ADMIT,
            Action.INQUIRY_MANAGE,
            Action.COVERAGE_MANAGE,
            Action.COVERAGE_STATUS_VIEW,
        }
    ),
}

#: Roles that see clinical records (intake sees demographics and admission data only).
CLINICAL_ROLES = frozenset({Role.SUPERVISOR, Role.PHYSICIAN, Role.NURSE, Role.COUNSELOR})
#: Roles that work across every active patient rather than a care team.
ALL_PATIENT_ROLES = frozenset({Role.SUPERVISOR, Role.PHYSICIAN, Role.NURSE, Role.INTAKE})


class HasRoles(Protocol):
    """Anything with a set of role names (a Staff row, an anonymous user)."""

    @property
    def role_names(self) -> frozenset[str]:
        """Return the roles held."""
        ...


def allowed_actions(roles: Iterable[str]) -> frozenset[Action]:
    """Return the union of actions the given roles grant."""
    actions: set[Action] = {Action.PUBLIC, Action.SIGNED_IN}
    for name in roles:
        try:
            actions |= PERMISSIONS[Role(name)]
        except ValueError:
            continue
    return frozenset(actions)


def can(user: HasRoles | None, action: Action) -> bool:
    """Tell whether a user's roles grant an action (object rules come on top)."""
    if action is Action.PUBLIC:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return action in allowed_actions(user.role_names)


def requires(action: Action) -> Callable[[F], F]:
    """Declare the action a route performs; the request guard enforces it."""

    def mark(view: F) -> F:
        setattr(view, ACTION_ATTR, action)
        return view

    return mark


def public(view: F) -> F:
    """Declare a route open to everyone (login, health check)."""
    return requires(Action.PUBLIC)(view)


def declared_action(view: Callable[..., Any] | None) -> Action | None:
    """Return the action a view declared, or None when it declared nothing."""
    if view is None:
        return None
    action = getattr(view, ACTION_ATTR, None)
    if action is None and hasattr(view, "view_class"):
        action = getattr(view.view_class, ACTION_ATTR, None)
    return action
