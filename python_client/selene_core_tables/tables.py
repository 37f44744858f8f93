"""Current records and ledger events as rich tables, for the CLI and the demo."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.table import Table

from selene_core_tables.records import (
    ConsumerStats,
    ProjectionDifference,
    TenantStats,
    WorkOrderCurrentRecord,
    WorkOrderLease,
    WorkOrderLedgerEvent,
    WorkOrderStepAttempt,
)


def current_table(records: Iterable[WorkOrderCurrentRecord], title: str | None = None) -> Table:
    """Render current records as a table."""
    table = Table(title=title, title_justify="left")
    for column in ("tenant", "work order", "status", "events", "last event", "turn"):
        table.add_column(column)
    table.add_column("step")
    table.add_column("lease")
    for record in records:
        table.add_row(
            record.tenant_id,
            record.work_order_id,
            record.work_order_status.value,
            str(record.event_count),
            str(record.last_event_id),
            str(record.turn_id),
            record.step_id or "",
            f"{record.lease_owner_id} until {record.lease_expires_at}"
            if record.lease_owner_id
            else "",
        )
    return table


def ledger_table(events: Iterable[WorkOrderLedgerEvent], title: str | None = None) -> Table:
    """Render ledger events as a table."""
    table = Table(title=title, title_justify="left")
    for column in ("id", "tenant", "work order", "event type", "status", "reason", "created_at"):
        table.add_column(column)
    table.add_column("idempotency key")
    table.add_column("step / payload")
    for event in events:
        extra = event.step_id or (json.dumps(event.payload) if event.payload else "")
        table.add_row(
            str(event.work_order_event_id),
            event.tenant_id,
            event.work_order_id,
            event.event_type.value,
            event.work_order_status.value,
            str(event.reason_code),
            str(event.created_at),
            event.idempotency_key or "",
            extra,
        )
    return table


def step_attempts_table(
    attempts: Iterable[WorkOrderStepAttempt], title: str | None = None
) -> Table:
    """Render step attempts as a table."""
    table = Table(title=title, title_justify="left")
    for column in ("step", "attempt", "status", "input hash", "started", "finished", "reason"):
        table.add_column(column)
    for attempt in attempts:
        table.add_row(
            attempt.step_id,
            str(attempt.attempt_index),
            attempt.attempt_status,
            attempt.step_input_hash or "",
            f"event {attempt.started_event_id} at {attempt.started_at}",
            ""
            if attempt.finished_event_id is None
            else f"event {attempt.finished_event_id} at {attempt.finished_at}",
            "" if attempt.reason_code is None else str(attempt.reason_code),
        )
    return table


def lease_table(lease: WorkOrderLease) -> Table:
    """Render a lease as a two-column table."""
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("owner", lease.lease_owner_id),
        ("token hash", lease.lease_token_hash),
        ("state", lease.lease_state),
        ("expires at", str(lease.lease_expires_at)),
        ("acquired", f"event {lease.acquired_event_id} at {lease.acquired_at}"),
        ("last event", str(lease.last_event_id)),
        ("released at", "" if lease.released_at is None else str(lease.released_at)),
    ):
        table.add_row(field, value)
    return table


def differences_table(differences: Iterable[ProjectionDifference]) -> Table:
    """Render verify's differences as a table."""
    table = Table(title="projection drift", title_justify="left")
    for column in ("tenant", "work order", "projection", "row", "difference", "expected", "actual"):
        table.add_column(column)
    for difference in differences:
        table.add_row(
            difference.tenant_id,
            difference.work_order_id,
            difference.projection,
            difference.row_key or "",
            difference.difference,
            difference.expected or "",
            difference.actual or "",
        )
    return table


def stats_table(stats: Iterable[TenantStats]) -> Table:
    """Render tenant_stats as a table, one row per tenant."""
    table = Table(title="tenants", title_justify="left")
    for column in (
        "tenant", "events", "last event", "last recorded", "work orders", "by status",
        "active leases", "projection",
    ):  # fmt: skip
        table.add_column(column)
    for tenant in stats:
        recorded = tenant.last_recorded_at
        by_status = tenant.work_orders_by_status.items()
        table.add_row(
            tenant.tenant_id,
            str(tenant.ledger_events),
            str(tenant.last_event_id or ""),
            recorded.isoformat(timespec="seconds") if recorded else "",
            str(tenant.work_orders),
            ", ".join(f"{status} {count}" for status, count in by_status),
            str(tenant.active_leases),
            "agrees" if tenant.projection_agrees else "DIFFERS: run verify",
        )
    return table


def consumer_stats_table(stats: Iterable[ConsumerStats]) -> Table:
    """Render consumer_stats as a table, one row per durable consumer."""
    table = Table(title="consumers", title_justify="left")
    for column in ("stream", "consumer", "position", "last id", "pending", "moved"):
        table.add_column(column)
    for consumer in stats:
        table.add_row(
            consumer.stream,
            consumer.consumer,
            str(consumer.committed_position),
            str(consumer.last_event_id or ""),
            str(consumer.pending_events),
            consumer.updated_at.isoformat(timespec="seconds"),
        )
    return table
