"""The append data set's database and the events appended to it.

Shared by the suites that append to the ``simple`` data set (``client``, ``network``)
and the others that read it; a module of its own, which imports no suite, so that
:mod:`benchmarks.network` imports it at the top rather than lazily from
:mod:`benchmarks.suites` (which imports the network suite).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from benchmarks import datasets
from selene_core_tables import WorkOrderLedgerEventInput

if TYPE_CHECKING:
    from benchmarks.harness import Config

APPEND_DB = "bench"
"""Database of the ``simple`` data set: appends, reads, the client."""


def field_set(config: Config, number: int, tenant: int | None = None) -> WorkOrderLedgerEventInput:
    """Return a valid FIELD_SET event for work order ``number`` (spread over tenants), now."""
    t = tenant if tenant is not None else number % config.tenants + 1
    w = (
        (number // config.tenants) % config.work_orders
        if tenant is None
        else number % config.work_orders
    )
    return WorkOrderLedgerEventInput(
        tenant_id=f"bench-{t}",
        work_order_id=f"wo-{w}",
        correlation_id=t * datasets.CORRELATION_STRIDE + w + 1,
        turn_id=2,
        event_type="FIELD_SET",
        work_order_status="DRAFT",
        reason_code=7,
        created_at=time.time_ns(),
        idempotency_key=str(uuid.uuid4()),
        payload={"field": "priority", "value": 3},
    )
