"""Portable SQL pieces for reports: day differences and percentiles on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class days_between(FunctionElement[int]):  # noqa: N801  (reads like the SQL function it is)
    """Whole days from a start date to an end date (end − start), as an integer."""

    type = sa.Integer()
    inherit_cache = True


@compiles(days_between, "postgresql")
def _days_between_pg(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)}) AS INTEGER)"
    )


class hours_between(FunctionElement[float]):  # noqa: N801
    """Hours from one timestamp to another, as a float."""

    type = sa.Float()
    inherit_cache = True


@compiles(hours_between, "postgresql")
def _hours_between_pg(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - "
        f"{compiler.process(start, **kw)})) / 3600.0)"
    )


@compiles(hours_between, "sqlite")
def _hours_between_sqlite(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 24.0)"
    )


def percentiles(
    session: Any,
    values: sa.Subquery,
    value_col: str,
    group_col: str | None,
    fractions: Sequence[float] = (0.25, 0.5, 0.75),
    sizes: dict[Any, int] | None = None,
) -> dict[Any, dict[float, float]]:
    """Compute percentiles (linear interpolation, like PostgreSQL's percentile_cont) in SQL.

    The database ranks the values with window functions and returns only the two rows around
    each wanted position per group, so the work grows with the rows read, not with queries.
    ``sizes``, when given, receives the number of values per group (no second pass needed).
    """
    value = values.c[value_col]
    group = values.c[group_col] if group_col else sa.literal(0)
    partition = [group] if group_col else []
    ranked = sa.select(
        group.label("grp"),
        value.label("val"),
        sa.func.row_number().over(partition_by=partition, order_by=value).label("rn"),
        sa.func.count().over(partition_by=partition).label("n"),
    ).subquery()
    positions = []
    for fraction in fractions:
        exact = fraction * (ranked.c.n - 1) + 1  # 1-based
        positions.append(ranked.c.rn == sa.func.floor(exact))
        positions.append(ranked.c.rn == sa.func.ceil(exact))
    rows = session.execute(
        sa.select(ranked.c.grp, ranked.c.rn, ranked.c.n, ranked.c.val).where(sa.or_(*positions))
    ).all()
    by_group: dict[Any, dict[int, float]] = defaultdict(dict)
    sizes = {} if sizes is None else sizes
    for row in rows:
        by_group[row.grp][row.rn] = float(row.val)
        sizes[row.grp] = row.n
    out: dict[Any, dict[float, float]] = {}
    for grp, ranks in by_group.items():
        n = sizes[grp]
        result = {}
        for fraction in fractions:
            exact = fraction * (n - 1) + 1
            low, high = int(exact // 1), int(-(-exact // 1))
            weight = exact - low
            result[fraction] = ranks[low] + (ranks[high] - ranks[low]) * weight
        out[grp] = result
    return out


def ratio(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    """Divide as floats, giving NULL instead of an error when the denominator is zero."""
    return sa.cast(numerator, sa.Float) / sa.func.nullif(denominator, 0)
