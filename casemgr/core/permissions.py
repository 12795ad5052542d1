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
    REPORT_VIEW = "report.view"
    AUDIT_VIEW = "audit.view"


_CLINICAL_READ = {
    Action.PATIENT_SEARCH,
    Action.PATIENT_VIEW,
    Action.EPISODE_VIEW,
    Action.CASELOAD_VIEW,
}

#: The permission table. Object-level rules (care team, primary counselor) sit in
#: casemgr/patients/access.py and narrow these grants; they never widen them.
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset({Action.STAFF_MANAGE, Action.REPORT_VIEW, Action.AUDIT_VIEW}),
    Role.SUPERVISOR: frozenset(
        _CLINICAL_READ
        | {
            Action.PATIENT_CREATE,
            Action.PATIENT_EDIT,
            Action.EPISODE_ADMIT,
            Action.EPISODE_DISCHARGE,
            Action.EPISODE_MOVE_STAGE,
            Action.REPORT_VIEW,
        }
    ),
    Role.PHYSICIAN: frozenset(
        _CLINICAL_READ | {Action.EPISODE_DISCHARGE, Action.EPISODE_MOVE_STAGE}
    ),
    Role.NURSE: frozenset(_CLINICAL_READ | {Action.EPISODE_MOVE_STAGE}),
    Role.COUNSELOR: frozenset(
        _CLINICAL_READ | {Action.EPISODE_DISCHARGE, Action.EPISODE_MOVE_STAGE}
    ),
    Role.INTAKE: frozenset(
        {
            Action.PATIENT_SEARCH,
            Action.PATIENT_VIEW,
            Action.PATIENT_CREATE,
            Action.PATIENT_EDIT,
            Action.EPISODE_VIEW,
            Action.EPISODE_ADMIT,
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
