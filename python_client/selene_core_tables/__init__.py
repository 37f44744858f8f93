"""selene-core-tables: the Selene OS work-order ledger in PostgreSQL, and its client.

The engine lives in the database (schema ``os_core``, audit in ``ph1j``); this
package is its thin client. Quick start::

    import psycopg
    from selene_core_tables import WorkOrderLedgerEventInput, WorkOrderRepository

    with psycopg.connect("postgresql://my_service@localhost/selene", autocommit=True) as conn:
        repo = WorkOrderRepository(conn)
        result = repo.append(WorkOrderLedgerEventInput(
            tenant_id="acme", work_order_id="wo-1", correlation_id=42, turn_id=1,
            event_type="WORK_ORDER_CREATED", work_order_status="DRAFT",
            reason_code=1, created_at=1_000, idempotency_key="create-wo-1"))
        print(result.work_order_event_id, repo.current("acme", "wo-1"))

For asyncio, :class:`AsyncWorkOrderRepository` has the same methods as coroutines
(``ledger`` an async iterator) over a psycopg ``AsyncConnection``, a
``psycopg_pool.AsyncConnectionPool`` or a DSN, with the same records, errors, retries
and transaction joining::

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        repo = AsyncWorkOrderRepository(conn)
        result = await repo.append(event)
        async for stored in repo.ledger("acme"):
            print(stored.work_order_event_id)

``WorkOrderRepository`` is generated from it (``scripts/generate_sync.py``), so the
two cannot drift apart. Refusals raise a :class:`StorageError` subclass per reason code.
"""

from __future__ import annotations

from selene_core_tables.errors import (
    AppendOnlyViolation,
    CancelInvalidState,
    ContractValidationFailed,
    IdempotencyReplay,
    StorageError,
    TenantScopeViolation,
    storage_error_from,
    storage_errors,
)
from selene_core_tables.records import (
    AppendResult,
    AuditEvent,
    CancelResult,
    ConsumerStats,
    ProjectionDifference,
    RebuildResult,
    TenantStats,
    WorkEventType,
    WorkOrderCurrentRecord,
    WorkOrderLease,
    WorkOrderLedgerEvent,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
    WorkOrderStepAttempt,
)
from selene_core_tables.repository import Consumer, WorkOrderRepository
from selene_core_tables.repository_async import AsyncConsumer, AsyncWorkOrderRepository
from selene_core_tables.retry import AppendOutcomeUnknown, RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "AppendOnlyViolation",
    "AppendOutcomeUnknown",
    "AppendResult",
    "AsyncConsumer",
    "AsyncWorkOrderRepository",
    "AuditEvent",
    "CancelInvalidState",
    "CancelResult",
    "Consumer",
    "ConsumerStats",
    "ContractValidationFailed",
    "IdempotencyReplay",
    "ProjectionDifference",
    "RebuildResult",
    "RetryPolicy",
    "StorageError",
    "TenantScopeViolation",
    "TenantStats",
    "WorkEventType",
    "WorkOrderCurrentRecord",
    "WorkOrderLease",
    "WorkOrderLedgerEvent",
    "WorkOrderLedgerEventInput",
    "WorkOrderRepository",
    "WorkOrderStatus",
    "WorkOrderStepAttempt",
    "storage_error_from",
    "storage_errors",
]
