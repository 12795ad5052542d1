"""The stage machine's rules in one table: what each stage needs before a patient leaves it.

Views and the API never hold stage rules; they call episodes.services.move_stage, which
reads this table. Requirements are added here as the clinical records they check exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from casemgr.core.permissions import Role
from casemgr.episodes.models import Episode, Stage


@dataclass(frozen=True)
class Requirement:
    """One exit requirement: a short code (API), words (page) and the check itself."""

    code: str
    label: str
    check: Callable[[Episode], bool]
    #: Endpoint name of the page where the missing record is entered, for the refusal's link.
    where: str | None = None


@dataclass(frozen=True)
class ExitRule:
    """What leaving a stage needs and who may make the move."""

    requirements: tuple[Requirement, ...] = ()
    #: Roles allowed to move a patient out of this stage forward; empty means any role
    #: holding the episode.move_stage permission.
    roles: frozenset[Role] = field(default_factory=frozenset)


#: Filled in by the clinical modules (assessments, medication, plans, education) through
#: register_requirement(), so this module does not import them and cycles cannot form.
EXIT_RULES: dict[Stage, ExitRule] = {stage: ExitRule() for stage in Stage}


def register_requirement(stage: Stage, requirement: Requirement) -> None:
    """Add an exit requirement for a stage (called once by each clinical module)."""
    rule = EXIT_RULES[stage]
    if any(r.code == requirement.code for r in rule.requirements):
        return
    EXIT_RULES[stage] = ExitRule(rule.requirements + (requirement,), rule.roles)


def restrict_exit(stage: Stage, roles: frozenset[Role]) -> None:
    """Allow only the given roles to move a patient out of a stage."""
    EXIT_RULES[stage] = ExitRule(EXIT_RULES[stage].requirements, roles)


def missing_requirements(episode: Episode, stage: Stage) -> list[Requirement]:
    """Return the exit requirements of a stage that the episode has not met."""
    return [r for r in EXIT_RULES[stage].requirements if not r.check(episode)]
