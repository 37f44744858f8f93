"""The DBA's commands: ``migrate``, ``rebuild``, ``verify`` and ``stats``."""

from __future__ import annotations

from typing import Annotated

import typer

from selene_core_tables import migrate
from selene_core_tables.cli.common import database_option, reported, repository, show, stdout
from selene_core_tables.database import Login
from selene_core_tables.tables import differences_table, stats_table

_AnyTenant = Annotated[
    str | None, typer.Argument(help="tenant_id (default: every tenant, as a DBA)")
]


def migrate_command(ctx: typer.Context) -> None:
    """Apply pending migrations and reinstall the functions (the DSN must be a superuser's)."""
    database = database_option(ctx)
    with reported(database):
        conninfo = database.conninfo(Login.ADMIN)
        applied = migrate.apply_migrations(conninfo)
        migrate.reinstall_sql(conninfo)
    stdout().print(f"{applied} migration(s) applied; functions, policies and grants installed")


def rebuild_command(
    ctx: typer.Context,
    tenant: _AnyTenant = None,
    audit: Annotated[bool, typer.Option(help="Write a PH1.J audit row per tenant")] = False,
) -> None:
    """Make the projections equal to the ledger, for one tenant or all, while appends go on."""
    with repository(ctx, Login.DBA) as repo:
        result = repo.rebuild(tenant, audit=audit)
    stdout().print(
        f"rebuilt {result.work_order_count} work order(s) of {result.tenant_count} tenant(s) "
        f"from {result.event_count} event(s); "
        f"{result.rewritten_work_order_count} had drifted and were rewritten"
    )


def verify_command(
    ctx: typer.Context,
    tenant: _AnyTenant = None,
    audit: Annotated[bool, typer.Option(help="Write a PH1.J audit row per tenant")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Compare the projections with the ledger; exit 1 when they differ. Writes nothing."""
    with repository(ctx, Login.DBA) as repo:
        differences = repo.verify(tenant, audit=audit)
    if differences or as_json:
        show(differences, as_json, differences_table)
    else:
        stdout().print("the projections agree with the ledger")
    if differences:
        raise typer.Exit(1)


def stats_command(
    ctx: typer.Context,
    tenant: _AnyTenant = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show each tenant's events, work orders by status and leases; exit 1 on drift.

    Durable consumers' positions and lag: consumer-stats T.
    """
    with repository(ctx, Login.DBA) as repo:
        stats = repo.stats(tenant)
    show(stats, as_json, stats_table)
    if not all(tenant_stats.projection_agrees for tenant_stats in stats):
        raise typer.Exit(1)
