"""Each report as tables: the page renders them and the CSV writes exactly the same cells."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from casemgr.clinical import teds
from casemgr.episodes.models import STAGE_LABELS, Stage


@dataclass
class Table:
    """A titled table of display strings."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def fmt(value: Any, digits: int = 1) -> str:
    """Format a figure for display and CSV alike (— for missing)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: float | None) -> str:
    """Format a 0–1 fraction as a percentage."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _level_label(level: str) -> str:
    """Show an ASAM level, or say that no decision was recorded."""
    return "No decision recorded" if level == "none" else f"Level {level}"


def census_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the census report."""
    stage = Table(
        "Active episodes by stage",
        ["Stage", "Active"],
        [[STAGE_LABELS[Stage(s)], fmt(n)] for s, n in data["by_stage"].items()]
        + [["Total", fmt(data["total_active"])]],
    )
    setting = Table(
        "By setting",
        ["Setting", "Active"],
        [[label.capitalize(), fmt(n)] for label, n in data["by_setting"].items()],
    )
    counselor = Table(
        "By counselor",
        ["Counselor", "Active"],
        [[row["name"], fmt(row["active"])] for row in data["by_counselor"]],
    )
    places = Table(
        "Places in use (whole program)",
        ["Places", "Capacity", "In use", "Free", "Waiting"],
        [
            [
                p["category"].capitalize(),
                fmt(p["capacity"]),
                fmt(p["occupied"]),
                fmt(p["free"]),
                fmt(p["waiting"]),
            ]
            for p in data["places"]
        ],
    )
    levels = Table(
        "By level of care (ASAM)",
        ["Level", "Active"],
        [[_level_label(lvl), fmt(n)] for lvl, n in sorted(data["by_level_of_care"].items())],
    )
    return [stage, setting, levels, counselor, places]


def los_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the length-of-stay report."""
    summary = Table(
        "Discharges in the range",
        ["Measure", "Value"],
        [
            ["Discharges", fmt(data["discharges"])],
            ["Median length of stay (days)", fmt(data["median_los_days"])],
            ["Mean length of stay (days)", fmt(data["mean_los_days"])],
            ["Met their target", fmt(data["met_target"])],
            ["Target attainment", pct(data["met_target_rate"])],
        ],
    )
    bands = Table(
        "Length of stay (days)",
        ["Days", "Discharges"],
        [[row["band"], fmt(row["discharges"])] for row in data["distribution"]],
    )
    reasons = Table(
        "By discharge reason",
        ["Reason", "Discharges", "Met target"],
        [
            [teds.DISCHARGE_REASONS[int(code)], fmt(v["discharges"]), fmt(v["met_target"])]
            for code, v in data["by_reason_detail"].items()
        ],
    )
    settings = Table(
        "By setting",
        ["Setting", "Discharges", "Met target"],
        [
            [label.capitalize(), fmt(v["discharges"]), fmt(v["met_target"])]
            for label, v in data["by_setting"].items()
        ],
    )
    levels = Table(
        "By level of care at discharge",
        ["Level", "Discharges", "Met target"],
        [
            [_level_label(lvl), fmt(v["discharges"]), fmt(v["met_target"])]
            for lvl, v in sorted(data["by_level_of_care_detail"].items())
        ],
    )
    counselors = Table(
        "By counselor",
        ["Counselor", "Discharges", "Met target", "Rate"],
        [
            [r["name"], fmt(r["discharges"]), fmt(r["met_target"]), pct(r["met_target_rate"])]
            for r in data["by_counselor"]
        ],
    )
    active = data["active"]
    progress = Table(
        "Active episodes today",
        ["Status", "Episodes"],
        [
            ["On track", fmt(active["on_track"])],
            ["At risk", fmt(active["at_risk"])],
            ["Past target", fmt(active["past_target"])],
        ],
    )
    return [summary, bands, reasons, settings, levels, counselors, progress]


def retention_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the retention report: the curve at weekly points and the marked days."""
    points = {p["day"]: p["retained"] for p in data["points"]}
    days = sorted({1, 7, 14, 21, 28, 45, 60, 75, 90, 120} & set(points))
    return [
        Table(
            "Still in treatment by day since admission",
            ["Day", "Retained"],
            [[str(day), pct(points[day])] for day in days],
        )
    ]


def stage_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the stage-durations report."""
    return [
        Table(
            "Days in each stage",
            ["Stage", "Stays", "Median", "Q1", "Q3"],
            [
                [
                    row["label"],
                    fmt(row["stays"]),
                    fmt(row["median_days"]),
                    fmt(row["q1_days"]),
                    fmt(row["q3_days"]),
                ]
                for row in data["stages"]
            ],
        )
    ]


def discharge_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the discharges report."""
    rows = [[r["label"], fmt(r["discharges"]), pct(r["share"])] for r in data["by_reason"]]
    rows.append(["Total", fmt(data["discharges"]), pct(1.0 if data["discharges"] else None)])
    return [
        Table("Discharges by TEDS reason", ["Reason", "Discharges", "Share"], rows),
        Table(
            "Outcome",
            ["Measure", "Value"],
            [
                ["Completed or transferred", fmt(data["completed_or_transferred"])],
                ["Completed-or-transferred rate", pct(data["completed_or_transferred_rate"])],
            ],
        ),
    ]


def caseload_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the caseload and activity report."""
    return [
        Table(
            "Caseload and activity",
            ["Counselor", "Active", "Sessions", "Sessions/week", "Hours/week", "No-show rate"],
            [
                [
                    r["name"],
                    fmt(r["active"]),
                    fmt(r["sessions"]),
                    fmt(r["sessions_per_week"], 2),
                    fmt(r["hours_per_week"], 2),
                    pct(r["no_show_rate"]),
                ]
                for r in data["counselors"]
            ],
        )
    ]


def documentation_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the documentation-timeliness report."""
    headers = [
        "Author",
        "Notes",
        "Unsigned",
        "Unsigned > 72 h",
        "Signed ≤ 24 h",
        "Signed 24–72 h",
        "Signed > 72 h",
        "On time",
    ]

    def row(name: str, r: dict[str, Any]) -> list[str]:
        return [
            name,
            fmt(r["notes"]),
            fmt(r["unsigned"]),
            fmt(r["unsigned_over_72h"]),
            fmt(r["signed_within_24h"]),
            fmt(r["signed_24_to_72h"]),
            fmt(r["signed_after_72h"]),
            pct(r["on_time_rate"]),
        ]

    rows = [row(a["name"], a) for a in data["authors"]]
    if rows:
        rows.append(row("All authors", data["totals"]))
    return [Table("Documentation timeliness", headers, rows)]


def education_tables(data: dict[str, Any]) -> list[Table]:
    """Tables of the education-completion report."""
    headers = ["Episodes", "Count", "All core modules", "Completion", "Mean core modules"]

    def row(name: str, r: dict[str, Any]) -> list[str]:
        return [
            name,
            fmt(r["episodes"]),
            fmt(r["all_core_complete"]),
            pct(r["completion_rate"]),
            fmt(r["mean_core_modules"], 2),
        ]

    active = data["active"]["episodes"]
    return [
        Table(
            f"Completion of the {data['core_modules']} core modules",
            headers,
            [
                row("Active today", data["active"]),
                row("Discharged in the range (at discharge)", data["discharged"]),
            ],
        ),
        Table(
            "Core modules reached by active episodes",
            ["Module", "Episodes", "Share"],
            [
                [
                    m["title"],
                    fmt(m["active_episodes_reached"]),
                    pct(m["active_episodes_reached"] / active if active else None),
                ]
                for m in data["modules"]
            ],
        ),
    ]


def to_csv(tables: list[Table], preamble: list[str] | None = None) -> str:
    """Write the tables as CSV: a title row, the header row and the rows of each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for line in preamble or []:
        writer.writerow([line])
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return out.getvalue()
