"""Server-side SVG charts: no JavaScript, no CDN, readable without colour alone."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 720
BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 210
COLOUR = "#0d6efd"


def bar_chart(items: Sequence[tuple[str, float]], title: str, unit: str = "") -> Markup:
    """Draw horizontal bars with their labels and values (counts, days, shares)."""
    height = max(len(items), 1) * (BAR_HEIGHT + GAP) + 30
    top = max((value for _, value in items), default=0) or 1
    span = WIDTH - LABEL_WIDTH - 70
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} '
        f'{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = 10 + i * (BAR_HEIGHT + GAP)
        w = 0 if value <= 0 else max(2, value / top * span)
        shown = f"{value:g}{unit}"
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{COLOUR}" rx="3"/>'
            f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + 15}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every label is escaped above)


def step_chart(
    points: Sequence[tuple[int, float]], title: str, marks: Sequence[int] = (28, 60, 90)
) -> Markup:
    """Draw a Kaplan–Meier style step curve (0–100%) with vertical marks on chosen days."""
    height, left, bottom, right, top_pad = 320, 50, 40, 20, 20
    plot_w, plot_h = WIDTH - left - right, height - bottom - top_pad
    last_day = max((d for d, _ in points), default=1)

    def x(day: float) -> float:
        return left + (day - 1) / max(last_day - 1, 1) * plot_w

    def y(share: float) -> float:
        return top_pad + (1 - share) * plot_h

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} '
        f'{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for share in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
            f'stroke="#dee2e6"/><text x="{left - 6}" y="{y(share) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{int(share * 100)}%</text>'
        )
    for day in marks:
        if day <= last_day:
            parts.append(
                f'<line x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{top_pad}" '
                f'y2="{top_pad + plot_h}" stroke="#6c757d" stroke-dasharray="4 3"/>'
                f'<text x="{x(day):.1f}" y="{height - 22}" font-size="11" '
                f'text-anchor="middle">day {day}</text>'
            )
    if points:
        path = [f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"]
        previous = points[0][1]
        for day, share in points[1:]:
            if share != previous:
                path.append(f"H{x(day):.1f}V{y(share):.1f}")
                previous = share
        path.append(f"H{x(points[-1][0]):.1f}")
        parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{COLOUR}" stroke-width="2"/>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" '
        f'text-anchor="middle">days since admission</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704  (no user text inside)
