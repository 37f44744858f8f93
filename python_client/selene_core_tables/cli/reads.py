"""The commands that read one tenant, each printing a table, or JSON lines with ``--json``.

``current``, ``ledger``, ``list-pending``, ``step-attempts``, ``lease`` and
``consumer-stats``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from selene_core_tables.cli.common import json_line, repository, show, stderr, stdout
from selene_core_tables.database import Login
from selene_core_tables.records import WorkOrderLedgerEvent
from selene_core_tables.tables import (
    consumer_stats_table,
    current_table,
    lease_table,
    ledger_table,
    step_attempts_table,
)

_Tenant = Annotated[str, typer.Argument(help="tenant_id")]
_WorkOrder = Annotated[str, typer.Argument(help="work_order_id")]


def current_command(
    ctx: typer.Context,
    tenant: _Tenant,
    work_order: _WorkOrder,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON")] = False,
) -> None:
    """Show the current state of a work order (exit 1 when there is none)."""
    with repository(ctx, Login.APP) as repo:
        record = repo.current(tenant, work_order)
    if record is None:
        stderr().print(f"no work order {work_order!r} in tenant {tenant!r}", markup=False)
        raise typer.Exit(1)
    show([record], as_json, current_table)


def ledger_command(
    ctx: typer.Context,
    tenant: _Tenant,
    work_order: Annotated[str | None, typer.Option(help="Only this work order's events")] = None,
    after: Annotated[int, typer.Option(min=0, help="Events with ids above this one")] = 0,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many events (default: all)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show a tenant's ledger (or one work order's) in event-id order, paging as it goes."""
    shown: list[WorkOrderLedgerEvent] = []
    with repository(ctx, Login.APP) as repo:
        for count, event in enumerate(repo.ledger(tenant, work_order, after=after), start=1):
            if as_json:
                print(json_line(event))  # as it comes: the ledger may be long
            else:
                shown.append(event)
            if limit is not None and count >= limit:
                break
    if not as_json:
        stdout().print(ledger_table(shown))


def list_pending_command(
    ctx: typer.Context,
    tenant: _Tenant,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="A work_order_status to list; repeat for several (default: DRAFT, CLARIFY, "
            "CONFIRM)",
            show_default=False,
        ),
    ] = None,
    updated_after: Annotated[
        int | None, typer.Option(help="Only work orders last updated after this time (ns)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1 to 1000)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List a tenant's pending work orders (or those of --status), newest first."""
    with repository(ctx, Login.APP) as repo:
        records = repo.list_pending(
            tenant, statuses=status or None, updated_after=updated_after, limit=limit
        )
    show(records, as_json, current_table)


def step_attempts_command(
    ctx: typer.Context,
    tenant: _Tenant,
    work_order: _WorkOrder,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show the attempts of every step of a work order."""
    with repository(ctx, Login.APP) as repo:
        attempts = repo.step_attempts(tenant, work_order)
    show(attempts, as_json, step_attempts_table)


def lease_command(
    ctx: typer.Context,
    tenant: _Tenant,
    work_order: _WorkOrder,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lease as JSON")] = False,
) -> None:
    """Show the lease of a work order (exit 1 when it never had one)."""
    with repository(ctx, Login.APP) as repo:
        lease = repo.lease(tenant, work_order)
    if lease is None:
        stderr().print(f"work order {work_order!r} of {tenant!r} has no lease", markup=False)
        raise typer.Exit(1)
    show([lease], as_json, lambda leases: lease_table(leases[0]))


def consumer_stats_command(
    ctx: typer.Context,
    tenant: _Tenant,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show each durable consumer of a tenant: stream, position, last id and lag.

    The lag (pending) is the number of the tenant's events, or audit rows for an
    audit consumer, after the consumer's committed position (os_core.consumer_stats).
    """
    with repository(ctx, Login.APP) as repo:
        stats = repo.consumer_stats(tenant)
    show(stats, as_json, consumer_stats_table)
