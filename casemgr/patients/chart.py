"""Sections of the patient chart contributed by other domains (assessments, therapy, ...).

The chart page stays closed to edits: a domain registers a section (a template and a function
that loads its data, in a bounded number of queries) from its own views module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from casemgr.episodes.models import Episode
from casemgr.patients.models import Patient

#: provider(actor, patient, episodes) -> the section's template context, or None to hide it.
Provider = Callable[[Any, Patient, list[Episode]], dict[str, Any] | None]


@dataclass(frozen=True)
class ChartSection:
    """One block of the chart: its template, its data, and where it goes for whom."""

    name: str
    template: str
    provider: Provider
    #: Sort key per viewer, so medical staff can see withdrawal and taper first.
    order: Callable[[Any], int]


CHART_SECTIONS: dict[str, ChartSection] = {}


def register_chart_section(
    name: str, template: str, provider: Provider, order: int | Callable[[Any], int] = 50
) -> None:
    """Add (or replace) a chart section."""
    order_fn = order if callable(order) else (lambda _actor, value=order: value)
    CHART_SECTIONS[name] = ChartSection(name, template, provider, order_fn)


def build_sections(actor: Any, patient: Patient, episodes: list[Episode]) -> list[tuple[str, Any]]:
    """Load every visible section for this viewer, in the viewer's order."""
    out = []
    for section in sorted(CHART_SECTIONS.values(), key=lambda s: (s.order(actor), s.name)):
        context = section.provider(actor, patient, episodes)
        if context is not None:
            out.append((section.template, context))
    return out
