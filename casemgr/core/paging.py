"""Paging for list pages: one bounded page of rows read in SQL, and what the pager shows.

Lists that grow with the program (caseloads, work queues, the waitlist, staff) never load
every row: each page is a LIMIT/OFFSET on the list's own order plus one COUNT, so a page
costs the same number of statements at any size. The API has its own envelope
(core.rest.paginate); pages use this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, request, url_for

from casemgr.extensions import db

#: Rows per page of a list page; ``LIST_PAGE_SIZE`` in the app config overrides it.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Paging:
    """Where a list page is: its number, its size and how many rows the whole list has."""

    page: int
    per_page: int
    total: int
    #: The query-string argument that holds the page number (two lists on one page differ).
    arg: str = "page"

    @property
    def pages(self) -> int:
        """Return the number of pages (at least one, even for an empty list)."""
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def offset(self) -> int:
        """Return how many rows come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        """Tell whether there is an earlier page."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Tell whether there is a later page."""
        return self.page < self.pages


def page_size() -> int:
    """Return the configured rows per list page."""
    return int(current_app.config.get("LIST_PAGE_SIZE", PAGE_SIZE))


def count_rows(query: sa.Select[Any]) -> int:
    """Count the rows a select would return (its ORDER BY dropped)."""
    subquery = query.order_by(None).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(subquery)) or 0


def paged(
    query: sa.Select[Any],
    arg: str = "page",
    *,
    total: int | None = None,
    per_page: int | None = None,
) -> tuple[list[Any], Paging]:
    """Return the rows of the page named by ``?<arg>=`` and where it is.

    A page number past the end shows the last page; anything but a positive number is 1.
    Give ``total`` when the caller already counted the list (with other figures).
    """
    paging = paging_for(count_rows(query) if total is None else total, arg, per_page)
    rows = list(db.session.execute(query.limit(paging.per_page).offset(paging.offset)).all())
    return rows, paging


def paging_for(total: int, arg: str = "page", per_page: int | None = None) -> Paging:
    """Return the page named by ``?<arg>=`` of a list of ``total`` rows (clamped to it)."""
    size = per_page or page_size()
    requested = request.args.get(arg, 1, type=int) or 1
    last = Paging(1, size, total, arg).pages
    return Paging(min(max(requested, 1), last), size, total, arg)


def paged_scalars(
    query: sa.Select[Any], arg: str = "page", *, per_page: int | None = None
) -> tuple[list[Any], Paging]:
    """Like ``paged`` for a select of one entity: return the objects, not rows."""
    rows, paging = paged(query, arg, per_page=per_page)
    return [row[0] for row in rows], paging


def page_url(arg: str, number: int) -> str:
    """Return this page's address with another page number (other filters kept)."""
    args = request.args.to_dict(flat=False)
    args[arg] = [str(number)]
    return url_for(request.endpoint or "", **(request.view_args or {}), **args)
