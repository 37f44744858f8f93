"""``follow``: a tenant's ledger (or audit trail) as it commits, or as a durable consumer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated

import psycopg
import typer

from selene_core_tables._queries import position_of
from selene_core_tables.cli.common import EXIT_BAD_INPUT, fail, json_line, repository
from selene_core_tables.database import Login
from selene_core_tables.records import AuditEvent, WorkOrderLedgerEvent


def follow_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    after: Annotated[
        int | None, typer.Option(min=0, help="Start after this event id (default 0)")
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            help="Durable consumer: start after its position and commit each event printed",
            show_default=False,
        ),
    ] = None,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit",
            help="Follow the PH1.J audit trail instead of the ledger (--after and "
            "--consumer then name audit ids and an audit consumer)",
        ),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.001, max=60, help="Seconds between reads when caught up")
    ] = 0.5,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="With --consumer: give up after this many seconds when another instance "
            "holds it (default: wait)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
    limit: Annotated[
        int | None,
        typer.Option(min=1, hidden=True, help="Stop after this many events (for tests)"),
    ] = None,
) -> None:
    """Stream a tenant's events as they are appended, until interrupted (Ctrl-C).

    With --consumer NAME it starts after the durable consumer's committed position
    and commits each event once it is printed; a restart goes on after the last.
    With --audit it streams the tenant's PH1.J audit rows (appends, replays, and
    rebuilds and verifies run with their audit flag) the same way; an audit consumer
    and a ledger consumer of one name are two consumers.
    """
    if consumer is not None and after is not None:
        fail(
            "--after and --consumer exclude each other: a consumer starts after its position",
            EXIT_BAD_INPUT,
        )
    if lock_timeout is not None and consumer is None:
        fail("--lock-timeout goes with --consumer", EXIT_BAD_INPUT)
    with repository(ctx, Login.APP) as repo:
        if consumer is None:
            events: Iterable[WorkOrderLedgerEvent | AuditEvent]
            if audit:
                events = repo.follow_audit(
                    tenant, after_audit_event_id=after or 0, poll_interval=poll_interval
                )
            else:
                events = repo.follow(tenant, after_event_id=after or 0, poll_interval=poll_interval)
            _stream(events, None, as_json, limit)
            return
        with repo.consumer(
            tenant,
            consumer,
            poll_interval=poll_interval,
            lock_timeout=lock_timeout,
            stream="audit" if audit else "ledger",
        ) as durable:
            try:
                _stream(durable, durable.commit, as_json, limit)
            except psycopg.errors.LockNotAvailable:
                fail(
                    f"consumer {consumer!r} of tenant {tenant!r} is held by another instance "
                    f"(waited {lock_timeout} s) [SQLSTATE 55P03]",
                    1,
                )


def _stream(
    events: Iterable[WorkOrderLedgerEvent | AuditEvent],
    commit: Callable[[int], int] | None,
    as_json: bool,
    limit: int | None,
) -> None:
    """Print each event (then commit it, for a consumer) until ``limit`` or Ctrl-C."""
    try:
        for count, event in enumerate(events, start=1):
            if as_json:
                print(json_line(event), flush=True)
            elif isinstance(event, AuditEvent):
                print(
                    f"{event.audit_event_id} {event.capability} {event.outcome} "
                    f"{event.work_order_id or '-'} {event.work_order_event_id or '-'} "
                    f"{event.recorded_at.isoformat()}",
                    flush=True,
                )
            else:
                print(
                    f"{event.work_order_event_id} {event.work_order_id} {event.event_type} "
                    f"{event.work_order_status} {event.recorded_at.isoformat()}",
                    flush=True,
                )
            if commit is not None:
                commit(position_of(event))
            if limit is not None and count >= limit:
                return
    except KeyboardInterrupt:
        return  # Ctrl-C: the normal end of a follow
