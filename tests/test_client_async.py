"""AsyncWorkOrderRepository used natively, from coroutines on one event loop.

The client suites (test_client_repository, _errors, _cancel_pending, _retry) run every
test against both repositories (tests/client_flavors.py); these tests show what only
asyncio code does: many tasks appending at once over an AsyncConnectionPool, a DSN
repository shared by tasks that take turns, ``async for`` over the ledger, a
transaction of the caller's joined with ``async with conn.transaction()``, and tasks
sharing few server connections through PgBouncer in transaction pooling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables import (
    AsyncWorkOrderRepository,
    ContractValidationFailed,
    TenantScopeViolation,
    WorkOrderLedgerEventInput,
)
from tests.client_helpers import created
from tests.conftest import APP_ROLE, LAYOUT
from tests.pgbouncer import running_pgbouncer
from tests.sql_helpers import TENANT_A, TENANT_B, ledger_state

pytestmark = pytest.mark.timeout(120)

TASKS = 40
EVENTS_PER_TASK = 5


def step(event: WorkOrderLedgerEventInput, n: int) -> WorkOrderLedgerEventInput:
    """The n-th FIELD_SET after ``event``, keyed."""
    return WorkOrderLedgerEventInput(
        tenant_id=event.tenant_id,
        work_order_id=event.work_order_id,
        correlation_id=event.correlation_id,
        turn_id=1,
        event_type="FIELD_SET",
        work_order_status="DRAFT",
        reason_code=1,
        created_at=1_000 + n,
        idempotency_key=f"{event.work_order_id}-{n}",
    )


def test_many_tasks_append_at_once_over_an_async_pool(
    app_dsn: str, postgresql: psycopg.Connection
) -> None:
    """40 tasks append 5 events each to their own work order, 8 connections between them."""

    async def main() -> tuple[list[list[int]], list[int], list[int], int]:
        async with AsyncConnectionPool(
            app_dsn, min_size=2, max_size=8, kwargs={"autocommit": True}
        ) as pool:
            repo = AsyncWorkOrderRepository(pool)

            async def writer(n: int) -> list[int]:
                first = created(f"wo-{n:02d}", idempotency_key=f"create-{n}")
                ids = [(await repo.append(first)).work_order_event_id]
                for k in range(1, EVENTS_PER_TASK - 1):
                    ids.append((await repo.append(step(first, k))).work_order_event_id)
                [last] = await repo.append_many([step(first, EVENTS_PER_TASK - 1)])
                ids.append(last.work_order_event_id)
                return ids

            per_task = await asyncio.gather(*(writer(n) for n in range(TASKS)))
            paged = [e.work_order_event_id async for e in repo.ledger(TENANT_A, page_size=7)]
            one_order = [e.work_order_event_id async for e in repo.ledger(TENANT_A, "wo-07")]
            pending = len(await repo.list_pending(TENANT_A, limit=1000))
            return per_task, paged, one_order, pending

    per_task, paged, one_order, pending = asyncio.run(main())

    appended = sorted(i for ids in per_task for i in ids)
    assert len(set(appended)) == TASKS * EVENTS_PER_TASK
    assert paged == appended  # every event once, in id order, across 29 pages
    assert one_order == per_task[7]
    assert all(ids == sorted(ids) for ids in per_task)  # each task's events in its order
    assert pending == TASKS
    assert ledger_state(postgresql).ledger_rows == TASKS * EVENTS_PER_TASK


def test_tasks_take_turns_on_a_dsn_repository(app_dsn: str, postgresql: psycopg.Connection) -> None:
    async def main() -> tuple[list[int], int]:
        async with AsyncWorkOrderRepository(app_dsn) as repo:
            results = await asyncio.gather(
                *(repo.append(created(f"wo-{n}", idempotency_key=f"k-{n}")) for n in range(20))
            )
            replays = await asyncio.gather(
                *(repo.append(created(f"wo-{n}", idempotency_key=f"k-{n}")) for n in range(20))
            )
            assert [r.work_order_event_id for r in replays] == [
                r.work_order_event_id for r in results
            ]
            assert all(r.idempotency_replay for r in replays)
            [stats] = await repo.stats(TENANT_A)
            return [r.work_order_event_id for r in results], stats.ledger_events

    ids, counted = asyncio.run(main())
    assert len(set(ids)) == 20
    assert counted == 20
    assert ledger_state(postgresql).ledger_rows == 20


def test_calls_join_the_callers_async_transaction(
    app_dsn: str, postgresql: psycopg.Connection
) -> None:
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(app_dsn, autocommit=True) as conn:
            repo = AsyncWorkOrderRepository(conn)
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await repo.append(created("wo-1"))
                    await repo.append(created("wo-2"))
                    assert await repo.current(TENANT_A, "wo-2") is not None
                    raise RuntimeError("the caller gives up")
            async with conn.transaction():
                await repo.append(created("wo-3"))
                with pytest.raises(ContractValidationFailed):
                    await repo.append(created("wo-4", reason_code=0))  # its savepoint only
            assert [e.work_order_id async for e in repo.ledger(TENANT_A)] == ["wo-3"]
            with pytest.raises(TenantScopeViolation):
                await repo.stats()

    asyncio.run(main())
    assert ledger_state(postgresql).ledger_rows == 1


def test_an_async_ledger_iteration_stopped_early_holds_nothing_open(
    app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    async def main() -> list[str]:
        async with AsyncWorkOrderRepository(app_dsn) as repo:
            await repo.append_many([created(f"wo-{n}") for n in range(10)])
            await repo.append(created("wo-b", tenant_id=TENANT_B))
            seen = []
            async for event in repo.ledger(TENANT_A, page_size=3):
                seen.append(event.work_order_id)
                if len(seen) == 4:
                    break
            status = repo._owned.info.transaction_status if repo._owned else None
            assert status == psycopg.pq.TransactionStatus.IDLE
            return seen

    assert asyncio.run(main()) == ["wo-0", "wo-1", "wo-2", "wo-3"]


def test_the_async_repository_refuses_a_sync_connection(
    connect: Callable[..., psycopg.Connection],
) -> None:
    with pytest.raises(TypeError, match="AsyncWorkOrderRepository takes a psycopg AsyncConnection"):
        AsyncWorkOrderRepository(connect(user=APP_ROLE))  # type: ignore[arg-type]


def test_a_call_cancelled_by_a_timeout_writes_nothing_and_leaves_the_repository_usable(
    app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: psycopg.Connection
) -> None:
    """asyncio.wait_for cancels an append that waits on a lock: psycopg cancels the
    statement on the server, the transaction rolls back, and the DSN repository's one
    connection serves the next call."""
    admin = connect(autocommit=True)

    async def main() -> int:
        async with AsyncWorkOrderRepository(app_dsn) as repo:
            admin.execute("BEGIN")
            admin.execute("LOCK TABLE os_core.work_orders_current IN EXCLUSIVE MODE")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(repo.append(created("wo-1", idempotency_key="k")), 0.5)
            admin.execute("ROLLBACK")
            assert ledger_state(postgresql).ledger_rows == 0
            again = await repo.append(created("wo-1", idempotency_key="k"))
            assert again.idempotency_replay is False
            assert repo.retries == {}
            return again.work_order_event_id

    event_id = asyncio.run(main())
    assert ledger_state(postgresql).ledger_rows == 1
    assert event_id > 0


class RecordingConnection(psycopg.AsyncConnection):  # type: ignore[type-arg]
    """An AsyncConnection that keeps the text of every statement run with execute()."""

    statements: list[str]

    async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.statements.append(str(query))
        return await super().execute(query, *args, **kwargs)


@pytest.mark.parametrize("prepared_statements", [True, False])
def test_a_batch_without_prepared_statements_ends_with_a_statement_for_the_pooler(
    app_dsn: str, prepared_statements: bool
) -> None:
    """append_many's pipeline ends with a Flush; without prepared statements one SELECT 1
    follows, which PgBouncer answers by giving back the server connection (docs/ha.md)."""

    async def main() -> list[str]:
        conn = await RecordingConnection.connect(app_dsn, autocommit=True)
        conn.statements = []
        async with conn:
            repo = AsyncWorkOrderRepository(conn, prepared_statements=prepared_statements)
            await repo.append_many([created("wo-1"), created("wo-2")])
            return conn.statements

    statements = asyncio.run(main())
    assert statements[0] == "BEGIN"
    assert statements[1].startswith("SELECT os_core.set_tenant")
    assert (statements[-1] == "SELECT 1") is not prepared_statements


CLIENTS = 10
SERVER_CONNECTIONS = 3
ROUNDS = 8


@pytest.mark.skipif(LAYOUT == "citus", reason="one PgBouncer in front of one node")
def test_many_tasks_share_few_server_connections_through_pgbouncer(
    postgresql_proc: PostgreSQLExecutor, dbname: str, postgresql: psycopg.Connection
) -> None:
    """10 tasks x 8 rounds (append, replay, reads, a batch) over an AsyncConnectionPool of
    10 through PgBouncer with 3 server connections, without prepared statements."""
    with running_pgbouncer(
        dbname=dbname,
        server_host=postgresql_proc.host,
        server_port=postgresql_proc.port,
        users=[APP_ROLE],
        pool_size=SERVER_CONNECTIONS,
        max_client_conn=CLIENTS * 4,
    ) as pgb:

        async def main() -> tuple[list[int], dict[str, int]]:
            async with AsyncConnectionPool(
                pgb.conninfo(APP_ROLE), min_size=CLIENTS, max_size=CLIENTS
            ) as pool:
                await pool.wait(timeout=10)
                repo = AsyncWorkOrderRepository(pool, prepared_statements=False)

                async def run(client: int) -> list[int]:
                    appended = []
                    for n in range(ROUNDS):
                        wo = f"wo-{client}-{n}"
                        first = created(wo, idempotency_key=f"create-{client}-{n}")
                        result = await repo.append(first)
                        appended.append(result.work_order_event_id)
                        assert (await repo.append(first)).idempotency_replay
                        record = await repo.current(TENANT_A, wo)
                        assert record is not None and record.event_count == 1
                        page = await repo.ledger_page(TENANT_A, wo)
                        assert [e.work_order_event_id for e in page] == appended[-1:]
                        batch = [created(f"{wo}-b{k}") for k in range(3)]
                        results = await repo.append_many(batch)
                        appended += [r.work_order_event_id for r in results]
                        with pytest.raises(ContractValidationFailed):
                            await repo.append_many([created(f"{wo}-x", reason_code=0)])
                    return appended

                runs = await asyncio.gather(*(run(client) for client in range(CLIENTS)))
                return [i for ids in runs for i in ids], dict(repo.retries)

        appended, retries = asyncio.run(main())
        assert retries == {}
        assert len(set(appended)) == CLIENTS * ROUNDS * 4
        assert 1 <= len(pgb.show("SERVERS")) <= SERVER_CONNECTIONS
    assert ledger_state(postgresql).ledger_rows == CLIENTS * ROUNDS * 4
