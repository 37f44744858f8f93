"""Events for the client tests: a valid WORK_ORDER_CREATED of tenant-a, with overrides."""

from __future__ import annotations

import zlib
from typing import Any

from selene_core_tables.records import WorkEventType, WorkOrderLedgerEventInput, WorkOrderStatus
from tests.sql_helpers import TENANT_A


def created(work_order_id: str = "wo-1", **fields: Any) -> WorkOrderLedgerEventInput:
    """A valid WORK_ORDER_CREATED event of tenant-a; ``fields`` override."""
    values: dict[str, Any] = {
        "tenant_id": TENANT_A,
        "work_order_id": work_order_id,
        "correlation_id": zlib.crc32(work_order_id.encode()) + 1,
        "turn_id": 1,
        "event_type": WorkEventType.WORK_ORDER_CREATED,
        "work_order_status": WorkOrderStatus.DRAFT,
        "reason_code": 1,
        "created_at": 1_000,
    }
    values.update(fields)
    return WorkOrderLedgerEventInput(**values)
