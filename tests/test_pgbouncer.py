"""The client behind PgBouncer in transaction pooling mode (tests/pgbouncer.py).

In transaction pooling a server connection serves one client for one transaction, then
any other. Two things follow for the client:

- The tenant must be declared per transaction. ``os_core.set_tenant`` is a
  transaction-local setting made inside each call's transaction, so it cannot reach
  another client through the shared server connection; a session-level setting would
  (the contrast is shown, to prove the check would see a leak).
- Server-side prepared statements belong to a server connection, not to the client
  that prepared them. psycopg prepares a query once it has run it 5 times on a
  connection, naming it ``_pg3_0``, ``_pg3_1``, ... on every connection alike: the
  second client to prepare ``_pg3_0`` on a server connection gets
  DuplicatePreparedStatement (42P05); a client whose statement lives on another server
  connection gets InvalidSqlStatementName (26000). ``WorkOrderRepository(...,
  prepared_statements=False)`` never prepares.

A third, found here: PgBouncer 1.18 releases a server connection at the ReadyForQuery
that ends a transaction; a Flush message the client sends after its Sync then takes a
server connection again, and keeps it until that client's next statement. psycopg
sends Sync then Flush when a pipeline ends (``append_many``), so a pipeline's Flush
that loses the race to the ReadyForQuery leaves a server connection held by an idle
client. That is shown deterministically below, with a Flush sent by hand.

The suites here: 10 clients (each its own connection, a shared pool of 10, or a
repository per DSN) run the client's core repeatedly over 3 server connections with
``prepared_statements=False``, and the database afterwards holds exactly what they
appended; the same load with prepared statements fails, and a deterministic version
(two clients, one server connection) pins the failure to the flag.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables.errors import (
    ContractValidationFailed,
    TenantScopeViolation,
    storage_errors,
)
from selene_core_tables.records import WorkOrderLedgerEventInput, WorkOrderStatus
from selene_core_tables.repository import WorkOrderRepository
from tests.client_helpers import created
from tests.conftest import APP_ROLE, DBA_ROLE, LAYOUT
from tests.pgbouncer import PgBouncer, running_pgbouncer
from tests.sql_helpers import TENANT_A, TENANT_B, WAIT_SECONDS, ledger_state, set_tenant

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(LAYOUT == "citus", reason="one PgBouncer in front of one node"),
]

CLIENTS = 10
SERVER_CONNECTIONS = 3
#: Rounds of the whole core per client: every statement runs more often than psycopg's
#: prepare threshold (5), so with prepared statements each would have been prepared.
ROUNDS = 8
CALLS_PER_ROUND = 12
THREAD_JOIN_SECONDS = 60.0
#: The errors of prepared statements meeting transaction pooling.
PREPARED_STATEMENT_ERRORS = (
    psycopg.errors.DuplicatePreparedStatement,
    psycopg.errors.InvalidSqlStatementName,
)
PIDS_AND_PREPARED = "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements)"
# What os_core.current_tenant_id() reads (the app role may not call it itself).
DECLARED_TENANT = "SELECT pg_backend_pid(), nullif(current_setting('selene.tenant_id', true), '')"
CURRENT_READ = (
    "SELECT * FROM os_core.work_order_current_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text)"
)

StartBouncer = Callable[[int], PgBouncer]


@pytest.fixture
def bouncer(postgresql_proc: PostgreSQLExecutor, dbname: str) -> Iterator[StartBouncer]:
    """Start PgBouncers in front of this test's database: ``bouncer(pool_size)``.

    Each is stopped, and its directory removed, when the test ends, pass or fail.
    """
    with ExitStack() as stack:

        def _start(pool_size: int) -> PgBouncer:
            return stack.enter_context(
                running_pgbouncer(
                    dbname=dbname,
                    server_host=postgresql_proc.host,
                    server_port=postgresql_proc.port,
                    users=[APP_ROLE, DBA_ROLE],
                    pool_size=pool_size,
                    max_client_conn=CLIENTS * 4,
                )
            )

        yield _start


@pytest.fixture
def su(postgresql: psycopg.Connection) -> psycopg.Connection:
    """The superuser on the database itself, not through PgBouncer."""
    postgresql.autocommit = True
    return postgresql


def then(previous: WorkOrderLedgerEventInput, **fields: Any) -> WorkOrderLedgerEventInput:
    """The next event of the same work order: ``previous`` with ``fields`` replaced."""
    return dataclasses.replace(previous, idempotency_key=None, payload=None, **fields)


@dataclass
class ClientRun:
    """What one client did: the ids of its fresh appends, its replays, its first error."""

    tenant_id: str
    appended: list[int] = field(default_factory=list)
    replays: int = 0
    calls: int = 0
    error: BaseException | None = None


def run_core(repo: WorkOrderRepository, client: int, run: ClientRun, rounds: int) -> None:
    """The client's core, ``rounds`` times, checking every answer; records what was written.

    Each round: an append with a key, its replay, a step start, the reads (current, a
    ledger page, list_pending, step_attempts, lease), a batch, a refused append
    (SE004), a refused batch (SE004, nothing of it written), and a refused
    every-tenant verify with audit (SE003: the app role may not, and writes nothing).
    """
    tenant = run.tenant_id
    for n in range(rounds):
        wo = f"wo-{client}-{n}"
        first = created(wo, tenant_id=tenant, idempotency_key=f"create-{client}-{n}")
        first_id = _fresh(repo.append(first), run)
        again = repo.append(first)
        assert (again.work_order_event_id, again.idempotency_replay) == (first_id, True)
        run.replays += 1
        started = then(
            first,
            event_type="STEP_STARTED",
            work_order_status="EXECUTING",
            step_id="survey",
            lease_owner_id=f"worker-{client}",
            lease_token_hash="sha-1",
            lease_expires_at=9_000,
            created_at=2_000,
        )
        started_id = _fresh(repo.append(started), run)

        record = repo.current(tenant, wo)
        assert record is not None
        assert (record.tenant_id, record.work_order_status, record.last_event_id) == (
            tenant,
            WorkOrderStatus.EXECUTING,
            started_id,
        )
        assert record.event_count == 2
        page = repo.ledger_page(tenant, wo, limit=10)
        assert [(e.tenant_id, e.work_order_event_id) for e in page] == [
            (tenant, first_id),
            (tenant, started_id),
        ]
        pending = repo.list_pending(tenant, statuses=["EXECUTING"], limit=1000)
        assert {r.tenant_id for r in pending} == {tenant}
        assert wo in {r.work_order_id for r in pending}
        [attempt] = repo.step_attempts(tenant, wo)
        assert (attempt.step_id, attempt.attempt_status, attempt.started_event_id) == (
            "survey",
            "STARTED",
            started_id,
        )
        lease = repo.lease(tenant, wo)
        assert lease is not None
        assert (lease.lease_owner_id, lease.lease_state) == (f"worker-{client}", "ACTIVE")

        batch = [created(f"{wo}-b{k}", tenant_id=tenant) for k in range(3)]
        results = repo.append_many(batch)
        assert [r.idempotency_replay for r in results] == [False, False, False]
        for result in results:
            _fresh(result, run)

        with pytest.raises(ContractValidationFailed) as contract:
            repo.append(created(f"{wo}-bad", tenant_id=tenant, event_type="NOT_A_TYPE"))
        assert contract.value.sqlstate == "SE004"
        bad_batch = [created(f"{wo}-bad-{k}", tenant_id=tenant) for k in range(3)]
        bad_batch[1] = created(f"{wo}-bad-1", tenant_id=tenant, reason_code=0)
        with pytest.raises(ContractValidationFailed) as batch_refused:
            repo.append_many(bad_batch)
        assert (batch_refused.value.sqlstate, batch_refused.value.event_index) == ("SE004", 1)
        with pytest.raises(TenantScopeViolation) as scope:
            repo.verify(audit=True)
        assert scope.value.sqlstate == "SE003"
        run.calls += CALLS_PER_ROUND


def _fresh(result: Any, run: ClientRun) -> int:
    assert result.idempotency_replay is False
    run.appended.append(result.work_order_event_id)
    return result.work_order_event_id


def run_clients(
    repos: list[WorkOrderRepository], rounds: int, *, stop_on_error: bool = True
) -> list[ClientRun]:
    """Run :func:`run_core` in one thread per repository, all at once; their records."""
    runs = [ClientRun(TENANT_A if n % 2 == 0 else TENANT_B) for n in range(len(repos))]
    start = threading.Barrier(len(repos))

    def client(n: int) -> None:
        try:
            start.wait(timeout=THREAD_JOIN_SECONDS)
            run_core(repos[n], n, runs[n], rounds)
        except BaseException as error:  # recorded, and judged by the test
            runs[n].error = error

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(len(repos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    return runs


def server_connections(bouncer_: PgBouncer, count: int) -> list[tuple[int, int]]:
    """(backend pid, prepared statements) of ``count`` server connections at once.

    Each of ``count`` clients opens a transaction through PgBouncer and keeps it open
    until all have answered, so each answer comes from a different server connection.
    """
    clients = [psycopg.connect(bouncer_.conninfo(APP_ROLE)) for _ in range(count)]
    try:
        rows = [conn.execute(PIDS_AND_PREPARED).fetchone() for conn in clients]
    finally:
        for conn in clients:
            conn.close()
    return [(row[0], row[1]) for row in rows if row is not None]


def app_backends(su: psycopg.Connection, dbname: str) -> int:
    """How many backends of the app role the database has: PgBouncer's server connections."""
    row = su.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s",
        [dbname, APP_ROLE],
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("source", ["connection", "pool", "dsn"])
def test_many_clients_share_few_server_connections_without_prepared_statements(
    bouncer: StartBouncer,
    su: psycopg.Connection,
    dbname: str,
    connect: Callable[..., psycopg.Connection],
    source: str,
) -> None:
    """10 clients x 8 rounds of the core over 3 server connections: all of it works.

    ``source`` is how the clients reach PgBouncer: a connection of their own each, one
    ConnectionPool of 10 shared by every thread, or a repository per connection string.
    """
    pgb = bouncer(SERVER_CONNECTIONS)
    dsn = pgb.conninfo(APP_ROLE)
    with ExitStack() as stack:
        if source == "connection":
            conns = [
                stack.enter_context(psycopg.connect(dsn, autocommit=True)) for _ in range(CLIENTS)
            ]
            repos = [WorkOrderRepository(conn, prepared_statements=False) for conn in conns]
        elif source == "pool":
            pool = stack.enter_context(
                ConnectionPool(dsn, min_size=CLIENTS, max_size=CLIENTS, open=True)
            )
            pool.wait(timeout=10)
            repos = [WorkOrderRepository(pool, prepared_statements=False)] * CLIENTS
        else:
            repos = [
                stack.enter_context(WorkOrderRepository(dsn, prepared_statements=False))
                for _ in range(CLIENTS)
            ]

        runs = run_clients(repos, ROUNDS)

        errors = [run.error for run in runs if run.error is not None]
        if errors:
            log = pgb.log_text()
            raise AssertionError(f"a client failed; PgBouncer's log:\n{log}") from errors[0]
        assert all(run.calls == CALLS_PER_ROUND * ROUNDS for run in runs)
        assert all(not repo.retries for repo in repos)
        # The 10 clients are still connected; PgBouncer and the database count 3
        # server connections at most.
        assert len([c for c in pgb.show("CLIENTS") if c["user"] == APP_ROLE]) == CLIENTS
        assert 1 <= len(pgb.show("SERVERS")) <= SERVER_CONNECTIONS
        assert 1 <= app_backends(su, dbname) <= SERVER_CONNECTIONS

    # Once the clients are gone (a client that disconnects frees a server connection
    # it still held, see the Flush test), none of the server connections holds a
    # prepared statement.
    held = server_connections(pgb, SERVER_CONNECTIONS)
    assert len({pid for pid, _ in held}) == SERVER_CONNECTIONS
    assert [prepared for _, prepared in held] == [0] * SERVER_CONNECTIONS

    # On the database itself: exactly the appended events, one audit row per append and
    # per replay (the refusals wrote nothing), and projections that agree with the ledger.
    appended = sorted(event_id for run in runs for event_id in run.appended)
    assert len(appended) == CLIENTS * ROUNDS * 5
    ids = [
        row[0] for row in su.execute("SELECT work_order_event_id FROM os_core.work_order_ledger")
    ]
    assert sorted(ids) == appended
    state = ledger_state(su)
    assert state.ledger_rows == len(appended)
    assert state.audit_rows == len(appended) + sum(run.replays for run in runs)
    assert state.current_rows == CLIENTS * ROUNDS * 4
    by_tenant = dict(
        su.execute(
            "SELECT tenant_id, count(*) FROM os_core.work_order_ledger GROUP BY tenant_id"
        ).fetchall()
    )
    assert by_tenant == {
        tenant: sum(len(run.appended) for run in runs if run.tenant_id == tenant)
        for tenant in (TENANT_A, TENANT_B)
    }
    dba = WorkOrderRepository(connect(user=DBA_ROLE, autocommit=True))
    assert dba.verify() == []


def test_the_same_load_with_prepared_statements_fails(
    bouncer: StartBouncer, su: psycopg.Connection
) -> None:
    """With psycopg's default preparing, 10 clients over 3 server connections fail,
    when their calls are pipelines (connections not in autocommit; over autocommit ones
    a call is one simple-protocol message, never prepared).

    Not by chance: every client prepares ``_pg3_0`` once it has run its first query 5
    times, and a name can be prepared once per server connection, so 7 of the 10
    prepares meet a server connection that already has one (seen: 7 x 42P05 on
    ``_pg3_0`` in every run, then 26000 for statements left on another server
    connection). Asserted: the load fails, and 42P05 is among the reasons.
    """
    dsn = bouncer(SERVER_CONNECTIONS).conninfo(APP_ROLE)
    with ExitStack() as stack:
        conns = [stack.enter_context(psycopg.connect(dsn)) for _ in range(CLIENTS)]
        repos = [WorkOrderRepository(conn, prepared_statements=True, retry=None) for conn in conns]
        runs = run_clients(repos, ROUNDS)

    failed = [run.error for run in runs if run.error is not None]
    reasons = sorted(f"{type(e).__name__}: {e}" for e in failed)
    assert failed, "every client got through with prepared statements"
    assert any(isinstance(e, psycopg.errors.DuplicatePreparedStatement) for e in failed), reasons
    assert any(isinstance(e, PREPARED_STATEMENT_ERRORS) for e in failed), reasons


def test_two_clients_on_one_server_connection_fail_only_with_prepared_statements(
    bouncer: StartBouncer, su: psycopg.Connection
) -> None:
    """One server connection, two clients, 6 reads each: for calls in pipelines
    (connections not in autocommit), the flag alone decides.

    With prepared statements the second client's 6th read prepares ``_pg3_0`` on the
    server connection where the first client's already is: 42P05. Without, both
    clients read 12 times and the server connection holds no prepared statement; nor
    does it when the connections are in autocommit, whatever the flag (one message per
    call, never prepared).
    """
    pgb = bouncer(1)
    dsn = pgb.conninfo(APP_ROLE)
    with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
        WorkOrderRepository(a).append(created())
        first, second = WorkOrderRepository(a), WorkOrderRepository(b)
        for _ in range(6):
            assert first.current(TENANT_A, "wo-1") is not None
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement, match="_pg3_0"):
            for _ in range(6):
                second.current(TENANT_A, "wo-1")

    pgb = bouncer(1)
    dsn = pgb.conninfo(APP_ROLE)
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        first = WorkOrderRepository(a, prepared_statements=False)
        second = WorkOrderRepository(b, prepared_statements=False)
        for _ in range(12):
            assert first.current(TENANT_A, "wo-1") is not None
            assert second.current(TENANT_A, "wo-1") is not None
    [(_, prepared)] = server_connections(pgb, 1)
    assert prepared == 0

    pgb = bouncer(1)
    dsn = pgb.conninfo(APP_ROLE)
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        first, second = WorkOrderRepository(a), WorkOrderRepository(b)
        for _ in range(12):
            assert first.current(TENANT_A, "wo-1") is not None
            assert second.current(TENANT_A, "wo-1") is not None
    [(_, prepared)] = server_connections(pgb, 1)
    assert prepared == 0


def test_a_declared_tenant_does_not_reach_the_next_client_on_the_server_connection(
    bouncer: StartBouncer, su: psycopg.Connection
) -> None:
    """Client A declares tenant-a in its transaction; client B's next transaction, on
    the very same server backend, has no tenant and is refused tenant-a's data.

    The contrast: a session-level setting (what set_tenant deliberately does not make)
    does travel to B through the shared server connection.
    """
    dsn = bouncer(1).conninfo(APP_ROLE)
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        WorkOrderRepository(a, prepared_statements=False).append(created())
        with a.transaction():
            set_tenant(a, TENANT_A)
            a_pid, a_tenant = _declared(a)
        assert a_tenant == TENANT_A

        with b.transaction():
            b_pid, b_tenant = _declared(b)
        assert (b_pid, b_tenant) == (a_pid, None)
        with pytest.raises(TenantScopeViolation), storage_errors(), b.transaction():
            b.execute(CURRENT_READ, [TENANT_A, "wo-1"])

        # A transaction that fails after declaring its tenant leaves nothing behind either.
        with pytest.raises(ContractValidationFailed), storage_errors(), a.transaction():
            set_tenant(a, TENANT_A)
            a.execute("SELECT os_core.set_tenant(%s::text)", ["not a tenant!"])
        with b.transaction():
            assert _declared(b) == (a_pid, None)

        # Through the repository: each call of B declares its own tenant, and only it.
        repo_b = WorkOrderRepository(b, prepared_statements=False)
        assert repo_b.current(TENANT_B, "wo-1") is None
        assert repo_b.current(TENANT_A, "wo-1") is not None

        # The contrast: a session-level setting leaks to the next client.
        a.execute("SELECT set_config('selene.tenant_id', %s, false)", [TENANT_A])
        with b.transaction():
            assert _declared(b) == (a_pid, TENANT_A)
        a.execute("SELECT set_config('selene.tenant_id', '', false)")
        with b.transaction():
            assert _declared(b) == (a_pid, None)


def test_a_flush_after_the_transaction_keeps_a_server_connection_for_an_idle_client(
    bouncer: StartBouncer,
) -> None:
    """A Flush after the ReadyForQuery takes the one server connection and keeps it.

    Client A's statement ends (ReadyForQuery outside a transaction: PgBouncer releases
    the server connection); A then sends a Flush, as psycopg does after a pipeline's
    Sync. PgBouncer links A to the server connection for it, and nothing comes back to
    release it: B's statement waits (PgBouncer's ``cl_waiting``) until A runs its next
    statement. The Flush is sent by hand here; in ``append_many`` it is a race.
    """
    pgb = bouncer(1)
    dsn = pgb.conninfo(APP_ROLE)
    with psycopg.connect(dsn, autocommit=True) as a, psycopg.connect(dsn, autocommit=True) as b:
        a.execute("SELECT 1")
        b.execute("SELECT 1")
        assert [server["state"] for server in pgb.show("SERVERS")] == ["idle"]

        a.pgconn.send_flush_request()
        assert a.pgconn.flush() == 0
        _wait_for(lambda: [server["state"] for server in pgb.show("SERVERS")] == ["active"])
        with ThreadPoolExecutor(1) as executor:
            waiting = executor.submit(lambda: b.execute("SELECT 2").fetchone())
            _wait_for(lambda: _pool(pgb)["cl_waiting"] == 1)
            assert not waiting.done()
            a.execute("SELECT 1")  # A's next statement ends with ReadyForQuery: released
            assert waiting.result(timeout=WAIT_SECONDS) == (2,)
        _wait_for(lambda: [server["state"] for server in pgb.show("SERVERS")] == ["idle"])


def _pool(pgb: PgBouncer) -> dict[str, Any]:
    [pool] = [row for row in pgb.show("POOLS") if row["database"] == pgb.dbname]
    return pool


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def _declared(conn: psycopg.Connection) -> tuple[int, str | None]:
    row = conn.execute(DECLARED_TENANT).fetchone()
    assert row is not None
    return row[0], row[1]
