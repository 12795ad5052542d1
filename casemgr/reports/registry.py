"""The reports, each named once: its figures, its tables, its chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup

from casemgr.clinical import teds
from casemgr.reports import charts, queries, tables
from casemgr.reports.filters import ReportFilters


@dataclass(frozen=True)
class Report:
    """One report: URL slug, title, what it computes, how it is shown."""

    slug: str
    title: str
    summary: str
    compute: Callable[[ReportFilters], dict[str, Any]]
    tables: Callable[[dict[str, Any]], list[tables.Table]]
    chart: Callable[[dict[str, Any]], Markup | None]
    #: Whether the date range applies (the census is always "today").
    dated: bool = True
    range_meaning: str = ""

    @property
    def endpoint(self) -> str:
        """Return the page endpoint's name (slug with underscores)."""
        return self.slug.replace("-", "_")


def _census_chart(data: dict[str, Any]) -> Markup:
    items = [(row[0], float(row[1])) for row in tables.census_tables(data)[0].rows[:-1]]
    return charts.bar_chart(items, "Active episodes by stage")


def _los_chart(data: dict[str, Any]) -> Markup:
    items = [(row["band"] + " days", float(row["discharges"])) for row in data["distribution"]]
    return charts.bar_chart(items, "Discharges by length of stay")


def _retention_chart(data: dict[str, Any]) -> Markup | None:
    points = [(p["day"], p["retained"]) for p in data["points"]]
    return charts.step_chart(points, "Share still in treatment") if points else None


def _stage_chart(data: dict[str, Any]) -> Markup:
    items = [(row["label"], float(row["median_days"] or 0)) for row in data["stages"]]
    return charts.bar_chart(items, "Median days in each stage", " d")


def _discharge_chart(data: dict[str, Any]) -> Markup:
    items = [
        (teds.DISCHARGE_REASONS[r["reason"]], float(r["discharges"])) for r in data["by_reason"]
    ]
    return charts.bar_chart(items, "Discharges by reason")


def _caseload_chart(data: dict[str, Any]) -> Markup:
    items = [(r["name"], float(r["sessions_per_week"])) for r in data["counselors"]]
    return charts.bar_chart(items, "Sessions per week by counselor")


def _documentation_chart(data: dict[str, Any]) -> Markup:
    totals = data["totals"]
    items = [
        ("Signed ≤ 24 h", float(totals["signed_within_24h"])),
        ("Signed 24–72 h", float(totals["signed_24_to_72h"])),
        ("Signed > 72 h", float(totals["signed_after_72h"])),
        ("Unsigned", float(totals["unsigned"])),
    ]
    return charts.bar_chart(items, "Notes by time to signature")


def _education_chart(data: dict[str, Any]) -> Markup:
    items = [(m["title"], float(m["active_episodes_reached"])) for m in data["modules"]]
    return charts.bar_chart(items, "Active episodes that received each core module")


REPORTS: dict[str, Report] = {
    r.slug: r
    for r in (
        Report(
            "census",
            "Census",
            "Active episodes today by stage, setting and counselor.",
            queries.census,
            tables.census_tables,
            _census_chart,
            dated=False,
        ),
        Report(
            "length-of-stay",
            "Length of stay and the 90-day target",
            "Discharges in the range: length of stay, target attainment and splits.",
            queries.length_of_stay,
            tables.los_tables,
            _los_chart,
            range_meaning="discharge dates",
        ),
        Report(
            "retention",
            "Retention",
            "Kaplan–Meier share still in treatment by day since admission.",
            queries.retention,
            tables.retention_tables,
            _retention_chart,
            range_meaning="admission dates",
        ),
        Report(
            "stage-durations",
            "Time in each stage",
            "Median and interquartile range of days per stage (completed stays).",
            queries.stage_durations,
            tables.stage_tables,
            _stage_chart,
            range_meaning="admission dates",
        ),
        Report(
            "discharges",
            "Discharges by reason",
            "TEDS discharge reasons and the completed-or-transferred rate.",
            queries.discharges,
            tables.discharge_tables,
            _discharge_chart,
            range_meaning="discharge dates",
        ),
        Report(
            "caseload",
            "Caseload and activity",
            "Per counselor: active patients, sessions and hours per week, no-shows.",
            queries.caseload,
            tables.caseload_tables,
            _caseload_chart,
            range_meaning="session dates",
        ),
        Report(
            "documentation",
            "Documentation timeliness",
            "Notes unsigned, and signed within 24 h, 72 h or later, per author.",
            queries.documentation,
            tables.documentation_tables,
            _documentation_chart,
            range_meaning="note dates",
        ),
        Report(
            "education",
            "Education completion",
            "Core modules completed per active episode and at discharge.",
            queries.education,
            tables.education_tables,
            _education_chart,
            range_meaning="discharge dates",
        ),
    )
}


def jsonable(value: Any) -> Any:
    """Turn dates into ISO strings throughout, for JSON."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
