"""The funnel drawn on the server as SVG: no script, no CDN, styled from static/app.css."""

from __future__ import annotations

from markupsafe import Markup, escape

from casemgr.intake.queries import Funnel

WIDTH = 640
BAR_HEIGHT = 26
GAP = 10
LABEL_WIDTH = 130
COUNT_WIDTH = 90


def funnel_svg(funnel: Funnel) -> Markup:
    """Return a horizontal bar chart of the funnel stages and the ways inquiries were lost."""
    rows = [
        ("Inquiries", funnel.inquiries, "stage"),
        ("Screened", funnel.screened, "stage"),
        ("Waitlisted", funnel.waitlisted, "stage"),
        ("Admitted", funnel.admitted, "admitted"),
        ("Referred out", funnel.lost["referred_out"], "lost"),
        ("Declined", funnel.lost["declined"], "lost"),
        ("Lost contact", funnel.lost["lost_contact"], "lost"),
    ]
    scale = max(funnel.inquiries, 1)
    span = WIDTH - LABEL_WIDTH - COUNT_WIDTH
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    parts = [
        f'<svg class="funnel-chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" aria-labelledby="funnel-title">',
        '<title id="funnel-title">Inquiry funnel: how many inquiries reached each stage</title>',
    ]
    for i, (label, count, kind) in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        width = round(span * count / scale, 1)
        share = f" ({count / funnel.inquiries:.0%})" if funnel.inquiries and i else ""
        parts.append(
            f'<text class="funnel-label" x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT * 0.68}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect class="funnel-bar funnel-{kind}" x="{LABEL_WIDTH}" y="{y}" '
            f'width="{width}" height="{BAR_HEIGHT}" rx="3"><title>{escape(label)}: {count}'
            f"</title></rect>"
        )
        parts.append(
            f'<text class="funnel-count" x="{LABEL_WIDTH + width + 6}" '
            f'y="{y + BAR_HEIGHT * 0.68}">{count}{escape(share)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (numbers and escaped labels only)
