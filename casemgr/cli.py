"""The `flask` commands: create-admin, seed-demo."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from casemgr.core.errors import CasemgrError
from casemgr.extensions import db


@click.command("create-admin")
@click.argument("username")
@click.option("--full-name", default=None, help="Shown on screens; defaults to the username.")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(
    username: str, full_name: str | None, email: str | None, password_stdin: bool
) -> None:
    """Create an administrator account."""
    from casemgr.staff import services

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        staff = services.create_staff(
            None,
            username=username,
            full_name=full_name or username,
            email=email,
            password=password,
            roles=["admin"],
        )
        db.session.commit()
    except CasemgrError as err:
        db.session.rollback()
        details = "; ".join(m for msgs in err.fields.values() for m in msgs)
        raise click.ClickException(f"{err.message} {details}".strip()) from err
    click.echo(f"Created admin {staff.username} (id {staff.id}).")


@click.command("seed-demo")
def seed_demo() -> None:
    """Load the demo program once (a second run changes nothing) and print the logins."""
    from casemgr import demo

    created = demo.seed()
    db.session.commit()
    click.echo("Demo data loaded." if created else "Demo data already present; nothing changed.")
    click.echo(demo.logins_text())


@click.command("generate-data")
@click.option("--patients", type=click.IntRange(1, 2_000_000), required=True)
@click.option("--years", type=click.IntRange(1, 30), default=3, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--audit-days",
    type=click.IntRange(0, 36_500),
    default=365,
    show_default=True,
    help="Days of audit trail to write, ending today; 0 writes it for the whole history.",
)
def generate_data(patients: int, years: int, seed: int, audit_days: int) -> None:
    """Write synthetic benchmark data (deterministic for a seed)."""
    import time

    from casemgr import datagen

    started = time.perf_counter()
    counts = datagen.generate(patients, years, seed, audit_days=audit_days or None)
    db.session.commit()
    written = time.perf_counter() - started
    analyzed = ""
    if db.engine.dialect.name == "postgresql":
        # Fresh planner statistics, so the first benchmark query is planned on real sizes.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in counts.tables:
                connection.exec_driver_sql(f'ANALYZE "{table}"')
        analyzed = f"; {time.perf_counter() - started:.1f} s with ANALYZE"
    width = max(len(table) for table in counts.tables)
    for table, rows in counts.tables.items():
        click.echo(f"  {table:<{width}} {rows:>10,}")
    trail = f"since {counts.audit_since}" if counts.audit_since else "whole history"
    click.echo(
        f"Wrote {sum(counts.tables.values()):,} rows (audit trail: {trail}) "
        f"in {written:.1f} s{analyzed}."
    )
    click.echo(
        f"Showcase patient: id {counts.showcase_patient_id}, MRN {counts.showcase_mrn}, "
        f"active episode {counts.showcase_episode_id} with {datagen.SHOWCASE_SESSIONS} sessions."
    )


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the audit hash chain; exit 0 when intact, 1 with the first bad row otherwise."""
    from casemgr.audit import chain

    options: dict[str, object] = {"casemgr_read_only": True}
    if db.engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"  # one consistent snapshot
    with db.engine.connect().execution_options(**options) as connection:
        result = chain.verify(connection)
        head = connection.execute(
            db.text("SELECT last_hash FROM audit_chain_head WHERE id = 1")
        ).scalar()
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} events; head {head or '-'}")
        return
    click.echo(
        f"Audit chain BROKEN at event {result.first_bad_id}: {result.problem} "
        f"({result.checked} events before it are intact)",
        err=True,
    )
    sys.exit(1)


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(generate_data)
    app.cli.add_command(audit_cli)
