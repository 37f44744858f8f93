"""Current records and ledger events as rich tables, for the CLI and the demo."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.table import Table

from selene_core_tables.records import WorkOrderCurrentRecord, WorkOrderLedgerEvent


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
