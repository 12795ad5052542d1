"""Profile one page in-process with pyinstrument, on a database `make bench` generated.

    .venv/bin/python benchmarks/profile_page.py --database postgresql --page chart

Prints the call tree of ``--repeat`` requests (after one warm-up request), the number of SQL
statements per request and the time spent in them, and writes an HTML profile to
``benchmarks/out/profile-<database>-<page>.html``. The benchmark's misses are explained with
these profiles (benchmarks/NOTES.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402  (the benchmark's own setup: accounts, scenarios)


def main(argv: list[str] | None = None) -> int:
    """Profile one scenario's page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--page",
        required=True,
        help="a scenario's key in bench.py: login, caseload, chart, log-session, census, los, "
        "retention, audit, api-episodes, readyz, healthz",
    )
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--url", default="", help="database URL (default: the bench's own)")
    parser.add_argument("--sql", action="store_true", help="print each statement and its time")
    args = parser.parse_args(argv)

    from pyinstrument import Profiler
    from sqlalchemy import event

    if args.url:
        url = args.url
    elif args.database == "sqlite":
        url = f"sqlite:///{bench.OUT / f'bench-{args.patients}-s{args.seed}.db'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1/casemgr_bench_{args.patients}_s{args.seed}"
    target = bench.Target(args.database, url)
    bench.prepare_accounts(target)
    accounts = bench.ACCOUNTS[args.database]

    from casemgr import create_app
    from casemgr.config import engine_options
    from casemgr.extensions import db

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url)}
    )
    by_key = {s.key: s for s in bench.scenarios(target)}
    if args.page not in by_key:
        parser.error(f"--page must be one of {', '.join(by_key)}")
    scenario = by_key[args.page]
    client = app.test_client()
    headers: dict[str, str] = {}
    body: Any = None
    role = scenario.role
    if role and role != "anonymous":
        page = client.get("/login").get_data(as_text=True)
        client.post(
            "/login",
            data={
                "csrf_token": bench.csrf_token(page),
                "username": accounts[role],
                "password": bench.PASSWORD,
            },
        )
        if scenario.api:
            token = client.post(
                "/api/v1/auth/tokens",
                json={"username": accounts[role], "password": bench.PASSWORD},
            ).get_json()["token"]
            headers["Authorization"] = f"Bearer {token}"
    if scenario.method == "POST":
        form_page = client.get(scenario.path if role != "anonymous" else "/login")
        token = bench.csrf_token(form_page.get_data(as_text=True))
        body = scenario.body.replace("CSRF", token).replace("BENCHSEQ", "profile")
        if role == "anonymous":
            body = {
                "csrf_token": token,
                "username": accounts["counselor"],
                "password": bench.PASSWORD,
            }

    statements = {"count": 0, "seconds": 0.0}
    started_at: dict[int, float] = {}

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        started_at[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        spent = time.perf_counter() - started_at.pop(id(cursor), time.perf_counter())
        statements["count"] += 1
        statements["seconds"] += spent
        if args.sql and statements.get("print"):
            print(f"--- {spent * 1000:.2f} ms\n{statement[:1500]}")

    def hit() -> int:
        if scenario.method == "POST":
            response = client.post(
                scenario.path,
                data=body,
                headers=headers,
                content_type=None
                if isinstance(body, dict)
                else "application/x-www-form-urlencoded",
            )
            if role == "anonymous":
                client.post("/logout", data={"csrf_token": token})
        else:
            response = client.get(scenario.path, headers=headers)
        return response.status_code

    statements["print"] = 1
    print(f"warm-up: {hit()}")
    statements["print"] = 0
    statements.update(count=0, seconds=0.0)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    codes = [hit() for _ in range(args.repeat)]
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(
        f"{args.page} on {args.database}: {elapsed / args.repeat * 1000:.1f} ms a request, "
        f"{statements['count'] / args.repeat:.1f} SQL statements a request taking "
        f"{statements['seconds'] / args.repeat * 1000:.1f} ms; statuses {sorted(set(codes))}"
    )
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    out = bench.OUT / f"profile-{args.database}-{args.page}.html"
    out.write_text(profiler.output_html())
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
