"""Time every report over a generated program of at least 20,000 episodes, on each database.

Usage: python benchmarks/bench_reports.py [--patients 17500] [--repeat 5]
PostgreSQL runs when BENCH_DATABASE_URL (or TEST_DATABASE_URL's server) is reachable; the
benchmark creates and reuses its own database `casemgr_bench`. Results go to stdout and to
benchmarks/REPORTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from casemgr import create_app  # noqa: E402
from casemgr.core.timeutil import today  # noqa: E402
from casemgr.datagen import generate  # noqa: E402
from casemgr.episodes.models import Episode  # noqa: E402
from casemgr.extensions import db  # noqa: E402
from casemgr.reports.filters import ReportFilters  # noqa: E402
from casemgr.reports.registry import REPORTS  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def databases() -> list[tuple[str, str]]:
    """Return (name, url) of each database to benchmark."""
    OUT.mkdir(parents=True, exist_ok=True)
    found = [("SQLite", f"sqlite:///{OUT / 'bench.db'}")]
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/casemgr_test"
    )
    base = sa.engine.make_url(server)
    try:
        admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = 'casemgr_bench'"
            ).scalar()
            if not exists:
                conn.exec_driver_sql("CREATE DATABASE casemgr_bench")
        admin.dispose()
        found.append(("PostgreSQL", base.set(database="casemgr_bench").render_as_string(False)))
    except sa.exc.OperationalError:
        print("PostgreSQL unreachable: benchmarking SQLite only", file=sys.stderr)
    return found


def prepare(url: str, patients: int) -> tuple[object, int]:
    """Migrate the database and generate data once; return the app and the episode count."""
    app = create_app(
        {
            "CASEMGR_ENV": "testing",
            "SECRET_KEY": "bench-" + "x" * 40,
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    with app.app_context():
        upgrade()
        episodes = db.session.scalar(sa.select(sa.func.count(Episode.id))) or 0
        if episodes < 20_000:
            started = time.perf_counter()
            generate(patients, years=3, seed=7)
            db.session.commit()
            print(f"  generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            episodes = db.session.scalar(sa.select(sa.func.count(Episode.id)))
    return app, episodes


def main() -> None:
    """Run the benchmark and write the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=17_500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    for name, url in databases():
        print(f"{name}: preparing", file=sys.stderr)
        app, episodes = prepare(url, args.patients)
        sizes[name] = episodes
        with app.app_context():
            end = today()
            windows = {
                "1 year": ReportFilters(end - timedelta(days=364), end),
                "3 years": ReportFilters(end - timedelta(days=3 * 365), end),
            }
            for report in REPORTS.values():
                for label, filters in windows.items():
                    if not report.dated and label != "1 year":
                        continue
                    timings = []
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        report.compute(filters)
                        timings.append((time.perf_counter() - started) * 1000)
                        db.session.rollback()
                    key = report.title if not report.dated else f"{report.title} ({label})"
                    results.setdefault(key, {})[name] = statistics.median(timings)
        with app.app_context():
            db.engine.dispose()
    names = list(sizes)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Report benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; run {stamp}.",
        "Data: "
        + ", ".join(f"{n} {sizes[n]:,} episodes" for n in names)
        + f" (`flask generate-data --patients {args.patients} --years 3 --seed 7`).",
        f"Median of {args.repeat} runs of each report's queries (ms), in-process, warm cache.",
        "",
        "| report | " + " | ".join(f"{n} (ms)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key, by_db in results.items():
        lines.append(
            f"| {key} | " + " | ".join(f"{by_db.get(n, float('nan')):.1f}" for n in names) + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "REPORTS.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
