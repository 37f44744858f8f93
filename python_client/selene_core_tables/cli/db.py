"""The embedded database's commands, ``db status|start|stop``, and ``demo``, which runs on it."""

from __future__ import annotations

from typing import Annotated

import typer

from selene_core_tables.cli.common import EXIT_BAD_INPUT, database_option, fail, reported, stdout


def demo_command(
    ctx: typer.Context,
    yes_rewrite_this_database: Annotated[
        bool,
        typer.Option(
            "--yes-rewrite-this-database",
            help="Run on the database of --dsn, although the demo breaks a projection row "
            "there and rebuilds every tenant of it (without it, only the embedded database)",
        ),
    ] = False,
) -> None:
    """Show every capability and failure mode on two tenants, on the embedded database.

    The demo writes to the database (two tenants' events), rewrites a projection row
    as a superuser and rebuilds every tenant: on a database named by --dsn it refuses
    (exit 2, nothing written) unless given --yes-rewrite-this-database.
    """
    from selene_core_tables.demo import DemoFailed, run_demo

    database = database_option(ctx)
    if not database.is_embedded and not yes_rewrite_this_database:
        fail(
            "the demo rewrites a projection row and rebuilds every tenant of the database "
            "it runs on, and --dsn names one other than the embedded database: nothing "
            "done; add --yes-rewrite-this-database to run it there anyway",
            EXIT_BAD_INPUT,
        )
    with reported(database):
        try:
            run_demo(database, stdout())
        except DemoFailed as failed:
            fail(f"the demo went wrong: {failed}", 1)


def status_command(ctx: typer.Context) -> None:
    """Say whether the embedded database exists and runs, and where."""
    database = database_option(ctx)
    with reported(database):
        status = database.cluster().status()
    state = "running" if status.running else "stopped"
    if not status.initialised:
        state = "not initialised (the first command that needs it creates it)"
    console = stdout()
    console.print(f"embedded database: {state}", markup=False)
    console.print(f"home: {status.home}", markup=False)
    if status.running:
        console.print(f"pid: {status.pid}", markup=False)
        console.print(f"migrations applied: {status.migrations_applied}", markup=False)
        console.print(f"dsn: {database.cluster().conninfo()}", markup=False)
    console.print(f"log: {status.log_file}", markup=False)


def start_command(ctx: typer.Context) -> None:
    """Create, start and migrate the embedded database (what every command does when needed)."""
    database = database_option(ctx)
    with reported(database):
        cluster = database.cluster()
        cluster.ensure_running()
    stdout().print(f"embedded database running under {cluster.home}", markup=False)


def stop_command(ctx: typer.Context) -> None:
    """Stop the embedded database (its data stays; the next command starts it again)."""
    database = database_option(ctx)
    with reported(database):
        stopped = database.cluster().stop()
    stdout().print("stopped" if stopped else "was not running")
